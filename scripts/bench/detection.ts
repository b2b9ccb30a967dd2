// Benchmark 3: failure detection. A 3-node cluster of real `commy agent`
// processes on loopback (a, b, c); c is killed with SIGKILL, N times per
// heartbeat interval (100 ms and 1000 ms; suspectAfter 2, downAfter 5,
// heartbeatTimeoutMs = interval), and a separate reader process polling the
// regions of a and b every millisecond reports when each sees c suspected and
// down. Then: how soon a reader sees a change after the writer makes it.
// Run: node dist/scripts/bench/detection.js [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { ClusterView } from '../../lib/view.js';
import { unlinkRegion } from '../../lib/region/index.js';
import { freePorts, loopbackPeers } from '../../harness/loopback.js';
import { uniqueKey } from '../../harness/names.js';
import { spawnTracked, stopProcess } from '../../harness/processes.js';
import { sleep, waitFor } from '../../harness/wait.js';
import {
  cliPath,
  emit,
  fmt,
  forkHelper,
  log,
  sampleStats,
  SECRET,
  startBench,
  table,
  writeAgentConfig,
  type Stats,
} from './common.js';

const args = startBench();
const SUSPECT_AFTER = 2;
const DOWN_AFTER = 5;
const PLAN = args.quick
  ? [
      { intervalMs: 100, trials: 5 },
      { intervalMs: 1000, trials: 2 },
    ]
  : [
      { intervalMs: 100, trials: 20 },
      { intervalMs: 1000, trials: 20 },
    ];
const VIS_WRITES = args.quick ? 1500 : 5000;

interface Change {
  change: true;
  observer: string;
  from: string;
  to: string;
  ns: string;
  lagMs: number | null;
}

interface IntervalResult {
  intervalMs: number;
  trials: number;
  suspected: number[]; // ms after the kill, one per observer per trial
  down: number[];
  lagMs: number[];
  missed: number; // observer-trials with no Down seen in time
}

async function detection(intervalMs: number, trials: number): Promise<IntervalResult> {
  const cluster = uniqueKey('db').cluster;
  const ids = ['a', 'b', 'c'];
  const ports = await freePorts(ids.length);
  const dir = mkdtempSync(join(tmpdir(), 'commy-bench-detect-'));
  const configs = ids.map((id, i) =>
    writeAgentConfig(dir, {
      cluster,
      serverId: id,
      listen: `127.0.0.1:${ports[i]}`,
      peers: loopbackPeers(ids, ports, i),
      heartbeatIntervalMs: intervalMs,
      heartbeatTimeoutMs: intervalMs,
      suspectAfter: SUSPECT_AFTER,
      downAfter: DOWN_AFTER,
    }),
  );
  const env = { ...process.env, COMMY_SECRET: SECRET, COMMY_LOG_LEVEL: 'warn' };
  const agents = new Map<string, ChildProcess>();
  const startAgent = (id: string) =>
    agents.set(id, spawnTracked(process.execPath, [cliPath, 'agent', '--config', configs[ids.indexOf(id)]], { env }));
  for (const id of ids) startAgent(id);

  const views = new Map<string, ClusterView>();
  const view = (id: string) => {
    let v = views.get(id);
    if (!v) {
      v = ClusterView.open({ cluster, serverId: id });
      views.set(id, v);
    }
    return v;
  };
  const allHealthy = () =>
    ids.every((o) => {
      const s = view(o).snapshot();
      return s.writer.alive && s.peers.length === 2 && s.peers.every((p) => p.status === 'healthy');
    });

  const watcher = forkHelper('detect-helper.js', ['watch', cluster, 'c', 'a', 'b']);
  await watcher.next((m) => 'ready' in m);
  const changes: Change[] = [];
  watcher.proc.on('message', (m: unknown) => {
    if ((m as Change).change) changes.push(m as Change);
  });

  const out: IntervalResult = { intervalMs, trials, suspected: [], down: [], lagMs: [], missed: 0 };
  try {
    for (let t = 0; t < trials; t++) {
      await waitFor(allHealthy, { timeoutMs: 30_000, intervalMs: 5, what: 'a healthy 3-node cluster' });
      // Stay healthy a little, then kill at a random phase of the heartbeat.
      await sleep(2 * intervalMs + Math.random() * intervalMs);
      changes.length = 0;
      const victim = agents.get('c')!;
      const t0 = process.hrtime.bigint();
      victim.kill('SIGKILL');
      const limitMs = (DOWN_AFTER + 4) * intervalMs + 3000;
      try {
        await waitFor(() => ['a', 'b'].every((o) => changes.some((c) => c.observer === o && c.to === 'down')), {
          timeoutMs: limitMs,
          intervalMs: 5,
          what: 'both observers to see c down',
        });
      } catch {
        // counted below as missed
      }
      for (const o of ['a', 'b']) {
        const s = changes.find((c) => c.observer === o && c.to === 'suspected');
        const d = changes.find((c) => c.observer === o && c.to === 'down');
        if (s) out.suspected.push(Number(BigInt(s.ns) - t0) / 1e6);
        if (d) out.down.push(Number(BigInt(d.ns) - t0) / 1e6);
        else out.missed++;
        for (const c of changes.filter((x) => x.observer === o && x.lagMs !== null)) out.lagMs.push(c.lagMs!);
      }
      log(
        `detection: ${intervalMs} ms, trial ${t + 1}/${trials}: ` +
          `suspected ${out.suspected.slice(-2).map((x) => x.toFixed(0))} ms, down ${out.down.slice(-2).map((x) => x.toFixed(0))} ms`,
      );
      await new Promise<void>((r) =>
        victim.exitCode !== null || victim.signalCode !== null ? r() : victim.once('exit', () => r()),
      );
      startAgent('c');
    }
  } finally {
    watcher.send('stop');
    await watcher.exited;
    for (const v of views.values()) v.close();
    await Promise.all([...agents.values()].map((a) => stopProcess(a)));
    // A stopped agent leaves its region (state "stopped") for readers; a benchmark leaves nothing.
    for (const id of ids) unlinkRegion({ cluster, serverId: id });
    rmSync(dir, { recursive: true, force: true });
  }
  return out;
}

interface Visibility {
  /** Share of the changes seen within 1 ms of the start of their write call. */
  within1ms: number;
  /** The same, from the end of the write call. */
  within1msAfterCall: number;
  fromStart: Stats;
  fromEnd: Stats;
  call: Stats;
  n: number;
  polls: number;
  written: number;
}

async function visibility(): Promise<Visibility> {
  const cluster = uniqueKey('vb').cluster;
  const writer = forkHelper('detect-helper.js', ['vis-writer', cluster, 'w']);
  await writer.next((m) => 'ready' in m);
  const windowMs = VIS_WRITES * 2.2 + 1500;
  const reader = forkHelper('detect-helper.js', ['vis-reader', cluster, 'w', String(windowMs)]);
  await sleep(300); // the reader is spinning by now
  writer.send({ write: VIS_WRITES });
  const res = await reader.next<{ seen: [string, string][]; polls: number }>((m) => 'seen' in m, windowMs + 30_000);
  await writer.next((m) => 'wrote' in m, 30_000);
  writer.send('stop');
  const { written, writes } = await writer.next<{ written: number; writes: [string, number][] }>((m) => 'written' in m);
  await Promise.all([writer.exited, reader.exited]);
  const duration = new Map(writes);
  const fromStart: number[] = [];
  const fromEnd: number[] = [];
  for (const [t, at] of res.seen) {
    const d = Number(BigInt(at) - BigInt(t));
    fromStart.push(d / 1000);
    const call = duration.get(t);
    if (call !== undefined) fromEnd.push(Math.max(d - call, 0) / 1000);
  }
  return {
    within1ms: fromStart.filter((us) => us <= 1000).length / Math.max(fromStart.length, 1),
    within1msAfterCall: fromEnd.filter((us) => us <= 1000).length / Math.max(fromEnd.length, 1),
    fromStart: sampleStats(fromStart, 1000),
    fromEnd: sampleStats(fromEnd, 1000),
    call: sampleStats(
      writes.map(([, c]) => c / 1000),
      1000,
    ),
    n: res.seen.length,
    polls: res.polls,
    written,
  };
}

/** "4,990 of 4,993 (99.94%)". */
function share(fraction: number, n: number): string {
  const k = Math.round(fraction * n);
  return `${k.toLocaleString('en-US')} of ${n.toLocaleString('en-US')} (${((100 * k) / Math.max(n, 1)).toFixed(2)}%)`;
}

async function main(): Promise<void> {
  const results: IntervalResult[] = [];
  for (const p of PLAN) {
    log(`detection: interval ${p.intervalMs} ms, ${p.trials} trials`);
    results.push(await detection(p.intervalMs, p.trials));
  }
  log('detection: writer-to-reader visibility');
  const vis = await visibility();

  const headline: Record<string, number | string | boolean | null> = {};
  const rows: (string | number)[][] = [];
  for (const r of results) {
    const obs = r.trials * 2;
    for (const [status, samples, after] of [
      ['suspected', r.suspected, SUSPECT_AFTER],
      ['down', r.down, DOWN_AFTER],
    ] as const) {
      const st = sampleStats(samples, 1000);
      const targetMs = (after + 1) * r.intervalMs;
      const ok = samples.filter((x) => x <= targetMs).length;
      rows.push([
        `${r.intervalMs} ms`,
        status,
        `${samples.length}/${obs}`,
        fmt(st.p50),
        fmt(st.p99),
        fmt(st.max),
        `≤ ${targetMs} ms: ${ok}/${obs}`,
      ]);
      headline[`${r.intervalMs}.${status}.p50`] = st.p50;
      headline[`${r.intervalMs}.${status}.max`] = st.max;
      headline[`${r.intervalMs}.${status}WithinTarget`] = ok === obs;
    }
    headline[`${r.intervalMs}.trials`] = r.trials;
  }
  const lag = sampleStats(
    results.flatMap((r) => r.lagMs.map((x) => Math.max(x, 0.001))),
    1000,
  );
  headline['visibility.p50us'] = vis.fromStart.p50;
  headline['visibility.p99us'] = vis.fromStart.p99;
  headline['visibility.maxus'] = vis.fromStart.max;
  headline['visibility.afterCall.p50us'] = vis.fromEnd.p50;
  headline['visibility.afterCall.p99us'] = vis.fromEnd.p99;
  headline['visibility.afterCall.maxus'] = vis.fromEnd.max;
  headline['visibility.within1ms'] = vis.within1ms;
  headline['visibility.afterCall.within1ms'] = vis.within1msAfterCall;
  headline['visibility.n'] = vis.n;
  const md = [
    `Three \`commy agent\` processes (a, b, c) on loopback, \`heartbeatTimeoutMs\` = interval, suspectAfter ${SUSPECT_AFTER}, ` +
      `downAfter ${DOWN_AFTER}. Each trial waits until every node sees the others healthy, waits 2-3 intervals (a random ` +
      `phase), sends SIGKILL to c and measures, from the kill, when a separate reader process polling the regions of a ` +
      `and b every millisecond (\`ClusterView.getPeer('c')\`) sees c suspected and down; then c is restarted. One sample ` +
      `per observer (a, b) per trial; times in ms; the target column is the README's failure-detection bound: Suspected within (suspectAfter+1)×interval, ` +
      `Down within (downAfter+1)×interval.\n`,
    table(['interval', 'c seen', 'samples', 'p50 ms', 'p99 ms', 'max ms', 'within target'], rows, 'llrrrrl'),
    `\nThe reader's lag behind the writer's own timestamp of each change (\`statusChangedMs\`, wall-clock ms, so ±1 ms): ` +
      `p50 ${fmt(lag.p50)} ms, p99 ${fmt(lag.p99)} ms, max ${fmt(lag.max)} ms over ${lag.n} changes; this includes the ` +
      `reader's 1 ms polling period.`,
    `\n**Writer change to reader visibility.** A writer process (a \`PeerRegistry\`) makes ${vis.written.toLocaleString('en-US')} ` +
      `changes 0.3-2 ms apart, each carrying the CLOCK_MONOTONIC time its write began (as the peer's metadata); a reader ` +
      `process spins on the region's change generation (\`RegionReader.generation()\`, ${vis.polls.toLocaleString('en-US')} polls) ` +
      `and on each change reads the slot and subtracts. Both clocks are the same kernel clock. ${vis.n.toLocaleString('en-US')} ` +
      `changes seen:\n`,
    table(
      ['interval', 'p50 µs', 'p99 µs', 'max µs'],
      [
        [
          'start of the write call → reader sees it',
          fmt(vis.fromStart.p50),
          fmt(vis.fromStart.p99),
          fmt(vis.fromStart.max),
        ],
        ['end of the write call → reader sees it', fmt(vis.fromEnd.p50), fmt(vis.fromEnd.p99), fmt(vis.fromEnd.max)],
        [
          'the write call itself (`setPeerMetadata`, in the writer)',
          fmt(vis.call.p50),
          fmt(vis.call.p99),
          fmt(vis.call.max),
        ],
      ],
      'lrrr',
    ),
    `\n${share(vis.within1ms, vis.n)} of the changes were seen within 1 ms of the start of their write call, ` +
      `${share(vis.within1msAfterCall, vis.n)} within 1 ms of its end. The change is published inside the call ` +
      `(the slot's seqlock write and the generation bump are the last things it does), so the write-to-visible time ` +
      `lies between the first two rows, next to the second; the second row can be 0 (seen before the call returned). ` +
      `On 2 cores the spinning reader and the writer each need a core, so any other runnable thread (the writer's own ` +
      `GC, the system) delays one of them by a scheduler time slice: that, not the region, is what the tails measure.`,
  ];
  emit(args, {
    name: 'detection',
    title: 'Failure detection',
    markdown: md,
    headline,
  });
}

await main();
