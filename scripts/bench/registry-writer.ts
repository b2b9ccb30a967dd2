// Benchmark helper process: a registry with N peers whose slots are rewritten
// until told to stop: continuously (round-robin heartbeats and byte counts, the
// seqlock's worst case), or, given a tick, as an agent with 1 s heartbeats
// writes them (every tick, the peers due: each one heard from once a second).
// argv: <cluster> <serverId> <peers> [tickMs]
import { PeerRegistry } from '../../lib/registry/registry.js';
import { parseConfig } from '../../lib/registry/config.js';

const [cluster, serverId, peersArg, tickArg] = process.argv.slice(2);
const n = Number(peersArg);
const tickMs = tickArg === undefined ? 0 : Number(tickArg);
const peers = Array.from({ length: n }, (_, i) => `p${i}@127.0.0.1:${10000 + i}`);
const registry = new PeerRegistry(
  parseConfig({ cluster, serverId, listen: '127.0.0.1:0', peers, capacity: Math.max(n, 1) }),
);
registry.initialize();
let writes = 0;
let stop = false;
process.on('message', () => (stop = true));
const write = () => {
  const id = `p${writes % n}`;
  if (tickMs === 0 && writes % 7 === 0) registry.markHeartbeatMissed(id);
  else registry.markHeartbeatReceived(id);
  registry.addBytesSent(id, 64);
  writes++;
};
let due = 0;
const loop = () => {
  if (stop) {
    registry.close({ unlink: true });
    process.send?.({ writes });
    process.disconnect?.();
    return;
  }
  if (tickMs === 0) {
    for (let k = 0; k < 200; k++) write();
    setImmediate(loop);
    return;
  }
  for (due += (n * tickMs) / 1000; due >= 1; due--) write();
  setTimeout(loop, tickMs);
};
process.send?.({ ready: true });
loop();
