#!/bin/bash
# A throwaway PostgreSQL cluster for tests that need a real server.
#
#   scripts/test-pgcluster.sh start DIR   create and start a cluster in DIR (must
#                                         not exist); prints its DSN
#   scripts/test-pgcluster.sh stop DIR    stop it and remove DIR
#   scripts/test-pgcluster.sh run CMD...  start one in a temporary directory, run
#                                         CMD with TAPSERVE_TEST_DSN set, stop it;
#                                         exits with CMD's status
#
# The server listens on 127.0.0.1 at a free port and on a Unix socket in DIR
# only. As root, it runs as the "postgres" user. PGBIN overrides the
# binaries' directory.
set -euo pipefail

PGBIN=${PGBIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)}
if [ -z "$PGBIN" ] || [ ! -x "$PGBIN/initdb" ]; then
  echo "test-pgcluster: no PostgreSQL binaries found (set PGBIN)" >&2
  exit 1
fi

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

free_port() {
  /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

start() {
  local dir=$1 port
  if [ -e "$dir" ] && [ -n "$(ls -A "$dir" 2>/dev/null)" ]; then
    echo "test-pgcluster: $dir exists and is not empty" >&2
    exit 1
  fi
  mkdir -p "$dir"
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$dir"
  fi
  as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
  # A port found free may be taken before the server binds it: retry.
  for _ in 1 2 3 4 5; do
    port=$(free_port)
    if as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 30 start \
      -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=100" \
      >/dev/null 2>&1; then
      echo "$port" >"$dir/port"
      echo "host=127.0.0.1 port=$port dbname=postgres user=postgres"
      return 0
    fi
  done
  cat "$dir/server.log" >&2 || true
  echo "test-pgcluster: the server did not start" >&2
  exit 1
}

stop() {
  local dir=$1
  if [ -d "$dir/data" ]; then
    as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$dir"
}

case "${1:-}" in
start)
  start "${2:?usage: $0 start DIR}"
  ;;
stop)
  stop "${2:?usage: $0 stop DIR}"
  ;;
run)
  shift
  [ $# -gt 0 ] || { echo "usage: $0 run CMD..." >&2; exit 2; }
  dir=$(mktemp -d /tmp/tapserve-pg.XXXXXX)
  rmdir "$dir"
  trap 'stop "$dir"' EXIT
  TAPSERVE_TEST_DSN=$(start "$dir")
  export TAPSERVE_TEST_DSN
  set +e
  "$@"
  rc=$?
  set -e
  exit $rc
  ;;
*)
  echo "usage: $0 start DIR | stop DIR | run CMD..." >&2
  exit 2
  ;;
esac
