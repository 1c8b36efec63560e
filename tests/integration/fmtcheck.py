"""Helpers of test_formats.py: PostgreSQL text values turned into what a
client must read, and cell comparisons that know each format's NULL and
special-value conventions."""
import math

import numpy as np

INTS = ("smallint", "integer", "bigint")
FLOATS = ("real", "double precision", "numeric")


def pg_array(text):
    """'{1.5,NULL,NaN}' -> ['1.5', None, 'NaN'] (one dimension, no quoting:
    the numeric arrays of the test table)."""
    if text is None:
        return None
    inner = text.strip("{}")
    if inner == "":
        return []
    return [None if v == "NULL" else v for v in inner.split(",")]


def pg_float(text):
    return float(text)  # Python reads NaN, Infinity, -Infinity like PostgreSQL writes them


def norm_ts(text):
    """ISO 8601 with 'T' and no trailing zeros in the fraction (PostgreSQL
    writes .5 where we write .500000: the same instant)."""
    text = str(text).replace(" ", "T")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def ref_value(text, pgtype):
    """The value a client must read for a PostgreSQL text value."""
    if text is None:
        return None
    if pgtype == "boolean":
        return text == "t"
    if pgtype in INTS:
        return int(text)
    if pgtype == "real":
        return float(np.float32(pg_float(text)))
    if pgtype in ("double precision", "numeric"):
        return pg_float(text)
    if pgtype.startswith("timestamp"):
        return norm_ts(text)
    if pgtype == "character":
        return text.rstrip(" ")
    if pgtype == "ARRAY:num":
        return [None if v is None else pg_float(v) for v in pg_array(text)]
    if pgtype == "ARRAY:int":
        return [None if v is None else int(v) for v in pg_array(text)]
    return text


def same_float(a, b):
    if a is None or b is None:
        return a is None and b is None
    a, b = float(a), float(b)
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    return a == b and math.copysign(1, a) == math.copysign(1, b)


def cell_ok(got, masked, ref, pgtype, nan_is_null=False, empty_is_null=True, int_null=None, strip=False):
    """got: the client's value; masked: its mask flag. ref: ref_value().
    nan_is_null: a NULL float may come back as NaN (VOTable BINARY, FITS).
    empty_is_null: a NULL string may come back as "" (VOTable char, FITS A),
      and in text formats an empty string or array may come back as NULL.
    int_null: integer values equal to it count as NULL (BINARY, FITS).
    strip: the reader strips blanks around text (astropy's TABLEDATA and
      ECSV readers do)."""
    if isinstance(got, bytes):
        got = got.decode("utf-8")
    if isinstance(got, np.ndarray) and got.dtype.kind in "SU" and got.ndim == 0:
        got = str(got)
    if pgtype.startswith("ARRAY"):
        if ref == [] and masked and empty_is_null:
            return True
        if ref is None:
            return masked or got is None or len(np.atleast_1d(got)) == 0 or np.all(np.ma.getmaskarray(got))
        if masked and not isinstance(got, np.ndarray):
            return False
        vals = np.ma.getdata(got) if got is not None else []
        mask = np.ma.getmaskarray(got) if got is not None else []
        if len(vals) != len(ref):
            return False
        for v, m, r in zip(vals, mask, ref):
            if pgtype == "ARRAY:num":
                if m and nan_is_null and r is not None and math.isnan(r):
                    continue  # VOTable readers mask NaN like NULL
                if r is None:
                    if not (m or (v is not None and math.isnan(float(v)))):
                        return False
                elif m or not same_float(v, r):
                    return False
            else:
                if r is None:
                    if not (m or v is None or (int_null is not None and int(v) == int_null)):
                        return False
                elif m or int(v) != r:
                    return False
        return True
    if ref is None:
        if masked or got is None:
            return True
        if pgtype in FLOATS and nan_is_null:
            return isinstance(got, (float, np.floating)) and math.isnan(got)
        if pgtype in INTS and int_null is not None:
            return int(got) == int_null
        if empty_is_null and pgtype not in INTS + FLOATS + ("boolean",):
            return got == ""
        return False
    if masked and empty_is_null and ref == "" or (masked and strip and isinstance(ref, str) and ref.strip() == ""):
        return True
    if masked:
        # VOTable and FITS readers mask NaN like NULL
        return nan_is_null and pgtype in FLOATS and isinstance(ref, float) and math.isnan(ref)
    if pgtype.startswith("timestamp"):
        return norm_ts(got) == ref
    if pgtype == "character":
        return str(got).rstrip(" ") == ref  # char(n) pads with blanks
    if pgtype == "boolean":
        return bool(got) == ref
    if pgtype in INTS:
        return int(got) == ref
    if pgtype == "real":
        return same_float(np.float32(got), ref)
    if pgtype in FLOATS:
        return same_float(got, ref)
    if strip:
        return str(got).strip() == ref.strip()
    return str(got) == ref


def compare(what, colnames, getcell, ref_rows, types, **kw):
    """getcell(i, name) -> (value, masked). Returns a list of mismatches."""
    problems = []
    for i, row in enumerate(ref_rows):
        for j, name in enumerate(colnames):
            try:
                got, masked = getcell(i, name)
            except (KeyError, IndexError) as e:
                problems.append("%s: row %d column %s missing: %r" % (what, i, name, e))
                continue
            ref = ref_value(row[j], types[name])
            if not cell_ok(got, masked, ref, types[name], **kw):
                problems.append(
                    "%s: row %d column %s (%s): got %r%s, PostgreSQL has %r"
                    % (what, i, name, types[name], got, " (masked)" if masked else "", row[j])
                )
    return problems[:30]


def astropy_cell(table):
    def get(i, name):
        col = table[name]
        v = col[i]
        m = bool(np.all(np.ma.getmaskarray(col)[i])) if hasattr(col, "mask") else False
        if isinstance(v, np.ma.core.MaskedConstant):
            return None, True
        if hasattr(col, "mask") and np.ma.getmaskarray(col)[i].ndim > 0:
            # array cells: keep per-element masks
            return np.ma.MaskedArray(np.ma.getdata(col)[i], mask=np.ma.getmaskarray(col)[i]), False
        if isinstance(v, np.ma.MaskedArray):
            return v, False
        return v, m

    return get
