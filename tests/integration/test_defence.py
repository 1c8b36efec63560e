"""Defence in depth: the SQL tapserve writes means the same whatever the
query role's settings, user queries never run as the role that owns the
service state, huge UWS durations, and single-valued DALI parameters given
more than once."""

import os
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
import requests

import tsit

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
QUERY_ROLE = "tapserve_query"


def create_job(srv, data):
    r = requests.post(srv.base + "/async", data=data, allow_redirects=False, timeout=30)
    assert r.status_code == 303, "HTTP %d: %s" % (r.status_code, r.text[:1000])
    return r.headers["Location"]


def wait_final(url, limit=120):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        r = requests.get(url, params={"WAIT": "10"}, timeout=60)
        assert r.status_code == 200, r.text
        root = ET.fromstring(r.content)
        phase = root.find(UWS + "phase").text
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            return root
    raise AssertionError("job %s still not finished" % url)


def async_csv(srv, query):
    """Runs `query` as an async job; returns the CSV rows of its result."""
    url = create_job(srv, {"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv", "PHASE": "RUN"})
    root = wait_final(url)
    phase = root.find(UWS + "phase").text
    summary = root.find(UWS + "errorSummary")
    assert phase == "COMPLETED", (phase, ET.tostring(summary) if summary is not None else b"")
    r = requests.get(url + "/results/result", timeout=60)
    assert r.status_code == 200, r.text[:1000]
    return _csv(r.text)


def sync_csv(srv, query):
    r = srv.sync({"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200, "HTTP %d: %s" % (r.status_code, r.text[:1000])
    return _csv(r.text)


def _csv(text):
    import csv
    import io

    return list(csv.reader(io.StringIO(text)))


def is_dali_error(r):
    """True when the response is a VOTable error document (QUERY_STATUS ERROR)."""
    try:
        root = tsit.parse_xml(r.content)
    except ET.ParseError:
        return False
    return any(v == "ERROR" for v, _, _, _ in tsit.query_status_infos(root))


# ---------------------------------------------------------------------------
# standard_conforming_strings


@pytest.fixture
def scs_off_server(cluster, psql, workdir):
    """A server whose query role has standard_conforming_strings = off
    (set for the role, so every new connection starts with it)."""
    psql.run("ALTER ROLE %s SET standard_conforming_strings = off" % QUERY_ROLE)
    srv = None
    try:
        overrides = {"database.query_dsn": tsit.query_dsn(cluster["dsn"]), "log.level": "debug"}
        srv = tsit.Server(workdir, "defence-scs-off", cluster["dsn"], overrides)
        yield srv
    finally:
        if srv is not None:
            srv.stop()
        psql.run("ALTER ROLE %s RESET standard_conforming_strings" % QUERY_ROLE)


BACKSLASH_QUERY = "SELECT TOP 1 'abc\\' AS s, 'x\\''y' AS t FROM demo.fields"
# In standard SQL these are two literals; a server that lets PostgreSQL read
# backslash escapes would see one literal and then OR 1=1, every row.
INJECTION_QUERY = "SELECT field_id FROM demo.fields WHERE name = 'a\\' OR name = ' OR 1=1 --'"


def test_backslash_literals_with_scs_off(scs_off_server, psql):
    assert psql.scalar(
        "SELECT setconfig::text FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
        "WHERE r.rolname = '%s'" % QUERY_ROLE
    ) == "{standard_conforming_strings=off}"
    for run in (sync_csv, async_csv):
        rows = run(scs_off_server, BACKSLASH_QUERY)
        assert rows == [["s", "t"], ["abc\\", "x\\'y"]], (run.__name__, rows)
        rows = run(scs_off_server, INJECTION_QUERY)
        assert rows == [["field_id"]], (run.__name__, rows[:5])


# ---------------------------------------------------------------------------
# the query role


def run_serve(workdir, name, dsn, extra, timeout=60):
    """Starts `tapserve serve` with a minimal configuration; returns
    (exit status or None when it still runs, output, process)."""
    port = tsit.free_port()
    path = os.path.join(workdir, "%s.ini" % name)
    with open(path, "w") as f:
        f.write("[server]\nlisten = 127.0.0.1\nport = %d\n" % port)
        f.write("base_url = http://127.0.0.1:%d/tap\n" % port)
        f.write("[database]\ndsn = %s\n" % dsn)
        for k, v in extra.items():
            f.write("%s = %s\n" % (k, v))
    p = subprocess.Popen(
        [str(tsit.tapserve_bin()), "serve", "-c", path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and p.poll() is None:
        try:
            r = requests.get("http://127.0.0.1:%d/tap/availability" % port, timeout=2)
            if r.status_code == 200:
                break
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return p.poll(), p


def stop(p):
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    return p.stdout.read().decode(errors="replace")


def test_refuses_queries_as_the_service_role(cluster, workdir):
    rc, p = run_serve(workdir, "defence-service-role", cluster["dsn"], {})
    out = stop(p)
    assert rc is not None and rc != 0, "tapserve served user queries as the service role:\n" + out
    assert "query_dsn" in out and "allow_query_as_service" in out, out


def test_refuses_a_query_role_that_can_use_schema_tapserve(cluster, psql, workdir):
    psql.run("GRANT USAGE ON SCHEMA tapserve TO %s" % QUERY_ROLE)
    try:
        rc, p = run_serve(workdir, "defence-query-usage", cluster["dsn"], {"query_dsn": tsit.query_dsn(cluster["dsn"])})
        out = stop(p)
    finally:
        psql.run("REVOKE USAGE ON SCHEMA tapserve FROM %s" % QUERY_ROLE)
    assert rc is not None and rc != 0, out
    assert QUERY_ROLE in out and "tapserve" in out, out


def test_starts_with_a_read_only_query_role_or_the_flag(cluster, workdir):
    for name, extra in (
        ("defence-query-role", {"query_dsn": tsit.query_dsn(cluster["dsn"])}),
        ("defence-as-service", {"allow_query_as_service": "yes"}),
    ):
        rc, p = run_serve(workdir, name, cluster["dsn"], extra)
        out = stop(p)
        assert rc is None, "%s: exited %s:\n%s" % (name, rc, out)


# ---------------------------------------------------------------------------
# UWS execution durations


def test_huge_execution_duration(start_server):
    srv = start_server({"jobs.execution_duration_max": "0"})
    url = create_job(
        srv,
        {
            "LANG": "ADQL",
            "QUERY": "SELECT TOP 3 field_id FROM demo.fields ORDER BY field_id",
            "EXECUTIONDURATION": "9223372036854775807",
            "PHASE": "RUN",
        },
    )
    root = wait_final(url)
    assert root.find(UWS + "phase").text == "COMPLETED", ET.tostring(root).decode()
    # capped to what PostgreSQL's statement_timeout can express
    assert int(root.find(UWS + "executionDuration").text) == 2147483
    # the same cap when a pending job is changed
    pending = create_job(srv, {"LANG": "ADQL", "QUERY": "SELECT TOP 1 field_id FROM demo.fields"})
    r = requests.post(
        pending + "/executionduration", data={"EXECUTIONDURATION": "9223372036854775807"}, timeout=30
    )
    assert r.status_code == 200, r.text
    assert requests.get(pending + "/executionduration", timeout=30).text.strip() == "2147483"
    requests.delete(pending, timeout=30)


# ---------------------------------------------------------------------------
# single-valued parameters (DALI 1.1 section 3.1.2)

Q = "SELECT TOP 3 field_id FROM demo.fields ORDER BY field_id"
TWICE = [
    ("MAXREC", "5", "10"),
    ("LANG", "ADQL", "PQL"),
    ("QUERY", Q, "SELECT TOP 1 field_id FROM demo.fields"),
    ("REQUEST", "doQuery", "getCapabilities"),
    ("RESPONSEFORMAT", "csv", "votable"),
]


def pairs(name, a, b):
    base = [("LANG", "ADQL"), ("QUERY", Q)]
    base = [(k, v) for k, v in base if k != name]
    return base + [(name, a), (name.lower(), b)]


@pytest.mark.parametrize("name,a,b", TWICE, ids=[t[0] for t in TWICE])
def test_single_valued_twice_sync(server, name, a, b):
    for method in ("GET", "POST"):
        r = server.sync(pairs(name, a, b), method=method)
        assert r.status_code == 400, "%s %s twice: HTTP %d %s" % (method, name, r.status_code, r.text[:300])
        assert is_dali_error(r), r.text[:500]
        assert name in r.text, r.text[:500]


def test_format_and_responseformat_disagree(server):
    r = server.sync([("LANG", "ADQL"), ("QUERY", Q), ("RESPONSEFORMAT", "csv"), ("FORMAT", "votable")])
    assert r.status_code == 400 and is_dali_error(r), r.text[:500]


def test_same_value_twice_is_one_value(server):
    r = server.sync([("LANG", "ADQL"), ("QUERY", Q), ("MAXREC", "2"), ("maxrec", "2"), ("RESPONSEFORMAT", "csv")])
    assert r.status_code == 200, r.text[:500]
    assert _csv(r.text)[1:] == [["1"], ["2"]]


def test_single_valued_twice_async(server):
    r = requests.post(
        server.base + "/async", data=pairs("MAXREC", "5", "10"), allow_redirects=False, timeout=30
    )
    assert r.status_code == 400 and is_dali_error(r), "HTTP %d %s" % (r.status_code, r.text[:500])
    assert "MAXREC" in r.text
    # and on the parameters of an existing job
    url = create_job(server, {"LANG": "ADQL", "QUERY": Q})
    r = requests.post(url + "/parameters", data=[("MAXREC", "1"), ("MAXREC", "2")], allow_redirects=False, timeout=30)
    assert r.status_code == 400 and is_dali_error(r), "HTTP %d %s" % (r.status_code, r.text[:500])
    requests.delete(url, timeout=30)
