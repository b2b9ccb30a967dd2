// `commy watch`: a live view, woken by the writer on every transition. On a
// TTY it redraws in place; otherwise it prints one line per change (peer
// transitions with their reason, writer liveness, quorum).
import { defaults } from '../../defaults.js';
import type { PeerTransition } from '../../transitions.js';
import type { ClusterSnapshot } from '../../view.js';
import { ExitCode } from '../exit.js';
import { openView, positiveInt, type RegionFlags } from '../options.js';
import { renderSnapshot, useColour } from '../render.js';

/** The lines a change prints: the writer's liveness, each transition as the agent logs it, quorum. */
export function changes(
  prev: ClusterSnapshot | undefined,
  next: ClusterSnapshot,
  transitions: PeerTransition[],
): string[] {
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
  for (const t of transitions) {
    if (t.from === null) out.push(`${stamp} peer ${t.serverId} added (${t.to})`);
    else if (t.to === null) out.push(`${stamp} peer ${t.serverId} removed`);
    else out.push(`${stamp} peer ${t.serverId} ${t.from} -> ${t.to} (${t.reason})`);
  }
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
  // Woken by the writer on each transition; --interval polls instead.
  const handle = view.watch(
    (s, transitions) => {
      if (tty) process.stdout.write(`\u001b[H\u001b[2J${renderSnapshot(s, colour)}\n\n(ctrl-c to quit)\n`);
      else for (const line of changes(prev, s, transitions)) process.stdout.write(`${line}\n`);
      prev = s;
    },
    { intervalMs, poll: o.interval !== undefined },
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  handle.close();
  view.close();
  return ExitCode.Ok;
}
