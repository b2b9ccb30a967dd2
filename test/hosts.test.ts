// Several hosts on one machine: each simulated host has its own address on a bridge and its own /dev/shm
// (harness/hosts.ts), so the bugs loopback hides show: wildcard listens, advertised addresses, regions that
// must stay on their host. Needs root; skips, saying why, elsewhere.
import { expect } from 'chai';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ClusterSnapshot } from '../lib/view.js';
import { createHosts, hostsUnavailable, type SimHost, type SimNetwork } from '../harness/hosts.js';
import { fixturesDir } from '../harness/fixtures.js';
import { SECRET } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cli = join(root, 'dist', 'lib', 'cli', 'main.js');

let net: SimNetwork | undefined;
let dir: string | undefined;
afterEach(async () => {
  await net?.remove();
  net = undefined;
  if (dir) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

async function status(host: SimHost, cluster: string, server: string): Promise<ClusterSnapshot | undefined> {
  const r = await host.exec(process.execPath, [cli, 'status', '--cluster', cluster, '--server', server, '--json']);
  return r.code === 0 ? (JSON.parse(r.stdout) as ClusterSnapshot) : undefined;
}

/** The README's three-host config, with its 10.0.0.x addresses moved into the test's subnet. */
function readmeConfig(): Record<string, unknown> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Running a cluster on three hosts'));
  const block = /```json\n([\s\S]*?)```/.exec(section)![1];
  return JSON.parse(block) as Record<string, unknown>;
}

describe('several hosts on one machine (network namespaces, a /dev/shm each)', function () {
  this.timeout(120_000);
  before(function () {
    const why = hostsUnavailable();
    if (why) {
      console.log(`      skipped: ${why}`);
      this.skip();
    }
  });

  it("the README's three-host example, literally: listen 0.0.0.0, one seed per host, no advertise; all healthy", async () => {
    net = await createHosts(3);
    const n = net;
    dir = mkdtempSync(join(tmpdir(), 'commy-hosts-config-'));
    const example = readmeConfig();
    expect(example.listen).to.equal('0.0.0.0:7101');
    expect(example).to.not.have.property('advertise');
    expect(example.peers).to.deep.equal(['10.0.0.2:7101']);
    const secretFile = join(dir, 'secret');
    writeFileSync(secretFile, `${SECRET}\n`, { mode: 0o600 });
    // As the README says: h2 and h3 name h1, and h1 names h2.
    const seeds = ['10.0.0.2:7101', '10.0.0.1:7101', '10.0.0.1:7101'];
    n.hosts.forEach((host, i) => {
      const config = {
        ...example,
        serverId: `h${i + 1}`,
        peers: [seeds[i].replace('10.0.0.', n.prefix)],
        secretFile,
      };
      const file = join(dir!, `h${i + 1}.json`);
      writeFileSync(file, JSON.stringify(config));
      host.spawn(process.execPath, [cli, 'agent', '--config', file], { env: { COMMY_LOG_LEVEL: 'warn' } });
    });
    const cluster = example.cluster as string;
    const others = (i: number) => n.hosts.filter((_, j) => j !== i);
    await waitFor(
      async () => {
        for (const [i, host] of n.hosts.entries()) {
          const s = await status(host, cluster, `h${i + 1}`);
          if (!s || s.peers.length !== 2) return false;
          if (!s.peers.every((p) => p.status === 'healthy' && p.connection === 'active')) return false;
        }
        return true;
      },
      { timeoutMs: 30_000, intervalMs: 250, what: 'every host to see the other two healthy' },
    );
    for (const [i, host] of n.hosts.entries()) {
      const s = (await status(host, cluster, `h${i + 1}`))!;
      // Each node picked its own non-loopback address, and its peers dial it there.
      expect(s.peers.map((p) => p.address).sort(), `h${i + 1}'s peers`).to.deep.equal(
        others(i).map((h) => `${h.address}:7101`),
      );
      expect(s.status).to.include({ totalPeers: 3, healthyPeers: 3, quorumAvailable: true });
      // Its metrics on its own loopback (the README's metricsListen, 127.0.0.1:9464 on every host).
      const m = await host.exec(process.execPath, [
        '-e',
        "fetch('http://127.0.0.1:9464/metrics').then((r) => r.text()).then((t) => process.stdout.write(t))",
      ]);
      expect(m.stdout, `h${i + 1}'s metrics`).to.match(/commy_quorum_available 1/);
    }
    // A reader on a host sees only that host's region.
    for (const [i, host] of n.hosts.entries()) {
      const r = await host.exec(process.execPath, [cli, 'ls', '--json']);
      const listed = (JSON.parse(r.stdout) as { cluster: string; serverId: string }[]).map((x) => x.serverId);
      expect(listed, `regions on host${i + 1}`).to.deep.equal([`h${i + 1}`]);
      const elsewhere = await status(host, cluster, `h${((i + 1) % 3) + 1}`);
      expect(elsewhere, `h${((i + 1) % 3) + 1}'s region read from host${i + 1}`).to.equal(undefined);
    }
  });

  it('a host cut off marks the others down and loses quorum, they mark it down and keep theirs; healed, all agree', async () => {
    net = await createHosts(3);
    const n = net;
    const cluster = 'cut';
    const nodes = n.hosts.map((host, i) =>
      host.fork(
        join(fixturesDir, 'node-child.js'),
        [
          JSON.stringify({
            cluster,
            serverId: `h${i + 1}`,
            listen: '0.0.0.0:7101',
            peers: [`${n.hosts[i === 0 ? 1 : 0].address}:7101`],
            heartbeatIntervalMs: 200,
          }),
          JSON.stringify({ dialPolicy: { maxDelayMs: 500, halfOpenAfterMs: 1000 } }),
        ],
        { env: { COMMY_SECRET: SECRET } },
      ),
    );
    await Promise.all(nodes.map((c) => c.next((m: { ready?: boolean }) => m.ready === true, 20_000, 'ready')));
    const view = async (i: number) => (await status(n.hosts[i], cluster, `h${i + 1}`))!;
    const agree = async (want: (i: number, s: ClusterSnapshot) => boolean, what: string) =>
      waitFor(
        async () => {
          for (let i = 0; i < 3; i++) if (!want(i, await view(i))) return false;
          return true;
        },
        { timeoutMs: 40_000, intervalMs: 250, what },
      );
    const statusOf = (s: ClusterSnapshot, id: string) => s.peers.find((p) => p.serverId === id)?.status;
    await agree((_, s) => s.peers.length === 2 && s.peers.every((p) => p.status === 'healthy'), 'all healthy');

    await n.hosts[2].link(false);
    await agree(
      (i, s) =>
        i === 2
          ? statusOf(s, 'h1') === 'down' && statusOf(s, 'h2') === 'down' && !s.status.quorumAvailable
          : statusOf(s, 'h3') === 'down' && s.status.quorumAvailable,
      'h3 and the others to mark each other down, quorum only on the majority side',
    );

    await n.hosts[2].link(true);
    await agree(
      (_, s) => s.peers.length === 2 && s.peers.every((p) => p.status === 'healthy') && s.status.quorumAvailable,
      'every host healthy again, with quorum, after the link came back',
    );
    for (const c of nodes) c.send({ cmd: 'stop' });
    await Promise.all(nodes.map((c) => c.exited));
  });
});
