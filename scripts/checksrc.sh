#!/bin/bash
# Source checks that the compiler does not do: banned calls, private
# headers (*_int.h) included from another folder (a module's own unit tests
# and the fuzz drivers may reach its internals), and includes against the
# direction of the module layers (DESIGN.md, "Layout"):
#   common <- adql;  common <- stream <- formats <- jobs <- tapserve;
#   common <- http <- tapserve.
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
    if [ "$idir" != "." ] && [ "$idir" != "$dir" ] && [ "tests/unit/$idir" != "$dir" ] &&
      [ "tests/unit/${idir%%/*}" != "$dir" ] && [ "$dir" != tests/fuzz ]; then
      echo "$f: includes private header $inc of another folder" >&2
      rc=1
    fi
  done < <(grep -oE '#include "[^"]*_int\.h"' "$f" | sed -E 's/#include "(.*)"/\1/')
done
# What each module may include besides itself.
declare -A may=(
  [common]=""
  [adql]="common"
  [stream]="common"
  [formats]="common stream"
  [jobs]="common stream formats"
  [http]="common"
  [tapserve]="common adql stream formats jobs http"
)
for f in $files; do
  m=${f%%/*}
  [ -n "${may[$m]+x}" ] || continue
  while read -r dep; do
    [ -z "$dep" ] || [ "$dep" = "$m" ] && continue
    [ -n "${may[$dep]+x}" ] || continue
    case " ${may[$m]} " in
    *" $dep "*) ;;
    *)
      echo "$f: $m/ includes $dep/, against the layer order (DESIGN.md, Layout)" >&2
      rc=1
      ;;
    esac
  done < <(grep -oE '^#include "[a-z]+/' "$f" | sed -E 's/#include "([a-z]+)\//\1/' | sort -u)
done
# Formatting: what `make format` would change (.clang-format).
if command -v clang-format >/dev/null; then
  if ! clang-format --dry-run -Werror $(git ls-files '*.c' '*.h') 2>/dev/null; then
    clang-format --dry-run $(git ls-files '*.c' '*.h') 2>&1 | grep -m 10 'warning:' >&2
    echo "checksrc: not clang-formatted (run make format)" >&2
    rc=1
  fi
fi
[ $rc = 0 ] && echo "checksrc: ok"
exit $rc
