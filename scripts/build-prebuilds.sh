#!/usr/bin/env bash
# Builds the prebuilt addons that the npm package ships (run by `npm pack` /
# `npm publish` through the prepack script):
#   prebuilds/linux-x64/commy.glibc.node  this host's node-gyp build, stripped
#   prebuilds/win32-x64/commy.node        the mingw-w64 cross-build (scripts/build-win.sh)
# and nothing else: never the test-only commy_test.node that node-gyp builds beside commy.node.
# Names follow prebuildify 6 (`prebuildify --napi --tag-libc --strip`): the
# package name, then tags; node-gyp-build ignores the name and matches the tags,
# so the glibc build is never picked on musl (that host builds from source).
# prebuilds/ is not in git; it exists only to go into the tarball.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
die() {
  printf 'build-prebuilds: %s\n' "$*" >&2
  exit 1
}

platform=$(node -p 'process.platform')
arch=$(node -p 'process.arch')
[ "$platform-$arch" = linux-x64 ] || die "the host prebuild must come from linux-x64 (this is $platform-$arch)"
[ -f /etc/alpine-release ] && die "build the linux-x64 prebuild on a glibc host, not Alpine"

# The host build, as `npm ci` made it; `node-gyp build` only recompiles what changed.
if [ -f build/Makefile ]; then
  npx --no-install node-gyp build
else
  npx --no-install node-gyp rebuild
fi
mkdir -p prebuilds/linux-x64
rm -f prebuilds/linux-x64/*.node
strip --strip-unneeded -o prebuilds/linux-x64/commy.glibc.node build/Release/commy.node
printf 'build-prebuilds: prebuilds/linux-x64/commy.glibc.node (%s bytes)\n' \
  "$(stat -c %s prebuilds/linux-x64/commy.glibc.node)"

bash scripts/build-win.sh

# Both must be there, or the package would need a compiler on that OS.
for f in prebuilds/linux-x64/commy.glibc.node prebuilds/win32-x64/commy.node; do
  [ -s "$f" ] || die "$f was not built"
done
# And nothing else: whatever sits in prebuilds/ ships, and the test addon
# (build/Release/commy_test.node, build-win/commy_test.node) must never.
extra=$(find prebuilds -type f ! -path prebuilds/linux-x64/commy.glibc.node ! -path prebuilds/win32-x64/commy.node)
[ -z "$extra" ] || die "unexpected files in prebuilds/ would ship: $(echo "$extra" | xargs echo)"
