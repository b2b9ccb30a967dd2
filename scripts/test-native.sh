#!/usr/bin/env bash
# Native checks that need no Node test runner, for CI and `npm run test:native`:
#   sanitize  builds test/native/region_test.cc with CMake under ASan + UBSan
#             (build-native/) and runs it; any sanitizer report fails.
#   cmake-js  builds the addon and the test addon with cmake-js from CMakeLists.txt
#             (build-cmake/), using node-api-headers from node_modules (nothing is
#             downloaded), then loads both in Node and checks their exports.
#   wine      (optional, not in all) the same tests on the Windows code path,
#             cross-built with MinGW and run under Wine.
# Usage: bash scripts/test-native.sh [sanitize|cmake-js|all|wine]   (default: all)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
MODE=${1:-all}
JOBS=$(getconf _NPROCESSORS_ONLN 2>/dev/null || echo 2)

step() { printf '\n== %s\n' "$*"; }
die() {
  printf 'test-native: %s\n' "$*" >&2
  exit 1
}

run_sanitize() {
  local build="$ROOT/build-native" log="$ROOT/build-native/test.log" start=$SECONDS
  step "configure + build $build (ASan + UBSan)"
  cmake -S "$ROOT" -B "$build" -DCOMMY_SANITIZE=ON -DCOMMY_NATIVE_TESTS=ON
  cmake --build "$build" --parallel "$JOBS"

  step "run commy_native_test"
  # abort_on_error/halt_on_error turn any report into a non-zero exit; the log
  # is also scanned below in case a report ever slips through without one.
  local rc=0
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1:check_initialization_order=1:strict_init_order=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$build/commy_native_test" 2>&1 | tee "$log" || rc=$?
  [ "$rc" -eq 0 ] || die "commy_native_test exited with status $rc (see $log)"
  if grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: [A-Za-z]+Sanitizer' "$log"; then
    die "sanitizer report in $log"
  fi
  tail -n 1 "$log" | grep -Eq '^[0-9]+ passed, 0 failed$' || die "unexpected summary line in $log"
  printf 'sanitize: ok in %ss\n' $((SECONDS - start))
}

run_cmake_js() {
  local out="$ROOT/build-cmake" start=$SECONDS
  local cmakejs="$ROOT/node_modules/.bin/cmake-js"
  [ -x "$cmakejs" ] || die "cmake-js is not installed in node_modules (run npm ci)"

  step "cmake-js: Node-API mode, headers from node_modules"
  # binary.napi_versions in package.json puts cmake-js in Node-API mode: its
  # include path is node-api-headers + node-addon-api, and it never fetches
  # the Node.js headers. Fail loudly if that ever changes.
  local inc
  inc=$("$cmakejs" print-cmakejs-include 2>/dev/null | tail -n 1)
  printf 'CMAKE_JS_INC=%s\n' "$inc"
  case "$inc" in
    *node_modules/node-api-headers/include*) ;;
    *) die "cmake-js is not using node-api-headers (CMAKE_JS_INC=$inc)" ;;
  esac
  case "$inc" in
    *.cmake-js*) die "cmake-js would use downloaded Node.js headers (CMAKE_JS_INC=$inc)" ;;
  esac

  step "cmake-js compile --out build-cmake"
  local log
  log=$(mktemp)
  local rc=0
  "$cmakejs" compile --out "$out" 2>&1 | tee "$log" || rc=$?
  if grep -Eq '(^| )DIST |Downloading' "$log"; then
    rm -f "$log"
    die "cmake-js tried to download Node.js distribution files"
  fi
  rm -f "$log"
  [ "$rc" -eq 0 ] || die "cmake-js compile failed with status $rc"

  local addon="$out/Release/commy.node" test_addon="$out/Release/commy_test.node"
  [ -f "$addon" ] || die "cmake-js produced no $addon"
  [ -f "$test_addon" ] || die "cmake-js produced no $test_addon"

  step "load $addon and $test_addon"
  # The test hook must live only in the test addon.
  node -e '
    const b = require(process.argv[1]);
    const t = require(process.argv[2]);
    const problems = [];
    if (typeof b.create !== "function") problems.push("create is " + typeof b.create);
    if (b.layout === null || typeof b.layout !== "object") problems.push("layout is " + typeof b.layout);
    if ("createRawRegion" in b) problems.push("commy.node has the test hook createRawRegion");
    if (typeof t.createRawRegion !== "function") problems.push("commy_test.node has no createRawRegion");
    if (problems.length) {
      console.error("cmake-js addon exports are wrong: " + problems.join(", "));
      process.exit(1);
    }
    console.log("commy.node exports: " + Object.getOwnPropertyNames(b).sort().join(", "));
    console.log("commy_test.node exports: " + Object.getOwnPropertyNames(t).sort().join(", "));
  ' "$addon" "$test_addon"
  printf 'cmake-js: ok in %ss\n' $((SECONDS - start))
}

# Optional (not in "all"): the same tests against the Windows code path,
# cross-built with MinGW and run under Wine. Needs x86_64-w64-mingw32-g++-posix
# and wine; everything stays under build-native/wine/.
run_wine() {
  local build="$ROOT/build-native/wine" start=$SECONDS
  local cxx=${MINGW_CXX:-x86_64-w64-mingw32-g++-posix}
  command -v "$cxx" >/dev/null || die "$cxx not found (set MINGW_CXX)"
  command -v wine >/dev/null || die "wine not found"
  step "configure + build $build (MinGW, Windows code path)"
  cmake -S "$ROOT" -B "$build" -DCMAKE_SYSTEM_NAME=Windows -DCMAKE_CXX_COMPILER="$cxx" \
    -DCMAKE_EXE_LINKER_FLAGS=-static -DCOMMY_NATIVE_TESTS=ON
  cmake --build "$build" --parallel "$JOBS"
  step "run commy_native_test.exe under wine"
  local log="$build/test.log" rc=0
  WINEPREFIX="$build/prefix" WINEDEBUG=-all wine "$build/commy_native_test.exe" 2>&1 | tee "$log" || rc=$?
  [ "$rc" -eq 0 ] || die "commy_native_test.exe exited with status $rc (see $log)"
  tail -n 1 "$log" | tr -d '\r' | grep -Eq '^[0-9]+ passed, 0 failed$' || die "unexpected summary line in $log"
  printf 'wine: ok in %ss\n' $((SECONDS - start))
}

case "$MODE" in
  sanitize) run_sanitize ;;
  cmake-js) run_cmake_js ;;
  wine) run_wine ;;
  all)
    run_sanitize
    run_cmake_js
    ;;
  *) die "unknown mode '$MODE' (use sanitize, cmake-js, all or wine)" ;;
esac
