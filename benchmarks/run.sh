#!/bin/bash
# benchmarks/run.sh: tapserve /sync against raw PostgreSQL COPY, same
# machine, same data, same run. See benchmarks/README.md.
#
# Environment:
#   BENCH_ROWS      rows of the large table bench.sources (default 10000000;
#                   1000000 skips the large cases, bench.sources_1m is always
#                   measured)
#   BENCH_REPEAT    runs per case, the median is reported (default 3)
#   BENCH_DATA_DIR  embedded cluster directory (default var/bench-pg)
#   BENCH_PG_PORT   its PostgreSQL port (default 54321)
#   BENCH_FORMATS   tapserve RESPONSEFORMATs (default: every format,
#                   "votable/b2 votable/b votable/td fits csv tsv ecsv json text html")
#   BENCH_ENCODING  also measure these Content-Encodings of votable/b2 and csv
#                   (default "gzip zstd"; empty to skip)
#   TAPSERVE_BIN    the executable (default build/tapserve/tapserve)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TAPSERVE_BIN:-$ROOT/build/tapserve/tapserve}
GEN="$(cd "$(dirname "$0")" && pwd)/../../shared/bench/gen_sources.sql"
DATA=${BENCH_DATA_DIR:-$ROOT/var/bench-pg}
PG_PORT=${BENCH_PG_PORT:-54321}
BENCH_ROWS=${BENCH_ROWS:-10000000}
REPEAT=${BENCH_REPEAT:-3}
FORMATS=${BENCH_FORMATS:-votable/b2 votable/b votable/td fits csv tsv ecsv json text html}
ENCODINGS=${BENCH_ENCODING-gzip zstd}

die() {
  echo "bench: $*" >&2
  exit 1
}

[ -x "$BIN" ] || die "no tapserve executable at $BIN (run make build, or set TAPSERVE_BIN)"
[ -f "$GEN" ] || die "the benchmark data generator $GEN is missing (it lives in shared/bench/, beside the repository)"
for tool in psql curl awk python3; do
  command -v "$tool" >/dev/null || die "$tool is required (make deps installs it)"
done
if ! [[ "$BENCH_ROWS" =~ ^[0-9]+$ ]] || [ "$BENCH_ROWS" -lt 1000000 ]; then
  die "BENCH_ROWS must be a number >= 1000000 (got $BENCH_ROWS)"
fi
[[ "$REPEAT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive number"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tapserve-bench.XXXXXX")
SERVER_PID=
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# median of the numbers on stdin (the lower middle for an even count)
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }

# ---- the cluster ------------------------------------------------------------
echo "== embedded PostgreSQL in $DATA (port $PG_PORT)"
if ! "$BIN" demo --no-serve --data-dir "$DATA" --pg-port "$PG_PORT" --rows 1000 >"$WORK/demo.out" 2>"$WORK/demo.err"; then
  cat "$WORK/demo.out" "$WORK/demo.err" >&2
  die "tapserve demo --no-serve failed"
fi
DSN=$(awk '/^  database /{ sub(/^  database +/, ""); dsn = $0 } END { print dsn }' "$WORK/demo.out")
# users' queries run as the demo's read-only role
QUERY_DSN="$(printf '%s' "$DSN" | sed 's/ user=[^ ]*//') user=tapserve_query"
[ -n "$DSN" ] || die "tapserve demo printed no DSN: $(cat "$WORK/demo.out")"
echo "   $DSN"
PSQL=(psql -X -q -v ON_ERROR_STOP=1 "$DSN")

have_rows=0
if [ "$("${PSQL[@]}" -At -c "SELECT to_regclass('bench.gen_info') IS NOT NULL")" = t ]; then
  have_rows=$("${PSQL[@]}" -At -c "SELECT nrows FROM bench.gen_info")
fi
if [ "$have_rows" != "$BENCH_ROWS" ] ||
  [ "$("${PSQL[@]}" -At -c "SELECT to_regclass('bench.sources_1m') IS NOT NULL")" != t ]; then
  echo "== generating bench.sources ($BENCH_ROWS rows) and bench.sources_1m with $(basename "$GEN")"
  echo "   (several minutes for 10M rows; done once, kept in $DATA)"
  t0=$(now)
  "${PSQL[@]}" -v nrows="$BENCH_ROWS" -f "$GEN" >"$WORK/gen.log" 2>&1 ||
    { cat "$WORK/gen.log" >&2; die "generating the benchmark tables failed"; }
  echo "   done in $(elapsed "$t0" "$(now)") s"
fi

# Publish both tables in TAP_SCHEMA so ADQL may name them.
"${PSQL[@]}" >/dev/null <<'SQL'
BEGIN;
DELETE FROM tap_schema.key_columns WHERE key_id IN
  (SELECT key_id FROM tap_schema.keys WHERE from_table LIKE 'bench.%' OR target_table LIKE 'bench.%');
DELETE FROM tap_schema.keys WHERE from_table LIKE 'bench.%' OR target_table LIKE 'bench.%';
DELETE FROM tap_schema.columns WHERE table_name LIKE 'bench.%';
DELETE FROM tap_schema.tables WHERE schema_name = 'bench';
DELETE FROM tap_schema.schemas WHERE schema_name = 'bench';
INSERT INTO tap_schema.schemas (schema_name, utype, description, schema_index)
VALUES ('bench', NULL, 'Benchmark catalogue (shared/bench/gen_sources.sql)', 90);
INSERT INTO tap_schema.tables (schema_name, table_name, table_type, utype, description, table_index)
VALUES ('bench', 'bench.sources', 'table', NULL, 'Synthetic Gaia-like sources (benchmark, large)', 1),
       ('bench', 'bench.sources_1m', 'table', NULL, 'The first 1,000,000 rows of bench.sources', 2);
INSERT INTO tap_schema.columns (table_name, column_name, datatype, arraysize, xtype, "size",
                                description, utype, unit, ucd, indexed, principal, std, column_index)
SELECT t, c.name, c.datatype, c.arraysize, NULL, NULL, c.descr, NULL, c.unit, c.ucd,
       c.indexed, 1, 0, c.idx
FROM (VALUES ('bench.sources'), ('bench.sources_1m')) AS tb(t),
     (VALUES ('source_id', 'long', NULL, 'Source identifier', NULL, 'meta.id;meta.main', 1, 1),
             ('ra', 'double', NULL, 'Right ascension', 'deg', 'pos.eq.ra;meta.main', 1, 2),
             ('dec', 'double', NULL, 'Declination', 'deg', 'pos.eq.dec;meta.main', 1, 3),
             ('parallax', 'float', NULL, 'Parallax', 'mas', 'pos.parallax.trig', 0, 4),
             ('pmra', 'float', NULL, 'Proper motion in RA', 'mas/yr', 'pos.pm;pos.eq.ra', 0, 5),
             ('pmdec', 'float', NULL, 'Proper motion in Dec', 'mas/yr', 'pos.pm;pos.eq.dec', 0, 6),
             ('phot_g_mean_mag', 'float', NULL, 'G magnitude', 'mag', 'phot.mag;em.opt.G', 0, 7),
             ('bp_rp', 'float', NULL, 'BP - RP colour', 'mag', 'phot.color', 0, 8),
             ('flags', 'short', NULL, 'Flags', NULL, 'meta.code', 0, 9),
             ('name', 'char', '*', 'Name', NULL, 'meta.id', 0, 10))
       AS c(name, datatype, arraysize, descr, unit, ucd, indexed, idx);
-- users' queries run as the read-only role of the demo
GRANT USAGE ON SCHEMA bench TO tapserve_query;
GRANT SELECT ON ALL TABLES IN SCHEMA bench TO tapserve_query;
COMMIT;
SQL

# ---- tapserve ---------------------------------------------------------------
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
HTTP_PORT=$(free_port)
URL="http://127.0.0.1:$HTTP_PORT/tap"
cat >"$WORK/tapserve.ini" <<EOF
[server]
listen = 127.0.0.1
port = $HTTP_PORT
base_url = $URL
write_timeout = 3600
[database]
dsn = $DSN
query_dsn = $QUERY_DSN
[tap]
maxrec_default = 100000
maxrec_limit = 1000000000
sync_timeout = 3600
[log]
level = warn
EOF

start_server() {
  "$BIN" serve -c "$WORK/tapserve.ini" >>"$WORK/tapserve.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      cat "$WORK/tapserve.log" >&2
      die "tapserve serve exited at startup"
    fi
    if curl -fsS -o /dev/null "$URL/availability" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  die "tapserve did not answer on $URL/availability within 10 s"
}
# peak resident memory of the server so far, in MB (VmHWM)
server_peak_mb() {
  awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status"
}
stop_server() {
  kill -TERM "$SERVER_PID" 2>/dev/null || true
  wait "$SERVER_PID" 2>/dev/null || true
  SERVER_PID=
}

# ---- measuring --------------------------------------------------------------
RESULTS="$WORK/results"
: >"$RESULTS"
# record CASE ROWS SECONDS BYTES TTFB PEAK_MB
record() { echo "$*" >>"$RESULTS"; }

copy_case() { # table rows format(binary|csv)
  local t=$1 rows=$2 fmt=$3 times=() t0 t1 bytes
  for _ in $(seq 1 "$REPEAT"); do
    t0=$(now)
    "${PSQL[@]}" -c "\\copy (SELECT * FROM bench.$t) TO '/dev/null' WITH (FORMAT $fmt)"
    t1=$(now)
    times+=("$(elapsed "$t0" "$t1")")
  done
  # Byte count in a separate, untimed run: a pipe would slow the timed ones.
  bytes=$("${PSQL[@]}" -c "\\copy (SELECT * FROM bench.$t) TO STDOUT WITH (FORMAT $fmt)" | wc -c)
  record "COPY_$fmt $t $rows $(printf '%s\n' "${times[@]}" | median) $bytes - -"
  echo "   raw COPY $fmt: $(printf '%s ' "${times[@]}")s"
}

sync_case() { # table rows responseformat [content-encoding]
  local t=$1 rows=$2 fmt=$3 enc=${4:-} out code total ttfb size totals=() ttfbs=() sizes=() peak label
  local hdr=()
  label=$fmt
  if [ -n "$enc" ]; then
    hdr=(-H "Accept-Encoding: $enc")
    label="$fmt+$enc"
  fi
  start_server
  for _ in $(seq 1 "$REPEAT"); do
    out=$(curl -sS "${hdr[@]}" -o /dev/null -w '%{http_code} %{time_total} %{time_starttransfer} %{size_download}' \
      --data-urlencode "LANG=ADQL" --data-urlencode "REQUEST=doQuery" \
      --data-urlencode "QUERY=SELECT * FROM bench.$t" --data-urlencode "MAXREC=$rows" \
      --data-urlencode "RESPONSEFORMAT=$fmt" "$URL/sync") || die "curl failed for $fmt on bench.$t"
    read -r code total ttfb size <<<"$out"
    [ "$code" = 200 ] || die "tapserve answered HTTP $code for $fmt on bench.$t (log: $(tail -5 "$WORK/tapserve.log"))"
    totals+=("$total")
    ttfbs+=("$ttfb")
    sizes+=("$size")
  done
  peak=$(server_peak_mb)
  stop_server
  record "tapserve_$label $t $rows $(printf '%s\n' "${totals[@]}" | median) $(printf '%s\n' "${sizes[@]}" | median) $(printf '%s\n' "${ttfbs[@]}" | median) $peak"
  echo "   tapserve $label: $(printf '%s ' "${totals[@]}")s, peak RSS $peak MB"
}

# One untimed download per format on the 1M table, checked for what /dev/null
# hides: an error or overflow trailer, and the row count of CSV.
verify_1m() {
  local fmt tailtxt lines
  start_server
  for fmt in $FORMATS; do
    curl -sS -o "$WORK/check.out" --data-urlencode "LANG=ADQL" --data-urlencode "REQUEST=doQuery" \
      --data-urlencode "QUERY=SELECT * FROM bench.sources_1m" --data-urlencode "MAXREC=1000000" \
      --data-urlencode "RESPONSEFORMAT=$fmt" "$URL/sync" || die "curl failed for $fmt"
    tailtxt=$(tail -c 4096 "$WORK/check.out" | tr -d '\000')
    if grep -q 'QUERY_STATUS" value="ERROR\|QUERY_STATUS" value="OVERFLOW' <<<"$tailtxt"; then
      die "the $fmt result of bench.sources_1m ends with an error or overflow: $tailtxt"
    fi
    case "$fmt" in
    csv | tsv)
      lines=$(wc -l <"$WORK/check.out")
      [ "$lines" = 1000001 ] || die "$fmt result of bench.sources_1m has $lines lines, expected 1000001"
      ;;
    fits)
      if command -v fitsverify >/dev/null; then
        fitsverify -q -e "$WORK/check.out" | grep -q "verification OK" ||
          die "the fits result of bench.sources_1m does not pass fitsverify"
      fi
      ;;
    json)
      tail -c 40 "$WORK/check.out" | grep -q '"query_status":"OK"' ||
        die "the json result of bench.sources_1m does not end with query_status OK"
      ;;
    text | html)
      if grep -q 'QUERY_STATUS\|class="error"' <<<"$tailtxt"; then
        die "the $fmt result of bench.sources_1m ends with an error or overflow"
      fi
      ;;
    esac
  done
  rm -f "$WORK/check.out"
  stop_server
  echo "   results checked (no error or overflow trailer; csv/tsv have 1,000,000 rows; fits passes fitsverify)"
}

CASES=("sources_1m 1000000")
if [ "$BENCH_ROWS" -gt 1000000 ]; then
  CASES+=("sources $BENCH_ROWS")
fi

echo "== checking tapserve's output"
verify_1m
for c in "${CASES[@]}"; do
  read -r t rows <<<"$c"
  echo "== bench.$t ($rows rows), $REPEAT runs per case"
  copy_case "$t" "$rows" binary
  copy_case "$t" "$rows" csv
  for fmt in $FORMATS; do
    sync_case "$t" "$rows" "$fmt"
  done
  for enc in $ENCODINGS; do
    for fmt in votable/b2 csv; do
      sync_case "$t" "$rows" "$fmt" "$enc"
    done
  done
done

# ---- report -----------------------------------------------------------------
echo
echo "tapserve $("$BIN" --version 2>/dev/null | awk '{ print $2 }') on $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ); medians of $REPEAT runs"
awk '
  { kind[NR] = $1; tab[NR] = $2; rows[NR] = $3; sec[NR] = $4; bytes[NR] = $5; ttfb[NR] = $6; peak[NR] = $7
    if ($1 == "COPY_binary") bin[$2] = $4
    if ($1 == "COPY_csv") csv[$2] = $4 }
  END {
    printf "%-25s %-11s %10s %8s %11s %8s %9s %9s %9s %9s %7s %9s\n", "case", "table", "rows", "seconds",
           "rows/s", "MB/s", "x COPYbin", "x COPYcsv", "speed/bin", "speed/csv", "TTFB s", "peak RSS"
    for (i = 1; i <= NR; i++) {
      name = kind[i]; sub(/^COPY_/, "raw COPY ", name); sub(/^tapserve_/, "tapserve ", name)
      rb = (bin[tab[i]] > 0) ? sprintf("%.2f", sec[i] / bin[tab[i]]) : "-"
      iscsv = kind[i] ~ /(csv|tsv)(\+[a-z]+)?$/
      rc = (iscsv && csv[tab[i]] > 0) ? sprintf("%.2f", sec[i] / csv[tab[i]]) : "-"
      sb = (bin[tab[i]] > 0) ? sprintf("%.2f", bin[tab[i]] / sec[i]) : "-"
      sc = (iscsv && csv[tab[i]] > 0) ? sprintf("%.2f", csv[tab[i]] / sec[i]) : "-"
      printf "%-25s %-11s %10d %8.2f %11.0f %8.1f %9s %9s %9s %9s %7s %9s\n", name, tab[i], rows[i], sec[i],
             rows[i] / sec[i], bytes[i] / 1e6 / sec[i], rb, rc, sb, sc,
             ttfb[i] == "-" ? "-" : sprintf("%.3f", ttfb[i]), peak[i] == "-" ? "-" : peak[i] " MB"
    }
  }' "$RESULTS"
echo
echo "x COPYbin / x COPYcsv: time relative to raw COPY (FORMAT binary / csv) of the same table through psql."
echo "speed/bin / speed/csv: throughput relative to raw COPY binary / csv (1.00 = as fast; the targets are in benchmarks/README.md)."
echo "MB/s counts bytes as received (compressed for +gzip/+zstd)."
echo "The cluster keeps running: $BIN demo --stop --data-dir $DATA"
