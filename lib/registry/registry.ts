// PeerRegistry: the writer side of peer state. Every read and write goes to
// the region's slots (the single source of truth); this object keeps only the
// slot allocation, which it alone controls.
import { EventEmitter } from 'node:events';
import { CommyError, ConfigError, ErrorCode, invalidArg } from '../errors.js';
import {
  RegionWriter,
  RTT_UNKNOWN,
  SlotState,
  emptySlot,
  emptyHeader,
  type HeaderFields,
  type SlotRecord,
  type SlotFields,
} from '../region/index.js';
import { decodeMetadata, encodeMetadata } from '../region/metadata.js';
import type { PeerConfig, StaticPeer } from './config.js';
import {
  ConnectionState,
  PeerStatus,
  computeClusterStatus,
  connectionFromCode,
  connectionToCode,
  lastHeardMs,
  onHeartbeatMissed,
  onHeartbeatMissedPhi,
  onHeartbeatReceived,
  statusFromCode,
  statusToCode,
  type ClusterStatus,
} from '../status.js';
import { PeerInfo } from './peer-info.js';
import { ArrivalWindow, detectorKindCodes, phi, statusForPhi, type PhiDetectorSettings } from '../detector.js';

export interface PeerStatusChange {
  serverId: string;
  address: string;
  oldStatus: PeerStatus;
  newStatus: PeerStatus;
  /** "heartbeat", "missed-heartbeats", "left", "added", or a caller's reason. */
  reason: string;
  missedHeartbeats: number;
  lastSeenMs: number | null;
}

export interface ConnectionRecord {
  state: ConnectionState;
  attemptCount: number;
  nextRetryMs: number | null;
  lastError: string;
  rttMs: number | null;
}

export interface RegistryOptions {
  /** An already-created region; otherwise initialize() creates one from the config. */
  region?: RegionWriter;
  /** Wall clock in ms; fake timers replace Date.now, so the default suits tests too. */
  now?: () => number;
}

export interface PeerRegistryEvents {
  peerStatusChanged: [PeerStatusChange];
  peerAdded: [{ serverId: string; address: string }];
  peerRemoved: [{ serverId: string; address: string }];
}

function checkAmount(n: number): void {
  if (!Number.isSafeInteger(n) || n < 0)
    throw invalidArg(`byte count must be a non-negative integer, got ${String(n)}`);
}

export class PeerRegistry extends EventEmitter<PeerRegistryEvents> {
  readonly config: PeerConfig;
  private region: RegionWriter | undefined;
  private readonly slotOf = new Map<string, number>();
  private free: number[] = [];
  private readonly now: () => number;
  private touchTimer: NodeJS.Timeout | undefined;
  /** The φ detector's settings; undefined under the fixed rule. */
  private readonly detector: PhiDetectorSettings | undefined;
  /**
   * φ detector: each peer's window of inter-arrival times, by slot index. The one piece of peer state
   * kept outside the region (a window does not fit a slot); its mean and deviation are published there.
   */
  private readonly windows = new Map<number, ArrivalWindow>();

  constructor(config: PeerConfig, opts: RegistryOptions = {}) {
    super();
    this.config = config;
    this.region = opts.region;
    this.now = opts.now ?? (() => Date.now());
    this.detector = config.detector;
  }

  /** Creates (or takes over) the region, publishes the config and registers the static peers. */
  initialize(): void {
    if (this.touchTimer) throw new CommyError(ErrorCode.AlreadyInitialized, 'registry is already initialized');
    const c = this.config;
    this.region ??= createRegion(c);
    this.free = [];
    for (let i = this.region.capacity - 1; i >= 0; i--) this.free.push(i);
    this.region.writeHeader({
      ...emptyHeader(),
      listen: c.listenAddress,
      heartbeatIntervalMs: c.heartbeatIntervalMs,
      heartbeatTimeoutMs: c.heartbeatTimeoutMs,
      suspectAfter: c.suspectAfter,
      downAfter: c.downAfter,
      ...(c.detector
        ? {
            detectorKind: detectorKindCodes.phi,
            phiWindowSize: c.detector.windowSize,
            phiThreshold: c.detector.threshold,
            phiDownThreshold: c.detector.downThreshold,
            phiMinStdDevMs: c.detector.minStdDevMs,
            phiAcceptablePauseMs: c.detector.acceptablePauseMs,
          }
        : {}),
    });
    this.windows.clear();
    for (const p of c.staticPeers) this.addPeer(p);
    // Readers turn this into writer.heartbeatAgeMs.
    this.touchTimer = setInterval(() => this.region?.touch(), Math.min(1000, c.heartbeatIntervalMs));
    this.touchTimer.unref();
  }

  /** The region this registry writes; for the node's transport to share. */
  get writer(): RegionWriter {
    if (!this.region) throw new CommyError(ErrorCode.NotInitialized, 'call initialize() first');
    return this.region;
  }

  private indexOf(id: string): number {
    const i = this.slotOf.get(id);
    if (i === undefined)
      throw new CommyError(
        ErrorCode.UnknownPeer,
        `unknown peer "${id}" (known: ${[...this.slotOf.keys()].join(', ') || 'none'})`,
      );
    return i;
  }

  /**
   * Reads a peer's slot straight from the region, for PeerInfo and ConnectionPool; readers
   * outside the package use ClusterView.
   * @internal
   */
  readSlot(id: string): SlotRecord {
    return this.writer.readSlot(this.indexOf(id));
  }

  private update(id: string, patch: (s: SlotRecord) => Partial<SlotFields>): { before: SlotRecord; after: SlotFields } {
    const index = this.indexOf(id);
    const before = this.writer.readSlot(index);
    const after = { ...before, ...patch(before) };
    this.writer.writeSlot(index, after, after.status !== before.status || after.serverId !== before.serverId);
    return { before, after };
  }

  private emitIfChanged(before: SlotRecord, after: SlotFields, reason: string): void {
    const oldStatus = statusFromCode(before.status);
    const newStatus = statusFromCode(after.status);
    if (oldStatus === newStatus) return;
    this.emit('peerStatusChanged', {
      serverId: after.serverId,
      address: after.address,
      oldStatus,
      newStatus,
      reason,
      missedHeartbeats: after.missedHeartbeats,
      lastSeenMs: after.lastSeenMs || null,
    });
  }

  /** Adds a peer at runtime (static peers are added by initialize()). Returns its id. */
  addPeer(peer: StaticPeer): string {
    const id = peer.serverId ?? peer.address;
    if (id === this.config.serverId) throw invalidArg(`"${id}" is this node's own serverId`);
    if (this.slotOf.has(id)) throw new CommyError(ErrorCode.DuplicatePeer, `peer "${id}" is already registered`);
    const index = this.free.pop();
    if (index === undefined)
      throw new CommyError(ErrorCode.RegionFull, `all ${this.writer.capacity} slots are in use; raise "capacity"`);
    const previous = this.writer.readSlot(index);
    this.writer.resetCounters(index);
    const window = this.detector && new ArrivalWindow(this.detector.windowSize, this.config.heartbeatIntervalMs);
    if (window) this.windows.set(index, window);
    this.writer.writeSlot(
      index,
      {
        ...emptySlot(),
        state: SlotState.used,
        // A new generation tells readers this slot now holds another peer.
        generation: previous.generation + 1,
        status: statusToCode(PeerStatus.Healthy),
        statusChangedMs: this.now(),
        statusReason: 'added',
        serverId: id,
        address: peer.address,
        ...(window ? { phiMeanMs: window.meanMs, phiStdDevMs: window.stdDevMs, phiSamples: 0 } : {}),
      },
      true,
    );
    this.slotOf.set(id, index);
    this.emit('peerAdded', { serverId: id, address: peer.address });
    return id;
  }

  /** Removes a peer; its slot is freed with a new generation and reused later. */
  removePeer(id: string): void {
    const index = this.indexOf(id);
    const s = this.writer.readSlot(index);
    this.writer.writeSlot(index, { ...emptySlot(), generation: s.generation + 1 }, true);
    this.windows.delete(index);
    this.slotOf.delete(id);
    this.free.push(index);
    this.emit('peerRemoved', { serverId: id, address: s.address });
  }

  /** A peer added by address learned its real id (at handshake). */
  identifyPeer(currentId: string, serverId: string): void {
    if (currentId === serverId) return;
    if (this.slotOf.has(serverId))
      throw new CommyError(ErrorCode.DuplicatePeer, `peer "${serverId}" is already registered`);
    const index = this.indexOf(currentId);
    this.update(currentId, () => ({ serverId }));
    this.slotOf.delete(currentId);
    this.slotOf.set(serverId, index);
  }

  /** A peer now dials at another address (a restarted member that moved). */
  setAddress(id: string, address: string): void {
    this.update(id, () => ({ address }));
  }

  hasPeer(id: string): boolean {
    return this.slotOf.has(id);
  }

  /** A live handle on a registered peer; undefined for an unknown id (as ClusterView.getPeer). */
  getPeer(id: string): PeerInfo | undefined {
    return this.slotOf.has(id) ? new PeerInfo(this, id) : undefined;
  }

  getAllPeers(): PeerInfo[] {
    return [...this.slotOf.keys()].map((id) => new PeerInfo(this, id));
  }

  getHealthyPeers(): PeerInfo[] {
    return this.getAllPeers().filter((p) => p.status === PeerStatus.Healthy);
  }

  /** A valid frame from the peer; `rttMs`, when the frame brought one, is published in the same write. */
  markHeartbeatReceived(id: string, rttMs?: number): void {
    const now = this.now();
    const window = this.detector && this.windows.get(this.indexOf(id));
    const { before, after } = this.update(id, (s) => {
      const next = onHeartbeatReceived();
      const status = statusToCode(next.status);
      // The silence of a peer that was down measures the outage, not its heartbeat rhythm: no sample.
      const sampled = window?.arrival(now, s.status !== statusToCode(PeerStatus.Down)) === true;
      return {
        status,
        missedHeartbeats: next.missedHeartbeats,
        lastSeenMs: now,
        ...(rttMs !== undefined ? { rttMicros: Math.round(rttMs * 1000) } : {}),
        ...(status !== s.status ? { statusChangedMs: now, statusReason: 'heartbeat' } : {}),
        ...(window && sampled
          ? { phiMeanMs: window.meanMs, phiStdDevMs: window.stdDevMs, phiSamples: window.realSamples }
          : {}),
      };
    });
    this.emitIfChanged(before, after, 'heartbeat');
  }

  /** One missed heartbeat; `lateMs` as for isOverdue: the φ detector judges the silence of that long ago. */
  markHeartbeatMissed(id: string, lateMs = 0): void {
    const t = this.config;
    const d = this.detector;
    const { before, after } = this.update(id, (s) => {
      const health = { status: statusFromCode(s.status), missedHeartbeats: s.missedHeartbeats };
      const next = d
        ? onHeartbeatMissedPhi(health, statusForPhi(this.phiOfSlot(s, lateMs), d))
        : onHeartbeatMissed(health, t);
      const changed = statusToCode(next.status) !== s.status;
      return {
        missedHeartbeats: next.missedHeartbeats,
        status: statusToCode(next.status),
        ...(changed ? { statusChangedMs: this.now(), statusReason: 'missed-heartbeats' } : {}),
      };
    });
    this.emitIfChanged(before, after, 'missed-heartbeats');
  }

  /** Marks a peer down at once, e.g. reason "left" after a graceful Leave. */
  markDown(id: string, reason: string): void {
    const { before, after } = this.update(id, (s) =>
      s.status === statusToCode(PeerStatus.Down)
        ? {}
        : { status: statusToCode(PeerStatus.Down), statusChangedMs: this.now(), statusReason: reason },
    );
    this.emitIfChanged(before, after, reason);
  }

  addBytesReceived(id: string, n: number): void {
    checkAmount(n);
    this.writer.addBytesReceived(this.indexOf(id), n);
  }

  addBytesSent(id: string, n: number): void {
    checkAmount(n);
    this.writer.addBytesSent(this.indexOf(id), n);
  }

  /** Connection facts written by the connection pool; visible to every reader. */
  updateConnection(id: string, patch: Partial<ConnectionRecord>): void {
    this.update(id, () => {
      const out: Partial<SlotFields> = {};
      if (patch.state !== undefined) out.connectionState = connectionToCode(patch.state);
      if (patch.attemptCount !== undefined) out.attemptCount = patch.attemptCount;
      if (patch.nextRetryMs !== undefined) out.nextRetryMs = patch.nextRetryMs ?? 0;
      if (patch.lastError !== undefined) out.lastError = patch.lastError;
      if (patch.rttMs !== undefined)
        out.rttMicros = patch.rttMs === null ? RTT_UNKNOWN : Math.round(patch.rttMs * 1000);
      return out;
    });
  }

  readConnection(id: string): ConnectionRecord {
    const s = this.readSlot(id);
    return {
      state: connectionFromCode(s.connectionState),
      attemptCount: s.attemptCount,
      nextRetryMs: s.nextRetryMs || null,
      lastError: s.lastError,
      rttMs: s.rttMicros === RTT_UNKNOWN ? null : s.rttMicros / 1000,
    };
  }

  /**
   * Read-modify-write of the node facts in the region header, for ClusterNode (listen
   * address, event-loop lag, rejected frames).
   * @internal
   */
  updateHeader(patch: (h: HeaderFields) => Partial<HeaderFields>): void {
    const h = this.writer.header();
    this.writer.writeHeader({ ...h, ...patch(h) });
  }

  /** Stores a peer's metadata map in its slot, as JSON of at most the slot's metadata bytes. */
  setPeerMetadata(id: string, metadata: Record<string, string>): void {
    const encoded = encodeMetadata(metadata);
    this.update(id, () => ({ metadata: encoded }));
  }

  getPeerMetadata(id: string): Record<string, string> {
    return decodeMetadata(this.readSlot(id).metadata);
  }

  getClusterStatus(): ClusterStatus {
    // Answered on every ping received: read the statuses alone (compact records, no strings).
    const c = this.writer.summary();
    const n = c.readAll(false);
    const statuses = new Array<PeerStatus>(n);
    for (let r = 0; r < n; r++) statuses[r] = statusFromCode(c.status(r));
    return computeClusterStatus(statuses);
  }

  /** Milliseconds since the peer was last heard from (since it was added, if never). */
  timeSinceHeartbeat(id: string): number {
    // Asked for every peer at every tick: read the two times alone (one compact record).
    const c = this.writer.summary();
    c.readOne(this.indexOf(id));
    return this.now() - lastHeardMs(c.lastSeenMs(0), c.statusChangedMs(0));
  }

  /**
   * The failure detector: true once the peer has been silent for longer than heartbeatTimeoutMs (a
   * missed heartbeat, counted in missedHeartbeats), or, under the φ detector, once its φ reaches the
   * threshold. `lateMs`: the tick runs this late, so the silence judged is the one of `lateMs` ago.
   */
  isOverdue(id: string, lateMs = 0): boolean {
    const silentMs = this.timeSinceHeartbeat(id) - lateMs;
    if (silentMs > this.config.heartbeatTimeoutMs) return true;
    const d = this.detector;
    if (!d) return false;
    const w = this.windows.get(this.indexOf(id));
    return w !== undefined && phi(silentMs, w.meanMs, w.stdDevMs, d) >= d.threshold;
  }

  /** The peer's current φ (its silence judged against its window); null under the fixed detector. */
  phiOf(id: string): number | null {
    const d = this.detector;
    const w = d && this.windows.get(this.indexOf(id));
    return w ? phi(this.timeSinceHeartbeat(id), w.meanMs, w.stdDevMs, d) : null;
  }

  /** φ of a slot just read (the writer's window stats are the ones it published). */
  private phiOfSlot(s: SlotRecord, lateMs: number): number {
    const d = this.detector as PhiDetectorSettings;
    const w = this.windows.get(s.index);
    const silentMs = this.now() - lateMs - lastHeardMs(s.lastSeenMs, s.statusChangedMs);
    return w ? phi(silentMs, w.meanMs, w.stdDevMs, d) : phi(silentMs, s.phiMeanMs, s.phiStdDevMs, d);
  }

  /** Publishes "stopped" and releases the region. Idempotent. */
  close(opts: { unlink?: boolean } = {}): void {
    if (this.touchTimer) clearInterval(this.touchTimer);
    this.touchTimer = undefined;
    this.region?.stop(opts);
    this.slotOf.clear();
  }
}

/** The node's region, with an unknown `readers` group reported as that config field. */
function createRegion(c: PeerConfig): RegionWriter {
  try {
    return RegionWriter.create({
      cluster: c.cluster,
      serverId: c.serverId,
      capacity: c.capacity,
      global: c.global,
      readers: c.readers,
    });
  } catch (err) {
    if (c.readers !== undefined && err instanceof CommyError && err.code === ErrorCode.InvalidArg)
      throw new ConfigError('readers', err.message.replace(/^readers /, ''));
    throw err;
  }
}
