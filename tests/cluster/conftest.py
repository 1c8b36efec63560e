"""Session fixtures of the cluster suite: one throwaway PostgreSQL with the
demo catalogue (`tapserve demo --no-serve`), shared by every test; each
test starts the instances and the HAProxy it needs (tscluster.Cluster)
and stops them at its end."""

import os

import pytest

import tscluster
from tscluster import tsit

DEMO_ROWS = 20000


@pytest.fixture(scope="session")
def workdir():
    d = tsit.make_workdir("tapserve-cluster-")
    yield d
    tsit.drop_workdir(d)


@pytest.fixture(scope="session")
def db(workdir):
    """{'dsn', 'data_dir', 'psql'} of the running cluster."""
    exe = tsit.tapserve_bin()
    if not os.access(exe, os.X_OK):
        pytest.fail("tapserve executable not found at %s (set TAPSERVE_BIN)" % exe)
    if not os.access(tscluster.HAPROXY, os.X_OK):
        pytest.fail("%s not found (scripts/install-deps.sh test installs haproxy)" % tscluster.HAPROXY)
    data_dir = os.path.join(workdir, "pg")
    dsn = tsit.demo_cluster(data_dir, rows=DEMO_ROWS)
    try:
        yield {"dsn": dsn, "data_dir": data_dir, "psql": tsit.Psql(dsn)}
    finally:
        tsit.stop_cluster(data_dir)


@pytest.fixture
def make_cluster(db, workdir, request):
    """make_cluster(n=3, overrides=None, together=False, tls=False) -> a started
    tscluster.Cluster; stopped when the test ends. Jobs left by earlier
    tests are deleted first, so counts from the database are this test's."""
    made = []
    db["psql"].run(
        "DO $$ BEGIN IF to_regclass('tapserve.jobs') IS NOT NULL THEN DELETE FROM tapserve.jobs;"
        " END IF; END $$"
    )

    def make(n=3, overrides=None, together=False, start=True, tls=False):
        tag = "%s-%d" % (request.node.name.replace("test_", "")[:24], len(made))
        c = tscluster.Cluster(workdir, db["dsn"], n=n, overrides=overrides, tag=tag, tls=tls)
        made.append(c)
        return c.start(together=together) if start else c

    yield make
    for c in made:
        c.stop()
