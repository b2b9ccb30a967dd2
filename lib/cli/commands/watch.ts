// `commy watch`: a live view. On a TTY it redraws in place; otherwise it
// prints one line per change (peer transitions, writer liveness).
import { defaults } from '../../defaults.js';
import type { ClusterSnapshot } from '../../view.js';
import { ExitCode } from '../exit.js';
import { openView, positiveInt, type RegionFlags } from '../options.js';
import { renderSnapshot, useColour } from '../render.js';

export function changes(prev: ClusterSnapshot | undefined, next: ClusterSnapshot): string[] {
  const out: string[] = [];
  const stamp = new Date().toISOString();
  if (!prev) {
    out.push(
      `${stamp} watching ${next.cluster}/${next.serverId}: ${next.status.healthyPeers}/${next.status.totalPeers} healthy`,
    );
    for (const p of next.peers) out.push(`${stamp} peer ${p.serverId} ${p.status}`);
    return out;
  }
  if (prev.writer.alive !== next.writer.alive)
    out.push(`${stamp} writer pid ${next.writer.pid} ${next.writer.alive ? 'alive' : 'not alive'}`);
  const before = new Map(prev.peers.map((p) => [p.serverId, p]));
  for (const p of next.peers) {
    const b = before.get(p.serverId);
    if (!b) out.push(`${stamp} peer ${p.serverId} added (${p.status})`);
    else if (b.status !== p.status)
      out.push(`${stamp} peer ${p.serverId} ${b.status} -> ${p.status} (missed ${p.missedHeartbeats})`);
    before.delete(p.serverId);
  }
  for (const id of before.keys()) out.push(`${stamp} peer ${id} removed`);
  if (prev.status.quorumAvailable !== next.status.quorumAvailable)
    out.push(`${stamp} quorum ${next.status.quorumAvailable ? 'available' : 'LOST'}`);
  return out;
}

/** The poll interval from --interval; the API's default (ClusterView.watch) when the flag is absent. */
export function watchIntervalMs(flag: string | undefined): number {
  return positiveInt(flag, '--interval', defaults.watchIntervalMs);
}

export async function watchCommand(o: RegionFlags & { interval?: string }): Promise<number> {
  const intervalMs = watchIntervalMs(o.interval);
  const view = openView(o);
  const tty = Boolean(process.stdout.isTTY);
  const colour = useColour(process.stdout);
  let prev: ClusterSnapshot | undefined;
  const handle = view.watch(
    (s) => {
      if (tty) process.stdout.write(`\u001b[H\u001b[2J${renderSnapshot(s, colour)}\n\n(ctrl-c to quit)\n`);
      else for (const line of changes(prev, s)) process.stdout.write(`${line}\n`);
      prev = s;
    },
    { intervalMs },
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  handle.close();
  view.close();
  return ExitCode.Ok;
}
