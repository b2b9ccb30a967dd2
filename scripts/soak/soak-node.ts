// One node of the soak (scripts/soak/soak.ts): a ClusterNode that replaces its
// metadata every churnMs with a self-checking value, and reports its memory
// when asked. argv: <config JSON> <churnMs>; the secret comes from COMMY_SECRET.
import { createHash } from 'node:crypto';
import { ClusterNode } from '../../lib/node.js';

const config = JSON.parse(process.argv[2]) as Record<string, unknown>;
const churnMs = Number(process.argv[3]);
const id = config.serverId as string;
const send = (m: unknown) => process.send?.(m);

/** The metadata a node publishes for sequence number `seq`; readers recompute `check`. */
function soakMetadata(node: string, seq: number): Record<string, string> {
  const pad = 'x'.repeat((seq * 37) % 300); // the encoded length changes every time
  const check = createHash('sha256').update(`${node}:${seq}:${pad.length}`).digest('hex').slice(0, 16);
  return { seq: String(seq), node, pad, check };
}

const node = await ClusterNode.start(config, { metadata: soakMetadata(id, 0) });
let seq = 0;
let transitions = 0;
node.on('peerStatusChanged', (c) => {
  transitions++;
  send({ event: 'transition', serverId: c.serverId, oldStatus: c.oldStatus, newStatus: c.newStatus });
});
const churn = setInterval(() => node.setMetadata(soakMetadata(id, ++seq)), churnMs);
send({ ready: true, pid: process.pid });

process.on('message', async (m: { cmd: string }) => {
  if (m.cmd === 'sample') {
    (globalThis as { gc?: () => void }).gc?.(); // measure live heap, not garbage
    const mem = process.memoryUsage();
    send({
      sample: {
        rss: mem.rss,
        heapUsed: mem.heapUsed,
        heapTotal: mem.heapTotal,
        external: mem.external,
        seq,
        transitions,
      },
    });
  } else if (m.cmd === 'stop') {
    clearInterval(churn);
    await node.stop();
    process.disconnect?.();
  }
});
