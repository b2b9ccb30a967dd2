// Harness (see harness/README.md): an in-process PeerRegistry writing a real
// region, and ClusterViews of it, each closed by the caller's own cleanup
// list (mocha runs every file's root hooks after every test, so each file
// keeps its own list and closes only what its tests opened).
import { PeerRegistry } from '../lib/registry/registry.js';
import { parseConfig } from '../lib/registry/config.js';
import { ClusterView } from '../lib/view.js';
import { uniqueKey } from './names.js';

export type Cleanups = (() => void)[];

/** A registry with these peers on a fresh region key; its region is removed at cleanup. */
export function startTestRegistry(
  cleanups: Cleanups,
  opts: { prefix?: string; peers?: unknown[]; capacity?: number } = {},
): PeerRegistry {
  const key = uniqueKey(opts.prefix ?? 'r');
  const r = new PeerRegistry(
    parseConfig({
      cluster: key.cluster,
      serverId: key.serverId,
      listen: '127.0.0.1:7101',
      peers: opts.peers ?? ['b@127.0.0.1:7102', 'c@127.0.0.1:7103'],
      capacity: opts.capacity ?? 8,
    }),
  );
  r.initialize();
  cleanups.push(() => r.close({ unlink: true }));
  return r;
}

/** A ClusterView of the registry's region, closed at cleanup. */
export function openTestView(cleanups: Cleanups, r: PeerRegistry): ClusterView {
  const v = ClusterView.open({ cluster: r.config.cluster, serverId: r.config.serverId });
  cleanups.push(() => v.close());
  return v;
}
