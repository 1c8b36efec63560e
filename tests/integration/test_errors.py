"""Bad requests get DALI error documents (VOTable, INFO QUERY_STATUS=ERROR,
a useful message) with HTTP 400, and the server keeps serving."""

import pytest

import tsit

GOOD = "SELECT TOP 2 source_id FROM demo.sources ORDER BY source_id"


def assert_still_serving(srv):
    assert srv.alive(), "tapserve died; log:\n" + srv.log_tail()
    r = srv.sync({"LANG": "ADQL", "QUERY": GOOD, "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200, r.text[:500]
    assert len(tsit.read_csv(r.content.decode("utf-8"))[1]) == 2


def expect_error(srv, params, method="GET"):
    r = srv.sync(params, method=method)
    assert r.status_code == 400, "expected HTTP 400, got %d: %s" % (r.status_code, r.text[:800])
    ctype = r.headers.get("Content-Type", "")
    assert "xml" in ctype, "error document Content-Type %r" % ctype
    msg = tsit.error_message(r.content)
    assert msg, "empty error message"
    return msg


@pytest.mark.parametrize(
    "params,needle",
    [
        ({"LANG": "SQL", "QUERY": GOOD}, "LANG"),
        ({"LANG": "ADQL", "REQUEST": "foo", "QUERY": GOOD}, "REQUEST"),
        ({"LANG": "ADQL", "QUERY": GOOD, "RESPONSEFORMAT": "bogus"}, "bogus"),
        ({"LANG": "ADQL", "QUERY": GOOD, "FORMAT": "bogus"}, "bogus"),
        ({"LANG": "ADQL"}, "QUERY"),
        ({"LANG": "ADQL", "QUERY": ""}, "QUERY"),
        ({"LANG": "ADQL", "QUERY": "SELECT * FROM demo.nosuchtable"}, "nosuchtable"),
        ({"LANG": "ADQL", "QUERY": "SELECT nosuchcol FROM demo.sources"}, "nosuchcol"),
    ],
    ids=["lang-sql", "request-foo", "responseformat-bogus", "format-bogus", "no-query", "empty-query",
         "unknown-table", "unknown-column"],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_bad_request(server, params, needle, method):
    msg = expect_error(server, params, method)
    assert needle.lower() in msg.lower(), "message %r does not mention %r" % (msg, needle)
    assert_still_serving(server)


@pytest.mark.parametrize(
    "query,bad,line",
    [
        ("SELECT source_id, FROM demo.sources", "FROM", 1),
        ("SELECT source_id\nFROM demo.sources\nWHERE ra < < 5", "< 5", 3),
        # columns count characters, not bytes
        ("SELECT 'é', FROM demo.sources", "FROM", 1),
        ("SELECT TOP 1 source_id FROM demo.sources WHERE ra BETWEEN 1 AND", None, 1),
    ],
    ids=["comma-before-from", "third-line", "non-ascii-before", "eof"],
)
def test_syntax_error_position(server, query, bad, line):
    msg = expect_error(server, {"LANG": "ADQL", "QUERY": query})
    lines = query.split("\n")
    if bad is None:
        # at the end of the text: the column just past the last character
        col = len(lines[-1]) + 1
    else:
        col = lines[line - 1].index(bad) + 1
    assert "line %d, column %d" % (line, col) in msg, "message %r lacks 'line %d, column %d'" % (msg, line, col)
    assert_still_serving(server)


def test_unknown_parameter_ignored(server, psql):
    r = server.sync({"LANG": "ADQL", "QUERY": GOOD, "RESPONSEFORMAT": "csv", "NOSUCHPARAM": "x", "runid": "abc"})
    assert r.status_code == 200, r.text[:800]
    header, rows = tsit.read_csv(r.content.decode("utf-8"))
    _, ref = psql.rows("SELECT source_id FROM demo.sources ORDER BY source_id LIMIT 2")
    assert header == ["source_id"] and rows == ref


def test_request_doquery_optional(server):
    # TAP 1.1 made REQUEST optional on /sync; doQuery is still accepted.
    for extra in ({}, {"REQUEST": "doQuery"}):
        p = {"LANG": "ADQL", "QUERY": GOOD, "RESPONSEFORMAT": "csv"}
        p.update(extra)
        assert server.sync(p).status_code == 200


def test_error_document_shape(server):
    r = server.sync({"LANG": "ADQL", "QUERY": "SELECT * FROM demo.nosuchtable"})
    root = tsit.parse_xml(r.content)
    res = tsit.results_resource(root)
    assert res is not None and res.get("type") == "results", "DALI: the error INFO sits in RESOURCE type=results"
    infos = [c for c in res if tsit.local(c.tag) == "INFO" and c.get("name") == "QUERY_STATUS"]
    assert [i.get("value") for i in infos] == ["ERROR"]


# Errors the database raises for the query itself (SQLSTATE classes 21, 22
# and 42 once the checker let the query through) are the client's fault:
# HTTP 400 with the DALI document carrying PostgreSQL's message, not 500.
@pytest.mark.parametrize(
    "query,needle",
    [
        ("SELECT TOP 1 1/0 AS x FROM demo.sources", "division by zero"),
        ("SELECT TOP 5 source_id / (source_id - source_id) AS x FROM demo.sources", "division by zero"),
        ("SELECT TOP 1 EXP(1000.0) AS x FROM demo.sources", "out of range"),
        ("SELECT TOP 1 CAST(source_id * 100000 AS SMALLINT) AS x FROM demo.sources", "out of range"),
        ("SELECT TOP 1 SQRT(-1.0) AS x FROM demo.sources", "square root"),
        ("SELECT TOP 1 (SELECT source_id FROM demo.sources) AS x FROM demo.fields", "more than one row"),
    ],
    ids=["div-zero-constant", "div-zero-column", "exp-overflow", "smallint-overflow", "sqrt-negative",
         "subquery-rows"],
)
def test_query_fault_in_database_is_400(server, query, needle):
    msg = expect_error(server, {"LANG": "ADQL", "QUERY": query})
    assert needle in msg.lower(), "message %r does not mention %r" % (msg, needle)
    assert_still_serving(server)


def test_query_fault_in_async_job(server):
    import time
    import xml.etree.ElementTree as ET

    import requests

    uws = "{http://www.ivoa.net/xml/UWS/v1.0}"
    r = requests.post(
        server.base + "/async",
        data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 1/0 AS x FROM demo.sources", "PHASE": "RUN"},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 303, r.text[:500]
    url = r.headers["Location"]
    deadline = time.monotonic() + 60
    while True:
        root = ET.fromstring(requests.get(url, params={"WAIT": "5"}, timeout=30).content)
        phase = root.find(uws + "phase").text
        if phase in ("COMPLETED", "ERROR", "ABORTED") or time.monotonic() > deadline:
            break
    assert phase == "ERROR"
    summary = root.find(uws + "errorSummary")
    assert summary.get("type") == "fatal"
    assert "division by zero" in summary.find(uws + "message").text
    err = requests.get(url + "/error", timeout=30)
    assert err.status_code == 200 and "division by zero" in tsit.error_message(err.content)
