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
// 4-byte hash per member per call.
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

/** Validated route options: replicas and whether suspected members count. */
export function routeOptions(opts: RouteOptions | undefined): { replicas: number; suspected: boolean } {
  if (opts === undefined) return { replicas: 1, suspected: false };
  if (typeof opts !== 'object' || opts === null) throw invalidArg('route: options must be an object');
  const replicas = opts.replicas ?? 1;
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > MAX_REPLICAS)
    throw invalidArg(`route: replicas must be an integer from 1 to ${MAX_REPLICAS}, got ${String(replicas)}`);
  const include = opts.include ?? 'healthy';
  if (include !== 'healthy' && include !== 'suspected')
    throw invalidArg(`route: include must be "healthy" or "suspected", got ${JSON.stringify(include)}`);
  return { replicas, suspected: include === 'suspected' };
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
  private readonly word = new Uint8Array(4);

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

  /** A member's score for a key: XXH32 of the key hash's 4 little-endian bytes, seeded with the member's seed. */
  score(keyHash: number, seed: number): number {
    const w = this.word;
    w[0] = keyHash & 0xff;
    w[1] = (keyHash >>> 8) & 0xff;
    w[2] = (keyHash >>> 16) & 0xff;
    w[3] = keyHash >>> 24;
    return xxHash32(w, seed);
  }
}

/**
 * The best `k` of the members offered, by score then serverId; reused
 * across calls (its arrays grow to the largest k once).
 */
export class TopOwners {
  private k = 1;
  private n = 0;
  private readonly scores: number[] = [];
  private readonly owners: RouteOwner[] = [];

  reset(k: number): void {
    this.k = k;
    this.n = 0;
  }

  offer(score: number, owner: RouteOwner): void {
    const { scores, owners } = this;
    let i = this.n;
    // Insertion from the end: k is small, and most offers fall off it at once.
    while (i > 0 && before(score, owner.serverId, scores[i - 1], owners[i - 1].serverId)) {
      if (i < this.k) {
        scores[i] = scores[i - 1];
        owners[i] = owners[i - 1];
      }
      i--;
    }
    if (i >= this.k) return;
    scores[i] = score;
    owners[i] = owner;
    if (this.n < this.k) this.n++;
  }

  /** The owners, best first: the one array a call allocates. */
  result(): RouteOwner[] {
    return this.owners.slice(0, this.n);
  }
}

/** Whether (score a, id a) ranks before (score b, id b). Ids are ASCII, so string order is byte order. */
function before(sa: number, ida: string, sb: number, idb: string): boolean {
  return sa > sb || (sa === sb && ida < idb);
}

/**
 * The owners of a key among `members`, best first: the rule as one function,
 * for callers that hold their own member list (and for tests). ClusterView's
 * route() gives the same answer for the members its region counts.
 */
export function rankOwners(key: string | Uint8Array, members: readonly RouteOwner[], replicas = 1): RouteOwner[] {
  const hasher = new KeyHasher();
  const top = new TopOwners();
  const h = hasher.keyHash(key);
  top.reset(replicas);
  for (const m of members) top.offer(hasher.score(h, memberSeed(m.serverId)), m);
  return top.result();
}
