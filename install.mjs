// npm's install step for commy (package.json "install"; npm runs it in the package folder).
// node-gyp-build picks the addon that fits this platform (build/, else a prebuild);
// this script then loads that file in a child process before trusting it:
//   - it loads: done, nothing is compiled;
//   - it does not (an older glibc than it needs, another machine) and a C++
//     compiler, make and python are here: builds from source instead (node-gyp rebuild);
//   - it does not and they are missing: fails, naming the error, what is missing and
//     the command to run once they are installed.
// Nothing fits (musl, another platform) or --build-from-source: builds, as node-gyp-build does.
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, join, relative } from 'node:path';

const require = createRequire(import.meta.url);
const root = process.cwd();
const say = (msg) => console.log(`commy: ${msg}`);

/** node-gyp-build's own install step, told to build from source (it runs node-gyp rebuild). */
function buildFromSource() {
  const bin = require.resolve('node-gyp-build/bin.js');
  const r = spawnSync(process.execPath, [bin], {
    stdio: 'inherit',
    env: { ...process.env, npm_config_build_from_source: 'true' },
  });
  process.exit(r.status ?? 1);
}

function onPath(names) {
  for (const dir of (process.env.PATH || '').split(delimiter).filter(Boolean)) {
    for (const name of names) {
      try {
        accessSync(join(dir, process.platform === 'win32' ? `${name}.exe` : name), constants.X_OK);
        return name;
      } catch {
        /* not in this folder */
      }
    }
  }
  return undefined;
}

/** What a source build needs that this host lacks (node-gyp finds MSVC itself on Windows). */
function missingBuildTools() {
  if (process.platform === 'win32') return onPath(['python3', 'python', 'py']) ? [] : ['python3'];
  const missing = [];
  if (!(process.env.CXX ? onPath([process.env.CXX]) : onPath(['c++', 'g++', 'clang++']))) {
    missing.push('a C++ compiler (c++, g++ or clang++)');
  }
  if (!onPath(['make'])) missing.push('make');
  if (!(process.env.PYTHON ? onPath([process.env.PYTHON]) : onPath(['python3', 'python']))) missing.push('python3');
  return missing;
}

function hostName() {
  const glibc = process.report?.getReport()?.header?.glibcVersionRuntime;
  return `${process.platform}-${process.arch}${glibc ? ` with glibc ${glibc}` : ''}`;
}

if (process.env.npm_config_build_from_source === 'true') buildFromSource();

let file;
try {
  file = require('node-gyp-build').resolve(root);
} catch {
  say(`no prebuilt addon for ${hostName()}: building from source`);
  buildFromSource();
}

// Installing for another platform or arch (npm --arch/--platform): this host cannot judge the file.
const { npm_config_platform: platform, npm_config_arch: arch } = process.env;
if ((platform && platform !== process.platform) || (arch && arch !== process.arch)) {
  say(`using ${relative(root, file)} (for ${platform || process.platform}-${arch || process.arch}; not loaded here)`);
  process.exit(0);
}

const probe = spawnSync(process.execPath, ['-e', 'require(process.argv[1])', file], { encoding: 'utf8' });
if (probe.status === 0) {
  say(`using ${relative(root, file)}`);
  process.exit(0);
}
const lines = (probe.stderr || probe.error?.message || `exit status ${probe.status}`).trim().split('\n');
const why = lines.find((l) => /^\w*Error\b/.test(l)) ?? lines[0];
// What the file needs, read from its ELF (dist/ is there in a packed tarball; a
// git checkout has no prebuild to get here with before its first build).
let needs = '';
try {
  const { describeNeeds, hostLibc } = await import('./dist/lib/addon-needs.js');
  needs = describeNeeds(file, process.arch, hostLibc());
} catch {
  /* no dist/: the loader's message alone */
}
say(`${relative(root, file)} does not load on ${hostName()}:\n  ${why.trim()}${needs ? `\n  (${needs})` : ''}`);
const missing = missingBuildTools();
if (missing.length === 0) {
  say('building from source instead (node-gyp rebuild)');
  buildFromSource();
}
say(
  `and it cannot be built from source here, as this host lacks ${missing.join(', ')}.\n` +
    '  Install them (Debian/Ubuntu: apt-get install g++ make python3; RHEL/Fedora: dnf install gcc-c++ make python3;\n' +
    '  Alpine: apk add build-base python3), then run `npm rebuild commy --build-from-source`.',
);
process.exit(1);
