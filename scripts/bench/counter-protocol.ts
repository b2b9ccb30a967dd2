// Messages and constants shared by counters.ts and counter-child.ts.

export const BATCH = 8192;
/** Sum of the amounts of one batch: amount k is (k & 1023) + 1. */
export const BATCH_SUM = (BATCH / 1024) * ((1024 * 1025) / 2);

export interface Go {
  path: 'fast' | 'napi';
  /** process.hrtime.bigint() at which to start (CLOCK_MONOTONIC is the same for every process). */
  startNs: string;
  durationMs: number;
}
export interface Done {
  done: true;
  adds: number;
  sum: number;
  ns: number;
  /** ns per batch of BATCH adds. */
  batches: number[];
}
