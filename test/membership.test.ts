// The membership merge rules (lib/discovery/membership.ts): incarnations, departures, tombstones, reaping,
// and the property that every member ends with the same list whatever order the same facts arrive in.
import { expect } from 'chai';
import fc from 'fast-check';
import FakeTimers from '@sinonjs/fake-timers';
import { Membership, type Member } from '../lib/discovery/membership.js';

const alive = (serverId: string, incarnation: number, address = `10.0.0.1:${7000 + serverId.length}`): Member => ({
  serverId,
  address,
  incarnation,
  state: 'alive',
});
const left = (serverId: string, incarnation: number): Member => ({ serverId, address: '', incarnation, state: 'left' });

describe('membership merge rules', () => {
  let clock: ReturnType<typeof FakeTimers.install>;
  beforeEach(() => {
    clock = FakeTimers.install({ now: 1_000_000, toFake: ['Date'] });
  });
  afterEach(() => clock.uninstall());

  const make = () => new Membership(alive('me', 500, '10.0.0.9:7000'), { tombstoneMs: 60_000 });

  it('adds a new member once; the same report again, or an older one, changes nothing', () => {
    const m = make();
    expect(m.merge(alive('b', 10))).to.deep.equal({ kind: 'joined', member: alive('b', 10) });
    expect(m.merge(alive('b', 10))).to.equal(null);
    expect(m.merge(alive('b', 9))).to.equal(null);
    expect(m.list()).to.deep.equal([alive('b', 10)]);
  });

  it('a greater incarnation is a restart, and may move the member', () => {
    const m = make();
    m.merge(alive('b', 10, '10.0.0.2:7000'));
    const change = m.merge(alive('b', 20, '10.0.0.3:7000'));
    expect(change).to.deep.equal({
      kind: 'restarted',
      member: alive('b', 20, '10.0.0.3:7000'),
      previous: alive('b', 10, '10.0.0.2:7000'),
    });
    expect(m.get('b')?.address).to.equal('10.0.0.3:7000');
  });

  it("a configured peer's first report (incarnation 0 until then) is not a restart", () => {
    const m = make();
    expect(m.add(alive('b', 0))?.kind).to.equal('joined');
    expect(m.merge(alive('b', 77))).to.equal(null);
    expect(m.get('b')?.incarnation).to.equal(77);
  });

  it('a departure at the same or a greater incarnation forgets the member; an older one does not', () => {
    const m = make();
    m.merge(alive('b', 10));
    expect(m.merge(left('b', 9))).to.equal(null);
    expect(m.get('b')).to.not.equal(undefined);
    expect(m.merge(left('b', 10))).to.deep.equal({
      kind: 'left',
      member: { ...alive('b', 10), state: 'left', ageMs: 0 },
    });
    expect(m.get('b')).to.equal(undefined);
  });

  it("a departed member's tombstone refuses older reports of it, not its restart, and expires after tombstoneMs", () => {
    const m = make();
    m.merge(alive('b', 10));
    m.forget('b');
    expect(m.merge(alive('b', 10)), 'a stale report still circulating').to.equal(null);
    expect(m.gossip()).to.deep.include({ ...left('b', 10), ageMs: 0 });
    expect(m.merge(alive('b', 11))?.kind, 'restarted').to.equal('joined');
    m.forget('b');
    clock.tick(59_999);
    expect(m.merge(alive('b', 11))).to.equal(null);
    clock.tick(1);
    expect(m.merge(alive('b', 11))?.kind, 'after the tombstone expired').to.equal('joined');
  });

  it('a departure of a member never heard of leaves a tombstone, so its late join report is refused', () => {
    const m = make();
    expect(m.merge(left('b', 10))).to.equal(null);
    expect(m.merge(alive('b', 10))).to.equal(null);
    expect(m.merge(alive('b', 12))?.kind).to.equal('joined');
  });

  it('a reaped member is forgotten without being gossiped as left; a direct connection brings it back', () => {
    const m = make();
    m.merge(alive('b', 10));
    m.remove('b');
    expect(m.get('b')).to.equal(undefined);
    expect(
      m.gossip().map((x) => x.serverId),
      'a decision of this node alone: others may still hear b',
    ).to.deep.equal(['me']);
    expect(m.merge(alive('b', 10)), 'another member still lists it').to.equal(null);
    expect(m.add(alive('b', 0))?.kind, 'it connected to this node').to.equal('joined');
  });

  it('refutes a report of itself as left, or at an incarnation it never had, with a greater one', () => {
    const m = make();
    expect(m.merge(alive('me', 500))).to.equal(null);
    expect(m.merge(alive('me', 499))).to.equal(null);
    expect(m.merge(left('me', 499)), 'a departure of an earlier run').to.equal(null);
    expect(m.merge(left('me', 500))).to.deep.equal({ kind: 'refuted', member: alive('me', 501, '10.0.0.9:7000') });
    // At an incarnation it never had, from its own address (a report of an earlier run that ran later).
    expect(m.merge(alive('me', 900, '10.0.0.9:7000'))?.member.incarnation).to.equal(901);
    expect(m.gossip()[0]).to.deep.equal(alive('me', 901, '10.0.0.9:7000'));
  });

  it('a departure travels with its age: a node that hears of it late keeps its tombstone only as long as the first', () => {
    const first = make();
    const late = make();
    first.merge(alive('b', 10));
    first.forget('b');
    clock.tick(50_000);
    const told = first.gossip().find((x) => x.serverId === 'b')!;
    expect(told).to.deep.equal({ ...left('b', 10), ageMs: 50_000 });
    late.merge(alive('b', 10));
    expect(late.merge(told)?.kind).to.equal('left');
    clock.tick(10_000); // 60 s after the departure: both tombstones are gone, neither re-arms the other
    expect(first.gossip().map((x) => x.serverId)).to.deep.equal(['me']);
    expect(late.gossip().map((x) => x.serverId)).to.deep.equal(['me']);
    const stale = make();
    expect(stale.merge({ ...left('c', 3), ageMs: 70_000 }), 'heard of after it expired').to.equal(null);
    expect(stale.gossip().map((x) => x.serverId)).to.deep.equal(['me']);
  });

  it("another node announcing this node's id from another address is a conflict, not a reason to out-bid it", () => {
    const m = make();
    expect(m.merge(alive('me', 900, '10.0.0.77:7000'))).to.deep.equal({
      kind: 'conflict',
      member: alive('me', 900, '10.0.0.77:7000'),
    });
    expect(m.self.incarnation).to.equal(500);
  });

  it('a gossip holds at most maxGossip entries, itself and the members first', () => {
    const m = new Membership(alive('me', 1), { tombstoneMs: 60_000, maxGossip: 3 });
    for (const id of ['b', 'c', 'd']) m.merge(alive(id, 5));
    m.merge(left('e', 5));
    expect(m.gossip().map((x) => x.serverId)).to.deep.equal(['me', 'b', 'c']);
  });

  it('keeps at most maxTombstones, dropping the oldest', () => {
    const m = new Membership(alive('me', 1), { tombstoneMs: 60_000, maxTombstones: 3 });
    for (const id of ['b', 'c', 'd', 'e']) m.merge(left(id, 5));
    expect(
      m
        .gossip()
        .filter((x) => x.state === 'left')
        .map((x) => x.serverId),
    ).to.deep.equal(['c', 'd', 'e']);
    expect(m.merge(alive('b', 5))?.kind, 'its tombstone was dropped').to.equal('joined');
  });
});

describe('membership convergence (property)', () => {
  // Each member's history: incarnations that only grow, each alive and maybe left afterwards (a leave, or a
  // restart from a crash). Every node is told every fact, in its own order, some of them twice.
  const history = fc.uniqueArray(
    fc.record({
      id: fc.constantFrom('b', 'c', 'd', 'e', 'f', 'g'),
      runs: fc.array(fc.record({ gap: fc.integer({ min: 1, max: 5 }), leaves: fc.boolean() }), {
        minLength: 1,
        maxLength: 4,
      }),
    }),
    { selector: (h) => h.id, minLength: 1 },
  );

  it('whatever the order of join, leave and restart reports, every node ends with the same list', () => {
    fc.assert(
      fc.property(
        history,
        fc.array(fc.array(fc.nat(), { minLength: 60, maxLength: 60 }), { minLength: 4, maxLength: 4 }),
        (histories, orders) => {
          const facts: Member[] = [];
          const expected = new Map<string, Member>();
          for (const h of histories) {
            let incarnation = 0;
            let last: Member | undefined;
            for (const run of h.runs) {
              incarnation += run.gap;
              last = alive(h.id, incarnation, `10.0.0.${incarnation}:7000`);
              facts.push(last);
              if (run.leaves) facts.push((last = left(h.id, incarnation)));
            }
            if (last?.state === 'alive') expected.set(h.id, last);
          }
          const lists = orders.map((keys) => {
            const m = new Membership(alive('me', 1), { tombstoneMs: 60_000 });
            // Sort by random keys; the facts with the smallest keys arrive once more at the end.
            const order = facts.map((f, i) => ({ f, k: keys[i % keys.length] + i / 1000 })).sort((x, y) => x.k - y.k);
            for (const { f } of [...order, ...order.slice(0, 3)]) m.merge(f);
            return m.list().sort((x, y) => x.serverId.localeCompare(y.serverId));
          });
          const want = [...expected.values()].sort((x, y) => x.serverId.localeCompare(y.serverId));
          for (const l of lists) expect(l).to.deep.equal(want);
        },
      ),
      { numRuns: 500 },
    );
  });
});
