// Loads the native addon: a local build (build/Release, build/Debug) if there
// is one, else the prebuild that node-gyp-build's rules pick for this platform.
// A candidate that fails to load does not stop the search, and when nothing
// loads, the error names this host (platform, arch, libc and its version), every
// path tried with why it failed and what that file needs (its machine and the
// newest GLIBC_x.y it requires, read from the ELF), and the command that builds
// from source.
import { createRequire } from 'node:module';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CommyError, ErrorCode } from './errors.js';
import type { NativeBinding } from './native.js';

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

/**
 * The libc whose prebuilds fit this host, decided as node-gyp-build decides at
 * install time (so both pick the same file): env LIBC, else `musl` on Alpine,
 * else `glibc`. A `commy.glibc.node` is never a candidate on musl.
 */
export function prebuildLibc(platform: string = process.platform): string {
  return process.env.LIBC || (platform === 'linux' && existsSync('/etc/alpine-release') ? 'musl' : 'glibc');
}

/** This host's C library as a person would name it: `glibc 2.31`, `musl`, or '' off Linux. */
export function hostLibc(): string {
  if (process.platform !== 'linux') return '';
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  if (header?.glibcVersionRuntime) return `glibc ${header.glibcVersionRuntime}`;
  return prebuildLibc() === 'musl' || existsSync('/etc/alpine-release') ? 'musl' : 'a libc other than glibc';
}

const elfMachines: Record<number, string> = {
  3: 'ia32',
  8: 'mips',
  20: 'ppc',
  21: 'ppc64',
  22: 's390x',
  40: 'arm',
  62: 'x64',
  183: 'arm64',
  243: 'riscv64',
  258: 'loong64',
};

/** What a shared library needs from the dynamic linker, as read from its ELF headers. */
export interface AddonNeeds {
  /** The machine it was built for, in Node's `process.arch` names (`x64`, `arm64`, ...). */
  arch: string;
  /** The newest `GLIBC_x.y` symbol version it requires, if any (e.g. `2.34`). */
  glibc?: string;
  /** Every other symbol version it requires (`GLIBCXX_3.4.30`: a shared libstdc++), sorted. */
  other: string[];
}

/** 1 if a > b, -1 if a < b, 0 if equal, for dotted version numbers. */
function compareVersions(a: string, b: string): number {
  const x = a.split('.').map(Number);
  const y = b.split('.').map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    if ((x[i] ?? 0) !== (y[i] ?? 0)) return (x[i] ?? 0) > (y[i] ?? 0) ? 1 : -1;
  }
  return 0;
}

/**
 * Reads a file's ELF header and its version needs (the `.gnu.version_r`
 * section: what ld.so checks before it loads the file). Undefined when the
 * file is not ELF or cannot be read; it never throws.
 */
export function addonNeeds(file: string): AddonNeeds | undefined {
  try {
    const b = readFileSync(file);
    if (b.length < 52 || b.readUInt32BE(0) !== 0x7f454c46) return undefined;
    const is64 = b[4] === 2;
    const le = b[5] === 1;
    const u16 = (o: number) => (le ? b.readUInt16LE(o) : b.readUInt16BE(o));
    const u32 = (o: number) => (le ? b.readUInt32LE(o) : b.readUInt32BE(o));
    const word = (o: number) => (is64 ? Number(le ? b.readBigUInt64LE(o) : b.readBigUInt64BE(o)) : u32(o));
    const machine = u16(18);
    const needs: AddonNeeds = { arch: elfMachines[machine] ?? `ELF machine ${machine}`, other: [] };
    const shoff = word(is64 ? 40 : 32);
    const shentsize = u16(is64 ? 58 : 46);
    const shnum = u16(is64 ? 60 : 48);
    // Section header fields: sh_type, sh_offset, sh_link, sh_info (ELF64 and ELF32 offsets).
    const sec = (i: number) => {
      const o = shoff + i * shentsize;
      return is64
        ? { type: u32(o + 4), offset: word(o + 24), link: u32(o + 40), info: u32(o + 44) }
        : { type: u32(o + 4), offset: u32(o + 16), link: u32(o + 24), info: u32(o + 28) };
    };
    const names = new Set<string>();
    for (let i = 0; i < shnum; i++) {
      const s = sec(i);
      if (s.type !== 0x6ffffffe) continue; // SHT_GNU_verneed
      const strtab = sec(s.link).offset;
      const str = (o: number) => b.toString('latin1', strtab + o, b.indexOf(0, strtab + o));
      // s.info Elf_Verneed entries, each with vn_cnt Elf_Vernaux entries naming a version.
      for (let n = 0, vn = s.offset; n < s.info; n++) {
        for (let a = 0, aux = vn + u32(vn + 8); a < u16(vn + 2); a++) {
          names.add(str(u32(aux + 8)));
          aux += u32(aux + 12);
        }
        vn += u32(vn + 12);
      }
    }
    for (const name of [...names].sort()) {
      const m = /^GLIBC_(\d+(?:\.\d+)+)$/.exec(name);
      if (!m) needs.other.push(name);
      else if (!needs.glibc || compareVersions(m[1], needs.glibc) > 0) needs.glibc = m[1];
    }
    return needs;
  } catch {
    return undefined;
  }
}

/** One line on what `file` needs, against this host: '' when nothing can be read from it. */
function describeNeeds(file: string, arch: string, libc: string): string {
  const n = addonNeeds(file);
  if (!n) return '';
  const parts = [n.arch === arch ? `built for ${n.arch}` : `built for ${n.arch}, not this ${arch}`];
  if (n.glibc) {
    const host = /^glibc (\S+)$/.exec(libc)?.[1];
    if (!host) parts.push(`needs glibc ${n.glibc} or newer (this host has ${libc || 'no glibc'})`);
    else if (compareVersions(n.glibc, host) > 0)
      parts.push(`needs GLIBC_${n.glibc}, newer than this host's glibc ${host}`);
    else parts.push(`needs glibc ${n.glibc} or newer (this host has ${host})`);
  }
  const cxx = n.other.filter((v) => v.startsWith('GLIBCXX_'));
  if (cxx.length) parts.push(`needs a shared libstdc++ with ${cxx.sort(compareSymbolVersions).at(-1)}`);
  return parts.join('; ');
}

function compareSymbolVersions(a: string, b: string): number {
  return compareVersions(a.replace(/^\D+/, ''), b.replace(/^\D+/, ''));
}

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
