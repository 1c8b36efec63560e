"""A client that disconnects in the middle of a streamed /sync result
cancels its query in PostgreSQL at once (no query left running for
nobody)."""

import time
import urllib.parse

import pytest

import tsit

CROSS = "SELECT a.source_id, b.source_id FROM demo.sources AS a, demo.sources AS b"

# Backends running our COPY, other than psql's own.
ACTIVE_SQL = (
    "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND state <> 'idle' "
    "AND query ILIKE '%copy%' AND query ILIKE '%sources%'"
)


def active_copies(psql):
    return int(psql.scalar(ACTIVE_SQL))


@pytest.mark.parametrize("fmt,method", [("csv", "GET"), ("votable", "POST")])
def test_disconnect_cancels_query(start_server, psql, fmt, method):
    srv = start_server({"tap.maxrec_limit": 1000000000})
    assert active_copies(psql) == 0, "a COPY is already running before the test"
    params = urllib.parse.urlencode({"LANG": "ADQL", "QUERY": CROSS, "MAXREC": "100000000", "RESPONSEFORMAT": fmt})
    if method == "GET":
        req = b"GET /tap/sync?%s HTTP/1.1\r\nHost: x\r\n\r\n" % params.encode()
    else:
        req = (
            b"POST /tap/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(params), params.encode())
        )
    c = tsit.RawConn(srv.port)
    try:
        c.send(req)
        received = b""
        while len(received) < 16384:
            chunk = c.sock.recv(65536)
            assert chunk, "server closed the connection early: %r" % received[:500]
            received += chunk
        assert received.startswith(b"HTTP/1.1 200"), received[:300]
        # The query must be visible while it streams, or the check below
        # would prove nothing.
        running = active_copies(psql)
        assert running >= 1, (
            "the streaming query is not visible in pg_stat_activity: %s"
            % psql.run("SELECT pid, state, left(query, 200) FROM pg_stat_activity WHERE pid <> pg_backend_pid()")
        )
    finally:
        c.close()
    deadline = time.monotonic() + 2.0
    left = active_copies(psql)
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = active_copies(psql)
    assert left == 0, "query still running 2 s after the client disconnected: %s" % psql.run(
        "SELECT pid, state, now() - query_start, left(query, 200) FROM pg_stat_activity "
        "WHERE pid <> pg_backend_pid() AND state <> 'idle'"
    )
    # the server is fine and its pool connection usable again
    assert srv.alive(), srv.log_tail()
    r = srv.sync({"LANG": "ADQL", "QUERY": "SELECT TOP 2 source_id FROM demo.sources", "FORMAT": "csv"})
    assert r.status_code == 200


# Sorts 2.5e9 rows of the 50,000-row cross join before its first row: over
# a minute in PostgreSQL, during which the server has nothing to write.
SLOW_FIRST_ROW = "SELECT TOP 1 a.source_id FROM demo.sources AS a, demo.sources AS b ORDER BY a.ra + b.dec"


def test_disconnect_before_first_row_cancels_query(start_server, psql):
    """The client goes away while the query has not produced a row yet: no
    write can fail, so the server must notice the FIN itself."""
    srv = start_server()
    assert active_copies(psql) == 0, "a COPY is already running before the test"
    params = urllib.parse.urlencode({"LANG": "ADQL", "QUERY": SLOW_FIRST_ROW, "FORMAT": "csv"})
    c = tsit.RawConn(srv.port)
    try:
        c.send(b"GET /tap/sync?%s HTTP/1.1\r\nHost: x\r\n\r\n" % params.encode())
        time.sleep(0.5)
        # Running, and not answered: otherwise the check below would prove
        # nothing.
        assert active_copies(psql) == 1, psql.run(
            "SELECT pid, state, left(query, 200) FROM pg_stat_activity WHERE pid <> pg_backend_pid()"
        )
        c.sock.setblocking(False)
        try:
            early = c.sock.recv(65536)
        except BlockingIOError:
            early = None
        assert early is None, "the server answered before the first row: %r" % early[:300]
    finally:
        c.close()
    try:
        deadline = time.monotonic() + 2.0
        left = active_copies(psql)
        while left and time.monotonic() < deadline:
            time.sleep(0.05)
            left = active_copies(psql)
        assert left == 0, "query still running 2 s after the client disconnected: %s" % psql.run(
            "SELECT pid, state, now() - query_start, left(query, 200) FROM pg_stat_activity "
            "WHERE pid <> pg_backend_pid() AND state <> 'idle'"
        )
    finally:
        # Leave no minute-long sort behind for the tests that follow.
        psql.run(
            "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
            "AND state <> 'idle' AND query ILIKE '%copy%' AND query ILIKE '%sources%'"
        )
    assert srv.alive(), srv.log_tail()
    r = srv.sync({"LANG": "ADQL", "QUERY": "SELECT TOP 2 source_id FROM demo.sources", "FORMAT": "csv"})
    assert r.status_code == 200
    assert "client went away" in srv.log_tail(200), srv.log_tail()
