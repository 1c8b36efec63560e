"""Job ownership across two tapserve instances on one database: a user's
job is 403 to every other caller on every job resource and on both
instances, the job list shows the caller's jobs only (a user's, or those
of an anonymous browser's owner cookie) with the UWS 1.1 filters, anonymous
jobs stay reachable by their id alone, job: uploads follow the same rule,
the TAP+ jobs/async and deletejobs resources, pyvo with HTTP Basic and a
bearer token, astroquery's TapPlus, the cache of Basic credentials, and the
401 challenge."""

import re
import time
import xml.etree.ElementTree as ET

import pytest
import requests

import tsit
from test_users import add_user, cli, ctx_server, tapplus

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
XLINK = "{http://www.w3.org/1999/xlink}"
QUERY = "SELECT TOP 5 source_id, ra, dec FROM demo.sources ORDER BY source_id"
SETTINGS = {"jobs.sweep_interval": "1", "jobs.heartbeat": "1"}


@pytest.fixture(scope="module")
def pair(cluster, workdir):
    a = ctx_server(workdir, "own-a", cluster["dsn"], SETTINGS)
    b = ctx_server(workdir, "own-b", cluster["dsn"], SETTINGS)
    yield a, b
    a.stop()
    b.stop()


@pytest.fixture(scope="module")
def users(cluster, pair):
    add_user(cluster, "it_own_a", "pw-own-a")
    add_user(cluster, "it_own_b", "pw-own-b")
    return ("it_own_a", "pw-own-a"), ("it_own_b", "pw-own-b")


def session(auth=None, headers=None):
    s = requests.Session()
    s.auth = auth
    s.headers.update(headers or {})
    return s


def create(s, srv, run=True, query=QUERY, **extra):
    data = {"LANG": "ADQL", "QUERY": query}
    if run:
        data["PHASE"] = "RUN"
    data.update(extra)
    r = s.post(srv.base + "/async", data=data, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    return r.headers["Location"].rsplit("/", 1)[1], r


def wait_final(s, srv, jid):
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        r = s.get("%s/async/%s" % (srv.base, jid), params={"WAIT": "5"}, timeout=30)
        assert r.status_code == 200, r.text
        ph = ET.fromstring(r.content).find(UWS + "phase").text
        if ph in ("COMPLETED", "ERROR", "ABORTED"):
            return ph
    raise AssertionError("job %s did not end" % jid)


def listed(s, srv, params=None):
    r = s.get(srv.base + "/async", params=params, timeout=30)
    assert r.status_code == 200, r.text
    return [ref.get("id") for ref in ET.fromstring(r.content).findall(UWS + "jobref")]


def resources(srv, jid):
    """(method, url, data) of every job resource."""
    j = "%s/async/%s" % (srv.base, jid)
    return [
        ("GET", j, None),
        ("GET", j + "?WAIT=1", None),
        ("GET", j + "/phase", None),
        ("GET", j + "/parameters", None),
        ("GET", j + "/results", None),
        ("GET", j + "/results/result", None),
        ("GET", j + "/error", None),
        ("GET", j + "/owner", None),
        ("GET", j + "/executionduration", None),
        ("POST", j + "/executionduration", {"EXECUTIONDURATION": "10"}),
        ("POST", j + "/parameters", {"MAXREC": "1"}),
        ("POST", j + "/phase", {"PHASE": "ABORT"}),
        ("POST", j, {"ACTION": "DELETE"}),
        ("DELETE", j, None),
    ]


def test_user_job_is_forbidden_to_others(cluster, pair, users):
    a, b = pair
    (ua, pa), (ub, pb) = users
    sa, sb, anon = session((ua, pa)), session((ub, pb)), session()
    jid, _ = create(sa, a)
    assert wait_final(sa, a, jid) == "COMPLETED"
    assert cluster["psql"].scalar("SELECT owner FROM tapserve.jobs WHERE id = '%s'" % jid) == ua
    for other in (sb, anon):
        for srv in (a, b):
            for method, url, data in resources(srv, jid):
                r = other.request(method, url, data=data, allow_redirects=False, timeout=30)
                assert r.status_code == 403, (method, url, r.status_code, r.text)
                assert "belongs to another user" in tsit.error_message(r.content)
    # nothing changed: the owner still reads it whole, on both instances
    for srv in (a, b):
        r = sa.get("%s/async/%s" % (srv.base, jid), timeout=30)
        assert r.status_code == 200
        root = ET.fromstring(r.content)
        assert root.find(UWS + "ownerId").text == ua
        assert root.find(UWS + "phase").text == "COMPLETED"
        r = sa.get("%s/async/%s/results/result" % (srv.base, jid), params={"RESPONSEFORMAT": "csv"}, timeout=30)
        assert r.status_code == 200 and len(r.text.splitlines()) == 6
    # the owner deletes it
    r = sa.delete("%s/async/%s" % (b.base, jid), allow_redirects=False, timeout=30)
    assert r.status_code == 303
    assert sa.get("%s/async/%s/phase" % (a.base, jid), timeout=30).status_code == 404


def test_job_upload_follows_ownership(pair, users):
    a, b = pair
    (ua, pa), (ub, pb) = users
    sa, sb = session((ua, pa)), session((ub, pb))
    jid, _ = create(sa, a)
    assert wait_final(sa, a, jid) == "COMPLETED"
    up = "SELECT COUNT(*) AS n FROM TAP_UPLOAD.t"

    def refs(srv):
        # job:ID, and the result URL under the base_url of the instance asked
        return ("job:" + jid, "%s/async/%s/results/result" % (srv.base, jid))

    for srv in (a, b):
        for ref in refs(srv):
            data = {"LANG": "ADQL", "QUERY": up, "UPLOAD": "t," + ref}
            # another user: neither in a job nor on /sync; nor anonymously
            r = sb.post(srv.base + "/async", data=data, allow_redirects=False, timeout=30)
            assert r.status_code == 403, r.text
            r = sb.post(srv.base + "/sync", data=data, timeout=30)
            assert r.status_code == 403, r.text
            assert "belongs to another user" in tsit.error_message(r.content)
            r = requests.post(srv.base + "/sync", data=data, timeout=30)
            assert r.status_code == 403, r.text
            # its owner may
            r = sa.post(srv.base + "/sync", data=dict(data, RESPONSEFORMAT="csv"), timeout=30)
            assert r.status_code == 200 and r.text.split() == ["n", "5"], r.text


def test_job_list_shows_the_callers_jobs(pair, users):
    a, b = pair
    (ua, pa), (ub, pb) = users
    sa, sb, browser, stranger = session((ua, pa)), session((ub, pb)), session(), session()
    ja, _ = create(sa, a, run=False)
    jb, _ = create(sb, b, run=False)
    jn, r = create(browser, a, run=False)
    # the anonymous owner cookie: random, HttpOnly, SameSite=Lax, on the context
    cookie = [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("TAPSERVE_OWNER=")]
    assert len(cookie) == 1, r.raw.headers
    assert re.match(r"TAPSERVE_OWNER=[0-9a-f]{32}; ", cookie[0])
    assert "; HttpOnly" in cookie[0] and "; SameSite=Lax" in cookie[0] and "; Path=/ctx" in cookie[0]
    # a second creation keeps the cookie it has
    jn2, r = create(browser, b, run=False)
    assert not [c for c in r.raw.headers.getlist("Set-Cookie") if c.startswith("TAPSERVE_OWNER=")]
    for srv in (a, b):
        la, lb, ln = listed(sa, srv), listed(sb, srv), listed(browser, srv)
        assert ja in la and jb not in la and jn not in la
        assert jb in lb and ja not in lb and jn not in lb
        assert ln == [jn2, jn]
        # no credentials and no owner cookie: no jobs (list_anonymous = 0)
        assert listed(stranger, srv) == []
    # the TAP+ list shows the same
    r = sa.get(a.base + "/jobs/async", timeout=30)
    assert r.status_code == 200
    ids = [e.text for e in ET.fromstring(r.content).iter(UWS + "jobId")]
    assert ja in ids and jb not in ids and jn not in ids


def test_job_list_filters(pair, cluster):
    a, b = pair
    add_user(cluster, "it_own_f", "pw-own-f")
    s = session(("it_own_f", "pw-own-f"))
    j1, _ = create(s, a)
    assert wait_final(s, a, j1) == "COMPLETED"
    j2, _ = create(s, b, run=False)
    j3, _ = create(s, a)
    assert wait_final(s, a, j3) == "COMPLETED"
    j4, _ = create(s, b, run=False)
    s.post("%s/async/%s/phase" % (a.base, j4), data={"PHASE": "ABORT"}, timeout=30)
    # newest first
    assert listed(s, a) == [j4, j3, j2, j1]
    assert listed(s, b, {"PHASE": "PENDING"}) == [j2]
    assert listed(s, b, [("PHASE", "PENDING"), ("PHASE", "COMPLETED")]) == [j3, j2, j1]
    assert listed(s, a, {"LAST": "2"}) == [j4, j3]
    assert listed(s, a, {"PHASE": "COMPLETED", "LAST": "1"}) == [j3]
    # j2's creation time to the next millisecond (times go by milliseconds)
    created = cluster["psql"].scalar(
        "SELECT to_char((date_trunc('milliseconds', creation_time) + interval '1 ms') AT TIME ZONE 'UTC',"
        " 'YYYY-MM-DD\"T\"HH24:MI:SS.MS') FROM tapserve.jobs WHERE id = '%s'" % j2
    )
    assert listed(s, b, {"AFTER": created + "Z"}) == [j4, j3]
    for bad in ({"PHASE": "RUNNING"}, {"LAST": "0"}, {"AFTER": "yesterday"}):
        assert s.get(a.base + "/async", params=bad, timeout=30).status_code == 400
    # TAP+ filters: phaseid, limit and offset, order
    r = s.get(a.base + "/jobs/async", params={"phaseid": "COMPLETED", "order": "creation_time"}, timeout=30)
    assert [e.text for e in ET.fromstring(r.content).iter(UWS + "jobId")] == [j1, j3]
    # by start time: j3 started after j1; j2 and j4 never started (last)
    cluster["psql"].run("UPDATE tapserve.jobs SET start_time = creation_time - interval '1 day'"
                        " WHERE id = '%s'" % j3)  # so the orders differ
    for order, want in (("start_time", [j3, j1]), ("-start_time", [j1, j3]), ("-creation_time", [j3, j1])):
        r = s.get(a.base + "/jobs/async", params={"phaseid": "COMPLETED", "order": order}, timeout=30)
        assert [e.text for e in ET.fromstring(r.content).iter(UWS + "jobId")] == want, order
    r = s.get(a.base + "/jobs/async", params={"order": "-start_time", "limit": "2"}, timeout=30)
    assert [e.text for e in ET.fromstring(r.content).iter(UWS + "jobId")] == [j1, j3]
    r = s.get(a.base + "/jobs/async", params={"limit": "2", "offset": "1"}, timeout=30)
    assert [e.text for e in ET.fromstring(r.content).iter(UWS + "jobId")] == [j3, j2]
    r = s.get(a.base + "/jobs/async", params={"jobid": j2, "metadata_only": "false"}, timeout=30)
    root = ET.fromstring(r.content)
    assert [e.text for e in root.iter(UWS + "jobId")] == [j2]
    params = {p.get("id"): p.text for p in root.iter(UWS + "parameter")}
    assert params["query"] == QUERY
    # metadata_only=false for the whole list: each job with its own
    # parameters and results.
    r = s.get(a.base + "/jobs/async", params={"metadata_only": "false"}, timeout=30)
    whole = [j for j in ET.fromstring(r.content).iter(UWS + "job")]
    assert [j.find(UWS + "jobId").text for j in whole] == [j4, j3, j2, j1]
    for j in whole:
        jid = j.find(UWS + "jobId").text
        assert {p.get("id"): p.text for p in j.iter(UWS + "parameter")}["query"] == QUERY
        results = [e.get(XLINK + "href") for e in j.iter(UWS + "result")]
        if jid in (j1, j3):
            assert len(results) == 1 and jid in results[0], (jid, results)
        else:
            assert results == [], (jid, results)
    assert s.get(a.base + "/jobs/async", params={"order": "size"}, timeout=30).status_code == 400


def test_anonymous_job_by_id_without_cookie(pair, users):
    a, b = pair
    (ua, pa), _ = users
    browser = session()
    jid, _ = create(browser, a)
    assert wait_final(browser, a, jid) == "COMPLETED"
    # a DALI client sends no cookie: the id is enough, on any instance
    for srv in (a, b):
        r = requests.get("%s/async/%s/results/result" % (srv.base, jid), params={"RESPONSEFORMAT": "csv"},
                         timeout=30)
        assert r.status_code == 200 and len(r.text.splitlines()) == 6
        assert requests.get("%s/async/%s/phase" % (srv.base, jid), timeout=30).text == "COMPLETED"
    # a logged-in user too; and whoever holds it may delete it
    assert session((ua, pa)).get("%s/async/%s" % (b.base, jid), timeout=30).status_code == 200
    assert requests.delete("%s/async/%s" % (b.base, jid), allow_redirects=False, timeout=30).status_code == 303


def test_deletejobs(pair, users):
    a, b = pair
    (ua, pa), (ub, pb) = users
    sa, sb = session((ua, pa)), session((ub, pb))
    j1, _ = create(sa, a, run=False)
    j2, _ = create(sa, b, run=False)
    jb, _ = create(sb, a, run=False)
    # one foreign id refuses the lot
    r = sb.post(b.base + "/deletejobs", data={"JOB_IDS": "%s,%s" % (j1, jb)}, timeout=30)
    assert r.status_code == 403, r.text
    assert sb.get("%s/async/%s/phase" % (a.base, jb), timeout=30).status_code == 200
    assert sa.get("%s/async/%s/phase" % (a.base, j1), timeout=30).status_code == 200
    for bad in ("", "not-an-id", j1 + ",,x y"):
        assert sa.post(a.base + "/deletejobs", data={"JOB_IDS": bad}, timeout=30).status_code == 400
    r = sa.post(a.base + "/deletejobs", data={"JOB_IDS": "%s, %s" % (j1, j2)}, timeout=30)
    assert r.status_code == 200, r.text
    for j in (j1, j2):
        assert sa.get("%s/async/%s/phase" % (b.base, j), timeout=30).status_code == 404


def test_pyvo_basic_and_bearer(cluster, pair, users):
    import pyvo

    a, b = pair
    (ua, pa), (ub, pb) = users
    rc, out, err = cli(cluster, "token", "add", ub)
    assert rc == 0, err
    token = out.strip()
    for s, who in ((session((ua, pa)), ua), (session(headers={"Authorization": "Bearer " + token}), ub)):
        for srv in (a, b):
            svc = pyvo.dal.TAPService(srv.base, session=s)
            assert len(svc.run_sync(QUERY).to_table()) == 5
            assert len(svc.run_async(QUERY).to_table()) == 5  # deletes its job
            job = svc.submit_job(QUERY)
            job.run()
            job.wait()
            assert len(job.fetch_result().to_table()) == 5
        # pyvo's own job list: the caller's jobs only
        mine = [j.jobid for j in pyvo.dal.TAPService(b.base, session=s).get_job_list()]
        assert len(mine) >= 2 and sorted(mine) == sorted(listed(s, a))
        _, owners = cluster["psql"].rows(
            "SELECT DISTINCT owner FROM tapserve.jobs WHERE id IN (%s)" % ",".join("'%s'" % j for j in mine)
        )
        assert owners == [[who]], owners
    # a wrong password or token is 401 with the challenges of RFC 7235
    for s in (session((ua, "wrong")), session(headers={"Authorization": "Bearer tst_" + "0" * 44})):
        r = s.get(a.base + "/async", timeout=30)
        assert r.status_code == 401
        challenges = r.raw.headers.getlist("WWW-Authenticate")
        assert 'Basic realm="tapserve"' in challenges and 'Bearer realm="tapserve"' in challenges
    # a browser (cookies) or a failed form login is not offered Basic: the
    # browser would put its own password dialog over the page
    ctx = a.base.rsplit("/", 1)[0]
    for r in (
        requests.get(a.base + "/async", cookies={"SESSION": "0" * 32}, timeout=30),
        requests.post(ctx + "/login", data={"username": ua, "password": "wrong"}, timeout=30),
    ):
        assert r.status_code == 401, (r.status_code, r.text[:200])
        assert r.raw.headers.getlist("WWW-Authenticate") == ['Bearer realm="tapserve"']


def test_basic_cache_dropped_on_password_change(cluster, pair):
    a, b = pair
    add_user(cluster, "it_own_c", "pw-own-c")
    s = session(("it_own_c", "pw-own-c"))
    for srv in (a, b):
        assert s.get(srv.base + "/async", timeout=30).status_code == 200
    rc, _, err = cli(cluster, "user", "passwd", "it_own_c", stdin="pw-own-c2\n")
    assert rc == 0, err
    # LOGIN_OUT_EVENT reaches both instances: the old password is refused
    for srv in (a, b):
        deadline = time.monotonic() + 1.0
        status = None
        while time.monotonic() < deadline:
            status = s.get(srv.base + "/async", timeout=30).status_code
            if status == 401:
                break
        assert status == 401
    assert session(("it_own_c", "pw-own-c2")).get(b.base + "/async", timeout=30).status_code == 200


def test_throttle_uses_the_forwarded_address(cluster, workdir):
    srv = ctx_server(workdir, "own-proxy", cluster["dsn"], {
        "server.trusted_proxies": "127.0.0.1",
        "users.login_max_failures_per_address": "2",
        "users.login_max_failures": "100",
    })
    try:
        cluster["psql"].run("DELETE FROM tapserve.login_failures WHERE kind = 'addr'")

        def attempt(addr, name):
            return requests.post(srv.ctx + "/login", data={"username": name, "password": "guess"},
                                 headers={"X-Forwarded-For": addr}, timeout=30).status_code

        assert attempt("203.0.113.5", "it_nobody1") == 401
        assert attempt("203.0.113.5", "it_nobody2") == 401
        assert attempt("203.0.113.5", "it_nobody3") == 429
        # another client behind the same proxy is not held back by it
        assert attempt("203.0.113.6", "it_nobody4") == 401
        _, rows = cluster["psql"].rows("SELECT key FROM tapserve.login_failures WHERE kind = 'addr'")
        keys = [k for (k,) in rows]
        assert sorted(keys) == ["203.0.113.5", "203.0.113.6"]
    finally:
        srv.stop()


def test_astroquery_jobs(cluster, pair):
    a, b = pair
    add_user(cluster, "it_own_q", "pw-own-q")
    tap, handler = tapplus([a, b])
    tap.login(user="it_own_q", password="pw-own-q")
    job = tap.launch_job_async(QUERY)
    assert len(job.get_results()) == 5
    jid = job.jobid
    assert cluster["psql"].scalar("SELECT owner FROM tapserve.jobs WHERE id = '%s'" % jid) == "it_own_q"
    assert [j.jobid for j in tap.list_async_jobs()] == [jid]
    found = tap.search_async_jobs()
    assert [j.jobid for j in found] == [jid]
    assert found[0].get_phase() == "COMPLETED"
    tap.remove_jobs([jid])
    assert tap.list_async_jobs() == []
    assert cluster["psql"].scalar("SELECT count(*) FROM tapserve.jobs WHERE id = '%s'" % jid) == "0"
    # every instance took part
    assert {a.port, b.port} <= set(handler.used)
    tap.logout()
