#!/bin/bash
# benchmarks/ab.sh A_BIN B_BIN: benchmarks/all.sh with two tapserve
# executables in turn (A, B, A, B, ...), BENCH_ROUNDS rounds of one run
# each on the same data, then the median of each row's tapserve figure and
# ratio per executable. Build the other tree into a separate build
# directory (a git worktree) for A. Not a test. The environment of all.sh
# applies (BENCH_PARTS, BENCH_ROWS, BENCH_FORMATS, ...); BENCH_REPEAT is 1.
#
#   BENCH_ROUNDS  rounds (default 5)
set -euo pipefail
[ $# = 2 ] || {
  echo "usage: $0 A_BIN B_BIN" >&2
  exit 2
}
ROUNDS=${BENCH_ROUNDS:-5}
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || {
  echo "bench: BENCH_ROUNDS must be a positive number" >&2
  exit 1
}
HERE=$(cd "$(dirname "$0")" && pwd)
OUT=$(mktemp -d "${TMPDIR:-/tmp}/tapserve-bench-ab.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
for r in $(seq 1 "$ROUNDS"); do
  for side in A B; do
    bin=$1
    [ $side = B ] && bin=$2
    echo "== round $r, $side ($bin)"
    BENCH_REPEAT=1 TAPSERVE_BIN=$bin "$HERE/all.sh" >"$OUT/$side.$r" 2>&1 ||
      {
        tail -20 "$OUT/$side.$r" >&2
        exit 1
      }
    grep '^| [a-z/]' "$OUT/$side.$r" | grep -v '^| path ' | sed "s/^/$side /" >>"$OUT/rows"
    grep '^load average\|load average at the end' "$OUT/$side.$r" | sed "s/^/   /" || true
  done
done
echo
echo "$ROUNDS rounds of A=$1 and B=$2 in turn, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ); medians per row"
echo "(each figure: the first number of the tapserve column; ratio as all.sh prints it, reference of the same run)"
echo
echo "| path | A | B | A ratio | B ratio | A runs | B runs |"
echo "|---|---|---|---|---|---|---|"
awk -F'|' '
  { side = substr($1, 1, 1); path = $2; gsub(/^ +| +$/, "", path)
    split($3, f, " "); v = f[1] + 0; rt = $5 + 0
    if (!(path in seen)) { seen[path] = 1; order[++n] = path }
    val[side, path] = val[side, path] " " v; rat[side, path] = rat[side, path] " " rt }
  function med(s,   a, k, i, j, t) { k = split(s, a, " ")
    for (i = 1; i <= k; i++) for (j = i + 1; j <= k; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
    return k ? a[int((k + 1) / 2)] : "-" }
  END { for (i = 1; i <= n; i++) { p = order[i]
    printf "| %s | %s | %s | %s | %s |%s |%s |\n", p, med(val["A", p]), med(val["B", p]),
      med(rat["A", p]), med(rat["B", p]), val["A", p], val["B", p] } }' "$OUT/rows"
