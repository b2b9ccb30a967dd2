// Objects that end cleanly: ClusterView's close() and watch handles in every
// teardown order, with no callback after close and no error escaping a
// watch; views dropped without close() release their mappings when
// collected (a real child process that forces collection).
import { expect } from 'chai';
import FakeTimers from '@sinonjs/fake-timers';
import { type ClusterSnapshot } from '../lib/view.js';
import type { PeerTransition } from '../lib/transitions.js';
import type { PeerRegistry } from '../lib/registry/registry.js';
import { CommyError } from '../lib/errors.js';
import { forkFixture } from '../harness/fixtures.js';
import { openTestView, startTestRegistry } from '../harness/registry.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

const startRegistry = () => startTestRegistry(cleanups, { prefix: 'lt' });
const openView = (r: PeerRegistry) => openTestView(cleanups, r);

/** Fake interval timers and microtasks, so every tick of a watch runs inside clock.tick(). */
function fakeClock(): ReturnType<typeof FakeTimers.install> {
  const clock = FakeTimers.install({ toFake: ['setInterval', 'clearInterval', 'queueMicrotask'] });
  cleanups.push(() => clock.uninstall());
  return clock;
}

describe('ClusterView teardown', () => {
  it('watch(cb).close() before the first tick: cb never runs', () => {
    const clock = fakeClock();
    const v = openView(startRegistry());
    const seen: ClusterSnapshot[] = [];
    v.watch((s) => seen.push(s), { poll: true, intervalMs: 50 }).close();
    clock.runMicrotasks();
    clock.tick(500);
    expect(seen).to.have.length(0);
  });

  it('watch() then view.close(): no callback and no ERR_REGION_CLOSED from a later tick', () => {
    const clock = fakeClock();
    const r = startRegistry();
    const v = openView(r);
    const seen: ClusterSnapshot[] = [];
    const errors: Error[] = [];
    v.watch((s) => seen.push(s), { poll: true, intervalMs: 50, onError: (e) => errors.push(e) });
    v.close();
    clock.runMicrotasks(); // the queued first tick
    r.markHeartbeatMissed('b');
    clock.tick(500); // ten more ticks; any of them throwing fails this test
    expect(seen).to.have.length(0);
    expect(errors).to.have.length(0);
  });

  it('close from inside the callback: the handle or the whole view, while writes go on', () => {
    const clock = fakeClock();
    const r = startRegistry();
    const v1 = openView(r);
    const v2 = openView(r);
    let first = 0;
    let second = 0;
    const h1 = v1.watch(
      () => {
        first++;
        h1.close();
      },
      { poll: true, intervalMs: 50 },
    );
    v2.watch(
      () => {
        second++;
        v2.close();
      },
      { poll: true, intervalMs: 50 },
    );
    clock.runMicrotasks();
    for (let i = 0; i < 5; i++) {
      r.markHeartbeatMissed('b');
      clock.tick(50);
    }
    expect(first).to.equal(1);
    expect(second).to.equal(1);
  });

  it('close() twice is a no-op; reads after it throw ERR_REGION_CLOSED, watch() a clear error', () => {
    const v = openView(startRegistry());
    v.close();
    v.close();
    for (const read of [() => v.snapshot(), () => v.status(), () => v.getPeer('b'), () => v.inspect()]) {
      try {
        read();
        expect.fail('a read of a closed view must throw');
      } catch (err) {
        expect(err).to.be.instanceOf(CommyError);
        expect((err as CommyError).code).to.equal('ERR_REGION_CLOSED');
      }
    }
    expect(() => v.watch(() => undefined)).to.throw(/closed/);
  });

  it('closing one watch leaves the others running; view.close() ends them all', () => {
    const clock = fakeClock();
    const r = startRegistry();
    const v = openView(r);
    const a: ClusterSnapshot[] = [];
    const b: ClusterSnapshot[] = [];
    const ha = v.watch((s) => a.push(s), { on: 'any', intervalMs: 50 });
    v.watch((s) => b.push(s), { on: 'any', intervalMs: 50 });
    clock.runMicrotasks();
    ha.close();
    ha.close(); // idempotent
    r.markHeartbeatMissed('b');
    clock.tick(50);
    expect([a.length, b.length]).to.deep.equal([1, 2]);
    v.close();
    r.markHeartbeatMissed('b');
    clock.tick(500);
    expect([a.length, b.length]).to.deep.equal([1, 2]);
  });
});

describe('ClusterView teardown, woken watches (real timers)', () => {
  it('a closed woken watch gets no callback for a later transition; view.close() ends waits at once', async () => {
    const r = startRegistry();
    const v = openView(r);
    const other = openView(r); // a second reader, to know when the wake-up has gone out
    const seen: PeerTransition[][] = [];
    let first!: () => void;
    const started = new Promise<void>((resolve) => (first = resolve));
    const h = v.watch((_s, t) => (seen.push(t), first()));
    await started;
    h.close();
    const woken = other.waitForChange({ timeoutMs: 10_000 });
    r.markDown('b', 'left');
    expect(await woken).to.equal(true);
    await new Promise((resolve) => setImmediate(resolve)); // a callback for v would have run by now
    expect(seen).to.have.length(1);
    const pending = v.waitForChange();
    v.close();
    const code = await pending.then(
      () => 'resolved',
      (e: { code?: string }) => e.code,
    );
    expect(code).to.equal('ERR_REGION_CLOSED');
    expect(await v.waitForChange().catch((e: { code?: string }) => e.code)).to.equal('ERR_REGION_CLOSED');
  });
});

describe('ClusterView dropped without close()', () => {
  it('10,000 views opened and dropped keep mappings and RSS flat (finalizer unmaps)', async function () {
    if (process.platform !== 'linux') {
      console.log('      skipped: counts mappings through /proc/self/maps, which only Linux has');
      this.skip();
    }
    this.timeout(120_000);
    const r = startRegistry();
    const child = forkFixture('drop-views.js', [r.config.cluster, r.config.serverId, '10000']);
    cleanups.push(() => child.kill());
    const m = await child.next<{
      mapsBefore: number;
      mapsAfter: number;
      peakMaps: number;
      rssBefore: number;
      rssAfter: number;
    }>((x) => typeof x.mapsAfter === 'number', 110_000, 'the child to drop 10,000 views');
    // Each view maps the region once; without a finalizer all 10,000 would stay.
    expect(m.mapsAfter, `mappings left: ${m.mapsAfter}`).to.be.at.most(m.mapsBefore + 5);
    expect(m.peakMaps, `peak mappings: ${m.peakMaps}`).to.be.below(2500);
    const growthMb = (m.rssAfter - m.rssBefore) / 2 ** 20;
    expect(growthMb, `RSS grew ${growthMb.toFixed(1)} MB`).to.be.below(40);
  });
});
