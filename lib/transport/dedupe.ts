// One connection per peer pair. When a second connection to the same peer
// opens, both ends must keep the same one without talking: keep the one
// dialed by the smaller serverId; between two dialed by the same side (a
// reconnect after a restart), keep the newer.

export type Role = 'client' | 'server';

/** True when the newly opened connection should replace the existing one. */
export function keepNewConnection(selfId: string, peerId: string, existing: Role, fresh: Role): boolean {
  const dialerOf = (role: Role) => (role === 'client' ? selfId : peerId);
  const preferred = selfId < peerId ? selfId : peerId;
  return dialerOf(existing) === dialerOf(fresh) || dialerOf(fresh) === preferred;
}
