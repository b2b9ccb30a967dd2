// The one decoder of the addon's read image (image:: and record:: in
// native/layout.h). A single native call copies a consistent image: the
// writer line and header data, then one record per slot. Every reader is
// built on this class: ClusterView's snapshot/getPeer/status/inspect and the
// registry's read-back of its own slots.
import type { NativeRegion } from '../native.js';
import { fieldLength, readString, readU64, type HeaderFields, type SlotRecord } from './codec.js';
import { H, I, R, S, SlotState } from './layout.js';

/**
 * Summary images copy, per slot, the numbers and the strings a snapshot
 * shows (serverId, address); detail images copy the whole slot. The two
 * strings are decoded once per slot version, (slot index, seq) where seq is
 * the slot's seqlock sequence (it moves on every write of the slot), and
 * reused until the slot is written again: a summary read then has the addon
 * skip copying them. Numbers are read afresh on every call. Record accessors
 * take a record number 0..count-1 of the last read.
 */
export class RegionImage {
  /** Records in the last read. */
  count = 0;
  readonly detail: boolean;
  private readonly native: NativeRegion;
  private readonly buf: Buffer;
  private readonly dv: DataView;
  private readonly f64: Float64Array;
  private readonly stride: number;
  private readonly slotParts: number;
  // Per slot index: the seq (low, high) whose strings are cached; an odd low
  // word means none. Passed to the addon for summary reads only.
  private readonly known: Uint32Array;
  private readonly ids: string[];
  private readonly addresses: string[];
  private readonly listenCache = { bytes: Buffer.alloc(0), text: '' };
  private readonly advertiseCache = { bytes: Buffer.alloc(0), text: '' };

  /** @internal Made by a region handle's summary() and detail(). */
  constructor(native: NativeRegion, capacity: number, detail: boolean) {
    this.native = native;
    this.detail = detail;
    this.stride = detail ? R.detailSize : R.summarySize;
    this.slotParts = detail ? I.partDetail : I.partSlots;
    const ab = new ArrayBuffer(I.records + capacity * this.stride);
    this.buf = Buffer.from(ab);
    this.dv = new DataView(ab);
    this.f64 = new Float64Array(ab, 0, I.writerBytes / 8);
    this.known = new Uint32Array(2 * capacity).fill(1);
    this.ids = new Array<string>(capacity).fill('');
    this.addresses = new Array<string>(capacity).fill('');
  }

  /** Every used slot, in slot order; with the writer line and header data when `withWriter`. */
  readAll(withWriter: boolean): number {
    const parts = withWriter ? this.slotParts | I.partWriter : this.slotParts;
    this.count = this.native.read(this.buf, parts, -1, this.detail ? undefined : this.known);
    return this.count;
  }

  /** Slot `index` alone (used or not) as record 0; true when it is used. */
  readOne(index: number): boolean {
    this.count = this.native.read(this.buf, this.slotParts, index, this.detail ? undefined : this.known);
    return this.count === 1 && this.state(0) === SlotState.used;
  }

  /** The writer line and header data alone; records keep the last read. */
  readWriter(): void {
    this.native.read(this.buf, I.partWriter, -1);
  }

  // ---- the writer line and header (after a read with the writer part) ----
  get writerPid(): number {
    return this.f64[I.writerPid / 8];
  }
  get writerState(): number {
    return this.f64[I.writerState / 8];
  }
  get writerStartMs(): number {
    return this.f64[I.writerStartMs / 8];
  }
  get heartbeatMs(): number {
    return this.f64[I.heartbeatMs / 8];
  }
  get generation(): number {
    return this.f64[I.generation / 8];
  }
  get writerAlive(): boolean {
    return this.f64[I.writerAlive / 8] === 1;
  }
  /** The reader's wall clock at the read, from the same clock as the heartbeat. */
  get nowMs(): number {
    return this.f64[I.nowMs / 8];
  }
  /** The header's listen address (decoded again only when its bytes change). */
  get listen(): string {
    return this.headerString(this.listenCache, H.listen, H.listenBytes);
  }
  /** The address the node advertises ("" from a writer that predates the field). */
  get advertise(): string {
    return this.headerString(this.advertiseCache, H.advertise, H.advertiseBytes);
  }
  /** A header string field, decoded again only when its bytes change. */
  private headerString(cache: { bytes: Buffer; text: string }, offset: number, bytes: number): string {
    const at = I.headerData + offset;
    const n = fieldLength(this.buf, at, bytes);
    const cached = cache.bytes;
    let same = cached.length === n;
    for (let i = 0; same && i < n; i++) same = cached[i] === this.buf[at + i];
    if (!same) {
      cache.bytes = Buffer.from(this.buf.subarray(at, at + n));
      cache.text = this.buf.toString('utf8', at, at + n);
    }
    return cache.text;
  }
  headerU32(offset: number): number {
    return this.dv.getUint32(I.headerData + offset, true);
  }
  /** Every header field, decoded. */
  header(): HeaderFields {
    const at = I.headerData;
    const rejected: number[] = [];
    for (let i = 0; i < H.rejectedReasons; i++) rejected.push(readU64(this.dv, at + H.rejectedFrames + 8 * i));
    return {
      listen: this.listen,
      heartbeatIntervalMs: this.dv.getUint32(at + H.heartbeatIntervalMs, true),
      heartbeatTimeoutMs: this.dv.getUint32(at + H.heartbeatTimeoutMs, true),
      suspectAfter: this.dv.getUint32(at + H.suspectAfter, true),
      downAfter: this.dv.getUint32(at + H.downAfter, true),
      eventLoopLagMs: this.dv.getFloat64(at + H.eventLoopLagMs, true),
      maxEventLoopLagMs: this.dv.getFloat64(at + H.maxEventLoopLagMs, true),
      rejectedFrames: rejected,
      discoveryProviders: this.dv.getUint32(at + H.discoveryProviders, true),
      discoveryUp: this.dv.getUint32(at + H.discoveryUp, true),
      discoveryMembers: this.dv.getUint32(at + H.discoveryMembers, true),
      discoveryRefreshMs: this.dv.getFloat64(at + H.discoveryRefreshMs, true),
      discoveryError: readString(this.buf, at + H.discoveryError, H.discoveryErrorBytes),
      advertise: this.advertise,
      detectorKind: this.dv.getUint32(at + H.detectorKind, true),
      phiWindowSize: this.dv.getUint32(at + H.phiWindowSize, true),
      phiThreshold: this.dv.getFloat64(at + H.phiThreshold, true),
      phiDownThreshold: this.dv.getFloat64(at + H.phiDownThreshold, true),
      phiMinStdDevMs: this.dv.getFloat64(at + H.phiMinStdDevMs, true),
      phiAcceptablePauseMs: this.dv.getFloat64(at + H.phiAcceptablePauseMs, true),
    };
  }
  /** A header f64 field (after a read with the writer part). */
  headerF64(offset: number): number {
    return this.dv.getFloat64(I.headerData + offset, true);
  }

  // ---- records ----
  private at(r: number): number {
    return I.records + r * this.stride;
  }
  private data(r: number, field: number): number {
    return I.records + r * this.stride + R.data + field;
  }
  /** A field past the summary exists in detail images only. */
  private detailData(r: number, field: number): number {
    if (!this.detail) throw new Error(`field at slot offset ${field} is in detail images only`);
    return this.data(r, field);
  }

  /**
   * Makes the strings of record r current in the cache and returns its slot
   * index. When the record's seq is the one the cache holds, the cached
   * strings are this very version's (a summary read then copied only the
   * numbers); otherwise the record holds the strings, and they are decoded
   * and cached under its seq (odd when the copy had none: never reused).
   */
  strings(r: number): number {
    const dv = this.dv;
    const at = this.at(r);
    const index = dv.getUint32(at + R.index, true);
    const lo = dv.getUint32(at + R.seq, true);
    const hi = dv.getUint32(at + R.seq + 4, true);
    if ((lo & 1) === 0 && this.known[2 * index] === lo && this.known[2 * index + 1] === hi) return index;
    const d = at + R.data;
    const b = this.buf;
    this.ids[index] = b.toString(
      'utf8',
      d + S.serverId,
      d + S.serverId + fieldLength(b, d + S.serverId, S.serverIdBytes),
    );
    this.addresses[index] = b.toString(
      'utf8',
      d + S.address,
      d + S.address + fieldLength(b, d + S.address, S.addressBytes),
    );
    this.known[2 * index] = lo;
    this.known[2 * index + 1] = hi;
    return index;
  }

  slotIndex(r: number): number {
    return this.dv.getUint32(this.at(r) + R.index, true);
  }
  state(r: number): number {
    return this.dv.getUint32(this.data(r, S.state), true);
  }
  status(r: number): number {
    return this.dv.getUint32(this.data(r, S.status), true);
  }
  slotGeneration(r: number): number {
    return readU64(this.dv, this.data(r, S.generation));
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
  attemptCount(r: number): number {
    return this.dv.getUint32(this.data(r, S.attemptCount), true);
  }
  rttMicros(r: number): number {
    return this.dv.getUint32(this.data(r, S.rttMicros), true);
  }
  nextRetryMs(r: number): number {
    return this.dv.getFloat64(this.data(r, S.nextRetryMs), true);
  }
  statusChangedMs(r: number): number {
    return this.dv.getFloat64(this.data(r, S.statusChangedMs), true);
  }
  statusReason(r: number): string {
    return readString(this.buf, this.data(r, S.statusReason), S.statusReasonBytes);
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
  lastError(r: number): string {
    return readString(this.buf, this.detailData(r, S.lastError), S.lastErrorBytes);
  }
  /** A copy of the metadata bytes; the length comes from shared memory, so it is clamped. */
  metadata(r: number): Buffer {
    const len = Math.min(this.dv.getUint32(this.detailData(r, S.metadataLength), true), S.metadataBytes);
    const from = this.data(r, S.metadata);
    return Buffer.from(this.buf.subarray(from, from + len));
  }
  /** φ detector statistics of the peer's window (detail images). */
  phiMeanMs(r: number): number {
    return this.dv.getFloat64(this.detailData(r, S.phiMeanMs), true);
  }
  phiStdDevMs(r: number): number {
    return this.dv.getFloat64(this.detailData(r, S.phiStdDevMs), true);
  }
  phiSamples(r: number): number {
    return this.dv.getUint32(this.detailData(r, S.phiSamples), true);
  }
  bytesSent(r: number): number {
    return readU64(this.dv, this.at(r) + R.bytesSent);
  }
  bytesReceived(r: number): number {
    return readU64(this.dv, this.at(r) + R.bytesReceived);
  }

  /** The counters exactly, as BigInts (the Number accessors round above 2^53). */
  exactCounters(r: number): { bytesSent: bigint; bytesReceived: bigint } {
    return {
      bytesSent: this.dv.getBigUint64(this.at(r) + R.bytesSent, true),
      bytesReceived: this.dv.getBigUint64(this.at(r) + R.bytesReceived, true),
    };
  }

  /** Record r with every field (detail images). */
  record(r: number): SlotRecord {
    const slot = this.strings(r);
    return {
      index: slot,
      state: this.state(r),
      status: this.status(r),
      generation: this.slotGeneration(r),
      missedHeartbeats: this.missedHeartbeats(r),
      connectionState: this.connectionState(r),
      lastSeenMs: this.lastSeenMs(r),
      attemptCount: this.attemptCount(r),
      rttMicros: this.rttMicros(r),
      nextRetryMs: this.nextRetryMs(r),
      statusChangedMs: this.statusChangedMs(r),
      statusReason: this.statusReason(r),
      serverId: this.ids[slot],
      address: this.addresses[slot],
      lastError: this.lastError(r),
      metadata: this.metadata(r),
      phiMeanMs: this.phiMeanMs(r),
      phiStdDevMs: this.phiStdDevMs(r),
      phiSamples: this.phiSamples(r),
      bytesSent: this.bytesSent(r),
      bytesReceived: this.bytesReceived(r),
    };
  }
}
