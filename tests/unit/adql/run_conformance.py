#!/usr/bin/env python3
"""Runs the IVOA ADQL conformance queries (lyonetia, ../shared/conformance/adql
next to the repository) through `tapserve adql --syntax` with the UDFs each
query declares, and compares every verdict with the expected one.

usage: run_conformance.py TAPSERVE [--list]

Fails (exit 1) when a query of the `ivoa` set gets the wrong verdict or when
fewer than 97% of all queries get the expected one; exit 2 when the
executable is missing. The suite lives only beside the repository: without
it the run is skipped (exit 77, ctest's SKIP_RETURN_CODE), except with
CI=true, where it fails (exit 2). --list prints every disagreement."""

import json
import os
import pathlib
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parents[3]
SUITE = REPO.parent / "shared" / "conformance" / "adql"
MIN_TOTAL = 0.97
SKIP = 77


def verdict(exe, q):
    cmd = [exe, "adql", "--syntax"]
    for u in q["udfs"]:
        cmd += ["--udf", u]
    p = subprocess.run(cmd, input=q["query"].encode("utf-8"), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30, check=False)
    if p.returncode not in (0, 1):
        raise SystemExit("%s: tapserve adql exited %d: %s" % (q["id"], p.returncode, p.stderr.decode(errors="replace")))
    return ("valid" if p.returncode == 0 else "invalid"), p.stderr.decode(errors="replace").strip()


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    exe = argv[1]
    listing = "--list" in argv[2:]
    data = SUITE / "lyonetia.jsonl"
    if not data.is_file():
        where = "expected %s (../shared/conformance/adql next to the repository)" % data
        if os.environ.get("CI") == "true":
            print("conformance suite not found: %s" % where, file=sys.stderr)
            return 2
        print("SKIP adql.conformance: the ADQL conformance suite is not on this machine: %s" % where)
        return SKIP
    if not pathlib.Path(exe).is_file():
        print("tapserve executable not found: %s" % exe, file=sys.stderr)
        return 2
    queries = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines() if line.strip()]
    per_set = {}
    misses = []
    for q in queries:
        got, msg = verdict(exe, q)
        ok = got == q["expected"]
        s = per_set.setdefault(q["set"], [0, 0])
        s[0] += ok
        s[1] += 1
        if not ok:
            misses.append((q, got, msg))
    total_ok = sum(v[0] for v in per_set.values())
    print("ADQL conformance: %d/%d (%.1f%%); %s" % (
        total_ok, len(queries), 100.0 * total_ok / len(queries),
        ", ".join("%s %d/%d" % (k, v[0], v[1]) for k, v in sorted(per_set.items()))))
    for q, got, msg in misses:
        if listing or q["set"] == "ivoa":
            print("  %s: expected %s, got %s%s\n    %s" % (
                q["id"], q["expected"], got, (" (" + msg + ")") if msg else "",
                q["query"].replace("\n", "\n    ")))
    failed = False
    if any(q["set"] == "ivoa" for q, _, _ in misses):
        print("FAIL: the ivoa set must get every expected verdict", file=sys.stderr)
        failed = True
    if total_ok < MIN_TOTAL * len(queries):
        print("FAIL: fewer than %d%% of all queries get the expected verdict" % int(MIN_TOTAL * 100), file=sys.stderr)
        failed = True
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
