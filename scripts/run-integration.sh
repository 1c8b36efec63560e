#!/bin/bash
# run-integration.sh [PYTEST ARGS...]
#
# Runs the integration suite (tests/integration) with Debian's python3:
# a private PostgreSQL cluster, real tapserve processes, real clients.
# TAPSERVE_BIN: the tapserve executable to test (default: build/tapserve/tapserve).
# TS_SUITE: the folder of tests/ to run (default integration; run-cluster.sh
# sets cluster).
# Exit status: pytest's, except that "no tests collected" (pytest's 5) is a
# failure too, so a broken collection can never pass for a green run.
set -u
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root" || exit 2
suite=${TS_SUITE:-integration}
export TAPSERVE_BIN=${TAPSERVE_BIN:-$root/build/tapserve/tapserve}
if [ ! -x "$TAPSERVE_BIN" ]; then
  echo "run-$suite: no tapserve executable at $TAPSERVE_BIN (build first)" >&2
  exit 2
fi
# -rs: each skipped test with its reason in the summary
/usr/bin/python3 -m pytest "tests/$suite" -q -rs -p no:cacheprovider "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "run-$suite: no tests collected" >&2
  exit 1
fi
exit $rc
