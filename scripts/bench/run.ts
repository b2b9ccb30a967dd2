// `npm run bench [-- --quick] [-- --only read,counters] [-- --commy after=. --commy before=DIR]`: runs every benchmark
// in scripts/bench/, each in a fresh process, one after the other, and writes
// docs/BENCHMARKS.md: the machine, the command, each benchmark's tables, and
// the project's targets marked met or missed with the measured figure.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { benchDir, fmt, log, machineInfo, ratio, rootDir, table, type BenchResult } from './common.js';

const argv = process.argv.slice(2);
const quick = argv.includes('--quick');
const onlyArg = argv.indexOf('--only');
const only = onlyArg >= 0 ? argv[onlyArg + 1].split(',') : null;
const outArg = argv.indexOf('--doc');
const docPath = outArg >= 0 ? argv[outArg + 1] : join(rootDir, 'docs', 'BENCHMARKS.md');

const BENCHES = [
  { name: 'read', file: 'read.js' },
  { name: 'counters', file: 'counters.js' },
  { name: 'detection', file: 'detection.js' },
  { name: 'overhead', file: 'overhead.js' },
  { name: 'status', file: 'status-cli.js' },
  { name: 'notify', file: 'notify.js' },
  { name: 'join', file: 'join.js' },
  { name: 'route', file: 'route.js' },
  { name: 'mesh', file: 'mesh.js' },
  { name: 'detectors', file: 'detectors.js' },
  { name: 'memberlist', file: 'versus.js' },
].filter((b) => !only || only.includes(b.name));

function loadavg(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return NaN;
  }
}

/**
 * Tallies the CPU time of every process on the host, split into this run's
 * (this process and its descendants) and everyone else's, from /proc every
 * few seconds: how much other work competed with the benchmarks.
 */
class CpuTally {
  ours = 0;
  others = 0;
  private prev = new Map<number, number>();
  private readonly topOthers = new Map<string, number>();

  sample(): void {
    const procs = new Map<number, { ppid: number; ticks: number; comm: string }>();
    let entries: string[];
    try {
      entries = readdirSync('/proc').filter((e) => /^\d+$/.test(e));
    } catch {
      return;
    }
    for (const e of entries) {
      try {
        const stat = readFileSync(`/proc/${e}/stat`, 'utf8');
        const close = stat.lastIndexOf(')');
        const f = stat.slice(close + 2).split(' ');
        procs.set(Number(e), {
          ppid: Number(f[1]),
          ticks: Number(f[11]) + Number(f[12]),
          comm: stat.slice(stat.indexOf('(') + 1, close),
        });
      } catch {
        // exited meanwhile
      }
    }
    const mine = (pid: number) => {
      for (let p = pid, hops = 0; p > 1 && hops < 64; hops++) {
        if (p === process.pid) return true;
        p = procs.get(p)?.ppid ?? 0;
      }
      return false;
    };
    const next = new Map<number, number>();
    for (const [pid, p] of procs) {
      next.set(pid, p.ticks);
      const prev = this.prev.get(pid);
      if (prev === undefined) continue; // first seen: count from now on
      const d = (p.ticks - prev) / 100;
      if (mine(pid)) this.ours += d;
      else {
        this.others += d;
        this.topOthers.set(p.comm, (this.topOthers.get(p.comm) ?? 0) + d);
      }
    }
    this.prev = next;
  }

  top(n: number): string {
    return [...this.topOthers]
      .sort((a, b) => b[1] - a[1])
      .slice(0, n)
      .filter(([, s]) => s >= 1)
      .map(([c, s]) => `${c} ${fmt(s)} s`)
      .join(', ');
  }
}

/** Flags passed through to the memberlist bench: the commy checkouts to compare (`--commy label=DIR`). */
const commyFlags = argv.flatMap((a, i) => (a === '--commy' && argv[i + 1] ? ['--commy', argv[i + 1]] : []));

async function runOne(file: string, out: string): Promise<BenchResult> {
  // The memberlist bench also draws its chart, next to the document it is written for.
  const extra = file === 'versus.js' ? [...commyFlags, '--svg-dir', dirname(docPath)] : [];
  const child = spawn(process.execPath, [join(benchDir, file), ...(quick ? ['--quick'] : []), ...extra, '--out', out], {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const code = await new Promise<number | null>((r) => child.once('exit', (c) => r(c)));
  if (code !== 0) throw new Error(`${file} exited with ${code}`);
  return JSON.parse(readFileSync(out, 'utf8')) as BenchResult;
}

type Verdict = 'met' | 'missed' | 'n/a';
interface Target {
  target: string;
  measured: string;
  verdict: Verdict;
}

function num(h: BenchResult['headline'] | undefined, k: string): number {
  const v = h?.[k];
  return typeof v === 'number' ? v : NaN;
}

/** "4,990 of 4,993": a share that never rounds a miss away. */
function within(fraction: number, n: number): string {
  const k = Math.round(fraction * n);
  return `${k.toLocaleString('en-US')} of ${n.toLocaleString('en-US')}`;
}

function targets(results: Map<string, BenchResult>): Target[] {
  const t: Target[] = [];
  const read = results.get('read')?.headline;
  if (read) {
    for (const [k, name, goal] of [
      ['b', 'a Unix-socket request/response', 40],
      ['c', 'HTTP on loopback', 100],
      ['d', 'a Redis GET through ioredis', 100],
    ] as const) {
      const r = num(read, `snapshot.16.a/${k}`);
      const r99 = num(read, `snapshot.16.a/${k}.p99`);
      // Against Redis, also the raw-socket lower bound: what no client library could beat.
      const raw = k === 'd' ? num(read, 'snapshot.16.a/dr') : NaN;
      t.push({
        target: `Snapshot read, 16 peers, from another process: ≥ ${goal}× faster than ${name}`,
        measured: Number.isNaN(r)
          ? 'skipped (redis-server not installed)'
          : `${ratio(r, 1)} at p50 (${fmt(num(read, 'snapshot.16.a.p50'))} µs vs ${fmt(num(read, `snapshot.16.${k}.p50`))} µs), ${ratio(r99, 1)} at p99` +
            (Number.isNaN(raw)
              ? ''
              : `; against the raw-socket lower bound (no client library): ${ratio(raw, 1)} at p50 (${fmt(num(read, 'snapshot.16.dr.p50'))} µs)`),
        verdict: Number.isNaN(r) ? 'n/a' : r >= goal ? 'met' : 'missed',
      });
    }
  }
  const c = results.get('counters')?.headline;
  if (c) {
    const one = num(c, 'fast.1.perProcessMps');
    t.push({
      target: 'Counter add: ≥ 20 M/s per process on the fast path',
      measured: `${fmt(one)} M adds/s (1 process; Node-API path: ${fmt(num(c, 'napi.1.perProcessMps'))} M/s)`,
      verdict: one >= 20 ? 'met' : 'missed',
    });
    t.push({
      target: 'Counter add: with 4 processes the totals are exact',
      measured: c['allExact'] === true ? 'exact in every run (1, 2, 4 processes, both paths)' : 'NOT exact in some run',
      verdict: c['allExact'] === true ? 'met' : 'missed',
    });
  }
  const d = results.get('detection')?.headline;
  if (d) {
    for (const iv of [100, 1000]) {
      if (d[`${iv}.trials`] === undefined) continue;
      t.push({
        target: `Detection at ${iv} ms: Suspected within 3×, Down within 6× the interval of a kill -9`,
        measured: `suspected p50 ${fmt(num(d, `${iv}.suspected.p50`))} / max ${fmt(num(d, `${iv}.suspected.max`))} ms; down p50 ${fmt(num(d, `${iv}.down.p50`))} / max ${fmt(num(d, `${iv}.down.max`))} ms (${d[`${iv}.trials`]} trials × 2 observers)`,
        verdict: d[`${iv}.suspectedWithinTarget`] === true && d[`${iv}.downWithinTarget`] === true ? 'met' : 'missed',
      });
    }
    const after = num(d, 'visibility.afterCall.maxus');
    t.push({
      target: 'A reader sees each change within 1 ms of the write',
      measured:
        `after the write call returned: p50 ${fmt(num(d, 'visibility.afterCall.p50us'))} µs, p99 ` +
        `${fmt(num(d, 'visibility.afterCall.p99us'))} µs, max ${fmt(after)} µs ` +
        `(${within(num(d, 'visibility.afterCall.within1ms'), num(d, 'visibility.n'))} within 1 ms); from the start ` +
        `of the call: p50 ${fmt(num(d, 'visibility.p50us'))} µs, p99 ${fmt(num(d, 'visibility.p99us'))} µs, max ` +
        `${fmt(num(d, 'visibility.maxus'))} µs (${within(num(d, 'visibility.within1ms'), num(d, 'visibility.n'))})`,
      verdict: after <= 1000 ? 'met' : 'missed',
    });
  }
  const o = results.get('overhead')?.headline;
  if (o) {
    const b = num(o, 'wire.perExchange');
    t.push({
      target: 'A heartbeat exchange costs ≤ 128 bytes on the wire, encryption included',
      measured: `${fmt(b)} bytes (ping ≤ ${num(o, 'wire.pingMax')}, pong ≤ ${num(o, 'wire.pongMax')}; TCP/IP headers not counted)`,
      verdict: b <= 128 ? 'met' : 'missed',
    });
    const cpu = num(o, 'cpu.32.pct');
    t.push({
      target: 'The agent uses ≤ 1% of a core for 32 peers at 1 s',
      measured: `${fmt(cpu)}% (idle agent with 0 peers: ${fmt(num(o, 'cpu.0.pct'))}%)`,
      verdict: cpu <= 1 ? 'met' : 'missed',
    });
    // (The goal at 8 peers is relative: no more than memberlist in the same run, in the memberlist bench.)
    const cpu64 = num(o, 'cpu.64.pct');
    t.push({
      target: 'The agent uses ≤ 2.5% of a core for 64 peers at 1 s',
      measured: `${fmt(cpu64)}%`,
      verdict: cpu64 <= 2.5 ? 'met' : 'missed',
    });
    const rss = num(o, 'rss.32.MiB') / num(o, 'bare.rss.MiB');
    t.push({
      target: "An agent's RSS within 1.25× a bare Node process that only keeps a timer",
      measured: `${rss.toFixed(2)}× with 32 peers (${fmt(num(o, 'rss.32.MiB'))} MiB vs ${fmt(num(o, 'bare.rss.MiB'))} MiB, max over the window)`,
      verdict: rss <= 1.25 ? 'met' : 'missed',
    });
  }
  const st = results.get('status')?.headline;
  if (st) {
    const r = num(st, 'commy.p50ms') / num(st, 'min.p50ms');
    t.push({
      target: '`commy status --json` as a whole process within 1.2× a minimal Node program doing the same read',
      measured: `${ratio(r, 1)} at p50 (${fmt(num(st, 'commy.p50ms'))} ms vs ${fmt(num(st, 'min.p50ms'))} ms)`,
      verdict: r <= 1.2 ? 'met' : 'missed',
    });
  }
  const n = results.get('notify')?.headline;
  if (n) {
    const p99 = num(n, 'wait.p99us');
    t.push({
      target: 'Another process sees a status change within 200 µs p99 of the write',
      measured:
        `woken: p50 ${fmt(num(n, 'wait.p50us'))} µs, p99 ${fmt(p99)} µs, max ${fmt(num(n, 'wait.maxus'))} µs from the write ` +
        `call (from its return: p50 ${fmt(num(n, 'wait.return.p50us'))} µs, p99 ${fmt(num(n, 'wait.return.p99us'))} µs); ` +
        (n['thread.p50us'] !== undefined
          ? `on a waiting thread (as Windows waits): p50 ${fmt(num(n, 'thread.p50us'))} µs, p99 ${fmt(num(n, 'thread.p99us'))} µs; `
          : '') +
        `one byte pushed on a Unix socket, the same run: p50 ${fmt(num(n, 'socket.p50us'))} µs, p99 ${fmt(num(n, 'socket.p99us'))} µs; ` +
        `polling every 100 ms: p50 ${fmt(num(n, 'poll.p50us'))} µs, p99 ${fmt(num(n, 'poll.p99us'))} µs`,
      verdict: p99 <= 200 ? 'met' : 'missed',
    });
    const floor = num(n, 'idle.none.pct');
    const idleCpu = num(n, 'idle.wait.pct') - floor;
    t.push({
      target: 'An idle watcher uses no measurable CPU (≤ 0.05% of a core over an idle Node process)',
      measured: `+${fmt(Math.max(0, idleCpu))}% of a core (${fmt(num(n, 'idle.wait.pct'))}% against ${fmt(floor)}% for the same process with no watch; polling every 100 ms: +${fmt(Math.max(0, num(n, 'idle.poll.pct') - floor))}%)`,
      verdict: idleCpu <= 0.05 ? 'met' : 'missed',
    });
  }
  const j = results.get('join')?.headline;
  if (j) {
    const worst = Math.max(num(j, 'n3.join.maxms'), num(j, 'n6.join.maxms'), num(j, 'n12.join.maxms'));
    t.push({
      target: 'A node given one seed knows the whole cluster within a few (≤ 3) heartbeat intervals (1 s)',
      measured: `join p50 ${fmt(num(j, 'n3.join.p50ms'))} / ${fmt(num(j, 'n6.join.p50ms'))} / ${fmt(num(j, 'n12.join.p50ms'))} ms for 3 / 6 / 12 agents; worst ${fmt(worst)} ms`,
      verdict: worst <= 3000 ? 'met' : 'missed',
    });
  }
  const mh = results.get('mesh')?.headline;
  if (mh) {
    const sizes = [8, 32, 64, 128].filter((k) => mh[`n${k}.suspicions`] !== undefined);
    const bad = sizes.filter((k) => num(mh, `n${k}.suspicions`) > 0 || mh[`n${k}.converged`] !== true);
    t.push({
      target: 'A full mesh of 128 at 1 s has no false suspicion',
      measured: sizes
        .map(
          (k) =>
            `N = ${k}: ${num(mh, `n${k}.suspicions`)} false suspicions, ${fmt(num(mh, `n${k}.cpuPct`))}% of a core per node` +
            (mh[`n${k}.converged`] === true ? '' : ' (the mesh never formed)'),
        )
        .join('; '),
      verdict: bad.length === 0 && sizes.includes(128) ? 'met' : 'missed',
    });
  }
  const rt = results.get('route')?.headline;
  if (rt) {
    const r = num(rt, 'route/status.p50');
    const worst = num(rt, 'worst/status.p50');
    t.push({
      target: 'Routing: `route()` costs at most 2× `status()` for 16 members',
      measured:
        `${ratio(r, 1)} at p50 (${fmt(num(rt, 'route.p50'))} µs vs ${fmt(num(rt, 'status.p50'))} µs); with 3 replicas, ` +
        `36-character keys or suspected members counted, at most ${ratio(worst, 1)}; ${fmt(num(rt, 'route.bytes'))} ` +
        `bytes allocated per call (the returned array), against ${fmt(num(rt, 'status.bytes'))} for status()`,
      verdict: worst <= 2 ? 'met' : 'missed',
    });
  }
  const vs = results.get('memberlist')?.headline;
  if (vs) {
    const c8 = num(vs, 'commy.n8.cpuPct');
    const m8 = num(vs, 'memberlist.n8.cpuPct');
    const c32 = num(vs, 'commy.n32.cpuPct');
    const skipped = vs['skipped'] ?? vs['memberlist.skipped'];
    t.push({
      target: 'CPU per node: no more than memberlist at N = 8 in the same run, at most 1% of a core at N = 32',
      measured:
        typeof vs['skipped'] === 'string'
          ? `skipped (${vs['skipped']})`
          : `N = 8: ${fmt(c8)}% against memberlist's ${Number.isNaN(m8) ? `n/a (${String(skipped)})` : `${fmt(m8)}%`}; ` +
            `N = 32: ${fmt(c32)}% (memberlist ${fmt(num(vs, 'memberlist.n32.cpuPct'))}%)`,
      verdict:
        Number.isNaN(c8) || Number.isNaN(m8) || Number.isNaN(c32) ? 'n/a' : c8 <= m8 && c32 <= 1 ? 'met' : 'missed',
    });
  }
  return t;
}

async function main(): Promise<void> {
  const startedAt = Date.now();
  const before = machineInfo();
  const loads: number[] = [loadavg()];
  const tally = new CpuTally();
  tally.sample();
  const sampler = setInterval(() => {
    loads.push(loadavg());
    tally.sample();
  }, 2000);
  const dir = mkdtempSync(join(tmpdir(), 'commy-bench-'));
  const results = new Map<string, BenchResult>();
  try {
    for (const b of BENCHES) {
      log(`=== ${b.name} (${quick ? 'quick' : 'full'})`);
      results.set(b.name, await runOne(b.file, join(dir, `${b.name}.json`)));
      log(`=== ${b.name} done in ${fmt(results.get(b.name)!.seconds)} s`);
    }
  } finally {
    clearInterval(sampler);
    rmSync(dir, { recursive: true, force: true });
  }
  loads.push(loadavg());
  tally.sample();
  const minutes = (Date.now() - startedAt) / 60000;
  const command = `npm run bench${quick ? ' -- --quick' : ''}${only ? ` -- --only ${only.join(',')}` : ''}${commyFlags.length > 0 ? ` -- ${commyFlags.join(' ')}` : ''}`;
  const maxLoad = Math.max(...loads);
  const avgLoad = loads.reduce((a, b) => a + b, 0) / loads.length;
  const othersCores = tally.others / ((Date.now() - startedAt) / 1000);
  const idle = othersCores < 0.1;
  const ts = targets(results);

  const md: string[] = [];
  md.push('# Benchmarks');
  md.push('');
  md.push(
    'Written by `npm run bench` (scripts/bench/run.ts; each benchmark is a script in scripts/bench/ that also runs ' +
      'alone, e.g. `node dist/scripts/bench/read.js --quick`). Benchmarks are not tests: nothing here is asserted by ' +
      '`npm test`. Every contender in a table ran in the same run, interleaved with the others in rounds after a warm-up.',
  );
  md.push('');
  md.push(
    table(
      ['', ''],
      [
        ['date', before.date.replace('T', ' ').slice(0, 19) + ' UTC'],
        ['command', `\`${command}\`${quick ? ' (quick mode: fewer samples and shorter windows)' : ''}`],
        ['CPU', `${before.cpu}, ${before.cores} cores`],
        ['memory', `${before.memoryGiB} GiB`],
        ['OS', before.os],
        ['Node', before.node],
        ['duration', `${fmt(minutes)} min`],
        [
          'machine load',
          `1-min load average ${fmt(loads[0])} at the start, ${fmt(avgLoad)} on average, ${fmt(maxLoad)} at most ` +
            `(this run's own processes included). Other processes used ${fmt(othersCores)} of the ${before.cores} cores ` +
            `on average during the run${tally.top(4) ? ` (${tally.top(4)})` : ''}` +
            (idle
              ? ': the machine was otherwise idle.'
              : ` — **the machine was not idle**: other work competed for the cores, so absolute figures are pessimistic.`),
        ],
      ],
      'll',
    ),
  );
  md.push('');
  md.push('## Targets');
  md.push('');
  md.push(
    table(
      ['target', 'measured', ''],
      ts.map((x) => [
        x.target,
        x.measured,
        x.verdict === 'met' ? '**met**' : x.verdict === 'missed' ? '**missed**' : 'n/a',
      ]),
      'lll',
    ),
  );
  md.push('');
  md.push(
    'The reliability targets (0 torn snapshots in a million reads, no crash on fuzzed regions or frames, no false ' +
      'Down during a 3 s stall, no fd or memory growth over a soak) are checked by `npm test` and the native ' +
      'sanitizer build, not timed here.',
  );
  md.push('');
  md.push('<!-- ANALYSIS -->');
  md.push('');
  for (const b of BENCHES) {
    const r = results.get(b.name)!;
    md.push(`## ${r.title}`);
    md.push('');
    md.push(r.markdown);
    md.push('');
    md.push(`_(${fmt(r.seconds)} s)_`);
    md.push('');
  }
  let doc = md.join('\n');
  // Keep the hand-written analysis of the previous doc, if any, between the markers.
  try {
    const prev = readFileSync(docPath, 'utf8');
    const m = /<!-- ANALYSIS -->\n([\s\S]*?)<!-- \/ANALYSIS -->/.exec(prev);
    if (m) doc = doc.replace('<!-- ANALYSIS -->', () => `<!-- ANALYSIS -->\n${m[1]}<!-- /ANALYSIS -->`);
  } catch {
    // no previous doc
  }
  writeFileSync(docPath, doc);
  log(`wrote ${docPath} (${fmt(minutes)} min)`);
  for (const x of ts) log(`${x.verdict.padEnd(6)} ${x.target}: ${x.measured}`);
}

await main();
