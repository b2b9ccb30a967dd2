// Benchmark: membership convergence. Real `commy agent` processes on loopback, heartbeat interval 1 s,
// each given one seed by address (the member before it). Two measures per cluster size (3, 6, 12):
// - join: n - 1 agents run and agree; one more starts, seeded with the first; from its spawn until every
//   region holds every other member healthy on a live connection;
// - cold start: all n start at once (each seed may not listen yet); from the last spawn until the same.
// Run: node dist/scripts/bench/join.js [--quick]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { ClusterView } from '../../lib/view.js';
import { unlinkRegion } from '../../lib/region/index.js';
import { freePorts } from '../../harness/loopback.js';
import { uniqueKey } from '../../harness/names.js';
import { spawnTracked, stopProcess } from '../../harness/processes.js';
import { waitFor } from '../../harness/wait.js';
import { cliPath, emit, fmt, log, sampleStats, SECRET, startBench, table, writeAgentConfig } from './common.js';

const args = startBench();
const SIZES = [3, 6, 12];
const TRIALS = args.quick ? 2 : 5;
const INTERVAL_MS = 1000;

interface Run {
  agents: Map<string, ChildProcess>;
  ids: string[];
  cluster: string;
  dir: string;
  start(i: number): void;
}

async function prepare(n: number): Promise<Run> {
  const cluster = uniqueKey('jb').cluster;
  const ids = Array.from({ length: n }, (_, i) => `n${i}`);
  const ports = await freePorts(n);
  const dir = mkdtempSync(join(tmpdir(), 'commy-bench-join-'));
  const env = { ...process.env, COMMY_SECRET: SECRET, COMMY_LOG_LEVEL: 'warn' };
  // The last one (the joiner) is seeded with the first; every other with the one before it.
  const files = ids.map((id, i) =>
    writeAgentConfig(dir, {
      cluster,
      serverId: id,
      listen: `127.0.0.1:${ports[i]}`,
      peers: [`127.0.0.1:${ports[i === n - 1 ? 0 : (i + n - 2) % (n - 1)]}`],
      heartbeatIntervalMs: INTERVAL_MS,
    }),
  );
  const agents = new Map<string, ChildProcess>();
  return {
    agents,
    ids,
    cluster,
    dir,
    start: (i) => agents.set(ids[i], spawnTracked(process.execPath, [cliPath, 'agent', '--config', files[i]], { env })),
  };
}

/** Polls until each of the first `k` agents' regions holds the other k - 1, healthy and connected. */
async function agree(run: Run, k: number): Promise<void> {
  const views = new Map<string, ClusterView>();
  try {
    await waitFor(
      () =>
        run.ids.slice(0, k).every((id) => {
          let v = views.get(id);
          if (!v) views.set(id, (v = ClusterView.open({ cluster: run.cluster, serverId: id })));
          const peers = v.snapshot().peers;
          return (
            peers.length === k - 1 &&
            peers.every((p) => p.status === 'healthy' && p.connection === 'active' && p.lastSeenMs !== null)
          );
        }),
      { timeoutMs: 60_000, intervalMs: 5, what: `${k} agents to agree` },
    );
  } finally {
    for (const v of views.values()) v.close();
  }
}

async function finish(run: Run): Promise<void> {
  await Promise.all([...run.agents.values()].map((a) => stopProcess(a)));
  for (const id of run.ids) {
    try {
      unlinkRegion({ cluster: run.cluster, serverId: id });
    } catch {
      // a clean stop removed it
    }
  }
  rmSync(run.dir, { recursive: true, force: true });
}

async function trial(n: number): Promise<{ joinMs: number; coldMs: number }> {
  const run = await prepare(n);
  try {
    const cold0 = Date.now();
    for (let i = 0; i < n - 1; i++) run.start(i);
    const lastSpawn = Date.now();
    await agree(run, n - 1);
    const coldMs = Date.now() - lastSpawn;
    log(`join: ${n - 1} agents agreed ${Date.now() - cold0} ms after the first spawn`);
    const t0 = Date.now();
    run.start(n - 1);
    await agree(run, n);
    return { joinMs: Date.now() - t0, coldMs };
  } finally {
    await finish(run);
  }
}

const rows: (string | number)[][] = [];
const headline: Record<string, number> = {};
for (const n of SIZES) {
  const joins: number[] = [];
  const colds: number[] = [];
  for (let t = 0; t < TRIALS; t++) {
    const r = await trial(n);
    joins.push(r.joinMs);
    colds.push(r.coldMs);
    log(
      `join: ${n} agents, trial ${t + 1}/${TRIALS}: joined in ${r.joinMs} ms; ${n - 1} cold-started in ${r.coldMs} ms`,
    );
  }
  const j = sampleStats(joins, 1000);
  const c = sampleStats(colds, 1000);
  headline[`n${n}.join.p50ms`] = j.p50;
  headline[`n${n}.join.maxms`] = j.max;
  rows.push([n, fmt(j.p50), fmt(j.max), fmt(j.max / INTERVAL_MS), `${n - 1}`, fmt(c.p50), fmt(c.max), TRIALS]);
}

emit(args, {
  name: 'join',
  title: 'Membership: joining through one seed',
  headline,
  markdown: [
    'Real `commy agent` processes on loopback, heartbeat interval 1 s, each given one seed by address (the agent ' +
      'before it; the joiner is given the first). **Join**: n − 1 agents already agree; one more starts, and the time ' +
      'runs from its spawn (Node start-up included) until every region holds every other member healthy on a live ' +
      'connection. **Cold start**: the n − 1 agents start at once, from the last spawn until they agree (a seed may not ' +
      'listen yet, so the dial backoff counts). Regions are polled every 5 ms.',
    '',
    table(
      [
        'agents',
        'join p50 (ms)',
        'join max (ms)',
        'join max (heartbeat intervals)',
        'cold start of',
        'cold p50 (ms)',
        'cold max (ms)',
        'trials',
      ],
      rows,
    ),
  ],
});
