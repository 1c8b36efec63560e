"""MAXREC (TAP 1.1 section 2.7.4 and DALI): row limits, the configured hard
limit, MAXREC=0, and the OVERFLOW marker after the table."""

import pytest

import tsit

Q_ALL = "SELECT source_id FROM demo.sources ORDER BY source_id"


def td_result(srv, query, **params):
    p = {"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "votable/td"}
    p.update(params)
    r = srv.sync(p)
    assert r.status_code == 200, "HTTP %d: %s" % (r.status_code, r.text[:1000])
    root = tsit.parse_xml(r.content)
    return root, tsit.tabledata_rows(root)


def test_maxrec_5_overflows(server, psql):
    root, rows = td_result(server, Q_ALL, MAXREC="5")
    assert rows is not None and len(rows) == 5
    _, ref = psql.rows("SELECT source_id FROM demo.sources ORDER BY source_id LIMIT 5")
    assert [r[0] for r in rows] == [r[0] for r in ref]
    assert tsit.overflow_after_table(root), "no INFO QUERY_STATUS=OVERFLOW after the TABLE"
    statuses = [v for v, _, _, _ in tsit.query_status_infos(root)]
    assert "ERROR" not in statuses


def test_top_below_maxrec_no_overflow(server):
    root, rows = td_result(server, "SELECT TOP 3 source_id FROM demo.sources ORDER BY source_id", MAXREC="5")
    assert rows is not None and len(rows) == 3
    statuses = [v for v, _, _, _ in tsit.query_status_infos(root)]
    assert "OVERFLOW" not in statuses, statuses


def test_exactly_maxrec_rows_no_overflow(server):
    # A result that has exactly MAXREC rows did not overflow: the server
    # must look for row MAXREC+1 rather than stop at MAXREC.
    root, rows = td_result(server, "SELECT TOP 5 source_id FROM demo.sources ORDER BY source_id", MAXREC="5")
    assert len(rows) == 5
    assert "OVERFLOW" not in [v for v, _, _, _ in tsit.query_status_infos(root)]


def test_maxrec_0_metadata_only(server):
    root, rows = td_result(server, "SELECT source_id, ra, name FROM demo.sources", MAXREC="0")
    assert tsit.field_names(root) == ["source_id", "ra", "name"]
    assert not rows, "MAXREC=0 returned %d rows" % len(rows or [])
    assert tsit.overflow_after_table(root), "MAXREC=0 on a non-empty result must be marked OVERFLOW"


def test_maxrec_capped_by_hard_limit(start_server):
    # No executors: this server lives for the session on the shared
    # database, and its small defaults must not cut other tests' async jobs
    # (an async job's default MAXREC is the executing instance's).
    srv = start_server({"tap.maxrec_default": 50, "tap.maxrec_limit": 100, "jobs.max_executing": "0"})
    root, rows = td_result(srv, Q_ALL, MAXREC="1000")
    assert len(rows) == 100, "MAXREC=1000 with maxrec_limit=100 gave %d rows" % len(rows)
    assert tsit.overflow_after_table(root)
    # and the default applies without MAXREC
    root, rows = td_result(srv, Q_ALL)
    assert len(rows) == 50, "maxrec_default=50 gave %d rows" % len(rows)
    assert tsit.overflow_after_table(root)
    # TOP above the limit is capped too (the limit is on the result)
    root, rows = td_result(srv, "SELECT TOP 500 source_id FROM demo.sources ORDER BY source_id", MAXREC="500")
    assert len(rows) == 100
    assert tsit.overflow_after_table(root)


def test_maxrec_overflow_csv_row_count(server):
    # Formats without an overflow marker still honour the limit.
    r = server.sync({"LANG": "ADQL", "QUERY": Q_ALL, "MAXREC": "7", "RESPONSEFORMAT": "csv"})
    assert r.status_code == 200
    header, rows = tsit.read_csv(r.content.decode("utf-8"))
    assert header == ["source_id"] and len(rows) == 7


@pytest.mark.parametrize("value", ["abc", "-1", "1.5"])
def test_maxrec_invalid(server, value):
    r = server.sync({"LANG": "ADQL", "QUERY": Q_ALL, "MAXREC": value})
    assert r.status_code == 400, "MAXREC=%r gave HTTP %d" % (value, r.status_code)
    msg = tsit.error_message(r.content)
    assert "MAXREC" in msg.upper(), msg
