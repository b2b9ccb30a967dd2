// ClusterNode: composes the region-backed registry, the TCP listener and
// dialers, the authenticated protocol and the heartbeat monitor. It is the
// only writer of its region; any local process reads it with ClusterView.
import { EventEmitter } from 'node:events';
import { createServer, connect, type Server, type Socket, type AddressInfo } from 'node:net';
import { networkInterfaces } from 'node:os';
import { performance } from 'node:perf_hooks';
import { defaults } from './defaults.js';
import { CommyError, ConfigError, ErrorCode, invalidArg } from './errors.js';
import { HeartbeatMonitor } from './heartbeat.js';
import { Keyring, resolveKeyring } from './protocol/auth.js';
import { RejectReason, rejectReasonNames } from './protocol/errors.js';
import {
  MEMBER_LIST_MINOR,
  MessageType,
  ONE_EXCHANGE_MINOR,
  type Hello,
  type Message,
  type MigrationReason,
  type PeerView,
} from './protocol/messages.js';
import { ConnectionPool } from './registry/connection-pool.js';
import { chooseAdvertise } from './discovery/advertise.js';
import { Membership, type Member, type MembershipChange } from './discovery/membership.js';
import { DnsProvider } from './discovery/dns.js';
import { DiscoverySources, type Discovered, type DiscoveryState, type Provider } from './discovery/sources.js';
import type { DiscoveryConfig } from './registry/discovery-config.js';
import {
  checkTimerMs,
  formatAddress,
  isWildcardHost,
  parseAddress,
  parseConfig,
  type PeerConfig,
} from './registry/config.js';
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
  /** Frame cap before the handshake completes (default 4096, `defaults.maxHandshakeFrameBytes`). */
  maxHandshakeFrameBytes?: number;
  /**
   * Inbound connections in their handshake at once, all remote addresses together (default 128); a
   * socket over the limit is closed as it is accepted and counted as rejected (`other`).
   */
  maxHandshakingConnections?: number;
  /** Inbound connections in their handshake at once from one remote IP address (default 16). */
  maxHandshakingPerAddress?: number;
  /**
   * Admit a peer that knows the secret though this node has not heard of it (default true: `peers` are
   * seeds, and a new member joins through any of them). False: only members named in the config or
   * learned from other members' lists are admitted; others are refused with ERR_UNKNOWN_PEER.
   */
  allowDynamicJoin?: boolean;
  /** Members not named in the config tracked at once (default: as many as the region has slots); more are refused. */
  maxDynamicPeers?: number;
  /** @deprecated The config field `reapAfterMs`, which wins when both are set. */
  dynamicPeerExpiryMs?: number;
  /** How often the whole member list goes to one peer, healing what a lost update missed (default 30000). */
  memberSyncMs?: number;
  /** This node's metadata, sent to every peer; at most 512 bytes as JSON. */
  metadata?: Record<string, string>;
  /** Overrides of the reconnection policy; unset fields keep the defaults of {@link DialPolicy}. */
  dialPolicy?: Partial<DialPolicy>;
  /** Request timeout for explain() and announceClientMigration() (default: 2 × heartbeatIntervalMs, at least 1 s). */
  requestTimeoutMs?: number;
  logger?: Logger;
  /**
   * Remove the region's name on a clean stop (default true): the next reader
   * finds no region (exit 3), readers that hold it keep its last state
   * ("stopped"). A crashed node's region always stays, for `status` to report.
   */
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

/** A change of membership (not of health): a member learned, restarted, gone or reaped. */
export interface MembershipEvent {
  kind: 'joined' | 'restarted' | 'left' | 'reaped';
  serverId: string;
  address: string;
  incarnation: number;
  /** Who told this node: a peer's serverId, or "self" for what it saw itself. */
  source: string;
}

/** A membership source became reachable or unreachable (the state is also in the region). */
export interface DiscoveryEvent extends DiscoveryState {
  provider: string;
  providerUp: boolean;
}

export interface ClusterNodeEvents {
  membershipChanged: [MembershipEvent];
  discoveryChanged: [DiscoveryEvent];
  peerStatusChanged: [PeerStatusChange];
  peerMetadata: [{ serverId: string; metadata: Record<string, string> }];
  clientMigration: [ClientMigrationEvent];
  rejected: [RejectedEvent];
  peerConnected: [{ serverId: string; direction: 'inbound' | 'outbound' }];
  peerDisconnected: [{ serverId: string; error?: string }];
}

interface Pending {
  /** The peer the request went to: only its connection may answer. */
  peer: string;
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
  /** Inbound connections still in their handshake, by remote IP address. */
  private readonly handshaking = new Map<string, number>();
  private handshakingTotal = 0;
  /** Members not named in the config (admitted or learned): reaped when they stay down. */
  private readonly dynamicPeers = new Set<string>();
  /** Who the members are; the registry's slots follow it. */
  private readonly membership: Membership;
  private readonly reapAfterMs: number;
  private ticks = 0;
  /** Addresses already reported as using this node's serverId (logged once each). */
  private readonly conflicts = new Set<string>();
  /** Peers already warned about for frames that are not encrypted (allowUnencryptedPeers). */
  private readonly unencryptedLogged = new Set<string>();
  /** Members a registry dropped while they still heartbeated: removed once heartbeats mark them down. */
  private readonly unlisted = new Set<string>();
  /** DNS and etcd providers, when the config has a discovery section. */
  private sources: DiscoverySources | undefined;
  /** Rejections not yet added to the region header: written once per event-loop turn, not per socket. */
  private readonly unflushedRejects: number[] = rejectReasonNames.map(() => 0);
  private rejectFlush: NodeJS.Immediate | undefined;
  /** Rate limit of rejection logs: a flood must not turn into a flood of log lines. */
  private logWindowStartMs = 0;
  private logsInWindow = 0;
  private logsSuppressed = 0;
  private regionClosed = false;
  private readonly pingSentAt = new Map<string, Map<number, number>>();
  /** The last round trip measured to each peer this node pings, in µs: its next ping carries it. */
  private readonly rttMicros = new Map<string, number>();
  /** This node's own view as its pongs report it; recomputed after a status or membership change. */
  private ownStatus: string | undefined;
  private metadata: Record<string, string>;
  private nextRequestId = 1;
  private pingSequence = 0;
  private stopping = false;
  private whenStopped: Promise<void> | undefined;
  private listenAddress = '';
  private advertised = '';
  /** Addresses of the peers configured without a serverId: their slots are named by them until identified. */
  private readonly unnamedPeers: ReadonlySet<string>;

  private constructor(config: PeerConfig, opts: ClusterNodeOptions) {
    super();
    ClusterNode.checkTimers(config, opts);
    this.config = config;
    this.opts = opts;
    this.unnamedPeers = new Set(config.staticPeers.filter((p) => p.serverId === undefined).map((p) => p.address));
    this.keyring = resolveKeyring({ secret: opts.secret ?? config.secret, secretFile: config.secretFile });
    this.metadata = opts.metadata ?? {};
    this.reapAfterMs = config.reapAfterMs ?? opts.dynamicPeerExpiryMs ?? defaults.reapAfterMs;
    // The start time is the incarnation: a restarted node has a greater one, with no state kept between runs.
    this.membership = new Membership(
      { serverId: config.serverId, address: config.listenAddress, incarnation: Date.now(), state: 'alive' },
      { tombstoneMs: this.reapAfterMs },
    );
    encodeMetadata(this.metadata); // refuse oversized metadata before starting
    this.dialPolicy = { ...defaultDialPolicy, ...opts.dialPolicy };
    this.registry = new PeerRegistry(config);
    this.pool = new ConnectionPool(this.registry);
    this.registry.on('peerStatusChanged', (c) => {
      this.ownStatus = undefined;
      this.emit('peerStatusChanged', c);
    });
    const membershipMoved = () => (this.ownStatus = undefined);
    this.registry.on('peerAdded', membershipMoved);
    this.registry.on('peerRemoved', membershipMoved);
    this.ctx = {
      cluster: config.cluster,
      serverId: config.serverId,
      listen: config.listenAddress,
      keyring: this.keyring,
      handshakeTimeoutMs: opts.handshakeTimeoutMs ?? defaults.handshakeTimeoutMs,
      idleTimeoutMs:
        opts.idleTimeoutMs ?? Math.max(defaults.minIdleTimeoutMs, config.heartbeatTimeoutMs * (config.downAfter + 1)),
      maxFrameBytes: opts.maxFrameBytes ?? defaults.maxFrameBytes,
      maxHandshakeFrameBytes: opts.maxHandshakeFrameBytes ?? defaults.maxHandshakeFrameBytes,
      allowUnencryptedPeers: config.allowUnencryptedPeers === true,
      admit: (hello, remoteHost) => this.admit(hello, remoteHost),
    };
    this.server = createServer((socket) => this.accept(socket));
    this.heartbeat = new HeartbeatMonitor(config.heartbeatIntervalMs, {
      peers: () => this.registry.getAllPeers().map((p) => p.serverId),
      connected: (id) => this.active.has(id),
      sendPing: (id) => this.sendPing(id),
      overdue: (id, lateMs) => this.registry.isOverdue(id, lateMs + this.slackMs(id)),
      markMissed: (id, lateMs) => this.registry.markHeartbeatMissed(id, lateMs + this.slackMs(id)),
      publishLag: (lagMs) =>
        this.registry.updateHeader((h) => ({
          eventLoopLagMs: lagMs,
          maxEventLoopLagMs: Math.max(h.maxEventLoopLagMs, lagMs),
        })),
      afterTick: () => this.afterTick(),
    });
  }

  /** Every duration handed to a timer must fit one (a larger one fires after 1 ms); the error names it. */
  private static checkTimers(config: PeerConfig, opts: ClusterNodeOptions): void {
    const option = (field: string, message: string) => invalidArg(`ClusterNode option "${field}" ${message}`);
    const optional: [string, number | undefined][] = [
      ['handshakeTimeoutMs', opts.handshakeTimeoutMs],
      ['idleTimeoutMs', opts.idleTimeoutMs],
      ['requestTimeoutMs', opts.requestTimeoutMs],
      ['dynamicPeerExpiryMs', opts.dynamicPeerExpiryMs],
      ['memberSyncMs', opts.memberSyncMs],
      ['dialPolicy.initialDelayMs', opts.dialPolicy?.initialDelayMs],
      ['dialPolicy.maxDelayMs', opts.dialPolicy?.maxDelayMs],
      ['dialPolicy.halfOpenAfterMs', opts.dialPolicy?.halfOpenAfterMs],
    ];
    for (const [field, v] of optional) if (v !== undefined) checkTimerMs(v, field, option);
    const field = (f: string, message: string) => new ConfigError(f, message);
    checkTimerMs(config.heartbeatIntervalMs, 'heartbeatIntervalMs', field);
    if (config.reapAfterMs !== undefined) checkTimerMs(config.reapAfterMs, 'reapAfterMs', field);
    checkTimerMs(config.heartbeatTimeoutMs, 'heartbeatTimeoutMs', field);
    if (opts.idleTimeoutMs === undefined)
      checkTimerMs(config.heartbeatTimeoutMs * (config.downAfter + 1), 'downAfter', (f, m) =>
        field(f, `gives a derived idle timeout (heartbeatTimeoutMs × (downAfter + 1)) that ${m}`),
      );
    if (opts.requestTimeoutMs === undefined)
      checkTimerMs(2 * config.heartbeatIntervalMs, 'heartbeatIntervalMs', (f, m) =>
        field(f, `gives a derived request timeout (2 × heartbeatIntervalMs) that ${m}`),
      );
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
    // After listen, an accept error (EMFILE, ENFILE) arrives here: without a listener it would end the
    // process. The server keeps listening; the connection that failed was never accepted.
    this.server.on('error', (err: NodeJS.ErrnoException) =>
      this.opts.logger?.warn({ code: err.code, error: err.message }, 'the listener failed to accept a connection'),
    );
    const bound = this.server.address() as AddressInfo;
    this.listenAddress = formatAddress({ host, port: bound.port });
    // The handshake announces where peers should dial, which a wildcard listen is not.
    const advertised = chooseAdvertise({ host, port: bound.port }, this.config.advertiseAddress);
    this.advertised = advertised.address;
    this.ctx.listen = advertised.address;
    this.membership.advertise(advertised.address);
    if (advertised.source === 'interface')
      this.opts.logger?.info(
        { listen: this.listenAddress, advertise: advertised.address, interface: advertised.interface },
        `listening on a wildcard: advertising ${advertised.address} (from ${advertised.interface}); set "advertise" to choose`,
      );
    else if (advertised.source === 'loopback')
      this.opts.logger?.warn(
        { listen: this.listenAddress, advertise: advertised.address },
        `listening on a wildcard, but this host has no non-loopback address: advertising ${advertised.address}, ` +
          'which only peers on this host can dial; set "advertise"',
      );
    try {
      this.registry.initialize();
    } catch (err) {
      this.server.close();
      throw err;
    }
    this.registry.updateHeader(() => ({ listen: this.listenAddress, advertise: this.advertised }));
    for (const p of this.config.staticPeers) {
      if (p.serverId !== undefined)
        this.membership.add({ serverId: p.serverId, address: p.address, incarnation: 0, state: 'alive' });
      this.startDialer(p.serverId ?? p.address, p.address);
    }
    this.heartbeat.start();
    if (this.config.discovery?.length) await this.startDiscovery(this.config.discovery);
  }

  /** The address actually listened on (the port is filled in when the config says 0). */
  get address(): string {
    return this.listenAddress;
  }

  /** The address this node announces to its peers: `advertise`, the listen address, or one picked for a wildcard. */
  get advertiseAddress(): string {
    return this.advertised;
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

  private admit(hello: Hello, remoteHost: string | undefined): Rejection | null {
    if (this.stopping) return { reason: RejectReason.Other, code: ErrorCode.Stopping, message: 'node is stopping' };
    if (hello.serverId === this.config.serverId)
      return {
        reason: RejectReason.Duplicate,
        code: ErrorCode.DuplicateId,
        message: `serverId "${hello.serverId}" is this node's own id`,
      };
    if (this.registry.hasPeer(hello.serverId)) return null;
    // A peer configured by address only: its hello tells us its id.
    if (this.unnamedSlotFor(hello.listen, remoteHost)) return null;
    if (this.opts.allowDynamicJoin !== false) return this.dynamicRoom();
    return {
      reason: RejectReason.UnknownPeer,
      code: ErrorCode.UnknownPeer,
      message: `serverId "${hello.serverId}" is not in this node's peer list`,
    };
  }

  /**
   * The slot of a peer configured as plain "host:port" (still named by that
   * address) that a connection belongs to: the address it dialed, else the
   * one the peer announced, else the announced port on the host it connected
   * from (a peer on a wildcard announces an address of its own choosing, not
   * the one this node was configured with).
   */
  private unnamedSlotFor(announced: string, remoteHost: string | undefined, dialed?: string): string | undefined {
    const candidates = [dialed, announced];
    if (remoteHost) {
      try {
        const host = remoteHost.replace(/^::ffff:(?=\d+\.)/i, ''); // an IPv4 peer on a dual-stack socket
        candidates.push(formatAddress({ host, port: parseAddress(announced, 'listen').port }));
      } catch {
        // an announced address without a usable port: nothing to match on
      }
    }
    return candidates.find((a) => a !== undefined && this.unnamedPeers.has(a) && this.registry.hasPeer(a));
  }

  /** Null while another dynamically admitted peer may join, else the refusal. */
  private dynamicRoom(): Rejection | null {
    const max = this.opts.maxDynamicPeers ?? Infinity; // the region's slots bound them anyway
    if (this.dynamicPeers.size < max) return null;
    return {
      reason: RejectReason.UnknownPeer,
      code: ErrorCode.TooManyDynamicPeers,
      message: `${this.dynamicPeers.size} dynamically joined peers are tracked, the most maxDynamicPeers allows`,
    };
  }

  private afterTick(): void {
    this.reap();
    const every = Math.max(
      1,
      Math.round((this.opts.memberSyncMs ?? defaults.memberSyncMs) / this.config.heartbeatIntervalMs),
    );
    if (++this.ticks % every === 0) {
      // One peer a round, in turn: the whole list heals an update a peer missed (it was connecting then).
      const open = [...this.active.values()];
      const c = open[(this.ticks / every) % Math.max(1, open.length)];
      if (c) this.sendMembers(c, this.membership.gossip());
    }
  }

  /** Removes the members not in the config that went away: no connection, down, unheard for reapAfterMs. */
  private reap(): void {
    for (const id of this.unlisted) {
      if (!this.registry.hasPeer(id)) this.unlisted.delete(id);
      else if (this.registry.getPeer(id)?.status === PeerStatus.Down) this.unlist(id, 'discovery');
    }
    for (const id of this.dynamicPeers) {
      if (this.active.has(id) || !this.registry.hasPeer(id)) continue;
      if (this.registry.getPeer(id)?.status !== PeerStatus.Down) continue;
      if (this.registry.timeSinceHeartbeat(id) <= this.reapAfterMs) continue;
      const member = this.membership.get(id);
      this.membership.remove(id);
      this.dropMember(id);
      this.announce({
        kind: 'reaped',
        serverId: id,
        address: member?.address ?? '',
        incarnation: member?.incarnation ?? 0,
        source: 'self',
      });
    }
  }

  /** Frees a member's slot and stops dialing it. */
  private dropMember(id: string): void {
    if (!this.registry.hasPeer(id)) return;
    this.registry.removePeer(id);
    this.dynamicPeers.delete(id);
    this.forgetPings(id);
    this.dialers.get(id)?.stop();
    this.dialers.delete(id);
    this.active.get(id)?.close();
  }

  private announce(e: MembershipEvent): void {
    const verb = { joined: 'joined', restarted: 'restarted', left: 'left', reaped: 'was reaped (down too long)' }[
      e.kind
    ];
    this.opts.logger?.info(
      { event: 'membershipChanged', ...e },
      `member ${e.serverId} ${verb}${e.address ? ` (${e.address})` : ''}${e.source === 'self' ? '' : `, from ${e.source}`}`,
    );
    this.emit('membershipChanged', e);
  }

  // ---- discovery -------------------------------------------------------------

  private async startDiscovery(configs: DiscoveryConfig[]): Promise<void> {
    const providers: Provider[] = [];
    try {
      for (const [i, d] of configs.entries()) providers.push(await this.provider(d, `discovery[${i}]`));
      this.sources = new DiscoverySources(providers, {
        join: (d, source) => this.discovered(d, source),
        leave: (d, source) => this.undiscovered(d, source),
        changed: (state, t) => this.discoveryChanged(state, t),
      });
      this.sources.start();
    } catch (err) {
      // A provider that cannot start (an unreadable TLS file) stops the node: nothing it started stays.
      await Promise.all(providers.map((p) => p.stop()));
      this.sources = undefined;
      await this.stop();
      throw err;
    }
  }

  private async provider(d: DiscoveryConfig, field: string): Promise<Provider> {
    if (d.provider === 'dns') return new DnsProvider(d);
    // Loaded only when configured: the etcd client (gRPC) costs a start-up that no other user should pay.
    const { EtcdProvider } = await import('./discovery/etcd.js');
    return new EtcdProvider(d, {
      cluster: this.config.cluster,
      field,
      self: () => ({ ...this.membership.self, metadata: this.metadata }),
    });
  }

  /** A registry lists a member: add it (an id is known) or dial the address to learn who is there. */
  private discovered(d: Discovered, source: string): void {
    if (this.stopping || !this.usable({ ...d, serverId: d.serverId ?? '', incarnation: 0, state: 'alive' })) return;
    if (d.serverId !== undefined) {
      if (d.serverId === this.config.serverId) return;
      this.unlisted.delete(d.serverId);
      const change = this.membership.add({ serverId: d.serverId, address: d.address, incarnation: 0, state: 'alive' });
      if (change && this.apply(change, source)) this.spread([change.member]);
      return;
    }
    if (this.isOwnAddress(d.address) || this.dialers.has(d.address)) return;
    const known = this.registry.getAllPeers().find((p) => p.address === d.address);
    if (known) this.unlisted.delete(known.serverId);
    else this.startDialer(d.address, d.address);
  }

  /**
   * A registry no longer lists a member: it is removed as if it had left, unless it is named in the config,
   * or is still connected and healthy (heartbeats, not a registry, decide that it is gone).
   */
  private undiscovered(d: Discovered, source: string): void {
    if (this.stopping) return;
    const unidentified = this.dialers.get(d.address);
    if (unidentified && d.serverId === undefined && !this.registry.hasPeer(d.address)) {
      unidentified.stop();
      this.dialers.delete(d.address);
    }
    const id = d.serverId ?? this.registry.getAllPeers().find((p) => p.address === d.address)?.serverId;
    if (id === undefined || !this.dynamicPeers.has(id)) return;
    if (this.registry.getPeer(id)?.status !== PeerStatus.Down) {
      this.unlisted.add(id);
      this.opts.logger?.info(
        { peer: id, source },
        `${source} no longer lists member ${id}, which still heartbeats: removed once heartbeats mark it down`,
      );
      return;
    }
    this.unlist(id, source);
  }

  private unlist(id: string, source: string): void {
    this.unlisted.delete(id);
    const gone = this.membership.forget(id);
    if (gone && this.apply(gone, source)) this.spread([gone.member]);
  }

  private discoveryChanged(state: DiscoveryState, t: { provider: string; up: boolean; error?: string } | null): void {
    if (this.regionClosed) return;
    this.registry.updateHeader(() => ({
      discoveryProviders: state.providers,
      discoveryUp: state.up ? 1 : 0,
      discoveryMembers: state.members,
      discoveryRefreshMs: state.lastRefreshMs ?? 0,
      discoveryError: state.error,
    }));
    if (!t) return;
    const fields = { event: 'discoveryChanged', provider: t.provider, members: state.members };
    if (t.up) this.opts.logger?.info(fields, `discovery: ${t.provider} answers; ${state.members} members listed`);
    else
      this.opts.logger?.warn(
        { ...fields, error: t.error },
        `discovery: ${t.provider} cannot be reached (${t.error}); keeping the last known members, marking none down`,
      );
    this.emit('discoveryChanged', { ...state, provider: t.provider, providerUp: t.up });
  }

  /** This node's own address as a registry lists it (every member is listed, this one too). */
  private isOwnAddress(address: string): boolean {
    if (address === this.advertised || address === this.listenAddress) return true;
    try {
      const { host, port } = parseAddress(address, 'address');
      if (port !== parseAddress(this.listenAddress, 'listen').port) return false;
      const local = Object.values(networkInterfaces()).flatMap((list) => (list ?? []).map((n) => n.address));
      return local.includes(host.replace(/^\[|\]$/g, ''));
    } catch {
      return false;
    }
  }

  // ---- membership ------------------------------------------------------------

  /** Sends member entries to a peer that understands them (protocol minor 1 and up). */
  private sendMembers(c: Connection, members: Member[]): void {
    if (members.length === 0 || c.peerVersion[1] < MEMBER_LIST_MINOR) return;
    c.send({ type: MessageType.MemberList, body: { members } });
  }

  /** Passes what changed on to every open peer but the one that told this node. */
  private spread(members: Member[], except?: string): void {
    if (members.length === 0) return;
    for (const [id, c] of this.active) if (id !== except) this.sendMembers(c, members);
  }

  /** A report this node can act on: a dialable address for a live member (a departure needs none). */
  private usable(m: Member): boolean {
    if (m.state === 'left') return true;
    try {
      return !isWildcardHost(parseAddress(m.address, 'address').host);
    } catch {
      return false;
    }
  }

  private onMemberList(from: string, members: Member[]): void {
    const changed: Member[] = [];
    let refuted = false;
    for (const m of members) {
      if (!this.usable(m)) continue;
      // Another member's word that one this node hears heartbeats from has left does not outweigh them:
      // a member that leaves tells this node itself, and closes the connection.
      if (
        m.state === 'left' &&
        this.active.has(m.serverId) &&
        this.registry.getPeer(m.serverId)?.status === PeerStatus.Healthy
      )
        continue;
      const change = this.membership.merge(m);
      if (!change || !this.apply(change, from)) continue;
      if (change.kind === 'refuted') refuted = true;
      else changed.push(change.member);
    }
    this.spread(changed, from);
    // The one that reported this node gone must hear the refutation too.
    if (refuted) this.spread([this.membership.self]);
  }

  /** Makes the registry and the dialers follow a membership change; false when it could not be applied. */
  private apply(change: MembershipChange, source: string): boolean {
    const m = change.member;
    const event = { serverId: m.serverId, address: m.address, incarnation: m.incarnation, source };
    switch (change.kind) {
      case 'joined': {
        if (!this.registry.hasPeer(m.serverId)) {
          const unnamed = this.unnamedSlotFor(m.address, undefined);
          if (unnamed) this.registry.identifyPeer(unnamed, m.serverId);
          else {
            const refusal = this.dynamicRoom();
            try {
              if (refusal) throw new CommyError(refusal.code, refusal.message);
              this.registry.addPeer({ serverId: m.serverId, address: m.address });
            } catch (err) {
              this.membership.remove(m.serverId);
              this.opts.logger?.warn(
                { peer: m.serverId, address: m.address, source },
                `cannot add member: ${(err as Error).message}`,
              );
              return false;
            }
            this.dynamicPeers.add(m.serverId);
          }
          if (!this.dialers.has(m.address)) this.startDialer(m.serverId, m.address);
        }
        this.announce({ kind: 'joined', ...event });
        return true;
      }
      case 'restarted':
        if (m.address !== change.previous.address && this.dynamicPeers.has(m.serverId)) {
          this.registry.setAddress(m.serverId, m.address);
          this.dialers.get(m.serverId)?.stop();
          this.dialers.delete(m.serverId);
          this.startDialer(m.serverId, m.address);
        }
        this.announce({ kind: 'restarted', ...event });
        return true;
      case 'left':
        // A member named in the config keeps its slot, down: the operator listed it. Any other is forgotten.
        if (this.dynamicPeers.has(m.serverId)) this.dropMember(m.serverId);
        else if (this.registry.hasPeer(m.serverId)) this.registry.markDown(m.serverId, 'left');
        this.announce({ kind: 'left', ...event });
        return true;
      case 'refuted':
        this.opts.logger?.warn(
          { incarnation: m.incarnation, source },
          `${source} reported this node as gone or newer: now at incarnation ${m.incarnation}`,
        );
        return true;
      case 'conflict':
        if (!this.conflicts.has(m.address)) {
          this.conflicts.add(m.address);
          this.opts.logger?.warn(
            { serverId: m.serverId, address: m.address, source },
            `another node announces this node's serverId "${m.serverId}" from ${m.address}: give every node its own`,
          );
        }
        return false;
    }
  }

  private accept(socket: Socket): void {
    if (this.stopping) {
      socket.destroy();
      return;
    }
    // An unauthenticated socket costs little now (a 4 KiB frame cap, no decoding of a frame the state
    // refuses), but their number must be bounded too: the excess is closed before any byte is read.
    const ip = socket.remoteAddress ?? '?';
    const fromIp = this.handshaking.get(ip) ?? 0;
    const maxTotal = this.opts.maxHandshakingConnections ?? defaults.maxHandshakingConnections;
    const maxPerIp = this.opts.maxHandshakingPerAddress ?? defaults.maxHandshakingPerAddress;
    if (this.handshakingTotal >= maxTotal || fromIp >= maxPerIp) {
      socket.destroy();
      const which =
        this.handshakingTotal >= maxTotal
          ? `${this.handshakingTotal} handshakes in progress (maxHandshakingConnections ${maxTotal})`
          : `${fromIp} handshakes in progress from ${ip} (maxHandshakingPerAddress ${maxPerIp})`;
      this.count(RejectReason.Other);
      this.log({ reason: 'other', code: ErrorCode.TooManyHandshakes, remote: ip }, `closed at accept: ${which}`);
      return;
    }
    this.handshaking.set(ip, fromIp + 1);
    this.handshakingTotal++;
    const c = this.track(new Connection(socket, 'server', this.ctx));
    let counted = true;
    const done = () => {
      if (!counted) return;
      counted = false;
      this.handshakingTotal--;
      const left = (this.handshaking.get(ip) ?? 1) - 1;
      if (left > 0) this.handshaking.set(ip, left);
      else this.handshaking.delete(ip);
    };
    c.once('open', done);
    c.once('close', done);
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
          const c = this.track(new Connection(socket, 'client', this.ctx, expected, address));
          c.once('open', () => {
            if (c.peerId && c.peerId !== peerKey) {
              this.dialers.delete(peerKey);
              peerKey = c.peerId;
              // A dialer of the same member at the address others announced for it: this one serves it now.
              const other = this.dialers.get(peerKey);
              if (other !== dialer) other?.stop();
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
    this.count(r.reason);
    this.log({ reason: rejectReasonNames[r.reason], code: r.code, remote: remoteAddress }, r.message);
    this.emit('rejected', { ...r, remoteAddress });
  }

  /** Counts a rejection; the region header is rewritten at most once per event-loop turn. */
  private count(reason: RejectReason): void {
    this.unflushedRejects[reason]++;
    this.rejectFlush ??= setImmediate(() => this.flushRejects());
  }

  private flushRejects(): void {
    if (this.rejectFlush) clearImmediate(this.rejectFlush);
    this.rejectFlush = undefined;
    if (this.regionClosed || !this.unflushedRejects.some((n) => n > 0)) return;
    const add = [...this.unflushedRejects];
    this.unflushedRejects.fill(0);
    this.registry.updateHeader((h) => ({ rejectedFrames: h.rejectedFrames.map((n, i) => n + (add[i] ?? 0)) }));
  }

  /** Rejection logs, at most 20 a second; the next line after a quiet second says how many were dropped. */
  private log(fields: object, message: string): void {
    const logger = this.opts.logger;
    if (!logger) return;
    const now = Date.now();
    if (now - this.logWindowStartMs >= 1000) {
      if (this.logsSuppressed > 0)
        logger.warn({ suppressed: this.logsSuppressed }, 'rejection log lines dropped in the last second');
      this.logWindowStartMs = now;
      this.logsInWindow = 0;
      this.logsSuppressed = 0;
    }
    if (this.logsInWindow++ < 20) logger.warn(fields, message);
    else this.logsSuppressed++;
  }

  private opened(c: Connection): void {
    const id = c.peerId!;
    if (!c.encrypted && !this.unencryptedLogged.has(id)) {
      this.unencryptedLogged.add(id);
      this.opts.logger?.warn(
        { peer: id, version: c.peerVersion.join('.') },
        `peer ${id} speaks protocol ${c.peerVersion.join('.')}: its frames are authenticated but not encrypted ` +
          '(admitted by allowUnencryptedPeers); upgrade it',
      );
    }
    const unnamed = this.unnamedSlotFor(c.peerListen, c.socket.remoteAddress, c.dialTarget);
    if (unnamed && this.dynamicPeers.has(id)) {
      // It joined dynamically before this connection showed it is a configured peer: keep the configured slot.
      this.registry.removePeer(id);
      this.dynamicPeers.delete(id);
    }
    if (!this.registry.hasPeer(id)) {
      if (unnamed) {
        this.registry.identifyPeer(unnamed, id);
        this.opts.logger?.info(
          { peer: id, address: unnamed, advertise: c.peerListen },
          'identified a peer configured by address',
        );
      } else {
        // Several new peers can pass admit() before the first opens: the limit is checked again here.
        const refusal = this.dynamicRoom();
        try {
          if (refusal) throw new CommyError(refusal.code, refusal.message);
          this.registry.addPeer({ serverId: id, address: c.peerListen || c.remoteAddress });
        } catch (err) {
          const e = err as CommyError;
          this.reject(
            { reason: RejectReason.UnknownPeer, code: e.code ?? ErrorCode.Internal, message: e.message },
            c.remoteAddress,
          );
          c.destroy();
          return;
        }
        this.dynamicPeers.add(id);
      }
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
      if (!keepNew) {
        // The slot may be new under this id (a dynamic peer folded into its configured slot above): it shows
        // the connection that stays.
        this.pool.markActive(id);
        return;
      }
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
    // A member that connected is one, whatever this node heard before; then each side sends its whole list.
    const address = this.registry.getPeer(id)?.address ?? c.peerListen;
    const direct = this.membership.add({ serverId: id, address, incarnation: 0, state: 'alive' });
    if (direct && this.apply(direct, 'self')) this.spread([direct.member], id);
    this.sendMembers(c, this.membership.gossip());
    this.emit('peerConnected', { serverId: id, direction: c.role === 'client' ? 'outbound' : 'inbound' });
    if (Object.keys(this.metadata).length > 0)
      c.send({ type: MessageType.MetadataExchange, body: { metadata: this.metadata } });
  }

  private closed(c: Connection, error?: string): void {
    this.all.delete(c);
    const id = c.peerId;
    if (!id || this.active.get(id) !== c) return;
    this.active.delete(id);
    this.forgetPings(id);
    if (this.stopping) return;
    if (this.registry.hasPeer(id)) this.pool.markInactive(id, error ? { error } : {});
    this.emit('peerDisconnected', { serverId: id, ...(error ? { error } : {}) });
    this.dialers.get(id)?.disconnected();
  }

  // ---- messages ------------------------------------------------------------

  private onMessage(c: Connection, id: string, m: Message): void {
    if (this.active.get(id) !== c || !this.registry.hasPeer(id)) return;
    // Any valid frame from a peer is a heartbeat; a heartbeat's round trip goes in the same write.
    this.registry.markHeartbeatReceived(id, this.roundTrip(c, id, m));
    switch (m.type) {
      case MessageType.HeartbeatPing: {
        const { timestamp, sequence } = m.body;
        c.send({
          type: MessageType.HeartbeatPong,
          body: { serverId: this.config.serverId, timestamp, sequence, status: this.pongStatus() },
        });
        break;
      }
      case MessageType.HeartbeatPong:
        break; // its round trip was taken above
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
        this.settle(m.body.requestId, id, m);
        break;
      case MessageType.Leave: {
        this.registry.markDown(id, 'left');
        c.close();
        // Every member hears of it, not only those connected to the one that left.
        const gone = this.membership.forget(id);
        if (gone && this.apply(gone, id)) this.spread([gone.member], id);
        break;
      }
      case MessageType.MemberList:
        this.onMemberList(id, m.body.members);
        break;
      case MessageType.Error:
        if (m.body.requestId !== null)
          this.settle(m.body.requestId, id, { error: `${m.body.code}: ${m.body.message}` });
        break;
      default:
        break;
    }
  }

  /**
   * Whether this node pings over connection c. One exchange per pair and interval is evidence enough
   * both ways: the ping tells the answering side that the pinger lives, the pong tells the pinger.
   * Between 2.3 nodes the side that dialed pings (each pair keeps one connection, so exactly one side
   * does); an older peer expects pings from both sides and gets them.
   */
  private pings(c: Connection): boolean {
    return c.role === 'client' || c.peerVersion[1] < ONE_EXCHANGE_MINOR;
  }

  /**
   * Slack on the silence of a peer that pings this node and is not pinged by it: its pings come once
   * per interval at a phase of its own timer, so one that lands a little after this node's tick was due
   * would count a miss though it was on time. A pinged peer needs none: its pong follows this node's
   * own ping by one round trip.
   */
  private slackMs(id: string): number {
    const c = this.active.get(id);
    return c && !this.pings(c) ? this.config.heartbeatIntervalMs / 4 : 0;
  }

  /**
   * The round trip a heartbeat tells: a pong answering one of this node's pings, or the ping of a peer
   * that pings alone (2.3, it dialed), which carries the round trip that peer measured.
   */
  private roundTrip(c: Connection, id: string, m: Message): number | undefined {
    if (m.type === MessageType.HeartbeatPing)
      return m.body.rttMicros !== undefined && !this.pings(c) ? m.body.rttMicros / 1000 : undefined;
    if (m.type !== MessageType.HeartbeatPong) return undefined;
    const sent = this.pingSentAt.get(id);
    const at = sent?.get(m.body.sequence);
    if (at === undefined) return undefined;
    sent?.delete(m.body.sequence);
    const rttMs = performance.now() - at;
    this.rttMicros.set(id, Math.round(rttMs * 1000));
    return rttMs;
  }

  /** "ok", "degraded" or "no-quorum": computed once per status or membership change, not per pong. */
  private pongStatus(): string {
    if (this.ownStatus === undefined) {
      const s = this.registry.getClusterStatus();
      this.ownStatus = !s.quorumAvailable ? 'no-quorum' : s.isDegraded ? 'degraded' : 'ok';
    }
    return this.ownStatus;
  }

  private forgetPings(id: string): void {
    this.pingSentAt.delete(id);
    this.rttMicros.delete(id);
  }

  private sendPing(id: string): void {
    const c = this.active.get(id);
    if (!c || !this.pings(c)) return;
    const sequence = ++this.pingSequence;
    let sent = this.pingSentAt.get(id);
    if (!sent) this.pingSentAt.set(id, (sent = new Map()));
    if (sent.size > 16) sent.clear(); // unanswered pings: keep the map bounded
    sent.set(sequence, performance.now());
    const rttMicros = this.rttMicros.get(id);
    c.send({
      type: MessageType.HeartbeatPing,
      body: {
        serverId: this.config.serverId,
        timestamp: Date.now(),
        sequence,
        ...(rttMicros === undefined ? {} : { rttMicros }),
      },
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
      this.pending.set(requestId, { peer: id, resolve, timer });
      c.send(build(requestId));
    });
  }

  /** Settles a request with the answer of `from`; an answer from any other peer is ignored. */
  private settle(requestId: number, from: string, m: Message | { error: string }): void {
    const p = this.pending.get(requestId);
    if (!p || p.peer !== from) return;
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
    // First: an etcd provider deletes this node's key while the network is still used.
    await this.sources?.stop();
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
    this.flushRejects();
    // No dialer runs any more: a reader of the stopped region must not see a
    // live connection, a retry time or an open circuit that nothing will act on.
    for (const p of this.registry.getAllPeers()) this.pool.markInactive(p.serverId);
    this.regionClosed = true;
    this.registry.close({ unlink: this.opts.unlinkOnStop !== false });
  }
}
