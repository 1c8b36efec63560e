"""Query results read by real clients (pyvo, astropy, csv) must hold exactly
the values PostgreSQL holds: doubles bit for bit, reals as float32, text
with non-ASCII characters, NULLs as masked values / empty fields."""

import datetime
import io
import warnings

import numpy as np
import pytest
import pyvo
from astropy.io import votable

import tsit

ROWS = 2000
ALL_QUERY = "SELECT TOP %d * FROM demo.sources ORDER BY source_id" % ROWS
PG_ALL = "SELECT * FROM demo.sources ORDER BY source_id LIMIT %d" % ROWS

PYVO_COLS = ["source_id", "ra", "dec", "parallax", "phot_g_mean_mag", "phot_bp_mean_mag", "phot_rp_mean_mag", "name", "flags"]


@pytest.fixture(scope="module")
def reference(psql, sources_types):
    """The first 2000 rows of demo.sources as PostgreSQL holds them. The
    comparison is only meaningful when they contain NULLs and non-ASCII
    names, so that is checked here."""
    names, rows = psql.rows(PG_ALL)
    assert names == list(sources_types), "column order differs from information_schema"
    assert len(rows) == ROWS
    nulls = {n for j, n in enumerate(names) if any(r[j] is None for r in rows)}
    assert "parallax" in nulls, "no NULL parallax in the first %d rows: the demo data lost its NULLs" % ROWS
    assert any(r[names.index("name")] and any(ord(ch) > 127 for ch in r[names.index("name")]) for r in rows), (
        "no non-ASCII name in the first %d rows" % ROWS
    )
    return names, rows


def parse_votable(data):
    # Schema validity is xsdcheck's job (test_conformance); here astropy
    # reads the document the way users do.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        vt = votable.parse(io.BytesIO(data))
    return vt.get_first_table()


def serialization_of(data):
    root = tsit.parse_xml(data)
    for name in ("TABLEDATA", "BINARY2", "BINARY", "FITS"):
        if tsit.find_all_local(root, name):
            return name
    return None


def test_pyvo_run_sync_top10(server, psql, sources_types):
    svc = pyvo.dal.TAPService(server.base)
    cols = ", ".join(PYVO_COLS)
    # Plain first rows, then rows chosen to carry NULLs in every nullable
    # column so that masked values are really exercised.
    for where, pgwhere in (
        ("", ""),
        (" WHERE parallax IS NULL OR phot_bp_mean_mag IS NULL OR phot_rp_mean_mag IS NULL",
         " WHERE parallax IS NULL OR phot_bp_mean_mag IS NULL OR phot_rp_mean_mag IS NULL"),
    ):
        result = svc.run_sync("SELECT TOP 10 %s FROM demo.sources%s ORDER BY source_id" % (cols, where))
        table = result.to_table()
        names, ref = psql.rows("SELECT %s FROM demo.sources%s ORDER BY source_id LIMIT 10" % (cols, pgwhere))
        assert len(ref) == 10
        if where:
            assert any(v is None for r in ref for v in r), "reference rows hold no NULL"
        problems = tsit.compare_astropy_table(table, names, ref, sources_types, "pyvo" + where)
        assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "fmt,serialization",
    [("votable/td", "TABLEDATA"), ("votable/b2", "BINARY2"), ("votable", "BINARY2")],
)
def test_all_columns_2000_rows_votable(server, reference, sources_types, fmt, serialization):
    names, ref = reference
    r = server.sync({"LANG": "ADQL", "REQUEST": "doQuery", "QUERY": ALL_QUERY, "RESPONSEFORMAT": fmt})
    assert r.status_code == 200, r.text[:2000]
    assert r.headers.get("Content-Type", "").startswith(("application/x-votable+xml", "text/xml", "application/xml"))
    assert serialization_of(r.content) == serialization
    table = parse_votable(r.content).to_table()
    assert list(table.colnames) == names
    problems = tsit.compare_astropy_table(table, names, ref, sources_types, fmt)
    assert not problems, "\n".join(problems)


def test_all_columns_2000_rows_csv(server, reference, sources_types):
    names, ref = reference
    r = server.sync({"LANG": "ADQL", "QUERY": ALL_QUERY, "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200, r.text[:2000]
    assert r.headers.get("Content-Type", "").startswith("text/csv")
    header, rows = tsit.read_csv(r.content.decode("utf-8"))
    problems = tsit.compare_text_table(header, rows, names, ref, sources_types, "csv")
    assert not problems, "\n".join(problems)


def test_all_columns_2000_rows_tsv(server, reference, sources_types):
    names, ref = reference
    r = server.sync({"LANG": "ADQL", "QUERY": ALL_QUERY, "FORMAT": "tsv"})
    assert r.status_code == 200, r.text[:2000]
    assert r.headers.get("Content-Type", "").startswith("text/tab-separated-values")
    header, rows = tsit.read_tsv(r.content.decode("utf-8"))
    problems = tsit.compare_text_table(header, rows, names, ref, sources_types, "tsv")
    assert not problems, "\n".join(problems)


def test_csv_read_back_with_astropy(server, psql, sources_types):
    # astropy.io.ascii is what astronomers use on a CSV result: it must
    # read it with the right number of rows and exact doubles.
    from astropy.io import ascii as asc

    q = "SELECT TOP 500 source_id, ra, dec, pmra FROM demo.sources ORDER BY source_id"
    r = server.sync({"LANG": "ADQL", "QUERY": q, "RESPONSEFORMAT": "text/csv"})
    assert r.status_code == 200, r.text[:2000]
    table = asc.read(r.content.decode("utf-8"), format="csv")
    names, ref = psql.rows("SELECT source_id, ra, dec, pmra FROM demo.sources ORDER BY source_id LIMIT 500")
    problems = tsit.compare_astropy_table(table, names, ref, sources_types, "astropy csv")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    "value,serialization,mime",
    [
        ("votable", "BINARY2", "application/x-votable+xml"),
        ("VOTABLE/TD", "TABLEDATA", "application/x-votable+xml"),
        ("votable_plain", "TABLEDATA", "application/x-votable+xml"),
        ("application/x-votable+xml;serialization=TABLEDATA", "TABLEDATA", "application/x-votable+xml"),
        ("application/x-votable+xml;serialization=BINARY2", "BINARY2", "application/x-votable+xml"),
        # the bare MIME type leaves the serialization to the service
        ("application/x-votable+xml", "ANY", "application/x-votable+xml"),
        ("text/xml", None, ""),
        ("csv", None, "text/csv"),
        ("text/csv", None, "text/csv"),
        ("tsv", None, "text/tab-separated-values"),
        ("text/tab-separated-values", None, "text/tab-separated-values"),
    ],
)
def test_format_names(server, value, serialization, mime):
    q = "SELECT TOP 3 source_id, ra FROM demo.sources ORDER BY source_id"
    r = server.sync({"LANG": "ADQL", "QUERY": q, "RESPONSEFORMAT": value})
    assert r.status_code == 200, "RESPONSEFORMAT=%s: HTTP %d %s" % (value, r.status_code, r.text[:500])
    ctype = r.headers.get("Content-Type", "")
    if mime:
        assert ctype.startswith(mime), "RESPONSEFORMAT=%s gave Content-Type %s" % (value, ctype)
    if value == "text/xml":
        assert "xml" in ctype
        table = parse_votable(r.content)
        assert len(table.array) == 3
        return
    if serialization:
        got = serialization_of(r.content)
        assert got == serialization or (serialization == "ANY" and got), got
        assert len(parse_votable(r.content).array) == 3
    else:
        text = r.content.decode("utf-8")
        lines = [line for line in text.replace("\r\n", "\n").split("\n") if line]
        assert len(lines) == 4, "header + 3 rows expected, got %r" % text


def test_post_form_and_case_insensitive_params(server, psql):
    q = "SELECT TOP 5 source_id FROM demo.sources ORDER BY source_id"
    r = server.sync({"lang": "adql", "request": "doQuery", "query": q, "responseformat": "csv"}, method="POST")
    assert r.status_code == 200, r.text[:1000]
    header, rows = tsit.read_csv(r.content.decode("utf-8"))
    _, ref = psql.rows("SELECT source_id FROM demo.sources ORDER BY source_id LIMIT 5")
    assert header == ["source_id"]
    assert rows == ref


def test_fields_table_all_rows(server, psql):
    # The second demo table, including its timestamp column (DALI
    # timestamp: ISO 8601 with a T).
    r = server.sync({"LANG": "ADQL", "QUERY": "SELECT * FROM demo.fields ORDER BY field_id", "RESPONSEFORMAT": "votable/td"})
    assert r.status_code == 200, r.text[:1000]
    table = parse_votable(r.content)
    names, ref = psql.rows("SELECT * FROM demo.fields ORDER BY field_id")
    types = psql.column_types("demo", "fields")
    assert list(table.array.dtype.names) == names
    assert len(table.array) == len(ref) and len(ref) > 0
    for i, row in enumerate(ref):
        for j, name in enumerate(names):
            got = table.array[name][i]
            masked = bool(np.ma.getmaskarray(table.array[name])[i])
            if types[name].startswith("timestamp"):
                assert not masked and row[j] is not None
                field = [f for f in table.fields if f.name == name][0]
                assert field.xtype == "timestamp", "timestamp column %s has xtype %r" % (name, field.xtype)
                got_dt = datetime.datetime.fromisoformat(str(got).rstrip("Z"))
                assert got_dt == datetime.datetime.fromisoformat(row[j]), (name, got, row[j])
            else:
                assert tsit.value_matches(got, masked, tsit.pg_value(row[j], types[name]), types[name]), (
                    "row %d %s: %r vs %r" % (i, name, got, row[j])
                )


def test_tap_schema_tables(server):
    r = server.sync({"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_SCHEMA.tables", "RESPONSEFORMAT": "votable/td"})
    assert r.status_code == 200, r.text[:1000]
    table = parse_votable(r.content)
    names = [str(v) for v in table.array["table_name"]]
    assert "demo.sources" in names and "demo.fields" in names, names


def test_tap_schema_columns_of_sources(server, sources_types):
    q = "SELECT table_name, column_name, arraysize FROM TAP_SCHEMA.columns WHERE table_name='demo.sources'"
    r = server.sync({"LANG": "ADQL", "QUERY": q, "RESPONSEFORMAT": "votable/td"})
    assert r.status_code == 200, r.text[:1000]
    table = parse_votable(r.content)
    assert sorted(str(v) for v in table.array["column_name"]) == sorted(sources_types)
    assert {str(v) for v in table.array["table_name"]} == {"demo.sources"}
    # TAP 1.1: arraysize is a string column (e.g. "*" for text)
    field = [f for f in table.fields if f.name == "arraysize"][0]
    assert field.datatype in ("char", "unicodeChar"), field.datatype
    sizes = {str(c): (None if np.ma.getmaskarray(table.array["arraysize"])[i] else str(table.array["arraysize"][i]))
             for i, c in enumerate(table.array["column_name"])}
    assert sizes["name"] == "*", sizes


def test_whole_table_streams(server, psql):
    # All 50 000 rows in one streamed (chunked) response, nothing lost or
    # duplicated, no overflow below the default MAXREC.
    r = server.sync({"LANG": "ADQL", "QUERY": "SELECT source_id, name FROM demo.sources ORDER BY source_id", "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200
    assert "chunked" in r.headers.get("Transfer-Encoding", ""), r.headers
    header, rows = tsit.read_csv(r.content.decode("utf-8"))
    _, ref = psql.rows("SELECT source_id, name FROM demo.sources ORDER BY source_id")
    assert len(rows) == len(ref) == int(psql.scalar("SELECT count(*) FROM demo.sources"))
    assert rows == ref


def test_whole_table_binary2_no_overflow(server, psql):
    r = server.sync({"LANG": "ADQL", "QUERY": "SELECT source_id, ra, parallax FROM demo.sources", "RESPONSEFORMAT": "votable/b2"})
    assert r.status_code == 200
    root = tsit.parse_xml(r.content)
    assert "OVERFLOW" not in [v for v, _, _, _ in tsit.query_status_infos(root)]
    table = parse_votable(r.content).array
    n = int(psql.scalar("SELECT count(*) FROM demo.sources"))
    assert len(table) == n
    assert sorted(int(v) for v in table["source_id"]) == [int(x) for x in psql.run("SELECT source_id FROM demo.sources ORDER BY 1").split()]
    assert int(np.ma.getmaskarray(table["parallax"]).sum()) == int(psql.scalar("SELECT count(*) FROM demo.sources WHERE parallax IS NULL"))
