#!/bin/bash
# benchmarks/all.sh: the speed table of tapserve in one run, each path
# against its reference on the same machine, data and run: cone searches
# against pgbench on the same SQL (cluster.sh's direct mode), VOTable
# BINARY2 plain, with gzip and with zstd against raw COPY binary, an async
# job from creation to COMPLETED and the downloads of its stored result per
# format against raw COPY binary, and tapserve's peak resident memory. See
# the "All paths in one run" section of benchmarks/README.md.
#
# Environment:
#   BENCH_ROWS       rows of bench.sources (default 1000000; 100000 is a
#                    quick check)
#   BENCH_REPEAT     runs per case; the median is reported (default 3)
#   BENCH_PARTS      what to measure (default "cone sync async")
#   BENCH_FORMATS    download formats (default "votable/b2 votable/td csv fits")
#   BENCH_CLIENTS    cone client counts (default "1 16 64")
#   BENCH_SECONDS    seconds per cone case (default 10)
#   BENCH_CONE_ROWS  rows of cluster.sh's demo.sources (default BENCH_ROWS)
#   BENCH_STORE      async result store: fs (default) or pg
#   BENCH_DATA_DIR   embedded cluster directory (default var/bench-async-pg,
#                    shared with async.sh)
#   BENCH_PG_PORT    its PostgreSQL port (default 54322)
#   TAPSERVE_BIN     the executable (default build/tapserve/tapserve)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TAPSERVE_BIN:-$ROOT/build/tapserve/tapserve}
GEN="$(cd "$(dirname "$0")" && pwd)/../../shared/bench/gen_sources.sql"
DATA=${BENCH_DATA_DIR:-$ROOT/var/bench-async-pg}
PG_PORT=${BENCH_PG_PORT:-54322}
BENCH_ROWS=${BENCH_ROWS:-1000000}
REPEAT=${BENCH_REPEAT:-3}
PARTS=${BENCH_PARTS:-cone sync async}
FORMATS=${BENCH_FORMATS:-votable/b2 votable/td csv fits}
STORE=${BENCH_STORE:-fs}

# shellcheck source=benchmarks/lib.sh
. "$(dirname "$0")/lib.sh"
bench_check
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive number"
case $STORE in fs | pg) ;; *) die "BENCH_STORE must be fs or pg" ;; esac
bench_workdir all
# median of the numbers on stdin (the lower middle for an even count)
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
ROWS_OUT=()
row() { ROWS_OUT+=("| $1 | $2 | $3 | $4 | $5 |"); }

# ---- cone searches: cluster.sh, one instance without HAProxy ---------------
if [[ " $PARTS " == *" cone "* ]]; then
  echo "== cone searches (benchmarks/cluster.sh, direct)"
  BENCH_INSTANCES=direct BENCH_CLIENTS=${BENCH_CLIENTS:-1 16 64} BENCH_SECONDS=${BENCH_SECONDS:-10} \
    BENCH_ROWS=${BENCH_CONE_ROWS:-$BENCH_ROWS} TAPSERVE_BIN=$BIN "$ROOT/benchmarks/cluster.sh" |
    tee "$WORK/cone.out"
  declare -A TPS=() LAT=()
  while IFS='|' read -r _ who _ c rps p50 p99 errs _; do
    who=$(echo "$who" | xargs)
    c=$(echo "$c" | xargs)
    case $who in
    pgbench*)
      TPS[$c]=$(echo "$rps" | xargs)
      LAT[$c]="p50 $(echo "$p50" | xargs) ms, p99 $(echo "$p99" | xargs) ms"
      ;;
    tapserve*)
      rps=$(echo "$rps" | xargs)
      row "cone, $c client(s)" "$rps req/s, p50 $(echo "$p50" | xargs) ms, p99 $(echo "$p99" | xargs) ms, $(echo "$errs" | xargs) errors" \
        "pgbench, same SQL: ${TPS[$c]:-?} tps, ${LAT[$c]:-}" "$(ratio "$rps" "${TPS[$c]:-0}")" "≥ 0.5 at 16 and 64"
      ;;
    esac
  done < <(grep "^| " "$WORK/cone.out" | tail -n +2)
fi

if [[ " $PARTS " != *" sync "* && " $PARTS " != *" async "* ]]; then
  PARTS_DONE=1
fi

if [ -z "${PARTS_DONE:-}" ]; then
  bench_cluster
  bench_async_setup "$STORE"
  Q="SELECT * FROM bench.sources"

  # raw COPY binary through psql: the reference of every row below
  times=()
  for _ in $(seq 1 "$REPEAT"); do
    t0=$(now)
    "${PSQL[@]}" -c "\\copy (SELECT * FROM bench.sources) TO '/dev/null' WITH (FORMAT binary)"
    times+=("$(elapsed "$t0" "$(now)")")
  done
  T_RAW=$(printf '%s\n' "${times[@]}" | median)
  echo "== $BENCH_ROWS rows; raw COPY binary: ${times[*]} s (median $T_RAW)"
  raw_ref="raw COPY binary: $T_RAW s"
fi

# ---- /sync BINARY2, plain and compressed ------------------------------------
if [ -z "${PARTS_DONE:-}" ] && [[ " $PARTS " == *" sync "* ]]; then
  for enc in identity gzip zstd; do
    times=()
    for _ in $(seq 1 "$REPEAT"); do
      t0=$(now)
      curl -fsS -o /dev/null -H "Accept-Encoding: $enc" -X POST "$URL/sync" --data-urlencode "LANG=ADQL" \
        --data-urlencode "QUERY=$Q" --data-urlencode "MAXREC=$BENCH_ROWS" --data-urlencode "RESPONSEFORMAT=votable/b2"
      times+=("$(elapsed "$t0" "$(now)")")
    done
    t=$(printf '%s\n' "${times[@]}" | median)
    echo "   /sync votable/b2 ($enc): ${times[*]} s"
    target="-"
    [ "$enc" = gzip ] && target="≥ 0.9"
    row "/sync BINARY2, $enc" "$t s" "$raw_ref" "$(ratio "$T_RAW" "$t")" "$target"
  done
fi

# ---- async: creation to COMPLETED, then the downloads -----------------------
if [ -z "${PARTS_DONE:-}" ] && [[ " $PARTS " == *" async "* ]]; then
  run_job() { # -> job URL in JOB, seconds in T_JOB
    local t0 phase
    t0=$(now)
    JOB=$(curl -fsS -o /dev/null -w '%{redirect_url}' -X POST "$URL/async" --data-urlencode "LANG=ADQL" \
      --data-urlencode "QUERY=$Q" --data-urlencode "MAXREC=$BENCH_ROWS" --data-urlencode "PHASE=RUN")
    while :; do
      phase=$(curl -fsS "$JOB?WAIT=60" | sed -n 's:.*<uws\:phase>\(.*\)</uws\:phase>.*:\1:p')
      case $phase in COMPLETED | ERROR | ABORTED) break ;; esac
    done
    T_JOB=$(elapsed "$t0" "$(now)")
    [ "$phase" = COMPLETED ] || die "the job ended $phase: $(curl -fsS "$JOB/error")"
  }
  times=()
  for i in $(seq 1 "$REPEAT"); do
    run_job
    times+=("$T_JOB")
    [ "$i" = "$REPEAT" ] || curl -fsS -o /dev/null -X DELETE "$JOB"
  done
  t=$(printf '%s\n' "${times[@]}" | median)
  echo "   async creation -> COMPLETED: ${times[*]} s"
  row "async job, creation to COMPLETED" "$t s" "$raw_ref" "$(ratio "$T_RAW" "$t")" "≥ 0.83 (within 1.2×)"
  nsizes() {
    "${PSQL[@]}" -At -c "SELECT count(*) FROM tapserve.results r, jsonb_object_keys(r.encoded_sizes) k WHERE r.job_id = '${JOB##*/}'"
  }
  for f in $FORMATS; do
    # The first download streams and makes the server record the size;
    # the timed ones are sized (Content-Length), as every later one is.
    n0=$(nsizes)
    curl -fsS -o /dev/null "$JOB/results/result?RESPONSEFORMAT=$f"
    for _ in $(seq 1 600); do
      [ "$(nsizes)" -gt "$n0" ] && break
      sleep 0.5
    done
    times=()
    for _ in $(seq 1 "$REPEAT"); do
      t0=$(now)
      bytes=$(curl -fsS -o /dev/null -w '%{size_download}' "$JOB/results/result?RESPONSEFORMAT=$f")
      times+=("$(elapsed "$t0" "$(now)")")
    done
    t=$(printf '%s\n' "${times[@]}" | median)
    echo "   download $f (sized, $bytes bytes): ${times[*]} s"
    row "download of the stored result, $f" "$t s" "$raw_ref" "$(ratio "$T_RAW" "$t")" "≥ 1.5"
  done
  curl -fsS -o /dev/null -X DELETE "$JOB"
fi

if [ -n "${SERVER_PID:-}" ]; then
  peak=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status")
  row "tapserve peak RSS (sync and async above)" "$peak MB" "-" "-" "flat"
fi

echo
echo "tapserve $("$BIN" --version 2>/dev/null | awk '{ print $2 }'), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(date -u +%Y-%m-%dT%H:%MZ)"
echo "$BENCH_ROWS rows, medians of $REPEAT runs, load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "ratio: the reference's seconds / tapserve's (higher is faster), or req/s / tps for the cone"
echo
echo "| path | tapserve | reference in the same run | ratio | target |"
echo "|---|---|---|---|---|"
printf '%s\n' "${ROWS_OUT[@]}"
