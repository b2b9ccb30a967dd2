// ClusterView: the reader side, usable from any process on the host. It maps
// the node's region read-only and decodes the same slots the registry writes.
import {
  RegionReader,
  RTT_UNKNOWN,
  layout,
  writerLiveness,
  type RegionImage,
  type RegionKey,
  type WriterLiveness,
} from './region/index.js';
import { decodeMetadata } from './region/metadata.js';
import { defaults } from './defaults.js';
import { CommyError, invalidArg } from './errors.js';
import {
  computeClusterStatus,
  connectionFromCode,
  rejectReasonNames,
  statusFromCode,
  type ClusterStatus,
  type ConnectionState,
  type PeerStatus,
} from './status.js';

/** Which region a view maps: a node's key, and whose it must be. */
export interface ViewKey extends RegionKey {
  /** The account that runs the node (user name or uid; Windows: an account); default: this process's. */
  owner?: string;
}

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
  /** Stops the watch; no callback runs after it. Idempotent. */
  close(): void;
}

export interface WatchOptions {
  /** Poll period; default defaults.watchIntervalMs. */
  intervalMs?: number;
  /**
   * Called with a read that failed (a region removed or replaced, a writer
   * that died mid-write, a contended read); the watch keeps going. Without
   * it, each distinct error code is reported once as a process warning.
   */
  onError?: (err: Error) => void;
}

/** Record r of an image as a PeerSnapshot. */
function peerOf(image: RegionImage, r: number): PeerSnapshot {
  const slot = image.strings(r);
  return {
    serverId: image.serverIdOf(slot),
    address: image.addressOf(slot),
    status: statusFromCode(image.status(r)),
    missedHeartbeats: image.missedHeartbeats(r),
    lastSeenMs: image.lastSeenMs(r) || null,
    bytesSent: image.bytesSent(r),
    bytesReceived: image.bytesReceived(r),
    connection: connectionFromCode(image.connectionState(r)),
  };
}

/** Record r of a detail image with everything the region holds about the peer. */
function detailsOf(image: RegionImage, r: number, peer: PeerSnapshot): PeerDetails {
  const rtt = image.rttMicros(r);
  return {
    ...peer,
    rttMs: rtt === RTT_UNKNOWN ? null : rtt / 1000,
    attemptCount: image.attemptCount(r),
    lastError: image.lastError(r),
    nextRetryMs: image.nextRetryMs(r) || null,
    statusReason: image.statusReason(r),
    statusChangedMs: image.statusChangedMs(r) || null,
    metadata: decodeMetadata(image.metadata(r)),
  };
}

const HD = layout.header;
/** Slot index hints of getPeer() are dropped past this many ids. */
const MAX_HINTS = 8192;

export class ClusterView {
  private region: RegionReader;
  private readonly key: ViewKey;
  private closed = false;
  /** Stops of the live watches; close() runs them all. */
  private readonly watchers = new Set<() => void>();
  /** Where getPeer() last found each id; checked against the slot before use. */
  private readonly slotHints = new Map<string, number>();

  private constructor(key: ViewKey, region: RegionReader) {
    this.key = key;
    this.region = region;
  }

  /**
   * Maps the region of node (cluster, serverId). Throws ERR_REGION_NOT_FOUND
   * if there is none. `owner` names the account that runs that node (a user
   * name or uid; on Windows an account): a region owned by anyone else,
   * this process's account by default, is refused with ERR_REGION_UNTRUSTED.
   */
  static open(key: ViewKey): ClusterView {
    if (!key || typeof key.cluster !== 'string' || typeof key.serverId !== 'string')
      throw invalidArg('ClusterView.open({cluster, serverId}) needs two strings');
    if (key.owner !== undefined && (typeof key.owner !== 'string' || key.owner === ''))
      throw invalidArg('ClusterView.open: owner must be a non-empty user name or uid');
    const k: ViewKey = { cluster: key.cluster, serverId: key.serverId, global: key.global === true };
    if (key.owner !== undefined) k.owner = key.owner;
    return new ClusterView(k, RegionReader.open(k));
  }

  /** Follows a restarted writer that had to recreate the region (another capacity). */
  private refreshIfReplaced(alive: boolean): boolean {
    if (alive || !this.region.replaced()) return false;
    try {
      const next = RegionReader.open(this.key);
      this.region.close();
      this.region = next;
      this.slotHints.clear();
      return true;
    } catch {
      return false; // keep the old mapping: its last known state is still worth showing
    }
  }

  /** A consistent image with the writer line: summary or detail records. */
  private image(detail: boolean): RegionImage {
    let image = detail ? this.region.detail() : this.region.summary();
    image.readAll(true);
    if (!image.writerAlive && this.refreshIfReplaced(false)) {
      image = detail ? this.region.detail() : this.region.summary();
      image.readAll(true);
    }
    return image;
  }

  private snapshotOf(image: RegionImage, peers: PeerSnapshot[]): ClusterSnapshot {
    const statuses = new Array<PeerStatus>(peers.length);
    for (let r = 0; r < peers.length; r++) statuses[r] = peers[r].status;
    return {
      cluster: this.region.cluster,
      serverId: this.region.serverId,
      listen: image.listen,
      writer: {
        pid: image.writerPid,
        alive: image.writerAlive,
        heartbeatAgeMs: Math.max(0, image.nowMs - image.heartbeatMs),
      },
      config: {
        heartbeatIntervalMs: image.headerU32(HD.heartbeatIntervalMs),
        heartbeatTimeoutMs: image.headerU32(HD.heartbeatTimeoutMs),
        suspectAfter: image.headerU32(HD.suspectAfter),
        downAfter: image.headerU32(HD.downAfter),
      },
      status: computeClusterStatus(statuses),
      peers,
    };
  }

  /** The object `commy status --json` prints: one native call, one decoder. */
  snapshot(): ClusterSnapshot {
    return this.snapshotOfImage(this.image(false));
  }

  private snapshotOfImage(image: RegionImage): ClusterSnapshot {
    const n = image.count;
    const peers = new Array<PeerSnapshot>(n);
    for (let r = 0; r < n; r++) peers[r] = peerOf(image, r);
    return this.snapshotOf(image, peers);
  }

  /** The snapshot plus every detail the region holds (RTT, attempts, metadata, lag, rejections). */
  inspect(): Inspection {
    const image = this.image(true);
    const n = image.count;
    const peers = new Array<PeerSnapshot>(n);
    const details = new Array<PeerDetails>(n);
    for (let r = 0; r < n; r++) {
      peers[r] = peerOf(image, r);
      details[r] = detailsOf(image, r, peers[r]);
    }
    const h = image.header();
    return {
      snapshot: this.snapshotOf(image, peers),
      peers: details,
      node: {
        writer: writerLiveness(image),
        eventLoopLagMs: h.eventLoopLagMs,
        maxEventLoopLagMs: h.maxEventLoopLagMs,
        rejectedFrames: Object.fromEntries(rejectReasonNames.map((name, i) => [name, h.rejectedFrames[i] ?? 0])),
      },
    };
  }

  /** A peer's metadata map (empty when it sent none, or when the node does not track it). */
  getPeerMetadata(serverId: string): Record<string, string> {
    const image = this.region.detail();
    const n = image.readAll(false);
    for (let r = 0; r < n; r++) if (image.serverId(r) === serverId) return decodeMetadata(image.metadata(r));
    return {};
  }

  /** One peer, or undefined if the node does not track it. */
  getPeer(serverId: string): PeerSnapshot | undefined {
    const image = this.region.summary();
    // Where the id was last time: one slot read, checked (used, same id).
    const hint = this.slotHints.get(serverId);
    if (hint !== undefined && image.readOne(hint) && image.serverId(0) === serverId) return peerOf(image, 0);
    const n = image.readAll(false);
    for (let r = 0; r < n; r++) {
      if (image.serverId(r) !== serverId) continue;
      if (this.slotHints.size >= MAX_HINTS) this.slotHints.clear();
      this.slotHints.set(serverId, image.slotIndex(r));
      return peerOf(image, r);
    }
    return undefined;
  }

  status(): ClusterStatus {
    const image = this.region.summary();
    const n = image.readAll(false);
    const statuses = new Array<PeerStatus>(n);
    for (let r = 0; r < n; r++) statuses[r] = statusFromCode(image.status(r));
    return computeClusterStatus(statuses);
  }

  /**
   * Polls the region's change generation every `intervalMs` and calls `cb`
   * with a fresh snapshot only when something changed (and once at start).
   * No callback runs after the handle's close() or the view's close().
   */
  watch(cb: (snapshot: ClusterSnapshot) => void, opts: WatchOptions = {}): WatchHandle {
    const intervalMs = opts.intervalMs ?? defaults.watchIntervalMs;
    if (!Number.isFinite(intervalMs) || intervalMs < 1) throw invalidArg('watch intervalMs must be >= 1');
    if (opts.onError !== undefined && typeof opts.onError !== 'function')
      throw invalidArg('watch onError must be a function');
    if (this.closed) throw invalidArg('this ClusterView is closed; open a new one to watch');
    let lastGeneration = -1;
    let lastAlive: boolean | undefined;
    let active = true;
    const warned = new Set<string>();
    const report = (err: Error) => {
      if (opts.onError) return opts.onError(err);
      const code = err instanceof CommyError ? err.code : err.name;
      if (warned.has(code)) return;
      warned.add(code);
      process.emitWarning(`commy watch: ${err.message}`, { code });
    };
    const tick = () => {
      if (!active) return;
      let snapshot: ClusterSnapshot;
      try {
        const generation = this.region.generation();
        const image = this.image(false);
        if (generation === lastGeneration && image.writerAlive === lastAlive) return;
        lastGeneration = generation;
        lastAlive = image.writerAlive;
        snapshot = this.snapshotOfImage(image);
      } catch (err) {
        report(err as Error);
        return;
      }
      cb(snapshot);
    };
    const timer = setInterval(tick, intervalMs);
    const stop = () => {
      active = false;
      clearInterval(timer);
      this.watchers.delete(stop);
    };
    this.watchers.add(stop);
    queueMicrotask(tick);
    return { close: stop };
  }

  /** Stops every watch and unmaps the region. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.watchers]) stop();
    this.region.close();
  }
}
