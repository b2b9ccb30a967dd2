// `commy demo`: the main job on an embedded default. Starts N agents on
// loopback (each its own process, with a generated secret), shows the live
// cluster state read from their shared-memory regions by this process, kills
// one node with SIGKILL, shows it go suspected then down, restarts it, shows
// it recover, and stops everything. Leaves no process or region behind.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, closeSync } from 'node:fs';
import { createServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { unlinkRegion } from '../../region/index.js';
import { ClusterView, type ClusterSnapshot } from '../../view.js';
import { CliError, ExitCode } from '../exit.js';
import { positiveInt } from '../options.js';
import { paint, useColour } from '../render.js';

const cliPath = fileURLToPath(new URL('../main.js', import.meta.url));
const INTERVAL_MS = 250;

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

interface DemoNode {
  id: string;
  configPath: string;
  logPath: string;
  proc?: ChildProcess;
  exited?: Promise<number | null>;
}

export async function demoCommand(o: { duration?: string; nodes?: string }): Promise<number> {
  const durationS = positiveInt(o.duration, '--duration', 24, 600);
  const count = positiveInt(o.nodes, '--nodes', 3, 8);
  if (count < 2) throw new CliError(ExitCode.Usage, 'config field "--nodes": must be at least 2');
  const colour = useColour(process.stdout);
  const tty = Boolean(process.stdout.isTTY);
  const t0 = Date.now();
  const stamp = () => `${((Date.now() - t0) / 1000).toFixed(1).padStart(5)}s`;
  const say = (msg: string) => {
    if (tty) lines.push(`${stamp()}  ${msg}`);
    else process.stdout.write(`${stamp()}  ${msg}\n`);
  };
  const lines: string[] = [];

  const cluster = `demo-${randomBytes(3).toString('hex')}`;
  const dir = mkdtempSync(join(tmpdir(), 'commy-demo-'));
  const secret = randomBytes(24).toString('base64url');
  const ids = Array.from({ length: count }, (_, i) => String.fromCharCode(97 + i));
  const ports = await Promise.all(ids.map(() => freePort()));
  const nodes: DemoNode[] = ids.map((id, i) => {
    const configPath = join(dir, `${id}.json`);
    writeFileSync(
      configPath,
      JSON.stringify({
        cluster,
        serverId: id,
        listen: `127.0.0.1:${ports[i]}`,
        peers: ids.flatMap((p, j) => (j === i ? [] : [`${p}@127.0.0.1:${ports[j]}`])),
        heartbeatIntervalMs: INTERVAL_MS,
        heartbeatTimeoutMs: INTERVAL_MS,
        suspectAfter: 2,
        downAfter: 5,
      }),
    );
    return { id, configPath, logPath: join(dir, `${id}.log`) };
  });

  const start = (n: DemoNode) => {
    const fd = openSync(n.logPath, 'a');
    n.proc = spawn(process.execPath, [cliPath, 'agent', '--config', n.configPath], {
      env: { ...process.env, COMMY_SECRET: secret },
      stdio: ['ignore', fd, fd],
    });
    closeSync(fd);
    n.exited = new Promise((resolve) => n.proc!.once('exit', (code) => resolve(code)));
  };

  const views = new Map<string, ClusterView>();
  const last = new Map<string, ClusterSnapshot>();
  const read = () => {
    for (const n of nodes) {
      if (!views.has(n.id)) {
        try {
          views.set(n.id, ClusterView.open({ cluster, serverId: n.id }));
        } catch {
          continue; // not created yet
        }
      }
      const s = views.get(n.id)!.snapshot();
      const prev = last.get(n.id);
      if (prev && s.writer.alive) {
        for (const p of s.peers) {
          const b = prev.peers.find((x) => x.serverId === p.serverId);
          if (b && b.status !== p.status)
            say(
              `${n.id} sees ${p.serverId}: ${paint(colour, b.status, b.status)} -> ${paint(colour, p.status, p.status)} (missed ${p.missedHeartbeats})`,
            );
        }
      }
      last.set(n.id, s);
    }
    if (tty) draw();
  };
  const draw = () => {
    const header = `commy demo: cluster ${cluster}, ${count} nodes, heartbeat ${INTERVAL_MS} ms; read from shared memory by pid ${process.pid}`;
    const rows = nodes.map((n) => {
      const s = last.get(n.id);
      if (!s) return `  ${n.id}  (starting)`;
      if (!s.writer.alive) return `  ${n.id}  ${paint(colour, 'down', 'process not alive')}`;
      const cells = ids.map((p) => {
        if (p === n.id) return paint(colour, 'dim', 'self'.padEnd(9));
        const st = s.peers.find((x) => x.serverId === p)?.status ?? '?';
        return paint(colour, st, st.padEnd(9));
      });
      const q = s.status.quorumAvailable ? 'quorum' : paint(colour, 'down', 'NO QUORUM');
      return `  ${n.id}  ${cells.join(' ')}  ${q}`;
    });
    const grid = [`  view  ${ids.map((p) => p.padEnd(9)).join(' ')}`, ...rows].join('\n');
    process.stdout.write(`\u001b[H\u001b[2J${header}\n\n${grid}\n\n${lines.slice(-14).join('\n')}\n`);
  };
  /** One line per node: its own view of every peer, as read from its region. */
  const grid = () => {
    if (tty) return;
    for (const n of nodes) {
      const s = last.get(n.id);
      const view = !s
        ? '(no region yet)'
        : !s.writer.alive
          ? `process not alive (last pid ${s.writer.pid})`
          : `${s.peers.map((p) => `${p.serverId}=${p.status}`).join(' ')}  quorum=${s.status.quorumAvailable ? 'yes' : 'NO'}  ` +
            `heartbeat ${s.writer.heartbeatAgeMs} ms ago`;
      process.stdout.write(`         region of ${n.id}: ${view}\n`);
    }
  };
  const until = async (what: string, cond: () => boolean, timeoutMs: number) => {
    const deadline = Date.now() + timeoutMs;
    while (!cond()) {
      if (Date.now() > deadline) throw new CliError(ExitCode.Runtime, `demo: timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 50));
      read();
    }
  };
  const holdUntil = async (atS: number) => {
    while (Date.now() - t0 < atS * 1000) {
      await new Promise((r) => setTimeout(r, 50));
      read();
    }
  };
  const observers = () => nodes.filter((n) => n !== victim);
  const allHealthy = () =>
    nodes.every((n) => {
      const s = last.get(n.id);
      return (
        s?.writer.alive &&
        s.peers.length === count - 1 &&
        s.peers.every((p) => p.status === 'healthy' && p.connection === 'active' && p.lastSeenMs !== null)
      );
    });
  const victim = nodes[nodes.length - 1];
  const seenBy = (status: string) => () =>
    observers().every((n) => last.get(n.id)?.peers.find((p) => p.serverId === victim.id)?.status === status);

  let interrupted = false;
  const onSignal = () => {
    interrupted = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const cleanup = async () => {
    for (const n of nodes) if (n.proc && n.proc.exitCode === null && n.proc.signalCode === null) n.proc.kill('SIGTERM');
    await Promise.all(
      nodes.map((n) =>
        n.exited
          ? Promise.race([n.exited, new Promise((r) => setTimeout(r, 5000))]).then(() => n.proc?.kill('SIGKILL'))
          : undefined,
      ),
    );
    for (const v of views.values()) v.close();
    for (const n of nodes) {
      try {
        unlinkRegion({ cluster, serverId: n.id });
      } catch {
        // never created
      }
    }
  };

  try {
    say(
      `cluster ${cluster}: starting ${count} agents (${ids.join(', ')}) on 127.0.0.1 ports ${ports.join(', ')}, each in its own process`,
    );
    nodes.forEach(start);
    const check = () => {
      if (interrupted) throw new CliError(ExitCode.Ok, 'demo: interrupted');
    };
    await until('every node to see every peer healthy', () => (check(), allHealthy()), 20_000);
    say(`all ${count} nodes see each other ${paint(colour, 'healthy', 'healthy')}; quorum everywhere`);
    grid();
    await holdUntil(durationS * 0.25);
    check();
    say(`kill -9 ${victim.id} (pid ${victim.proc!.pid})`);
    const killedAt = Date.now();
    victim.proc!.kill('SIGKILL');
    await victim.exited;
    await until(`${victim.id} to be suspected`, () => (check(), seenBy('suspected')() || seenBy('down')()), 10_000);
    const suspectedAfter = Date.now() - killedAt;
    await until(`${victim.id} to be down`, () => (check(), seenBy('down')()), 15_000);
    const downAfter = Date.now() - killedAt;
    say(
      `${victim.id} suspected after ${(suspectedAfter / 1000).toFixed(2)} s, down after ${(downAfter / 1000).toFixed(2)} s`,
    );
    grid();
    await holdUntil(durationS * 0.55);
    check();
    say(`restarting ${victim.id}`);
    const restartedAt = Date.now();
    start(victim);
    await until('the cluster to recover', () => (check(), allHealthy()), 20_000);
    say(`${victim.id} is back: every node healthy again after ${((Date.now() - restartedAt) / 1000).toFixed(2)} s`);
    grid();
    await holdUntil(durationS * 0.85);
    check();
    say('stopping every agent with SIGTERM (each sends Leave and publishes "stopped")');
    for (const n of nodes) n.proc!.kill('SIGTERM');
    const codes = await Promise.all(nodes.map((n) => n.exited));
    say(`agents exited with ${codes.join(', ')}; regions removed`);
    if (codes.some((c) => c !== 0)) throw new CliError(ExitCode.Runtime, 'demo: an agent did not stop cleanly');
    return ExitCode.Ok;
  } catch (err) {
    if (!(err instanceof CliError && err.exitCode === ExitCode.Ok)) {
      for (const n of nodes) {
        try {
          const tail = readFileSync(n.logPath, 'utf8').trim().split('\n').slice(-5).join('\n    ');
          process.stderr.write(`--- last log lines of ${n.id}:\n    ${tail}\n`);
        } catch {
          // no log
        }
      }
      throw err;
    }
    say('interrupted: cleaning up');
    return ExitCode.Ok;
  } finally {
    await cleanup();
    if (tty) draw();
    rmSync(dir, { recursive: true, force: true });
  }
}
