#!/bin/bash
# scripts/install-deps.sh waits for another apt that holds a package lock
# instead of failing at once.
#
# The machine's own apt-get runs against a private apt tree (APT_CONFIG: no
# sources, its own package lists, dpkg status and lock files), so nothing is
# installed and the system's locks are never touched. A helper holds one of
# the private locks the way apt does (fcntl); the test releases it only once
# the waiting call has said that it waits, so no timing is involved.
#   1. the dpkg frontend lock: apt_get install (what install-deps runs)
#   2. the lock of the package lists: apt_update
# Each case first checks that a plain apt-get, as install-deps ran it before,
# fails at once on the held lock: the lock really is in the way.
# Exit 77 (skipped) without apt-get or Debian's python3.
set -u

repo=$(cd "$(dirname "$0")/../../.." && pwd)
if ! command -v apt-get >/dev/null || [ ! -x /usr/bin/python3 ]; then
  echo "SKIP install_deps_lock: needs apt-get and /usr/bin/python3"
  exit 77
fi

tmp=$(mktemp -d)
holder=""
release() {
  if [ -n "$holder" ]; then
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
  fi
  holder=""
}
trap 'release; rm -rf "$tmp"' EXIT
fail() {
  echo "not ok: $*"
  exit 1
}

mkdir -p "$tmp"/lists/partial "$tmp"/cache/archives/partial "$tmp"/dpkg \
  "$tmp"/etc/sources.list.d "$tmp"/etc/preferences.d "$tmp"/etc/apt.conf.d
touch "$tmp"/dpkg/status "$tmp"/etc/sources.list
cat >"$tmp/apt.conf" <<EOF
Dir::State::Lists "$tmp/lists";
Dir::State::status "$tmp/dpkg/status";
Dir::Cache "$tmp/cache";
Dir::Etc::SourceList "$tmp/etc/sources.list";
Dir::Etc::SourceParts "$tmp/etc/sources.list.d";
Dir::Etc::Parts "$tmp/etc/apt.conf.d";
Dir::Etc::Preferences "$tmp/etc/preferences";
Dir::Etc::PreferencesParts "$tmp/etc/preferences.d";
EOF
export APT_CONFIG=$tmp/apt.conf DEBIAN_FRONTEND=noninteractive

# Holds FILE with an fcntl lock, as apt does, until released.
hold() {
  rm -f "$tmp/held"
  /usr/bin/python3 -c '
import fcntl, sys, time
f = open(sys.argv[1], "a")
fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
open(sys.argv[2], "w").close()
time.sleep(600)' "$1" "$tmp/held" &
  holder=$!
  while [ ! -e "$tmp/held" ]; do
    kill -0 "$holder" 2>/dev/null || fail "could not lock $1"
    sleep 0.1
  done
}

# Waits until FILE contains TEXT (or the process PID has ended).
await() {
  until grep -q "$2" "$1"; do
    kill -0 "$3" 2>/dev/null || return 1
    sleep 0.1
  done
}

# shellcheck source=/dev/null
source "$repo/scripts/install-deps.sh"
set +e
# shellcheck disable=SC2034 # both read by apt_get
sudo=() APT_LOCK_WAIT=120

# 1. dpkg frontend lock
hold "$tmp/dpkg/lock-frontend"
apt-get install -y -qq </dev/null >"$tmp/out" 2>&1 && fail "plain apt-get install ran despite the held lock"
grep -q 'Could not get lock' "$tmp/out" || fail "plain apt-get install: $(cat "$tmp/out")"
apt_get install -y </dev/null >"$tmp/out" 2>&1 &
pid=$!
await "$tmp/out" 'Waiting for cache lock' $pid || fail "apt_get install did not wait: $(cat "$tmp/out")"
release
wait $pid || fail "apt_get install failed after the lock was released: $(cat "$tmp/out")"
echo "ok 1 - apt_get install waits for the dpkg frontend lock"

# 2. lock of the package lists
hold "$tmp/lists/lock"
apt-get update -qq </dev/null >"$tmp/out" 2>&1 && fail "plain apt-get update ran despite the held lock"
grep -q 'Could not get lock' "$tmp/out" || fail "plain apt-get update: $(cat "$tmp/out")"
apt_update </dev/null >"$tmp/out" 2>&1 &
pid=$!
await "$tmp/out" 'install-deps: waiting for another apt' $pid || fail "apt_update did not wait: $(cat "$tmp/out")"
release
wait $pid || fail "apt_update failed after the lock was released: $(cat "$tmp/out")"
echo "ok 2 - apt_update waits for the lock of the package lists"
