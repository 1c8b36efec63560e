#!/bin/bash
# benchmarks/upload.sh: TAP uploads against raw PostgreSQL, same machine,
# same data, same run. Not a test. See the "Uploads" section of
# benchmarks/README.md.
#
# 1. Ingest: 1,000,000 rows of bench.sources_1m uploaded as a VOTable
#    BINARY2 file and as a CSV file to /sync with
#    QUERY=SELECT COUNT(*) FROM TAP_UPLOAD.t, against psql's
#    \copy ... FROM of the same rows (CSV and binary) into a new table.
# 2. Crossmatch: a 100,000-row list uploaded to /sync and joined with
#    bench.sources (1 arcsec, CONTAINS/CIRCLE), end to end including the
#    upload, against psql loading the same list (\copy FROM, ANALYZE) and
#    running the same join (pgSphere, the SQL tapserve translates to).
#
# Environment:
#   BENCH_ROWS      rows of bench.sources (default 10000000)
#   BENCH_DATA_DIR  embedded cluster directory (default var/bench-upload-pg)
#   BENCH_PG_PORT   its PostgreSQL port (default 54324)
#   TAPSERVE_BIN    the executable (default build/tapserve/tapserve)
#   BASE_BIN        another tapserve executable (say, main's) run beside it
#                   on the ingest cases, turn about, so that the machine's
#                   noise hits both (default: none)
#   BENCH_REPEAT    rounds of the ingest cases (default 3); the table gives
#                   each case's median
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TAPSERVE_BIN:-$ROOT/build/tapserve/tapserve}
GEN="$(cd "$(dirname "$0")" && pwd)/../../shared/bench/gen_sources.sql"
DATA=${BENCH_DATA_DIR:-$ROOT/var/bench-upload-pg}
PG_PORT=${BENCH_PG_PORT:-54324}
BENCH_ROWS=${BENCH_ROWS:-10000000}
LIST_ROWS=100000
BASE_BIN=${BASE_BIN:-}
BENCH_REPEAT=${BENCH_REPEAT:-3}

# shellcheck source=benchmarks/lib.sh
. "$(dirname "$0")/lib.sh"
bench_check
[ "$BENCH_ROWS" -ge 1000000 ] || die "BENCH_ROWS must be at least 1000000"
[[ "$BENCH_REPEAT" =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive number"
[ -z "$BASE_BIN" ] || [ -x "$BASE_BIN" ] || die "no executable at BASE_BIN=$BASE_BIN"
bench_workdir upload
bench_cluster
# Both tables in TAP_SCHEMA with the columns the cases read.
"${PSQL[@]}" >/dev/null <<'SQL'
BEGIN;
DELETE FROM tap_schema.columns WHERE table_name IN ('bench.sources', 'bench.sources_1m');
DELETE FROM tap_schema.tables WHERE table_name IN ('bench.sources', 'bench.sources_1m');
DELETE FROM tap_schema.schemas WHERE schema_name = 'bench';
INSERT INTO tap_schema.schemas (schema_name, description, schema_index) VALUES ('bench', 'Benchmark catalogue', 90);
INSERT INTO tap_schema.tables (schema_name, table_name, table_type, description, table_index)
SELECT 'bench', t, 'table', 'Synthetic sources (benchmark)', i FROM (VALUES ('bench.sources', 1), ('bench.sources_1m', 2)) v(t, i);
INSERT INTO tap_schema.columns (table_name, column_name, datatype, arraysize, description, unit, ucd,
                                indexed, principal, std, column_index)
SELECT t.t, c.n, c.dt, c.asz, c.n, c.u, c.ucd, 0, 1, 0, c.i
FROM (VALUES ('bench.sources'), ('bench.sources_1m')) AS t(t),
     (VALUES ('source_id', 'long', NULL, NULL, 'meta.id;meta.main', 1), ('ra', 'double', NULL, 'deg', 'pos.eq.ra', 2),
             ('dec', 'double', NULL, 'deg', 'pos.eq.dec', 3), ('parallax', 'float', NULL, 'mas', NULL, 4),
             ('pmra', 'float', NULL, 'mas/yr', NULL, 5), ('pmdec', 'float', NULL, 'mas/yr', NULL, 6),
             ('phot_g_mean_mag', 'float', NULL, 'mag', NULL, 7), ('bp_rp', 'float', NULL, 'mag', NULL, 8),
             ('flags', 'short', NULL, NULL, NULL, 9), ('name', 'char', '*', NULL, NULL, 10))
     AS c(n, dt, asz, u, ucd, i);
GRANT USAGE ON SCHEMA bench TO tapserve_query;
GRANT SELECT ON ALL TABLES IN SCHEMA bench TO tapserve_query;
COMMIT;
SQL

# start_server NAME BIN: a tapserve on a free port; sets URL and SERVER_PID.
start_server() {
  local port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  URL="http://127.0.0.1:$port/tap"
  cat >"$WORK/$1.ini" <<EOF
[server]
listen = 127.0.0.1
port = $port
base_url = $URL
write_timeout = 3600
max_upload_body_bytes = 4G
spool_dir = $WORK
[database]
dsn = $DSN
query_dsn = $QUERY_DSN
[tap]
maxrec_limit = 1000000000
sync_timeout = 3600
[upload]
max_bytes = 4G
[log]
level = warn
EOF
  bench_serve "$2" "$WORK/$1.ini"
}
BASE_URL=
if [ -n "$BASE_BIN" ]; then
  start_server base "$BASE_BIN"
  BASE_URL=$URL BASE_PID=$SERVER_PID
  trap 'kill -TERM "$BASE_PID" 2>/dev/null || true; bench_cleanup' EXIT
fi
start_server tapserve "$BIN"

# The files: the 1M rows as tapserve writes them (so the upload reads what
# a client got from a TAP service), the same rows for psql.
Q1="SELECT source_id, ra, dec, parallax, pmra, pmdec, phot_g_mean_mag, bp_rp, flags, name FROM bench.sources_1m"
for f in votable/b2 csv; do
  curl -fsS -o "$WORK/in.${f%%/*}" -X POST "$URL/sync" --data-urlencode "LANG=ADQL" --data-urlencode "QUERY=$Q1" \
    --data-urlencode "MAXREC=1000000" --data-urlencode "RESPONSEFORMAT=$f"
done
"${PSQL[@]}" -c "\\copy (${Q1}) TO '$WORK/in.bin' WITH (FORMAT binary)"
COLS="source_id bigint, ra double precision, dec double precision, parallax real, pmra real, pmdec real, phot_g_mean_mag real, bp_rp real, flags smallint, name text"

RESULTS=()
# psql: a new table, COPY FROM the file (one transaction, as the upload).
raw_copy() { # label file copy-options
  local t0 t
  "${PSQL[@]}" -c "SET client_min_messages = warning; DROP TABLE IF EXISTS public.bench_ingest"
  t0=$(now)
  "${PSQL[@]}" -c "BEGIN" -c "CREATE TABLE public.bench_ingest ($COLS)" \
    -c "\\copy public.bench_ingest FROM '$2' WITH ($3)" -c "COMMIT"
  t=$(elapsed "$t0" "$(now)")
  "${PSQL[@]}" -c "DROP TABLE public.bench_ingest"
  RESULTS+=("$1|$t")
  echo "   $1: $t s"
}
upload() { # label file query [url] -> seconds; the response in $WORK/out
  local t0 t
  t0=$(now)
  curl -fsS -o "$WORK/out" "${4:-$URL}/sync" -F LANG=ADQL -F "QUERY=$3" -F UPLOAD=t,param:f -F RESPONSEFORMAT=csv \
    -F MAXREC=1000000000 -F "f=@$2"
  t=$(elapsed "$t0" "$(now)")
  RESULTS+=("$1|$t")
  echo "   $1: $t s"
}

echo "== ingest of 1,000,000 rows ($(stat -c %s "$WORK/in.votable") bytes BINARY2, $(stat -c %s "$WORK/in.csv") bytes CSV)"
for round in $(seq 1 "$BENCH_REPEAT"); do
  echo " round $round of $BENCH_REPEAT"
  raw_copy "psql COPY FROM (FORMAT csv)" "$WORK/in.csv" "FORMAT csv, HEADER"
  raw_copy "psql COPY FROM (FORMAT binary)" "$WORK/in.bin" "FORMAT binary"
  for f in votable csv; do
    for who in tapserve ${BASE_URL:+base}; do
      label="/sync UPLOAD $f, COUNT(*)" url=$URL
      if [ "$who" = base ]; then label="$label, BASE_BIN" url=$BASE_URL; fi
      upload "$label" "$WORK/in.$f" "SELECT COUNT(*) AS n FROM TAP_UPLOAD.t" "$url"
      n=$(tail -n 1 "$WORK/out" | tr -d '\r')
      [ "$n" = 1000000 ] || die "the $f upload ($who) counted $n rows"
    done
  done
done

echo "== crossmatch of $LIST_ROWS uploaded positions with bench.sources ($BENCH_ROWS rows), 1 arcsec"
step=$((BENCH_ROWS / LIST_ROWS))
"${PSQL[@]}" -c "\\copy (SELECT source_id AS sid, ra + 0.1 / 3600 AS ra, dec FROM bench.sources WHERE source_id % $step = 0 ORDER BY source_id LIMIT $LIST_ROWS) TO '$WORK/list.csv' WITH (FORMAT csv, HEADER)"
# The list as a VOTable whose ra/dec carry the main-position UCDs, as a
# catalogue's list would: tapserve indexes the upload on them.
python3 - "$WORK/list.csv" "$WORK/list.vot" <<'PY'
import csv, sys
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as o:
    r = csv.reader(f)
    next(r)
    o.write('<?xml version="1.0"?>\n<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3"><RESOURCE><TABLE>\n'
            '<FIELD name="sid" datatype="long"/><FIELD name="ra" datatype="double" unit="deg" ucd="pos.eq.ra;meta.main"/>'
            '<FIELD name="dec" datatype="double" unit="deg" ucd="pos.eq.dec;meta.main"/>\n<DATA><TABLEDATA>\n')
    for a, b, c in r:
        o.write("<TR><TD>%s</TD><TD>%s</TD><TD>%s</TD></TR>\n" % (a, b, c))
    o.write("</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>\n")
PY
XADQL="SELECT u.sid, s.source_id FROM TAP_UPLOAD.t AS u JOIN bench.sources AS s ON 1 = CONTAINS(POINT('ICRS', s.ra, s.dec), CIRCLE('ICRS', u.ra, u.dec, 1.0 / 3600))"
XSQL="SELECT u.sid, s.source_id FROM public.bench_list u JOIN bench.sources s ON spoint(radians(s.ra), radians(s.dec)) <@ scircle(spoint(radians(u.ra), radians(u.dec)), radians(1.0 / 3600))"
"${PSQL[@]}" -c "SET client_min_messages = warning; DROP TABLE IF EXISTS public.bench_list"
t0=$(now)
"${PSQL[@]}" -c "CREATE TABLE public.bench_list (sid bigint, ra double precision, dec double precision)" \
  -c "\\copy public.bench_list FROM '$WORK/list.csv' WITH (FORMAT csv, HEADER)" \
  -c "CREATE INDEX ON public.bench_list USING gist (spoint(radians(ra), radians(dec)))" -c "ANALYZE public.bench_list" \
  -c "\\copy ($XSQL) TO '$WORK/psql-join.csv' WITH (FORMAT csv)"
t=$(elapsed "$t0" "$(now)")
RESULTS+=("psql: COPY FROM, index, ANALYZE, join|$t")
echo "   psql: $t s"
"${PSQL[@]}" -c "DROP TABLE public.bench_list"
upload "/sync UPLOAD VOTable + join" "$WORK/list.vot" "$XADQL"
want=$(wc -l <"$WORK/psql-join.csv")
got=$(($(wc -l <"$WORK/out") - 1))
[ "$got" = "$want" ] || die "the crossmatch returned $got rows, psql $want"

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
sec() { # the median of a case's measures
  local r
  for r in "${RESULTS[@]}"; do
    if [ "${r%%|*}" = "$1" ]; then echo "${r##*|}"; fi
  done | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
csvref=$(sec "psql COPY FROM (FORMAT csv)")
binref=$(sec "psql COPY FROM (FORMAT binary)")
xref=$(sec "psql: COPY FROM, index, ANALYZE, join")
peak=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status")
echo
echo "$BENCH_ROWS rows in bench.sources, crossmatch $want pairs, $(nproc) cores ($(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)), $(date -u +%Y-%m-%d), tapserve $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), peak RSS $peak MB"
echo "ingest: median of $BENCH_REPEAT rounds${BASE_BIN:+; BASE_BIN is $BASE_BIN, run turn about with tapserve}"
[ "$BENCH_ROWS" -ge 10000000 ] ||
  echo "note: BENCH_ROWS=$BENCH_ROWS, not the 10,000,000 of the crossmatch target: that row is not the target's figure"
echo
echo "| case | seconds | speed vs psql (ref/ours) |"
echo "|---|---|---|"
declare -A shown=()
for r in "${RESULTS[@]}"; do
  label=${r%%|*}
  [ -z "${shown[$label]:-}" ] || continue
  shown[$label]=1
  t=$(sec "$label")
  case $label in
  /sync*COUNT*) echo "| $label | $t | $(ratio "$csvref" "$t") of COPY csv, $(ratio "$binref" "$t") of COPY binary |" ;;
  /sync*join) echo "| $label | $t | $(ratio "$xref" "$t") of psql (time $(ratio "$t" "$xref")x) |" ;;
  *) echo "| $label | $t | |" ;;
  esac
done
