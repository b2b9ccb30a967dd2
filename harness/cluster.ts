// Harness (shared by test/, scripts/bench/ and scripts/soak/; see harness/README.md):
// commy nodes as real processes on loopback (test/fixtures/node-child.ts), for the protocol, CLI and chaos tests.
import { ClusterView } from '../lib/view.js';
import { forkFixture } from './fixtures.js';
import { freePorts, loopbackPeers } from './loopback.js';
import { uniqueKey } from './names.js';
import type { ForkedChild } from './processes.js';
import { waitFor } from './wait.js';

export const SECRET = 'test-secret-0123456789abcdef';

export interface NodeProc {
  id: string;
  child: ForkedChild;
  address: string;
  config: Record<string, unknown>;
  options: Record<string, unknown>;
  env: Record<string, string>;
}

export interface Cluster {
  cluster: string;
  nodes: NodeProc[];
  ids: string[];
  ports: number[];
  view(id: string): ClusterView;
  restart(id: string): Promise<NodeProc>;
  stopAll(): Promise<void>;
}

export async function startNode(
  config: Record<string, unknown>,
  options: Record<string, unknown> = {},
  env: Record<string, string> = { COMMY_SECRET: SECRET },
): Promise<NodeProc> {
  const child = forkFixture('node-child.js', [JSON.stringify(config), JSON.stringify(options)], { env });
  const ready = await child.next<{ ready?: boolean; address: string }>((m) => m.ready === true, 20_000, 'node ready');
  return { id: config.serverId as string, child, address: ready.address, config, options, env };
}

/** A node's own config fields, given its index, every id and every port (e.g. a wildcard listen). */
export type PerNode = (i: number, ids: readonly string[], ports: readonly number[]) => Record<string, unknown>;

export async function startCluster(
  n: number,
  extra: Record<string, unknown> = {},
  options: Record<string, unknown> = {},
  perNode: PerNode = () => ({}),
): Promise<Cluster> {
  const cluster = uniqueKey('c').cluster;
  const ids = Array.from({ length: n }, (_, i) => String.fromCharCode(97 + i));
  const ports = await freePorts(n);
  const configOf = (i: number) => ({
    cluster,
    serverId: ids[i],
    listen: `127.0.0.1:${ports[i]}`,
    peers: loopbackPeers(ids, ports, i),
    heartbeatIntervalMs: 100,
    heartbeatTimeoutMs: 100,
    ...extra,
    ...perNode(i, ids, ports),
  });
  const nodes = await Promise.all(ids.map((_, i) => startNode(configOf(i), options)));
  const views: ClusterView[] = [];
  const c: Cluster = {
    cluster,
    nodes,
    ids,
    ports,
    view: (id) => {
      const v = ClusterView.open({ cluster, serverId: id });
      views.push(v);
      return v;
    },
    restart: async (id) => {
      const i = ids.indexOf(id);
      const old = nodes[i];
      nodes[i] = await startNode(old.config, old.options, old.env);
      return nodes[i];
    },
    stopAll: async () => {
      for (const v of views.splice(0)) v.close();
      await Promise.all(
        nodes.map(async (p) => {
          p.child.send({ cmd: 'stop' });
          const r = await Promise.race([p.child.exited, new Promise((res) => setTimeout(res, 5000))]);
          if (!r) p.child.kill('SIGKILL');
        }),
      );
      // Remove the regions a node left: a killed one keeps its region, and a test may have stopped a node with unlinkOnStop false.
      const { unlinkRegion } = await import('../lib/region/index.js');
      for (const id of ids) {
        try {
          unlinkRegion({ cluster, serverId: id });
        } catch {
          // already gone
        }
      }
    },
  };
  return c;
}

/** Polls a node's region until every peer it tracks shows `status`. */
export async function waitForAll(c: Cluster, observer: string, status: string, timeoutMs = 10_000): Promise<void> {
  const v = ClusterView.open({ cluster: c.cluster, serverId: observer });
  try {
    await waitFor(
      () => {
        const s = v.snapshot();
        // "healthy" also needs a live connection: a never-seen peer starts healthy.
        const live = (p: (typeof s.peers)[number]) =>
          status !== 'healthy' || (p.connection === 'active' && p.lastSeenMs !== null);
        return s.peers.length === c.ids.length - 1 && s.peers.every((p) => p.status === status && live(p));
      },
      { timeoutMs, what: `${observer} to see every peer ${status}` },
    );
  } finally {
    v.close();
  }
}
