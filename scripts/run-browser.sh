#!/bin/bash
# run-browser.sh [PYTEST ARGS...]
#
# Runs the browser suite (tests/browser: one private PostgreSQL, one
# tapserve, headless Chromium through chromium-driver) the way
# run-integration.sh runs its suite; TAPSERVE_BIN as there. Screenshots go
# to $TS_BROWSER_OUT (default build/browser-output).
exec env TS_SUITE=browser "$(dirname "$0")/run-integration.sh" -s "$@"
