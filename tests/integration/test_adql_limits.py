"""Queries under the 1 MiB limit that nest too deeply in all -- 30,000
UNIONed SELECTs, 190 subqueries at the bottom of 999-term +1 chains -- are
ADQL errors (the nesting budget, docs/internals/adql.md): HTTP 400 with a
DALI error document from /sync, a job in ERROR from /async, and the server
answers the next query. Before the budget, the checker overflowed the stack
and took the process down."""

import time
import xml.etree.ElementTree as ET

import pytest
import requests

import tsit

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
GOOD = "SELECT TOP 2 source_id FROM demo.sources ORDER BY source_id"
NEEDLE = "query is too complex: nesting deeper than 1000 levels"


def union_chain(branches):
    return "SELECT ra FROM demo.sources" + " UNION SELECT ra FROM demo.sources" * (branches - 1)


def nested_chains(levels, k):
    """`levels` scalar subqueries, each at the bottom of a `k`-term +1 chain."""
    q = "SELECT (" * levels + "SELECT ra FROM demo.sources"
    return q + (")" + "+1" * k + " AS v FROM demo.sources") * levels


SHAPES = {
    "union-30000": union_chain(30000),
    "nested-190x999": nested_chains(190, 999),
}


@pytest.fixture(scope="module")
def srv(start_server):
    # a server of its own: before the budget, these queries killed it
    return start_server({"jobs.list_anonymous": "1", "jobs.heartbeat": "1"})


def assert_still_serving(srv):
    assert srv.alive(), "tapserve died; log:\n" + srv.log_tail()
    r = srv.sync({"LANG": "ADQL", "QUERY": GOOD, "RESPONSEFORMAT": "csv"}, method="POST")
    assert r.status_code == 200, r.text[:500]
    assert len(tsit.read_csv(r.content.decode("utf-8"))[1]) == 2


def create_job(srv, query):
    r = requests.post(
        srv.base + "/async", data={"LANG": "ADQL", "QUERY": query, "PHASE": "RUN"}, allow_redirects=False, timeout=60
    )
    assert r.status_code == 303, "POST /async: HTTP %d: %s" % (r.status_code, r.text[:800])
    return r.headers["Location"]


def wait_final(srv, url, limit=120):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        assert srv.alive(), "tapserve died; log:\n" + srv.log_tail()
        r = requests.get(url, params={"WAIT": "5"}, timeout=60)
        assert r.status_code == 200, r.text[:500]
        root = ET.fromstring(r.content)
        if root.find(UWS + "phase").text in ("COMPLETED", "ERROR", "ABORTED"):
            return root
    raise AssertionError("job %s still not finished" % url)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_sync_too_deep(srv, shape):
    query = SHAPES[shape]
    assert len(query.encode()) < 1 << 20  # under the query length limit
    r = srv.sync({"LANG": "ADQL", "QUERY": query}, method="POST")
    assert r.status_code == 400, "expected HTTP 400, got %d: %s" % (r.status_code, r.text[:800])
    assert "xml" in r.headers.get("Content-Type", "")
    msg = tsit.error_message(r.content)
    assert NEEDLE in msg, msg
    assert "line 1, column " in msg, msg
    assert_still_serving(srv)


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_async_too_deep(srv, shape):
    url = create_job(srv, SHAPES[shape])
    root = wait_final(srv, url)
    assert root.find(UWS + "phase").text == "ERROR"
    msg = root.find(UWS + "errorSummary").find(UWS + "message").text
    assert NEEDLE in msg, msg
    err = requests.get(url + "/error", timeout=30)
    assert err.status_code == 200 and NEEDLE in tsit.error_message(err.content)
    # the instance still runs jobs
    ok = create_job(srv, GOOD)
    assert wait_final(srv, ok).find(UWS + "phase").text == "COMPLETED"
    assert_still_serving(srv)


def test_deepest_accepted_union_runs(srv):
    """999 UNIONed SELECTs are within the budget and run in PostgreSQL."""
    query = "SELECT TOP 1 1 AS one FROM demo.sources" + " UNION SELECT TOP 1 1 AS one FROM demo.sources" * 998
    r = srv.sync({"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv"}, method="POST")
    assert r.status_code == 200, r.text[:800]
    assert len(tsit.read_csv(r.content.decode("utf-8"))[1]) == 1
