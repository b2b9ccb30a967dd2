// Region names: the OS object name of a (cluster, serverId) key, listing
// the regions on this host, and removing a name.
import { binding } from '../binding.js';

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
