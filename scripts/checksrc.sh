#!/bin/bash
# Source checks that the compiler does not do: banned calls and private
# headers (*_int.h) included from another folder (a module's own unit tests
# and the fuzz drivers may reach its internals).
set -u
cd "$(dirname "$0")/.."
rc=0
files=$(git ls-files '*.c' '*.h' '*.y' '*.l' 2>/dev/null || find . -name '*.[chyl]' -not -path './build*')
banned='\b(sprintf|vsprintf|strcpy|strcat|strtok|atoi|atol|gets)\s*\('
if grep -nE "$banned" $files; then
  echo "checksrc: banned call (use snprintf, memcpy with lengths, strtok_r, strtol)" >&2
  rc=1
fi
for f in $files; do
  dir=$(dirname "$f")
  while read -r inc; do
    [ -z "$inc" ] && continue
    idir=$(dirname "$inc")
    if [ "$idir" != "." ] && [ "$idir" != "$dir" ] && [ "tests/unit/$idir" != "$dir" ] && [ "$dir" != tests/fuzz ]; then
      echo "$f: includes private header $inc of another folder" >&2
      rc=1
    fi
  done < <(grep -oE '#include "[^"]*_int\.h"' "$f" | sed -E 's/#include "(.*)"/\1/')
done
[ $rc = 0 ] && echo "checksrc: ok"
exit $rc
