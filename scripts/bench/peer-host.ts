// Benchmark helper for overhead.ts: hosts <count> simulated peers, each a real
// ClusterNode on 127.0.0.1 (a port of its own, no static peers, admitting the
// agent when it dials in), in one process. argv: <cluster> <idPrefix> <count>
// <heartbeatIntervalMs>. IPC out: {ready, peers: ["id@host:port", ...]};
// in: "stop" (stops every node, removing its region), then {stopped}.
import { ClusterNode } from '../../lib/node.js';
import { SECRET } from './common.js';

const [cluster, prefix, countArg, intervalArg] = process.argv.slice(2);
const nodes: ClusterNode[] = [];
for (let i = 0; i < Number(countArg); i++) {
  nodes.push(
    await ClusterNode.start(
      {
        cluster,
        serverId: `${prefix}${i}`,
        listen: '127.0.0.1:0',
        peers: [],
        heartbeatIntervalMs: Number(intervalArg),
        capacity: 4,
      },
      { secret: SECRET, allowDynamicJoin: true, unlinkOnStop: true },
    ),
  );
}
process.on('message', (m) => {
  if (m !== 'stop') return;
  void Promise.all(nodes.map((n) => n.stop())).then(() => process.send?.({ stopped: true }, () => process.exit(0)));
});
process.on('SIGTERM', () => void Promise.all(nodes.map((n) => n.stop())).then(() => process.exit(0)));
process.send?.({ ready: true, peers: nodes.map((n) => `${n.serverId}@${n.address}`) });
