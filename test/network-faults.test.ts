// Network faults between two real node processes, injected by the chaos
// proxy (test/chaos/proxy.ts): the quick, deterministic cases. The random,
// long-running mix is `npm run test:chaos` (test/chaos/run-chaos.ts).
import { expect } from 'chai';
import { ClusterView } from '../lib/view.js';
import { unlinkRegion } from '../lib/region/index.js';
import { FaultProxy } from './chaos/proxy.js';
import { startNode, type NodeProc } from '../harness/cluster.js';
import { uniqueKey } from '../harness/names.js';
import { waitFor } from '../harness/wait.js';

describe('network faults between two nodes (through the fault proxy)', () => {
  let proxy: FaultProxy;
  let nodes: NodeProc[] = [];
  let cluster = '';
  afterEach(async () => {
    for (const n of nodes) n.child.kill('SIGKILL');
    await Promise.all(nodes.map((n) => n.child.exited));
    for (const id of ['x', 'y']) {
      try {
        unlinkRegion({ cluster, serverId: id });
      } catch {
        // already gone
      }
    }
    nodes = [];
    await proxy.close();
  });

  it('regression: after a half-open fault heals, a fresh connection replaces the dead one the preferred dialer holds', async function () {
    this.timeout(30_000);
    // x < y, so the tie-break keeps connections dialed by x. Start y first so
    // that x's dial is the one connection; a half-open fault then leaves x
    // holding it dead while y sees it close. Before the fix, x kept the dead
    // connection and closed every redial from y until its idle timeout
    // (8 s here): x reported y down while y was reachable, and y reconnected
    // in a loop. Now y's first redial after the heal replaces it.
    const idleTimeoutMs = 8000;
    proxy = new FaultProxy({ seed: 3 });
    cluster = uniqueKey('hopen').cluster;
    const xy = await proxy.addRoute('x>y', { host: '127.0.0.1', port: 9 });
    const yx = await proxy.addRoute('y>x', { host: '127.0.0.1', port: 9 });
    const config = (id: string, peer: string, port: number) => ({
      cluster,
      serverId: id,
      listen: '127.0.0.1:0',
      peers: [`${peer}@127.0.0.1:${port}`],
      heartbeatIntervalMs: 200,
      heartbeatTimeoutMs: 200,
    });
    const options = {
      idleTimeoutMs,
      handshakeTimeoutMs: 1000,
      dialPolicy: { initialDelayMs: 100, maxDelayMs: 1000, breakerThreshold: 5, halfOpenAfterMs: 2000 },
    };
    const portOf = (n: NodeProc) => ({ host: '127.0.0.1', port: Number(n.address.split(':').pop()) });
    const y = await startNode(config('y', 'x', yx), options);
    nodes.push(y);
    proxy.retarget('x>y', portOf(y));
    const x = await startNode(config('x', 'y', xy), options);
    nodes.push(x);
    proxy.retarget('y>x', portOf(x));
    const vx = ClusterView.open({ cluster, serverId: 'x' });
    const vy = ClusterView.open({ cluster, serverId: 'y' });
    try {
      const healthy = (v: ClusterView, peer: string) =>
        v.getPeer(peer)?.status === 'healthy' && v.getPeer(peer)?.connection === 'active';
      await waitFor(() => healthy(vx, 'y') && healthy(vy, 'x'), { what: 'x and y to connect' });
      expect(proxy.stats('x>y').open).to.equal(1); // the one connection is x's dial

      proxy.setFaults('x>y', { halfOpen: true });
      proxy.setFaults('y>x', { halfOpen: true });
      await waitFor(() => vx.getPeer('y')?.status === 'down', { what: 'x to see y down behind the half-open path' });
      expect(vx.getPeer('y')?.connection).to.equal('active'); // x still holds the dead connection
      proxy.healAll();
      const healedAt = Date.now();
      const redialsBefore = proxy.stats('y>x').accepted;
      await waitFor(() => healthy(vx, 'y') && healthy(vy, 'x'), {
        timeoutMs: idleTimeoutMs + 5000,
        intervalMs: 10,
        what: 'x and y to see each other healthy after the heal',
      });
      const tookMs = Date.now() - healedAt;
      const redials = proxy.stats('y>x').accepted - redialsBefore;
      console.log(`      converged ${tookMs} ms after the heal, with ${redials} redial(s) from y`);
      // Bounded by y's dialer (breaker half-open 2 s + handshake 1 s), not by x's idle timeout.
      expect(tookMs).to.be.below(3500);
      expect(redials).to.be.at.most(3);
    } finally {
      vx.close();
      vy.close();
    }
  });
});
