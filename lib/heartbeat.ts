// Heartbeat timing. Each tick pings connected peers and gives every peer the
// failure detector calls overdue one missed heartbeat, unless this node's own
// tick fired late (an event-loop stall): then the window is not the peers'
// fault and counts no misses.

export interface HeartbeatHooks {
  peers(): string[];
  connected(id: string): boolean;
  sendPing(id: string): void;
  /** The failure detector's verdict: has the peer been silent too long? */
  overdue(id: string): boolean;
  markMissed(id: string): void;
  /** Publishes how late this tick fired; `stalled` when misses were skipped. */
  publishLag(lagMs: number, stalled: boolean): void;
  /** Housekeeping once per round, after the misses were counted. */
  afterTick?(): void;
}

export class HeartbeatMonitor {
  readonly intervalMs: number;
  private readonly hooks: HeartbeatHooks;
  private timer: NodeJS.Timeout | undefined;
  private expectedAt = 0;
  /** Ticks whose misses were skipped because this node stalled. */
  stalledTicks = 0;

  constructor(intervalMs: number, hooks: HeartbeatHooks) {
    this.intervalMs = intervalMs;
    this.hooks = hooks;
  }

  start(): void {
    if (this.timer) return;
    this.expectedAt = Date.now() + this.intervalMs;
    this.timer = setTimeout(() => this.tick(), this.intervalMs);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** One heartbeat round; public so tests can drive it. */
  tick(): void {
    const now = Date.now();
    const lagMs = Math.max(0, now - this.expectedAt);
    const stalled = lagMs > this.intervalMs / 2;
    if (stalled) this.stalledTicks++;
    this.hooks.publishLag(lagMs, stalled);
    for (const id of this.hooks.peers()) {
      if (this.hooks.connected(id)) this.hooks.sendPing(id);
      if (!stalled && this.hooks.overdue(id)) this.hooks.markMissed(id);
    }
    this.hooks.afterTick?.();
    if (!this.timer) return; // stopped by a hook
    // Drift-free schedule; after a long stall, skip the ticks that were lost.
    this.expectedAt += this.intervalMs;
    if (this.expectedAt <= now) this.expectedAt = now + this.intervalMs;
    this.timer = setTimeout(() => this.tick(), this.expectedAt - now);
  }
}
