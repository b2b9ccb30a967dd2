// The typed facade over the native region: a writer side (one per node) and a
// read-only side (any process). Layout offsets come from the addon; this file
// only encodes and decodes them.
import { binding } from '../binding.js';
import type { NativeRegion } from '../native.js';
import { addIndexEntry, removeIndexEntry } from './name-index.js';

export const layout = binding.layout;
// Copies with fast properties: the addon's object of 22 slot offsets is in
// V8's slow (dictionary) mode, and every encode/decode reads these.
const S = { ...layout.slot };
const H = { ...layout.header };

/** Layout of the addon's readCompact() output (compact:: in native/region.h). */
interface CompactLayout {
  writerBytes: number;
  recordsOffset: number;
  recordSize: number;
  seq: number;
  index: number;
  bytesSent: number;
  bytesReceived: number;
  data: number;
  dataBytes: number;
}
/** The addon's fast-path methods (native/addon.cc), beside lib/native.ts's NativeRegion. */
interface FastNative extends NativeRegion {
  readCompact(out: Buffer, slot: number, withWriter: boolean, known?: Uint32Array): number;
  counters(): { buffer: ArrayBuffer; slotSize: number; counterOffset: number } | null;
}
const C = (layout as typeof layout & { compact: CompactLayout }).compact;
const TWO32 = 4294967296;

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

/**
 * Writes at most bytes-1 bytes of UTF-8, whole characters only (Buffer#write
 * never writes part of a character), so readers never see half a code point.
 * The callers zero the whole buffer first, so the field stays NUL-terminated.
 */
function writeString(buf: Buffer, offset: number, bytes: number, value: string): void {
  buf.write(value, offset, bytes - 1, 'utf8');
}

function readString(buf: Buffer, offset: number, bytes: number): string {
  let n = 0;
  while (n < bytes && buf[offset + n] !== 0) n++; // short fields: cheaper than a native indexOf
  return buf.toString('utf8', offset, offset + n);
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

/** A u64 as the nearest Number, exactly as Number(buf.readBigUInt64LE(at)) but without a BigInt. */
function readU64(buf: Buffer, at: number): number {
  return buf.readUInt32LE(at + 4) * TWO32 + buf.readUInt32LE(at);
}

/** Decodes one record; `buf` came from shared memory, so every length is clamped. */
export function decodeSlot(buf: Buffer, offset: number, index: number): SlotRecord {
  const b = offset === 0 ? buf : buf.subarray(offset, offset + layout.slotRecordSize);
  const metaLen = Math.min(b.readUInt32LE(S.metadataLength), S.metadataBytes);
  return {
    index,
    state: b.readUInt32LE(S.state),
    status: b.readUInt32LE(S.status),
    generation: readU64(b, S.generation),
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
    bytesSent: readU64(b, S.bytesSent),
    bytesReceived: readU64(b, S.bytesReceived),
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
  for (let i = 0; i < H.rejectedReasons; i++) rejected.push(readU64(buf, H.rejectedFrames + 8 * i));
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

/** Field length up to the first NUL, within `bytes` (shared bytes: never trusted to hold one). */
function fieldLength(buf: Uint8Array, offset: number, bytes: number): number {
  let n = 0;
  while (n < bytes && buf[offset + n] !== 0) n++;
  return n;
}

/**
 * The hot read path of ClusterView.snapshot()/getPeer()/status() and of the
 * registry's cluster status. One native call (readCompact) copies the writer
 * line, the header data and, for each used slot, a compact record: the seq
 * its copy is consistent with, the slot index, the counters and only the
 * leading slot fields (status, counts, times, serverId, address); metadata
 * and the error text are neither copied nor decoded. The two strings are
 * decoded when first asked for, once per slot version, (slot index, seq)
 * where the seq is the slot's seqlock sequence (it moves on every write of
 * the slot), and reused until the slot is written again; the addon then
 * skips copying them. Numbers are read afresh on every call.
 * The record accessors take a record number 0..count-1 of the last read.
 */
export class CompactSlots {
  /** Records in the last read. */
  count = 0;
  private readonly native: FastNative;
  private readonly buf: Buffer;
  private readonly dv: DataView;
  private readonly f64: Float64Array;
  // Per slot index: the seq (low, high) whose strings are cached; an odd
  // low word means none. The addon then skips copying those strings.
  private readonly known: Uint32Array;
  private readonly ids: string[];
  private readonly addresses: string[];
  private listenBytes: Buffer = Buffer.alloc(0);
  private listenText = '';

  constructor(native: NativeRegion, capacity: number) {
    this.native = native as FastNative;
    const ab = new ArrayBuffer(C.recordsOffset + capacity * C.recordSize);
    this.buf = Buffer.from(ab);
    this.dv = new DataView(ab);
    this.f64 = new Float64Array(ab, 0, C.writerBytes / 8);
    this.known = new Uint32Array(2 * capacity).fill(1);
    this.ids = new Array<string>(capacity).fill('');
    this.addresses = new Array<string>(capacity).fill('');
  }

  /** Every used slot, in slot order; with the writer line and header when `withWriter`. */
  readAll(withWriter: boolean): number {
    this.count = this.native.readCompact(this.buf, -1, withWriter, this.known);
    return this.count;
  }

  /** Slot `index` alone (used or not) as record 0; true when it is used. */
  readOne(index: number): boolean {
    this.count = this.native.readCompact(this.buf, index, false, this.known);
    return this.count === 1 && this.state(0) === SlotState.used;
  }

  /**
   * Makes the strings of record r current in the cache and returns its slot
   * index. When the record's seq is the one the cache holds, the addon copied
   * only the head and the cached strings are this very version's; otherwise
   * the record holds the strings and they are decoded (and cached when the
   * copy had a seq, i.e. an even one).
   */
  strings(r: number): number {
    const dv = this.dv;
    const at = C.recordsOffset + r * C.recordSize;
    const index = dv.getUint32(at + C.index, true);
    const lo = dv.getUint32(at + C.seq, true);
    const hi = dv.getUint32(at + C.seq + 4, true);
    if ((lo & 1) === 0 && this.known[2 * index] === lo && this.known[2 * index + 1] === hi) return index;
    const d = at + C.data;
    const b = this.buf;
    this.ids[index] = b.toString('utf8', d + S.serverId, d + S.serverId + fieldLength(b, d + S.serverId, NAME));
    this.addresses[index] = b.toString(
      'utf8',
      d + S.address,
      d + S.address + fieldLength(b, d + S.address, S.addressBytes),
    );
    this.known[2 * index] = lo; // odd when the copy had no seq: then nothing is reused
    this.known[2 * index + 1] = hi;
    return index;
  }

  // ---- the writer line and header (after readAll(true)) ----
  get writerPid(): number {
    return this.f64[0];
  }
  get writerState(): number {
    return this.f64[1];
  }
  get heartbeatMs(): number {
    return this.f64[3];
  }
  get generation(): number {
    return this.f64[4];
  }
  get writerAlive(): boolean {
    return this.f64[5] === 1;
  }
  get nowMs(): number {
    return this.f64[6];
  }
  /** The header's listen address (decoded again only when its bytes change). */
  get listen(): string {
    const at = C.writerBytes + H.listen;
    const n = fieldLength(this.buf, at, H.listenBytes);
    const cached = this.listenBytes;
    let same = cached.length === n;
    for (let i = 0; same && i < n; i++) same = cached[i] === this.buf[at + i];
    if (!same) {
      this.listenBytes = Buffer.from(this.buf.subarray(at, at + n));
      this.listenText = this.buf.toString('utf8', at, at + n);
    }
    return this.listenText;
  }
  headerU32(offset: number): number {
    return this.dv.getUint32(C.writerBytes + offset, true);
  }

  // ---- records ----
  private data(r: number, field: number): number {
    return C.recordsOffset + r * C.recordSize + C.data + field;
  }
  slotIndex(r: number): number {
    return this.dv.getUint32(C.recordsOffset + r * C.recordSize + C.index, true);
  }
  state(r: number): number {
    return this.dv.getUint32(this.data(r, S.state), true);
  }
  status(r: number): number {
    return this.dv.getUint32(this.data(r, S.status), true);
  }
  missedHeartbeats(r: number): number {
    return this.dv.getUint32(this.data(r, S.missedHeartbeats), true);
  }
  connectionState(r: number): number {
    return this.dv.getUint32(this.data(r, S.connectionState), true);
  }
  lastSeenMs(r: number): number {
    return this.dv.getFloat64(this.data(r, S.lastSeenMs), true);
  }
  statusChangedMs(r: number): number {
    return this.dv.getFloat64(this.data(r, S.statusChangedMs), true);
  }
  serverId(r: number): string {
    return this.ids[this.strings(r)];
  }
  address(r: number): string {
    return this.addresses[this.strings(r)];
  }
  /** The cached strings of slot `index`, after strings(r) returned it. */
  serverIdOf(index: number): string {
    return this.ids[index];
  }
  addressOf(index: number): string {
    return this.addresses[index];
  }
  /** As Number(u64): hi × 2^32 + lo is the one correctly rounded sum. */
  bytesSent(r: number): number {
    const at = C.recordsOffset + r * C.recordSize + C.bytesSent;
    return this.dv.getUint32(at + 4, true) * TWO32 + this.dv.getUint32(at, true);
  }
  bytesReceived(r: number): number {
    const at = C.recordsOffset + r * C.recordSize + C.bytesReceived;
    return this.dv.getUint32(at + 4, true) * TWO32 + this.dv.getUint32(at, true);
  }
}

const U64_MAX = 0xffffffffffffffffn;
/** Past this, a counter is near saturation and adds take the native (CAS) path. */
const NEAR_SATURATION = 1n << 63n;
/** BigInts of small amounts, made once: an add then allocates nothing. */
const smallAmounts = new Array<bigint | undefined>(4096);
function amountBigInt(n: number): bigint {
  if (n < 4096) return (smallAmounts[n] ??= BigInt(n));
  return BigInt(n);
}

/** Shared by both sides: reads of a mapped region. */
class RegionHandle {
  protected readonly native: NativeRegion;
  /** Slot count, fixed for the life of the mapping. */
  readonly capacity: number;
  /** The OS object name. */
  readonly name: string;
  /** The cluster and server id in the header (validated at open, fixed for the mapping). */
  readonly cluster: string;
  readonly serverId: string;
  private readonly headerBuf = Buffer.alloc(layout.headerDataSize);
  private readonly recordBuf = Buffer.alloc(layout.slotRecordSize);
  private slotsBuf: Buffer | undefined;
  private compactSlots: CompactSlots | undefined;
  /** The mapping's slot array as u64 words, for Atomics on the counters; null: use the addon. */
  private counterWords: BigUint64Array | null | undefined;
  private slotWords = 0;
  private counterWord = 0;

  protected constructor(native: NativeRegion) {
    this.native = native;
    const i = native.info();
    this.capacity = i.capacity;
    this.name = i.name;
    this.cluster = i.cluster;
    this.serverId = i.serverId;
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

  /** The hot read path (one native call, cached strings); see CompactSlots. */
  compact(): CompactSlots {
    return (this.compactSlots ??= new CompactSlots(this.native, this.capacity));
  }

  /** True when the name now refers to a newer region (a new writer replaced it). */
  replaced(): boolean {
    return this.native.replaced();
  }

  /** Adds to a slot's byte counter; needs a writer or a `writable` reader. */
  addBytesSent(index: number, amount: number): void {
    this.addCounter(index, 0, amount);
  }

  addBytesReceived(index: number, amount: number): void {
    this.addCounter(index, 1, amount);
  }

  /**
   * The fast path: an Atomics.add on the mapped counter (the same 64-bit
   * atomic read-modify-write as the addon's), about 10x cheaper than a call
   * into the addon. Anything unusual takes the addon's path, which also
   * raises the errors: a read-only or closed region, a bad index or amount,
   * a runtime without external buffers, a counter near 2^64 (the addon's
   * compare-and-swap saturates at 2^64-1; see docs/BENCHMARKS.md for why
   * the two paths together keep counters exact and saturating).
   */
  private addCounter(index: number, which: 0 | 1, amount: number): void {
    const words = this.counterWords === undefined ? this.mapCounters() : this.counterWords;
    if (
      words !== null &&
      typeof index === 'number' &&
      index >= 0 &&
      index < this.capacity &&
      Math.floor(index) === index &&
      typeof amount === 'number' &&
      amount >= 0 &&
      amount <= Number.MAX_SAFE_INTEGER &&
      Math.floor(amount) === amount
    ) {
      const at = index * this.slotWords + this.counterWord + which;
      const a = amountBigInt(amount);
      const old = Atomics.add(words, at, a);
      if (old >= NEAR_SATURATION) this.nearSaturation(words, at, old, a);
      return;
    }
    this.native.addCounter(index, which, amount);
  }

  private mapCounters(): BigUint64Array | null {
    this.counterWords = null;
    // 64-bit Atomics are lock-free (hence process-shared) on these; elsewhere use the addon.
    if (process.arch !== 'x64' && process.arch !== 'arm64') return null;
    const native = this.native as FastNative;
    let view: ReturnType<FastNative['counters']>;
    try {
      view = typeof native.counters === 'function' ? native.counters() : null;
    } catch {
      view = null; // closed: the addon's path raises the error
    }
    if (!view) return null;
    this.slotWords = view.slotSize / 8;
    this.counterWord = view.counterOffset / 8;
    this.counterWords = new BigUint64Array(view.buffer);
    return this.counterWords;
  }

  /**
   * A counter reached 2^63: from now on this handle adds through the addon,
   * whose compare-and-swap saturates. If this very add wrapped past 2^64-1
   * (it takes a thousand processes each making its last fast add at once at
   * the limit), put the counter back at 2^64-1, where saturation keeps it.
   */
  private nearSaturation(words: BigUint64Array, at: number, old: bigint, a: bigint): void {
    this.counterWords = null;
    if (old + a <= U64_MAX) return;
    for (;;) {
      const cur = Atomics.load(words, at);
      if (cur === U64_MAX || Atomics.compareExchange(words, at, cur, U64_MAX) === cur) return;
    }
  }

  /** Unmaps the region. Idempotent; later calls throw ERR_REGION_CLOSED. */
  close(): void {
    this.counterWords = null;
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
