"""TAP UPLOAD of earlier results (job:ID and this service's own result URL):
joins with demo.sources on /sync and in async jobs, compared with the same
join in psql; result metadata from the upload; errors naming the upload;
limits; jobs that wait for the jobs they upload from; cycles refused; the
tables dropped after a /sync response, after a job ends or is deleted, and
by the sweeper after kill -9; a result of a job run on instance A joined on
instance B."""

import os
import signal
import subprocess
import threading
import time

import pytest
import requests

import tsit
from test_uws import UWS, create, job_xml, wait_final

# A few hundred demo sources: the list an astronomer brings.
LIST_QUERY = "SELECT TOP 300 source_id AS sid, ra, dec FROM demo.sources WHERE MOD(source_id, 7) = 0 ORDER BY source_id"
JOIN = (
    "SELECT u.sid, s.source_id, s.phot_g_mean_mag FROM TAP_UPLOAD.mine AS u JOIN demo.sources AS s "
    "ON 1 = CONTAINS(POINT('ICRS', s.ra, s.dec), CIRCLE('ICRS', u.ra, u.dec, 0.05)) "
    "ORDER BY u.sid, s.source_id"
)
PSQL_JOIN = (
    "SELECT u.source_id, s.source_id, s.phot_g_mean_mag FROM "
    "(SELECT source_id, ra, dec FROM demo.sources WHERE source_id % 7 = 0 ORDER BY source_id LIMIT 300) u "
    "JOIN demo.sources s ON spoint(radians(s.ra), radians(s.dec)) <@ "
    "scircle(spoint(radians(u.ra), radians(u.dec)), radians(0.05)) ORDER BY 1, 2"
)


def upload_tables(psql):
    return int(psql.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'tap_upload'"))


def upload_rows(psql):
    return int(psql.scalar("SELECT count(*) FROM tapserve.uploads"))


def until(cond, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return False


def hold_lock(cluster, psql, table):
    """A psql session holding an ACCESS EXCLUSIVE lock on table, once it is
    granted; write COMMIT to its stdin to release it."""
    locker = subprocess.Popen(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", cluster["dsn"]],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    locker.stdin.write("BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE;\n" % table)
    locker.stdin.flush()
    assert until(lambda: psql.scalar("SELECT count(*) FROM pg_locks WHERE relation = '%s'::regclass AND granted" % table) != "0")
    return locker


def release(locker):
    if locker.poll() is None:
        locker.stdin.write("COMMIT;\n")
        locker.stdin.close()
        locker.wait(timeout=30)


def jid(url):
    return url.rstrip("/").rsplit("/", 1)[1]


def csv_rows(text):
    lines = [l for l in text.splitlines() if l]
    return [l.split(",") for l in lines[1:]]


@pytest.fixture(scope="module")
def up(start_server):
    return start_server({"jobs.sweep_interval": "1", "jobs.heartbeat": "1"})


@pytest.fixture(scope="module")
def list_job(up):
    """A completed job whose result is the list."""
    url = create(up, LIST_QUERY)
    assert wait_final(url) == "COMPLETED"
    return url


def psql_join(psql):
    out = psql.run(PSQL_JOIN)
    return [l.split("\t") for l in out.splitlines() if l]


def test_sync_job_upload_join(up, list_job, psql):
    before = upload_tables(psql)
    for uri in ("job:" + jid(list_job), list_job + "/results/result"):
        r = up.sync({"LANG": "ADQL", "QUERY": JOIN, "UPLOAD": "mine," + uri, "RESPONSEFORMAT": "csv"})
        assert r.status_code == 200, r.text
        got = csv_rows(r.text)
        want = psql_join(psql)
        assert len(want) > 300
        assert [g[:2] for g in got] == [w[:2] for w in want]
    # the tables lived for the request only
    assert until(lambda: upload_tables(psql) == before)
    assert "up_" not in psql.scalar("SELECT string_agg(table_name, ',') FROM tapserve.uploads")


def test_sync_upload_metadata_from_the_upload(up, list_job):
    q = "SELECT ra, dec, sid FROM TAP_UPLOAD.t WHERE sid < 100"
    r = up.sync({"LANG": "ADQL", "QUERY": q, "UPLOAD": "t,job:" + jid(list_job), "RESPONSEFORMAT": "votable/td"})
    assert r.status_code == 200, r.text
    root = tsit.parse_xml(r.content)
    fields = {f.get("name"): f for f in tsit.find_all_local(root, "FIELD")}
    assert fields["ra"].get("unit") == "deg"
    assert fields["ra"].get("ucd") == "pos.eq.ra;meta.main"
    assert fields["sid"].get("datatype") == "long"
    assert len(tsit.tabledata_rows(root)) == 14  # 0, 7, ..., 91


def test_sync_two_uploads_several_parameters(up, list_job):
    j = jid(list_job)
    q = "SELECT COUNT(*) AS n FROM TAP_UPLOAD.a JOIN TAP_UPLOAD.b ON a.sid = b.sid"
    r = up.sync([("LANG", "ADQL"), ("QUERY", q), ("UPLOAD", "a,job:" + j), ("UPLOAD", "b,job:" + j), ("RESPONSEFORMAT", "csv")])
    assert r.status_code == 200, r.text
    assert csv_rows(r.text) == [["300"]]


def test_uploads_are_per_request(up):
    r = up.sync({"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.mine"})
    assert r.status_code == 400
    assert "TAP_UPLOAD.mine" in tsit.error_message(r.content)


@pytest.mark.parametrize(
    "upload,status,words",
    [
        ("mine,ftp://example.org/t.vot", 400, ['UPLOAD "mine"', "unsupported URI"]),
        ("mine,job:0123456789abcdef0123456789abcdef", 400, ['UPLOAD "mine"', "no job"]),
        ("1mine,job:0123456789abcdef0123456789abcdef", 400, ["regular identifier"]),
        ("x,job:0123;X,job:0123", 400, ['"X" is given twice']),
        ("nocomma", 400, ["name,URI"]),
    ],
)
def test_sync_upload_errors(up, psql, upload, status, words):
    before = upload_tables(psql)
    r = up.sync({"LANG": "ADQL", "QUERY": "SELECT 1 AS x FROM demo.sources", "UPLOAD": upload})
    assert r.status_code == status, r.text
    msg = tsit.error_message(r.content)
    for w in words:
        assert w in msg
    assert upload_tables(psql) == before


def test_upload_of_failed_job_is_an_error(up):
    bad = create(up, "SELECT 1/0 AS x FROM demo.sources")
    assert wait_final(bad) == "ERROR"
    r = up.sync({"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": "t,job:" + jid(bad)})
    assert r.status_code == 400
    assert "ERROR" in tsit.error_message(r.content) and '"t"' in tsit.error_message(r.content)
    r = requests.post(up.base + "/async", data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": "t,job:" + jid(bad)}, allow_redirects=False, timeout=30)
    assert r.status_code == 400, r.text


def test_limits_name_the_limit_and_leave_nothing(start_server, psql):
    # Its executors would run other tests' jobs under these limits: it runs
    # none (all instances of one cluster are meant to share a configuration).
    srv = start_server({"upload.max_rows": "100", "upload.max_uploads": "1", "upload.max_columns": "2", "jobs.max_executing": "0"})
    url = create(srv, LIST_QUERY)
    assert wait_final(url) == "COMPLETED"
    before = upload_tables(psql)
    for upload, words in (
        ("t,job:" + jid(url), ["max_rows", '"t"']),
        ("t,job:%s;u,job:%s" % (jid(url), jid(url)), ["max_uploads"]),
    ):
        r = srv.sync({"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": upload})
        assert r.status_code in (400, 413), r.text
        for w in words:
            assert w in tsit.error_message(r.content)
    small = create(srv, "SELECT TOP 10 source_id, ra, dec FROM demo.sources")
    assert wait_final(small) == "COMPLETED"
    r = srv.sync({"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": "t,job:" + jid(small)})
    assert r.status_code == 413 and "max_columns" in tsit.error_message(r.content), r.text
    assert upload_tables(psql) == before
    # capabilities advertise the byte limit
    caps = requests.get(srv.base + "/capabilities", timeout=30).text
    assert '<hard unit="byte">67108864</hard>' in caps


def test_async_job_upload_and_cleanup(up, list_job, psql):
    url = create(up, JOIN, UPLOAD="mine,job:" + jid(list_job), RESPONSEFORMAT="csv")
    assert wait_final(url) == "COMPLETED", requests.get(url + "/error", timeout=30).text
    r = requests.get(url + "/results/result", timeout=60)
    assert [g[:2] for g in csv_rows(r.text)] == [w[:2] for w in psql_join(psql)]
    # final: its tables are gone
    assert until(lambda: psql.scalar("SELECT count(*) FROM tapserve.uploads WHERE job_id = '%s'" % jid(url)) == "0")
    assert psql.scalar("SELECT count(*) FROM pg_tables WHERE tablename LIKE 'up_%s_%%'" % jid(url)) == "0"


def test_async_waits_for_the_job_it_uploads(up, cluster, psql):
    locker = hold_lock(cluster, psql, "demo.fields")
    try:
        first = create(up, "SELECT field_id, ra, dec, name, observed FROM demo.fields")
        assert until(lambda: job_xml(first).find(UWS + "phase").text == "EXECUTING")
        second = create(up, "SELECT COUNT(*) AS n FROM TAP_UPLOAD.f", UPLOAD="f,job:" + jid(first), RESPONSEFORMAT="csv")
        # not claimed while the first one runs: a job queued after it, with
        # no dependency, runs to its end meanwhile
        third = create(up, "SELECT TOP 1 source_id FROM demo.sources WHERE source_id = -1")
        assert wait_final(third) == "COMPLETED"
        assert job_xml(second).find(UWS + "phase").text == "QUEUED"
        release(locker)
        assert wait_final(first) == "COMPLETED"
        assert wait_final(second) == "COMPLETED"
        n = psql.scalar("SELECT count(*) FROM demo.fields")
        assert csv_rows(requests.get(second + "/results/result", timeout=60).text) == [[n]]
    finally:
        release(locker)


def test_cycle_refused_at_parameter_update(up):
    a = create(up, "SELECT TOP 1 source_id FROM demo.sources", run=False)
    b = create(up, "SELECT * FROM TAP_UPLOAD.x", run=False, UPLOAD="x,job:" + jid(a))
    r = requests.post(a + "/parameters", data={"UPLOAD": "y,job:" + jid(b)}, allow_redirects=False, timeout=30)
    assert r.status_code == 400 and "cycle" in tsit.error_message(r.content), r.text
    params = {p.get("id"): p.text for p in job_xml(a).iter(UWS + "parameter")}
    assert "upload" not in params  # nothing changed
    for u in (a, b):
        requests.delete(u, timeout=30)


def test_delete_drops_the_job_tables(up, list_job, psql, cluster):
    # the job holds its table while its query waits for a lock
    locker = hold_lock(cluster, psql, "demo.sources")
    try:
        url = create(up, JOIN, UPLOAD="mine,job:" + jid(list_job))
        assert until(lambda: psql.scalar("SELECT count(*) FROM tapserve.uploads WHERE job_id = '%s'" % jid(url)) == "1")
        # a position index on the ra/dec pair (main UCDs)
        t = "up_%s_mine" % jid(url)
        assert psql.scalar("SELECT count(*) FROM pg_indexes WHERE tablename = '%s' AND indexdef LIKE '%%gist%%spoint%%'" % t) == "1"
        # deleted while its query still runs: the query is cancelled and
        # the table goes with the job
        requests.delete(url, timeout=30)
        assert until(lambda: psql.scalar("SELECT count(*) FROM pg_tables WHERE tablename = '%s'" % t) == "0")
    finally:
        release(locker)


def test_two_instances_and_kill9_sweeper(workdir, cluster, psql):
    # A and B judge other instances dead after 3 s: both are stopped when
    # the test ends, or they would take the jobs of the session's other
    # servers (heartbeat every 5 s) for orphans and recover them.
    a = tsit.Server(workdir, "upload-a", cluster["dsn"], {"jobs.sweep_interval": "1", "jobs.heartbeat": "1", "jobs.instance_timeout": "3"})
    b = None
    try:
        url = create(a, LIST_QUERY)
        assert wait_final(url) == "COMPLETED"
        # B, another instance on the same database, joins A's result
        b = tsit.Server(workdir, "upload-b", cluster["dsn"], {"jobs.max_executing": "0", "jobs.heartbeat": "1", "jobs.instance_timeout": "3"})
        r = b.sync({"LANG": "ADQL", "QUERY": JOIN, "UPLOAD": "mine,job:" + jid(url), "RESPONSEFORMAT": "csv"})
        assert r.status_code == 200, r.text
        assert [g[:2] for g in csv_rows(r.text)] == [w[:2] for w in psql_join(psql)]
        # a /sync request on B holds its table while its query waits for a
        # lock; B dies (kill -9): A's sweeper drops the table
        locker = hold_lock(cluster, psql, "demo.sources")

        t = threading.Thread(target=lambda: _quiet(b.sync, {"LANG": "ADQL", "QUERY": JOIN, "UPLOAD": "mine,job:" + jid(url)}), daemon=True)
        t.start()
        assert until(lambda: psql.scalar("SELECT count(*) FROM tapserve.uploads WHERE request_id IS NOT NULL") == "1")
        b.proc.send_signal(signal.SIGKILL)
        b.proc.wait(timeout=30)
        release(locker)
        assert until(lambda: psql.scalar("SELECT count(*) FROM tapserve.uploads WHERE request_id IS NOT NULL") == "0", 60)
        assert psql.scalar("SELECT count(*) FROM pg_tables WHERE schemaname = 'tap_upload' AND tablename NOT IN (SELECT table_name FROM tapserve.uploads)") == "0"
    finally:
        if b:
            b.stop()
        a.stop()


def _quiet(fn, *args):
    try:
        fn(*args)
    except Exception:
        pass


def test_pyvo_result_uri_upload(up, psql):
    pyvo = pytest.importorskip("pyvo")
    tap = pyvo.dal.TAPService(up.base)
    job = tap.submit_job(LIST_QUERY)
    job.run().wait(timeout=120)
    res = tap.run_sync(JOIN, uploads={"mine": job.result_uri})
    got = [[str(r["sid"]), str(r["source_id"])] for r in res]
    assert got == [w[:2] for w in psql_join(psql)]
    job.delete()


def test_sync_waits_for_a_running_source_without_holding_threads(up, cluster, psql):
    locker = hold_lock(cluster, psql, "demo.fields")
    results = []
    try:
        src = create(up, "SELECT field_id, ra, dec FROM demo.fields")
        assert until(lambda: job_xml(src).find(UWS + "phase").text == "EXECUTING")
        q = {"LANG": "ADQL", "QUERY": "SELECT COUNT(*) AS n FROM TAP_UPLOAD.f", "UPLOAD": "f,job:" + jid(src), "RESPONSEFORMAT": "csv"}
        # as many waiting /sync requests as one client may have: more than
        # libuv's four pool threads would take if each held one
        waiters = [threading.Thread(target=lambda: results.append(up.sync(q)), daemon=True) for _ in range(4)]
        for t in waiters:
            t.start()
        waiting = "UPLOAD \"f\": job %s is EXECUTING: the request waits" % jid(src)
        assert until(lambda: up.log_tail(400).count(waiting) == 4 or len(results) == 4), (
            "%d of 4 requests said they wait, %d answered %s; the server's log ends:\n%s"
            % (up.log_tail(400).count(waiting), len(results), [r.status_code for r in results], up.log_tail(60)))
        assert results == []  # still waiting for the source
        # UWS requests (on the same pool) are answered meanwhile
        r = requests.get(src + "/phase", timeout=5)
        assert r.status_code == 200 and r.text.strip() == "EXECUTING"
        r = requests.post(up.base + "/async", data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 source_id FROM demo.sources"}, allow_redirects=False, timeout=5)
        assert r.status_code == 303
        requests.delete(r.headers["Location"], timeout=5)
        release(locker)
        for t in waiters:
            t.join(timeout=120)
        n = psql.scalar("SELECT count(*) FROM demo.fields")
        assert [r.status_code for r in results] == [200] * 4
        assert all(csv_rows(r.text) == [[n]] for r in results)
    finally:
        release(locker)


# ---- files: inline (param:) and by URL ------------------------------------

VOT = b"""<?xml version="1.0"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE><TABLE name="mine">
<FIELD name="sid" datatype="long"/>
<FIELD name="ra" datatype="double" unit="deg" ucd="pos.eq.ra;meta.main"/>
<FIELD name="dec" datatype="double" unit="deg" ucd="pos.eq.dec;meta.main"/>
<DATA><TABLEDATA>
%s
</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"""


def list_rows(psql):
    out = psql.run("SELECT source_id, ra, dec FROM demo.sources WHERE source_id % 7 = 0 ORDER BY source_id LIMIT 300")
    return [l.split("\t") for l in out.splitlines() if l]


def votable_of(rows):
    tr = "\n".join("<TR><TD>%s</TD><TD>%s</TD><TD>%s</TD></TR>" % tuple(r) for r in rows)
    return VOT % tr.encode()


def csv_of(rows):
    return ("sid,ra,dec\n" + "\n".join(",".join(r) for r in rows) + "\n").encode()


@pytest.mark.parametrize("kind", ["votable", "csv"])
def test_sync_inline_upload_join(up, psql, kind):
    rows = list_rows(psql)
    body = votable_of(rows) if kind == "votable" else csv_of(rows)
    before = upload_tables(psql)
    r = requests.post(up.base + "/sync", data={"LANG": "ADQL", "QUERY": JOIN, "UPLOAD": "mine,param:f", "RESPONSEFORMAT": "csv"},
                      files={"f": ("list." + ("xml" if kind == "votable" else "csv"), body)}, timeout=120)
    assert r.status_code == 200, r.text
    assert [g[:2] for g in csv_rows(r.text)] == [w[:2] for w in psql_join(psql)]
    assert until(lambda: upload_tables(psql) == before)


def test_inline_upload_errors_leave_nothing(up, psql):
    before = upload_tables(psql)
    for body, words in ((b"<VOTABLE><RESOURCE><TABLE><FIELD name='a' datatype='int'/><DATA><TABLEDATA><TR><TD>1", ['"t"']),
                        (b"a,b\n1,2\n3\n", ['"t"'])):
        r = requests.post(up.base + "/sync", data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": "t,param:f"},
                          files={"f": ("x", body)}, timeout=60)
        assert r.status_code == 400, r.text
        for w in words:
            assert w in tsit.error_message(r.content)
    r = requests.post(up.base + "/sync", data={"LANG": "ADQL", "QUERY": "SELECT * FROM TAP_UPLOAD.t", "UPLOAD": "t,param:nosuch"},
                      files={"f": ("x", b"a\n1\n")}, timeout=60)
    assert r.status_code == 400 and "nosuch" in tsit.error_message(r.content)
    assert upload_tables(psql) == before


def test_async_inline_upload(up, psql):
    rows = list_rows(psql)
    r = requests.post(up.base + "/async", data={"LANG": "ADQL", "QUERY": JOIN, "UPLOAD": "mine,param:f", "RESPONSEFORMAT": "csv", "PHASE": "RUN"},
                      files={"f": ("list.xml", votable_of(rows))}, allow_redirects=False, timeout=120)
    assert r.status_code == 303, r.text
    url = r.headers["Location"]
    assert wait_final(url) == "COMPLETED", requests.get(url + "/error", timeout=30).text
    got = csv_rows(requests.get(url + "/results/result", timeout=60).text)
    assert [g[:2] for g in got] == [w[:2] for w in psql_join(psql)]
    assert until(lambda: psql.scalar("SELECT count(*) FROM tapserve.uploads WHERE job_id = '%s'" % jid(url)) == "0")


def test_url_uploads(up, start_server, psql, workdir):
    import http.server
    import os

    rows = list_rows(psql)
    d = os.path.join(workdir, "www")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "list.csv"), "wb") as f:
        f.write(csv_of(rows))
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=d, **k)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    url = "http://127.0.0.1:%d/list.csv" % httpd.server_address[1]
    try:
        # loopback is refused by default ...
        r = up.sync({"LANG": "ADQL", "QUERY": JOIN, "UPLOAD": "mine," + url})
        assert r.status_code == 400 and '"mine"' in tsit.error_message(r.content), r.text
        # ... and allowed by the operator
        srv = start_server({"upload.allow_private_urls": "yes", "jobs.max_executing": "0"})
        r = srv.sync({"LANG": "ADQL", "QUERY": JOIN, "UPLOAD": "mine," + url, "RESPONSEFORMAT": "csv"})
        assert r.status_code == 200, r.text
        assert [g[:2] for g in csv_rows(r.text)] == [w[:2] for w in psql_join(psql)]
        r = srv.sync({"LANG": "ADQL", "QUERY": JOIN, "UPLOAD": "mine," + url + ".missing"})
        assert r.status_code == 400 and "404" in tsit.error_message(r.content), r.text
        caps = requests.get(srv.base + "/capabilities", timeout=30).text
        for m in ("upload-inline", "upload-http", "upload-https"):
            assert "TAPRegExt#" + m in caps
    finally:
        httpd.shutdown()


def test_taplint_upl(server, workdir):
    """taplint's UPL stage (uploads of its own tables, with CAP so it knows
    the methods) reports no error."""
    report = os.path.join(workdir, "taplint-upl.txt")
    env = dict(os.environ, STAGES="CAP UPL", TIMEOUT="240")
    rc, out = tsit.run_tool(["bash", str(tsit.TAPLINT), server.base, report], timeout=300, env=env)
    text = open(report, errors="replace").read() if os.path.exists(report) else ""
    errors = "\n".join(l for l in text.splitlines() if l.startswith(("E-", "F-")))
    assert rc == 0 and "errors=0" in out, "taplint rc=%d\n%s\n%s" % (rc, out, errors)
    assert "F-UPL-NOUP" not in text and "UPL" in text


def test_pyvo_astropy_table_sync_and_async(up, psql):
    import astropy.table
    import pyvo

    rows = list_rows(psql)
    t = astropy.table.Table(rows=[(int(a), float(b), float(c)) for a, b, c in rows], names=("sid", "ra", "dec"))
    tap = pyvo.dal.TAPService(up.base)
    want = [w[:2] for w in psql_join(psql)]
    res = tap.run_sync(JOIN, uploads={"mine": t})
    assert [[str(r["sid"]), str(r["source_id"])] for r in res] == want
    job = tap.submit_job(JOIN, uploads={"mine": t})
    job.run().wait(timeout=120)
    job.raise_if_error()
    res = job.fetch_result()
    assert [[str(r["sid"]), str(r["source_id"])] for r in res] == want
    job.delete()


@pytest.mark.parametrize("fmt", ["fits", "ascii.ecsv"])
def test_sync_inline_fits_and_ecsv(up, psql, fmt):
    import io

    import astropy.table

    rows = list_rows(psql)
    t = astropy.table.Table(rows=[(int(a), float(b), float(c)) for a, b, c in rows], names=("sid", "ra", "dec"))
    buf = io.BytesIO() if fmt == "fits" else io.StringIO()
    t.write(buf, format=fmt)
    body = buf.getvalue() if fmt == "fits" else buf.getvalue().encode()
    r = requests.post(up.base + "/sync", data={"LANG": "ADQL", "QUERY": JOIN, "UPLOAD": "mine,param:f", "RESPONSEFORMAT": "csv"},
                      files={"f": ("list", body)}, timeout=120)
    assert r.status_code == 200, r.text
    assert [g[:2] for g in csv_rows(r.text)] == [w[:2] for w in psql_join(psql)]
