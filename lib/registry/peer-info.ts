// PeerInfo: a live handle on one peer. Getters read the region; methods write
// through the registry so events fire and readers see the change.
import type { PeerRegistry } from './registry.js';
import { statusFromCode, type PeerStatus } from '../status.js';

export class PeerInfo {
  readonly serverId: string;
  private readonly registry: PeerRegistry;

  constructor(registry: PeerRegistry, serverId: string) {
    this.registry = registry;
    this.serverId = serverId;
  }

  get address(): string {
    return this.registry.readSlot(this.serverId).address;
  }
  get status(): PeerStatus {
    return statusFromCode(this.registry.readSlot(this.serverId).status);
  }
  /** Wall-clock ms of the last heartbeat, or null if never heard from. */
  get lastSeenMs(): number | null {
    return this.registry.readSlot(this.serverId).lastSeenMs || null;
  }
  /** @deprecated Use `lastSeenMs`, the name the snapshot and events use; this alias goes in the next major version. */
  get lastSeen(): number | null {
    return this.lastSeenMs;
  }
  get missedHeartbeats(): number {
    return this.registry.readSlot(this.serverId).missedHeartbeats;
  }
  /** 64-bit counter, saturating; exact up to 2^53. */
  get bytesReceived(): number {
    return this.registry.readSlot(this.serverId).bytesReceived;
  }
  get bytesSent(): number {
    return this.registry.readSlot(this.serverId).bytesSent;
  }

  heartbeatReceived(): void {
    this.registry.markHeartbeatReceived(this.serverId);
  }
  heartbeatMissed(): void {
    this.registry.markHeartbeatMissed(this.serverId);
  }
  timeSinceHeartbeat(): number {
    return this.registry.timeSinceHeartbeat(this.serverId);
  }
  addBytesReceived(n: number): void {
    this.registry.addBytesReceived(this.serverId, n);
  }
  addBytesSent(n: number): void {
    this.registry.addBytesSent(this.serverId, n);
  }

  toJSON(): Record<string, unknown> {
    const s = this.registry.readSlot(this.serverId);
    return {
      serverId: this.serverId,
      address: s.address,
      status: statusFromCode(s.status),
      lastSeenMs: s.lastSeenMs || null,
      missedHeartbeats: s.missedHeartbeats,
      bytesSent: s.bytesSent,
      bytesReceived: s.bytesReceived,
    };
  }
}
