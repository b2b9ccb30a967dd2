// Shared test plumbing: unique region keys, polling with a deadline, and real
// child processes that talk over the IPC channel.
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
export const fixturesDir = join(here, 'fixtures');

let counter = 0;
/** A key no other test (or test run) uses. */
export function uniqueKey(prefix = 't'): { cluster: string; serverId: string } {
  counter++;
  return { cluster: `${prefix}${process.pid}x${counter}`, serverId: `s${Date.now() % 100000}` };
}

/** Polls `cond` until it returns a truthy value, or fails after `timeoutMs`. */
export async function waitFor<T>(
  cond: () => T | Promise<T>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last error: ${(lastError as Error).message})` : '';
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${opts.what ?? 'condition'}${why}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 10));
  }
}

export interface Child {
  proc: ChildProcess;
  messages: unknown[];
  /** Resolves with the first message matching `pred`. */
  next<T = Record<string, unknown>>(pred: (m: T) => boolean, timeoutMs?: number, what?: string): Promise<T>;
  send(m: unknown): void;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<ChildProcess>();
process.on('exit', () => {
  for (const p of live) p.kill('SIGKILL');
});

/** Forks a compiled fixture from test/fixtures with an IPC channel. */
export function forkFixture(
  name: string,
  args: string[] = [],
  opts: { uid?: number; gid?: number; env?: Record<string, string> } = {},
): Child {
  const proc = fork(join(fixturesDir, name), args, {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, ...opts.env },
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
  });
  live.add(proc);
  const messages: unknown[] = [];
  proc.on('message', (m) => messages.push(m));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.on('exit', (code, signal) => {
      live.delete(proc);
      resolve({ code, signal });
    });
  });
  let done = false;
  void exited.then(() => (done = true));
  return {
    proc,
    messages,
    exited,
    send: (m) => {
      if (proc.connected) proc.send(m as never);
    },
    kill: (signal = 'SIGKILL') => {
      if (!done) proc.kill(signal);
    },
    async next<T>(pred: (m: T) => boolean, timeoutMs = 20_000, what = 'child message') {
      return waitFor(() => (messages as T[]).find(pred), { timeoutMs, what, intervalMs: 5 }).then((m) => {
        messages.splice(messages.indexOf(m), 1);
        return m as T;
      });
    },
  };
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}
