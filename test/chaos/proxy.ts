// A fault-injecting TCP proxy for the chaos and stall tests. Each route listens
// on its own loopback port and forwards to one target; the test sets faults
// per route at any time and they apply to open and new connections alike.
// Faults act on the bytes between the two sockets, so they look to the nodes
// like a misbehaving network: nothing in the nodes knows about the proxy.
import { EventEmitter } from 'node:events';
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { seededRandom } from '../../harness/random.js';

/** Client-to-target bytes are "up", target-to-client bytes are "down". */
export type Direction = 'up' | 'down';

export interface Faults {
  /**
   * A network partition: nothing crosses in either direction. "hold" keeps
   * the bytes and delivers them on heal, as TCP retransmission would; "discard"
   * loses them, so a connection that outlives the fault carries a torn stream.
   * New connections are accepted and then hang.
   */
  partition?: 'hold' | 'discard';
  /** One direction only is cut (same hold/discard semantics as a partition). */
  cut?: { direction: Direction; mode: 'hold' | 'discard' };
  /** Each chunk is lost with this probability (0..1): a torn, corrupted stream. */
  dropRate?: number;
  /** Each chunk is delayed by delayMs plus up to jitterMs; order is kept. */
  delayMs?: number;
  jitterMs?: number;
  /**
   * Half-open: the target side of every open connection is closed, the client
   * side is kept open and silent, and new connections are never forwarded.
   * The client learns nothing until its own timeouts fire. Clearing the fault
   * does not revive the connections it broke (as on a real network).
   */
  halfOpen?: boolean;
}

export interface RouteStats {
  accepted: number;
  open: number;
  bytesForwarded: number;
  bytesDropped: number;
  chunksDropped: number;
  /** Connections whose target side was closed by a half-open fault. */
  halfOpened: number;
}

/** Bytes a held direction may buffer before it starts losing them. */
const HOLD_LIMIT_BYTES = 256 * 1024;

class Lane {
  held: Buffer[] = [];
  heldBytes = 0;
  /** Delayed chunks in arrival order; one timer drains them, so delays never reorder. */
  delayed: { due: number; chunk: Buffer }[] = [];
  timer: NodeJS.Timeout | undefined;
}

class Pipe {
  readonly client: Socket;
  upstream: Socket | undefined;
  /** The target side was cut off by a half-open fault: the client side is a zombie. */
  zombie = false;
  closed = false;
  private readonly lanes: Record<Direction, Lane> = { up: new Lane(), down: new Lane() };
  private readonly route: Route;

  constructor(route: Route, client: Socket) {
    this.route = route;
    this.client = client;
    client.setNoDelay(true);
    client.on('error', () => this.close());
    client.on('close', () => this.close());
    client.on('data', (chunk: Buffer) => this.carry('up', chunk));
    // Under half-open the connection is never forwarded; under a partition the
    // target hears of it only when the partition heals (like a lost SYN).
    if (route.faults.halfOpen) this.zombie = true;
    else if (!route.faults.partition) this.openUpstream();
  }

  private openUpstream(): void {
    const up = connect({ host: this.route.target.host, port: this.route.target.port });
    this.upstream = up;
    up.setNoDelay(true);
    up.on('error', () => this.onUpstreamGone(up));
    up.on('close', () => this.onUpstreamGone(up));
    up.on('data', (chunk: Buffer) => this.carry('down', chunk));
  }

  private onUpstreamGone(up: Socket): void {
    if (this.upstream !== up) return;
    if (this.zombie) return; // deliberately cut: the client must not learn of it
    this.close();
  }

  /** Applies the route's faults to one chunk travelling in `dir`. */
  private carry(dir: Direction, chunk: Buffer): void {
    if (this.closed) return;
    const f = this.route.faults;
    if (this.zombie) return this.lose(chunk);
    if (f.dropRate && this.route.random() < f.dropRate) {
      this.route.stats.chunksDropped++;
      return this.lose(chunk);
    }
    const lane = this.lanes[dir];
    const mode = this.heldMode(dir);
    if (mode === 'discard') return this.lose(chunk);
    if (mode === 'hold' || lane.held.length > 0) {
      if (lane.heldBytes + chunk.length > HOLD_LIMIT_BYTES) return this.lose(chunk);
      lane.held.push(chunk);
      lane.heldBytes += chunk.length;
      if (mode === undefined) this.release(dir);
      return;
    }
    this.deliver(dir, chunk);
  }

  private heldMode(dir: Direction): 'hold' | 'discard' | undefined {
    const f = this.route.faults;
    if (f.partition) return f.partition;
    if (f.cut && f.cut.direction === dir) return f.cut.mode;
    return undefined;
  }

  private lose(chunk: Buffer): void {
    this.route.stats.bytesDropped += chunk.length;
  }

  /** Sends what a heal released, in order, ahead of anything newer. */
  release(dir: Direction): void {
    if (this.closed || this.heldMode(dir) !== undefined) return;
    const lane = this.lanes[dir];
    const chunks = lane.held;
    lane.held = [];
    lane.heldBytes = 0;
    for (const c of chunks) this.deliver(dir, c);
  }

  private deliver(dir: Direction, chunk: Buffer): void {
    const f = this.route.faults;
    const lane = this.lanes[dir];
    const delay = (f.delayMs ?? 0) + (f.jitterMs ? this.route.random() * f.jitterMs : 0);
    if (delay <= 0 && lane.delayed.length === 0) return this.write(dir, chunk);
    const last = lane.delayed[lane.delayed.length - 1];
    lane.delayed.push({ due: Math.max(Date.now() + delay, last ? last.due : 0), chunk });
    if (!lane.timer) this.drain(dir);
  }

  private drain(dir: Direction): void {
    const lane = this.lanes[dir];
    lane.timer = undefined;
    const now = Date.now();
    while (lane.delayed.length > 0 && lane.delayed[0].due <= now) this.write(dir, lane.delayed.shift()!.chunk);
    if (lane.delayed.length > 0 && !this.closed)
      lane.timer = setTimeout(() => this.drain(dir), lane.delayed[0].due - now);
  }

  private write(dir: Direction, chunk: Buffer): void {
    if (this.closed || this.zombie) return this.lose(chunk);
    const to = dir === 'up' ? this.upstream : this.client;
    if (!to || to.destroyed) return this.lose(chunk);
    this.route.stats.bytesForwarded += chunk.length;
    to.write(chunk);
  }

  /** Called when the route's faults change. */
  refresh(): void {
    if (this.closed) return;
    const f = this.route.faults;
    if (f.halfOpen && !this.zombie) {
      this.zombie = true;
      this.route.stats.halfOpened++;
      this.upstream?.destroy();
      for (const lane of Object.values(this.lanes)) {
        lane.held = [];
        lane.heldBytes = 0;
      }
      return;
    }
    if (!this.upstream && !f.partition) this.openUpstream();
    this.release('up');
    this.release('down');
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const lane of Object.values(this.lanes)) if (lane.timer) clearTimeout(lane.timer);
    this.client.destroy();
    this.upstream?.destroy();
    this.route.pipes.delete(this);
  }
}

class Route {
  readonly name: string;
  readonly target: { host: string; port: number };
  faults: Faults = {};
  readonly pipes = new Set<Pipe>();
  readonly stats: RouteStats = {
    accepted: 0,
    open: 0,
    bytesForwarded: 0,
    bytesDropped: 0,
    chunksDropped: 0,
    halfOpened: 0,
  };
  readonly server: Server;
  readonly random: () => number;

  constructor(name: string, target: { host: string; port: number }, random: () => number) {
    this.name = name;
    this.target = target;
    this.random = random;
    this.server = createServer((socket) => {
      this.stats.accepted++;
      this.pipes.add(new Pipe(this, socket));
    });
  }
}

export class FaultProxy extends EventEmitter {
  private readonly routes = new Map<string, Route>();
  private readonly random: () => number;

  constructor(opts: { seed?: number } = {}) {
    super();
    this.random = seededRandom(opts.seed ?? 1);
  }

  /** Opens a route to `target`; resolves with the loopback port to dial instead. */
  async addRoute(name: string, target: { host: string; port: number }): Promise<number> {
    if (this.routes.has(name)) throw new Error(`route ${name} exists`);
    const r = new Route(name, target, this.random);
    await new Promise<void>((resolve, reject) => {
      r.server.once('error', reject);
      r.server.listen(0, '127.0.0.1', () => resolve());
    });
    this.routes.set(name, r);
    return (r.server.address() as AddressInfo).port;
  }

  /** Points a route at a new target (a restarted node on another port). */
  retarget(name: string, target: { host: string; port: number }): void {
    const r = this.route(name);
    (r as { target: { host: string; port: number } }).target = target;
  }

  private route(name: string): Route {
    const r = this.routes.get(name);
    if (!r) throw new Error(`no route ${name}`);
    return r;
  }

  /** Replaces the faults of a route; open connections feel them at once. */
  setFaults(name: string, faults: Faults): void {
    const r = this.route(name);
    r.faults = { ...faults };
    for (const p of r.pipes) p.refresh();
  }

  faults(name: string): Faults {
    return { ...this.route(name).faults };
  }

  /** Clears every fault (a heal). Connections broken by half-open stay broken. */
  healAll(): void {
    for (const name of this.routes.keys()) this.setFaults(name, {});
  }

  stats(name: string): RouteStats {
    const r = this.route(name);
    return { ...r.stats, open: r.pipes.size };
  }

  routeNames(): string[] {
    return [...this.routes.keys()];
  }

  /** Sockets the proxy holds (two per forwarded connection, one per zombie). */
  get socketCount(): number {
    let n = 0;
    for (const r of this.routes.values())
      for (const p of r.pipes) n += 1 + (p.upstream && !p.upstream.destroyed ? 1 : 0);
    return n;
  }

  /** Closes every connection but keeps listening (a "connection reset" for all). */
  resetConnections(name?: string): void {
    for (const r of this.routes.values()) {
      if (name && r.name !== name) continue;
      for (const p of [...r.pipes]) p.close();
    }
  }

  async close(): Promise<void> {
    for (const r of this.routes.values()) {
      for (const p of [...r.pipes]) p.close();
      await new Promise<void>((resolve) => r.server.close(() => resolve()));
    }
    this.routes.clear();
  }
}
