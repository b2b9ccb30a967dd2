// What a native addon file needs from the host, and what this host is: read
// from the file's ELF headers (its machine and the symbol versions it requires,
// which ld.so checks before loading it) and from Node's own report. No side
// effects, so both the loader (lib/binding.ts) and npm's install step
// (install.mjs) use it, the latter before any addon has loaded.
import { existsSync, readFileSync } from 'node:fs';

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

/** One line on what `file` needs, against this host (`arch`, and `libc` as {@link hostLibc} names it): '' when nothing can be read from it. */
export function describeNeeds(file: string, arch: string, libc: string): string {
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
