"""multipart/form-data requests: what pyvo, astroquery, TOPCAT and `curl -F`
send as soon as a file is attached. Every parameter of such a request is
seen exactly as in a url-encoded one (/sync, /async creation, a job's
parameters); the body is streamed, never held whole (a 1 GB body leaves the
server's peak memory where a 1 MB one does); limits and malformed bodies
get DALI error documents."""

import io
import os
import socket
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET

import pytest
import requests

import tsit

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
QUERY = "SELECT TOP 5 source_id, ra, dec FROM demo.sources ORDER BY source_id"
VOTABLE = b'<?xml version="1.0"?>\n<VOTABLE version="1.4"><RESOURCE><TABLE><FIELD name="a" datatype="int"/><DATA><TABLEDATA><TR><TD>1</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>\n'


def reference_csv(srv):
    r = srv.sync({"LANG": "ADQL", "QUERY": QUERY, "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200, r.text[:500]
    assert len(r.text.strip().splitlines()) == 6
    return r.text


def assert_dali_error(r, status, needle):
    assert r.status_code == status, "HTTP %d: %s" % (r.status_code, r.text[:500])
    assert r.headers["Content-Type"].startswith("application/x-votable+xml"), r.headers
    root = ET.fromstring(r.content)
    infos = [i for i in root.iter() if i.tag.endswith("INFO") and i.get("name") == "QUERY_STATUS"]
    assert infos and infos[0].get("value") == "ERROR", r.text[:500]
    assert needle in (infos[0].text or ""), infos[0].text


def multipart(fields, files=(), boundary="tapserve-test-boundary", crlf=b"\r\n"):
    """A multipart/form-data body written by hand, so that every byte of its
    shape is the test's choice: fields (name, value), files (name,
    filename, content type or None, bytes)."""
    out = []
    b = boundary.encode()
    for name, value in fields:
        out += [b"--" + b + crlf, b'Content-Disposition: form-data; name="%s"' % name.encode() + crlf, crlf]
        out += [value.encode() + crlf]
    for name, filename, ctype, data in files:
        out += [b"--" + b + crlf]
        out += [b'Content-Disposition: form-data; name="%s"; filename="%s"' % (name.encode(), filename.encode()) + crlf]
        if ctype:
            out += [b"Content-Type: " + ctype.encode() + crlf]
        out += [crlf, data + crlf]
    out += [b"--" + b + b"--" + crlf]
    return "multipart/form-data; boundary=%s" % boundary, b"".join(out)


# ---------------------------------------------------------------------------
# parameters seen as in a url-encoded request


def test_sync_curl_form(server):
    ref = reference_csv(server)
    out = subprocess.run(
        ["curl", "-sS", "-F", "LANG=ADQL", "-F", "QUERY=" + QUERY, "-F", "RESPONSEFORMAT=csv", server.base + "/sync"],
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode() == ref
    # with a file attached (curl -F t=@file), and parameters in the query
    # string too: they come first, as for a url-encoded body
    path = server.workdir / "mp-upload.xml"
    path.write_bytes(VOTABLE)
    out = subprocess.run(
        ["curl", "-sS", "-F", "QUERY=" + QUERY, "-F", "t=@%s" % path, server.base + "/sync?LANG=ADQL&RESPONSEFORMAT=csv"],
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.decode() == ref


def test_sync_missing_lang_names_it(server):
    # the failure issue 11 started from: now a parameter really missing is
    # what the error says, not one the server dropped
    ctype, body = multipart([("QUERY", QUERY)])
    r = requests.post(server.base + "/sync", data=body, headers={"Content-Type": ctype}, timeout=60)
    assert_dali_error(r, 400, "LANG")
    ctype, body = multipart([("LANG", "ADQL"), ("QUERY", QUERY), ("RESPONSEFORMAT", "csv")])
    r = requests.post(server.base + "/sync", data=body, headers={"Content-Type": ctype}, timeout=60)
    assert r.status_code == 200, r.text[:500]


def test_async_create_and_parameters(server):
    ref = reference_csv(server)
    # pyvo's shape: requests with data= and files= (a file object)
    r = requests.post(
        server.base + "/async",
        data={"LANG": "ADQL", "QUERY": "SELECT TOP 1 source_id FROM demo.sources", "RESPONSEFORMAT": "csv"},
        files={"t": io.BytesIO(VOTABLE)},
        allow_redirects=False,
        timeout=60,
    )
    assert r.status_code == 303, r.text[:500]
    url = r.headers["Location"]
    params = job_params(url)
    assert params.get("lang") == "ADQL" and params.get("responseformat") == "csv", params
    # a parameter update by multipart (pyvo's AsyncTAPJob.upload posts so)
    r = requests.post(url + "/parameters", data={"QUERY": QUERY}, files={"t": ("t.xml", VOTABLE)}, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text[:500]
    params = job_params(url)
    assert params.get("query") == QUERY, params
    r = requests.post(url + "/phase", files={"PHASE": (None, "RUN")}, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text[:500]
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        root = ET.fromstring(requests.get(url, params={"WAIT": "10"}, timeout=60).content)
        phase = root.find(UWS + "phase").text
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            break
    assert phase == "COMPLETED", ET.tostring(root)[:1000]
    assert requests.get(url + "/results/result", timeout=60).text == ref
    requests.delete(url, timeout=30)


def job_params(url):
    root = ET.fromstring(requests.get(url, timeout=30).content)
    return {p.get("id"): p.text for p in root.iter(UWS + "parameter")}


def test_async_curl_form(server):
    out = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "-F", "LANG=ADQL", "-F", "QUERY=" + QUERY,
         "-F", "RESPONSEFORMAT=csv", "-F", "RUNID=curl-form", server.base + "/async"],
        capture_output=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    code, url = out.stdout.decode().split(" ", 1)
    assert code == "303", out.stdout
    params = job_params(url)
    assert params.get("query") == QUERY and params.get("lang") == "ADQL", params
    assert requests.get(url + "/runId", timeout=30).text == "curl-form"
    requests.delete(url, timeout=30)


def test_pyvo_uploads(server):
    # pyvo itself, with an astropy table: run_sync and submit_job post
    # multipart with UPLOAD=t,param:t and the table as file part t
    import astropy.table
    import pyvo

    svc = pyvo.dal.TAPService(server.base)
    t = astropy.table.Table({"a": [1, 2, 3]})
    try:
        res = svc.run_sync(QUERY, uploads={"t": t})
    except pyvo.dal.DALQueryError as e:
        # UPLOAD itself is another piece of work; here what matters is that
        # every parameter arrived, LANG and QUERY as much as UPLOAD
        assert "UPLOAD" in str(e) and "LANG" not in str(e), str(e)
    else:
        assert len(res) == 5
    job = svc.submit_job(QUERY, uploads={"t": t})
    if job.url.rstrip("/").endswith("/async"):
        # The creation was refused by UPLOAD's own rules (pyvo does not look
        # at the status, its "job" is the POST URL): every parameter still
        # arrived, which the same request through requests shows.
        r = requests.post(server.base + "/async", data={"LANG": "ADQL", "QUERY": QUERY, "UPLOAD": "t,param:t"},
                          files={"t": ("t.xml", b"<VOTABLE/>")}, allow_redirects=False, timeout=30)
        msg = tsit.error_message(r.content)
        assert r.status_code == 400 and 'UPLOAD "t"' in msg and "LANG" not in msg, msg
        return
    try:
        params = job_params(job.url)
        assert params.get("query") == QUERY and params.get("lang") == "ADQL", params
        assert params.get("upload") == "t,param:t", params
    finally:
        job.delete()


def test_astroquery_shape(server):
    # astroquery's TapPlus writes its multipart body itself: boundary
    # "===<millis>===" unquoted, and a part Content-Type from
    # mimetypes.guess_extension, which is "None" for most file names
    from astroquery.utils.tap.conn.tapconn import TapConn

    fields = {"REQUEST": "doQuery", "LANG": "ADQL", "FORMAT": "csv", "tapclient": "aqtappy-0", "QUERY": QUERY}
    ctype, body = TapConn.encode_multipart(None, fields, [("t", "t.xml", VOTABLE.decode())])
    assert b"Content-Type: None" in body or b"Content-Type: .xml" in body
    r = requests.post(server.base + "/sync", data=body, headers={"Content-Type": ctype}, timeout=60)
    assert r.status_code == 200, r.text[:500]
    assert r.text == reference_csv(server)


def test_line_endings_and_quoting(server):
    ref = reference_csv(server)
    fields = [("LANG", "ADQL"), ("QUERY", QUERY), ("RESPONSEFORMAT", "csv")]
    # bare LF line ends; a quoted boundary with a space and a colon
    ctype, body = multipart(fields, [("t", "a.xml", None, VOTABLE)], boundary="a b:c", crlf=b"\n")
    r = requests.post(server.base + "/sync", data=body, headers={"Content-Type": 'multipart/form-data; boundary="a b:c"'}, timeout=60)
    assert r.status_code == 200, r.text[:500]
    assert r.text == ref


# ---------------------------------------------------------------------------
# streaming: memory stays flat whatever the body


def peak_rss_kb(srv):
    with open("/proc/%d/status" % srv.proc.pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise AssertionError("no VmHWM")


def send_big(srv, size):
    """POSTs to /sync a multipart body whose file part holds `size` bytes,
    written in 1 MiB pieces; returns the response's status and body."""
    b = "big-%s" % uuid.uuid4().hex
    head = (
        "--%s\r\nContent-Disposition: form-data; name=\"LANG\"\r\n\r\nADQL\r\n"
        "--%s\r\nContent-Disposition: form-data; name=\"QUERY\"\r\n\r\nSELECT TOP 1 source_id FROM demo.sources\r\n"
        "--%s\r\nContent-Disposition: form-data; name=\"RESPONSEFORMAT\"\r\n\r\ncsv\r\n"
        "--%s\r\nContent-Disposition: form-data; name=\"big\"; filename=\"big.bin\"\r\n"
        "Content-Type: application/octet-stream\r\n\r\n" % (b, b, b, b)
    ).encode()
    tail = ("\r\n--%s--\r\n" % b).encode()
    total = len(head) + size + len(tail)
    c = tsit.RawConn(srv.port)
    try:
        c.send(
            b"POST /tap/sync HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; boundary=%s\r\n"
            b"Content-Length: %d\r\n\r\n" % (b.encode(), total)
        )
        c.send(head)
        piece = (b"0123456789abcdef\r\n-" * 55189)[: 1 << 20]
        left = size
        while left > 0:
            n = min(left, len(piece))
            c.send(piece[:n])
            left -= n
        c.send(tail)
        status, _, body = c.read_response()
    except OSError as e:
        raise AssertionError("sending %d bytes: %r; server log:\n%s" % (size, e, srv.log_tail())) from e
    finally:
        c.close()
    return status, body


def test_1gb_body_memory_flat(start_server, tmp_path):
    srv = start_server({"server.spool_dir": str(tmp_path), "server.max_upload_body_bytes": "1100M"})
    status, body = send_big(srv, 1 << 20)
    assert status == 200, body[:500]
    small = peak_rss_kb(srv)
    t0 = time.monotonic()
    status, body = send_big(srv, 10**9)
    secs = time.monotonic() - t0
    assert status == 200, body[:500]
    assert body.decode().splitlines()[0] == "source_id"
    big = peak_rss_kb(srv)
    print("\npeak RSS of the server: %d KiB after a 1 MB multipart body, %d KiB after a 1 GB one "
          "(%.1f s, %.0f MB/s)" % (small, big, secs, 1000 / secs))
    # the spool file is unlinked: nothing stays in the directory
    assert os.listdir(tmp_path) == []
    assert big - small < 32 * 1024, "peak RSS grew by %d KiB for a 1 GB body" % (big - small)


# ---------------------------------------------------------------------------
# limits and hostile bodies


@pytest.fixture(scope="module")
def tight(start_server, tmp_path_factory):
    d = tmp_path_factory.mktemp("spool")
    srv = start_server(
        {
            "server.max_upload_body_bytes": "64k",
            "server.max_upload_parts": "5",
            "server.max_part_header_bytes": "512",
            "server.spool_budget_bytes": "16k",
            "server.spool_dir": str(d),
        }
    )
    srv.spool = d
    return srv


def post(srv, ctype, body, extra=None):
    h = {"Content-Type": ctype}
    h.update(extra or {})
    return requests.post(srv.base + "/sync", data=body, headers=h, timeout=60)


def test_limits(tight):
    f = [("LANG", "ADQL"), ("QUERY", QUERY)]
    r = post(tight, *multipart(f, [("t", "t.bin", None, b"x" * 70000)]))
    assert_dali_error(r, 413, "larger than 65536 bytes")
    r = post(tight, *multipart(f + [("p%d" % i, "v") for i in range(5)]))
    assert_dali_error(r, 413, "more than 5 parts")
    ctype, body = multipart(f)
    body = body.replace(b'name="LANG"', b'name="LANG"\r\nX-Pad: ' + b"p" * 600)
    r = post(tight, ctype, body)
    assert_dali_error(r, 413, "headers longer than the limit of 512 bytes")
    # the spool budget: 503 with Retry-After, one client cannot fill the disk
    r = post(tight, *multipart(f, [("t", "t.bin", None, b"x" * 20000)]))
    assert_dali_error(r, 503, "spool space")
    assert "Retry-After" in r.headers
    # all given back: a body that fits is served
    ctype, body = multipart(f + [("RESPONSEFORMAT", "csv")], [("t", "t.bin", None, b"x" * 10000)])
    r = post(tight, ctype, body)
    assert r.status_code == 200, r.text[:500]
    assert os.listdir(tight.spool) == []


@pytest.mark.parametrize(
    "name,ctype,body,status,needle",
    [
        ("no-closing", "multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="LANG"\r\n\r\nADQL\r\n', 400, "closing boundary"),
        ("truncated-headers", "multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-da', 400, "closing boundary"),
        ("wrong-boundary", "multipart/form-data; boundary=zz", b"--b\r\n\r\n--b--\r\n", 400, "without any boundary"),
        ("no-boundary", "multipart/form-data", b"--b--\r\n", 400, "without a boundary"),
        ("long-boundary", "multipart/form-data; boundary=" + "b" * 71, b"--b--\r\n", 400, "malformed multipart boundary"),
        ("folded", "multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data;\r\n name=LANG\r\n\r\nADQL\r\n--b--", 400, "folded"),
        ("no-name", "multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data\r\n\r\nADQL\r\n--b--", 400, "has no name"),
        ("no-disposition", "multipart/form-data; boundary=b", b"--b\r\n\r\nADQL\r\n--b--", 400, "no Content-Disposition"),
        ("nul-param", "multipart/form-data; boundary=b", b'--b\r\nContent-Disposition: form-data; name="LANG"\r\n\r\nAD\x00QL\r\n--b--', 400, "NUL byte"),
        ("base64", "multipart/form-data; boundary=b", b"--b\r\nContent-Disposition: form-data; name=LANG\r\nContent-Transfer-Encoding: base64\r\n\r\nQURRTA==\r\n--b--", 400, "Content-Transfer-Encoding"),
    ],
)
def test_hostile(tight, name, ctype, body, status, needle):
    r = post(tight, ctype, body)
    assert_dali_error(r, status, needle)
    assert tight.alive()


def test_content_encoding_415(tight):
    # a gzip bomb never gets inflated: compressed bodies are refused as such
    import gzip

    ctype, body = multipart([("LANG", "ADQL"), ("QUERY", QUERY)], [("t", "t.bin", None, b"\0" * 100000)])
    r = post(tight, ctype, gzip.compress(body), {"Content-Encoding": "gzip"})
    assert_dali_error(r, 415, 'Content-Encoding "gzip"')


def test_chunked_hostile(tight):
    # no Content-Length: the limit applies as the body arrives
    def gen():
        yield b"--b\r\nContent-Disposition: form-data; name=t; filename=t\r\n\r\n"
        for _ in range(100):
            yield b"y" * 1000

    r = requests.post(tight.base + "/sync", data=gen(), headers={"Content-Type": "multipart/form-data; boundary=b"}, timeout=60)
    assert r.status_code in (413, 503), r.text[:300]
    assert_dali_error(r, r.status_code, "")
    assert os.listdir(tight.spool) == []
