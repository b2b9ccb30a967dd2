// Validation of CLI flags, with ConfigErrors that name the flag (exit 2).
import { ConfigError, ErrorCode } from '../errors.js';
import { parseAddress, validateId } from '../registry/config.js';
import { ClusterView } from '../view.js';
import { CliError, ExitCode } from './exit.js';

export interface RegionFlags {
  cluster: string;
  server: string;
  global?: boolean;
}

export function regionKey(o: RegionFlags): { cluster: string; serverId: string; global: boolean } {
  return {
    cluster: validateId(o.cluster, '--cluster'),
    serverId: validateId(o.server, '--server'),
    global: o.global === true,
  };
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
