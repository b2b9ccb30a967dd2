// PeerConfig: the node's configuration, parsed from the JSON file described in
// the README ("Configuration"). User input is validated here, once, with errors naming the field.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { defaults } from '../defaults.js';
import { ConfigError } from '../errors.js';
import { maxIdLength } from '../region/layout.js';
import { parseDiscovery, type DiscoveryConfig } from './discovery-config.js';
import { phiDefaults, type PhiDetectorSettings } from '../detector.js';

export interface StaticPeer {
  /** Undefined for a plain "host:port" peer until the handshake tells its id. */
  serverId?: string;
  address: string;
}

export interface PeerConfig {
  cluster: string;
  serverId: string;
  listenAddress: string;
  /**
   * "host:port" peers should dial, announced in the handshake. Unset: the
   * listen address, or for a wildcard listen the host's first non-loopback
   * address (lib/discovery/advertise.ts).
   */
  advertiseAddress?: string;
  /** Seeds: any subset of the cluster; the member-list exchange finds the rest. */
  staticPeers: StaticPeer[];
  /**
   * A member not named in `peers` that stays down, with no connection and unheard, this long is removed
   * and its slot freed (default 60000).
   */
  reapAfterMs?: number;
  /** Membership sources beyond the seeds (DNS, etcd); none by default. */
  discovery?: DiscoveryConfig[];
  heartbeatIntervalMs: number;
  heartbeatTimeoutMs: number;
  suspectAfter: number;
  downAfter: number;
  /**
   * The φ accrual failure detector's settings, all resolved; unset (the default, and `{ kind: "fixed" }`):
   * the fixed rule, Suspected after suspectAfter and Down after downAfter missed heartbeats.
   */
  detector?: PhiDetectorSettings;
  /** Region slots; bounds how many peers can be tracked. */
  capacity: number;
  /** Windows: create the region in Global\ instead of Local\. */
  global: boolean;
  /**
   * Who else may read the region. POSIX: a group (name or gid): the region is
   * mode 0640, owned by that group. Windows: an account or group given
   * read-only access. Unset: owner only.
   */
  readers?: string;
  secretFile?: string;
  secret?: string;
  metricsListen?: string;
  /**
   * Admit peers of protocol 2.0 and 2.1 (commy before frame encryption): their frames are
   * authenticated but readable on the wire. Default false: they are refused. For a rolling upgrade.
   */
  allowUnencryptedPeers?: boolean;
}

const knownFields = [
  'cluster',
  'serverId',
  'listen',
  'advertise',
  'peers',
  'reapAfterMs',
  'discovery',
  'secretFile',
  'secret',
  'heartbeatIntervalMs',
  'heartbeatTimeoutMs',
  'suspectAfter',
  'downAfter',
  'detector',
  'metricsListen',
  'capacity',
  'global',
  'allowUnencryptedPeers',
  'readers',
] as const;

const idPattern = /^[A-Za-z0-9._-]+$/;

/** Plausible as a user, group or account name (or number): 1-256 characters, none of them a control character. */
export function isAccountName(value: unknown): value is string {
  return (
    typeof value === 'string' &&
    value.length > 0 &&
    value.length <= 256 &&
    [...value].every((c) => c.charCodeAt(0) >= 0x20 && c.charCodeAt(0) !== 0x7f)
  );
}

export function validateId(value: unknown, field: string): string {
  if (typeof value !== 'string') throw new ConfigError(field, `must be a string, got ${describe(value)}`);
  if (value.length === 0) throw new ConfigError(field, 'must not be empty');
  if (value.length > maxIdLength)
    throw new ConfigError(field, `must be at most ${maxIdLength} characters, got ${value.length}`);
  if (!idPattern.test(value))
    throw new ConfigError(field, `may only contain letters, digits, ".", "_" and "-", got ${JSON.stringify(value)}`);
  return value;
}

export interface HostPort {
  host: string;
  port: number;
}

/** Parses "host:port", "1.2.3.4:port" or "[::1]:port". */
export function parseAddress(value: unknown, field: string, opts: { allowPortZero?: boolean } = {}): HostPort {
  if (typeof value !== 'string') throw new ConfigError(field, `must be a "host:port" string, got ${describe(value)}`);
  const v6 = /^\[([0-9A-Fa-f:.]+)\]:(\d{1,5})$/.exec(value);
  const plain = /^([A-Za-z0-9.-]{1,253}):(\d{1,5})$/.exec(value);
  const m = v6 ?? plain;
  if (!m) throw new ConfigError(field, `must be "host:port" (IPv6 as "[::1]:port"), got ${JSON.stringify(value)}`);
  const port = Number(m[2]);
  const min = opts.allowPortZero ? 0 : 1;
  if (port < min || port > 65535)
    throw new ConfigError(field, `port must be ${min}..65535, got ${m[2]} in ${JSON.stringify(value)}`);
  if (v6 && !m[1].includes(':')) throw new ConfigError(field, `${JSON.stringify(value)} is not an IPv6 address`);
  return { host: m[1], port };
}

/** True for a bind address that means "every interface": 0.0.0.0, or :: in any spelling. */
export function isWildcardHost(host: string): boolean {
  return host === '0.0.0.0' || /^[0:]+$/.test(host);
}

export function formatAddress(hp: HostPort): string {
  return hp.host.includes(':') ? `[${hp.host}]:${hp.port}` : `${hp.host}:${hp.port}`;
}

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? JSON.stringify(v) : typeof v;
}

function integer(value: unknown, field: string, min: number, max: number): number {
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw new ConfigError(field, `must be an integer, got ${describe(value)}`);
  if (value < min || value > max) throw new ConfigError(field, `must be between ${min} and ${max}, got ${value}`);
  return value;
}

/**
 * Node's timers take at most 2^31-1 ms; a larger delay silently becomes 1 ms (a timer that fires at
 * once, forever). Every duration commy hands to a timer is checked against this.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Checks a duration bound for a timer; `fail` builds the error that names the field. */
export function checkTimerMs(value: unknown, field: string, fail: (field: string, message: string) => Error): number {
  if (typeof value !== 'number' || !Number.isInteger(value))
    throw fail(field, `must be an integer number of milliseconds, got ${describe(value)}`);
  if (value < 1 || value > MAX_TIMER_MS)
    throw fail(field, `must be between 1 and ${MAX_TIMER_MS} ms (the longest timer Node keeps), got ${value}`);
  return value;
}

function parsePeer(entry: unknown, field: string): StaticPeer {
  if (typeof entry === 'string') {
    const at = entry.indexOf('@');
    if (at >= 0) {
      const serverId = validateId(entry.slice(0, at), `${field}.serverId`);
      const address = entry.slice(at + 1);
      parseAddress(address, `${field}.address`);
      return { serverId, address };
    }
    parseAddress(entry, field);
    return { address: entry };
  }
  if (typeof entry === 'object' && entry !== null && !Array.isArray(entry)) {
    const o = entry as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      if (k !== 'serverId' && k !== 'address')
        throw new ConfigError(`${field}.${k}`, 'unknown field (a peer has "serverId" and "address")');
    }
    if (o.address === undefined) throw new ConfigError(`${field}.address`, 'is required');
    parseAddress(o.address, `${field}.address`);
    const peer: StaticPeer = { address: o.address as string };
    if (o.serverId !== undefined) peer.serverId = validateId(o.serverId, `${field}.serverId`);
    return peer;
  }
  throw new ConfigError(field, `must be "id@host:port", "host:port" or {serverId, address}, got ${describe(entry)}`);
}

const phiFields = ['threshold', 'downThreshold', 'windowSize', 'minStdDevMs', 'acceptablePauseMs'] as const;

/** A finite number in [min, max] (`above`: strictly greater than min). */
function real(value: unknown, field: string, min: number, max: number, above = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value))
    throw new ConfigError(field, `must be a number, got ${describe(value)}`);
  if (above ? value <= min : value < min)
    throw new ConfigError(field, `must be ${above ? 'greater than' : 'at least'} ${min}, got ${value}`);
  if (value > max) throw new ConfigError(field, `must be at most ${max}, got ${value}`);
  return value;
}

/** The `detector` section: undefined for the fixed rule, else the φ settings with defaults filled in. */
function parseDetector(value: unknown, heartbeatIntervalMs: number): PhiDetectorSettings | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    throw new ConfigError('detector', `must be an object such as {"kind": "phi"}, got ${describe(value)}`);
  const o = value as Record<string, unknown>;
  if (o.kind !== 'fixed' && o.kind !== 'phi')
    throw new ConfigError(
      'detector.kind',
      `must be "fixed" or "phi", got ${o.kind === undefined ? 'nothing' : describe(o.kind)}`,
    );
  for (const k of Object.keys(o)) {
    if (k === 'kind') continue;
    if (!(phiFields as readonly string[]).includes(k))
      throw new ConfigError(`detector.${k}`, `unknown field (the phi detector has ${phiFields.join(', ')})`);
    if (o.kind === 'fixed')
      throw new ConfigError(
        `detector.${k}`,
        'applies to kind "phi" only (the fixed rule uses suspectAfter and downAfter)',
      );
  }
  if (o.kind === 'fixed') return undefined;
  const threshold =
    o.threshold === undefined ? phiDefaults.threshold : real(o.threshold, 'detector.threshold', 0, 1000, true);
  const downThreshold =
    o.downThreshold === undefined
      ? phiDefaults.downFactor * threshold
      : real(o.downThreshold, 'detector.downThreshold', 0, 10_000, true);
  if (downThreshold <= threshold)
    throw new ConfigError(
      'detector.downThreshold',
      `must be greater than threshold (${threshold}), got ${downThreshold}`,
    );
  const windowSize =
    o.windowSize === undefined ? phiDefaults.windowSize : integer(o.windowSize, 'detector.windowSize', 2, 10_000);
  const minStdDevMs =
    o.minStdDevMs === undefined
      ? heartbeatIntervalMs / phiDefaults.minStdDevDivisor
      : real(o.minStdDevMs, 'detector.minStdDevMs', 0, 3_600_000, true);
  const acceptablePauseMs =
    o.acceptablePauseMs === undefined
      ? heartbeatIntervalMs * phiDefaults.acceptablePauseIntervals
      : real(o.acceptablePauseMs, 'detector.acceptablePauseMs', 0, 3_600_000);
  return { kind: 'phi', threshold, downThreshold, windowSize, minStdDevMs, acceptablePauseMs };
}

/**
 * Validates a parsed JSON config (or a JSON string). `baseDir` resolves a
 * relative secretFile. Throws ConfigError naming the first bad field.
 */
export function parseConfig(input: unknown, opts: { baseDir?: string } = {}): PeerConfig {
  let raw = input;
  if (typeof input === 'string') {
    try {
      raw = JSON.parse(input);
    } catch (err) {
      throw new ConfigError('(file)', `is not valid JSON: ${(err as Error).message}`);
    }
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
    throw new ConfigError('(root)', `must be a JSON object, got ${describe(raw)}`);
  const o = raw as Record<string, unknown>;
  for (const k of Object.keys(o)) {
    if (!(knownFields as readonly string[]).includes(k))
      throw new ConfigError(k, `unknown field (known fields: ${knownFields.join(', ')})`);
  }
  for (const required of ['cluster', 'serverId', 'listen'] as const) {
    if (o[required] === undefined) throw new ConfigError(required, 'is required');
  }
  const cluster = validateId(o.cluster, 'cluster');
  const serverId = validateId(o.serverId, 'serverId');
  parseAddress(o.listen, 'listen', { allowPortZero: true });
  if (o.advertise !== undefined) {
    const { host } = parseAddress(o.advertise, 'advertise');
    if (isWildcardHost(host))
      throw new ConfigError(
        'advertise',
        `must be an address peers can dial, not the wildcard ${JSON.stringify(o.advertise)}`,
      );
  }

  const heartbeatIntervalMs =
    o.heartbeatIntervalMs === undefined
      ? defaults.heartbeatIntervalMs
      : integer(o.heartbeatIntervalMs, 'heartbeatIntervalMs', 1, 3_600_000);
  const heartbeatTimeoutMs =
    o.heartbeatTimeoutMs === undefined
      ? heartbeatIntervalMs
      : integer(o.heartbeatTimeoutMs, 'heartbeatTimeoutMs', 1, 3_600_000);
  const suspectAfter =
    o.suspectAfter === undefined ? defaults.suspectAfter : integer(o.suspectAfter, 'suspectAfter', 1, 1_000_000);
  const downAfter = o.downAfter === undefined ? defaults.downAfter : integer(o.downAfter, 'downAfter', 2, 1_000_000);
  if (downAfter <= suspectAfter)
    throw new ConfigError('downAfter', `must be greater than suspectAfter (${suspectAfter}), got ${downAfter}`);
  // The node's default idle timeout is derived from these two; it must stay a valid timer too.
  if (heartbeatTimeoutMs * (downAfter + 1) > MAX_TIMER_MS)
    throw new ConfigError(
      'downAfter',
      `heartbeatTimeoutMs × (downAfter + 1) = ${heartbeatTimeoutMs * (downAfter + 1)} ms, the derived idle timeout, exceeds ${MAX_TIMER_MS} ms; lower downAfter or heartbeatTimeoutMs`,
    );
  const capacity = o.capacity === undefined ? defaults.capacity : integer(o.capacity, 'capacity', 1, 4096);

  if (o.peers !== undefined && !Array.isArray(o.peers)) throw new ConfigError('peers', 'must be an array');
  const staticPeers = ((o.peers as unknown[] | undefined) ?? []).map((p, i) => parsePeer(p, `peers[${i}]`));
  const seenIds = new Set<string>();
  const seenAddresses = new Set<string>();
  staticPeers.forEach((p, i) => {
    if (p.serverId === serverId)
      throw new ConfigError(`peers[${i}].serverId`, `"${p.serverId}" is this node's own serverId`);
    if (p.serverId !== undefined) {
      if (seenIds.has(p.serverId)) throw new ConfigError(`peers[${i}].serverId`, `"${p.serverId}" is listed twice`);
      seenIds.add(p.serverId);
    }
    if (seenAddresses.has(p.address)) throw new ConfigError(`peers[${i}].address`, `"${p.address}" is listed twice`);
    seenAddresses.add(p.address);
  });
  if (staticPeers.length > capacity)
    throw new ConfigError('peers', `lists ${staticPeers.length} peers but capacity is ${capacity}; raise capacity`);

  const config: PeerConfig = {
    cluster,
    serverId,
    listenAddress: o.listen as string,
    ...(o.advertise !== undefined ? { advertiseAddress: o.advertise as string } : {}),
    staticPeers,
    heartbeatIntervalMs,
    heartbeatTimeoutMs,
    suspectAfter,
    downAfter,
    capacity,
    global: false,
  };
  if (o.detector !== undefined) {
    const detector = parseDetector(o.detector, heartbeatIntervalMs);
    if (detector) config.detector = detector;
  }
  if (o.discovery !== undefined) config.discovery = parseDiscovery(o.discovery, opts.baseDir ?? process.cwd());
  if (o.reapAfterMs !== undefined)
    config.reapAfterMs = checkTimerMs(o.reapAfterMs, 'reapAfterMs', (f, m) => new ConfigError(f, m));
  if (o.global !== undefined) {
    if (typeof o.global !== 'boolean')
      throw new ConfigError('global', `must be true or false, got ${describe(o.global)}`);
    config.global = o.global;
  }
  if (o.allowUnencryptedPeers !== undefined) {
    if (typeof o.allowUnencryptedPeers !== 'boolean')
      throw new ConfigError('allowUnencryptedPeers', `must be true or false, got ${describe(o.allowUnencryptedPeers)}`);
    config.allowUnencryptedPeers = o.allowUnencryptedPeers;
  }
  if (o.readers !== undefined) {
    // Resolved when the region is created (the OS knows its groups); an unknown one fails there, naming this field.
    if (!isAccountName(o.readers))
      throw new ConfigError('readers', `must be a group (POSIX) or account (Windows) name, got ${describe(o.readers)}`);
    config.readers = o.readers;
  }
  if (o.secretFile !== undefined) {
    if (typeof o.secretFile !== 'string' || o.secretFile.length === 0)
      throw new ConfigError('secretFile', `must be a non-empty path string, got ${describe(o.secretFile)}`);
    config.secretFile = resolve(opts.baseDir ?? process.cwd(), o.secretFile);
  }
  if (o.secret !== undefined) {
    if (typeof o.secret !== 'string' || o.secret.length < 16)
      throw new ConfigError('secret', 'must be a string of at least 16 characters');
    config.secret = o.secret;
  }
  if (o.metricsListen !== undefined) {
    parseAddress(o.metricsListen, 'metricsListen', { allowPortZero: true });
    config.metricsListen = o.metricsListen as string;
  }
  return config;
}

/** Reads and validates a JSON config file; a relative secretFile is resolved against the file's folder. */
export function loadConfig(path: string): PeerConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError('(file)', `cannot read config file ${path}: ${e.code ?? e.message}`);
  }
  try {
    return parseConfig(text, { baseDir: dirname(resolve(path)) });
  } catch (err) {
    if (err instanceof ConfigError) {
      const wrapped = new ConfigError(err.field, `${err.message.replace(/^config field "[^"]*": /, '')} (in ${path})`);
      throw wrapped;
    }
    throw err;
  }
}
