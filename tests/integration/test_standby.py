"""User queries on a PostgreSQL hot standby: `query_dsn` names a primary and
a streaming standby (made here with `pg_basebackup -R` on loopback), while
`dsn` (jobs, TAP_SCHEMA, LISTEN) names the primary alone.

- /sync and async queries are spread over both servers (their backends are
  seen in pg_stat_activity of each), and a job's CSV result is byte for byte
  the /sync result of the same query run on the primary, whichever server
  ran the job;
- with the standby stopped (`pg_ctl stop -m immediate`) /sync and async
  queries keep working; started again, it is used again;
- a job canceled on the standby by a recovery conflict (VACUUM on the
  primary removing rows the job's snapshot could still see, with
  max_standby_streaming_delay = 0) runs again and completes;
- queries over uploads run on the primary, where their tables were just
  created, even when query_dsn names the standby alone and its replay is
  paused.

The module has a cluster pair of its own; it stops and starts the standby."""

import os
import pwd
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
# Rows enough that the CSV has many lines, in a fixed order.
ROWS = "SELECT TOP 2000 source_id, ra, dec FROM demo.sources ORDER BY source_id"


def run_as_owner(path, cmd, timeout=300):
    """Runs cmd as the owner of path (PostgreSQL tools refuse root)."""
    owner = os.stat(path).st_uid
    if os.geteuid() == 0 and owner != 0:
        cmd = ["runuser", "-u", pwd.getpwuid(owner).pw_name, "--"] + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    assert p.returncode == 0, "%s failed:\n%s" % (" ".join(cmd), p.stdout.decode(errors="replace")[-3000:])


def tcp_dsn(port, dbname, user):
    return "host=127.0.0.1 port=%d dbname=%s user=%s" % (port, dbname, user)


@pytest.fixture(scope="module")
def pair(workdir):
    """A primary (the demo catalogue) and its streaming standby, both on
    loopback, and the tapserve instances of the module."""
    primary_dir = os.path.join(workdir, "pg-primary")
    standby_dir = os.path.join(workdir, "pg-standby")
    d = {"servers": [], "standby_dir": standby_dir, "primary_dir": primary_dir}
    d["dsn"] = tsit.demo_cluster(primary_dir)
    try:
        ppsql = tsit.Psql(d["dsn"])
        dbname = ppsql.scalar("SELECT current_database()")
        d["pport"] = int(ppsql.scalar("SHOW port"))
        ppsql.run("ALTER SYSTEM SET wal_level = 'replica'")
        ppsql.run("ALTER SYSTEM SET max_wal_senders = 4")
        logfile = os.path.join(primary_dir, "pg_ctl.log")
        rc, out = tsit.pg_ctl(primary_dir, "restart", "-m", "fast", "-w", "-l", logfile)
        assert rc == 0, out
        os.makedirs(standby_dir, mode=0o700)
        st = os.stat(primary_dir)
        os.chown(standby_dir, st.st_uid, st.st_gid)
        run_as_owner(
            standby_dir,
            ["/usr/lib/postgresql/15/bin/pg_basebackup", "-D", standby_dir, "-R", "-X", "stream", "-c", "fast",
             "-d", tcp_dsn(d["pport"], "postgres", "postgres")],
        )
        d["sport"] = tsit.free_port()
        d["pg_opts"] = (
            "-p %d -c unix_socket_directories=%s -c max_standby_streaming_delay=0 -c hot_standby_feedback=off"
            % (d["sport"], standby_dir)
        )
        start_standby(d)
        d["primary"] = tsit.Psql(tcp_dsn(d["pport"], dbname, "postgres"))
        d["standby"] = tsit.Psql(tcp_dsn(d["sport"], dbname, "postgres"))
        assert d["standby"].scalar("SELECT pg_is_in_recovery()") == "t"
        d["query_dsn"] = "host=127.0.0.1,127.0.0.1 port=%d,%d dbname=%s user=tapserve_query" % (
            d["pport"], d["sport"], dbname)
        d["primary_query_dsn"] = tcp_dsn(d["pport"], dbname, "tapserve_query")
        store = os.path.join(workdir, "results-standby")
        os.makedirs(store, exist_ok=True)
        common = {"jobs.result_store": "fs:" + store, "jobs.heartbeat": "1", "database.pool_size": "4",
                  "database.pool_wait_timeout": "60", "tap.max_sync_per_client": "16"}
        d["common"] = common  # every instance on this database shares the result store
        d["srv"] = tsit.Server(workdir, "standby-both", d["dsn"], dict(common, **{
            "database.query_dsn": d["query_dsn"],
            "database.query_server_backoff": "0.5",
            "jobs.max_executing": "3",
        }))
        d["servers"].append(d["srv"])
        # /sync on the primary alone, for reference; it runs no jobs.
        d["ref"] = tsit.Server(workdir, "standby-ref", d["dsn"], dict(common, **{
            "database.query_dsn": d["primary_query_dsn"],
            "jobs.max_executing": "0",
        }))
        d["servers"].append(d["ref"])
        yield d
    finally:
        for s in d["servers"]:
            s.stop()
        if os.path.exists(os.path.join(standby_dir, "postmaster.pid")):
            tsit.pg_ctl(standby_dir, "stop", "-m", "immediate", "-w")
        tsit.stop_cluster(primary_dir)


def start_standby(d):
    logfile = os.path.join(d["standby_dir"], "pg_ctl.log")
    rc, out = tsit.pg_ctl(d["standby_dir"], "start", "-w", "-t", "120", "-l", logfile, "-o", d["pg_opts"])
    assert rc == 0, out


def create(srv, query, run=True):
    data = {"LANG": "ADQL", "QUERY": query}
    if run:
        data["PHASE"] = "RUN"
    r = requests.post(srv.base + "/async", data=data, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    return r.headers["Location"]


def phase_of(url, **params):
    r = requests.get(url, params=params, timeout=120)
    assert r.status_code == 200, r.text
    root = ET.fromstring(r.content)
    err = root.find(UWS + "errorSummary")
    msg = err.find(UWS + "message").text if err is not None else None
    return root.find(UWS + "phase").text, msg


def wait_completed(url, limit=300):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        ph, msg = phase_of(url, WAIT="5")
        if ph in FINAL:
            assert ph == "COMPLETED", "job %s: %s: %s" % (url, ph, msg)
            return
    raise AssertionError("job %s not finished within %d s" % (url, limit))


def job_csv(url):
    r = requests.get(url + "/results/result", params={"RESPONSEFORMAT": "csv"}, timeout=60)
    assert r.status_code == 200, r.text[:500]
    return r.content


def sync_csv(srv, query):
    r = srv.sync({"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200, r.text[:500]
    return r.content


def standby_only_dsn(pair):
    """query_dsn naming the standby alone."""
    return pair["query_dsn"].replace(
        "host=127.0.0.1,127.0.0.1 port=%d,%d" % (pair["pport"], pair["sport"]),
        "host=127.0.0.1 port=%d" % pair["sport"])


def backends(psql, app, marker=None):
    """Backends of tapserve's query role with this application_name on
    one server (running a query with the marker, when given)."""
    sql = ("SELECT count(*) FROM pg_stat_activity WHERE usename = 'tapserve_query' "
           "AND application_name = '%s' AND backend_type = 'client backend'" % app)
    if marker:
        sql += " AND state = 'active' AND query LIKE '%%%s%%'" % marker
    return int(psql.scalar(sql))


def watch_servers(d, marker, stop):
    """Which servers ran a query with the marker, sampled until stop is set."""
    seen = set()
    while not stop.is_set():
        for name in ("primary", "standby"):
            if backends(d[name], "tapserve job", marker):
                seen.add(name)
        time.sleep(0.05)
    return seen


def concurrent_sync(srv, queries):
    out = [None] * len(queries)

    def one(i):
        out[i] = sync_csv(srv, queries[i])

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(queries))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return out


# ---------------------------------------------------------------------------


@pytest.mark.parametrize("query_dsn,message", [
    ("host=a,b port=1,2,3", "the connection string names 2 servers but 3 ports"),
    ("host=a,b hostaddr=127.0.0.1", "the connection string names 2 hosts but 1 host addresses"),
    ("host=a nosuchkey=1", 'malformed connection string: invalid connection option "nosuchkey"'),
])
def test_malformed_query_dsn_stops_start(workdir, query_dsn, message):
    """A query_dsn whose server list does not add up stops the start with
    a message naming the key, before anything else is tried."""
    path = os.path.join(workdir, "standby-bad.ini")
    with open(path, "w") as f:
        f.write("[database]\ndsn = host=127.0.0.1 port=1\nquery_dsn = %s\n" % query_dsn)
    p = subprocess.run([str(tsit.tapserve_bin()), "serve", "-c", path], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=60, check=False)
    out = p.stdout.decode(errors="replace")
    assert p.returncode == 1, out
    assert "[database] query_dsn: " + message in out, out


def test_spread_over_both(pair):
    """Concurrent /sync requests open pool connections on both servers;
    jobs run on both; every result equals the primary's /sync bytes."""
    srv, ref = pair["srv"], pair["ref"]
    want_rows = sync_csv(ref, ROWS)
    assert len(want_rows.splitlines()) == 2001
    got = concurrent_sync(srv, [ROWS] * 4 + [SLOW % ("spread_sync", 300)] * 2)
    assert got[:4] == [want_rows] * 4
    assert got[4] == got[5] == sync_csv(ref, SLOW % ("spread_sync", 300))
    # The pool's connections stay open: some on each server.
    assert backends(pair["primary"], "tapserve") >= 1
    assert backends(pair["standby"], "tapserve") >= 1

    marker = "spread_job_%d" % os.getpid()
    query = SLOW % (marker, 500)
    stop = threading.Event()
    seen = {}
    watcher = threading.Thread(target=lambda: seen.update(s=watch_servers(pair, marker, stop)))
    watcher.start()
    try:
        jobs = [create(srv, query) for _ in range(3)]
        for u in jobs:
            wait_completed(u)
    finally:
        stop.set()
        watcher.join(60)
    assert seen["s"] == {"primary", "standby"}, seen
    want = sync_csv(ref, query)
    for u in jobs:
        assert job_csv(u) == want
    # Small jobs too: byte-identical CSV whichever executor (and server) ran them.
    small = [create(srv, ROWS) for _ in range(6)]
    for u in small:
        wait_completed(u)
        assert job_csv(u) == want_rows
    assert backends(pair["primary"], "tapserve job") >= 1
    assert backends(pair["standby"], "tapserve job") >= 1


def test_standby_down_and_back(pair):
    """Standby stopped with -m immediate: /sync and jobs keep working on
    the primary; started again, new connections go to it again."""
    srv, ref = pair["srv"], pair["ref"]
    want = sync_csv(ref, ROWS)
    rc, out = tsit.pg_ctl(pair["standby_dir"], "stop", "-m", "immediate", "-w")
    assert rc == 0, out
    # More requests at once than the pool holds idle connections on the
    # primary: some must open new ones, and the standby refuses them.
    for _ in range(3):
        assert concurrent_sync(srv, [ROWS] * 6) == [want] * 6
    jobs = [create(srv, ROWS) for _ in range(6)]
    for u in jobs:
        wait_completed(u)
        assert job_csv(u) == want
    assert re.search(r"database server 127\.0\.0\.1:%d is down" % pair["sport"], srv.log_tail(400)), srv.log_tail()

    start_standby(pair)
    deadline = time.monotonic() + 60
    while backends(pair["standby"], "tapserve") == 0:
        assert time.monotonic() < deadline, "the standby was not used again:\n" + srv.log_tail()
        assert concurrent_sync(srv, [ROWS] * 6) == [want] * 6
    while backends(pair["standby"], "tapserve job") == 0:
        assert time.monotonic() < deadline, "no executor used the standby again:\n" + srv.log_tail()
        for u in [create(srv, ROWS) for _ in range(3)]:
            wait_completed(u)
            assert job_csv(u) == want
    assert "answers again" in srv.log_tail(400)


def job_on_standby(pair, tag):
    """A long job running on the standby: jobs are created (and those that
    land on the primary aborted) until one does. (url, query, marker)."""
    srv, primary, standby = pair["srv"], pair["primary"], pair["standby"]
    for attempt in range(12):
        marker = "%s_%d_%d" % (tag, os.getpid(), attempt)
        # Long enough to be caught running: the tests end it early.
        query = SLOW % (marker, 5000)
        u = create(srv, query)
        deadline = time.monotonic() + 60
        while True:
            assert time.monotonic() < deadline, "job never ran"
            if backends(standby, "tapserve job", marker):
                return u, query, marker
            if backends(primary, "tapserve job", marker):
                break
            time.sleep(0.05)
        # On the primary its backend pid is recorded: the abort cancels it.
        pid = int(primary.scalar("SELECT pid FROM pg_stat_activity WHERE query LIKE '%%%s%%' "
                                 "AND application_name = 'tapserve job' AND backend_type = 'client backend'" % marker))
        assert primary.scalar("SELECT backend_pid FROM tapserve.jobs WHERE id = '%s'" % u.rsplit("/", 1)[1]) == str(pid)
        requests.post(u + "/phase", data={"PHASE": "ABORT"}, timeout=30)
        phase_of(u, WAIT="30")
    raise AssertionError("no job ran on the standby in 12 tries")


def test_abort_job_on_standby(pair):
    """A job running on the standby has no backend pid recorded (an abort
    cancels pids on the primary, where that number is another session or
    none); the abort still stops its query on the standby."""
    u, _, marker = job_on_standby(pair, "abort")
    jid = u.rsplit("/", 1)[1]
    assert pair["primary"].scalar("SELECT coalesce(backend_pid, 0) FROM tapserve.jobs WHERE id = '%s'" % jid) == "0"
    r = requests.post(u + "/phase", data={"PHASE": "ABORT"}, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    assert phase_of(u)[0] == "ABORTED"
    deadline = time.monotonic() + 30
    while backends(pair["standby"], "tapserve job", marker):
        assert time.monotonic() < deadline, "the aborted job's query still runs on the standby"
        time.sleep(0.1)


def test_recovery_conflict_reruns_job(pair):
    """A job that the standby cancels for a recovery conflict is not the
    user's fault: it runs again (on the primary) and completes with the
    primary's bytes."""
    srv, ref, primary, standby = pair["srv"], pair["ref"], pair["primary"], pair["standby"]
    primary.run("CREATE TABLE IF NOT EXISTS public.churn (x int)")
    before = int(standby.scalar(
        "SELECT confl_snapshot FROM pg_stat_database_conflicts WHERE datname = current_database()"))
    u, query, marker = job_on_standby(pair, "conflict")
    # Rows deleted after the job's snapshot was taken and vacuumed away on
    # the primary: replaying that on the standby conflicts with the job.
    # VACUUM removes them only once no snapshot on the primary still needs
    # them (a busy primary may hold one for a while): churn again until the
    # standby reports the conflict.
    deadline = time.monotonic() + 90
    while True:
        primary.run("INSERT INTO public.churn SELECT generate_series(1, 1000)")
        primary.run("DELETE FROM public.churn")
        primary.run("VACUUM public.churn")
        t = time.monotonic() + 2
        while time.monotonic() < t and int(standby.scalar(
                "SELECT confl_snapshot FROM pg_stat_database_conflicts WHERE datname = current_database()")) == before:
            time.sleep(0.1)
        if int(standby.scalar(
                "SELECT confl_snapshot FROM pg_stat_database_conflicts WHERE datname = current_database()")) != before:
            break
        assert time.monotonic() < deadline, "no recovery conflict on the standby"
    wait_completed(u, 600)
    assert job_csv(u) == sync_csv(ref, query)
    log = srv.log_tail(400)
    assert "conflict with recovery" in log, log


def test_recovery_conflict_ends_sync_clearly(pair, workdir):
    """A /sync query that a standby cancels for a recovery conflict once
    its schema is known (nothing can be retried then) ends with a DALI
    error saying so, 503 with Retry-After: the server's fault, not the
    query's; the next request is served."""
    primary, standby = pair["primary"], pair["standby"]
    only = tsit.Server(workdir, "standby-only", pair["dsn"], {
        "database.query_dsn": standby_only_dsn(pair),
        "jobs.max_executing": "0",
    })
    pair["servers"].append(only)
    primary.run("CREATE TABLE IF NOT EXISTS public.churn (x int)")
    marker = "conflict_sync_%d" % os.getpid()
    got = {}

    def run():
        got["r"] = only.sync({"LANG": "ADQL", "QUERY": SLOW % (marker, 5000)}, timeout=300)

    th = threading.Thread(target=run)
    th.start()
    deadline = time.monotonic() + 60
    while not backends(standby, "tapserve", marker):
        assert time.monotonic() < deadline, "the /sync query never ran on the standby"
        time.sleep(0.05)
    primary.run("INSERT INTO public.churn SELECT generate_series(1, 1000)")
    primary.run("DELETE FROM public.churn")
    primary.run("VACUUM public.churn")
    th.join(300)
    r = got["r"]
    assert r.status_code == 503, r.text[:500]
    assert "Retry-After" in r.headers
    assert "canceled the query" in r.text and "conflict with recovery" in r.text, r.text[:500]
    assert 'value="ERROR"' in r.text
    assert sync_csv(only, ROWS) == sync_csv(pair["ref"], ROWS)


def test_uploads_run_on_the_primary(pair, workdir):
    """query_dsn names the standby alone, whose WAL replay is paused: a
    /sync query and an async job over an inline upload still complete,
    with the rows the primary gives, because they run on the primary (the
    upload table is not on the standby); a query without uploads still
    runs on the standby."""
    primary, standby = pair["primary"], pair["standby"]
    # The pair's store: its other instance may be the one that runs the job.
    srv = tsit.Server(workdir, "standby-only-uploads", pair["dsn"], dict(pair["common"], **{
        "database.query_dsn": standby_only_dsn(pair),
        "jobs.max_executing": "1",
    }))
    pair["servers"].append(srv)
    top = "SELECT TOP 5 source_id, ra, dec FROM demo.sources ORDER BY source_id"
    want = sync_csv(pair["ref"], top)
    body = b"\n".join(line.split(b",")[0] for line in want.splitlines()) + b"\n"
    assert body.startswith(b"source_id\n") and body.count(b"\n") == 6, body
    query = ("SELECT s.source_id, s.ra, s.dec FROM TAP_UPLOAD.t AS u JOIN demo.sources AS s"
             " ON s.source_id = u.source_id ORDER BY s.source_id")
    params = {"LANG": "ADQL", "QUERY": query, "UPLOAD": "t,param:f", "RESPONSEFORMAT": "csv"}
    standby.run("SELECT pg_wal_replay_pause()")
    try:
        r = requests.post(srv.base + "/sync", data=params, files={"f": ("ids.csv", body)}, timeout=120)
        assert r.status_code == 200, r.text[:500]
        assert r.content == want
        r = requests.post(srv.base + "/async", data=dict(params, PHASE="RUN"),
                          files={"f": ("ids.csv", body)}, allow_redirects=False, timeout=60)
        assert r.status_code == 303, r.text[:500]
        wait_completed(r.headers["Location"])
        assert job_csv(r.headers["Location"]) == want
        # Queries without uploads stay on the standby.
        assert sync_csv(srv, top) == want
        assert backends(standby, "tapserve") >= 1
        # The pool to the primary has a share of pool_size (4 // 4) and
        # /metrics shows it beside the query pool.
        m = requests.get("http://127.0.0.1:%d/metrics" % srv.port, timeout=30).text
        gauges = dict(line.split(" ", 1) for line in m.splitlines() if line and not line.startswith("#"))
        assert gauges["tapserve_db_pool_size"] == "4"
        assert gauges["tapserve_db_primary_pool_size"] == "1"
        assert int(gauges["tapserve_db_primary_pool_open"]) == 1
        assert gauges["tapserve_db_primary_pool_in_use"] == "0"
    finally:
        standby.run("SELECT pg_wal_replay_resume()")
        srv.stop()
