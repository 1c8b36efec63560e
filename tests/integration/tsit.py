"""Helpers of the tapserve integration suite: the private PostgreSQL cluster,
tapserve processes, raw HTTP, psql access and value comparison.

Nothing here mocks anything: the cluster is a real PostgreSQL 15 created by
`tapserve demo`, the servers are real `tapserve serve` processes, and the
reference values come from PostgreSQL through the psql client."""

import contextlib
import csv
import io
import os
import pathlib
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET

import numpy as np
import pytest
import requests

REPO = pathlib.Path(__file__).resolve().parents[2]
# Schema validation and taplint: the repository's own tools, with the IVOA
# schemas taken from Debian packages (scripts/ivoa-xsd.sh).
XSDCHECK = REPO / "scripts" / "xsdcheck.sh"
TAPLINT = REPO / "scripts" / "taplint.sh"
XSD_SKIP = 77  # xsdcheck.sh: the document's schema is not on this machine
# Material that exists only in shared/ beside the repository (the benchmark
# data generator): tests that need it skip without it, except in CI.
SHARED = REPO.parent / "shared"


def need_shared(path):
    """Returns path (under SHARED), or skips the test, saying why, when it
    is absent; under CI=true its absence is a failure."""
    if path.is_file():
        return path
    msg = "%s is not on this machine (it lives in shared/ beside the repository)" % path
    if os.environ.get("CI") == "true":
        pytest.fail(msg)
    pytest.skip(msg)

PG_BIN = pathlib.Path("/usr/lib/postgresql/15/bin")
VOT_NS = "http://www.ivoa.net/xml/VOTable/v1.3"


def tapserve_bin():
    """The executable under test: $TAPSERVE_BIN, else the default build."""
    path = os.environ.get("TAPSERVE_BIN") or str(REPO / "build" / "tapserve" / "tapserve")
    return pathlib.Path(path)


def free_port():
    """A loopback TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# PostgreSQL cluster


def find_pgdata(data_dir):
    """The PostgreSQL data directory inside (or equal to) `data_dir`: the
    directory holding PG_VERSION."""
    d = pathlib.Path(data_dir)
    if (d / "PG_VERSION").exists():
        return d
    for p in sorted(d.rglob("PG_VERSION")):
        return p.parent
    return None


def pg_ctl(data_dir, *args, timeout=120):
    """Runs pg_ctl on the cluster as the user owning its data directory
    (pg_ctl refuses to run as root); returns (exit status, output)."""
    pgdata = find_pgdata(data_dir)
    if pgdata is None:
        return 1, "no cluster in %s" % data_dir
    cmd = [str(PG_BIN / "pg_ctl"), "-D", str(pgdata)] + list(args)
    owner = pgdata.stat().st_uid
    if os.geteuid() == 0 and owner != 0:
        cmd = ["runuser", "-u", pwd.getpwuid(owner).pw_name, "--"] + cmd
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, check=False)
    return p.returncode, p.stdout.decode(errors="replace")


def stop_cluster(data_dir):
    """Stops the cluster, when it runs."""
    pgdata = find_pgdata(data_dir)
    if pgdata is None or not (pgdata / "postmaster.pid").exists():
        return
    pg_ctl(data_dir, "stop", "-m", "fast", "-w", timeout=60)


def demo_cluster(data_dir, rows=50000):
    """Creates and starts a cluster of its own with the demo catalogue
    (`tapserve demo --no-serve`) in data_dir; returns its DSN. Stop it with
    stop_cluster(data_dir)."""
    cmd = [str(tapserve_bin()), "demo", "--no-serve", "--data-dir", data_dir, "--pg-port", str(free_port()), "--rows", str(rows)]
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=240, check=False)
    out = p.stdout.decode(errors="replace")
    if p.returncode != 0:
        stop_cluster(data_dir)
        raise RuntimeError("tapserve demo --no-serve failed:\n" + out[-3000:])
    return parse_dsn(out)


@contextlib.contextmanager
def own_cluster(workdir, name):
    """A demo cluster of a test module's own (for modules that restart it,
    or whose jobs other servers must not run): yields {'dsn', 'data_dir',
    'store' (a result directory), 'servers' (append yours: stopped at the
    end), 'psql'}."""
    data_dir = os.path.join(workdir, "pg-" + name)
    store = os.path.join(workdir, "results-" + name)
    os.makedirs(store, exist_ok=True)
    d = {"dsn": demo_cluster(data_dir), "data_dir": data_dir, "store": store, "servers": []}
    d["psql"] = Psql(d["dsn"])
    try:
        yield d
    finally:
        for s in d["servers"]:
            s.stop()
        stop_cluster(data_dir)


def parse_dsn(stdout):
    """The libpq DSN printed by `tapserve demo --no-serve`: the last line that
    looks like a key=value connection string or a postgres URI."""
    found = None
    for line in stdout.splitlines():
        s = line.strip()
        if s.startswith(("postgresql://", "postgres://")):
            found = s
        elif "=" in s and ("dbname=" in s or "host=" in s or "port=" in s):
            # accept "DSN: host=..." style prefixes too
            idx = min(i for i in (s.find("host="), s.find("dbname="), s.find("port=")) if i >= 0)
            found = s[idx:]
    return found


def query_dsn(dsn):
    """The DSN of the read-only role `tapserve demo` creates for users'
    queries (tapserve_query): `dsn` with its user replaced."""
    return re.sub(r"\s*\buser=\S+", "", dsn) + " user=tapserve_query"


class Psql:
    """SQL access to the cluster through the psql client."""

    NULL = "\\N"

    def __init__(self, dsn):
        self.dsn = dsn

    def run(self, sql, timeout=60):
        """Runs SQL; returns stdout (unaligned, tab-separated, tuples only)."""
        p = subprocess.run(
            ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-A", "-t", "-F", "\t", "-d", self.dsn, "-c", sql],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
        if p.returncode != 0:
            raise RuntimeError("psql failed (%d) for %r: %s" % (p.returncode, sql, p.stderr.decode(errors="replace")))
        return p.stdout.decode("utf-8")

    def scalar(self, sql):
        return self.run(sql).strip()

    def rows(self, select_sql):
        """(column names, rows) of a SELECT, every value as text, NULL as None.
        COPY CSV quotes a value equal to the NULL marker, so an unquoted \\N
        is a NULL; our reader keeps that distinction."""
        out = self.run("COPY (%s) TO STDOUT (FORMAT csv, HEADER, NULL '\\N')" % select_sql)
        lines = _csv_records(out)
        header = [f for f, _ in lines[0]]
        rows = []
        for rec in lines[1:]:
            rows.append([None if (v == self.NULL and not quoted) else v for v, quoted in rec])
        return header, rows

    def column_types(self, schema, table):
        """{column name: PostgreSQL data type} of a table."""
        out = self.run(
            "SELECT column_name, data_type FROM information_schema.columns "
            "WHERE table_schema = '%s' AND table_name = '%s' ORDER BY ordinal_position" % (schema, table)
        )
        types = {}
        for line in out.splitlines():
            if line:
                name, typ = line.split("\t")
                types[name] = typ
        return types


def _csv_records(text):
    """Minimal RFC 4180 reader that reports, per field, whether it was quoted
    (the csv module forgets that, and COPY uses it to tell NULL from '\\N')."""
    records, rec, i, n = [], [], 0, len(text)
    while i < n:
        if text[i] == '"':
            i += 1
            buf = []
            while True:
                j = text.index('"', i)
                buf.append(text[i:j])
                if j + 1 < n and text[j + 1] == '"':
                    buf.append('"')
                    i = j + 2
                    continue
                i = j + 1
                break
            field, quoted = "".join(buf), True
        else:
            j = i
            while j < n and text[j] not in ",\n":
                j += 1
            field, quoted, i = text[i:j].rstrip("\r"), False, j
        rec.append((field, quoted))
        if i >= n or text[i] == "\n":
            records.append(rec)
            rec = []
            i += 1
        else:  # a comma
            i += 1
            if i >= n:
                rec.append(("", False))
                records.append(rec)
    return records


# ---------------------------------------------------------------------------
# tapserve processes


class Server:
    """One `tapserve serve -c FILE` process on a free loopback port."""

    def __init__(self, workdir, name, dsn, overrides=None, port=None, wait=True):
        # port: a fixed one (an instance restarted behind a load balancer);
        # wait=False returns at once (several started together): call
        # wait_ready() afterwards.
        self.port = port or free_port()
        self.base = "http://127.0.0.1:%d/tap" % self.port
        self.workdir = pathlib.Path(workdir)
        self.config_path = self.workdir / ("%s.ini" % name)
        self.log_path = self.workdir / ("%s.log" % name)
        sections = {
            "server": {
                "listen": "127.0.0.1",
                "port": str(self.port),
                "base_url": self.base,
            },
            # Users' queries run as the read-only role, as tapserve requires.
            "database": {"dsn": dsn, "query_dsn": query_dsn(dsn), "pool_size": "4"},
            "tap": {
                "maxrec_default": "100000",
                "maxrec_limit": "10000000",
                "sync_timeout": "120",
                "fetch_size": "1000",
            },
        }
        for key, value in (overrides or {}).items():
            section, k = key.split(".", 1)
            sections.setdefault(section, {})[k] = str(value)
        with open(self.config_path, "w") as f:
            for section, kv in sections.items():
                f.write("[%s]\n" % section)
                for k, v in kv.items():
                    f.write("%s = %s\n" % (k, v))
                f.write("\n")
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(tapserve_bin()), "serve", "-c", str(self.config_path)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
        if wait:
            self._wait_ready()

    def wait_ready(self, timeout=60):
        self._wait_ready(timeout)

    def log_tail(self, n=40):
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def _wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    "tapserve serve exited with %s before becoming available; log:\n%s"
                    % (self.proc.returncode, self.log_tail())
                )
            try:
                r = requests.get(self.base + "/availability", timeout=2)
                # VOSI availability stays 200 while the database is
                # unreachable; the body says whether the service is up.
                if r.status_code == 200 and re.search(r"available>\s*true\s*<", r.text):
                    return
                last = "HTTP %d %s" % (r.status_code, r.text[:300])
            except requests.RequestException as e:
                last = repr(e)
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("tapserve serve not available within %ds (%s); log:\n%s" % (timeout, last, self.log_tail()))

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    # convenience --------------------------------------------------------
    def sync(self, params, method="GET", timeout=120):
        """A /sync request; params is a dict or a list of pairs."""
        if method == "GET":
            return requests.get(self.base + "/sync", params=params, timeout=timeout)
        return requests.post(self.base + "/sync", data=params, timeout=timeout)


# ---------------------------------------------------------------------------
# raw HTTP


class RawConn:
    """A raw HTTP/1.1 client connection: send bytes, read whole responses
    (Content-Length, chunked or close-delimited), keep leftovers."""

    def __init__(self, port, timeout=30):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError("connection closed by server")
        self.buf += chunk

    def _read_until(self, marker):
        while marker not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(marker, 1)
        return head

    def _read_exact(self, n):
        while len(self.buf) < n:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def read_response(self, head_request=False):
        """(status, headers with lower-case names, body)."""
        head = self._read_until(b"\r\n\r\n").decode("latin-1")
        lines = head.split("\r\n")
        parts = lines[0].split(" ", 2)
        if not parts[0].startswith("HTTP/1."):
            raise AssertionError("not an HTTP status line: %r" % lines[0])
        status = int(parts[1])
        headers = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        if head_request or status in (204, 304) or 100 <= status < 200:
            return status, headers, b""
        if "chunked" in headers.get("transfer-encoding", "").lower():
            body = b""
            while True:
                size_line = self._read_until(b"\r\n").decode("latin-1")
                size = int(size_line.split(";")[0].strip(), 16)
                if size == 0:
                    # trailers end with an empty line
                    while self._read_until(b"\r\n") != b"":
                        pass
                    return status, headers, body
                body += self._read_exact(size)
                if self._read_exact(2) != b"\r\n":
                    raise AssertionError("chunk not followed by CRLF")
        if "content-length" in headers:
            return status, headers, self._read_exact(int(headers["content-length"]))
        body = self.buf
        self.buf = b""
        while True:
            chunk = self.sock.recv(65536)
            if not chunk:
                return status, headers, body
            body += chunk


def raw_request(port, data, head_request=False):
    """Sends one raw request on a new connection; returns (status, headers,
    body). Tolerates the server closing its read side after an early error
    response (e.g. 413 before the body was sent)."""
    c = RawConn(port)
    try:
        try:
            c.send(data)
        except (BrokenPipeError, ConnectionResetError):
            pass
        return c.read_response(head_request=head_request)
    finally:
        c.close()


# ---------------------------------------------------------------------------
# VOTable documents


def vot_tag(name):
    return "{%s}%s" % (VOT_NS, name)


def parse_xml(data):
    return ET.fromstring(data)


def local(tag):
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


def find_all_local(elem, name):
    return [e for e in elem.iter() if local(e.tag) == name]


def results_resource(root):
    """The RESOURCE type="results" of a VOTable (the first RESOURCE when no
    RESOURCE carries the type)."""
    resources = [e for e in root if local(e.tag) == "RESOURCE"]
    for r in resources:
        if r.get("type") == "results":
            return r
    return resources[0] if resources else None


def query_status_infos(root):
    """Every INFO name="QUERY_STATUS" in the document: (value, text, parent tag,
    index among the parent's children)."""
    out = []
    for parent in root.iter():
        for i, child in enumerate(list(parent)):
            if local(child.tag) == "INFO" and child.get("name") == "QUERY_STATUS":
                out.append((child.get("value"), (child.text or "").strip(), local(parent.tag), i))
    return out


def overflow_after_table(root):
    """True when the results RESOURCE has an INFO QUERY_STATUS=OVERFLOW
    following its TABLE, as TAP 1.1 (section 2.7.4) asks."""
    res = results_resource(root)
    if res is None:
        return False
    children = list(res)
    table_idx = [i for i, c in enumerate(children) if local(c.tag) == "TABLE"]
    if not table_idx:
        return False
    for c in children[table_idx[-1] + 1 :]:
        if local(c.tag) == "INFO" and c.get("name") == "QUERY_STATUS" and c.get("value") == "OVERFLOW":
            return True
    return False


def tabledata_rows(root):
    """Rows of the first TABLEDATA as lists of cell texts."""
    tds = find_all_local(root, "TABLEDATA")
    if not tds:
        return None
    return [[(td.text or "") for td in tr] for tr in tds[0] if local(tr.tag) == "TR"]


def field_names(root):
    return [f.get("name") for f in find_all_local(root, "FIELD")]


def error_message(data):
    """The QUERY_STATUS=ERROR message of a DALI error document; raises
    AssertionError when the document is not one."""
    root = parse_xml(data)
    assert local(root.tag) == "VOTABLE", "error document root is <%s>, not VOTABLE" % local(root.tag)
    infos = [(v, t) for v, t, _, _ in query_status_infos(root) if v == "ERROR"]
    assert infos, "no INFO name=QUERY_STATUS value=ERROR in: %r" % data[:600]
    return infos[0][1]


# ---------------------------------------------------------------------------
# value comparison against PostgreSQL

INT_TYPES = ("bigint", "integer", "smallint")
DOUBLE_TYPES = ("double precision",)
REAL_TYPES = ("real",)


def pg_value(text, pgtype):
    """A PostgreSQL text value as the Python value a client must obtain."""
    if text is None:
        return None
    if pgtype in INT_TYPES:
        return int(text)
    if pgtype in DOUBLE_TYPES:
        return float(text)  # PostgreSQL >= 12 prints the shortest exact form
    if pgtype in REAL_TYPES:
        return np.float32(text)
    return text


def value_matches(got, masked, ref, pgtype):
    """True when a client-side value (with its mask flag) equals the
    PostgreSQL value `ref` (already converted with pg_value)."""
    if ref is None:
        if masked:
            return True
        # VOTable char cannot tell NULL from an empty string
        if pgtype not in INT_TYPES + DOUBLE_TYPES + REAL_TYPES and got in ("", b""):
            return True
        if pgtype in DOUBLE_TYPES + REAL_TYPES and got is not None:
            try:
                return bool(np.isnan(got))
            except TypeError:
                return False
        return False
    if masked:
        return False
    if isinstance(got, bytes):
        got = got.decode("utf-8")
    if pgtype in INT_TYPES:
        return int(got) == ref
    if pgtype in DOUBLE_TYPES:
        return np.float64(got) == ref and np.asarray(got).dtype.itemsize >= 8
    if pgtype in REAL_TYPES:
        return np.float32(got) == ref
    return str(got) == ref


def compare_astropy_table(table, names, ref_rows, types, what):
    """Compares an astropy Table (or numpy masked record array) cell by cell
    with PostgreSQL rows; returns a list of mismatch descriptions (at most
    20)."""
    problems = []
    colnames = list(table.colnames) if hasattr(table, "colnames") else list(table.dtype.names)
    if len(table) != len(ref_rows):
        return ["%s: %d rows, PostgreSQL has %d" % (what, len(table), len(ref_rows))]
    for j, name in enumerate(names):
        if name not in colnames:
            problems.append("%s: column %s missing (have %s)" % (what, name, colnames))
            continue
        col = table[name]
        data = np.ma.getdata(col)
        mask = np.ma.getmaskarray(col) if isinstance(col, np.ma.MaskedArray) else None
        if mask is not None and mask.ndim > 1:
            mask = mask.all(axis=tuple(range(1, mask.ndim)))
        for i, row in enumerate(ref_rows):
            ref = pg_value(row[j], types[name])
            got = data[i]
            m = bool(mask[i]) if mask is not None else False
            if not value_matches(got, m, ref, types[name]):
                problems.append(
                    "%s: row %d column %s (%s): got %r%s, PostgreSQL has %r"
                    % (what, i, name, types[name], got, " (masked)" if m else "", row[j])
                )
                if len(problems) >= 20:
                    return problems
    return problems


def compare_text_table(header, rows, names, ref_rows, types, what):
    """Compares a CSV/TSV result (header + rows of strings, empty = NULL)
    with PostgreSQL rows; returns mismatch descriptions (at most 20)."""
    problems = []
    if header != names:
        return ["%s: header %r, expected %r" % (what, header, names)]
    if len(rows) != len(ref_rows):
        return ["%s: %d rows, PostgreSQL has %d" % (what, len(rows), len(ref_rows))]
    for i, (row, ref_row) in enumerate(zip(rows, ref_rows)):
        if len(row) != len(names):
            problems.append("%s: row %d has %d fields: %r" % (what, i, len(row), row))
            continue
        for j, name in enumerate(names):
            t = types[name]
            ref = pg_value(ref_row[j], t)
            cell = row[j]
            if ref is None:
                ok = cell == ""
            elif cell == "" and t in INT_TYPES + DOUBLE_TYPES + REAL_TYPES:
                ok = False
            elif t in INT_TYPES:
                ok = int(cell) == ref
            elif t in DOUBLE_TYPES:
                ok = float(cell) == ref
            elif t in REAL_TYPES:
                ok = np.float32(cell) == ref
            else:
                ok = cell == ref
            if not ok:
                problems.append("%s: row %d column %s (%s): got %r, PostgreSQL has %r" % (what, i, name, t, cell, ref_row[j]))
                if len(problems) >= 20:
                    return problems
    return problems


def read_csv(text):
    rows = list(csv.reader(io.StringIO(text, newline="")))
    return rows[0], rows[1:]


def read_tsv(text):
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    rows = [line.rstrip("\r").split("\t") for line in lines]
    return rows[0], rows[1:]


def run_tool(args, timeout, env=None):
    """Runs a shell tool; returns (returncode, combined output text)."""
    p = subprocess.run(
        args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout, env=env, check=False
    )
    return p.returncode, p.stdout.decode("utf-8", errors="replace")


def xsdcheck(path, timeout=120):
    """Validates one XML file with xsdcheck.sh; returns (returncode, output).
    Skips the calling test, with xsdcheck's reason, when the schema the
    document needs is in no package on this machine (VOTable 1.5 outside CI)."""
    rc, out = run_tool(["bash", str(XSDCHECK), str(path)], timeout=timeout)
    if rc == XSD_SKIP:
        pytest.skip(out.strip())
    return rc, out


def which(name):
    return shutil.which(name)


# ---------------------------------------------------------------------------
# UWS jobs and the backends running them

UWS = "{http://www.ivoa.net/xml/UWS/v1.0}"
FINAL = ("COMPLETED", "ERROR", "ABORTED")


def job(url, **params):
    """The job document at url (GET with params, e.g. WAIT) as an element."""
    r = requests.get(url, params=params, timeout=120)
    assert r.status_code == 200, r.text
    return ET.fromstring(r.content)


def phase(root):
    return root.find(UWS + "phase").text


def job_error(root):
    """The message of a job document's errorSummary, or None."""
    e = root.find(UWS + "errorSummary")
    return e.find(UWS + "message").text if e is not None else None


def wait_final(url, limit):
    """The job's document once its phase is final; fails after limit s."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        root = job(url, WAIT="5")
        if phase(root) in FINAL:
            return root
    raise AssertionError("job %s not finished within %d s: %s" % (url, limit, phase(job(url))))


def active(psql, marker):
    """Backends running a query that contains `marker`."""
    return int(
        psql.scalar(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
            "AND query LIKE '%%%s%%' AND pid <> pg_backend_pid()" % marker
        )
    )


def make_workdir(prefix):
    """A world-readable temporary directory (not pytest's tmp_path: that
    lives under a 0700 directory, and when the suite runs as root
    PostgreSQL runs as an unprivileged user that must reach its data
    directory); removed by drop_workdir unless TSIT_KEEP=1."""
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d


def drop_workdir(d):
    if os.environ.get("TSIT_KEEP") != "1":
        shutil.rmtree(d, ignore_errors=True)
