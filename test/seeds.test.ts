// Join through any member: nodes given one seed each learn the whole cluster from the member-list
// exchange; a graceful Leave reaches every member; a killed member is marked down by heartbeats, then
// reaped; a restarted one (a greater incarnation) comes back in the same single slot. Real processes.
import { expect } from 'chai';
import type { ClusterView } from '../lib/view.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = undefined;
});

const INTERVAL_MS = 100;

/** Each node's only seed is the node before it (the first's is the last), named by address alone. */
async function startRing(n: number, extra: Record<string, unknown> = {}) {
  const started = Date.now();
  cluster = await startCluster(
    n,
    { heartbeatIntervalMs: INTERVAL_MS, heartbeatTimeoutMs: INTERVAL_MS, ...extra },
    {},
    (i, _ids, ports) => ({
      peers: [`127.0.0.1:${ports[(i + n - 1) % n]}`],
    }),
  );
  const c = cluster;
  return { c, views: c.ids.map((id) => c.view(id)), started };
}

/** True once the view holds exactly `members` (itself excluded), each healthy on a live connection. */
function holdsExactly(v: ClusterView, members: string[]): boolean {
  const s = v.snapshot();
  return (
    s.peers.length === members.length &&
    members.every((id) => s.peers.some((p) => p.serverId === id && p.status === 'healthy' && p.connection === 'active'))
  );
}

/** Polls until every view holds every other node of the cluster, healthy and connected. */
function fullMembership(c: Cluster, views: ClusterView[], what = 'full membership', timeoutMs = 30_000) {
  return waitFor(
    () =>
      views.every((v, i) =>
        holdsExactly(
          v,
          c.ids.filter((_, j) => j !== i),
        ),
      ),
    { timeoutMs, what },
  );
}

type Event = {
  event?: string;
  kind?: string;
  serverId?: string;
  newStatus?: string;
  at?: number;
  lastSeenMs?: number;
  source?: string;
};
const events = (c: Cluster, id: string) => c.nodes[c.ids.indexOf(id)].child.messages as Event[];

describe('join through any member (seeds and the member-list exchange)', function () {
  this.timeout(90_000);

  it('6 agents, each given one seed by address, converge to full membership: every region shows every peer healthy', async () => {
    const { c, views, started } = await startRing(6);
    const ready = Date.now();
    await fullMembership(c, views, 'every node to hold the 5 others, healthy');
    const ms = Date.now() - ready;
    console.log(
      `      converged ${ms} ms after the last node was ready (${(ms / INTERVAL_MS).toFixed(1)} heartbeat intervals of ${INTERVAL_MS} ms; ${ready - started} ms to start 6 processes)`,
    );
    for (const [i, v] of views.entries()) {
      const s = v.snapshot();
      expect(s.peers.map((p) => p.serverId).sort(), `${c.ids[i]}'s slots`).to.deep.equal(
        c.ids.filter((_, j) => j !== i),
      );
      expect(s.status).to.include({ totalPeers: 6, healthyPeers: 6, quorumAvailable: true, isDegraded: false });
    }
    for (const node of c.nodes) {
      const refused = node.child.messages.filter((m) => (m as Event).event === 'rejected');
      expect(refused, `${node.id} refused connections`).to.deep.equal([]);
    }
  });

  it('a graceful Leave reaches every member: each forgets it, or marks it down "left" where it is a seed', async () => {
    const { c, views } = await startRing(4);
    await fullMembership(c, views);
    // b is the seed of c only (c's seed is the node before it).
    const b = c.nodes[1];
    b.child.send({ cmd: 'stop' });
    await b.child.exited;
    await waitFor(
      () =>
        views.every((v, i) => {
          if (i === 1) return true;
          const slot = v.inspect().peers.find((p) => p.serverId === 'b');
          return i === 2 ? slot?.status === 'down' && slot.statusReason === 'left' : slot === undefined;
        }),
      { timeoutMs: 10_000, what: "a and d to forget b, and c (b's seed holder) to show it down, left" },
    );
    for (const id of ['a', 'd']) {
      const left = events(c, id).filter((e) => e.event === 'membershipChanged' && e.serverId === 'b');
      expect(
        left.map((e) => e.kind),
        `${id}'s membership events for b`,
      ).to.deep.equal(['joined', 'left']);
    }
    // No one marked b down by missed heartbeats first: the Leave was heard.
    for (const id of ['a', 'c', 'd']) {
      const missed = events(c, id).filter(
        (e) => e.event === 'peerStatusChanged' && e.serverId === 'b' && e.newStatus === 'suspected',
      );
      expect(missed, `${id} suspected b`).to.deep.equal([]);
    }
  });

  it('a killed member is marked down by heartbeats, then reaped after reapAfterMs; restarted, it is back in one slot', async () => {
    const { c, views } = await startRing(4, { reapAfterMs: 1500 });
    await fullMembership(c, views);
    const b = c.nodes[1];
    b.child.kill('SIGKILL');
    await b.child.exited;
    // a and d learned b from others: they reap it. c has b as its seed: it keeps the slot, down.
    await waitFor(
      () =>
        views.every((v, i) => {
          const slot = v.snapshot().peers.find((p) => p.serverId === 'b');
          return i === 1 || (i === 2 ? slot?.status === 'down' : slot === undefined);
        }),
      { timeoutMs: 15_000, what: 'a and d to reap b, c to keep it down' },
    );
    for (const id of ['a', 'd']) {
      const log = events(c, id);
      const down = log.find((e) => e.event === 'peerStatusChanged' && e.serverId === 'b' && e.newStatus === 'down');
      const reaped = log.find((e) => e.event === 'membershipChanged' && e.serverId === 'b' && e.kind === 'reaped');
      expect(down, `${id} marked b down`).to.not.equal(undefined);
      expect(reaped, `${id} reaped b`).to.not.equal(undefined);
      expect(reaped!.at!, `${id} reaped b after marking it down`).to.be.at.least(down!.at!);
      const unheard = reaped!.at! - down!.lastSeenMs!;
      expect(unheard, `${id} reaped b ${unheard} ms after last hearing it`).to.be.at.least(1500);
    }
    await c.restart('b');
    await waitFor(
      () =>
        views.every(
          (v, i) =>
            i === 1 ||
            holdsExactly(
              v,
              c.ids.filter((_, j) => j !== i),
            ),
        ),
      {
        timeoutMs: 20_000,
        what: 'the restarted b to be back, healthy, in every region',
      },
    );
    for (const [i, v] of views.entries()) {
      if (i === 1) continue;
      const slots = v.snapshot().peers.filter((p) => p.serverId === 'b');
      expect(slots, `${c.ids[i]}'s slots for b`).to.have.length(1);
    }
  });
});
