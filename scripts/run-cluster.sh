#!/bin/bash
# run-cluster.sh [PYTEST ARGS...]
#
# Runs the cluster suite (tests/cluster: one private PostgreSQL, several
# tapserve instances on loopback ports, HAProxy in front) the way
# run-integration.sh runs its suite; TAPSERVE_BIN as there.
exec env TS_SUITE=cluster "$(dirname "$0")/run-integration.sh" "$@"
