// Benchmark helper for counters.ts: one process adding to one peer's
// bytesSent counter. argv: <role: writer|reader> <cluster> <serverId>.
// The writer owns the region through a PeerRegistry (one peer, "p0") and adds
// with PeerRegistry.addBytesSent; a reader opens the region writable and adds
// with RegionReader.addBytesSent. Path "napi" instead calls the addon's
// addCounter once per add: the path every add took before the fast path.
// IPC in: {go: {path, startNs, durationMs}} | "close". IPC out: {ready}, {done}.
import { PeerRegistry } from '../../lib/registry/registry.js';
import { parseConfig } from '../../lib/registry/config.js';
import { RegionReader, type RegionWriter } from '../../lib/region/index.js';
import { BATCH, BATCH_SUM, type Done, type Go } from './counter-protocol.js';

type NativeAdd = { addCounter(index: number, counter: 0 | 1, amount: number): void };

const [role, cluster, serverId] = process.argv.slice(2);
let registry: PeerRegistry | undefined;
let reader: RegionReader | undefined;
let index = 0;
if (role === 'writer') {
  registry = new PeerRegistry(
    parseConfig({ cluster, serverId, listen: '127.0.0.1:7100', peers: ['p0@127.0.0.1:7101'], capacity: 4 }),
  );
  registry.initialize();
  for (let i = 0; i < registry.writer.capacity; i++) if (registry.writer.readSlot(i).serverId === 'p0') index = i;
} else {
  reader = RegionReader.open({ cluster, serverId, writable: true });
  for (let i = 0; i < reader.capacity; i++) if (reader.readSlot(i).serverId === 'p0') index = i;
}
const region: RegionWriter | RegionReader = registry ? registry.writer : reader!;
// The raw addon object behind the facade (a private field): one Node-API call per add.
const native = (region as unknown as { native: NativeAdd }).native;

function run(go: Go): Done {
  const add: (amount: number) => void =
    go.path === 'napi'
      ? (a) => native.addCounter(index, 0, a)
      : registry
        ? (a) => registry!.addBytesSent('p0', a)
        : (a) => reader!.addBytesSent(index, a);
  let adds = 0;
  let sum = 0;
  const batches: number[] = [];
  const start = BigInt(go.startNs);
  while (process.hrtime.bigint() < start);
  const end = start + BigInt(go.durationMs) * 1_000_000n;
  let t = process.hrtime.bigint();
  const t0 = t;
  while (t < end) {
    for (let k = 0; k < BATCH; k++) add((k & 1023) + 1);
    const t1 = process.hrtime.bigint();
    batches.push(Number(t1 - t));
    t = t1;
    adds += BATCH;
    sum += BATCH_SUM;
  }
  return { done: true, adds, sum, ns: Number(t - t0), batches };
}

process.on('message', (m: unknown) => {
  if (m === 'close') {
    if (registry) registry.close({ unlink: true });
    else reader?.close();
    process.send?.({ closed: true }, () => process.exit(0));
    return;
  }
  const go = (m as { go?: Go }).go;
  if (go) process.send?.(run(go));
});
process.send?.({ ready: true, index });
