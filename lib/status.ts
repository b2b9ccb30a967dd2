// The failure-detection state machine and cluster arithmetic as pure
// functions. The registry (writer) and ClusterView (readers) both call these.

export const PeerStatus = {
  Healthy: 'healthy',
  Suspected: 'suspected',
  Down: 'down',
} as const;
export type PeerStatus = (typeof PeerStatus)[keyof typeof PeerStatus];

/** Order of statuses as stored in a region slot and exported as the commy_peer_status value. */
export const statusCodes: readonly PeerStatus[] = [PeerStatus.Healthy, PeerStatus.Suspected, PeerStatus.Down];

export function statusToCode(s: PeerStatus): number {
  return statusCodes.indexOf(s);
}

/** Decodes a stored status; an unknown value (a foreign or newer writer) reads as down. */
export function statusFromCode(code: number): PeerStatus {
  return statusCodes[code] ?? PeerStatus.Down;
}

export interface Thresholds {
  suspectAfter: number;
  downAfter: number;
}

/**
 * Where a peer's silence is measured from: its last frame, or, if it was never heard from, the moment
 * it was added (its status last changed). The writer and every reader judge silences from this.
 */
export function lastHeardMs(lastSeenMs: number, statusChangedMs: number): number {
  return lastSeenMs || statusChangedMs;
}

/** The status implied by a count of consecutive missed heartbeats. */
export function statusForMissed(missed: number, t: Thresholds): PeerStatus {
  if (missed >= t.downAfter) return PeerStatus.Down;
  if (missed >= t.suspectAfter) return PeerStatus.Suspected;
  return PeerStatus.Healthy;
}

export interface PeerHealth {
  status: PeerStatus;
  missedHeartbeats: number;
}

/** One more missed heartbeat. */
export function onHeartbeatMissed(p: PeerHealth, t: Thresholds): PeerHealth {
  const missedHeartbeats = p.missedHeartbeats + 1;
  // A peer marked down for another reason (left) stays down until heard from.
  const status = p.status === PeerStatus.Down ? PeerStatus.Down : statusForMissed(missedHeartbeats, t);
  return { status, missedHeartbeats };
}

/**
 * One more missed heartbeat under the φ detector: the count still counts silent ticks, the status is
 * the one φ implies (`byPhi`, from lib/detector.ts statusForPhi), never lower than the current one
 * (φ only grows while the peer is silent; a down peer stays down until heard from).
 */
export function onHeartbeatMissedPhi(p: PeerHealth, byPhi: PeerStatus): PeerHealth {
  const rank = (s: PeerStatus) => statusCodes.indexOf(s);
  return { status: rank(byPhi) > rank(p.status) ? byPhi : p.status, missedHeartbeats: p.missedHeartbeats + 1 };
}

/** Any heartbeat returns a peer to healthy and resets the count. */
export function onHeartbeatReceived(): PeerHealth {
  return { status: PeerStatus.Healthy, missedHeartbeats: 0 };
}

export interface ClusterStatus {
  /** Peers plus this node. */
  totalPeers: number;
  /** Healthy peers plus this node. */
  healthyPeers: number;
  suspectedPeers: number;
  downPeers: number;
  /** Any peer not healthy. */
  isDegraded: boolean;
  /** healthyPeers > totalPeers / 2 */
  quorumAvailable: boolean;
}

/** Counts statuses into a ClusterStatus; the same rule for the writer and every reader. */
export function computeClusterStatus(peerStatuses: Iterable<PeerStatus>): ClusterStatus {
  let healthy = 0;
  let suspected = 0;
  let down = 0;
  for (const s of peerStatuses) {
    if (s === PeerStatus.Healthy) healthy++;
    else if (s === PeerStatus.Suspected) suspected++;
    else down++;
  }
  const totalPeers = healthy + suspected + down + 1;
  const healthyPeers = healthy + 1;
  return {
    totalPeers,
    healthyPeers,
    suspectedPeers: suspected,
    downPeers: down,
    isDegraded: suspected + down > 0,
    quorumAvailable: healthyPeers * 2 > totalPeers,
  };
}

/** Connection states as stored in a slot and shown by `commy status`. */
export const ConnectionState = {
  /** No connection and none being dialed: before the first dial, and every peer once the node has stopped. */
  Idle: 'idle',
  /** A dial is in progress. */
  Connecting: 'connecting',
  /** An authenticated connection is open. */
  Active: 'active',
  /** The last dial failed; the next one is due at `nextRetryMs`. */
  Backoff: 'backoff',
  /** The circuit breaker is open after repeated failures; one probe is due at `nextRetryMs`. */
  Open: 'open',
} as const;
export type ConnectionState = (typeof ConnectionState)[keyof typeof ConnectionState];
const connectionCodes: readonly ConnectionState[] = ['idle', 'connecting', 'active', 'backoff', 'open'];

export function connectionToCode(s: ConnectionState): number {
  return connectionCodes.indexOf(s);
}

export function connectionFromCode(code: number): ConnectionState {
  return connectionCodes[code] ?? ConnectionState.Idle;
}

/** ClusterStatus as a value: `ClusterStatus.compute(statuses)`. */
export const ClusterStatus = { compute: computeClusterStatus } as const;

/**
 * Why a frame or connection was rejected, in the order of the rejected-frames
 * counters in the region header (the name is the metric label and the key
 * of `rejectedFrames`). The one list: RejectReason is derived from it.
 */
export const rejectReasonNames = [
  'bad_frame',
  'bad_version',
  'wrong_cluster',
  'auth_failed',
  'unknown_peer',
  'duplicate',
  'timeout',
  'other',
] as const;
export type RejectReasonName = (typeof rejectReasonNames)[number];

type Pascal<S extends string> = S extends `${infer H}_${infer T}` ? `${Capitalize<H>}${Pascal<T>}` : Capitalize<S>;
type Names = typeof rejectReasonNames;
/** Each reject reason's name (PascalCase) and its counter slot in the region header. */
type RejectReasonSlots = {
  readonly [I in keyof Names as I extends `${number}` ? Pascal<Names[I]> : never]: I extends `${infer N extends number}`
    ? N
    : never;
};

const pascal = (name: string) => name.replace(/(^|_)([a-z])/g, (_, __, c: string) => c.toUpperCase());

/** Counter slot of each reject reason: `RejectReason.AuthFailed` is the slot of "auth_failed". */
export const RejectReason = Object.freeze(
  Object.fromEntries(rejectReasonNames.map((name, slot) => [pascal(name), slot])),
) as RejectReasonSlots;
export type RejectReason = RejectReasonSlots[keyof RejectReasonSlots];
