// Benchmark 6: how soon a reader in another process learns of a status
// change, woken by the writer (ClusterView.waitForChange, the default watch;
// on Linux both ways a wait can block: the event loop's own, the default, and
// a waiting thread, COMMY_CHANGE_WAITER=thread, which Windows uses) against
// today's polling watch (100 ms) and against the floor of any push to another
// Node process (one byte on a Unix socket), and what an idle watcher costs. The writer is this process (a real PeerRegistry); each reader is its
// own process. Latency: from just before the writer's write call (and from its
// return) to the reader's wake-up, on the monotonic clock the processes share.
// Run: node dist/scripts/bench/notify.js [--quick]
import { createServer, type Socket } from 'node:net';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PeerRegistry } from '../../lib/registry/registry.js';
import { parseConfig } from '../../lib/registry/config.js';
import { uniqueKey } from '../../harness/names.js';
import { sleep } from '../../harness/wait.js';
import { emit, fmt, forkHelper, log, now, ratio, sampleStats, startBench, table, type Stats } from './common.js';

const args = startBench();
const WAKES = args.quick ? 300 : 3000;
const POLLS = args.quick ? 30 : 150;
const IDLE_S = args.quick ? 3 : 20;

async function main(): Promise<void> {
  const key = uniqueKey('bn');
  const registry = new PeerRegistry(
    parseConfig({ cluster: key.cluster, serverId: key.serverId, listen: '127.0.0.1:1', peers: ['b@127.0.0.1:2'] }),
  );
  registry.initialize();
  let down = false;
  /** One transition of peer b (healthy <-> down); the times just before the write call and at its return. */
  const flip = (): [bigint, bigint] => {
    const t = now();
    if (down) registry.markHeartbeatReceived('b');
    else registry.markDown('b', 'bench');
    down = !down;
    return [t, now()];
  };
  // The floor of a push to another process's event loop: the reader connects here, each event is one byte.
  const sockPath = join(tmpdir(), `commy-bench-notify-${process.pid}.sock`);
  let pushed: Socket | undefined;
  const server = createServer((s) => (pushed = s));
  await new Promise<void>((resolve) => server.listen(sockPath, resolve));
  const one = Buffer.from([1]);
  const push = (): [bigint, bigint] => {
    const t = now();
    pushed!.write(one);
    return [t, now()];
  };
  try {
    const THREAD = { COMMY_CHANGE_WAITER: 'thread' };
    const latency = async (
      mode: 'wait' | 'poll' | 'socket',
      n: number,
      env: Record<string, string> = {},
    ): Promise<[number[], number[]]> => {
      const reader = forkHelper('notify-reader.js', [key.cluster, key.serverId, mode, sockPath], env);
      await reader.next((m: { ready?: boolean }) => m.ready === true);
      await sleep(200); // the watch's first call, the wait in place (or the socket connected)
      const fromCall: number[] = [];
      const fromReturn: number[] = [];
      const event = mode === 'socket' ? push : flip;
      for (let i = 0; i < n; i++) {
        await sleep(2 + Math.random() * (mode === 'poll' ? 100 : 8)); // a random phase against the poll timer
        const [t, r] = event();
        const m = await reader.next<{ woke: string }>(
          (x) => 'woke' in x,
          10_000,
          `${mode}${env.COMMY_CHANGE_WAITER ? ` (${env.COMMY_CHANGE_WAITER})` : ''} wake ${i}`,
        );
        fromCall.push(Number(BigInt(m.woke) - t) / 1000);
        fromReturn.push(Number(BigInt(m.woke) - r) / 1000);
      }
      reader.send({ stop: true });
      await reader.exited;
      return [fromCall, fromReturn];
    };
    // Woken and pushed alternate in rounds, so that a drift of the machine hits both alike.
    const rounds = 3;
    const wokenCall: number[] = [];
    const wokenRet: number[] = [];
    const threadCall: number[] = [];
    const threadRet: number[] = [];
    const pushCall: number[] = [];
    const pushRet: number[] = [];
    const linux = process.platform === 'linux';
    log(
      `notify: ${WAKES} transitions to a waiting reader${linux ? ' (and as many to one waiting on a thread)' : ''}, ` +
        `and ${WAKES} bytes pushed on a Unix socket, in ${rounds} rounds`,
    );
    for (let k = 0; k < rounds; k++) {
      for (const [mode, call, ret, env] of [
        ['wait', wokenCall, wokenRet, {}],
        ...(linux ? [['wait', threadCall, threadRet, THREAD] as const] : []),
        ['socket', pushCall, pushRet, {}],
      ] as const) {
        const [c, r] = await latency(mode, Math.ceil(WAKES / rounds), env);
        call.push(...c);
        ret.push(...r);
      }
    }
    const woken = sampleStats(wokenCall);
    const wokenReturn = sampleStats(wokenRet);
    const thread = linux ? sampleStats(threadCall) : undefined;
    const threadReturn = linux ? sampleStats(threadRet) : undefined;
    const socket = sampleStats(pushCall);
    const socketReturn = sampleStats(pushRet);
    log(`notify: ${POLLS} transitions to a polling watch (100 ms)`);
    const polled = sampleStats((await latency('poll', POLLS))[0]);

    const idle = async (mode: 'idle-wait' | 'idle-poll' | 'idle-none', env: Record<string, string> = {}) => {
      const reader = forkHelper('notify-reader.js', [key.cluster, key.serverId, mode], env);
      await reader.next((m: { ready?: boolean }) => m.ready === true);
      await sleep(500);
      reader.send({ measure: true });
      await sleep(IDLE_S * 1000); // the writer keeps writing what changes no status: heartbeats, RTT
      reader.send({ report: true });
      const r = await reader.next<{ cpuUs: number; wallUs: number }>((x) => 'cpuUs' in x);
      reader.send({ stop: true });
      await reader.exited;
      return (r.cpuUs / r.wallUs) * 100; // % of one core
    };
    const heartbeats = setInterval(() => {
      if (!down) registry.markHeartbeatReceived('b');
      registry.updateConnection('b', { rttMs: 0.1 + Math.random() / 10 });
    }, 20);
    log(`notify: idle watchers, ${IDLE_S} s each, while the writer writes every 20 ms without a transition`);
    // Interleaved twice, so that a drift of the machine hits all three alike; each figure is the lower of its two.
    const runs = { wait: [] as number[], thread: [] as number[], poll: [] as number[], none: [] as number[] };
    for (let k = 0; k < 2; k++) {
      runs.none.push(await idle('idle-none'));
      runs.wait.push(await idle('idle-wait'));
      if (linux) runs.thread.push(await idle('idle-wait', THREAD));
      runs.poll.push(await idle('idle-poll'));
    }
    const idleNone = Math.min(...runs.none);
    const idleWait = Math.min(...runs.wait);
    const idleThread = linux ? Math.min(...runs.thread) : NaN;
    const idlePoll = Math.min(...runs.poll);
    clearInterval(heartbeats);

    const row = (label: string, s: Stats) => [label, fmt(s.p50), fmt(s.p99), fmt(s.max), fmt(s.mean), String(s.n)];
    const md = [
      `A reader in another process learns that peer b changed status (healthy ↔ down, written by a real \`PeerRegistry\` ` +
        `in the benchmark process); the time runs from just before the write call, and from its return, to the moment ` +
        `the reader's code runs, on the monotonic clock both processes share. The floor of any push to another Node ` +
        `process runs alongside, in rounds alternating with the woken reader: the benchmark writes one byte on a Unix ` +
        `socket that reader process is connected to. Transitions come at random moments (2–10 ms apart for the woken ` +
        `reader and the socket, 2–102 ms for the polled one, so the poll phase is random). µs.\n`,
      table(
        ['reader', 'p50 µs', 'p99 µs', 'max µs', 'mean µs', 'transitions'],
        [
          row(
            linux
              ? "`waitForChange()`, the event loop's own wait (inotify), from the write call"
              : '`waitForChange()`, woken by the writer, from the write call',
            woken,
          ),
          row("the same, from the write call's return", wokenReturn),
          ...(thread && threadReturn
            ? [
                row(
                  '`waitForChange()` on a waiting thread (futex; COMMY_CHANGE_WAITER=thread), from the write call',
                  thread,
                ),
                row("the same, from the write call's return", threadReturn),
              ]
            : []),
          row('one byte pushed on a Unix socket (the floor of any push to a process), from the `write()` call', socket),
          row("the same, from the `write()` call's return", socketReturn),
          row('`watch({ poll: true })` every 100 ms, from the write call', polled),
        ],
        'lrrrrr',
      ),
      `\nWoken readers see a change ${ratio(polled.p50, woken.p50)} sooner than polled ones at p50 and ` +
        `${ratio(polled.p99, woken.p99)} at p99. Against a byte pushed on a socket, which needs a connection to every ` +
        `reader, the wake takes ${ratio(woken.p50, socket.p50)} as long at p50 and ${ratio(woken.p99, socket.p99)} at p99 ` +
        `(from the call's return: ${ratio(wokenReturn.p50, socketReturn.p50)} and ${ratio(wokenReturn.p99, socketReturn.p99)}).` +
        (thread
          ? ` The waiting thread, one more wake-up between the kernel and JavaScript, takes ${ratio(thread.p50, woken.p50)} as ` +
            `long as the event loop's own wait at p50 and ${ratio(thread.p99, woken.p99)} at p99.`
          : ''),
      `\nAn idle watcher: ${IDLE_S} s with no transition while the writer writes every 20 ms (last-seen and RTT, which ` +
        `move the any-write generation but not the status sequence). CPU of the reader process (user + system), % of one core:\n`,
      table(
        ['watcher', 'CPU'],
        [
          ['no watch: the view open, the process idle (the floor: V8 and libuv housekeeping)', `${fmt(idleNone)} %`],
          [
            linux
              ? "`watch()` (status, woken; the event loop's own wait, no timer)"
              : '`watch()` (status, woken; its native thread probes the writer once a second)',
            `${fmt(idleWait)} %`,
          ],
          ...(linux
            ? [['`watch()` on a waiting thread (it probes the writer once a second)', `${fmt(idleThread)} %`]]
            : []),
          ['`watch({ poll: true })` every 100 ms', `${fmt(idlePoll)} %`],
        ],
        'lr',
      ),
      `\nOver the floor, the woken watcher adds ${fmt(Math.max(0, idleWait - idleNone))} % of a core and the polled one ` +
        `${fmt(Math.max(0, idlePoll - idleNone))} %.`,
    ];
    emit(args, {
      name: 'notify',
      title: 'Change notification: woken readers against polling',
      markdown: md,
      headline: {
        'wait.p50us': woken.p50,
        'wait.p99us': woken.p99,
        'wait.maxus': woken.max,
        'wait.return.p50us': wokenReturn.p50,
        'wait.return.p99us': wokenReturn.p99,
        ...(thread ? { 'thread.p50us': thread.p50, 'thread.p99us': thread.p99 } : {}),
        ...(linux ? { 'idle.thread.pct': idleThread } : {}),
        'socket.p50us': socket.p50,
        'socket.p99us': socket.p99,
        'poll.p50us': polled.p50,
        'poll.p99us': polled.p99,
        'idle.wait.pct': idleWait,
        'idle.poll.pct': idlePoll,
        'idle.none.pct': idleNone,
      },
    });
  } finally {
    registry.close({ unlink: true });
    server.close();
    rmSync(sockPath, { force: true });
  }
}

await main();
