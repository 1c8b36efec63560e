"""Async result downloads: the encoded size of a format is learnt from the
first complete download (no second encoding pass), kept when a later
download is aborted, never computed on the request path (a Range or a HEAD
on a format whose size is not known yet is answered at once), downloads do
not hold up the UWS requests of other clients, and every serialisation and
content coding has an ETag of its own.

Encoding passes are observed through the bytes the tapserve process reads
from the result store: /proc/PID/io `rchar` grows by the size of the stored
file each time a download (or a counting pass) reads it whole."""

import os
import re
import threading
import time
import urllib.parse

import pytest
import requests

import tsit

# A few hundred thousand rows of the demo table (a cross join: no sort).
BIG_QUERY = (
    "SELECT TOP 300000 a.source_id, a.ra, a.dec, b.source_id AS other, b.ra AS ra2 "
    "FROM demo.sources AS a, demo.sources AS b"
)
BIG_ROWS = 300000
STORE_DIR = "/var/tmp/tapserve-results"


@pytest.fixture(scope="module")
def dsrv(start_server):
    # A server of its own (debug log: the end of every download is logged),
    # so that nothing else reads through this process while we count.
    return start_server({"log.level": "debug", "jobs.list_anonymous": "1"})


def create(srv, query, **params):
    data = {"LANG": "ADQL", "QUERY": query, "PHASE": "RUN"}
    data.update(params)
    r = requests.post(srv.base + "/async", data=data, allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    return r.headers["Location"]


def wait_completed(url, limit=300):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        r = requests.get(url, params={"WAIT": "10"}, timeout=60)
        m = re.search(r"<uws:phase>(\w+)</uws:phase>", r.text)
        if m and m.group(1) in ("COMPLETED", "ERROR", "ABORTED"):
            assert m.group(1) == "COMPLETED", r.text
            return
    raise AssertionError("job %s not finished" % url)


def job_id(url):
    return url.rstrip("/").rsplit("/", 1)[1]


def stored_bytes(url):
    """Size of the job's stored result file (zstd COPY stream)."""
    return os.path.getsize(os.path.join(STORE_DIR, "%s-result.copy.zst" % job_id(url)))


def rchar(srv):
    """Bytes the tapserve process has read so far (read(2) and friends)."""
    with open("/proc/%d/io" % srv.proc.pid) as f:
        for line in f:
            if line.startswith("rchar:"):
                return int(line.split()[1])
    raise AssertionError("no rchar in /proc/%d/io" % srv.proc.pid)


def recorded_size(psql, url, fmt):
    """The size tapserve recorded for the job's result in a format, or None."""
    v = psql.scalar(
        "SELECT encoded_sizes->>'%s' FROM tapserve.results WHERE job_id = '%s'" % (fmt, job_id(url))
    )
    return int(v) if v else None


def wait_recorded(psql, url, fmt, limit=60):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        v = recorded_size(psql, url, fmt)
        if v is not None:
            return v
        time.sleep(0.1)
    return None


def download_ends(srv, url):
    return srv.log_path.read_text(errors="replace").count("job %s: download" % job_id(url))


@pytest.fixture(scope="module")
def big_job(dsrv):
    url = create(dsrv, BIG_QUERY, MAXREC=str(BIG_ROWS))
    wait_completed(url)
    return url


def test_first_download_records_its_size_in_one_pass(dsrv, psql, big_job):
    res = big_job + "/results/result"
    stored = stored_bytes(big_job)
    assert recorded_size(psql, big_job, "csv") is None
    before = rchar(dsrv)
    first = requests.get(res, params={"RESPONSEFORMAT": "csv"}, timeout=300)
    assert first.status_code == 200
    assert first.content.count(b"\n") == BIG_ROWS + 1
    size = wait_recorded(psql, big_job, "csv")
    assert size == len(first.content), "recorded %s, received %d bytes" % (size, len(first.content))
    read = rchar(dsrv) - before
    print("stored %d bytes; the first download read %d" % (stored, read))
    assert stored <= read < 1.5 * stored, "the first download read the stored result %.2f times" % (read / stored)
    # The second download is sized and costs one reading only.
    before = rchar(dsrv)
    second = requests.get(res, params={"RESPONSEFORMAT": "csv"}, timeout=300)
    assert second.headers.get("Content-Length") == str(size) and second.content == first.content
    time.sleep(0.5)
    read = rchar(dsrv) - before
    print("the second download read %d" % read)
    assert stored <= read < 1.5 * stored
    assert recorded_size(psql, big_job, "csv") == size


def test_aborted_download_keeps_the_size(dsrv, psql, big_job):
    res = big_job + "/results/result"
    full = requests.get(res, params={"RESPONSEFORMAT": "tsv"}, timeout=300)
    assert full.status_code == 200
    size = wait_recorded(psql, big_job, "tsv")
    assert size == len(full.content)
    ended = download_ends(dsrv, big_job)
    # A sized download broken off by its client in the middle of the body.
    path = urllib.parse.urlsplit(res).path + "?RESPONSEFORMAT=tsv"
    c = tsit.RawConn(dsrv.port)
    c.send(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
    head = c._read_until(b"\r\n\r\n").decode("latin-1")
    assert " 200 " in head.split("\r\n")[0] and ("content-length: %d" % size) in head.lower(), head
    got = len(c.buf)
    while got < 200000:
        c._fill()
        got = len(c.buf)
    c.close()
    # Wait until the server has finished with that download.
    deadline = time.monotonic() + 10
    while download_ends(dsrv, big_job) == ended and time.monotonic() < deadline:
        time.sleep(0.1)
    assert recorded_size(psql, big_job, "tsv") == size
    again = requests.get(res, params={"RESPONSEFORMAT": "tsv"}, timeout=300)
    assert again.headers.get("Content-Length") == str(size) and again.content == full.content


def test_range_and_head_with_unknown_size_need_no_counting_pass(dsrv, psql, big_job):
    res = big_job + "/results/result"
    path = urllib.parse.urlsplit(res).path
    stored = stored_bytes(big_job)
    assert recorded_size(psql, big_job, "votable/td") is None
    # HEAD: headers at once, without encoding the result.
    before = rchar(dsrv)
    st, hd, _ = tsit.raw_request(
        dsrv.port, ("HEAD %s?RESPONSEFORMAT=votable/td HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode(),
        head_request=True)
    assert st == 200 and "content-length" not in hd, hd
    read = rchar(dsrv) - before
    print("HEAD read %d of %d stored bytes" % (read, stored))
    assert read < stored / 2
    # Range: the answer starts before the result has been read through.
    before = rchar(dsrv)
    c = tsit.RawConn(dsrv.port, timeout=120)
    c.send(("GET %s?RESPONSEFORMAT=votable/td HTTP/1.1\r\nHost: x\r\nRange: bytes=100-199\r\n\r\n" % path).encode())
    c._read_until(b"\r\n\r\n")
    read = rchar(dsrv) - before
    print("before the first byte of the ranged answer: read %d of %d stored bytes" % (read, stored))
    c.close()
    assert read < stored / 2, "a counting pass ran before the answer"
    # The whole answer is right: the full document (RFC 9110 lets a server
    # ignore Range), as a later sized download gives it.
    r = requests.get(res, params={"RESPONSEFORMAT": "votable/td"}, headers={"Range": "bytes=100-199"}, timeout=300)
    assert r.status_code == 200 and "Content-Range" not in r.headers
    size = wait_recorded(psql, big_job, "votable/td")
    assert size == len(r.content)
    full = requests.get(res, params={"RESPONSEFORMAT": "votable/td"}, timeout=300)
    assert full.headers.get("Content-Length") == str(size) and full.content == r.content
    # With the size known, ranges are served.
    part = requests.get(res, params={"RESPONSEFORMAT": "votable/td"}, headers={"Range": "bytes=100-199"}, timeout=300)
    assert part.status_code == 206 and part.content == full.content[100:200]
    assert part.headers["Content-Range"] == "bytes 100-199/%d" % size


def test_phase_polls_answered_during_downloads(dsrv):
    """Clients that want a piece of a large result (a Range, then they hang
    up) and clients downloading it whole, in formats whose size is not known
    yet, while another client polls the phase of its own job."""
    big = create(dsrv, BIG_QUERY, MAXREC=str(BIG_ROWS))
    small = create(dsrv, "SELECT TOP 1 source_id FROM demo.sources")
    wait_completed(big)
    wait_completed(small)
    res = big + "/results/result"
    path = urllib.parse.urlsplit(res).path
    formats = ["votable", "votable/td", "votable/b", "json", "ecsv", "text", "html", "csv", "tsv", "fits"]
    nranged, nwhole = 32, 4
    errors = []

    def ranged(i):
        fmt = formats[i % len(formats)]
        c = tsit.RawConn(dsrv.port, timeout=600)
        try:
            c.send(("GET %s?RESPONSEFORMAT=%s HTTP/1.1\r\nHost: x\r\nRange: bytes=0-999\r\n\r\n"
                    % (path, urllib.parse.quote(fmt))).encode())
            head = c._read_until(b"\r\n\r\n").decode("latin-1")
            if not re.match(r"HTTP/1.1 20[06] ", head):
                errors.append("%s: %s" % (fmt, head.split("\r\n")[0]))
            while len(c.buf) < 1000:
                c._fill()
        except (OSError, EOFError) as e:
            errors.append("%s: %r" % (fmt, e))
        finally:
            c.close()

    def whole(i):
        fmt = formats[(i + 3) % len(formats)]
        try:
            with requests.get(res, params={"RESPONSEFORMAT": fmt}, stream=True, timeout=600) as r:
                if r.status_code != 200:
                    errors.append("%s: HTTP %d" % (fmt, r.status_code))
                for _ in r.iter_content(1 << 16):
                    pass
        except requests.RequestException as e:
            errors.append("%s: %r" % (fmt, e))

    threads = [threading.Thread(target=ranged, args=(i,)) for i in range(nranged)]
    threads += [threading.Thread(target=whole, args=(i,)) for i in range(nwhole)]
    for t in threads:
        t.start()
    latencies = []
    try:
        while any(t.is_alive() for t in threads):
            t0 = time.monotonic()
            r = requests.get(small + "/phase", timeout=120)
            latencies.append(time.monotonic() - t0)
            assert r.status_code == 200 and r.text.strip() == "COMPLETED"
            time.sleep(0.5)
        # and once more after them: work they left behind must not delay it
        t0 = time.monotonic()
        requests.get(small + "/phase", timeout=120)
        latencies.append(time.monotonic() - t0)
    finally:
        for t in threads:
            t.join()
    print("%d /phase polls during %d ranged and %d whole downloads; latencies (s): %s"
          % (len(latencies), nranged, nwhole, " ".join("%.3f" % x for x in latencies)))
    assert not errors, errors
    assert max(latencies) < 2.0, "slowest /phase poll took %.2f s" % max(latencies)


def test_serialisations_have_their_own_etags(dsrv, psql):
    url = create(dsrv, "SELECT TOP 2000 source_id, ra, dec FROM demo.sources ORDER BY source_id")
    wait_completed(url)
    res = url + "/results/result"
    tags, bodies = {}, {}
    for fmt in ("votable", "votable/td", "votable/b"):
        first = requests.get(res, params={"RESPONSEFORMAT": fmt}, headers={"Accept-Encoding": "gzip"})
        assert first.status_code == 200
        assert wait_recorded(psql, url, fmt) == len(first.content)
        sized = requests.get(res, params={"RESPONSEFORMAT": fmt})
        assert sized.headers.get("Content-Length") == str(len(sized.content))
        assert sized.content == first.content
        tags[fmt], bodies[fmt] = sized.headers["ETag"], sized.content
        # A content-coded answer never carries the identity answer's ETag.
        if first.headers.get("Content-Encoding"):
            assert first.headers.get("ETag") != tags[fmt]
    print(tags)
    assert len(set(tags.values())) == 3, tags
    # If-Range with the ETag of another serialisation: the whole document.
    r = requests.get(res, params={"RESPONSEFORMAT": "votable/td"}, headers={"Range": "bytes=100-199", "If-Range": tags["votable"]})
    assert r.status_code == 200 and r.content == bodies["votable/td"]
    # With its own ETag: the range.
    r = requests.get(res, params={"RESPONSEFORMAT": "votable/td"}, headers={"Range": "bytes=100-199", "If-Range": tags["votable/td"]})
    assert r.status_code == 206 and r.content == bodies["votable/td"][100:200]


def test_stalled_downloads_hold_few_jobs_connections(start_server, cluster, psql):
    """Clients that start downloading a large result and then stop reading,
    more of them than [jobs] db_connections allows: tapserve's connections
    to the jobs database stay within that bound (PostgreSQL's
    max_connections is shared with every other instance and service), and
    the UWS requests of another client are still answered."""
    role = "tsit_downloads"
    psql.run("DO $$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '%s') "
             "THEN CREATE ROLE %s LOGIN SUPERUSER; END IF; END$$" % (role, role))
    # A role of its own, so that only this server's connections are counted.
    dsn = re.sub(r"\s*\buser=\S+", "", cluster["dsn"]) + " user=" + role
    bound, nstalled = 4, 10
    srv = start_server({"database.dsn": dsn, "jobs.db_connections": str(bound),
                        "jobs.list_anonymous": "1"})
    big = create(srv, BIG_QUERY, MAXREC=str(BIG_ROWS))
    small = create(srv, "SELECT TOP 1 source_id FROM demo.sources")
    wait_completed(big)
    wait_completed(small)
    path = urllib.parse.urlsplit(big + "/results/result").path
    count_sql = ("SELECT count(*) FROM pg_stat_activity WHERE usename = '%s' "
                 "AND application_name = 'tapserve jobs'" % role)
    stalled = []
    try:
        for i in range(nstalled):
            c = tsit.RawConn(srv.port, timeout=60)
            stalled.append(c)
            # votable/td and csv alternately: one sized (after the first
            # complete download, none here) and streamed through tap_result
            fmt = ("votable/td", "csv")[i % 2]
            c.send(("GET %s?RESPONSEFORMAT=%s HTTP/1.1\r\nHost: x\r\n\r\n"
                    % (path, urllib.parse.quote(fmt))).encode())
            head = c._read_until(b"\r\n\r\n").decode("latin-1")
            assert head.startswith("HTTP/1.1 200 "), head
        # Every download has begun and now waits for its client.
        most = 0
        for _ in range(10):
            most = max(most, int(psql.scalar(count_sql)))
            t0 = time.monotonic()
            r = requests.get(small + "/phase", timeout=30)
            assert r.status_code == 200 and r.text.strip() == "COMPLETED", r.text
            assert time.monotonic() - t0 < 2.0
            time.sleep(0.2)
        print("%d stalled downloads: at most %d jobs connections (bound %d)"
              % (nstalled, most, bound))
        assert 0 < most <= bound, most
    finally:
        for c in stalled:
            c.close()


def test_wrong_recorded_size_breaks_the_transfer_and_is_forgotten(dsrv, psql):
    """A recorded size that the encoder no longer writes (an encoder changed
    between versions): the sized answer is broken off rather than passed
    for whole, the size is forgotten, and the next download is whole."""
    url = create(dsrv, "SELECT TOP 3000 source_id, ra, dec FROM demo.sources ORDER BY source_id")
    wait_completed(url)
    res = url + "/results/result"
    whole = requests.get(res, params={"RESPONSEFORMAT": "csv"}, timeout=60).content
    size = wait_recorded(psql, url, "csv")
    assert size == len(whole)
    psql.run("UPDATE tapserve.results SET encoded_sizes = encoded_sizes || '{\"csv\": %d}' "
             "WHERE job_id = '%s'" % (size + 10, job_id(url)))
    # The connection closes short of the promised length (urllib3 may or
    # may not raise on that).
    try:
        r = requests.get(res, params={"RESPONSEFORMAT": "csv"}, timeout=60)
        assert r.headers["Content-Length"] == str(size + 10)
        assert len(r.content) < size + 10
    except requests.exceptions.ChunkedEncodingError:
        pass
    # Forgotten: unknown again (recorded as -1).
    deadline = time.monotonic() + 30
    while recorded_size(psql, url, "csv") == size + 10 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert recorded_size(psql, url, "csv") == -1
    again = requests.get(res, params={"RESPONSEFORMAT": "csv"}, timeout=60)
    assert again.status_code == 200 and again.content == whole


def test_head_answers_like_get(dsrv, psql):
    """HEAD gets the head of the GET: a small /sync result with its
    Content-Length (the query runs), a stored result sized once its size is
    known, in both cases without a body."""
    q = urllib.parse.quote("SELECT TOP 5 source_id FROM demo.sources ORDER BY source_id")
    target = "/tap/sync?LANG=ADQL&RESPONSEFORMAT=csv&QUERY=%s" % q
    get = requests.get("http://127.0.0.1:%d%s" % (dsrv.port, target), timeout=30)
    st, hd, body = tsit.raw_request(
        dsrv.port, ("HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % target).encode(),
        head_request=True)
    assert st == 200 and body == b"", (st, hd)
    assert hd.get("content-length") == str(len(get.content)), hd
    url = create(dsrv, "SELECT TOP 50 source_id, ra FROM demo.sources ORDER BY source_id")
    wait_completed(url)
    path = urllib.parse.urlsplit(url + "/results/result").path + "?RESPONSEFORMAT=csv"
    whole = requests.get(url + "/results/result", params={"RESPONSEFORMAT": "csv"}, timeout=30)
    assert whole.status_code == 200
    assert wait_recorded(psql, url, "csv") == len(whole.content)
    st, hd, body = tsit.raw_request(
        dsrv.port, ("HEAD %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode(),
        head_request=True)
    assert st == 200 and body == b"", (st, hd)
    assert hd.get("content-length") == str(len(whole.content)), hd
    assert hd.get("accept-ranges") == "bytes" and hd.get("etag", "").startswith('"'), hd


def test_clients_leaving_mid_download_end_it(dsrv, psql, big_job):
    """The stored result is read ahead of the encoder (the download threads
    decompress the next block while the loop encodes one): a client that
    leaves at any point, while a read is in flight or while one waits for
    the client to take what it has, ends its download, which records
    nothing; the next download is whole."""
    res = big_job + "/results/result"
    path = urllib.parse.urlsplit(res).path + "?RESPONSEFORMAT=json"
    log = lambda: dsrv.log_path.read_text(errors="replace")
    aborted = lambda: log().count("job %s: download of json ended: aborted" % job_id(big_job))
    size = recorded_size(psql, big_job, "json")  # another test may have learnt it
    for cut in (0, 1000, 300000, 3000000):
        before = aborted()
        c = tsit.RawConn(dsrv.port)
        c.send(("GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path).encode())
        head = c._read_until(b"\r\n\r\n").decode("latin-1")
        assert " 200 " in head.split("\r\n")[0], head
        while len(c.buf) < cut:
            c._fill()
        c.close()
        deadline = time.monotonic() + 30
        while aborted() == before and time.monotonic() < deadline:
            time.sleep(0.1)
        assert aborted() == before + 1, "the download cut at %d bytes did not end" % cut
    assert recorded_size(psql, big_job, "json") == size
    whole = requests.get(res, params={"RESPONSEFORMAT": "json"}, timeout=300)
    assert whole.status_code == 200 and whole.content.rstrip().endswith(b"}")
    assert wait_recorded(psql, big_job, "json") == (size or len(whole.content))
    assert len(whole.content) == wait_recorded(psql, big_job, "json")
