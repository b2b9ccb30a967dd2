#!/usr/bin/env bash
# Builds the Linux prebuilds that the npm package ships, from the same sources
# and defines as binding.gyp:
#   prebuilds/linux-x64/commy.glibc.node    g++ 10 (x86-64)
#   prebuilds/linux-arm64/commy.glibc.node  g++-aarch64-linux-gnu 10 (cross)
# Both must load wherever Node 20 runs: Node 20 needs glibc 2.28, and so may
# these, at most (scripts/check-glibc.sh checks every one after the build).
#
# How: they are compiled and linked inside a Debian 11 (bullseye) root made with
# debootstrap (scripts/linux-root.sh), with Debian 11's own compilers, against its
# glibc 2.31 and its libstdc++ 10. An older sysroot, not .symver pinning on this
# Debian 12 host, because the symbols newer than 2.28 do not only come from our
# code: a build here with a static libstdc++/libgcc needs GLIBC_2.32 to 2.36 for
# __libc_single_threaded, arc4random, _dl_find_object (the unwinder), stat64 and
# the pthread_* and shm_* symbols that moved into libc in 2.34, most of them
# referenced from inside libstdc++.a and libgcc_eh.a, where a .symver in our
# sources cannot reach, and some of them with no older version to pin to at all.
# Built against glibc 2.31, the same code needs no version newer than
# GLIBC_2.17 (shm_open from librt, pthread_* from libpthread, stat via __xstat),
# well under the 2.28 floor; no Debian release with glibc 2.28 (buster) is
# reachable from here, and none is needed.
#   -static-libstdc++ -static-libgcc: the addon needs no libstdc++ or libgcc_s
#   from the host (as the Windows build links -static), and
#   -Wl,--exclude-libs,ALL keeps those copies' symbols private, so they cannot
#   bind to (or be bound by) the libstdc++ that node itself loads.
#
# --test-addon also builds binding.gyp's test-only target commy_test into
# build-linux-<arch>/commy_test.node (for scripts/test-arm64.sh), never into prebuilds/.
# A build whose inputs (sources, flags, compiler) are unchanged is skipped.
# Usage: bash scripts/build-linux.sh [--arch x64|arm64] [--test-addon]   (default: both arches; needs root)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
die() {
  printf 'build-linux: %s\n' "$*" >&2
  exit 1
}

ARCHES=(x64 arm64)
TARGETS=(commy)
while [ $# -gt 0 ]; do
  case "$1" in
  --arch)
    [[ "${2:-}" == x64 || "${2:-}" == arm64 ]] || die "--arch takes x64 or arm64"
    ARCHES=("$2")
    shift
    ;;
  --test-addon) TARGETS+=(commy_test) ;;
  *) die "unknown option '$1' (use --arch x64|arm64, --test-addon)" ;;
  esac
  shift
done
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap and chroot into the Debian 11 build root)"

# shellcheck source=scripts/linux-root.sh
source scripts/linux-root.sh
trap 'linux_root_cleanup' EXIT
# shellcheck disable=SC2119 # no arguments: no qemu packages needed here
linux_root_need_packages
linux_root_build_root

# The sources binding.gyp compiles, read from it so the lists cannot drift (as
# scripts/build-win.sh does): a target's "sources", at the top level or in a
# top-level "conditions" branch. platform_win32.cc compiles to nothing here.
gyp_sources() { # gyp_sources TARGET: prints its sources, one a line
  node -e '
    const gyp = JSON.parse(require("fs").readFileSync("binding.gyp", "utf8"));
    const branches = (gyp.conditions ?? []).flatMap((c) => c.slice(1));
    const target = [gyp, ...branches].flatMap((d) => d.targets ?? []).find((t) => t.target_name === process.argv[1]);
    for (const s of target?.sources ?? []) console.log(s);
  ' "$1"
}

NAPI_HEADERS=$(node -p 'require("path").dirname(require.resolve("node-api-headers/package.json"))') ||
  die "node-api-headers is not installed (run npm ci)"
ADDON_API=$(node -p 'require("path").dirname(require.resolve("node-addon-api/package.json"))') ||
  die "node-addon-api is not installed (run npm ci)"
NAPI_VERSION=$(node -p 'require("./package.json").binary.napi_versions.at(-1)')

# As node-gyp's Release build of binding.gyp (build/commy.target.mk): C++20,
# -O3, -Wall -Wextra -Werror, hidden visibility, no RTTI, exceptions on
# (node_addon_api_except), NAPI_VERSION pinned, 64-bit file offsets.
CXXFLAGS=(
  -std=c++20 -O3 -fPIC -pthread -fvisibility=hidden -fno-rtti -Wall -Wextra -Werror
  -DNAPI_VERSION="$NAPI_VERSION" -DNAPI_CPP_EXCEPTIONS -DBUILDING_NODE_EXTENSION -DNODE_GYP_MODULE_NAME=commy
  -D_GLIBCXX_USE_CXX11_ABI=1 -D_FILE_OFFSET_BITS=64 -D_LARGEFILE_SOURCE -D__STDC_FORMAT_MACROS
  -I/commy-src/napi -I/commy-src/node-addon-api -Inative
)
# shellcheck disable=SC2054 # the commas are the linker's
LDFLAGS=(-shared -pthread -static-libstdc++ -static-libgcc -Wl,--exclude-libs,ALL -Wl,-z,noexecstack -Wl,-z,relro)
LIBS=(-lrt) # binding.gyp's libraries on Linux: shm_open and shm_unlink live in librt before glibc 2.34

# The sources, headers and Node-API headers, copied into the root (no bind mount to undo).
SRC="$LINUX_BUILD_ROOT/commy-src"
rm -rf "$SRC"
mkdir -p "$SRC/napi"
cp -r native "$SRC/native"
[ ! -d test/native ] || { mkdir -p "$SRC/test" && cp -r test/native "$SRC/test/native"; }
cp -r "$NAPI_HEADERS/include/." "$SRC/napi/"
# libuv's headers, for the event loop's own change wait (native/loop_waiter.h):
# node-api-headers has none, so take this Node's (libuv keeps its ABI within 1.x).
# The first of: the running Node's include dir, a system Node's, libuv1-dev's.
UV_HEADERS=""
for d in "$(node -p 'require("path").join(process.execPath, "..", "..", "include", "node")')" \
  /usr/include/node /usr/local/include/node /usr/include; do
  if [ -f "$d/uv.h" ] && [ -d "$d/uv" ]; then
    UV_HEADERS=$d
    break
  fi
done
[ -n "$UV_HEADERS" ] ||
  die "libuv headers (uv.h, uv/) not found beside this Node, in /usr/include/node, /usr/local/include/node or /usr/include: install Node's headers or libuv1-dev"
cp "$UV_HEADERS/uv.h" "$SRC/napi/"
cp -r "$UV_HEADERS/uv" "$SRC/napi/uv"
cp -r "$ADDON_API" "$SRC/node-addon-api"

JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)
for arch in "${ARCHES[@]}"; do
  case "$arch" in
  x64) CXX=g++ STRIP=strip MACHINE='X86-64' ;;
  arm64) CXX=aarch64-linux-gnu-g++ STRIP=aarch64-linux-gnu-strip MACHINE='AArch64' ;;
  esac
  obj="build-linux-$arch" # in the repo and, as /commy-src/$obj, in the root
  mkdir -p "$obj" "prebuilds/linux-$arch"
  for t in "${TARGETS[@]}"; do
    mapfile -t sources < <(gyp_sources "$t")
    [ ${#sources[@]} -gt 0 ] || die "no sources found for target $t in binding.gyp"
    if [ "$t" = commy ]; then out="prebuilds/linux-$arch/commy.glibc.node"; else out="$obj/$t.node"; fi
    # The inputs: every source and header, the flags and the compiler's version.
    stamp=$({
      cat native/*.h "${sources[@]}" binding.gyp "$NAPI_HEADERS/include/"*.h "$ADDON_API/"*.h "$UV_HEADERS/uv.h"
      echo "${CXXFLAGS[*]} ${LDFLAGS[*]} ${LIBS[*]}"
      linux_root_run "$LINUX_BUILD_ROOT" "$CXX" --version
    } | sha256sum | cut -d' ' -f1)
    if [ -s "$out" ] && [ "$(cat "$obj/$t.stamp" 2>/dev/null)" = "$stamp" ]; then
      printf 'build-linux: %s is up to date\n' "$out"
      continue
    fi
    start=$SECONDS
    rm -rf "${SRC:?}/$obj" "$obj/$t.stamp"
    mkdir -p "$SRC/$obj/$t"
    # Compile in the root, $JOBS at a time; from /commy-src, so -Inative and the sources resolve.
    pids=()
    for src in "${sources[@]}"; do
      linux_root_run "$LINUX_BUILD_ROOT" sh -c 'cd /commy-src && exec "$@"' sh \
        "$CXX" "${CXXFLAGS[@]}" -c "$src" -o "$obj/$t/$(basename "$src" .cc).o" &
      pids+=($!)
      if [ ${#pids[@]} -ge "$JOBS" ]; then
        wait "${pids[0]}" || die "compiling $t for linux-$arch failed"
        pids=("${pids[@]:1}")
      fi
    done
    for p in "${pids[@]}"; do wait "$p" || die "compiling $t for linux-$arch failed"; done
    objs=()
    for s in "${sources[@]}"; do objs+=("$obj/$t/$(basename "$s" .cc).o"); done
    linux_root_run "$LINUX_BUILD_ROOT" sh -c 'cd /commy-src && exec "$@"' sh \
      "$CXX" "${LDFLAGS[@]}" -o "$obj/$t.node" "${objs[@]}" "${LIBS[@]}" || die "linking $t for linux-$arch failed"
    linux_root_run "$LINUX_BUILD_ROOT" "$STRIP" --strip-unneeded "/commy-src/$obj/$t.node"
    machine=$(readelf -h "$SRC/$obj/$t.node" | awk -F: '/Machine:/ {gsub(/^ +/, "", $2); print $2}')
    [[ "$machine" == *"$MACHINE"* ]] || die "$t for linux-$arch was built for '$machine'"
    cp "$SRC/$obj/$t.node" "$out"
    printf '%s\n' "$stamp" >"$obj/$t.stamp"
    printf 'build-linux: %s (%s bytes, %s) in %ss\n' "$out" "$(stat -c %s "$out")" "$machine" $((SECONDS - start))
  done
done
rm -rf "$SRC"
