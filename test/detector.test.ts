// The φ accrual failure detector (lib/detector.ts) and the fixed rule it is an
// alternative to: the φ arithmetic against values computed independently, the
// arrival window, the registry's verdicts under fake timers (the real
// HeartbeatMonitor drives them, as in a node), the config, what the region
// publishes and what a reader in another process computes from it, and two
// real nodes of which one is killed.
import { expect } from 'chai';
import fc from 'fast-check';
import FakeTimers from '@sinonjs/fake-timers';
import { ArrivalWindow, phi, statusForPhi, type PhiDetectorSettings } from '../lib/detector.js';
import { HeartbeatMonitor } from '../lib/heartbeat.js';
import { PeerRegistry, type PeerStatusChange } from '../lib/registry/registry.js';
import { parseConfig } from '../lib/registry/config.js';
import { ConfigError } from '../lib/errors.js';
import { ClusterView, type Inspection, type PeerDetails } from '../lib/view.js';
import { uniqueKey } from '../harness/names.js';
import { seededRandom } from '../harness/random.js';
import { forkFixture } from '../harness/fixtures.js';
import { startCluster, waitForAll, type Cluster } from '../harness/cluster.js';
import { waitFor } from '../harness/wait.js';

const cleanups: (() => void | Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** The default φ settings at a 1 s interval, as parseConfig resolves them. */
const PHI_1S: PhiDetectorSettings = {
  kind: 'phi',
  threshold: 8,
  downThreshold: 40,
  windowSize: 100,
  minStdDevMs: 250,
  acceptablePauseMs: 1000,
};

function registry(extra: Record<string, unknown> = {}): PeerRegistry {
  const key = uniqueKey('det');
  const r = new PeerRegistry(
    parseConfig({
      cluster: key.cluster,
      serverId: key.serverId,
      listen: '127.0.0.1:7101',
      peers: ['b@127.0.0.1:7102'],
      capacity: 4,
      ...extra,
    }),
  );
  r.initialize();
  cleanups.push(() => r.close({ unlink: true }));
  return r;
}

describe('φ accrual detector: arithmetic', () => {
  // Computed separately (Python, float64) in the form Akka writes it: e = exp(-y (1.5976 + 0.070566 y²)),
  // φ = -log10(e / (1 + e)) past the mean and -log10(1 - 1 / (1 + e)) before it, mean 2000 (1000 + a
  // 1000 ms pause), deviation 250; and the exact normal tail -log10(erfc(y/√2)/2) beside it.
  const cases: [silence: number, logistic: number, normal: number][] = [
    [1000, 7.963311608865193e-6, 1.3754863381099472e-5],
    [2000, 0.3010299956639812, 0.3010299956639812],
    [2500, 1.6428278854871123, 1.6430160801409368],
    [3000, 4.736694582705181, 4.499334907556478],
    [3312, 8.07078104372042, 7.114188608623809],
    [4562, 40.09389036759137, 24.21890007114356],
    [5000, 61.282967751917475, 32.750439161191856],
  ];

  it('equals the logistic approximation as Akka writes it, and the normal tail within 0.04 up to 2 deviations', () => {
    for (const [silence, logistic, normal] of cases) {
      const got = phi(silence, 1000, 0, { minStdDevMs: 250, acceptablePauseMs: 1000 });
      expect(got, `φ(${silence})`).to.be.closeTo(logistic, Math.max(1e-12, logistic * 1e-12));
      if (silence <= 2500) expect(Math.abs(got - normal), `φ(${silence}) vs the normal tail`).to.be.below(0.04);
    }
    // The window's own deviation counts once it is above the floor: (2200 - 2000) / 100 is y = 2 as well.
    expect(phi(2200, 1000, 100, { minStdDevMs: 50, acceptablePauseMs: 1000 })).to.be.closeTo(1.6428278854871123, 1e-12);
  });

  it('is finite, non-negative and non-decreasing in the silence, and lower for a wider window', () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e9, noNaN: true }),
        fc.double({ min: 0, max: 1e6, noNaN: true }),
        fc.double({ min: 1, max: 1e4, noNaN: true }),
        fc.double({ min: 0, max: 1e4, noNaN: true }),
        fc.double({ min: 0, max: 1e4, noNaN: true }),
        (silence, more, mean, sd, pause) => {
          const s = { minStdDevMs: 10, acceptablePauseMs: pause };
          const a = phi(silence, mean, sd, s);
          const b = phi(silence + more, mean, sd, s);
          expect(Number.isFinite(a) && a >= 0).to.equal(true);
          expect(b).to.be.at.least(a);
          // Past the expected arrival a wider spread makes the same silence less surprising.
          if (silence > mean + pause) expect(phi(silence, mean, sd + 100, s)).to.be.at.most(a);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('maps φ to a status: Suspected from the threshold, Down from the down threshold', () => {
    expect(statusForPhi(7.99, PHI_1S)).to.equal('healthy');
    expect(statusForPhi(8, PHI_1S)).to.equal('suspected');
    expect(statusForPhi(39.9, PHI_1S)).to.equal('suspected');
    expect(statusForPhi(40, PHI_1S)).to.equal('down');
  });
});

describe('φ accrual detector: arrival window', () => {
  it('starts from two seeds (mean the interval, deviation a quarter of it) that real samples push out', () => {
    const w = new ArrivalWindow(3, 1000);
    expect([w.meanMs, w.stdDevMs, w.realSamples]).to.deep.equal([1000, 250, 0]);
    expect(w.arrival(10_000)).to.equal(false); // the first frame has no gap before it
    expect(w.arrival(11_000)).to.equal(true);
    expect(w.meanMs).to.equal(1000); // 750, 1250, 1000
    expect(w.stdDevMs).to.be.closeTo(Math.sqrt((250 ** 2 * 2) / 3), 1e-9);
    w.arrival(12_000);
    w.arrival(13_000);
    expect([w.meanMs, w.stdDevMs, w.realSamples]).to.deep.equal([1000, 0, 3]);
  });

  it('counts a round once: a frame less than half an interval after the last counted one is no sample', () => {
    const w = new ArrivalWindow(10, 1000);
    w.arrival(0);
    expect(w.arrival(300)).to.equal(false); // the pong to our ping, 300 ms after the peer's ping
    expect(w.arrival(1000)).to.equal(true);
    expect(w.arrival(1499)).to.equal(false);
    expect(w.arrival(2000)).to.equal(true);
    expect(w.realSamples).to.equal(2);
    // A gap the caller says is an outage (the peer was down) restarts the rhythm without a sample.
    expect(w.arrival(60_000, false)).to.equal(false);
    expect(w.arrival(61_000)).to.equal(true);
    expect(w.realSamples).to.equal(3);
    expect(w.meanMs).to.equal(1000);
  });

  it('has the mean and population deviation of its last windowSize samples, seeds included while they last', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 20 }),
        fc.array(fc.double({ min: 500, max: 5000, noNaN: true }), { maxLength: 120 }),
        (size, gaps) => {
          const w = new ArrivalWindow(size, 1000);
          let t = 1_000_000;
          w.arrival(t);
          for (const g of gaps) w.arrival((t += g));
          const kept = [750, 1250, ...gaps].slice(-size);
          const mean = kept.reduce((a, b) => a + b, 0) / kept.length;
          const sd = Math.sqrt(kept.reduce((a, b) => a + (b - mean) ** 2, 0) / kept.length);
          expect(w.meanMs).to.be.closeTo(mean, 1e-6);
          expect(w.stdDevMs).to.be.closeTo(sd, 1e-3);
          expect(w.realSamples).to.equal(Math.min(gaps.length, size));
        },
      ),
      { numRuns: 500 },
    );
  });
});

/**
 * A registry judged by the real HeartbeatMonitor under fake timers, as a node wires them. Its first
 * tick is at start + interval; `arrivals` are absolute fake times at which peer b is heard.
 */
function drive(clock: ReturnType<typeof FakeTimers.install>, r: PeerRegistry, arrivals: number[], untilMs: number) {
  const changes: (PeerStatusChange & { at: number })[] = [];
  r.on('peerStatusChanged', (c) => changes.push({ ...c, at: Date.now() }));
  const m = new HeartbeatMonitor(r.config.heartbeatIntervalMs, {
    peers: () => ['b'],
    connected: () => true,
    sendPing: () => undefined,
    overdue: (id, lateMs) => r.isOverdue(id, lateMs),
    markMissed: (id, lateMs) => r.markHeartbeatMissed(id, lateMs),
    publishLag: () => undefined,
  });
  m.start();
  for (const at of arrivals) setTimeout(() => r.markHeartbeatReceived('b'), at - Date.now());
  return {
    changes,
    run(): void {
      clock.tick(untilMs - Date.now());
      m.stop();
    },
  };
}

describe('φ accrual detector: verdicts in the registry (fake timers)', () => {
  let clock: ReturnType<typeof FakeTimers.install>;
  const START = 1_764_150_000_000;
  beforeEach(() => {
    clock = FakeTimers.install({
      now: START,
      toFake: ['Date', 'setTimeout', 'clearTimeout', 'setInterval', 'clearInterval'],
    });
  });
  afterEach(() => clock.uninstall());

  /** Rounds k = 0..n-1: the peer's ping half-way between our ticks and its pong to ours 200 ms later. */
  const rounds = (n: number, offset = 500) =>
    Array.from({ length: n }, (_, k) => [START + offset + 1000 * k, START + offset + 200 + 1000 * k]).flat();

  it('never suspects regular arrivals, and learns their rhythm (one sample per round)', () => {
    const r = registry({ detector: { kind: 'phi' } });
    const d = drive(clock, r, rounds(300), START + 300_000);
    d.run();
    expect(d.changes).to.deep.equal([]);
    const s = r.readSlot('b');
    expect(s.phiSamples).to.equal(100);
    expect(s.phiMeanMs).to.be.closeTo(1000, 1e-6);
    expect(s.phiStdDevMs).to.be.below(1);
  });

  it('under ±40% jitter suspects no one for 300 rounds, yet marks a silent peer suspected, then down', () => {
    const random = seededRandom(16);
    const jittered = Array.from({ length: 300 }, (_, k) => START + 500 + 1000 * k + (random() * 800 - 400));
    const last = jittered[jittered.length - 1];
    const r = registry({ detector: { kind: 'phi' } });
    const d = drive(clock, r, jittered, last + 15_000);
    d.run();
    expect(d.changes.map((c) => [c.newStatus, c.reason])).to.deep.equal([
      ['suspected', 'missed-heartbeats'],
      ['down', 'missed-heartbeats'],
    ]);
    // The window saw the spread: the same silence is judged later than for regular arrivals.
    const s = r.readSlot('b');
    expect(s.phiStdDevMs).to.be.within(250, 450);
    const suspectedAfter = d.changes[0].at - last;
    const downAfter = d.changes[1].at - last;
    expect(suspectedAfter, 'suspicion waits for the wider spread').to.be.above(3312);
    expect(downAfter).to.be.within(4562, 8000);
  });

  it('on silence: Suspected at the first tick with φ ≥ 8, Down at the first with φ ≥ 40, misses counting silent ticks', () => {
    const r = registry({ detector: { kind: 'phi' } });
    const arrivals = rounds(100).filter((_, i) => i % 2 === 0); // pings only, at START + 500 + 1000 k
    const last = arrivals[arrivals.length - 1];
    const d = drive(clock, r, arrivals, last + 10_000);
    d.run();
    // Ticks fall at silences 500, 1500, 2500, 3500, 4500, 5500 ms; the window is 1000 ms with no spread, so
    // the deviation is the floor (250) and the expected arrival 1000 + 1000: φ(2500) = 1.64, φ(3500) = 10.8,
    // φ(4500) = 37.6, φ(5500) = 93.9.
    expect(d.changes.map((c) => [c.newStatus, c.at - last, c.missedHeartbeats])).to.deep.equal([
      ['suspected', 3500, 3],
      ['down', 5500, 5],
    ]);
    expect(r.phiOf('b')).to.be.above(1000);
    expect(r.readSlot('b').missedHeartbeats).to.equal(9); // ticks at silences 1500 … 9500
  });

  it('no frame for 2.9 s (a 2.5 s stall and the wait for its next ping): the fixed rule suspects, φ does not', () => {
    const verdicts: string[][] = [];
    for (const detector of [undefined, { kind: 'phi' }]) {
      const r = registry(detector ? { detector } : {});
      // Pings at START + 500 + 1000 k for 60 rounds, then none for 2.9 s, then regular again: the ticks
      // at silences 1500 and 2500 are two misses (suspected under the fixed rule), φ(2500) is 1.64.
      const before = Array.from({ length: 60 }, (_, k) => START + 500 + 1000 * k);
      const resume = before[before.length - 1] + 2900;
      const after = Array.from({ length: 20 }, (_, k) => resume + 1000 * k);
      const d = drive(clock, r, [...before, ...after], after[after.length - 1] + 500);
      d.run();
      verdicts.push(d.changes.map((c) => c.newStatus));
      r.removeAllListeners();
    }
    expect(verdicts).to.deep.equal([['suspected', 'healthy'], []]);
  });

  it('recovers on a heartbeat: healthy, no misses, and the outage is no sample', () => {
    const r = registry({ detector: { kind: 'phi' } });
    const arrivals = rounds(50).filter((_, i) => i % 2 === 0);
    const last = arrivals[arrivals.length - 1];
    const d = drive(clock, r, arrivals, last + 20_000);
    d.run();
    expect(r.getPeer('b')?.status).to.equal('down');
    const before = r.readSlot('b');
    r.markHeartbeatReceived('b');
    const back = r.readSlot('b');
    expect([back.status, back.missedHeartbeats, back.statusReason]).to.deep.equal([0, 0, 'heartbeat']);
    expect([back.phiSamples, back.phiMeanMs]).to.deep.equal([before.phiSamples, before.phiMeanMs]);
    expect(r.phiOf('b')).to.be.below(0.01);
    clock.tick(1000);
    r.markHeartbeatReceived('b');
    expect(r.readSlot('b').phiSamples).to.equal(before.phiSamples + 1);
  });

  it('bootstrap: a new peer is judged by the seeds (mean the interval, deviation a quarter) until it is heard', () => {
    const r = registry({ detector: { kind: 'phi' } });
    const s = r.readSlot('b');
    expect([s.phiMeanMs, s.phiStdDevMs, s.phiSamples]).to.deep.equal([1000, 250, 0]);
    // Never heard: the silence counts from when it was added.
    clock.tick(3312);
    expect(r.phiOf('b')).to.be.closeTo(8.07078104372042, 1e-9);
    expect(r.isOverdue('b')).to.equal(true);
    r.markHeartbeatReceived('b'); // the first frame: no gap before it, no sample
    expect(r.readSlot('b').phiSamples).to.equal(0);
    clock.tick(1000);
    r.markHeartbeatReceived('b');
    const t = r.readSlot('b');
    expect([t.phiSamples, t.phiMeanMs]).to.deep.equal([1, 1000]);
    expect(t.phiStdDevMs).to.be.closeTo(Math.sqrt((2 * 250 ** 2) / 3), 1e-9);
  });

  it('the fixed detector keeps its rule and publishes no φ', () => {
    const r = registry();
    const arrivals = rounds(20).filter((_, i) => i % 2 === 0);
    const last = arrivals[arrivals.length - 1];
    const d = drive(clock, r, arrivals, last + 6000);
    d.run();
    expect(d.changes.map((c) => [c.newStatus, c.at - last])).to.deep.equal([
      ['suspected', 2500],
      ['down', 5500],
    ]);
    expect(r.phiOf('b')).to.equal(null);
    expect(r.readSlot('b').phiMeanMs).to.equal(0);
  });
});

describe('φ accrual detector: config', () => {
  const base = { cluster: 'c', serverId: 'a', listen: '127.0.0.1:7101' };
  function fieldOf(detector: unknown, extra: Record<string, unknown> = {}): string {
    try {
      parseConfig({ ...base, ...extra, detector });
    } catch (err) {
      expect(err).to.be.instanceOf(ConfigError);
      expect((err as Error).message).to.contain(`"${(err as ConfigError).field}"`);
      return (err as ConfigError).field;
    }
    throw new Error(`accepted ${JSON.stringify(detector)}`);
  }

  it('resolves the defaults, scaled to the heartbeat interval', () => {
    expect(parseConfig({ ...base, detector: { kind: 'phi' } }).detector).to.deep.equal(PHI_1S);
    expect(
      parseConfig({ ...base, heartbeatIntervalMs: 200, detector: { kind: 'phi', threshold: 10 } }).detector,
    ).to.deep.equal({
      kind: 'phi',
      threshold: 10,
      downThreshold: 50,
      windowSize: 100,
      minStdDevMs: 50,
      acceptablePauseMs: 200,
    });
    const all = {
      kind: 'phi',
      threshold: 9.5,
      downThreshold: 30,
      windowSize: 20,
      minStdDevMs: 80,
      acceptablePauseMs: 0,
    };
    expect(parseConfig({ ...base, detector: all }).detector).to.deep.equal(all);
  });

  it('{ kind: "fixed" } is the default', () => {
    expect(parseConfig({ ...base, detector: { kind: 'fixed' } })).to.deep.equal(parseConfig(base));
    expect(parseConfig(base)).to.not.have.property('detector');
  });

  it('names the field of every bad value', () => {
    expect(fieldOf('phi')).to.equal('detector');
    expect(fieldOf(null)).to.equal('detector');
    expect(fieldOf({})).to.equal('detector.kind');
    expect(fieldOf({ kind: 'Phi' })).to.equal('detector.kind');
    expect(fieldOf({ kind: 'phi', threshold: 0 })).to.equal('detector.threshold');
    expect(fieldOf({ kind: 'phi', threshold: '8' })).to.equal('detector.threshold');
    expect(fieldOf({ kind: 'phi', threshold: 1e9 })).to.equal('detector.threshold');
    expect(fieldOf({ kind: 'phi', threshold: 10, downThreshold: 10 })).to.equal('detector.downThreshold');
    expect(fieldOf({ kind: 'phi', downThreshold: 5 })).to.equal('detector.downThreshold');
    expect(fieldOf({ kind: 'phi', windowSize: 1 })).to.equal('detector.windowSize');
    expect(fieldOf({ kind: 'phi', windowSize: 2.5 })).to.equal('detector.windowSize');
    expect(fieldOf({ kind: 'phi', minStdDevMs: 0 })).to.equal('detector.minStdDevMs');
    expect(fieldOf({ kind: 'phi', acceptablePauseMs: -1 })).to.equal('detector.acceptablePauseMs');
    expect(fieldOf({ kind: 'phi', acceptablePauseMs: Infinity })).to.equal('detector.acceptablePauseMs');
    expect(fieldOf({ kind: 'phi', tresholds: 8 })).to.equal('detector.tresholds');
    expect(fieldOf({ kind: 'fixed', threshold: 8 })).to.equal('detector.threshold');
  });
});

describe('φ accrual detector: the region and its readers', () => {
  it('a view of a fixed-detector node shows φ null and kind "fixed"', () => {
    const r = registry();
    const v = ClusterView.open({ cluster: r.config.cluster, serverId: r.config.serverId });
    cleanups.push(() => v.close());
    const i = v.inspect();
    expect(i.node.detector).to.deep.equal({ kind: 'fixed' });
    expect(i.peers.map((p) => [p.phi, p.arrivals])).to.deep.equal([[null, null]]);
  });

  it('a reader in another process computes a silent peer’s φ at read time, growing with the silence', async () => {
    // Real time: the child's reads use its own clock. No heartbeat monitor runs here, so the region's
    // slot is not rewritten while b is silent: every rise of φ is the reader's own computation.
    const r = registry({ heartbeatIntervalMs: 200, detector: { kind: 'phi' } });
    for (let k = 0; k < 5; k++) r.markHeartbeatReceived('b'); // one frame counts: the rest are < 100 ms later
    const published = r.readSlot('b');
    const child = forkFixture('inspect-child.js', [r.config.cluster, r.config.serverId]);
    cleanups.push(async () => {
      child.send({ stop: true });
      await Promise.race([child.exited, new Promise((res) => setTimeout(res, 3000))]);
      child.kill('SIGKILL');
    });
    await child.next((m) => m.ready === true, 20_000, 'inspect child ready');
    let id = 0;
    const read = async (): Promise<Inspection> => {
      const n = ++id;
      child.send({ id: n });
      const m = await child.next<{ id: number; inspection: Inspection }>((x) => x.id === n, 10_000, 'inspection');
      return m.inspection;
    };
    const first = await read();
    expect(first.node.detector).to.deep.equal({
      kind: 'phi',
      threshold: 8,
      downThreshold: 40,
      windowSize: 100,
      minStdDevMs: 50,
      acceptablePauseMs: 200,
    });
    expect(first.peers[0].arrivals).to.deep.equal({ meanMs: 200, stdDevMs: 50, samples: 0 });
    const seen: number[] = [first.peers[0].phi as number];
    await waitFor(
      async () => {
        const p = (await read()).peers[0];
        seen.push(p.phi as number);
        return (p.phi as number) >= 8;
      },
      { timeoutMs: 10_000, intervalMs: 20, what: 'φ of the silent peer to reach 8 in the reader' },
    );
    for (let i = 1; i < seen.length; i++) expect(seen[i], `read ${i}`).to.be.at.least(seen[i - 1]);
    expect(seen[0]).to.be.below(8);
    // Nothing was written meanwhile: the same slot, the same status.
    const now = r.readSlot('b');
    expect([now.lastSeenMs, now.status, now.phiSamples]).to.deep.equal([published.lastSeenMs, 0, 0]);
  });

  it('two real nodes with detector phi: kill -9 of one, and the other marks it down', async function () {
    const c: Cluster = await startCluster(2, {
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 100,
      detector: { kind: 'phi' },
    });
    cleanups.push(() => c.stopAll());
    await waitForAll(c, 'a', 'healthy', 20_000);
    const view = c.view('a');
    // Let the window learn from a few rounds first, so the verdict is not the bootstrap's.
    await waitFor(() => (view.inspect().peers[0].arrivals?.samples ?? 0) >= 5, {
      timeoutMs: 10_000,
      what: "a's window of b to hold 5 samples",
    });
    const started = Date.now();
    c.nodes[1].child.kill('SIGKILL');
    const b = (await waitFor(() => view.inspect().peers.find((p) => p.serverId === 'b' && p.status === 'down'), {
      timeoutMs: 10_000,
      intervalMs: 10,
      what: 'a to mark the killed b down',
    })) as PeerDetails;
    const tookMs = Date.now() - started;
    expect(b.statusReason).to.equal('missed-heartbeats');
    expect(b.phi as number).to.be.at.least(40);
    expect(b.arrivals?.samples).to.be.above(0);
    // Defaults at 100 ms: expected arrival 100 + 100 ms, deviation floor 25 ms, φ = 40 at about 456 ms of silence.
    expect(tookMs, 'detection time').to.be.below(3000);
    expect(view.inspect().node.detector.kind).to.equal('phi');
  });
});
