// Key routing: which members own a key. Rendezvous (highest-random-weight)
// hashing over the members counted healthy, with XXH32 (js-xxhash) as the
// hash. The rule is small enough for any language to reproduce; docs/ROUTING.md
// gives it with test vectors (test/routing.test.ts checks them).
//
//   keyHash    = XXH32(key bytes, seed 0)             key: UTF-8 of a string, or the Buffer's bytes
//   seed(m)    = XXH32(UTF-8 of m's serverId, seed 0)
//   score(m)   = XXH32(keyHash as 4 bytes, little-endian, seed = seed(m))
//   owners     = members by score, highest first; equal scores by serverId, ascending (byte order)
//
// Why rendezvous and not jump hashing: jump hashing numbers the buckets, so
// over a sorted member list removing any member but the last renumbers the
// ones after it and moves their keys too. With rendezvous a member's score
// for a key depends on that member alone: removing it moves exactly the keys
// it owned, adding one moves exactly the keys it now wins (1/N of them on
// average), and the ranking gives replicas for free (the next in line).
// Hashing the key once and each member's seed once per membership leaves a
// 4-byte hash per member per call (xxh32Word, XXH32 specialised to 4 bytes).
import { xxHash32 } from 'js-xxhash';
import { invalidArg } from './errors.js';

/** One owner of a key: who, and where its node says it can be dialled. */
export interface RouteOwner {
  readonly serverId: string;
  readonly address: string;
}

export interface RouteOptions {
  /** How many owners to return, best first (default 1); fewer when fewer members count. */
  replicas?: number;
  /**
   * `healthy` (default): only healthy members own keys. `suspected`: suspected
   * members keep theirs too, so a brief suspicion moves no key (flap damping),
   * at the price of routing to a member that may be failing until it is down.
   */
  include?: 'healthy' | 'suspected';
}

/** The most owners a call may ask for. */
export const MAX_REPLICAS = 1024;

/** The validated `replicas` option (default 1). */
export function routeReplicas(opts: RouteOptions | undefined): number {
  if (opts === undefined) return 1;
  if (typeof opts !== 'object' || opts === null) throw invalidArg('route: options must be an object');
  const replicas = opts.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS)
    throw invalidArg(`route: replicas must be an integer from 1 to ${MAX_REPLICAS}, got ${String(replicas)}`);
  return replicas;
}

/** The validated `include` option: whether suspected members count (after routeReplicas checked `opts`). */
export function routeSuspected(opts: RouteOptions | undefined): boolean {
  const include = opts?.include ?? 'healthy';
  if (include !== 'healthy' && include !== 'suspected')
    throw invalidArg(`route: include must be "healthy" or "suspected", got ${JSON.stringify(include)}`);
  return include === 'suspected';
}

/** A member as the ranking takes it: the owner object a call returns, and the member's seed. */
export interface RouteMember {
  readonly owner: RouteOwner;
  readonly seed: number;
}

/** A RouteMember for (serverId, address): `cached` when it is that one, else a new one (frozen owner). */
export function routeMember(cached: RouteMember | undefined, serverId: string, address: string): RouteMember {
  if (cached && cached.owner.serverId === serverId && cached.owner.address === address) return cached;
  return { owner: Object.freeze({ serverId, address }), seed: memberSeed(serverId) };
}

/** A member's seed: XXH32 of its serverId. Computed once per member, not per call. */
export function memberSeed(serverId: string): number {
  return xxHash32(serverId, 0);
}

/**
 * Hashes keys into XXH32 without allocating for short strings: a string of
 * up to SCRATCH / 3 UTF-16 units always fits the scratch buffer as UTF-8, and
 * each length gets one reusable view of it.
 */
export class KeyHasher {
  private static readonly SCRATCH = 768;
  private readonly scratch = Buffer.alloc(KeyHasher.SCRATCH);
  private readonly views: (Uint8Array | undefined)[] = [];

  /** XXH32 of the key's bytes, seed 0. */
  keyHash(key: string | Uint8Array): number {
    if (typeof key === 'string') {
      if (key.length > KeyHasher.SCRATCH / 3) return xxHash32(Buffer.from(key, 'utf8'), 0);
      const n = this.scratch.write(key, 0, 'utf8');
      const view = (this.views[n] ??= this.scratch.subarray(0, n));
      return xxHash32(view, 0);
    }
    if (key instanceof Uint8Array) return xxHash32(key, 0);
    throw invalidArg('route: the key must be a string or a Buffer');
  }
}

// XXH32's primes (the xxHash specification).
const P2 = 0x85ebca77 | 0;
const P3 = 0xc2b2ae3d | 0;
const P4 = 0x27d4eb2f | 0;
const P5 = 0x165667b1 | 0;

/**
 * XXH32 of exactly 4 bytes, the little-endian bytes of `word`, with `seed`:
 * the specification's steps for a 4-byte input (no stripe, one 4-byte lane,
 * no tail), in 32-bit integer arithmetic. It is the one hash route() runs per
 * member, and js-xxhash's general function costs about ten times as much per
 * call here (it walks a byte array and boxes its result); test/routing.test.ts
 * checks the two agree on random words and seeds, and on the published vectors.
 */
export function xxh32Word(word: number, seed: number): number {
  let acc = (seed + P5 + 4) | 0; // the seed, PRIME32_5, plus the input length
  acc = (acc + Math.imul(word | 0, P3)) | 0;
  acc = Math.imul((acc << 17) | (acc >>> 15), P4);
  acc ^= acc >>> 15;
  acc = Math.imul(acc, P2);
  acc ^= acc >>> 13;
  acc = Math.imul(acc, P3);
  acc ^= acc >>> 16;
  return acc >>> 0;
}

/**
 * Ranks members for a key and keeps the best k. One instance serves every
 * call of its owner: the whole loop (score, compare, insert) runs in rank(),
 * on numbers kept in typed arrays, so a call allocates nothing but the array
 * it returns (a score handed to another function would be boxed).
 */
export class Ranking {
  private memberScores = new Float64Array(64);
  private readonly scores = new Float64Array(MAX_REPLICAS);
  private readonly owners: RouteOwner[] = [];

  /** The best `k` of `members[0 .. count-1]` for `keyHash`, by score, then serverId. */
  rank(keyHash: number, k: number, members: readonly RouteMember[], count: number): RouteOwner[] {
    if (this.memberScores.length < count) this.memberScores = new Float64Array(2 * count);
    const all = this.memberScores;
    // A tight loop of its own, so that the hash is inlined here and its result never boxed.
    for (let m = 0; m < count; m++) all[m] = xxh32Word(keyHash, members[m].seed);
    const { scores, owners } = this;
    let n = 0;
    for (let m = 0; m < count; m++) {
      const score = all[m];
      const owner = members[m].owner;
      const id = owner.serverId;
      // Insertion from the end: k is small, and most members fall off it at once. Ties go to
      // the smaller serverId (ASCII, so string order is byte order).
      let i = n;
      while (i > 0 && (score > scores[i - 1] || (score === scores[i - 1] && id < owners[i - 1].serverId))) {
        if (i < k) {
          scores[i] = scores[i - 1];
          owners[i] = owners[i - 1];
        }
        i--;
      }
      if (i >= k) continue;
      scores[i] = score;
      owners[i] = owner;
      if (n < k) n++;
    }
    return owners.slice(0, n);
  }
}

/**
 * The owners of a key among `members`, best first: the rule as one function,
 * for callers that hold their own member list (and for tests). ClusterView's
 * route() gives the same answer for the members its region counts.
 */
export function rankOwners(key: string | Uint8Array, members: readonly RouteOwner[], replicas = 1): RouteOwner[] {
  const k = routeReplicas({ replicas });
  const list = members.map((owner) => ({ owner, seed: memberSeed(owner.serverId) }));
  return new Ranking().rank(new KeyHasher().keyHash(key), k, list, list.length);
}
