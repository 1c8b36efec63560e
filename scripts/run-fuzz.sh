#!/bin/bash
# run-fuzz.sh BUILD_DIR SECONDS: runs every libFuzzer target built in
# BUILD_DIR/tests/fuzz for SECONDS each, starting from its seed corpus
# (tests/fuzz/corpus/<name>/). A crash or sanitizer report fails the run and
# leaves the reproducer in BUILD_DIR/fuzz-artifacts/.
set -euo pipefail
build=${1:?usage: run-fuzz.sh BUILD_DIR SECONDS}
secs=${2:-30}
top=$(cd "$(dirname "$0")/.." && pwd)
art=$build/fuzz-artifacts
mkdir -p "$art"
shopt -s nullglob
targets=("$build"/tests/fuzz/fuzz_*)
[ ${#targets[@]} -gt 0 ] || { echo "run-fuzz: no fuzz targets in $build/tests/fuzz" >&2; exit 1; }
for t in "${targets[@]}"; do
  [ -x "$t" ] || continue
  name=${t##*/fuzz_}
  work=$build/fuzz-corpus/$name
  mkdir -p "$work"
  seeds=()
  [ -d "$top/tests/fuzz/corpus/$name" ] && seeds=("$top/tests/fuzz/corpus/$name")
  echo "fuzz $name: ${secs}s"
  if ! "$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -print_final_stats=0 \
      -artifact_prefix="$art/$name-" "$work" "${seeds[@]}" >"$build/fuzz-$name.log" 2>&1; then
    tail -40 "$build/fuzz-$name.log"
    echo "run-fuzz: $name FAILED (reproducer in $art)" >&2
    exit 1
  fi
  grep -E '^#[0-9]+.*DONE' "$build/fuzz-$name.log" | tail -1 || true
done
echo "run-fuzz: all targets ran ${secs}s without a finding"
