#!/bin/bash
# benchmarks/cluster.sh: small cone queries per second through HAProxy in
# front of 1, 2 and 3 tapserve instances on one database, at 16 and 64
# clients (wrk), against pgbench running the same SQL on the same database
# in the same run; requests per second, p50 and p99 latency, as a table.
# Not a test. See the "Cluster" section of benchmarks/README.md.
#
# Environment:
#   BENCH_SECONDS    duration of each case (default 15)
#   BENCH_CLIENTS    client counts (default "16 64")
#   BENCH_INSTANCES  instance counts (default "1 2 3"); "direct": one instance
#                    without HAProxy (the small-query path alone)
#   BENCH_ROWS       rows of demo.sources (default 1000000)
#   BENCH_POOL       the instances' database pool_size (default two per CPU:
#                    more backends than that take the CPU from the loop
#                    thread and stretch the tail; see benchmarks/README.md)
#   BENCH_RADIUS     cone radius in degrees (default 0.2)
#   BENCH_DATA_DIR   embedded cluster directory (default var/bench-cluster-pg)
#   BENCH_PG_PORT    its PostgreSQL port (default 54323)
#   TAPSERVE_BIN     the executable (default build/tapserve/tapserve)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${TAPSERVE_BIN:-$ROOT/build/tapserve/tapserve}
DATA=${BENCH_DATA_DIR:-$ROOT/var/bench-cluster-pg}
PG_PORT=${BENCH_PG_PORT:-54323}
SECONDS_EACH=${BENCH_SECONDS:-15}
CLIENTS=${BENCH_CLIENTS:-16 64}
INSTANCES=${BENCH_INSTANCES:-1 2 3}
ROWS=${BENCH_ROWS:-1000000}
POOL=${BENCH_POOL:-$((2 * $(nproc)))}

die() {
  echo "bench: $*" >&2
  exit 1
}
[ -x "$BIN" ] || die "no tapserve executable at $BIN (run make build, or set TAPSERVE_BIN)"
for tool in psql pgbench wrk haproxy curl python3 awk; do
  command -v "$tool" >/dev/null || die "$tool is required (scripts/install-deps.sh bench)"
done

WORK=$(mktemp -d "${TMPDIR:-/tmp}/tapserve-bench-cluster.XXXXXX")
PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do
    kill -TERM "$p" 2>/dev/null || true
  done
  for p in "${PIDS[@]}"; do
    wait "$p" 2>/dev/null || true
  done
  PIDS=()
}
cleanup() {
  stop_all
  rm -rf "$WORK"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
urlenc() { python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$1"; }

echo "== embedded PostgreSQL in $DATA (port $PG_PORT), demo.sources with $ROWS rows"
"$BIN" demo --no-serve --data-dir "$DATA" --pg-port "$PG_PORT" --rows "$ROWS" >"$WORK/demo.out" 2>&1 ||
  { cat "$WORK/demo.out" >&2; die "tapserve demo --no-serve failed"; }
DSN=$(awk '/^  database /{ sub(/^  database +/, ""); dsn = $0 } END { print dsn }' "$WORK/demo.out")
QUERY_DSN="$(printf '%s' "$DSN" | sed 's/ user=[^ ]*//') user=tapserve_query"
[ -n "$DSN" ] || die "no DSN in the output of tapserve demo"
# A small cone (BENCH_RADIUS degrees, default 0.2) around the source in the
# middle of the table: the demo's sources lie in fields, not everywhere.
read -r RA DEC <<<"$(psql -X -At -F ' ' "$DSN" -c \
  "SELECT round(ra::numeric, 4), round(dec::numeric, 4) FROM demo.sources ORDER BY source_id OFFSET (SELECT count(*) / 2 FROM demo.sources) LIMIT 1")"
ADQL="SELECT source_id, ra, dec, phot_g_mean_mag FROM demo.sources WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', $RA, $DEC, ${BENCH_RADIUS:-0.2}))"

# Starts one instance and sets PORT to its port. $1: name.
start_instance() {
  local name=$1 port
  port=$(free_port)
  cat >"$WORK/$name.ini" <<INI
[server]
listen = 127.0.0.1
port = $port
base_url = http://127.0.0.1:$port/tap
max_connections_per_client = 1000
[database]
dsn = $DSN
query_dsn = $QUERY_DSN
pool_size = $POOL
[tap]
max_sync_per_client = 1000
[jobs]
result_store = fs:$WORK/results
[log]
level = ${LOG_LEVEL:-warn}
INI
  "$BIN" serve -c "$WORK/$name.ini" >"$WORK/$name.log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 1 300); do
    if curl -fs "http://127.0.0.1:$port/tap/availability" | grep -q '<vosi:available>true'; then
      PORT=$port
      return 0
    fi
    sleep 0.1
  done
  cat "$WORK/$name.log" >&2
  die "$name did not become available"
}

# The SQL tapserve runs for the ADQL query, from its debug log.
mkdir -p "$WORK/results"
LOG_LEVEL=debug
start_instance probe
port=$PORT
LOG_LEVEL=
curl -fs -o /dev/null "http://127.0.0.1:$port/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY=$(urlenc "$ADQL")" ||
  die "the cone query failed"
ROWS_OUT=$(curl -fs "http://127.0.0.1:$port/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY=$(urlenc "$ADQL")" | tail -n +2 | wc -l)
SQL=$(sed -n 's/.*\] sql: //p' "$WORK/probe.log" | head -1)
[ -n "$SQL" ] || die "no translated SQL in the debug log"
stop_all
printf '%s;\n' "$SQL" >"$WORK/cone.sql"
echo "== the cone returns $ROWS_OUT rows; SQL: $SQL"

# p50 and p99 in ms of pgbench's per-transaction logs (3rd field: us).
pct() {
  cat "$WORK"/pgb.log* | awk '{ print $3 }' | sort -n | awk '
    { v[NR] = $1 } END { i50 = int(NR * 0.50); i99 = int(NR * 0.99); if (i50 < 1) i50 = 1; if (i99 < 1) i99 = 1;
      printf "%.2f %.2f", v[i50] / 1000, v[i99] / 1000 }'
}

# wrk's latency in ms ("1.23ms", "456.00us", "1.02s").
ms() { awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'; }

RESULTS=()
THREADS=2
# wrk and pgbench want no more threads than connections.
threads() { echo $(($1 < THREADS ? $1 : THREADS)); }
for c in $CLIENTS; do
  rm -f "$WORK"/pgb.log*
  PGOPTIONS="-c default_transaction_read_only=on" pgbench -n -f "$WORK/cone.sql" -c "$c" -j "$(threads "$c")" \
    -T "$SECONDS_EACH" -l --log-prefix="$WORK/pgb.log" "$QUERY_DSN" >"$WORK/pgbench.out" 2>&1 ||
    { cat "$WORK/pgbench.out" >&2; die "pgbench failed"; }
  tps=$(awk '/^tps = / { printf "%.0f", $3 }' "$WORK/pgbench.out")
  read -r p50 p99 <<<"$(pct)"
  RESULTS+=("pgbench (same SQL)|-|$c|$tps|$p50|$p99|0")
  echo "   pgbench, $c clients: $tps/s p50 $p50 ms p99 $p99 ms"
done

# wrk_case LABEL INSTANCES CLIENTS URL: one row of the table.
wrk_case() {
  local rps p50 p99 errs
  wrk -t "$(threads "$3")" -c "$3" -d "${SECONDS_EACH}s" --latency "$4" >"$WORK/wrk.out" 2>&1 ||
    { cat "$WORK/wrk.out" >&2; die "wrk failed"; }
  rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$WORK/wrk.out")
  p50=$(ms "$(awk '$1 == "50%" { print $2 }' "$WORK/wrk.out")")
  p99=$(ms "$(awk '$1 == "99%" { print $2 }' "$WORK/wrk.out")")
  errs=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { n += 1 } END { print n + 0 }' "$WORK/wrk.out")
  RESULTS+=("$1|$2|$3|$rps|$p50|$p99|$errs")
  echo "   $1, $2 instance(s), $3 clients: $rps/s p50 $p50 ms p99 $p99 ms ($errs errors)"
}

for n in $INSTANCES; do
  if [ "$n" = direct ]; then
    start_instance direct
    url="http://127.0.0.1:$PORT/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY=$(urlenc "$ADQL")"
    for c in $CLIENTS; do
      wrk_case "tapserve, direct" 1 "$c" "$url"
    done
    stop_all
    continue
  fi
  servers=""
  for i in $(seq 1 "$n"); do
    start_instance "tap$i"
    servers+="    server tap$i 127.0.0.1:$PORT check"$'\n'
  done
  front=$(free_port)
  cat >"$WORK/haproxy.cfg" <<CFG
global
    maxconn 4000
defaults
    mode http
    option forwardfor
    timeout connect 5s
    timeout client 1h
    timeout server 1h
    timeout http-keep-alive 60s
frontend tap
    bind 127.0.0.1:$front
    default_backend tapserve
backend tapserve
    balance leastconn
    option httpchk GET /tap/availability
    http-check expect rstring <vosi:available>true</vosi:available>
    default-server inter 2s fall 2 rise 2
$servers
CFG
  haproxy -db -f "$WORK/haproxy.cfg" >"$WORK/haproxy.log" 2>&1 &
  PIDS+=($!)
  url="http://127.0.0.1:$front/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY=$(urlenc "$ADQL")"
  for _ in $(seq 1 100); do
    curl -fs -o /dev/null "$url" && break
    sleep 0.1
  done
  for c in $CLIENTS; do
    wrk_case "tapserve via HAProxy" "$n" "$c" "$url"
  done
  stop_all
done

echo
echo "cone of $ROWS_OUT rows out of $ROWS, ${SECONDS_EACH} s per case, $(nproc) cores, $(date -u +%Y-%m-%d)"
echo
echo "| target | instances | clients | queries/s | p50 ms | p99 ms | errors |"
echo "|---|---|---|---|---|---|---|"
for r in "${RESULTS[@]}"; do
  IFS='|' read -r a b c d e f g <<<"$r"
  echo "| $a | $b | $c | $d | $e | $f | $g |"
done
