"""TAP+ notifications on two instances of one database: `tapserve notify`
add/list/del, {tap}/notification?action=GetNotifications in the line format
astroquery's ESA modules read (and astroquery's JWST module printing it),
who sees what (anonymous: messages to everybody; a user: those and their
own; another user's: 403 by id), RemoveNotification, expiry, and both
instances serving a new message at once."""

import re
import time

import pytest
import requests

from test_users import add_user, cli, ctx_server, login, session_of

LINE = re.compile(r"^(\d+)\[type: (-?\d+),(-?\d+)\]=(.*)$")


@pytest.fixture(scope="module")
def pair(cluster, workdir):
    a = ctx_server(workdir, "notify-a", cluster["dsn"], {"jobs.sweep_interval": "1"})
    b = ctx_server(workdir, "notify-b", cluster["dsn"], {})
    yield a, b
    a.stop()
    b.stop()


def get(srv, cookie=None, **params):
    headers = {"Cookie": "SESSION=" + cookie} if cookie else {}
    return requests.get(srv.base + "/notification", params=dict({"action": "GetNotifications"}, **params),
                        headers=headers, timeout=30)


def lines(srv, cookie=None):
    """{id: (audience, code, text)} of what srv serves the caller."""
    r = get(srv, cookie)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].startswith("text/plain"), r.headers
    out = {}
    for line in r.text.splitlines():
        m = LINE.match(line)
        assert m, "not a TAP+ notification line: %r" % line
        out[int(m.group(1))] = (int(m.group(2)), int(m.group(3)), m.group(4))
    return out


def notify(cluster, *args):
    rc, out, err = cli(cluster, "notify", *args)
    assert rc == 0, err
    return int(out.strip())


def remove(srv, nid, cookie=None, auth=None):
    headers = {"Cookie": "SESSION=" + cookie} if cookie else {}
    return requests.post(srv.base + "/notification", data={"action": "RemoveNotification", "id": str(nid)},
                         headers=headers, auth=auth, timeout=30)


def test_cli_and_both_instances_at_once(cluster, pair):
    a, b = pair
    nid = notify(cluster, "add", "--until", "+1h", "--type", "maintenance", "Archive", "down", "at 18:00 UTC")
    # no wait: each instance reads the shared database
    for srv in (a, b):
        assert lines(srv)[nid] == (-100, -1, "Archive down at 18:00 UTC")
    rc, out, err = cli(cluster, "notify", "list")
    assert rc == 0, err
    assert re.search(r"^%d\s+everybody\s+maintenance\s.*Archive down at 18:00 UTC$" % nid, out, re.M), out
    rc, out, err = cli(cluster, "notify", "del", str(nid))
    assert rc == 0 and "removed notification %d" % nid in out, err
    for srv in (a, b):
        assert nid not in lines(srv)
    # refused, with the reason, nothing stored
    before = cluster["psql"].scalar("SELECT count(*) FROM tapserve.notifications")
    for args, status, why in [
        (["add", "no end"], 2, "--until"),
        (["add", "--until", "+1h", "--type", "job", "x"], 2, "--type job"),
        (["add", "--until", "2001-01-01 00:00Z", "x"], 1, "not in the future"),
        (["add", "--until", "whenever", "x"], 1, "not a time"),
        (["add", "--until", "+1h", "--user", "it_nobody", "x"], 1, "no user it_nobody"),
        (["add", "--until", "+1h", "x" * 2001], 2, "longer than 2000 bytes"),
        (["del", str(nid)], 1, "no notification"),
        (["list", "--until", "+1h"], 2, "add only"),
    ]:
        rc, _, err = cli(cluster, "notify", *args)
        assert rc == status and why in err, (args, rc, err)
    assert cluster["psql"].scalar("SELECT count(*) FROM tapserve.notifications") == before


def test_who_sees_what(cluster, pair):
    a, b = pair
    add_user(cluster, "it_nora", "pw-nora")
    add_user(cluster, "it_olaf", "pw-olaf")
    everybody = notify(cluster, "add", "--until", "+1h", "Welcome to the archive")
    hers = notify(cluster, "add", "--until", "+1h", "--user", "it_nora", "--type", "warning", "Your quota is 90% full")
    nora = session_of(login(a, "it_nora", "pw-nora"))
    olaf = session_of(login(b, "it_olaf", "pw-olaf"))

    anon = lines(b)
    assert everybody in anon and hers not in anon
    # her session from A, read on B; the message to her is a user's (1)
    assert lines(b, nora)[hers] == (1, 1, "Your quota is 90% full")
    assert everybody in lines(a, nora)
    # HTTP Basic is as good as a session
    r = requests.get(a.base + "/notification", params={"action": "GetNotifications"},
                     auth=("it_nora", "pw-nora"), timeout=30)
    assert r.status_code == 200 and "Your quota is 90% full" in r.text, r.text
    seen = lines(a, olaf)
    assert everybody in seen and hers not in seen

    # direct access by id: hers to her, 403 to anyone else, 404 for none
    r = get(a, nora, id=hers)
    assert r.status_code == 200 and r.text == "%d[type: 1,1]=Your quota is 90%% full\n" % hers, r.text
    assert get(a, olaf, id=hers).status_code == 403
    assert get(b, id=hers).status_code == 403
    assert get(b, olaf, id=everybody).status_code == 200
    assert get(b, olaf, id=999999999).status_code == 404
    # a bad session is refused, not taken for anonymous
    assert get(a, "0" * 32).status_code == 401

    # RemoveNotification: one's own only, by POST, logged in
    assert remove(a, hers, olaf).status_code == 403
    assert remove(a, everybody, nora).status_code == 403
    assert remove(a, hers).status_code == 401
    r = requests.get(a.base + "/notification", params={"action": "RemoveNotification", "id": hers}, timeout=30)
    assert r.status_code == 405 and r.headers.get("Allow") == "POST", r.text
    assert hers in lines(b, nora)
    r = remove(b, hers, nora)
    assert r.status_code == 200, r.text
    assert hers not in lines(a, nora)
    assert remove(b, hers, nora).status_code == 404

    # what is not a request for notifications
    for params, status in [({"action": "Frobnicate"}, 400), ({}, 400), ({"action": "GetNotifications", "id": "x"}, 400)]:
        r = requests.get(a.base + "/notification", params=params, timeout=30)
        assert r.status_code == status, (params, r.status_code, r.text)
    notify_del = cli(cluster, "notify", "del", str(everybody))
    assert notify_del[0] == 0


def test_expiry(cluster, pair):
    a, b = pair
    add_user(cluster, "it_pia", "pw-pia")
    pia = session_of(login(a, "it_pia", "pw-pia"))
    soon = notify(cluster, "add", "--until", "+1h", "Short-lived")
    hers = notify(cluster, "add", "--until", "+1h", "--user", "it_pia", "Yours, briefly")
    assert soon in lines(a) and hers in lines(b, pia)
    # the time passes (moved in the database rather than waited for)
    cluster["psql"].run("UPDATE tapserve.notifications SET expires_at = now() - interval '1 s'"
                        " WHERE id IN (%d, %d)" % (soon, hers))
    for srv in (a, b):
        assert soon not in lines(srv)
        assert hers not in lines(srv, pia)
    assert get(a, pia, id=hers).status_code == 404
    rc, out, _ = cli(cluster, "notify", "list")
    assert rc == 0 and "Short-lived" not in out and "Yours, briefly" not in out
    # the cluster's sweeper (every second on A) deletes the rows
    deadline = time.monotonic() + 30
    while cluster["psql"].scalar(
            "SELECT count(*) FROM tapserve.notifications WHERE id IN (%d, %d)" % (soon, hers)) != "0":
        assert time.monotonic() < deadline, "expired notifications never swept"
        time.sleep(0.2)


def test_astroquery_prints_them(cluster, pair, capsys):
    """astroquery's JWST module shows the archive's messages when it starts,
    reading {tap}/notification?action=GetNotifications through TapPlus."""
    from astroquery.esa.jwst import JwstClass
    from astroquery.utils.tap.core import TapPlus

    a, _ = pair
    nid = notify(cluster, "add", "--until", "+1h", "--type", "maintenance", "Maintenance = tonight, 20:00")
    try:
        capsys.readouterr()
        JwstClass(tap_plus_handler=TapPlus(url=a.base), show_messages=True)
        out = capsys.readouterr().out
        # the text after the first '=', the rest of the line kept whole
        assert "Maintenance = tonight, 20:00" in out.splitlines(), out
        assert "could not be retrieved" not in out
    finally:
        cli(cluster, "notify", "del", str(nid))


def test_job_end_tells_its_owner(cluster, pair):
    """A logged-in user's async job that completes or fails leaves them a
    message (kind job, 2); nobody else sees it; an anonymous job leaves none."""
    a, b = pair
    add_user(cluster, "it_jobnote", "pw-jobnote")
    add_user(cluster, "it_jobnote2", "pw-jobnote2")
    auth = ("it_jobnote", "pw-jobnote")

    def run(query, auth=None):
        r = requests.post(a.base + "/async", data={"LANG": "ADQL", "QUERY": query, "PHASE": "RUN", "RUNID": "nightly"},
                          auth=auth, allow_redirects=False, timeout=30)
        assert r.status_code == 303, r.text
        job = r.headers["Location"]
        r = requests.get(job + "/phase", auth=auth, timeout=30)
        while r.text not in ("COMPLETED", "ERROR", "ABORTED"):
            requests.get(job, params={"WAIT": "10", "PHASE": r.text}, auth=auth, timeout=30)
            r = requests.get(job + "/phase", auth=auth, timeout=30)
        return job.rsplit("/", 1)[1], r.text

    ok, phase = run("SELECT TOP 3 source_id FROM demo.sources", auth)
    assert phase == "COMPLETED"
    bad, phase = run("SELECT 1 / (source_id - source_id) FROM demo.sources", auth)
    assert phase == "ERROR"
    anon, phase = run("SELECT TOP 2 source_id FROM demo.sources")
    assert phase == "COMPLETED"

    r = requests.get(b.base + "/notification", params={"action": "GetNotifications"}, auth=auth, timeout=30)
    assert r.status_code == 200, r.text
    mine = [LINE.match(line).groups() for line in r.text.splitlines()]
    texts = {m[3] for m in mine if m[1] == "1" and m[2] == "2"}
    assert "Job %s (nightly) completed: 3 rows" % ok in texts, texts
    assert any(t.startswith("Job %s (nightly) ended in ERROR: " % bad) and "division by zero" in t for t in texts), texts
    # an anonymous job has nobody to tell: no message names it at all
    assert cluster["psql"].scalar(
        "SELECT count(*) FROM tapserve.notifications WHERE text LIKE '%%%s%%'" % anon) == "0"
    assert cluster["psql"].scalar(
        "SELECT count(*) FROM tapserve.notifications WHERE text LIKE '%%%s%%'" % ok) == "1"
    r = requests.get(b.base + "/notification", params={"action": "GetNotifications"},
                     auth=("it_jobnote2", "pw-jobnote2"), timeout=30)
    assert ok not in r.text and bad not in r.text
    r = requests.get(a.base + "/notification", params={"action": "GetNotifications"}, timeout=30)
    assert ok not in r.text and anon not in r.text
