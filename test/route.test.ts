// Key routing across real processes: 3 agents, one reader process per agent
// routing 10,000 keys from that agent's region; kill -9 of an agent moves
// only its keys, restart brings them back. `commy route` as a separate
// process, and examples/route-sessions.mjs as a user runs it.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { rankOwners } from '../lib/routing.js';
import { startCluster, waitForAll, type Cluster } from '../harness/cluster.js';
import { forkFixture } from '../harness/fixtures.js';
import type { ForkedChild } from '../harness/processes.js';
import { waitFor } from '../harness/wait.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'lib', 'cli', 'main.js');
const KEYS = 10_000;

let cluster: Cluster | undefined;
const readers: ForkedChild[] = [];
afterEach(async () => {
  for (const r of readers.splice(0)) r.kill();
  await cluster?.stopAll();
  cluster = undefined;
});

async function startReader(c: Cluster, serverId: string): Promise<ForkedChild> {
  const r = forkFixture('view-child.js', ['route', c.cluster, serverId]);
  readers.push(r);
  await r.next((m: { ready?: boolean }) => m.ready === true, 20_000, `reader of ${serverId}`);
  return r;
}

/** The owners (serverIds joined by ",") of key-0 .. key-9999, as the reader process routes them. */
async function route(r: ForkedChild, opts: { replicas?: number; include?: string } = {}): Promise<string[]> {
  r.send({ keys: KEYS, ...opts });
  const m = await r.next((x: { owners?: string[] }) => Array.isArray(x.owners), 30_000, 'routes');
  return m.owners as string[];
}

function cliRoute(c: Cluster, server: string, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, 'route', '--cluster', c.cluster, '--server', server, ...args], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, NO_COLOR: '1' },
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const expected = (ids: string[], replicas: number) =>
  Array.from({ length: KEYS }, (_, i) =>
    rankOwners(
      `key-${i}`,
      ids.map((serverId) => ({ serverId, address: '' })),
      replicas,
    )
      .map((o) => o.serverId)
      .join(','),
  );

describe('routing across processes', () => {
  it("readers of 3 agents agree on 10,000 keys; kill -9 moves only the dead agent's keys; restart brings them back", async function () {
    this.timeout(120_000);
    cluster = await startCluster(3);
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
    const [ra, rb, rc] = await Promise.all(cluster.ids.map((id) => startReader(cluster!, id)));
    const before = await route(ra, { replicas: 2 });
    expect(await route(rb, { replicas: 2 })).to.deep.equal(before);
    expect(await route(rc, { replicas: 2 })).to.deep.equal(before);
    // And another language's implementation of the rule, given the same membership, agrees too.
    expect(before).to.deep.equal(expected(['a', 'b', 'c'], 2));
    const ownedByC = before.filter((o) => o.startsWith('c,')).length;
    expect(ownedByC / KEYS).to.be.within(0.25, 0.42); // about a third

    cluster.nodes[2].child.kill('SIGKILL');
    for (const id of ['a', 'b'])
      await waitFor(() => cluster!.view(id).getPeer('c')?.status === 'down', { what: `${id} to see c down` });
    const afterA = await route(ra, { replicas: 2 });
    expect(await route(rb, { replicas: 2 })).to.deep.equal(afterA);
    // c's own region outlives its writer: its reader leaves c out and keeps a and b as c last saw them.
    expect(await route(rc, { replicas: 2 })).to.deep.equal(afterA);
    let moved = 0;
    for (let i = 0; i < KEYS; i++) {
      const [owner, next] = before[i].split(',');
      const now = afterA[i].split(',')[0];
      if (owner === 'c') {
        moved++;
        expect(now, `key-${i}`).to.equal(next); // to its next in line
      } else expect(now, `key-${i}`).to.equal(owner);
    }
    expect(moved).to.equal(ownedByC);

    await cluster.restart('c');
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
    for (const r of [ra, rb, rc]) expect(await route(r, { replicas: 2 })).to.deep.equal(before);
  });

  it('include: "suspected" keeps a suspected member\'s keys where they are, the default moves them', async function () {
    this.timeout(60_000);
    // downAfter 30: a stopped process stays suspected for seconds, long enough to look at.
    cluster = await startCluster(3, { downAfter: 30 });
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
    const ra = await startReader(cluster, 'a');
    const before = await route(ra);
    cluster.nodes[2].child.proc.kill('SIGSTOP');
    try {
      const va = cluster.view('a');
      await waitFor(() => va.getPeer('c')?.status === 'suspected', { what: 'a to suspect c' });
      const [healthyOnly, damped] = [await route(ra), await route(ra, { include: 'suspected' })];
      expect(va.getPeer('c')?.status, 'c must still be suspected').to.equal('suspected');
      expect(damped).to.deep.equal(before);
      expect(healthyOnly).to.deep.equal(expected(['a', 'b'], 1));
      expect(healthyOnly).to.not.deep.equal(before);
    } finally {
      cluster.nodes[2].child.proc.kill('SIGCONT');
    }
  });
});

describe('route() names the node itself by the address it advertises', () => {
  it('a node listening on a wildcard is routed to at its advertised address, not 0.0.0.0', async function () {
    this.timeout(60_000);
    cluster = await startCluster(2, {}, {}, (i, ids, ports) => ({
      listen: `0.0.0.0:${ports[i]}`,
      advertise: `127.0.0.1:${ports[i]}`,
    }));
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
    const va = cluster.view('a');
    expect(va.snapshot().listen).to.equal(`0.0.0.0:${cluster.ports[0]}`);
    const self = va.route('k', { replicas: 2 }).find((o) => o.serverId === 'a');
    expect(self?.address).to.equal(`127.0.0.1:${cluster.ports[0]}`);
    // And b, on the same host, names a by the same address.
    expect(cluster.view('b').route('k', { replicas: 2 })).to.deep.include({
      serverId: 'a',
      address: `127.0.0.1:${cluster.ports[0]}`,
    });
  });
});

describe('commy route', () => {
  it('prints the owners as text or JSON, checks its flags, and exits 3 without a region and 4 with a dead writer', async function () {
    this.timeout(60_000);
    cluster = await startCluster(3);
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
    const view = cluster.view('a');
    const owners = view.route('session-42', { replicas: 3 });
    const json = cliRoute(cluster, 'a', ['session-42', '--replicas', '3', '--json']);
    expect(json.code, json.stderr).to.equal(0);
    expect(JSON.parse(json.stdout)).to.deep.equal(owners);
    const text = cliRoute(cluster, 'a', ['session-42']);
    expect(text.code, text.stderr).to.equal(0);
    expect(text.stdout).to.equal(`${owners[0].serverId} ${owners[0].address}\n`);
    // Every reader prints the same owners: b's process and c's agree with a's.
    for (const id of ['b', 'c'])
      expect(
        JSON.parse(cliRoute(cluster, id, ['session-42', '--replicas', '3', '--json']).stdout).map(
          (o: { serverId: string }) => o.serverId,
        ),
      ).to.deep.equal(owners.map((o) => o.serverId));

    for (const [args, flag] of [
      [['k', '--replicas', '0'], '--replicas'],
      [['k', '--replicas', 'two'], '--replicas'],
      [['k', '--include', 'down'], '--include'],
    ] as const) {
      const r = cliRoute(cluster, 'a', [...args]);
      expect(r.code, r.stderr).to.equal(2);
      expect(r.stderr).to.contain(flag);
    }
    const missingKey = cliRoute(cluster, 'a', []);
    expect(missingKey.code).to.equal(2);
    expect(missingKey.stderr).to.match(/key/);
    const none = cliRoute(cluster, 'nobody', ['k']);
    expect(none.code).to.equal(3);
    expect(none.stderr).to.contain('no region');

    cluster.nodes[2].child.kill('SIGKILL');
    await cluster.nodes[2].child.exited;
    const dead = cliRoute(cluster, 'c', ['session-42', '--replicas', '3', '--json']);
    expect(dead.code, dead.stderr).to.equal(4);
    expect(dead.stderr).to.contain('not alive');
    expect(
      JSON.parse(dead.stdout)
        .map((o: { serverId: string }) => o.serverId)
        .sort(),
    ).to.deep.equal(['a', 'b']);
  });
});

describe('examples/route-sessions.mjs', () => {
  it("routes sessions from three workers, moves only the killed node's sessions, and brings them back", function () {
    this.timeout(90_000);
    const r = spawnSync(process.execPath, [join(root, 'examples', 'route-sessions.mjs')], {
      encoding: 'utf8',
      timeout: 80_000,
    });
    expect(r.status, r.stderr).to.equal(0);
    const lines = r.stdout.split('\n');
    const tables = lines.filter((l) => /^worker@[abc] +s1:/.test(l)).map((l) => l.replace(/^worker@[abc] +/, ''));
    expect(tables).to.have.length(3);
    expect(new Set(tables).size, 'the three workers route alike').to.equal(1);
    const owned = new Map(tables[0].split(' ').map((p) => p.split(':') as [string, string]));
    const ofC = [...owned].filter(([, o]) => o === 'c').map(([s]) => `session-${s.slice(1)}`);
    expect(ofC.length, 'c owns some of the 12 sessions').to.be.greaterThan(0);
    for (const w of ['a', 'b']) {
      const moves = lines.filter((l) => l.startsWith(`worker@${w}`) && l.includes(' moved '));
      const away = moves.filter((l) => / moved c -> [ab]$/.test(l)).map((l) => l.split(/ +/)[1]);
      const back = moves.filter((l) => / moved [ab] -> c$/.test(l)).map((l) => l.split(/ +/)[1]);
      expect(away.sort(), `worker@${w}: c's sessions leave`).to.deep.equal([...ofC].sort());
      expect(back.sort(), `worker@${w}: and come back`).to.deep.equal([...ofC].sort());
      expect(moves).to.have.length(2 * ofC.length); // nothing else moved
    }
  });
});
