"""UWS 1.1 async jobs: the resources and their XML, real clients (pyvo,
astroquery, taplint), abort, WAIT, destruction, Range requests, both result
stores, a large result compared with /sync, and a restart in the middle of
a job."""

import csv
import io
import os
import gzip
import re
import threading
import time
import xml.etree.ElementTree as ET

import pytest
import requests

import tsit

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
# Heavy enough to still run when aborted (50,000 x 50,000 pairs); the alias
# marks the query in pg_stat_activity.
SLOW_QUERY = (
    "SELECT COUNT(*) AS %s FROM demo.sources a, demo.sources b "
    "WHERE a.ra + b.ra > 1000"
)


# Every instance on one database must see the same result store (they
# serve each other's results), and the servers of the other test files use
# the default fs store: the fs servers here do too, and the pg store gets a
# cluster of its own.
DEFAULT_DIR = "/var/tmp/tapserve-results"


def jobs_server(start_server, **extra):
    overrides = {"jobs.list_anonymous": "1", "jobs.sweep_interval": "1", "jobs.heartbeat": "1"}
    overrides.update(extra)
    return start_server(overrides)


@pytest.fixture(scope="module")
def pg_store_cluster(workdir):
    data_dir = os.path.join(workdir, "pg-store")
    dsn = tsit.demo_cluster(data_dir)
    servers = []
    try:
        yield {"dsn": dsn, "psql": tsit.Psql(dsn), "servers": servers}
    finally:
        for s in servers:
            s.stop()
        tsit.stop_cluster(data_dir)


@pytest.fixture(scope="module", params=["fs", "pg"])
def store(request, start_server, psql, workdir):
    """(server, psql) for each result store."""
    if request.param == "fs":
        return jobs_server(start_server), psql
    c = request.getfixturevalue("pg_store_cluster")
    if not c["servers"]:
        overrides = {"jobs.result_store": "pg", "jobs.list_anonymous": "1", "jobs.sweep_interval": "1"}
        c["servers"].append(tsit.Server(workdir, "uws-pg", c["dsn"], overrides))
    return c["servers"][0], c["psql"]


@pytest.fixture(scope="module")
def srv(store):
    return store[0]


@pytest.fixture(scope="module")
def fs_srv(start_server):
    return jobs_server(start_server)


def create(srv, query, run=True, **params):
    data = {"LANG": "ADQL", "QUERY": query}
    if run:
        data["PHASE"] = "RUN"
    data.update(params)
    r = requests.post(srv.base + "/async", data=data, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    loc = r.headers["Location"]
    assert loc.startswith(srv.base + "/async/"), loc
    return loc


def job_xml(url, **params):
    r = requests.get(url, params=params, timeout=120)
    assert r.status_code == 200, r.text
    return ET.fromstring(r.content)


def phase_of(url):
    r = requests.get(url + "/phase", timeout=30)
    assert r.status_code == 200, r.text
    return r.text.strip()


def wait_final(url, limit=120):
    """Blocks with WAIT until the job is in a final phase."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        root = job_xml(url, WAIT="10")
        p = root.find(UWS + "phase").text
        if p in ("COMPLETED", "ERROR", "ABORTED"):
            return p
    raise AssertionError("job %s still not finished" % url)


def xsd_ok(data, workdir, name):
    path = os.path.join(workdir, name)
    with open(path, "wb") as f:
        f.write(data)
    rc, out = tsit.run_tool(["bash", str(tsit.XSDCHECK), path], timeout=60)
    assert rc == 0, out


def active_backends(psql, marker):
    return int(
        psql.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE '%%%s%%' AND pid <> pg_backend_pid()" % marker
        )
    )


# ---------------------------------------------------------------------------


def test_job_lifecycle_and_xml(srv, workdir):
    url = create(srv, "SELECT TOP 3 source_id, ra FROM demo.sources ORDER BY source_id", run=False, RUNID="r1")
    root = job_xml(url)
    xsd_ok(requests.get(url).content, workdir, "job-pending.xml")
    assert root.find(UWS + "phase").text == "PENDING"
    assert root.find(UWS + "runId").text == "r1"
    ids = [p.get("id") for p in root.iter(UWS + "parameter")]
    assert "lang" in ids and "query" in ids and all(i == i.lower() for i in ids)
    # parameters can change while PENDING
    r = requests.post(url + "/parameters", data={"MAXREC": "2"}, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == url
    r = requests.post(url, data={"EXECUTIONDURATION": "30"}, allow_redirects=False)
    assert r.status_code == 303
    assert requests.get(url + "/executionduration").text == "30"
    assert requests.get(url + "/runId").text == "r1"
    assert requests.get(url + "/owner").text == ""
    assert requests.get(url + "/quote").status_code == 200
    xsd_ok(requests.get(url + "/parameters").content, workdir, "params.xml")
    r = requests.post(url + "/phase", data={"PHASE": "RUN"}, allow_redirects=False)
    assert r.status_code == 303
    assert wait_final(url) == "COMPLETED"
    # no parameter changes once it ran
    r = requests.post(url + "/parameters", data={"MAXREC": "5"}, allow_redirects=False)
    assert r.status_code == 400
    res = requests.get(url + "/results")
    xsd_ok(res.content, workdir, "results.xml")
    href = ET.fromstring(res.content).find(UWS + "result").get("{http://www.w3.org/1999/xlink}href")
    assert href == url + "/results/result"
    text = requests.get(href, params={"RESPONSEFORMAT": "csv"}).text
    assert text.splitlines() == ["source_id,ra"] + text.splitlines()[1:] and len(text.splitlines()) == 3
    xsd_ok(requests.get(url).content, workdir, "job-completed.xml")
    assert requests.get(url + "/error").status_code == 404
    # DELETE
    r = requests.delete(url, allow_redirects=False)
    assert r.status_code == 303 and r.headers["Location"] == srv.base + "/async"
    assert requests.get(url).status_code == 404
    assert requests.get(url + "/phase").status_code == 404


def test_error_job(srv, workdir):
    url = create(srv, "SELECT nosuchcolumn FROM demo.sources")
    assert wait_final(url) == "ERROR"
    root = job_xml(url)
    msg = root.find(UWS + "errorSummary").find(UWS + "message").text
    assert "nosuchcolumn" in msg
    err = requests.get(url + "/error")
    assert err.status_code == 200 and "nosuchcolumn" in tsit.error_message(err.content)
    xsd_ok(requests.get(url).content, workdir, "job-error.xml")
    r = requests.post(url, data={"ACTION": "DELETE"}, allow_redirects=False)
    assert r.status_code == 303
    assert requests.get(url).status_code == 404


def test_job_list_filters(fs_srv, workdir):
    a = create(fs_srv, "SELECT TOP 1 source_id FROM demo.sources", run=False)
    b = create(fs_srv, "SELECT TOP 1 source_id FROM demo.sources")
    wait_final(b)
    r = requests.get(fs_srv.base + "/async")
    xsd_ok(r.content, workdir, "joblist.xml")
    root = ET.fromstring(r.content)
    ids = [j.get("id") for j in root.iter(UWS + "jobref")]
    assert a.rsplit("/", 1)[1] in ids and b.rsplit("/", 1)[1] in ids
    pend = ET.fromstring(requests.get(fs_srv.base + "/async", params={"PHASE": "PENDING"}).content)
    assert all(j.find(UWS + "phase").text == "PENDING" for j in pend.iter(UWS + "jobref"))
    assert a.rsplit("/", 1)[1] in [j.get("id") for j in pend.iter(UWS + "jobref")]
    last = ET.fromstring(requests.get(fs_srv.base + "/async", params={"LAST": "1"}).content)
    assert [j.get("id") for j in last.iter(UWS + "jobref")] == [b.rsplit("/", 1)[1]]
    after = ET.fromstring(requests.get(fs_srv.base + "/async", params={"AFTER": "2999-01-01T00:00:00Z"}).content)
    assert list(after.iter(UWS + "jobref")) == []
    assert requests.get(fs_srv.base + "/async", params={"PHASE": "RUNNING"}).status_code == 400


def test_anonymous_jobs_not_listed_by_default(server):
    url = create(server, "SELECT TOP 1 source_id FROM demo.sources", run=False)
    root = ET.fromstring(requests.get(server.base + "/async").content)
    assert url.rsplit("/", 1)[1] not in [j.get("id") for j in root.iter(UWS + "jobref")]
    assert requests.get(url).status_code == 200  # reachable by its id


def test_pyvo(srv):
    import pyvo

    svc = pyvo.dal.TAPService(srv.base)
    res = svc.run_async("SELECT TOP 5 source_id, ra FROM demo.sources ORDER BY source_id")
    assert list(res["source_id"]) == [1, 2, 3, 4, 5]
    job = svc.submit_job("SELECT TOP 7 source_id FROM demo.sources ORDER BY source_id")
    job.run()
    job.wait(timeout=120)
    assert job.phase == "COMPLETED"
    t = job.fetch_result().to_table()
    assert len(t) == 7
    jobs = svc.get_job_list()
    assert job.job_id in [j.jobid for j in jobs]
    job.delete()


def test_astroquery(srv):
    from astroquery.utils.tap.core import TapPlus

    tap = TapPlus(url=srv.base, verbose=False)
    job = tap.launch_job_async("SELECT TOP 4 source_id, dec FROM demo.sources ORDER BY source_id", verbose=False)
    t = job.get_results()
    assert list(t["source_id"]) == [1, 2, 3, 4]


def test_taplint_uws(fs_srv, workdir):
    report = os.path.join(workdir, "taplint-uws.txt")
    env = dict(os.environ, STAGES="UWS")
    rc, out = tsit.run_tool(["bash", str(tsit.TAPLINT), fs_srv.base, report], timeout=300, env=env)
    assert rc == 0 and "errors=0" in out, out


def test_abort_cancels_backend(store):
    srv, psql = store
    marker = "abort_marker_%d" % os.getpid()
    url = create(srv, SLOW_QUERY % marker)
    deadline = time.monotonic() + 60
    while active_backends(psql, marker) == 0:
        assert time.monotonic() < deadline, "the query never started"
        time.sleep(0.1)
    assert phase_of(url) == "EXECUTING"
    r = requests.post(url + "/phase", data={"PHASE": "ABORT"}, allow_redirects=False)
    assert r.status_code == 303
    assert phase_of(url) == "ABORTED"
    gone = time.monotonic() + 2
    while active_backends(psql, marker) and time.monotonic() < gone:
        time.sleep(0.05)
    assert active_backends(psql, marker) == 0, "backend still running 2 s after ABORT"


def test_wait_returns_on_phase_change(fs_srv):
    url = create(fs_srv, "SELECT TOP 1 source_id FROM demo.sources", run=False)
    got = {}

    def waiter():
        t0 = time.monotonic()
        root = job_xml(url, WAIT="60")
        got["phase"] = root.find(UWS + "phase").text
        got["elapsed"] = time.monotonic() - t0

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.5)  # the waiter is blocked on PENDING
    assert "phase" not in got
    requests.post(url + "/phase", data={"PHASE": "RUN"})
    th.join(70)
    assert got["phase"] != "PENDING"
    assert got["elapsed"] < 30, got  # woken by the change, not by the 60 s limit
    # WAIT on a final job answers at once; PHASE= names the phase waited on
    wait_final(url)
    t0 = time.monotonic()
    job_xml(url, WAIT="60", PHASE="EXECUTING")
    assert time.monotonic() - t0 < 30


def test_destruction(fs_srv, workdir):
    url = create(fs_srv, "SELECT TOP 10 source_id FROM demo.sources")
    assert wait_final(url) == "COMPLETED"
    job_id = url.rsplit("/", 1)[1]
    d = DEFAULT_DIR
    assert [f for f in os.listdir(d) if f.startswith(job_id)]
    soon = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1))
    r = requests.post(url + "/destruction", data={"DESTRUCTION": soon}, allow_redirects=False)
    assert r.status_code == 303
    assert requests.get(url + "/destruction").text.startswith(soon[:19])
    deadline = time.monotonic() + 30
    while requests.get(url + "/phase").status_code != 404:
        assert time.monotonic() < deadline, "job not destroyed"
        time.sleep(0.2)
    assert not [f for f in os.listdir(d) if f.startswith(job_id)], "result file left behind"


def sized(res, fmt=None, limit=30):
    """A download of res once its size is known (recorded when the first
    complete download has ended): carries Content-Length."""
    params = {"RESPONSEFORMAT": fmt} if fmt else {}
    deadline = time.monotonic() + limit
    while True:
        r = requests.get(res, params=params)
        assert r.status_code == 200
        if "Content-Length" in r.headers and "Content-Encoding" not in r.headers:
            return r
        assert time.monotonic() < deadline, "the size of %s was never recorded" % fmt
        time.sleep(0.1)


def test_range_requests(srv):
    url = create(srv, "SELECT TOP 2000 source_id, ra, dec FROM demo.sources ORDER BY source_id", RESPONSEFORMAT="votable")
    assert wait_final(url) == "COMPLETED"
    res = url + "/results/result"
    # A range before the size is known: the whole result (RFC 9110 lets a
    # server ignore Range), whose bytes become the size of the format.
    r = requests.get(res, params={"RESPONSEFORMAT": "csv"}, headers={"Range": "bytes=5-24"})
    assert r.status_code == 200 and "Content-Range" not in r.headers, r.text[:300]
    full = sized(res, "csv")
    assert full.content == r.content
    total = len(full.content)
    assert full.headers["Content-Length"] == str(total)
    r = requests.get(res, params={"RESPONSEFORMAT": "csv"}, headers={"Range": "bytes=5-24"})
    assert r.status_code == 206 and r.content == full.content[5:25]
    assert r.headers["Content-Range"] == "bytes 5-24/%d" % total
    # resume an interrupted download in pieces, and a suffix range
    pieces = b""
    step = total // 3 + 1
    for start in range(0, total, step):
        p = requests.get(res, params={"RESPONSEFORMAT": "csv"}, headers={"Range": "bytes=%d-%d" % (start, start + step - 1)})
        assert p.status_code == 206
        pieces += p.content
    assert pieces == full.content
    tail = requests.get(res, params={"RESPONSEFORMAT": "csv"}, headers={"Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == full.content[-10:]
    bad = requests.get(res, params={"RESPONSEFORMAT": "csv"}, headers={"Range": "bytes=%d-" % (total + 5)})
    assert bad.status_code == 416
    # the job's own format (VOTable): ranges agree with the whole document
    vfull = sized(res).content
    vpart = requests.get(res, headers={"Range": "bytes=100-"})
    assert vpart.status_code == 206 and vpart.content == vfull[100:]
    # a spooled format (FITS): the whole file, then a range of it
    ffull = sized(res, "fits").content
    assert ffull[:6] == b"SIMPLE" and len(ffull) % 2880 == 0
    fpart = requests.get(res, params={"RESPONSEFORMAT": "fits"}, headers={"Range": "bytes=2800-6000"})
    assert fpart.status_code == 206 and fpart.content == ffull[2800:6001]


def fits_without_dates(data):
    """The FITS file with what depends on the time of writing blanked: the
    REQDATE and DATE cards, CHECKSUM (its value covers them) and the
    comment of DATASUM (a time; its value, over the data, is kept)."""
    out = bytearray(data)
    for i in range(0, len(out), 80):
        if out[i:i + 8] in (b"REQDATE ", b"DATE    ", b"CHECKSUM"):
            out[i:i + 80] = b" " * 80
        elif out[i:i + 8] == b"DATASUM ":
            out[i + 30:i + 80] = b" " * 50
    return bytes(out)


def test_large_result_equals_sync(srv, workdir):
    q = (
        "SELECT TOP 1000000 s.source_id, s.ra, s.dec, f.field_id, f.name "
        "FROM demo.sources s, demo.fields f ORDER BY s.source_id, f.field_id"
    )
    url = create(srv, q, MAXREC="1000000")
    assert wait_final(url, limit=300) == "COMPLETED"
    res = url + "/results/result"
    for fmt in ("csv", "tsv"):
        a = requests.get(res, params={"RESPONSEFORMAT": fmt}, timeout=300).content
        s = requests.post(srv.base + "/sync", data={"LANG": "ADQL", "QUERY": q, "MAXREC": "1000000", "RESPONSEFORMAT": fmt}, timeout=300).content
        assert a == s, fmt
        assert a.count(b"\n") == 1000001
    # Every other format: equal to sync once the request date (and in FITS
    # the checksum over it) is set aside.
    date = re.compile(rb'<INFO name="REQUEST_DATE" value="[^"]*"/>|REQUEST_DATE: "[^"]*"')
    for fmt in ("votable", "votable/td", "votable/b", "votable_gzip", "json", "ecsv", "text", "html", "fits"):
        a = requests.get(res, params={"RESPONSEFORMAT": fmt}, timeout=300).content
        s = requests.post(srv.base + "/sync", data={"LANG": "ADQL", "QUERY": q, "MAXREC": "1000000", "RESPONSEFORMAT": fmt}, timeout=300).content
        if fmt == "votable_gzip":
            a, s = gzip.decompress(a), gzip.decompress(s)
        if fmt == "fits":
            a, s = fits_without_dates(a), fits_without_dates(s)
        assert len(a) > 1_000_000 and date.sub(b"", a) == date.sub(b"", s), fmt


def test_result_metadata_same_as_sync(fs_srv):
    """Async results carry the metadata /sync gives: output names, TAP_SCHEMA
    units and UCDs, DALI geometry xtypes with their fixed arraysizes."""
    q = ("SELECT TOP 3 source_id, ra AS alpha, POINT('ICRS', ra, dec) AS pos, "
         "CIRCLE('ICRS', ra, dec, 1) AS c FROM demo.sources ORDER BY source_id")
    url = create(fs_srv, q)
    assert wait_final(url) == "COMPLETED"
    a = requests.get(url + "/results/result", params={"RESPONSEFORMAT": "votable/td"}).content
    s = requests.post(fs_srv.base + "/sync", data={"LANG": "ADQL", "QUERY": q, "RESPONSEFORMAT": "votable/td"}).content
    field = re.compile(rb"<FIELD [^>]*>")
    assert field.findall(a) == field.findall(s)
    assert b'name="pos" datatype="double" arraysize="2" xtype="point"' in a
    assert b'name="c" datatype="double" arraysize="3" xtype="circle"' in a
    assert re.search(rb'<FIELD name="alpha" datatype="double"[^>]* unit="deg" ucd="pos.eq.ra;meta.main"', a)


def test_overflow_flag(fs_srv):
    url = create(fs_srv, "SELECT source_id FROM demo.sources ORDER BY source_id", MAXREC="10")
    assert wait_final(url) == "COMPLETED"
    body = requests.get(url + "/results/result").content
    root = tsit.parse_xml(body)
    assert tsit.overflow_after_table(root)


def isolated(pg_store_cluster):
    """The pg-store cluster with no server running: the instances a test
    starts there are the only ones that can claim its jobs."""
    for s in pg_store_cluster["servers"]:
        s.stop()
    del pg_store_cluster["servers"][:]
    return pg_store_cluster


def test_restart_in_the_middle_of_a_job(pg_store_cluster, workdir):
    """A job EXECUTING when tapserve stops is queued again and completes
    after the restart; nothing stays EXECUTING."""
    cluster = isolated(pg_store_cluster)
    psql = cluster["psql"]
    overrides = {
        "jobs.result_store": "pg",
        "jobs.heartbeat": "1",
        "jobs.instance_timeout": "2",
    }
    marker = "restart_marker_%d" % os.getpid()
    q = "SELECT COUNT(*) AS %s FROM demo.sources a, demo.sources b WHERE a.source_id < b.source_id AND a.source_id < 3000" % marker
    s1 = tsit.Server(workdir, "uws-restart-1", cluster["dsn"], overrides)
    try:
        url = create(s1, q)
        deadline = time.monotonic() + 60
        while active_backends(psql, marker) == 0:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    finally:
        s1.stop()
    job_id = url.rsplit("/", 1)[1]
    assert psql.scalar("SELECT phase FROM tapserve.jobs WHERE id = '%s'" % job_id) == "QUEUED"
    s2 = tsit.Server(workdir, "uws-restart-2", cluster["dsn"], overrides)
    try:
        url2 = s2.base + "/async/" + job_id
        assert wait_final(url2, limit=300) == "COMPLETED"
        t = requests.get(url2 + "/results/result", params={"RESPONSEFORMAT": "csv"}).text
        assert int(t.splitlines()[1]) > 0
    finally:
        s2.stop()


def test_killed_instance_jobs_recovered(pg_store_cluster, workdir):
    """kill -9 leaves the job EXECUTING under a dead instance; the next
    instance marks it ERROR (on_restart = error) once the heartbeat is
    stale."""
    cluster = isolated(pg_store_cluster)
    psql = cluster["psql"]
    overrides = {
        "jobs.result_store": "pg",
        "jobs.heartbeat": "1",
        "jobs.instance_timeout": "2",
        "jobs.on_restart": "error",
    }
    marker = "kill_marker_%d" % os.getpid()
    s1 = tsit.Server(workdir, "uws-kill-1", cluster["dsn"], overrides)
    url = create(s1, SLOW_QUERY % marker)
    deadline = time.monotonic() + 60
    while active_backends(psql, marker) == 0:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    s1.proc.kill()
    s1.proc.wait()
    s1.stop()
    job_id = url.rsplit("/", 1)[1]
    s2 = tsit.Server(workdir, "uws-kill-2", cluster["dsn"], overrides)
    try:
        url2 = s2.base + "/async/" + job_id
        assert wait_final(url2, limit=60) == "ERROR"
        assert "stopped" in job_xml(url2).find(UWS + "errorSummary").find(UWS + "message").text
    finally:
        s2.stop()
    # the killed instance's connection is gone with it: no query left
    gone = time.monotonic() + 10
    while active_backends(psql, marker) and time.monotonic() < gone:
        time.sleep(0.1)
    assert active_backends(psql, marker) == 0
