// Wire messages: their type bytes, shapes, and validation. Every decoded body
// passes through validate() before any other code sees it.
import { ErrorCode } from '../errors.js';
import { ProtocolError } from './errors.js';

/**
 * 2.0: the handshake proofs and session keys cover every Hello and HelloAck field (1.x covered only the
 * ids and nonces), so a 1.x node cannot authenticate with a 2.x one: it is refused with ERR_VERSION.
 * 2.1: MemberList, the member-list exchange. A 2.1 node sends it only to peers that announced minor 1 or
 * more, so 2.0 and 2.1 nodes still heartbeat each other (a 2.0 node learns no members from it).
 * 2.2: every frame after the handshake is encrypted (ChaCha20-Poly1305, lib/protocol/auth.ts). A 2.2
 * node refuses a 2.0 or 2.1 peer with ERR_VERSION unless allowUnencryptedPeers is set (a rolling
 * upgrade), and then seals its frames the 2.1 way: authenticated, not encrypted.
 * 2.3: one heartbeat exchange per pair and interval instead of two. Between two 2.3 nodes only the
 * side that dialed the connection pings; the other answers, and learns the round trip from the
 * `rttMicros` the ping carries. With an older peer both sides ping, as before.
 */
export const PROTOCOL_VERSION = { major: 2, minor: 3 } as const;

/** The first minor version that understands MemberList. */
export const MEMBER_LIST_MINOR = 1;

/** The first minor version whose nodes ping only over the connections they dialed (see PROTOCOL_VERSION). */
export const ONE_EXCHANGE_MINOR = 3;

export const MessageType = {
  Hello: 1,
  HelloAck: 2,
  HelloProof: 3,
  HeartbeatPing: 4,
  HeartbeatPong: 5,
  MetadataExchange: 6,
  MetadataAck: 7,
  StateSyncRequest: 8,
  StateSyncResponse: 9,
  ClientMigration: 10,
  ClientMigrationAck: 11,
  Leave: 12,
  Error: 13,
  MemberList: 14,
} as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

export const MIGRATION_REASONS = [
  'server-shutdown',
  'quorum-loss',
  'load-balancing',
  'client-reconnected',
  'manual',
] as const;
export type MigrationReason = (typeof MIGRATION_REASONS)[number];

export interface Hello {
  version: [number, number];
  cluster: string;
  serverId: string;
  /** The sender's advertised address (config `advertise`), where peers should dial it. */
  listen: string;
  nonce: Uint8Array;
  /** Key ids the sender can use, primary first. */
  keyIds: string[];
}
export interface HelloAck {
  version: [number, number];
  cluster: string;
  serverId: string;
  listen: string;
  nonce: Uint8Array;
  keyId: string;
  /** HMAC proving the responder knows the key, over both nonces. */
  proof: Uint8Array;
}
export interface HelloProof {
  proof: Uint8Array;
}
export interface HeartbeatPing {
  serverId: string;
  timestamp: number;
  sequence: number;
  /** The sender's last measured round trip to the receiver, in µs (2.3; absent before the first one). */
  rttMicros?: number;
}
export interface HeartbeatPong extends Omit<HeartbeatPing, 'rttMicros'> {
  /** The responder's own view: "ok", "degraded" or "no-quorum". */
  status: string;
}
export interface MetadataExchange {
  metadata: Record<string, string>;
}
export interface RequestRef {
  requestId: number;
}
export interface PeerView {
  serverId: string;
  status: string;
  missedHeartbeats: number;
  lastSeenMs: number | null;
}
export interface StateSyncResponse extends RequestRef {
  peers: PeerView[];
}
export interface ClientMigration extends RequestRef {
  clientId: string;
  from: string;
  to: string;
  reason: MigrationReason;
}
export interface Leave {
  reason: string;
}
export interface MemberEntry {
  serverId: string;
  /** The member's advertised "host:port" ("" in a departure, which needs none). */
  address: string;
  incarnation: number;
  state: 'alive' | 'left';
  /** A departure: how long ago the sender first heard of it (ms), so its tombstone expires on time everywhere. */
  ageMs?: number;
}
/** Members as the sender knows them: itself first, then every member, then recent departures. */
export interface MemberList {
  members: MemberEntry[];
}
export interface ErrorMessage {
  requestId: number | null;
  code: string;
  message: string;
}

export interface MessageMap {
  [MessageType.Hello]: Hello;
  [MessageType.HelloAck]: HelloAck;
  [MessageType.HelloProof]: HelloProof;
  [MessageType.HeartbeatPing]: HeartbeatPing;
  [MessageType.HeartbeatPong]: HeartbeatPong;
  [MessageType.MetadataExchange]: MetadataExchange;
  [MessageType.MetadataAck]: Record<string, never>;
  [MessageType.StateSyncRequest]: RequestRef;
  [MessageType.StateSyncResponse]: StateSyncResponse;
  [MessageType.ClientMigration]: ClientMigration;
  [MessageType.ClientMigrationAck]: RequestRef;
  [MessageType.Leave]: Leave;
  [MessageType.Error]: ErrorMessage;
  [MessageType.MemberList]: MemberList;
}

export type Message = { [K in MessageType]: { type: K; body: MessageMap[K] } }[MessageType];

// ---- validation -----------------------------------------------------------

const MAX_STRING = 256;
const MAX_PEERS = 4096;
export const MAX_METADATA_BYTES = 512;

function bad(what: string): never {
  throw new ProtocolError(ErrorCode.BadMessage, what);
}
function obj(v: unknown, what: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v) || v instanceof Uint8Array) bad(`${what} must be a map`);
  return v as Record<string, unknown>;
}
function str(v: unknown, what: string, max = MAX_STRING): string {
  if (typeof v !== 'string' || v.length > max) bad(`${what} must be a string of at most ${max} characters`);
  return v;
}
function id(v: unknown, what: string): string {
  const s = str(v, what, 63);
  if (!/^[A-Za-z0-9._-]+$/.test(s)) bad(`${what} is not a valid id`);
  return s;
}
function num(v: unknown, what: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) bad(`${what} must be a finite number`);
  return v;
}
function uint(v: unknown, what: string): number {
  const n = num(v, what);
  if (!Number.isSafeInteger(n) || n < 0) bad(`${what} must be a non-negative integer`);
  return n;
}
function bytes(v: unknown, what: string, len: number): Uint8Array {
  if (!(v instanceof Uint8Array) || v.length !== len) bad(`${what} must be ${len} bytes`);
  return v;
}
function version(v: unknown): [number, number] {
  if (!Array.isArray(v) || v.length !== 2) bad('version must be [major, minor]');
  return [uint(v[0], 'version major'), uint(v[1], 'version minor')];
}

/** Validates a decoded body for its type; returns a clean copy with only known fields. */
export function validate(type: number, body: unknown): Message {
  switch (type) {
    case MessageType.Hello: {
      const o = obj(body, 'Hello');
      if (!Array.isArray(o.keyIds) || o.keyIds.length === 0 || o.keyIds.length > 8) bad('keyIds must list 1-8 ids');
      return {
        type,
        body: {
          version: version(o.version),
          cluster: id(o.cluster, 'cluster'),
          serverId: id(o.serverId, 'serverId'),
          listen: str(o.listen, 'listen', 80),
          nonce: bytes(o.nonce, 'nonce', 32),
          keyIds: o.keyIds.map((k, i) => str(k, `keyIds[${i}]`, 32)),
        },
      };
    }
    case MessageType.HelloAck: {
      const o = obj(body, 'HelloAck');
      return {
        type,
        body: {
          version: version(o.version),
          cluster: id(o.cluster, 'cluster'),
          serverId: id(o.serverId, 'serverId'),
          listen: str(o.listen, 'listen', 80),
          nonce: bytes(o.nonce, 'nonce', 32),
          keyId: str(o.keyId, 'keyId', 32),
          proof: bytes(o.proof, 'proof', 32),
        },
      };
    }
    case MessageType.HelloProof:
      return { type, body: { proof: bytes(obj(body, 'HelloProof').proof, 'proof', 32) } };
    case MessageType.HeartbeatPing:
    case MessageType.HeartbeatPong: {
      // Compact form on the wire: [serverId, timestamp, sequence], then a ping's optional rttMicros
      // or a pong's status.
      if (!Array.isArray(body)) bad('heartbeat must be an array');
      const ping = {
        serverId: id(body[0], 'serverId'),
        timestamp: num(body[1], 'timestamp'),
        sequence: uint(body[2], 'sequence'),
      };
      if (type === MessageType.HeartbeatPong) return { type, body: { ...ping, status: str(body[3], 'status', 16) } };
      return { type, body: body[3] === undefined ? ping : { ...ping, rttMicros: uint(body[3], 'rttMicros') } };
    }
    case MessageType.MetadataExchange: {
      const m = obj(obj(body, 'MetadataExchange').metadata, 'metadata');
      const clean: Record<string, string> = {};
      for (const [k, v] of Object.entries(m))
        clean[str(k, 'metadata key', 64)] = str(v, `metadata.${k}`, MAX_METADATA_BYTES);
      return { type, body: { metadata: clean } };
    }
    case MessageType.MetadataAck:
      return { type, body: {} };
    case MessageType.StateSyncRequest:
    case MessageType.ClientMigrationAck:
      return { type, body: { requestId: uint(obj(body, 'request').requestId, 'requestId') } };
    case MessageType.StateSyncResponse: {
      const o = obj(body, 'StateSyncResponse');
      if (!Array.isArray(o.peers) || o.peers.length > MAX_PEERS) bad('peers must be an array');
      return {
        type,
        body: {
          requestId: uint(o.requestId, 'requestId'),
          peers: o.peers.map((p, i) => {
            const q = obj(p, `peers[${i}]`);
            return {
              serverId: str(q.serverId, 'serverId', 80),
              status: str(q.status, 'status', 16),
              missedHeartbeats: uint(q.missedHeartbeats, 'missedHeartbeats'),
              lastSeenMs: q.lastSeenMs === null ? null : num(q.lastSeenMs, 'lastSeenMs'),
            };
          }),
        },
      };
    }
    case MessageType.ClientMigration: {
      const o = obj(body, 'ClientMigration');
      const reason = str(o.reason, 'reason', 32);
      if (!(MIGRATION_REASONS as readonly string[]).includes(reason)) bad(`unknown migration reason ${reason}`);
      return {
        type,
        body: {
          requestId: uint(o.requestId, 'requestId'),
          clientId: str(o.clientId, 'clientId', 128),
          from: id(o.from, 'from'),
          to: id(o.to, 'to'),
          reason: reason as MigrationReason,
        },
      };
    }
    case MessageType.Leave:
      return { type, body: { reason: str(obj(body, 'Leave').reason, 'reason', 64) } };
    case MessageType.Error: {
      const o = obj(body, 'Error');
      return {
        type,
        body: {
          requestId: o.requestId === null || o.requestId === undefined ? null : uint(o.requestId, 'requestId'),
          code: str(o.code, 'code', 64),
          message: str(o.message, 'message', 1024),
        },
      };
    }
    case MessageType.MemberList: {
      const o = obj(body, 'MemberList');
      if (!Array.isArray(o.members) || o.members.length > MAX_PEERS)
        bad(`members must be an array of at most ${MAX_PEERS}`);
      return {
        type,
        body: {
          members: o.members.map((m, i) => {
            const q = obj(m, `members[${i}]`);
            if (q.state !== 'alive' && q.state !== 'left') bad(`members[${i}].state must be "alive" or "left"`);
            const entry: MemberEntry = {
              serverId: id(q.serverId, `members[${i}].serverId`),
              address: str(q.address, `members[${i}].address`, 80),
              incarnation: uint(q.incarnation, `members[${i}].incarnation`),
              state: q.state,
            };
            if (q.ageMs !== undefined) entry.ageMs = uint(q.ageMs, `members[${i}].ageMs`);
            return entry;
          }),
        },
      };
    }
    default:
      return bad(`unknown message type ${type}`);
  }
}

/** The wire form of a body (heartbeats are compact arrays). */
export function wireBody(m: Message): unknown {
  if (m.type === MessageType.HeartbeatPing) {
    const b = m.body;
    return b.rttMicros === undefined
      ? [b.serverId, b.timestamp, b.sequence]
      : [b.serverId, b.timestamp, b.sequence, b.rttMicros];
  }
  if (m.type === MessageType.HeartbeatPong) return [m.body.serverId, m.body.timestamp, m.body.sequence, m.body.status];
  return m.body;
}
