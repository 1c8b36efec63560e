#!/bin/bash
# taplint.sh URL [REPORT] : runs STILTS taplint (Debian package stilts)
# against the TAP service at URL, keeps its whole output in REPORT (default
# taplint-report.txt) and prints a count of errors (E), warnings (W) and
# failures to test (F) per stage, then one line
#     errors=N warnings=N failures=N
# Exit status: 0 without errors, 1 with errors, 2 when taplint did not run
# to its end (no "Totals:" line: crash, timeout, stilts missing).
#
# Environment:
#   STAGES    taplint's stages= (e.g. "TMV CAP" or "-EXA"); default: all
#   TIMEOUT   seconds before taplint is stopped (default 900)
#   REPORT    message types listed in REPORT (default EWSF; the totals
#             count every type)
#   OFFLINE   1 (default): every request to a host other than the service's
#             goes to a dead proxy and fails at once, so taplint never waits
#             on the network (it may try to fetch vocabularies)
set -u

url=${1:-}
report=${2:-taplint-report.txt}
[ -n "$url" ] || { echo "usage: $0 URL [REPORT]" >&2; exit 2; }
command -v stilts >/dev/null || { echo "taplint.sh: stilts missing (apt-get install stilts)" >&2; exit 2; }

java=(-Djava.awt.headless=true -Djava.net.useSystemProxies=false)
if [ "${OFFLINE:-1}" = 1 ]; then
  # the host part of URL, with or without user info, port or IPv6 brackets
  host=${url#*://}
  host=${host%%/*}
  host=${host##*@}
  case "$host" in
    \[*) host=${host%%]*}] ;;
    *) host=${host%%:*} ;;
  esac
  java+=(-Dhttp.proxyHost=127.0.0.1 -Dhttp.proxyPort=9 -Dhttps.proxyHost=127.0.0.1
    -Dhttps.proxyPort=9 "-Dhttp.nonProxyHosts=localhost|127.*|[::1]|$host")
fi
args=(taplint "tapurl=$url" "report=${REPORT:-EWSF}" maxrepeat=9 truncate=640 format=text)
[ -n "${STAGES:-}" ] && args+=("stages=$STAGES")

timeout "${TIMEOUT:-900}" stilts "${java[@]}" "${args[@]}" >"$report" 2>&1
rc=$?

# Message lines start with TYPE-STAGE-CODE-N, e.g. "E-CAP-TAPR-1 ...".
awk '
  /^[EWF]-[A-Z0-9]+-[A-Za-z0-9]+-[0-9]+ / {
    split($1, part, "-")
    count[part[2]] = count[part[2]] " " part[1]
  }
  END {
    for (stage in count) {
      n = split(count[stage], kinds, " ")
      e = w = f = 0
      for (i = 1; i <= n; i++) {
        if (kinds[i] == "E") e++
        else if (kinds[i] == "W") w++
        else f++
      }
      printf "%s: E%d W%d F%d\n", stage, e, w, f
    }
  }' "$report" | sort

totals=$(grep '^Totals:' "$report" | tail -n 1)
if [ -z "$totals" ]; then
  [ $rc -eq 124 ] && echo "taplint.sh: stopped after ${TIMEOUT:-900} s" >&2
  echo "taplint.sh: taplint did not finish (exit $rc); the end of $report:" >&2
  tail -n 5 "$report" >&2
  echo "errors=? warnings=? failures=?"
  exit 2
fi
# "Totals: Errors: 0; Warnings: 2; Infos: 30; Summaries: 9; Failures: 1"
count() { printf '%s\n' "$totals" | sed -n "s/.*$1: *\([0-9]*\).*/\1/p"; }
errors=$(count Errors)
echo "report: $report"
echo "errors=$errors warnings=$(count Warnings) failures=$(count Failures)"
[ "$errors" = 0 ]
