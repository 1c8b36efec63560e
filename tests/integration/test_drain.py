"""Draining an instance (SIGUSR1 through `tapserve drain`) and the
operator's view of the cluster (`tapserve cluster status`), with two
tapserve processes on one database.

A drain makes /availability false at once and refuses new work (503 with
Retry-After on /sync and job creation) while reads of existing jobs go on;
a /sync stream in progress completes; a job executing there either
finishes within drain_grace or goes back to the queue, its attempt not
counted, and another instance finishes it; then the process exits 0.

The module has a PostgreSQL cluster of its own: the executors of the
session's servers must not claim its jobs."""

import json
import os
import re
import subprocess
import time
import xml.etree.ElementTree as ET

import pytest
import requests

import tsit

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
FINAL = ("COMPLETED", "ERROR", "ABORTED")
# Some seconds of work on the demo data; the alias marks it in
# pg_stat_activity.
SLOW = (
    "SELECT COUNT(*) AS %s FROM demo.sources a, demo.sources b "
    "WHERE a.source_id < b.source_id AND a.source_id < %d"
)


@pytest.fixture(scope="module")
def db(workdir):
    with tsit.own_cluster(workdir, "drain") as d:
        yield d


def start(db, workdir, name, **extra):
    overrides = {
        "jobs.result_store": "fs:" + db["store"],
        "jobs.max_executing": "1",
        "jobs.heartbeat": "1",
        "server.pid_file": os.path.join(workdir, name + ".pid"),
        "server.drain_delay": "3",
    }
    overrides.update(extra)
    s = tsit.Server(workdir, name, db["dsn"], overrides)
    db["servers"].append(s)
    return s


def instance_id(srv):
    m = re.search(r"jobs: instance ([0-9a-f-]{36})", srv.log_path.read_text(errors="replace"))
    assert m, srv.log_tail()
    return m.group(1)


def create(srv, query):
    r = requests.post(srv.base + "/async", data={"LANG": "ADQL", "QUERY": query, "PHASE": "RUN"},
                      allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    return r.headers["Location"]


def job_phase(url):
    r = requests.get(url + "/phase", timeout=30)
    assert r.status_code == 200, r.text
    return r.text.strip()


def wait_phase(url, want, limit):
    deadline = time.monotonic() + limit
    while True:
        r = requests.get(url, params={"WAIT": "2"}, timeout=60)
        assert r.status_code == 200, r.text
        p = ET.fromstring(r.content).find(UWS + "phase").text
        if p in want:
            return p
        assert time.monotonic() < deadline, "job %s still %s after %d s" % (url, p, limit)


def availability(srv):
    r = requests.get(srv.base + "/availability", timeout=10)
    assert r.status_code == 200, r.text
    up = re.search(r"available>\s*(true|false)\s*<", r.text)
    note = re.search(r"<(?:\w+:)?note>([^<]*)<", r.text)
    return up.group(1) == "true", note.group(1) if note else ""


def drain(srv, *extra):
    return subprocess.Popen([str(tsit.tapserve_bin()), "drain", "-c", str(srv.config_path)] + list(extra),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def until_unavailable(srv, limit=5):
    """The drain signal is handled by the loop: availability turns false
    within a loop turn."""
    deadline = time.monotonic() + limit
    while True:
        up, note = availability(srv)
        if not up:
            return note
        assert time.monotonic() < deadline, "still available after the drain signal"


def cluster_status(srv, *extra):
    p = subprocess.run([str(tsit.tapserve_bin()), "cluster", "status", "-c", str(srv.config_path)] + list(extra),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60, check=False)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def test_drain_stream_completes_job_requeued(db, workdir):
    """A drain during a /sync stream and an executing job whose grace runs
    out: the stream completes; the job goes back to the queue without
    counting an attempt and the other instance finishes it."""
    psql = db["psql"]
    a = start(db, workdir, "drain-a", **{"server.drain_grace": "1"})
    # Long enough (seconds, also on an idle machine) to outlast the 1 s grace.
    url = create(a, SLOW % ("drainreq", 3000))
    assert wait_phase(url, ("EXECUTING",) + FINAL, 30) == "EXECUTING"
    # The other instance comes up only now, so that the job is A's.
    b = start(db, workdir, "drain-b")
    job_id = url.rsplit("/", 1)[1]
    assert psql.scalar("SELECT owner_instance FROM tapserve.jobs WHERE id = '%s'" % job_id) == instance_id(a)

    # A result far larger than the socket buffers: the stream is still
    # being written when the drain begins.
    stream = requests.get(a.base + "/sync", params={"LANG": "ADQL", "RESPONSEFORMAT": "csv",
                                                     "QUERY": "SELECT * FROM demo.sources"},
                          headers={"Accept-Encoding": "identity"}, stream=True, timeout=120)
    assert stream.status_code == 200
    first = stream.raw.read(65536)
    assert len(first) == 65536

    d = drain(a)
    note = until_unavailable(a)
    assert "draining" in note, note
    # New work is refused in DALI form, with Retry-After ...
    r = a.sync({"LANG": "ADQL", "QUERY": "SELECT TOP 1 source_id FROM demo.sources"})
    assert r.status_code == 503 and r.headers.get("Retry-After"), (r.status_code, r.text[:300])
    assert "VOTABLE" in r.text and "draining" in r.text
    r = requests.post(a.base + "/async", data={"LANG": "ADQL", "QUERY": "SELECT 1"},
                      allow_redirects=False, timeout=30)
    assert r.status_code == 503 and r.headers.get("Retry-After"), r.text[:300]
    # ... while existing jobs can still be read there (drain_delay is 3 s).
    assert job_phase(a.base + "/async/" + job_id) in ("EXECUTING", "QUEUED")

    rest = stream.raw.read()
    text = (first + rest).decode()
    assert text.endswith("\n")
    assert len(text.splitlines()) == 1 + int(psql.scalar("SELECT count(*) FROM demo.sources"))

    out, _ = d.communicate(timeout=120)
    assert d.returncode == 0, out.decode()
    assert a.proc.wait(timeout=30) == 0, a.log_tail()
    assert "given back" in a.log_path.read_text(errors="replace"), a.log_tail()
    assert not os.path.exists(os.path.join(workdir, "drain-a.pid"))

    assert wait_phase(b.base + "/async/" + job_id, FINAL, 120) == "COMPLETED"
    # Claimed twice, given back once: one attempt counted.
    assert psql.scalar("SELECT attempts FROM tapserve.jobs WHERE id = '%s'" % job_id) == "1"
    got = requests.get(b.base + "/async/" + job_id + "/results/result", params={"RESPONSEFORMAT": "csv"},
                       timeout=60).text.splitlines()
    want = psql.scalar("SELECT count(*) FROM demo.sources a, demo.sources b "
                       "WHERE a.source_id < b.source_id AND a.source_id < 3000")
    assert got == ["drainreq", want]
    b.stop()


def test_cluster_status_and_drain_within_grace(db, workdir):
    """`tapserve cluster status` lists both running instances with their
    running jobs, queue and phases (text and JSON); a drained instance
    shows as draining, finishes its job within the grace and leaves the
    list when it exits."""
    psql = db["psql"]
    c = start(db, workdir, "status-c", **{"server.drain_grace": "120"})
    d = start(db, workdir, "status-d", **{"jobs.max_executing": "0"})
    url = create(c, SLOW % ("drainok", 500))
    job_id = url.rsplit("/", 1)[1]
    assert wait_phase(url, ("EXECUTING",) + FINAL, 30) == "EXECUTING"
    # A job D never runs (it has no executor) and C is busy with: queued.
    queued = create(d, "SELECT TOP 1 source_id FROM demo.sources")

    doc = json.loads(cluster_status(d, "--json"))
    by_id = {i["uuid"]: i for i in doc["instances"]}
    ic, idd = instance_id(c), instance_id(d)
    assert set(by_id) == {ic, idd}
    assert by_id[ic]["port"] == c.port and by_id[idd]["port"] == d.port
    assert by_id[ic]["running_jobs"] == 1 and by_id[idd]["running_jobs"] == 0
    assert by_id[ic]["pid"] == c.proc.pid and not by_id[ic]["draining"]
    assert by_id[ic]["version"] and by_id[ic]["heartbeat_age_s"] < 10
    rows = psql.run("SELECT phase, count(*) FROM tapserve.jobs GROUP BY phase").splitlines()
    phases = {p: int(n) for p, n in (line.split("\t") for line in rows)}
    assert doc["jobs"] == phases and doc["queue_length"] == phases.get("QUEUED", 0) >= 1

    text = cluster_status(c)
    assert "2 instance(s)" in text
    for line in text.splitlines():
        if line.startswith(ic):
            assert str(c.port) in line.split() and line.split()[-2:] == ["1", "no"], line
    assert "queue length: %d" % phases["QUEUED"] in text

    p = drain(c, "--no-wait")
    assert p.wait(timeout=30) == 0
    until_unavailable(c)
    deadline = time.monotonic() + 10
    while not {i["uuid"]: i for i in json.loads(cluster_status(d, "--json"))["instances"]}[ic]["draining"]:
        assert time.monotonic() < deadline, "the drain never reached the instance row"
        time.sleep(0.2)
    assert re.search(r"^%s .* yes$" % ic, cluster_status(d), re.M)

    # The job ends on C within the grace; then C exits 0 and leaves the list.
    assert c.proc.wait(timeout=120) == 0, c.log_tail()
    assert "given back" not in c.log_path.read_text(errors="replace")
    assert psql.scalar("SELECT phase || ' ' || attempts FROM tapserve.jobs WHERE id = '%s'" % job_id) == "COMPLETED 1"
    doc = json.loads(cluster_status(d, "--json"))
    assert [i["uuid"] for i in doc["instances"]] == [idd]
    assert job_phase(queued) == "QUEUED"
    d.stop()


def test_drain_command_errors(workdir):
    """tapserve drain names what is wrong: no target (2), a pid file that
    is missing or holds no pid (1), a configuration without pid_file (1)."""
    exe = str(tsit.tapserve_bin())

    def run(*args):
        p = subprocess.run([exe, "drain"] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return p.returncode, p.stderr.decode()

    rc, err = run()
    assert rc == 2 and "--pid" in err
    rc, err = run("--pid", "1", "--pid-file", "x")
    assert rc == 2 and "one of" in err
    rc, err = run("--pid-file", os.path.join(workdir, "absent.pid"))
    assert rc == 1 and "cannot read" in err
    junk = os.path.join(workdir, "junk.pid")
    with open(junk, "w") as f:
        f.write("not a pid\n")
    rc, err = run("--pid-file", junk)
    assert rc == 1 and "does not hold a process id" in err
    ini = os.path.join(workdir, "no-pid-file.ini")
    with open(ini, "w") as f:
        f.write("[server]\nport = 1\n[database]\ndsn = host=/nonexistent\n")
    rc, err = run("-c", ini)
    assert rc == 1 and "pid_file" in err
