// The address a node announces to its peers (the handshake's `listen` field):
// the address they should dial, which is not the bind address when a node
// listens on a wildcard. Like memberlist, a wildcard listen advertises the
// host's first non-loopback address; the config field `advertise` overrides it.
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { formatAddress, isWildcardHost, type HostPort } from '../registry/config.js';

export interface Advertised {
  /** "host:port" peers should dial. */
  address: string;
  /** How it was chosen: configured, the listen address, or picked from an interface. */
  source: 'advertise' | 'listen' | 'interface' | 'loopback';
  /** The interface it was picked from (source "interface"). */
  interface?: string;
}

/**
 * What to announce, given the bound listen address and the configured
 * `advertise` (if any). A wildcard listen picks the first non-internal
 * address: IPv4 first for "0.0.0.0" and, as a dual-stack socket accepts both,
 * for "::" too; a link-local IPv6 address is never picked (it needs a scope).
 * With no such address (a container with only loopback), the loopback
 * address of the listen's family.
 */
export function chooseAdvertise(
  bound: HostPort,
  configured?: string,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): Advertised {
  if (configured !== undefined) return { address: configured, source: 'advertise' };
  if (!isWildcardHost(bound.host)) return { address: formatAddress(bound), source: 'listen' };
  const usable = (want: 'IPv4' | 'IPv6') =>
    Object.entries(interfaces).flatMap(([name, list]) =>
      (list ?? [])
        .filter((i) => !i.internal && i.family === want && !(want === 'IPv6' && /^fe80:/i.test(i.address)))
        .map((i) => ({ name, address: i.address })),
    );
  const pick = usable('IPv4')[0] ?? (bound.host.includes(':') ? usable('IPv6')[0] : undefined);
  if (pick)
    return {
      address: formatAddress({ host: pick.address, port: bound.port }),
      source: 'interface',
      interface: pick.name,
    };
  const lo = bound.host.includes(':') ? '::1' : '127.0.0.1'; // "::" accepts ::1 even where it is IPv6-only
  return { address: formatAddress({ host: lo, port: bound.port }), source: 'loopback' };
}
