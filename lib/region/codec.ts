// The field codec: the writer's encoding of slot and header fields into the
// bytes of native/layout.h, and the string and u64 primitives the one
// decoder (image.ts) shares with it.
import { H, S, SlotState, RTT_UNKNOWN, layout } from './layout.js';
import { invalidArg } from '../errors.js';

/** The seqlocked fields of one slot, as the writer stores them. */
export interface SlotFields {
  state: number;
  status: number;
  generation: number;
  missedHeartbeats: number;
  connectionState: number;
  lastSeenMs: number;
  attemptCount: number;
  rttMicros: number;
  nextRetryMs: number;
  statusChangedMs: number;
  statusReason: string;
  serverId: string;
  address: string;
  lastError: string;
  metadata: Buffer;
  /** φ detector: mean inter-arrival time of the peer's window, in ms (0 under the fixed detector; 0 when omitted). */
  phiMeanMs?: number;
  /** φ detector: the window's standard deviation, in ms. */
  phiStdDevMs?: number;
  /** φ detector: real samples in the window (the two seeds not counted). */
  phiSamples?: number;
}

/** A slot as read back: its index, its fields and the lock-free byte counters. */
export interface SlotRecord extends SlotFields {
  index: number;
  phiMeanMs: number;
  phiStdDevMs: number;
  phiSamples: number;
  bytesSent: number;
  bytesReceived: number;
}

/** Node-level facts in the seqlocked header data. */
export interface HeaderFields {
  listen: string;
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  suspectAfter: number;
  downAfter: number;
  eventLoopLagMs: number;
  maxEventLoopLagMs: number;
  rejectedFrames: number[];
  /** Membership sources configured (DNS, etcd); 0 in a region of a node with none, or of an older writer. */
  discoveryProviders: number;
  /** 1 while every provider answers. */
  discoveryUp: number;
  discoveryMembers: number;
  /** Wall-clock ms of the last refresh in which every provider answered; 0 = never. */
  discoveryRefreshMs: number;
  discoveryError: string;
  /** The address the node announces to its peers ("" from a writer that predates the field: use listen). */
  advertise: string;
  /** The failure detector: 0 = fixed (also in a region of an older writer), 1 = phi. 0 when omitted. */
  detectorKind?: number;
  /** φ detector settings (0 under the fixed detector). */
  phiWindowSize?: number;
  phiThreshold?: number;
  phiDownThreshold?: number;
  phiMinStdDevMs?: number;
  phiAcceptablePauseMs?: number;
}

export function emptySlot(): SlotFields {
  return {
    state: SlotState.free,
    status: 0,
    generation: 0,
    missedHeartbeats: 0,
    connectionState: 0,
    lastSeenMs: 0,
    attemptCount: 0,
    rttMicros: RTT_UNKNOWN,
    nextRetryMs: 0,
    statusChangedMs: 0,
    statusReason: '',
    serverId: '',
    address: '',
    lastError: '',
    metadata: Buffer.alloc(0),
    phiMeanMs: 0,
    phiStdDevMs: 0,
    phiSamples: 0,
  };
}

export function emptyHeader(): HeaderFields {
  return {
    listen: '',
    heartbeatIntervalMs: 0,
    heartbeatTimeoutMs: 0,
    suspectAfter: 0,
    downAfter: 0,
    eventLoopLagMs: 0,
    maxEventLoopLagMs: 0,
    rejectedFrames: new Array<number>(H.rejectedReasons).fill(0),
    discoveryProviders: 0,
    discoveryUp: 0,
    discoveryMembers: 0,
    discoveryRefreshMs: 0,
    discoveryError: '',
    advertise: '',
    detectorKind: 0,
    phiWindowSize: 0,
    phiThreshold: 0,
    phiDownThreshold: 0,
    phiMinStdDevMs: 0,
    phiAcceptablePauseMs: 0,
  };
}

/**
 * Writes at most bytes-1 bytes of UTF-8, whole characters only (Buffer#write
 * never writes part of a character), so readers never see half a code point.
 * The callers zero the whole buffer first, so the field stays NUL-terminated.
 */
function writeString(buf: Buffer, offset: number, bytes: number, value: string): void {
  buf.write(value, offset, bytes - 1, 'utf8');
}

/** Field length up to the first NUL, within `bytes` (shared bytes: never trusted to hold one). */
export function fieldLength(buf: Uint8Array, offset: number, bytes: number): number {
  let n = 0;
  while (n < bytes && buf[offset + n] !== 0) n++; // short fields: cheaper than a native indexOf
  return n;
}

export function readString(buf: Buffer, offset: number, bytes: number): string {
  return buf.toString('utf8', offset, offset + fieldLength(buf, offset, bytes));
}

const TWO32 = 4294967296;
/** A u64 as the nearest Number: hi × 2^32 + lo is the one correctly rounded sum, and needs no BigInt. */
export function readU64(dv: DataView, at: number): number {
  return dv.getUint32(at + 4, true) * TWO32 + dv.getUint32(at, true);
}

export function encodeSlot(f: SlotFields, buf: Buffer): Buffer {
  if (f.metadata.length > S.metadataBytes)
    throw invalidArg(`metadata is ${f.metadata.length} bytes; the limit is ${S.metadataBytes}`);
  buf.fill(0, 0, layout.slotDataSize);
  buf.writeUInt32LE(f.state, S.state);
  buf.writeUInt32LE(f.status, S.status);
  buf.writeBigUInt64LE(BigInt(f.generation), S.generation);
  buf.writeUInt32LE(f.missedHeartbeats, S.missedHeartbeats);
  buf.writeUInt32LE(f.connectionState, S.connectionState);
  buf.writeDoubleLE(f.lastSeenMs, S.lastSeenMs);
  buf.writeUInt32LE(f.attemptCount, S.attemptCount);
  buf.writeUInt32LE(f.rttMicros, S.rttMicros);
  buf.writeDoubleLE(f.nextRetryMs, S.nextRetryMs);
  buf.writeDoubleLE(f.statusChangedMs, S.statusChangedMs);
  writeString(buf, S.statusReason, S.statusReasonBytes, f.statusReason);
  writeString(buf, S.serverId, S.serverIdBytes, f.serverId);
  writeString(buf, S.address, S.addressBytes, f.address);
  writeString(buf, S.lastError, S.lastErrorBytes, f.lastError);
  buf.writeUInt32LE(f.metadata.length, S.metadataLength);
  f.metadata.copy(buf, S.metadata);
  buf.writeDoubleLE(f.phiMeanMs ?? 0, S.phiMeanMs);
  buf.writeDoubleLE(f.phiStdDevMs ?? 0, S.phiStdDevMs);
  buf.writeUInt32LE(f.phiSamples ?? 0, S.phiSamples);
  return buf;
}

export function encodeHeader(h: HeaderFields, buf: Buffer): Buffer {
  buf.fill(0, 0, layout.headerDataSize);
  writeString(buf, H.listen, H.listenBytes, h.listen);
  buf.writeUInt32LE(h.heartbeatIntervalMs, H.heartbeatIntervalMs);
  buf.writeUInt32LE(h.heartbeatTimeoutMs, H.heartbeatTimeoutMs);
  buf.writeUInt32LE(h.suspectAfter, H.suspectAfter);
  buf.writeUInt32LE(h.downAfter, H.downAfter);
  buf.writeDoubleLE(h.eventLoopLagMs, H.eventLoopLagMs);
  buf.writeDoubleLE(h.maxEventLoopLagMs, H.maxEventLoopLagMs);
  for (let i = 0; i < H.rejectedReasons; i++) {
    buf.writeBigUInt64LE(BigInt(h.rejectedFrames[i] ?? 0), H.rejectedFrames + 8 * i);
  }
  buf.writeUInt32LE(h.discoveryProviders, H.discoveryProviders);
  buf.writeUInt32LE(h.discoveryUp, H.discoveryUp);
  buf.writeUInt32LE(h.discoveryMembers, H.discoveryMembers);
  buf.writeDoubleLE(h.discoveryRefreshMs, H.discoveryRefreshMs);
  writeString(buf, H.discoveryError, H.discoveryErrorBytes, h.discoveryError);
  writeString(buf, H.advertise, H.advertiseBytes, h.advertise);
  buf.writeUInt32LE(h.detectorKind ?? 0, H.detectorKind);
  buf.writeUInt32LE(h.phiWindowSize ?? 0, H.phiWindowSize);
  buf.writeDoubleLE(h.phiThreshold ?? 0, H.phiThreshold);
  buf.writeDoubleLE(h.phiDownThreshold ?? 0, H.phiDownThreshold);
  buf.writeDoubleLE(h.phiMinStdDevMs ?? 0, H.phiMinStdDevMs);
  buf.writeDoubleLE(h.phiAcceptablePauseMs ?? 0, H.phiAcceptablePauseMs);
  return buf;
}
