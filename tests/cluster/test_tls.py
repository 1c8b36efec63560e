"""TAP+ through HTTPS: HAProxy terminates TLS on loopback with a certificate
made for the run, two instances behind it speak plain HTTP and know the
public https:// base_url. astroquery's TapPlus logs in over HTTPS (to the
port of its URL, trusting the certificate through SSL_CERT_FILE), reads the
notifications as ESA's modules do, runs a job and logs out; the session
cookies are Secure and every URL a response carries is https."""

import re
import ssl
import subprocess
import urllib.error

import pytest
import requests

from tscluster import tsit


def cli(db, *args, stdin=None):
    p = subprocess.run([str(tsit.tapserve_bin())] + list(args) + ["--dsn", db["dsn"]],
                       input=(stdin or "").encode(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    assert p.returncode == 0, p.stderr.decode()
    return p.stdout.decode()


def test_tapplus_login_over_https(make_cluster, db, monkeypatch):
    from astroquery.utils.tap.core import TapPlus

    c = make_cluster(n=2, tls=True)
    assert c.base.startswith("https://127.0.0.1:%d/ctx/tap" % c.proxy_port)
    subprocess.run([str(tsit.tapserve_bin()), "user", "del", "tls_ada", "--dsn", db["dsn"]],
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    cli(db, "user", "add", "tls_ada", stdin="pw-ada\n")
    everybody = int(cli(db, "notify", "add", "--until", "+1h", "--type", "maintenance", "Maintenance at 20:00"))
    hers = int(cli(db, "notify", "add", "--until", "+1h", "--user", "tls_ada", "Your job finished"))

    # The proxy's certificate is trusted only where the test says so.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(c.base + "/availability", timeout=10)

    # A form login through the proxy: the cookies are Secure (base_url is https).
    r = requests.post(c.ctx + "/login", data={"username": "tls_ada", "password": "pw-ada"}, verify=c.cafile,
                      timeout=30)
    assert r.status_code == 200, r.text
    cookies = r.raw.headers.getlist("Set-Cookie")
    assert [k.split("=")[0] for k in cookies] == ["JSESSIONID", "SESSION"], cookies
    for k in cookies:
        assert "; Secure" in k and "HttpOnly" in k, k
    requests.post(c.ctx + "/logout", cookies=r.cookies, verify=c.cafile, timeout=30)

    # URLs in responses come from base_url, whichever instance answers.
    for _ in range(2):
        caps = requests.get(c.base + "/capabilities", verify=c.cafile, timeout=30).text
        urls = re.findall(r"<accessURL[^>]*>([^<]+)</accessURL>", caps)
        assert urls and all(u.startswith(c.base) for u in urls), urls

    # TapPlus over HTTPS: http.client checks the certificate against
    # SSL_CERT_FILE; the port is the URL's (TapPlus's sslport).
    monkeypatch.setenv("SSL_CERT_FILE", c.cafile)
    tap = TapPlus(url=c.base)
    tap.login(user="tls_ada", password="pw-ada")
    handler = tap._TapPlus__getconnhandler()
    # Read as astroquery's Gaia and JWST modules read them at start.
    resp = handler.execute_tapget("notification?action=GetNotifications")
    assert resp.status == 200
    body = resp.read().decode()
    assert "%d[type: -100,-1]=Maintenance at 20:00\n" % everybody in body, body
    assert "%d[type: 1,0]=Your job finished\n" % hers in body, body

    job = tap.launch_job_async("SELECT TOP 3 source_id FROM demo.sources ORDER BY source_id")
    assert job.remoteLocation.startswith(c.base + "/async/"), job.remoteLocation
    assert len(job.get_results()) == 3
    tap.logout()
    # Logged out on whichever instance took it: the cookie TapPlus still
    # sends is refused on every instance, not taken for anonymous.
    for _ in range(2):
        resp = handler.execute_tapget("notification?action=GetNotifications")
        resp.read()
        assert resp.status == 401
    r = requests.get(c.base + "/notification", params={"action": "GetNotifications"}, verify=c.cafile, timeout=30)
    assert r.status_code == 200 and "Your job finished" not in r.text and "Maintenance at 20:00" in r.text, r.text

    # Without the certificate's trust, TapPlus refuses the server.
    monkeypatch.delenv("SSL_CERT_FILE")
    with pytest.raises((ssl.SSLError, urllib.error.URLError)):
        TapPlus(url=c.base).load_tables(only_names=True)
    cli(db, "notify", "del", str(everybody))
    cli(db, "user", "del", "tls_ada")
