#!/usr/bin/python3
"""Lock-out probe: can a few hostile clients keep everybody else out?

    tests/hostile/lockout.py http://127.0.0.1:8080/tap [--cases 3,4,5] [--pid PID]

Replays three attacks against a running tapserve while a measured client
keeps asking for small /sync results, and prints, per attack, the
latencies the measured client saw (min/median/max) and what the attackers
got. The attackers connect from 127.0.0.2 and 127.0.0.3, the measured
client from 127.0.0.1 (all of 127.0.0.0/8 is loopback on Linux), so that
per-address limits apply to the attackers only.

  3  "sync": 10 clients start a large /sync download and stop reading.
  4  "bodies": 100 connections each send 15 MiB of a 16 MiB request body
     (multipart, the largest kind a server accepts) and stop.
  5  "idle": 2,000 connections from one address that send nothing,
     reopened as soon as the server closes them.

With --pid, the peak resident memory of that process (VmHWM) is printed
after each attack. Only loopback targets are accepted; every attack is
bounded in connections and seconds and closes its sockets at the end.
Exit status 0 when every measured request got an answer within 2 s: 200,
or in the bodies attack a 503 with Retry-After.

Debian's /usr/bin/python3 and its standard library only."""

import argparse
import http.client
import ipaddress
import resource
import selectors
import socket
import statistics
import sys
import threading
import time
import urllib.parse

MEASURED_SRC = "127.0.0.1"
ATTACK_SRCS = ("127.0.0.2", "127.0.0.3")
LIMIT_S = 2.0

SMALL_QUERY = "SELECT TOP 3 table_name FROM TAP_SCHEMA.tables"
# Published by every TAP service, and large enough as a triple cross join
# to fill any socket buffer many times over.
LARGE_QUERY = (
    "SELECT a.table_name, a.column_name, a.description, b.column_name AS b_name, "
    "c.column_name AS c_name FROM TAP_SCHEMA.columns AS a, TAP_SCHEMA.columns AS b, "
    "TAP_SCHEMA.columns AS c"
)


class Target:
    """The service under test: host, port and base path of a loopback URL."""

    def __init__(self, url):
        u = urllib.parse.urlsplit(url)
        if u.scheme != "http" or not u.hostname:
            raise ValueError("not an http:// URL: %s" % url)
        host = "127.0.0.1" if u.hostname == "localhost" else u.hostname
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError("only loopback targets are probed, not %s" % host)
        self.host = host
        self.port = u.port or 80
        self.path = u.path.rstrip("/")

    def sync_target(self, query, maxrec=None, fmt="csv"):
        params = {"LANG": "ADQL", "QUERY": query, "FORMAT": fmt}
        if maxrec is not None:
            params["MAXREC"] = str(maxrec)
        return "%s/sync?%s" % (self.path, urllib.parse.urlencode(params))


class Sample:
    def __init__(self, kind, status, retry_after, latency, error=None):
        self.kind = kind
        self.status = status
        self.retry_after = retry_after
        self.latency = latency
        self.error = error


class Measurer(threading.Thread):
    """The other clients: one small /sync request after another, GET and
    POST in turn, each on a new connection from MEASURED_SRC."""

    def __init__(self, target, interval=0.2):
        super().__init__(daemon=True)
        self.target = target
        self.interval = interval
        self.samples = []
        self.stopping = threading.Event()

    def one(self, kind):
        t0 = time.monotonic()
        conn = http.client.HTTPConnection(
            self.target.host, self.target.port, timeout=10, source_address=(MEASURED_SRC, 0)
        )
        try:
            if kind == "GET":
                conn.request("GET", self.target.sync_target(SMALL_QUERY))
            else:
                body = urllib.parse.urlencode({"LANG": "ADQL", "QUERY": SMALL_QUERY, "FORMAT": "csv"})
                conn.request(
                    "POST",
                    self.target.path + "/sync",
                    body=body,
                    headers={"Content-Type": "application/x-www-form-urlencoded"},
                )
            resp = conn.getresponse()
            resp.read()
            return Sample(kind, resp.status, resp.getheader("Retry-After"), time.monotonic() - t0)
        except (OSError, http.client.HTTPException) as e:
            return Sample(kind, None, None, time.monotonic() - t0, repr(e))
        finally:
            conn.close()

    def run(self):
        n = 0
        while not self.stopping.is_set():
            self.samples.append(self.one("GET" if n % 2 == 0 else "POST"))
            n += 1
            self.stopping.wait(self.interval)

    def stop(self):
        self.stopping.set()
        self.join()


def attack_socket(target, src, rcvbuf=None, blocking=True):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.bind((src, 0))
    if blocking:
        s.settimeout(10)
        s.connect((target.host, target.port))
    else:
        s.setblocking(False)
        s.connect_ex((target.host, target.port))
    return s


def status_of(data):
    """The status code of a response that starts with data, or None."""
    if data.startswith(b"HTTP/1."):
        parts = data.split(b" ", 2)
        if len(parts) > 1 and parts[1].isdigit():
            return int(parts[1])
    return None


def peek_statuses(socks):
    """{status or label: count} of what the server sent each socket so far."""
    out = {}
    for s in socks:
        try:
            s.setblocking(False)
            data = s.recv(64)
            key = status_of(data) if data else "closed"
        except BlockingIOError:
            key = "no answer"
        except OSError:
            key = "reset"
        out[key] = out.get(key, 0) + 1
    return out


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


class CaseResult:
    def __init__(self, case, name, samples, attackers, allow_503=False, vmhwm_kb=None):
        self.case = case
        self.name = name
        self.samples = samples
        self.attackers = attackers
        self.allow_503 = allow_503
        self.vmhwm_kb = vmhwm_kb

    def bad(self):
        """Measured requests that were not answered in time, or not rightly."""
        out = []
        for s in self.samples:
            ok_status = s.status == 200 or (self.allow_503 and s.status == 503 and s.retry_after)
            if not ok_status or s.latency >= LIMIT_S:
                out.append(s)
        return out

    def report(self):
        lat = [s.latency for s in self.samples]
        statuses = {}
        for s in self.samples:
            key = s.status if s.status is not None else "error"
            statuses[key] = statuses.get(key, 0) + 1
        line = "case %d (%s): %d measured requests %s" % (
            self.case,
            self.name,
            len(self.samples),
            " ".join("%s x%d" % (k, v) for k, v in sorted(statuses.items(), key=str)),
        )
        if lat:
            line += "; latency min %.3f s, median %.3f s, max %.3f s" % (min(lat), statistics.median(lat), max(lat))
        line += "\n  attackers: %s" % ", ".join("%s x%d" % (k, v) for k, v in self.attackers.items())
        if self.vmhwm_kb is not None:
            line += "\n  server peak RSS (VmHWM): %.1f MB" % (self.vmhwm_kb / 1024.0)
        for s in self.bad()[:5]:
            line += "\n  LATE OR REFUSED: %s status %s after %.3f s %s" % (s.kind, s.status, s.latency, s.error or "")
        return line


def vmhwm_kb(pid):
    if pid is None:
        return None
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return None


def measured(target, attack, socks):
    """Runs attack() while the measured client asks, then closes the
    attack's sockets (whatever happened); returns (samples, attack's
    result)."""
    m = Measurer(target)
    m.start()
    try:
        result = attack()
    finally:
        m.stop()
        close_all(socks)
    return m.samples, result


def case_sync(target, clients=10, hold=4.0):
    """Case 3: clients that start a large /sync download and stop reading."""
    socks = []

    def attack():
        req = "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (target.sync_target(LARGE_QUERY, maxrec=10000000), target.host)
        for _ in range(clients):
            s = attack_socket(target, ATTACK_SRCS[0], rcvbuf=4096)
            s.sendall(req.encode())
            socks.append(s)
        time.sleep(hold)  # they read nothing: the server's queue fills and stays full
        return peek_statuses(socks)

    return measured(target, attack, socks)


def case_bodies(target, conns=100, body_bytes=16 << 20, send_bytes=15 << 20, limit_s=15.0, hold=2.0):
    """Case 4: connections that send most of a large body and stop."""
    socks = []
    outcome = {}

    def attack():
        head = (
            "POST %s/sync HTTP/1.1\r\nHost: %s\r\nContent-Type: multipart/form-data; boundary=lockoutprobe\r\n"
            "Content-Length: %d\r\n\r\n" % (target.path, target.host, body_bytes)
        ).encode()
        chunk = b"\0" * 65536
        sel = selectors.DefaultSelector()
        state = {}
        for i in range(conns):
            s = attack_socket(target, ATTACK_SRCS[i % len(ATTACK_SRCS)], blocking=False)
            socks.append(s)
            state[s] = {"out": head, "sent": -len(head), "done": None}
            sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        deadline = time.monotonic() + limit_s
        active = len(socks)
        while active and time.monotonic() < deadline:
            for key, ev in sel.select(timeout=0.2):
                s = key.fileobj
                st = state[s]
                try:
                    if ev & selectors.EVENT_READ:
                        data = s.recv(4096)
                        st["done"] = status_of(data) if data else "closed"
                    elif ev & selectors.EVENT_WRITE:
                        if not st["out"]:
                            st["out"] = chunk[: min(len(chunk), send_bytes - st["sent"])]
                        n = s.send(st["out"])
                        st["out"] = st["out"][n:]
                        st["sent"] += n
                        if st["sent"] >= send_bytes and not st["out"]:
                            st["done"] = "held (15 MiB of 16 MiB sent)"
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    st["done"] = "reset"
                if st["done"] is not None:
                    sel.unregister(s)
                    active -= 1
        sel.close()
        for s in socks:
            key = state[s]["done"] or "still sending"
            outcome[key] = outcome.get(key, 0) + 1
        time.sleep(hold)  # the held ones keep their bodies meanwhile
        return outcome

    return measured(target, attack, socks)


def case_idle(target, conns=2000, hold=4.0):
    """Case 5: connections from one address that send nothing, reopened
    whenever the server closes or answers them."""
    socks = []
    counts = {"opened": 0, "reopened": 0}

    def attack():
        for _ in range(conns):
            socks.append(attack_socket(target, ATTACK_SRCS[0], blocking=False))
        counts["opened"] = len(socks)
        deadline = time.monotonic() + hold
        while time.monotonic() < deadline:
            time.sleep(0.5)
            sel = selectors.DefaultSelector()
            for s in socks:
                sel.register(s, selectors.EVENT_READ)
            ready = [k.fileobj for k, _ in sel.select(timeout=0)]
            sel.close()
            for s in ready:  # answered (429) or closed: come back at once
                socks.remove(s)
                s.close()
                socks.append(attack_socket(target, ATTACK_SRCS[0], blocking=False))
                counts["reopened"] += 1
        counts.update(peek_statuses(socks))
        return counts

    return measured(target, attack, socks)


CASES = {
    3: ("sync: 10 clients stop reading large /sync downloads", case_sync, False),
    4: ("bodies: 100 connections x 15 MiB of a 16 MiB body", case_bodies, True),
    5: ("idle: 2,000 connections from one address send nothing", case_idle, False),
}


def raise_fd_limit(want=8192):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))


def run(url, cases=(3, 4, 5), pid=None, pause=1.0, out=None):
    """Runs the cases in order; returns a CaseResult per case. Prints each
    report to out (a file) when given."""
    target = Target(url)
    raise_fd_limit()
    results = []
    for c in cases:
        name, fn, allow_503 = CASES[c]
        samples, attackers = fn(target)
        res = CaseResult(c, name, samples, attackers, allow_503=allow_503, vmhwm_kb=vmhwm_kb(pid))
        results.append(res)
        if out is not None:
            print(res.report(), file=out, flush=True)
        time.sleep(pause)  # let the server see the attackers' sockets close
    return results


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("url", help="base URL of the TAP service, e.g. http://127.0.0.1:8080/tap")
    ap.add_argument("--cases", default="3,4,5", help="which attacks, comma-separated (default 3,4,5)")
    ap.add_argument("--pid", type=int, help="tapserve's process id, to print its peak RSS")
    a = ap.parse_args(argv)
    cases = [int(c) for c in a.cases.split(",") if c.strip()]
    for c in cases:
        if c not in CASES:
            ap.error("unknown case %d (3, 4 or 5)" % c)
    try:
        results = run(a.url, cases, pid=a.pid, out=sys.stdout)
    except ValueError as e:
        ap.error(str(e))
    except OSError as e:
        print("lockout: cannot probe %s: %s" % (a.url, e), file=sys.stderr)
        return 2
    return 0 if all(r.samples and not r.bad() for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
