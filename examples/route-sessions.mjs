// Routes sessions to the server that owns them, from shared memory, and fails over.
// Three nodes (a, b, c) run as separate processes on loopback; one worker process per
// node routes 12 sessions with ClusterView.route() from its node's region. Then c is
// killed (kill -9): as soon as a node suspects c (route() counts healthy members by
// default), each worker re-routes, and only c's sessions move. c restarts, and they
// come back. Ends by itself in a few seconds.
// Usage: node examples/route-sessions.mjs
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { ClusterNode, ClusterView } from 'commy';

const SESSIONS = Array.from({ length: 12 }, (_, i) => `session-${i + 1}`);
const [role, ...args] = process.argv.slice(2);

if (role === 'node') {
  // One server's node: heartbeats with its peers, publishes their health in its region.
  const node = await ClusterNode.start(JSON.parse(args[0]));
  const stop = async () => {
    await node.stop(); // tells the peers (Leave), removes the region
    process.exit(0);
  };
  process.on('message', stop);
  process.on('disconnect', stop); // the main process is gone: stop too
  process.send({ ready: true });
} else if (role === 'worker') {
  // A worker on the host of node `serverId`: it only reads that node's region.
  const [cluster, serverId] = args;
  const view = ClusterView.open({ cluster, serverId });
  const owners = () => new Map(SESSIONS.map((s) => [s, view.route(s)[0]?.serverId ?? '(none)']));
  let current = owners();
  process.send({ table: Object.fromEntries(current) });
  // Woken by the node at each status change; re-route and report what moved.
  const watch = view.watch((snap, transitions) => {
    const next = owners();
    const moved = SESSIONS.filter((s) => next.get(s) !== current.get(s)).map((s) => [s, current.get(s), next.get(s)]);
    // Status changes only (the first call also lists every peer as new, from nothing).
    for (const t of transitions) if (t.from && t.to) process.send({ transition: `${t.serverId} ${t.from} -> ${t.to}` });
    if (moved.length) process.send({ moved });
    current = next;
  });
  const stop = () => {
    watch.close();
    view.close();
    if (process.connected) process.disconnect();
  };
  process.on('message', stop);
  process.on('disconnect', stop);
} else {
  await main();
}

async function freePort() {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function next(child, pick) {
  return new Promise((resolve, reject) => {
    const onMessage = (m) => {
      if (!pick(m)) return;
      child.off('message', onMessage);
      resolve(m);
    };
    child.on('message', onMessage);
    child.once('exit', (code) => reject(new Error(`child exited with ${code}`)));
  });
}

async function main() {
  // Never hang: give up after 60 s (the children stop when this process goes).
  setTimeout(() => {
    console.error('route-sessions: timed out');
    process.exit(1);
  }, 60_000).unref();
  for (const sig of ['SIGINT', 'SIGTERM']) process.once(sig, () => process.exit(130));
  const cluster = `routing-${randomBytes(3).toString('hex')}`;
  const ids = ['a', 'b', 'c'];
  const ports = await Promise.all(ids.map(freePort));
  const env = { ...process.env, COMMY_SECRET: randomBytes(24).toString('base64url') };
  const config = (i) => ({
    cluster,
    serverId: ids[i],
    listen: `127.0.0.1:${ports[i]}`,
    peers: ids.flatMap((p, j) => (j === i ? [] : [`${p}@127.0.0.1:${ports[j]}`])),
    heartbeatIntervalMs: 200,
    heartbeatTimeoutMs: 200,
  });
  const self = new URL(import.meta.url).pathname;
  const nodes = {};
  const startNode = async (i) => {
    const child = fork(self, ['node', JSON.stringify(config(i))], { env });
    await next(child, (m) => m.ready);
    nodes[ids[i]] = child;
  };
  const workers = [];
  const log = (who, msg) => console.log(`${who.padEnd(9)} ${msg}`);
  try {
    for (let i = 0; i < ids.length; i++) await startNode(i);
    // Wait until every node sees both peers healthy, so the workers start from the same membership.
    const views = ids.map((serverId) => ClusterView.open({ cluster, serverId }));
    while (!views.every((v) => v.snapshot().peers.every((p) => p.status === 'healthy' && p.lastSeenMs !== null)))
      await new Promise((r) => setTimeout(r, 20));
    for (const v of views) v.close();

    for (const id of ids) {
      const w = fork(self, ['worker', cluster, id], { env });
      w.on('message', (m) => {
        if (m.transition) log(`worker@${id}`, `saw ${m.transition}`);
        if (m.moved) for (const [s, from, to] of m.moved) log(`worker@${id}`, `${s} moved ${from} -> ${to}`);
      });
      const { table } = await next(w, (m) => m.table);
      log(`worker@${id}`, SESSIONS.map((s) => `${s.replace('session-', 's')}:${table[s]}`).join(' '));
      workers.push({ id, w });
    }

    log('main', 'kill -9 c');
    nodes.c.kill('SIGKILL');
    const survivors = workers.filter((x) => x.id !== 'c');
    // Each surviving worker reports c's sessions moving once its node marks c down.
    const cBecomes = (to) => (m) => m.transition?.startsWith('c ') && m.transition.endsWith(`-> ${to}`);
    await Promise.all(survivors.map(({ w }) => next(w, cBecomes('down'))));

    log('main', 'restart c');
    await startNode(2); // the new node takes over c's region
    await Promise.all(survivors.map(({ w }) => next(w, cBecomes('healthy'))));
  } finally {
    for (const { w } of workers) if (w.connected) w.send('stop');
    await Promise.all(
      Object.values(nodes).map(
        (n) =>
          new Promise((resolve) => {
            if (n.exitCode !== null || n.signalCode !== null) return resolve();
            n.once('exit', resolve);
            n.send('stop');
          }),
      ),
    );
  }
}
