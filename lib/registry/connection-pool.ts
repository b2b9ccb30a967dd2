// ConnectionPool records: per-peer connection state, stored in the peer's
// region slot so every reader sees it. The transport attaches real sockets.
import type { PeerRegistry } from './registry.js';
import { ConnectionState } from '../status.js';

export class PeerConnection {
  readonly serverId: string;
  readonly remoteAddress: string;
  private readonly registry: PeerRegistry;

  constructor(registry: PeerRegistry, serverId: string, remoteAddress: string) {
    this.registry = registry;
    this.serverId = serverId;
    this.remoteAddress = remoteAddress;
  }

  get state(): ConnectionState {
    return this.registry.readConnection(this.serverId).state;
  }
  get isActive(): boolean {
    return this.state === ConnectionState.Active;
  }
  /** Consecutive attempts since the last successful connection. */
  get attemptCount(): number {
    return this.registry.readConnection(this.serverId).attemptCount;
  }
  get lastError(): string {
    return this.registry.readConnection(this.serverId).lastError;
  }
  get nextRetryMs(): number | null {
    return this.registry.readConnection(this.serverId).nextRetryMs;
  }
}

export class ConnectionPool {
  private readonly registry: PeerRegistry;
  private readonly connections = new Map<string, PeerConnection>();

  constructor(registry: PeerRegistry) {
    this.registry = registry;
  }

  /** Gets the record for a peer, registering the peer if it is new. */
  getConnection(serverId: string, address: string): PeerConnection {
    let c = this.connections.get(serverId);
    if (!c) {
      if (!this.registry.hasPeer(serverId)) this.registry.addPeer({ serverId, address });
      c = new PeerConnection(this.registry, serverId, address);
      this.connections.set(serverId, c);
    }
    return c;
  }

  private require(serverId: string): PeerConnection {
    const c = this.connections.get(serverId);
    if (c) return c;
    // A peer known to the registry but not yet pooled: adopt it.
    const address = this.registry.readSlot(serverId).address;
    return this.getConnection(serverId, address);
  }

  /** A dial is starting: counts the attempt. */
  recordAttempt(serverId: string): void {
    const c = this.require(serverId);
    this.registry.updateConnection(serverId, { state: ConnectionState.Connecting, attemptCount: c.attemptCount + 1 });
  }

  markActive(serverId: string): void {
    this.require(serverId);
    this.registry.updateConnection(serverId, {
      state: ConnectionState.Active,
      attemptCount: 0,
      nextRetryMs: null,
      lastError: '',
    });
  }

  /** The connection closed or failed; `retryAtMs` puts it in backoff, `circuitOpen` in the open state. */
  markInactive(serverId: string, opts: { error?: string; retryAtMs?: number; circuitOpen?: boolean } = {}): void {
    this.require(serverId);
    let state: ConnectionState = ConnectionState.Idle;
    if (opts.retryAtMs !== undefined) state = ConnectionState.Backoff;
    if (opts.circuitOpen) state = ConnectionState.Open;
    this.registry.updateConnection(serverId, {
      state,
      nextRetryMs: opts.retryAtMs ?? null,
      ...(opts.error !== undefined ? { lastError: opts.error } : {}),
    });
  }

  getActiveConnections(): PeerConnection[] {
    return [...this.connections.values()].filter((c) => this.registry.hasPeer(c.serverId) && c.isActive);
  }

  /** Forgets a peer's record (the registry entry is removed separately). */
  remove(serverId: string): void {
    this.connections.delete(serverId);
  }
}
