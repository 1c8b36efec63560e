"""The cluster harness: N `tapserve serve` instances on one PostgreSQL,
HAProxy in front of them with /availability as its health check.

Built on the integration suite's helpers (tests/integration/tsit.py): the
throwaway PostgreSQL made by `tapserve demo --no-serve`, the process start
and the readiness wait. Nothing is mocked: real processes on loopback
ports, real HAProxy (Debian's), real PostgreSQL."""

import os
import pathlib
import re
import socket
import subprocess
import sys
import time

import requests

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "integration"))
import tsit  # noqa: E402
from tsit import FINAL, UWS, active, job, phase, wait_final  # noqa: E402,F401
from tsit import job_error as error_message  # noqa: E402,F401

HAPROXY = "/usr/sbin/haproxy"

# Every instance of a cluster: fast heartbeats so that death is noticed
# within seconds, a shared fs result store, loopback trusted as the proxy.
BASE_OVERRIDES = {
    "jobs.max_executing": "2",
    "jobs.heartbeat": "1",
    "jobs.instance_timeout": "3",
    "jobs.list_anonymous": "1",
    "jobs.max_per_user": "0",
    "database.pool_size": "4",
    "jobs.db_connections": "6",
    "server.trusted_proxies": "127.0.0.1",
    "server.max_connections_per_client": "1000",
    "tap.max_sync_per_client": "64",
}


def self_signed(workdir, tag):
    """A certificate for 127.0.0.1 and localhost made now, as
    (certificate file, certificate and key in one PEM for HAProxy). Clients
    trust it through the certificate file (requests' verify=,
    SSL_CERT_FILE for http.client and thus TapPlus)."""
    workdir = pathlib.Path(workdir)
    crt, key, pem = (workdir / ("%s-tls.%s" % (tag, ext)) for ext in ("crt", "key", "pem"))
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(crt)],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    pem.write_bytes(crt.read_bytes() + key.read_bytes())
    return str(crt), str(pem)


class Instance(tsit.Server):
    """A tsit.Server under `path`, reached directly over plain HTTP
    whatever public base_url (the proxy's https:// one) it is configured
    with, as an instance behind a TLS-terminating proxy is."""

    def __init__(self, *args, path="/tap", **kwargs):
        self.path = path
        super().__init__(*args, **kwargs)

    def _wait_ready(self, timeout=60):
        self.base = "http://127.0.0.1:%d%s" % (self.port, self.path)
        super()._wait_ready(timeout)

    # "... INFO 2546d1bd [84dfcf3ca30f107c] GET /ctx/tap/capabilities 200 8253 bytes 0 ms"
    REQUEST_LINE = re.compile(r"^\S+ [A-Z]+ \S+ \[[0-9a-f]{16}\] ([A-Z]+) (\S+) (\d{3}) \d+ bytes ")

    def requests(self):
        """[(method, path, status)] of the requests this instance logged
        (path without its query string), in the order they ended, HAProxy's
        health checks (GET .../availability) left out."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            m = self.REQUEST_LINE.match(line)
            if m and not m.group(2).endswith("/availability"):
                out.append((m.group(1), m.group(2), int(m.group(3))))
        return out


class HAProxy:
    """haproxy -db (foreground) with one backend per instance, health
    checked every 200 ms on PATH/availability (up when it says true). With
    `pem` (self_signed) it terminates TLS, as docs/deploy/haproxy.cfg does,
    and tells the instances so in X-Forwarded-Proto."""

    def __init__(self, workdir, instances, tag, port=None, pem=None, path="/tap"):
        self.workdir = pathlib.Path(workdir)
        self.port = port or tsit.free_port()
        self.base = "%s://127.0.0.1:%d%s" % ("https" if pem else "http", self.port, path)
        self.sock = str(self.workdir / ("%s-haproxy.sock" % tag))
        self.cfg = self.workdir / ("%s-haproxy.cfg" % tag)
        self.log_path = self.workdir / ("%s-haproxy.txt" % tag)
        servers = "\n".join(
            "  server %s 127.0.0.1:%d check" % (name, inst.port) for name, inst in instances
        )
        self.cfg.write_text(
            """global
  maxconn 4096
  stats socket %(sock)s mode 600 level admin
  log stdout format raw local0 info

defaults
  mode http
  log global
  # httplog's fields behind %%rt, HAProxy's request counter, which orders
  # the lines as the requests arrived whatever order they ended in
  log-format "%%rt %%ci:%%cp [%%tr] %%ft %%b/%%s %%TR/%%Tw/%%Tc/%%Tr/%%Ta %%ST %%B %%CC %%CS %%tsc %%ac/%%fc/%%bc/%%sc/%%rc %%sq/%%bq %%hr %%hs %%{+Q}r"
  timeout connect 2s
  timeout client 300s
  timeout server 300s
  timeout check 1s
  retries 3
  option redispatch 1
  # A connection an instance refused (it has stopped) is tried on another:
  # nothing was sent, so even a POST is safe to retry. An instance that is
  # stopping answers what it will not handle with 503 (the client retries
  # those), never with a silent close.
  retry-on conn-failure
  option http-server-close
  http-reuse never
  option forwardfor

frontend tap
  bind 127.0.0.1:%(port)d%(tls)s
  default_backend tapserve

backend tapserve
  balance roundrobin
  option httpchk GET %(path)s/availability
  http-check expect rstring available>\\s*true
  default-server inter 200ms fastinter 200ms downinter 200ms fall 2 rise 2
%(servers)s
"""
            % {
                "sock": self.sock,
                "port": self.port,
                "servers": servers,
                "path": path,
                "tls": " ssl crt %s alpn http/1.1\n  http-request set-header X-Forwarded-Proto https" % pem
                if pem else "",
            }
        )
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [HAPROXY, "-db", "-f", str(self.cfg)], stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 20
        while True:
            assert self.proc.poll() is None, "haproxy exited: %s" % self.log_path.read_text(errors="replace")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                self.command("show info")
                break
            except OSError:
                assert time.monotonic() < deadline, "haproxy does not listen"
                time.sleep(0.05)

    # log-format above: %rt ... %b/%s ... %ST ... "%{+Q}r"
    LOG_LINE = re.compile(r'^(\d+) \S+ \[[^]]+\] \S+ [^/ ]+/(\S+) \S+ (-?\d+) .* "(\S+) (\S+) HTTP/[0-9.]+"$')

    def requests(self):
        """[(request number, server, method, URI, status)] of every request
        HAProxy logged, in the order they arrived (HAProxy's request counter);
        server is the name of the instance it passed the request to
        ('<NOSRV>' for none). Connections that never made a request (a
        failed TLS handshake) are not requests."""
        out = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            m = self.LOG_LINE.match(line)
            if m:
                out.append((int(m.group(1)), m.group(2), m.group(4), m.group(5), int(m.group(3))))
        return sorted(out)

    def command(self, cmd):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        s.connect(self.sock)
        s.sendall(cmd.encode() + b"\n")
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
        s.close()
        return out.decode(errors="replace")

    def status(self):
        """{server name: 'UP' | 'DOWN' | ...} of the backend."""
        out = self.command("show stat")
        lines = [l for l in out.splitlines() if l and not l.startswith("#")]
        header = out.splitlines()[0].lstrip("# ").split(",")
        st = {}
        for l in lines:
            f = dict(zip(header, l.split(",")))
            if f.get("pxname") == "tapserve" and f.get("svname") not in ("BACKEND", "FRONTEND"):
                st[f["svname"]] = f["status"].split()[0]
        return st

    def wait_status(self, want, limit, names=None):
        """Until every server (or those named) has status `want`."""
        deadline = time.monotonic() + limit
        while True:
            st = self.status()
            if all(v == want for k, v in st.items() if names is None or k in names):
                return st
            assert time.monotonic() < deadline, "haproxy: not all %s after %s s: %s" % (want, limit, st)
            time.sleep(0.05)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Cluster:
    """N instances named a, b, c... behind one HAProxy. tls=True: HAProxy
    terminates TLS with a certificate made for the run (self.cafile is the
    one to trust), the service lives at https://127.0.0.1:PORT/ctx/tap (the
    layout TapPlus expects: /ctx/login beside /ctx/tap), and that is every
    instance's base_url, while the instances themselves speak plain HTTP."""

    def __init__(self, workdir, dsn, n=3, overrides=None, tag="c", tls=False):
        self.workdir = pathlib.Path(workdir)
        self.dsn = dsn
        self.tag = tag
        self.overrides = dict(BASE_OVERRIDES)
        self.overrides["jobs.result_store"] = "fs:" + str(self.workdir / ("results-" + tag))
        self.path, self.proxy_port, self.cafile, self.pem = "/tap", None, None, None
        if tls:
            self.path, self.proxy_port = "/ctx/tap", tsit.free_port()
            self.cafile, self.pem = self_signed(self.workdir, tag)
            self.overrides["server.base_url"] = "https://127.0.0.1:%d%s" % (self.proxy_port, self.path)
        self.overrides.update(overrides or {})
        self.names = [chr(ord("a") + i) for i in range(n)]
        self.ports = {name: tsit.free_port() for name in self.names}
        self.generation = {name: 0 for name in self.names}
        self.inst = {}
        self.proxy = None

    def _start_one(self, name, wait):
        self.generation[name] += 1
        s = Instance(
            self.workdir,
            "%s-%s-%d" % (self.tag, name, self.generation[name]),
            self.dsn,
            self.overrides,
            port=self.ports[name],
            wait=wait,
            path=self.path,
        )
        self.inst[name] = s
        return s

    def start(self, together=False):
        """Starts every instance (together=True: all processes at once, then
        waits for each), then HAProxy, and waits until it sees them all up."""
        for name in self.names:
            self._start_one(name, wait=not together)
        if together:
            for name in self.names:
                self.inst[name].wait_ready(120)
        self.proxy = HAProxy(self.workdir, [(n, self.inst[n]) for n in self.names], self.tag,
                             port=self.proxy_port, pem=self.pem, path=self.path)
        self.proxy.wait_status("UP", 30)
        return self

    def restart(self, name):
        """SIGTERM (the instance drains its responses and gives back its
        jobs), wait, start again on the same port."""
        self.inst[name].stop()
        return self._start_one(name, wait=True)

    def kill(self, name):
        p = self.inst[name].proc
        p.kill()
        p.wait()
        self.inst[name].stop()

    @property
    def base(self):
        return self.proxy.base

    @property
    def ctx(self):
        """The context above the base path: where TAP+ puts login and logout."""
        return self.base.rsplit("/", 1)[0]

    def url(self, name):
        return self.inst[name].base

    def trail(self, limit=10):
        """Which instance answered each request: [(instance name, method,
        URI, status)] of every request HAProxy has passed on, in the order
        they arrived, each found in the answering instance's own log too.

        It sends one request of its own last (GET capabilities?trail=N):
        once HAProxy has logged it, and each instance has logged as many
        requests as HAProxy gave it, the logs are complete (request numbers
        may have gaps: a connection that failed its TLS handshake takes one).
        For tests whose every request goes through HAProxy, with no instance
        restarted: an instance that answered requests HAProxy did not send
        it never matches, and fails with both lists."""
        self._trails = getattr(self, "_trails", 0) + 1
        mark = "trail=%d" % self._trails
        r = requests.get(self.base + "/capabilities?" + mark, verify=self.cafile or True, timeout=30)
        assert r.status_code == 200, r.text[:500]
        deadline = time.monotonic() + limit
        while True:
            logged = self.proxy.requests()
            sent = {name: [(m, u.split("?")[0], st) for _, srv, m, u, st in logged if srv == name]
                    for name in self.names}
            seen = {name: self.inst[name].requests() for name in self.names}
            if logged and logged[-1][3].endswith("?" + mark) and all(
                    len(seen[name]) == len(sent[name]) for name in self.names):
                break
            assert time.monotonic() < deadline, "after %s s, the instances' logs and HAProxy's differ:\n%s" % (
                limit, "\n".join("%s answered %s\nhaproxy sent it %s" % (n, seen[n], sent[n]) for n in self.names))
            time.sleep(0.05)
        for name in self.names:
            assert seen[name] == sent[name], "instance %s answered other requests than HAProxy sent it:\n%s\n%s" % (
                name, seen[name], sent[name])
        return [(srv, m, u, st) for _, srv, m, u, st in logged]

    def logs(self):
        """Text of every log the instances of this cluster wrote."""
        out = []
        for p in sorted(self.workdir.glob("%s-*.log" % self.tag)):
            out.append(p.read_text(errors="replace"))
        return "\n".join(out)

    def stop(self):
        if self.proxy:
            self.proxy.stop()
        for s in self.inst.values():
            s.stop()


# ---------------------------------------------------------------------------
# UWS through any base URL


def create(base, query, run=True, fmt=None, retry_503=False, session=None, **extra):
    """POST /async; the job URL. retry_503: a 503 (no instance available,
    or one shutting down) is tried again, as a client should."""
    data = {"LANG": "ADQL", "QUERY": query}
    if run:
        data["PHASE"] = "RUN"
    if fmt:
        data["RESPONSEFORMAT"] = fmt
    data.update(extra)
    http = session or requests
    retried = 0
    while True:
        r = http.post(base + "/async", data=data, allow_redirects=False, timeout=60)
        if r.status_code == 503 and retry_503 and retried < 200:
            retried += 1
            time.sleep(0.1)
            continue
        assert r.status_code == 303, "POST /async: %d %s" % (r.status_code, r.text[:500])
        return r.headers["Location"], retried


def job_id(url):
    return url.rsplit("/", 1)[1]


def on(base, url):
    """The same job's URL through another base (another instance)."""
    return base + "/async/" + job_id(url)


def result(url, fmt="votable"):
    r = requests.get(url + "/results/result", params={"RESPONSEFORMAT": fmt}, timeout=120)
    assert r.status_code == 200, r.text[:500]
    return r.content


def availability(base):
    r = requests.get(base + "/availability", timeout=10)
    assert r.status_code == 200, r.text
    m = re.search(r"available>\s*(true|false)\s*<", r.text)
    assert m, r.text
    return m.group(1) == "true"


def pg(data_dir, *args):
    logfile = os.path.join(str(tsit.find_pgdata(data_dir)), "pg_ctl.log")
    rc, out = tsit.pg_ctl(data_dir, *args, "-w", "-l", logfile)
    assert rc == 0, out
