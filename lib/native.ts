// Private types of the raw addon (native/addon.cc): its complete surface, so
// nothing needs a cast. Public code goes through lib/region/; nothing outside
// lib/ should import this shape.
import type { ErrorCode } from './errors.js';

/** Each field of a native/layout.h field table: its offset as `name` and its size as `nameBytes`. */
type FieldTable<Names extends string> = { [K in Names]: number } & { [K in `${Names}Bytes`]: number };

export type HeaderDataField =
  | 'listen'
  | 'heartbeatIntervalMs'
  | 'heartbeatTimeoutMs'
  | 'suspectAfter'
  | 'downAfter'
  | 'eventLoopLagMs'
  | 'maxEventLoopLagMs'
  | 'rejectedFrames'
  | 'discoveryProviders'
  | 'discoveryUp'
  | 'discoveryMembers'
  | 'discoveryRefreshMs'
  | 'discoveryError'
  | 'advertise'
  | 'detectorKind'
  | 'phiWindowSize'
  | 'phiThreshold'
  | 'phiDownThreshold'
  | 'phiMinStdDevMs'
  | 'phiAcceptablePauseMs';

export type SlotDataField =
  | 'state'
  | 'status'
  | 'generation'
  | 'missedHeartbeats'
  | 'connectionState'
  | 'lastSeenMs'
  | 'attemptCount'
  | 'rttMicros'
  | 'nextRetryMs'
  | 'statusChangedMs'
  | 'statusReason'
  | 'serverId'
  | 'address'
  | 'lastError'
  | 'metadataLength'
  | 'metadata'
  | 'phiMeanMs'
  | 'phiStdDevMs'
  | 'phiSamples';

/**
 * How a native change wait ended: the status sequence moved ("changed"), the timeout passed, the
 * writer's liveness differs from the one given ("writer"), the writer is dead and the name now holds
 * another region ("replaced"), this OS cannot wait ("unsupported": poll), or the handle closed.
 */
export type WaitOutcome = 'changed' | 'timeout' | 'writer' | 'replaced' | 'unsupported' | 'cancelled' | 'closed';

export interface NativeLayout {
  versionMajor: number;
  versionMinor: number;
  maxCapacity: number;
  nameBytes: number;
  headerDataSize: number;
  slotDataSize: number;
  headerSize: number;
  slotSize: number;
  fixed: {
    magic: number;
    byteOrder: number;
    versionMajor: number;
    versionMinor: number;
    headerSize: number;
    slotSize: number;
    capacity: number;
    totalSize: number;
    cluster: number;
    serverId: number;
    magicValue: bigint;
    byteOrderMark: number;
  };
  header: FieldTable<HeaderDataField> & { rejectedReasons: number; end: number };
  slot: FieldTable<SlotDataField> & {
    numbersEnd: number;
    summaryEnd: number;
    end: number;
    rttUnknown: number;
    stateFree: number;
    stateUsed: number;
    /** From the start of a slot (the field offsets are from its data): the seqlock word, the data, the counters. */
    seq: number;
    data: number;
    counters: number;
    counterCount: number;
  };
  image: {
    partWriter: number;
    partSlots: number;
    partDetail: number;
    writerPid: number;
    writerState: number;
    writerStartMs: number;
    heartbeatMs: number;
    generation: number;
    writerAlive: number;
    nowMs: number;
    writerBytes: number;
    headerData: number;
    records: number;
  };
  record: {
    seq: number;
    index: number;
    bytesSent: number;
    bytesReceived: number;
    data: number;
    summarySize: number;
    detailSize: number;
  };
  regionState: { initializing: number; running: number; stopped: number };
}

/** The facts fixed for the life of a mapping. */
export interface NativeInfo {
  name: string;
  cluster: string;
  serverId: string;
  capacity: number;
  versionMinor: number;
  isWriter: boolean;
}

export interface NativeRegion {
  readonly tookOver?: boolean;
  close(): void;
  info(): NativeInfo;
  /** Copies a consistent image (layout.image, layout.record); returns the record count. */
  read(out: Buffer, parts: number, slot: number, known?: Uint32Array): number;
  writeHeaderData(data: Buffer): void;
  /** `statusChange`: the write changes the slot's peer or status; the status sequence moves and waiters wake. */
  writeSlot(index: number, data: Buffer, statusChange?: boolean): void;
  /** The header's status sequence (0 in a minor-0 region). */
  statusSeq(): number;
  /** False where the OS or the region cannot block on the status sequence: poll instead. */
  canWait(): boolean;
  /** Waits (the event loop, or a native thread) until the status sequence is no longer `expected`; one at a time per region. */
  waitForChange(expected: number, timeoutMs: number, writerAlive?: boolean): Promise<WaitOutcome>;
  /** Resolves a pending waitForChange with "cancelled" now. */
  cancelWait(): void;
  addCounter(index: number, counter: number, amount: number): void;
  resetCounters(index: number): void;
  touch(): void;
  setState(state: number): void;
  /** Writer only: removes the region's name while still holding the lock. */
  unlinkName(): void;
  generation(): number;
  replaced(): boolean;
  /** The slot array of a writable mapping as an external buffer, or null. */
  counters(): { buffer: ArrayBuffer; slotSize: number; counterOffset: number } | null;
}

export interface NativeBinding {
  layout: NativeLayout;
  platform: 'posix' | 'win32';
  /** Every code the addon can throw. */
  errorCodes: string[];
  /** From then on the addon throws `new errorClass(code, message)`. */
  setErrorClass(errorClass: new (code: ErrorCode, message: string) => Error): void;
  /** `readers`: a group (POSIX) or account (Windows) granted read-only access. */
  create(opts: {
    cluster: string;
    serverId: string;
    capacity: number;
    global?: boolean;
    readers?: string;
  }): NativeRegion;
  /** `owner`: the account that must own the region (default: this process's). */
  open(opts: { cluster: string; serverId: string; global?: boolean; writable?: boolean; owner?: string }): NativeRegion;
  openByName(name: string, owner?: string): NativeRegion;
  objectName(cluster: string, serverId: string, global?: boolean): string;
  listNames(): string[] | null;
  unlink(name: string): boolean;
  /** Removes the name of a region of this account whose writer is dead, holding its lock meanwhile. */
  removeIfDead(name: string): 'removed' | 'alive' | 'gone';
}
