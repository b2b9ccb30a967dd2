// Every default value in one place (config, registry, node, view). Layout
// limits such as the longest id are not defaults: they come from the addon
// (lib/region/layout.ts).
export const defaults = {
  heartbeatIntervalMs: 1000,
  /** When unset, heartbeatTimeoutMs equals heartbeatIntervalMs. */
  suspectAfter: 2,
  downAfter: 5,
  /** Slots in the region: peers that can be tracked at once. */
  capacity: 64,
  watchIntervalMs: 100,
  /** A connection that has not completed its handshake by then is closed. */
  handshakeTimeoutMs: 5000,
  /** The idle timeout is heartbeatTimeoutMs × (downAfter + 1), but never below this. */
  minIdleTimeoutMs: 5000,
  /** Largest frame a peer may send, framing included. */
  maxFrameBytes: 1024 * 1024,
  /**
   * Largest frame before the handshake completes. The largest handshake frame is a Hello with 8 key
   * ids (about 500 bytes) or an Error with a 1024-character message (about 1.1 KB): 4 KiB leaves margin
   * while an unauthenticated socket can pin no more than this.
   */
  maxHandshakeFrameBytes: 4096,
  /** Inbound connections still in their handshake, all addresses together; the excess is closed at once. */
  maxHandshakingConnections: 128,
  /** Inbound connections still in their handshake from one remote IP address. */
  maxHandshakingPerAddress: 16,
  /** A member not named in the config, with no open connection, down and unheard for this long, is removed (reaped). */
  reapAfterMs: 60_000,
  /** Every this often a node sends its whole member list to one peer, which heals what a lost update missed. */
  memberSyncMs: 30_000,
  /** Replies to StateSync and ClientMigration requests are awaited 2 × heartbeatIntervalMs, but never less than this. */
  minRequestTimeoutMs: 1000,
} as const;
