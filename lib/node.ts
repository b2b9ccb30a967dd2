// ClusterNode: composes the region-backed registry, the TCP listener and
// dialers, the authenticated protocol and the heartbeat monitor. It is the
// only writer of its region; any local process reads it with ClusterView.
import { EventEmitter } from 'node:events';
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import { defaults } from './defaults.js';
import { CommyError, ErrorCode } from './errors.js';
import { HeartbeatMonitor } from './heartbeat.js';
import { Keyring, resolveKeyring } from './protocol/auth.js';
import { RejectReason, rejectReasonNames } from './protocol/errors.js';
import { MessageType, type Hello, type Message, type MigrationReason, type PeerView } from './protocol/messages.js';
import { ConnectionPool } from './registry/connection-pool.js';
import { formatAddress, parseAddress, parseConfig, type PeerConfig } from './registry/config.js';
import { PeerRegistry, type PeerStatusChange } from './registry/registry.js';
import { encodeMetadata } from './region/metadata.js';
import { PeerStatus } from './status.js';
import { Connection, type ConnectionContext, type Rejection } from './transport/connection.js';
import { keepNewConnection } from './transport/dedupe.js';
import { Dialer, defaultDialPolicy, type DialPolicy } from './transport/dialer.js';

export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
}

/** What `ClusterNode.start` takes beyond the config file's fields. */
export interface ClusterNodeOptions {
  /** Cluster secret(s), primary first; COMMY_SECRET overrides. */
  secret?: string | string[];
  /** A connection that has not completed its handshake by then is closed (default 5000). */
  handshakeTimeoutMs?: number;
  /** Close a connection with no complete frame for this long (default: heartbeatTimeoutMs × (downAfter + 1), at least 5 s). */
  idleTimeoutMs?: number;
  /** Larger frames close the connection as bad_frame (default 1 MiB). */
  maxFrameBytes?: number;
  /** Admit peers that know the secret but are not in the config (default false). */
  allowDynamicJoin?: boolean;
  /** This node's metadata, sent to every peer; at most 512 bytes as JSON. */
  metadata?: Record<string, string>;
  /** Overrides of the reconnection policy; unset fields keep the defaults of {@link DialPolicy}. */
  dialPolicy?: Partial<DialPolicy>;
  /** Request timeout for explain() and announceClientMigration() (default: 2 × heartbeatIntervalMs, at least 1 s). */
  requestTimeoutMs?: number;
  logger?: Logger;
  /** Remove the region's name on stop (default false: readers see "stopped"). */
  unlinkOnStop?: boolean;
}

export interface PeerOpinion {
  status: string;
  missedHeartbeats: number;
  lastSeenMs: number | null;
}

export interface Explanation {
  peerId: string;
  /** This node's view. */
  local: PeerOpinion | null;
  /** Each reachable peer's view of peerId, or the error asking it. */
  peers: Record<string, PeerOpinion | { error: string }>;
}

export interface MigrationResult {
  acked: string[];
  missing: string[];
}

export interface RejectedEvent extends Rejection {
  remoteAddress: string;
}

/** A peer's announcement that a client moves between servers (see announceClientMigration). */
export interface ClientMigrationEvent {
  clientId: string;
  from: string;
  to: string;
  reason: MigrationReason;
  /** The serverId of the peer that announced it. */
  origin: string;
}

export interface ClusterNodeEvents {
  peerStatusChanged: [PeerStatusChange];
  peerMetadata: [{ serverId: string; metadata: Record<string, string> }];
  clientMigration: [ClientMigrationEvent];
  rejected: [RejectedEvent];
  peerConnected: [{ serverId: string; direction: 'inbound' | 'outbound' }];
  peerDisconnected: [{ serverId: string; error?: string }];
}

interface Pending {
  resolve(m: Message | { error: string }): void;
  timer: NodeJS.Timeout;
}

export class ClusterNode extends EventEmitter<ClusterNodeEvents> {
  readonly config: PeerConfig;
  readonly registry: PeerRegistry;
  readonly pool: ConnectionPool;
  private readonly opts: ClusterNodeOptions;
  private readonly keyring: Keyring;
  private readonly server: Server;
  private readonly ctx: ConnectionContext;
  private readonly heartbeat: HeartbeatMonitor;
  private readonly dialPolicy: DialPolicy;
  /** The one open connection per peer id. */
  private readonly active = new Map<string, Connection>();
  private readonly all = new Set<Connection>();
  /** Dialers by peer id (static peers named in the config, or learned ids). */
  private readonly dialers = new Map<string, Dialer>();
  private readonly pending = new Map<number, Pending>();
  private readonly pingSentAt = new Map<string, Map<number, number>>();
  private metadata: Record<string, string>;
  private nextRequestId = 1;
  private pingSequence = 0;
  private stopping = false;
  private whenStopped: Promise<void> | undefined;
  private listenAddress = '';

  private constructor(config: PeerConfig, opts: ClusterNodeOptions) {
    super();
    this.config = config;
    this.opts = opts;
    this.keyring = resolveKeyring({ secret: opts.secret ?? config.secret, secretFile: config.secretFile });
    this.metadata = opts.metadata ?? {};
    encodeMetadata(this.metadata); // refuse oversized metadata before starting
    this.dialPolicy = { ...defaultDialPolicy, ...opts.dialPolicy };
    this.registry = new PeerRegistry(config);
    this.pool = new ConnectionPool(this.registry);
    this.registry.on('peerStatusChanged', (c) => this.emit('peerStatusChanged', c));
    this.ctx = {
      cluster: config.cluster,
      serverId: config.serverId,
      listen: config.listenAddress,
      keyring: this.keyring,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? defaults.handshakeTimeoutMs,
      idleTimeoutMs:
        opts.idleTimeoutMs ?? Math.max(defaults.minIdleTimeoutMs, config.heartbeatTimeoutMs * (config.downAfter + 1)),
      maxFrameBytes: opts.maxFrameBytes ?? defaults.maxFrameBytes,
      admit: (hello) => this.admit(hello),
    };
    this.server = createServer((socket) => this.accept(socket));
    this.heartbeat = new HeartbeatMonitor(config.heartbeatIntervalMs, config.heartbeatTimeoutMs, {
      peers: () => this.registry.getAllPeers().map((p) => p.serverId),
      connected: (id) => this.active.has(id),
      sendPing: (id) => this.sendPing(id),
      silenceMs: (id) => this.registry.timeSinceHeartbeat(id),
      markMissed: (id) => this.registry.markHeartbeatMissed(id),
      publishLag: (lagMs) =>
        this.registry.updateHeader((h) => ({
          eventLoopLagMs: lagMs,
          maxEventLoopLagMs: Math.max(h.maxEventLoopLagMs, lagMs),
        })),
    });
  }

  /**
   * Starts a node: creates its region, listens, dials the static peers and
   * starts heartbeats. `config` is a PeerConfig or the raw JSON object.
   */
  static async start(
    config: PeerConfig | Record<string, unknown>,
    opts: ClusterNodeOptions = {},
  ): Promise<ClusterNode> {
    const parsed = 'listenAddress' in config ? (config as PeerConfig) : parseConfig(config);
    const node = new ClusterNode(parsed, opts);
    await node.begin();
    return node;
  }

  private async begin(): Promise<void> {
    const { host, port } = parseAddress(this.config.listenAddress, 'listen', { allowPortZero: true });
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ host, port }, () => {
        this.server.off('error', reject);
        resolve();
      });
    }).catch((err: NodeJS.ErrnoException) => {
      throw new CommyError(
        ErrorCode.Listen,
        `cannot listen on ${this.config.listenAddress}: ${err.code ?? err.message}`,
      );
    });
    const bound = this.server.address() as AddressInfo;
    this.listenAddress = formatAddress({ host, port: bound.port });
    this.ctx.listen = this.listenAddress;
    try {
      this.registry.initialize();
    } catch (err) {
      this.server.close();
      throw err;
    }
    this.registry.updateHeader(() => ({ listen: this.listenAddress }));
    for (const p of this.config.staticPeers) this.startDialer(p.serverId ?? p.address, p.address);
    this.heartbeat.start();
  }

  /** The address actually listened on (the port is filled in when the config says 0). */
  get address(): string {
    return this.listenAddress;
  }

  get serverId(): string {
    return this.config.serverId;
  }

  /** Open connections, one per peer. */
  connections(): { serverId: string; direction: 'inbound' | 'outbound'; remoteAddress: string }[] {
    return [...this.active].map(([serverId, c]) => ({
      serverId,
      direction: c.role === 'client' ? ('outbound' as const) : ('inbound' as const),
      remoteAddress: c.remoteAddress,
    }));
  }

  /** Every socket this node holds, open or handshaking. */
  get socketCount(): number {
    return this.all.size;
  }

  /** Heartbeat ticks whose misses were skipped because this node itself stalled. */
  get stalledTicks(): number {
    return this.heartbeat.stalledTicks;
  }

  /** Rejected frames and connections by reason, as published in the region. */
  rejectedFrames(): Record<string, number> {
    const counts = this.registry.writer.header().rejectedFrames;
    return Object.fromEntries(rejectReasonNames.map((n, i) => [n, counts[i] ?? 0]));
  }

  // ---- connections -------------------------------------------------------

  private admit(hello: Hello): Rejection | null {
    if (this.stopping) return { reason: RejectReason.Other, code: ErrorCode.Stopping, message: 'node is stopping' };
    if (hello.serverId === this.config.serverId)
      return {
        reason: RejectReason.Duplicate,
        code: ErrorCode.DuplicateId,
        message: `serverId "${hello.serverId}" is this node's own id`,
      };
    if (this.registry.hasPeer(hello.serverId)) return null;
    // A peer configured by address only: its hello tells us its id.
    if (this.registry.hasPeer(hello.listen)) return null;
    if (this.opts.allowDynamicJoin) return null;
    return {
      reason: RejectReason.UnknownPeer,
      code: ErrorCode.UnknownPeer,
      message: `serverId "${hello.serverId}" is not in this node's peer list`,
    };
  }

  private accept(socket: Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    this.track(new Connection(socket, 'server', this.ctx));
  }

  private startDialer(key: string, address: string): void {
    if (this.dialers.has(key)) return;
    const { host, port } = parseAddress(address, 'address');
    let peerKey = key;
    const dialer = new Dialer(this.dialPolicy, {
      connected: () => this.active.has(peerKey),
      dial: () =>
        new Promise<void>((resolve, reject) => {
          // A dial that cockatiel starts after stop() began would outlive the stop.
          if (this.stopping) {
            reject(new Error('node is stopping'));
            return;
          }
          const socket = connect({ host, port });
          const expected = this.registry.hasPeer(peerKey) && peerKey !== address ? peerKey : undefined;
          const c = this.track(new Connection(socket, 'client', this.ctx, expected));
          c.once('open', () => {
            if (c.peerId && c.peerId !== peerKey) {
              this.dialers.delete(peerKey);
              peerKey = c.peerId;
              this.dialers.set(peerKey, dialer);
            }
            resolve();
          });
          c.once('close', ({ error }) => reject(new Error(error ?? 'connection closed during the handshake')));
        }),
      onAttempt: () => {
        if (this.registry.hasPeer(peerKey)) this.pool.recordAttempt(peerKey);
      },
      onSuccess: () => undefined,
      onFailure: ({ error, retryAtMs, circuitOpen }) => {
        if (this.registry.hasPeer(peerKey) && !this.active.has(peerKey))
          this.pool.markInactive(peerKey, { error, retryAtMs, circuitOpen });
      },
    });
    this.dialers.set(key, dialer);
    dialer.start();
  }

  private track(c: Connection): Connection {
    this.all.add(c);
    c.on('rejected', (r) => this.reject(r, c.remoteAddress));
    c.on('remoteError', (e) =>
      this.opts.logger?.warn({ peer: c.peerId, remote: c.remoteAddress, ...e }, 'peer sent an error'),
    );
    c.once('open', () => this.opened(c));
    c.once('close', ({ error }) => this.closed(c, error));
    return c;
  }

  private reject(r: Rejection, remoteAddress: string): void {
    this.registry.updateHeader((h) => {
      const rejectedFrames = [...h.rejectedFrames];
      rejectedFrames[r.reason] = (rejectedFrames[r.reason] ?? 0) + 1;
      return { rejectedFrames };
    });
    this.opts.logger?.warn({ reason: rejectReasonNames[r.reason], code: r.code, remote: remoteAddress }, r.message);
    this.emit('rejected', { ...r, remoteAddress });
  }

  private opened(c: Connection): void {
    const id = c.peerId!;
    if (!this.registry.hasPeer(id)) {
      if (c.peerListen && this.registry.hasPeer(c.peerListen)) this.registry.identifyPeer(c.peerListen, id);
      else this.registry.addPeer({ serverId: id, address: c.peerListen || c.remoteAddress });
    }
    const existing = this.active.get(id);
    if (existing && existing !== c) {
      // A fresh, authenticated connection always replaces one on which the
      // peer has gone silent long enough to be suspected (half-open after a
      // network fault): the peer has already dropped it, so the tie-break
      // would keep a dead connection and refuse every redial until the idle
      // timeout. Otherwise both ends apply the same tie-break.
      const stale = this.registry.getPeer(id)?.status !== PeerStatus.Healthy;
      const keepNew = stale || keepNewConnection(this.config.serverId, id, existing.role, c.role);
      const loser = keepNew ? existing : c;
      this.active.set(id, keepNew ? c : existing);
      loser.onBytes = undefined;
      loser.close();
      if (!keepNew) return;
    } else {
      this.active.set(id, c);
    }
    c.onBytes = (dir, n) => {
      if (!this.registry.hasPeer(id)) return;
      if (dir === 'in') this.registry.addBytesReceived(id, n);
      else this.registry.addBytesSent(id, n);
    };
    c.flushPendingBytes();
    c.on('message', (m) => this.onMessage(c, id, m));
    this.pool.markActive(id);
    this.registry.markHeartbeatReceived(id); // a completed handshake is a valid frame
    this.emit('peerConnected', { serverId: id, direction: c.role === 'client' ? 'outbound' : 'inbound' });
    if (Object.keys(this.metadata).length > 0)
      c.send({ type: MessageType.MetadataExchange, body: { metadata: this.metadata } });
  }

  private closed(c: Connection, error?: string): void {
    this.all.delete(c);
    const id = c.peerId;
    if (!id || this.active.get(id) !== c) return;
    this.active.delete(id);
    this.pingSentAt.delete(id);
    if (this.stopping) return;
    if (this.registry.hasPeer(id)) this.pool.markInactive(id, error ? { error } : {});
    this.emit('peerDisconnected', { serverId: id, ...(error ? { error } : {}) });
    this.dialers.get(id)?.disconnected();
  }

  // ---- messages ------------------------------------------------------------

  private onMessage(c: Connection, id: string, m: Message): void {
    if (this.active.get(id) !== c || !this.registry.hasPeer(id)) return;
    // Any valid frame from a peer is a heartbeat.
    this.registry.markHeartbeatReceived(id);
    switch (m.type) {
      case MessageType.HeartbeatPing: {
        const s = this.registry.getClusterStatus();
        const status = !s.quorumAvailable ? 'no-quorum' : s.isDegraded ? 'degraded' : 'ok';
        c.send({ type: MessageType.HeartbeatPong, body: { ...m.body, serverId: this.config.serverId, status } });
        break;
      }
      case MessageType.HeartbeatPong: {
        const sent = this.pingSentAt.get(id)?.get(m.body.sequence);
        if (sent !== undefined) {
          this.pingSentAt.get(id)?.delete(m.body.sequence);
          this.registry.updateConnection(id, { rttMs: performance.now() - sent });
        }
        break;
      }
      case MessageType.MetadataExchange:
        try {
          this.registry.setPeerMetadata(id, m.body.metadata);
          this.emit('peerMetadata', { serverId: id, metadata: m.body.metadata });
        } catch (err) {
          this.opts.logger?.warn({ peer: id }, (err as Error).message);
        }
        c.send({ type: MessageType.MetadataAck, body: {} });
        break;
      case MessageType.StateSyncRequest:
        c.send({ type: MessageType.StateSyncResponse, body: { requestId: m.body.requestId, peers: this.ownView() } });
        break;
      case MessageType.ClientMigration:
        this.emit('clientMigration', { ...m.body, origin: id });
        c.send({ type: MessageType.ClientMigrationAck, body: { requestId: m.body.requestId } });
        break;
      case MessageType.StateSyncResponse:
      case MessageType.ClientMigrationAck:
        this.settle(m.body.requestId, m);
        break;
      case MessageType.Leave:
        this.registry.markDown(id, 'left');
        c.close();
        break;
      case MessageType.Error:
        if (m.body.requestId !== null) this.settle(m.body.requestId, { error: `${m.body.code}: ${m.body.message}` });
        break;
      default:
        break;
    }
  }

  private sendPing(id: string): void {
    const c = this.active.get(id);
    if (!c) return;
    const sequence = ++this.pingSequence;
    let sent = this.pingSentAt.get(id);
    if (!sent) this.pingSentAt.set(id, (sent = new Map()));
    if (sent.size > 16) sent.clear(); // unanswered pings: keep the map bounded
    sent.set(sequence, performance.now());
    c.send({
      type: MessageType.HeartbeatPing,
      body: { serverId: this.config.serverId, timestamp: Date.now(), sequence },
    });
  }

  private ownView(): PeerView[] {
    return this.registry.getAllPeers().map((p) => ({
      serverId: p.serverId,
      status: p.status,
      missedHeartbeats: p.missedHeartbeats,
      lastSeenMs: p.lastSeenMs,
    }));
  }

  private request(id: string, build: (requestId: number) => Message): Promise<Message | { error: string }> {
    const c = this.active.get(id);
    if (!c) return Promise.resolve({ error: 'not connected' });
    const requestId = this.nextRequestId++;
    const timeoutMs =
      this.opts.requestTimeoutMs ?? Math.max(defaults.minRequestTimeoutMs, 2 * this.config.heartbeatIntervalMs);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.pending.delete(requestId);
        resolve({ error: `no answer within ${timeoutMs} ms` });
      }, timeoutMs);
      this.pending.set(requestId, { resolve, timer });
      c.send(build(requestId));
    });
  }

  private settle(requestId: number, m: Message | { error: string }): void {
    const p = this.pending.get(requestId);
    if (!p) return;
    clearTimeout(p.timer);
    this.pending.delete(requestId);
    p.resolve(m);
  }

  // ---- public operations -----------------------------------------------------

  /** Replaces this node's metadata (at most 512 bytes encoded) and sends it to every peer. */
  setMetadata(metadata: Record<string, string>): void {
    encodeMetadata(metadata);
    this.metadata = { ...metadata };
    for (const c of this.active.values())
      c.send({ type: MessageType.MetadataExchange, body: { metadata: this.metadata } });
  }

  getPeerMetadata(id: string): Record<string, string> {
    return this.registry.getPeerMetadata(id);
  }

  /** What this node and every reachable peer think of `peerId`: shows one-sided partitions. */
  async explain(peerId: string): Promise<Explanation> {
    const p = this.registry.getPeer(peerId);
    const local = p ? { status: p.status, missedHeartbeats: p.missedHeartbeats, lastSeenMs: p.lastSeenMs } : null;
    const peers: Explanation['peers'] = {};
    await Promise.all(
      [...this.active.keys()].map(async (id) => {
        const answer = await this.request(id, (requestId) => ({
          type: MessageType.StateSyncRequest,
          body: { requestId },
        }));
        if ('error' in answer) peers[id] = answer;
        else if (answer.type === MessageType.StateSyncResponse) {
          if (id === peerId) peers[id] = { status: PeerStatus.Healthy, missedHeartbeats: 0, lastSeenMs: Date.now() };
          else {
            const v = answer.body.peers.find((p) => p.serverId === peerId);
            peers[id] = v
              ? { status: v.status, missedHeartbeats: v.missedHeartbeats, lastSeenMs: v.lastSeenMs }
              : { error: `does not track ${peerId}` };
          }
        }
      }),
    );
    return { peerId, local, peers };
  }

  /** Tells every connected peer that a client moves; resolves with who acknowledged. */
  async announceClientMigration(m: {
    clientId: string;
    from: string;
    to: string;
    reason: MigrationReason;
  }): Promise<MigrationResult> {
    const ids = [...this.active.keys()];
    const answers = await Promise.all(
      ids.map((id) =>
        this.request(id, (requestId) => ({ type: MessageType.ClientMigration, body: { requestId, ...m } })).then(
          (a) => [id, a] as const,
        ),
      ),
    );
    return {
      acked: answers.filter(([, a]) => !('error' in a)).map(([id]) => id),
      missing: answers.filter(([, a]) => 'error' in a).map(([id]) => id),
    };
  }

  /**
   * Graceful stop: Leave to every open peer, every socket closed (handshaking
   * ones at once, open ones after a bounded flush), the listener closed, each
   * peer's connection published `idle`, then "stopped". Every call returns the
   * same promise, settled once all of that is done: afterwards the node holds no
   * socket or timer, so none of its events fires again.
   */
  stop(): Promise<void> {
    this.whenStopped ??= this.shutdown();
    return this.whenStopped;
  }

  private async shutdown(): Promise<void> {
    this.stopping = true;
    this.heartbeat.stop();
    for (const d of this.dialers.values()) d.stop();
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.resolve({ error: 'node stopped' });
    }
    this.pending.clear();
    for (const c of this.active.values()) c.send({ type: MessageType.Leave, body: { reason: 'left' } });
    const connections = [...this.all];
    for (const c of connections) {
      // An open peer gets its Leave flushed; a half-done handshake has nothing worth waiting for.
      if (c.state === 'open') c.close();
      else c.destroy();
    }
    await Promise.all([
      new Promise<void>((resolve) => this.server.close(() => resolve())),
      ...connections.map((c) => c.socketClosed),
    ]);
    this.active.clear();
    // No dialer runs any more: a reader of the stopped region must not see a
    // live connection, a retry time or an open circuit that nothing will act on.
    for (const p of this.registry.getAllPeers()) this.pool.markInactive(p.serverId);
    this.registry.close({ unlink: this.opts.unlinkOnStop === true });
  }
}
