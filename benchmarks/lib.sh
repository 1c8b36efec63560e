# shellcheck shell=bash
# benchmarks/lib.sh: what async.sh and upload.sh share (sourced, not run):
# checks, a work directory cleaned at exit with the server in it stopped,
# timing, and the embedded cluster with bench.sources generated once.
# The sourcing script sets BIN, GEN, DATA, PG_PORT and BENCH_ROWS first.

die() {
  echo "bench: $*" >&2
  exit 1
}
now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }

# Checks the executable, the generator, the tools and BENCH_ROWS.
bench_check() {
  [ -x "$BIN" ] || die "no tapserve executable at $BIN (run make build, or set TAPSERVE_BIN)"
  [ -f "$GEN" ] || die "the data generator $GEN is missing (it lives in shared/bench/)"
  local tool
  for tool in psql curl awk python3; do
    command -v "$tool" >/dev/null || die "$tool is required"
  done
  [[ "$BENCH_ROWS" =~ ^[0-9]+$ ]] || die "BENCH_ROWS must be a number"
}

# Sets WORK (a new directory, $1 in its name) and SERVER_PID (empty: set it
# to the tapserve started); both are cleaned up at exit.
bench_workdir() {
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/tapserve-bench-$1.XXXXXX")
  SERVER_PID=
  trap bench_cleanup EXIT
}
bench_cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}

# bench_serve BIN INI: `BIN serve -c INI` in the background (its log beside
# the INI), SERVER_PID set, waiting until $URL/availability answers.
bench_serve() {
  "$1" serve -c "$2" >"${2%.ini}.log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 1 100); do
    curl -fsS -o /dev/null "$URL/availability" 2>/dev/null && break
    sleep 0.1
  done
}

# Starts the embedded cluster in DATA on PG_PORT, sets DSN, QUERY_DSN (the
# demo's read-only role) and PSQL, and generates bench.sources with
# BENCH_ROWS rows unless it holds them already.
bench_cluster() {
  echo "== embedded PostgreSQL in $DATA (port $PG_PORT)"
  "$BIN" demo --no-serve --data-dir "$DATA" --pg-port "$PG_PORT" --rows 1000 >"$WORK/demo.out" 2>&1 ||
    { cat "$WORK/demo.out" >&2; die "tapserve demo --no-serve failed"; }
  DSN=$(awk '/^  database /{ sub(/^  database +/, ""); dsn = $0 } END { print dsn }' "$WORK/demo.out")
  # shellcheck disable=SC2034 # used by the sourcing script
  QUERY_DSN="$(printf '%s' "$DSN" | sed 's/ user=[^ ]*//') user=tapserve_query"
  PSQL=(psql -X -q -v ON_ERROR_STOP=1 "$DSN")
  local have=0
  if [ "$("${PSQL[@]}" -At -c "SELECT to_regclass('bench.gen_info') IS NOT NULL")" = t ]; then
    have=$("${PSQL[@]}" -At -c "SELECT nrows FROM bench.gen_info")
  fi
  if [ "$have" != "$BENCH_ROWS" ]; then
    echo "== generating bench.sources ($BENCH_ROWS rows; done once, kept in $DATA)"
    "${PSQL[@]}" -v nrows="$BENCH_ROWS" -f "$GEN" >"$WORK/gen.log" 2>&1 ||
      { cat "$WORK/gen.log" >&2; die "generating bench.sources failed"; }
  fi
}

# bench.sources published in TAP_SCHEMA (readable by the query role) and a
# tapserve for large results on it (no row limit, hour-long timeouts),
# storing job results in STORE (fs: under $WORK, or pg); sets HTTP_PORT,
# URL and SERVER_PID. After bench_cluster.
bench_async_setup() {
  local STORE=$1
  "${PSQL[@]}" >/dev/null <<'SQL'
BEGIN;
DELETE FROM tap_schema.columns WHERE table_name = 'bench.sources';
DELETE FROM tap_schema.tables WHERE table_name = 'bench.sources';
DELETE FROM tap_schema.schemas WHERE schema_name = 'bench';
INSERT INTO tap_schema.schemas (schema_name, description, schema_index) VALUES ('bench', 'Benchmark catalogue', 90);
INSERT INTO tap_schema.tables (schema_name, table_name, table_type, description, table_index)
VALUES ('bench', 'bench.sources', 'table', 'Synthetic sources (benchmark)', 1);
INSERT INTO tap_schema.columns (table_name, column_name, datatype, arraysize, description, unit, ucd,
                                indexed, principal, std, column_index)
SELECT 'bench.sources', c.n, c.dt, c.asz, c.n, c.u, c.ucd, 0, 1, 0, c.i
FROM (VALUES ('source_id', 'long', NULL, NULL, 'meta.id;meta.main', 1), ('ra', 'double', NULL, 'deg', 'pos.eq.ra', 2),
             ('dec', 'double', NULL, 'deg', 'pos.eq.dec', 3), ('parallax', 'float', NULL, 'mas', NULL, 4),
             ('pmra', 'float', NULL, 'mas/yr', NULL, 5), ('pmdec', 'float', NULL, 'mas/yr', NULL, 6),
             ('phot_g_mean_mag', 'float', NULL, 'mag', NULL, 7), ('bp_rp', 'float', NULL, 'mag', NULL, 8),
             ('flags', 'short', NULL, NULL, NULL, 9), ('name', 'char', '*', NULL, NULL, 10))
     AS c(n, dt, asz, u, ucd, i);
-- users' queries run as the read-only role of the demo
GRANT USAGE ON SCHEMA bench TO tapserve_query;
GRANT SELECT ON ALL TABLES IN SCHEMA bench TO tapserve_query;
COMMIT;
SQL

  HTTP_PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  URL="http://127.0.0.1:$HTTP_PORT/tap"
  local RS="pg"
  [ "$STORE" = fs ] && RS="fs:$WORK/results"
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
maxrec_limit = 1000000000
sync_timeout = 3600
[jobs]
result_store = $RS
execution_duration = 3600
[log]
level = warn
EOF
  bench_serve "$BIN" "$WORK/tapserve.ini"
  kill -0 "$SERVER_PID" 2>/dev/null || die "tapserve did not start: $(cat "$WORK/tapserve.log")"
}
