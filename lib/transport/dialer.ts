// Keeps one outbound connection attempt loop per peer: exponential backoff
// with full jitter between failures, and a circuit breaker that stops dialing
// after repeated failures and probes again half-open. Backoff and breaker
// come from cockatiel; this file decides when to dial and records the state.
import {
  BrokenCircuitError,
  ConsecutiveBreaker,
  ExponentialBackoff,
  CircuitState,
  circuitBreaker,
  fullJitterGenerator,
  handleAll,
  type CircuitBreakerPolicy,
  type IBackoff,
} from 'cockatiel';

/** Reconnection policy; the defaults are 250 ms, 10 s, 5 failures and 30 s (`defaultDialPolicy`). */
export interface DialPolicy {
  /** First retry delay cap; each failure doubles it (full jitter picks 0..cap). */
  initialDelayMs: number;
  maxDelayMs: number;
  /** Consecutive failures that open the circuit. */
  breakerThreshold: number;
  /** How long an open circuit waits before one half-open probe. */
  halfOpenAfterMs: number;
}

export const defaultDialPolicy: DialPolicy = {
  initialDelayMs: 250,
  maxDelayMs: 10_000,
  breakerThreshold: 5,
  halfOpenAfterMs: 30_000,
};

export interface DialerHooks {
  /** Dials and completes the handshake; resolves once the connection is open. */
  dial(): Promise<void>;
  /** True while some connection (ours or theirs) to this peer is open: no need to dial. */
  connected(): boolean;
  onAttempt(): void;
  onSuccess(): void;
  onFailure(info: { error: string; retryAtMs: number; circuitOpen: boolean }): void;
}

export class Dialer {
  private readonly policy: DialPolicy;
  private readonly hooks: DialerHooks;
  private readonly breaker: CircuitBreakerPolicy;
  private readonly backoffFactory: ExponentialBackoff<unknown>;
  private backoff: IBackoff<unknown> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private dialing = false;

  constructor(policy: DialPolicy, hooks: DialerHooks) {
    this.policy = policy;
    this.hooks = hooks;
    this.breaker = circuitBreaker(handleAll, {
      halfOpenAfter: policy.halfOpenAfterMs,
      breaker: new ConsecutiveBreaker(policy.breakerThreshold),
    });
    this.backoffFactory = new ExponentialBackoff({
      initialDelay: policy.initialDelayMs,
      maxDelay: policy.maxDelayMs,
      exponent: 2,
      generator: fullJitterGenerator,
    });
  }

  get circuitOpen(): boolean {
    return this.breaker.state === CircuitState.Open;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The open connection closed: dial again after a first backoff step. */
  disconnected(): void {
    if (!this.running || this.dialing) return;
    this.schedule(this.nextDelay());
  }

  private nextDelay(): number {
    this.backoff = this.backoff ? this.backoff.next(undefined) : this.backoffFactory.next();
    return this.backoff.duration;
  }

  private schedule(delayMs: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.attempt(), delayMs);
    this.timer.unref?.();
  }

  private async attempt(): Promise<void> {
    this.timer = undefined;
    if (!this.running || this.dialing) return;
    if (this.hooks.connected()) return; // an inbound connection serves; resume on disconnect
    this.dialing = true;
    this.hooks.onAttempt();
    try {
      await this.breaker.execute(() => this.hooks.dial());
      this.backoff = undefined;
      if (this.running) this.hooks.onSuccess();
    } catch (err) {
      if (!this.running) return;
      const circuitOpen = err instanceof BrokenCircuitError || this.breaker.state === CircuitState.Open;
      const delay = circuitOpen ? this.policy.halfOpenAfterMs : this.nextDelay();
      this.hooks.onFailure({
        error: err instanceof BrokenCircuitError ? 'circuit open' : (err as Error).message,
        retryAtMs: Date.now() + delay,
        circuitOpen,
      });
      this.schedule(delay);
    } finally {
      this.dialing = false;
    }
  }
}
