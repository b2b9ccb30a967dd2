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
  /** Replies to StateSync and ClientMigration requests are awaited 2 × heartbeatIntervalMs, but never less than this. */
  minRequestTimeoutMs: 1000,
} as const;
