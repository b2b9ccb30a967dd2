// Cluster-secret authentication: a keyring, the mutual challenge-response
// proofs over the whole handshake transcript, per-direction session keys (HKDF salted with it), and
// after the handshake every frame sealed under its direction's key with an implicit sequence number,
// so frames cannot be read, injected, replayed or reordered: ChaCha20-Poly1305 between nodes of
// protocol 2.2 and later, an HMAC tag (authenticated, readable) with an older peer that a node admits
// only with allowUnencryptedPeers. Nothing here reveals a secret on the wire.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  hkdfSync,
  randomBytes,
  timingSafeEqual,
} from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError } from '../errors.js';
import type { Hello, HelloAck } from './messages.js';

export const NONCE_BYTES = 32;
export const TAG_BYTES = 16;
/** The protocol minor version from which frames after the handshake are encrypted. */
export const ENCRYPTION_MINOR = 2;
export const MIN_SECRET_LENGTH = 16;

export interface Key {
  id: string;
  secret: Buffer;
}

/** One primary key (used to dial) plus older keys still accepted, for rotation. */
export class Keyring {
  readonly keys: Key[];

  constructor(secrets: string[]) {
    if (secrets.length === 0) throw new ConfigError('secret', 'a cluster secret is required');
    this.keys = secrets.map((s, i) => {
      if (s.length < MIN_SECRET_LENGTH)
        throw new ConfigError('secret', `key ${i + 1} is ${s.length} characters; use at least ${MIN_SECRET_LENGTH}`);
      const secret = Buffer.from(s, 'utf8');
      return { id: keyId(secret), secret };
    });
  }

  get primary(): Key {
    return this.keys[0];
  }

  get ids(): string[] {
    return this.keys.map((k) => k.id);
  }

  get(id: string): Key | undefined {
    return this.keys.find((k) => k.id === id);
  }

  /** The first of our keys (primary first) that the other side also holds. */
  choose(theirIds: string[]): Key | undefined {
    return this.keys.find((k) => theirIds.includes(k.id));
  }
}

/** Public id of a key: an HMAC of a fixed label, so it reveals nothing usable. */
export function keyId(secret: Buffer): string {
  return createHmac('sha256', secret).update('commy key id v1').digest('hex').slice(0, 16);
}

/**
 * Finds the keyring: COMMY_SECRET (comma-separated keys, primary first) wins,
 * then the option, then secretFile (one key per line). A missing secret is a
 * configuration error: there is no unauthenticated mode.
 */
export function resolveKeyring(opts: {
  secret?: string | string[];
  secretFile?: string;
  env?: NodeJS.ProcessEnv;
}): Keyring {
  const env = opts.env ?? process.env;
  const split = (s: string) =>
    s
      .split(/[,\n]/)
      .map((x) => x.trim())
      .filter((x) => x.length > 0);
  if (env.COMMY_SECRET) return new Keyring(split(env.COMMY_SECRET));
  if (opts.secret !== undefined) return new Keyring(Array.isArray(opts.secret) ? opts.secret : [opts.secret]);
  if (opts.secretFile) {
    let text: string;
    try {
      text = readFileSync(opts.secretFile, 'utf8');
    } catch (err) {
      throw new ConfigError(
        'secretFile',
        `cannot read ${opts.secretFile}: ${(err as NodeJS.ErrnoException).code ?? err}`,
      );
    }
    const keys = text
      .split('\n')
      .map((x) => x.trim())
      .filter((x) => x.length > 0 && !x.startsWith('#'));
    if (keys.length === 0) throw new ConfigError('secretFile', `${opts.secretFile} holds no key`);
    return new Keyring(keys);
  }
  throw new ConfigError('secret', 'no cluster secret: set COMMY_SECRET, "secretFile" or "secret"');
}

export function newNonce(): Buffer {
  return randomBytes(NONCE_BYTES);
}

/**
 * Everything the handshake exchanges: the client's Hello as sent and the server's HelloAck without its
 * proof. Both proofs and the session keys cover all of it, so an on-path rewrite of any field (the
 * listen address that goes into the region, the version, the offered key ids that pick the key) makes
 * the proofs disagree and the handshake fail.
 */
export interface Transcript {
  hello: Hello;
  ack: Omit<HelloAck, 'proof'>;
}

/** Unambiguous bytes of a transcript: every field length-prefixed, in a fixed order. */
export function transcriptBytes(label: string, t: Transcript): Buffer {
  const parts: Buffer[] = [];
  const u32 = (n: number) => {
    const b = Buffer.allocUnsafe(4);
    b.writeUInt32BE(n >>> 0, 0);
    parts.push(b);
  };
  const field = (v: string | Uint8Array) => {
    const b = typeof v === 'string' ? Buffer.from(v, 'utf8') : Buffer.from(v.buffer, v.byteOffset, v.byteLength);
    u32(b.length);
    parts.push(b);
  };
  field(label);
  const { hello: h, ack: a } = t;
  u32(h.version[0]);
  u32(h.version[1]);
  field(h.cluster);
  field(h.serverId);
  field(h.listen);
  field(h.nonce);
  u32(h.keyIds.length);
  for (const k of h.keyIds) field(k);
  u32(a.version[0]);
  u32(a.version[1]);
  field(a.cluster);
  field(a.serverId);
  field(a.listen);
  field(a.nonce);
  field(a.keyId);
  return Buffer.concat(parts);
}

export function proof(key: Key, role: 'client' | 'server', t: Transcript): Buffer {
  return createHmac('sha256', key.secret)
    .update(transcriptBytes(`commy ${role} proof v2`, t))
    .digest();
}

export function proofMatches(expected: Buffer, got: Uint8Array): boolean {
  return got.length === expected.length && timingSafeEqual(expected, got);
}

/** Whether a session with this transcript encrypts its frames: both ends speak 2.2 or later. */
export function encrypts(t: Transcript): boolean {
  return t.hello.version[1] >= ENCRYPTION_MINOR && t.ack.version[1] >= ENCRYPTION_MINOR;
}

const AEAD = 'chacha20-poly1305';
const AEAD_NONCE_BYTES = 12;

/**
 * Per-direction sealing state of an open connection. seal() turns a frame's body into what follows
 * its type byte on the wire, open() turns that back into the body or refuses it. Encrypted sessions
 * use ChaCha20-Poly1305 (RFC 8439): the key is the direction's HKDF key, the 96-bit nonce is the
 * frame's sequence number in that direction (so never reused under one key: each session and
 * direction has its own key), the frame type is the associated data, and the 16-byte tag follows
 * the ciphertext, which is as long as the body. Older sessions send the body with a 16-byte HMAC tag
 * over (sequence, type, body) instead. Either way a frame is as long as it was before encryption.
 */
export class FrameAuth {
  /** Frames are encrypted (both ends speak 2.2 or later), not only authenticated. */
  readonly encrypted: boolean;
  private sendSeq = 0n;
  private recvSeq = 0n;
  private readonly sendKey: Buffer;
  private readonly recvKey: Buffer;
  private readonly nonce = Buffer.alloc(AEAD_NONCE_BYTES);
  private readonly aad = Buffer.alloc(1);

  constructor(key: Key, role: 'client' | 'server', t: Transcript) {
    this.encrypted = encrypts(t);
    // Salted with the whole transcript (both nonces included), so the keys also bind every field.
    // Encrypted sessions derive their keys under another label: no key ever serves both schemes.
    const v = this.encrypted ? 'v3' : 'v2';
    const salt = createHash('sha256')
      .update(transcriptBytes(`commy session ${v}`, t))
      .digest();
    const derive = (dir: string) =>
      Buffer.from(hkdfSync('sha256', key.secret, salt, `commy session ${v} ${dir} ${t.hello.cluster}`, 32));
    const c2s = derive('client->server');
    const s2c = derive('server->client');
    this.sendKey = role === 'client' ? c2s : s2c;
    this.recvKey = role === 'client' ? s2c : c2s;
  }

  private tag(key: Buffer, seq: bigint, type: number, body: Uint8Array): Buffer {
    const head = Buffer.allocUnsafe(9);
    head.writeBigUInt64BE(seq, 0);
    head[8] = type;
    return createHmac('sha256', key).update(head).update(body).digest().subarray(0, TAG_BYTES);
  }

  /** The nonce and associated data of frame `seq` of type `type` (rewritten in place: used at once). */
  private aeadInputs(seq: bigint, type: number): void {
    this.nonce.writeBigUInt64BE(seq, AEAD_NONCE_BYTES - 8);
    this.aad[0] = type;
  }

  /** What follows the type byte of the next frame sent: ciphertext and tag, or body and HMAC tag. */
  seal(type: number, body: Uint8Array): Buffer {
    const seq = this.sendSeq++;
    if (!this.encrypted) return Buffer.concat([body, this.tag(this.sendKey, seq, type, body)]);
    this.aeadInputs(seq, type);
    const c = createCipheriv(AEAD, this.sendKey, this.nonce, { authTagLength: TAG_BYTES });
    c.setAAD(this.aad, { plaintextLength: body.length });
    const out = Buffer.allocUnsafe(body.length + TAG_BYTES);
    const n = c.update(body).copy(out, 0);
    c.final();
    c.getAuthTag().copy(out, n);
    return out;
  }

  /**
   * The body of the next frame received, or undefined when it fails: altered, truncated, replayed,
   * reordered, or sealed under another key. The implicit sequence moves only on success.
   */
  open(type: number, payload: Uint8Array): Buffer | undefined {
    if (payload.length < TAG_BYTES) return undefined;
    const bodyBytes = payload.length - TAG_BYTES;
    const tag = payload.subarray(bodyBytes);
    if (!this.encrypted) {
      const body = Buffer.from(payload.buffer, payload.byteOffset, bodyBytes);
      if (!timingSafeEqual(this.tag(this.recvKey, this.recvSeq, type, body), tag)) return undefined;
      this.recvSeq++;
      return body;
    }
    this.aeadInputs(this.recvSeq, type);
    const d = createDecipheriv(AEAD, this.recvKey, this.nonce, { authTagLength: TAG_BYTES });
    d.setAAD(this.aad, { plaintextLength: bodyBytes });
    d.setAuthTag(tag);
    const body = d.update(payload.subarray(0, bodyBytes));
    try {
      d.final(); // throws when the tag does not verify: the body is then discarded unread
    } catch {
      return undefined;
    }
    this.recvSeq++;
    return body;
  }
}
