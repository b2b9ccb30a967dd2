// ClusterView: the reader side, usable from any process on the host. It maps
// the node's region read-only and decodes the same slots the registry writes.
import {
  RegionReader,
  RTT_UNKNOWN,
  layout,
  type CompactSlots,
  type HeaderFields,
  type RegionInfo,
  type RegionKey,
  type SlotRecord,
  type WriterLiveness,
} from './region/index.js';
import { decodeMetadata } from './region/metadata.js';
import { defaults } from './defaults.js';
import { invalidArg } from './errors.js';
import {
  computeClusterStatus,
  connectionFromCode,
  rejectReasonNames,
  statusFromCode,
  type ClusterStatus,
  type ConnectionState,
  type PeerStatus,
} from './status.js';

/** One peer as `commy status --json` prints it. */
export interface PeerSnapshot {
  serverId: string;
  address: string;
  status: PeerStatus;
  missedHeartbeats: number;
  /** Wall-clock ms of the last heartbeat; null if never heard from. */
  lastSeenMs: number | null;
  bytesSent: number;
  bytesReceived: number;
  connection: ConnectionState;
}

/** The object `commy status --json` prints. */
export interface ClusterSnapshot {
  cluster: string;
  serverId: string;
  listen: string;
  writer: { pid: number; alive: boolean; heartbeatAgeMs: number };
  config: { heartbeatIntervalMs: number; heartbeatTimeoutMs: number; suspectAfter: number; downAfter: number };
  status: ClusterStatus;
  peers: PeerSnapshot[];
}

/** Everything the region holds about a peer, beyond the status contract. */
export interface PeerDetails extends PeerSnapshot {
  rttMs: number | null;
  attemptCount: number;
  lastError: string;
  nextRetryMs: number | null;
  statusReason: string;
  statusChangedMs: number | null;
  metadata: Record<string, string>;
}

export interface NodeDetails {
  writer: WriterLiveness;
  eventLoopLagMs: number;
  maxEventLoopLagMs: number;
  rejectedFrames: Record<string, number>;
}

export interface Inspection {
  snapshot: ClusterSnapshot;
  peers: PeerDetails[];
  node: NodeDetails;
}

export interface WatchHandle {
  close(): void;
}

function toPeer(s: SlotRecord): PeerSnapshot {
  return {
    serverId: s.serverId,
    address: s.address,
    status: statusFromCode(s.status),
    missedHeartbeats: s.missedHeartbeats,
    lastSeenMs: s.lastSeenMs || null,
    bytesSent: s.bytesSent,
    bytesReceived: s.bytesReceived,
    connection: connectionFromCode(s.connectionState),
  };
}

function buildSnapshot(info: RegionInfo, h: HeaderFields, slots: SlotRecord[]): ClusterSnapshot {
  const peers = slots.map(toPeer);
  return {
    cluster: info.cluster,
    serverId: info.serverId,
    listen: h.listen,
    writer: { pid: info.writer.pid, alive: info.writer.alive, heartbeatAgeMs: info.writer.heartbeatAgeMs },
    config: {
      heartbeatIntervalMs: h.heartbeatIntervalMs,
      heartbeatTimeoutMs: h.heartbeatTimeoutMs,
      suspectAfter: h.suspectAfter,
      downAfter: h.downAfter,
    },
    status: computeClusterStatus(peers.map((p) => p.status)),
    peers,
  };
}

/** Record r of a compact read as a PeerSnapshot: same fields, same order as toPeer(). */
function compactPeer(c: CompactSlots, r: number): PeerSnapshot {
  const slot = c.strings(r);
  return {
    serverId: c.serverIdOf(slot),
    address: c.addressOf(slot),
    status: statusFromCode(c.status(r)),
    missedHeartbeats: c.missedHeartbeats(r),
    lastSeenMs: c.lastSeenMs(r) || null,
    bytesSent: c.bytesSent(r),
    bytesReceived: c.bytesReceived(r),
    connection: connectionFromCode(c.connectionState(r)),
  };
}

const HD = layout.header;
/** Slot index hints of getPeer() are dropped past this many ids. */
const MAX_HINTS = 8192;

export class ClusterView {
  private region: RegionReader;
  private readonly key: RegionKey;
  private readonly watchers = new Set<NodeJS.Timeout>();
  /** Where getPeer() last found each id; checked against the slot before use. */
  private readonly slotHints = new Map<string, number>();

  private constructor(key: RegionKey, region: RegionReader) {
    this.key = key;
    this.region = region;
  }

  /** Maps the region of node (cluster, serverId). Throws ERR_REGION_NOT_FOUND if there is none. */
  static open(key: RegionKey): ClusterView {
    if (!key || typeof key.cluster !== 'string' || typeof key.serverId !== 'string')
      throw invalidArg('ClusterView.open({cluster, serverId}) needs two strings');
    const k = { cluster: key.cluster, serverId: key.serverId, global: key.global === true };
    return new ClusterView(k, RegionReader.open(k));
  }

  /** Follows a restarted writer that had to recreate the region (another capacity). */
  private refreshIfReplaced(alive: boolean): void {
    if (alive || !this.region.replaced()) return;
    try {
      const next = RegionReader.open(this.key);
      this.region.close();
      this.region = next;
      this.slotHints.clear();
    } catch {
      // Keep the old mapping: its last known state is still worth showing.
    }
  }

  snapshot(): ClusterSnapshot {
    // One native call: writer line, header and the compact used slots; the
    // same object buildSnapshot() makes from info(), header() and usedSlots().
    let c = this.region.compact();
    let n = c.readAll(true);
    if (!c.writerAlive) {
      this.refreshIfReplaced(false);
      c = this.region.compact();
      n = c.readAll(true);
    }
    const peers = new Array<PeerSnapshot>(n);
    const statuses = new Array<PeerStatus>(n);
    for (let r = 0; r < n; r++) {
      const p = compactPeer(c, r);
      peers[r] = p;
      statuses[r] = p.status;
    }
    return {
      cluster: this.region.cluster,
      serverId: this.region.serverId,
      listen: c.listen,
      writer: { pid: c.writerPid, alive: c.writerAlive, heartbeatAgeMs: Math.max(0, c.nowMs - c.heartbeatMs) },
      config: {
        heartbeatIntervalMs: c.headerU32(HD.heartbeatIntervalMs),
        heartbeatTimeoutMs: c.headerU32(HD.heartbeatTimeoutMs),
        suspectAfter: c.headerU32(HD.suspectAfter),
        downAfter: c.headerU32(HD.downAfter),
      },
      status: computeClusterStatus(statuses),
      peers,
    };
  }

  /** The snapshot plus every detail the region holds (RTT, attempts, metadata, lag, rejections). */
  inspect(): Inspection {
    const info = this.region.info();
    const h = this.region.header();
    const slots = this.region.usedSlots();
    const peers = slots.map((s) => ({
      ...toPeer(s),
      rttMs: s.rttMicros === RTT_UNKNOWN ? null : s.rttMicros / 1000,
      attemptCount: s.attemptCount,
      lastError: s.lastError,
      nextRetryMs: s.nextRetryMs || null,
      statusReason: s.statusReason,
      statusChangedMs: s.statusChangedMs || null,
      metadata: decodeMetadata(s.metadata),
    }));
    const snapshot = buildSnapshot(info, h, slots);
    return {
      snapshot,
      peers,
      node: {
        writer: info.writer,
        eventLoopLagMs: h.eventLoopLagMs,
        maxEventLoopLagMs: h.maxEventLoopLagMs,
        rejectedFrames: Object.fromEntries(rejectReasonNames.map((n, i) => [n, h.rejectedFrames[i] ?? 0])),
      },
    };
  }

  /** A peer's metadata map (empty when it sent none). */
  getPeerMetadata(serverId: string): Record<string, string> {
    const s = this.region.usedSlots().find((p) => p.serverId === serverId);
    return s ? decodeMetadata(s.metadata) : {};
  }

  /** One peer, or undefined if the node does not track it. */
  getPeer(serverId: string): PeerSnapshot | undefined {
    const c = this.region.compact();
    // Where the id was last time: one slot read, checked (used, same id).
    const hint = this.slotHints.get(serverId);
    if (hint !== undefined && c.readOne(hint) && c.serverId(0) === serverId) return compactPeer(c, 0);
    const n = c.readAll(false);
    for (let r = 0; r < n; r++) {
      if (c.serverId(r) !== serverId) continue;
      if (this.slotHints.size >= MAX_HINTS) this.slotHints.clear();
      this.slotHints.set(serverId, c.slotIndex(r));
      return compactPeer(c, r);
    }
    return undefined;
  }

  status(): ClusterStatus {
    const c = this.region.compact();
    const n = c.readAll(false);
    const statuses = new Array<PeerStatus>(n);
    for (let r = 0; r < n; r++) statuses[r] = statusFromCode(c.status(r));
    return computeClusterStatus(statuses);
  }

  /**
   * Polls the region's change generation every `intervalMs` and calls `cb`
   * with a fresh snapshot only when something changed (and once at start).
   */
  watch(cb: (snapshot: ClusterSnapshot) => void, opts: { intervalMs?: number } = {}): WatchHandle {
    const intervalMs = opts.intervalMs ?? defaults.watchIntervalMs;
    if (!Number.isFinite(intervalMs) || intervalMs < 1) throw invalidArg('watch intervalMs must be >= 1');
    let lastGeneration = -1;
    let lastAlive: boolean | undefined;
    const tick = () => {
      const generation = this.region.generation();
      const alive = this.region.info().writer.alive;
      if (generation === lastGeneration && alive === lastAlive) return;
      lastGeneration = generation;
      lastAlive = alive;
      cb(this.snapshot());
    };
    const timer = setInterval(tick, intervalMs);
    this.watchers.add(timer);
    queueMicrotask(tick);
    return {
      close: () => {
        clearInterval(timer);
        this.watchers.delete(timer);
      },
    };
  }

  /** Stops every watch and unmaps the region. Idempotent. */
  close(): void {
    for (const t of this.watchers) clearInterval(t);
    this.watchers.clear();
    this.region.close();
  }
}
