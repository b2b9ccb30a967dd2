// Benchmark helper for notify.ts: a reader in its own process.
// argv: <cluster> <serverId> <mode> <socket path>
//   wait:  loops on view.waitForChange() and reports the monotonic time of each wake-up
//   socket: connects to the benchmark's Unix socket and reports each byte pushed there
//   poll:  a polled watch (100 ms, today's default interval) and reports when it sees a transition
//   idle-wait / idle-poll: the same watch with no changes; idle-none: the view open and no watch (the floor);
//   on {measure} and {report} each returns its CPU time between
import { connect, type Socket } from 'node:net';
import { ClusterView } from '../../lib/view.js';

const [cluster, serverId, mode, sockPath] = process.argv.slice(2);
const view = ClusterView.open({ cluster, serverId });
const send = (m: unknown) => process.send?.(m);
const stamp = () => String(process.hrtime.bigint());

let handle: { close(): void } | undefined;
let socket: Socket | undefined;
let active = true;
if (mode === 'socket') {
  socket = connect(sockPath);
  socket.on('data', (d) => {
    for (let i = 0; i < d.length; i++) send({ woke: stamp() });
  });
} else if (mode === 'wait') {
  void (async () => {
    // The next wait is armed before the wake is reported: waitForChange() waits for a change after
    // its call, so one armed after the report could miss a transition made in reply to it.
    let next = view.waitForChange();
    while (active) {
      try {
        const changed = await next;
        const woke = stamp();
        next = view.waitForChange();
        if (changed) send({ woke });
      } catch {
        return; // closed
      }
    }
  })();
} else if (mode !== 'idle-none') {
  const poll = mode.endsWith('poll');
  let first = true;
  handle = view.watch(
    (_s, transitions) => {
      if (first) first = false;
      else if (transitions.length > 0) send({ woke: stamp() });
    },
    poll ? { poll: true, intervalMs: 100 } : {},
  );
}
let cpu0 = process.cpuUsage();
let t0 = process.hrtime.bigint();
process.on('message', (m: { measure?: boolean; report?: boolean; stop?: boolean }) => {
  if (m.measure) {
    cpu0 = process.cpuUsage();
    t0 = process.hrtime.bigint();
  } else if (m.report) {
    const d = process.cpuUsage(cpu0);
    send({ cpuUs: d.user + d.system, wallUs: Number(process.hrtime.bigint() - t0) / 1000 });
  } else if (m.stop) {
    active = false;
    handle?.close();
    socket?.destroy();
    view.close();
    process.disconnect?.();
  }
});
send({ ready: true });
