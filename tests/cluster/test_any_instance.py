"""Any request on any instance: a job created through A is waited for
through B (woken by the phase change's NOTIFY), aborted through C (its
PostgreSQL backend gone at once), and a new one's result is the same bytes
through A, B and C. Plus the cluster-wide limits: max_async_jobs across
instances, per-client limits behind the proxy, the queue position."""

import http.client
import threading
import time
import urllib.parse

import pytest
import requests

import tscluster as T

# Seconds of work on the demo data; the alias marks it in pg_stat_activity.
ENDLESS = "SELECT COUNT(*) AS %s FROM demo.sources a, demo.sources b WHERE a.ra + b.ra > 1000"
SLOW = "SELECT COUNT(*) AS %s FROM demo.sources a, demo.sources b WHERE a.source_id < b.source_id AND a.source_id < %d"


def test_job_through_a_b_c(make_cluster, db):
    cl = make_cluster(3)
    psql = db["psql"]
    a, b, c = (cl.url(n) for n in "abc")

    # Created through A, not yet run; B waits on it with WAIT and is woken
    # by the event of the phase change that C causes.
    marker = "abc_marker"
    url, _ = T.create(a, ENDLESS % marker, run=False)
    got = {}

    def waiter():
        got["phase"] = T.phase(T.job(T.on(b, url), WAIT="60", PHASE="PENDING"))
        got["woken"] = time.monotonic()

    th = threading.Thread(target=waiter)
    th.start()
    # until B's WAIT is in place: a PENDING job's WAIT blocks, so the
    # thread is still in its request
    time.sleep(0.3)
    assert "phase" not in got
    t_run = time.monotonic()
    r = requests.post(T.on(c, url) + "/phase", data={"PHASE": "RUN"}, timeout=30)
    assert r.status_code in (200, 303), r.text
    th.join(60)
    assert got.get("phase") in ("QUEUED", "EXECUTING"), got
    wake_ms = (got["woken"] - t_run) * 1000
    print("WAIT on B woken %.0f ms after PHASE=RUN on C" % wake_ms)
    # The event, not the 60 s timeout, ended the WAIT; 100 ms is the aim,
    # 2 s the bound that holds on two busy cores.
    assert wake_ms < 2000, wake_ms

    # Executing somewhere; aborted through C; its backend is gone within 2 s.
    deadline = time.monotonic() + 30
    while T.active(psql, marker) == 0:
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(0.05)
    r = requests.post(T.on(c, url) + "/phase", data={"PHASE": "ABORT"}, timeout=30)
    assert r.status_code in (200, 303), r.text
    t_abort = time.monotonic()
    while T.active(psql, marker):
        assert time.monotonic() - t_abort < 2, "backend still running 2 s after the abort"
        time.sleep(0.02)
    assert T.phase(T.job(T.on(a, url))) == "ABORTED"
    assert psql.scalar("SELECT owner_instance IS NOT NULL FROM tapserve.jobs WHERE id = '%s'" % T.job_id(url)) == "t"

    # Re-created; its result through each instance, byte for byte.
    q = "SELECT TOP 500 source_id, ra, dec FROM demo.sources ORDER BY source_id"
    url, _ = T.create(cl.base, q)
    assert T.phase(T.wait_final(url, 60)) == "COMPLETED"
    for fmt in ("votable", "csv"):
        bodies = [T.result(T.on(base, url), fmt) for base in (a, b, c)]
        assert bodies[0] == bodies[1] == bodies[2]
        assert len(bodies[0]) > 1000
    sync = requests.get(cl.base + "/sync", params={"LANG": "ADQL", "QUERY": q, "RESPONSEFORMAT": "csv"}, timeout=60)
    assert sync.content == T.result(T.on(b, url), "csv")


def test_max_async_jobs_cluster_wide(make_cluster, db):
    """max_async_jobs = 3 with 3 instances (2 executors each) and 20 jobs:
    never more than 3 EXECUTING, sampled every 50 ms from PostgreSQL; all
    complete."""
    cl = make_cluster(3, {"jobs.max_async_jobs": "3"})
    psql = db["psql"]
    urls = [T.create(cl.base, SLOW % ("cap_%d" % i, 60 + i))[0] for i in range(20)]
    ids = ",".join("'%s'" % T.job_id(u) for u in urls)
    peak, samples = 0, 0
    deadline = time.monotonic() + 240
    while True:
        row = psql.scalar(
            "SELECT count(*) FILTER (WHERE phase = 'EXECUTING') || ' ' ||"
            " count(*) FILTER (WHERE phase IN ('COMPLETED', 'ERROR', 'ABORTED'))"
            " FROM tapserve.jobs WHERE id IN (%s)" % ids
        )
        executing, done = map(int, row.split())
        peak = max(peak, executing)
        samples += 1
        assert executing <= 3, "%d EXECUTING" % executing
        if done == 20:
            break
        assert time.monotonic() < deadline, "jobs not done: %s" % row
        time.sleep(0.05)
    print("max_async_jobs=3: peak %d EXECUTING over %d samples" % (peak, samples))
    assert peak == 3  # the cap was reached, not merely never approached
    for u in urls:
        assert T.phase(T.job(u)) == "COMPLETED"


def post_from(base, source, data):
    """POST /async from a given loopback source address (HAProxy writes it
    into X-Forwarded-For)."""
    u = urllib.parse.urlsplit(base)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30, source_address=(source, 0))
    conn.request("POST", u.path + "/async", urllib.parse.urlencode(data), {"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    r.read()
    conn.close()
    assert r.status == 303, r.status
    return r.getheader("Location")


def test_per_client_limit_behind_proxy(make_cluster, db):
    """Anonymous jobs count per client address as the trusted proxy gives
    it: one client's jobs queue behind max_per_user while another's run;
    the queued one shows its queue position."""
    cl = make_cluster(2, {"jobs.max_per_user": "1"})
    psql = db["psql"]
    one = [post_from(cl.base, "127.0.0.5", {"LANG": "ADQL", "QUERY": ENDLESS % ("pc_a%d" % i), "PHASE": "RUN"}) for i in range(2)]
    other = post_from(cl.base, "127.0.0.6", {"LANG": "ADQL", "QUERY": ENDLESS % "pc_b", "PHASE": "RUN"})
    rows = dict(
        l.split("\t")
        for l in psql.run(
            "SELECT id, client_addr FROM tapserve.jobs WHERE id IN ('%s')" % "','".join(T.job_id(u) for u in one + [other])
        ).split("\n")
        if l
    )
    assert rows[T.job_id(one[0])] == rows[T.job_id(one[1])] == "127.0.0.5"
    assert rows[T.job_id(other)] == "127.0.0.6"
    deadline = time.monotonic() + 30
    while not (T.active(psql, "pc_b") and (T.active(psql, "pc_a0") or T.active(psql, "pc_a1"))):
        assert time.monotonic() < deadline, "the two clients' jobs did not both run"
        time.sleep(0.05)
    phases = sorted(T.phase(T.job(u)) for u in one)
    assert phases == ["EXECUTING", "QUEUED"], phases
    queued = [u for u in one if T.phase(T.job(u)) == "QUEUED"][0]
    r = requests.get(queued, timeout=30)
    assert "<queuePosition>1</queuePosition>" in r.text, r.text
    doc = cl.workdir / ("%s-queued-job.xml" % cl.tag)
    doc.write_bytes(r.content)
    rc, out = T.tsit.xsdcheck(doc)  # jobInfo takes any element: still UWS 1.1
    assert rc == 0, out
    for u in one + [other]:
        requests.post(u + "/phase", data={"PHASE": "ABORT"}, timeout=30)
