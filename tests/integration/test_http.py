"""HTTP/1.1 robustness over raw sockets: malformed requests, oversized
headers and bodies, other methods, unknown paths, keep-alive, HEAD. The
server answers each with the right status and keeps serving."""

import urllib.parse

import pytest

import tsit

AVAIL = b"GET /tap/availability HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def assert_alive(srv):
    assert srv.alive(), "tapserve died; log:\n" + srv.log_tail()
    status, _, body = tsit.raw_request(srv.port, AVAIL)
    assert status == 200 and b"available" in body


@pytest.mark.parametrize(
    "data,allowed",
    [
        (b"GARBAGE\r\n\r\n", (400,)),
        (b"GET\r\n\r\n", (400,)),
        # an unknown major version may also be answered 505
        (b"GET /tap/availability HTTP/9.9\r\nHost: x\r\n\r\n", (400, 505)),
        (b"GET /tap/availability HTTP/1.1\r\nNo colon header line\r\n\r\n", (400,)),
        (b"POST /tap/sync HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n", (400,)),
        (b"POST /tap/sync HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n", (400,)),
    ],
    ids=["garbage", "no-target", "bad-version", "bad-header", "bad-content-length", "bad-chunk"],
)
def test_malformed_request_400(server, data, allowed):
    status, _, _ = tsit.raw_request(server.port, data)
    assert status in allowed, "got %d for %r" % (status, data)
    assert_alive(server)


def test_oversized_header_431(server):
    data = b"GET /tap/availability HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20480 + b"\r\n\r\n"
    status, _, _ = tsit.raw_request(server.port, data)
    assert status == 431
    assert_alive(server)


def test_oversized_body_413(start_server):
    srv = start_server({"server.max_body_bytes": 1000})
    query = "SELECT TOP 1 source_id FROM demo.sources WHERE " + " OR ".join(["source_id = %d" % i for i in range(400)])
    body = urllib.parse.urlencode({"LANG": "ADQL", "QUERY": query}).encode()
    assert len(body) > 1000
    head = (
        "POST /tap/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: %d\r\n\r\n" % len(body)
    ).encode()
    status, _, _ = tsit.raw_request(srv.port, head + body)
    assert status == 413
    # a small body on the same server still works
    small = urllib.parse.urlencode({"LANG": "ADQL", "QUERY": "SELECT TOP 1 source_id FROM demo.sources", "FORMAT": "csv"}).encode()
    head = (
        "POST /tap/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        "Content-Length: %d\r\n\r\n" % len(small)
    ).encode()
    status, _, body = tsit.raw_request(srv.port, head + small)
    assert status == 200, body[:500]
    assert_alive(srv)


def test_chunked_body_over_limit_413(start_server):
    # A chunked body has no Content-Length: the limit must apply while
    # reading it.
    srv = start_server({"server.max_body_bytes": 1000})
    payload = b"QUERY=" + b"x" * 3000
    data = (
        b"POST /tap/sync HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n" + b"%x\r\n" % len(payload) + payload + b"\r\n0\r\n\r\n"
    )
    status, _, _ = tsit.raw_request(srv.port, data)
    assert status == 413
    assert_alive(srv)


def test_delete_405(server):
    status, headers, _ = tsit.raw_request(server.port, b"DELETE /tap/sync HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == 405
    # RFC 9110 15.5.6: a 405 response carries Allow
    assert "allow" in headers and "GET" in headers["allow"] and "POST" in headers["allow"], headers
    assert_alive(server)


@pytest.mark.parametrize("path", ["/tap/nope", "/nope", "/tap/sync/extra", "/tap/tables/demo.nosuchtable"])
def test_unknown_path_404(server, path):
    status, _, _ = tsit.raw_request(server.port, b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
    assert status == 404, "%s gave %d" % (path, status)
    assert_alive(server)


def test_keep_alive_two_requests(server):
    c = tsit.RawConn(server.port)
    try:
        c.send(AVAIL)
        s1, h1, b1 = c.read_response()
        assert s1 == 200 and b"available" in b1
        assert h1.get("connection", "").lower() != "close"
        q = urllib.parse.urlencode({"LANG": "ADQL", "QUERY": "SELECT TOP 3 source_id FROM demo.sources", "FORMAT": "csv"})
        c.send(b"GET /tap/sync?%s HTTP/1.1\r\nHost: x\r\n\r\n" % q.encode())
        s2, _, b2 = c.read_response()
        assert s2 == 200
        assert len(b2.decode().strip().splitlines()) == 4
        # and a third one after a streamed (chunked) response
        c.send(AVAIL)
        s3, _, _ = c.read_response()
        assert s3 == 200
    finally:
        c.close()


def test_pipelined_requests(server):
    c = tsit.RawConn(server.port)
    try:
        c.send(AVAIL + AVAIL)
        assert c.read_response()[0] == 200
        assert c.read_response()[0] == 200
    finally:
        c.close()


def test_head_availability(server):
    c = tsit.RawConn(server.port)
    try:
        c.send(b"HEAD /tap/availability HTTP/1.1\r\nHost: x\r\n\r\n")
        status, headers, _ = c.read_response(head_request=True)
        assert status == 200
        assert "xml" in headers.get("content-type", "")
        # No body may follow the head: the next response on this connection
        # must start right after it.
        c.send(AVAIL)
        status, _, body = c.read_response()
        assert status == 200 and b"available" in body
    finally:
        c.close()


def test_http10_close(server):
    c = tsit.RawConn(server.port)
    try:
        c.send(b"GET /tap/availability HTTP/1.0\r\n\r\n")
        status, _, body = c.read_response()
        assert status == 200 and b"available" in body
        # HTTP/1.0 without keep-alive: the server closes
        c.sock.settimeout(10)
        assert c.sock.recv(1) == b""
    finally:
        c.close()


def test_survives_everything(server):
    # Runs after the tests above in file order: the same process still
    # answers a query.
    assert_alive(server)
    r = server.sync({"LANG": "ADQL", "QUERY": "SELECT TOP 1 source_id FROM demo.sources", "FORMAT": "csv"})
    assert r.status_code == 200


# The route table: for each (method, path), the status and the Allow header
# of a 405. "{id}" is an existing job, "{bad}" an id that cannot be one.
ROUTES = [
    ("GET", "/tap", 200, None),
    ("GET", "/tap/", 200, None),
    ("POST", "/tap", 405, "GET, HEAD"),
    ("DELETE", "/tap/", 405, "GET, HEAD"),
    ("DELETE", "/tap/sync", 405, "GET, POST, HEAD"),
    ("GET", "/tap/sync/", 404, None),
    ("POST", "/tap/capabilities", 405, "GET, HEAD"),
    ("GET", "/tap/capabilities/", 404, None),
    ("DELETE", "/tap/availability", 405, "GET, HEAD"),
    ("POST", "/tap/examples", 405, "GET, HEAD"),
    ("GET", "/tap/tables/", 200, None),
    ("GET", "/tap/tables/demo.sources", 200, None),
    ("POST", "/tap/tables", 405, "GET, HEAD"),
    ("DELETE", "/tap/tables/demo.sources", 405, "GET, HEAD"),
    ("GET", "/tap/tables/demo.sources/x", 404, None),
    ("GET", "/tap/async", 200, None),
    ("GET", "/tap/async/", 200, None),
    ("DELETE", "/tap/async", 405, "GET, POST, HEAD"),
    ("GET", "/tap/async/{id}", 200, None),
    ("GET", "/tap/async/{id}/", 200, None),
    ("GET", "/tap/async/{id}/phase", 200, None),
    ("GET", "/tap/async/{id}/parameters", 200, None),
    ("GET", "/tap/async/{id}/runid", 200, None),
    ("GET", "/tap/async/{id}/runId", 200, None),
    ("DELETE", "/tap/async/{id}/phase", 405, "GET, POST, HEAD"),
    ("DELETE", "/tap/async/{id}/parameters", 405, "GET, POST, HEAD"),
    ("DELETE", "/tap/async/{id}/quote", 405, "GET, HEAD"),
    ("POST", "/tap/async/{id}/owner", 405, "GET, HEAD"),
    ("DELETE", "/tap/async/{id}/results/result", 405, "GET, HEAD"),
    ("GET", "/tap/async/{id}/error", 404, None),
    ("GET", "/tap/async/{id}/nosuch", 404, None),
    ("GET", "/tap/async/{id}/phase/", 404, None),
    ("GET", "/tap/async/{id}/results/result/", 404, None),
    ("GET", "/tap/async/{bad}", 404, None),
    ("DELETE", "/tap/async/{bad}/phase", 404, None),
    ("GET", "/tap/async//phase", 404, None),
    ("GET", "/tap/async/0123456789abcdef0123456789abcdef", 404, None),
    ("GET", "/nope", 404, None),
    ("GET", "/tapx", 404, None),
    ("GET", "/tap/../tap/sync", 404, None),
    ("GET", "/tap/sync/../capabilities", 404, None),
    # Routes match the path as sent, decoded per segment: an escaped letter
    # is the letter, an escaped '/' is no separator.
    ("GET", "/tap/async/{id}/%70hase", 200, None),
    ("GET", "/tap/tables/demo%2Esources", 200, None),
    ("GET", "/tap/async%2F{id}", 404, None),
    ("GET", "/tap/async/{id}%2Fphase", 404, None),
    ("GET", "/tap%2Fsync", 404, None),
    # Sub-resource names are as UWS spells them.
    ("GET", "/tap/async/{id}/PHASE", 404, None),
]


@pytest.fixture(scope="module")
def pending_job(server):
    import requests

    r = requests.post(server.base + "/async", data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 source_id FROM demo.sources"},
                      allow_redirects=False)
    assert r.status_code == 303, r.text
    return r.headers["location"].rsplit("/", 1)[1]


@pytest.mark.parametrize("method,path,status,allow", ROUTES, ids=["%s %s" % (m, p) for m, p, _, _ in ROUTES])
def test_routes(server, pending_job, method, path, status, allow):
    path = path.replace("{id}", pending_job).replace("{bad}", "NOT-A-JOB")
    got, headers, body = tsit.raw_request(server.port, b"%s %s HTTP/1.1\r\nHost: x\r\n\r\n" % (method.encode(), path.encode()))
    assert got == status, "%s %s gave %d: %r" % (method, path, got, body[:300])
    assert headers.get("allow") == allow, headers
    if got >= 400:
        assert b"QUERY_STATUS" in body and b"ERROR" in body, body[:300]
    assert_alive(server)
