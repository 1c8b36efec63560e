"""What real clients read: pyvo and astropy as Debian ships them (astropy
5.2) read every column of every published table back with equal values in
each VOTable serialisation; non-ASCII text reads back as written (astropy
and STILTS); /capabilities publishes the async job limits of [jobs]; the
DALI /examples document is valid for taplint and pyvo, and its queries
run."""

import datetime
import io
import os
import subprocess
import warnings
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import pyvo
import requests
from astropy.io import votable

import tsit

NS = {
    "vosi": "http://www.ivoa.net/xml/VOSICapabilities/v1.0",
    "tr": "http://www.ivoa.net/xml/TAPRegExt/v1.0",
    "xsi": "http://www.w3.org/2001/XMLSchema-instance",
}


def tap_capability(base):
    r = requests.get(base + "/capabilities", timeout=30)
    assert r.status_code == 200, r.text[:500]
    root = ET.fromstring(r.content)
    for cap in root.findall("capability"):
        if cap.get("standardID") == "ivo://ivoa.net/std/TAP":
            return root, cap
    raise AssertionError("no TAP capability in:\n" + r.text[:2000])


def time_limits(cap, tag):
    el = cap.find(tag)
    assert el is not None, "no <%s> in the TAP capability" % tag
    return {k: int(el.find(k).text) for k in ("default", "hard") if el.find(k) is not None}


# ---- /capabilities: async limits ------------------------------------------


def test_capabilities_publish_job_limits(start_server):
    srv = start_server(
        {
            "tap.sync_timeout": 77,
            "jobs.execution_duration": 1234,
            "jobs.execution_duration_max": 5678,
            "jobs.destruction": 2 * 86400,
            "jobs.destruction_max": 9 * 86400,
        }
    )
    _, cap = tap_capability(srv.base)
    assert time_limits(cap, "executionDuration") == {"default": 1234, "hard": 5678}
    assert time_limits(cap, "retentionPeriod") == {"default": 2 * 86400, "hard": 9 * 86400}
    # TAPRegExt order: retentionPeriod, executionDuration, outputLimit.
    tags = [c.tag for c in cap]
    assert tags.index("retentionPeriod") < tags.index("executionDuration") < tags.index("outputLimit")


def test_capabilities_unlimited_duration_has_no_hard_limit(start_server):
    srv = start_server({"jobs.execution_duration_max": 0})
    _, cap = tap_capability(srv.base)
    assert time_limits(cap, "executionDuration") == {"default": 3600}


# ---- every column of every published table, in every serialisation ---------

ROWS = 3000
SERIALISATIONS = [("votable/td", "TABLEDATA"), ("votable/b2", "BINARY2"), ("votable/b", "BINARY")]


def published_tables(psql):
    """[(published name, PostgreSQL schema, PostgreSQL table, [column names])]
    of every table TAP_SCHEMA publishes, columns in published order."""
    out = []
    _, tables = psql.rows("SELECT table_name FROM tap_schema.tables ORDER BY table_name")
    for (name,) in tables:
        schema, table = name.split(".", 1)
        _, cols = psql.rows(
            "SELECT column_name FROM tap_schema.columns WHERE table_name = '%s'"
            " ORDER BY column_index, column_name" % name
        )
        out.append((name, schema.lower(), table, [c.strip('"') for (c,) in cols]))
    return out


def read_votable(data):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return votable.parse(io.BytesIO(data)).get_first_table().to_table()


def cell_matches(got, masked, ref, pgtype):
    """A value astropy read against PostgreSQL's text for it."""
    if pgtype.startswith("timestamp"):
        if ref is None:
            return masked or got in ("", b"")
        got = got.decode() if isinstance(got, bytes) else str(got)
        return datetime.datetime.fromisoformat(got) == datetime.datetime.fromisoformat(ref)
    return tsit.value_matches(got, masked, tsit.pg_value(ref, pgtype), pgtype)


def compare(table, names, ref, types, what):
    """Mismatches between a table astropy read and PostgreSQL's rows."""
    if list(table.colnames) != names:
        return ["%s: columns %s, published %s" % (what, table.colnames, names)]
    if len(table) != len(ref):
        return ["%s: %d rows, PostgreSQL has %d" % (what, len(table), len(ref))]
    problems = []
    for j, name in enumerate(names):
        col = table[name]
        data = np.ma.getdata(col)
        mask = np.ma.getmaskarray(col) if isinstance(col, np.ma.MaskedArray) else np.zeros(len(col), bool)
        for i, row in enumerate(ref):
            if not cell_matches(data[i], bool(mask[i]), row[j], types[name]):
                problems.append("%s: row %d %s (%s): got %r, PostgreSQL has %r" % (what, i, name, types[name], data[i], row[j]))
    return problems[:5]


def test_every_published_column_reads_back(server, psql):
    tables = published_tables(psql)
    assert {"TAP_SCHEMA.columns", "TAP_SCHEMA.tables", "demo.sources", "demo.fields"} <= {t[0] for t in tables}
    svc = pyvo.dal.TAPService(server.base)
    problems = []
    for name, schema, table, cols in tables:
        order = ", ".join(str(i + 1) for i in range(len(cols)))
        adql = "SELECT TOP %d * FROM %s ORDER BY %s" % (ROWS, name, order)
        _, ref = psql.rows(
            "SELECT %s FROM %s.%s ORDER BY %s LIMIT %d" % (", ".join('"%s"' % c for c in cols), schema, table, order, ROWS)
        )
        assert ref, "%s is empty: nothing to compare" % name
        types = psql.column_types(schema, table)
        for fmt, ser in SERIALISATIONS:
            r = server.sync({"LANG": "ADQL", "QUERY": adql, "RESPONSEFORMAT": fmt})
            assert r.status_code == 200, r.text[:1000]
            assert ("<%s" % ser).encode() in r.content
            try:
                problems += compare(read_votable(r.content), cols, ref, types, "%s %s" % (name, fmt))
            except Exception as e:  # astropy refusing the document is a finding too
                problems.append("%s %s: astropy failed: %r" % (name, fmt, e))
        # pyvo as users call it: the service's default format (BINARY2).
        try:
            problems += compare(svc.run_sync(adql).to_table(), cols, ref, types, "%s pyvo" % name)
        except Exception as e:
            problems.append("%s pyvo: failed: %r" % (name, e))
    assert not problems, "\n".join(problems)


# ---- non-ASCII text ---------------------------------------------------------


def stilts_csv(data, workdir, name):
    path = os.path.join(workdir, name)
    with open(path, "wb") as f:
        f.write(data)
    p = subprocess.run(
        ["stilts", "-Djava.awt.headless=true", "tpipe", "in=" + path, "ifmt=votable", "omode=out", "ofmt=csv"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
    )
    assert p.returncode == 0, p.stderr.decode(errors="replace")[-2000:]
    return p.stdout.decode("utf-8")


@pytest.mark.parametrize("fmt,ser", SERIALISATIONS)
def test_survey_reads_back_in_astropy_and_stilts(server, psql, workdir, fmt, ser):
    q = "SELECT field_id, survey FROM demo.fields ORDER BY field_id"
    _, ref = psql.rows("SELECT field_id, survey FROM demo.fields ORDER BY field_id")
    assert any("\u03a9" in s for _, s in ref), "the demo lost its non-ASCII survey name"
    r = server.sync({"LANG": "ADQL", "QUERY": q, "RESPONSEFORMAT": fmt})
    assert r.status_code == 200, r.text[:1000]
    t = read_votable(r.content)
    assert [str(v) for v in t["survey"]] == [s for _, s in ref]
    header, rows = tsit.read_csv(stilts_csv(r.content, workdir, "survey-%s.vot" % ser))
    assert header == ["field_id", "survey"]
    assert [s for _, s in rows] == [s for _, s in ref], "STILTS read %r" % rows[:4]


@pytest.mark.parametrize("fmt,ser", SERIALISATIONS)
def test_non_ascii_in_char_column_is_escaped(server, psql, fmt, ser):
    # An expression's text is published as char: a VOTable 1.4 char value
    # must be ASCII, so the rest arrives as \uXXXX escapes, the same in
    # every serialisation, and reads back to the original.
    q = "SELECT TOP 3 LOWER(survey) AS s FROM demo.fields WHERE field_id > 0 ORDER BY field_id"
    _, ref = psql.rows("SELECT lower(survey) FROM demo.fields WHERE field_id > 0 ORDER BY field_id LIMIT 3")
    r = server.sync({"LANG": "ADQL", "QUERY": q, "RESPONSEFORMAT": fmt})
    assert r.status_code == 200, r.text[:1000]
    assert b'datatype="char"' in r.content
    got = [str(v) for v in read_votable(r.content)["s"]]
    assert all(v.isascii() for v in got), got
    assert [v.encode("ascii").decode("unicode_escape") for v in got] == [s for (s,) in ref]
    assert any("\\u03a9" in v.lower() for v in got), got


# ---- DALI /examples ------------------------------------------------------------

XHTML = "{http://www.w3.org/1999/xhtml}"


def examples_of(base):
    """[(id, name, query, [tables])] of the RDFa examples at base/examples."""
    r = requests.get(base + "/examples", timeout=30)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["Content-Type"].startswith(("application/xhtml+xml", "text/html"))
    root = ET.fromstring(r.content)
    vocab = [e for e in root.iter() if e.get("vocab")]
    assert [e.get("vocab") for e in vocab] == ["http://www.ivoa.net/rdf/examples#"]
    out = []
    for ex in root.iter():
        if ex.get("typeof") != "example":
            continue
        props = {}
        for e in ex.iter():
            if e.get("property"):
                assert len(e) == 0, "property %s holds markup" % e.get("property")
                props.setdefault(e.get("property"), []).append(e.text)
        assert ex.get("resource") == "#" + ex.get("id")
        assert len(props["name"]) == 1 and len(props["query"]) == 1, props
        out.append((ex.get("id"), props["name"][0], props["query"][0], props.get("table", [])))
    return out


def test_examples_advertised_and_read_by_pyvo(server, psql):
    root, _ = tap_capability(server.base)
    caps = [c for c in root.findall("capability") if c.get("standardID") == "ivo://ivoa.net/std/DALI#examples"]
    assert len(caps) == 1
    assert caps[0].find("interface/accessURL").text == server.base + "/examples"
    examples = examples_of(server.base)
    ids = [e[0] for e in examples]
    assert len(set(ids)) == len(ids)
    # TAP_SCHEMA always; the demo's cone search, join and aggregate because
    # the demo catalogue is published here.
    assert {"tap_schema_tables", "cone_search", "join_fields", "aggregate_per_survey"} <= set(ids)
    _, published = psql.rows("SELECT table_name FROM tap_schema.tables")
    published = {t for (t,) in published}
    for _, _, _, tables in examples:
        assert tables and set(tables) <= published, tables
    got = [q["QUERY"] for q in pyvo.dal.TAPService(server.base).examples]
    assert got == [e[2] for e in examples]


def test_example_queries_run(server):
    for ex_id, _, query, _ in examples_of(server.base):
        r = server.sync({"LANG": "ADQL", "QUERY": query, "MAXREC": "50", "RESPONSEFORMAT": "votable"})
        assert r.status_code == 200, "%s: HTTP %d %s" % (ex_id, r.status_code, r.text[:500])
        t = read_votable(r.content)
        assert len(t) > 0, "%s returned no rows" % ex_id


def test_examples_taplint(server, workdir):
    assert tsit.TAPLINT.is_file(), "taplint.sh not found at %s" % tsit.TAPLINT
    report = os.path.join(workdir, "taplint-exa-report.txt")
    # TME first: its table metadata lets EXA check the examples' names.
    env = dict(os.environ, STAGES="TME EXA CAP", TIMEOUT="240")
    rc, out = tsit.run_tool(["bash", str(tsit.TAPLINT), server.base, report], timeout=300, env=env)
    text = open(report, errors="replace").read() if os.path.exists(report) else ""
    errors = "\n".join(line for line in text.splitlines() if line.startswith(("E-", "F-EXA")))
    assert rc == 0 and "errors=0" in out, "taplint rc=%d\n%s\n%s" % (rc, out, errors)
    assert "F-EXA-EXNO" not in text
    # Its ADQL 2.0 validator accepts every example too (W-EXA-EXVL otherwise).
    assert not [line for line in text.splitlines() if line.startswith(("W-EXA", "F-EXA"))], text[-3000:]
    assert "S-EXA-XNUM-1 Found" in text and "Found 0 examples" not in text


def test_operator_examples_file(start_server, workdir):
    doc = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<html xmlns="http://www.w3.org/1999/xhtml"><head><title>ours</title></head>'
        '<body vocab="http://www.ivoa.net/rdf/examples#">'
        '<div typeof="example" id="mine" resource="#mine"><h2 property="name">Mine</h2>'
        '<pre property="query">SELECT TOP 1 field_id FROM demo.fields</pre></div></body></html>\n'
    )
    path = os.path.join(workdir, "examples-operator.xhtml")
    with open(path, "w") as f:
        f.write(doc)
    srv = start_server({"tap.examples": path})
    r = requests.get(srv.base + "/examples", timeout=30)
    assert r.status_code == 200 and r.text == doc
    assert [q["QUERY"] for q in pyvo.dal.TAPService(srv.base).examples] == ["SELECT TOP 1 field_id FROM demo.fields"]


def test_operator_examples_file_missing_stops_start(cluster, workdir):
    missing = os.path.join(workdir, "no-such-examples.xhtml")
    with pytest.raises(RuntimeError) as e:
        tsit.Server(workdir, "examples-missing", cluster["dsn"], {"tap.examples": missing})
    assert "[tap] examples: cannot open " + missing in str(e.value)
