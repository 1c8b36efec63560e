"""Every output format against PostgreSQL: one table with every column type
(NULLs, NaN/Inf, extreme integers, unicode, arrays, timestamps), the same
queries in every format, read back with the clients astronomers use
(astropy's VOTable, FITS and ECSV readers, csv, json) and compared value by
value with what PostgreSQL says; VOTables validated against the IVOA XSDs
and by STILTS votlint, FITS by fitsverify. Also: zero rows, one row,
overflow, VOTable 1.5, Content-Encoding, votable_gzip, and errors after
streaming began."""
import gzip
import html.parser
import io
import json
import os
import subprocess

import numpy as np
import pytest
import requests
from astropy.io import fits as afits
from astropy.io.votable import parse as vo_parse
from astropy.table import Table

import fmtcheck
import tsit

SETUP_SQL = r"""
DROP SCHEMA IF EXISTS fmtx CASCADE;
CREATE SCHEMA fmtx;
CREATE TABLE fmtx.alltypes (
  id    integer PRIMARY KEY,
  b     boolean,
  i2    smallint,
  i4    integer,
  i8    bigint,
  f4    real,
  f8    double precision,
  num   numeric,
  ra    double precision,
  txt   text,
  uni   text,
  ch    char(5),
  ts    timestamp,
  farr  double precision[],
  iarr  integer[]
);
INSERT INTO fmtx.alltypes VALUES
 (1, true, 12, 123456, 1234567890123, 1.5, 0.1, 12.25, 10.684708, 'plain', 'Ωmega', 'ab',
  '2024-01-02 03:04:05.123456', '{1.5,-2,3e10}', '{1,2,3}'),
 (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
 (3, false, 32767, 2147483647, 9223372036854775807, 3.4028235e38, 1.7976931348623157e308, -1e-300,
  359.99999999999994, '<&>"'' tag', '日本語 テキスト', 'abcde', '1999-12-31 23:59:59', '{}', '{}'),
 (4, true, -32767, -2147483647, -9223372036854775807, 'NaN', 'Infinity', 'NaN', 0,
  'comma, "quote"', 'emoji 😀 and ü', 'x', '2000-01-01 00:00:00', '{NaN,Infinity,NULL}', '{-5,NULL,7}'),
 (5, false, 0, 0, 0, '-Infinity', '-Infinity', 0.5, -0.0, '', 'a', '', '1970-01-01 00:00:00.5',
  '{5e-324}', '{2147483647}'),
 (6, true, 1, -1, 1, 1.17549435e-38, 5e-324, 123456789012345678, 180, ' lead and trail ', 'b',
  'zz', '2262-04-11 23:47:16', '{0.1,0.2,0.30000000000000004}', '{0}');
GRANT USAGE ON SCHEMA fmtx TO tapserve_query;
GRANT SELECT ON ALL TABLES IN SCHEMA fmtx TO tapserve_query;
"""

PUBLISH_SQL = r"""
DELETE FROM tap_schema.columns WHERE table_name = 'fmtx.alltypes';
DELETE FROM tap_schema.tables WHERE schema_name = 'fmtx';
DELETE FROM tap_schema.schemas WHERE schema_name = 'fmtx';
INSERT INTO tap_schema.schemas (schema_name, description) VALUES ('fmtx', 'Output format tests');
INSERT INTO tap_schema.tables (schema_name, table_name, table_type, description)
VALUES ('fmtx', 'fmtx.alltypes', 'table', 'Every column type');
INSERT INTO tap_schema.columns (table_name, column_name, datatype, arraysize, unit, ucd, description,
                                principal, indexed, std, column_index) VALUES
 ('fmtx.alltypes', 'id', 'int', NULL, NULL, 'meta.id', 'Row number', 1, 1, 0, 1),
 ('fmtx.alltypes', 'b', 'boolean', NULL, NULL, NULL, 'A flag', 1, 0, 0, 2),
 ('fmtx.alltypes', 'i2', 'short', NULL, NULL, NULL, NULL, 1, 0, 0, 3),
 ('fmtx.alltypes', 'i4', 'int', NULL, NULL, NULL, NULL, 1, 0, 0, 4),
 ('fmtx.alltypes', 'i8', 'long', NULL, NULL, NULL, NULL, 1, 0, 0, 5),
 ('fmtx.alltypes', 'f4', 'float', NULL, 'mag', 'phot.mag', NULL, 1, 0, 0, 6),
 ('fmtx.alltypes', 'f8', 'double', NULL, NULL, NULL, NULL, 1, 0, 0, 7),
 ('fmtx.alltypes', 'num', 'double', NULL, NULL, NULL, NULL, 1, 0, 0, 8),
 ('fmtx.alltypes', 'ra', 'double', NULL, 'deg', 'pos.eq.ra;meta.main', 'Right ascension', 1, 0, 0, 9),
 ('fmtx.alltypes', 'txt', 'char', '*', NULL, NULL, NULL, 1, 0, 0, 10),
 ('fmtx.alltypes', 'uni', 'unicodeChar', '*', NULL, NULL, 'Non-ASCII text', 1, 0, 0, 11),
 ('fmtx.alltypes', 'ch', 'char', '5', NULL, NULL, NULL, 1, 0, 0, 12),
 ('fmtx.alltypes', 'ts', 'char', '*', NULL, 'time.epoch', NULL, 1, 0, 0, 13),
 ('fmtx.alltypes', 'farr', 'double', '*', NULL, NULL, NULL, 1, 0, 0, 14),
 ('fmtx.alltypes', 'iarr', 'int', '*', NULL, NULL, NULL, 1, 0, 0, 15);
-- TAP 1.0's "size" of the fixed-length string (taplint compares it with arraysize)
UPDATE tap_schema.columns SET "size" = 5 WHERE table_name = 'fmtx.alltypes' AND column_name = 'ch';
"""

TYPES = {
    "id": "integer",
    "b": "boolean",
    "i2": "smallint",
    "i4": "integer",
    "i8": "bigint",
    "f4": "real",
    "f8": "double precision",
    "num": "numeric",
    "ra": "double precision",
    "txt": "text",
    "uni": "text",
    "ch": "character",
    "ts": "timestamp",
    "farr": "ARRAY:num",
    "iarr": "ARRAY:int",
}
NAMES = list(TYPES)
QUERY = "SELECT * FROM fmtx.alltypes ORDER BY id"
SQL = "SELECT * FROM fmtx.alltypes ORDER BY id"

VOTABLES = ["votable", "votable/td", "votable/b", "votable_plain", "votable/b2"]
# VOTable BINARY and FITS write integer NULLs as the type's minimum
# (declared in VALUES null / TNULLn): the extremes in the table are min+1
# so that they stay values.


@pytest.fixture(scope="module")
def fmt_server(psql, start_server):
    psql.run(SETUP_SQL)
    psql.run(PUBLISH_SQL)
    # TAP_SCHEMA is read at start: a server of our own, started after the
    # inserts (the override only makes it a distinct server).
    return start_server({"tap.maxrec_default": "100001"})


@pytest.fixture(scope="module")
def ref_rows(psql, fmt_server):
    header, rows = psql.rows(SQL)
    assert header == NAMES
    return rows


def sync(srv, fmt, query=QUERY, extra=None, **kw):
    params = {"LANG": "ADQL", "REQUEST": "doQuery", "QUERY": query, "RESPONSEFORMAT": fmt}
    params.update(extra or {})
    return requests.post(srv.base + "/sync", data=params, timeout=120, **kw)


def write_tmp(workdir, name, data):
    path = os.path.join(workdir, name)
    with open(path, "wb") as f:
        f.write(data)
    return path


def xsd_ok(path):
    rc, out = tsit.xsdcheck(path)
    return rc == 0 and out.startswith("OK"), out


def votlint(path, validate=True):
    args = ["stilts", "votlint", "validate=%s" % str(validate).lower()]
    if not validate:
        args.append("version=1.4")  # the newest this STILTS knows
    rc, out = tsit.run_tool(args + [path], timeout=180)
    bad = [l for l in out.splitlines() if l.startswith("ERROR") or "ERROR" in l.split(":")[0]]
    return rc, out, bad


def votable_table(data):
    vot = vo_parse(io.BytesIO(data), verify="warn")
    return vot.get_first_table().to_table(use_names_over_ids=True), vot


@pytest.mark.parametrize("fmt", VOTABLES + ["votable/td;version=1.5", "votable_gzip"])
def test_votable_values(fmt_server, ref_rows, fmt, workdir):
    r = sync(fmt_server, fmt)
    assert r.status_code == 200, r.text[:500]
    data = r.content
    if fmt == "votable_gzip":
        assert r.headers["Content-Type"] == "application/gzip"
        assert "filename=" in r.headers["Content-Disposition"] and ".vot.gz" in r.headers["Content-Disposition"]
        data = gzip.decompress(data)
    else:
        assert r.headers["Content-Type"].startswith("application/x-votable+xml")
    if "1.5" in fmt:
        assert b'version="1.5"' in data[:300]
    else:
        assert b'version="1.4"' in data[:300]
    table, vot = votable_table(data)
    kw = dict(nan_is_null=True, empty_is_null=True, strip=fmt in ("votable/td", "votable_plain") or "1.5" in fmt)
    problems = fmtcheck.compare(fmt, NAMES, fmtcheck.astropy_cell(table), ref_rows, TYPES, **kw)
    assert not problems, "\n".join(problems)
    # metadata: unit, UCD, COOSYS for the position, TIMESYS for the timestamp
    fields = {f.name: f for f in vot.get_first_table().fields}
    assert fields["ra"].unit == "deg" and fields["ra"].ucd == "pos.eq.ra;meta.main"
    assert fields["uni"].datatype == "unicodeChar"
    root = tsit.parse_xml(data)
    assert tsit.find_all_local(root, "COOSYS") and tsit.find_all_local(root, "TIMESYS")
    path = write_tmp(workdir, "fmt-%s.vot" % "".join(c if c.isalnum() else "_" for c in fmt), data)
    ok, out = xsd_ok(path)
    assert ok, out
    # Debian's STILTS knows VOTable up to 1.4: a 1.5 document is checked
    # against the 1.5 XSD above, and here for everything but the schema.
    rc, out, bad = votlint(path, validate="1.5" not in fmt)
    # (forced to 1.4 rules, this STILTS also calls TIMESYS unknown, which
    # it accepts in real 1.4 documents above)
    bad = [l for l in bad if not ("1.5" in fmt and ("version" in l.lower() or "TIMESYS not known" in l))]
    assert rc == 0 and not bad, out[-3000:]


def test_fits_values(fmt_server, ref_rows, workdir):
    r = sync(fmt_server, "fits")
    assert r.status_code == 200, r.text[:500]
    assert r.headers["Content-Type"] == "application/fits"
    path = write_tmp(workdir, "fmt.fits", r.content)
    rc, out = tsit.run_tool(["fitsverify", "-q", "-e", path], timeout=60)
    assert rc == 0 and "verification OK" in out, out
    rc, out = tsit.run_tool(["fitsverify", path], timeout=60)
    assert "0 warning(s) and 0 error(s)" in out, out
    table = Table.read(path, format="fits")
    get = fmtcheck.astropy_cell(table)

    def unescaped(i, name):
        # FITS text is ASCII: other characters come as \uXXXX escapes
        v, m = get(i, name)
        if TYPES[name] == "text" and isinstance(v, str):
            v = v.encode("ascii").decode("unicode_escape")
        return v, m

    def logical(i, name):
        # The FITS undefined logical is byte 0, which astropy reads as False
        v, m = unescaped(i, name)
        if TYPES[name] == "boolean" and ref_rows[i][NAMES.index(name)] is None:
            raw = hdul_raw[name][i]
            return (None, True) if raw == 0 else (v, m)
        return v, m

    with open(path, "rb") as f:
        raw_rows = f.read()
    hdul_raw = {"b": fits_logical_bytes(raw_rows, NAMES.index("b"))}
    # TNULLn marks NULL elements of integer arrays too (astropy does not
    # apply it to variable-length arrays)
    problems = fmtcheck.compare("fits", NAMES, logical, ref_rows, TYPES, nan_is_null=True, int_null=-2147483648)
    assert not problems, "\n".join(problems)
    with afits.open(path) as hdul:
        h = hdul[1].header
        assert h["QSTATUS"] == "OK"
        assert h["NAXIS2"] == len(ref_rows)
        col = NAMES.index("ra") + 1
        assert h["TUNIT%d" % col] == "deg" and h["TUCD%d" % col] == "pos.eq.ra;meta.main"
        assert "SELECT * FROM fmtx.alltypes" in h["QUERY"]


def fits_logical_bytes(data, col):
    """The raw bytes of a logical column (0-based index) of the first
    extension: astropy turns the undefined value (0) into False."""
    with afits.open(io.BytesIO(data)) as hdul:
        h = hdul[1].header
        raw = hdul[1].data.view(np.ndarray).view(np.uint8).reshape(h["NAXIS2"], h["NAXIS1"])
        offset = 0
        for k in range(col):
            offset += afits.Column(format=h["TFORM%d" % (k + 1)].split("(")[0], name="x").dtype.itemsize
        return [int(b) for b in raw[:, offset]]


def parse_csv_like(text, sep):
    import csv

    if sep == ",":
        rows = list(csv.reader(io.StringIO(text, newline="")))
    else:
        rows = [l.split("\t") for l in text.split("\n") if l != ""]
    return rows[0], rows[1:]


def text_cell(rows, header, booleans=("true", "false")):
    def get(i, name):
        cell = rows[i][header.index(name)]
        t = TYPES[name]
        if cell == "":
            return (None if t not in ("text", "character") else ""), t not in ("text", "character")
        if t == "boolean":
            return cell == booleans[0], False
        if t.startswith("ARRAY"):
            return np.array([float(x) for x in cell.split()]) if cell else np.array([]), False
        return cell, False

    return get


@pytest.mark.parametrize("fmt,sep", [("csv", ","), ("text/csv;header=present", ","), ("tsv", "\t")])
def test_csv_tsv_values(fmt_server, ref_rows, fmt, sep):
    r = sync(fmt_server, fmt)
    assert r.status_code == 200
    text = r.content.decode("utf-8")
    header, rows = parse_csv_like(text, sep)
    assert header == NAMES
    assert len(rows) == len(ref_rows)
    skip = ("txt",) if sep == "\t" else ()  # TSV turns TAB/CR/LF into blanks (none here) and is unquoted
    names = [n for n in NAMES if n not in skip]
    problems = fmtcheck.compare(fmt, names, text_cell(rows, header), ref_rows_subset(ref_rows, names), TYPES, int_null=-2147483648)
    assert not problems, "\n".join(problems)


def ref_rows_subset(ref_rows, names):
    idx = [NAMES.index(n) for n in names]
    return [[row[j] for j in idx] for row in ref_rows]


def test_ecsv_values(fmt_server, ref_rows):
    r = sync(fmt_server, "ecsv")
    assert r.status_code == 200
    table = Table.read(r.content.decode("utf-8"), format="ascii.ecsv")
    assert str(table["ra"].unit) == "deg"
    assert table["i8"].dtype == np.int64 and table["f4"].dtype == np.float32 and table["b"].dtype == bool
    problems = fmtcheck.compare("ecsv", NAMES, fmtcheck.astropy_cell(table), ref_rows, TYPES, strip=True)
    assert not problems, "\n".join(problems)


def test_json_values(fmt_server, ref_rows):
    r = sync(fmt_server, "json")
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/json"
    doc = json.loads(r.content)
    meta = doc["metadata"]
    assert [m["name"] for m in meta] == NAMES
    assert set(meta[0]) == {"name", "datatype", "arraysize", "xtype", "unit", "ucd", "utype", "description"}
    assert doc["query_status"] == "OK"
    data = doc["data"]

    def get(i, name):
        v = data[i][NAMES.index(name)]
        if isinstance(v, list):
            return np.ma.MaskedArray([np.nan if x is None else x for x in v], mask=[x is None for x in v]), False
        return v, v is None

    # JSON has no NaN or infinities: they are null
    problems = []
    for p in fmtcheck.compare("json", NAMES, get, ref_rows, TYPES):
        if "NaN" in p or "Infinity" in p:
            continue
        problems.append(p)
    assert not problems, "\n".join(problems)


class _Cells(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.rows, self.cur, self.cell = [], None, None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.cur = []
        elif tag in ("td", "th"):
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cur is not None:
            self.cur.append(self.cell)
            self.cell = None
        elif tag == "tr":
            self.rows.append(self.cur)

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


def test_text_and_html(fmt_server, ref_rows):
    r = sync(fmt_server, "text")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    lines = r.content.decode("utf-8").split("\n")
    assert lines[0].split()[:3] == ["id", "b", "i2"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert len([l for l in lines[2:] if l]) == len(ref_rows)
    assert "日本語" in r.content.decode("utf-8")
    r = sync(fmt_server, "html")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/html")
    p = _Cells()
    p.feed(r.content.decode("utf-8"))
    assert len(p.rows) == len(ref_rows) + 1
    assert p.rows[0][0] == "id"
    assert p.rows[1 + 2][NAMES.index("txt")] == "<&>\"' tag"


@pytest.mark.parametrize("fmt", ["votable", "votable/td", "fits", "csv", "tsv", "ecsv", "json", "text", "html"])
def test_zero_and_one_row(fmt_server, ref_rows, fmt, workdir):
    for where, n in (("id < 0", 0), ("id = 1", 1)):
        r = sync(fmt_server, fmt, query="SELECT * FROM fmtx.alltypes WHERE %s" % where)
        assert r.status_code == 200, r.text[:300]
        if fmt.startswith("votable"):
            table, _ = votable_table(r.content)
            assert len(table) == n
        elif fmt == "fits":
            path = write_tmp(workdir, "fmt-%d.fits" % n, r.content)
            rc, out = tsit.run_tool(["fitsverify", path], timeout=60)
            assert "0 warning(s) and 0 error(s)" in out, out
            assert len(Table.read(path)) == n
        elif fmt == "ecsv":
            assert len(Table.read(r.content.decode(), format="ascii.ecsv")) == n
        elif fmt == "json":
            assert len(json.loads(r.content)["data"]) == n
        elif fmt in ("csv", "tsv"):
            assert len([l for l in r.content.decode().splitlines() if l]) == n + 1
        elif fmt == "text":
            assert len([l for l in r.content.decode().splitlines() if l]) == n + 2
        else:
            p = _Cells()
            p.feed(r.content.decode())
            assert len(p.rows) == n + 1


def test_overflow_everywhere(fmt_server, workdir):
    extra = {"MAXREC": "2"}
    r = sync(fmt_server, "votable/td", extra=extra)
    root = tsit.parse_xml(r.content)
    assert tsit.overflow_after_table(root)
    r = sync(fmt_server, "fits", extra=extra)
    path = write_tmp(workdir, "fmt-overflow.fits", r.content)
    with afits.open(path) as hdul:
        assert hdul[1].header["QSTATUS"] == "OVERFLOW" and hdul[1].header["NAXIS2"] == 2
    assert json.loads(sync(fmt_server, "json", extra=extra).content)["query_status"] == "OVERFLOW"
    assert "OVERFLOW" in sync(fmt_server, "text", extra=extra).text
    assert "truncated" in sync(fmt_server, "html", extra=extra).text
    assert len(sync(fmt_server, "csv", extra=extra).text.splitlines()) == 3


def test_all_formats_in_capabilities(fmt_server):
    caps = requests.get(fmt_server.base + "/capabilities", timeout=30).text
    for mime in (
        "application/x-votable+xml;serialization=BINARY2",
        "application/x-votable+xml;serialization=TABLEDATA",
        "application/fits",
        "text/csv;header=present",
        "text/tab-separated-values",
        "text/x-ecsv",
        "application/json",
        "text/plain",
        "text/html",
        "application/gzip",
    ):
        assert mime in caps, mime


@pytest.mark.parametrize("coding", ["gzip", "zstd"])
def test_content_encoding(fmt_server, coding, workdir):
    q = "SELECT * FROM demo.sources"
    plain = sync(fmt_server, "csv", query=q, extra={"MAXREC": "20000"}).content
    r = sync(fmt_server, "csv", query=q, extra={"MAXREC": "20000"}, headers={"Accept-Encoding": coding}, stream=True)
    assert r.headers.get("Content-Encoding") == coding
    raw = r.raw.read(decode_content=False)
    if coding == "gzip":
        body = gzip.decompress(raw)
    else:
        path = write_tmp(workdir, "enc.zst", raw)
        body = subprocess.run(["zstd", "-d", "-c", path], stdout=subprocess.PIPE, check=True).stdout
    assert body == plain
    assert len(raw) < len(plain) * 0.6
    # q=0 refuses a coding
    r = sync(fmt_server, "csv", query="SELECT * FROM fmtx.alltypes", headers={"Accept-Encoding": "gzip;q=0"})
    assert "Content-Encoding" not in r.headers


def test_errors_mid_stream(fmt_server):
    # demo.sources has 50,000 rows: the division fails far beyond the first
    # output buffer, after streaming began.
    q = "SELECT source_id, ra, 1 / (flags - flags + CASE WHEN source_id > 45000 THEN 0 ELSE 1 END) AS x FROM demo.sources"
    r = sync(fmt_server, "votable/td", query=q, extra={"MAXREC": "100000"})
    assert r.status_code == 200
    root = tsit.parse_xml(r.content)  # one well-formed document
    infos = tsit.query_status_infos(root)
    assert [i[0] for i in infos] == ["OK", "ERROR"], infos
    assert r.content.count(b"<VOTABLE") == 1
    # CSV cannot say so: the transfer is broken (no terminating chunk)
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        sync(fmt_server, "csv", query=q, extra={"MAXREC": "100000"})
    # FITS spools: the failure is still a proper error document
    r = sync(fmt_server, "fits", query=q, extra={"MAXREC": "100000"})
    assert r.status_code >= 400 and b"QUERY_STATUS" in r.content


@pytest.mark.parametrize("fmt", ["votable", "votable/td", "votable/b", "fits", "ecsv", "json", "csv"])
def test_geometry(fmt_server, psql, fmt, workdir):
    """DALI geometry (point, circle) as double arrays with their xtype, with
    the exact coordinates PostgreSQL has."""
    q = ("SELECT TOP 5 source_id, POINT('ICRS', ra, dec) AS p, CIRCLE('ICRS', ra, dec, 0.5) AS c "
         "FROM demo.sources ORDER BY source_id")
    _, ref = psql.rows("SELECT source_id, ra, dec FROM demo.sources ORDER BY source_id LIMIT 5")
    r = sync(fmt_server, fmt, query=q)
    assert r.status_code == 200, r.text[:300]
    if fmt.startswith("votable"):
        table, vot = votable_table(r.content)
        xtypes = {f.name: f.xtype for f in vot.get_first_table().fields}
        assert xtypes["p"] == "point" and xtypes["c"] == "circle"
        rows = [(int(t["source_id"]), list(t["p"]), list(t["c"])) for t in table]
    elif fmt == "fits":
        path = write_tmp(workdir, "geo.fits", r.content)
        rc, out = tsit.run_tool(["fitsverify", path], timeout=60)
        assert "0 warning(s) and 0 error(s)" in out, out
        table = Table.read(path)
        rows = [(int(t["source_id"]), list(t["p"]), list(t["c"])) for t in table]
    elif fmt == "ecsv":
        table = Table.read(r.content.decode(), format="ascii.ecsv")
        assert table["p"].meta.get("xtype") == "point" and table["c"].meta.get("xtype") == "circle"
        rows = [(int(t["source_id"]), list(t["p"]), list(t["c"])) for t in table]
    elif fmt == "json":
        doc = json.loads(r.content)
        assert [m["xtype"] for m in doc["metadata"]] == [None, "point", "circle"]
        rows = [(d[0], d[1], d[2]) for d in doc["data"]]
    else:
        header, body = parse_csv_like(r.content.decode(), ",")
        rows = [(int(b[0]), [float(x) for x in b[1].split()], [float(x) for x in b[2].split()]) for b in body]
    assert len(rows) == len(ref)
    for (sid, p, c), (rsid, ra, dec) in zip(rows, ref):
        assert sid == int(rsid)
        assert [float(x) for x in p] == [float(ra), float(dec)]
        assert [float(x) for x in c] == [float(ra), float(dec), 0.5]
