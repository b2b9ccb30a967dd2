#!/usr/bin/env bash
# Cross-builds the addon for win32-x64 with mingw-w64, from the same sources
# and defines as binding.gyp, into prebuilds/win32-x64/commy.node (the name
# prebuildify 6 gives a Node-API build; node-gyp-build loads it). No MSVC.
#   Import library: made by dlltool from node-api-headers' def/node_api.def,
#   naming node.exe as the DLL, so the addon binds to the host executable.
#   -static: libstdc++, libgcc and winpthreads are linked in; the .node file
#   depends only on node.exe and system DLLs (KERNEL32, ADVAPI32, msvcrt).
# Usage: bash scripts/build-win.sh            (installs mingw-w64 via apt when missing, as root)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
OUT_DIR="$ROOT/prebuilds/win32-x64"
OBJ_DIR="$ROOT/build-win"
CXX=x86_64-w64-mingw32-g++-posix # the default (win32-threads) variant lacks std::mutex
DLLTOOL=x86_64-w64-mingw32-dlltool
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)

die() {
  printf 'build-win: %s\n' "$*" >&2
  exit 1
}

if ! command -v "$CXX" >/dev/null || ! command -v "$DLLTOOL" >/dev/null; then
  [ "$(id -u)" -eq 0 ] || die "$CXX not found; install g++-mingw-w64-x86-64 (apt-get install -y g++-mingw-w64-x86-64)"
  printf 'build-win: installing g++-mingw-w64-x86-64\n'
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq g++-mingw-w64-x86-64 >/dev/null
fi

# The sources binding.gyp compiles, read from it so the two lists cannot drift
# (its top-level "sources"; per-OS sources in "conditions" would need adding here).
# platform_posix.cc compiles to nothing under _WIN32.
# shellcheck disable=SC2016 # a JS template literal, not a shell expansion
mapfile -t SOURCES < <(node -e '
  let gyp;
  try {
    gyp = JSON.parse(require("fs").readFileSync("binding.gyp", "utf8"));
  } catch (err) {
    console.error(`binding.gyp is not plain JSON (${err.message}); keep it JSON or update scripts/build-win.sh`);
    process.exit(1);
  }
  const target = gyp.targets.find((t) => t.target_name === "commy");
  for (const s of target?.sources ?? []) console.log(s);
')
[ ${#SOURCES[@]} -gt 0 ] || die "no sources found for target commy in binding.gyp"

NAPI_HEADERS=$(node -p 'require("path").dirname(require.resolve("node-api-headers/package.json"))') ||
  die "node-api-headers is not installed (run npm ci)"
ADDON_API=$(node -p 'require("path").dirname(require.resolve("node-addon-api/package.json"))') ||
  die "node-addon-api is not installed (run npm ci)"
NAPI_VERSION=$(node -p 'require("./package.json").binary.napi_versions.at(-1)')

mkdir -p "$OBJ_DIR" "$OUT_DIR"
"$DLLTOOL" -d "$NAPI_HEADERS/def/node_api.def" -l "$OBJ_DIR/node.lib" -D node.exe

# As binding.gyp: C++20, -Wall -Wextra -Werror, exceptions on (node_addon_api_except
# defines NAPI_CPP_EXCEPTIONS), NAPI_VERSION pinned. BUILDING_NODE_EXTENSION makes
# node_api.h declare the N-API functions dllimport, as node-gyp does on Windows.
CXXFLAGS=(
  -std=c++20 -O2 -Wall -Wextra -Werror
  -DNAPI_VERSION="$NAPI_VERSION" -DNAPI_CPP_EXCEPTIONS -D_HAS_EXCEPTIONS=1 -DBUILDING_NODE_EXTENSION
  -I"$NAPI_HEADERS/include" -I"$ADDON_API"
)

start=$SECONDS
objs=()
pids=()
for src in "${SOURCES[@]}"; do
  obj="$OBJ_DIR/$(basename "${src%.cc}").o"
  objs+=("$obj")
  "$CXX" "${CXXFLAGS[@]}" -c "$src" -o "$obj" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$JOBS" ]; then
    wait "${pids[0]}" || die "compiling failed"
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || die "compiling failed"; done

"$CXX" -shared -static -s -o "$OUT_DIR/commy.node" "${objs[@]}" "$OBJ_DIR/node.lib" -ladvapi32
printf 'build-win: %s (%s bytes) in %ss\n' "prebuilds/win32-x64/commy.node" \
  "$(stat -c %s "$OUT_DIR/commy.node")" $((SECONDS - start))
if command -v x86_64-w64-mingw32-objdump >/dev/null; then
  printf 'build-win: imports from %s\n' \
    "$(x86_64-w64-mingw32-objdump -p "$OUT_DIR/commy.node" | awk '/DLL Name:/ {print $3}' | sort -u | tr '\n' ' ')"
fi
