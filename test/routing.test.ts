// Key routing (lib/routing.ts, ClusterView.route()):
// - the hash is XXH32 as published (xxHash's own sanity vectors);
// - docs/ROUTING.md's test vectors hold for the package and for an independent
//   implementation (scripts/routing-vectors.py, Python's xxhash module);
// - fast-check properties of the rule: order-independent, minimal disruption
//   when one member joins or leaves (about 1/N of the keys move), replicas
//   nest, owners are members;
// - ClusterView.route() on a real region counts only healthy members (and
//   suspected ones when asked), the node itself included, and checks its options.
import { expect } from 'chai';
import fc from 'fast-check';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { xxHash32 } from 'js-xxhash';
import { KeyHasher, memberSeed, rankOwners, xxh32Word, type RouteOwner } from '../lib/routing.js';
import { PeerStatus } from '../lib/status.js';
import { openTestView, startTestRegistry } from '../harness/registry.js';
import { codeOf, thrown } from '../harness/errors.js';
import { seededRandom } from '../harness/random.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cleanups: (() => void)[] = [];
afterEach(() => {
  for (const c of cleanups.splice(0).reverse()) c();
});

const members = (ids: readonly string[]): RouteOwner[] => ids.map((serverId) => ({ serverId, address: '' }));
const ids = (owners: readonly RouteOwner[]): string[] => owners.map((o) => o.serverId);

interface Vectors {
  seeds: Record<string, string>;
  scores: Record<string, string>;
  vectors: { key: string; keyHex: string; keyHash: string; ranking: string[]; withoutWeb3: string[] }[];
}

/** The test vectors as docs/ROUTING.md prints them, parsed from its tables. */
function docVectors(): Vectors {
  const doc = readFileSync(join(root, 'docs', 'ROUTING.md'), 'utf8');
  const rows = (header: string): string[][] => {
    const at = doc.indexOf(header);
    if (at < 0) throw new Error(`docs/ROUTING.md has no table "${header}"`);
    return doc
      .slice(at)
      .split('\n')
      .slice(2)
      .filter((l, i, all) => l.startsWith('|') && all.slice(0, i).every((p) => p.startsWith('|')))
      .map((l) =>
        l
          .split('|')
          .slice(1, -1)
          .map((c) => c.trim()),
      );
  };
  const hex = (c: string) => c.replace(/^0x/, '');
  const seeds = Object.fromEntries(rows('| serverId | seed').map(([id, s]) => [id, hex(s)]));
  const scores = Object.fromEntries(rows('| serverId | score |').map(([id, s]) => [id, hex(s)]));
  const vectors = rows('| key | key bytes (hex)').map(([key, keyHex, keyHash, ranking, without]) => ({
    key: key === '(empty)' ? '' : key.replace(/^`|`$/g, ''),
    keyHex: keyHex === '(none)' ? '' : keyHex,
    keyHash: hex(keyHash),
    ranking: ranking.split(', '),
    withoutWeb3: without.split(', '),
  }));
  return { seeds, scores, vectors };
}

const hex8 = (n: number) => n.toString(16).padStart(8, '0');

describe('routing: the hash', () => {
  it("js-xxhash's XXH32 gives xxHash's published sanity vectors", () => {
    // xxHash's sanity buffer: byte i is the top byte of PRIME32 * PRIME64^i (mod 2^64).
    const buf = Buffer.alloc(222);
    let gen = 2654435761n;
    for (let i = 0; i < buf.length; i++) {
      buf[i] = Number(gen >> 56n);
      gen = (gen * 11400714785074694797n) & 0xffffffffffffffffn;
    }
    const P = 2654435761;
    const published: [number, number, number][] = [
      [0, 0, 0x02cc5d05],
      [0, P, 0x36b78ae7],
      [1, 0, 0xcf65b03e],
      [1, P, 0xb4545aa4],
      [14, 0, 0x1208e7e2],
      [14, P, 0x6af1d1fe],
      [222, 0, 0x5bd11dbd],
      [222, P, 0x58803c5f],
    ];
    for (const [len, seed, want] of published)
      expect(xxHash32(buf.subarray(0, len), seed), `len ${len}`).to.equal(want);
  });

  it("the 4-byte XXH32 that scores members equals js-xxhash's XXH32 of those bytes, for any word and seed", () => {
    const check = (word: number, seed: number) => {
      const le = Buffer.alloc(4);
      le.writeUInt32LE(word >>> 0);
      expect(xxh32Word(word, seed), `word ${word} seed ${seed}`).to.equal(xxHash32(le, seed >>> 0));
    };
    for (const edge of [0, 1, 0x7fffffff, 0x80000000, 0xffffffff, 2654435761]) check(edge, edge);
    fc.assert(fc.property(fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), check), {
      numRuns: 5000,
    });
  });

  it('a string key hashes as its UTF-8 bytes, also past the scratch buffer and through reused views', () => {
    const h = new KeyHasher();
    for (const key of ['', 'a', 'ключ', 'x'.repeat(255), 'é'.repeat(300), '€'.repeat(257), 'a'])
      expect(h.keyHash(key), `${key.length} chars`).to.equal(xxHash32(Buffer.from(key, 'utf8'), 0));
    expect(h.keyHash(Buffer.from([1, 2, 3]))).to.equal(xxHash32(Buffer.from([1, 2, 3]), 0));
  });
});

describe('routing: docs/ROUTING.md test vectors', () => {
  const v = docVectors();

  it('the package gives every seed, score and owner list the page prints', () => {
    expect(Object.keys(v.seeds)).to.have.length(5);
    expect(v.vectors).to.have.length.greaterThan(4);
    for (const [id, seed] of Object.entries(v.seeds)) expect(hex8(memberSeed(id)), id).to.equal(seed);
    const h = new KeyHasher();
    const first = h.keyHash(v.vectors[0].key);
    for (const [id, score] of Object.entries(v.scores))
      expect(hex8(xxh32Word(first, memberSeed(id))), id).to.equal(score);
    const all = members(Object.keys(v.seeds));
    for (const row of v.vectors) {
      const bytes = Buffer.from(row.keyHex, 'hex');
      expect(hex8(h.keyHash(bytes)), row.key).to.equal(row.keyHash);
      expect(ids(rankOwners(bytes, all, 5)), row.key).to.deep.equal(row.ranking);
      if (!row.key.startsWith('0x')) expect(ids(rankOwners(row.key, all, 5)), row.key).to.deep.equal(row.ranking);
      const without = all.filter((m) => m.serverId !== 'web-3');
      expect(ids(rankOwners(bytes, without, 2)), `${row.key} without web-3`).to.deep.equal(row.withoutWeb3);
    }
  });

  it('an independent implementation (Python xxhash, scripts/routing-vectors.py) prints the same vectors', function () {
    // Debian's python3-xxhash is for /usr/bin/python3; a python3 earlier on PATH may lack it.
    const python = ['/usr/bin/python3', 'python3'].find(
      (p) => spawnSync(p, ['-c', 'import xxhash'], { stdio: 'ignore' }).status === 0,
    );
    if (!python) {
      console.log('      skipped: no python3 with the xxhash module (Debian: apt-get install python3-xxhash)');
      this.skip();
    }
    const r = spawnSync(python, [join(root, 'scripts', 'routing-vectors.py')], { encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).to.equal(0);
    expect(JSON.parse(r.stdout) as Vectors).to.deep.equal(v);
  });
});

const idArb = fc.stringMatching(/^[a-z0-9][a-z0-9._-]{0,11}$/);
const keysArb = fc.uniqueArray(fc.string({ maxLength: 24 }), { minLength: 50, maxLength: 200 });

describe('routing: properties of the rule', () => {
  it('every process gets the same owners for the same membership, whatever order it lists the members in', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(idArb, { minLength: 1, maxLength: 20 }),
        keysArb,
        fc.integer({ min: 1, max: 4 }),
        fc.integer(),
        (set, keys, replicas, seed) => {
          const random = seededRandom(seed);
          const shuffled = [...set];
          for (let i = shuffled.length - 1; i > 0; i--) {
            const j = Math.floor(random() * (i + 1));
            [shuffled[i], shuffled[j]] = [shuffled[j], shuffled[i]];
          }
          for (const k of keys)
            expect(ids(rankOwners(k, members(shuffled), replicas))).to.deep.equal(
              ids(rankOwners(k, members(set), replicas)),
            );
        },
      ),
      { numRuns: 60 },
    );
  });

  it('one member joining or leaving moves only the keys it gains or loses; replicas shift by one place at most', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(idArb, { minLength: 2, maxLength: 20 }),
        keysArb,
        fc.integer({ min: 1, max: 3 }),
        (set, keys, replicas) => {
          const joiner = set[set.length - 1];
          const before = members(set.slice(0, -1));
          const after = members(set);
          for (const k of keys) {
            const b = ids(rankOwners(k, before, replicas));
            const a = ids(rankOwners(k, after, replicas));
            // Leaving (after -> before) or joining (before -> after): apart from the member itself, the
            // order is kept, and it only pushes the last one out.
            expect(
              a.filter((id) => id !== joiner),
              k,
            ).to.deep.equal(b.slice(0, a.includes(joiner) ? Math.min(b.length, replicas - 1) : b.length));
            if (a[0] !== joiner) expect(a[0], `${k}: its owner moved though the joiner did not win it`).to.equal(b[0]);
          }
        },
      ),
      { numRuns: 80 },
    );
  });

  it('about 1/N of the keys move when the N-th member joins, and each member owns about 1/N', () => {
    const keys = Array.from({ length: 20_000 }, (_, i) => `user-${i}`);
    for (const n of [2, 3, 5, 8, 16]) {
      const set = Array.from({ length: n }, (_, i) => `node-${i}`);
      const before = members(set.slice(0, -1));
      const after = members(set);
      let moved = 0;
      const share = new Map<string, number>();
      for (const k of keys) {
        const a = rankOwners(k, after)[0].serverId;
        if (a !== rankOwners(k, before)[0].serverId) moved++;
        share.set(a, (share.get(a) ?? 0) + 1);
      }
      // Binomial: the standard deviation of the fraction is under 0.0036 here; the bounds are 7 of them.
      expect(Math.abs(moved / keys.length - 1 / n), `moved with ${n} members`).to.be.below(0.025);
      for (const [id, c] of share)
        expect(Math.abs(c / keys.length - 1 / n), `${id}'s share of ${n}`).to.be.below(0.025);
    }
  });

  it('owners are distinct members, as many as asked (or all), and k owners are the first k of k + 1', () => {
    fc.assert(
      fc.property(
        fc.uniqueArray(idArb, { minLength: 0, maxLength: 12 }),
        fc.oneof(fc.string(), fc.uint8Array({ maxLength: 40 })),
        fc.integer({ min: 1, max: 14 }),
        (set, key, k) => {
          const bytes = typeof key === 'string' ? key : Buffer.from(key);
          const got = ids(rankOwners(bytes, members(set), k));
          expect(got).to.have.length(Math.min(k, set.length));
          expect(new Set(got).size).to.equal(got.length);
          for (const id of got) expect(set).to.include(id);
          expect(ids(rankOwners(bytes, members(set), k + 1)).slice(0, k)).to.deep.equal(got);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('ClusterView.route() on a region', () => {
  const peerIds = ['b', 'c', 'd', 'e', 'f', 'g', 'h'];
  const peers = peerIds.map((id, i) => `${id}@127.0.0.1:${7102 + i}`);

  it('counts the healthy members and the node itself, or also the suspected ones when asked', () => {
    const reg = startTestRegistry(cleanups, { prefix: 'rt', peers, capacity: 16 });
    const view = openTestView(cleanups, reg);
    const self = reg.config.serverId;
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom(PeerStatus.Healthy, PeerStatus.Suspected, PeerStatus.Down), {
          minLength: peerIds.length,
          maxLength: peerIds.length,
        }),
        fc.array(fc.string(), { minLength: 1, maxLength: 20 }),
        fc.integer({ min: 1, max: 9 }),
        (statuses, keys, replicas) => {
          statuses.forEach((s, i) => {
            const id = peerIds[i];
            reg.markHeartbeatReceived(id);
            if (s === PeerStatus.Down) reg.markDown(id, 'test');
            else if (s === PeerStatus.Suspected)
              for (let m = 0; m < reg.config.suspectAfter; m++) reg.markHeartbeatMissed(id);
          });
          const healthy = [self, ...peerIds.filter((_, i) => statuses[i] === PeerStatus.Healthy)];
          const notDown = [self, ...peerIds.filter((_, i) => statuses[i] !== PeerStatus.Down)];
          for (const k of keys) {
            const got = view.route(k, { replicas });
            expect(ids(got), k).to.deep.equal(ids(rankOwners(k, members(healthy), replicas)));
            const damped = view.route(k, { replicas, include: 'suspected' });
            expect(ids(damped), k).to.deep.equal(ids(rankOwners(k, members(notDown), replicas)));
          }
        },
      ),
      { numRuns: 40 },
    );
  });

  it('gives each owner its address: the listen address for the node itself (no advertise), the slot for a peer', () => {
    const reg = startTestRegistry(cleanups, { prefix: 'rt', peers, capacity: 16 });
    const view = openTestView(cleanups, reg);
    const all = view.route('any key', { replicas: 8 });
    expect(all).to.have.length(8);
    const byId = new Map(all.map((o) => [o.serverId, o.address]));
    expect(byId.get(reg.config.serverId)).to.equal('127.0.0.1:7101');
    peerIds.forEach((id, i) => expect(byId.get(id), id).to.equal(`127.0.0.1:${7102 + i}`));
    // The owner objects are the view's own, reused and frozen: a caller cannot change the next answer.
    expect(Object.isFrozen(all[0])).to.equal(true);
    expect(view.route('any key', { replicas: 8 })[0]).to.equal(all[0]);
    // A peer that moves gets a new owner object with its new address.
    reg.setAddress('b', '127.0.0.1:9999');
    expect(view.route('any key', { replicas: 8 }).find((o) => o.serverId === 'b')?.address).to.equal('127.0.0.1:9999');
  });

  it('counts the node itself when every peer is down, and refuses bad options and keys with ERR_INVALID_ARG naming them', () => {
    const reg = startTestRegistry(cleanups, { prefix: 'rt', peers: ['b@127.0.0.1:7102'] });
    const view = openTestView(cleanups, reg);
    reg.markDown('b', 'test');
    expect(ids(view.route('k', { replicas: 3 }))).to.deep.equal([reg.config.serverId]);
    for (const [opts, names] of [
      [{ replicas: 0 }, 'replicas'],
      [{ replicas: 1.5 }, 'replicas'],
      [{ replicas: 5000 }, 'replicas'],
      [{ replicas: '2' }, 'replicas'],
      [{ include: 'down' }, 'include'],
      ['fast', 'options'],
    ] as const) {
      const e = thrown(() => view.route('k', opts as never));
      expect(e?.code, JSON.stringify(opts)).to.equal('ERR_INVALID_ARG');
      expect(e?.message).to.contain(names);
    }
    for (const key of [42, null, undefined, { id: 1 }]) {
      const e = thrown(() => view.route(key as never));
      expect(e?.code, String(key)).to.equal('ERR_INVALID_ARG');
      expect(e?.message).to.contain('key');
    }
    view.close();
    expect(codeOf(() => view.route('k'))).to.equal('ERR_REGION_CLOSED');
  });
});
