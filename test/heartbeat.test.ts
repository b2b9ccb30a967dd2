// The heartbeat exchange: one per pair and interval between 2.3 nodes (the dialing side pings, the
// other answers and learns the round trip from the ping), the status each pong reports, and the
// monitor judging silences as of one interval after its previous tick, so a tick that runs a
// millisecond later than the one before does not count a miss for a peer whose pong was on time.
import { expect } from 'chai';
import FakeTimers from '@sinonjs/fake-timers';
import { connect } from 'node:net';
import { ClusterNode } from '../lib/node.js';
import { HeartbeatMonitor } from '../lib/heartbeat.js';
import { Keyring } from '../lib/protocol/auth.js';
import { MessageType, type Message } from '../lib/protocol/messages.js';
import { Connection } from '../lib/transport/connection.js';
import { SECRET } from '../harness/cluster.js';
import { uniqueKey } from '../harness/names.js';
import { seededRandom } from '../harness/random.js';
import { framesOf, recordingRelay } from '../harness/relay.js';
import { waitFor } from '../harness/wait.js';

describe('heartbeat exchange', () => {
  const nodes: ClusterNode[] = [];
  const closers: (() => unknown)[] = [];
  afterEach(async () => {
    for (const c of closers.splice(0)) await c();
    await Promise.all(nodes.splice(0).map((n) => n.stop()));
  });

  it('between two 2.3 nodes only the dialing side pings; the other answers and shows the round trip the ping carries', async function () {
    this.timeout(30_000);
    const { cluster } = uniqueKey('hb');
    let bPort = 0;
    const relay = await recordingRelay(() => bPort);
    closers.push(() => relay.close());
    const b = await ClusterNode.start(
      { cluster, serverId: 'b', listen: '127.0.0.1:0', peers: [], heartbeatIntervalMs: 100 },
      { secret: SECRET, unlinkOnStop: true },
    );
    nodes.push(b);
    bPort = Number(b.address.split(':')[1]);
    const a = await ClusterNode.start(
      { cluster, serverId: 'a', listen: '127.0.0.1:0', peers: [`b@127.0.0.1:${relay.port}`], heartbeatIntervalMs: 100 },
      { secret: SECRET, unlinkOnStop: true },
    );
    nodes.push(a);
    const rtt = (n: ClusterNode, id: string) => (n.registry.hasPeer(id) ? n.registry.readConnection(id).rttMs : null);
    await waitFor(() => rtt(a, 'b') !== null && rtt(b, 'a') !== null, { what: 'both ends to know the round trip' });
    const session = relay.sessions[0];
    const count = () => {
      const types = (chunks: Buffer[]) => framesOf(chunks).map((f) => f.type);
      const up = types(session.toServer);
      const down = types(session.toClient);
      const n = (ts: number[], t: number) => ts.filter((x) => x === t).length;
      return {
        pingsAtoB: n(up, MessageType.HeartbeatPing),
        pongsBtoA: n(down, MessageType.HeartbeatPong),
        pingsBtoA: n(down, MessageType.HeartbeatPing),
        pongsAtoB: n(up, MessageType.HeartbeatPong),
      };
    };
    const before = count();
    await waitFor(() => count().pingsAtoB >= before.pingsAtoB + 10, { what: '10 more pings from a' });
    const after = count();
    expect(relay.sessions, 'one connection').to.have.length(1);
    expect(after.pingsAtoB - before.pingsAtoB).to.be.at.least(10);
    expect(after.pingsBtoA, 'b never pings over the connection a dialed').to.equal(0);
    expect(after.pongsAtoB, 'so a never answers one').to.equal(0);
    // Each ping is answered (the last one may still be on its way when the capture was read).
    expect(after.pongsBtoA).to.be.within(after.pingsAtoB - 1, after.pingsAtoB);
    expect(b.registry.getPeer('a')?.status, 'a stays healthy in b with pings alone').to.equal('healthy');
    expect(a.registry.getPeer('b')?.status).to.equal('healthy');
    expect(rtt(b, 'a'), "b's round trip to a, from a's pings").to.be.greaterThan(0);
  });

  it('a pong reports the node as degraded once a peer is down: the status is recomputed on a change', async function () {
    this.timeout(30_000);
    const { cluster } = uniqueKey('hb');
    // c is unreachable: it goes suspected after 2 missed heartbeats, then down after 5.
    const node = await ClusterNode.start(
      {
        cluster,
        serverId: 'a',
        listen: '127.0.0.1:0',
        peers: ['b@127.0.0.1:9', 'c@127.0.0.1:8'],
        heartbeatIntervalMs: 50,
      },
      { secret: SECRET, unlinkOnStop: true },
    );
    nodes.push(node);
    const [host, port] = node.address.split(':');
    const b = new Connection(connect({ host, port: Number(port) }), 'client', {
      cluster,
      serverId: 'b',
      listen: '127.0.0.1:9',
      keyring: new Keyring([SECRET]),
      handshakeTimeoutMs: 2000,
      idleTimeoutMs: 5000,
      maxFrameBytes: 1 << 20,
      admit: () => null,
    });
    closers.push(() => b.destroy());
    const statuses: string[] = [];
    b.on('message', (m: Message) => {
      if (m.type === MessageType.HeartbeatPong) statuses.push(m.body.status);
    });
    await new Promise<void>((resolve, reject) => {
      b.once('open', () => resolve());
      b.once('close', ({ error }) => reject(new Error(`b was refused: ${error}`)));
    });
    let sequence = 0;
    const ping = () =>
      b.send({ type: MessageType.HeartbeatPing, body: { serverId: 'b', timestamp: Date.now(), sequence: ++sequence } });
    ping();
    await waitFor(() => statuses.length > 0, { what: 'the first pong' });
    expect(statuses[0], 'before c misses a heartbeat').to.equal('ok');
    const timer = setInterval(ping, 20);
    closers.push(() => clearInterval(timer));
    await waitFor(() => node.registry.getPeer('c')?.status === 'down', { what: 'c down', timeoutMs: 10_000 });
    const seen = statuses.length;
    await waitFor(() => statuses.length > seen, { what: 'a pong after c went down' });
    expect(statuses[statuses.length - 1]).to.equal('degraded');
  });
});

describe('heartbeat monitor (fake timers)', () => {
  let clock: ReturnType<typeof FakeTimers.install> | undefined;
  afterEach(() => clock?.uninstall());

  /** A monitor with one pinged peer answering each ping `rttMs` later; the fixed rule judges the silence. */
  function run(opts: { jitterMs: [number, number]; ticks: number; answerUntilTick: number }) {
    clock = FakeTimers.install({ now: 1_000_000, toFake: ['setTimeout', 'clearTimeout', 'Date'] });
    const intervalMs = 1000;
    const timeoutMs = 1000;
    let lastHeard = Date.now();
    let ticks = 0;
    const missedAt: number[] = [];
    const judgedLate: number[] = [];
    const missedLate: number[] = [];
    const m = new HeartbeatMonitor(intervalMs, {
      peers: () => ['p'],
      connected: () => true,
      sendPing: () => {
        if (ticks <= opts.answerUntilTick) setTimeout(() => (lastHeard = Date.now()), 1); // the pong, 1 ms later
      },
      overdue: (_id, lateMs) => {
        const overdue = Date.now() - lateMs - lastHeard > timeoutMs;
        if (overdue) judgedLate.push(lateMs);
        return overdue;
      },
      markMissed: (_id, lateMs) => {
        missedAt.push(ticks);
        missedLate.push(lateMs);
      },
      publishLag: () => void ticks++,
    });
    const random = seededRandom(7);
    m.start();
    for (let i = 0; i < opts.ticks; i++) {
      // Wall time moves against the timers by a few ms between ticks: a tick runs early or late.
      const [lo, hi] = opts.jitterMs;
      clock.setSystemTime(Date.now() + Math.round(lo + random() * (hi - lo)));
      clock.tick(intervalMs);
    }
    m.stop();
    return { ticks, missedAt, judgedLate, missedLate };
  }

  it('a peer whose pong follows each ping by a millisecond is never overdue, though ticks run up to 1 ms early or 3 ms late', () => {
    const r = run({ jitterMs: [-1, 3], ticks: 300, answerUntilTick: Infinity });
    expect(r.ticks).to.be.at.least(299);
    expect(r.missedAt, 'misses counted for a peer that answered every ping').to.deep.equal([]);
  });

  it('once the pongs stop, every later tick counts a miss', () => {
    const r = run({ jitterMs: [-1, 3], ticks: 20, answerUntilTick: 10 });
    // The ping of tick 10 was answered; tick 11's was not, so tick 12 is the first to find silence.
    expect(r.missedAt).to.deep.equal([12, 13, 14, 15, 16, 17, 18, 19, 20].filter((t) => t <= r.ticks));
    // A miss is recorded with the lateness it was judged at (the φ detector computes its status from it).
    expect(r.missedLate).to.deep.equal(r.judgedLate);
    expect(
      r.missedLate.some((x) => x !== 0),
      'the jitter made some ticks early or late',
    ).to.equal(true);
  });
});
