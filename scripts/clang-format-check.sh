#!/usr/bin/env bash
# Fails when a C++ file differs from clang-format's output (style: .clang-format).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
files=$(git ls-files 'native/*.cc' 'native/*.h' 'test/native/*.cc' 'test/fixtures/*.cc' 2>/dev/null || ls native/*.cc native/*.h test/native/*.cc)
bad=0
for f in $files; do
  if ! clang-format --style=file --dry-run --Werror "$f" >/dev/null 2>&1; then
    echo "clang-format: $f is not formatted (run: clang-format -i $f)"
    bad=1
  fi
done
exit $bad
