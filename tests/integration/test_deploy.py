"""The deployment files of docs/deploy/ work as documented: HAProxy with
docs/deploy/haproxy.cfg (only addresses, ports and the certificate
replaced) terminates TLS in front of two instances, checks /availability,
and a rolling drain of one instance (tapserve drain) loses no request: the
balancer sees it down within drain_delay and sends everything to the other.

The module has a PostgreSQL cluster of its own (its servers drain and
exit)."""

import os
import re
import subprocess
import threading
import time

import pytest
import requests
import urllib3

import tsit

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)


@pytest.fixture(scope="module")
def db(workdir):
    with tsit.own_cluster(workdir, "deploy") as d:
        yield d


def haproxy_config(workdir, servers, https_port, http_port):
    """docs/deploy/haproxy.cfg with this machine's ports, a self-signed
    certificate and the given servers; nothing else changed."""
    pem = os.path.join(workdir, "haproxy.pem")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-keyout", pem, "-out", pem],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    text = (tsit.REPO / "docs" / "deploy" / "haproxy.cfg").read_text()
    text = text.replace("/etc/haproxy/certs/archive.example.org.pem", pem)
    text = text.replace("bind :443", "bind 127.0.0.1:%d" % https_port)
    text = text.replace("bind :80", "bind 127.0.0.1:%d" % http_port)
    text = re.sub(r"    server tap\d .*\n", "", text)
    text += "".join("    server tap%d 127.0.0.1:%d check\n" % (i + 1, s.port) for i, s in enumerate(servers))
    path = os.path.join(workdir, "haproxy.cfg")
    with open(path, "w") as f:
        f.write(text)
    return path


def test_haproxy_rolling_drain(db, workdir):
    overrides = {
        "jobs.result_store": "fs:" + db["store"],
        "server.drain_delay": "6",  # above the check's inter x fall (4 s)
        "server.drain_grace": "5",
    }
    servers = []
    for name in ("deploy-a", "deploy-b"):
        o = dict(overrides, **{"server.pid_file": os.path.join(workdir, name + ".pid")})
        servers.append(tsit.Server(workdir, name, db["dsn"], o))
        db["servers"].append(servers[-1])
    https, http = tsit.free_port(), tsit.free_port()
    cfg = haproxy_config(workdir, servers, https, http)
    check = subprocess.run(["haproxy", "-c", "-f", cfg], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    assert check.returncode == 0, check.stdout.decode()
    log = open(os.path.join(workdir, "haproxy.log"), "wb")
    proxy = subprocess.Popen(["haproxy", "-db", "-f", cfg], stdout=log, stderr=subprocess.STDOUT)
    base = "https://127.0.0.1:%d/tap" % https
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                r = requests.get(base + "/availability", verify=False, timeout=10)
                if r.status_code == 200 and "<vosi:available>true" in r.text:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "HAProxy never served /availability:\n" + open(
                os.path.join(workdir, "haproxy.log"), errors="replace").read()[-3000:]
            time.sleep(0.2)
        # Plain HTTP is sent to HTTPS.
        r = requests.get("http://127.0.0.1:%d/tap/availability" % http, allow_redirects=False, timeout=10)
        assert r.status_code == 301 and r.headers["Location"].startswith("https://"), r.text
        # /metrics is not public.
        assert requests.get("https://127.0.0.1:%d/metrics" % https, verify=False, timeout=10).status_code == 404

        # Clients query through HAProxy while instance A drains.
        results, stop = [], threading.Event()

        def client():
            s = requests.Session()
            while not stop.is_set():
                try:
                    r = s.get(base + "/sync", params={"LANG": "ADQL", "RESPONSEFORMAT": "csv",
                              "QUERY": "SELECT TOP 5 source_id FROM demo.sources ORDER BY source_id"},
                              verify=False, timeout=30)
                    results.append((r.status_code, len(r.text.splitlines())))
                except requests.RequestException as e:
                    results.append((repr(e), 0))

        threads = [threading.Thread(target=client) for _ in range(4)]
        for t in threads:
            t.start()
        time.sleep(1)
        d = subprocess.run([str(tsit.tapserve_bin()), "drain", "--pid-file", os.path.join(workdir, "deploy-a.pid"),
                            "--timeout", "60"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=90)
        assert d.returncode == 0, d.stdout.decode()
        assert servers[0].proc.wait(timeout=30) == 0
        n_drained = len(results)
        time.sleep(1)  # B alone serves now
        stop.set()
        for t in threads:
            t.join()
        assert len(results) > n_drained > 20, (n_drained, len(results))
        bad = [r for r in results if r != (200, 6)]
        assert not bad, bad[:5]
        assert servers[1].alive()
    finally:
        proxy.terminate()
        proxy.wait(timeout=10)
        log.close()
