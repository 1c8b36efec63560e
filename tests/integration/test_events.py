"""The event bus between instances: two tapserve processes on one database.
A job runs on instance A while a WAIT on instance B blocks; B wakes on the
event of A's commit. An event published by hand with pg_notify wakes B as
well, and B re-reads the phase from the database (events are hints);
malformed payloads on the channel are ignored."""

import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import pytest
import requests

from test_uws import UWS, create


@pytest.fixture(scope="module")
def pair(start_server):
    # A runs jobs; B has no executor, so whatever B sees of a job comes
    # from the database, woken by events.
    a = start_server({"jobs.list_anonymous": "1", "jobs.sweep_interval": "1", "jobs.heartbeat": "1"})
    b = start_server({"jobs.list_anonymous": "1", "jobs.max_executing": "0"})
    return a, b


def job_id(url):
    return url.rstrip("/").rsplit("/", 1)[1]


class Waiter(threading.Thread):
    """GET {job}?WAIT=secs on a server, in the background."""

    def __init__(self, srv, jid, secs, **params):
        super().__init__(daemon=True)
        self.url = "%s/async/%s" % (srv.base, jid)
        self.params = dict(params, WAIT=str(secs))
        self.phase = None
        self.error = None
        self.returned_at = None

    def run(self):
        try:
            r = requests.get(self.url, params=self.params, timeout=120)
            self.returned_at = time.monotonic()
            assert r.status_code == 200, r.text
            self.phase = ET.fromstring(r.content).find(UWS + "phase").text
        except Exception as e:  # reported by the test
            self.error = e


def until(cond, limit=30):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return False


def phase_in_db(psql, jid):
    return psql.scalar("SELECT phase FROM tapserve.jobs WHERE id = '%s'" % jid)


def test_wait_on_other_instance_wakes_on_completion(pair, cluster, psql):
    a, b = pair
    # Hold the job on A in EXECUTING: its query waits for a lock that a
    # psql session keeps until we say so.
    locker = subprocess.Popen(
        ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", cluster["dsn"]],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        locker.stdin.write("BEGIN; LOCK TABLE demo.sources IN ACCESS EXCLUSIVE MODE;\n")
        locker.stdin.flush()
        assert until(
            lambda: psql.scalar(
                "SELECT count(*) FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
                "WHERE c.relname = 'sources' AND l.mode = 'AccessExclusiveLock' AND l.granted"
            )
            == "1"
        ), "the lock was not taken"
        url = create(a, "SELECT COUNT(*) AS n FROM demo.sources")
        jid = job_id(url)
        assert until(lambda: phase_in_db(psql, jid) == "EXECUTING"), "the job did not start on A"
        owner = psql.scalar("SELECT owner_instance FROM tapserve.jobs WHERE id = '%s'" % jid)
        assert owner, "no owner instance"

        w = Waiter(b, jid, 60)
        w.start()
        # B blocks: the job stays EXECUTING as long as the lock is held.
        w.join(1.5)
        assert w.is_alive(), "WAIT on B returned early: %s %s" % (w.phase, w.error)
        locker.stdin.write("COMMIT;\n")
        locker.stdin.close()
        assert locker.wait(timeout=30) == 0, locker.stderr.read()
        assert until(lambda: phase_in_db(psql, jid) == "COMPLETED"), "the job did not complete"
        completed_at = time.monotonic()
        w.join(30)
        assert not w.is_alive(), "WAIT on B did not wake"
        assert w.error is None, w.error
        assert w.phase == "COMPLETED"
        lag = w.returned_at - completed_at
        print("B's WAIT returned %.3f s after the job was seen COMPLETED" % lag)
        # well below the 60 s of the WAIT: the event woke it, not the timer
        assert lag < 5, lag
    finally:
        if locker.poll() is None:
            locker.kill()


def test_notify_by_hand_wakes_wait(pair, psql):
    a, b = pair
    url = create(a, "SELECT TOP 1 source_id FROM demo.sources", run=False)
    jid = job_id(url)
    w = Waiter(b, jid, 60)
    w.start()
    w.join(1.5)
    assert w.is_alive(), "WAIT on a PENDING job returned: %s %s" % (w.phase, w.error)
    # Change the phase behind the trigger's back: no event yet, so B keeps
    # waiting; hostile payloads on the channel change nothing either.
    psql.run(
        "SET session_replication_role = replica;"
        " UPDATE tapserve.jobs SET phase = 'ABORTED', end_time = now() WHERE id = '%s';"
        " RESET session_replication_role;"
        " SELECT pg_notify('tapserve_events', 'JOB_UPDATED_EVENT');"
        " SELECT pg_notify('tapserve_events', 'JOB_UPDATED_EVENT %s NOPHASE');"
        " SELECT pg_notify('tapserve_events', repeat('J', 7000));"
        " SELECT pg_notify('tapserve_events', E'JOB_UPDATED_EVENT %s\\tCOMPLETED');" % (jid, jid, jid)
    )
    w.join(1.5)
    assert w.is_alive(), "WAIT on B woke without a valid event: %s %s" % (w.phase, w.error)
    # A hint that names the job: B re-reads the job and finds ABORTED (the
    # phase in the payload is only a hint).
    psql.run("SELECT pg_notify('tapserve_events', 'JOB_UPDATED_EVENT %s COMPLETED')" % jid)
    w.join(30)
    assert not w.is_alive(), "WAIT on B did not wake on the event"
    assert w.error is None, w.error
    assert w.phase == "ABORTED"
    # both instances still serve
    for srv in (a, b):
        assert requests.get(srv.base + "/availability", timeout=30).status_code == 200
    assert a.alive() and b.alive()
