// Benchmark 6: how soon a reader in another process learns of a status
// change, woken by the writer (ClusterView.waitForChange, the default watch)
// against today's polling watch (100 ms), and what an idle watcher costs.
// The writer is this process (a real PeerRegistry); each reader is its own
// process. Latency: from just before the writer's write call to the reader's
// wake-up, both on the monotonic clock the processes share.
// Run: node dist/scripts/bench/notify.js [--quick]
import { PeerRegistry } from '../../lib/registry/registry.js';
import { parseConfig } from '../../lib/registry/config.js';
import { uniqueKey } from '../../harness/names.js';
import { sleep } from '../../harness/wait.js';
import { emit, fmt, forkHelper, log, now, ratio, sampleStats, startBench, table, type Stats } from './common.js';

const args = startBench();
const WAKES = args.quick ? 300 : 3000;
const POLLS = args.quick ? 30 : 150;
const IDLE_S = args.quick ? 3 : 10;

async function main(): Promise<void> {
  const key = uniqueKey('bn');
  const registry = new PeerRegistry(
    parseConfig({ cluster: key.cluster, serverId: key.serverId, listen: '127.0.0.1:1', peers: ['b@127.0.0.1:2'] }),
  );
  registry.initialize();
  let down = false;
  /** One transition of peer b (healthy <-> down); the time just before the write. */
  const flip = (): bigint => {
    const t = now();
    if (down) registry.markHeartbeatReceived('b');
    else registry.markDown('b', 'bench');
    down = !down;
    return t;
  };
  try {
    const latency = async (mode: 'wait' | 'poll', n: number): Promise<Stats> => {
      const reader = forkHelper('notify-reader.js', [key.cluster, key.serverId, mode]);
      await reader.next((m: { ready?: boolean }) => m.ready === true);
      await sleep(200); // the watch's first call, the wait in place
      const us: number[] = [];
      for (let i = 0; i < n; i++) {
        await sleep(2 + Math.random() * (mode === 'poll' ? 100 : 8)); // a random phase against the poll timer
        const t = flip();
        const m = await reader.next<{ woke: string }>((x) => 'woke' in x, 10_000, `${mode} wake ${i}`);
        us.push(Number(BigInt(m.woke) - t) / 1000);
      }
      reader.send({ stop: true });
      await reader.exited;
      return sampleStats(us);
    };
    log(`notify: ${WAKES} transitions to a waiting reader`);
    const woken = await latency('wait', WAKES);
    log(`notify: ${POLLS} transitions to a polling watch (100 ms)`);
    const polled = await latency('poll', POLLS);

    const idle = async (mode: 'idle-wait' | 'idle-poll' | 'idle-none') => {
      const reader = forkHelper('notify-reader.js', [key.cluster, key.serverId, mode]);
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
    const runs = { wait: [] as number[], poll: [] as number[], none: [] as number[] };
    for (let k = 0; k < 2; k++) {
      runs.none.push(await idle('idle-none'));
      runs.wait.push(await idle('idle-wait'));
      runs.poll.push(await idle('idle-poll'));
    }
    const idleNone = Math.min(...runs.none);
    const idleWait = Math.min(...runs.wait);
    const idlePoll = Math.min(...runs.poll);
    clearInterval(heartbeats);

    const row = (label: string, s: Stats) => [label, fmt(s.p50), fmt(s.p99), fmt(s.max), fmt(s.mean), String(s.n)];
    const md = [
      `A reader in another process learns that peer b changed status (healthy ↔ down, written by a real \`PeerRegistry\` ` +
        `in the benchmark process); the time runs from just before the write call to the moment the reader's code ` +
        `runs, on the monotonic clock both processes share. Transitions come at random moments (2–10 ms apart for the ` +
        `woken reader, 2–102 ms for the polled one, so the poll phase is random). µs.\n`,
      table(
        ['reader', 'p50 µs', 'p99 µs', 'max µs', 'mean µs', 'transitions'],
        [
          row('`waitForChange()`, woken by the writer (futex)', woken),
          row('`watch({ poll: true })` every 100 ms', polled),
        ],
        'lrrrrr',
      ),
      `\nWoken readers see a change ${ratio(polled.p50, woken.p50)} sooner at p50 and ${ratio(polled.p99, woken.p99)} at p99.`,
      `\nAn idle watcher: ${IDLE_S} s with no transition while the writer writes every 20 ms (last-seen and RTT, which ` +
        `move the any-write generation but not the status sequence). CPU of the reader process (user + system), % of one core:\n`,
      table(
        ['watcher', 'CPU'],
        [
          ['no watch: the view open, the process idle (the floor: V8 and libuv housekeeping)', `${fmt(idleNone)} %`],
          ['`watch()` (status, woken; rechecks liveness once a second)', `${fmt(idleWait)} %`],
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
        'poll.p50us': polled.p50,
        'poll.p99us': polled.p99,
        'idle.wait.pct': idleWait,
        'idle.poll.pct': idlePoll,
        'idle.none.pct': idleNone,
      },
    });
  } finally {
    registry.close({ unlink: true });
  }
}

await main();
