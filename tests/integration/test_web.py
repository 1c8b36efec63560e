"""The page for people over HTTP (tests/browser drives it in a browser):
where it is served, its headers (one Content-Security-Policy, entity tags,
codings), its assets, the check endpoint, and the form that works without
JavaScript."""

import gzip
import re
import subprocess
import urllib.parse

import requests

import tsit

CSP = "Content-Security-Policy"


def page(server, path=""):
    u = urllib.parse.urlsplit(server.base)
    return requests.get("%s://%s%s" % (u.scheme, u.netloc, path), timeout=30)


def asset_urls(html):
    return re.findall(r'(?:src|href)="([^"]*/web/[^"]+)"', html)


def test_page_at_base_and_root(server):
    a = requests.get(server.base, timeout=30)
    b = requests.get(server.base + "/", timeout=30)
    c = page(server, "/")
    for r in (a, b, c):
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/html")
        assert "script-src 'self'" in r.headers[CSP]
        assert r.headers["Cache-Control"] == "no-cache"
    assert a.content == b.content == c.content
    assert '<form id="qform" method="post" action="/tap/sync">' in a.text


def test_same_policy_everywhere(server):
    home = requests.get(server.base, timeout=30)
    policy = home.headers[CSP]
    assert "default-src 'none'" in policy
    others = [requests.get(urllib.parse.urljoin(server.base + "/", u), timeout=30) for u in asset_urls(home.text)]
    others.append(requests.get(server.base + "/examples", timeout=30))
    others.append(requests.post(server.base + "/web/check", data={"QUERY": "SELECT 1"}, timeout=30))
    assert len(others) >= 6
    for r in others:
        assert r.status_code == 200, r.url
        assert r.headers[CSP] == policy, r.url
        assert r.headers["X-Content-Type-Options"] == "nosniff"


def test_assets_local_cached_and_coded(server):
    home = requests.get(server.base, timeout=30)
    urls = asset_urls(home.text)
    assert {u.split("/web/")[1].split("?")[0] for u in urls} == {"app.css", "editor.js", "browse.js", "jobs.js", "app.js"}
    # Nothing on the page comes from elsewhere: no absolute URL at all.
    for text in [home.text] + [requests.get(urllib.parse.urljoin(server.base + "/", u), timeout=30).text for u in urls]:
        assert not re.search(r"""(src|href|url)\s*[=(]\s*["']?(https?:)?//""", text)
    js = urllib.parse.urljoin(server.base + "/", [u for u in urls if "/app.js" in u][0])
    plain = requests.get(js, headers={"Accept-Encoding": "identity"}, timeout=30)
    assert plain.status_code == 200
    assert plain.headers["Content-Type"].startswith("text/javascript")
    assert "immutable" in plain.headers["Cache-Control"]
    assert "Content-Encoding" not in plain.headers
    etag = plain.headers["ETag"]
    again = requests.get(js, headers={"Accept-Encoding": "identity", "If-None-Match": etag}, timeout=30)
    assert again.status_code == 304 and again.content == b""
    # gzip when accepted (zstd when preferred), each with its own tag
    raw = requests.get(js, headers={"Accept-Encoding": "gzip"}, stream=True, timeout=30)
    assert raw.headers["Content-Encoding"] == "gzip"
    assert raw.headers["ETag"] != etag
    assert gzip.decompress(raw.raw.read()) == plain.content
    z = requests.get(js, headers={"Accept-Encoding": "zstd, gzip"}, stream=True, timeout=30)
    assert z.headers["Content-Encoding"] == "zstd"
    assert requests.get(server.base + "/web/nosuch.js", timeout=30).status_code == 404


def check(server, query, **extra):
    r = requests.post(server.base + "/web/check", data=dict(QUERY=query, **extra), timeout=30)
    assert r.headers["Content-Type"].startswith("application/json")
    return r.status_code, r.json()


def test_check_endpoint(server):
    assert check(server, "SELECT TOP 1 ra FROM demo.sources") == (200, {"ok": True})
    # A name the checker does not know, on line 2: the position and the
    # checker's suggestion come back as /sync would report them.
    code, res = check(server, "SELECT TOP 1 source_id\nFROM demo.sourcez")
    assert code == 200 and res["ok"] is False
    assert (res["line"], res["column"]) == (2, 6)
    assert "sourcez" in res["message"] and not res["message"].startswith("ADQL error")
    assert res["suggestion"] == "demo.sources"
    sync = server.sync({"LANG": "ADQL", "QUERY": "SELECT TOP 1 source_id\nFROM demo.sourcez"})
    assert sync.status_code == 400 and "line 2, column 6" in tsit.error_message(sync.content)
    code, res = check(server, "SELECT ra dec, FROM demo.sources")
    assert code == 200 and res["ok"] is False and res["line"] == 1 and res["column"] > 0
    code, res = check(server, "")
    assert code == 400 and res["ok"] is False and "QUERY" in res["message"]
    code, res = check(server, "SELECT 1", LANG="SQL")
    assert code == 400 and "LANG" in res["message"]


def test_form_without_javascript(server):
    """The query form as the page writes it, posted as a browser without
    JavaScript would: every field the page gives, the query filled in."""
    html = requests.get(server.base, timeout=30).text
    form = re.search(r'<form id="qform" method="post" action="([^"]+)">(.*?)</form>', html, re.S)
    assert form
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)">', form.group(2)))
    assert fields == {"REQUEST": "doQuery", "LANG": "ADQL"}
    assert 'name="QUERY"' in form.group(2) and 'name="FORMAT"' in form.group(2) and 'name="MAXREC"' in form.group(2)
    fields.update(QUERY="SELECT TOP 5 source_id FROM demo.sources ORDER BY source_id", FORMAT="csv", MAXREC="3")
    u = urllib.parse.urlsplit(server.base)
    r = requests.post("%s://%s%s" % (u.scheme, u.netloc, form.group(1)), data=fields, timeout=60)
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/csv")
    lines = r.text.strip().splitlines()
    assert lines[0] == "source_id" and len(lines) == 4


def test_completed_job_reports_rows(server):
    r = requests.post(
        server.base + "/async",
        data={"LANG": "ADQL", "QUERY": "SELECT TOP 7 source_id FROM demo.sources", "PHASE": "RUN"},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 303
    url = r.headers["Location"]
    root = tsit.wait_final(url, 60)
    assert tsit.phase(root) == "COMPLETED"
    info = [e for e in root.iter() if tsit.local(e.tag) == "jobInfo"]
    assert len(info) == 1
    got = {tsit.local(e.tag): e.text for e in info[0]}
    assert got["rows"] == "7" and got["overflow"] == "false" and int(got["storedBytes"]) > 0
    requests.delete(url, timeout=30)


def test_session_resource(server, cluster):
    """GET {tap}/web/session says who the session cookie names; the login
    form of the page posts to {ctx}/login, which for /tap is /login."""
    r = requests.get(server.base + "/web/session", timeout=30)
    assert r.status_code == 200 and r.json() == {"user": None}
    subprocess.run([str(tsit.tapserve_bin()), "user", "del", "webuser", "--dsn", cluster["dsn"]],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60, check=False)
    add = subprocess.run([str(tsit.tapserve_bin()), "user", "add", "webuser", "--dsn", cluster["dsn"]],
                         input=b"correct horse\n", stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         timeout=60, check=False)
    assert add.returncode == 0, add.stdout
    u = urllib.parse.urlsplit(server.base)
    s = requests.Session()
    r = s.post("%s://%s/login" % (u.scheme, u.netloc), data={"username": "webuser", "password": "correct horse"}, timeout=30)
    assert r.status_code == 200
    r = s.get(server.base + "/web/session", timeout=30)
    assert r.json() == {"user": "webuser", "via": "session"}
    assert r.headers["Cache-Control"] == "no-store"
    s.post("%s://%s/logout" % (u.scheme, u.netloc), timeout=30)
    r = requests.get(server.base + "/web/session", headers={"Cookie": "SESSION=%s" % ("0" * 32)}, timeout=30)
    assert r.status_code == 200 and r.json() == {"user": None, "expired": True}


def test_row_estimates(server, psql):
    psql.run("ANALYZE demo.sources")
    want = int(float(psql.scalar("SELECT reltuples FROM pg_class WHERE oid = 'demo.sources'::regclass")))
    r = requests.get(server.base + "/web/rows", timeout=30)
    assert r.status_code == 200
    rows = r.json()
    assert rows["demo.sources"] == want and want > 0
    assert "TAP_SCHEMA.tables" in rows


def test_check_knows_the_callers_own_tables(cluster, workdir):
    """The page's check resolves a logged-in user's own tables as /sync
    does; for anyone else they stay unknown."""
    from test_users import add_user, ctx_server

    srv = ctx_server(workdir, "web-check-utab", cluster["dsn"], {})
    try:
        add_user(cluster, "it_webcheck", "pw-webcheck")
        s = requests.Session()
        assert s.post(srv.ctx + "/login", data={"username": "it_webcheck", "password": "pw-webcheck"},
                      timeout=30).status_code == 200
        r = s.post(srv.ctx + "/Upload", data={"TABLE_NAME": "mine", "FORMAT": "csv"},
                   files={"FILE": ("t.csv", b"id,mag\n1,10.5\n")}, timeout=60)
        assert r.status_code == 200, r.text
        q = "SELECT id FROM user_it_webcheck.mine"
        r = s.post(srv.base + "/web/check", data={"QUERY": q}, timeout=30)
        assert r.status_code == 200 and r.json() == {"ok": True}, r.text
        assert s.post(srv.base + "/sync", data={"LANG": "ADQL", "QUERY": q, "FORMAT": "csv"},
                      timeout=30).text.splitlines() == ["id", "1"]
        r = requests.post(srv.base + "/web/check", data={"QUERY": q}, timeout=30)
        res = r.json()
        assert res["ok"] is False and "does not exist" in res["message"], res
        assert res["line"] == 1 and res["column"] > 0, res
        # a session that does not hold is refused, not checked as anonymous
        r = requests.post(srv.base + "/web/check", data={"QUERY": q}, cookies={"SESSION": "0" * 32}, timeout=30)
        assert r.status_code == 401 and r.json()["ok"] is False, r.text
    finally:
        srv.stop()
