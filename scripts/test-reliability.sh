#!/usr/bin/env bash
# The reliability checks of CI that are too long for npm test (docs/RELIABILITY.md):
#   fuzz   libFuzzer on untrusted region images under ASan + UBSan
#          (scripts/fuzz-region.sh), for FUZZ_SECONDS (default 60)
#   chaos  5 node processes behind the fault-injecting proxy, random kill -9,
#          restarts, partitions and link faults (npm run test:chaos), for
#          CHAOS_DURATION_S (default 180); CHAOS_SEED replays a run
# Usage: bash scripts/test-reliability.sh [fuzz|chaos|all]   (default: all)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MODE=${1:-all}

run_fuzz() {
  local start=$SECONDS
  bash scripts/fuzz-region.sh "${FUZZ_SECONDS:-60}"
  printf 'reliability: fuzz ok in %ss\n' $((SECONDS - start))
}

run_chaos() {
  local start=$SECONDS
  CHAOS_DURATION_S=${CHAOS_DURATION_S:-180} npm run --silent test:chaos
  printf 'reliability: chaos ok in %ss\n' $((SECONDS - start))
}

case "$MODE" in
  fuzz) run_fuzz ;;
  chaos) run_chaos ;;
  all)
    run_fuzz
    run_chaos
    ;;
  *)
    printf 'test-reliability: unknown mode %s (use fuzz, chaos or all)\n' "$MODE" >&2
    exit 1
    ;;
esac
