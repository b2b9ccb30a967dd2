// One TCP connection to a peer: the handshake (mutual challenge-response),
// then authenticated frames. Enforces the handshake, idle and partial-frame
// timeouts, so a silent, half-open or byte-dripping peer cannot hold it.
import { EventEmitter } from 'node:events';
import type { Socket } from 'node:net';
import {
  ENCRYPTION_MINOR,
  FrameAuth,
  Keyring,
  newNonce,
  proof,
  proofMatches,
  type Key,
  type Transcript,
} from '../protocol/auth.js';
import { decodeMessage, encodeMessage } from '../protocol/codec.js';
import { ErrorCode } from '../errors.js';
import { ProtocolError, RejectReason } from '../protocol/errors.js';
import { defaults } from '../defaults.js';
import { FrameDecoder } from '../protocol/frame.js';
import { MessageType, PROTOCOL_VERSION, type Hello, type Message } from '../protocol/messages.js';

/** How long a closed connection's socket may take to flush before it is destroyed. */
export const LINGER_MS = 1000;

export interface Rejection {
  reason: RejectReason;
  code: ErrorCode;
  message: string;
}

export interface ConnectionContext {
  cluster: string;
  serverId: string;
  listen: string;
  keyring: Keyring;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  maxFrameBytes: number;
  /** Frame cap until the handshake completes (default `defaults.maxHandshakeFrameBytes`). */
  maxHandshakeFrameBytes?: number;
  /**
   * Admit peers of protocol 2.0 and 2.1, whose frames are authenticated but not encrypted (default
   * false: they are refused with ERR_VERSION). For a rolling upgrade from such a version.
   */
  allowUnencryptedPeers?: boolean;
  /** Server side: decides whether a hello'd peer, connected from `remoteHost`, may join; null admits it. */
  admit(hello: Hello, remoteHost: string | undefined): Rejection | null;
}

export interface ConnectionEvents {
  open: [];
  message: [Message];
  /** A protocol violation by the remote side; the connection closes right after. */
  rejected: [Rejection];
  /** The remote side sent an Error frame. */
  remoteError: [{ code: string; message: string; requestId: number | null }];
  close: [{ error?: string }];
}

const handshakeTypes: ReadonlySet<number> = new Set([MessageType.Hello, MessageType.HelloAck, MessageType.HelloProof]);

export class Connection extends EventEmitter<ConnectionEvents> {
  readonly role: 'client' | 'server';
  readonly socket: Socket;
  /** "host:port" of the other end, known once the socket is connected (a dial target until then). */
  private knownRemote: string | undefined;
  /** Known after the handshake (and beforehand on the client when dialing a named peer). */
  peerId: string | undefined;
  /** The address the peer announced in its handshake: where it says it can be dialed. */
  peerListen = '';
  /** The protocol version the peer announced in its Hello or HelloAck. */
  peerVersion: [number, number] = [0, 0];
  /** Client side: the "host:port" this connection dialed. */
  readonly dialTarget: string | undefined;
  state: 'handshake' | 'open' | 'closed' = 'handshake';
  /** Bytes counted before the peer was known; flushed into onBytes once open. */
  private pendingIn = 0;
  private pendingOut = 0;
  onBytes: ((direction: 'in' | 'out', n: number) => void) | undefined;

  private readonly ctx: ConnectionContext;
  private readonly decoder: FrameDecoder;
  private readonly nonce = newNonce();
  private transcript: Transcript | undefined;
  /** Client side: the Hello as sent, half of the transcript. */
  private hello: Hello | undefined;
  private key: Key | undefined;
  private auth: FrameAuth | undefined;

  /** Frames are encrypted (the handshake is done and both ends speak 2.2 or later). */
  get encrypted(): boolean {
    return this.auth?.encrypted === true;
  }
  private timer: NodeJS.Timeout;
  /** Bounds how long a half-closed socket may linger to flush its last frame. */
  private lingerTimer: NodeJS.Timeout | undefined;
  /** Settles when the socket itself is closed (after 'close' was emitted, possibly later). */
  readonly socketClosed: Promise<void>;

  /**
   * `dialTarget` ("host:port") names the other end of an outbound socket until it connects, so a
   * refused dial logs where it went.
   */
  constructor(
    socket: Socket,
    role: 'client' | 'server',
    ctx: ConnectionContext,
    expectedPeerId?: string,
    dialTarget?: string,
  ) {
    super();
    this.socket = socket;
    this.role = role;
    this.ctx = ctx;
    this.peerId = expectedPeerId;
    this.dialTarget = dialTarget;
    this.knownRemote = this.socketAddress() ?? dialTarget;
    // Before the handshake, a frame is judged by its header alone: a handshake frame is tiny and of
    // a type the state expects, so an unauthenticated peer can make this side neither buffer more
    // than the small cap nor decode a frame it would refuse anyway.
    this.decoder = new FrameDecoder(
      Math.min(ctx.maxFrameBytes, ctx.maxHandshakeFrameBytes ?? defaults.maxHandshakeFrameBytes),
    );
    this.decoder.checkType = (type) => this.checkType(type);
    socket.setNoDelay(true);
    socket.once('connect', () => (this.knownRemote = this.socketAddress() ?? this.knownRemote));
    this.timer = setTimeout(
      () =>
        this.fail({ reason: RejectReason.Timeout, code: ErrorCode.HandshakeTimeout, message: 'handshake timed out' }),
      ctx.handshakeTimeoutMs,
    );
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.finish(err.message));
    this.socketClosed = new Promise((resolve) =>
      socket.once('close', () => {
        clearTimeout(this.lingerTimer);
        this.lingerTimer = undefined;
        this.finish();
        resolve();
      }),
    );
    if (role === 'client') {
      const start = () => {
        this.hello = {
          version: [PROTOCOL_VERSION.major, PROTOCOL_VERSION.minor],
          cluster: ctx.cluster,
          serverId: ctx.serverId,
          listen: ctx.listen,
          nonce: this.nonce,
          keyIds: ctx.keyring.ids,
        };
        this.write({ type: MessageType.Hello, body: this.hello });
      };
      if (socket.connecting) socket.once('connect', start);
      else start();
    }
  }

  /** "host:port" of the other end; "?:?" only for a socket that never connected and had no dial target. */
  get remoteAddress(): string {
    return this.knownRemote ?? this.socketAddress() ?? '?:?';
  }

  private socketAddress(): string | undefined {
    const host = this.socket.remoteAddress;
    const port = this.socket.remotePort;
    if (host === undefined || port === undefined) return undefined;
    return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
  }

  /** Refuses a frame type the current state cannot accept, before its body is buffered or decoded. */
  private checkType(type: number): void {
    if (type === MessageType.Error) return;
    if (this.state === 'open') {
      if (handshakeTypes.has(type))
        throw new ProtocolError(ErrorCode.BadMessage, 'handshake message after the handshake');
      return;
    }
    const expected =
      this.role === 'client' ? MessageType.HelloAck : this.transcript ? MessageType.HelloProof : MessageType.Hello;
    if (type !== expected)
      throw new ProtocolError(ErrorCode.BadMessage, `unexpected message ${type} during the handshake`);
  }

  /** Sends an authenticated message; false when the connection is not open. */
  send(m: Message): boolean {
    if (this.state !== 'open') return false;
    return this.write(m);
  }

  private write(m: Message): boolean {
    if (this.socket.destroyed) return false;
    const frame = encodeMessage(m, this.auth);
    this.countBytes('out', frame.length);
    this.socket.write(frame);
    return true;
  }

  private countBytes(direction: 'in' | 'out', n: number): void {
    if (this.onBytes && this.state === 'open') this.onBytes(direction, n);
    else if (direction === 'in') this.pendingIn += n;
    else this.pendingOut += n;
  }

  /** Closes gracefully: flushes what was written, then ends. */
  close(): void {
    if (this.state === 'closed') return;
    this.socket.end();
    this.finish();
  }

  /** Closes at once, dropping anything unsent: for a connection with nothing worth flushing. */
  destroy(): void {
    this.socket.destroy();
    this.finish();
  }

  private fail(r: Rejection): void {
    if (this.state === 'closed') return;
    this.emit('rejected', r);
    // Tell the remote side why, unless it is the one misbehaving at the framing level.
    if (r.reason !== RejectReason.BadFrame && r.reason !== RejectReason.Timeout && !this.socket.destroyed) {
      const frame = encodeMessage(
        { type: MessageType.Error, body: { requestId: null, code: r.code, message: r.message } },
        this.auth,
      );
      this.countBytes('out', frame.length);
      this.socket.end(frame);
    } else {
      this.socket.destroy();
    }
    this.finish(r.message);
  }

  private finish(error?: string): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    clearTimeout(this.timer);
    // Give a half-closed socket a bounded time to flush its last frame (an Error, a Leave).
    if (!this.socket.destroyed) {
      this.lingerTimer = setTimeout(() => this.socket.destroy(), LINGER_MS);
      this.lingerTimer.unref();
    }
    this.emit('close', error ? { error } : {});
  }

  private onData(chunk: Buffer): void {
    if (this.state === 'closed') return;
    this.countBytes('in', chunk.length);
    try {
      this.decoder.feed(chunk);
      for (let frame = this.decoder.next(); frame; frame = this.decoder.next()) {
        const m = decodeMessage(frame, this.auth);
        if (this.state === 'open') this.timer.refresh(); // a complete, valid frame: the peer is alive
        this.handle(m);
        if (this.isClosed()) return;
      }
    } catch (err) {
      if (err instanceof ProtocolError) this.fail({ reason: err.reason, code: err.code, message: err.message });
      else this.fail({ reason: RejectReason.Other, code: ErrorCode.Internal, message: (err as Error).message });
    }
  }

  private handle(m: Message): void {
    if (m.type === MessageType.Error) {
      this.emit('remoteError', m.body);
      if (this.state !== 'open') this.finish(`${m.body.code}: ${m.body.message}`);
      // An error reply to a request settles it at once instead of leaving it to time out.
      else this.emit('message', m);
      return;
    }
    if (this.state === 'open') {
      if (m.type === MessageType.Hello || m.type === MessageType.HelloAck || m.type === MessageType.HelloProof)
        throw new ProtocolError(ErrorCode.BadMessage, 'handshake message after the handshake');
      this.emit('message', m);
      return;
    }
    if (this.role === 'server') this.serverHandshake(m);
    else this.clientHandshake(m);
  }

  private checkVersion(v: [number, number]): void {
    if (v[0] !== PROTOCOL_VERSION.major)
      throw new ProtocolError(
        ErrorCode.Version,
        `protocol ${v[0]}.${v[1]} is not supported (this node speaks ${PROTOCOL_VERSION.major}.x)`,
        RejectReason.BadVersion,
      );
    if (v[1] < ENCRYPTION_MINOR && !this.ctx.allowUnencryptedPeers)
      throw new ProtocolError(
        ErrorCode.Version,
        `peer speaks protocol ${v[0]}.${v[1]}, which does not encrypt its frames (this node speaks ` +
          `${PROTOCOL_VERSION.major}.${PROTOCOL_VERSION.minor}); upgrade it, or set "allowUnencryptedPeers": true ` +
          'while the cluster is upgraded',
        RejectReason.BadVersion,
      );
  }

  private checkCluster(cluster: string): void {
    if (cluster !== this.ctx.cluster)
      throw new ProtocolError(
        ErrorCode.WrongCluster,
        `peer is in cluster "${cluster}", this node in "${this.ctx.cluster}"`,
        RejectReason.WrongCluster,
      );
  }

  private serverHandshake(m: Message): void {
    if (m.type === MessageType.Hello && !this.transcript) {
      const h = m.body;
      this.checkVersion(h.version);
      this.checkCluster(h.cluster);
      const key = this.ctx.keyring.choose(h.keyIds);
      if (!key)
        throw new ProtocolError(ErrorCode.Auth, 'no shared cluster key (wrong secret?)', RejectReason.AuthFailed);
      const refusal = this.ctx.admit(h, this.socket.remoteAddress);
      if (refusal) throw new ProtocolError(refusal.code, refusal.message, refusal.reason);
      this.key = key;
      this.peerId = h.serverId;
      this.peerListen = h.listen;
      this.peerVersion = h.version;
      const ack = {
        version: [PROTOCOL_VERSION.major, PROTOCOL_VERSION.minor] as [number, number],
        cluster: this.ctx.cluster,
        serverId: this.ctx.serverId,
        listen: this.ctx.listen,
        nonce: this.nonce,
        keyId: key.id,
      };
      this.transcript = { hello: h, ack };
      this.write({ type: MessageType.HelloAck, body: { ...ack, proof: proof(key, 'server', this.transcript) } });
      return;
    }
    if (m.type === MessageType.HelloProof && this.transcript && this.key) {
      if (!proofMatches(proof(this.key, 'client', this.transcript), m.body.proof))
        throw new ProtocolError(ErrorCode.Auth, 'client proof is wrong (wrong secret?)', RejectReason.AuthFailed);
      this.open(this.key, this.transcript);
      return;
    }
    throw new ProtocolError(ErrorCode.BadMessage, `unexpected message ${m.type} during the handshake`);
  }

  private clientHandshake(m: Message): void {
    if (m.type !== MessageType.HelloAck || this.transcript)
      throw new ProtocolError(ErrorCode.BadMessage, `unexpected message ${m.type} during the handshake`);
    const a = m.body;
    this.checkVersion(a.version);
    this.checkCluster(a.cluster);
    if (this.peerId !== undefined && a.serverId !== this.peerId)
      throw new ProtocolError(
        ErrorCode.UnknownPeer,
        `expected peer "${this.peerId}" at ${this.remoteAddress} but "${a.serverId}" answered`,
        RejectReason.UnknownPeer,
      );
    const key = this.ctx.keyring.get(a.keyId);
    if (!key) throw new ProtocolError(ErrorCode.Auth, 'peer chose a key we do not hold', RejectReason.AuthFailed);
    if (!this.hello) throw new ProtocolError(ErrorCode.BadMessage, 'HelloAck before this side sent its Hello');
    const t: Transcript = {
      hello: this.hello,
      ack: {
        version: a.version,
        cluster: a.cluster,
        serverId: a.serverId,
        listen: a.listen,
        nonce: a.nonce,
        keyId: a.keyId,
      },
    };
    if (!proofMatches(proof(key, 'server', t), a.proof))
      throw new ProtocolError(ErrorCode.Auth, 'server proof is wrong (wrong secret?)', RejectReason.AuthFailed);
    this.peerId = a.serverId;
    this.peerListen = a.listen;
    this.peerVersion = a.version;
    this.write({ type: MessageType.HelloProof, body: { proof: proof(key, 'client', t) } });
    this.open(key, t);
  }

  private open(key: Key, t: Transcript): void {
    this.auth = new FrameAuth(key, this.role, t);
    this.state = 'open';
    this.decoder.maxFrameBytes = this.ctx.maxFrameBytes;
    clearTimeout(this.timer);
    // After the handshake, every complete frame re-arms this: silence or a
    // byte drip that never completes a frame for idleTimeoutMs closes it.
    this.timer = setTimeout(
      () =>
        this.fail({
          reason: RejectReason.Timeout,
          code: ErrorCode.IdleTimeout,
          message: 'no complete frame within the idle timeout',
        }),
      this.ctx.idleTimeoutMs,
    );
    this.emit('open');
  }

  isClosed(): boolean {
    return this.state === 'closed';
  }

  /** Hands the bytes counted during the handshake to the byte counter. */
  flushPendingBytes(): void {
    if (!this.onBytes) return;
    if (this.pendingIn) this.onBytes('in', this.pendingIn);
    if (this.pendingOut) this.onBytes('out', this.pendingOut);
    this.pendingIn = 0;
    this.pendingOut = 0;
  }
}
