// Heartbeat timing. Each tick pings connected peers and gives every peer the
// failure detector calls overdue one missed heartbeat, unless this node's own
// tick fired late (an event-loop stall): then the window is not the peers'
// fault and counts no misses. The detector judges each silence as of one
// interval after the previous tick ran, not as of now: a pong answers the
// previous tick's ping one round trip after it, so a tick that runs a
// millisecond later than the previous one would otherwise find that silence a
// little over one interval, and count a miss.

export interface HeartbeatHooks {
  peers(): string[];
  connected(id: string): boolean;
  sendPing(id: string): void;
  /**
   * The failure detector's verdict: had the peer been silent too long one interval after the previous
   * tick? `lateMs` is how much longer than an interval ago that tick ran (negative when sooner): the
   * silence to judge is the one of `lateMs` ago.
   */
  overdue(id: string, lateMs: number): boolean;
  /** One missed heartbeat, with the tick's `lateMs` as given to `overdue`. */
  markMissed(id: string, lateMs: number): void;
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
  private lastTickAt = 0;
  /** Ticks whose misses were skipped because this node stalled. */
  stalledTicks = 0;

  constructor(intervalMs: number, hooks: HeartbeatHooks) {
    this.intervalMs = intervalMs;
    this.hooks = hooks;
  }

  start(): void {
    if (this.timer) return;
    this.lastTickAt = Date.now();
    this.expectedAt = this.lastTickAt + this.intervalMs;
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
    // From the previous tick, not from the schedule: a timer may also fire a millisecond early on the
    // wall clock (libuv counts whole ms), and the previous tick's pings left when it ran.
    const lateMs = now - this.lastTickAt - this.intervalMs;
    this.lastTickAt = now;
    const stalled = lagMs > this.intervalMs / 2;
    if (stalled) this.stalledTicks++;
    this.hooks.publishLag(lagMs, stalled);
    for (const id of this.hooks.peers()) {
      if (this.hooks.connected(id)) this.hooks.sendPing(id);
      if (!stalled && this.hooks.overdue(id, lateMs)) this.hooks.markMissed(id, lateMs);
    }
    this.hooks.afterTick?.();
    if (!this.timer) return; // stopped by a hook
    // Drift-free schedule; after a long stall, skip the ticks that were lost.
    this.expectedAt += this.intervalMs;
    if (this.expectedAt <= now) this.expectedAt = now + this.intervalMs;
    this.timer = setTimeout(() => this.tick(), this.expectedAt - now);
  }
}
