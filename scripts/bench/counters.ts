// Benchmark 2: counter adds. 1, 2 and 4 processes add to the same peer's
// bytesSent counter at once through the public API (the region's writer with
// PeerRegistry.addBytesSent, the others with a writable RegionReader), for a
// fixed time; then the counter must have grown by exactly the sum of what
// every process added. Two paths, interleaved run by run: the fast path
// (Atomics.add on the mapped counter) and one Node-API call per add (the
// addon's addCounter, the path every add took before).
// Run: node dist/scripts/bench/counters.js [--quick]
import { RegionReader } from '../../lib/region/index.js';
import { uniqueKey } from '../../harness/names.js';
import { type ForkedChild } from '../../harness/processes.js';
import { emit, fmt, forkHelper, log, sampleStats, startBench, table } from './common.js';
import { BATCH, type Done, type Go } from './counter-protocol.js';

const args = startBench();
const durationMs = args.quick ? 1000 : 3000;
const rounds = args.quick ? 2 : 3;
const PROCS = [1, 2, 4];
const PATHS = ['fast', 'napi'] as const;

interface Run {
  procs: number;
  path: (typeof PATHS)[number];
  perProcess: number[]; // adds/s of each process
  total: number; // adds/s, all processes
  exact: boolean;
  expected: number;
  got: number;
  batchNsPerAdd: number[];
}

async function main(): Promise<void> {
  const cluster = uniqueKey('cb').cluster;
  const serverId = 'w';
  const writer = forkHelper('counter-child.js', ['writer', cluster, serverId]);
  const { index } = await writer.next<{ index: number }>((m) => 'index' in m);
  const children: ForkedChild[] = [writer];
  for (let i = 1; i < Math.max(...PROCS); i++) {
    const c = forkHelper('counter-child.js', ['reader', cluster, serverId]);
    await c.next((m) => 'ready' in m);
    children.push(c);
  }
  const view = RegionReader.open({ cluster, serverId });
  const counter = () => view.readSlot(index).bytesSent;

  async function once(procs: number, path: Go['path'], ms: number): Promise<Run> {
    const before = counter();
    const go: Go = { path, durationMs: ms, startNs: String(process.hrtime.bigint() + 100_000_000n) };
    const active = children.slice(0, procs);
    const results = await Promise.all(
      active.map((c) => {
        const p = c.next<Done>((m) => m.done === true, ms + 30_000);
        c.send({ go });
        return p;
      }),
    );
    const got = counter() - before;
    const expected = results.reduce((s, r) => s + r.sum, 0);
    const windowNs = Math.max(...results.map((r) => r.ns));
    return {
      procs,
      path,
      perProcess: results.map((r) => r.adds / (r.ns / 1e9)),
      total: results.reduce((s, r) => s + r.adds, 0) / (windowNs / 1e9),
      exact: got === expected,
      expected,
      got,
      batchNsPerAdd: results.flatMap((r) => r.batches.map((b) => b / BATCH)),
    };
  }

  log('counters: warm-up');
  for (const path of PATHS) await once(Math.max(...PROCS), path, 300);
  const runs: Run[] = [];
  for (let r = 0; r < rounds; r++)
    for (const procs of PROCS)
      for (const path of r % 2 === 0 ? PATHS : [...PATHS].reverse()) {
        log(`counters: round ${r + 1}/${rounds}, ${procs} process(es), ${path}`);
        runs.push(await once(procs, path, durationMs));
      }
  view.close();
  for (const c of [...children].reverse()) {
    c.send('close');
    await c.next((m) => 'closed' in m);
    await c.exited;
  }

  const rows: (string | number)[][] = [];
  const headline: Record<string, number | string | boolean | null> = {};
  let allExact = true;
  for (const procs of PROCS)
    for (const path of PATHS) {
      const rs = runs.filter((x) => x.procs === procs && x.path === path);
      const per = rs.flatMap((x) => x.perProcess);
      const total = rs.map((x) => x.total);
      const s = sampleStats(
        rs.flatMap((x) => x.batchNsPerAdd),
        1000,
      );
      const exact = rs.every((x) => x.exact);
      allExact &&= exact;
      const mean = (a: number[]) => a.reduce((x, y) => x + y, 0) / a.length;
      rows.push([
        String(procs),
        path === 'fast' ? 'fast path (Atomics.add)' : 'Node-API call per add',
        fmt(mean(per) / 1e6),
        `${fmt(Math.min(...per) / 1e6)}–${fmt(Math.max(...per) / 1e6)}`,
        fmt(mean(total) / 1e6),
        fmt(s.p50),
        fmt(s.p99),
        fmt(s.max),
        exact ? `yes (${rs.length}/${rs.length} runs)` : `**NO** (${rs.filter((x) => x.exact).length}/${rs.length})`,
      ]);
      headline[`${path}.${procs}.perProcessMps`] = mean(per) / 1e6;
      headline[`${path}.${procs}.totalMps`] = mean(total) / 1e6;
      headline[`${path}.${procs}.exact`] = exact;
    }
  headline.allExact = allExact;
  const md = [
    `Each process adds amounts 1..1024 (cycling) to the same counter (one peer's \`bytesSent\`) for ${durationMs / 1000} s, ` +
      `all starting at the same instant; process 1 is the region's writer (\`PeerRegistry.addBytesSent(id, n)\`), the ` +
      `others open the region with \`RegionReader.open({..., writable: true})\` and call \`addBytesSent(index, n)\`. ` +
      `After each run the counter must have grown by exactly the sum every process reports. ${rounds} rounds; in each, ` +
      `every process count and both paths, alternating their order. The "Node-API call per add" rows call the addon's ` +
      `\`addCounter\` directly, which is what every add cost before the fast path. p50/p99/max are ns per add, ` +
      `averaged over batches of ${BATCH.toLocaleString('en-US')} adds.\n`,
    table(
      [
        'processes',
        'path',
        'M adds/s per process',
        'range',
        'M adds/s all processes',
        'p50 ns/add',
        'p99 ns/add',
        'max ns/add',
        'totals exact',
      ],
      rows,
      'rlrrrrrrl',
    ),
  ];
  emit(args, {
    name: 'counters',
    title: 'Counter adds',
    markdown: md,
    headline,
  });
}

await main();
