#!/usr/bin/python3
"""adql_deep_seeds.py DIR: writes ADQL seeds at and beyond the nesting budget
(ADQL_MAX_DEPTH = 1000 levels, adql/adql_int.h) into DIR for the adql
fuzzer: the hostile shapes of about 1 MiB (30,000 UNIONed SELECTs, 190
subqueries at the bottom of 999-term +1 chains) and each shape at the budget
and one level beyond. Too big to keep in the repository, so run-fuzz.sh
writes them before each run. The depths follow the formulas of the
depth_budget unit test (tests/unit/adql/test_adql.c)."""
import os
import sys

N = 1000  # ADQL_MAX_DEPTH
P = 199   # ADQL_MAX_PAREN_DEPTH - 1


def union_chain(branches):
    return "SELECT ra FROM demo.sources" + " UNION SELECT ra FROM demo.sources" * (branches - 1)


def nested_chains(levels, k, k0):
    q = "SELECT (" * levels + "SELECT ra" + "+1" * k0 + " FROM demo.sources"
    return q + (")" + "+1" * k + " AS v FROM demo.sources") * levels


def join_chain(joins):
    return "SELECT t0.ra FROM demo.sources AS t0" + "".join(
        " JOIN demo.sources AS t%d ON t%d.ra = t0.ra" % (i, i) for i in range(1, joins + 1))


def case_chain(levels):
    return ("SELECT " + "CASE WHEN ra > 1 THEN 1 ELSE " * levels + "ra" + " END" * levels
            + " FROM demo.sources")


def fn_chain(levels, k0):
    return "SELECT " + "ABS(" * levels + "ra" + "+1" * k0 + ")" * levels + " FROM demo.sources"


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    seeds = {
        "union_30000": union_chain(30000),
        "nested_190x999": nested_chains(190, 999, 0),
    }
    for extra in (0, 1):
        seeds["union_%d" % extra] = union_chain(N - 1 + extra)
        seeds["nested_%d" % extra] = nested_chains(190, 3, N - 2 - 190 * 5 + extra)
        seeds["joins_%d" % extra] = join_chain(N - 3 + extra)
        seeds["case_%d" % extra] = case_chain(N - 4 + extra)
        seeds["calls_%d" % extra] = fn_chain(P, N - 2 - P + extra)
    for name, text in seeds.items():
        assert len(text) <= 1 << 20, name
        with open(os.path.join(out, "deep_" + name), "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
