// Harness (shared by test/; see harness/README.md): simulated hosts on one machine. Each host is a network
// namespace with its own address on a shared Linux bridge (a veth pair each, addresses from 10.213.0.0/16)
// and its own /dev/shm (a tmpfs of its own, bind-mounted over /dev/shm in a private mount namespace for
// every process started on it), so neither addresses nor regions are shared between hosts. Needs root and
// `ip`; `hostsUnavailable()` says why not. `remove()` kills what runs on the hosts and deletes every
// namespace, link, mount and folder, also after a failed test.
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { forkChild, trackChild, type ForkedChild, type ForkOptions } from './processes.js';

const run = promisify(execFile);

/** Why simulated hosts cannot be made here, or undefined when they can. */
export function hostsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'simulated hosts need Linux network namespaces';
  if (process.getuid?.() !== 0) return 'simulated hosts need root (ip netns, mount)';
  for (const tool of ['ip', 'unshare', 'mount'])
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      return `simulated hosts need the "${tool}" command`;
    }
  return undefined;
}

export interface SimHost {
  name: string;
  /** Its address on the bridge. */
  address: string;
  /** Starts a command on this host (its network and its /dev/shm); tracked for cleanup. */
  spawn(cmd: string, args: string[], opts?: { env?: Record<string, string> }): ChildProcess;
  /** Forks a compiled module with an IPC channel on this host. */
  fork(modulePath: string, args?: string[], opts?: ForkOptions): ForkedChild;
  /** Runs a command on this host to its end: its exit code and output. */
  exec(
    cmd: string,
    args: string[],
    opts?: { env?: Record<string, string> },
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  /** Sets the host's link down (cut off from every other host) or up again. */
  link(up: boolean): Promise<void>;
}

export interface SimNetwork {
  hosts: SimHost[];
  /** "10.213.x." : the hosts are .1, .2, … */
  prefix: string;
  remove(): Promise<void>;
}

export async function createHosts(n: number): Promise<SimNetwork> {
  const reason = hostsUnavailable();
  if (reason) throw new Error(reason);
  const tag = Math.floor(Math.random() * 0xffff)
    .toString(16)
    .padStart(4, '0');
  const subnet = Math.floor(Math.random() * 250) + 1;
  const prefix = `10.213.${subnet}.`;
  const bridge = `cmb${tag}`;
  const dir = mkdtempSync(join(tmpdir(), 'commy-hosts-'));
  const namespaces: string[] = [];
  const mounts: string[] = [];
  const children = new Set<ChildProcess>();
  const ip = (...args: string[]) => run('ip', args);

  const remove = async () => {
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    await Promise.all(
      [...children].map((c) =>
        c.exitCode !== null || c.signalCode !== null ? undefined : new Promise((r) => c.once('exit', r)),
      ),
    );
    for (const ns of namespaces) {
      // Whatever still runs in it (a grandchild) goes first: a namespace with processes cannot be deleted cleanly.
      await run('ip', ['netns', 'pids', ns])
        .then(({ stdout }) => {
          for (const pid of stdout.split(/\s+/).filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
        })
        .catch(() => undefined);
      await ip('netns', 'delete', ns).catch(() => undefined); // deletes its veth end, and so the pair
    }
    await ip('link', 'delete', bridge).catch(() => undefined);
    for (const m of mounts) await run('umount', ['-l', m]).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    await ip('link', 'add', bridge, 'type', 'bridge');
    await ip('link', 'set', bridge, 'up');
    const hosts: SimHost[] = [];
    for (let i = 0; i < n; i++) {
      const ns = `commy-${tag}-${i + 1}`;
      const outer = `cmv${tag}${i + 1}`;
      const inner = `cmp${tag}${i + 1}`;
      const address = `${prefix}${i + 1}`;
      await ip('netns', 'add', ns);
      namespaces.push(ns);
      await ip('link', 'add', outer, 'type', 'veth', 'peer', 'name', inner);
      await ip('link', 'set', outer, 'master', bridge);
      await ip('link', 'set', outer, 'up');
      await ip('link', 'set', inner, 'netns', ns);
      await ip('-n', ns, 'link', 'set', inner, 'name', 'eth0');
      await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', 'eth0');
      await ip('-n', ns, 'link', 'set', 'eth0', 'up');
      await ip('-n', ns, 'link', 'set', 'lo', 'up');
      const shm = join(dir, `host${i + 1}-shm`);
      mkdirSync(shm);
      await run('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=1777', 'tmpfs', shm]);
      mounts.push(shm);
      // ip netns exec NS unshare -m sh -c 'mount --bind SHM /dev/shm && exec "$@"' sh CMD ARGS…
      const prefixArgs = [
        'netns',
        'exec',
        ns,
        'unshare',
        '-m',
        'sh',
        '-c',
        `mount --bind ${shm} /dev/shm && exec "$@"`,
        'sh',
      ];
      const track = (c: ChildProcess) => {
        children.add(c);
        c.once('exit', () => children.delete(c));
        return trackChild(c);
      };
      hosts.push({
        name: `host${i + 1}`,
        address,
        spawn: (cmd, args, opts = {}) =>
          track(spawn('ip', [...prefixArgs, cmd, ...args], { stdio: 'ignore', env: { ...process.env, ...opts.env } })),
        fork: (modulePath, args = [], opts = {}) => {
          const f = forkChild(modulePath, args, {
            ...opts,
            execPath: 'ip',
            execArgv: [...prefixArgs, process.execPath, ...(opts.execArgv ?? [])],
          });
          track(f.proc);
          return f;
        },
        exec: (cmd, args, opts = {}) =>
          new Promise((resolve) => {
            const c = track(spawn('ip', [...prefixArgs, cmd, ...args], { env: { ...process.env, ...opts.env } }));
            let stdout = '';
            let stderr = '';
            c.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
            c.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
            c.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
          }),
        link: async (up) => {
          await ip('link', 'set', outer, up ? 'up' : 'down');
        },
      });
    }
    return { hosts, prefix, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** The network namespaces of simulated hosts that exist now (for the suite's leftover check). */
export function hostsLeftBehind(): string[] {
  if (!existsSync('/var/run/netns')) return [];
  try {
    return execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
      .split('\n')
      .map((l) => l.split(' ')[0])
      .filter((ns) => ns.startsWith('commy-'));
  } catch {
    return [];
  }
}
