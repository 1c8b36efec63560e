"""TAP_SCHEMA is live shared state: a change committed in TAP_SCHEMA reaches
every running instance (/tables, the ADQL checker, TAP_SCHEMA queries)
within a second, without a restart; inconsistent rows keep the previous
metadata; SIGHUP reloads; a query that started before a change finishes
on the metadata it started with.

Two tapserve processes serve the session cluster here. Tables are
published by hand, with SQL, in one transaction, as an operator (or the
publishing command) would."""

import os
import re
import signal
import threading
import time

import pytest
import requests

import tsit

DEADLINE_S = 1.0
SCHEMA = "live"
TABLE = "live.stars"
NROWS = 300000

PUBLISH = """
BEGIN;
INSERT INTO tap_schema.schemas (schema_name, description) VALUES ('live', 'Published while serving');
INSERT INTO tap_schema.tables (schema_name, table_name, description)
  VALUES ('live', 'live.stars', 'Stars published by SQL');
INSERT INTO tap_schema.columns (table_name, column_name, datatype, description, unit, ucd,
                                indexed, principal, column_index)
  VALUES ('live.stars', 'id', 'long', 'Identifier', NULL, 'meta.id;meta.main', 1, 1, 1),
         ('live.stars', 'mag', 'double', 'Magnitude', 'mag', 'phot.mag', 0, 1, 2);
COMMIT;
"""
UNPUBLISH = "DELETE FROM tap_schema.schemas WHERE schema_name IN ('live', 'live_bad')"
TRIGGERED = ("schemas", "tables", "columns", "keys", "key_columns")


@pytest.fixture(scope="module")
def live_table(psql):
    psql.run(UNPUBLISH)
    psql.run(
        "DROP SCHEMA IF EXISTS live CASCADE; CREATE SCHEMA live;"
        "CREATE TABLE live.stars (id bigint PRIMARY KEY, mag double precision NOT NULL);"
        "INSERT INTO live.stars SELECT g, 10 + (g %% 1000) / 100.0 FROM generate_series(1, %d) g;"
        "ANALYZE live.stars;"
        # What publishing grants: the servers' queries run as the read-only role.
        "GRANT USAGE ON SCHEMA live TO tapserve_query;"
        "GRANT SELECT ON live.stars TO tapserve_query" % NROWS
    )
    yield TABLE
    psql.run(UNPUBLISH)
    psql.run("DROP SCHEMA IF EXISTS live CASCADE")


@pytest.fixture(scope="module")
def pair(start_server, live_table):
    """Two instances on the same database (different overrides: two
    processes)."""
    a = start_server({"tap.title": "live schema A"})
    b = start_server({"tap.title": "live schema B"})
    assert a.proc.pid != b.proc.pid
    yield a, b
    # Their connections count against the cluster's max_connections.
    a.stop()
    b.stop()


@pytest.fixture()
def unpublished(psql, pair):
    psql.run(UNPUBLISH)
    wait_all(pair, lambda s: not lists(s, TABLE), "the table is unpublished")
    yield
    psql.run(UNPUBLISH)
    for t in TRIGGERED:
        psql.run("ALTER TABLE tap_schema.%s ENABLE TRIGGER tapserve_notify" % t)


def lists(srv, name):
    r = requests.get(srv.base + "/tables", timeout=10)
    assert r.status_code == 200
    return name in names_in_tables(r.content)


def names_in_tables(xml):
    root = tsit.parse_xml(xml)
    return {e.text for t in tsit.find_all_local(root, "table") for e in t if tsit.local(e.tag) == "name"}


def query(srv, adql, fmt="csv"):
    return srv.sync({"LANG": "ADQL", "QUERY": adql, "RESPONSEFORMAT": fmt}, timeout=60)


def tap_schema_tables(srv):
    r = query(srv, "SELECT table_name FROM TAP_SCHEMA.tables")
    assert r.status_code == 200, r.text[:500]
    return set(r.text.splitlines()[1:])


def wait_all(servers, cond, what, deadline_s=DEADLINE_S):
    """Polls cond(server) for every server until all hold, at most
    deadline_s from now; returns the seconds it took."""
    t0 = time.monotonic()
    pending = list(servers)
    while True:
        pending = [s for s in pending if not cond(s)]
        took = time.monotonic() - t0
        if not pending:
            return took
        if took > deadline_s:
            pytest.fail(
                "%s: not seen by %s within %.1f s; logs:\n%s"
                % (what, ", ".join(s.base for s in pending), deadline_s, "\n---\n".join(s.log_tail(15) for s in pending))
            )
        time.sleep(0.02)


def log_text(srv):
    return srv.log_path.read_text(errors="replace")


def visible(name):
    def cond(srv):
        if not lists(srv, name):
            return False
        r = query(srv, "SELECT TOP 3 id, mag FROM live.stars ORDER BY id")
        return r.status_code == 200

    return cond


def test_publish_and_unpublish_reach_both(psql, pair, unpublished):
    a, b = pair
    for s in pair:
        r = query(s, "SELECT TOP 1 id FROM live.stars")
        assert r.status_code == 400 and "does not exist" in r.text

    psql.run(PUBLISH)
    took = wait_all(pair, visible(TABLE), "the published table")
    print("published -> both instances: %.3f s" % took)

    for s in pair:
        # The checker knows it, TAP_SCHEMA says so, /tables says so: all agree.
        r = query(s, "SELECT TOP 3 id, mag FROM live.stars ORDER BY id")
        assert r.status_code == 200 and r.text.splitlines() == ["id,mag", "1,10.01", "2,10.02", "3,10.03"]
        in_tap_schema = tap_schema_tables(s)
        r = requests.get(s.base + "/tables", timeout=10)
        assert names_in_tables(r.content) == in_tap_schema
        assert TABLE in in_tap_schema
        r = requests.get(s.base + "/tables/live.stars", timeout=10)
        assert r.status_code == 200 and b"Magnitude" in r.content
        # Result metadata come from the new snapshot too.
        r = query(s, "SELECT TOP 1 mag FROM live.stars", fmt="votable/td")
        field = tsit.find_all_local(tsit.parse_xml(r.content), "FIELD")[0]
        assert field.get("unit") == "mag" and field.get("ucd") == "phot.mag"

    psql.run(UNPUBLISH)
    took = wait_all(pair, lambda s: not lists(s, TABLE), "the unpublished table")
    print("unpublished -> both instances: %.3f s" % took)
    for s in pair:
        r = query(s, "SELECT TOP 1 id FROM live.stars")
        assert r.status_code == 400 and "table &quot;live.stars&quot; does not exist" in r.text
        assert TABLE not in tap_schema_tables(s)


def test_inconsistent_rows_keep_old_snapshot(psql, pair, unpublished):
    a, b = pair
    psql.run(PUBLISH)
    wait_all(pair, visible(TABLE), "the published table")
    marks = [len(log_text(s)) for s in pair]
    # A datatype no VOTable knows: the reload refuses the whole TAP_SCHEMA.
    psql.run(
        "BEGIN;"
        "INSERT INTO tap_schema.schemas (schema_name) VALUES ('live_bad');"
        "INSERT INTO tap_schema.tables (schema_name, table_name) VALUES ('live_bad', 'live_bad.t');"
        "INSERT INTO tap_schema.columns (table_name, column_name, datatype) VALUES ('live_bad.t', 'x', 'floaty');"
        "UPDATE tap_schema.columns SET description = 'changed with the bad rows'"
        "  WHERE table_name = 'live.stars' AND column_name = 'mag';"
        "COMMIT"
    )

    def warned(s):
        tail = log_text(s)[marks[pair.index(s)] :]
        return re.search(r"WARN.*TAP_SCHEMA reload.*failed.*unknown datatype 'floaty'", tail) is not None

    wait_all(pair, warned, "the warning about the inconsistent rows")
    for s in pair:
        # The previous snapshot stays: the table and its old description.
        assert lists(s, TABLE) and not lists(s, "live_bad.t")
        r = requests.get(s.base + "/tables/live.stars", timeout=10)
        assert b"Magnitude" in r.content and b"changed with the bad rows" not in r.content
        assert query(s, "SELECT TOP 1 id FROM live.stars").status_code == 200
        r = requests.get(s.base + "/availability", timeout=10)
        assert re.search(r"available>\s*true\s*<", r.text)

    # Repaired: the next change is taken whole.
    psql.run("UPDATE tap_schema.columns SET datatype = 'int' WHERE table_name = 'live_bad.t'")
    wait_all(pair, visible("live_bad.t"), "the repaired rows")
    for s in pair:
        r = requests.get(s.base + "/tables/live.stars", timeout=10)
        assert b"changed with the bad rows" in r.content


def test_database_error_is_retried(psql, pair, unpublished):
    """A load that the database fails is tried again (after 1 s): the
    change it missed arrives without another event."""
    marks = [len(log_text(s)) for s in pair]
    psql.run("ALTER TABLE tap_schema.keys RENAME TO keys_away")
    try:
        psql.run(PUBLISH)

        def failed(s):
            tail = log_text(s)[marks[pair.index(s)] :]
            return re.search(r"WARN.*TAP_SCHEMA reload.*failed.*keys", tail) is not None

        wait_all(pair, failed, "the failed load")
        for s in pair:
            assert not lists(s, TABLE)
    finally:
        # DDL fires no trigger: only the retry can see the table now.
        psql.run("ALTER TABLE tap_schema.keys_away RENAME TO keys")
    took = wait_all(pair, visible(TABLE), "the table after the retry", deadline_s=2.5)
    print("retried load -> both instances: %.3f s" % took)
    for s, m in zip(pair, marks):
        assert "TAP_SCHEMA reloaded (retry)" in log_text(s)[m:]


def test_sighup_reloads(psql, pair, unpublished):
    a, b = pair
    # Without the triggers, nothing announces the change: SIGHUP does.
    for t in TRIGGERED:
        psql.run("ALTER TABLE tap_schema.%s DISABLE TRIGGER tapserve_notify" % t)
    psql.run(PUBLISH)
    marks = [len(log_text(s)) for s in pair]
    for s in pair:
        s.proc.send_signal(signal.SIGHUP)
    took = wait_all(pair, visible(TABLE), "the table after SIGHUP")
    print("SIGHUP -> both instances: %.3f s" % took)
    for s, m in zip(pair, marks):
        assert s.alive()
        assert "TAP_SCHEMA reloaded (SIGHUP)" in log_text(s)[m:]


def test_query_started_before_a_change_finishes(psql, pair, unpublished):
    a, b = pair
    psql.run(PUBLISH)
    wait_all(pair, visible(TABLE), "the published table")
    resp = requests.post(
        a.base + "/sync",
        data={
            "LANG": "ADQL",
            "QUERY": "SELECT id, mag FROM live.stars ORDER BY id",
            "RESPONSEFORMAT": "votable/td",
            "MAXREC": str(NROWS),
        },
        stream=True,
        timeout=120,
    )
    assert resp.status_code == 200
    it = resp.iter_content(chunk_size=65536)
    first = next(it)
    assert b"<FIELD" in first
    # The table goes away while the response is being read.
    psql.run(UNPUBLISH)
    wait_all(pair, lambda srv: not lists(srv, TABLE), "the unpublished table")
    body = first + b"".join(it)
    root = tsit.parse_xml(body)
    rows = tsit.find_all_local(root, "TR")
    assert len(rows) == NROWS
    assert [c.text for c in rows[-1]] == [str(NROWS), "10"]
    fields = tsit.find_all_local(root, "FIELD")
    assert [f.get("unit") for f in fields] == [None, "mag"]
    status = [i.get("value") for i in tsit.find_all_local(root, "INFO") if i.get("name") == "QUERY_STATUS"]
    assert status == ["OK"]
    # And the table is gone for new queries on both.
    for srv in pair:
        assert query(srv, "SELECT TOP 1 id FROM live.stars").status_code == 400


def test_taplint_after_publishing_by_sql(psql, pair, unpublished, workdir):
    a, b = pair
    psql.run(PUBLISH)
    wait_all(pair, visible(TABLE), "the published table")
    assert tsit.TAPLINT.is_file(), "taplint.sh not found at %s" % tsit.TAPLINT
    report = os.path.join(workdir, "taplint-live-report.txt")
    env = dict(os.environ, STAGES="-LOC", TIMEOUT="400")
    rc, out = tsit.run_tool(["bash", str(tsit.TAPLINT), b.base, report], timeout=450, env=env)
    errors = ""
    if os.path.exists(report):
        with open(report, errors="replace") as f:
            errors = "\n".join(line.rstrip() for line in f if line.startswith("E-"))
    assert rc == 0 and "errors=0" in out, "taplint rc=%d\n%s\nerror lines:\n%s" % (rc, out, errors)


def test_reload_under_concurrent_queries(psql, pair, unpublished):
    """Queries keep working on both instances while TAP_SCHEMA changes many
    times in a row (each instance swaps snapshots under running requests)."""
    stop = threading.Event()
    failures = []

    def hammer(srv):
        while not stop.is_set():
            r = query(srv, "SELECT TOP 5 source_id FROM demo.sources")
            if r.status_code != 200:
                failures.append((srv.base, r.status_code, r.text[:300]))

    threads = [threading.Thread(target=hammer, args=(s,)) for s in pair for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(10):
            psql.run(PUBLISH)
            psql.run(UNPUBLISH)
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert failures == []
    psql.run(PUBLISH)
    wait_all(pair, visible(TABLE), "the last publication")
    for s in pair:
        assert s.alive()


def metric(srv, name):
    r = requests.get("http://127.0.0.1:%d/metrics" % srv.port, timeout=30)
    assert r.status_code == 200, r.text[:300]
    m = re.search(r"^%s (\S+)$" % name, r.text, re.M)
    assert m, name
    return float(m.group(1))


def test_translation_and_description_reused_until_the_schema_changes(psql, pair, unpublished):
    """A /sync query run again reuses its translation and its column
    description (same text, MAXREC and TAP_SCHEMA snapshot): same bytes
    back. A change of TAP_SCHEMA makes both anew: the result carries the
    new metadata at once."""
    a, b = pair
    psql.run(PUBLISH)
    wait_all(pair, visible(TABLE), "the published table")
    q = "SELECT TOP 5 id, mag FROM live.stars WHERE mag > 10.5 ORDER BY id"
    first = query(a, q, fmt="votable/td")
    assert first.status_code == 200
    made, reused = metric(a, "tapserve_sync_translated_total"), metric(a, "tapserve_sync_translation_reused_total")
    described = metric(a, "tapserve_sync_described_total")
    desc_reused = metric(a, "tapserve_sync_description_reused_total")
    strip = lambda body: re.sub(rb'<INFO name="REQUEST_DATE"[^>]*>', b"", body)
    for _ in range(3):
        again = query(a, q, fmt="votable/td")
        assert strip(again.content) == strip(first.content)
    assert metric(a, "tapserve_sync_translation_reused_total") == reused + 3
    assert metric(a, "tapserve_sync_translated_total") == made
    assert metric(a, "tapserve_sync_description_reused_total") == desc_reused + 3
    assert metric(a, "tapserve_sync_described_total") == described
    # another MAXREC is another translation
    r = a.sync({"LANG": "ADQL", "QUERY": q, "RESPONSEFORMAT": "csv", "MAXREC": "2"}, timeout=60)
    assert r.status_code == 200 and len(r.text.splitlines()) == 3
    assert metric(a, "tapserve_sync_translated_total") == made + 1

    # the operator changes a column's metadata: the next result shows it
    psql.run("UPDATE tap_schema.columns SET ucd = 'phot.mag;em.opt.V' WHERE table_name = 'live.stars'"
             " AND column_name = 'mag'")

    def new_ucd(srv):
        r = query(srv, q, fmt="votable/td")
        fields = tsit.find_all_local(tsit.parse_xml(r.content), "FIELD")
        return r.status_code == 200 and fields[1].get("ucd") == "phot.mag;em.opt.V"

    wait_all(pair, new_ucd, "the new UCD in results")
    assert metric(a, "tapserve_sync_translated_total") > made + 1
    assert metric(a, "tapserve_sync_described_total") > described
