// Loads the native addon: a local build (build/Release, build/Debug) if there
// is one, else the prebuild that node-gyp-build's rules pick for this platform.
// A candidate that fails to load does not stop the search, and when nothing
// loads, the error names this host (platform, arch, libc and its version), every
// path tried with why it failed and what that file needs (its machine and the
// newest GLIBC_x.y it requires, read from the ELF), and the command that builds
// from source.
import { createRequire } from 'node:module';
import { readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeNeeds, hostLibc, prebuildLibc } from './addon-needs.js';
import { CommyError, ErrorCode } from './errors.js';
import type { NativeBinding } from './native.js';

export { addonNeeds, hostLibc, prebuildLibc, type AddonNeeds } from './addon-needs.js';

const require = createRequire(import.meta.url);
// dist/lib/binding.js -> package root
export const packageRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** node-gyp-build's prebuild-matching helpers (exported by node-gyp-build 4.x). */
interface PrebuildRules {
  parseTuple(name: string): { name: string; platform: string; architectures: string[] } | undefined;
  matchTuple(platform: string, arch: string): (t: unknown) => boolean;
  compareTuples(a: unknown, b: unknown): number;
  parseTags(file: string): { file: string; libc?: string } | undefined;
  matchTags(runtime: string, abi: string): (t: unknown) => boolean;
  compareTags(runtime: string): (a: unknown, b: unknown) => number;
}

export interface LoadOptions {
  /** Load exactly this file and nothing else (env COMMY_ADDON_PATH). */
  addonPath?: string;
  /** Skip build/ and look only at prebuilds (env PREBUILDS_ONLY, as node-gyp-build). */
  prebuildsOnly?: boolean;
  platform?: string;
  arch?: string;
  /** The libc whose prebuilds fit (`glibc` or `musl`); default as node-gyp-build: env LIBC, else musl on Alpine. */
  libc?: string;
}

/** The command that builds the addon from source, named by every load error. */
export const buildFromSourceCommand = 'npm rebuild commy --build-from-source';

function entries(dir: string): string[] {
  try {
    return readdirSync(dir).sort();
  } catch {
    return [];
  }
}

/**
 * The prebuilds under `root` that fit this platform, best first, by
 * node-gyp-build's rules (platform-arch folder, then runtime, napi/abi, libc
 * and other tags); `rejected` collects the folders searched without a fit.
 */
interface Rejected {
  path: string;
  reason: string;
}

function prebuildCandidates(
  root: string,
  platform: string,
  arch: string,
  libc: string,
  rejected: Rejected[],
): string[] {
  const rules = require('node-gyp-build') as PrebuildRules;
  const runtime = process.versions.electron ? 'electron' : 'node';
  const abi = process.versions.modules;
  const base = join(root, 'prebuilds');
  const tuples = entries(base)
    .map((n) => rules.parseTuple(n))
    .filter(rules.matchTuple(platform, arch))
    .sort(rules.compareTuples) as { name: string }[];
  if (tuples.length === 0) {
    rejected.push({ path: join(base, `${platform}-${arch}`), reason: 'no such folder' });
    return [];
  }
  const out: string[] = [];
  for (const t of tuples) {
    const dir = join(base, t.name);
    const files = entries(dir);
    // node-gyp-build's tag rules, but with our libc: its own is fixed when it loads.
    const matches = rules.matchTags(runtime, abi);
    const fits = files
      .map((f) => rules.parseTags(f))
      .filter((t) => t !== undefined && matches({ ...t, libc: undefined }) && (!t.libc || t.libc === libc))
      .sort(rules.compareTags(runtime)) as { file: string }[];
    if (fits.length === 0) {
      const seen = files.length ? `has only ${files.join(', ')}` : 'is empty';
      const libcTag = platform === 'linux' ? ` ${libc}` : '';
      rejected.push({ path: dir, reason: `no build for ${runtime} abi ${abi}${libcTag} (it ${seen})` });
    }
    for (const f of fits) out.push(join(dir, f.file));
  }
  return out;
}

/** Every file the loader would try, in order, and the folders that offered none. */
export function addonCandidates(root: string, opts: LoadOptions = {}): { files: string[]; rejected: Rejected[] } {
  const rejected: Rejected[] = [];
  if (opts.addonPath) return { files: [resolve(opts.addonPath)], rejected };
  const platform = opts.platform ?? process.platform;
  const arch = opts.arch ?? process.arch;
  const libc = opts.libc ?? prebuildLibc(platform);
  const files: string[] = [];
  if (!opts.prebuildsOnly) {
    for (const dir of [join(root, 'build', 'Release'), join(root, 'build', 'Debug')]) {
      // Only the production addon: build/ also holds the test-only commy_test.node.
      const found = entries(dir).filter((f) => f === 'commy.node');
      if (found.length === 0) rejected.push({ path: join(dir, 'commy.node'), reason: 'not built' });
      for (const f of found) files.push(join(dir, f));
    }
  }
  files.push(...prebuildCandidates(root, platform, arch, libc, rejected));
  // node-gyp-build also looks next to the executable (for bundlers such as pkg).
  const nearExe = dirname(process.execPath);
  if (resolve(nearExe) !== resolve(root)) files.push(...prebuildCandidates(nearExe, platform, arch, libc, rejected));
  return { files, rejected };
}

/** Loads the first candidate that works; returns it with the file it came from. */
export function loadBinding(root: string, opts: LoadOptions = {}): { binding: NativeBinding; path: string } {
  const { files, rejected } = addonCandidates(root, opts);
  const failures: string[] = [];
  for (const file of files) {
    try {
      return { binding: require(file) as NativeBinding, path: file };
    } catch (err) {
      failures.push(`${file}: ${String((err as Error).message).split('\n')[0]}`);
    }
  }
  const libc = hostLibc();
  const tried = files.map((file, i) => {
    const needs = describeNeeds(file, process.arch, libc);
    return needs ? `${failures[i]}\n    (${needs})` : failures[i];
  });
  const how = opts.addonPath ? ' (COMMY_ADDON_PATH is set, so only that file was tried)' : '';
  const host = `${process.platform}-${process.arch}${libc ? ` with ${libc}` : ''}`;
  const e = new Error(
    `commy: could not load its native addon on ${host} (Node ${process.version}, N-API 8)${how}. Tried:\n  ` +
      `${[...tried, ...rejected.map((r) => `${r.path}: ${r.reason}`)].join('\n  ')}\n` +
      `Build it from source with \`${buildFromSourceCommand}\` (needs python3, make and a C++20 compiler, ` +
      'g++ 10 or clang 10 and newer).',
  ) as Error & { code: string; tried: string[] };
  e.code = ErrorCode.AddonNotFound;
  e.tried = [...files, ...rejected.map((r) => r.path)];
  throw e;
}

const loaded = loadBinding(packageRoot, {
  addonPath: process.env.COMMY_ADDON_PATH || undefined,
  prebuildsOnly: !!process.env.PREBUILDS_ONLY,
});
export const binding: NativeBinding = loaded.binding;
// Native errors are CommyErrors with a stable code, like every other error of the package.
binding.setErrorClass(CommyError);
/** The addon file that was loaded. */
export const bindingPath: string = loaded.path;
