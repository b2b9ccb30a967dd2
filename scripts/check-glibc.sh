#!/usr/bin/env bash
# Reads what each Linux .node file needs from the dynamic linker and fails on
# anything a glibc-2.28 host (the oldest that Node 20 runs on) lacks:
#   - a GLIBC_x.y symbol version newer than the floor (readelf -V: the version
#     needs, i.e. exactly what ld.so checks when the file is loaded);
#   - any libstdc++ / libgcc version (GLIBCXX_, CXXABI_, GCC_): those must be
#     linked statically, so the host's libstdc++ does not matter;
#   - a needed library other than glibc's own (libc, libm, libpthread, librt,
#     libdl, the dynamic loader);
#   - a file under prebuilds/linux-<arch>/ built for another machine.
# Usage: bash scripts/check-glibc.sh [FILE...]   (default: every prebuilds/linux-*/*.node)
#        GLIBC_FLOOR=2.28 (default) sets the floor.
set -euo pipefail

FLOOR=${GLIBC_FLOOR:-2.28}
die() {
  printf 'check-glibc: %s\n' "$*" >&2
  exit 1
}
command -v readelf >/dev/null || die "readelf not found (apt-get install binutils)"

files=("$@")
if [ ${#files[@]} -eq 0 ]; then
  cd "$(dirname "${BASH_SOURCE[0]}")/.."
  shopt -s nullglob
  files=(prebuilds/linux-*/*.node)
  shopt -u nullglob
  [ ${#files[@]} -gt 0 ] || die "no prebuilds/linux-*/*.node to check (run scripts/build-prebuilds.sh)"
fi

newer() { # newer A B: true if version A > version B
  [ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | tail -n 1)" = "$1" ]
}

bad=0
for f in "${files[@]}"; do
  [ -f "$f" ] || die "$f does not exist"
  problems=()
  machine=$(readelf -h "$f" 2>/dev/null | awk -F: '/Machine:/ {gsub(/^ +/, "", $2); print $2}')
  [ -n "$machine" ] || die "$f is not an ELF file"
  case "$f" in
  *linux-x64/*) [[ "$machine" == *X86-64* ]] || problems+=("built for $machine, not x86-64") ;;
  *linux-arm64/*) [[ "$machine" == *AArch64* ]] || problems+=("built for $machine, not AArch64") ;;
  esac
  # Version needs: "File: libc.so.6" lines, each followed by its "Name: GLIBC_2.17" lines.
  mapfile -t needs < <(readelf -V --wide "$f" | awk '
    /File: / { for (i = 1; i <= NF; i++) if ($i == "File:") lib = $(i + 1) }
    /Name: / && lib != "" { for (i = 1; i <= NF; i++) if ($i == "Name:") print lib " " $(i + 1) }')
  max=0
  for n in "${needs[@]}"; do
    lib=${n% *} ver=${n#* }
    case "$ver" in
    GLIBC_PRIVATE) problems+=("needs $ver from $lib") ;;
    GLIBC_[0-9]*)
      v=${ver#GLIBC_}
      newer "$v" "$max" && max=$v
      if newer "$v" "$FLOOR"; then problems+=("needs $ver (from $lib), newer than the floor GLIBC_$FLOOR"); fi
      ;;
    *) problems+=("needs $ver from $lib: libstdc++ and libgcc must be linked statically") ;;
    esac
  done
  mapfile -t libs < <(readelf -d "$f" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')
  for l in "${libs[@]}"; do
    case "$l" in
    libc.so.6 | libm.so.6 | libpthread.so.0 | librt.so.1 | libdl.so.2 | ld-linux-x86-64.so.2 | ld-linux-aarch64.so.1) ;;
    *) problems+=("needs $l, which is not part of glibc") ;;
    esac
  done
  summary="$machine, needs GLIBC_$max at most, links ${libs[*]:-nothing}"
  if [ ${#problems[@]} -eq 0 ]; then
    printf 'check-glibc: ok   %s (%s)\n' "$f" "$summary"
  else
    bad=$((bad + 1))
    printf 'check-glibc: FAIL %s (%s)\n' "$f" "$summary"
    printf '  %s\n' "${problems[@]}"
  fi
done
[ "$bad" -eq 0 ] || die "$bad of ${#files[@]} files need more than glibc $FLOOR provides"
printf 'check-glibc: %s files, all within glibc %s\n' "${#files[@]}" "$FLOOR"
