// The failure detectors. "fixed" (the default) counts silent heartbeat ticks:
// Suspected after suspectAfter, Down after downAfter (lib/status.ts). "phi" is
// the φ accrual detector of Hayashibara et al.: the writer keeps a bounded
// window of each peer's heartbeat inter-arrival times and publishes its mean
// and standard deviation; anyone (the writer at a tick, a reader in another
// process at read time) turns the silence since the last frame into φ, the
// -log10 of the probability that a heartbeat this late is still to come.
// docs/RELIABILITY.md ("Failure detectors") explains the choices.
import { PeerStatus } from './status.js';

/** The φ accrual detector's settings, every one resolved (parseConfig fills the defaults). */
export interface PhiDetectorSettings {
  kind: 'phi';
  /** Suspected once φ reaches this (default 8). */
  threshold: number;
  /** Down once φ reaches this (default 5 × threshold). */
  downThreshold: number;
  /** Inter-arrival samples kept per peer (default 100). */
  windowSize: number;
  /** Floor of the standard deviation, in ms (default heartbeatIntervalMs / 4). */
  minStdDevMs: number;
  /** Silence beyond the mean that counts as expected, in ms (default heartbeatIntervalMs). */
  acceptablePauseMs: number;
}

/** The `detector` section of a config, as written: `{ kind: "fixed" }` or `{ kind: "phi", … }` with any settings left out. */
export type DetectorConfig = { kind: 'fixed' } | ({ kind: 'phi' } & Partial<Omit<PhiDetectorSettings, 'kind'>>);

/** Defaults of the φ detector; the two durations scale with the heartbeat interval. */
export const phiDefaults = {
  threshold: 8,
  /** downThreshold = this × threshold. */
  downFactor: 5,
  windowSize: 100,
  /** minStdDevMs = heartbeatIntervalMs / this. */
  minStdDevDivisor: 4,
  /** acceptablePauseMs = this × heartbeatIntervalMs. */
  acceptablePauseIntervals: 1,
} as const;

/** Detector kinds as stored in the region header's detectorKind (0, the value of an older writer, is "fixed"). */
export const detectorKindCodes = { fixed: 0, phi: 1 } as const;

const LN10 = Math.log(10);

/**
 * φ after `silenceMs` without a heartbeat, for inter-arrival times of mean
 * `meanMs` and standard deviation `stdDevMs` (the window's), under settings
 * `s`: the arrival time is taken as normal with mean meanMs +
 * acceptablePauseMs and deviation max(stdDevMs, minStdDevMs), and φ =
 * -log10(1 - F(silence)), with F the logistic approximation of the normal
 * CDF, F(y) ≈ 1 / (1 + e^(-z)), z = y (1.5976 + 0.070566 y²). Then
 * 1 - F = 1 / (1 + e^z) and φ = log10(1 + e^z), computed without overflow.
 */
export function phi(
  silenceMs: number,
  meanMs: number,
  stdDevMs: number,
  s: Pick<PhiDetectorSettings, 'minStdDevMs' | 'acceptablePauseMs'>,
): number {
  const sd = Math.max(stdDevMs, s.minStdDevMs);
  const y = (silenceMs - (meanMs + s.acceptablePauseMs)) / sd;
  const z = y * (1.5976 + 0.070566 * y * y);
  // log(1 + e^z) = z + log(1 + e^-z) for z > 0, so neither exponential overflows.
  return (z > 0 ? z + Math.log1p(Math.exp(-z)) : Math.log1p(Math.exp(z))) / LN10;
}

/** The status φ implies: Down at downThreshold, Suspected at threshold. */
export function statusForPhi(value: number, s: Pick<PhiDetectorSettings, 'threshold' | 'downThreshold'>): PeerStatus {
  if (value >= s.downThreshold) return PeerStatus.Down;
  if (value >= s.threshold) return PeerStatus.Suspected;
  return PeerStatus.Healthy;
}

/**
 * One peer's window of inter-arrival times. It starts with two seed samples,
 * interval × 3/4 and interval × 5/4 (mean the interval, deviation a quarter
 * of it), so φ is defined from the first heartbeat on; real samples push the
 * seeds out like any other. Every frame of a peer refreshes its last-seen
 * time, but a frame less than half an interval after the last counted one is
 * not a new sample: a round with a peer of protocol 2.2 or older brings both
 * its ping and its pong to ours (2.3 pairs exchange one), and only the round
 * is the heartbeat.
 */
export class ArrivalWindow {
  private readonly samples: Float64Array;
  private next = 0;
  private size = 0;
  private sum = 0;
  private sumSquares = 0;
  private pushes = 0;
  /** Real samples recorded (the seeds not counted), capped at the window size. */
  realSamples = 0;
  /** Wall-clock ms of the last counted arrival; undefined before the first. */
  private lastCounted: number | undefined;
  private readonly minGapMs: number;

  constructor(windowSize: number, intervalMs: number) {
    this.samples = new Float64Array(windowSize);
    this.minGapMs = intervalMs / 2;
    this.push(intervalMs * 0.75);
    this.push(intervalMs * 1.25);
  }

  /**
   * A frame from the peer at `nowMs`. `countGap` false: the silence before it
   * is not a sample (the peer was down, so the gap measures an outage, not
   * the heartbeat rhythm). True when the window changed.
   */
  arrival(nowMs: number, countGap = true): boolean {
    const last = this.lastCounted;
    if (last !== undefined && nowMs - last < this.minGapMs) return false;
    this.lastCounted = nowMs;
    if (last === undefined || !countGap) return false;
    this.push(nowMs - last);
    this.realSamples = Math.min(this.realSamples + 1, this.samples.length);
    return true;
  }

  private push(x: number): void {
    const n = this.samples.length;
    if (this.size === n) {
      const old = this.samples[this.next];
      this.sum -= old;
      this.sumSquares -= old * old;
    } else {
      this.size++;
    }
    this.samples[this.next] = x;
    this.sum += x;
    this.sumSquares += x * x;
    this.next = (this.next + 1) % n;
    // Running sums drift by rounding; recompute them once per window's worth of samples.
    if (++this.pushes % n === 0) {
      this.sum = 0;
      this.sumSquares = 0;
      for (let i = 0; i < this.size; i++) {
        this.sum += this.samples[i];
        this.sumSquares += this.samples[i] * this.samples[i];
      }
    }
  }

  get meanMs(): number {
    return this.sum / this.size;
  }

  /** Population standard deviation of the window. */
  get stdDevMs(): number {
    const m = this.meanMs;
    return Math.sqrt(Math.max(0, this.sumSquares / this.size - m * m));
  }
}
