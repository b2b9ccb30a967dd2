// The config's `discovery` section: a list of membership sources, each an object with a `provider` field.
// Validated here, once, with errors naming the field (e.g. `discovery[1].endpoints[0]`).
import { resolve } from 'node:path';
import { ConfigError } from '../errors.js';

export interface DnsDiscovery {
  provider: 'dns';
  /** The name resolved, e.g. a Kubernetes headless service "commy.default.svc.cluster.local". */
  name: string;
  /** SRV records give host and port; A or AAAA records give addresses, dialed at `port`. */
  type: 'SRV' | 'A' | 'AAAA';
  port?: number;
  intervalMs: number;
  /** Resolvers to ask ("host" or "host:port"), instead of the system's. */
  servers?: string[];
}

export interface EtcdDiscovery {
  provider: 'etcd';
  endpoints: string[];
  /** Keys are `<prefix>/<cluster>/<serverId>`. */
  prefix: string;
  ttlSeconds: number;
  /** Files, resolved against the config file's folder. */
  tls?: { ca?: string; cert?: string; key?: string };
  auth?: { username: string; password: string };
}

export type DiscoveryConfig = DnsDiscovery | EtcdDiscovery;

export const discoveryDefaults = {
  dnsIntervalMs: 5000,
  dnsType: 'SRV' as const,
  etcdPrefix: '/commy',
  etcdTtlSeconds: 10,
};

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  return typeof v === 'string' ? JSON.stringify(v) : typeof v;
}

function object(v: unknown, field: string): Record<string, unknown> {
  if (typeof v !== 'object' || v === null || Array.isArray(v))
    throw new ConfigError(field, `must be an object, got ${describe(v)}`);
  return v as Record<string, unknown>;
}

function onlyFields(o: Record<string, unknown>, field: string, known: readonly string[]): void {
  for (const k of Object.keys(o))
    if (!known.includes(k)) throw new ConfigError(`${field}.${k}`, `unknown field (known: ${known.join(', ')})`);
}

function text(v: unknown, field: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > 1024)
    throw new ConfigError(field, `must be a non-empty string, got ${describe(v)}`);
  return v;
}

function int(v: unknown, field: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max)
    throw new ConfigError(field, `must be an integer between ${min} and ${max}, got ${describe(v)}`);
  return v;
}

function strings(v: unknown, field: string, check: (s: string, f: string) => void): string[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > 16)
    throw new ConfigError(field, `must be an array of 1-16 strings, got ${describe(v)}`);
  return v.map((s, i) => {
    const t = text(s, `${field}[${i}]`);
    check(t, `${field}[${i}]`);
    return t;
  });
}

function dns(o: Record<string, unknown>, field: string): DnsDiscovery {
  onlyFields(o, field, ['provider', 'name', 'type', 'port', 'intervalMs', 'servers']);
  const name = text(o.name, `${field}.name`);
  if (!/^[A-Za-z0-9_.-]{1,253}$/.test(name))
    throw new ConfigError(`${field}.name`, `is not a DNS name: ${describe(name)}`);
  const type = o.type === undefined ? discoveryDefaults.dnsType : o.type;
  if (type !== 'SRV' && type !== 'A' && type !== 'AAAA')
    throw new ConfigError(`${field}.type`, `must be "SRV", "A" or "AAAA", got ${describe(type)}`);
  const d: DnsDiscovery = {
    provider: 'dns',
    name,
    type,
    intervalMs:
      o.intervalMs === undefined
        ? discoveryDefaults.dnsIntervalMs
        : int(o.intervalMs, `${field}.intervalMs`, 100, 3_600_000),
  };
  if (o.port !== undefined) d.port = int(o.port, `${field}.port`, 1, 65535);
  else if (type !== 'SRV')
    throw new ConfigError(`${field}.port`, `is required with type "${type}" (SRV records carry it)`);
  if (o.servers !== undefined)
    d.servers = strings(o.servers, `${field}.servers`, (s, f) => {
      if (!/^(\[[0-9A-Fa-f:.]+\]|[0-9.]+|[0-9A-Fa-f:]+)(:\d{1,5})?$/.test(s))
        throw new ConfigError(f, `must be a resolver's IP address, optionally with ":port", got ${describe(s)}`);
    });
  return d;
}

function etcd(o: Record<string, unknown>, field: string, baseDir: string): EtcdDiscovery {
  onlyFields(o, field, ['provider', 'endpoints', 'prefix', 'ttlSeconds', 'tls', 'auth']);
  const endpoints = strings(o.endpoints, `${field}.endpoints`, (s, f) => {
    if (!/^https?:\/\/[^\s/]+$/.test(s))
      throw new ConfigError(f, `must be an "http://host:port" or "https://host:port" URL, got ${describe(s)}`);
  });
  const prefix = o.prefix === undefined ? discoveryDefaults.etcdPrefix : text(o.prefix, `${field}.prefix`);
  if (!prefix.startsWith('/') || prefix.endsWith('/'))
    throw new ConfigError(`${field}.prefix`, `must start with "/" and not end with one, got ${describe(prefix)}`);
  const e: EtcdDiscovery = {
    provider: 'etcd',
    endpoints,
    prefix,
    ttlSeconds:
      o.ttlSeconds === undefined
        ? discoveryDefaults.etcdTtlSeconds
        : int(o.ttlSeconds, `${field}.ttlSeconds`, 2, 86_400),
  };
  if (o.tls !== undefined) {
    const t = object(o.tls, `${field}.tls`);
    onlyFields(t, `${field}.tls`, ['ca', 'cert', 'key']);
    e.tls = {};
    for (const k of ['ca', 'cert', 'key'] as const)
      if (t[k] !== undefined) e.tls[k] = resolve(baseDir, text(t[k], `${field}.tls.${k}`));
    if ((e.tls.cert === undefined) !== (e.tls.key === undefined))
      throw new ConfigError(`${field}.tls`, 'needs both "cert" and "key" for a client certificate, or neither');
  }
  if (o.auth !== undefined) {
    const a = object(o.auth, `${field}.auth`);
    onlyFields(a, `${field}.auth`, ['username', 'password']);
    e.auth = {
      username: text(a.username, `${field}.auth.username`),
      password: text(a.password, `${field}.auth.password`),
    };
  }
  return e;
}

/** Parses the `discovery` field; `baseDir` resolves relative TLS file paths. */
export function parseDiscovery(value: unknown, baseDir: string): DiscoveryConfig[] {
  if (!Array.isArray(value))
    throw new ConfigError('discovery', `must be an array of providers, got ${describe(value)}`);
  if (value.length > 8) throw new ConfigError('discovery', `lists ${value.length} providers; at most 8`);
  return value.map((entry, i) => {
    const field = `discovery[${i}]`;
    const o = object(entry, field);
    if (o.provider === 'dns') return dns(o, field);
    if (o.provider === 'etcd') return etcd(o, field, baseDir);
    throw new ConfigError(`${field}.provider`, `must be "dns" or "etcd", got ${describe(o.provider)}`);
  });
}
