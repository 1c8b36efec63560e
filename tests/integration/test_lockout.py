"""No client may lock the others out: clients that stop reading /sync
results, large request bodies, idle connections. The attackers connect
from 127.0.0.2 and 127.0.0.3, the measured clients from 127.0.0.1, so that
per-address limits apply to the attackers only (all of 127.0.0.0/8 is
loopback on Linux)."""

import http.client
import os
import socket
import sys
import time
import urllib.parse

import tsit

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hostile"))
import lockout  # noqa: E402

# 50,000 x 50,000 rows: streams far longer than any test runs.
CROSS = "SELECT a.source_id, b.source_id FROM demo.sources AS a, demo.sources AS b"
SMALL = "SELECT TOP 2 source_id FROM demo.sources"


def stalled_stream(port, src):
    """A /sync download from src that reads nothing after the request."""
    params = urllib.parse.urlencode({"LANG": "ADQL", "QUERY": CROSS, "MAXREC": "100000000", "FORMAT": "csv"})
    s = lockout.attack_socket(lockout.Target("http://127.0.0.1:%d/tap" % port), src, rcvbuf=4096)
    s.sendall(b"GET /tap/sync?%s HTTP/1.1\r\nHost: x\r\n\r\n" % params.encode())
    return s


class RawFrom(tsit.RawConn):
    """A raw connection from source address src."""

    def __init__(self, port, src, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout, source_address=(src, 0))
        self.buf = b""


def small_sync(srv, timeout=10):
    """(status, Retry-After, seconds, body) of a small /sync from 127.0.0.1."""
    t0 = time.monotonic()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=timeout, source_address=("127.0.0.1", 0))
    try:
        conn.request("GET", lockout.Target(srv.base).sync_target(SMALL))
        r = conn.getresponse()
        return r.status, r.getheader("Retry-After"), time.monotonic() - t0, r.read()
    finally:
        conn.close()


def test_sync_per_client_cap(start_server):
    """A client address may run max_sync_per_client /sync requests at once;
    the next one gets 429 with Retry-After and a DALI error document."""
    srv = start_server({"database.pool_size": 4, "tap.max_sync_per_client": 2, "tap.maxrec_limit": 1000000000})
    socks = [stalled_stream(srv.port, "127.0.0.2") for _ in range(2)]
    try:
        time.sleep(0.5)
        third = RawFrom(srv.port, "127.0.0.2")
        try:
            params = urllib.parse.urlencode({"LANG": "ADQL", "QUERY": SMALL})
            third.send(b"GET /tap/sync?%s HTTP/1.1\r\nHost: x\r\n\r\n" % params.encode())
            status, headers, body = third.read_response()
        finally:
            third.close()
        assert status == 429, body[:300]
        assert headers.get("retry-after"), headers
        assert "at most 2" in tsit.error_message(body)
        # another address is not affected
        status, _, _, _ = small_sync(srv)
        assert status == 200
    finally:
        lockout.close_all(socks)


def test_sync_pool_wait_is_bounded(start_server):
    """Every pool connection held by a client that reads nothing: another
    /sync gets 503 with Retry-After once pool_wait_timeout has passed,
    instead of waiting for write_timeout."""
    srv = start_server(
        {
            "database.pool_size": 1,
            "database.pool_wait_timeout": 1,
            "tap.sync_stall_timeout": 0,
            "tap.maxrec_limit": 1000000000,
        }
    )
    socks = [stalled_stream(srv.port, "127.0.0.2")]
    try:
        time.sleep(0.5)
        status, retry, secs, body = small_sync(srv)
        assert status == 503, body[:300]
        assert retry
        assert "busy" in tsit.error_message(body)
        assert secs < 5, secs
    finally:
        lockout.close_all(socks)
    assert srv.alive(), srv.log_tail()


def test_sync_stalled_stream_cut_when_others_wait(start_server):
    """Clients from several addresses hold every pool connection and read
    nothing: once another request waits, streams stalled for
    sync_stall_timeout are cut and the waiting request is served."""
    srv = start_server(
        {
            "database.pool_size": 2,
            "database.pool_wait_timeout": 4,
            "tap.sync_stall_timeout": 1,
            "tap.maxrec_limit": 1000000000,
        }
    )
    socks = [stalled_stream(srv.port, src) for src in ("127.0.0.2", "127.0.0.3")]
    try:
        time.sleep(2.0)  # both have read nothing for longer than the stall timeout
        status, _, secs, body = small_sync(srv)
        assert status == 200, body[:300]
        assert secs < 3, secs
    finally:
        lockout.close_all(socks)
    assert "cutting its stream" in srv.log_tail(400), srv.log_tail()


def test_lockout_probe(start_server):
    """The probe of tests/hostile against a server with the default limits
    (tapserve's pool_size as well): every measured request is answered
    within 2 s in each attack, and the body flood leaves peak RSS under
    256 MB."""
    srv = start_server({"database.pool_size": 8})
    results = lockout.run(srv.base, cases=(3, 4, 5), pid=srv.proc.pid, out=sys.stdout)
    for res in results:
        print(res.report())
        assert len(res.samples) >= 5, res.report()
        assert not res.bad(), res.report()
    bodies = [r for r in results if r.case == 4][0]
    assert bodies.vmhwm_kb < 256 * 1024, bodies.report()
    assert srv.alive(), srv.log_tail()
