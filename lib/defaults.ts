// Every default value in one place (config, registry, view).
export const defaults = {
  heartbeatIntervalMs: 1000,
  /** When unset, heartbeatTimeoutMs equals heartbeatIntervalMs. */
  suspectAfter: 2,
  downAfter: 5,
  /** Slots in the region: peers that can be tracked at once. */
  capacity: 64,
  watchIntervalMs: 100,
  maxIdLength: 63,
} as const;
