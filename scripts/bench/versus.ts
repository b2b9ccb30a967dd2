// Benchmark: commy next to memberlist (HashiCorp's SWIM library, DefaultLANConfig), the reference peer.
// For N in {8, 32}, each system in turn, 2 runs each (1 with --quick), alternating which goes first: N nodes,
// one process each, on 127.0.0.1 inside a network namespace of their own (so the namespace's loopback
// counters are that system's traffic and nothing else's), every node seeded with the first. Once every node
// sees the N - 1 others and a short settle, a steady window (60 s, 10 s with --quick) measures per node:
// CPU % of a core (the processes' scheduler accounting / N), RSS, bytes and packets per second on the wire
// (the namespace's lo tx counters / N: TCP/UDP/IP headers, ACKs and retransmits included). Then join: one
// more node starts, seeded with the first; from its "ready" line until every existing node sees it, and
// until it sees every existing node. Then kill -9 of one node: from the kill until each other node reports
// it Down (commy) or dead (memberlist's NotifyLeave), p50 / max across observers.
// commy: a 1 s heartbeat interval, default thresholds; "sees" = the first heartbeat from the peer arrived.
// memberlist: DefaultLANConfig (1 s probes, 200 ms gossip); "sees" = NotifyJoin.
// Several commy checkouts can be measured in the same run, alternately with each other and memberlist:
//   node dist/scripts/bench/versus.js [--quick] [--commy after=. --commy before=DIR] [--sizes 8,32]
//     [--svg-dir DIR]   also writes DIR/versus-memberlist.svg: CPU and bytes per node against N, per system
// Each checkout needs its dist/ built (npx node-gyp rebuild && npx tsc -p .). The default is this tree only.
// Without root (network namespaces) the benchmark is skipped; without Go or Debian's memberlist package
// only memberlist is; either way it says why and exits 0.
import { execFile, execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { unlinkRegion } from '../../lib/region/index.js';
import { hostsUnavailable } from '../../harness/hosts.js';
import { uniqueKey } from '../../harness/names.js';
import { spawnTracked, stopProcess } from '../../harness/processes.js';
import { sleep, waitFor } from '../../harness/wait.js';
import {
  benchDir,
  cpuNs,
  emit,
  fmt,
  log,
  machineInfo,
  rootDir,
  maxTotalRssKiB,
  sampleStats,
  SECRET,
  startBench,
  table,
  which,
} from './common.js';
import { barCharts } from './svg.js';

const args = startBench();
const run = promisify(execFile);
const argv = process.argv.slice(2);
const flagValues = (flag: string) => argv.flatMap((a, i) => (a === flag && argv[i + 1] ? [argv[i + 1]] : []));
const SIZES = (flagValues('--sizes')[0] ?? '8,32').split(',').map(Number);
const RUNS = args.quick ? 1 : 2;
const WINDOW_S = args.quick ? 10 : 60;
const SETTLE_MS = args.quick ? 3000 : 5000;
const INTERVAL_MS = 1000;
const CONVERGE_MS = 180_000;
const EVENT_MS = 60_000;
const BASE_PORT = 20000;

/** Seconds, or "not in …" for a wait that timed out (NaN). */
const secs = (v: number, limitMs = EVENT_MS) => (Number.isNaN(v) ? `not in ${limitMs / 1000} s` : fmt(v));

// ---- what the bench makes, removed at the end, on failure and on SIGINT ----------------------------

const made = { namespaces: new Set<string>(), regions: [] as { cluster: string; serverId: string }[] };

function removeAllSync(): void {
  for (const ns of made.namespaces) {
    try {
      for (const pid of execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).split(/\s+/).filter(Boolean))
        process.kill(Number(pid), 'SIGKILL');
    } catch {
      // gone already
    }
    spawnSync('ip', ['netns', 'delete', ns], { stdio: 'ignore' });
  }
  made.namespaces.clear();
  for (const key of made.regions.splice(0)) {
    try {
      unlinkRegion(key); // a node killed with -9 leaves its region
    } catch {
      // a clean stop removed it
    }
  }
}
process.on('exit', removeAllSync);

// ---- the systems ------------------------------------------------------------------------------------

interface Event {
  event: string;
  node: string;
  ms: number;
  to?: string;
}

interface Member {
  id: string;
  proc: ChildProcess;
  events: Event[];
  /** Tell a commy node to start or stop the poll that reports new peers (no-op for memberlist). */
  say(cmd: 'watch' | 'quiet'): void;
}

interface System {
  label: string;
  kind: 'commy' | 'memberlist';
  /** Spawns node `id` in namespace `ns` on BASE_PORT + index, seeded with node 0 (none for node 0 itself). */
  spawn(ns: string, cluster: string, id: string, index: number): ChildProcess;
  sees(e: Event, peer: string): boolean;
  down(e: Event, peer: string): boolean;
  /** An event that reports a member unhealthy (in a steady window, where nothing failed, a false alarm). */
  alarm(e: Event): boolean;
}

function commySystem(label: string, checkout: string): System {
  const script = join(benchDir, 'versus-node.js');
  return {
    label,
    kind: 'commy',
    spawn: (ns, cluster, id, index) =>
      spawnTracked(
        'ip',
        [
          'netns',
          'exec',
          ns,
          process.execPath,
          script,
          checkout,
          cluster,
          id,
          `127.0.0.1:${BASE_PORT + index}`,
          index === 0 ? '-' : `127.0.0.1:${BASE_PORT}`,
          String(INTERVAL_MS),
          String(Math.max(...SIZES) + 8),
        ],
        { stdio: ['pipe', 'pipe', 'inherit'], env: { ...process.env, COMMY_SECRET: SECRET } },
      ),
    sees: (e, peer) => e.event === 'sees' && e.node === peer,
    down: (e, peer) => e.event === 'status' && e.to === 'down' && e.node === peer,
    alarm: (e) => e.event === 'status' && e.to !== 'healthy',
  };
}

function memberlistSystem(bin: string): System {
  return {
    label: 'memberlist',
    kind: 'memberlist',
    spawn: (ns, _cluster, id, index) =>
      spawnTracked(
        'ip',
        [
          'netns',
          'exec',
          ns,
          bin,
          '-name',
          id,
          '-bind',
          '127.0.0.1',
          '-port',
          String(BASE_PORT + index),
          ...(index === 0 ? [] : ['-join', `127.0.0.1:${BASE_PORT}`]),
        ],
        { stdio: ['pipe', 'pipe', 'inherit'] },
      ),
    sees: (e, peer) => e.event === 'join' && e.node === peer,
    down: (e, peer) => e.event === 'leave' && e.node === peer,
    alarm: (e) => e.event === 'leave',
  };
}

/**
 * The memberlist node built from scripts/bench/memberlist/main.go with Debian's packages only, offline, in
 * GOPATH mode, into a cache dir named by the hash of the source and the Go version; or why it cannot be.
 */
function buildMemberlist(): { bin: string } | { skipped: string } {
  const go = which('go');
  if (!go) return { skipped: 'Go is not installed (apt-get install golang-go)' };
  const gocode = '/usr/share/gocode';
  if (!existsSync(join(gocode, 'src', 'github.com', 'hashicorp', 'memberlist')))
    return {
      skipped: 'the memberlist package is not installed (apt-get install golang-github-hashicorp-memberlist-dev)',
    };
  const src = join(rootDir, 'scripts', 'bench', 'memberlist', 'main.go');
  if (!existsSync(src)) return { skipped: `${src} is missing` };
  const version = spawnSync(go, ['version'], { encoding: 'utf8' }).stdout.trim();
  const hash = createHash('sha256').update(readFileSync(src)).update(version).digest('hex').slice(0, 16);
  const dir = join(tmpdir(), `commy-bench-memberlist-${hash}`);
  const bin = join(dir, 'memberlist-node');
  if (existsSync(bin)) return { bin };
  mkdirSync(dir, { recursive: true });
  const work = mkdtempSync(join(tmpdir(), 'commy-bench-gobuild-'));
  try {
    log(`versus: building the memberlist node (${version}, GOPATH mode, offline)`);
    const r = spawnSync(go, ['build', '-o', join(work, 'memberlist-node'), src], {
      cwd: work,
      encoding: 'utf8',
      env: {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH: `${join(work, 'gopath')}:${gocode}`,
        GOPROXY: 'off',
        GOFLAGS: '',
        GOCACHE: join(work, 'cache'),
      },
    });
    if (r.status !== 0) return { skipped: `go build failed: ${(r.stderr || r.error?.message || '').trim()}` };
    renameSync(join(work, 'memberlist-node'), bin); // whole or not at all, for the next run
    return { bin };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

// ---- one measurement: one system, N nodes, in a namespace of its own ---------------------------------

interface Row {
  system: string;
  n: number;
  run: number;
  convergedS: number;
  cpuPct: number;
  bytesPerS: number;
  packetsPerS: number;
  rssMiB: number;
  alarms: number;
  startupS: number;
  seenByAllS: number;
  seesAllS: number;
  /** ms from the kill -9 to each observer's Down. */
  downMs: number[];
  observers: number;
}

let nsCounter = 0;

async function loCounters(ns: string): Promise<{ bytes: number; packets: number }> {
  const { stdout } = await run('ip', [
    'netns',
    'exec',
    ns,
    'cat',
    '/sys/class/net/lo/statistics/tx_bytes',
    '/sys/class/net/lo/statistics/tx_packets',
  ]);
  const [bytes, packets] = stdout.trim().split('\n').map(Number);
  return { bytes, packets };
}

function start(sys: System, ns: string, cluster: string, id: string, index: number): Member {
  if (sys.kind === 'commy') made.regions.push({ cluster, serverId: id });
  const proc = sys.spawn(ns, cluster, id, index);
  const events: Event[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => {
    try {
      events.push(JSON.parse(l) as Event);
    } catch {
      log(`versus: ${sys.label} ${id}: ${l}`);
    }
  });
  proc.stdin!.on('error', () => undefined); // a killed node's pipe
  return {
    id,
    proc,
    events,
    say: (cmd) => {
      if (sys.kind === 'commy' && proc.stdin!.writable) proc.stdin!.write(`${cmd}\n`);
    },
  };
}

function readyMs(m: Member): number | undefined {
  return m.events.find((e) => e.event === 'ready' && e.node === m.id)?.ms;
}

/** When `m` first saw `peer` (after `sinceMs`), or undefined. */
function seenAt(sys: System, m: Member, peer: string, sinceMs = 0): number | undefined {
  return m.events.find((e) => e.ms >= sinceMs && sys.sees(e, peer))?.ms;
}

function seesAll(sys: System, m: Member, all: Member[]): boolean {
  return all.every((p) => p === m || seenAt(sys, m, p.id) !== undefined);
}

async function measure(sys: System, n: number, runIndex: number): Promise<Row> {
  const ns = `commy-vs${process.pid}-${++nsCounter}`;
  const cluster = uniqueKey('vs').cluster;
  const members: Member[] = [];
  await run('ip', ['netns', 'add', ns]);
  made.namespaces.add(ns);
  try {
    await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    const t0 = Date.now();
    members.push(start(sys, ns, cluster, 'n0', 0));
    await waitFor(() => readyMs(members[0]), { timeoutMs: 30_000, what: `${sys.label} n0 ready` });
    // Spread over one interval, so the nodes' timers are out of phase as on hosts started at unrelated times.
    for (let i = 1; i < n; i++) {
      members.push(start(sys, ns, cluster, `n${i}`, i));
      await sleep(INTERVAL_MS / n);
    }
    // A loaded machine may keep a cluster from forming: measured anyway, and the table says so.
    const formed = await waitFor(() => members.every((m) => seesAll(sys, m, members)), {
      timeoutMs: CONVERGE_MS,
      intervalMs: 100,
    }).then(
      () => true,
      () => false,
    );
    const convergedS = formed ? (Date.now() - t0) / 1000 : NaN;
    if (!formed) log(`versus: ${n} ${sys.label} nodes did not all see each other in ${CONVERGE_MS / 1000} s`);
    for (const m of members) m.say('quiet');
    await sleep(SETTLE_MS);

    // Steady window.
    log(
      `versus: ${sys.label}, ${n} nodes (run ${runIndex + 1}), ${formed ? `converged in ${fmt(convergedS)} s` : 'not converged'}; ${WINDOW_S} s window`,
    );
    const pids = members.map((m) => m.proc.pid!);
    const windowStartMs = Date.now();
    const cpu0 = pids.map((p) => cpuNs(p)[0]);
    const lo0 = await loCounters(ns);
    const w0 = process.hrtime.bigint();
    const rssMax = await maxTotalRssKiB(pids, WINDOW_S);
    const cpu1 = pids.map((p) => cpuNs(p)[0]);
    const lo1 = await loCounters(ns);
    const wallS = Number(process.hrtime.bigint() - w0) / 1e9;
    const alarms = members.reduce(
      (k, m) => k + m.events.filter((e) => e.ms >= windowStartMs && sys.alarm(e)).length,
      0,
    );

    // Join: one more node, seeded with the first.
    for (const m of members) m.say('watch');
    await sleep(200);
    const spawnMs = Date.now();
    const joiner = start(sys, ns, cluster, `n${n}`, n);
    const existing = [...members];
    members.push(joiner);
    const joinerReady = (await waitFor(() => readyMs(joiner), {
      timeoutMs: 30_000,
      what: `${sys.label} joiner ready`,
    }))!;
    await waitFor(
      () => existing.every((m) => seenAt(sys, m, joiner.id, spawnMs) !== undefined) && seesAll(sys, joiner, existing),
      { timeoutMs: EVENT_MS, intervalMs: 20 },
    ).catch(() =>
      log(`versus: ${sys.label}: the joiner was not seen by all or did not see all in ${EVENT_MS / 1000} s`),
    );
    // NaN (shown as "not in 60 s") when some node never saw it.
    const seenByAllS = (Math.max(...existing.map((m) => seenAt(sys, m, joiner.id, spawnMs)!)) - joinerReady) / 1000;
    const seesAllS = (Math.max(...existing.map((p) => seenAt(sys, joiner, p.id)!)) - joinerReady) / 1000;
    for (const m of members) m.say('quiet');
    await sleep(2000);

    // kill -9 of the last of the first N (not the seed), seen from every other node.
    const victim = members[n - 1];
    const observers = members.filter((m) => m !== victim);
    const killMs = Date.now();
    victim.proc.kill('SIGKILL');
    const downAt = (m: Member) => m.events.find((e) => e.ms >= killMs && sys.down(e, victim.id))?.ms;
    try {
      await waitFor(() => observers.every((m) => downAt(m) !== undefined), { timeoutMs: EVENT_MS, intervalMs: 20 });
    } catch {
      log(`versus: ${sys.label}: not every node reported ${victim.id} down within ${EVENT_MS / 1000} s`);
    }
    const downMs = observers.map(downAt).flatMap((t) => (t === undefined ? [] : [t - killMs]));
    return {
      system: sys.label,
      n,
      run: runIndex + 1,
      convergedS,
      cpuPct: (100 * cpu1.reduce((s, c, i) => s + c - cpu0[i], 0)) / 1e9 / wallS / n,
      bytesPerS: (lo1.bytes - lo0.bytes) / wallS / n,
      packetsPerS: (lo1.packets - lo0.packets) / wallS / n,
      rssMiB: rssMax / 1024 / n,
      alarms,
      startupS: (joinerReady - spawnMs) / 1000,
      seenByAllS,
      seesAllS,
      downMs,
      observers: observers.length,
    };
  } finally {
    await Promise.all(members.map((m) => stopProcess(m.proc)));
    removeAllSync();
  }
}

// ---- the run ------------------------------------------------------------------------------------------

function checkouts(): { label: string; dir: string }[] {
  const given = flagValues('--commy').map((v) => {
    const eq = v.indexOf('=');
    const label = eq > 0 ? v.slice(0, eq) : v;
    const dir = resolve(eq > 0 ? v.slice(eq + 1) : v);
    if (!existsSync(join(dir, 'dist', 'lib', 'node.js')))
      throw new Error(
        `--commy ${v}: ${dir}/dist/lib/node.js is missing (build it: npx node-gyp rebuild && npx tsc -p .)`,
      );
    return { label: `commy ${label}`, dir };
  });
  return given.length > 0 ? given : [{ label: 'commy', dir: rootDir }];
}

const TITLE = 'Next to memberlist: overhead, failure detection and join';
const noHosts = hostsUnavailable();
if (noHosts) {
  log(`versus: skipped: ${noHosts}`);
  emit(args, {
    name: 'memberlist',
    title: TITLE,
    markdown: [`Skipped: ${noHosts} (each system runs in a network namespace of its own).`],
    headline: { skipped: noHosts },
  });
  process.exit(0);
}

const commys = checkouts();
const ml = buildMemberlist();
if ('skipped' in ml) log(`versus: memberlist skipped: ${ml.skipped}`);
const systems: System[] = [
  ...commys.map((c) => commySystem(c.label, c.dir)),
  ...('bin' in ml ? [memberlistSystem(ml.bin)] : []),
];
const loadStart = machineInfo().loadAverage;
const rows: Row[] = [];
for (const n of SIZES)
  for (let r = 0; r < RUNS; r++)
    for (let k = 0; k < systems.length; k++) {
      // Rotate who goes first, so drift of the machine hits every system alike.
      const sys = systems[(k + r) % systems.length];
      const row = await measure(sys, n, r);
      const d = sampleStats(row.downMs, 1);
      log(
        `versus: ${sys.label} N=${n} run ${r + 1}: ${fmt(row.cpuPct)}% CPU/node, ${fmt(row.bytesPerS)} B/s, ` +
          `${fmt(row.packetsPerS)} pkt/s, RSS ${fmt(row.rssMiB)} MiB; join seen by all ${fmt(row.seenByAllS)} s, ` +
          `sees all ${fmt(row.seesAllS)} s; down p50 ${fmt(d.p50 / 1000)} / max ${fmt(d.max / 1000)} s ` +
          `(${row.downMs.length}/${row.observers})`,
      );
      rows.push(row);
    }
const loadEnd = machineInfo().loadAverage;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
/** The range over runs, and how many runs timed out. */
const span = (xs: number[]) => {
  const ok = xs.filter((x) => !Number.isNaN(x));
  if (ok.length === 0) return secs(NaN);
  const lo = fmt(Math.min(...ok));
  const hi = fmt(Math.max(...ok));
  const missed = xs.length - ok.length;
  return `${lo === hi ? lo : `${lo}–${hi}`}${missed > 0 ? ` (${missed} run${missed > 1 ? 's' : ''} ${secs(NaN)})` : ''}`;
};

interface Summary {
  cpuPct: number;
  bytesPerS: number;
  packetsPerS: number;
  rssMiB: number;
  downP50S: number;
  downMaxS: number;
  downSeen: string;
  seenByAll: string;
  seesAll: string;
  startup: string;
  alarms: number;
}

function summarize(rs: Row[]): Summary {
  const down = rs.flatMap((r) => r.downMs);
  const d = down.length > 0 ? sampleStats(down, 1) : undefined;
  return {
    cpuPct: mean(rs.map((r) => r.cpuPct)),
    bytesPerS: mean(rs.map((r) => r.bytesPerS)),
    packetsPerS: mean(rs.map((r) => r.packetsPerS)),
    rssMiB: mean(rs.map((r) => r.rssMiB)),
    downP50S: d ? d.p50 / 1000 : NaN,
    downMaxS: d ? d.max / 1000 : NaN,
    downSeen: `${down.length} of ${rs.reduce((s, r) => s + r.observers, 0)}`,
    seenByAll: span(rs.map((r) => r.seenByAllS)),
    seesAll: span(rs.map((r) => r.seesAllS)),
    startup: span(rs.map((r) => r.startupS)),
    alarms: rs.reduce((s, r) => s + r.alarms, 0),
  };
}

const headline: Record<string, number | string | boolean | null> = {};
if ('skipped' in ml) headline['memberlist.skipped'] = ml.skipped;
// The target is about this tree: the checkout at the package root if measured, else the first given.
const current = systems.find((s, i) => s.kind === 'commy' && commys[i].dir === rootDir) ?? systems[0];
headline['commy.label'] = current.label;
const markdown: string[] = [
  `Each system in a network namespace of its own, N nodes in one process each on 127.0.0.1, started 1/N of an interval apart, every ` +
    `node seeded with the first; ${RUNS} run${RUNS > 1 ? 's' : ''} per system and N, the systems alternating (who goes first ` +
    `rotates). **commy**: \`ClusterNode\` at a ${INTERVAL_MS / 1000} s heartbeat interval, default thresholds ` +
    `(Suspected after 2 missed, Down after 5), encrypted TCP. **memberlist** ${'bin' in ml ? '' : '(skipped: ' + ml.skipped + ') '}` +
    `(HashiCorp's SWIM library, Debian's golang-github-hashicorp-memberlist-dev, built by the benchmark from ` +
    `scripts/bench/memberlist/main.go): \`DefaultLANConfig()\`: 1 s probes over UDP, 500 ms probe timeout, gossip ` +
    `to 3 nodes every 200 ms, TCP push-pull every 30 s; a suspect is declared dead after 4 × max(1, log10 N) probe intervals once enough ` +
    `members confirm it, 6 × that at most.`,
  '',
  `Once every node saw the N − 1 others and a ${SETTLE_MS / 1000} s settle, a ${WINDOW_S} s window, per node: ` +
    `CPU (the processes' scheduler accounting, all threads, / N), the largest RSS of the window / N, bytes and ` +
    `packets per second sent on the namespace's loopback (\`/sys/class/net/lo/statistics/tx_*\` read inside it, / N: ` +
    `all headers, ACKs and retransmits included). **Join**: one more node starts, seeded with the first; from its ` +
    `"ready" line (listening, start-up of the runtime excluded) until every existing node sees it, and until it ` +
    `sees each of them (commy: its first heartbeat arrived; memberlist: NotifyJoin). **Down**: kill -9 of one node; ` +
    `from the kill until each other node reports it Down (commy) or dead (memberlist's NotifyLeave), pooled over ` +
    `observers and runs. **Alarms**: members reported unhealthy (commy: Suspected or Down; memberlist: dead) during ` +
    `the window, where nothing failed.`,
  '',
];
for (const n of SIZES) {
  markdown.push(`**N = ${n}**`, '');
  const body: (string | number)[][] = [];
  for (const sys of systems) {
    const rs = rows.filter((r) => r.n === n && r.system === sys.label);
    if (rs.length === 0) continue;
    const s = summarize(rs);
    const key = sys === current ? 'commy' : sys.kind === 'memberlist' ? 'memberlist' : sys.label.replace(/ /g, '_');
    Object.assign(headline, {
      [`${key}.n${n}.cpuPct`]: s.cpuPct,
      [`${key}.n${n}.bytesPerS`]: s.bytesPerS,
      [`${key}.n${n}.packetsPerS`]: s.packetsPerS,
      [`${key}.n${n}.rssMiB`]: s.rssMiB,
      [`${key}.n${n}.downP50S`]: s.downP50S,
      [`${key}.n${n}.downMaxS`]: s.downMaxS,
    });
    body.push([
      sys.label,
      fmt(s.cpuPct),
      fmt(Math.round(s.bytesPerS)),
      fmt(s.packetsPerS),
      // CPU per packet sent: what one heartbeat (or probe) costs, whatever the design sends.
      fmt(((s.cpuPct / 100) * 1e6) / s.packetsPerS),
      fmt(s.rssMiB),
      `${fmt(s.downP50S)} / ${fmt(s.downMaxS)} (${s.downSeen})`,
      s.seenByAll,
      s.seesAll,
      s.startup,
      s.alarms,
    ]);
  }
  markdown.push(
    table(
      [
        'system',
        'CPU % of a core',
        'bytes / s',
        'packets / s',
        'CPU µs per packet',
        'RSS MiB',
        'Down after kill -9, p50 / max (s)',
        'new node seen by all (s)',
        'new node sees all (s)',
        'start-up to ready (s)',
        'alarms',
      ],
      body,
      'lrrrrrrrrrr',
    ),
    '',
  );
}
const svgDir = flagValues('--svg-dir')[0];
if (svgDir) {
  const per = (pick: (s: Summary) => number) =>
    systems.map((sys) => ({
      label: sys.label,
      values: SIZES.map((n) => {
        const rs = rows.filter((r) => r.n === n && r.system === sys.label);
        return rs.length > 0 ? pick(summarize(rs)) : NaN;
      }),
    }));
  const groups = SIZES.map((n) => `N = ${n}`);
  const file = 'versus-memberlist.svg';
  writeFileSync(
    join(svgDir, file),
    barCharts([
      { title: 'CPU per node, % of a core', groups, series: per((s) => s.cpuPct), format: (v) => v.toFixed(2) },
      {
        title: 'Bytes sent per node per second',
        groups,
        series: per((s) => s.bytesPerS),
        format: (v) => Math.round(v).toLocaleString('en-US'),
      },
    ]),
  );
  markdown.push(`![CPU and bytes per node against N, per system](${file})`, '');
}
markdown.push(
  'Every run:',
  '',
  table(
    [
      'N',
      'run',
      'system',
      'formed in (s)',
      'CPU %',
      'bytes / s',
      'packets / s',
      'RSS MiB',
      'Down p50 / max (s)',
      'seen by all / sees all (s)',
    ],
    rows.map((r) => {
      const d = r.downMs.length > 0 ? sampleStats(r.downMs, 1) : undefined;
      return [
        r.n,
        r.run,
        r.system,
        secs(r.convergedS, CONVERGE_MS),
        fmt(r.cpuPct),
        fmt(Math.round(r.bytesPerS)),
        fmt(r.packetsPerS),
        fmt(r.rssMiB),
        d ? `${fmt(d.p50 / 1000)} / ${fmt(d.max / 1000)}` : 'none',
        `${secs(r.seenByAllS)} / ${secs(r.seesAllS)}`,
      ];
    }),
    'rrlrrrrrrr',
  ),
  '',
  `Load average (1, 5, 15 min): ${loadStart.map(fmt).join(', ')} at the start, ${loadEnd.map(fmt).join(', ')} at the end.`,
);

emit(args, { name: 'memberlist', title: TITLE, markdown, headline });
