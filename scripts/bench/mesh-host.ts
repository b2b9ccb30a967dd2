// Benchmark helper for mesh.ts: hosts <count> nodes of a full mesh in one process, ids
// <prefix><first>..<prefix><first+count-1>, each a real ClusterNode on 127.0.0.1 seeded with <seed>
// (none for the mesh's first node), so the member lists make the mesh. argv: <cluster> <prefix>
// <first> <count> <seed|-> <heartbeatIntervalMs> <capacity>.
// IPC out: {ready, addresses}; in: "count" (from now on, count every transition away from healthy and
// the worst event-loop delay), "report" (answers {suspicions, examples, maxLagMs}), "stop" ({stopped}).
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { ClusterNode } from '../../lib/node.js';
import { SECRET } from './common.js';

const [cluster, prefix, firstArg, countArg, seed, intervalArg, capacityArg] = process.argv.slice(2);
const nodes: ClusterNode[] = [];
let counting = false;
let suspicions = 0;
const examples: string[] = [];
const lag = monitorEventLoopDelay({ resolution: 10 });
for (let i = 0; i < Number(countArg); i++) {
  const id = `${prefix}${Number(firstArg) + i}`;
  const node = await ClusterNode.start(
    {
      cluster,
      serverId: id,
      listen: '127.0.0.1:0',
      peers: seed === '-' && i === 0 ? [] : [seed === '-' ? nodes[0].address : seed],
      heartbeatIntervalMs: Number(intervalArg),
      capacity: Number(capacityArg),
    },
    // Every node here dials from 127.0.0.1; on real hosts each has its own address, so the limit on
    // handshakes from one address is raised to what a node's own peers could reach.
    {
      secret: SECRET,
      unlinkOnStop: true,
      maxHandshakingPerAddress: Number(capacityArg),
      maxHandshakingConnections: 4 * Number(capacityArg),
    },
  );
  node.on('peerStatusChanged', (c) => {
    if (!counting || c.newStatus === 'healthy') return;
    suspicions++;
    if (examples.length < 5) examples.push(`${id} saw ${c.serverId} ${c.oldStatus} -> ${c.newStatus}`);
  });
  nodes.push(node);
}
const stop = () => Promise.all(nodes.map((n) => n.stop()));
process.on('message', (m) => {
  if (m === 'count') {
    counting = true;
    lag.enable();
  } else if (m === 'report') {
    lag.disable();
    process.send?.({ suspicions, examples, maxLagMs: lag.max / 1e6 });
  } else if (m === 'stop') void stop().then(() => process.send?.({ stopped: true }, () => process.exit(0)));
});
process.on('SIGTERM', () => void stop().then(() => process.exit(0)));
process.send?.({ ready: true, addresses: nodes.map((n) => n.address) });
