#!/bin/bash
# run-fuzz.sh BUILD_DIR SECONDS: runs every libFuzzer target built in
# BUILD_DIR/tests/fuzz for SECONDS each, starting from its seed corpus
# (tests/fuzz/corpus/<name>/). A crash or sanitizer report fails the run and
# leaves the reproducer in BUILD_DIR/fuzz-artifacts/.
#
# The adql target takes inputs up to the 1 MiB query limit (-max_len), and
# has a second, shorter run (a quarter of SECONDS, at least 5) that starts
# from deep seeds at and beyond the nesting budget, written by
# tests/fuzz/adql_deep_seeds.py (about 2 MB: too big for the repository).
# It has a corpus of its own, so that slow big inputs do not crowd out the
# main run.
set -euo pipefail
build=${1:?usage: run-fuzz.sh BUILD_DIR SECONDS}
secs=${2:-30}
top=$(cd "$(dirname "$0")/.." && pwd)
art=$build/fuzz-artifacts
mkdir -p "$art"
shopt -s nullglob
targets=("$build"/tests/fuzz/fuzz_*)
[ ${#targets[@]} -gt 0 ] || { echo "run-fuzz: no fuzz targets in $build/tests/fuzz" >&2; exit 1; }
# fuzz_one NAME BINARY SECONDS SEED_DIR... -- [LIBFUZZER_OPTION...]
fuzz_one() {
  local name=$1 bin=$2 s=$3 work=$build/fuzz-corpus/$1
  shift 3
  local seeds=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do
    [ -d "$1" ] && seeds+=("$1")
    shift
  done
  [ $# -gt 0 ] && shift
  mkdir -p "$work"
  echo "fuzz $name: ${s}s"
  if ! "$bin" "$@" -max_total_time="$s" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
      -artifact_prefix="$art/$name-" "$work" "${seeds[@]}" >"$build/fuzz-$name.log" 2>&1; then
    tail -40 "$build/fuzz-$name.log"
    echo "run-fuzz: $name FAILED (reproducer in $art)" >&2
    exit 1
  fi
  grep -E '^#[0-9]+.*DONE' "$build/fuzz-$name.log" | tail -1 || true
}

for t in "${targets[@]}"; do
  [ -x "$t" ] || continue
  name=${t##*/fuzz_}
  if [ "$name" = adql ]; then
    fuzz_one adql "$t" "$secs" "$top/tests/fuzz/corpus/adql" -- -max_len=1048576
    deep=$build/fuzz-seeds/adql-deep
    /usr/bin/python3 "$top/tests/fuzz/adql_deep_seeds.py" "$deep"
    fuzz_one adql-deep "$t" $((secs / 4 > 5 ? secs / 4 : 5)) "$deep" -- -max_len=1048576
  elif [ "$name" = upload_fits ]; then
    # a FITS file is at least two 2880-byte blocks: room for a few more
    fuzz_one "$name" "$t" "$secs" "$top/tests/fuzz/corpus/$name" -- -max_len=20000
  else
    fuzz_one "$name" "$t" "$secs" "$top/tests/fuzz/corpus/$name" --
  fi
done
echo "run-fuzz: all targets ran ${secs}s without a finding"
