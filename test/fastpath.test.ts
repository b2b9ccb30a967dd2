// The fast paths of the region facade (no timings here; see docs/BENCHMARKS.md):
// - counter adds through Atomics on the mapped counters stay exact across
//   processes, mixed with the addon's compare-and-swap adds, and still
//   saturate at 2^64-1; errors are the addon's;
// - ClusterView.snapshot(), getPeer() and status() read compact records with
//   cached strings, and must equal what the full slot decode gives.
import { expect } from 'chai';
import { ClusterView } from '../lib/view.js';
import { RegionReader, type RegionWriter } from '../lib/region/index.js';
import { forkFixture } from '../harness/fixtures.js';
import { startTestRegistry } from '../harness/registry.js';
import { seededRandom } from '../harness/random.js';

const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

const startRegistry = (peers: string[], capacity?: number) =>
  startTestRegistry(cleanups, { prefix: 'fp', peers, capacity });

function slotIndex(w: RegionWriter, id: string): number {
  for (let i = 0; i < w.capacity; i++) if (w.readSlot(i).serverId === id) return i;
  throw new Error(`no slot for ${id}`);
}

/** A slot's counters exactly, as BigInts (readSlot() rounds to a Number above 2^53). */
function exactCounters(r: RegionReader | RegionWriter, index: number): { sent: bigint; received: bigint } {
  const image = r.detail();
  if (!image.readOne(index)) throw new Error('slot not found');
  const c = image.exactCounters(0);
  return { sent: c.bytesSent, received: c.bytesReceived };
}

const U64_MAX = 2n ** 64n - 1n;
const MAX_AMOUNT = Number.MAX_SAFE_INTEGER;
type NativeAdd = { addCounter(index: number, counter: 0 | 1, amount: number): void };

describe('counter fast path', () => {
  it('keeps totals exact with 3 processes and the writer adding at once, mixing both paths', async function () {
    this.timeout(60_000);
    const reg = startRegistry(['b@127.0.0.1:7102']);
    const index = slotIndex(reg.writer, 'b');
    const adds = 200_000;
    const children = [0, 1, 2].map(() =>
      forkFixture('counter-adder.js', [reg.config.cluster, reg.config.serverId, String(index), String(adds)]),
    );
    for (const c of children) cleanups.push(() => c.kill());
    await Promise.all(children.map((c) => c.next((m: { ready?: boolean }) => m.ready === true)));
    for (const c of children) c.send('go');
    let sent = 0;
    for (let i = 0; i < adds; i++) {
      reg.addBytesSent('b', 7);
      sent += 7;
    }
    const reports = await Promise.all(
      children.map((c) => c.next((m: { sent?: number; received?: number }) => typeof m.sent === 'number', 60_000)),
    );
    for (const r of reports) sent += r.sent as number;
    const received = reports.reduce((s, r) => s + (r.received as number), 0);
    const got = exactCounters(reg.writer, index);
    expect(got.sent).to.equal(BigInt(sent));
    expect(got.received).to.equal(BigInt(received));
    expect(reg.getPeer('b')!.bytesSent).to.equal(sent);
  });

  it('two handles of one process (writer and writable reader) add exactly', () => {
    const reg = startRegistry(['b@127.0.0.1:7102', 'c@127.0.0.1:7103']);
    const r = RegionReader.open({ cluster: reg.config.cluster, serverId: reg.config.serverId, writable: true });
    cleanups.push(() => r.close());
    const b = slotIndex(reg.writer, 'b');
    for (let i = 0; i < 10_000; i++) {
      reg.addBytesSent('b', i);
      r.addBytesSent(b, 1);
      r.addBytesReceived(b, 5000); // past the small-amount cache too
    }
    expect(reg.getPeer('b')!.bytesSent).to.equal((10_000 * 9_999) / 2 + 10_000);
    expect(reg.getPeer('b')!.bytesReceived).to.equal(50_000_000);
    expect(reg.getPeer('c')!.bytesSent).to.equal(0);
  });

  it('saturates at 2^64-1 instead of wrapping, on both paths', () => {
    const reg = startRegistry(['b@127.0.0.1:7102', 'c@127.0.0.1:7103']);
    const key = { cluster: reg.config.cluster, serverId: reg.config.serverId, writable: true };
    const b = slotIndex(reg.writer, 'b');
    // Up past 2^63 on the fast path (it hands over to the addon there), exactly.
    const r1 = RegionReader.open(key);
    cleanups.push(() => r1.close());
    for (let i = 0; i < 1100; i++) r1.addBytesSent(b, MAX_AMOUNT);
    expect(exactCounters(r1, b).sent).to.equal(1100n * BigInt(MAX_AMOUNT));
    expect((r1 as unknown as { counters: { words: unknown } }).counters.words).to.equal(null); // handed over
    for (let i = 0; i < 1000; i++) r1.addBytesSent(b, MAX_AMOUNT);
    expect(exactCounters(r1, b).sent).to.equal(U64_MAX);
    r1.addBytesSent(b, 1);
    expect(exactCounters(r1, b).sent).to.equal(U64_MAX);
    expect(reg.getPeer('b')!.bytesSent).to.equal(Number(U64_MAX));
  });

  it('a fast add that wraps past 2^64-1 puts the counter back at 2^64-1', () => {
    const reg = startRegistry(['b@127.0.0.1:7102']);
    const key = { cluster: reg.config.cluster, serverId: reg.config.serverId, writable: true };
    const b = slotIndex(reg.writer, 'b');
    // 2^64 - 10 through the addon's path only.
    const r1 = RegionReader.open(key);
    cleanups.push(() => r1.close());
    const native = (r1 as unknown as { native: NativeAdd }).native;
    let left = U64_MAX - 9n;
    while (left > 0n) {
      const a = left > BigInt(MAX_AMOUNT) ? MAX_AMOUNT : Number(left);
      native.addCounter(b, 0, a);
      left -= BigInt(a);
    }
    expect(exactCounters(r1, b).sent).to.equal(U64_MAX - 9n);
    // A fresh handle's first add is an Atomics.add that wraps: it must repair.
    const r2 = RegionReader.open(key);
    cleanups.push(() => r2.close());
    r2.addBytesSent(b, 100);
    expect(exactCounters(r2, b).sent).to.equal(U64_MAX);
    r2.addBytesSent(b, 100);
    expect(exactCounters(r2, b).sent).to.equal(U64_MAX);
  });

  it('raises the addon errors: closed, read-only, bad index or amount', () => {
    const reg = startRegistry(['b@127.0.0.1:7102']);
    const key = { cluster: reg.config.cluster, serverId: reg.config.serverId };
    const code = (f: () => void) => {
      try {
        f();
      } catch (err) {
        return (err as { code?: string }).code;
      }
      return 'no error';
    };
    const w = RegionReader.open({ ...key, writable: true });
    w.addBytesSent(0, 1); // maps the counters
    expect(code(() => w.addBytesSent(-1, 1))).to.equal('ERR_INVALID_ARG');
    expect(code(() => w.addBytesSent(8, 1))).to.equal('ERR_INVALID_ARG');
    expect(code(() => w.addBytesSent(0.5, 1))).to.equal('ERR_INVALID_ARG');
    expect(code(() => w.addBytesSent(0, -1))).to.equal('ERR_INVALID_ARG');
    expect(code(() => w.addBytesSent(0, 1.5))).to.equal('ERR_INVALID_ARG');
    expect(code(() => w.addBytesSent(0, 2 ** 53))).to.equal('ERR_INVALID_ARG');
    expect(code(() => w.addBytesSent(0, NaN))).to.equal('ERR_INVALID_ARG');
    w.close();
    expect(code(() => w.addBytesSent(0, 1))).to.equal('ERR_REGION_CLOSED');
    w.close(); // idempotent
    const ro = RegionReader.open(key);
    cleanups.push(() => ro.close());
    expect(code(() => ro.addBytesSent(0, 1))).to.equal('ERR_REGION_READ_ONLY');
    expect(code(() => reg.addBytesSent('b', -5))).to.equal('ERR_INVALID_ARG');
    expect(reg.getPeer('b')!.bytesSent).to.equal(1);
  });

  it('a closed handle leaves no view of the memory: the counters buffer is detached', () => {
    const reg = startRegistry(['b@127.0.0.1:7102']);
    const w = RegionReader.open({ cluster: reg.config.cluster, serverId: reg.config.serverId, writable: true });
    w.addBytesSent(0, 1);
    const words = (w as unknown as { counters: { words: BigUint64Array } }).counters.words;
    expect(words.length).to.be.greaterThan(0);
    w.close();
    expect(words.length).to.equal(0);
    expect(() => Atomics.add(words, 0, 1n)).to.throw(TypeError);
  });
});

describe('ClusterView compact reads', () => {
  it('snapshot(), getPeer() and status() equal the full decode through adds, removals, reuse and renames', () => {
    const n = 12;
    const reg = startRegistry(
      Array.from({ length: n }, (_, i) => `p${i}@127.0.0.1:${9000 + i}`),
      24,
    );
    const view = ClusterView.open({ cluster: reg.config.cluster, serverId: reg.config.serverId });
    cleanups.push(() => view.close());
    const rand = seededRandom(7);
    let ids = Array.from({ length: n }, (_, i) => `p${i}`);
    let next = n;
    for (let it = 0; it < 4000; it++) {
      const x = rand();
      const id = ids[Math.floor(rand() * ids.length)];
      if (x < 0.3) reg.markHeartbeatReceived(id);
      else if (x < 0.5) reg.markHeartbeatMissed(id);
      else if (x < 0.6) reg.addBytesSent(id, Math.floor(rand() * 2 ** 52));
      else if (x < 0.63 && ids.length > 1) {
        reg.removePeer(id);
        ids = ids.filter((y) => y !== id);
      } else if (x < 0.66 && ids.length < 24) {
        const nid = `q${next++}é`;
        reg.addPeer({ serverId: nid, address: `hôte-${nid}:${next}` });
        ids.push(nid);
      } else if (x < 0.68) {
        const nid = `r${next++}`;
        reg.identifyPeer(id, nid);
        ids = ids.map((y) => (y === id ? nid : y));
      } else if (x < 0.72)
        reg.updateConnection(id, { state: (['idle', 'connecting', 'active', 'backoff', 'open'] as const)[it % 5] });
      else if (x < 0.74) reg.updateHeader(() => ({ listen: `127.0.0.${it % 200}:${it}` }));
      else reg.addBytesReceived(id, it);
      if (it % 5 !== 0) continue;
      const fast = view.snapshot();
      const full = view.inspect().snapshot;
      full.writer.heartbeatAgeMs = fast.writer.heartbeatAgeMs;
      expect(JSON.stringify(fast)).to.equal(JSON.stringify(full));
      const q = ids[it % ids.length];
      expect(view.getPeer(q)).to.deep.equal(full.peers.find((p) => p.serverId === q));
      expect(view.getPeer('nobody')).to.equal(undefined);
      expect(view.status()).to.deep.equal(full.status);
    }
  });
});
