"""gzip responses compressed in parallel blocks (stream/gzpar.c): a
1,000,000-row BINARY2 result is ONE gzip member that curl --compressed,
Python requests (urllib3) and zlib read to the end, byte for byte the
identity response; with the default threads and with gzip_threads = 0
(compressed on the event loop); and a votable_gzip file astropy reads."""
import os
import re
import subprocess
import zlib

import pytest
import requests
from astropy.io.votable import parse as vo_parse

ROWS = 1000000

SETUP_SQL = r"""
DROP SCHEMA IF EXISTS gzx CASCADE;
CREATE SCHEMA gzx;
CREATE TABLE gzx.big AS
SELECT g::bigint AS id,
       (g * 0.000359)::double precision AS ra,
       (random() * 180 - 90)::double precision AS dec,
       (10 + random() * 12)::real AS mag,
       mod(g, 7)::integer AS flags,
       'src-' || g AS name
FROM generate_series(1, %d) AS g;
-- one value of 600,000 hexadecimal digits: about 330 kB of gzip
CREATE TABLE gzx.blob AS
SELECT 1 AS id, string_agg(md5(i::text), '' ORDER BY i) AS big FROM generate_series(1, 18750) AS i;
GRANT USAGE ON SCHEMA gzx TO tapserve_query;
GRANT SELECT ON ALL TABLES IN SCHEMA gzx TO tapserve_query;
DELETE FROM tap_schema.columns WHERE table_name IN ('gzx.big', 'gzx.blob');
DELETE FROM tap_schema.tables WHERE schema_name = 'gzx';
DELETE FROM tap_schema.schemas WHERE schema_name = 'gzx';
INSERT INTO tap_schema.schemas (schema_name, description) VALUES ('gzx', 'gzip tests');
INSERT INTO tap_schema.tables (schema_name, table_name, table_type, description)
VALUES ('gzx', 'gzx.big', 'table', 'A million rows'), ('gzx', 'gzx.blob', 'table', 'One long value');
INSERT INTO tap_schema.columns (table_name, column_name, datatype, arraysize, description,
                                principal, indexed, std, column_index) VALUES
 ('gzx.big', 'id', 'long', NULL, NULL, 1, 0, 0, 1),
 ('gzx.big', 'ra', 'double', NULL, NULL, 1, 0, 0, 2),
 ('gzx.big', 'dec', 'double', NULL, NULL, 1, 0, 0, 3),
 ('gzx.big', 'mag', 'float', NULL, NULL, 1, 0, 0, 4),
 ('gzx.big', 'flags', 'int', NULL, NULL, 1, 0, 0, 5),
 ('gzx.big', 'name', 'char', '*', NULL, 1, 0, 0, 6),
 ('gzx.blob', 'id', 'int', NULL, NULL, 1, 0, 0, 1),
 ('gzx.blob', 'big', 'char', '*', NULL, 1, 0, 0, 2);
""" % ROWS

QUERY = "SELECT * FROM gzx.big ORDER BY id"


@pytest.fixture(scope="module")
def gz_table(psql):
    psql.run(SETUP_SQL, timeout=300)


def servers(start_server, threads):
    # TAP_SCHEMA is read at start: servers of our own, after the inserts.
    over = {"tap.maxrec_default": str(ROWS), "tap.sync_timeout": "300"}
    if threads is not None:
        over["server.gzip_threads"] = threads
    return start_server(over)


def params(fmt="votable/b2", query=QUERY):
    return {"LANG": "ADQL", "REQUEST": "doQuery", "QUERY": query, "RESPONSEFORMAT": fmt, "MAXREC": str(ROWS)}


def one_member(raw):
    """zlib's gzip reader stops at the end of the first member: everything
    must be in it."""
    d = zlib.decompressobj(16 + zlib.MAX_WBITS)
    out = d.decompress(raw) + d.flush()
    assert d.eof, "the gzip stream does not end"
    assert d.unused_data == b"", "%d bytes after the first gzip member" % len(d.unused_data)
    return out


def undated(doc):
    """The document without its REQUEST_DATE, the one part that differs
    between two answers to the same query."""
    return re.sub(rb'(name="REQUEST_DATE" value=")[^"]*"', rb'\1"', doc, count=1)


@pytest.fixture(scope="module")
def identity(gz_table, start_server):
    srv = servers(start_server, None)
    r = requests.post(srv.base + "/sync", data=params(), headers={"Accept-Encoding": "identity"}, timeout=300)
    assert r.status_code == 200, r.text[:300]
    assert "Content-Encoding" not in r.headers
    assert len(r.content) > 40 * 1000 * 1000
    assert r.content.rstrip().endswith(b"</VOTABLE>")
    return undated(r.content)


@pytest.mark.parametrize("threads", [None, "0"], ids=["default-threads", "no-threads"])
def test_requests_gzip_1m(identity, start_server, threads):
    srv = servers(start_server, threads)
    # requests asks for "gzip, deflate" and decodes what comes back
    r = requests.post(srv.base + "/sync", data=params(), stream=True, timeout=300)
    assert r.status_code == 200
    assert r.headers["Content-Encoding"] == "gzip"
    raw = r.raw.read(decode_content=False)
    assert len(raw) < len(identity) * 0.9
    assert undated(one_member(raw)) == identity
    r = requests.post(srv.base + "/sync", data=params(), timeout=300)
    assert r.headers["Content-Encoding"] == "gzip"
    assert undated(r.content) == identity


def test_curl_compressed_1m(identity, start_server, workdir):
    srv = servers(start_server, None)
    body = os.path.join(workdir, "gz-curl.vot")
    headers = os.path.join(workdir, "gz-curl.headers")
    args = ["curl", "-sS", "--fail", "--compressed", "-H", "Accept-Encoding: gzip", "-D", headers, "-o", body]
    for k, v in params().items():
        args += ["--data-urlencode", "%s=%s" % (k, v)]
    subprocess.run(args + [srv.base + "/sync"], check=True, timeout=300)
    with open(headers, "rb") as f:
        assert b"\r\ncontent-encoding: gzip\r\n" in f.read().lower()
    with open(body, "rb") as f:
        assert undated(f.read()) == identity


def test_votable_gzip_astropy(gz_table, start_server, workdir):
    srv = servers(start_server, None)
    n = 200000
    q = "SELECT TOP %d * FROM gzx.big ORDER BY id" % n
    r = requests.post(srv.base + "/sync", data=params("votable_gzip", q), headers={"Accept-Encoding": "identity"},
                      timeout=300)
    assert r.status_code == 200
    assert r.headers["Content-Type"] == "application/gzip"
    doc = one_member(r.content)
    path = os.path.join(workdir, "gz-astropy.vot.gz")
    with open(path, "wb") as f:
        f.write(r.content)
    table = vo_parse(path).get_first_table().to_table()
    assert len(table) == n
    assert int(table["id"][0]) == 1 and int(table["id"][-1]) == n
    assert str(table["name"][-1]) == "src-%d" % n
    assert doc.rstrip().endswith(b"</VOTABLE>")


def test_held_back_blocks_beyond_small(gz_table, start_server, psql):
    """A result that arrives in one burst leaves its gzip blocks in flight
    until the end: what comes out then (over 256 KiB here) is more than a
    response sent whole with Content-Length may hold, and goes out
    chunked instead of failing."""
    srv = servers(start_server, None)
    _, rows = psql.rows("SELECT big FROM gzx.blob")
    q = "SELECT big FROM gzx.blob"
    r = requests.post(srv.base + "/sync", data=params("csv", q), stream=True, timeout=60)
    assert r.status_code == 200, r.content[:300]
    assert r.headers["Content-Encoding"] == "gzip"
    raw = r.raw.read(decode_content=False)
    assert len(raw) > 256 * 1024
    assert one_member(raw) == b"big\r\n" + rows[0][0].encode() + b"\r\n"
