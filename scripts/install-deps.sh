#!/bin/bash
# install-deps.sh GROUP... : installs the Debian 12 packages of each group
# (build, run, test) that are not installed yet. Does nothing when all are
# present, so `make demo` and `make check` start at once on a ready machine.
set -euo pipefail

declare -A groups
groups[build]="build-essential cmake pkg-config bison flex clang libclang-rt-14-dev
  libuv1-dev libhttp-parser-dev libpq-dev libcfitsio-dev libxml2-dev libzstd-dev
  zlib1g-dev libinih-dev libsodium-dev libcurl4-openssl-dev libisal-dev"
groups[run]="postgresql-15 postgresql-15-pgsphere postgresql-15-q3c postgresql-client-15 curl libcurl4
  libsodium23 libisal2"
groups[test]="python3 python3-pytest python3-requests python3-pyvo python3-astropy
  python3-astroquery python3-prometheus-client haproxy stilts fitsverify libxml2-utils unzip
  clang-format chromium chromium-driver python3-selenium"
# benchmarks/cluster.sh: HTTP load generator and the load balancer
groups[bench]="wrk haproxy"

# Another apt or dpkg (unattended-upgrades, a second `make`) may hold the
# package locks: wait for it, up to APT_LOCK_WAIT seconds, instead of failing
# at once. apt-get waits for the dpkg locks itself (DPkg::Lock::Timeout); for
# the lock of the package lists, which `apt-get update` does not wait for, it
# is run again while that lock is busy.
APT_LOCK_WAIT=${APT_LOCK_WAIT:-900}
apt_get() {
  "${sudo[@]}" apt-get -o DPkg::Lock::Timeout="$APT_LOCK_WAIT" "$@"
}

apt_update() {
  local deadline=$((SECONDS + APT_LOCK_WAIT)) err rc said=0
  err=$(mktemp)
  while :; do
    rc=0
    apt_get update -qq 2>"$err" || rc=$?
    if [ $rc -ne 0 ] && grep -q 'Could not get lock' "$err" && [ $SECONDS -lt $deadline ]; then
      [ $said = 1 ] || echo "install-deps: waiting for another apt: $(grep -m 1 'Could not get lock' "$err")" >&2
      said=1
      sleep 2
      continue
    fi
    cat "$err" >&2
    rm -f "$err"
    return $rc
  done
}

# Sourced (by tests/unit/scripts/install_deps_lock.sh): the functions only.
if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  return 0
fi

want=()
for g in "$@"; do
  [ -n "${groups[$g]:-}" ] || { echo "install-deps: unknown group $g" >&2; exit 2; }
  for p in ${groups[$g]}; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
      want+=("$p")
    fi
  done
done
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null; then
  sudo=(sudo)
else
  sudo=(false)
fi

if [ ${#want[@]} -gt 0 ]; then
  echo "install-deps: installing ${want[*]}"
  if [ "${sudo[*]}" = false ]; then
    echo "install-deps: missing packages (${want[*]}) and not root; install them with apt-get" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt_update
  apt_get install -y -qq "${want[@]}"
fi

# Debian 12's pgSphere script needs a repair before CREATE EXTENSION works
# (see fix-pgsphere.sh).
case " $* " in
  *" run "*)
    if "$(dirname "$0")/fix-pgsphere.sh" --needed; then
      "${sudo[@]}" "$(dirname "$0")/fix-pgsphere.sh"
    fi ;;
esac
