// Every error code commy can raise, native addon included, with the CLI exit
// code and a one-line meaning for each; the error classes carry these codes.

/** Exit codes of the commy CLI. */
export const ExitCode = {
  Ok: 0,
  Runtime: 1,
  Usage: 2,
  NoRegion: 3,
  WriterDead: 4,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export interface ErrorCodeInfo {
  readonly code: string;
  /** What the CLI exits with when this error ends a command. */
  readonly exitCode: ExitCode;
  /** What it means and what to do, as the README's "Error codes" table says. */
  readonly meaning: string;
}

const R = ExitCode.Runtime;

/** The one table of error codes; README's "Error codes" section lists the same rows (a test checks). */
export const errorCodes = {
  // Caller and configuration mistakes.
  InvalidArg: {
    code: 'ERR_INVALID_ARG',
    exitCode: ExitCode.Usage,
    meaning: 'an argument or flag is malformed or out of range; the message names it',
  },
  Config: {
    code: 'ERR_CONFIG',
    exitCode: ExitCode.Usage,
    meaning: 'a config field is invalid; `err.field` and the message name it',
  },
  Listen: {
    code: 'ERR_LISTEN',
    exitCode: R,
    meaning: 'cannot listen on `listen` or `metricsListen` (in use or not permitted): pick another address',
  },
  AlreadyInitialized: {
    code: 'ERR_ALREADY_INITIALIZED',
    exitCode: R,
    meaning: 'PeerRegistry.initialize() was called twice',
  },
  NotInitialized: {
    code: 'ERR_NOT_INITIALIZED',
    exitCode: R,
    meaning: 'a PeerRegistry was used before initialize()',
  },
  UnknownPeer: {
    code: 'ERR_UNKNOWN_PEER',
    exitCode: R,
    meaning:
      'a peer id that is not registered, or, with allowDynamicJoin false, a handshake from a serverId no member knows: add it to `peers`',
  },
  DuplicatePeer: {
    code: 'ERR_DUPLICATE_PEER',
    exitCode: R,
    meaning: 'the peer is already registered',
  },
  RegionFull: {
    code: 'ERR_REGION_FULL',
    exitCode: R,
    meaning: 'every slot of the region holds a peer: raise `capacity`',
  },
  MetadataTooLarge: {
    code: 'ERR_METADATA_TOO_LARGE',
    exitCode: R,
    meaning: 'node metadata is larger than a slot holds (512 bytes as JSON): send less',
  },
  AddonNotFound: {
    code: 'ERR_COMMY_ADDON_NOT_FOUND',
    exitCode: R,
    meaning:
      'no native addon fits this platform and Node: `npm rebuild commy` builds one (the message lists what was tried)',
  },
  // Protocol: sent to or received from a peer, counted in the rejected-frames counters.
  Auth: {
    code: 'ERR_AUTH',
    exitCode: R,
    meaning: 'a frame or handshake failed authentication: every node needs one shared key (check the secret)',
  },
  BadFrame: {
    code: 'ERR_BAD_FRAME',
    exitCode: R,
    meaning: 'a peer sent bytes that are not a commy frame (wrong port or not a commy node)',
  },
  FrameTooLarge: {
    code: 'ERR_FRAME_TOO_LARGE',
    exitCode: R,
    meaning:
      'a peer announced a frame over `maxFrameBytes` (over `maxHandshakeFrameBytes`, 4 KiB, before the handshake)',
  },
  BadMessage: {
    code: 'ERR_BAD_MESSAGE',
    exitCode: R,
    meaning: 'a peer sent a valid frame holding a malformed message, or one out of protocol order',
  },
  Version: {
    code: 'ERR_VERSION',
    exitCode: R,
    meaning: 'a peer speaks another protocol major version: run compatible commy versions',
  },
  WrongCluster: {
    code: 'ERR_WRONG_CLUSTER',
    exitCode: R,
    meaning: 'a peer belongs to another cluster: check `cluster` and the peer addresses',
  },
  DuplicateId: {
    code: 'ERR_DUPLICATE_ID',
    exitCode: R,
    meaning: "a peer uses this node's own serverId: give every node its own",
  },
  Stopping: {
    code: 'ERR_STOPPING',
    exitCode: R,
    meaning: 'the node is stopping and admits no new peer; the peer retries elsewhere or later',
  },
  HandshakeTimeout: {
    code: 'ERR_HANDSHAKE_TIMEOUT',
    exitCode: R,
    meaning: 'a handshake did not finish within `handshakeTimeoutMs`',
  },
  IdleTimeout: {
    code: 'ERR_IDLE_TIMEOUT',
    exitCode: R,
    meaning: 'no complete frame from a peer within `idleTimeoutMs`: the connection is closed and redialed',
  },
  TooManyHandshakes: {
    code: 'ERR_TOO_MANY_HANDSHAKES',
    exitCode: R,
    meaning:
      'a socket was closed as it was accepted: `maxHandshakingConnections` or `maxHandshakingPerAddress` handshakes were in progress (counted as `other`)',
  },
  TooManyDynamicPeers: {
    code: 'ERR_TOO_MANY_DYNAMIC_PEERS',
    exitCode: R,
    meaning:
      'a member was refused: `maxDynamicPeers` members not in the config are tracked; down ones are reaped after `reapAfterMs`',
  },
  Internal: {
    code: 'ERR_INTERNAL',
    exitCode: R,
    meaning: 'a bug in commy while handling a frame: please report it with the message',
  },
  // The shared-memory region (raised by the native addon).
  RegionNotFound: {
    code: 'ERR_REGION_NOT_FOUND',
    exitCode: ExitCode.NoRegion,
    meaning: 'no region for this cluster and serverId on this host: is its agent running? `commy ls` lists them',
  },
  RegionNotReady: {
    code: 'ERR_REGION_NOT_READY',
    exitCode: R,
    meaning: 'the region exists but its writer is still creating it: retry shortly',
  },
  RegionBadMagic: {
    code: 'ERR_REGION_BAD_MAGIC',
    exitCode: R,
    meaning: 'the named shared-memory object is not a commy region',
  },
  RegionBadByteOrder: {
    code: 'ERR_REGION_BAD_BYTE_ORDER',
    exitCode: R,
    meaning: 'the region was written with another byte order',
  },
  RegionBadVersion: {
    code: 'ERR_REGION_BAD_VERSION',
    exitCode: R,
    meaning: 'the region layout comes from an incompatible commy version: use the same major version as the writer',
  },
  RegionBadLayout: {
    code: 'ERR_REGION_BAD_LAYOUT',
    exitCode: R,
    meaning: 'the region header is inconsistent (truncated or corrupt): stop its writer and remove the region',
  },
  RegionMismatch: {
    code: 'ERR_REGION_MISMATCH',
    exitCode: R,
    meaning: 'the region under this name holds another cluster or serverId',
  },
  RegionWriterAlive: {
    code: 'ERR_REGION_WRITER_ALIVE',
    exitCode: R,
    meaning: 'another live process already writes this region: one agent per cluster and serverId',
  },
  RegionUntrusted: {
    code: 'ERR_REGION_UNTRUSTED',
    exitCode: R,
    meaning:
      'the region is not owned by the expected account (yours, or the `owner` you named), is writable by others, or is not a regular shared-memory object (a FIFO, a link): it is refused; the message names its owner',
  },
  RegionAccessDenied: {
    code: 'ERR_REGION_ACCESS_DENIED',
    exitCode: R,
    meaning:
      'the OS denied access to the region: it was not granted to you; the agent grants a group with `readers`, and you name the owner with `--owner`',
  },
  RegionPrivilege: {
    code: 'ERR_REGION_PRIVILEGE',
    exitCode: R,
    meaning: 'Windows: a `Global\\` region needs SeCreateGlobalPrivilege (services and administrators hold it)',
  },
  RegionClosed: {
    code: 'ERR_REGION_CLOSED',
    exitCode: R,
    meaning: 'a region handle was used after close(): open it again',
  },
  RegionReadOnly: {
    code: 'ERR_REGION_READ_ONLY',
    exitCode: R,
    meaning: 'a write through a read-only region handle; only the writer changes a region',
  },
  RegionReadContended: {
    code: 'ERR_REGION_READ_CONTENDED',
    exitCode: R,
    meaning: 'a read found a write in progress for too long (the writer died mid-write or stalls): retry',
  },
  RegionExists: {
    code: 'ERR_REGION_EXISTS',
    exitCode: R,
    meaning: 'the region name is already taken',
  },
  RegionNoSpace: {
    code: 'ERR_REGION_NO_SPACE',
    exitCode: R,
    meaning:
      'the shared-memory filesystem has no room for the region (the message gives the bytes needed and free): enlarge /dev/shm (`docker run --shm-size`), remove stale regions, or lower `capacity`',
  },
  RegionOs: {
    code: 'ERR_REGION_OS',
    exitCode: R,
    meaning: 'the OS refused a region operation; the message gives its error',
  },
} as const satisfies Record<string, ErrorCodeInfo>;

/** The shape of the error-code table. */
export type ErrorCodeTable = typeof errorCodes;
/** Error codes by name: `ErrorCode.RegionNotFound === 'ERR_REGION_NOT_FOUND'`. */
export const ErrorCode = Object.fromEntries(Object.entries(errorCodes).map(([k, v]) => [k, v.code])) as {
  readonly [K in keyof ErrorCodeTable]: ErrorCodeTable[K]['code'];
};
export type ErrorCode = ErrorCodeTable[keyof ErrorCodeTable]['code'];

const byCode = new Map<string, ErrorCodeInfo>(Object.values(errorCodes).map((e) => [e.code, e]));

/** The table row of a code, or undefined for a code commy does not define. */
export function errorCodeInfo(code: string): ErrorCodeInfo | undefined {
  return byCode.get(code);
}

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && byCode.has(code);
}

export class CommyError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string) {
    super(message);
    this.name = 'CommyError';
    this.code = code;
  }
}

/** A bad configuration value. `field` is the path of the offending field. */
export class ConfigError extends CommyError {
  readonly field: string;
  constructor(field: string, message: string) {
    super(ErrorCode.Config, `config field "${field}": ${message}`);
    this.name = 'ConfigError';
    this.field = field;
  }
}

export function invalidArg(message: string): CommyError {
  return new CommyError(ErrorCode.InvalidArg, message);
}
