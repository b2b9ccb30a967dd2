// Benchmark: how far a full mesh goes on this machine. For N in {8, 32, 64, 128}, N real ClusterNodes
// (spread over a few processes: N agent processes do not fit on 2 cores) at a 1 s heartbeat interval,
// each seeded with the first, so the member lists make the full mesh. Once every node sees the N - 1
// others healthy on live connections, a steady window of 60 s (15 s with --quick) measures per node:
// CPU (the processes' scheduler accounting / N), bytes sent per second (from the regions' counters),
// the worst event-loop delay of any process, and every transition away from healthy (a false suspicion:
// nothing failed).
// Run: node dist/scripts/bench/mesh.js [--quick]
import { ClusterView } from '../../lib/view.js';
import { uniqueKey } from '../../harness/names.js';
import type { ForkedChild } from '../../harness/processes.js';
import { sleep, waitFor } from '../../harness/wait.js';
import { cpuNs, emit, fmt, forkHelper, log, maxTotalRssKiB, SECRET, startBench, table } from './common.js';

const args = startBench();
const SIZES = [8, 32, 64, 128];
const PROCESSES = 4;
const INTERVAL_MS = 1000;
const WINDOW_S = args.quick ? 15 : 60;
const CONVERGE_MS = 120_000;

interface Row {
  n: number;
  convergedS: number | null;
  cpuPct: number;
  bytesPerS: number;
  maxLagMs: number;
  suspicions: number;
  examples: string[];
  rssMiB: number;
  healthyAtEnd: string;
}

/** Every node's region: how many of its peers are healthy on a live connection, and the bytes it sent. */
function survey(views: ClusterView[]): { healthy: number[]; bytesSent: number } {
  let bytesSent = 0;
  const healthy = views.map((v) => {
    const s = v.snapshot();
    let ok = 0;
    for (const p of s.peers) {
      bytesSent += p.bytesSent;
      if (p.status === 'healthy' && p.connection === 'active' && p.lastSeenMs !== null) ok++;
    }
    return ok;
  });
  return { healthy, bytesSent };
}

async function mesh(n: number): Promise<Row> {
  const cluster = uniqueKey('mesh').cluster;
  const per = Math.ceil(n / PROCESSES);
  const hosts: ForkedChild[] = [];
  const views: ClusterView[] = [];
  const started = Date.now();
  try {
    // The first process hosts the seed (node m0) first; the others are seeded with its address.
    let seed = '-';
    for (let h = 0, first = 0; first < n; h++, first += per) {
      const count = Math.min(per, n - first);
      const host = forkHelper(
        'mesh-host.js',
        [cluster, 'm', String(first), String(count), seed, String(INTERVAL_MS), String(n + 8)],
        { COMMY_SECRET: SECRET },
      );
      hosts.push(host);
      const ready = await host.next<{ addresses: string[] }>((m) => 'addresses' in m, 120_000);
      if (h === 0) seed = ready.addresses[0];
    }
    for (let i = 0; i < n; i++) views.push(ClusterView.open({ cluster, serverId: `m${i}` }));
    let convergedS: number | null = null;
    try {
      await waitFor(() => survey(views).healthy.every((k) => k === n - 1), {
        timeoutMs: CONVERGE_MS,
        intervalMs: 250,
        what: `a mesh of ${n}`,
      });
      convergedS = (Date.now() - started) / 1000;
    } catch {
      log(`mesh: ${n} nodes did not converge within ${CONVERGE_MS / 1000} s; measuring anyway`);
    }
    await sleep(3000); // settle: the last handshakes, first heartbeats, JIT
    log(`mesh: ${n} nodes, measuring for ${WINDOW_S} s`);
    for (const h of hosts) h.send('count');
    const pids = hosts.map((h) => h.proc.pid!);
    const cpu0 = pids.map((p) => cpuNs(p)[0]);
    const bytes0 = survey(views).bytesSent;
    const t0 = process.hrtime.bigint();
    const rssMax = await maxTotalRssKiB(pids, WINDOW_S);
    const wallNs = Number(process.hrtime.bigint() - t0);
    const cpuNsTotal = pids.reduce((sum, p, i) => sum + cpuNs(p)[0] - cpu0[i], 0);
    const end = survey(views);
    const reports = await Promise.all(
      hosts.map((h) => {
        h.send('report');
        return h.next<{ suspicions: number; examples: string[]; maxLagMs: number }>((m) => 'suspicions' in m, 30_000);
      }),
    );
    return {
      n,
      convergedS,
      cpuPct: (100 * cpuNsTotal) / wallNs / n,
      bytesPerS: (end.bytesSent - bytes0) / (wallNs / 1e9) / n,
      maxLagMs: Math.max(...reports.map((r) => r.maxLagMs)),
      suspicions: reports.reduce((s, r) => s + r.suspicions, 0),
      examples: reports.flatMap((r) => r.examples).slice(0, 3),
      rssMiB: rssMax / 1024 / n,
      healthyAtEnd: `${end.healthy.filter((k) => k === n - 1).length}/${n}`,
    };
  } finally {
    for (const v of views) v.close();
    await Promise.all(
      hosts.map(async (h) => {
        h.send('stop');
        await Promise.race([h.exited, sleep(20_000)]);
        h.kill();
      }),
    );
  }
}

const rows: Row[] = [];
for (const n of SIZES) {
  log(`mesh: ${n} nodes in ${Math.min(PROCESSES, n)} processes`);
  const r = await mesh(n);
  log(
    `mesh: ${n}: ${fmt(r.cpuPct)}% of a core per node, ${fmt(r.bytesPerS)} B/s, lag ≤ ${fmt(r.maxLagMs)} ms, ` +
      `${r.suspicions} false suspicions`,
  );
  rows.push(r);
}

emit(args, {
  name: 'mesh',
  title: 'How far a full mesh goes',
  markdown: [
    `N real \`ClusterNode\`s at a ${INTERVAL_MS / 1000} s interval (suspectAfter 2, downAfter 5), ${PROCESSES} processes of N/${PROCESSES} nodes each (N agent processes do not fit on 2 cores), each node seeded with the first, so the member lists build the full mesh: N × (N - 1) / 2 connections, each carrying one heartbeat exchange (2 encrypted frames) a second. All nodes dial from 127.0.0.1, so each node's limit on handshakes from one address is raised to its capacity (on real hosts every node has its own address). After every node saw every other healthy on a live connection, a ${WINDOW_S} s window. Per node: CPU (the processes' exact scheduler accounting, divided by N), bytes sent per second (the regions' counters, framing included, TCP/IP not), the processes' RSS divided by N. "Worst lag": the largest event-loop delay any process saw in the window. "False suspicions": transitions away from healthy in the window (no node failed, so each one is false).`,
    '',
    table(
      [
        'N',
        'mesh formed in (s)',
        'CPU % of a core per node',
        'bytes sent / s per node',
        'RSS MiB per node',
        'worst event-loop lag (ms)',
        'false suspicions',
        'healthy at end',
      ],
      rows.map((r) => [
        r.n,
        r.convergedS === null ? `not in ${CONVERGE_MS / 1000}` : fmt(r.convergedS),
        fmt(r.cpuPct),
        fmt(Math.round(r.bytesPerS)),
        fmt(r.rssMiB),
        fmt(r.maxLagMs),
        r.suspicions,
        r.healthyAtEnd,
      ]),
      'rrrrrrrr',
    ),
    '',
    ...rows.filter((r) => r.examples.length > 0).map((r) => `- N = ${r.n}, e.g.: ${r.examples.join('; ')}`),
  ],
  headline: Object.fromEntries(
    rows.flatMap((r) => [
      [`n${r.n}.cpuPct`, r.cpuPct],
      [`n${r.n}.bytesPerS`, r.bytesPerS],
      [`n${r.n}.maxLagMs`, r.maxLagMs],
      [`n${r.n}.suspicions`, r.suspicions],
      [`n${r.n}.converged`, r.convergedS !== null],
    ]),
  ),
});
