// The byte counters' fast path: an Atomics.add on the mapped counter, the
// same 64-bit atomic read-modify-write as the addon's, about 10x cheaper
// than a call into the addon. Anything unusual takes the addon's path, which
// also raises the errors.
import type { NativeRegion } from '../native.js';

const U64_MAX = 0xffffffffffffffffn;
/** Past this, a counter is near saturation and adds take the native (CAS) path. */
const NEAR_SATURATION = 1n << 63n;
/** BigInts of small amounts, made once: an add then allocates nothing. */
const smallAmounts = new Array<bigint | undefined>(4096);
function amountBigInt(n: number): bigint {
  if (n < 4096) return (smallAmounts[n] ??= BigInt(n));
  return BigInt(n);
}

/** Which counter of a slot. */
export const Counter = { bytesSent: 0, bytesReceived: 1 } as const;
export type Counter = (typeof Counter)[keyof typeof Counter];

/**
 * Adds to the counters of one mapping. The slow path is the addon's: a
 * read-only or closed region, a bad index or amount, a runtime without
 * external buffers, or a counter near 2^64 (the addon's compare-and-swap
 * saturates at 2^64-1; see docs/BENCHMARKS.md for why the two paths
 * together keep counters exact and saturating).
 */
export class CounterAdder {
  private readonly native: NativeRegion;
  private readonly capacity: number;
  /** The mapping's slot array as u64 words; null: use the addon; undefined: not mapped yet. */
  private words: BigUint64Array | null | undefined;
  private slotWords = 0;
  private counterWord = 0;

  constructor(native: NativeRegion, capacity: number) {
    this.native = native;
    this.capacity = capacity;
  }

  add(index: number, which: Counter, amount: number): void {
    const words = this.words === undefined ? this.map() : this.words;
    if (
      words !== null &&
      typeof index === 'number' &&
      index >= 0 &&
      index < this.capacity &&
      Math.floor(index) === index &&
      typeof amount === 'number' &&
      amount >= 0 &&
      amount <= Number.MAX_SAFE_INTEGER &&
      Math.floor(amount) === amount
    ) {
      const at = index * this.slotWords + this.counterWord + which;
      const a = amountBigInt(amount);
      const old = Atomics.add(words, at, a);
      if (old >= NEAR_SATURATION) this.nearSaturation(words, at, old, a);
      return;
    }
    this.native.addCounter(index, which, amount);
  }

  /** Drops the mapped view (the addon detaches its buffer at close). */
  release(): void {
    this.words = null;
  }

  private map(): BigUint64Array | null {
    this.words = null;
    // 64-bit Atomics are lock-free (hence process-shared) on these; elsewhere use the addon.
    if (process.arch !== 'x64' && process.arch !== 'arm64') return null;
    let view: ReturnType<NativeRegion['counters']>;
    try {
      view = this.native.counters();
    } catch {
      view = null; // closed: the addon's path raises the error
    }
    if (!view) return null;
    this.slotWords = view.slotSize / 8;
    this.counterWord = view.counterOffset / 8;
    this.words = new BigUint64Array(view.buffer);
    return this.words;
  }

  /**
   * A counter reached 2^63: from now on this adder goes through the addon,
   * whose compare-and-swap saturates. If this very add wrapped past 2^64-1
   * (it takes a thousand processes each making its last fast add at once at
   * the limit), put the counter back at 2^64-1, where saturation keeps it.
   */
  private nearSaturation(words: BigUint64Array, at: number, old: bigint, a: bigint): void {
    this.words = null;
    if (old + a <= U64_MAX) return;
    for (;;) {
      const cur = Atomics.load(words, at);
      if (cur === U64_MAX || Atomics.compareExchange(words, at, cur, U64_MAX) === cur) return;
    }
  }
}
