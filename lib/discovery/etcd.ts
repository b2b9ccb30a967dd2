// etcd as a membership source (the etcd3 client). Each node registers `<prefix>/<cluster>/<serverId>` with
// its advertised address, incarnation and metadata, under a lease of ttlSeconds that the client keeps
// alive; it watches the cluster's prefix and lists it again on every change, on every reconnection and
// every ttlSeconds, so a missed event or an outage is reconciled by the next list. A deleted key (a clean
// stop revokes the lease) or an expired one (a crashed node's lease runs out) drops the member from the
// list, which the node treats like a Leave. While etcd cannot be reached the last list stays.
import { readFileSync } from 'node:fs';
import { Etcd3, type IOptions, type Lease, type Watcher } from 'etcd3';
import { ConfigError } from '../errors.js';
import type { EtcdDiscovery } from '../registry/discovery-config.js';
import { isWildcardHost, parseAddress, validateId } from '../registry/config.js';
import type { Discovered, Provider, ProviderSink } from './sources.js';

export interface EtcdSelf {
  serverId: string;
  address: string;
  incarnation: number;
  metadata: Record<string, string>;
}

/** A call that etcd does not answer within this is a failure (the registry is down), not a hang. */
const CALL_TIMEOUT_MS = 3000;

export class EtcdProvider implements Provider {
  readonly name: string;
  private client: Etcd3 | undefined;
  private lease: Lease | undefined;
  private watcher: Watcher | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** One pending retry per kind: a failure reported twice (an error and a lost lease) must not retry twice. */
  private readonly retries = new Map<'register' | 'watch', NodeJS.Timeout>();
  private sink: ProviderSink | undefined;
  private stopped = false;
  private listing = false;
  private listAgain = false;
  private readonly dir: string;

  constructor(
    private readonly config: EtcdDiscovery,
    private readonly ctx: {
      cluster: string;
      self: () => EtcdSelf;
      /** e.g. "discovery[1]", for errors */ field: string;
    },
  ) {
    this.name = `etcd ${config.endpoints.join(',')}`;
    this.dir = `${config.prefix}/${ctx.cluster}/`;
    // Everything that can fail on bad input fails here, while the node can still refuse to start.
    const options: IOptions = {
      hosts: config.endpoints,
      dialTimeout: CALL_TIMEOUT_MS,
      defaultCallOptions: (c) => (c.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
    };
    const tls = config.tls;
    if (tls) {
      const read = (k: 'ca' | 'cert' | 'key') => {
        const path = tls[k];
        if (path === undefined) return undefined;
        try {
          return readFileSync(path);
        } catch (err) {
          throw new ConfigError(
            `${ctx.field}.tls.${k}`,
            `cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`,
          );
        }
      };
      const ca = read('ca');
      const key = read('key');
      const cert = read('cert');
      options.credentials = {
        // No CA: the system's roots (an empty buffer would trust none).
        rootCertificate: ca as Buffer,
        ...(key ? { privateKey: key } : {}),
        ...(cert ? { certChain: cert } : {}),
      };
    }
    if (config.auth) options.auth = config.auth;
    try {
      this.client = new Etcd3(options);
    } catch (err) {
      throw new ConfigError(`${ctx.field}.tls`, `the etcd client refused it: ${(err as Error).message}`);
    }
  }

  start(sink: ProviderSink): void {
    this.sink = sink;
    void this.register();
    void this.watch();
    this.schedule();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    for (const t of this.retries.values()) clearTimeout(t);
    const bounded = (p: Promise<unknown> | undefined) =>
      Promise.race([p?.catch(() => undefined), new Promise((r) => setTimeout(r, CALL_TIMEOUT_MS).unref())]);
    await bounded(this.watcher?.cancel());
    // Revoking the lease deletes this node's key at once: the others see it leave now, not at its expiry.
    await bounded(this.lease?.revoke());
    this.client?.close();
  }

  private later(kind: 'register' | 'watch', run: () => Promise<void>): void {
    if (this.stopped || this.retries.has(kind)) return;
    this.retries.set(
      kind,
      setTimeout(() => {
        this.retries.delete(kind);
        void run();
      }, 1000),
    );
  }

  /** Puts this node's key under a fresh lease; a lost lease (an outage longer than its TTL) registers again. */
  private async register(): Promise<void> {
    if (this.stopped || !this.client) return;
    const self = this.ctx.self();
    this.lease?.removeAllListeners();
    this.lease?.revoke().catch(() => undefined);
    const lease = this.client.lease(this.config.ttlSeconds, { autoKeepAlive: true });
    this.lease = lease;
    const retry = (why: string) => {
      if (this.stopped || this.lease !== lease) return;
      this.sink?.failed(why);
      this.later('register', () => this.register());
    };
    lease.on('lost', (err) => retry(`lease lost: ${err.message}`));
    try {
      await lease
        .put(this.dir + self.serverId)
        .value(JSON.stringify({ address: self.address, incarnation: self.incarnation, metadata: self.metadata }));
      await this.list();
    } catch (err) {
      retry(`cannot register: ${(err as Error).message}`);
    }
  }

  private async watch(): Promise<void> {
    if (this.stopped || !this.client) return;
    try {
      // watcher(), not create(): held (and so cancellable by stop()) before it ever connects.
      const w = this.client.watch().prefix(this.dir).watcher();
      this.watcher = w;
      w.on('put', () => void this.list());
      w.on('delete', () => void this.list());
      w.on('connected', () => void this.list()); // after a reconnection: what changed meanwhile
      w.on('disconnected', (err: Error) => this.sink?.failed(`watch disconnected: ${err.message}`));
      w.on('error', (err: Error) => {
        this.sink?.failed(`watch failed: ${err.message}`);
        if (this.watcher === w) this.watcher = undefined;
        this.later('watch', () => this.watch());
      });
    } catch (err) {
      if (this.stopped) return;
      this.sink?.failed(`cannot watch ${this.dir}: ${(err as Error).message}`);
      this.later('watch', () => this.watch());
    }
  }

  /** A list every ttlSeconds as well: it notices an outage, and its end, even with no event. */
  private schedule(): void {
    this.timer = setTimeout(
      () => {
        void this.list().finally(() => !this.stopped && this.schedule());
      },
      Math.max(1000, (this.config.ttlSeconds * 1000) / 2),
    );
  }

  /** Lists the cluster's keys and hands the whole list on; calls that overlap run once more after. */
  private async list(): Promise<void> {
    if (this.stopped || !this.client) return;
    if (this.listing) {
      this.listAgain = true;
      return;
    }
    this.listing = true;
    try {
      const kvs = await this.client.getAll().prefix(this.dir).strings();
      if (!this.stopped) this.sink?.refreshed(parseMembers(this.dir, kvs));
    } catch (err) {
      if (!this.stopped) this.sink?.failed((err as Error).message);
    } finally {
      this.listing = false;
    }
    if (this.listAgain) {
      this.listAgain = false;
      await this.list();
    }
  }
}

/** The members under `dir`; a key whose value is not a member's JSON is skipped (another tool's key). */
export function parseMembers(dir: string, kvs: Record<string, string>): Discovered[] {
  const out: Discovered[] = [];
  for (const [key, value] of Object.entries(kvs)) {
    const serverId = key.slice(dir.length);
    try {
      validateId(serverId, 'serverId'); // throws on a key that is not a member's: skipped below
      const v = JSON.parse(value) as { address?: unknown };
      if (typeof v.address !== 'string') continue;
      const { host } = parseAddress(v.address, 'address'); // throws on a bad one: skipped below
      if (!isWildcardHost(host)) out.push({ serverId, address: v.address });
    } catch {
      // not ours
    }
  }
  return out;
}
