"""TAP+ users and sessions across two tapserve instances on one database:
users made with `tapserve user` (password on standard input), a login on A
whose cookie works on B, wrong passwords, the failed-login throttle (held
across instances), logout on A refused on B at once, expired sessions,
password change and deletion ending sessions, `tapserve token`, and
astroquery's TapPlus login/logout.

No resource needs a login yet (job ownership comes later), so a session is
observed through POST {ctx}/logout, which answers 200 for a live session
and 401 for anything else, and through tapserve.sessions."""

import http.client
import re
import subprocess
import time

import pytest
import requests

import tsit


class CtxServer(tsit.Server):
    """A tsit.Server whose base URL is http://127.0.0.1:PORT/ctx/tap, the
    layout TapPlus expects (login and logout beside /tap)."""

    def _wait_ready(self, timeout=60):
        text = self.config_path.read_text()
        self.port = int(re.search(r"^port = (\d+)$", text, re.M).group(1))
        self.base = re.search(r"^base_url = (\S+)$", text, re.M).group(1)
        self.ctx = self.base.rsplit("/", 1)[0]
        super()._wait_ready(timeout)


def ctx_server(workdir, name, dsn, overrides):
    port = tsit.free_port()
    o = {"server.port": port, "server.base_url": "http://127.0.0.1:%d/ctx/tap" % port}
    o.update(overrides)
    return CtxServer(workdir, name, dsn, o)


LIMITS = {"users.login_max_failures": "3", "users.login_lockout": "120", "users.session_idle": "600"}


@pytest.fixture(scope="module")
def pair(cluster, workdir):
    a = ctx_server(workdir, "users-a", cluster["dsn"], LIMITS)
    b = ctx_server(workdir, "users-b", cluster["dsn"], LIMITS)
    yield a, b
    a.stop()
    b.stop()


def cli(cluster, *args, stdin=None):
    p = subprocess.run(
        [str(tsit.tapserve_bin())] + list(args) + ["--dsn", cluster["dsn"]],
        input=stdin.encode() if stdin is not None else None,
        stdin=None if stdin is not None else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        timeout=60,
    )
    return p.returncode, p.stdout.decode(), p.stderr.decode()


def add_user(cluster, name, pw):
    cli(cluster, "user", "del", name)  # left over from an earlier run
    rc, out, err = cli(cluster, "user", "add", name, stdin=pw + "\n")
    assert rc == 0, err
    return name


def login(srv, name, pw):
    return requests.post(srv.ctx + "/login", data={"username": name, "password": pw}, timeout=30)


def set_cookies(r):
    return r.raw.headers.getlist("Set-Cookie")


def session_of(r):
    m = re.match(r"SESSION=([0-9a-f]{32});", [c for c in set_cookies(r) if c.startswith("SESSION=")][0])
    return m.group(1)


def logout(srv, sid, cookie="SESSION"):
    return requests.post(srv.ctx + "/logout", headers={"Cookie": "%s=%s" % (cookie, sid)}, timeout=30)


def sessions(psql, name):
    return int(
        psql.scalar(
            "SELECT count(*) FROM tapserve.sessions s JOIN tapserve.users u ON u.id = s.user_id"
            " WHERE u.name = '%s'" % name
        )
    )


def test_user_cli(cluster, pair):
    add_user(cluster, "it_alice", "correct horse")
    rc, out, err = cli(cluster, "user", "list")
    assert rc == 0, err
    assert re.search(r"^it_alice\s+no\s", out, re.M), out
    # taken names, bad names, no password: refused, with a message
    rc, _, err = cli(cluster, "user", "add", "it_alice", stdin="x\n")
    assert rc == 1 and "exists" in err
    rc, _, err = cli(cluster, "user", "add", "it bad", stdin="x\n")
    assert rc == 2 and "user name" in err
    rc, _, err = cli(cluster, "user", "add", "it_nopw", stdin="")
    assert rc == 1 and "no password" in err
    # the password never goes on the command line: there is no option for it
    rc, _, err = cli(cluster, "user", "add", "it_x", "--password", "pw", stdin="x\n")
    assert rc == 2 and "unexpected option" in err
    # only an argon2id hash is stored
    h = cluster["psql"].scalar("SELECT password_hash FROM tapserve.users WHERE name = 'it_alice'")
    assert h.startswith("$argon2id$") and "correct horse" not in h


def test_login_on_a_works_on_b(cluster, pair):
    a, b = pair
    psql = cluster["psql"]
    add_user(cluster, "it_bob", "pw-bob")
    r = login(a, "it_bob", "pw-bob")
    assert r.status_code == 200, r.text
    cookies = set_cookies(r)
    # JSESSIONID first: TapPlus reads the first Set-Cookie line only
    assert cookies[0].startswith("JSESSIONID=") and cookies[1].startswith("SESSION="), cookies
    for c in cookies:
        assert "; Path=/ctx;" in c and "HttpOnly" in c and "SameSite=Lax" in c and "Secure" not in c, c
    sid = session_of(r)
    assert cookies[0].split(";")[0] == "JSESSIONID=" + sid
    # stored hashed, never as the cookie's value
    assert sessions(psql, "it_bob") == 1
    assert psql.scalar("SELECT count(*) FROM tapserve.sessions WHERE id_hash = '%s'" % sid) == "0"
    # B knows the session made on A: its logout ends it
    r = logout(b, sid)
    assert r.status_code == 200, r.text
    assert sessions(psql, "it_bob") == 0
    # the logout clears both cookies
    assert any(c.startswith("SESSION=;") and "Max-Age=0" in c for c in set_cookies(r))


def test_logout_on_a_refused_on_b(cluster, pair):
    a, b = pair
    add_user(cluster, "it_carol", "pw-carol")
    sid = session_of(login(a, "it_carol", "pw-carol"))
    assert logout(a, sid).status_code == 200
    # the very next request on the other instance: no cache to go stale
    r = logout(b, sid)
    assert r.status_code == 401, r.text
    assert "not logged in" in tsit.error_message(r.content)


def test_jsessionid_accepted(cluster, pair):
    a, b = pair
    add_user(cluster, "it_dan", "pw-dan")
    sid = session_of(login(b, "it_dan", "pw-dan"))
    assert logout(a, sid, cookie="JSESSIONID").status_code == 200
    assert sessions(cluster["psql"], "it_dan") == 0


def test_wrong_password(cluster, pair):
    a, b = pair
    add_user(cluster, "it_erin", "pw-erin")
    wrong = login(a, "it_erin", "nope")
    unknown = login(b, "it_nobody_here", "nope")
    assert wrong.status_code == 401 and unknown.status_code == 401
    # one answer for both: nothing tells whether the user exists
    assert tsit.error_message(wrong.content) == tsit.error_message(unknown.content)
    assert not set_cookies(wrong) and not set_cookies(unknown)
    assert login(a, "it_erin", "pw-erin").status_code == 200  # one failure is not a lockout
    # missing parameters are the client's fault
    r = requests.post(a.ctx + "/login", data={"username": "it_erin"}, timeout=30)
    assert r.status_code == 400
    assert requests.get(a.ctx + "/login", timeout=30).status_code == 405


def test_login_throttled_across_instances(cluster, pair):
    a, b = pair
    add_user(cluster, "it_frank", "pw-frank")
    cluster["psql"].run("DELETE FROM tapserve.login_failures WHERE key = 'it_frank'")
    for srv in (a, b, a):  # login_max_failures = 3, spread over both instances
        assert login(srv, "it_frank", "guess").status_code == 401
    # locked on both, even with the right password
    for srv in (b, a):
        r = login(srv, "it_frank", "pw-frank")
        assert r.status_code == 429, r.text
        assert 0 < int(r.headers["Retry-After"]) <= 120
        assert "too many failed logins" in tsit.error_message(r.content)
    # other users are not locked out by it
    add_user(cluster, "it_gina", "pw-gina")
    assert login(b, "it_gina", "pw-gina").status_code == 200
    # the lockout ends lockout seconds after the last failure
    cluster["psql"].run(
        "UPDATE tapserve.login_failures SET last_failure = now() - interval '121 s' WHERE key = 'it_frank'"
    )
    assert login(b, "it_frank", "pw-frank").status_code == 200


def test_expired_session_refused(cluster, pair):
    a, b = pair
    psql = cluster["psql"]
    add_user(cluster, "it_hal", "pw-hal")
    sid = session_of(login(a, "it_hal", "pw-hal"))
    # unused for longer than session_idle (600 s)
    psql.run(
        "UPDATE tapserve.sessions SET last_seen = now() - interval '601 s'"
        " WHERE user_id = (SELECT id FROM tapserve.users WHERE name = 'it_hal')"
    )
    assert logout(b, sid).status_code == 401


def test_password_change_and_delete_end_sessions(cluster, pair):
    a, b = pair
    add_user(cluster, "it_ivy", "pw-ivy")
    sid = session_of(login(a, "it_ivy", "pw-ivy"))
    rc, _, err = cli(cluster, "user", "passwd", "it_ivy", stdin="pw-ivy-2\n")
    assert rc == 0, err
    assert logout(b, sid).status_code == 401
    assert login(b, "it_ivy", "pw-ivy").status_code == 401
    sid = session_of(login(b, "it_ivy", "pw-ivy-2"))
    rc, _, err = cli(cluster, "user", "del", "it_ivy")
    assert rc == 0, err
    assert logout(a, sid).status_code == 401
    rc, _, err = cli(cluster, "user", "del", "it_ivy")
    assert rc == 1 and "no user" in err


def test_token_cli(cluster, pair):
    psql = cluster["psql"]
    add_user(cluster, "it_jo", "pw-jo")
    rc, out, err = cli(cluster, "token", "add", "it_jo", "--expires", "1d")
    assert rc == 0, err
    tok = out.strip()
    assert re.fullmatch(r"tst_[0-9a-f]{44}", tok), out
    assert "cannot be shown again" in err
    # only its hash is kept; it expires in a day
    assert psql.scalar("SELECT count(*) FROM tapserve.tokens WHERE token_hash = '%s'" % tok) == "0"
    assert (
        psql.scalar(
            "SELECT expires_at BETWEEN now() + interval '23 hours' AND now() + interval '25 hours'"
            " FROM tapserve.tokens t JOIN tapserve.users u ON u.id = t.user_id WHERE u.name = 'it_jo'"
        )
        == "t"
    )
    rc, out, err = cli(cluster, "token", "list", "it_jo")
    assert rc == 0 and tok not in out
    tid = re.search(r"^(\d+)\s+it_jo\s", out, re.M).group(1)
    assert cli(cluster, "token", "revoke", tid)[0] == 0
    rc, _, err = cli(cluster, "token", "revoke", tid)
    assert rc == 1 and "no token" in err
    assert cli(cluster, "token", "add", "it_nobody_here")[0] == 1
    assert cli(cluster, "token", "add", "it_jo", "--expires", "soon")[0] == 2


def test_no_secrets_in_logs(cluster, pair):
    a, b = pair
    add_user(cluster, "it_lee", "pw-lee-secret")
    r = login(a, "it_lee", "pw-lee-secret")
    sid = session_of(r)
    login(b, "it_lee", "wrong-lee-secret")
    logout(b, sid)
    h = cluster["psql"].scalar("SELECT password_hash FROM tapserve.users WHERE name = 'it_lee'")
    logs = a.log_path.read_text(errors="replace") + b.log_path.read_text(errors="replace")
    assert "user it_lee logged in" in logs  # the log does say who
    for secret in ("pw-lee-secret", "wrong-lee-secret", sid, h):
        assert secret not in logs


class Alternating:
    """A TapPlus connection handler that sends each request to the next
    instance in turn, over plain HTTP: TapPlus sends logins, and everything
    after one, to its HTTPS port (443 unless told), and the instances speak
    HTTP; TLS belongs to the proxy in front of them."""

    def __init__(self, servers):
        self.servers = servers
        self.used = []

    def _next(self):
        srv = self.servers[len(self.used) % len(self.servers)]
        self.used.append(srv.port)
        return http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)

    def get_connection(self, ishttps=False, cookie=None, verbose=False):
        return self._next()

    def get_connection_secure(self, verbose=False):
        return self._next()


def tapplus(servers):
    """(TapPlus, Alternating handler): TapPlus's own connection (contexts
    /ctx and /ctx/tap, as it derives them from the URL), with the handler
    that sends each request to the next of `servers`."""
    from astroquery.utils.tap.conn.tapconn import TapConn
    from astroquery.utils.tap.core import TapPlus

    a = servers[0]
    handler = Alternating(servers)
    conn = TapConn(
        ishttps=False, host="127.0.0.1", server_context="/ctx", tap_context="tap", port=a.port, sslport=a.port,
        connhandler=handler,
    )
    return TapPlus(url=a.base, connhandler=conn), handler


def test_astroquery_login_logout(cluster, pair):
    a, b = pair
    psql = cluster["psql"]
    add_user(cluster, "it_kim", "pw-kim")
    tap, handler = tapplus([a, b])
    tap.login(user="it_kim", password="pw-kim")
    assert sessions(psql, "it_kim") == 1
    # logout goes to the other instance, with the cookie TapPlus kept
    tap.logout()
    assert handler.used == [a.port, b.port]
    assert sessions(psql, "it_kim") == 0
    # a wrong password is an error TapPlus reports
    with pytest.raises(requests.exceptions.HTTPError):
        tap.login(user="it_kim", password="wrong")
