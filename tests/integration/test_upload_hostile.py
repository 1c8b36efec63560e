"""Hostile uploads: malformed XML, truncated base64, a FITS file with a
wrong NAXIS2, a CSV with ragged rows, a 2 GB body (announced, and streamed
chunked), a billion-laughs entity attack, a gzip bomb served with
Content-Encoding: gzip, a URL that redirects to a private address. Each
gets a clear error naming the upload, leaves no table in tap_upload, and
the server's peak RSS (VmHWM) is printed and stays bounded."""

import base64
import http.server
import io
import select
import socket
import subprocess
import threading
import zlib

import pytest
import requests

import tsit
from test_multipart import peak_rss_kb
from test_upload import list_rows, until, upload_rows, upload_tables

# Far below what holding a 2 GB body or a 1 GB decoded bomb would take.
RSS_BOUND_KB = 400 * 1024
QUERY = "SELECT * FROM TAP_UPLOAD.t"


@pytest.fixture(scope="module")
def hostile(start_server):
    return start_server({"upload.allow_private_urls": "yes", "upload.fetch_timeout": "120"})


def check_left_nothing(srv, psql, before, what):
    assert until(lambda: (upload_tables(psql), upload_rows(psql)) == before), what
    kb = peak_rss_kb(srv)
    print("%s: server peak RSS %d KiB" % (what, kb))
    assert kb < RSS_BOUND_KB, "%s: peak RSS %d KiB" % (what, kb)


def inline(srv, body, name="x"):
    return requests.post(srv.base + "/sync", data={"LANG": "ADQL", "QUERY": QUERY, "UPLOAD": "t,param:f"},
                         files={"f": (name, body)}, timeout=300)


def assert_error(r, status, *words):
    assert r.status_code == status, r.text[:2000]
    msg = tsit.error_message(r.content)
    print("%d %s" % (status, msg))
    for w in ('"t"',) + words:
        assert w in msg, msg


def counts(psql):
    return (upload_tables(psql), upload_rows(psql))


VOT_HEAD = b"""<?xml version="1.0"?>
<VOTABLE version="1.4" xmlns="http://www.ivoa.net/xml/VOTable/v1.3">
<RESOURCE><TABLE><FIELD name="a" datatype="int"/><FIELD name="s" datatype="char" arraysize="*"/>
<DATA>"""


def test_malformed_xml(hostile, psql):
    before = counts(psql)
    rows = b"<TR><TD>1</TD><TD>x</TD></TR>" * 1000
    for body in (VOT_HEAD + b"<TABLEDATA>" + rows + b"<TR><TD>1</TD><TD>x</TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
                 VOT_HEAD + b"<TABLEDATA>" + rows + b"<TR><TD>1</TD><TD a='1' a='2'>x</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
                 VOT_HEAD + b"<TABLEDATA>" + rows + b"<TR><TD>1</TD><TD>x & y</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
                 VOT_HEAD + b"<TABLEDATA>" + rows + b"<TR><TD>1</TD><TD>\xff\xfe</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
                 VOT_HEAD + b"<TABLEDATA>" + rows + b"<TR><TD>1</TD><TD>x",
                 VOT_HEAD + b"<TABLEDATA>" + rows + b"</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLEX>",
                 VOT_HEAD + b"<TABLEDATA>" + rows + b"</TABLEDATA></DATA></TABLE><INFO name='QUERY_STATUS' value="):
        assert_error(inline(hostile, body, "x.xml"), 400, "line")
    check_left_nothing(hostile, psql, before, "malformed XML")


def binary2(rows):
    out = b""
    for a, s in rows:
        out += b"\x00" + a.to_bytes(4, "big", signed=True) + len(s).to_bytes(4, "big") + s
    return base64.b64encode(out)


def test_truncated_base64(hostile, psql):
    before = counts(psql)
    full = binary2([(i, b"row%d" % i) for i in range(1000)])
    # the same document, whole, loads: the truncations below are the only fault
    ok = VOT_HEAD + b"<BINARY2><STREAM encoding='base64'>" + full + b"</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>"
    r = requests.post(hostile.base + "/sync", data={"LANG": "ADQL", "QUERY": "SELECT COUNT(*) AS n FROM TAP_UPLOAD.t",
                                                   "UPLOAD": "t,param:f", "RESPONSEFORMAT": "csv"},
                      files={"f": ("x.xml", ok)}, timeout=120)
    assert r.status_code == 200 and r.text.split() == ["n", "1000"], r.text
    for cut in (full[:-3], full[: len(full) // 2 + 1], full[:7]):
        body = VOT_HEAD + b"<BINARY2><STREAM encoding='base64'>" + cut + b"</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>"
        assert_error(inline(hostile, body), 400)
    # and a document that simply stops inside the stream
    assert_error(inline(hostile, ok[: len(ok) // 2]), 400)
    check_left_nothing(hostile, psql, before, "truncated base64")


def test_fits_wrong_naxis2(hostile, psql):
    import astropy.table

    rows = list_rows(psql)
    t = astropy.table.Table(rows=[(int(a), float(b), float(c)) for a, b, c in rows], names=("sid", "ra", "dec"))
    buf = io.BytesIO()
    t.write(buf, format="fits")
    good = buf.getvalue()
    card = b"NAXIS2  = %20d" % len(rows)
    assert good.count(card) == 1
    before = counts(psql)
    for n in (len(rows) * 1000, 2**40):
        bad = good.replace(card, b"NAXIS2  = %20d" % n)
        assert_error(inline(hostile, bad, "x.fits"), 400)
    check_left_nothing(hostile, psql, before, "FITS with a wrong NAXIS2")


def test_csv_ragged_rows(hostile, psql):
    before = counts(psql)
    for body in (b"a,b\n1,2\n3\n4,5\n", b"a,b\n1,2\n3,4,5\n", b"a,b\n" + b"1,2\n" * 10000 + b"1\n"):
        assert_error(inline(hostile, body, "x.csv"), 400)
    check_left_nothing(hostile, psql, before, "CSV with ragged rows")


def test_billion_laughs(hostile, psql):
    ents = b'<!ENTITY lol "lol">\n<!ENTITY lol0 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n'
    for i in range(1, 10):
        ents += b'<!ENTITY lol%d "%s">\n' % (i, b"&lol%d;" % (i - 1) * 10)
    body = (b'<?xml version="1.0"?>\n<!DOCTYPE VOTABLE [\n' + ents + b"]>\n"
            b'<VOTABLE version="1.4"><RESOURCE><TABLE><FIELD name="s" datatype="char" arraysize="*"/>'
            b"<DATA><TABLEDATA><TR><TD>&lol9;</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>")
    before = counts(psql)
    assert_error(inline(hostile, body, "x.xml"), 400, "DOCTYPE")
    check_left_nothing(hostile, psql, before, "billion laughs")


def multipart_head(boundary):
    return (b"--%s\r\nContent-Disposition: form-data; name=\"LANG\"\r\n\r\nADQL\r\n"
            b"--%s\r\nContent-Disposition: form-data; name=\"QUERY\"\r\n\r\n%s\r\n"
            b"--%s\r\nContent-Disposition: form-data; name=\"UPLOAD\"\r\n\r\nt,param:f\r\n"
            b"--%s\r\nContent-Disposition: form-data; name=\"f\"; filename=\"big.csv\"\r\n\r\na,b\r\n"
            % (boundary, boundary, QUERY.encode(), boundary, boundary))


def read_status(sock):
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data.split(b"\r\n", 1)[0]


def test_2gb_body(hostile, psql):
    two_gb = 2 << 30
    b = b"hostileboundary"
    before = counts(psql)
    # announced: refused before any of it is read
    s = socket.create_connection(("127.0.0.1", hostile.port), timeout=60)
    s.sendall(b"POST /tap/sync HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=%s\r\n"
              b"Content-Length: %d\r\n\r\n" % (b, two_gb) + multipart_head(b))
    assert b" 413 " in read_status(s)
    s.close()
    # streamed chunked, never announced: the server stops it where the
    # limit is, with what it received spooled to disk, not in memory
    s = socket.create_connection(("127.0.0.1", hostile.port), timeout=120)
    s.sendall(b"POST /tap/sync HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=%s\r\n"
              b"Transfer-Encoding: chunked\r\n\r\n" % b)
    head = multipart_head(b)
    s.sendall(b"%x\r\n%s\r\n" % (len(head), head))
    row = b"1,2\r\n" * (1 << 18)  # 1.25 MB
    chunk = b"%x\r\n%s\r\n" % (len(row), row)
    sent = 0
    while sent < two_gb:
        if select.select([s], [], [], 0)[0]:
            break  # the server answered before the end of the body
        try:
            s.sendall(chunk)
        except (BrokenPipeError, ConnectionResetError):
            break
        sent += len(row)
    status = read_status(s)
    s.close()
    print("2 GB body: %d bytes sent before %r" % (sent, status))
    assert b" 413 " in status and sent < two_gb
    check_left_nothing(hostile, psql, before, "2 GB body")


class _Handler(http.server.BaseHTTPRequestHandler):
    routes = {}

    def do_GET(self):
        status, headers, body = self.routes[self.path]
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        if body:
            self.wfile.write(body)

    def log_message(self, *a):
        pass


@pytest.fixture(scope="module")
def web():
    """serve(host) -> base URL of an HTTP server on host answering
    _Handler.routes."""
    servers = []

    def serve(host):
        httpd = http.server.ThreadingHTTPServer((host, 0), _Handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        servers.append(httpd)
        return "http://%s:%d" % (host, httpd.server_address[1])

    yield serve
    for h in servers:
        h.shutdown()


def gzip_of_zeros(n):
    z = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = b"0" * (1 << 20)
    out = [z.compress(b"a\n")]
    for _ in range(n >> 20):
        out.append(z.compress(block))
    out.append(z.flush())
    return b"".join(out)


def test_gzip_bomb(hostile, psql, web):
    bomb = gzip_of_zeros(1 << 30)  # 1 GiB decoded
    assert len(bomb) < 2 << 20
    base = web("127.0.0.1")
    _Handler.routes["/bomb.csv"] = (200, {"Content-Type": "text/csv", "Content-Encoding": "gzip",
                                          "Content-Length": str(len(bomb))}, bomb)
    before = counts(psql)
    r = hostile.sync({"LANG": "ADQL", "QUERY": QUERY, "UPLOAD": "t," + base + "/bomb.csv"})
    assert_error(r, 413, "max_bytes")
    check_left_nothing(hostile, psql, before, "gzip bomb")


def public_local_address():
    """An IPv4 address of this machine that the fetcher does not count as
    private (e.g. 192.0.2.x on a test network), or None."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show"], stdout=subprocess.PIPE, check=False).stdout.decode()
    for line in out.splitlines():
        addr = line.split()[3].split("/")[0]
        a, b = (int(x) for x in addr.split(".")[:2])
        if a in (0, 10, 127) or a >= 224 or (a, b) in ((169, 254), (192, 168)) or (a == 172 and 16 <= b < 32) or (a == 100 and 64 <= b < 128):
            continue
        return addr
    return None


def test_redirect_to_private_address(server, psql, web):
    host = public_local_address()
    if host is None:
        pytest.skip("this machine has no public-range IPv4 address to serve the first hop from")
    private = web("127.0.0.1")
    public = web(host)
    csv = b"a,b\n1,2\n"
    _Handler.routes["/list.csv"] = (200, {"Content-Type": "text/csv", "Content-Length": str(len(csv))}, csv)
    _Handler.routes["/hop.csv"] = (302, {"Location": private + "/list.csv", "Content-Length": "0"}, b"")
    _Handler.routes["/pub.csv"] = (302, {"Location": public + "/list.csv", "Content-Length": "0"}, b"")
    before = counts(psql)
    # the first hop is allowed: a redirect within it is followed and loads
    r = server.sync({"LANG": "ADQL", "QUERY": "SELECT COUNT(*) AS n FROM TAP_UPLOAD.t", "UPLOAD": "t," + public + "/pub.csv",
                     "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200 and r.text.split() == ["n", "1"], r.text
    # a redirect from it to loopback is refused
    r = server.sync({"LANG": "ADQL", "QUERY": QUERY, "UPLOAD": "t," + public + "/hop.csv"})
    assert_error(r, 400, "127.0.0.1", "refused")
    check_left_nothing(server, psql, before, "redirect to a private address")
