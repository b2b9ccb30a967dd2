// Region handles and their lifetimes: the single writer of a region (one per
// node) and read-only handles (any process). One JS object per mapping; the
// addon unmaps at close(), or in its finalizer when a handle is collected
// without one.
import { binding } from '../binding.js';
import { CommyError, ErrorCode } from '../errors.js';
import type { NativeRegion, WaitOutcome } from '../native.js';
import { encodeHeader, encodeSlot, type HeaderFields, type SlotFields, type SlotRecord } from './codec.js';
import { Counter, CounterAdder } from './counters.js';
import { RegionImage } from './image.js';
import { layout } from './layout.js';
import { addIndexEntry, removeIndexEntry } from './name-index.js';
import type { RegionKey } from './names.js';

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

type WriterState = WriterLiveness['state'];
/** Region states by their stored number, from the addon's layout.regionState. */
const stateNames: WriterState[] = [];
for (const [name, value] of Object.entries(layout.regionState)) stateNames[value] = name as WriterState;

/** The writer line of an image (read with the writer part) as WriterLiveness. */
export function writerLiveness(image: RegionImage): WriterLiveness {
  return {
    pid: image.writerPid,
    alive: image.writerAlive,
    heartbeatAgeMs: Math.max(0, image.nowMs - image.heartbeatMs),
    startedAtMs: image.writerStartMs,
    state: stateNames[image.writerState] ?? 'stopped',
  };
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
  /** The layout's minor version: 1 and up keep a status sequence (statusSeq). */
  readonly versionMinor: number;
  private summaryImage: RegionImage | undefined;
  private detailImage: RegionImage | undefined;
  private readonly counters: CounterAdder;

  protected constructor(native: NativeRegion) {
    this.native = native;
    const i = native.info();
    this.capacity = i.capacity;
    this.name = i.name;
    this.cluster = i.cluster;
    this.serverId = i.serverId;
    this.versionMinor = i.versionMinor;
    this.counters = new CounterAdder(native, this.capacity);
  }

  /** The hot read path: numbers and the strings a snapshot shows, strings cached per slot version. */
  summary(): RegionImage {
    return (this.summaryImage ??= new RegionImage(this.native, this.capacity, false));
  }

  /** Whole slots, for inspection and the writer's read-modify-write. */
  detail(): RegionImage {
    return (this.detailImage ??= new RegionImage(this.native, this.capacity, true));
  }

  info(): RegionInfo {
    const image = this.summary();
    image.readWriter();
    return {
      name: this.name,
      cluster: this.cluster,
      serverId: this.serverId,
      capacity: this.capacity,
      generation: image.generation,
      writer: writerLiveness(image),
    };
  }

  /** The header's change generation: it moves after every slot or header write. */
  generation(): number {
    return this.native.generation();
  }

  header(): HeaderFields {
    const image = this.summary();
    image.readWriter();
    return image.header();
  }

  /** Slot `index`, used or not, with every field. */
  readSlot(index: number): SlotRecord {
    const image = this.detail();
    image.readOne(index);
    return image.record(0);
  }

  /** Every used slot, each one consistent (seqlock), in slot order. */
  usedSlots(): SlotRecord[] {
    const image = this.detail();
    const n = image.readAll(false);
    const out = new Array<SlotRecord>(n);
    for (let r = 0; r < n; r++) out[r] = image.record(r);
    return out;
  }

  /** Moves after every status or membership transition (0 in a region of an older writer, which has none). */
  statusSeq(): number {
    return this.native.statusSeq();
  }

  /** Whether waitForStatusChange can block here (Linux inotify or futex, Windows semaphore); else poll. */
  canWait(): boolean {
    return this.native.canWait();
  }

  /**
   * Resolves once the status sequence is no longer `expected` ("changed"),
   * after `timeoutMs` ("timeout"; undefined: never), at once where waiting is
   * not possible ("unsupported"), or when the handle is closed ("closed").
   * Given `writerAlive`, the wait also ends when the writer's liveness
   * differs ("writer") or, the writer dead, a new region took the name
   * ("replaced"). On Linux the event loop itself waits, woken by the kernel
   * (inotify) when the writer announces a change, stops, dies or is replaced;
   * elsewhere, or past the account's inotify limit, a dedicated native thread
   * waits and probes the writer once a second. One wait at a time per handle;
   * cancelWait() ends it with "cancelled".
   */
  waitForStatusChange(expected: number, timeoutMs?: number, writerAlive?: boolean): Promise<WaitOutcome> {
    return this.native.waitForChange(expected, timeoutMs ?? -1, writerAlive);
  }

  /** Ends a pending waitForStatusChange now, with "cancelled". */
  cancelWait(): void {
    this.native.cancelWait();
  }

  /** True when the name now refers to a newer region (a new writer replaced it). */
  replaced(): boolean {
    return this.native.replaced();
  }

  /** Adds to a slot's byte counter; needs a writer or a `writable` reader. */
  addBytesSent(index: number, amount: number): void {
    this.counters.add(index, Counter.bytesSent, amount);
  }

  addBytesReceived(index: number, amount: number): void {
    this.counters.add(index, Counter.bytesReceived, amount);
  }

  /** Unmaps the region. Idempotent; later reads throw ERR_REGION_CLOSED. */
  close(): void {
    this.counters.release();
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

  /**
   * Creates (or takes over) the region. `readers` grants read-only access to
   * one more principal: a group on POSIX (mode 0640, owned by that group), an
   * account or group on Windows (a read-only ACE). Otherwise owner-only.
   */
  static create(opts: RegionKey & { capacity: number; readers?: string }): RegionWriter {
    const native = binding.create({
      cluster: opts.cluster,
      serverId: opts.serverId,
      capacity: opts.capacity,
      global: opts.global === true,
      ...(opts.readers ? { readers: opts.readers } : {}),
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

  /** `statusChange`: this write changes the slot's peer or its status (wakes the readers waiting for one). */
  writeSlot(index: number, fields: SlotFields, statusChange = false): void {
    this.native.writeSlot(index, encodeSlot(fields, this.slotBuf), statusChange);
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

  /**
   * Publishes "stopped" (a clean stop), then closes. With `unlink`, the name
   * is removed first, while this writer still holds the lock (after it is
   * released another writer may own the name). Idempotent; on a writer closed
   * already, `unlink` removes whatever region is under the name.
   */
  stop(opts: { unlink?: boolean } = {}): void {
    let open = true;
    try {
      this.native.setState(layout.regionState.stopped);
    } catch (err) {
      if (!(err instanceof CommyError) || err.code !== ErrorCode.RegionClosed) throw err;
      open = false;
    }
    if (opts.unlink) {
      if (open) this.native.unlinkName();
      else binding.unlink(this.name);
      removeIndexEntry(this.name);
    }
    this.close();
  }
}

export interface ReaderOptions {
  /** The account whose region this is (user name or uid); default: this process's. */
  owner?: string;
}

/** A read-only view of a region, from any process. */
export class RegionReader extends RegionHandle {
  private constructor(native: NativeRegion) {
    super(native);
  }

  /**
   * Opens an existing region; `writable` only allows adding to counters.
   * `owner` (a user name or uid; an account on Windows) is the account that
   * must own it, by default this process's: any other is ERR_REGION_UNTRUSTED.
   */
  static open(opts: RegionKey & ReaderOptions & { writable?: boolean }): RegionReader {
    return new RegionReader(
      binding.open({
        cluster: opts.cluster,
        serverId: opts.serverId,
        global: opts.global === true,
        writable: opts.writable === true,
        ...(opts.owner ? { owner: opts.owner } : {}),
      }),
    );
  }

  /** Opens by OS object name, as listed by listRegionNames(). */
  static openByName(name: string, opts: ReaderOptions = {}): RegionReader {
    return new RegionReader(opts.owner ? binding.openByName(name, opts.owner) : binding.openByName(name));
  }
}
