// What the benchmarks in scripts/bench/ share beyond harness/ (ports, waits,
// child processes): flags, histograms (hdr-histogram-js), interleaved rounds,
// machine facts, formatting, and the result file each benchmark hands to
// run.ts. Nothing here is a test: benchmarks never assert timings.
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus, release, totalmem, type as osType } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as hdr from 'hdr-histogram-js';
import { exitOnSignals, forkChild, type ForkedChild } from '../../harness/processes.js';

export const benchDir = dirname(fileURLToPath(import.meta.url));
/** The package root (dist/scripts/bench -> ../../..). */
export const rootDir = resolve(benchDir, '..', '..', '..');
export const cliPath = join(rootDir, 'dist', 'lib', 'cli', 'main.js');

export interface BenchArgs {
  quick: boolean;
  /** Where run.ts wants this benchmark's result (JSON); absent when run alone. */
  out: string | undefined;
  startedAtMs: number;
}

/**
 * The start of a benchmark script: its flags, its start time, and SIGINT or
 * SIGTERM killing the helpers it starts rather than leaving them behind.
 */
export function startBench(argv = process.argv.slice(2)): BenchArgs {
  exitOnSignals();
  const i = argv.indexOf('--out');
  return { quick: argv.includes('--quick'), out: i >= 0 ? argv[i + 1] : undefined, startedAtMs: Date.now() };
}

/** What each benchmark script hands back: a Markdown section and headline figures. */
export interface BenchResult {
  name: string;
  title: string;
  /** Markdown body of the section (tables and notes), without its heading. */
  markdown: string;
  /** Key figures for the summary at the top of docs/BENCHMARKS.md. */
  headline: Record<string, number | string | boolean | null>;
  /** Wall-clock seconds the benchmark took. */
  seconds: number;
}

/** Writes the result for run.ts, or prints it when the script runs on its own. */
export function emit(
  args: BenchArgs,
  section: Omit<BenchResult, 'seconds' | 'markdown'> & { markdown: string[] },
): void {
  const r: BenchResult = {
    ...section,
    markdown: section.markdown.join('\n'),
    seconds: (Date.now() - args.startedAtMs) / 1000,
  };
  if (args.out) writeFileSync(args.out, JSON.stringify(r, null, 2));
  else process.stdout.write(`\n## ${r.title}\n\n${r.markdown}\n`);
}

// ---- histograms ----------------------------------------------------------

export type Histogram = hdr.Histogram;

/** A histogram of nanoseconds, 1 ns .. 100 s, 3 significant digits (or `digits`). */
export function histogram(digits: 1 | 2 | 3 | 4 | 5 = 3): Histogram {
  return hdr.build({
    lowestDiscernibleValue: 1,
    highestTrackableValue: 100_000_000_000,
    numberOfSignificantValueDigits: digits,
  });
}

export interface Stats {
  n: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

/** Percentiles of a histogram of ns, in the unit `div` (1000 for µs). */
export function stats(h: Histogram, div = 1000): Stats {
  return {
    n: h.totalCount,
    p50: h.getValueAtPercentile(50) / div,
    p99: h.getValueAtPercentile(99) / div,
    max: h.maxValue / div,
    mean: h.mean / div,
  };
}

/** Percentiles of plain samples (any unit), through a histogram of value × scale, 5 significant digits. */
export function sampleStats(values: number[], scale = 1000): Stats {
  const h = histogram(5);
  for (const v of values) h.recordValue(Math.max(1, Math.round(v * scale)));
  const s = stats(h, scale);
  h.destroy();
  return s;
}

export const now = (): bigint => process.hrtime.bigint();

// ---- interleaved rounds --------------------------------------------------

export interface Contender {
  key: string;
  label: string;
  /** One operation; sync contenders return a value, async ones a promise. */
  op: () => unknown;
  async: boolean;
}

export interface RoundsPlan {
  warmup: number;
  rounds: number;
  perRound: number;
  /** Stop starting new rounds after this many ms (the samples so far are kept). */
  budgetMs: number;
}

/**
 * Warm-up, then rounds; in each round every contender runs `perRound` timed
 * operations in turn (A B C .. then B C .. A, rotating the start), so drift of
 * the machine hits them alike. Returns one histogram of ns per contender.
 */
export async function interleave(contenders: Contender[], plan: RoundsPlan): Promise<Map<string, Histogram>> {
  const hs = new Map<string, Histogram>();
  for (const c of contenders) {
    hs.set(c.key, histogram());
    for (let i = 0; i < plan.warmup; i++) {
      const v = c.op();
      if (c.async) await v;
    }
  }
  const deadline = Date.now() + plan.budgetMs;
  for (let r = 0; r < plan.rounds && (r === 0 || Date.now() < deadline); r++) {
    for (let k = 0; k < contenders.length; k++) {
      const c = contenders[(k + r) % contenders.length];
      const h = hs.get(c.key)!;
      if (c.async) {
        for (let i = 0; i < plan.perRound; i++) {
          const t0 = now();
          await c.op();
          h.recordValue(Number(now() - t0));
        }
      } else {
        const op = c.op;
        for (let i = 0; i < plan.perRound; i++) {
          const t0 = now();
          op();
          h.recordValue(Number(now() - t0));
        }
      }
    }
  }
  return hs;
}

// ---- child processes and the environment ------------------------------------

/** Forks a compiled helper from dist/scripts/bench with an IPC channel (harness/processes.ts). */
export function forkHelper(name: string, args: string[] = [], env: Record<string, string> = {}): ForkedChild {
  return forkChild(join(benchDir, name), args, { env, nextTimeoutMs: 30_000 });
}

/** Finds an executable on PATH. */
export function which(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = join(dir, cmd);
    if (dir && existsSync(p)) return p;
  }
  return null;
}

export const SECRET = 'bench-secret-0123456789abcdef';

/** Writes an agent's config as `<dir>/<serverId>.json` and returns its path. */
export function writeAgentConfig(dir: string, config: { serverId: string } & Record<string, unknown>): string {
  const file = join(dir, `${config.serverId}.json`);
  writeFileSync(file, JSON.stringify(config));
  return file;
}

// ---- machine facts and formatting ----------------------------------------

export interface MachineInfo {
  date: string;
  cpu: string;
  cores: number;
  os: string;
  node: string;
  memoryGiB: number;
  loadAverage: number[];
}

function osName(): string {
  try {
    const text = readFileSync('/etc/os-release', 'utf8');
    const m = /^PRETTY_NAME="?([^"\n]+)"?/m.exec(text);
    if (m) return `${m[1]}, ${osType()} ${release()}`;
  } catch {
    // not Linux, or no os-release
  }
  return `${osType()} ${release()}`;
}

export function machineInfo(): MachineInfo {
  let load: number[];
  try {
    load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).map(Number);
  } catch {
    load = [];
  }
  return {
    date: new Date().toISOString(),
    cpu: cpus()[0]?.model.trim() ?? 'unknown',
    cores: cpus().length,
    os: osName(),
    node: process.version,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: load,
  };
}

/** Formats a number of µs (or any unit) to 3 significant digits, without exponent. */
export function fmt(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 0.01) return '< 0.01';
  if (a >= 1000) return Math.round(v).toLocaleString('en-US');
  if (a >= 100) return v.toFixed(0);
  if (a >= 10) return v.toFixed(1);
  if (a >= 1) return v.toFixed(2);
  return v.toPrecision(2);
}

/** "12×" style ratio. */
export function ratio(slow: number, fast: number): string {
  if (!(fast > 0)) return 'n/a';
  const r = slow / fast;
  return `${r >= 100 ? Math.round(r) : r >= 10 ? r.toFixed(0) : r.toFixed(1)}×`;
}

/** A Markdown table; `align` has one letter per column, l or r (default: the first l, the rest r). */
export function table(head: string[], rows: (string | number)[][], align?: string): string {
  const a = align ?? head.map((_, i) => (i === 0 ? 'l' : 'r')).join('');
  return [
    `| ${head.join(' | ')} |`,
    `|${[...a].map((x) => (x === 'l' ? '---' : '---:')).join('|')}|`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

export function log(msg: string): void {
  process.stderr.write(`[bench] ${msg}\n`);
}

// ---- process accounting --------------------------------------------------------

/**
 * CPU time of a process in ns: [all its threads, its main (JS) thread], from
 * the scheduler's own runtime accounting (/proc/<pid>/task/<tid>/schedstat),
 * which is exact, unlike the 10 ms ticks of /proc/<pid>/stat that charge a
 * whole tick to a process woken by a timer at the tick.
 */
export function cpuNs(pid: number): [number, number] {
  let all = 0;
  let main = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const ns = Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]);
      all += ns;
      if (Number(tid) === pid) main = ns;
    } catch {
      // the thread exited meanwhile
    }
  }
  return [all, main];
}

export function rssKiB(pid: number): number {
  const m = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** The largest total RSS (KiB) of these processes, sampled once a second for `seconds` seconds. */
export async function maxTotalRssKiB(pids: number[], seconds: number): Promise<number> {
  let max = 0;
  for (let s = 0; s < seconds; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    max = Math.max(
      max,
      pids.reduce((sum, p) => sum + rssKiB(p), 0),
    );
  }
  return max;
}
