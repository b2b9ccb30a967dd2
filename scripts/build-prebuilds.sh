#!/usr/bin/env bash
# Builds the prebuilt addons that the npm package ships (run by `npm pack` /
# `npm publish` through the prepack script):
#   prebuilds/linux-x64/commy.glibc.node    built in a Debian 11 root, glibc <= 2.28 needed (scripts/build-linux.sh)
#   prebuilds/linux-arm64/commy.glibc.node  cross-built there with g++-aarch64-linux-gnu, the same floor
#   prebuilds/win32-x64/commy.node          the mingw-w64 cross-build (scripts/build-win.sh)
# then checks the Linux ones' glibc floor (scripts/check-glibc.sh), and ships
# nothing else: never the test-only commy_test.node.
# Names follow prebuildify 6 (`prebuildify --napi --tag-libc --strip`): the
# package name, then tags; node-gyp-build ignores the name and matches the tags,
# so the glibc builds are never picked on musl (that host builds from source).
# prebuilds/ is not in git; it exists only to go into the tarball.
# Needs root (debootstrap, chroot; apt-get for the cross compilers when missing).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
die() {
  printf 'build-prebuilds: %s\n' "$*" >&2
  exit 1
}

[ "$(node -p 'process.platform')" = linux ] || die "the prebuilds are built on Linux (this is $(node -p 'process.platform'))"

bash scripts/build-linux.sh
bash scripts/build-win.sh

# Each must be there, or the package would need a compiler on that platform.
SHIPPED=(prebuilds/linux-x64/commy.glibc.node prebuilds/linux-arm64/commy.glibc.node prebuilds/win32-x64/commy.node)
for f in "${SHIPPED[@]}"; do
  [ -s "$f" ] || die "$f was not built"
done
bash scripts/check-glibc.sh prebuilds/linux-*/*.node
# And nothing else: whatever sits in prebuilds/ ships, and the test addon
# (build/Release/commy_test.node, build-win/commy_test.node) must never.
extra=$(find prebuilds -type f ! -path "${SHIPPED[0]}" ! -path "${SHIPPED[1]}" ! -path "${SHIPPED[2]}")
[ -z "$extra" ] || die "unexpected files in prebuilds/ would ship: $(echo "$extra" | xargs echo)"
