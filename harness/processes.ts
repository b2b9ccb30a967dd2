// Harness (shared by test/, scripts/bench/ and scripts/soak/; see harness/README.md):
// child processes that never outlive the run, and forked ones with an IPC message queue.
import { fork, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { basename } from 'node:path';

const tracked = new Set<ChildProcess>();
let exitHooked = false;
let signalsHooked = false;

function killTracked(): void {
  for (const c of tracked) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
}

/** Tracks a child so it is killed (SIGKILL) if this process exits first. */
export function trackChild<C extends ChildProcess>(c: C): C {
  if (!exitHooked) {
    exitHooked = true;
    process.on('exit', killTracked);
  }
  tracked.add(c);
  c.once('exit', () => tracked.delete(c));
  return c;
}

/**
 * Makes SIGINT and SIGTERM kill the tracked children, then exit 130. For
 * benchmarks and scripts only: under mocha a signal must reach mocha's own
 * handler, which runs the after hooks that remove the test regions.
 */
export function exitOnSignals(): void {
  if (signalsHooked) return;
  signalsHooked = true;
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.on(sig, () => {
      killTracked();
      process.exit(130);
    });
}

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ForkedChild {
  proc: ChildProcess;
  /** Messages no next() has taken, oldest first; callers may inspect or clear it. */
  messages: unknown[];
  /**
   * Resolves with the first message matching `pred` (any message without one),
   * taking it from `messages`; rejects on timeout or once the child is gone.
   */
  next<T = Record<string, unknown>>(pred?: (m: T) => boolean, timeoutMs?: number, what?: string): Promise<T>;
  /** Sends over IPC; a no-op once the channel is closed. */
  send(m: unknown): void;
  exited: Promise<ExitStatus>;
  /** Signals the child (SIGKILL by default); a no-op once it has exited. */
  kill(signal?: NodeJS.Signals): void;
}

export interface ForkOptions {
  /** Added to this process's environment. */
  env?: Record<string, string | undefined>;
  execArgv?: string[];
  /** The program that runs the module (default: this Node), e.g. `ip` to run it in a network namespace. */
  execPath?: string;
  uid?: number;
  gid?: number;
  /** next()'s timeout when the call gives none. */
  nextTimeoutMs?: number;
}

/** Forks a compiled module with an IPC channel (stdout and stderr inherited), tracked for cleanup. */
export function forkChild(modulePath: string, args: string[] = [], opts: ForkOptions = {}): ForkedChild {
  const name = basename(modulePath);
  const proc = trackChild(
    fork(modulePath, args, {
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      env: { ...process.env, ...opts.env },
      ...(opts.execArgv ? { execArgv: opts.execArgv } : {}),
      ...(opts.execPath ? { execPath: opts.execPath } : {}),
      ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.gid } : {}),
    }),
  );
  const messages: unknown[] = [];
  const waiters: { pred: (m: unknown) => boolean; take: (m: unknown) => void; gone: () => void }[] = [];
  const matches = (pred: (m: unknown) => boolean, m: unknown) => {
    try {
      return pred(m);
    } catch {
      return false; // a predicate that cannot read this message does not want it
    }
  };
  proc.on('message', (m) => {
    const i = waiters.findIndex((w) => matches(w.pred, m));
    if (i >= 0) waiters.splice(i, 1)[0].take(m);
    else messages.push(m);
  });
  const exited = new Promise<ExitStatus>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  // 'close' comes after 'exit' and after the IPC channel closed: no message can follow it.
  let closed = false;
  proc.once('close', () => {
    closed = true;
    for (const w of waiters.splice(0)) w.gone();
  });
  return {
    proc,
    messages,
    exited,
    send: (m) => {
      if (proc.connected) proc.send(m as never);
    },
    kill: (signal = 'SIGKILL') => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill(signal);
    },
    next<T>(
      pred: (m: T) => boolean = () => true,
      timeoutMs = opts.nextTimeoutMs ?? 20_000,
      what = 'a message',
    ): Promise<T> {
      const p = pred as (m: unknown) => boolean;
      const i = messages.findIndex((m) => matches(p, m));
      if (i >= 0) return Promise.resolve(messages.splice(i, 1)[0] as T);
      const goneError = () =>
        new Error(`${name} exited (code ${proc.exitCode}, signal ${proc.signalCode}) before sending ${what}`);
      if (closed) return Promise.reject(goneError());
      return new Promise<T>((resolve, reject) => {
        const waiter = {
          pred: p,
          take: (m: unknown) => {
            clearTimeout(timer);
            resolve(m as T);
          },
          gone: () => {
            clearTimeout(timer);
            reject(goneError());
          },
        };
        const timer = setTimeout(() => {
          waiters.splice(waiters.indexOf(waiter), 1);
          reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from ${name}`));
        }, timeoutMs);
        waiters.push(waiter);
      });
    },
  };
}

/** Spawns a process (no IPC, stdio ignored unless `opts` says otherwise), tracked for cleanup. */
export function spawnTracked(cmd: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
  return trackChild(spawn(cmd, args, { stdio: 'ignore', ...opts }));
}

/** Sends SIGTERM, then SIGKILL after `graceMs`; resolves when the process is gone. */
export async function stopProcess(c: ChildProcess, graceMs = 3000): Promise<void> {
  if (c.exitCode !== null || c.signalCode !== null) return;
  const gone = new Promise<void>((res) => c.once('exit', () => res()));
  c.kill('SIGTERM');
  const timer = setTimeout(() => c.kill('SIGKILL'), graceMs);
  await gone;
  clearTimeout(timer);
}
