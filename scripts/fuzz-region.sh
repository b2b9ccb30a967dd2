#!/usr/bin/env bash
# libFuzzer on the region validator (test/native/fuzz_region.cc), under
# AddressSanitizer + UndefinedBehaviorSanitizer, built with clang.
#   1. Replays every seed (test/native/corpus/) and every past crash
#      (test/native/regressions/) once: each must pass.
#   2. Fuzzes for the given time from those seeds. New inputs go to
#      build-native/fuzz/corpus/ (not into the repo); a crash is written to
#      build-native/fuzz/artifacts/ and fails the run. To keep a crash as a
#      regression: fix the bug, then copy the file into test/native/regressions/.
# Usage: bash scripts/fuzz-region.sh [SECONDS]     (default 60)
#        bash scripts/fuzz-region.sh replay FILE... (run inputs once, e.g. a crash)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
OUT="$ROOT/build-native/fuzz"
BIN="$OUT/fuzz_region"
die() {
  printf 'fuzz-region: %s\n' "$*" >&2
  exit 1
}

mkdir -p "$OUT/corpus" "$OUT/artifacts"
# libFuzzer ships in clang's runtime package (libclang-rt-N-dev on Debian, only
# "recommended" by clang): check that a fuzzer links, install what is missing.
fuzzer_links() {
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$OUT/probe.cc"
  clang++ -fsanitize=fuzzer,address,undefined "$OUT/probe.cc" -o "$OUT/probe" >/dev/null 2>&1
}
if ! command -v clang++ >/dev/null || ! fuzzer_links; then
  [ "$(id -u)" -eq 0 ] || die "clang++ with libFuzzer is missing (apt-get install clang libclang-rt-<version>-dev)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  command -v clang++ >/dev/null || apt-get install -y -qq clang
  fuzzer_links || apt-get install -y -qq "libclang-rt-$(clang++ -dumpversion | cut -d. -f1)-dev"
  fuzzer_links || die "clang++ cannot link -fsanitize=fuzzer"
fi
start=$SECONDS
printf '== build %s (clang, -fsanitize=fuzzer,address,undefined)\n' "$BIN"
clang++ -std=c++20 -O1 -g -fno-omit-frame-pointer -Wall -Wextra -Werror \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
  -I"$ROOT/native" \
  "$ROOT/native/core.cc" "$ROOT/native/region.cc" "$ROOT/native/platform_posix.cc" \
  "$ROOT/test/native/fuzz_region.cc" -lrt -o "$BIN"

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

if [ "${1:-}" = "replay" ]; then
  shift
  exec "$BIN" "$@"
fi
DURATION=${1:-60}

mapfile -t known < <(find "$ROOT/test/native/corpus" "$ROOT/test/native/regressions" -type f ! -name '*.md' | sort)
printf '== replay %d seeds and regressions\n' "${#known[@]}"
"$BIN" "${known[@]}" >"$OUT/replay.log" 2>&1 || {
  tail -n 40 "$OUT/replay.log"
  die "a seed or regression input fails (see $OUT/replay.log)"
}
printf 'all %d passed\n' "${#known[@]}"

printf '== fuzz for %ss\n' "$DURATION"
rm -f "$OUT"/artifacts/*
log="$OUT/fuzz.log"
rc=0
# -max_len: a header and up to 16 slots, so deep layouts are reachable.
"$BIN" -max_total_time="$DURATION" -max_len=17408 -timeout=10 -rss_limit_mb=2048 \
  -dict="$ROOT/test/native/fuzz_region.dict" -artifact_prefix="$OUT/artifacts/" \
  -print_final_stats=1 "$OUT/corpus" "$ROOT/test/native/corpus" >"$log" 2>&1 || rc=$?
grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" || true
if [ "$rc" -ne 0 ] || [ -n "$(ls -A "$OUT/artifacts")" ]; then
  tail -n 40 "$log"
  die "the fuzzer found a failing input (exit $rc): $(ls "$OUT"/artifacts/ | tr '\n' ' ')(see $log)"
fi
printf 'fuzz-region: ok in %ss (corpus now %s inputs in %s)\n' $((SECONDS - start)) \
  "$(find "$OUT/corpus" -type f | wc -l)" "${OUT#"$ROOT"/}/corpus"
