"""Per-user quotas across two tapserve instances on one database, with the
fs and the pg result store: an upload past the database quota refused with
413 naming quota, usage and limit, nothing left; a job past the file quota
ends in ERROR with that message, stopped before it wrote its whole result,
nothing stored and usage unchanged; two jobs of one user on two instances
racing past a file quota (at most one succeeds, usage equals the bytes
stored, on disk or in the chunks); deletion gives bytes back; `tapserve
quota set|show`; the 90 % notification once per crossing."""

import os
import re
import subprocess
import threading
import time
import xml.etree.ElementTree as ET

import pytest
import requests

import tsit
from test_users import add_user, cli, ctx_server

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
# A result of several MiB (50000 rows of doubles compress little): the
# job charges its quota in several steps while it writes.
BIG = "SELECT * FROM demo.sources ORDER BY source_id"
SMALL = "SELECT TOP 1 source_id FROM demo.sources ORDER BY source_id"


@pytest.fixture(scope="module")
def cluster(workdir):
    """A database of this module's own: the run's other servers take jobs
    from their database's queue under their own default quota and result
    store, and must not run these."""
    with tsit.own_cluster(workdir, "quota") as d:
        yield d


def make_pair(cluster, workdir, store):
    settings = {"jobs.max_executing": "1", "jobs.sweep_interval": "1"}
    if store == "fs":
        d = os.path.join(str(workdir), "quota-store")
        os.makedirs(d, exist_ok=True)
        settings["jobs.result_store"] = "fs:" + d
    else:
        d = None
        settings["jobs.result_store"] = "pg"
    a = ctx_server(workdir, "quota-%s-a" % store, cluster["dsn"], settings)
    b = ctx_server(workdir, "quota-%s-b" % store, cluster["dsn"], settings)
    return a, b, d


@pytest.fixture(scope="module", params=["fs", "pg"])
def pair(request, cluster, workdir):
    a, b, d = make_pair(cluster, workdir, request.param)
    yield {"a": a, "b": b, "store": request.param, "dir": d}
    a.stop()
    b.stop()


def quota(cluster, *args):
    rc, out, err = cli(cluster, "quota", *args)
    assert rc == 0, err
    return out


def usage(psql, user, col="files_used"):
    v = psql.scalar(
        "SELECT q.%s FROM tapserve.quotas q JOIN tapserve.users u ON u.id = q.user_id WHERE u.name = '%s'"
        % (col, user)
    )
    return int(v or 0)


def create(srv, auth, query, run=True):
    data = {"LANG": "ADQL", "QUERY": query}
    if run:
        data["PHASE"] = "RUN"
    r = requests.post(srv.base + "/async", data=data, auth=auth, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    return r.headers["Location"].rsplit("/", 1)[1]


def wait_final(srv, auth, jid):
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        r = requests.get("%s/async/%s" % (srv.base, jid), params={"WAIT": "5"}, auth=auth, timeout=30)
        assert r.status_code == 200, r.text
        doc = ET.fromstring(r.content)
        ph = doc.find(UWS + "phase").text
        if ph in ("COMPLETED", "ERROR", "ABORTED"):
            msg = doc.find(UWS + "errorSummary/" + UWS + "message")
            return ph, (msg.text if msg is not None else None)
    raise AssertionError("job %s did not end" % jid)


def stored(pair, psql, user):
    """Bytes of the user's results as the store holds them: the files on
    disk (fs) or the chunks (pg); and the sum the result rows record."""
    jobs = psql.scalar(
        "SELECT coalesce(string_agg(j.id, ','), '') FROM tapserve.jobs j JOIN tapserve.users u"
        " ON u.id = j.owner_id WHERE u.name = '%s'" % user
    ).split(",")
    jobs = [j for j in jobs if j]
    recorded = int(
        psql.scalar(
            "SELECT coalesce(sum(r.bytes), 0) FROM tapserve.results r JOIN tapserve.jobs j ON j.id = r.job_id"
            " JOIN tapserve.users u ON u.id = j.owner_id WHERE u.name = '%s'" % user
        )
    )
    if pair["store"] == "fs":
        held = sum(
            os.path.getsize(os.path.join(pair["dir"], f))
            for f in os.listdir(pair["dir"])
            if any(j in f for j in jobs)
        )
    else:
        held = int(
            psql.scalar(
                "SELECT coalesce(sum(octet_length(c.data)), 0) FROM tapserve.result_chunks c"
                " JOIN tapserve.jobs j ON j.id = c.job_id JOIN tapserve.users u ON u.id = j.owner_id"
                " WHERE u.name = '%s'" % user
            )
        )
    return held, recorded


def leftovers(pair, psql, jid):
    """What a job left in the store: result rows, chunks, files."""
    rows = int(psql.scalar("SELECT count(*) FROM tapserve.results WHERE job_id = '%s'" % jid))
    chunks = int(psql.scalar("SELECT count(*) FROM tapserve.result_chunks WHERE job_id = '%s'" % jid))
    files = [f for f in os.listdir(pair["dir"]) if jid in f] if pair["dir"] else []
    return rows, chunks, files


def result_size(pair, cluster, user, auth):
    """The stored size of BIG's result, learnt from one run (deleted again)."""
    a, b = pair["a"], pair["b"]
    jid = create(a, auth, BIG)
    assert wait_final(a, auth, jid) == ("COMPLETED", None)
    psql = cluster["psql"]
    size = int(psql.scalar("SELECT bytes FROM tapserve.results WHERE job_id = '%s'" % jid))
    assert size > 3 << 20  # several steps of 1 MiB
    assert usage(psql, user) == size
    assert stored(pair, psql, user) == (size, size)
    # deleting the job (on the other instance) gives its bytes back
    r = requests.delete("%s/async/%s" % (b.base, jid), auth=auth, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    assert usage(psql, user) == 0
    assert leftovers(pair, psql, jid) == (0, 0, [])
    return size


def test_job_past_file_quota(cluster, pair):
    user = add_user(cluster, "it_q_job_" + pair["store"], "pw")
    auth = (user, "pw")
    psql = cluster["psql"]
    size = result_size(pair, cluster, user, auth)

    # a small result kept first: usage the refused job must leave as it is
    small = create(pair["a"], auth, SMALL)
    assert wait_final(pair["b"], auth, small) == ("COMPLETED", None)
    held, recorded = stored(pair, psql, user)
    assert usage(psql, user) == held == recorded > 0
    before = held

    limit = size // 2
    quota(cluster, "set", user, "--files", str(limit))
    jid = create(pair["b"], auth, BIG)
    phase, msg = wait_final(pair["a"], auth, jid)
    assert phase == "ERROR"
    m = re.search(r"file quota exceeded: your stored job results take (\d+) bytes and this result at least"
                  r" (\d+) more, over your limit of (\d+) bytes", msg)
    assert m, msg
    assert int(m.group(1)) == before and int(m.group(3)) == limit
    # stopped at the step that passed the limit, not after writing everything
    assert limit - before < int(m.group(2)) < size
    assert leftovers(pair, psql, jid) == (0, 0, [])
    assert usage(psql, user) == before
    assert stored(pair, psql, user) == (before, before)
    # TAP+ deletejobs gives the small one's bytes back too
    r = requests.post(pair["b"].base + "/deletejobs", data={"JOB_IDS": small}, auth=auth, timeout=30)
    assert r.status_code == 200, r.text
    assert usage(psql, user) == 0


def test_race_past_file_quota(cluster, pair):
    """Two jobs of one user, one on each instance, each alone within the
    limit and together past it: at most one succeeds, and usage is what
    the store holds."""
    user = add_user(cluster, "it_q_race_" + pair["store"], "pw")
    auth = (user, "pw")
    psql = cluster["psql"]
    size = result_size(pair, cluster, user, auth)
    quota(cluster, "set", user, "--files", str(size * 3 // 2))
    a, b = pair["a"], pair["b"]
    ids = [create(a, auth, BIG, run=False), create(b, auth, BIG, run=False)]

    def run(srv, jid):
        r = requests.post("%s/async/%s/phase" % (srv.base, jid), data={"PHASE": "RUN"}, auth=auth,
                          allow_redirects=False, timeout=30)
        assert r.status_code == 303, r.text

    ts = [threading.Thread(target=run, args=(srv, jid)) for srv, jid in zip((a, b), ids)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    ends = [wait_final(a, auth, jid) for jid in ids]
    # Both may fail: each charges as it writes, so two halfway through can
    # each find the other's bytes in the way.
    done = [jid for jid, (p, _) in zip(ids, ends) if p == "COMPLETED"]
    assert len(done) <= 1, ends
    assert all(p == "ERROR" and "file quota exceeded" in m for p, m in ends if p != "COMPLETED"), ends
    # they ran at once, one on each instance
    assert psql.scalar(
        "SELECT count(DISTINCT owner_instance) FROM tapserve.jobs WHERE id IN ('%s', '%s')" % tuple(ids)
    ) == "2"
    held, recorded = stored(pair, psql, user)
    assert usage(psql, user) == held == recorded == size * len(done)
    for jid in ids:
        if jid not in done:
            assert leftovers(pair, psql, jid) == (0, 0, [])
    for jid in ids:
        requests.delete("%s/async/%s" % (b.base, jid), auth=auth, allow_redirects=False, timeout=30)
    assert usage(psql, user) == 0


@pytest.mark.parametrize("pair", ["fs"], indirect=True)  # the store does not matter here
def test_notification_at_90_percent(cluster, pair):
    user = add_user(cluster, "it_q_note", "pw")
    auth = (user, "pw")
    psql = cluster["psql"]
    size = result_size(pair, cluster, user, auth)
    quota(cluster, "set", user, "--files", str(size * 100 // 95))

    def warnings():
        return int(psql.scalar(
            "SELECT count(*) FROM tapserve.notifications n JOIN tapserve.users u ON u.id = n.user_id"
            " WHERE u.name = '%s' AND n.kind = 'quota'" % user))

    big = create(pair["a"], auth, BIG)
    assert wait_final(pair["a"], auth, big) == ("COMPLETED", None)
    assert warnings() == 1
    r = requests.get(pair["b"].base + "/notification", params={"action": "GetNotifications"}, auth=auth,
                     timeout=30)
    assert r.status_code == 200, r.text
    # (said when usage passed 90 % while the result was written, or at its end)
    m = re.search(r"\[type: 1,3\]=Your file space is (9\d) % full: (\d+) of (\d+) bytes used by your job results",
                  r.text)
    assert m and int(m.group(3)) == size * 100 // 95 and int(m.group(2)) <= size, r.text
    # still past 90 %: no second message for the next job
    small = create(pair["b"], auth, SMALL)
    assert wait_final(pair["b"], auth, small) == ("COMPLETED", None)
    assert warnings() == 1
    # below it again, and past it again: a new message
    for jid in (big, small):
        requests.delete("%s/async/%s" % (pair["a"].base, jid), auth=auth, allow_redirects=False, timeout=30)
    big = create(pair["b"], auth, BIG)
    assert wait_final(pair["a"], auth, big) == ("COMPLETED", None)
    assert warnings() == 2


def csv_table(rows):
    return "id,ra,dec\n" + "".join("%d,%f,%f\n" % (i, i * 0.5, -i * 0.25) for i in range(rows))


@pytest.mark.parametrize("pair", ["fs"], indirect=True)  # the store does not matter here
def test_upload_past_db_quota(cluster, pair):
    a, b = pair["a"], pair["b"]
    user = add_user(cluster, "it_q_up", "pw")
    auth = (user, "pw")
    psql = cluster["psql"]
    quota(cluster, "set", user, "--db", "1k")

    def upload(srv, name):
        return requests.post(srv.ctx + "/Upload", data={"TABLE_NAME": name, "FORMAT": "csv"},
                             files={"FILE": ("t.csv", csv_table(100), "text/csv")}, auth=auth, timeout=60)

    r = upload(a, "t1")
    assert r.status_code == 413, r.text
    m = re.search(r"database quota exceeded: your tables would take (\d+) bytes with this one \((\d+) bytes\),"
                  r" over your limit of 1024 bytes", r.text)
    assert m and m.group(1) == m.group(2), r.text
    assert psql.scalar("SELECT count(*) FROM tapserve.user_tables t JOIN tapserve.users u ON u.id = t.user_id"
                       " WHERE u.name = '%s'" % user) == "0"
    assert psql.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'user_it_q_up'") == "0"
    assert usage(psql, user, "db_used") == 0

    # the default again (none here): kept, counted; show says so
    quota(cluster, "set", user, "--db", "default")
    r = upload(b, "t1")
    assert r.status_code == 200, r.text
    one = int(psql.scalar("SELECT t.bytes FROM tapserve.user_tables t JOIN tapserve.users u ON u.id = t.user_id"
                          " WHERE u.name = '%s'" % user))
    assert usage(psql, user, "db_used") == one > 1024
    out = quota(cluster, "show", user)
    assert "tables used %d bytes, limit the default" % one in out, out

    # a second table that does not fit beside the first, from another source
    quota(cluster, "set", user, "--db", str(one + one // 2))
    r = requests.post(a.ctx + "/Upload", data={"TABLE_NAME": "t2", "FORMAT": "csv"},
                      files={"FILE": ("t.csv", csv_table(100), "text/csv")}, auth=auth, timeout=60)
    assert r.status_code == 413 and "database quota exceeded" in r.text, r.text
    assert usage(psql, user, "db_used") == one
    assert pg_tables_of(psql) == "t1"
    # a job's result kept as a table counts the same
    quota(cluster, "set", user, "--db", str(one))
    jid = create(b, auth, SMALL)
    assert wait_final(b, auth, jid) == ("COMPLETED", None)
    r = requests.post(b.ctx + "/Upload", data={"TABLE_NAME": "t3", "JOBID": jid}, auth=auth, timeout=60)
    assert r.status_code == 413 and "database quota exceeded" in r.text, r.text
    assert usage(psql, user, "db_used") == one
    assert pg_tables_of(psql) == "t1"

    # deleting gives the bytes back
    r = requests.post(b.ctx + "/Upload", data={"TABLE_NAME": "t1", "DELETE": "TRUE"}, auth=auth, timeout=60)
    assert r.status_code == 200, r.text
    assert usage(psql, user, "db_used") == 0


def pg_tables_of(psql):
    return psql.scalar(
        "SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '') FROM pg_tables"
        " WHERE schemaname = 'user_it_q_up'"
    )


@pytest.mark.parametrize("pair", ["fs"], indirect=True)  # the store does not matter here
def test_cli_set_show(cluster, pair, workdir):
    user = add_user(cluster, "it_q_cli", "pw")
    out = quota(cluster, "show", user)
    assert out == (
        "user it_q_cli\n"
        "tables used 0 bytes, limit the default (-c FILE shows it)\n"
        "files  used 0 bytes, limit the default (-c FILE shows it)\n"
    ), out
    out = quota(cluster, "set", user, "--db", "2M", "--files", "0")
    assert "tables used 0 bytes (0 %), limit 2097152\n" in out, out
    assert "files  used 0 bytes, limit none\n" in out, out
    # with the configuration, the default is known
    cfg = os.path.join(str(workdir), "quota-cli.ini")
    with open(cfg, "w") as f:
        f.write("[database]\ndsn = %s\n\n[users]\nquota_files = 10M\n" % cluster["dsn"])
    p = subprocess.run([str(tsit.tapserve_bin()), "quota", "set", user, "--files", "default", "-c", cfg],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    assert p.returncode == 0, p.stderr
    assert "files  used 0 bytes (0 %), limit 10485760 (the default)\n" in p.stdout.decode(), p.stdout
    # bad input: usage errors, nothing changed
    for args, want in [
        (["set", user], "set needs --db BYTES or --files BYTES"),
        (["set", user, "--db", "lots"], "not a byte count"),
        (["show", user, "--db", "1"], "go with set only"),
        (["show", "it_q_nobody"], "no such user"),
    ]:
        rc, out, err = cli(cluster, "quota", *args)
        assert rc != 0 and want in err, (args, rc, err)
    assert "limit 2097152" in quota(cluster, "show", user)
