"""tapserve publish / unpublish / tableset against the suite's cluster.

Tables are made here (the benchmark generator with 10,000 rows, a table
with one column of every type tapserve streams), published with the real
command, and then looked at the way clients do: a freshly started server's
/tables, TAP_SCHEMA queries and ADQL queries through pyvo/astropy. Every
hostile tableset must leave TAP_SCHEMA exactly as it was (checksums of all
five tables before and after)."""

import io
import os
import subprocess
import warnings

import pytest
import pyvo
import requests
from astropy.io import votable

import tsit

TS_TABLES = ("schemas", "tables", "columns", "keys", "key_columns")
BENCH_ROWS = 10000

# One column of every PostgreSQL type tapserve streams, and the VOTable
# type each must be published as: (column, SQL type, value, datatype,
# arraysize, xtype).
TYPES = [
    ("c_bool", "boolean", "true", "boolean", None, None),
    ("c_int2", "smallint", "7", "short", None, None),
    ("c_int4", "integer", "70000", "int", None, None),
    ("c_int8", "bigint", "7000000000", "long", None, None),
    ("c_float4", "real", "1.5", "float", None, None),
    ("c_float8", "double precision", "2.25", "double", None, None),
    ("c_numeric", "numeric(10,3)", "3.125", "double", None, None),
    ("c_text", "text", "'plain'", "char", "*", None),
    ("c_varchar", "varchar(12)", "'twelve'", "char", "12*", None),
    ("c_bpchar", "char(5)", "'five'", "char", "5", None),
    ("c_utf8", "text", "'Étoile ★'", "unicodeChar", "*", None),
    ("c_ts", "timestamp", "'2020-01-02 03:04:05'", "char", "*", "timestamp"),
    ("c_tstz", "timestamptz", "'2020-01-02 03:04:05+00'", "char", "*", "timestamp"),
    ("c_date", "date", "'2020-01-02'", "char", "*", "timestamp"),
    ("c_abool", "boolean[]", "'{t,f}'", "boolean", "*", None),
    ("c_aint2", "smallint[]", "'{1,2}'", "short", "*", None),
    ("c_aint4", "integer[]", "'{1,2}'", "int", "*", None),
    ("c_aint8", "bigint[]", "'{1,2}'", "long", "*", None),
    ("c_afloat4", "real[]", "'{1.5,2}'", "float", "*", None),
    ("c_afloat8", "double precision[]", "'{1.5,2}'", "double", "*", None),
    ("c_anumeric", "numeric[]", "'{1.5,2}'", "double", "*", None),
    ("c_atext", "text[]", "'{a,b}'", "char", "*", None),
    ("c_avarchar", "varchar[]", "'{a,b}'", "char", "*", None),
    ("c_ats", "timestamp[]", "'{2020-01-02 03:04:05}'", "char", "*", None),
    ("c_adate", "date[]", "'{2020-01-02}'", "char", "*", None),
]


def tapserve(*args, timeout=600):
    p = subprocess.run(
        [str(tsit.tapserve_bin())] + list(args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=timeout,
        check=False,
    )
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def checksums(psql):
    """md5 of every row of the five TAP_SCHEMA tables, per table."""
    return {
        t: psql.scalar("SELECT md5(coalesce(string_agg(x::text, '|' ORDER BY x::text), '')) FROM tap_schema.%s x" % t)
        for t in TS_TABLES
    }


def ts_rows(psql):
    """Every TAP_SCHEMA row as text, as a set of (table, row)."""
    rows = set()
    for t in TS_TABLES:
        for line in psql.run("SELECT x::text FROM tap_schema.%s x" % t).splitlines():
            rows.add((t, line))
    return rows


@pytest.fixture(scope="module")
def config(cluster, workdir):
    """A serve configuration naming the demo's query role in query_dsn."""
    path = "%s/publish.ini" % workdir
    dsn = cluster["dsn"]
    with open(path, "w") as f:
        f.write("[database]\ndsn = %s\nquery_dsn = %s user=tapserve_query\n" % (dsn, dsn))
    return path


@pytest.fixture(scope="module")
def bench_table(psql, cluster):
    """bench.sources with 10,000 rows, made by the benchmark generator."""
    gen = tsit.need_shared(tsit.SHARED / "bench" / "gen_sources.sql")
    p = subprocess.run(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-v", "nrows=%d" % BENCH_ROWS, "-d", cluster["dsn"], "-f", str(gen)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=300,
        check=False,
    )
    assert p.returncode == 0, p.stderr.decode(errors="replace")
    psql.run("COMMENT ON COLUMN bench.sources.phot_g_mean_mag IS 'G magnitude'")
    return "bench.sources"


@pytest.fixture(scope="module")
def published_bench(bench_table, config):
    rc, out, err = tapserve("publish", "-c", config, bench_table)
    assert rc == 0, out + err
    return out


def fresh_server(start_server, name):
    """A server started now, so it reads TAP_SCHEMA as it is now."""
    return start_server({"tap.title": "publish test %s" % name})


def parse_votable(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return votable.parse(io.BytesIO(data)).get_first_table()


def test_publish_bench_table(published_bench, psql, start_server, cluster):
    out = published_bench
    assert "published bench.sources (table, 10 columns)" in out
    assert "granted SELECT on 1 table to tapserve_query" in out
    # positions found through the pgSphere index, with UCDs and unit
    _, rows = psql.rows(
        "SELECT column_name, datatype, arraysize, unit, ucd, indexed, principal, description, column_index"
        " FROM tap_schema.columns WHERE table_name = 'bench.sources' ORDER BY column_index"
    )
    cols = {r[0]: r for r in rows}
    assert [r[0] for r in rows] == [
        "source_id", "ra", "dec", "parallax", "pmra", "pmdec", "phot_g_mean_mag", "bp_rp", "flags", "name",
    ]
    assert cols["ra"][3:7] == ["deg", "pos.eq.ra;meta.main", "1", "1"]
    assert cols["dec"][3:7] == ["deg", "pos.eq.dec;meta.main", "1", "1"]
    assert cols["source_id"][5:7] == ["1", "1"]  # primary key: indexed, principal
    assert cols["phot_g_mean_mag"][6:8] == ["1", "G magnitude"]  # a comment: principal
    assert cols["parallax"][5:7] == ["0", "0"]
    assert cols["flags"][1] == "short" and cols["name"][1:3] == ["char", "*"]

    srv = fresh_server(start_server, "bench")
    r = requests.get(srv.base + "/tables/bench.sources", timeout=30)
    assert r.status_code == 200, r.text
    assert "<name>phot_g_mean_mag</name>" in r.text
    r = srv.sync({"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "csv",
                  "QUERY": "SELECT column_name FROM TAP_SCHEMA.columns WHERE table_name = 'bench.sources'"})
    assert r.status_code == 200 and "pmdec" in r.text, r.text

    # Queries run as the query role: the GRANT made them possible.
    qsrv = start_server({"database.query_dsn": "%s user=tapserve_query" % cluster["dsn"]})
    svc = pyvo.dal.TAPService(qsrv.base)
    t = svc.run_sync(
        "SELECT COUNT(*) AS n FROM bench.sources WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 0, 0, 30))"
    ).to_table()
    n = int(psql.scalar(
        "SELECT count(*) FROM bench.sources WHERE spoint(radians(ra), radians(dec)) <@ scircle(spoint(0, 0), radians(30))"
    ))
    assert n > 0 and int(t["n"][0]) == n


def test_every_type_agrees_with_sync(psql, config, start_server):
    cols = ", ".join("%s %s" % (c[0], c[1]) for c in TYPES)
    vals = ", ".join(c[2] for c in TYPES)
    psql.run(
        "DROP SCHEMA IF EXISTS pubtypes CASCADE; CREATE SCHEMA pubtypes;"
        " CREATE TABLE pubtypes.every (id integer PRIMARY KEY, %s);"
        " INSERT INTO pubtypes.every VALUES (1, %s), (2, %s)" % (cols, vals, vals)
    )
    rc, out, err = tapserve("publish", "-c", config, "pubtypes.every")
    assert rc == 0, out + err
    assert "unicodeChar: the column holds non-ASCII text" in out
    _, rows = psql.rows(
        "SELECT column_name, datatype, arraysize, xtype, \"size\" FROM tap_schema.columns"
        " WHERE table_name = 'pubtypes.every'"
    )
    # "size" agrees with a fixed or bounded arraysize (taplint TSSZ)
    sizes = {r[0]: r[4] for r in rows}
    assert sizes["c_varchar"] == "12" and sizes["c_bpchar"] == "5" and sizes["c_text"] is None
    published = {r[0]: tuple(r[1:4]) for r in rows}
    for name, _, _, dt, asz, xt in TYPES:
        assert published[name] == (dt, asz, xt), name

    srv = fresh_server(start_server, "types")
    # The FIELDs are the same in every serialisation. A bounded string
    # ("12*" in TAP_SCHEMA) is written arraysize="*" there, which every
    # astropy reads right; the bound stays in TAP_SCHEMA and /tables.
    r = srv.sync({"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "votable/td",
                  "QUERY": "SELECT * FROM pubtypes.every ORDER BY id"})
    assert r.status_code == 200, r.text
    table = parse_votable(r.content)
    assert len(table.array) == 2
    fields = {f.name: f for f in table.fields}
    # arraysize is compared as written in the FIELD element too.
    raw = {e.get("name"): e for e in tsit.find_all_local(tsit.parse_xml(r.content), "FIELD")}
    for name, (dt, asz, xt) in published.items():
        f = fields[name]
        assert f.datatype == dt, (name, f.datatype, dt)
        assert (f.xtype or None) == xt, (name, f.xtype, xt)
        want = "*" if asz and asz.endswith("*") else asz
        assert (f.arraysize or None) == want, (name, f.arraysize, asz)
        assert (raw[name].get("datatype"), raw[name].get("arraysize"), raw[name].get("xtype")) == (dt, want, xt), name


def test_unsupported_type(psql, config):
    psql.run(
        "DROP SCHEMA IF EXISTS pubodd CASCADE; CREATE SCHEMA pubodd;"
        " CREATE TABLE pubodd.t (id integer, blob bytea, u uuid)"
    )
    before = checksums(psql)
    rc, out, err = tapserve("publish", "-c", config, "pubodd.t")
    assert rc != 0
    assert "column blob of pubodd.t: its PostgreSQL type bytea is not one tapserve can stream" in err
    assert checksums(psql) == before
    rc, out, err = tapserve("publish", "-c", config, "--skip-unsupported", "pubodd.t")
    assert rc == 0, out + err
    assert "skipped: tapserve cannot stream this type" in out
    _, rows = psql.rows("SELECT column_name FROM tap_schema.columns WHERE table_name = 'pubodd.t'")
    assert rows == [["id"]]
    rc, out, err = tapserve("unpublish", "-c", config, "pubodd.t")
    assert rc == 0, out + err


def test_tableset_round_trip(published_bench, psql, config, cluster, workdir, start_server):
    # NULLs where TAP_SCHEMA allows them must come back as NULLs.
    psql.run(
        "UPDATE tap_schema.tables SET table_index = NULL WHERE table_name = 'bench.sources';"
        " UPDATE tap_schema.columns SET column_index = NULL, \"size\" = 4"
        " WHERE table_name = 'bench.sources' AND column_name = 'flags'"
    )
    path = "%s/bench-tableset.xml" % workdir
    rc, out, err = tapserve("tableset", "--dsn", cluster["dsn"], "-o", path, "bench")
    assert rc == 0, err
    rc, report = tsit.run_tool(["bash", str(tsit.XSDCHECK), path], timeout=120)
    assert rc == 0, report
    text = open(path, encoding="utf-8").read()
    assert text.count("<description>G magnitude</description>") == 1

    # Publishing the file unchanged changes nothing at all.
    before = ts_rows(psql)
    rc, out, err = tapserve("publish", "-c", config, "--tableset", path)
    assert rc == 0, out + err
    assert ts_rows(psql) == before

    # One description edited: exactly that row changes, in that field.
    edited = "%s/bench-tableset-edited.xml" % workdir
    with open(edited, "w", encoding="utf-8") as f:
        f.write(text.replace("<description>G magnitude</description>",
                             "<description>G magnitude (edited)</description>"))
    rc, out, err = tapserve("publish", "--dsn", cluster["dsn"], "--tableset", edited)
    assert rc == 0, out + err
    after = ts_rows(psql)
    gone, new = before - after, after - before
    assert len(gone) == 1 and len(new) == 1, (gone, new)
    (t0, old_row), (t1, new_row) = gone.pop(), new.pop()
    assert t0 == t1 == "columns"
    assert old_row.replace("G magnitude", "G magnitude (edited)") == new_row

    srv = fresh_server(start_server, "roundtrip")
    r = requests.get(srv.base + "/tables/bench.sources", timeout=30)
    assert "G magnitude (edited)" in r.text

    # Back as it was, for the other tests.
    rc, out, err = tapserve("publish", "-c", config, "--tableset", path)
    assert rc == 0, out + err
    assert ts_rows(psql) == before


def hostile_files(text):
    """(name, content, text the message must contain) of each hostile file,
    made from a valid tableset."""
    big = text.encode().replace(b"</vosi:tableset>", b"<!--" + b" " * (100 << 20) + b"-->\n</vosi:tableset>")
    return [
        ("not_xml", b"this is not a tableset\n", "not_xml.xml:1: not well-formed XML"),
        ("wrong_ns", text.replace("http://www.ivoa.net/xml/VOSITables/v1.0", "urn:not-vosi").encode(),
         "is not a tableset"),
        ("huge", big, "larger than the 64 MiB a tableset may have"),
        ("unknown_table", text.replace("<name>bench.sources</name>", "<name>bench.nosuch</name>").encode(),
         "<table> bench.nosuch: there is no table or view bench.nosuch in the database"),
        ("unknown_column", text.replace("<name>pmdec</name>", "<name>nosuch</name>", 1).encode(),
         "<column> nosuch: table bench.sources has no such column"),
        ("type_mismatch", text.replace(
            '<dataType xsi:type="vs:VOTableType">long</dataType>',
            '<dataType xsi:type="vs:VOTableType">int</dataType>', 1).encode(),
         "<column> source_id of bench.sources: declared int, but its PostgreSQL type bigint is delivered as long"),
        ("bad_fk", text.replace("</table>", "<foreignKey><targetTable>bench.nowhere</targetTable><fkColumn>"
                                "<fromColumn>source_id</fromColumn><targetColumn>id</targetColumn></fkColumn>"
                                "</foreignKey></table>", 1).encode(),
         "<foreignKey> of bench.sources: target table bench.nowhere is not published"),
        ("doctype", text.replace('<?xml version="1.0" encoding="UTF-8"?>',
                                 '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>').encode(),
         "a DOCTYPE is not allowed"),
    ]


def test_hostile_tablesets_leave_tap_schema_alone(published_bench, psql, config, workdir, cluster):
    rc, text, err = tapserve("tableset", "-c", config, "bench")
    assert rc == 0, err
    for name, content, want in hostile_files(text):
        path = "%s/%s.xml" % (workdir, name)
        with open(path, "wb") as f:
            f.write(content)
        before = checksums(psql)
        rc, out, err = tapserve("publish", "-c", config, "--tableset", path)
        assert rc == 1, (name, out, err)
        assert want in err, (name, err)
        assert "nothing was published (TAP_SCHEMA is unchanged)" in err, (name, err)
        assert checksums(psql) == before, name
        assert out == "", (name, out)
        os.unlink(path)


def test_unpublish(psql, config, cluster, start_server, bench_table):
    psql.run(
        "DROP TABLE IF EXISTS bench.pub_child; DROP TABLE IF EXISTS bench.pub_parent;"
        " CREATE TABLE bench.pub_parent (id integer PRIMARY KEY, label text);"
        " CREATE TABLE bench.pub_child (id integer PRIMARY KEY, parent integer REFERENCES bench.pub_parent(id));"
        " INSERT INTO bench.pub_parent VALUES (1, 'one'); INSERT INTO bench.pub_child VALUES (10, 1)"
    )
    rc, out, err = tapserve("publish", "--dsn", cluster["dsn"], "--grant", "tapserve_query",
                            "bench.pub_parent", "bench.pub_child")
    assert rc == 0, out + err
    assert "foreign key bench.pub_child.pub_child_parent_fkey -> bench.pub_parent" in out
    assert psql.scalar("SELECT has_table_privilege('tapserve_query', 'bench.pub_child', 'SELECT')") == "t"
    assert psql.scalar("SELECT count(*) FROM tap_schema.keys WHERE target_table = 'bench.pub_parent'") == "1"

    rc, out, err = tapserve("unpublish", "-c", config, "--revoke", "bench.pub_parent")
    assert rc == 0, out + err
    assert "unpublished bench.pub_parent; revoked SELECT from tapserve_query" in out
    assert psql.scalar("SELECT count(*) FROM tap_schema.tables WHERE table_name = 'bench.pub_parent'") == "0"
    assert psql.scalar("SELECT count(*) FROM tap_schema.columns WHERE table_name = 'bench.pub_parent'") == "0"
    assert psql.scalar("SELECT count(*) FROM tap_schema.keys WHERE target_table = 'bench.pub_parent'") == "0"
    assert psql.scalar("SELECT has_table_privilege('tapserve_query', 'bench.pub_parent', 'SELECT')") == "f"
    assert psql.scalar("SELECT count(*) FROM bench.pub_parent") == "1"  # the data stays

    # Without --revoke the grant stays; an unknown table changes nothing.
    rc, out, err = tapserve("unpublish", "--dsn", cluster["dsn"], "bench.pub_child")
    assert rc == 0, out + err
    assert psql.scalar("SELECT has_table_privilege('tapserve_query', 'bench.pub_child', 'SELECT')") == "t"
    before = checksums(psql)
    rc, out, err = tapserve("unpublish", "-c", config, "bench.pub_child")
    assert rc == 1 and "bench.pub_child is not published" in err
    assert checksums(psql) == before

    srv = fresh_server(start_server, "unpublish")
    assert requests.get(srv.base + "/tables/bench.pub_child", timeout=30).status_code == 404


def test_options(cluster, config, psql):
    rc, out, err = tapserve("publish", "bench.sources")
    assert rc == 1 and "-c FILE" in err and "--dsn" in err
    rc, out, err = tapserve("publish", "-c", config, "--dsn", cluster["dsn"], "bench.sources")
    assert rc == 1 and "not both" in err
    rc, out, err = tapserve("publish", "--dsn", cluster["dsn"], "nosuch.table")
    assert rc == 1 and "there is no table or view nosuch.table" in err
    rc, out, err = tapserve("publish", "--dsn", cluster["dsn"], "--grant", "tapserve_query", "pubtypes.*")
    assert rc == 0 and "granted SELECT on 1 table to tapserve_query" in out, out + err
    forget_query_roles(psql)
    rc, out, err = tapserve("publish", "--dsn", cluster["dsn"], "pubtypes.every")
    assert rc == 0 and "nothing was granted" in out, out + err
    # operands may stand before, between and after the options
    rc, out, err = tapserve("publish", "pubtypes.every", "--grant", "tapserve_query", "--dsn", cluster["dsn"])
    assert rc == 0 and "granted SELECT on 1 table to tapserve_query" in out, out + err
    for cmd in ("publish", "unpublish", "tableset"):
        rc, out, err = tapserve(cmd, "--help")
        assert rc == 0 and out, cmd
        rc, out, err = tapserve(cmd, "--dsn", cluster["dsn"], "--nosuch")
        assert rc == 2 and "unexpected option --nosuch" in err, cmd + err


def forget_query_roles(psql):
    psql.run("DO $$ BEGIN IF to_regclass('tapserve.query_roles') IS NOT NULL THEN"
             " DELETE FROM tapserve.query_roles; END IF; END $$")


def test_grant_to_recorded_query_role(psql, cluster, workdir):
    """Given only a DSN, publish grants to the query role that the
    instances serving the database recorded at their start."""
    psql.run("DROP SCHEMA IF EXISTS pubrole CASCADE; CREATE SCHEMA pubrole;"
             " CREATE TABLE pubrole.t AS SELECT g AS id FROM generate_series(1, 5) g")
    forget_query_roles(psql)
    rc, out, err = tapserve("publish", "--dsn", cluster["dsn"], "pubrole.t")
    assert rc == 0 and "nothing was granted" in out, out + err
    srv = tsit.Server(workdir, "tapserve-queryrole", cluster["dsn"],
                      {"database.query_dsn": "%s user=tapserve_query" % cluster["dsn"]})
    try:
        q = {"LANG": "ADQL", "FORMAT": "csv", "QUERY": "SELECT COUNT(*) AS n FROM pubrole.t"}
        r = srv.sync(q)
        # the operator's fault, not the client's: 500
        assert r.status_code == 500 and "permission denied" in r.text, r.text
        assert psql.scalar("SELECT string_agg(role, ',') FROM tapserve.query_roles") == "tapserve_query"
        rc, out, err = tapserve("publish", "--dsn", cluster["dsn"], "pubrole.t")
        assert rc == 0 and "granted SELECT on 1 table to tapserve_query" in out, out + err
        r = srv.sync(q)
        assert r.status_code == 200 and r.text.split() == ["n", "5"], r.text
    finally:
        srv.stop()
        tapserve("unpublish", "--dsn", cluster["dsn"], "pubrole.t")
        psql.run("DROP SCHEMA pubrole CASCADE")
