// A reader of the soak (scripts/soak/soak.ts): maps every node's region with
// ClusterView and reads it in a loop, checking each read for consistency:
// statuses and counts add up, and every peer's metadata (written by the node
// that received it, while it keeps changing) is a whole value whose checksum
// matches and whose sequence never goes back. argv: <cluster> <ids,comma> <dutyPercent>
import { createHash } from 'node:crypto';
import { ClusterView } from '../../lib/view.js';

const [cluster, idList, dutyArg] = process.argv.slice(2);
const ids = idList.split(',');
const duty = Math.min(100, Math.max(1, Number(dutyArg)));
const views = ids.map((serverId) => ClusterView.open({ cluster, serverId }));
const lastSeq = new Map<string, number>();
const counters = { reads: 0, peerReads: 0, metadataChecked: 0, torn: 0, failed: 0 };
const problems: string[] = [];
const send = (m: unknown) => process.send?.(m);

function torn(what: string): void {
  counters.torn++;
  if (problems.length < 20) problems.push(what);
}

function readOnce(v: ClusterView, owner: string): void {
  const { snapshot, peers } = v.inspect();
  counters.reads++;
  const s = snapshot.status;
  if (s.healthyPeers + s.suspectedPeers + s.downPeers !== s.totalPeers || s.totalPeers !== snapshot.peers.length + 1)
    torn(`${owner}: status does not add up: ${JSON.stringify(s)}`);
  for (const p of peers) {
    counters.peerReads++;
    if (!['healthy', 'suspected', 'down'].includes(p.status)) torn(`${owner}/${p.serverId}: status ${p.status}`);
    if (!ids.includes(p.serverId)) torn(`${owner}: unknown peer id ${JSON.stringify(p.serverId)}`);
    const key = `${owner}/${p.serverId}`;
    const m = p.metadata;
    if (Object.keys(m).length === 0) {
      // Before the first exchange a peer has no metadata; afterwards it always has some.
      if (lastSeq.has(key)) torn(`${key}: metadata vanished`);
      continue;
    }
    counters.metadataChecked++;
    const seq = Number(m.seq);
    const check = createHash('sha256')
      .update(`${m.node}:${seq}:${(m.pad ?? '').length}`)
      .digest('hex')
      .slice(0, 16);
    if (m.node !== p.serverId || m.check !== check || !Number.isSafeInteger(seq)) {
      torn(`${key}: inconsistent metadata ${JSON.stringify(m).slice(0, 120)}`);
      continue;
    }
    if (seq < (lastSeq.get(key) ?? -1)) torn(`${key}: seq went back from ${lastSeq.get(key)} to ${seq}`);
    lastSeq.set(key, seq);
  }
}

let running = true;
function loop(): void {
  if (!running) return;
  // Busy for `duty` percent of each 10 ms, so 4 readers leave the nodes some CPU.
  const until = Date.now() + duty / 10;
  do {
    for (let i = 0; i < views.length; i++) {
      try {
        readOnce(views[i], ids[i]);
      } catch (err) {
        counters.failed++;
        if (problems.length < 20)
          problems.push(`${ids[i]}: ${(err as { code?: string }).code}: ${(err as Error).message}`);
      }
    }
  } while (Date.now() < until);
  setTimeout(loop, 10 - duty / 10);
}
loop();
send({ ready: true, pid: process.pid });

process.on('message', (m: { cmd: string }) => {
  if (m.cmd === 'sample') {
    (globalThis as { gc?: () => void }).gc?.();
    const mem = process.memoryUsage();
    send({ sample: { ...counters, rss: mem.rss, heapUsed: mem.heapUsed, problems: problems.splice(0) } });
  } else if (m.cmd === 'stop') {
    running = false;
    for (const v of views) v.close();
    process.disconnect?.();
  }
});
