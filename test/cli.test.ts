// The commy CLI end to end: agents started from config files as real
// processes, and status/ls/watch/metrics/demo run as separate processes.
import { expect } from 'chai';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unlinkRegion } from '../lib/region/index.js';
import { ClusterView } from '../lib/view.js';
import { metricNames } from '../lib/metrics.js';
import { SECRET } from '../harness/cluster.js';
import { freePorts, loopbackPeers } from '../harness/loopback.js';
import { uniqueKey } from '../harness/names.js';
import { waitFor } from '../harness/wait.js';
import { defaults } from '../lib/defaults.js';
import { watchIntervalMs } from '../lib/cli/commands/watch.js';

const cli = join(dirname(fileURLToPath(import.meta.url)), '..', 'lib', 'cli', 'main.js');
const env = { ...process.env, COMMY_SECRET: SECRET, NO_COLOR: '1' };

function runCli(
  args: string[],
  extraEnv: Record<string, string> = {},
): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [cli, ...args], {
    env: { ...env, ...extraEnv },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

interface Agent {
  id: string;
  proc: ChildProcess;
  out: string[];
  exited: Promise<number | null>;
}

function startAgent(configPath: string, id: string): Agent {
  const proc = spawn(process.execPath, [cli, 'agent', '--config', configPath], {
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const out: string[] = [];
  let buf = '';
  proc.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    const parts = buf.split('\n');
    buf = parts.pop()!;
    out.push(...parts);
  });
  proc.stderr!.on('data', (d: Buffer) => out.push(d.toString()));
  return { id, proc, out, exited: new Promise((r) => proc.once('exit', (code) => r(code))) };
}

describe('commy CLI against running agents', function () {
  this.timeout(120_000);
  const dir = mkdtempSync(join(tmpdir(), 'commy-cli-'));
  const cluster = uniqueKey('cli').cluster;
  const ids = ['a', 'b', 'c'];
  let ports: number[] = [];
  let metricsPort = 0;
  let agents: Agent[] = [];
  const configPath = (id: string) => join(dir, `${id}.json`);

  before(async () => {
    ports = await freePorts(4);
    metricsPort = ports[3];
    ids.forEach((id, i) =>
      writeFileSync(
        configPath(id),
        JSON.stringify({
          cluster,
          serverId: id,
          listen: `127.0.0.1:${ports[i]}`,
          peers: loopbackPeers(ids, ports, i),
          heartbeatIntervalMs: 200,
          heartbeatTimeoutMs: 200,
          ...(id === 'a' ? { metricsListen: `127.0.0.1:${metricsPort}` } : {}),
        }),
      ),
    );
    agents = ids.map((id) => startAgent(configPath(id), id));
    await waitFor(
      () => {
        const r = runCli(['status', '--cluster', cluster, '--server', 'a', '--json']);
        if (r.code !== 0) return false;
        const s = JSON.parse(r.stdout) as { peers: { status: string; connection: string }[] };
        return s.peers.length === 2 && s.peers.every((p) => p.status === 'healthy' && p.connection === 'active');
      },
      { timeoutMs: 30_000, intervalMs: 200, what: 'a to see b and c healthy' },
    );
  });

  after(async () => {
    for (const a of agents) if (a.proc.exitCode === null) a.proc.kill('SIGKILL');
    for (const id of ids) {
      try {
        unlinkRegion({ cluster, serverId: id });
      } catch {
        // gone already
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('status --json prints the contract object, field by field', () => {
    const r = runCli(['status', '--cluster', cluster, '--server', 'a', '--json']);
    expect(r.code).to.equal(0);
    const s = JSON.parse(r.stdout);
    expect(s.cluster).to.equal(cluster);
    expect(s.serverId).to.equal('a');
    expect(s.listen).to.equal(`127.0.0.1:${ports[0]}`);
    expect(s.writer.pid).to.equal(agents[0].proc.pid);
    expect(s.writer.alive).to.equal(true);
    expect(s.writer.heartbeatAgeMs).to.be.a('number').and.at.least(0);
    // The expected objects are spelled out in each test that checks them (node, registry and view tests too):
    // a shared constant would let one wrong value pass everywhere at once.
    expect(s.config).to.deep.equal({
      heartbeatIntervalMs: 200,
      heartbeatTimeoutMs: 200,
      suspectAfter: 2,
      downAfter: 5,
    });
    expect(s.status).to.deep.equal({
      totalPeers: 3,
      healthyPeers: 3,
      suspectedPeers: 0,
      downPeers: 0,
      isDegraded: false,
      quorumAvailable: true,
    });
    expect(s.peers.map((p: { serverId: string }) => p.serverId).sort()).to.deep.equal(['b', 'c']);
    for (const p of s.peers) {
      expect(p.address).to.equal(`127.0.0.1:${ports[ids.indexOf(p.serverId)]}`);
      expect(p).to.include({ status: 'healthy', missedHeartbeats: 0, connection: 'active' });
      expect(p.lastSeenMs).to.be.a('number').and.closeTo(Date.now(), 10_000);
      expect(p.bytesSent).to.be.greaterThan(0);
      expect(p.bytesReceived).to.be.greaterThan(0);
    }
  });

  it('status without --json prints a readable table', () => {
    const r = runCli(['status', '--cluster', cluster, '--server', 'b']);
    expect(r.code).to.equal(0);
    expect(r.stdout).to.match(/PEER\s+ADDRESS\s+STATUS/);
    expect(r.stdout).to.match(/^a\s+127\.0\.0\.1:\d+\s+healthy/m);
    expect(r.stdout).to.not.contain('\u001b['); // no colours off a TTY
  });

  it('ls --json lists the three regions with writer facts and the same node counts as status', () => {
    const r = runCli(['ls', '--json']);
    expect(r.code).to.equal(0);
    const mine = (
      JSON.parse(r.stdout) as {
        cluster: string;
        serverId: string;
        writer: { pid: number; alive: boolean };
        peers: Record<string, number>;
      }[]
    ).filter((x) => x.cluster === cluster);
    expect(mine.map((x) => x.serverId)).to.deep.equal(ids);
    for (const x of mine) {
      expect(Object.keys(x)).to.deep.equal(['cluster', 'serverId', 'name', 'writer', 'peers']);
      expect(Object.keys(x.writer)).to.deep.equal(['pid', 'alive', 'heartbeatAgeMs', 'state', 'goneForMs']);
      expect(x.writer).to.include({
        alive: true,
        state: 'running',
        pid: agents[ids.indexOf(x.serverId)].proc.pid,
        goneForMs: null,
      });
      // The node itself counts, as in `status`: three healthy nodes.
      const s = JSON.parse(runCli(['status', '--cluster', cluster, '--server', x.serverId, '--json']).stdout).status;
      expect(x.peers).to.deep.equal({
        total: s.totalPeers,
        healthy: s.healthyPeers,
        suspected: s.suspectedPeers,
        down: s.downPeers,
      });
      expect(x.peers).to.deep.equal({ total: 3, healthy: 3, suspected: 0, down: 0 });
    }
    const text = runCli(['ls']).stdout;
    expect(text).to.match(/^CLUSTER\s+SERVER\s+PID\s+WRITER\s+GONE FOR\s+NODES\s+HEALTHY\s+SUSPECTED\s+DOWN$/m);
    expect(text).to.match(
      new RegExp(`^${cluster}\\s+a\\s+${agents[0].proc.pid}\\s+alive\\s+-\\s+3\\s+3\\s+0\\s+0$`, 'm'),
    );
  });

  it('metrics serves every documented name over HTTP, from the agent and from `commy metrics`', async () => {
    const scrape = (port: number) =>
      new Promise<string>((resolve, reject) =>
        get({ host: '127.0.0.1', port, path: '/metrics' }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve(body));
        }).on('error', reject),
      );
    const fromAgent = await scrape(metricsPort);
    for (const name of metricNames) expect(fromAgent, name).to.contain(`# TYPE ${name} `);
    expect(fromAgent).to.match(/commy_peer_status\{peer="b"\} 0/);
    expect(fromAgent).to.match(/commy_cluster_peers\{status="healthy"\} 3/);
    expect(fromAgent).to.match(/commy_peer_bytes_sent_total\{peer="c"\} [1-9]/);
    const [port] = await freePorts(1);
    const exporter = spawn(
      process.execPath,
      [cli, 'metrics', '--cluster', cluster, '--server', 'b', '--listen', `127.0.0.1:${port}`],
      {
        env,
        stdio: 'ignore',
      },
    );
    try {
      const text = await waitFor(() => scrape(port), { timeoutMs: 10_000, what: 'the exporter to answer' });
      expect(text).to.match(/commy_peer_status\{peer="a"\} 0/);
      expect(text).to.match(/commy_writer_alive 1/);
    } finally {
      exporter.kill('SIGTERM');
      await new Promise((r) => exporter.once('exit', r));
    }
    expect(exporter.exitCode).to.equal(0);
  });

  it('watch on a non-TTY prints a line for a transition; kill -9 makes status exit 4 with the last state', async () => {
    const watch = spawn(process.execPath, [cli, 'watch', '--cluster', cluster, '--server', 'a', '--interval', '50'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    watch.stdout!.on('data', (d) => (out += d));
    await waitFor(() => out.includes('watching'), { what: 'watch to start' });
    agents[2].proc.kill('SIGKILL');
    await waitFor(() => /peer c healthy -> suspected/.test(out), {
      timeoutMs: 15_000,
      what: 'watch to print c suspected',
    });
    watch.kill('SIGINT');
    const code = await new Promise((r) => watch.once('exit', r));
    expect(code).to.equal(0);
    expect(out).to.not.contain('\u001b['); // change lines, not a redraw
    const r = runCli(['status', '--cluster', cluster, '--server', 'c', '--json']);
    expect(r.code).to.equal(4);
    expect(JSON.parse(r.stdout).writer.alive).to.equal(false);
    expect(r.stderr).to.match(/not alive/);
  });

  it("ls says how long c's killed writer is gone; prune --dry-run lists it, prune removes only it", async () => {
    // c was killed in the test above: its region stays, for status (exit 4).
    await waitFor(() => runCli(['status', '--cluster', cluster, '--server', 'c']).code === 4, { what: 'c dead' });
    const listed = (
      JSON.parse(runCli(['ls', '--json']).stdout) as {
        cluster: string;
        serverId: string;
        writer: { goneForMs: number | null };
      }[]
    ).filter((x) => x.cluster === cluster);
    const c = listed.find((x) => x.serverId === 'c')!;
    expect(c.writer.goneForMs).to.be.a('number').and.at.least(0);
    expect(listed.filter((x) => x.writer.goneForMs === null).map((x) => x.serverId)).to.deep.equal(['a', 'b']);
    const dry = runCli(['prune', '--dry-run', '--cluster', cluster]);
    expect(dry.code).to.equal(0);
    expect(dry.stdout.trim().split('\n')).to.have.length(1);
    expect(dry.stdout).to.match(
      new RegExp(`^would remove ${cluster}/c \\(/?\\S+, writer pid ${agents[2].proc.pid} dead for `),
    );
    expect(runCli(['status', '--cluster', cluster, '--server', 'c']).code).to.equal(4); // still there
    const pruned = runCli(['prune', '--cluster', cluster]);
    expect(pruned.code).to.equal(0);
    expect(pruned.stdout).to.match(new RegExp(`^removed ${cluster}/c `));
    expect(runCli(['status', '--cluster', cluster, '--server', 'c']).code).to.equal(3);
    expect(runCli(['status', '--cluster', cluster, '--server', 'a']).code).to.equal(0); // live ones stay
    expect(runCli(['prune', '--cluster', cluster]).stdout).to.equal('no region of a dead writer to remove\n');
  });

  it('agent logs each transition as one JSON line, and stops cleanly on SIGTERM (exit 0, Leave, "stopped")', async () => {
    const a = agents[0];
    await waitFor(() => a.out.some((l) => l.includes('"peer":"c"') && l.includes('"to":"suspected"')), {
      what: 'a to log c suspected',
    });
    const line = JSON.parse(a.out.find((l) => l.includes('"peer":"c"') && l.includes('"to":"suspected"'))!);
    expect(line).to.include({
      event: 'peerStatusChanged',
      peer: 'c',
      from: 'healthy',
      to: 'suspected',
      reason: 'missed-heartbeats',
    });
    expect(line.missedHeartbeats).to.equal(2);
    expect(line).to.have.property('lastSeenMs');
    agents[1].proc.kill('SIGTERM');
    expect(await agents[1].exited).to.equal(0);
    await waitFor(() => a.out.some((l) => l.includes('"peer":"b"') && l.includes('"reason":"left"')), {
      what: 'a to log b left',
    });
    // A clean stop removes the region: there is no node b on this host any more.
    const r = runCli(['status', '--cluster', cluster, '--server', 'b', '--json']);
    expect(r.code).to.equal(3);
  });
});

describe('a stopped agent', function () {
  this.timeout(60_000);
  const dir = mkdtempSync(join(tmpdir(), 'commy-stopped-'));
  const cluster = uniqueKey('stopped').cluster;
  const agents: Agent[] = [];
  after(() => {
    for (const a of agents) if (a.proc.exitCode === null) a.proc.kill('SIGKILL');
    for (const id of ['a', 'b']) {
      try {
        unlinkRegion({ cluster, serverId: id });
      } catch {
        // gone already
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('publishes every peer connection idle, with no retry pending, before "stopped"', async () => {
    // b is a live peer; nothing listens for c, so a keeps redialing it.
    const [pa, pb, pc] = await freePorts(3);
    const write = (id: string, port: number, peers: string[]) => {
      const path = join(dir, `${id}.json`);
      writeFileSync(path, JSON.stringify({ cluster, serverId: id, listen: `127.0.0.1:${port}`, peers }));
      return path;
    };
    agents.push(startAgent(write('a', pa, [`b@127.0.0.1:${pb}`, `c@127.0.0.1:${pc}`]), 'a'));
    agents.push(startAgent(write('b', pb, [`a@127.0.0.1:${pa}`]), 'b'));
    const connections = () => {
      const r = runCli(['status', '--cluster', cluster, '--server', 'a', '--json']);
      const s = JSON.parse(r.stdout || '{"peers":[]}') as { peers: { serverId: string; connection: string }[] };
      return { code: r.code, of: Object.fromEntries(s.peers.map((p) => [p.serverId, p.connection])) };
    };
    await waitFor(
      () => {
        const c = connections();
        return c.code === 0 && c.of.b === 'active' && ['backoff', 'open'].includes(c.of.c);
      },
      { timeoutMs: 30_000, intervalMs: 100, what: 'a connected to b and backing off from c' },
    );
    // A reader that holds the region keeps its last state after the clean stop removed the name.
    const view = ClusterView.open({ cluster, serverId: 'a' });
    try {
      agents[0].proc.kill('SIGTERM');
      expect(await agents[0].exited).to.equal(0);
      const s = view.snapshot();
      expect(s.writer.alive).to.equal(false);
      expect(Object.fromEntries(s.peers.map((p) => [p.serverId, p.connection]))).to.deep.equal({
        b: 'idle',
        c: 'idle',
      });
      expect(view.inspect().peers.map((p) => p.nextRetryMs)).to.deep.equal([null, null]);
      expect(view.inspect().node.writer.state).to.equal('stopped');
    } finally {
      view.close();
    }
    expect(connections().code).to.equal(3); // and the next reader finds no region
  });
});

describe('commy CLI usage errors and missing regions', () => {
  const dir = mkdtempSync(join(tmpdir(), 'commy-bad-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('exit 2 names the bad field of a config file, and a bad flag', () => {
    const p = join(dir, 'bad.json');
    writeFileSync(p, JSON.stringify({ cluster: 'x', serverId: 'a', listen: '127.0.0.1:1', suspectAfter: 0 }));
    const r = runCli(['agent', '--config', p]);
    expect(r.code).to.equal(2);
    expect(r.stderr).to.contain('"suspectAfter"');
    const missing = runCli(['agent', '--config', join(dir, 'nope.json')]);
    expect(missing.code).to.equal(2);
    expect(missing.stderr).to.contain('nope.json');
    const noSecret = join(dir, 'ok.json');
    writeFileSync(noSecret, JSON.stringify({ cluster: 'x', serverId: 'a', listen: '127.0.0.1:0' }));
    const r2 = runCli(['agent', '--config', noSecret], { COMMY_SECRET: '' });
    expect(r2.code).to.equal(2);
    expect(r2.stderr).to.match(/secret/);
    expect(runCli(['status', '--cluster', 'a b', '--server', 'x']).code).to.equal(2);
    expect(runCli(['status', '--cluster', 'a']).code).to.equal(2);
    expect(runCli(['frobnicate']).code).to.equal(2);
    expect(runCli(['watch', '--cluster', 'a', '--server', 'b', '--interval', 'fast']).code).to.equal(2);
    expect(runCli(['--help']).code).to.equal(0);
    for (const cmd of ['agent', 'status', 'ls', 'watch', 'metrics', 'demo']) {
      const h = runCli([cmd, '--help']);
      expect(h.code, cmd).to.equal(0);
      expect(h.stdout, cmd).to.contain(`Usage: commy ${cmd}`);
    }
  });

  it('watch polls at the API default unless --interval says otherwise, and its help and the README say so', () => {
    expect(watchIntervalMs(undefined)).to.equal(defaults.watchIntervalMs);
    expect(watchIntervalMs('40')).to.equal(40);
    const help = runCli(['watch', '--help']).stdout;
    expect(help).to.contain(`(default ${defaults.watchIntervalMs})`);
    const readme = readFileSync(join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'README.md'), 'utf8');
    const row = readme.split('\n').find((l) => l.startsWith('| `commy watch '));
    expect(row).to.contain(`(default ${defaults.watchIntervalMs},`);
  });

  it('exit 3 when there is no such region', () => {
    const k = uniqueKey('none');
    const r = runCli(['status', '--cluster', k.cluster, '--server', k.serverId]);
    expect(r.code).to.equal(3);
    expect(r.stderr).to.contain(`no region for cluster "${k.cluster}"`);
  });
});

describe('commy demo', () => {
  it('--duration runs the whole story, exits 0 and leaves no process or region behind', function () {
    this.timeout(90_000);
    const r = runCli(['demo', '--duration', '8']);
    expect(r.code, r.stderr).to.equal(0);
    for (const want of [
      /starting 3 agents/,
      /kill -9 c/,
      /sees c: healthy -> suspected/,
      /suspected -> down/,
      /c is back/,
      /exited with 0, 0, 0/,
    ])
      expect(r.stdout).to.match(want);
    const demoCluster = /cluster (demo-[0-9a-f]+)/.exec(r.stdout)?.[1];
    expect(demoCluster).to.be.a('string');
    const left = (JSON.parse(runCli(['ls', '--json']).stdout) as { cluster: string }[]).filter(
      (x) => x.cluster === demoCluster,
    );
    expect(left).to.deep.equal([]);
    const procs = spawnSync('pgrep', ['-f', 'commy-demo-'], { encoding: 'utf8' });
    expect(procs.stdout.trim()).to.equal('');
  });

  it('renders in place on a TTY (run under a pseudo-terminal with script)', function () {
    this.timeout(90_000);
    if (!existsSync('/usr/bin/script')) {
      console.log('      skipped: needs `script` (util-linux) to provide a pseudo-terminal');
      this.skip();
    }
    const cmd = `${process.execPath} ${cli} demo --duration 6 --nodes 2`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], {
      env: { ...env, NO_COLOR: '' },
      encoding: 'utf8',
      timeout: 80_000,
    });
    expect(r.status, r.stderr).to.equal(0);
    expect(r.stdout).to.contain('\u001b[H\u001b[2J'); // redraw in place
    expect(r.stdout).to.contain('\u001b[32mhealthy'); // coloured status
    expect(r.stdout).to.match(/view\s+a\s+b/);
  });
});

describe('README example', () => {
  it('examples/read-state.mjs reads a running node through the package entry point', async function () {
    this.timeout(60_000);
    const { startNode } = await import('../harness/cluster.js');
    const key = uniqueKey('ex');
    const [port] = await freePorts(1);
    const node = await startNode({
      cluster: key.cluster,
      serverId: 'a',
      listen: `127.0.0.1:${port}`,
      peers: ['b@127.0.0.1:9'],
    });
    try {
      const example = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'read-state.mjs');
      const r = spawnSync(process.execPath, [example, key.cluster, 'a'], { encoding: 'utf8', timeout: 20_000 });
      expect(r.status, r.stderr).to.equal(0);
      expect(r.stdout).to.match(/^\d\/2 healthy, quorum: (true|false)$/m);
      expect(r.stdout).to.match(/^ {2}b (healthy|suspected|down) \(missed \d+\)$/m);
      expect(r.stdout).to.match(/^changed: b - -> (healthy|suspected|down)/m); // the first call: every peer, from nothing
    } finally {
      node.child.send({ cmd: 'stop' });
      await node.child.exited;
      unlinkRegion({ cluster: key.cluster, serverId: 'a' });
    }
  });
});
