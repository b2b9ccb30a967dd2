// ClusterNode end to end: real node processes on loopback, heartbeats over
// authenticated TCP, results read from their regions by this (fourth) process.
import { expect } from 'chai';
import { connect, type Socket } from 'node:net';
import { ClusterView } from '../lib/view.js';
import { Keyring } from '../lib/protocol/auth.js';
import { Connection, type ConnectionContext } from '../lib/transport/connection.js';
import { MessageType } from '../lib/protocol/messages.js';
import { SECRET, startCluster, startNode, waitForAll, type Cluster } from '../harness/cluster.js';
import { freePorts } from '../harness/loopback.js';
import { uniqueKey } from '../harness/names.js';
import { codeOf } from '../harness/errors.js';
import { waitFor } from '../harness/wait.js';

let cluster: Cluster | undefined;
afterEach(async () => {
  await cluster?.stopAll();
  cluster = undefined;
});

type Info = {
  connections: { serverId: string; direction: string }[];
  sockets: number;
  stalledTicks: number;
  rejected: Record<string, number>;
  rss: number;
  metadata: Record<string, Record<string, string>>;
};
let requestId = 0;
async function info(c: Cluster, id: string): Promise<Info> {
  const n = c.nodes[c.ids.indexOf(id)];
  const rid = ++requestId;
  n.child.send({ cmd: 'info', id: rid });
  return (await n.child.next<{ id: number; info: Info }>((m) => m.id === rid)).info;
}

describe('a 3-node cluster on loopback', () => {
  it('becomes all-healthy, with one connection per pair, and a ClusterView in a fourth process shows it', async () => {
    cluster = await startCluster(3);
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
    const s = cluster.view('a').snapshot();
    // Spelled out here as in the CLI and registry tests: each test states the object it expects.
    expect(s.status).to.deep.equal({
      totalPeers: 3,
      healthyPeers: 3,
      suspectedPeers: 0,
      downPeers: 0,
      isDegraded: false,
      quorumAvailable: true,
    });
    await waitFor(
      () =>
        cluster!
          .view('a')
          .snapshot()
          .peers.every((p) => p.bytesReceived > 0 && p.bytesSent > 0),
      {
        what: 'byte counters to move',
      },
    );
    expect(s.writer.alive).to.equal(true);
    expect(s.peers.map((p) => p.connection)).to.deep.equal(['active', 'active']);
    // Simultaneous dials were deduplicated: exactly one connection per pair on each side.
    await waitFor(async () => (await info(cluster!, 'a')).sockets === 2, { what: 'a to hold exactly 2 sockets' });
    const ia = await info(cluster, 'a');
    expect(ia.connections.map((x) => x.serverId).sort()).to.deep.equal(['b', 'c']);
    const ib = await info(cluster, 'b');
    const ab = ia.connections.find((x) => x.serverId === 'b')!;
    const ba = ib.connections.find((x) => x.serverId === 'a')!;
    // Both ends agree on the one connection: outbound at one end is inbound at the other.
    expect(ab.direction).to.not.equal(ba.direction);
  });

  it('kill -9 of a node: the others see it suspected, then down; restarted, it is healthy again', async () => {
    cluster = await startCluster(3);
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
    const va = cluster.view('a');
    const vb = cluster.view('b');
    cluster.nodes[2].child.kill('SIGKILL');
    const seen: string[] = [];
    await waitFor(
      () => {
        const st = va.getPeer('c')?.status;
        if (st && seen[seen.length - 1] !== st) seen.push(st);
        return st === 'down';
      },
      { timeoutMs: 10_000, intervalMs: 5, what: 'a to see c down' },
    );
    expect(seen).to.include('suspected');
    await waitFor(() => vb.getPeer('c')?.status === 'down', { what: 'b to see c down' });
    expect(va.status()).to.include({ totalPeers: 3, healthyPeers: 2, downPeers: 1, quorumAvailable: true });
    await cluster.restart('c');
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
  });

  it('a graceful stop sends Leave: peers mark it down at once with reason "left"', async () => {
    cluster = await startCluster(3, { heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 1000 });
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
    const a = cluster.nodes[0].child;
    a.messages.length = 0; // only transitions from now on
    const vc = cluster.view('c'); // opened before the stop: a clean stop removes the region's name
    cluster.nodes[2].child.send({ cmd: 'stop' });
    const change = await a.next<{ event?: string; serverId?: string; newStatus?: string; reason?: string; at: number }>(
      (m) => m.event === 'peerStatusChanged' && m.serverId === 'c',
    );
    // Straight to down, by Leave: not through suspected, as missed heartbeats would.
    expect(change).to.include({ oldStatus: 'healthy', newStatus: 'down', reason: 'left' });
    // stop() released every timer and socket: the process ends on its own.
    const exit = await cluster.nodes[2].child.exited;
    expect(exit).to.deep.equal({ code: 0, signal: null });
    await waitFor(() => vc.snapshot().writer.alive === false, { what: 'c to release its region' });
    expect(vc.inspect().node.writer.state).to.equal('stopped');
    const name = cluster.cluster;
    expect(codeOf(() => ClusterView.open({ cluster: name, serverId: 'c' }))).to.equal('ERR_REGION_NOT_FOUND');
  });

  it('exchanges metadata, answers explain() with each peer view, and acknowledges client migrations', async () => {
    cluster = await startCluster(3);
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
    const [a, b] = cluster.nodes.map((n) => n.child);
    a.send({ cmd: 'metadata', metadata: { zone: 'eu-1', role: 'api' } });
    await b.next((m: { event?: string; serverId?: string }) => m.event === 'peerMetadata' && m.serverId === 'a');
    await waitFor(async () => (await info(cluster!, 'c')).metadata.a?.zone === 'eu-1', {
      what: 'c to store a metadata',
    });
    expect((await info(cluster, 'b')).metadata.a).to.deep.equal({ zone: 'eu-1', role: 'api' });

    a.send({ cmd: 'metadata', metadata: { blob: 'x'.repeat(600) } });
    const refused = await a.next<{ metadataSet?: boolean; code?: string }>(
      (m) => m.metadataSet !== undefined && !m.metadataSet,
    );
    expect(refused.code).to.equal('ERR_METADATA_TOO_LARGE');

    a.send({ cmd: 'explain', peer: 'c', id: 1 });
    const { explanation } = await a.next<{
      id: number;
      explanation: { local: { status: string }; peers: Record<string, { status?: string }> };
    }>((m) => m.id === 1);
    expect(explanation.local.status).to.equal('healthy');
    expect(explanation.peers.b.status).to.equal('healthy');
    expect(explanation.peers.c.status).to.equal('healthy'); // c about itself

    a.send({ cmd: 'migrate', id: 2, clientId: 'client-42', from: 'a', to: 'b', reason: 'load-balancing' });
    const { result } = await a.next<{ id: number; result: { acked: string[]; missing: string[] } }>((m) => m.id === 2);
    expect(result.acked.sort()).to.deep.equal(['b', 'c']);
    expect(result.missing).to.deep.equal([]);
    const got = await b.next<{ event?: string; clientId?: string; origin?: string; reason?: string }>(
      (m) => m.event === 'clientMigration',
    );
    expect(got).to.include({ clientId: 'client-42', origin: 'a', reason: 'load-balancing' });
  });

  it('explain() shows a one-sided view: a peer that cannot reach c reports it while a still sees c', async () => {
    cluster = await startCluster(3);
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
    cluster.nodes[2].child.proc.kill('SIGSTOP'); // c freezes: everyone sees it go silent
    try {
      const a = cluster.nodes[0].child;
      await waitFor(() => cluster!.view('b').getPeer('c')?.status !== 'healthy', { what: 'b to suspect c' });
      a.send({ cmd: 'explain', peer: 'c', id: 3 });
      const { explanation } = await a.next<{
        id: number;
        explanation: { peers: Record<string, { status?: string; error?: string }> };
      }>((m) => m.id === 3);
      expect(explanation.peers.b.status).to.be.oneOf(['suspected', 'down']);
      expect(explanation.peers.c.error).to.match(/no answer/);
    } finally {
      cluster.nodes[2].child.proc.kill('SIGCONT');
    }
  });
});

describe('authentication and rejection', () => {
  let c: Cluster;
  before(async () => {
    // a knows a peer b that is not running: this test plays b, and attackers.
    c = await startCluster(
      1,
      { heartbeatIntervalMs: 200, heartbeatTimeoutMs: 200, peers: ['b@127.0.0.1:9'] },
      // Closed membership: an unknown id with the right secret is refused (the default admits it).
      { handshakeTimeoutMs: 800, allowDynamicJoin: false },
    );
  });
  after(async () => c.stopAll());

  function ctx(over: Partial<ConnectionContext> = {}): ConnectionContext {
    return {
      cluster: c.cluster,
      serverId: 'b',
      listen: '127.0.0.1:1',
      keyring: new Keyring([SECRET]),
      handshakeTimeoutMs: 2000,
      idleTimeoutMs: 5000,
      maxFrameBytes: 1 << 20,
      admit: () => null,
      ...over,
    };
  }
  function dialA(over: Partial<ConnectionContext> = {}): { conn: Connection; socket: Socket; writes: Buffer[] } {
    const socket = connect({ host: '127.0.0.1', port: c.ports[0] });
    const writes: Buffer[] = [];
    const orig = socket.write.bind(socket) as (b: Buffer) => boolean;
    (socket as unknown as { write: (b: Buffer) => boolean }).write = (b: Buffer) => {
      writes.push(Buffer.from(b));
      return orig(b);
    };
    return { conn: new Connection(socket, 'client', ctx(over)), socket, writes };
  }
  async function outcome(conn: Connection): Promise<{ open: boolean; error?: string }> {
    return new Promise((resolve) => {
      conn.once('open', () => resolve({ open: true }));
      conn.once('close', ({ error }) => resolve({ open: false, error }));
    });
  }
  async function rejectedCount(reason: string): Promise<number> {
    return (await info(c, 'a')).rejected[reason];
  }

  it('a wrong secret gets an Error frame and a close; the node counts it and stays up', async () => {
    const before = await rejectedCount('auth_failed');
    const { conn } = dialA({ keyring: new Keyring(['another-secret-entirely-000']) });
    const errors: string[] = [];
    conn.on('remoteError', (e) => errors.push(e.code));
    const r = await outcome(conn);
    expect(r.open).to.equal(false);
    expect(errors).to.deep.equal(['ERR_AUTH']);
    await waitFor(async () => (await rejectedCount('auth_failed')) === before + 1, { what: 'auth_failed counted' });
  });

  it('a wrong cluster and an unknown id are refused with their own codes', async () => {
    const wrongCluster = dialA({ cluster: 'elsewhere' });
    const e1: string[] = [];
    wrongCluster.conn.on('remoteError', (e) => e1.push(e.code));
    expect((await outcome(wrongCluster.conn)).open).to.equal(false);
    expect(e1).to.deep.equal(['ERR_WRONG_CLUSTER']);
    const unknown = dialA({ serverId: 'zz' });
    const e2: string[] = [];
    unknown.conn.on('remoteError', (e) => e2.push(e.code));
    expect((await outcome(unknown.conn)).open).to.equal(false);
    expect(e2).to.deep.equal(['ERR_UNKNOWN_PEER']);
    expect(await rejectedCount('wrong_cluster')).to.be.at.least(1);
    expect(await rejectedCount('unknown_peer')).to.be.at.least(1);
  });

  it('an unknown major protocol version gets an Error frame, not a hang', async () => {
    const socket = connect({ host: '127.0.0.1', port: c.ports[0] });
    const { encodeMessage } = await import('../lib/protocol/codec.js');
    const { decodeMessage } = await import('../lib/protocol/codec.js');
    const { FrameDecoder } = await import('../lib/protocol/frame.js');
    socket.write(
      encodeMessage({
        type: MessageType.Hello,
        body: {
          version: [9, 0],
          cluster: c.cluster,
          serverId: 'b',
          listen: 'x:1',
          nonce: Buffer.alloc(32),
          keyIds: ['k'],
        },
      }),
    );
    const dec = new FrameDecoder();
    const reply = await new Promise<unknown>((resolve) =>
      socket.on('data', (d) => dec.push(d).forEach((f) => resolve(decodeMessage(f)))),
    );
    expect(reply).to.deep.include({ type: MessageType.Error });
    expect((reply as { body: { code: string } }).body.code).to.equal('ERR_VERSION');
    await new Promise((r) => socket.once('close', r));
  });

  it('a replayed, a reordered and a tampered frame each close the connection and are counted', async () => {
    for (const attack of ['replay', 'reorder', 'tamper'] as const) {
      const before = await rejectedCount('auth_failed');
      const { conn, socket, writes } = dialA();
      expect((await outcome(conn)).open).to.equal(true);
      // Two valid authenticated frames, captured as they go out.
      const n0 = writes.length;
      conn.send({ type: MessageType.HeartbeatPing, body: { serverId: 'b', timestamp: 1, sequence: 1 } });
      conn.send({ type: MessageType.HeartbeatPing, body: { serverId: 'b', timestamp: 2, sequence: 2 } });
      const [f1, f2] = writes.slice(n0);
      const closed = new Promise((r) => socket.once('close', r));
      if (attack === 'replay') socket.write(f1);
      if (attack === 'reorder') {
        // Re-sending f2 then f1 out of order: f2 is a replay of a sealed sequence, f1 too.
        socket.write(Buffer.concat([f2, f1]));
      }
      if (attack === 'tamper') {
        const t = Buffer.from(f2);
        t[6] ^= 0x01;
        conn.send({ type: MessageType.HeartbeatPing, body: { serverId: 'b', timestamp: 3, sequence: 3 } });
        socket.write(t);
      }
      await closed;
      await waitFor(async () => (await rejectedCount('auth_failed')) > before, { what: `${attack} counted` });
    }
    // Still serving: b (a legitimate node) keeps its connection... here a fresh legit client still gets in.
    const legit = dialA();
    expect((await outcome(legit.conn)).open).to.equal(true);
    legit.conn.close();
  });
});

describe('hostile bytes on the listener', () => {
  let c: Cluster;
  before(async () => {
    c = await startCluster(1, { peers: [] }, { handshakeTimeoutMs: 500, maxFrameBytes: 4096 });
  });
  after(async () => c.stopAll());

  async function send(bytes: Buffer | null, drip = false): Promise<number> {
    const socket = connect({ host: '127.0.0.1', port: c.ports[0] });
    await new Promise((r) => socket.once('connect', r));
    const t0 = Date.now();
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.on('error', () => undefined);
    if (drip) {
      const timer = setInterval(() => socket.write(Buffer.from([0])), 100);
      await closed;
      clearInterval(timer);
    } else {
      if (bytes) socket.write(bytes);
      await closed;
    }
    return Date.now() - t0;
  }

  it('garbage, an oversized length prefix, a truncated frame and a slow drip are all closed; the node stays up and bounded', async () => {
    const rng = (seed: number) => () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) & 0xff;
    const r = rng(7);
    const garbage = Buffer.from(Array.from({ length: 300 }, r));
    await send(garbage);
    const huge = Buffer.alloc(8);
    huge.writeUInt32BE(0xfffffff0, 0);
    await send(huge);
    const truncated = Buffer.alloc(10);
    truncated.writeUInt32BE(100, 0);
    const tTrunc = await send(truncated); // waits for the handshake timeout
    const tDrip = await send(null, true);
    console.log(`      truncated frame closed after ${tTrunc} ms, 1-byte-per-100-ms drip after ${tDrip} ms`);
    // Many more random streams, to look for crashes or growth.
    for (let i = 0; i < 40; i++) await send(Buffer.from(Array.from({ length: 64 + (i % 7) * 50 }, rng(i + 100))));
    const after = await info(c, 'a');
    expect(after.sockets).to.equal(0);
    expect(after.rejected.bad_frame + after.rejected.timeout + after.rejected.auth_failed).to.be.at.least(40);
    expect(after.rss).to.be.lessThan(300 * 1024 * 1024);
  });
});

describe('local-health awareness', () => {
  it('a 3 s stall of the observer marks no peer suspected or down; the same silence from a peer does count', async function () {
    this.timeout(60_000);
    // suspectAfter 1: a single miss would already be visible as a transition.
    cluster = await startCluster(3, {
      heartbeatIntervalMs: 200,
      heartbeatTimeoutMs: 300,
      suspectAfter: 1,
      downAfter: 3,
    });
    for (const id of cluster.ids) await waitForAll(cluster, id, 'healthy');
    const a = cluster.nodes[0].child;
    a.messages.length = 0;
    a.send({ cmd: 'stall', ms: 3000 });
    await a.next((m: { stalled?: boolean }) => m.stalled === true, 10_000);
    // Let a few on-time ticks run after the stall.
    const ia = await waitFor(async () => {
      const x = await info(cluster!, 'a');
      return x.stalledTicks >= 1 ? x : undefined;
    });
    const deadline = Date.now() + 1000;
    await waitFor(() => Date.now() > deadline, { what: 'a second of normal ticks' });
    const ownChanges = a.messages.filter((m) => (m as { event?: string }).event === 'peerStatusChanged');
    expect(ownChanges, JSON.stringify(ownChanges)).to.deep.equal([]);
    expect(ia?.stalledTicks).to.be.at.least(1);
    // Peers saw a silent: suspected (and maybe down), then healthy again.
    const b = cluster.nodes[1].child;
    const bSawA = b.messages
      .filter((m) => (m as { serverId?: string }).serverId === 'a')
      .map((m) => (m as { newStatus: string }).newStatus);
    expect(bSawA[0]).to.equal('suspected');
    await waitForAll(cluster, 'b', 'healthy');
  });
});

describe('restart and dynamic join', () => {
  it('an unknown node with the right secret joins (allowDynamicJoin defaults to true)', async () => {
    const key = uniqueKey('j');
    const [pa, pb] = await freePorts(2);
    const a = await startNode({
      cluster: key.cluster,
      serverId: 'a',
      listen: `127.0.0.1:${pa}`,
      heartbeatIntervalMs: 100,
    });
    const b = await startNode({
      cluster: key.cluster,
      serverId: 'b',
      listen: `127.0.0.1:${pb}`,
      peers: [`127.0.0.1:${pa}`], // by address only: b learns a's id at handshake
      heartbeatIntervalMs: 100,
    });
    try {
      await waitFor(
        () => {
          const va = ClusterView.open({ cluster: key.cluster, serverId: 'a' });
          const vb = ClusterView.open({ cluster: key.cluster, serverId: 'b' });
          try {
            return va.getPeer('b')?.status === 'healthy' && vb.getPeer('a')?.address === `127.0.0.1:${pa}`;
          } finally {
            va.close();
            vb.close();
          }
        },
        { what: 'a to admit b and b to learn a' },
      );
    } finally {
      for (const n of [a, b]) {
        n.child.send({ cmd: 'stop' });
        await n.child.exited;
      }
      const { unlinkRegion } = await import('../lib/region/index.js');
      unlinkRegion({ cluster: key.cluster, serverId: 'a' });
      unlinkRegion({ cluster: key.cluster, serverId: 'b' });
    }
  });
});
