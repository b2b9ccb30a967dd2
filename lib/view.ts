// ClusterView: the reader side, usable from any process on the host. It maps
// the node's region read-only and decodes the same slots the registry writes.
import {
  RegionReader,
  RTT_UNKNOWN,
  layout,
  writerLiveness,
  type RegionImage,
  type RegionKey,
  type WaitOutcome,
  type WriterLiveness,
} from './region/index.js';
import { decodeMetadata } from './region/metadata.js';
import { detectorKindCodes, phi, type PhiDetectorSettings } from './detector.js';
import { defaults } from './defaults.js';
import { CommyError, ErrorCode, invalidArg } from './errors.js';
import { transitionsBetween, type PeerTransition } from './transitions.js';
import {
  KeyHasher,
  Ranking,
  routeMember,
  routeReplicas,
  routeSuspected,
  type RouteMember,
  type RouteOptions,
  type RouteOwner,
} from './routing.js';
import {
  computeClusterStatus,
  connectionFromCode,
  lastHeardMs,
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

/** The state of a node's membership sources (DNS, etcd), as it published it. */
export interface DiscoverySnapshot {
  /** Every provider answered its last request. */
  up: boolean;
  /** Members the providers list together. */
  members: number;
  /** Wall-clock ms of the last refresh in which every provider answered; null before the first. */
  lastRefreshMs: number | null;
  /** Why a provider is down ("" while all are up). */
  error: string;
}

function discoveryOf(image: RegionImage): DiscoverySnapshot {
  const h = image.header();
  return {
    up: h.discoveryUp === 1,
    members: h.discoveryMembers,
    lastRefreshMs: h.discoveryRefreshMs || null,
    error: h.discoveryError,
  };
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
  /** Present only for a node with a `discovery` section in its config. */
  discovery?: DiscoverySnapshot;
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
  /**
   * The peer's current φ under the φ accrual detector, computed at this read from the silence since
   * its last frame and its window's mean and deviation (docs/RELIABILITY.md, "Failure detectors");
   * null under the fixed detector.
   */
  phi: number | null;
  /** The φ detector's window of the peer's inter-arrival times; null under the fixed detector. */
  arrivals: ArrivalStats | null;
}

/** A peer's window of heartbeat inter-arrival times, as the φ detector published it. */
export interface ArrivalStats {
  meanMs: number;
  stdDevMs: number;
  /** Real samples in the window; the two seed samples of the bootstrap are not counted. */
  samples: number;
}

/**
 * The node's failure detector: `{ kind: "fixed" }` (suspectAfter and downAfter in the snapshot's
 * config apply) or the φ accrual detector's settings.
 */
export type DetectorSettings = { kind: 'fixed' } | PhiDetectorSettings;

export interface NodeDetails {
  writer: WriterLiveness;
  eventLoopLagMs: number;
  maxEventLoopLagMs: number;
  rejectedFrames: Record<string, number>;
  /** The failure detector the node runs. */
  detector: DetectorSettings;
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
  /**
   * `status` (default): call back only when membership, a peer's status or
   * quorum changes (or the writer's liveness flips), with the transitions.
   * `any`: after every write to the region (last-seen, RTT, lag included).
   */
  on?: 'status' | 'any';
  /**
   * Poll every `intervalMs` instead of waiting for the writer's wake-up. `on:
   * 'any'` always polls; so does `status` where the OS cannot wait (macOS) or
   * the region's writer is too old to wake readers.
   */
  poll?: boolean;
  /** Poll period; default defaults.watchIntervalMs. */
  intervalMs?: number;
  /**
   * Called with a read that failed (a region removed or replaced, a writer
   * that died mid-write, a contended read); the watch keeps going. Without
   * it, each distinct error code is reported once as a process warning.
   */
  onError?: (err: Error) => void;
}

export interface WaitOptions {
  /** Resolve false after this many ms without a change (default: wait until one). */
  timeoutMs?: number;
  /** Aborting rejects the wait with the signal's reason. */
  signal?: AbortSignal;
}

/** How soon a watch retries after a failed read. */
const RECHECK_MS = 1000;

/** One pending wait of a view; `alive`: also settled when the writer's liveness is no longer this. */
interface Waiter {
  baseline: number;
  alive?: boolean;
  settle: (changed: boolean | Error) => void;
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

/** The detector of an image's header (read with the writer part); a region of an older writer is fixed. */
function detectorOf(image: RegionImage): DetectorSettings {
  if (image.headerU32(HD.detectorKind) !== detectorKindCodes.phi) return { kind: 'fixed' };
  return {
    kind: 'phi',
    threshold: image.headerF64(HD.phiThreshold),
    downThreshold: image.headerF64(HD.phiDownThreshold),
    windowSize: image.headerU32(HD.phiWindowSize),
    minStdDevMs: image.headerF64(HD.phiMinStdDevMs),
    acceptablePauseMs: image.headerF64(HD.phiAcceptablePauseMs),
  };
}

/** Record r of a detail image with everything the region holds about the peer. */
function detailsOf(image: RegionImage, r: number, peer: PeerSnapshot, detector: DetectorSettings): PeerDetails {
  const rtt = image.rttMicros(r);
  let current: number | null = null;
  let arrivals: ArrivalStats | null = null;
  if (detector.kind === 'phi') {
    arrivals = { meanMs: image.phiMeanMs(r), stdDevMs: image.phiStdDevMs(r), samples: image.phiSamples(r) };
    // The silence as the writer measures it.
    const since = lastHeardMs(image.lastSeenMs(r), image.statusChangedMs(r));
    current = phi(Math.max(0, image.nowMs - since), arrivals.meanMs, arrivals.stdDevMs, detector);
  }
  return {
    ...peer,
    rttMs: rtt === RTT_UNKNOWN ? null : rtt / 1000,
    attemptCount: image.attemptCount(r),
    lastError: image.lastError(r),
    nextRetryMs: image.nextRetryMs(r) || null,
    statusReason: image.statusReason(r),
    statusChangedMs: image.statusChangedMs(r) || null,
    metadata: decodeMetadata(image.metadata(r)),
    phi: current,
    arrivals,
  };
}

const HD = layout.header;
function closedError(): CommyError {
  return new CommyError(ErrorCode.RegionClosed, 'this ClusterView is closed; open a new one');
}

/** Slot index hints of getPeer() are dropped past this many ids. */
const MAX_HINTS = 8192;

/** Status codes as stored in a slot (statusCodes' order in lib/status.ts). */
const HEALTHY = 0;
const SUSPECTED = 1;

export class ClusterView {
  private region: RegionReader;
  private readonly key: ViewKey;
  private closed = false;
  /** Stops of the live watches; close() runs them all. */
  private readonly watchers = new Set<() => void>();
  /**
   * Pending waits, each settled once the status sequence leaves its baseline,
   * or (a watch's, with `alive`) once the writer's liveness differs from it.
   */
  private readonly waiters = new Set<Waiter>();
  /** True while one native wait (or one poll timer) serves every waiter. */
  private waiting = false;
  private pollTimer: NodeJS.Timeout | undefined;
  /** Set when a native wait was refused: waits poll every defaults.watchIntervalMs instead. */
  private pollOnly = false;
  /** Where getPeer() last found each id; checked against the slot before use. */
  private readonly slotHints = new Map<string, number>();
  /** route()'s per-view state: its key hasher, its ranking, its members (by slot index; the node itself), the candidates of a call. */
  private readonly hasher = new KeyHasher();
  private readonly ranking = new Ranking();
  private readonly routeMembers: (RouteMember | undefined)[] = [];
  private routeSelf: RouteMember | undefined;
  private readonly candidates: RouteMember[] = [];

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
      this.pollOnly = false;
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
      ...(image.headerU32(HD.discoveryProviders) > 0 ? { discovery: discoveryOf(image) } : {}),
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
    const detector = detectorOf(image);
    for (let r = 0; r < n; r++) {
      peers[r] = peerOf(image, r);
      details[r] = detailsOf(image, r, peers[r], detector);
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
        detector,
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
   * The owners of `key` (a string or a Buffer), best first: `replicas` of
   * them (default 1), among the members this node counts healthy (also
   * suspected with `include: 'suspected'`), the node itself included while
   * its writer is alive. Every process that reads the same membership gets
   * the same list: rendezvous hashing with XXH32, as docs/ROUTING.md gives
   * it. Empty when no member counts. Each owner's address is the one this
   * node knows it by (its own: the address it advertises).
   */
  route(key: string | Uint8Array, opts?: RouteOptions): RouteOwner[] {
    const replicas = routeReplicas(opts);
    const suspected = routeSuspected(opts);
    const keyHash = this.hasher.keyHash(key);
    const image = this.image(false);
    const candidates = this.candidates;
    let count = 0;
    if (image.writerAlive) {
      const address = image.advertise || image.listen;
      candidates[count++] = this.routeSelf = routeMember(this.routeSelf, this.region.serverId, address);
    }
    const n = image.count;
    for (let r = 0; r < n; r++) {
      const status = image.status(r);
      if (status !== HEALTHY && !(suspected && status === SUSPECTED)) continue;
      const index = image.strings(r);
      const m = routeMember(this.routeMembers[index], image.serverIdOf(index), image.addressOf(index));
      candidates[count++] = this.routeMembers[index] = m;
    }
    return this.ranking.rank(keyHash, replicas, candidates, count);
  }

  /**
   * The counter waitForChange() watches: the status sequence, or, in a region
   * of a writer too old to keep one, the any-write generation.
   */
  private changeWord(): number {
    return this.region.versionMinor >= 1 ? this.region.statusSeq() : this.region.generation();
  }

  /**
   * Resolves true once membership, a peer's status or quorum has changed
   * since the call (the writer wakes this process: inotify on Linux, polled by
   * this thread's own event loop; a named semaphore on Windows; elsewhere it
   * polls every defaults.watchIntervalMs), false after `timeoutMs`. Rejects
   * with ERR_REGION_CLOSED when the view is closed, and with the signal's
   * reason when it is aborted. Waiting never occupies libuv's threadpool; on
   * Windows (and on Linux past the account's inotify instances) it takes one
   * native thread per view. It waits for a change after its call: a loop of
   * calls misses what changes between one's end and the next call, unless it
   * calls the next one first. `watch()` misses nothing.
   */
  waitForChange(opts: WaitOptions = {}): Promise<boolean> {
    if (this.closed) return Promise.reject(closedError());
    return this.waitSince(this.changeWord(), opts);
  }

  /**
   * waitForChange from a change word read earlier (a watch reads it before its
   * snapshot: no change falls between); with `alive`, also until the writer's
   * liveness differs from it.
   */
  private waitSince(baseline: number, opts: WaitOptions, alive?: boolean): Promise<boolean> {
    const { timeoutMs, signal } = opts;
    if (timeoutMs !== undefined && !(Number.isFinite(timeoutMs) && timeoutMs >= 0 && timeoutMs <= 2 ** 31 - 1))
      return Promise.reject(invalidArg('waitForChange timeoutMs must be 0..2147483647'));
    if (this.closed) return Promise.reject(closedError());
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<boolean>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = () => waiter.settle(signal!.reason as Error);
      const waiter: Waiter = {
        baseline,
        alive,
        settle: (changed: boolean | Error) => {
          this.waiters.delete(waiter);
          if (this.waiters.size === 0) this.stopWaiting();
          if (timer) clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          if (changed instanceof Error) reject(changed);
          else resolve(changed);
        },
      };
      this.waiters.add(waiter);
      if (timeoutMs !== undefined) timer = setTimeout(() => waiter.settle(false), timeoutMs);
      signal?.addEventListener('abort', onAbort, { once: true });
      this.pump();
    });
  }

  /**
   * Settles the waiters whose baseline moved, or whose liveness baseline
   * differs from `alive`; with `all`, every one (the region was replaced).
   */
  private settleWaiters(all: boolean, alive?: boolean): number {
    const now = this.changeWord();
    for (const w of [...this.waiters])
      if (all || now !== w.baseline || (alive !== undefined && w.alive !== undefined && w.alive !== alive))
        w.settle(true);
    return now;
  }

  /**
   * Ends the shared wait once no one waits (a timeout, an abort, a closed
   * watch): a wait left running would keep the process alive, and the view
   * reachable, until the next change.
   */
  private stopWaiting(): void {
    if (!this.waiting || this.closed) return;
    if (this.pollTimer) {
      clearTimeout(this.pollTimer);
      this.pollTimer = undefined;
      this.waiting = false;
    } else {
      this.region.cancelWait(); // its promise resolves "cancelled": next() clears `waiting`
    }
  }

  /**
   * Keeps one wait (native, or a poll timer) running while anyone waits. The
   * native wait also watches the writer (its stop, death or replacement), so
   * an idle wait runs no JavaScript.
   */
  private pump(): void {
    if (this.waiting || this.closed || this.waiters.size === 0) return;
    let alive: boolean | undefined;
    let replaced = false;
    try {
      alive = this.region.info().writer.alive;
      replaced = this.refreshIfReplaced(alive);
    } catch {
      alive = undefined; // a failed liveness read: this wait does not watch the writer; the next one reads again
    }
    // Every waiter left has this baseline and liveness: the native wait starts from the same reads.
    const now = this.settleWaiters(replaced, alive);
    if (this.waiters.size === 0) return;
    this.waiting = true;
    const next = (outcome: WaitOutcome) => {
      this.waiting = false;
      if (this.closed) return;
      // A change: settle first, so the waiters' code runs before the next wait is set up.
      if (outcome === 'changed') this.settleWaiters(false);
      if (outcome === 'unsupported') this.pollOnly = true; // the OS refused the wait: poll from now on
      queueMicrotask(() => this.pump());
    };
    if (this.pollOnly || !this.region.canWait()) {
      this.pollTimer = setTimeout(() => {
        this.pollTimer = undefined;
        next('timeout');
      }, defaults.watchIntervalMs);
      return;
    }
    // The writer is watched for every wait: a liveness flip settles the watches, a replacement every waiter.
    this.region.waitForStatusChange(now, undefined, alive).then(next, (err: Error) => {
      this.waiting = false;
      for (const w of [...this.waiters]) w.settle(err);
    });
  }

  /**
   * Calls `cb` with a fresh snapshot and the peer transitions since the
   * previous call: once at start (transitions from nothing), then on every
   * status, membership or quorum change, or when the writer's liveness flips
   * (`on: 'status'`, the default, woken by the writer), or after any write
   * (`on: 'any'`, polled every `intervalMs`). No callback runs after the
   * handle's close() or the view's close().
   */
  watch(cb: (snapshot: ClusterSnapshot, transitions: PeerTransition[]) => void, opts: WatchOptions = {}): WatchHandle {
    const intervalMs = opts.intervalMs ?? defaults.watchIntervalMs;
    if (!Number.isFinite(intervalMs) || intervalMs < 1) throw invalidArg('watch intervalMs must be >= 1');
    if (opts.onError !== undefined && typeof opts.onError !== 'function')
      throw invalidArg('watch onError must be a function');
    const on = opts.on ?? 'status';
    if (on !== 'status' && on !== 'any') throw invalidArg(`watch on must be "status" or "any", got ${String(on)}`);
    if (this.closed) throw invalidArg('this ClusterView is closed; open a new one to watch');
    let lastGeneration = -1;
    let prev: ClusterSnapshot | undefined;
    let active = true;
    const warned = new Set<string>();
    const report = (err: Error) => {
      if (opts.onError) return opts.onError(err);
      const code = err instanceof CommyError ? err.code : err.name;
      if (warned.has(code)) return;
      warned.add(code);
      process.emitWarning(`commy watch: ${err.message}`, { code });
    };
    /** One look at the region; false when the read failed (reported). */
    const tick = (): boolean => {
      if (!active) return true;
      let snapshot: ClusterSnapshot;
      let transitions: PeerTransition[];
      try {
        const generation = this.region.generation();
        const image = this.image(false);
        if (prev && generation === lastGeneration && image.writerAlive === prev.writer.alive) return true;
        lastGeneration = generation;
        snapshot = this.snapshotOfImage(image);
        transitions = transitionsBetween(prev?.peers ?? [], snapshot.peers, (id) => this.reasonOf(id));
        const fire = !prev || on === 'any' || transitions.length > 0 || snapshot.writer.alive !== prev.writer.alive;
        prev = snapshot;
        if (!fire) return true;
      } catch (err) {
        report(err as Error);
        return false;
      }
      cb(snapshot, transitions);
      return true;
    };
    let stopDriver: () => void;
    if (on === 'any' || opts.poll) {
      const timer = setInterval(() => void tick(), intervalMs);
      stopDriver = () => clearInterval(timer);
    } else {
      const abort = new AbortController();
      const loop = async () => {
        await Promise.resolve(); // as the polled watch: the first call comes after watch() returns
        while (active) {
          // Read before the snapshot, so a change landing after it still ends the next wait.
          let seq: number;
          try {
            seq = this.changeWord();
          } catch (err) {
            if (!active || this.closed) return;
            report(err as Error);
            await new Promise((resolve) => setTimeout(resolve, RECHECK_MS));
            continue;
          }
          const ok = tick();
          if (!active) return;
          try {
            // The writer's liveness as last delivered: the wait ends when it flips. After a failed
            // read, a retry in RECHECK_MS as well.
            const wait = ok ? { signal: abort.signal } : { timeoutMs: RECHECK_MS, signal: abort.signal };
            await this.waitSince(seq, wait, prev?.writer.alive ?? true);
          } catch (err) {
            if (!active) return; // closed or aborted: the end of this watch
            report(err as Error);
          }
        }
      };
      stopDriver = () => abort.abort();
      void loop();
    }
    const stop = () => {
      if (!active) return;
      active = false;
      stopDriver();
      this.watchers.delete(stop);
    };
    this.watchers.add(stop);
    if (on === 'any' || opts.poll) queueMicrotask(() => void tick());
    return { close: stop };
  }

  /** The node's recorded reason for a peer's latest status (read only when a transition is seen). */
  private reasonOf(serverId: string): string {
    const image = this.region.detail();
    const n = image.readAll(false);
    for (let r = 0; r < n; r++) if (image.serverId(r) === serverId) return image.statusReason(r);
    return '';
  }

  /** Stops every watch and unmaps the region. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stop of [...this.watchers]) stop();
    if (this.pollTimer) clearTimeout(this.pollTimer);
    for (const w of [...this.waiters]) w.settle(closedError());
    this.region.close(); // ends the native wait at once
  }
}
