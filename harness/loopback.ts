// Harness (shared by test/, scripts/bench/ and scripts/soak/; see harness/README.md):
// free TCP ports on 127.0.0.1 and the peer list of a cluster whose nodes all listen there.
import { createServer, type AddressInfo, type Server } from 'node:net';

/** `n` distinct TCP ports on 127.0.0.1 that were free a moment ago (all held at once, so never the same twice). */
export async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<Server>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

export async function freePort(): Promise<number> {
  return (await freePorts(1))[0];
}

/** The `peers` entries (`id@127.0.0.1:port`) of node `self` in a cluster where node i listens on ports[i]. */
export function loopbackPeers(ids: readonly string[], ports: readonly number[], self: number): string[] {
  return ids.flatMap((id, j) => (j === self ? [] : [`${id}@127.0.0.1:${ports[j]}`]));
}
