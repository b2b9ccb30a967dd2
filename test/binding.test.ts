// The addon loader (lib/binding.ts) against bogus package roots: which files it
// tries and in what order, falling through broken candidates, and an error
// that lists every path tried.
import { expect } from 'chai';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { addonCandidates, bindingPath, loadBinding } from '../lib/binding.js';

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
});
