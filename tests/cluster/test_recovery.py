"""No job lost when an instance dies, and none run twice: instances
starting together on orphaned jobs, kill -9 of the executing instance, a
job whose instances keep dying, a poison query."""

import re
import time

import requests

import tscluster as T

SLOW = (
    "SELECT COUNT(*) AS %s FROM demo.sources a, demo.sources b "
    "WHERE a.source_id < b.source_id AND a.source_id < %d"
)
ENDLESS = "SELECT COUNT(*) AS %s FROM demo.sources a, demo.sources b WHERE a.ra + b.ra > 1000"


def with_dbname(dsn, name):
    return re.sub(r"\bdbname=\S+", "dbname=" + name, dsn)


def test_three_start_at_once_on_empty_database(make_cluster, db):
    """Three instances started at the same moment on an empty database:
    every migration is applied once (each version logged by exactly one
    instance) and TAP_SCHEMA is created once (no duplicated rows)."""
    psql = db["psql"]
    psql.run("DROP DATABASE IF EXISTS cluster_fresh")
    owner = psql.scalar("SELECT current_user")
    psql.run("CREATE DATABASE cluster_fresh OWNER %s" % owner)
    fresh = with_dbname(db["dsn"], "cluster_fresh")
    cl = make_cluster(3, start=False)
    cl.dsn = fresh
    cl.start(together=True)
    logs = cl.logs()
    fp = T.tsit.Psql(fresh)
    versions = [int(v) for v in fp.run("SELECT version FROM tapserve.schema_version ORDER BY 1").split()]
    assert versions == list(range(1, len(versions) + 1)), versions
    for v in versions:
        n = len(re.findall(r"cluster state migrated to version %d\b" % v, logs))
        assert n == 1, "migration %d logged %d times" % (v, n)
    for table in ("schemas", "tables", "columns"):
        total, distinct = fp.scalar(
            "SELECT count(*) || ' ' || count(DISTINCT t) FROM tap_schema.%s t" % table
        ).split()
        assert total == distinct and int(total) > 0, (table, total, distinct)
    assert int(fp.scalar("SELECT count(*) FROM tapserve.instances")) == 3
    cl.stop()
    psql.run("DROP DATABASE cluster_fresh WITH (FORCE)")


def test_fifty_orphans_recovered_once(make_cluster, db):
    """A database holding 50 jobs left EXECUTING by an instance that is
    gone; three instances start at the same moment: each job is recovered
    by exactly one of them, runs once and completes with its rows."""
    psql = db["psql"]
    if psql.scalar("SELECT to_regclass('tapserve.jobs') IS NULL") == "t":
        make_cluster(1).stop()  # the cluster state's schema, made once
    cl = make_cluster(3, start=False)
    # The dead instance that left them never had a row.
    psql.run(
        "INSERT INTO tapserve.jobs (id, phase, queued_at, start_time, execution_duration,"
        " destruction, parameters, owner_instance, attempts)"
        " SELECT md5('orphan' || g), 'EXECUTING', now(), now(), 600, now() + interval '1 day',"
        "   jsonb_build_object('lang', 'ADQL', 'query',"
        "     'SELECT TOP ' || g || ' source_id FROM demo.sources ORDER BY source_id'),"
        "   gen_random_uuid(), 1"
        " FROM generate_series(1, 50) g"
    )
    cl.start(together=True)
    ids = {"%s" % psql.scalar("SELECT md5('orphan' || %d)" % g): g for g in range(1, 51)}
    for jid, g in ids.items():
        root = T.wait_final(cl.base + "/async/" + jid, 180)
        assert T.phase(root) == "COMPLETED", (jid, T.error_message(root))
    live = set(psql.run("SELECT id FROM tapserve.instances").split())
    rows = psql.run(
        "SELECT j.id, j.owner_instance, j.attempts, count(r.name) FROM tapserve.jobs j"
        " LEFT JOIN tapserve.results r ON r.job_id = j.id WHERE j.id LIKE '%' GROUP BY 1, 2, 3"
    )
    seen = 0
    for line in rows.splitlines():
        jid, owner, attempts, results = line.split("\t")
        if jid in ids:
            seen += 1
            assert owner in live, (jid, owner)  # completed by one of the three
            assert attempts == "2" and results == "1", line  # one more run, one result
    assert seen == 50
    logs = cl.logs()
    for jid, g in ids.items():
        n = logs.count("job %s: its instance is gone; queued again" % jid)
        assert n == 1, "job %s recovered %d times" % (jid, n)
        assert logs.count("job %s: EXECUTING" % jid) == 1
        body = T.result(cl.url("abc"[g % 3]) + "/async/" + jid, "csv").decode()
        assert len(body.splitlines()) == g + 1


def executing_on(cl, psql, url):
    """The name of the instance whose executor runs the job."""
    port = psql.scalar(
        "SELECT i.port FROM tapserve.jobs j JOIN tapserve.instances i ON i.id = j.owner_instance"
        " WHERE j.id = '%s' AND j.phase = 'EXECUTING'" % T.job_id(url)
    )
    for name, p in cl.ports.items():
        if str(p) == port:
            return name
    return None


def wait_running(psql, marker, limit=60):
    deadline = time.monotonic() + limit
    while T.active(psql, marker) == 0:
        assert time.monotonic() < deadline, "%s never ran" % marker
        time.sleep(0.02)


def test_kill9_of_executing_instance(make_cluster, db):
    """kill -9 of the instance executing a job: another instance completes
    it within instance_timeout + 5 s, with the result /sync gives."""
    cl = make_cluster(3)
    psql = db["psql"]
    timeout = int(cl.overrides["jobs.instance_timeout"])
    marker = "kill9_marker"
    q = SLOW % (marker, 250)
    url, _ = T.create(cl.base, q)
    wait_running(psql, marker)
    victim = executing_on(cl, psql, url)
    assert victim
    cl.kill(victim)
    t_kill = time.monotonic()
    survivor = [n for n in cl.names if n != victim][0]
    root = T.wait_final(T.on(cl.url(survivor), url), timeout + 30)
    took = time.monotonic() - t_kill
    print("kill -9: job completed on another instance %.1f s after the kill" % took)
    assert T.phase(root) == "COMPLETED", T.error_message(root)
    assert took < timeout + 5, took
    sync = requests.get(cl.base + "/sync", params={"LANG": "ADQL", "QUERY": q, "RESPONSEFORMAT": "csv"}, timeout=120)
    assert sync.status_code == 200, sync.text[:300]
    assert T.result(T.on(cl.url(survivor), url), "csv") == sync.content
    assert cl.proxy.wait_status("DOWN", 10, names=[victim])


def test_job_killing_its_instances_abandoned(make_cluster, db):
    """A job whose every execution kills its instance (simulated with
    kill -9, the instance restarted as systemd would) is run at most
    max_attempts times across the cluster, then ERROR; the cluster keeps
    serving."""
    cl = make_cluster(3, {"jobs.max_attempts": "2"})
    psql = db["psql"]
    marker = "crashloop_marker"
    url, _ = T.create(cl.base, ENDLESS % marker)
    jid = T.job_id(url)
    for attempt in (1, 2):
        deadline = time.monotonic() + 60
        while psql.scalar("SELECT phase || ' ' || attempts FROM tapserve.jobs WHERE id = '%s'" % jid) != (
            "EXECUTING %d" % attempt
        ) or not T.active(psql, marker):
            assert time.monotonic() < deadline, "attempt %d never started" % attempt
            time.sleep(0.05)
        victim = executing_on(cl, psql, url)
        assert victim
        cl.kill(victim)
        cl._start_one(victim, wait=True)
    others = [n for n in cl.names]
    root = T.wait_final(T.on(cl.url(others[0]), url), 60)
    assert T.phase(root) == "ERROR"
    assert T.error_message(root) == "job abandoned after 2 attempts: the instances running it stopped"
    assert psql.scalar("SELECT attempts FROM tapserve.jobs WHERE id = '%s'" % jid) == "2"
    deadline = time.monotonic() + 20
    while T.active(psql, marker):
        assert time.monotonic() < deadline, "the abandoned query still runs"
        time.sleep(0.1)
    cl.proxy.wait_status("UP", 30)
    r = requests.get(cl.base + "/sync", params={"LANG": "ADQL", "QUERY": "SELECT TOP 3 source_id FROM demo.sources", "RESPONSEFORMAT": "csv"}, timeout=60)
    assert r.status_code == 200 and len(r.text.splitlines()) == 4


def test_poison_query(make_cluster, db):
    """A query that once crashed the checker: ERROR, and every instance
    keeps serving."""
    cl = make_cluster(3, {"jobs.max_attempts": "2"})
    q = "SELECT 1 FROM demo.sources" + " UNION SELECT 1 FROM demo.sources" * 29999
    url, _ = T.create(cl.base, q)
    root = T.wait_final(url, 300)
    assert T.phase(root) == "ERROR"
    for name in cl.names:
        assert cl.inst[name].alive()
        r = requests.get(cl.url(name) + "/sync", params={"LANG": "ADQL", "QUERY": "SELECT TOP 2 source_id FROM demo.sources", "RESPONSEFORMAT": "csv"}, timeout=60)
        assert r.status_code == 200, r.text[:300]
    assert cl.proxy.status() == {n: "UP" for n in cl.names}
