// The typed facade over the native region: a writer side (one per node) and a
// read-only side (any process). Layout offsets come from the addon; this file
// only encodes and decodes them.
import { binding } from './binding.js';
import type { NativeRegion } from './native.js';
import { addIndexEntry, removeIndexEntry } from './region-index.js';

export const layout = binding.layout;
const S = layout.slot;
const H = layout.header;

export interface RegionKey {
  cluster: string;
  serverId: string;
  /** Windows only: use the Global\ namespace (needs SeCreateGlobalPrivilege). */
  global?: boolean;
}

/** A region error; `code` is stable across OSes (see docs/REGION.md). */
export interface RegionError extends Error {
  code: string;
}

export const SlotState = { free: 0, used: 1 } as const;

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
}

/** A slot as read back: its fields plus the lock-free byte counters. */
export interface SlotRecord extends SlotFields {
  index: number;
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
}

export interface WriterLiveness {
  pid: number;
  alive: boolean;
  heartbeatAgeMs: number;
  startedAtMs: number;
  state: 'initializing' | 'running' | 'stopped';
}

export interface RegionInfo {
  name: string;
  cluster: string;
  serverId: string;
  capacity: number;
  generation: number;
  writer: WriterLiveness;
}

export const RTT_UNKNOWN = 0xffffffff;

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
  };
}

/** Largest UTF-8 byte length a string field of `bytes` can hold (one NUL). */
export function fieldCapacity(bytes: number): number {
  return bytes - 1;
}

function writeString(buf: Buffer, offset: number, bytes: number, value: string): void {
  buf.fill(0, offset, offset + bytes);
  let encoded = Buffer.from(value, 'utf8');
  if (encoded.length > bytes - 1) {
    // Truncate on a character boundary so readers never see half a code point.
    let end = bytes - 1;
    while (end > 0 && (encoded[end] & 0xc0) === 0x80) end--;
    encoded = encoded.subarray(0, end);
  }
  encoded.copy(buf, offset);
}

function readString(buf: Buffer, offset: number, bytes: number): string {
  const end = buf.indexOf(0, offset);
  const stop = end < 0 || end > offset + bytes ? offset + bytes : end;
  return buf.toString('utf8', offset, stop);
}

const NAME = layout.nameBytes;

export function encodeSlot(f: SlotFields, buf: Buffer): Buffer {
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
  writeString(buf, S.serverId, NAME, f.serverId);
  writeString(buf, S.address, S.addressBytes, f.address);
  writeString(buf, S.lastError, S.lastErrorBytes, f.lastError);
  if (f.metadata.length > S.metadataBytes) {
    throw Object.assign(new Error(`metadata is ${f.metadata.length} bytes; the limit is ${S.metadataBytes}`), {
      code: 'ERR_INVALID_ARG',
    });
  }
  buf.writeUInt32LE(f.metadata.length, S.metadataLength);
  f.metadata.copy(buf, S.metadata);
  return buf;
}

/** Decodes one record; `buf` came from shared memory, so every length is clamped. */
export function decodeSlot(buf: Buffer, offset: number, index: number): SlotRecord {
  const b = offset === 0 ? buf : buf.subarray(offset, offset + layout.slotRecordSize);
  const metaLen = Math.min(b.readUInt32LE(S.metadataLength), S.metadataBytes);
  return {
    index,
    state: b.readUInt32LE(S.state),
    status: b.readUInt32LE(S.status),
    generation: Number(b.readBigUInt64LE(S.generation)),
    missedHeartbeats: b.readUInt32LE(S.missedHeartbeats),
    connectionState: b.readUInt32LE(S.connectionState),
    lastSeenMs: b.readDoubleLE(S.lastSeenMs),
    attemptCount: b.readUInt32LE(S.attemptCount),
    rttMicros: b.readUInt32LE(S.rttMicros),
    nextRetryMs: b.readDoubleLE(S.nextRetryMs),
    statusChangedMs: b.readDoubleLE(S.statusChangedMs),
    statusReason: readString(b, S.statusReason, S.statusReasonBytes),
    serverId: readString(b, S.serverId, NAME),
    address: readString(b, S.address, S.addressBytes),
    lastError: readString(b, S.lastError, S.lastErrorBytes),
    metadata: Buffer.from(b.subarray(S.metadata, S.metadata + metaLen)),
    bytesSent: Number(b.readBigUInt64LE(S.bytesSent)),
    bytesReceived: Number(b.readBigUInt64LE(S.bytesReceived)),
  };
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
  return buf;
}

export function decodeHeader(buf: Buffer): HeaderFields {
  const rejected: number[] = [];
  for (let i = 0; i < H.rejectedReasons; i++) rejected.push(Number(buf.readBigUInt64LE(H.rejectedFrames + 8 * i)));
  return {
    listen: readString(buf, H.listen, H.listenBytes),
    heartbeatIntervalMs: buf.readUInt32LE(H.heartbeatIntervalMs),
    heartbeatTimeoutMs: buf.readUInt32LE(H.heartbeatTimeoutMs),
    suspectAfter: buf.readUInt32LE(H.suspectAfter),
    downAfter: buf.readUInt32LE(H.downAfter),
    eventLoopLagMs: buf.readDoubleLE(H.eventLoopLagMs),
    maxEventLoopLagMs: buf.readDoubleLE(H.maxEventLoopLagMs),
    rejectedFrames: rejected,
  };
}

const stateNames = ['initializing', 'running', 'stopped'] as const;

/** Shared by both sides: reads of a mapped region. */
class RegionHandle {
  protected readonly native: NativeRegion;
  /** Slot count, fixed for the life of the mapping. */
  readonly capacity: number;
  /** The OS object name. */
  readonly name: string;
  private readonly headerBuf = Buffer.alloc(layout.headerDataSize);
  private readonly recordBuf = Buffer.alloc(layout.slotRecordSize);
  private slotsBuf: Buffer | undefined;

  protected constructor(native: NativeRegion) {
    this.native = native;
    const i = native.info();
    this.capacity = i.capacity;
    this.name = i.name;
  }

  info(): RegionInfo {
    const i = this.native.info();
    return {
      name: i.name,
      cluster: i.cluster,
      serverId: i.serverId,
      capacity: i.capacity,
      generation: i.generation,
      writer: {
        pid: i.writerPid,
        alive: i.alive,
        heartbeatAgeMs: Math.max(0, i.nowMs - i.heartbeatMs),
        startedAtMs: i.writerStartMs,
        state: stateNames[i.state] ?? 'stopped',
      },
    };
  }

  /** The header's change generation: it moves after every slot or header write. */
  generation(): number {
    return this.native.generation();
  }

  header(): HeaderFields {
    this.native.readHeaderData(this.headerBuf);
    return decodeHeader(this.headerBuf);
  }

  readSlot(index: number): SlotRecord {
    this.native.readSlot(index, this.recordBuf);
    return decodeSlot(this.recordBuf, 0, index);
  }

  /** Every used slot, each one consistent (seqlock), in slot order. */
  usedSlots(): SlotRecord[] {
    this.slotsBuf ??= Buffer.alloc(this.capacity * layout.slotRecordSize);
    const n = this.native.readUsedSlots(this.slotsBuf);
    const out: SlotRecord[] = [];
    for (let i = 0; i < n; i++) out.push(decodeSlot(this.slotsBuf, i * layout.slotRecordSize, -1));
    return out;
  }

  /** Raw access for hot paths that decode only what they need. */
  readUsedSlotsInto(buf: Buffer): number {
    return this.native.readUsedSlots(buf);
  }

  /** True when the name now refers to a newer region (a new writer replaced it). */
  replaced(): boolean {
    return this.native.replaced();
  }

  /** Adds to a slot's byte counter; needs a writer or a `writable` reader. */
  addBytesSent(index: number, amount: number): void {
    this.native.addCounter(index, 0, amount);
  }

  addBytesReceived(index: number, amount: number): void {
    this.native.addCounter(index, 1, amount);
  }

  /** Unmaps the region. Idempotent; later calls throw ERR_REGION_CLOSED. */
  close(): void {
    this.native.close();
  }
}

/** The single writer of a region. Creating it takes the OS writer lock. */
export class RegionWriter extends RegionHandle {
  /** True when this writer took the region over from a dead writer. */
  readonly tookOver: boolean;
  private readonly slotBuf = Buffer.alloc(layout.slotDataSize);
  private readonly headerOut = Buffer.alloc(layout.headerDataSize);

  private constructor(native: NativeRegion) {
    super(native);
    this.tookOver = native.tookOver === true;
  }

  static create(opts: RegionKey & { capacity: number }): RegionWriter {
    const native = binding.create({
      cluster: opts.cluster,
      serverId: opts.serverId,
      capacity: opts.capacity,
      global: opts.global === true,
    });
    const writer = new RegionWriter(native);
    if (binding.listNames() === null) {
      addIndexEntry({
        name: writer.name,
        cluster: opts.cluster,
        serverId: opts.serverId,
        global: opts.global === true,
        pid: process.pid,
      });
    }
    return writer;
  }

  writeSlot(index: number, fields: SlotFields): void {
    this.native.writeSlot(index, encodeSlot(fields, this.slotBuf));
  }

  /** Zeroes a slot's byte counters, for a slot that now holds another peer. */
  resetCounters(index: number): void {
    this.native.resetCounters(index);
  }

  writeHeader(fields: HeaderFields): void {
    this.native.writeHeaderData(encodeHeader(fields, this.headerOut));
  }

  /** Refreshes the writer heartbeat that readers turn into heartbeatAgeMs. */
  touch(): void {
    this.native.touch();
  }

  /** Publishes "stopped" (a clean stop), then closes. */
  stop(opts: { unlink?: boolean } = {}): void {
    try {
      this.native.setState(layout.regionState.stopped);
    } catch (err) {
      if ((err as RegionError).code !== 'ERR_REGION_CLOSED') throw err;
    }
    this.close();
    if (opts.unlink) {
      binding.unlink(this.name);
      removeIndexEntry(this.name);
    }
  }
}

/** A read-only view of a region, from any process. */
export class RegionReader extends RegionHandle {
  private constructor(native: NativeRegion) {
    super(native);
  }

  /** Opens an existing region; `writable` only allows adding to counters. */
  static open(opts: RegionKey & { writable?: boolean }): RegionReader {
    return new RegionReader(
      binding.open({
        cluster: opts.cluster,
        serverId: opts.serverId,
        global: opts.global === true,
        writable: opts.writable === true,
      }),
    );
  }

  /** Opens by OS object name, as listed by listRegionNames(). */
  static openByName(name: string): RegionReader {
    return new RegionReader(binding.openByName(name));
  }
}

/** The OS object name of a region: "/commy-<hash>" or "Local\\commy-<hash>". */
export function regionName(key: RegionKey): string {
  return binding.objectName(key.cluster, key.serverId, key.global === true);
}

/** OS object names of the regions on this host, or null where the OS cannot list them. */
export function listRegionNames(): string[] | null {
  return binding.listNames();
}

/** Removes a region's name (POSIX); readers that map it keep their mapping. */
export function unlinkRegion(key: RegionKey): boolean {
  return binding.unlink(regionName(key));
}
