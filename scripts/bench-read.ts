// Benchmark: ClusterView.snapshot() and getPeer() latency from a process other
// than the writer, while the writer rewrites slots at full speed, for 3, 16
// and 256 peers. Prints p50/p99/max. Run: npm run bench:read [-- --quick]
import { fork } from 'node:child_process';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import { ClusterView } from '../lib/view.js';

const quick = process.argv.includes('--quick');
const iterations = quick ? 20_000 : 200_000;
const warmup = quick ? 2_000 : 20_000;
const here = dirname(fileURLToPath(import.meta.url));

interface Row {
  peers: number;
  op: string;
  p50: number;
  p99: number;
  max: number;
  opsPerSec: number;
}

function measure(fn: () => unknown): Omit<Row, 'peers' | 'op'> {
  for (let i = 0; i < warmup; i++) fn();
  const h = hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 10_000_000_000,
    numberOfSignificantValueDigits: 3,
  });
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) {
    const t0 = process.hrtime.bigint();
    fn();
    h.recordValue(Number(process.hrtime.bigint() - t0));
  }
  const totalNs = Number(process.hrtime.bigint() - start);
  const r = {
    p50: h.getValueAtPercentile(50) / 1000,
    p99: h.getValueAtPercentile(99) / 1000,
    max: h.maxValue / 1000,
    opsPerSec: iterations / (totalNs / 1e9),
  };
  h.destroy();
  return r;
}

async function benchPeers(peers: number): Promise<Row[]> {
  const key = { cluster: `bench${process.pid}`, serverId: `w${peers}` };
  const writer = fork(join(here, 'bench', 'registry-writer.js'), [key.cluster, key.serverId, String(peers)], {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  await new Promise<void>((resolve, reject) => {
    writer.once('message', () => resolve());
    writer.once('exit', (code) => reject(new Error(`writer exited with ${code}`)));
  });
  const view = ClusterView.open(key);
  const target = `p${peers - 1}`;
  const rows: Row[] = [];
  try {
    rows.push({ peers, op: 'snapshot()', ...measure(() => view.snapshot()) });
    rows.push({ peers, op: `getPeer()`, ...measure(() => view.getPeer(target)) });
  } finally {
    view.close();
    const done = new Promise<{ writes: number }>((resolve) =>
      writer.once('message', (m) => resolve(m as { writes: number })),
    );
    writer.send('stop');
    const { writes } = await done;
    console.error(`  ${peers} peers: the writer made ${writes} slot updates during the run`);
  }
  return rows;
}

async function main(): Promise<void> {
  console.log(
    `# bench-read: ${new Date().toISOString().slice(0, 10)}, ${cpus()[0]?.model ?? 'unknown CPU'} x${cpus().length}, ` +
      `Node ${process.version}, ${process.platform}; ${iterations} timed calls per case after ${warmup} warm-up`,
  );
  const rows: Row[] = [];
  for (const peers of [3, 16, 256]) rows.push(...(await benchPeers(peers)));
  console.log('\n| peers | operation | p50 µs | p99 µs | max µs | calls/s |');
  console.log('|---:|---|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(
      `| ${r.peers} | ${r.op} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.max.toFixed(1)} | ${Math.round(r.opsPerSec).toLocaleString('en-US')} |`,
    );
  }
}

await main();
