// Benchmark helper process: a registry with N peers whose slots are rewritten
// continuously (round-robin heartbeats and byte counts) until told to stop.
// argv: <cluster> <serverId> <peers>
import { PeerRegistry } from '../../lib/registry/registry.js';
import { parseConfig } from '../../lib/registry/config.js';

const [cluster, serverId, peersArg] = process.argv.slice(2);
const n = Number(peersArg);
const peers = Array.from({ length: n }, (_, i) => `p${i}@127.0.0.1:${10000 + i}`);
const registry = new PeerRegistry(
  parseConfig({ cluster, serverId, listen: '127.0.0.1:0', peers, capacity: Math.max(n, 1) }),
);
registry.initialize();
let writes = 0;
let stop = false;
process.on('message', () => (stop = true));
const loop = () => {
  if (stop) {
    registry.close({ unlink: true });
    process.send?.({ writes });
    process.disconnect?.();
    return;
  }
  for (let k = 0; k < 200; k++) {
    const id = `p${writes % n}`;
    if (writes % 7 === 0) registry.markHeartbeatMissed(id);
    else registry.markHeartbeatReceived(id);
    registry.addBytesSent(id, 64);
    writes++;
  }
  setImmediate(loop);
};
process.send?.({ ready: true });
loop();
