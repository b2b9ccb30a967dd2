// A node frozen by SIGSTOP for 3 s, then resumed with SIGCONT. Unlike the
// busy-loop stall in node.test.ts (local-health awareness), the process runs
// no code at all while stopped: its heartbeat timer fires late, all at once,
// after SIGCONT. Its own view must not turn on its peers; the peers' views of
// it go suspected (they really heard nothing) and recover.
import { expect } from 'chai';
import { startCluster, waitForAll, type Cluster } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';

type Change = { event?: string; serverId?: string; oldStatus?: string; newStatus?: string };

describe('stall: SIGSTOP of a node for 3 s', () => {
  let cluster: Cluster | undefined;
  afterEach(async () => {
    for (const n of cluster?.nodes ?? []) n.child.proc.kill('SIGCONT');
    await cluster?.stopAll();
    cluster = undefined;
  });

  it('its own view marks no peer down; the peers see it suspected, never down, and healthy again', async function () {
    this.timeout(60_000);
    const intervalMs = 500;
    // Down would take 10 silent ticks (5 s): more than the stall can cause, so a
    // down anywhere is a bug. Suspected takes 2 (about 1-1.5 s): the stall must cause it.
    cluster = await startCluster(3, {
      heartbeatIntervalMs: intervalMs,
      heartbeatTimeoutMs: intervalMs,
      suspectAfter: 2,
      downAfter: 10,
    });
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
    const [a, b, c] = cluster.nodes.map((n) => n.child);
    for (const ch of [a, b, c]) ch.messages.length = 0;
    const va = cluster.view('a');
    const lagBefore = va.inspect().node.maxEventLoopLagMs;
    const vb = cluster.view('b');
    const vc = cluster.view('c');

    a.proc.kill('SIGSTOP');
    const stoppedAt = Date.now();
    let resumedAt = 0;
    try {
      // While a is frozen, b and c must notice the silence.
      await waitFor(() => vb.getPeer('a')?.status === 'suspected' && vc.getPeer('a')?.status === 'suspected', {
        timeoutMs: 2900,
        intervalMs: 20,
        what: 'b and c to suspect the stopped a',
      });
      const suspectedAfter = Date.now() - stoppedAt;
      await new Promise((r) => setTimeout(r, stoppedAt + 3000 - Date.now()));
      a.proc.kill('SIGCONT');
      resumedAt = Date.now();
      console.log(`      b and c suspected a after ${suspectedAfter} ms of SIGSTOP`);
    } finally {
      if (!resumedAt) a.proc.kill('SIGCONT');
    }

    await waitFor(() => vb.getPeer('a')?.status === 'healthy' && vc.getPeer('a')?.status === 'healthy', {
      timeoutMs: 5000,
      intervalMs: 10,
      what: 'b and c to see a healthy again',
    });
    const recoveredAfter = Date.now() - resumedAt;
    // Let a run several on-time ticks after the late one.
    await new Promise((r) => setTimeout(r, 4 * intervalMs));
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');

    // a's heartbeat timer did fire late, by about the length of the stop...
    const lagAfter = va.inspect().node.maxEventLoopLagMs;
    console.log(
      `      a healthy again in b and c ${recoveredAfter} ms after SIGCONT; a's late tick: ${Math.round(lagAfter)} ms (before: ${Math.round(lagBefore)} ms)`,
    );
    expect(lagAfter).to.be.at.least(2000);
    // ...and that window counted no misses: a's own view never changed.
    const own = a.messages.filter((m) => (m as Change).event === 'peerStatusChanged');
    expect(own, JSON.stringify(own)).to.deep.equal([]);
    // The peers saw a suspected, never down, and healthy again.
    for (const peer of [b, c]) {
      const seen = peer.messages
        .filter((m) => (m as Change).event === 'peerStatusChanged' && (m as Change).serverId === 'a')
        .map((m) => (m as Change).newStatus);
      expect(seen).to.deep.equal(['suspected', 'healthy']);
    }
  });
});
