#!/bin/bash
# fix-pgsphere.sh: makes Debian 12's pgSphere package installable again.
#
# postgresql-15-pgsphere 1.1.1+2021 ships two operators kept only for old
# GAVO DaCHS releases, @(bigint, smoc) and @(spoint, smoc), whose COMMUTATOR
# clashes with the smoc operators' own. PostgreSQL 15 minor releases with the
# stricter commutator check reject the whole CREATE EXTENSION pg_sphere
# ("commutator operator @> is already the commutator of operator <@").
# Upstream pgSphere deleted exactly these two blocks; we do the same to the
# installed script, keeping the original beside it (.orig). Idempotent; needs
# root (install-deps.sh runs it). With --needed: exit 0 when the repair is
# needed, 1 when not, changing nothing.
set -euo pipefail
f=/usr/share/postgresql/15/extension/pg_sphere--1.2.0.sql
[ -f "$f" ] || { [ "${1:-}" = --needed ] && exit 1; exit 0; }
pat='CREATE OPERATOR @ \(\s*LEFTARG\s*=\s*(bigint|spoint),\s*RIGHTARG\s*=\s*smoc,.*?\);\n'
if ! perl -0ne "exit(/$pat/s ? 0 : 1)" "$f"; then
  [ "${1:-}" = --needed ] && exit 1
  exit 0
fi
[ "${1:-}" = --needed ] && exit 0
[ -f "$f.orig" ] || cp -p "$f" "$f.orig"
perl -0pi -e "s/$pat//gs" "$f"
echo "fix-pgsphere: removed the obsolete @(bigint|spoint, smoc) operators from $f (original: $f.orig)"
