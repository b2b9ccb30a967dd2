#!/usr/bin/env bash
# The npm package as users get it, for CI (.ci/run) and by hand:
#   1. `npm pack` (its prepack hook builds both prebuilds, prepare compiles the TS);
#   2. the tarball holds the three prebuilds (linux-x64, linux-arm64, win32-x64; the
#      Linux ones within the glibc 2.28 floor, scripts/check-glibc.sh), the types, what a source build needs,
#      and no tests, build folders or stale output; no test addon (commy_test.node,
#      test/native/) and no test hook compiled into a prebuild; a source build from
#      it (node-gyp configure) has no commy_test target;
#   3. installed into a temp project with compilers, python and node-gyp out of
#      reach (PATH holds only node, npm and sh; npm_config_node_gyp points nowhere),
#      it loads the linux-x64 prebuild and creates and reads a region, and its
#      types resolve; --build-from-source really tries to build (and so fails there);
#   3b. a tarball whose linux-x64 prebuild cannot load here (the arm64 build in its
#      place): without a compiler the install fails saying why and what is missing;
#      with one, install.mjs builds from source and that build loads;
#   4. under Wine, node.exe loads the win32-x64 prebuild from the same tarball and
#      creates and reads a region.
# Usage: bash scripts/test-package.sh
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
start=$SECONDS
NODE_VERSIONS=(20.20.2 22.23.3) # Windows node.exe for step 4, as in test-windows.sh

# shellcheck source=scripts/wine-node.sh
source scripts/wine-node.sh

WORK=$(mktemp -d /tmp/commy-package.XXXXXX)
step() { printf '\n== %s (%ss)\n' "$*" $((SECONDS - start)); }
die() {
  printf 'test-package: %s\n' "$*" >&2
  exit 1
}
trap 'rc=$?; wine_finish $rc; [ -n "${KEEP_WORK:-}" ] || rm -rf "$WORK"; exit $rc' EXIT

step "npm pack (prepack builds prebuilds/, prepare compiles dist/)"
wine_install_packages # mingw-w64 for the win32 prebuild, Wine for step 4
npm pack --pack-destination "$WORK" >"$WORK/pack.log" 2>&1 || {
  cat "$WORK/pack.log"
  die "npm pack failed"
}
grep -E '^build-(prebuilds|win):|^> ' "$WORK/pack.log" || true
TGZ=$(ls "$WORK"/commy-*.tgz)
printf 'tarball: %s (%s bytes)\n' "$(basename "$TGZ")" "$(stat -c %s "$TGZ")"

step "tarball contents"
tar -tzf "$TGZ" | sed 's|^package/||' | sort >"$WORK/contents.txt"
problems=()
for f in prebuilds/linux-x64/commy.glibc.node prebuilds/linux-arm64/commy.glibc.node prebuilds/win32-x64/commy.node \
  dist/lib/index.js dist/lib/index.d.ts binding.gyp install.mjs package.json; do
  grep -qxF "$f" "$WORK/contents.txt" || problems+=("missing $f")
done
for src in native/*.cc native/*.h; do # a --build-from-source install needs every one
  grep -qxF "$src" "$WORK/contents.txt" || problems+=("missing $src")
done
mapfile -t CONTENTS <"$WORK/contents.txt"
for f in "${CONTENTS[@]}"; do
  case "$f" in
  test/* | dist/test/* | build/* | build-*/* | node_modules/* | .wine-test/* | *.tgz | .ci/* | scripts/*)
    problems+=("should not ship $f")
    ;;
  *commy_test* | *raw_mapping_addon*) # the test-only addon, wherever it would sit
    problems+=("should not ship the test addon $f")
    ;;
  dist/lib/*.js)
    stem=${f%.js}
    grep -qxF "$stem.d.ts" "$WORK/contents.txt" || problems+=("no types for $f")
    [ -f "${stem#dist/}.ts" ] || problems+=("stale $f: no ${stem#dist/}.ts (rm -rf dist && npm run build:ts)")
    ;;
  esac
done
# The test hook lives only in commy_test.node; its names would be in any binary holding its code.
mkdir -p "$WORK/shipped"
tar -xzf "$TGZ" -C "$WORK/shipped" --strip-components=1 --wildcards 'package/prebuilds/*'
for f in "$WORK"/shipped/prebuilds/*/*.node; do
  for hook in createRawRegion RawMapping; do
    ! grep -q "$hook" "$f" || problems+=("${f#"$WORK"/shipped/} contains the test hook $hook")
  done
done
if [ ${#problems[@]} -gt 0 ]; then
  printf '  %s\n' "${problems[@]}"
  die "the tarball is wrong (${#problems[@]} problems)"
fi
printf '%s files; prebuilds: %s\n' "$(wc -l <"$WORK/contents.txt")" "$(grep '^prebuilds/' "$WORK/contents.txt" | xargs echo)"

step "the shipped Linux prebuilds need nothing newer than glibc 2.28"
(cd "$WORK/shipped" && bash "$ROOT/scripts/check-glibc.sh" prebuilds/linux-*/*.node) || die "a shipped Linux prebuild needs more than glibc 2.28"

step "a source build from the tarball has only the commy target"
# binding.gyp adds commy_test only when test/native/raw_mapping_addon.cc exists,
# which the tarball lacks; node-gyp configure (no compiling) shows what make would build.
mkdir -p "$WORK/src"
tar -xzf "$TGZ" -C "$WORK/src"
ln -s "$ROOT/node_modules" "$WORK/src/package/node_modules" # node-addon-api, and node-gyp for npx
(cd "$WORK/src/package" && npx --no-install node-gyp configure) >"$WORK/configure.log" 2>&1 || {
  cat "$WORK/configure.log"
  die "node-gyp configure of the tarball's binding.gyp failed"
}
[ -f "$WORK/src/package/build/commy.target.mk" ] || die "node-gyp configure of the tarball made no commy target"
[ ! -e "$WORK/src/package/build/commy_test.target.mk" ] || die "a source build from the tarball would build the test addon"
printf 'targets: %s\n' "$(cd "$WORK/src/package/build" && ls ./*.target.mk | xargs echo)"

step "install into a temp project with no compiler, python or node-gyp"
# Only node, npm and sh on PATH (npm runs scripts with sh). npm puts a shim
# for its bundled node-gyp on scripts' PATH, after every ancestor's
# node_modules/.bin, and npm 11 ignores npm_config_node_gyp for install
# scripts; so a failing node-gyp in $WORK/node_modules/.bin shadows it. Even
# without that stub, node-gyp could not build here: no python, no compiler.
mkdir -p "$WORK/bin" "$WORK/app" "$WORK/home" "$WORK/node_modules/.bin"
ln -s "$(command -v node)" "$WORK/bin/node"
ln -s "$(readlink -f "$(command -v npm)")" "$WORK/bin/npm"
ln -s "$(command -v sh)" "$WORK/bin/sh"
printf '#!/bin/sh\necho "node-gyp is hidden by test-package.sh" >&2\nexit 1\n' >"$WORK/node_modules/.bin/node-gyp"
chmod +x "$WORK/node_modules/.bin/node-gyp"
hidden() {
  env -i HOME="$WORK/home" PATH="$WORK/bin" npm_config_cache="$(npm config get cache)" \
    npm_config_update_notifier=false "$@"
}
for tool in cc gcc g++ c++ clang make python3 python x86_64-w64-mingw32-g++-posix; do
  if hidden sh -c "command -v $tool" >/dev/null 2>&1; then die "$tool is reachable from the hidden PATH"; fi
done
cat >"$WORK/app/package.json" <<'EOF'
{ "name": "commy-package-test", "version": "1.0.0", "private": true, "type": "module" }
EOF
(cd "$WORK/app" && hidden npm install --no-audit --no-fund --foreground-scripts "$TGZ") >"$WORK/install.log" 2>&1 || {
  cat "$WORK/install.log"
  die "npm install of the tarball failed without a compiler"
}
cat "$WORK/install.log"
[ ! -e "$WORK/app/node_modules/commy/build" ] || die "the install compiled the addon instead of using the prebuild"
grep -q '^commy: using prebuilds/linux-x64/commy.glibc.node$' "$WORK/install.log" || die "install.mjs did not report the prebuild it checked"

# Creates a region through PeerRegistry, reads it back through ClusterView, and
# reports which addon file loaded. Runs unchanged in Linux node and in node.exe.
cat >"$WORK/app/smoke.mjs" <<'EOF'
import { ClusterView, PeerRegistry, parseConfig } from 'commy';
// Not an exported subpath: imported by file, only to report which addon loaded.
import { bindingPath } from './node_modules/commy/dist/lib/binding.js';
const key = { cluster: 'pkgtest', serverId: `s${process.pid}` };
const registry = new PeerRegistry(parseConfig({ ...key, listen: '127.0.0.1:7101', peers: ['b@127.0.0.1:7102'] }));
registry.initialize();
registry.markHeartbeatReceived('b');
registry.addBytesSent('b', 42);
const view = ClusterView.open(key);
const s = view.snapshot();
view.close();
registry.close({ unlink: true });
const ok = s.writer.alive && s.writer.pid === process.pid && s.peers.length === 1 &&
  s.peers[0].serverId === 'b' && s.peers[0].status === 'healthy' && s.peers[0].bytesSent === 42;
console.log(`${process.platform}-${process.arch} node ${process.version}: loaded ${bindingPath}`);
console.log(JSON.stringify(s));
if (!ok) {
  console.error('unexpected snapshot');
  process.exit(1);
}
console.log('smoke: ok');
EOF
cat >"$WORK/app/types.ts" <<'EOF'
import { ClusterView, PeerRegistry, type ClusterSnapshot } from 'commy';
const open: (key: { cluster: string; serverId: string }) => ClusterView = ClusterView.open;
const snapshot: (v: ClusterView) => ClusterSnapshot = (v) => v.snapshot();
export { open, snapshot, PeerRegistry };
EOF
# skipLibCheck off, so every shipped .d.ts must resolve; @types/node as a user has it.
cat >"$WORK/app/tsconfig.json" <<EOF
{ "compilerOptions": { "module": "NodeNext", "moduleResolution": "NodeNext", "strict": true, "noEmit": true,
  "skipLibCheck": false, "typeRoots": ["$ROOT/node_modules/@types"], "types": ["node"] }, "files": ["types.ts"] }
EOF

step "linux-x64: load the prebuild from the installed package"
(cd "$WORK/app" && hidden node smoke.mjs) | tee "$WORK/smoke-linux.log"
grep -q "loaded $WORK/app/node_modules/commy/prebuilds/linux-x64/commy.glibc.node" "$WORK/smoke-linux.log" ||
  die "node did not load the linux-x64 prebuild"

version=$(cd "$WORK/app" && hidden ./node_modules/.bin/commy --version) || die "the commy bin does not run"
printf 'bin: commy --version -> %s\n' "$version"

step "types resolve from the installed package"
(cd "$WORK/app" && node "$ROOT/node_modules/typescript/bin/tsc" -p .) || die "the package's types do not compile"
printf 'tsc: ok\n'

step "--build-from-source is honoured (and fails here, as there is no compiler)"
mkdir -p "$WORK/app-src"
cp "$WORK/app/package.json" "$WORK/app-src/"
if (cd "$WORK/app-src" && hidden npm install --no-audit --no-fund --foreground-scripts "$TGZ" --build-from-source) \
  >"$WORK/install-src.log" 2>&1; then
  cat "$WORK/install-src.log"
  die "npm install --build-from-source succeeded without a compiler: the flag was ignored"
fi
grep -q 'node-gyp is hidden by test-package.sh' "$WORK/install-src.log" || {
  cat "$WORK/install-src.log"
  die "npm install --build-from-source failed, but not by trying to run node-gyp"
}
printf 'node-gyp-build tried to run node-gyp and failed, as expected\n'

step "a prebuild that cannot load here: the install says why; no compiler fails it, a compiler builds from source"
# The same tarball with the arm64 build where the linux-x64 one goes: node-gyp-build picks it, it cannot load.
mkdir -p "$WORK/bad"
tar -xzf "$TGZ" -C "$WORK/bad"
cp "$WORK/bad/package/prebuilds/linux-arm64/commy.glibc.node" "$WORK/bad/package/prebuilds/linux-x64/commy.glibc.node"
tar -czf "$WORK/commy-bad-prebuild.tgz" -C "$WORK/bad" package
for d in app-bad app-bad-cc; do
  mkdir -p "$WORK/$d"
  cp "$WORK/app/package.json" "$WORK/app/smoke.mjs" "$WORK/$d/"
done
if (cd "$WORK/app-bad" && hidden npm install --no-audit --no-fund --foreground-scripts "$WORK/commy-bad-prebuild.tgz") \
  >"$WORK/install-bad.log" 2>&1; then
  cat "$WORK/install-bad.log"
  die "npm install succeeded with a prebuild that cannot load and no compiler"
fi
grep -E '^commy: |^  ' "$WORK/install-bad.log" | grep -v '^  npm' || true
grep -q 'commy: prebuilds/linux-x64/commy.glibc.node does not load on linux-x64' "$WORK/install-bad.log" ||
  die "the failed install does not say that the prebuild does not load"
grep -q '(built for arm64, not this x64; ' "$WORK/install-bad.log" || die "the failed install does not say what the prebuild was built for"
grep -q 'this host lacks a C++ compiler (c++, g++ or clang++), make, python3' "$WORK/install-bad.log" ||
  die "the failed install does not say what is missing"
# With this host's compilers on PATH (and npm's own node-gyp), install.mjs builds from source.
rm -f "$WORK/node_modules/.bin/node-gyp" # the stub above, on the PATH npm gives scripts under $WORK
(cd "$WORK/app-bad-cc" && npm install --no-audit --no-fund --foreground-scripts "$WORK/commy-bad-prebuild.tgz") \
  >"$WORK/install-bad-cc.log" 2>&1 || {
  cat "$WORK/install-bad-cc.log"
  die "npm install with a compiler did not recover from a prebuild that cannot load"
}
grep -E '^commy: ' "$WORK/install-bad-cc.log"
grep -q 'commy: building from source instead (node-gyp rebuild)' "$WORK/install-bad-cc.log" ||
  die "install.mjs did not build from source"
(cd "$WORK/app-bad-cc" && node smoke.mjs) | tee "$WORK/smoke-bad-cc.log"
grep -q "loaded $WORK/app-bad-cc/node_modules/commy/build/Release/commy.node" "$WORK/smoke-bad-cc.log" ||
  die "the package did not load its source build"

step "win32-x64: node.exe loads the prebuild from the same tarball (Wine)"
# The tarball unpacked by hand, beside the (JS) dependencies npm installed above.
mkdir -p "$WORK/win"
cp -r "$WORK/app/node_modules" "$WORK/win/"
rm -rf "$WORK/win/node_modules/commy" "$WORK/win/node_modules/.bin"
tar -xzf "$TGZ" -C "$WORK/win"
mv "$WORK/win/package" "$WORK/win/node_modules/commy"
cp "$WORK/app/package.json" "$WORK/app/smoke.mjs" "$WORK/win/"
[ ! -e "$WORK/win/node_modules/commy/build" ] || die "unexpected build/ in the tarball"
for v in "${NODE_VERSIONS[@]}"; do
  exe=$(wine_fetch_node "$v")
  (cd "$WORK/win" && wine_node "package-$v" 120 "$exe" smoke.mjs) || die "node.exe $v could not use the package"
  grep -q 'commy\\prebuilds\\win32-x64\\commy.node' "$WINE_LOGS/package-$v.out" ||
    die "node.exe $v did not load prebuilds/win32-x64/commy.node"
done

step "done"
printf 'test-package: ok in %ss\n' $((SECONDS - start))
