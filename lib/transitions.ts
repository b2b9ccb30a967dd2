// Peer transitions as a reader in another process sees them: what changed
// between two snapshots of a region, in the shape of the node's own
// `peerStatusChanged` event. Between two reads, a peer that moved twice
// (healthy -> suspected -> down) shows as one transition, from the first
// status to the last.
import type { PeerStatus } from './status.js';

export interface PeerTransition {
  serverId: string;
  /** null: the peer was added. */
  from: PeerStatus | null;
  /** null: the peer was removed. */
  to: PeerStatus | null;
  /** Why, as the node recorded it (`missed-heartbeats`, `heartbeat`, `left`, `added`, ...); `removed` for a removal. */
  reason: string;
}

interface PeerLike {
  serverId: string;
  status: PeerStatus;
}

/**
 * The transitions from `before` to `after` (peers in `after`'s order, then the
 * removed ones); `reasonOf` gives the node's recorded reason for a peer of `after`.
 */
export function transitionsBetween(
  before: readonly PeerLike[],
  after: readonly PeerLike[],
  reasonOf: (serverId: string) => string,
): PeerTransition[] {
  const out: PeerTransition[] = [];
  const old = new Map(before.map((p) => [p.serverId, p.status]));
  for (const p of after) {
    const was = old.get(p.serverId);
    old.delete(p.serverId);
    if (was === p.status) continue;
    out.push({ serverId: p.serverId, from: was ?? null, to: p.status, reason: reasonOf(p.serverId) });
  }
  for (const [serverId, was] of old) out.push({ serverId, from: was, to: null, reason: 'removed' });
  return out;
}
