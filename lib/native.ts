// Private types of the raw addon (native/addon.cc). Public code goes through
// lib/region.ts; nothing outside lib/ should import this shape.

export interface NativeLayout {
  versionMajor: number;
  versionMinor: number;
  maxCapacity: number;
  nameBytes: number;
  headerDataSize: number;
  slotDataSize: number;
  slotRecordSize: number;
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
  header: {
    listen: number;
    listenBytes: number;
    heartbeatIntervalMs: number;
    heartbeatTimeoutMs: number;
    suspectAfter: number;
    downAfter: number;
    eventLoopLagMs: number;
    maxEventLoopLagMs: number;
    rejectedFrames: number;
    rejectedReasons: number;
  };
  slot: {
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
    statusReason: number;
    statusReasonBytes: number;
    serverId: number;
    address: number;
    addressBytes: number;
    lastError: number;
    lastErrorBytes: number;
    metadataLength: number;
    metadata: number;
    metadataBytes: number;
    bytesSent: number;
    bytesReceived: number;
  };
  regionState: { initializing: number; running: number; stopped: number };
}

export interface NativeInfo {
  name: string;
  cluster: string;
  serverId: string;
  capacity: number;
  versionMinor: number;
  isWriter: boolean;
  writerPid: number;
  state: number;
  writerStartMs: number;
  heartbeatMs: number;
  generation: number;
  alive: boolean;
  nowMs: number;
}

export interface NativeRegion {
  readonly tookOver?: boolean;
  close(): void;
  info(): NativeInfo;
  readHeaderData(out: Buffer): void;
  writeHeaderData(data: Buffer): void;
  readSlot(index: number, out: Buffer): void;
  writeSlot(index: number, data: Buffer): void;
  readUsedSlots(out: Buffer): number;
  addCounter(index: number, counter: 0 | 1, amount: number): void;
  resetCounters(index: number): void;
  touch(): void;
  setState(state: number): void;
  generation(): number;
  replaced(): boolean;
}

export interface NativeBinding {
  layout: NativeLayout;
  platform: 'posix' | 'win32';
  create(opts: { cluster: string; serverId: string; capacity: number; global?: boolean }): NativeRegion;
  open(opts: { cluster: string; serverId: string; global?: boolean; writable?: boolean }): NativeRegion;
  openByName(name: string): NativeRegion;
  objectName(cluster: string, serverId: string, global?: boolean): string;
  listNames(): string[] | null;
  unlink(name: string): boolean;
}
