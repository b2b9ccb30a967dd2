// Membership sources beyond the seeds: each provider (DNS, etcd) reports its whole current list, or that it
// cannot be reached. This file turns those reports into joins and departures for the node, and keeps the
// state readers see (up, members, last successful refresh). The rules, for every provider:
// - a list replaces that provider's previous one: what is new joins, what is gone leaves (unless another
//   provider still lists it);
// - an unreachable registry changes nothing: the last list stays, and the state says so until a refresh
//   succeeds again, which then reconciles whatever changed meanwhile;
// - discovery never touches health: heartbeats alone mark a member down.

/** A member as a registry lists it: DNS gives an address only, etcd an id too. */
export interface Discovered {
  serverId?: string;
  /** "host:port" to dial. */
  address: string;
}

export interface ProviderSink {
  /** The provider's whole current list. */
  refreshed(members: Discovered[]): void;
  /** The registry could not be asked or answered with an error; the last list stays. */
  failed(error: string): void;
}

export interface Provider {
  /** "dns commy.default.svc" or "etcd http://10.0.0.1:2379": for logs and state. */
  readonly name: string;
  start(sink: ProviderSink): void;
  /** Stops every timer and connection; an etcd provider deletes its own key first. Idempotent. */
  stop(): Promise<void>;
}

export interface DiscoveryState {
  /** Providers configured (0: seeds only). */
  providers: number;
  /** Every provider's last attempt succeeded. */
  up: boolean;
  /** Members listed by the providers together. */
  members: number;
  /** Wall-clock ms when every provider had last succeeded (the oldest of their last successes); null before. */
  lastRefreshMs: number | null;
  /** The last failure of a provider that is down ("" when all are up). */
  error: string;
}

export interface SourceHooks {
  join(member: Discovered, source: string): void;
  leave(member: Discovered, source: string): void;
  /** The state changed (a refresh, an outage, a recovery). */
  changed(state: DiscoveryState, transition: { provider: string; up: boolean; error?: string } | null): void;
}

interface ProviderRecord {
  provider: Provider;
  listed: Map<string, Discovered>;
  up: boolean;
  lastSuccessMs: number | null;
  error: string;
}

const keyOf = (d: Discovered) => d.serverId ?? d.address;

export class DiscoverySources {
  private readonly records: ProviderRecord[];
  private stopped = false;

  constructor(
    providers: Provider[],
    private readonly hooks: SourceHooks,
    private readonly now: () => number = Date.now,
  ) {
    // Until its first answer a provider counts as down: nothing has been learned from it yet.
    this.records = providers.map((provider) => ({
      provider,
      listed: new Map(),
      up: false,
      lastSuccessMs: null,
      error: 'not refreshed yet',
    }));
  }

  start(): void {
    for (const r of this.records)
      r.provider.start({
        refreshed: (members) => this.refreshed(r, members),
        failed: (error) => this.failed(r, error),
      });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await Promise.all(this.records.map((r) => r.provider.stop()));
  }

  state(): DiscoveryState {
    const all = new Set<string>();
    for (const r of this.records) for (const k of r.listed.keys()) all.add(k);
    const successes = this.records.map((r) => r.lastSuccessMs);
    const down = this.records.filter((r) => !r.up);
    return {
      providers: this.records.length,
      up: down.length === 0,
      members: all.size,
      lastRefreshMs: successes.some((t) => t === null) ? null : Math.min(...(successes as number[])),
      error: down.map((r) => `${r.provider.name}: ${r.error}`).join('; '),
    };
  }

  private listedElsewhere(r: ProviderRecord, key: string): boolean {
    return this.records.some((o) => o !== r && o.listed.has(key));
  }

  private refreshed(r: ProviderRecord, members: Discovered[]): void {
    if (this.stopped) return;
    const next = new Map(members.map((m) => [keyOf(m), m]));
    const joined = [...next].filter(([k]) => !r.listed.has(k) && !this.listedElsewhere(r, k));
    const gone = [...r.listed].filter(([k]) => !next.has(k) && !this.listedElsewhere(r, k));
    r.listed = next;
    const wasUp = r.up;
    r.up = true;
    r.error = '';
    r.lastSuccessMs = this.now();
    for (const [, m] of joined) this.hooks.join(m, r.provider.name);
    for (const [, m] of gone) this.hooks.leave(m, r.provider.name);
    this.hooks.changed(this.state(), wasUp ? null : { provider: r.provider.name, up: true });
  }

  private failed(r: ProviderRecord, error: string): void {
    if (this.stopped) return;
    // Reported once per outage (and again if its cause changes), not at every failed retry.
    const news = r.up || r.error !== error;
    r.up = false;
    r.error = error;
    if (news) this.hooks.changed(this.state(), { provider: r.provider.name, up: false, error });
  }
}
