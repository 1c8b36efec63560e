#!/bin/bash
# benchmarks/async.sh: one large async job against the same /sync query and
# raw PostgreSQL COPY, same machine, same data, same run. See the "Async
# jobs" section of benchmarks/README.md.
#
# Environment:
#   BENCH_ROWS      rows of bench.sources (default 10000000)
#   BENCH_DATA_DIR  embedded cluster directory (default var/bench-async-pg;
#                   its own, so that benchmarks/run.sh is not disturbed)
#   BENCH_PG_PORT   its PostgreSQL port (default 54322)
#   BENCH_STORE     result store: fs (default, a directory in the run's
#                   temporary directory) or pg
#   BENCH_FORMATS   download formats (default "votable/b2 votable/td csv fits")
#   TAPSERVE_BIN    the executable (default build/tapserve/tapserve)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TAPSERVE_BIN:-$ROOT/build/tapserve/tapserve}
GEN="$(cd "$(dirname "$0")" && pwd)/../../shared/bench/gen_sources.sql"
DATA=${BENCH_DATA_DIR:-$ROOT/var/bench-async-pg}
PG_PORT=${BENCH_PG_PORT:-54322}
BENCH_ROWS=${BENCH_ROWS:-10000000}
STORE=${BENCH_STORE:-fs}
FORMATS=${BENCH_FORMATS:-votable/b2 votable/td csv fits}

# shellcheck source=benchmarks/lib.sh
. "$(dirname "$0")/lib.sh"
bench_check
case $STORE in fs | pg) ;; *) die "BENCH_STORE must be fs or pg" ;; esac
bench_workdir async
bench_cluster
bench_async_setup "$STORE"

Q="SELECT * FROM bench.sources"
echo "== $BENCH_ROWS rows, result store $STORE"

# raw COPY binary: the floor for both the query and the downloads
t0=$(now)
"${PSQL[@]}" -c "\\copy (SELECT * FROM bench.sources) TO '$WORK/raw.copy' WITH (FORMAT binary)"
t_raw=$(elapsed "$t0" "$(now)")
raw_bytes=$(stat -c %s "$WORK/raw.copy")
rm -f "$WORK/raw.copy"

# the same query through /sync (VOTable BINARY2)
t0=$(now)
curl -fsS -o /dev/null -X POST "$URL/sync" --data-urlencode "LANG=ADQL" --data-urlencode "QUERY=$Q" \
  --data-urlencode "MAXREC=$BENCH_ROWS" --data-urlencode "RESPONSEFORMAT=votable/b2"
t_sync=$(elapsed "$t0" "$(now)")

# the async job: creation to COMPLETED (WAIT blocks until the phase changes)
t0=$(now)
JOB=$(curl -fsS -o /dev/null -w '%{redirect_url}' -X POST "$URL/async" --data-urlencode "LANG=ADQL" \
  --data-urlencode "QUERY=$Q" --data-urlencode "MAXREC=$BENCH_ROWS" --data-urlencode "PHASE=RUN")
while :; do
  phase=$(curl -fsS "$JOB?WAIT=60" | sed -n 's:.*<uws\:phase>\(.*\)</uws\:phase>.*:\1:p')
  case $phase in COMPLETED | ERROR | ABORTED) break ;; esac
done
t_async=$(elapsed "$t0" "$(now)")
[ "$phase" = COMPLETED ] || die "the job ended $phase: $(curl -fsS "$JOB/error")"
read -r stored raw_stored rows < <("${PSQL[@]}" -At -F ' ' -c \
  "SELECT bytes, raw_bytes, rows FROM tapserve.results WHERE job_id = '${JOB##*/}'")

printf '\n%-34s %10s %12s\n' "case" "seconds" "MB/s"
printf '%-34s %10s %12s\n' "raw COPY binary (psql)" "$t_raw" "$(awk -v b="$raw_bytes" -v t="$t_raw" 'BEGIN{printf "%.1f", b/t/1e6}')"
printf '%-34s %10s\n' "/sync votable/b2" "$t_sync"
printf '%-34s %10s\n' "async: creation -> COMPLETED" "$t_async"
printf '\nstored: %s bytes zstd for %s bytes of COPY (%s rows); ratio %s\n' "$stored" "$raw_stored" "$rows" \
  "$(awk -v a="$stored" -v b="$raw_stored" 'BEGIN{printf "%.3f", a/b}')"

# Each format twice: the first download streams chunked (tap_result) and
# makes the server count the encoded size; the second has Content-Length.
dl() { # format -> "seconds bytes"
  local t0 bytes
  t0=$(now)
  bytes=$(curl -fsS -o /dev/null -w '%{size_download}' "$JOB/results/result?RESPONSEFORMAT=$1")
  echo "$(elapsed "$t0" "$(now)") $bytes"
}
printf '\n%-34s %10s %14s %12s %12s\n' "download of the stored result" "seconds" "bytes" "MB/s" "rows/s"
nsizes() {
  "${PSQL[@]}" -At -c "SELECT count(*) FROM tapserve.results r, jsonb_object_keys(r.encoded_sizes) k WHERE r.job_id = '${JOB##*/}'"
}
for f in $FORMATS; do
  n0=$(nsizes)
  for pass in first sized; do
    read -r t bytes < <(dl "$f")
    printf '%-34s %10s %14s %12s %12s\n' "$f ($pass)" "$t" "$bytes" \
      "$(awk -v b="$bytes" -v t="$t" 'BEGIN{printf "%.1f", b/t/1e6}')" \
      "$(awk -v r="$rows" -v t="$t" 'BEGIN{printf "%.0f", r/t}')"
    if [ $pass = first ]; then
      # the size is counted after the response: wait for it, so that the
      # counting pass does not share the CPU with the next download
      for _ in $(seq 1 600); do
        [ "$(nsizes)" -gt "$n0" ] && break
        sleep 0.5
      done
    fi
  done
done
curl -fsS -o /dev/null -X DELETE "$JOB"
