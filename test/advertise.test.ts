// Advertised addresses: nodes listening on a wildcard, named by their peers
// only as "127.0.0.1:port", each fill exactly the slot they were configured in.
import { expect } from 'chai';
import { chooseAdvertise } from '../lib/discovery/advertise.js';
import { parseConfig } from '../lib/registry/config.js';
import type { ClusterView, PeerSnapshot } from '../lib/view.js';
import { startCluster, type Cluster } from '../harness/cluster.js';
import { thrown } from '../harness/errors.js';
import { waitFor } from '../harness/wait.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = undefined;
});

const nic = (address: string, family: 'IPv4' | 'IPv6', internal = false) => ({
  address,
  family,
  internal,
  netmask: '',
  mac: '',
  cidr: null,
  ...(family === 'IPv6' ? { scopeid: 0 } : {}),
});

describe('the advertised address', () => {
  it('is the configured advertise, else a concrete listen, else the first non-loopback address for a wildcard', () => {
    const lo = [nic('127.0.0.1', 'IPv4', true), nic('::1', 'IPv6', true)];
    const nics = {
      lo,
      eth0: [nic('fe80::1', 'IPv6'), nic('2001:db8::5', 'IPv6'), nic('10.0.0.5', 'IPv4')],
      eth1: [nic('10.0.1.5', 'IPv4')],
    } as never;
    expect(chooseAdvertise({ host: '0.0.0.0', port: 7101 }, '10.9.9.9:7000', nics)).to.deep.equal({
      address: '10.9.9.9:7000',
      source: 'advertise',
    });
    expect(chooseAdvertise({ host: '127.0.0.1', port: 7101 }, undefined, nics).address).to.equal('127.0.0.1:7101');
    expect(chooseAdvertise({ host: '0.0.0.0', port: 7101 }, undefined, nics)).to.deep.equal({
      address: '10.0.0.5:7101',
      source: 'interface',
      interface: 'eth0',
    });
    expect(chooseAdvertise({ host: '::', port: 7101 }, undefined, nics).address).to.equal('10.0.0.5:7101');
    const v6only = { lo: [nic('::1', 'IPv6', true)], eth0: [nic('fe80::1', 'IPv6'), nic('2001:db8::5', 'IPv6')] };
    expect(chooseAdvertise({ host: '::', port: 7101 }, undefined, v6only as never).address).to.equal(
      '[2001:db8::5]:7101',
    );
    // Only loopback (a container with no network): loopback, flagged so the node warns.
    expect(chooseAdvertise({ host: '0.0.0.0', port: 7101 }, undefined, { lo } as never)).to.deep.equal({
      address: '127.0.0.1:7101',
      source: 'loopback',
    });
  });

  it('"advertise" in the config must be a dialable host:port; the error names the field', () => {
    const base = { cluster: 'c', serverId: 'a', listen: '0.0.0.0:7101' };
    expect(parseConfig({ ...base, advertise: '10.0.0.5:7101' }).advertiseAddress).to.equal('10.0.0.5:7101');
    for (const bad of ['0.0.0.0:7101', '[::]:7101', '10.0.0.5', '10.0.0.5:0', 7101]) {
      const t = thrown(() => parseConfig({ ...base, advertise: bad }));
      expect(t?.code, `advertise ${JSON.stringify(bad)}`).to.equal('ERR_CONFIG');
      expect(t?.message).to.match(/advertise/);
    }
  });
});

/** n nodes on 0.0.0.0 whose peers name each other only as `${host}:port`, and a view of each region. */
async function startWildcard(n: number, host: string, options: Record<string, unknown> = {}) {
  cluster = await startCluster(n, {}, options, (i, _ids, ports) => ({
    listen: `0.0.0.0:${ports[i]}`,
    peers: ports.filter((_, j) => j !== i).map((p) => `${host}:${p}`),
  }));
  const c = cluster;
  return { c, views: c.ids.map((id) => c.view(id)) };
}

/** Polls until every view holds n - 1 peers, each healthy, connected and passing `ok`. */
function settled(c: Cluster, views: ClusterView[], ok: (p: PeerSnapshot) => boolean, what: string) {
  return waitFor(
    () =>
      views.every((v) => {
        const s = v.snapshot();
        return (
          s.peers.length === c.ids.length - 1 &&
          s.peers.every((p) => p.status === 'healthy' && p.connection === 'active' && ok(p))
        );
      }),
    { timeoutMs: 20_000, what },
  );
}

describe('nodes listening on 0.0.0.0, named by their peers only as 127.0.0.1:port', function () {
  this.timeout(60_000);

  for (const [n, dynamic] of [
    [2, false],
    [3, false],
    [3, true],
  ] as const) {
    it(`${n} nodes${dynamic ? ' with allowDynamicJoin' : ''}: each sees exactly one healthy slot per peer, and refuses none`, async () => {
      const { c, views } = await startWildcard(n, '127.0.0.1', dynamic ? { allowDynamicJoin: true } : {});
      await settled(c, views, (p) => c.ids.includes(p.serverId), 'every node to name every peer by its id');
      for (const [i, v] of views.entries()) {
        const s = v.snapshot();
        const others = c.ids.filter((_, j) => j !== i);
        expect(s.peers.map((p) => p.serverId).sort(), `${c.ids[i]}'s slots`).to.deep.equal(others);
        const addresses = c.ports.filter((_, j) => j !== i).map((p) => `127.0.0.1:${p}`);
        expect(s.peers.map((p) => p.address).sort(), `${c.ids[i]}'s addresses`).to.deep.equal(addresses.sort());
        expect(s.status).to.include({ totalPeers: n, healthyPeers: n, quorumAvailable: true, isDegraded: false });
      }
      for (const node of c.nodes) {
        const refused = node.child.messages.filter((m) => (m as { event?: string }).event === 'rejected');
        expect(refused, `${node.id} refused connections`).to.deep.equal([]);
      }
    });
  }

  it('3 nodes with allowDynamicJoin, named as localhost:port (a name no connection comes from): one slot per peer, the configured one', async () => {
    const { c, views } = await startWildcard(3, 'localhost', { allowDynamicJoin: true });
    // A peer that dials first is admitted as a dynamic peer under its id; the dial of the configured
    // address then shows it is that peer, and the configured slot is kept.
    await settled(c, views, (p) => p.address.startsWith('localhost:'), 'every node to keep only its configured slots');
    for (const [i, v] of views.entries()) {
      const s = v.snapshot();
      expect(s.peers.map((p) => p.serverId).sort()).to.deep.equal(c.ids.filter((_, j) => j !== i));
      expect(s.status).to.include({ totalPeers: 3, healthyPeers: 3, quorumAvailable: true });
    }
  });
});
