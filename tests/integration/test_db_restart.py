"""PostgreSQL restarts and outages: no async job is lost, every connection
tapserve keeps (the /sync pool, the UWS pool, LISTEN, the executors) works
again afterwards, /availability says false while the database is away and
true again by itself, and a job whose instances keep dying is abandoned
after jobs.max_attempts.

This module restarts and stops its PostgreSQL: it has a cluster of its own,
never the session cluster the other files share."""

import os
import re
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import pytest
import requests

import tsit

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
FINAL = ("COMPLETED", "ERROR", "ABORTED")
# A few seconds of work on the demo data; the alias marks it in
# pg_stat_activity.
SLOW = (
    "SELECT COUNT(*) AS %s FROM demo.sources a, demo.sources b "
    "WHERE a.source_id < b.source_id AND a.source_id < %d"
)
# Far longer than any test waits: only killed instances end it.
ENDLESS = "SELECT COUNT(*) AS %s FROM demo.sources a, demo.sources b WHERE a.ra + b.ra > 1000"


@pytest.fixture(scope="module")
def db(workdir):
    data_dir = os.path.join(workdir, "pg-restart")
    port = tsit.free_port()
    cmd = [str(tsit.tapserve_bin()), "demo", "--no-serve", "--data-dir", data_dir, "--pg-port", str(port), "--rows", "50000"]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=240, check=False)
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        tsit.stop_cluster(data_dir)
        pytest.fail("tapserve demo --no-serve failed:\n" + out[-3000:])
    store = os.path.join(workdir, "results-restart")
    os.makedirs(store, exist_ok=True)
    d = {"dsn": tsit.parse_dsn(out), "data_dir": data_dir, "store": store, "servers": []}
    d["psql"] = tsit.Psql(d["dsn"])
    try:
        yield d
    finally:
        for s in d["servers"]:
            s.stop()
        tsit.stop_cluster(data_dir)


def start(db, workdir, name, **extra):
    overrides = {
        "jobs.result_store": "fs:" + db["store"],
        "jobs.max_executing": "3",
        "jobs.heartbeat": "1",
        "jobs.list_anonymous": "1",
        "database.pool_size": "4",
    }
    overrides.update(extra)
    s = tsit.Server(workdir, name, db["dsn"], overrides)
    db["servers"].append(s)
    return s


def pg(db, *args):
    logfile = os.path.join(str(tsit.find_pgdata(db["data_dir"])), "pg_ctl.log")
    rc, out = tsit.pg_ctl(db["data_dir"], *args, "-w", "-l", logfile)
    assert rc == 0, out


def create(srv, query, run=True):
    data = {"LANG": "ADQL", "QUERY": query}
    if run:
        data["PHASE"] = "RUN"
    r = requests.post(srv.base + "/async", data=data, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    return r.headers["Location"]


def job(url, **params):
    r = requests.get(url, params=params, timeout=120)
    assert r.status_code == 200, r.text
    return ET.fromstring(r.content)


def phase(root):
    return root.find(UWS + "phase").text


def error_message(root):
    e = root.find(UWS + "errorSummary")
    return e.find(UWS + "message").text if e is not None else None


def wait_final(url, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        root = job(url, WAIT="5")
        if phase(root) in FINAL:
            return root
    raise AssertionError("job %s not finished within %d s: %s" % (url, limit, phase(job(url))))


def csv_rows(url):
    r = requests.get(url + "/results/result", params={"RESPONSEFORMAT": "csv"}, timeout=60)
    assert r.status_code == 200, r.text[:500]
    return r.text.splitlines()[1:]


def active(psql, marker):
    return int(
        psql.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE '%%%s%%' AND pid <> pg_backend_pid()" % marker
        )
    )


def availability(srv):
    r = requests.get(srv.base + "/availability", timeout=10)
    assert r.status_code == 200, r.text
    up = re.search(r"available>\s*(true|false)\s*<", r.text)
    assert up, r.text
    note = re.search(r"<(?:\w+:)?note>([^<]*)<", r.text)
    return up.group(1) == "true", note.group(1) if note else ""


def poll_availability(srv, want, limit):
    deadline = time.monotonic() + limit
    while True:
        up, note = availability(srv)
        if up == want:
            return note
        assert time.monotonic() < deadline, "availability still %s after %d s (%s)" % (up, limit, note)
        time.sleep(0.2)


# ---------------------------------------------------------------------------


def test_poison_job_fails_alone(db, workdir):
    """A job whose query needs more memory to translate than a /sync
    request may use (~30,000 UNIONed SELECTs, under the 1 MiB query limit)
    ends in ERROR; its instance keeps running."""
    srv = db["servers"][0] if db["servers"] and db["servers"][0].alive() else start(db, workdir, "poison")
    q = "SELECT 1 FROM demo.sources" + " UNION SELECT 1 FROM demo.sources" * 29999
    assert len(q) < 1 << 20
    url = create(srv, q)
    root = wait_final(url, 300)
    assert phase(root) == "ERROR"
    assert srv.alive()
    r = srv.sync({"LANG": "ADQL", "QUERY": "SELECT TOP 2 source_id FROM demo.sources", "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200, r.text[:500]


def test_job_abandoned_after_max_attempts(db, workdir):
    """A job whose instance dies (kill -9) is queued again once its
    heartbeat is stale; after jobs.max_attempts executions it goes to ERROR
    instead, and the instance that finds it so keeps running."""
    for s in db["servers"]:
        s.stop()  # only the instances started here may claim the job
    del db["servers"][:]
    psql = db["psql"]
    extra = {"jobs.instance_timeout": "2", "jobs.max_attempts": "2", "jobs.max_executing": "1"}
    marker = "attempts_marker_%d" % os.getpid()
    s = start(db, workdir, "attempts-1", **extra)
    url = create(s, ENDLESS % marker)
    job_id = url.rsplit("/", 1)[1]
    for attempt in (1, 2):
        deadline = time.monotonic() + 120
        while psql.scalar(
            "SELECT phase || ' ' || attempts FROM tapserve.jobs WHERE id = '%s'" % job_id
        ) != "EXECUTING %d" % attempt or active(psql, marker) == 0:
            assert time.monotonic() < deadline, "attempt %d never started" % attempt
            time.sleep(0.1)
        s.proc.kill()
        s.proc.wait()
        s.stop()
        s = start(db, workdir, "attempts-%d" % (attempt + 1), **extra)
    root = wait_final(s.base + "/async/" + job_id, 120)
    assert phase(root) == "ERROR"
    assert error_message(root) == "job abandoned after 2 attempts: the instances running it stopped"
    assert s.alive()
    gone = time.monotonic() + 20
    while active(psql, marker) and time.monotonic() < gone:
        time.sleep(0.1)
    assert active(psql, marker) == 0
