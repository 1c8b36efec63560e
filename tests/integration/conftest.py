"""Session fixtures: one private PostgreSQL cluster with the demo catalogue
(created by `tapserve demo --no-serve`), one main `tapserve serve` process,
and a factory for extra servers with other limits. Everything is stopped at
the end of the run."""

import os
import subprocess

import pytest

import tsit

DEMO_ROWS = 50000


@pytest.fixture(scope="session")
def workdir():
    d = tsit.make_workdir("tapserve-it-")
    yield d
    tsit.drop_workdir(d)


@pytest.fixture(scope="session")
def cluster(workdir):
    """{'dsn', 'data_dir', 'psql'} of a started cluster holding the demo
    catalogue."""
    exe = tsit.tapserve_bin()
    if not os.access(exe, os.X_OK):
        pytest.fail("tapserve executable not found at %s (set TAPSERVE_BIN)" % exe)
    data_dir = os.path.join(workdir, "pg")
    pg_port = tsit.free_port()
    cmd = [str(exe), "demo", "--no-serve", "--data-dir", data_dir, "--pg-port", str(pg_port), "--rows", str(DEMO_ROWS)]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=240, check=False)
    except subprocess.TimeoutExpired:
        tsit.stop_cluster(data_dir)
        pytest.fail("%s did not finish within 240 s" % " ".join(cmd))
    out = p.stdout.decode("utf-8", errors="replace")
    err = p.stderr.decode("utf-8", errors="replace")
    if p.returncode != 0:
        tsit.stop_cluster(data_dir)
        pytest.fail("tapserve demo --no-serve exited %d\nstdout:\n%s\nstderr:\n%s" % (p.returncode, out, err[-4000:]))
    dsn = tsit.parse_dsn(out)
    if not dsn:
        tsit.stop_cluster(data_dir)
        pytest.fail("tapserve demo --no-serve printed no DSN; stdout:\n%s" % out)
    try:
        yield {"dsn": dsn, "data_dir": data_dir, "pg_port": pg_port, "psql": tsit.Psql(dsn)}
    finally:
        tsit.stop_cluster(data_dir)


@pytest.fixture(scope="session")
def psql(cluster):
    return cluster["psql"]


@pytest.fixture(scope="session")
def start_server(cluster, workdir):
    """start_server(**overrides) -> a running tsit.Server. Overrides are
    'section.key' names, e.g. {'tap.maxrec_limit': 100}; servers with the
    same overrides are shared within the run."""
    servers = {}

    def start(overrides=None):
        key = tuple(sorted((overrides or {}).items()))
        srv = servers.get(key)
        if srv is None or not srv.alive():
            name = "tapserve-%d" % len(servers)
            srv = tsit.Server(workdir, name, cluster["dsn"], overrides)
            servers[key] = srv
        return srv

    yield start
    for srv in servers.values():
        srv.stop()


@pytest.fixture(scope="session")
def server(start_server):
    """The main server: default limits."""
    return start_server()


@pytest.fixture(scope="session")
def sources_types(psql):
    """{column: PostgreSQL type} of demo.sources, in table order."""
    types = psql.column_types("demo", "sources")
    assert types, "demo.sources has no columns in information_schema"
    return types
