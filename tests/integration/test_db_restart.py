"""PostgreSQL restarts and outages: no async job is lost, every connection
tapserve keeps (the /sync pool, the UWS pool, LISTEN, the executors) works
again afterwards, /availability says false while the database is away and
true again by itself, and a job whose instances keep dying is abandoned
after jobs.max_attempts.

This module restarts and stops its PostgreSQL: it has a cluster of its own,
never the session cluster the other files share."""

import os
import re
import threading
import time
import xml.etree.ElementTree as ET

import pytest
import requests

import tsit
from tsit import FINAL, UWS, active, job, phase, wait_final  # noqa: F401
from tsit import job_error as error_message

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
    with tsit.own_cluster(workdir, "restart") as d:
        yield d


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


def csv_rows(url):
    r = requests.get(url + "/results/result", params={"RESPONSEFORMAT": "csv"}, timeout=60)
    assert r.status_code == 200, r.text[:500]
    return r.text.splitlines()[1:]


def availability(srv):
    r = requests.get(srv.base + "/availability", timeout=10)
    assert r.status_code == 200, r.text
    up = re.search(r"available>\s*(true|false)\s*<", r.text)
    assert up, r.text
    note = re.search(r"<(?:\w+:)?note>([^<]*)<", r.text)
    return up.group(1) == "true", note.group(1) if note else ""


def module_server(db, workdir, name):
    """The module's running instance (or a new one), available: an earlier
    test may have restarted the database a moment ago."""
    srv = db["servers"][0] if db["servers"] and db["servers"][0].alive() else start(db, workdir, name)
    poll_availability(srv, True, 30)
    return srv


def poll_availability(srv, want, limit):
    deadline = time.monotonic() + limit
    while True:
        up, note = availability(srv)
        if up == want:
            return note
        assert time.monotonic() < deadline, "availability still %s after %d s (%s)" % (up, limit, note)
        time.sleep(0.2)


# ---------------------------------------------------------------------------


def test_jobs_survive_restart(db, workdir):
    """Jobs executing during `pg_ctl restart -m fast` and jobs that come to
    executors whose connections died all complete with the right rows; the
    /sync pool, the UWS pool and LISTEN work again after the restart."""
    srv = start(db, workdir, "restart")
    psql = db["psql"]
    # Every kind of connection in use once, so each holds one the restart
    # kills: the /sync pool, the UWS pool, the executors, LISTEN.
    assert srv.sync({"LANG": "ADQL", "QUERY": "SELECT TOP 3 source_id FROM demo.sources"}).status_code == 200
    warm = [create(srv, "SELECT TOP %d source_id FROM demo.sources ORDER BY source_id" % (i + 1)) for i in range(3)]
    for u in warm:
        assert phase(wait_final(u, 60)) == "COMPLETED"

    marker = "restart_marker_%d" % os.getpid()
    slow = [create(srv, SLOW % ("%s_%d" % (marker, i), 400 + i)) for i in range(3)]
    quick = {create(srv, "SELECT TOP %d source_id FROM demo.sources ORDER BY source_id" % n): n for n in (5, 17, 40, 123, 1000, 7)}
    deadline = time.monotonic() + 60
    while active(psql, marker) < len(slow):
        assert time.monotonic() < deadline, "the slow queries never all ran"
        time.sleep(0.1)
    pg(db, "restart", "-m", "fast")
    # Until its next probe (one tick, later on a loaded machine) the
    # instance may still say the database is away: 503 with Retry-After,
    # as a client would see it.
    poll_availability(srv, True, 30)

    # /sync right after the restart: a fresh connection, not the dead one's error
    r = srv.sync({"LANG": "ADQL", "QUERY": "SELECT TOP 11 source_id FROM demo.sources", "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200, r.text[:500]
    assert len(r.text.splitlines()) == 12
    # the UWS job list (the jobs pool)
    r = requests.get(srv.base + "/async", timeout=30)
    assert r.status_code == 200, r.text[:500]
    listed = {e.get("id") for e in ET.fromstring(r.content).iter(UWS + "jobref")}
    assert {u.rsplit("/", 1)[1] for u in slow + list(quick)} <= listed

    for u, n in quick.items():
        root = wait_final(u, 180)
        assert phase(root) == "COMPLETED", error_message(root)
        assert len(csv_rows(u)) == n
    for i, u in enumerate(slow):
        root = wait_final(u, 300)
        assert phase(root) == "COMPLETED", error_message(root)
        want = psql.scalar(SLOW % ("n", 400 + i))
        assert csv_rows(u) == [want]

    # WAIT on a job started after the restart wakes on its completion
    # (LISTEN is back), well before its 60 s limit.
    u = create(srv, "SELECT TOP 3 source_id FROM demo.sources", run=False)
    got = {}

    def waiter():
        t0 = time.monotonic()
        got["phase"] = phase(job(u, WAIT="60"))
        got["elapsed"] = time.monotonic() - t0

    th = threading.Thread(target=waiter)
    th.start()
    time.sleep(0.5)
    assert "phase" not in got
    requests.post(u + "/phase", data={"PHASE": "RUN"}, timeout=30)
    th.join(70)
    assert got["phase"] != "PENDING"
    assert got["elapsed"] < 30, got
    assert srv.alive()


def test_stray_claim_requeued(db, workdir):
    """A job left EXECUTING under a live instance that no executor runs (a
    claim committed just as the database went away, its reply lost) is
    queued again by that instance and completes."""
    srv = module_server(db, workdir, "stray")
    psql = db["psql"]
    url = create(srv, "SELECT TOP 4 source_id FROM demo.sources ORDER BY source_id", run=False)
    job_id = url.rsplit("/", 1)[1]
    inst = psql.scalar("SELECT id FROM tapserve.instances WHERE port = %d" % srv.port)
    assert inst
    psql.run(
        "UPDATE tapserve.jobs SET phase = 'EXECUTING', owner_instance = '%s',"
        " start_time = now() - interval '5 minutes', attempts = 1 WHERE id = '%s'" % (inst, job_id)
    )
    root = wait_final(url, 60)
    assert phase(root) == "COMPLETED", error_message(root)
    assert len(csv_rows(url)) == 4


def test_availability_follows_database(db, workdir):
    """/availability is false while PostgreSQL is down, with a note saying
    so, /sync and job creation answer 503 with Retry-After meanwhile, and
    it is true again by itself once it is back."""
    srv = module_server(db, workdir, "avail")
    assert availability(srv)[0]
    pg(db, "stop", "-m", "fast")
    try:
        note = poll_availability(srv, False, 30)
        assert "database" in note, note
        # New work is refused in the protocol's form while it lasts.
        r = srv.sync({"LANG": "ADQL", "QUERY": "SELECT TOP 2 source_id FROM demo.sources"})
        assert r.status_code == 503 and r.headers.get("Retry-After"), r.text[:500]
        assert "database cannot be reached" in r.text and "VOTABLE" in r.text
        r = requests.post(srv.base + "/async", data={"LANG": "ADQL", "QUERY": "SELECT 1"}, timeout=30, allow_redirects=False)
        assert r.status_code == 503 and r.headers.get("Retry-After"), r.text[:500]
    finally:
        pg(db, "start")
    poll_availability(srv, True, 60)
    r = srv.sync({"LANG": "ADQL", "QUERY": "SELECT TOP 2 source_id FROM demo.sources", "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200, r.text[:500]
    assert srv.alive()


def test_poison_job_fails_alone(db, workdir):
    """A job whose query needs more memory to translate than a /sync
    request may use (~30,000 UNIONed SELECTs, under the 1 MiB query limit)
    ends in ERROR; its instance keeps running."""
    srv = module_server(db, workdir, "poison")
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
