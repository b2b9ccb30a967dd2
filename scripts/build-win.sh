#!/usr/bin/env bash
# Cross-builds the addon for win32-x64 with mingw-w64, from the same sources
# and defines as binding.gyp, into prebuilds/win32-x64/commy.node (the name
# prebuildify 6 gives a Node-API build; node-gyp-build loads it). No MSVC.
#   Import library: made by dlltool from node-api-headers' def/node_api.def,
#   naming node.exe as the DLL, so the addon binds to the host executable.
#   -static: libstdc++, libgcc and winpthreads are linked in; the .node file
#   depends only on node.exe and system DLLs (KERNEL32, ADVAPI32, msvcrt).
# --test-addon also builds binding.gyp's test-only target commy_test into
# build-win/commy_test.node (for scripts/test-windows.sh), never into prebuilds/.
# Usage: bash scripts/build-win.sh [--test-addon]   (installs mingw-w64 via apt when missing, as root)
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

TARGETS=(commy)
case "${1:-}" in
'') ;;
--test-addon) TARGETS+=(commy_test) ;;
*) die "unknown option '$1' (use --test-addon)" ;;
esac

if ! command -v "$CXX" >/dev/null || ! command -v "$DLLTOOL" >/dev/null; then
  [ "$(id -u)" -eq 0 ] || die "$CXX not found; install g++-mingw-w64-x86-64 (apt-get install -y g++-mingw-w64-x86-64)"
  printf 'build-win: installing g++-mingw-w64-x86-64\n'
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq g++-mingw-w64-x86-64 >/dev/null
fi

# The sources binding.gyp compiles, read from it so the two lists cannot drift
# (a target's "sources", the target at the top level or in a top-level "conditions"
# branch; per-OS sources in a target's own "conditions" would need adding here).
# platform_posix.cc compiles to nothing under _WIN32.
gyp_sources() { # gyp_sources TARGET: prints its sources, one a line
  # shellcheck disable=SC2016 # a JS template literal, not a shell expansion
  node -e '
    let gyp;
    try {
      gyp = JSON.parse(require("fs").readFileSync("binding.gyp", "utf8"));
    } catch (err) {
      console.error(`binding.gyp is not plain JSON (${err.message}); keep it JSON or update scripts/build-win.sh`);
      process.exit(1);
    }
    const branches = (gyp.conditions ?? []).flatMap((c) => c.slice(1));
    const targets = [gyp, ...branches].flatMap((d) => d.targets ?? []);
    const target = targets.find((t) => t.target_name === process.argv[1]);
    for (const s of target?.sources ?? []) console.log(s);
  ' "$1"
}
declare -A TARGET_SOURCES
SOURCES=()
for t in "${TARGETS[@]}"; do
  mapfile -t list < <(gyp_sources "$t")
  [ ${#list[@]} -gt 0 ] || die "no sources found for target $t in binding.gyp"
  TARGET_SOURCES[$t]="${list[*]}"
  for src in "${list[@]}"; do
    [[ " ${SOURCES[*]} " == *" $src "* ]] || SOURCES+=("$src")
  done
done

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
  -I"$NAPI_HEADERS/include" -I"$ADDON_API" -Inative # -Inative: binding.gyp's include_dirs of commy_test
)

start=$SECONDS
obj_of() { printf '%s/%s.o\n' "$OBJ_DIR" "$(basename "${1%.cc}")"; }
pids=()
for src in "${SOURCES[@]}"; do
  "$CXX" "${CXXFLAGS[@]}" -c "$src" -o "$(obj_of "$src")" &
  pids+=($!)
  if [ ${#pids[@]} -ge "$JOBS" ]; then
    wait "${pids[0]}" || die "compiling failed"
    pids=("${pids[@]:1}")
  fi
done
for p in "${pids[@]}"; do wait "$p" || die "compiling failed"; done

for t in "${TARGETS[@]}"; do
  # The production addon goes to prebuilds/, the test addon stays in the build folder.
  if [ "$t" = commy ]; then out="$OUT_DIR/commy.node"; else out="$OBJ_DIR/$t.node"; fi
  objs=()
  for src in ${TARGET_SOURCES[$t]}; do objs+=("$(obj_of "$src")"); done
  "$CXX" -shared -static -s -o "$out" "${objs[@]}" "$OBJ_DIR/node.lib" -ladvapi32
  printf 'build-win: %s (%s bytes) in %ss\n' "${out#"$ROOT"/}" "$(stat -c %s "$out")" $((SECONDS - start))
  if command -v x86_64-w64-mingw32-objdump >/dev/null; then
    printf 'build-win: imports from %s\n' \
      "$(x86_64-w64-mingw32-objdump -p "$out" | awk '/DLL Name:/ {print $3}' | sort -u | tr '\n' ' ')"
  fi
done
