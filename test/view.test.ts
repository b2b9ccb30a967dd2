// ClusterView: the reader contract (the `commy status --json` object), watch
// semantics, and agreement with the writer across processes, including a
// model-based property test.
import { readdirSync } from 'node:fs';
import { expect } from 'chai';
import fc from 'fast-check';
import FakeTimers from '@sinonjs/fake-timers';
import { ClusterView, type ClusterSnapshot } from '../lib/view.js';
import type { PeerTransition } from '../lib/transitions.js';
import { PeerRegistry } from '../lib/registry/registry.js';
import { parseConfig } from '../lib/registry/config.js';
import { computeClusterStatus, statusForMissed, type PeerStatus } from '../lib/status.js';
import { forkFixture } from '../harness/fixtures.js';
import { uniqueKey } from '../harness/names.js';
import { openTestView, startTestRegistry } from '../harness/registry.js';
import { waitFor } from '../harness/wait.js';
import {
  RegionReader,
  RegionWriter,
  SlotState,
  emptySlot,
  layout,
  regionName,
  unlinkRegion,
} from '../lib/region/index.js';
import { testAddon, type RawMapping } from './test-addon.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

const startRegistry = (peers?: unknown[], capacity?: number) =>
  startTestRegistry(cleanups, { prefix: 'v', peers, capacity });
const openView = (r: PeerRegistry) => openTestView(cleanups, r);

describe('ClusterView.snapshot()', () => {
  it('returns exactly the `commy status --json` object', () => {
    const r = startRegistry();
    r.markHeartbeatReceived('b');
    r.addBytesSent('b', 123);
    r.addBytesReceived('b', 456);
    r.markHeartbeatMissed('c');
    r.markHeartbeatMissed('c');
    const s = openView(r).snapshot();
    expect(Object.keys(s)).to.deep.equal(['cluster', 'serverId', 'listen', 'writer', 'config', 'status', 'peers']);
    expect(s.cluster).to.equal(r.config.cluster);
    expect(s.serverId).to.equal(r.config.serverId);
    expect(s.listen).to.equal('127.0.0.1:7101');
    expect(Object.keys(s.writer)).to.deep.equal(['pid', 'alive', 'heartbeatAgeMs']);
    expect(s.writer.pid).to.equal(process.pid);
    expect(s.writer.alive).to.equal(true);
    expect(s.config).to.deep.equal({
      heartbeatIntervalMs: 1000,
      heartbeatTimeoutMs: 1000,
      suspectAfter: 2,
      downAfter: 5,
    });
    expect(s.status).to.deep.equal({
      totalPeers: 3,
      healthyPeers: 2,
      suspectedPeers: 1,
      downPeers: 0,
      isDegraded: true,
      quorumAvailable: true,
    });
    expect(s.peers).to.have.length(2);
    const b = s.peers.find((p) => p.serverId === 'b')!;
    expect(Object.keys(b)).to.deep.equal([
      'serverId',
      'address',
      'status',
      'missedHeartbeats',
      'lastSeenMs',
      'bytesSent',
      'bytesReceived',
      'connection',
    ]);
    expect(b).to.deep.include({ address: '127.0.0.1:7102', status: 'healthy', bytesSent: 123, bytesReceived: 456 });
    expect(b.lastSeenMs).to.be.a('number');
    expect(s.peers.find((p) => p.serverId === 'c')).to.include({
      status: 'suspected',
      missedHeartbeats: 2,
      lastSeenMs: null,
    });
    expect(JSON.parse(JSON.stringify(s))).to.deep.equal(s);
  });

  it('getPeer() and status() agree with the writer; unknown peers are undefined', () => {
    const r = startRegistry();
    const v = openView(r);
    r.markDown('c', 'left');
    expect(v.getPeer('c')?.status).to.equal('down');
    expect(v.getPeer('nope')).to.equal(undefined);
    expect(v.status()).to.deep.equal(r.getClusterStatus());
  });

  it('still shows the last known state once the writer has stopped', () => {
    const key = uniqueKey('v');
    const r = new PeerRegistry(parseConfig({ ...key, listen: '127.0.0.1:1', peers: ['b@h:1'] }));
    r.initialize();
    r.markHeartbeatMissed('b');
    r.markHeartbeatMissed('b');
    const v = ClusterView.open(key);
    cleanups.push(() => v.close());
    r.close();
    const s = v.snapshot();
    expect(s.writer.alive).to.equal(false);
    expect(s.peers[0]).to.include({ serverId: 'b', status: 'suspected' });
    // Reclaim and remove the region so the test leaves nothing behind.
    const again = new PeerRegistry(parseConfig({ ...key, listen: '127.0.0.1:1' }));
    again.initialize();
    again.close({ unlink: true });
  });

  it('refuses bad arguments and a missing region with clear codes', () => {
    expect(() => ClusterView.open({} as never)).to.throw(/cluster, serverId/);
    try {
      ClusterView.open(uniqueKey('missing'));
      expect.fail('should throw');
    } catch (err) {
      expect((err as { code: string }).code).to.equal('ERR_REGION_NOT_FOUND');
    }
  });
});

describe('ClusterView.watch()', () => {
  it('calls back once at start and then only when the generation changes', async () => {
    const clock = FakeTimers.install({ toFake: ['setInterval', 'clearInterval'] });
    try {
      const r = startRegistry();
      const v = openView(r);
      const seen: ClusterSnapshot[] = [];
      const h = v.watch((s) => seen.push(s), { poll: true, intervalMs: 100 });
      await Promise.resolve();
      expect(seen).to.have.length(1);
      clock.tick(500);
      expect(seen).to.have.length(1); // nothing changed: no callbacks
      r.markHeartbeatMissed('b');
      r.markHeartbeatMissed('b');
      clock.tick(100);
      expect(seen).to.have.length(2);
      expect(seen[1].peers.find((p) => p.serverId === 'b')?.status).to.equal('suspected');
      h.close();
      r.markDown('b', 'left');
      clock.tick(500);
      expect(seen).to.have.length(2); // closed handles stay quiet
      expect(() => v.watch(() => undefined, { intervalMs: 0 })).to.throw(/intervalMs/);
    } finally {
      clock.uninstall();
    }
  });
});

describe('ClusterView.watch() and read errors', function () {
  this.timeout(30_000);
  // A writer that died in the middle of writing every used slot, as readers
  // see it while it is still alive: each slot's seq left odd. Every read then
  // waits its bounded 1 s and fails with ERR_REGION_READ_CONTENDED.
  function stallSlots(r: PeerRegistry): () => void {
    const raw: RawMapping = testAddon().openRawRegion(regionName(r.config));
    const seqs: { off: number; seq: Buffer }[] = [];
    for (let i = 0; i < r.config.capacity; i++) {
      const off = layout.headerSize + i * layout.slotSize + layout.slot.seq;
      const seq = raw.read(off, 8);
      const odd = Buffer.alloc(8);
      odd.writeBigUInt64LE(seq.readBigUInt64LE() + 1n);
      raw.write(off, odd);
      seqs.push({ off, seq });
    }
    let done = false;
    const restore = () => {
      if (done) return;
      done = true;
      for (const { off, seq } of seqs) raw.write(off, seq);
      raw.close();
    };
    cleanups.push(restore);
    return restore;
  }

  it('reports a contended read to onError and keeps watching', async () => {
    const r = startRegistry();
    const v = openView(r);
    const seen: ClusterSnapshot[] = [];
    const errors: Error[] = [];
    v.watch((s) => seen.push(s), { poll: true, intervalMs: 20, onError: (e) => errors.push(e) });
    await waitFor(() => seen.length === 1, { what: 'the first snapshot' });
    const restore = stallSlots(r);
    await waitFor(() => errors.length >= 1, { timeoutMs: 10_000, what: 'a contended read reported' });
    expect((errors[0] as { code?: string }).code).to.equal('ERR_REGION_READ_CONTENDED');
    restore();
    r.markHeartbeatMissed('b');
    r.markHeartbeatMissed('b');
    await waitFor(() => seen.at(-1)?.peers.find((p) => p.serverId === 'b')?.status === 'suspected', {
      timeoutMs: 10_000,
      what: 'the watch to go on after the contention',
    });
  });

  it('without onError, warns once per error code instead of throwing', async () => {
    const r = startRegistry();
    const v = openView(r);
    const warnings: Error[] = [];
    const onWarning = (w: Error) => {
      if (w.message.startsWith('commy watch:')) warnings.push(w);
    };
    process.on('warning', onWarning);
    cleanups.push(() => process.off('warning', onWarning));
    const clock = FakeTimers.install({ toFake: ['setInterval', 'clearInterval'] });
    cleanups.push(() => clock.uninstall());
    let calls = 0;
    v.watch(() => calls++, { poll: true, intervalMs: 20 });
    await Promise.resolve();
    expect(calls).to.equal(1);
    stallSlots(r);
    clock.tick(60); // three ticks, each a read that waits its 1 s and fails: none may throw
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on the next tick
    expect(calls).to.equal(1);
    expect(warnings).to.have.length(1);
    expect((warnings[0] as { code?: string }).code).to.equal('ERR_REGION_READ_CONTENDED');
  });
});

/**
 * How a woken wait blocks: on Linux the event loop's own (the default) and a
 * thread (forced; Windows always waits on one); elsewhere whatever the OS has.
 */
const WAITERS: { name: string; env: string | undefined }[] =
  process.platform === 'linux'
    ? [
        { name: "the event loop's own wait (the default)", env: undefined },
        { name: 'a waiting thread (COMMY_CHANGE_WAITER=thread)', env: 'thread' },
      ]
    : [{ name: 'the default wait', env: undefined }];

function transitionsTest(mode: '50' | 'notify', how: string): void {
  it(`sees each transition and runtime add/remove, with its reason, ${how}`, async () => {
    const r = startRegistry(['b@127.0.0.1:7102']);
    const child = forkFixture('view-child.js', ['watch', r.config.cluster, r.config.serverId, mode]);
    cleanups.push(() => child.kill());
    type Msg = { snapshot: ClusterSnapshot; transitions: PeerTransition[]; at: number };
    const expectSeen = async (what: string, pred: (s: ClusterSnapshot) => boolean) => {
      const changedAt = Date.now();
      const m = await child.next<Msg>((x) => pred(x.snapshot), 5000, what);
      // Reported, not asserted: timing belongs to the benchmarks.
      return { lag: m.at - changedAt, transitions: m.transitions };
    };
    const first = await expectSeen('initial snapshot', (s) => s.peers.length === 1);
    expect(first.transitions).to.deep.equal([{ serverId: 'b', from: null, to: 'healthy', reason: 'added' }]);
    const steps: [string, () => void, (s: ClusterSnapshot) => boolean, PeerTransition[]][] = [
      [
        'b suspected',
        () => (r.markHeartbeatMissed('b'), r.markHeartbeatMissed('b')),
        (s) => s.peers[0]?.status === 'suspected',
        [{ serverId: 'b', from: 'healthy', to: 'suspected', reason: 'missed-heartbeats' }],
      ],
      [
        'b down',
        () => [3, 4, 5].forEach(() => r.markHeartbeatMissed('b')),
        (s) => s.peers[0]?.status === 'down',
        [{ serverId: 'b', from: 'suspected', to: 'down', reason: 'missed-heartbeats' }],
      ],
      [
        'b healthy',
        () => r.markHeartbeatReceived('b'),
        (s) => s.peers[0]?.status === 'healthy',
        [{ serverId: 'b', from: 'down', to: 'healthy', reason: 'heartbeat' }],
      ],
      [
        'd added',
        () => r.addPeer({ serverId: 'd', address: '127.0.0.1:7104' }),
        (s) => s.peers.some((p) => p.serverId === 'd'),
        [{ serverId: 'd', from: null, to: 'healthy', reason: 'added' }],
      ],
      [
        'd removed',
        () => r.removePeer('d'),
        (s) => !s.peers.some((p) => p.serverId === 'd') && s.status.totalPeers === 2,
        [{ serverId: 'd', from: 'healthy', to: null, reason: 'removed' }],
      ],
    ];
    const lags: number[] = [];
    for (const [what, act, pred, transitions] of steps) {
      // Writes that change no status first: a status watch must not call back for them.
      r.setPeerMetadata('b', { step: what });
      r.updateConnection('b', { attemptCount: lags.length + 1 });
      r.updateHeader(() => ({ eventLoopLagMs: lags.length + 1 }));
      act();
      const seen = await expectSeen(what, pred);
      expect(seen.transitions, what).to.deep.equal(transitions);
      lags.push(seen.lag);
    }
    // Every callback was one of the expected ones: none for the writes without a transition.
    expect(child.messages, JSON.stringify(child.messages)).to.deep.equal([]);
    console.log(`      child saw each change after ${lags.join(', ')} ms (${how})`);
    child.send('stop');
    expect((await child.exited).code).to.equal(0);
  });
}

describe('ClusterView in another process', () => {
  transitionsTest('50', 'polling every 50 ms');

  it('model-based: random registry operations match a plain model, and a child view agrees after each step', async function () {
    this.timeout(120_000);
    const thresholds = { suspectAfter: 2, downAfter: 5 };
    type Op =
      | { kind: 'miss' | 'beat' | 'left' | 'remove'; peer: number }
      | { kind: 'add'; peer: number }
      | { kind: 'bytes'; peer: number; n: number };
    const opArb: fc.Arbitrary<Op> = fc.oneof(
      fc.record({
        kind: fc.constantFrom('miss' as const, 'beat' as const, 'left' as const, 'remove' as const),
        peer: fc.nat(4),
      }),
      fc.record({ kind: fc.constant('add' as const), peer: fc.nat(4) }),
      fc.record({ kind: fc.constant('bytes' as const), peer: fc.nat(4), n: fc.nat(1_000_000) }),
    );
    let checkedSteps = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40 }), async (ops) => {
        const r = startRegistry(['p0@127.0.0.1:8000', 'p1@127.0.0.1:8001', 'p2@127.0.0.1:8002'], 8);
        const child = forkFixture('view-child.js', ['serve', r.config.cluster, r.config.serverId]);
        await child.next((m: { ready?: boolean }) => m.ready === true);
        const model = new Map<string, { status: PeerStatus; missed: number; sent: number }>(
          ['p0', 'p1', 'p2'].map((n) => [n, { status: 'healthy', missed: 0, sent: 0 }]),
        );
        let id = 0;
        try {
          for (const op of ops) {
            const name = `p${op.peer}`;
            const known = model.get(name);
            if (op.kind === 'add') {
              if (known) continue;
              r.addPeer({ serverId: name, address: `127.0.0.1:${8000 + op.peer}` });
              model.set(name, { status: 'healthy', missed: 0, sent: 0 });
            } else if (!known) {
              continue;
            } else if (op.kind === 'miss') {
              r.markHeartbeatMissed(name);
              known.missed++;
              if (known.status !== 'down') known.status = statusForMissed(known.missed, thresholds);
            } else if (op.kind === 'beat') {
              r.markHeartbeatReceived(name);
              known.missed = 0;
              known.status = 'healthy';
            } else if (op.kind === 'left') {
              r.markDown(name, 'left');
              known.status = 'down';
            } else if (op.kind === 'remove') {
              r.removePeer(name);
              model.delete(name);
            } else if (op.kind === 'bytes') {
              r.addBytesSent(name, op.n);
              known.sent += op.n;
            }
            // Writer agrees with the model...
            for (const [n, m] of model) {
              const p = r.getPeer(n)!;
              expect([p.status, p.missedHeartbeats], n).to.deep.equal([m.status, m.missed]);
            }
            const expected = computeClusterStatus([...model.values()].map((m) => m.status));
            expect(r.getClusterStatus()).to.deep.equal(expected);
            // ...and so does a reader in another process.
            child.send({ id: ++id });
            const { snapshot } = await child.next<{ id: number; snapshot: ClusterSnapshot }>((m) => m.id === id);
            expect(snapshot.status).to.deep.equal(expected);
            const fromChild = Object.fromEntries(
              snapshot.peers.map((p) => [p.serverId, [p.status, p.missedHeartbeats]]),
            );
            const fromModel = Object.fromEntries([...model].map(([n, m]) => [n, [m.status, m.missed]]));
            expect(fromChild).to.deep.equal(fromModel);
            const sentChild = Object.fromEntries(snapshot.peers.map((p) => [p.serverId, p.bytesSent]));
            expect(sentChild).to.deep.equal(Object.fromEntries([...model].map(([n, m]) => [n, m.sent])));
            checkedSteps++;
          }
        } finally {
          child.send({ stop: true });
          await child.exited;
          cleanups.pop()?.();
        }
      }),
      { numRuns: 25, seed: 424242 },
    );
    console.log(`      ${checkedSteps} steps checked against the model and a child view`);
    expect(checkedSteps).to.be.greaterThan(50); // guards against a vacuous pass
  });
});

for (const waiter of WAITERS) {
  describe(`ClusterView woken in another process: ${waiter.name}`, () => {
    const saved = process.env.COMMY_CHANGE_WAITER;
    // Read when a mapping's first wait starts, here and in every child forked meanwhile.
    before(() => {
      if (waiter.env === undefined) delete process.env.COMMY_CHANGE_WAITER;
      else process.env.COMMY_CHANGE_WAITER = waiter.env;
    });
    after(() => {
      if (saved === undefined) delete process.env.COMMY_CHANGE_WAITER;
      else process.env.COMMY_CHANGE_WAITER = saved;
    });

    transitionsTest('notify', `woken by the writer (${waiter.name})`);

    it("a woken watch in another process reports a kill -9'd writer, then its successor, with no status change", async () => {
      const key = uniqueKey('vw');
      cleanups.push(() => unlinkRegion(key));
      const writer = forkFixture('region-child.js', ['hold-writer', key.cluster, key.serverId]);
      cleanups.push(() => writer.kill('SIGKILL'));
      await writer.next((m: { ready?: boolean }) => m.ready === true);
      const watcher = forkFixture('view-child.js', ['watch', key.cluster, key.serverId, 'notify']);
      cleanups.push(() => watcher.kill());
      type Msg = { snapshot: ClusterSnapshot; transitions: PeerTransition[]; at: number };
      const first = await watcher.next<Msg>(() => true, 10_000, 'first callback');
      expect(first.snapshot.writer.alive).to.equal(true);
      writer.kill('SIGKILL');
      await writer.exited;
      const killedAt = Date.now();
      const dead = await watcher.next<Msg>(() => true, 10_000, "the writer's death");
      expect(dead.snapshot.writer.alive).to.equal(false);
      expect(dead.transitions).to.deep.equal([]);
      const next = RegionWriter.create({ ...key, capacity: 4 }); // takes the dead writer's region over
      cleanups.push(() => next.close());
      const back = await watcher.next<Msg>(() => true, 10_000, 'the successor');
      expect(back.snapshot.writer.alive).to.equal(true);
      expect(watcher.messages, 'no other callback').to.deep.equal([]);
      console.log(`      the watch saw the kill after ${dead.at - killedAt} ms (${waiter.name})`);
      watcher.send('stop');
      expect((await watcher.exited).code).to.equal(0);
    });

    it('a waitForChange() with no timeout ends when a new writer replaces the region under it', async () => {
      if (process.platform === 'win32')
        return console.log(
          '      skipped: a Windows name maps to the object the view holds; it is taken over, never replaced',
        );
      const key = uniqueKey('vr');
      cleanups.push(() => unlinkRegion(key));
      const w = RegionWriter.create({ ...key, capacity: 4 });
      cleanups.push(() => w.close());
      const view = ClusterView.open(key);
      cleanups.push(() => view.close());
      let changed: boolean | undefined;
      void view.waitForChange().then((c) => (changed = c));
      w.stop();
      unlinkRegion(key);
      const successor = RegionWriter.create({ ...key, capacity: 4 });
      cleanups.push(() => successor.close());
      await waitFor(() => changed !== undefined, { timeoutMs: 5000, what: 'the wait to end on the new region' });
      expect(changed).to.equal(true);
      expect(view.snapshot().writer).to.include({ alive: true, pid: process.pid });
    });

    it('the native wait watches the writer itself: pending through writes and rechecks, ends on its stop, then on a new region at the name', async () => {
      const key = uniqueKey('vn');
      cleanups.push(() => unlinkRegion(key));
      const w = RegionWriter.create({ ...key, capacity: 4 });
      cleanups.push(() => w.close());
      const reader = RegionReader.open(key);
      cleanups.push(() => reader.close());
      if (!reader.canWait()) return console.log('      skipped: this OS cannot block on the region (it polls)');
      let outcome: string | undefined;
      const pending = reader.waitForStatusChange(reader.statusSeq(), undefined, true).then((o) => (outcome = o));
      // Writes without a status change, across more than two of the thread's rechecks.
      const until = Date.now() + 2500;
      await waitFor(
        () => {
          w.touch();
          w.writeSlot(0, {
            ...emptySlot(),
            state: SlotState.used,
            serverId: 'b',
            address: 'x:1',
            lastSeenMs: Date.now(),
          });
          return Date.now() > until;
        },
        { timeoutMs: 5000, intervalMs: 20, what: 'writes for 2.5 s' },
      );
      expect(outcome, 'no outcome while the writer lives and no status moves').to.equal(undefined);
      w.stop(); // clean stop: the name stays, the writer is gone
      await waitFor(() => outcome !== undefined, { timeoutMs: 5000, what: "the wait's end after the stop" });
      expect(await pending).to.equal('writer');
      unlinkRegion(key);
      const successor = RegionWriter.create({ ...key, capacity: 4 });
      cleanups.push(() => successor.close());
      // POSIX: a new object at the name, so the old one is "replaced". Windows: the name maps to the
      // object this reader still holds, and the successor takes it over, so its writer is alive again.
      const expected = process.platform === 'win32' ? 'writer' : 'replaced';
      expect(await reader.waitForStatusChange(reader.statusSeq(), 10_000, false)).to.equal(expected);
    });

    it('waitForChange() in another process: true on a transition, false on writes without one, ends at close or abort', async () => {
      const r = startRegistry(['b@127.0.0.1:7102']);
      const child = forkFixture('view-child.js', ['wait', r.config.cluster, r.config.serverId]);
      cleanups.push(() => child.kill());
      await child.next((m: { ready?: boolean }) => m.ready === true);
      child.send({ wait: 300 });
      await child.next((m: { waiting?: boolean }) => m.waiting === true);
      r.markHeartbeatReceived('b'); // lastSeen moves, the status does not
      r.setPeerMetadata('b', { zone: 'a' });
      expect(await child.next<{ changed: boolean }>((m) => 'changed' in m)).to.include({ changed: false });
      child.send({ wait: 20_000 });
      await child.next((m: { waiting?: boolean }) => m.waiting === true);
      r.markHeartbeatMissed('b');
      r.markHeartbeatMissed('b'); // suspected
      expect(await child.next<{ changed: boolean }>((m) => 'changed' in m, 10_000)).to.include({ changed: true });
      child.send({ abortAfter: 50 });
      const aborted = await child.next<{ name?: string }>((m) => 'name' in m, 10_000);
      expect(aborted.name).to.equal('AbortError');
      child.send({ closeAfter: 50 });
      const closed = await child.next<{ code?: string; afterMs: number }>((m) => 'code' in m || 'name' in m, 10_000);
      expect(closed.code).to.equal('ERR_REGION_CLOSED');
      console.log(`      close() ended the pending wait after ${closed.afterMs} ms (closed at 50 ms)`);
      expect((await child.exited).code).to.equal(0); // nothing keeps it alive after close
    });
  });
}

describe('change waits: threads and lifetimes', () => {
  it("a wait on Linux blocks no thread: the event loop's own, or one thread with COMMY_CHANGE_WAITER=thread", async function () {
    if (process.platform !== 'linux')
      return console.log('      skipped: only Linux has a change descriptor; elsewhere a wait takes a thread');
    const tasks = () => readdirSync('/proc/self/task').length;
    const r = startRegistry(['b@127.0.0.1:7102']);
    const saved = process.env.COMMY_CHANGE_WAITER;
    cleanups.push(() => {
      if (saved === undefined) delete process.env.COMMY_CHANGE_WAITER;
      else process.env.COMMY_CHANGE_WAITER = saved;
    });
    const threadsOf = async (env: string | undefined) => {
      if (env === undefined) delete process.env.COMMY_CHANGE_WAITER;
      else process.env.COMMY_CHANGE_WAITER = env;
      const view = openView(r);
      const before = tasks();
      const changed = view.waitForChange({ timeoutMs: 10_000 });
      const during = tasks();
      r.markHeartbeatMissed('b');
      r.markHeartbeatMissed('b'); // suspected: the wait ends
      expect(await changed).to.equal(true);
      r.markHeartbeatReceived('b');
      view.close();
      return during - before;
    };
    expect(await threadsOf(undefined), 'threads added by a wait on the event loop').to.equal(0);
    expect(await threadsOf('thread'), 'threads added by a thread wait').to.equal(1);
  });

  it('worker threads that end with waits pending, and views dropped without close(), release everything', async function () {
    this.timeout(60_000);
    const r = startRegistry(['b@127.0.0.1:7102']);
    const child = forkFixture('wait-lifetimes.js', [r.config.cluster, r.config.serverId]);
    cleanups.push(() => child.kill());
    const m = await child.next<{ workers: number[]; fdsBefore: number; fdsAfter: number; waited: number }>(
      (x) => 'workers' in (x as object),
      50_000,
    );
    // terminate() gives 1, process.exit(3) in the worker 3, a worker that closed its view and returned 0.
    expect(m.workers).to.deep.equal([1, 3, 0]);
    expect(m.waited, 'every one of 150 views waited').to.equal(150);
    if (process.platform === 'linux')
      expect(
        m.fdsAfter,
        `descriptors before the views: ${m.fdsBefore}, after collecting them: ${m.fdsAfter}`,
      ).to.be.at.most(m.fdsBefore);
    else console.log('      descriptors not counted: no /proc/self/fd on this OS');
    expect(await child.exited).to.deep.equal({ code: 0, signal: null });
  });
});
