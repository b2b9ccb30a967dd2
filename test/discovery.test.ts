// Service registries as membership sources: the `discovery` config section, the rules every provider
// follows (lib/discovery/sources.ts), and real agents against a real DNS server (dns2 on loopback) and a
// real etcd (Debian's etcd-server) whose records change while they run.
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseConfig } from '../lib/registry/config.js';
import { DiscoverySources, type Discovered, type DiscoveryState, type ProviderSink } from '../lib/discovery/sources.js';
import { parseMembers } from '../lib/discovery/etcd.js';
import { ClusterView } from '../lib/view.js';
import { createMetrics } from '../lib/metrics.js';
import { SECRET, startCluster, startNode, type Cluster } from '../harness/cluster.js';
import { uniqueKey } from '../harness/names.js';
import { ClusterNode } from '../lib/node.js';
import { freePort } from '../harness/loopback.js';
import { startDns, type TestDns } from '../harness/dns.js';
import { etcdBinary, startEtcd, type TestEtcd } from '../harness/etcd.js';
import { ConfigError } from '../lib/errors.js';
import { waitFor } from '../harness/wait.js';

describe('the discovery config section', () => {
  const base = { cluster: 'c', serverId: 'a', listen: '127.0.0.1:7101' };
  it('takes dns and etcd providers, with defaults, and resolves TLS files against the config folder', () => {
    const c = parseConfig(
      {
        ...base,
        discovery: [
          { provider: 'dns', name: 'commy.default.svc.cluster.local' },
          { provider: 'dns', name: 'nodes.example', type: 'A', port: 7101, servers: ['127.0.0.1:5353'] },
          {
            provider: 'etcd',
            endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'],
            tls: { ca: 'ca.pem', cert: 'c.pem', key: 'k.pem' },
            auth: { username: 'u', password: 'p' },
          },
        ],
      },
      { baseDir: '/etc/commy' },
    );
    expect(c.discovery).to.deep.equal([
      { provider: 'dns', name: 'commy.default.svc.cluster.local', type: 'SRV', intervalMs: 5000 },
      { provider: 'dns', name: 'nodes.example', type: 'A', port: 7101, intervalMs: 5000, servers: ['127.0.0.1:5353'] },
      {
        provider: 'etcd',
        endpoints: ['https://10.0.0.1:2379', 'https://10.0.0.2:2379'],
        prefix: '/commy',
        ttlSeconds: 10,
        tls: { ca: '/etc/commy/ca.pem', cert: '/etc/commy/c.pem', key: '/etc/commy/k.pem' },
        auth: { username: 'u', password: 'p' },
      },
    ]);
  });

  it('refuses a bad provider entry with an error naming the field', () => {
    const cases: [unknown, string][] = [
      [{ provider: 'dns' }, 'discovery[0].name'],
      [{ provider: 'dns', name: 'x', type: 'A' }, 'discovery[0].port'],
      [{ provider: 'dns', name: 'x', type: 'MX' }, 'discovery[0].type'],
      [{ provider: 'dns', name: 'x', servers: ['dns.example'] }, 'discovery[0].servers[0]'],
      [{ provider: 'dns', name: 'x', intervalMs: 5 }, 'discovery[0].intervalMs'],
      [{ provider: 'dns', name: 'x', ttl: 5 }, 'discovery[0].ttl'],
      [{ provider: 'etcd', endpoints: [] }, 'discovery[0].endpoints'],
      [{ provider: 'etcd', endpoints: ['10.0.0.1:2379'] }, 'discovery[0].endpoints[0]'],
      [{ provider: 'etcd', endpoints: ['http://e:2379'], prefix: 'commy' }, 'discovery[0].prefix'],
      [{ provider: 'etcd', endpoints: ['http://e:2379'], tls: { cert: 'c.pem' } }, 'discovery[0].tls'],
      [{ provider: 'etcd', endpoints: ['http://e:2379'], auth: { username: 'u' } }, 'discovery[0].auth.password'],
      [{ provider: 'consul' }, 'discovery[0].provider'],
      ['dns', 'discovery[0]'],
    ];
    const fieldOf = (discovery: unknown) => {
      try {
        parseConfig({ ...base, discovery });
      } catch (err) {
        expect(err, JSON.stringify(discovery)).to.be.instanceOf(ConfigError);
        return (err as ConfigError).field;
      }
      return expect.fail(`accepted ${JSON.stringify(discovery)}`);
    };
    for (const [entry, field] of cases) expect(fieldOf([entry]), JSON.stringify(entry)).to.equal(field);
    expect(fieldOf({})).to.equal('discovery');
  });
});

describe('discovery sources: the rules every provider follows', () => {
  function make(n: number) {
    const sinks: ProviderSink[] = [];
    const log: string[] = [];
    let state: DiscoveryState | undefined;
    let now = 1000;
    const providers = Array.from({ length: n }, (_, i) => ({
      name: `p${i}`,
      start: (sink: ProviderSink) => void sinks.push(sink),
      stop: () => Promise.resolve(),
    }));
    const key = (d: Discovered) => d.serverId ?? d.address;
    const sources = new DiscoverySources(
      providers,
      {
        join: (d, source) => log.push(`join ${key(d)} ${source}`),
        leave: (d, source) => log.push(`leave ${key(d)} ${source}`),
        changed: (s) => (state = s),
      },
      () => now,
    );
    sources.start();
    return { sinks, log, state: () => state!, tick: (ms: number) => (now += ms), sources };
  }

  it('a list replaces the previous one: new entries join, missing ones leave', () => {
    const t = make(1);
    t.sinks[0].refreshed([{ serverId: 'b', address: '10.0.0.2:1' }, { address: '10.0.0.3:1' }]);
    t.sinks[0].refreshed([{ serverId: 'b', address: '10.0.0.2:1' }, { address: '10.0.0.4:1' }]);
    expect(t.log).to.deep.equal(['join b p0', 'join 10.0.0.3:1 p0', 'join 10.0.0.4:1 p0', 'leave 10.0.0.3:1 p0']);
    expect(t.state()).to.deep.include({ providers: 1, up: true, members: 2, lastRefreshMs: 1000, error: '' });
  });

  it('an unreachable registry keeps the last list and says so; its return reconciles what changed', () => {
    const t = make(1);
    t.sinks[0].refreshed([
      { serverId: 'b', address: 'h:1' },
      { serverId: 'c', address: 'h:2' },
    ]);
    t.tick(5000);
    t.sinks[0].failed('UNAVAILABLE');
    t.sinks[0].failed('UNAVAILABLE');
    expect(t.log, 'no departure during the outage').to.deep.equal(['join b p0', 'join c p0']);
    expect(t.state()).to.deep.include({ up: false, members: 2, lastRefreshMs: 1000, error: 'p0: UNAVAILABLE' });
    t.tick(5000);
    t.sinks[0].refreshed([
      { serverId: 'b', address: 'h:1' },
      { serverId: 'd', address: 'h:4' },
    ]);
    expect(t.log.slice(2)).to.deep.equal(['join d p0', 'leave c p0']);
    expect(t.state()).to.deep.include({ up: true, members: 2, lastRefreshMs: 11_000 });
  });

  it('with several providers a member leaves only when none lists it; up means every provider answers', () => {
    const t = make(2);
    expect(t.state, 'no state before a first answer').to.be.a('function');
    t.sinks[0].refreshed([{ address: 'h:1' }]);
    expect(t.state()).to.deep.include({ up: false, lastRefreshMs: null, error: 'p1: not refreshed yet' });
    t.sinks[1].refreshed([{ address: 'h:1' }, { address: 'h:2' }]);
    t.sinks[0].refreshed([]);
    expect(t.log).to.deep.equal(['join h:1 p0', 'join h:2 p1']);
    t.sinks[1].refreshed([{ address: 'h:2' }]);
    expect(t.log.slice(2)).to.deep.equal(['leave h:1 p1']);
    expect(t.state()).to.deep.include({ up: true, members: 1 });
  });

  it('after stop(), a late answer changes nothing', async () => {
    const t = make(1);
    await t.sources.stop();
    t.sinks[0].refreshed([{ address: 'h:1' }]);
    expect(t.log).to.deep.equal([]);
  });

  it("etcd values that are not a member's are skipped", () => {
    const dir = '/commy/c/';
    expect(
      parseMembers(dir, {
        '/commy/c/a': '{"address":"10.0.0.1:7101","incarnation":5}',
        '/commy/c/b': 'not json',
        '/commy/c/c': '{"address":"0 0"}',
        '/commy/c/bad id': '{"address":"10.0.0.4:7101"}',
      }),
    ).to.deep.equal([{ serverId: 'a', address: '10.0.0.1:7101' }]);
  });
});

// ---- real agents ----------------------------------------------------------

let cluster: Cluster | undefined;
let dns: TestDns | undefined;
let etcd: TestEtcd | undefined;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = undefined;
  await dns?.close();
  dns = undefined;
  await etcd?.remove();
  etcd = undefined;
});

const timing = { heartbeatIntervalMs: 100, heartbeatTimeoutMs: 100 };

/** Ids of the members a node's region holds healthy on a live connection. */
function healthyIn(c: Cluster, id: string): string[] {
  const v = ClusterView.open({ cluster: c.cluster, serverId: id });
  try {
    return v
      .snapshot()
      .peers.filter((p) => p.status === 'healthy' && p.connection === 'active')
      .map((p) => p.serverId)
      .sort();
  } finally {
    v.close();
  }
}

async function scrape(c: Cluster, id: string): Promise<string> {
  const v = ClusterView.open({ cluster: c.cluster, serverId: id });
  try {
    return await createMetrics(v).scrape();
  } finally {
    v.close();
  }
}

function snapshotOf(c: Cluster, id: string) {
  const v = ClusterView.open({ cluster: c.cluster, serverId: id });
  try {
    return v.snapshot();
  } finally {
    v.close();
  }
}

/** Until each of `ids` holds exactly the others of `ids`, healthy (and no other slot). */
async function converged(c: Cluster, ids: string[], what: string, timeoutMs = 20_000): Promise<void> {
  await waitFor(
    () =>
      ids.every((id) => {
        const others = ids.filter((o) => o !== id).sort();
        return snapshotOf(c, id).peers.length === others.length && healthyIn(c, id).join() === others.join();
      }),
    { timeoutMs, what },
  );
}

/** Starts one more node of the cluster, tracked for stopAll(). */
async function addNode(c: Cluster, id: string, config: Record<string, unknown>) {
  const node = await startNode({ cluster: c.cluster, serverId: id, ...timing, ...config });
  c.nodes.push(node);
  c.ids.push(id);
  return node;
}

type Event = { event?: string; serverId?: string; newStatus?: string; kind?: string; at?: number };
const eventsOf = (c: Cluster, id: string) => c.nodes[c.ids.indexOf(id)].child.messages as Event[];

describe('DNS discovery (a real DNS server on loopback)', function () {
  this.timeout(90_000);

  it('agents with no peers find each other from SRV records; records added and removed while they run', async () => {
    dns = await startDns();
    const name = 'commy.test.svc.cluster.local';
    const d = { provider: 'dns', name, intervalMs: 200, servers: [dns.server] };
    const srv = (ports: number[]) => ({ srv: ports.map((port) => ({ target: '127.0.0.1', port })) });
    cluster = await startCluster(2, { ...timing, peers: [], discovery: [d] });
    const c = cluster;
    dns.set(name, srv(c.ports));
    await converged(c, ['a', 'b'], 'a and b to find each other in DNS');
    await waitFor(() => snapshotOf(c, 'a').discovery?.members === 2, { what: "a's DNS answer to list a and b" });
    expect(snapshotOf(c, 'a').discovery).to.deep.include({ up: true, members: 2, error: '' });

    // A third agent: its record appears, and every region holds it.
    const third = await addNode(c, 'c', { listen: '127.0.0.1:0', peers: [], discovery: [d] });
    const portC = Number(third.address.split(':').pop());
    dns.set(name, srv([...c.ports, portC]));
    await converged(c, ['a', 'b', 'c'], 'c to be found by a and b');
    await waitFor(() => c.ids.every((id) => snapshotOf(c, id).discovery?.members === 3), {
      what: "every node's DNS answer to list c",
    });

    // c dies and its record goes: a and b remove it now, long before reapAfterMs (60 s).
    third.child.kill('SIGKILL');
    await third.child.exited;
    dns.set(name, srv(c.ports));
    const removed = (id: string) =>
      !snapshotOf(c, id).peers.some((p) => p.serverId === 'c') &&
      eventsOf(c, id).some((e) => e.event === 'membershipChanged' && e.serverId === 'c' && e.kind === 'left');
    await waitFor(() => removed('a') && removed('b'), {
      timeoutMs: 10_000,
      what: 'a and b to remove c once its record is gone',
    });
    for (const id of ['a', 'b']) {
      const changes = eventsOf(c, id).filter((e) => e.event === 'membershipChanged' && e.serverId === 'c');
      expect(
        changes.map((e) => e.kind),
        `${id}: c joined, then left (not reaped)`,
      ).to.deep.equal(['joined', 'left']);
    }
  });

  it('A records: agents on one port at different addresses (127.0.0.1-3) find each other', async () => {
    dns = await startDns();
    const port = await freePort();
    const name = 'hosts.test';
    dns.set(name, { a: ['127.0.0.1', '127.0.0.2', '127.0.0.3'] });
    cluster = await startCluster(
      3,
      {
        ...timing,
        peers: [],
        discovery: [{ provider: 'dns', name, type: 'A', port, intervalMs: 200, servers: [dns.server] }],
      },
      {},
      (i) => ({ listen: `127.0.0.${i + 1}:${port}` }),
    );
    const c = cluster;
    await converged(c, c.ids, 'the agents to find each other from A records');
    expect(
      snapshotOf(c, 'b')
        .peers.map((p) => p.address)
        .sort(),
    ).to.deep.equal([`127.0.0.1:${port}`, `127.0.0.3:${port}`]);
  });

  it('a failing resolver keeps the last members and marks none down; the status says so until it answers', async () => {
    dns = await startDns();
    const server = dns;
    const name = 'nodes.test';
    cluster = await startCluster(3, {
      ...timing,
      peers: [],
      discovery: [{ provider: 'dns', name, intervalMs: 200, servers: [dns.server] }],
    });
    const c = cluster;
    server.set(name, { srv: c.ports.map((port) => ({ target: '127.0.0.1', port })) });
    await converged(c, c.ids, 'the agents to find each other');
    // They can meet through one another's dials before their own next answer lists everyone.
    await waitFor(() => c.ids.every((id) => snapshotOf(c, id).discovery?.members === 3), {
      what: "every node's answer to list all three",
    });
    c.nodes.forEach((n) => n.child.messages.splice(0));
    server.failing = true;
    await waitFor(() => c.ids.every((id) => snapshotOf(c, id).discovery?.up === false), {
      timeoutMs: 10_000,
      what: 'every node to report its resolver down',
    });
    const s = snapshotOf(c, 'a');
    expect(s.discovery?.error).to.match(/ESERVFAIL|SERVFAIL/);
    expect(await scrape(c, 'a'), 'metrics during the outage').to.match(/^commy_discovery_up 0$/m);
    const cli = fileURLToPath(new URL('../lib/cli/main.js', import.meta.url));
    const shown = execFileSync(process.execPath, [cli, 'status', '--cluster', c.cluster, '--server', 'a'], {
      encoding: 'utf8',
    });
    expect(shown, `commy status printed: ${shown}`).to.match(
      /discovery DOWN, 3 members listed, last refresh .* ago \(dns SRV nodes\.test: .*SERVFAIL/,
    );
    expect(await scrape(c, 'a')).to.match(/^commy_discovery_members 3$/m);
    server.failing = false;
    await waitFor(() => c.ids.every((id) => snapshotOf(c, id).discovery?.up === true), {
      timeoutMs: 10_000,
      what: 'every node to report its resolver up again',
    });
    expect(await scrape(c, 'a'), 'metrics after it').to.match(/^commy_discovery_up 1$/m);
    expect(await scrape(c, 'a')).to.match(/^commy_discovery_last_refresh_timestamp_seconds \d+/m);
    for (const id of c.ids) {
      const changes = eventsOf(c, id).filter((e) => e.event === 'peerStatusChanged');
      expect(changes, `${id}'s status changes during the outage`).to.deep.equal([]);
    }
  });
});

describe('etcd discovery (a real etcd server)', function () {
  this.timeout(120_000);
  before(function () {
    if (!etcdBinary()) {
      console.log('      skipped: no etcd binary (apt-get install etcd-server; .ci/run installs it)');
      this.skip();
    }
  });

  const provider = () => ({ provider: 'etcd', endpoints: [etcd!.endpoint], prefix: '/commy-test', ttlSeconds: 2 });

  it('an unreadable TLS file stops the start naming the field, and leaves nothing running', async () => {
    const { cluster: name } = uniqueKey('tls');
    const port = await freePort();
    const config = {
      cluster: name,
      serverId: 'a',
      listen: `127.0.0.1:${port}`,
      discovery: [{ provider: 'etcd', endpoints: ['https://127.0.0.1:1'], tls: { ca: '/nonexistent/ca.pem' } }],
    };
    const err = await ClusterNode.start(config, { secret: SECRET }).then(
      async (n) => {
        await n.stop();
        return expect.fail('started');
      },
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(ConfigError);
    expect((err as ConfigError).field).to.equal('discovery[0].tls.ca');
    expect((err as Error).message).to.match(/cannot read \/nonexistent\/ca\.pem: ENOENT/);
    // The listener is closed and the region gone: the same node starts again at once.
    const again = await ClusterNode.start({ ...config, discovery: [] }, { secret: SECRET });
    await again.stop();
  });

  it('an agent whose etcd never answers still stops at once, its process exiting', async () => {
    cluster = await startCluster(1, {
      ...timing,
      peers: [],
      discovery: [{ provider: 'etcd', endpoints: ['http://127.0.0.1:1'], ttlSeconds: 2 }],
    });
    const c = cluster;
    await waitFor(() => snapshotOf(c, 'a').discovery?.up === false, { what: 'discovery down', timeoutMs: 15_000 });
    const node = c.nodes[0];
    const t0 = Date.now();
    node.child.send({ cmd: 'stop' });
    await node.child.next((m: { stopped?: boolean }) => m.stopped === true, 15_000, 'stopped');
    const exit = await Promise.race([
      node.child.exited,
      new Promise((r) => setTimeout(() => r('still running'), 10_000)),
    ]);
    expect(exit, 'the process exits: nothing of etcd keeps it alive').to.deep.equal({ code: 0, signal: null });
    console.log(`      stopped and exited ${Date.now() - t0} ms after the stop command`);
  });

  it('agents with no peers find each other; a new agent joins; a killed one is down first, then removed at its lease expiry', async () => {
    etcd = await startEtcd();
    cluster = await startCluster(3, { ...timing, peers: [], discovery: [provider()] });
    const c = cluster;
    await converged(c, ['a', 'b', 'c'], 'a, b and c to find each other in etcd');
    await waitFor(() => snapshotOf(c, 'a').discovery?.members === 3, { what: "a's etcd list to hold a, b and c" });
    expect(snapshotOf(c, 'a').discovery).to.deep.include({ up: true, members: 3, error: '' });

    const d = await addNode(c, 'd', { listen: '127.0.0.1:0', peers: [], discovery: [provider()] });
    await converged(c, ['a', 'b', 'c', 'd'], 'd to be seen by all');

    d.child.kill('SIGKILL');
    await d.child.exited;
    const leftEvent = (id: string) =>
      eventsOf(c, id).find((e) => e.event === 'membershipChanged' && e.serverId === 'd' && e.kind === 'left');
    await waitFor(() => ['a', 'b', 'c'].every((id) => !snapshotOf(c, id).peers.some((p) => p.serverId === 'd')), {
      timeoutMs: 15_000,
      what: 'd to be removed once its lease (2 s) expires',
    });
    // A node frees d's slot and then emits the event, which reaches this process over IPC: the region
    // can show the removal first, so the events are awaited too (a removal of another kind never matches).
    await waitFor(() => ['a', 'b', 'c'].every((id) => leftEvent(id) !== undefined), {
      timeoutMs: 5_000,
      what: "each node's membershipChanged 'left' event for d",
    }).catch(() => undefined);
    for (const id of ['a', 'b', 'c']) {
      const log = eventsOf(c, id);
      const down = log.find((e) => e.event === 'peerStatusChanged' && e.serverId === 'd' && e.newStatus === 'down');
      const left = leftEvent(id);
      expect(down, `${id} marked d down`).to.not.equal(undefined);
      expect(left, `${id} removed d`).to.not.equal(undefined);
      expect(left!.at!, `${id}: down by heartbeats before the lease expired`).to.be.greaterThan(down!.at!);
    }
  });

  it('over TLS with a client certificate and a user/password: agents find each other; a wrong password is an outage that says why', async () => {
    const auth = { username: 'commy', password: 'right-password' };
    etcd = await startEtcd({ tls: true, auth });
    const tls = etcd.tls!;
    const secure = (password: string) => ({ ...provider(), tls, auth: { ...auth, password } });
    cluster = await startCluster(2, { ...timing, peers: [], discovery: [secure(auth.password)] });
    const c = cluster;
    expect(etcd.endpoint).to.match(/^https:/);
    await converged(c, ['a', 'b'], 'a and b to find each other through etcd over TLS');
    await addNode(c, 'c', { listen: '127.0.0.1:0', peers: [], discovery: [secure('wrong-password')] });
    await waitFor(() => snapshotOf(c, 'c').discovery?.error.length, {
      what: "c's discovery to fail",
      timeoutMs: 15_000,
    });
    const d = snapshotOf(c, 'c').discovery!;
    expect(d.up).to.equal(false);
    expect(d.error, d.error).to.match(/auth|password/i);
    expect(healthyIn(c, 'c'), 'c found no one').to.deep.equal([]);
  });

  it('etcd down for 10 s: no peer is marked down, the status says so, and membership reconciles when it returns', async () => {
    etcd = await startEtcd();
    const server = etcd;
    cluster = await startCluster(3, { ...timing, peers: [], discovery: [provider()] });
    const c = cluster;
    await converged(c, ['a', 'b', 'c'], 'a, b and c to find each other');
    c.nodes.forEach((n) => n.child.messages.splice(0));
    await server.stop();
    const outage = Date.now();
    await waitFor(() => c.ids.every((id) => snapshotOf(c, id).discovery?.up === false), {
      timeoutMs: 10_000,
      what: 'every node to report etcd down',
    });
    // A node started during the outage finds no one yet.
    await addNode(c, 'd', { listen: '127.0.0.1:0', peers: [], discovery: [provider()] });
    await waitFor(() => Date.now() - outage >= 10_000, { timeoutMs: 15_000, intervalMs: 100, what: '10 s of outage' });
    expect(healthyIn(c, 'a')).to.deep.equal(['b', 'c']);
    await server.start();
    const back = Date.now();
    await converged(c, ['a', 'b', 'c', 'd'], 'the membership to reconcile after etcd returned', 30_000);
    console.log(
      `      outage ${back - outage} ms; membership reconciled ${Date.now() - back} ms after etcd answered again`,
    );
    await waitFor(() => c.ids.every((id) => snapshotOf(c, id).discovery?.up === true), {
      timeoutMs: 15_000,
      what: 'every node to report etcd up',
    });
    for (const id of ['a', 'b', 'c']) {
      const downs = eventsOf(c, id).filter(
        (e) => e.event === 'peerStatusChanged' && (e.newStatus === 'down' || e.newStatus === 'suspected'),
      );
      expect(downs, `${id}'s peers marked down or suspected during the outage`).to.deep.equal([]);
    }
  });
});
