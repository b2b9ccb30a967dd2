// Benchmark helper for versus.ts: one commy ClusterNode in this process, from the checkout given as the
// first argument (its dist/lib/node.js), so one script measures the current tree and an older one alike.
// argv: <checkout> <cluster> <serverId> <listen host:port> <seed host:port|-> <heartbeatIntervalMs> <capacity>;
// the secret comes from COMMY_SECRET. Nothing else is imported, so the RSS is the node's own.
// stdout: one JSON line per event, each with "ms" (this host's clock, Unix ms):
//   {"event":"ready","node":self,"pid"}                the node listens and has dialed its seed
//   {"event":"status","node":peer,"from","to"}          every status change the registry reports
//   {"event":"sees","node":peer}                        (while watching) the first heartbeat from a new peer
// stdin: "watch" / "quiet" lines turn the 10 ms poll behind "sees" on and off (off in the steady window,
// so it costs nothing there; it starts on). SIGTERM stops the node cleanly and exits 0.
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ClusterNode as ClusterNodeClass } from '../../lib/node.js';

const [checkout, cluster, serverId, listen, seed, intervalArg, capacityArg] = process.argv.slice(2);
const { ClusterNode } = (await import(pathToFileURL(join(checkout, 'dist', 'lib', 'node.js')).href)) as {
  ClusterNode: typeof ClusterNodeClass;
};

function line(event: string, node: string, extra: Record<string, unknown> = {}): void {
  process.stdout.write(`${JSON.stringify({ event, node, ms: Date.now(), ...extra })}\n`);
}

const capacity = Number(capacityArg);
const node = await ClusterNode.start(
  {
    cluster,
    serverId,
    listen,
    peers: seed === '-' ? [] : [seed],
    heartbeatIntervalMs: Number(intervalArg),
    capacity,
  },
  // Every node of the benchmark dials from 127.0.0.1; on real hosts each has its own address, so the limit
  // on handshakes from one address is raised to what the node's own peers could reach.
  { unlinkOnStop: true, maxHandshakingPerAddress: capacity, maxHandshakingConnections: 4 * capacity },
);

const seen = new Set<string>();
node.on('peerStatusChanged', (c) => {
  line('status', c.serverId, { from: c.oldStatus, to: c.newStatus });
  if (c.newStatus !== 'healthy') seen.delete(c.serverId);
});
function poll(): void {
  for (const p of node.registry.getAllPeers())
    if (!seen.has(p.serverId) && p.status === 'healthy' && p.lastSeenMs !== null) {
      seen.add(p.serverId);
      line('sees', p.serverId);
    }
}
let watch: NodeJS.Timeout | undefined;
const setWatching = (on: boolean) => {
  clearInterval(watch);
  watch = on ? setInterval(poll, 10) : undefined;
};
setWatching(true);
createInterface({ input: process.stdin }).on('line', (l) => {
  if (l === 'watch') {
    poll();
    setWatching(true);
  } else if (l === 'quiet') setWatching(false);
});

let stopping = false;
process.on('SIGTERM', () => {
  if (stopping) return;
  stopping = true;
  setWatching(false);
  void node.stop().then(() => process.exit(0));
});
line('ready', serverId, { pid: process.pid });
