// npm's install step (install.mjs at the package root, package.json "install"),
// run as npm runs it: in a package folder, here a fake one. It loads the prebuild
// node-gyp-build picks before trusting it, builds from source when that fails
// and the tools are here, and fails naming what is missing when they are not.
import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { bindingPath, packageRoot } from '../lib/binding.js';

const script = join(packageRoot, 'install.mjs');
const here = `${process.platform}-${process.arch}`;
const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

/** A package folder named commy holding `files` (relative path -> contents, or a file to copy). */
function fakePackage(files: Record<string, string | { copyOf: string }>): string {
  const root = mkdtempSync(join(tmpdir(), 'commy-install-'));
  roots.push(root);
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'commy', version: '0.0.0' }));
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    if (typeof content === 'string') writeFileSync(join(root, rel), content);
    else copyFileSync(content.copyOf, join(root, rel));
  }
  return root;
}

function install(root: string, env: Record<string, string | undefined> = {}) {
  const clean = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^npm_config_(build_from_source|arch|platform)$/.test(k)),
  );
  const r = spawnSync(process.execPath, [script], {
    cwd: root,
    encoding: 'utf8',
    timeout: 180_000,
    env: { ...clean, ...env },
  });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('install step (install.mjs)', () => {
  it('keeps a prebuild that loads, and builds nothing', () => {
    const root = fakePackage({ [`prebuilds/${here}/commy.node`]: { copyOf: bindingPath } });
    const r = install(root);
    expect(r.status, r.out).to.equal(0);
    expect(r.out).to.contain(`commy: using ${join('prebuilds', here, 'commy.node')}`);
    expect(existsSync(join(root, 'build'))).to.equal(false);
  });

  it('fails, naming the load error, what is missing and the command, when a prebuild does not load and nothing can build', function () {
    if (process.platform === 'win32') {
      console.log('      skipped: on Windows node-gyp finds Visual Studio itself; only python is checked');
      this.skip();
    }
    const root = fakePackage({ [`prebuilds/${here}/commy.node`]: 'not a shared library' });
    // PATH holds only node: no compiler, make or python.
    const bin = join(root, 'bin');
    mkdirSync(bin);
    symlinkSync(process.execPath, join(bin, 'node'));
    const r = install(root, { PATH: bin, CXX: undefined, PYTHON: undefined });
    expect(r.status, r.out).to.equal(1);
    expect(r.out).to.contain(`${join('prebuilds', here, 'commy.node')} does not load on ${here}`);
    // The loader's own reason, naming the file (dlopen: "file too short").
    expect(r.out).to.contain(`Error: ${join(root, 'prebuilds', here, 'commy.node')}: file too short`);
    expect(r.out).to.contain('this host lacks a C++ compiler (c++, g++ or clang++), make, python3');
    expect(r.out).to.contain('`npm rebuild commy --build-from-source`');
    expect(existsSync(join(root, 'build'))).to.equal(false);
  });

  it('builds from source instead when the prebuild does not load and a compiler is here', function () {
    this.timeout(240_000);
    // node-gyp needs Node's headers: node's own install prefix has them (include/node), or npm's nodedir.
    const nodedir = process.env.npm_config_nodedir || dirname(dirname(process.execPath));
    const tools = spawnSync('sh', ['-c', 'command -v c++ && command -v make && command -v python3'], {
      encoding: 'utf8',
    });
    if (
      process.platform === 'win32' ||
      tools.status !== 0 ||
      !existsSync(join(nodedir, 'include', 'node', 'node_api.h'))
    ) {
      console.log(`      skipped: needs POSIX c++, make, python3 and Node's headers in ${nodedir}/include/node`);
      this.skip();
    }
    // A one-file Node-API addon named commy, so the source build takes seconds.
    const root = fakePackage({
      [`prebuilds/${here}/commy.node`]: 'not a shared library',
      'binding.gyp': JSON.stringify({ targets: [{ target_name: 'commy', sources: ['tiny.c'] }] }),
      'tiny.c':
        '#include <node_api.h>\n' +
        'static napi_value init(napi_env env, napi_value exports) { (void)env; return exports; }\n' +
        'NAPI_MODULE(NODE_GYP_MODULE_NAME, init)\n',
    });
    const r = install(root, { npm_config_nodedir: nodedir });
    expect(r.status, r.out).to.equal(0);
    expect(r.out).to.contain('does not load on');
    expect(r.out).to.contain('commy: building from source instead (node-gyp rebuild)');
    const built = join(root, 'build', 'Release', 'commy.node');
    expect(existsSync(built), r.out).to.equal(true);
    createRequire(import.meta.url)(built); // the build loads here
  });

  it('does not judge a prebuild for another arch or platform (npm --arch / --platform)', () => {
    const other = process.arch === 'arm64' ? 'x64' : 'arm64';
    const root = fakePackage({ [`prebuilds/${process.platform}-${other}/commy.node`]: 'built for elsewhere' });
    const r = install(root, { npm_config_arch: other });
    expect(r.status, r.out).to.equal(0);
    expect(r.out).to.contain(`(for ${process.platform}-${other}; not loaded here)`);
    expect(existsSync(join(root, 'build'))).to.equal(false);
  });
});
