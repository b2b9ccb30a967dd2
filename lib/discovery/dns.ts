// DNS as a membership source: a name resolved every intervalMs. SRV records give host and port (a
// Kubernetes headless service has one per ready pod); A or AAAA records give addresses, dialed at the
// configured port. Node's own resolver (c-ares) asks the system's servers or the configured ones.
import { isIP } from 'node:net';
import { Resolver } from 'node:dns/promises';
import type { DnsDiscovery } from '../registry/discovery-config.js';
import { formatAddress } from '../registry/config.js';
import type { Discovered, Provider, ProviderSink } from './sources.js';

/** An authoritative "no such name" or "no records": the list is empty, the registry is up. */
const EMPTY_ANSWERS = new Set(['ENOTFOUND', 'ENODATA']);

export class DnsProvider implements Provider {
  readonly name: string;
  private readonly resolver: Resolver;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;

  constructor(private readonly config: DnsDiscovery) {
    this.name = `dns ${config.type} ${config.name}`;
    // Bounded: a resolver that does not answer is an outage after about 2 × 1 s, not a hang.
    this.resolver = new Resolver({ timeout: 1000, tries: 2 });
    if (config.servers) this.resolver.setServers(config.servers);
  }

  start(sink: ProviderSink): void {
    const round = async () => {
      try {
        const members = await this.resolve();
        if (!this.stopped) sink.refreshed(members);
      } catch (err) {
        if (!this.stopped) sink.failed(describe(err));
      }
      if (!this.stopped) this.timer = setTimeout(() => void round(), this.config.intervalMs);
    };
    void round();
  }

  stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.resolver.cancel();
    return Promise.resolve();
  }

  private async resolve(): Promise<Discovered[]> {
    const { name, type, port } = this.config;
    try {
      if (type === 'SRV') {
        const records = await this.resolver.resolveSrv(name);
        const lists = await Promise.all(
          records.map(async (r) => (await this.hosts(r.name)).map((host) => formatAddress({ host, port: r.port }))),
        );
        return unique(lists.flat());
      }
      const hosts = type === 'A' ? await this.resolver.resolve4(name) : await this.resolver.resolve6(name);
      return unique(hosts.map((host) => formatAddress({ host, port: port! })));
    } catch (err) {
      if (EMPTY_ANSWERS.has((err as NodeJS.ErrnoException).code ?? '')) return [];
      throw err;
    }
  }

  /** An SRV target's addresses: itself when it is an IP address, else its A records, else its AAAA records. */
  private async hosts(target: string): Promise<string[]> {
    if (isIP(target)) return [target];
    try {
      return await this.resolver.resolve4(target);
    } catch (err) {
      if (!EMPTY_ANSWERS.has((err as NodeJS.ErrnoException).code ?? '')) throw err;
      try {
        return await this.resolver.resolve6(target);
      } catch (err6) {
        if (EMPTY_ANSWERS.has((err6 as NodeJS.ErrnoException).code ?? '')) return []; // a target with no address
        throw err6;
      }
    }
  }
}

function unique(addresses: string[]): Discovered[] {
  return [...new Set(addresses)].sort().map((address) => ({ address }));
}

function describe(err: unknown): string {
  const e = err as NodeJS.ErrnoException & { hostname?: string };
  return e.code ? `${e.code}${e.hostname ? ` (${e.hostname})` : ''}` : (e.message ?? String(err));
}
