// The host trust boundary, with real processes: other accounts (a real second
// uid), squatters, what else can sit at a region's name, a small /dev/shm and
// writers that race for one name. Linux (and root where a second uid or a
// mount namespace is needed); each skip says why.
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binding } from '../lib/binding.js';
import { RegionWriter, regionName, unlinkRegion, type RegionKey } from '../lib/region/index.js';
import { ClusterView } from '../lib/view.js';
import { SECRET } from '../harness/cluster.js';
import { fixturesDir, forkFixture, isRoot } from '../harness/fixtures.js';
import { freePort } from '../harness/loopback.js';
import { uniqueKey } from '../harness/names.js';
import { stopProcess, trackChild } from '../harness/processes.js';
import { codeOf, thrown } from '../harness/errors.js';
import { waitFor } from '../harness/wait.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'cli', 'main.js');
const linux = process.platform === 'linux' && binding.platform === 'posix';
const NOBODY = 65534;
const env = { ...process.env, COMMY_SECRET: SECRET, NO_COLOR: '1' };

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** The CLI as a separate process, as `uid` when given; a hang fails the test (status null) instead of hanging it. */
function runCli(args: string[], uid?: number): Run {
  const r = spawnSync(process.execPath, [cli, ...args], {
    env,
    encoding: 'utf8',
    timeout: 20_000,
    ...(uid === undefined ? {} : { uid, gid: uid }),
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The name of the group with this gid, from /etc/group. */
function groupName(gid: number): string | undefined {
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [name, , id] = line.split(':');
    if (Number(id) === gid) return name;
  }
  return undefined;
}

function shmPath(key: RegionKey): string {
  return `/dev/shm${regionName(key)}`;
}

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function writer(key: RegionKey, readers?: string): RegionWriter {
  const w = RegionWriter.create({ ...key, capacity: 4, ...(readers ? { readers } : {}) });
  cleanups.push(() => w.stop({ unlink: true }));
  return w;
}

/** A `commy agent` (this account) with its own config file; stopped and its region removed at cleanup. */
async function startAgent(
  key: RegionKey,
  extra: Record<string, unknown> = {},
): Promise<{ proc: ChildProcess; out: string[]; exited: Promise<number | null> }> {
  const dir = mkdtempSync(join(tmpdir(), 'commy-trust-'));
  const config = join(dir, 'agent.json');
  writeFileSync(
    config,
    JSON.stringify({
      cluster: key.cluster,
      serverId: key.serverId,
      listen: `127.0.0.1:${await freePort()}`,
      peers: [],
      ...extra,
    }),
  );
  const proc = trackChild(
    spawn(process.execPath, [cli, 'agent', '--config', config], { env, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
  const out: string[] = [];
  proc.stdout!.on('data', (d: Buffer) => out.push(d.toString()));
  proc.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  cleanups.push(async () => {
    await stopProcess(proc);
    try {
      unlinkRegion(key);
    } catch {
      // the agent removed it, or never made it
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return { proc, out, exited };
}

describe('accounts on the host', function () {
  this.timeout(60_000);
  const group = linux ? groupName(NOBODY) : undefined;
  beforeEach(function () {
    if (!linux) {
      console.log('      skipped: uses /dev/shm and a second uid, Linux only (Windows: docs/WINDOWS.md)');
      this.skip();
    }
    if (!isRoot() || group === undefined) {
      console.log(
        `      skipped: needs root to run children as uid ${NOBODY} (uid ${process.getuid?.()}, group ${group})`,
      );
      this.skip();
    }
  });

  it('granted: an agent with `readers` is read by another uid in that group, naming the owner', async () => {
    const key = uniqueKey('grant');
    await startAgent(key, { readers: group });
    await waitFor(() => runCli(['status', '--cluster', key.cluster, '--server', key.serverId]).code === 0, {
      timeoutMs: 20_000,
      what: 'the agent to publish its region',
    });
    const st = statSync(shmPath(key));
    expect(st.mode & 0o777).to.equal(0o640);
    expect(st.gid).to.equal(NOBODY);

    const args = ['--cluster', key.cluster, '--server', key.serverId, '--owner', 'root'];
    const status = runCli(['status', ...args, '--json'], NOBODY);
    expect(status.code, status.stderr).to.equal(0);
    expect(JSON.parse(status.stdout)).to.include({ cluster: key.cluster, serverId: key.serverId });
    const ls = runCli(['ls', '--json', '--owner', 'root'], NOBODY);
    expect(ls.code, ls.stderr).to.equal(0);
    expect((JSON.parse(ls.stdout) as { serverId: string }[]).map((r) => r.serverId)).to.include(key.serverId);
    for (const owner of ['root', '0']) {
      const child = forkFixture('region-child.js', ['try-view', key.cluster, key.serverId, '0', owner], {
        uid: NOBODY,
        gid: NOBODY,
      });
      const got = await child.next<{ opened: boolean; message?: string }>((m) => 'opened' in m);
      expect(got.opened, got.message).to.equal(true);
    }
    // The long-running readers take --owner too.
    const watch = trackChild(spawn(process.execPath, [cli, 'watch', ...args], { env, uid: NOBODY, gid: NOBODY }));
    let watched = '';
    watch.stdout!.on('data', (d: Buffer) => (watched += d.toString()));
    const metrics = trackChild(
      spawn(process.execPath, [cli, 'metrics', ...args, '--listen', '127.0.0.1:0'], { env, uid: NOBODY, gid: NOBODY }),
    );
    let served = '';
    metrics.stderr!.on('data', (d: Buffer) => (served += d.toString()));
    await waitFor(() => watched.includes(`watching ${key.cluster}/${key.serverId}`) && served.includes('serving'), {
      timeoutMs: 20_000,
      what: 'watch and metrics to open the region as another uid',
    });
    const codes = await Promise.all(
      [watch, metrics].map((c) => new Promise<number | null>((r) => (c.once('exit', r), c.kill('SIGTERM')))),
    );
    expect(codes).to.deep.equal([0, 0]);
  });

  it('not granted: an owner-only region gives a permission error (exit 1) that says how to grant it', async () => {
    const key = uniqueKey('deny');
    writer(key);
    const r = runCli(['status', '--cluster', key.cluster, '--server', key.serverId, '--owner', 'root'], NOBODY);
    expect(r.code).to.equal(1);
    expect(r.stderr)
      .to.match(/permission denied/)
      .and.match(/readers/);
    const child = forkFixture('region-child.js', ['try-view', key.cluster, key.serverId, '0', 'root'], {
      uid: NOBODY,
      gid: NOBODY,
    });
    const got = await child.next<{ opened: boolean; code?: string }>((m) => 'opened' in m);
    expect(got).to.include({ opened: false, code: 'ERR_REGION_ACCESS_DENIED' });
  });

  it('wrong owner: a readable region of another account is refused unless named, and the error names its owner', async () => {
    const key = uniqueKey('owner');
    writer(key, group);
    const base = ['status', '--cluster', key.cluster, '--server', key.serverId];
    for (const extra of [[], ['--owner', 'nobody'], ['--owner', String(NOBODY)]]) {
      const r = runCli([...base, ...extra], NOBODY);
      expect(r.code, extra.join(' ')).to.equal(1);
      expect(r.stderr)
        .to.match(/refusing region/)
        .and.match(/owned by uid 0 \(root\)/);
    }
    const child = forkFixture('region-child.js', ['try-view', key.cluster, key.serverId], { uid: NOBODY, gid: NOBODY });
    const got = await child.next<{ opened: boolean; code?: string }>((m) => 'opened' in m);
    expect(got).to.include({ opened: false, code: 'ERR_REGION_UNTRUSTED' });
    const unknown = runCli([...base, '--owner', 'no-such-user-commy'], NOBODY);
    expect(unknown.code).to.equal(2);
    expect(unknown.stderr).to.match(/owner "no-such-user-commy": no such user/);
  });

  it("a squatter's region: the agent fails naming its owner, readers refuse it, naming the owner trusts it", async () => {
    const key = uniqueKey('squat');
    cleanups.push(() => {
      try {
        unlinkRegion(key);
      } catch {
        // already gone
      }
    });
    // Another account creates the name first and holds the writer lock, so its region looks alive.
    const squatter = forkFixture('region-child.js', ['hold-writer', key.cluster, key.serverId], {
      uid: NOBODY,
      gid: NOBODY,
    });
    cleanups.push(() => squatter.kill());
    await squatter.next((m: { ready?: boolean }) => m.ready === true);
    expect(statSync(shmPath(key)).uid).to.equal(NOBODY);

    const w = thrown(() => RegionWriter.create({ ...key, capacity: 4 }))!;
    expect(w.code).to.equal('ERR_REGION_UNTRUSTED');
    expect(w.message)
      .to.match(/owned by uid 65534 \(nobody\)/)
      .and.match(/another account created it first/);
    const agent = await startAgent(key);
    expect(await agent.exited).to.equal(1);
    expect(agent.out.join('')).to.match(/owned by uid 65534 \(nobody\)/);

    expect(codeOf(() => ClusterView.open(key))).to.equal('ERR_REGION_UNTRUSTED');
    const status = runCli(['status', '--cluster', key.cluster, '--server', key.serverId]);
    expect(status.code).to.equal(1);
    expect(status.stderr).to.match(/owned by uid 65534 \(nobody\)/);
    const ls = runCli(['ls', '--json']);
    expect(ls.code).to.equal(0);
    expect((JSON.parse(ls.stdout) as { serverId: string }[]).map((r) => r.serverId)).to.not.include(key.serverId);
    expect(ls.stderr).to.match(new RegExp(`skipped ${regionName(key)}: .*owned by uid 65534 \\(nobody\\)`));
    // Naming that account is a choice to trust it.
    const named = runCli(['status', '--cluster', key.cluster, '--server', key.serverId, '--owner', 'nobody']);
    expect(named.code, named.stderr).to.equal(0);
  });
});

describe('agent config `readers`', function () {
  this.timeout(60_000);
  it('an unknown group stops the agent with exit 2, naming the field, and leaves no region', async function () {
    if (!linux) {
      console.log('      skipped: POSIX group names (Windows account names are tested under Wine)');
      this.skip();
    }
    const key = uniqueKey('readers');
    const agent = await startAgent(key, { readers: 'no-such-group-commy' });
    expect(await agent.exited).to.equal(2);
    expect(agent.out.join('')).to.match(/config field "readers": "no-such-group-commy": no such group/);
    expect(codeOf(() => statSync(shmPath(key)))).to.equal('ENOENT');
  });
});

describe('what else can sit at a region name', function () {
  this.timeout(60_000);
  beforeEach(function () {
    if (!linux) {
      console.log('      skipped: makes FIFOs, directories and links in /dev/shm, Linux only');
      this.skip();
    }
  });

  const kinds: [string, (path: string) => void][] = [
    ['a FIFO', (p) => expect(spawnSync('mkfifo', [p]).status).to.equal(0)],
    ['a directory', (p) => mkdirSync(p)],
    ['a symbolic link to a regular file', (p) => symlinkSync('/dev/null', p)],
  ];
  for (const [what, make] of kinds) {
    it(`${what}: status, ls, ClusterView.open and a writer refuse it at once, nothing blocks`, async () => {
      const key = uniqueKey('kind');
      const path = shmPath(key);
      make(path);
      cleanups.push(() => rmSync(path, { recursive: true, force: true }));
      const t0 = Date.now();
      const status = runCli(['status', '--cluster', key.cluster, '--server', key.serverId]);
      const t1 = Date.now();
      expect(status.code, 'commy status returned (did not hang)').to.equal(1);
      expect(status.stderr).to.match(/refusing region/);
      const ls = runCli(['ls']);
      // Reported, not asserted: whole processes, Node start included.
      console.log(`      status returned in ${t1 - t0} ms, ls in ${Date.now() - t1} ms`);
      expect(ls.code, 'commy ls returned (did not hang)').to.equal(0);
      expect(ls.stderr).to.match(new RegExp(`skipped ${regionName(key)}: refusing region`));
      // In children, so a blocking open fails the test by its deadline instead of hanging this process.
      for (const role of ['try-view', 'try-create']) {
        const child = forkFixture('region-child.js', [role, key.cluster, key.serverId]);
        const got = await child.next<{ code?: string }>((m) => 'code' in m || 'opened' in m || 'created' in m, 10_000);
        expect(got.code, role).to.equal('ERR_REGION_UNTRUSTED');
      }
    });
  }
});

describe('a small /dev/shm', function () {
  this.timeout(60_000);
  it('a region that does not fit fails at creation, naming bytes needed and free; never SIGBUS', function () {
    if (!linux || !isRoot() || spawnSync('unshare', ['--version']).status !== 0) {
      console.log('      skipped: needs Linux, root and unshare(1) for a private 256 KiB /dev/shm');
      this.skip();
    }
    const key = uniqueKey('small');
    // A private mount namespace: the 256 KiB tmpfs, and whatever is left in it, vanish with the child.
    const script = `mount -t tmpfs -o size=256k tmpfs /dev/shm && exec "$0" "$@"`;
    const r = spawnSync(
      'unshare',
      [
        '-m',
        'sh',
        '-c',
        script,
        process.execPath,
        join(fixturesDir, 'region-child.js'),
        'fill',
        key.cluster,
        key.serverId,
        '4096',
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    expect(r.signal, r.stderr).to.equal(null);
    expect(r.status, r.stderr).to.equal(0);
    const results = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as {
      capacity: number;
      ok: boolean;
      code?: string;
      message?: string;
    }[];
    // 4096 slots need 4 MiB: refused with the figures.
    expect(results[0]).to.include({ ok: false, code: 'ERR_REGION_NO_SPACE' });
    expect(results[0].message)
      .to.match(/cannot reserve the \d+ bytes/)
      .and.match(/has \d+ bytes free of 262144/);
    // Small regions fit until the space is gone; every page of each was written; the last is refused.
    const fitted = results.filter((x) => x.ok);
    console.log(`      ${fitted.length} regions of 16 slots fitted, the next was refused: ${results.at(-1)?.message}`);
    expect(fitted.length).to.be.at.least(2);
    expect(results.at(-1)).to.include({ ok: false, code: 'ERR_REGION_NO_SPACE' });
  });
});

describe('writers racing for one name', function () {
  this.timeout(120_000);
  it('two writers started at the same instant, 100 times: exactly one wins, fresh and takeover alike', async () => {
    const { cluster } = uniqueKey('race');
    const a = forkFixture('region-child.js', ['race', cluster, 'unused']);
    const b = forkFixture('region-child.js', ['race', cluster, 'unused']);
    cleanups.push(() => (a.kill(), b.kill()));
    await Promise.all([
      a.next((m: { ready?: boolean }) => m.ready === true),
      b.next((m: { ready?: boolean }) => m.ready === true),
    ]);
    const losses = new Map<string, number>();
    for (let round = 0; round < 100; round++) {
      const key = { cluster, serverId: `r${round}` };
      cleanups.push(() => {
        try {
          unlinkRegion(key);
        } catch {
          // removed already
        }
      });
      // Odd rounds race to take over a dead writer's region instead of creating one.
      if (round % 2 === 1) RegionWriter.create({ ...key, capacity: 4 }).close();
      const at = Date.now() + 30;
      a.send({ go: key.serverId, at });
      b.send({ go: key.serverId, at });
      type Outcome = { created: boolean; pid?: number; code?: string; message?: string };
      const got = await Promise.all([a.next<Outcome>((m) => 'created' in m), b.next<Outcome>((m) => 'created' in m)]);
      const winners = got.filter((g) => g.created);
      expect(winners, `round ${round}: ${JSON.stringify(got)}`).to.have.length(1);
      const loser = got.find((g) => !g.created)!;
      losses.set(loser.code ?? '?', (losses.get(loser.code ?? '?') ?? 0) + 1);
      // The region under the name is the winner's.
      const v = ClusterView.open(key);
      const s = v.snapshot();
      v.close();
      expect(s.writer.pid, `round ${round}`).to.equal(winners[0].pid);
      expect(s.writer.alive).to.equal(true);
      a.send({ release: true });
      b.send({ release: true });
      await Promise.all([
        a.next((m: { released?: boolean }) => m.released === true),
        b.next((m: { released?: boolean }) => m.released === true),
      ]);
      unlinkRegion(key);
    }
    console.log(`      losers' errors over 100 rounds: ${JSON.stringify(Object.fromEntries(losses))}`);
    expect([...losses.keys()].every((c) => c === 'ERR_REGION_WRITER_ALIVE' || c === 'ERR_REGION_EXISTS')).to.equal(
      true,
    );
  });
});
