#!/usr/bin/python3
"""Reads back what fmt_property wrote, with the readers astronomers use
(astropy's VOTable, FITS and ECSV readers, Python's csv and json), and
compares every cell with the truth file; every FITS file also goes
through fitsverify. Exit 0 when everything matches.

usage: check_property.py DIR"""
import csv
import glob
import io
import json
import math
import os
import shutil
import subprocess
import sys
import warnings

import numpy as np

warnings.simplefilter("ignore")
from astropy.io.votable import parse as vo_parse  # noqa: E402
from astropy.table import Table  # noqa: E402

INTS = ("int2", "int4", "int8")
FLOATS = ("float4", "float8")


def truth_value(v, kind):
    if v is None:
        return None
    if kind == "bool" or kind == "text":
        return v
    if kind in INTS:
        return int(v)
    if kind == "float4":
        return float(np.float32(float.fromhex(v)))
    if kind == "float8":
        return float.fromhex(v)
    el = "float8" if kind == "float8[]" else "int4"
    return [truth_value(x, el) for x in v]


def same_float(a, b):
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


class Reader:
    """Per format: how NULLs and specials come back."""

    def __init__(self, name, nan_null=False, bool_null_false=False, int_null=None, empty_array_null=False,
                 unescape=False, nonfinite_null=False):
        self.name = name
        self.nan_null = nan_null  # a NULL float may read as NaN, a NaN as masked
        self.bool_null_false = bool_null_false  # FITS: undefined logical reads as False
        self.int_null = int_null  # NULL array element reads as this integer
        self.empty_array_null = empty_array_null
        self.unescape = unescape  # FITS text: \\uXXXX escapes
        self.nonfinite_null = nonfinite_null  # JSON: NaN/Inf are null

    def scalar_ok(self, got, masked, ref, kind):
        if isinstance(got, bytes):
            got = got.decode("utf-8")
        if ref is None:
            if masked or got is None:
                return True
            if kind in FLOATS and self.nan_null:
                return math.isnan(float(got))
            if kind == "bool" and self.bool_null_false:
                return not bool(got)
            if kind == "text":
                return got == ""
            return False
        if masked or got is None:
            if kind in FLOATS and (self.nan_null or self.nonfinite_null) and not math.isfinite(ref):
                return True
            return False
        if kind == "bool":
            return (got in ("true", "True", "T")) if isinstance(got, str) else bool(got) == ref
        if kind in INTS:
            return int(got) == ref
        if kind == "float4":
            return same_float(np.float32(float(got)), ref)
        if kind == "float8":
            return same_float(float(got), ref)
        got = str(got)
        if self.unescape:
            got = got.encode("ascii").decode("unicode_escape")
        return got == ref

    def array_ok(self, got, ref, kind):
        el = "float8" if kind == "float8[]" else "int4"
        if got is not None and not isinstance(got, list):
            got = np.ma.atleast_1d(got)  # FITS: a fixed array of one reads as a scalar
        if ref is None:
            if got is None or len(got) == 0:
                return True
            # fixed-size arrays (FITS nD): a NULL array is all NULL elements
            return all(self.array_ok(np.ma.atleast_1d(x), [None], kind) for x in got)
        if got is None:
            # FITS: a fixed array of one (1J) reads as a scalar, masked by TNULL
            if self.name == "fits" and ref == [None]:
                return True
            return self.empty_array_null and ref == []
        data = list(np.ma.getdata(got)) if not isinstance(got, list) else got
        mask = list(np.ma.getmaskarray(got)) if not isinstance(got, list) else [x is None for x in got]
        if len(data) != len(ref):
            return False
        for d, m, r in zip(data, mask, ref):
            if r is None:
                if m or d is None:
                    continue
                if el == "float8" and math.isnan(float(d)):
                    continue
                if el == "int4" and self.int_null is not None and int(d) == self.int_null:
                    continue
                return False
            if m or d is None:
                if el == "float8" and (self.nan_null or self.nonfinite_null) and not math.isfinite(r):
                    continue
                return False
            if el == "float8" and not same_float(d, r):
                return False
            if el == "int4" and int(d) != r:
                return False
        return True


def astropy_getter(table):
    def get(i, name):
        col = table[name]
        v = col[i]
        if isinstance(v, np.ma.core.MaskedConstant):
            return None, True
        if isinstance(v, (np.ndarray, list)) and not isinstance(v, str) and np.ndim(v) > 0:
            if hasattr(col, "mask") and np.ma.getmaskarray(col)[i].ndim > 0:
                return np.ma.MaskedArray(np.ma.getdata(col)[i], mask=np.ma.getmaskarray(col)[i]), False
            return v, False
        masked = bool(np.ma.getmaskarray(col)[i]) if hasattr(col, "mask") and np.ma.getmaskarray(col)[i].ndim == 0 else False
        return v, masked

    return get


def text_getter(header, rows, columns, bools=("true", "false")):
    kinds = {c["name"]: c["kind"] for c in columns}

    def get(i, name):
        row = rows[i] if rows[i] else [""]  # csv reads an empty line as []
        cell = row[header.index(name)]
        kind = kinds[name]
        if kind.endswith("[]"):
            if cell == "":
                return None, True
            return [float(x) if kind == "float8[]" else int(x) for x in cell.split()], False
        if cell == "":
            return (None, True) if kind != "text" else ("", False)
        if kind == "bool":
            return cell == bools[0], False
        return cell, False

    return get


def check(path, reader, get, truth, nrows_got):
    problems = []
    cols, rows = truth["columns"], truth["rows"]
    if nrows_got != len(rows):
        return ["%s: %d rows, expected %d" % (path, nrows_got, len(rows))]
    for i, row in enumerate(rows):
        for j, c in enumerate(cols):
            kind = c["kind"]
            ref = truth_value(row[j], kind)
            try:
                got, masked = get(i, c["name"])
            except Exception as e:  # a reader failure is a finding too
                problems.append("%s: row %d %s: %r" % (path, i, c["name"], e))
                continue
            if kind.endswith("[]"):
                ok = reader.array_ok(None if masked else got, ref, kind)
            else:
                ok = reader.scalar_ok(got, masked, ref, kind)
            if not ok:
                problems.append("%s: row %d column %s (%s): got %r%s, expected %r" % (
                    path, i, c["name"], kind, got, " (masked)" if masked else "", row[j]))
            if len(problems) > 10:
                return problems
    return problems


def main(d):
    failures = []
    ntables = 0
    for tpath in sorted(glob.glob(os.path.join(d, "t*.truth.json"))):
        ntables += 1
        base = tpath[: -len(".truth.json")]
        with open(tpath, encoding="utf-8") as f:
            truth = json.load(f)
        names = [c["name"] for c in truth["columns"]]

        for ext in ("td.vot", "b2.vot", "b.vot"):
            p = base + "." + ext
            t = vo_parse(p, verify="warn").get_first_table().to_table(use_names_over_ids=True)
            failures += check(p, Reader(ext, nan_null=True), astropy_getter(t), truth, len(t))
            for c in truth["columns"]:
                if c["unit"] and str(t[c["name"]].unit) != c["unit"]:
                    failures.append("%s: unit of %s is %r" % (p, c["name"], t[c["name"]].unit))

        p = base + ".fits"
        if shutil.which("fitsverify"):
            out = subprocess.run(["fitsverify", p], stdout=subprocess.PIPE, stderr=subprocess.STDOUT).stdout
            if b"0 warning(s) and 0 error(s)" not in out:
                failures.append("%s: fitsverify:\n%s" % (p, out.decode(errors="replace")[-1500:]))
        t = Table.read(p, format="fits")
        failures += check(p, Reader("fits", nan_null=True, bool_null_false=True, int_null=-2147483648,
                                    unescape=True), astropy_getter(t), truth, len(t))

        p = base + ".ecsv"
        t = Table.read(p, format="ascii.ecsv")
        failures += check(p, Reader("ecsv", nan_null=False, empty_array_null=True), astropy_getter(t), truth, len(t))

        p = base + ".csv"
        with open(p, encoding="utf-8", newline="") as f:
            rows = list(csv.reader(f))
        if rows[0] != names:
            failures.append("%s: header %r" % (p, rows[0]))
        failures += check(p, Reader("csv", int_null=-2147483648, empty_array_null=True),
                          text_getter(rows[0], rows[1:], truth["columns"]), truth, len(rows) - 1)

        p = base + ".tsv"
        with open(p, encoding="utf-8") as f:
            # every line is a row, an empty one too (one NULL column)
            lines = [l.split("\t") for l in f.read().split("\n")[:-1]]
        failures += check(p, Reader("tsv", int_null=-2147483648, empty_array_null=True),
                          text_getter(lines[0], lines[1:], truth["columns"]), truth, len(lines) - 1)

        p = base + ".json"
        with open(p, encoding="utf-8") as f:
            doc = json.load(f)
        if [m["name"] for m in doc["metadata"]] != names:
            failures.append("%s: metadata names" % p)
        data = doc["data"]

        def jget(i, name, data=data):
            v = data[i][names.index(name)]
            return v, v is None

        failures += check(p, Reader("json", nonfinite_null=True), jget, truth, len(data))

    for f in failures[:60]:
        print(f)
    if ntables == 0:
        print("no tables found in %s" % d)
        return 1
    print("check_property: %d tables, %d formats each, %d problems" % (ntables, 8, len(failures)))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
