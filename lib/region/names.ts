// Region names: the OS object name of a (cluster, serverId) key, listing
// the regions on this host, and removing a name.
import { binding } from '../binding.js';
import { removeIndexEntry } from './name-index.js';

export interface RegionKey {
  cluster: string;
  serverId: string;
  /** Windows only: use the Global\ namespace (needs SeCreateGlobalPrivilege). */
  global?: boolean;
}

/** The OS object name of a region: "/commy-<hash>" or "Local\\commy-<hash>". */
export function regionName(key: RegionKey): string {
  return binding.objectName(key.cluster, key.serverId, key.global === true);
}

/** OS object names of the regions on this host, or null where the OS cannot list them. */
export function listRegionNames(): string[] | null {
  return binding.listNames();
}

/** Removes a region's name (POSIX); readers that map it keep their mapping. */
export function unlinkRegion(key: RegionKey): boolean {
  return binding.unlink(regionName(key));
}

/**
 * Removes a region of this account whose writer is dead, holding its writer
 * lock meanwhile so that a live or starting writer's region is never removed.
 * "gone": nothing (of ours) was there any more. Windows: a mapping goes with
 * its last handle, so this only drops it from the `ls` index.
 */
export function removeDeadRegion(name: string): 'removed' | 'alive' | 'gone' {
  const result = binding.removeIfDead(name);
  if (result !== 'alive') removeIndexEntry(name);
  return result;
}
