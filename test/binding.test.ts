// The addon loader (lib/binding.ts) against bogus package roots: which files it
// tries and in what order, falling through broken candidates, and an error
// that lists every path tried.
import { expect } from 'chai';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import {
  addonCandidates,
  addonNeeds,
  binding,
  bindingPath,
  buildFromSourceCommand,
  hostLibc,
  loadBinding,
  prebuildLibc,
} from '../lib/binding.js';

const here = process.platform + '-' + process.arch;
const roots: string[] = [];
afterEach(() => {
  // Windows cannot delete a loaded DLL, so a root holding a loaded copy stays behind in the temp dir.
  for (const r of roots.splice(0)) {
    try {
      rmSync(r, { recursive: true, force: true });
    } catch {
      /* left for the OS temp cleaner */
    }
  }
});

/** A fake package root holding `files` (relative path -> contents, or a file to copy). */
function fakeRoot(files: Record<string, string | { copyOf: string }>): string {
  const root = mkdtempSync(join(tmpdir(), 'commy-loader-'));
  roots.push(root);
  for (const [rel, content] of Object.entries(files)) {
    const path = join(root, rel);
    mkdirSync(dirname(path), { recursive: true });
    if (typeof content === 'string') writeFileSync(path, content);
    else copyFileSync(content.copyOf, path);
  }
  return root;
}

/**
 * A minimal little-endian ELF64 shared object: a header, a string table and a
 * .gnu.version_r section requiring `needs` (library -> version names), as ld
 * writes for a file linked against those libraries. Nothing else: it cannot load.
 */
function fakeElf(machine: number, needs: Record<string, string[]>): Buffer {
  const strings = ['', ...Object.keys(needs), ...Object.values(needs).flat()];
  const strOffset = new Map<string, number>();
  let strtab = '';
  for (const x of strings) {
    if (strOffset.has(x)) continue;
    strOffset.set(x, strtab.length);
    strtab += x + '\0';
  }
  const strtabAt = 64;
  const verneedAt = strtabAt + Math.ceil(strtab.length / 8) * 8;
  const libs = Object.entries(needs);
  const verneedSize = libs.reduce((n, [, v]) => n + 16 + 16 * v.length, 0);
  const shoff = verneedAt + Math.ceil(verneedSize / 8) * 8;
  const b = Buffer.alloc(shoff + 3 * 64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // ELFCLASS64
  b[5] = 1; // little-endian
  b[6] = 1;
  b.writeUInt16LE(3, 16); // ET_DYN
  b.writeUInt16LE(machine, 18);
  b.writeUInt32LE(1, 20);
  b.writeBigUInt64LE(BigInt(shoff), 40);
  b.writeUInt16LE(64, 52);
  b.writeUInt16LE(64, 58);
  b.writeUInt16LE(3, 60);
  b.write(strtab, strtabAt, 'latin1');
  let o = verneedAt;
  libs.forEach(([lib, versions], i) => {
    const size = 16 + 16 * versions.length;
    b.writeUInt16LE(1, o);
    b.writeUInt16LE(versions.length, o + 2);
    b.writeUInt32LE(strOffset.get(lib)!, o + 4);
    b.writeUInt32LE(16, o + 8);
    b.writeUInt32LE(i === libs.length - 1 ? 0 : size, o + 12);
    versions.forEach((v, j) => {
      const a = o + 16 + 16 * j;
      b.writeUInt32LE(strOffset.get(v)!, a + 8);
      b.writeUInt32LE(j === versions.length - 1 ? 0 : 16, a + 12);
    });
    o += size;
  });
  // Sections: [0] null, [1] the string table, [2] .gnu.version_r linked to [1].
  const sh = (i: number, type: number, offset: number, size: number, link: number, info: number) => {
    const at = shoff + i * 64;
    b.writeUInt32LE(type, at + 4);
    b.writeBigUInt64LE(BigInt(offset), at + 24);
    b.writeBigUInt64LE(BigInt(size), at + 32);
    b.writeUInt32LE(link, at + 40);
    b.writeUInt32LE(info, at + 44);
  };
  sh(1, 3, strtabAt, strtab.length, 0, 0); // SHT_STRTAB
  sh(2, 0x6ffffffe, verneedAt, verneedSize, 1, libs.length); // SHT_GNU_verneed
  return b;
}

function loadError(root: string, opts = {}): Error & { code: string; tried: string[] } {
  try {
    loadBinding(root, opts);
  } catch (err) {
    return err as Error & { code: string; tried: string[] };
  }
  throw new Error('loadBinding should have failed');
}

describe('addon loader', () => {
  it('lists every path it tried, with the reason each failed, when nothing loads', () => {
    const root = fakeRoot({
      'build/Release/commy.node': 'not a shared library',
      [`prebuilds/${here}/commy.node`]: 'not a shared library either',
      [`prebuilds/${here}/commy.musl.node`]: 'for another libc', // never fits a glibc or win32 host
      'prebuilds/sunos-sparc/commy.node': 'another platform',
    });
    const err = loadError(root);
    expect(err.code).to.equal('ERR_COMMY_ADDON_NOT_FOUND');
    const lines = err.message.split('\n');
    const lineFor = (path: string) => lines.find((l) => l.trim().startsWith(path + ':'));
    for (const path of [
      join(root, 'build', 'Release', 'commy.node'),
      join(root, 'build', 'Debug', 'commy.node'),
      join(root, 'prebuilds', here, 'commy.node'),
      join(dirname(process.execPath), 'prebuilds', here),
    ]) {
      expect(lineFor(path), `${path} in:\n${err.message}`).to.be.a('string');
      expect(err.tried).to.include(path);
    }
    expect(lineFor(join(root, 'build', 'Debug', 'commy.node'))).to.match(/not built$/);
    expect(err.message).to.not.contain('musl');
    expect(err.message).to.not.contain('sunos');
    expect(err.message).to.contain('--build-from-source');
  });

  it('never loads the test-only addon from build/ in place of the production one', () => {
    const root = fakeRoot({
      'build/Release/a-commy_test.node': { copyOf: bindingPath },
      'build/Release/commy_test.node': { copyOf: bindingPath },
      [`prebuilds/${here}/commy.node`]: { copyOf: bindingPath },
    });
    const { files } = addonCandidates(root);
    expect(files.filter((f) => f.includes('commy_test'))).to.deep.equal([]);
    expect(loadBinding(root).path).to.equal(join(root, 'prebuilds', here, 'commy.node'));
  });

  it('says when the platform has no prebuild folder at all', () => {
    const root = fakeRoot({ 'prebuilds/sunos-sparc/commy.node': 'x' });
    const err = loadError(root, { prebuildsOnly: true });
    expect(err.message).to.contain(`${join(root, 'prebuilds', here)}: no such folder`);
    expect(err.message).to.not.contain(join(root, 'build'));
  });

  it('falls through a local build that does not load to the prebuild that does', () => {
    const root = fakeRoot({
      'build/Release/commy.node': 'a build for another OS',
      [`prebuilds/${here}/commy.node`]: { copyOf: bindingPath },
    });
    const { binding, path } = loadBinding(root);
    expect(path).to.equal(join(root, 'prebuilds', here, 'commy.node'));
    expect(binding.layout.record.detailSize).to.be.a('number');
  });

  it('orders candidates as node-gyp-build does: local builds first, then the best-fitting prebuild', () => {
    const root = fakeRoot({
      'build/Release/commy.node': 'x',
      'prebuilds/linux-x64/commy.glibc.node': 'x',
      'prebuilds/linux-x64/commy.musl.node': 'x',
      'prebuilds/linux-x64/commy.node': 'x',
      'prebuilds/win32-x64/commy.node': 'x',
      'prebuilds/linux-arm64/commy.node': 'x',
    });
    const rel = (files: string[]) => files.filter((f) => f.startsWith(root)).map((f) => f.slice(root.length + 1));
    const linux = addonCandidates(root, { platform: 'linux', arch: 'x64' }).files;
    expect(rel(linux)).to.deep.equal([
      join('build', 'Release', 'commy.node'),
      join('prebuilds', 'linux-x64', 'commy.glibc.node'),
      join('prebuilds', 'linux-x64', 'commy.node'),
    ]);
    const win = addonCandidates(root, { platform: 'win32', arch: 'x64', prebuildsOnly: true }).files;
    expect(rel(win)).to.deep.equal([join('prebuilds', 'win32-x64', 'commy.node')]);
  });

  it('COMMY_ADDON_PATH loads exactly that file and nothing else', () => {
    const root = fakeRoot({ [`prebuilds/${here}/commy.node`]: { copyOf: bindingPath } });
    const missing = join(root, 'nowhere', 'commy.node');
    const err = loadError(root, { addonPath: missing });
    expect(err.message).to.contain(missing);
    expect(err.message).to.contain('COMMY_ADDON_PATH');
    expect(err.tried).to.deep.equal([missing]);
    expect(loadBinding(root, { addonPath: bindingPath }).path).to.equal(bindingPath);
  });

  it('names this host, its libc and the command that builds from source when nothing loads', () => {
    const root = fakeRoot({ [`prebuilds/${here}/commy.node`]: 'not a shared library' });
    const err = loadError(root, { prebuildsOnly: true });
    const first = err.message.split('\n')[0];
    expect(first).to.contain(`could not load its native addon on ${here}`);
    expect(first).to.contain(process.version);
    if (process.platform === 'linux') {
      expect(hostLibc()).to.match(/^(glibc \d+\.\d+|musl)$/);
      expect(first).to.contain(`with ${hostLibc()}`);
    } else {
      expect(hostLibc()).to.equal('');
    }
    expect(err.message).to.contain(`\`${buildFromSourceCommand}\``);
    expect(buildFromSourceCommand).to.equal('npm rebuild commy --build-from-source');
  });

  it('says what each candidate needs, read from its ELF: machine, newest GLIBC_x.y, a shared libstdc++', () => {
    const elf = fakeElf(183, {
      'libc.so.6': ['GLIBC_2.17', 'GLIBC_2.99', 'GLIBC_2.4'],
      'libstdc++.so.6': ['GLIBCXX_3.4', 'GLIBCXX_3.4.30', 'CXXABI_1.3.9'],
    });
    const root = fakeRoot({ [`prebuilds/${here}/commy.node`]: '' });
    writeFileSync(join(root, 'prebuilds', here, 'commy.node'), elf);
    expect(addonNeeds(join(root, 'prebuilds', here, 'commy.node'))).to.deep.equal({
      arch: 'arm64',
      glibc: '2.99', // the newest, compared as numbers: 2.99 > 2.17 > 2.4
      other: ['CXXABI_1.3.9', 'GLIBCXX_3.4', 'GLIBCXX_3.4.30'],
    });
    const err = loadError(root, { prebuildsOnly: true });
    const libc = hostLibc();
    const needs = err.message.split('\n').find((l) => l.includes('built for arm64'));
    expect(needs, err.message).to.be.a('string');
    if (process.arch !== 'arm64') expect(needs).to.contain(`not this ${process.arch}`);
    if (libc.startsWith('glibc ')) expect(needs).to.contain(`needs GLIBC_2.99, newer than this host's ${libc}`);
    else expect(needs).to.contain(`needs glibc 2.99 or newer (this host has ${libc || 'no glibc'})`);
    expect(needs).to.contain('needs a shared libstdc++ with GLIBCXX_3.4.30');
    // Not ELF, or not there: nothing to say, and no throw.
    expect(addonNeeds(join(root, 'nowhere.node'))).to.equal(undefined);
    writeFileSync(join(root, 'text.node'), 'not ELF');
    expect(addonNeeds(join(root, 'text.node'))).to.equal(undefined);
  });

  it('reads the loaded addon itself as built for this machine', function () {
    if (process.platform !== 'linux') {
      console.log(`      skipped: the loaded addon is ELF only on Linux (this is ${process.platform})`);
      this.skip();
    }
    const needs = addonNeeds(bindingPath);
    expect(needs?.arch).to.equal(process.arch);
    expect(needs?.glibc).to.match(/^2\.\d+$/);
  });

  it('on musl never picks a glibc prebuild: the shipped layout offers nothing there, so it builds from source', () => {
    // The tarball's prebuilds, as scripts/build-prebuilds.sh makes them.
    const shipped = {
      'prebuilds/linux-x64/commy.glibc.node': 'x',
      'prebuilds/linux-arm64/commy.glibc.node': 'x',
      'prebuilds/win32-x64/commy.node': 'x',
    };
    const root = fakeRoot(shipped);
    const rel = (files: string[]) => files.filter((f) => f.startsWith(root)).map((f) => f.slice(root.length + 1));
    for (const arch of ['x64', 'arm64']) {
      const musl = addonCandidates(root, { platform: 'linux', arch, libc: 'musl', prebuildsOnly: true });
      expect(rel(musl.files), arch).to.deep.equal([]);
      const reason = musl.rejected.find((r) => r.path === join(root, 'prebuilds', `linux-${arch}`))?.reason;
      expect(reason).to.equal(`no build for node abi ${process.versions.modules} musl (it has only commy.glibc.node)`);
      const glibc = addonCandidates(root, { platform: 'linux', arch, libc: 'glibc', prebuildsOnly: true });
      expect(rel(glibc.files), arch).to.deep.equal([join('prebuilds', `linux-${arch}`, 'commy.glibc.node')]);
    }
    // A musl build, were one shipped, would be picked there and never on glibc.
    const both = fakeRoot({ ...shipped, 'prebuilds/linux-x64/commy.musl.node': 'x' });
    const relB = (files: string[]) => files.filter((f) => f.startsWith(both)).map((f) => f.slice(both.length + 1));
    const opts = { platform: 'linux', arch: 'x64', prebuildsOnly: true };
    expect(relB(addonCandidates(both, { ...opts, libc: 'musl' }).files)).to.deep.equal([
      join('prebuilds', 'linux-x64', 'commy.musl.node'),
    ]);
    expect(relB(addonCandidates(both, { ...opts, libc: 'glibc' }).files)).to.deep.equal([
      join('prebuilds', 'linux-x64', 'commy.glibc.node'),
    ]);
  });

  it('decides the libc as node-gyp-build does: env LIBC first, musl on Alpine, else glibc', () => {
    const saved = process.env.LIBC;
    try {
      process.env.LIBC = 'musl';
      expect(prebuildLibc('linux')).to.equal('musl');
      const root = fakeRoot({ 'prebuilds/linux-x64/commy.glibc.node': 'x' });
      expect(addonCandidates(root, { platform: 'linux', arch: 'x64', prebuildsOnly: true }).files).to.deep.equal([]);
      delete process.env.LIBC;
      const alpine = existsSync('/etc/alpine-release');
      expect(prebuildLibc('linux')).to.equal(process.platform === 'linux' && alpine ? 'musl' : 'glibc');
      expect(prebuildLibc('win32')).to.equal('glibc'); // the tag only matters on Linux; node-gyp-build says glibc too
    } finally {
      if (saved === undefined) delete process.env.LIBC;
      else process.env.LIBC = saved;
    }
  });

  it('keeps every POSIX region name within the 31-character shm_open limit of macOS, whatever the key', function () {
    if (process.platform === 'win32') {
      console.log('      skipped: Windows names are file-mapping names (Local\\commy-<hash>), not shm_open names');
      this.skip();
    }
    // PSHMNAMLEN on macOS is 31, the leading slash included; Linux allows 255.
    const long = 'x'.repeat(64);
    for (const [cluster, server] of [
      ['a', 'b'],
      [long, long],
      ['prod-eu-west-1-payments', 'server-0042.example.internal'],
    ]) {
      const name = binding.objectName(cluster, server, false);
      expect(name).to.match(/^\/commy-[0-9a-f]{16}$/);
      expect(name.length).to.be.at.most(31);
    }
    expect(binding.objectName('a', 'b', false)).to.not.equal(binding.objectName('a', 'c', false));
  });
});
