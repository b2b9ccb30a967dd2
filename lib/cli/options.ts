// Validation of CLI flags, with ConfigErrors that name the flag (exit 2).
import { ConfigError, ErrorCode } from '../errors.js';
import { isAccountName, parseAddress, validateId } from '../registry/config.js';
import { ClusterView, type ViewKey } from '../view.js';
import { CliError, ExitCode } from './exit.js';

export interface RegionFlags {
  cluster: string;
  server: string;
  global?: boolean;
  owner?: string;
}

export function regionKey(o: RegionFlags): ViewKey {
  const key: ViewKey = {
    cluster: validateId(o.cluster, '--cluster'),
    serverId: validateId(o.server, '--server'),
    global: o.global === true,
  };
  const owner = ownerFlag(o.owner);
  if (owner !== undefined) key.owner = owner;
  return key;
}

/** --owner: a user name or uid (Windows: an account); whether it exists is the OS layer's to say. */
export function ownerFlag(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  if (!isAccountName(value))
    throw new ConfigError('--owner', `must be a user name or uid, got ${JSON.stringify(value)}`);
  return value;
}

export function positiveInt(value: string | undefined, flag: string, fallback: number, max = 3_600_000): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > max)
    throw new ConfigError(flag, `must be an integer from 1 to ${max}, got "${value}"`);
  return n;
}

export function address(value: string, flag: string): string {
  parseAddress(value, flag, { allowPortZero: true });
  return value;
}

/** Opens a node's view, turning "no such region" into a message about the node (exit 3). */
export function openView(o: RegionFlags): ClusterView {
  const key = regionKey(o);
  try {
    return ClusterView.open(key);
  } catch (err) {
    if ((err as { code?: string }).code === ErrorCode.RegionNotFound)
      throw new CliError(
        ExitCode.NoRegion,
        `no region for cluster "${key.cluster}" server "${key.serverId}" on this host (is its agent running? \`commy ls\` lists the regions)`,
      );
    throw err;
  }
}
