// Reads a node's cluster state from shared memory: no socket, no IPC.
// Usage: node examples/read-state.mjs <cluster> <serverId>
import { ClusterView } from 'commy';

const [cluster = 'demo', serverId = 'a'] = process.argv.slice(2);
const view = ClusterView.open({ cluster, serverId });

const s = view.snapshot();
console.log(`${s.status.healthyPeers}/${s.status.totalPeers} healthy, quorum: ${s.status.quorumAvailable}`);
for (const p of s.peers) console.log(`  ${p.serverId} ${p.status} (missed ${p.missedHeartbeats})`);

// Called once now, then at each status, membership or quorum change: the node wakes this process.
const watch = view.watch((snap, transitions) =>
  console.log('changed:', transitions.map((t) => `${t.serverId} ${t.from ?? '-'} -> ${t.to ?? '-'}`).join(', ')),
);
setTimeout(() => {
  watch.close();
  view.close();
}, 1000);
