"""Persistent user tables across two tapserve instances on one database:
astroquery's TapPlus (login, upload_table of an astropy table and of a
VOTable file, load_tables, load_table, a join with demo.sources compared with
psql, update_user_table, set_ra_dec_columns, rename_table,
delete_user_table), each request landing on the other instance; another
user and anonymous callers neither see nor query the tables, on both
instances; curl-style uploads with JOBID= and URL=; bad input answered with
a 4xx and nothing kept."""

import csv
import http.server
import io
import os
import threading
import time

import pytest
import requests

import tsit
from test_users import Alternating, add_user, ctx_server

OVERRIDES = {"upload.allow_private_urls": "yes", "users.session_idle": "600"}


@pytest.fixture(scope="module")
def pair(cluster, workdir):
    a = ctx_server(workdir, "utab-a", cluster["dsn"], OVERRIDES)
    b = ctx_server(workdir, "utab-b", cluster["dsn"], OVERRIDES)
    yield a, b
    a.stop()
    b.stop()


def login(srv, name, pw):
    s = requests.Session()
    r = s.post(srv.ctx + "/login", data={"username": name, "password": pw}, timeout=30)
    assert r.status_code == 200, r.text
    return s


def sync_csv(srv, session, query):
    r = (session or requests).post(
        srv.base + "/sync", data={"LANG": "ADQL", "QUERY": query, "RESPONSEFORMAT": "csv"}, timeout=60
    )
    return r


def csv_rows(text):
    return [tuple(r) for r in csv.reader(io.StringIO(text))][1:]


def user_tables(psql, user):
    return psql.scalar(
        "SELECT coalesce(string_agg(t.table_name, ',' ORDER BY t.table_name), '') FROM tapserve.user_tables t"
        " JOIN tapserve.users u ON u.id = t.user_id WHERE u.name = '%s'" % user
    )


def pg_tables(psql, schema):
    return psql.scalar(
        "SELECT coalesce(string_agg(tablename, ',' ORDER BY tablename), '') FROM pg_tables"
        " WHERE schemaname = '%s'" % schema
    )


SOURCES = "SELECT source_id, ra, dec FROM demo.sources ORDER BY source_id LIMIT 20"


def votable_file(workdir, psql):
    """A VOTable of 20 demo sources (id, ra, dec, mag) written by astropy."""
    from astropy.table import Table

    _, rows = psql.rows(SOURCES)
    t = Table(
        rows=[(int(i), float(r), float(d), 10.0 + k) for k, (i, r, d) in enumerate(rows)],
        names=("id", "ra", "dec", "mag"),
    )
    path = os.path.join(workdir, "utab-sources.xml")
    t.write(path, format="votable", overwrite=True)
    return path, t


def test_astroquery_user_tables(cluster, pair, workdir):
    from astropy.table import Table
    from astroquery.utils.tap.conn.tapconn import TapConn
    from astroquery.utils.tap.core import TapPlus

    a, b = pair
    psql = cluster["psql"]
    add_user(cluster, "it_ut_alice", "pw-alice")
    handler = Alternating([a, b])
    # the contexts ESA's own clients (astroquery.gaia) give TapPlus
    conn = TapConn(
        ishttps=False, host="127.0.0.1", server_context="/ctx", tap_context="tap", upload_context="Upload",
        table_edit_context="TableTool", port=a.port, sslport=a.port, connhandler=handler,
    )
    tap = TapPlus(url=a.base, connhandler=conn)
    tap.login(user="it_ut_alice", password="pw-alice")

    small = Table(rows=[(1, 10.5, -5.25, "x"), (2, 11.0, -6.0, "y")], names=("id", "ra", "dec", "label"))
    tap.upload_table(upload_resource=small, table_name="t_astropy", table_description="two rows")
    path, _ = votable_file(workdir, psql)
    tap.upload_table(upload_resource=path, table_name="t_file", format="votable")
    assert user_tables(psql, "it_ut_alice") == "t_astropy,t_file"
    assert pg_tables(psql, "user_it_ut_alice") == "t_astropy,t_file"

    names = [t.name for t in tap.load_tables(only_names=True)]
    assert "user_it_ut_alice.t_astropy" in names and "user_it_ut_alice.t_file" in names
    assert "demo.sources" in names
    t = tap.load_table("user_it_ut_alice.t_astropy")
    assert [c.name for c in t.columns] == ["id", "ra", "dec", "label"]
    assert t.description == "two rows"

    # a join with a published table, as psql computes it
    job = tap.launch_job(
        "SELECT u.id, s.ra, u.mag FROM user_it_ut_alice.t_file AS u"
        " JOIN demo.sources AS s ON s.source_id = u.id ORDER BY u.id"
    )
    got = [(int(r["id"]), float(r["ra"]), float(r["mag"])) for r in job.get_results()]
    _, want = psql.rows(SOURCES)
    assert got == [(int(i), float(r), 10.0 + k) for k, (i, r, _) in enumerate(want)]

    # update_user_table: UCD, utype and an index of its own
    tap.update_user_table(
        table_name="user_it_ut_alice.t_astropy",
        list_of_changes=[["id", "ucd", "meta.id"], ["id", "indexed", True], ["label", "utype", "ivoa:lbl"]],
    )
    cols = {c.name: c for c in tap.load_table("user_it_ut_alice.t_astropy").columns}
    assert cols["id"].ucd == "meta.id" and cols["label"].utype == "ivoa:lbl"
    assert cols["id"].flag == "indexed"
    assert psql.scalar(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'user_it_ut_alice' AND tablename = 't_astropy'"
        " AND indexdef LIKE '%btree (id)%'"
    ) == "1"

    # set_ra_dec_columns: the flags TapPlus reads, and the pgSphere index
    tap.set_ra_dec_columns(table_name="user_it_ut_alice.t_astropy", ra_column_name="ra", dec_column_name="dec")
    cols = {c.name: c for c in tap.load_table("user_it_ut_alice.t_astropy").columns}
    assert (cols["ra"].flags, cols["dec"].flags, cols["id"].flags) == ("1", "2", "0")
    assert psql.scalar(
        "SELECT count(*) FROM pg_indexes WHERE schemaname = 'user_it_ut_alice' AND tablename = 't_astropy'"
        " AND indexdef LIKE '%gist (spoint(radians(ra), radians(%dec%)))%'"
    ) == "1"
    job = tap.launch_job(
        "SELECT id FROM user_it_ut_alice.t_astropy"
        " WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 10.5, -5.25, 0.1))"
    )
    assert [int(r["id"]) for r in job.get_results()] == [1]

    # rename_table: a column and the table
    tap.rename_table(table_name="user_it_ut_alice.t_astropy", new_table_name="t_two",
                     new_column_names_dict={"label": "tag"})
    assert user_tables(psql, "it_ut_alice") == "t_file,t_two"
    job = tap.launch_job("SELECT tag FROM user_it_ut_alice.t_two ORDER BY id")
    assert [str(r["tag"]) for r in job.get_results()] == ["x", "y"]

    tap.delete_user_table("t_two")
    tap.delete_user_table("user_it_ut_alice.t_file")
    assert user_tables(psql, "it_ut_alice") == ""
    assert pg_tables(psql, "user_it_ut_alice") == ""
    names = [t.name for t in tap.load_tables(only_names=True)]
    assert not [n for n in names if n.startswith("user_")]
    tap.logout()
    # every request went to the other instance than the one before
    assert all(x != y for x, y in zip(handler.used, handler.used[1:]))


def upload(srv, session, data, files=None, auth=None):
    return (session or requests).post(srv.ctx + "/Upload", data=data, files=files, auth=auth, timeout=60)


def test_others_cannot_see_or_query(cluster, pair, workdir):
    a, b = pair
    psql = cluster["psql"]
    add_user(cluster, "it_ut_owner", "pw-o")
    add_user(cluster, "it_ut_other", "pw-x")
    owner = login(a, "it_ut_owner", "pw-o")
    path, _ = votable_file(workdir, psql)
    with open(path, "rb") as f:
        r = upload(a, owner, {"TABLE_NAME": "secret", "FORMAT": "votable"}, files={"FILE": ("s.xml", f)})
    assert r.status_code == 200, r.text
    q = "SELECT count(*) FROM user_it_ut_owner.secret"
    for srv in (a, b):
        # the owner, on either instance
        r = sync_csv(srv, owner, q)
        assert r.status_code == 200 and csv_rows(r.text) == [("20",)], r.text
        r = owner.get(srv.base + "/tables", params={"tables": "user_it_ut_owner.secret"}, timeout=30)
        assert r.status_code == 200 and "user_it_ut_owner.secret" in r.text
        r = owner.get(srv.base + "/tables", timeout=30)
        assert "user_it_ut_owner.secret" in r.text
        # another user and anonymous: unknown table, 404
        other = login(srv, "it_ut_other", "pw-x")
        for s in (other, None):
            r = sync_csv(srv, s, q)
            assert r.status_code == 400, r.text
            assert "user_it_ut_owner" in tsit.error_message(r.content)
            r = (s or requests).get(srv.base + "/tables", params={"tables": "user_it_ut_owner.secret"}, timeout=30)
            assert r.status_code == 404, r.text
            r = (s or requests).get(srv.base + "/tables", timeout=30)
            assert r.status_code == 200 and "user_it_ut_owner" not in r.text
            r = (s or requests).get(srv.base + "/tables/user_it_ut_owner.secret", timeout=30)
            assert r.status_code == 404
        # nor change or delete it
        r = upload(srv, other, {"TABLE_NAME": "user_it_ut_owner.secret", "DELETE": "TRUE"})
        assert r.status_code == 404, r.text
        r = other.post(srv.ctx + "/TableTool", data={"ACTION": "radec", "TABLE_NAME": "user_it_ut_owner.secret",
                                                      "RA": "ra", "DEC": "dec"}, timeout=30)
        assert r.status_code == 404, r.text
    # anonymous uploads are refused
    r = upload(a, None, {"TABLE_NAME": "anon"}, files={"FILE": ("s.xml", open(path, "rb"))})
    assert r.status_code == 401, r.text
    # wrong credentials are not anonymous
    r = sync_csv(a, None, "SELECT 1 AS x FROM demo.fields")
    assert r.status_code == 200
    r = requests.post(a.base + "/sync", data={"LANG": "ADQL", "QUERY": q}, auth=("it_ut_owner", "wrong"), timeout=30)
    assert r.status_code == 401
    # HTTP Basic is the owner as well
    r = requests.post(a.base + "/sync", data={"LANG": "ADQL", "QUERY": q, "RESPONSEFORMAT": "csv"},
                      auth=("it_ut_owner", "pw-o"), timeout=30)
    assert r.status_code == 200 and csv_rows(r.text) == [("20",)], r.text
    # the user goes, and the schema with it
    rc, _, err = tsit_cli(cluster, "user", "del", "it_ut_owner")
    assert rc == 0, err
    assert psql.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'user_it_ut_owner'") == "0"


def tsit_cli(cluster, *args):
    from test_users import cli

    return cli(cluster, *args)


def wait_completed(srv, session, jid):
    deadline = time.time() + 60
    while time.time() < deadline:
        phase = session.get(srv.base + "/async/%s/phase" % jid, timeout=30).text.strip()
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            return phase
        time.sleep(0.1)
    return phase


def completed_job(srv, session, query):
    """The id of a job of session's that ran query and COMPLETED."""
    r = session.post(srv.base + "/async", data={"LANG": "ADQL", "PHASE": "RUN", "QUERY": query},
                     allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    jid = r.headers["Location"].rstrip("/").rsplit("/", 1)[1]
    assert wait_completed(srv, session, jid) == "COMPLETED"
    return jid


def test_upload_from_job_and_url(cluster, pair, workdir):
    a, b = pair
    psql = cluster["psql"]
    add_user(cluster, "it_ut_carol", "pw-c")
    s = login(a, "it_ut_carol", "pw-c")
    jid = completed_job(a, s, "SELECT TOP 7 source_id, ra, dec FROM demo.sources ORDER BY source_id")
    r = upload(b, s, {"TABLE_NAME": "from_job", "JOBID": jid, "TABLE_DESC": "kept"})
    assert r.status_code == 200, r.text
    r = sync_csv(a, s, "SELECT source_id, ra FROM user_it_ut_carol.from_job ORDER BY source_id")
    _, want = psql.rows("SELECT source_id, ra FROM demo.sources ORDER BY source_id LIMIT 7")
    assert [(int(i), float(x)) for i, x in csv_rows(r.text)] == [(int(i), float(x)) for i, x in want]
    r = upload(b, s, {"TABLE_NAME": "from_nojob", "JOBID": "0123456789abcdef0123456789abcdef"})
    assert r.status_code == 400, r.text

    d = os.path.join(workdir, "utab-www")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "t.csv"), "w") as f:
        f.write("id,mag\n1,10.5\n2,11.25\n3,\n")
    handler = lambda *x, **k: http.server.SimpleHTTPRequestHandler(*x, directory=d, **k)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = "http://127.0.0.1:%d/t.csv" % httpd.server_address[1]
        r = upload(a, s, {"TABLE_NAME": "from_url", "URL": url, "FORMAT": "csv"}, files={"FILE": ("", b"")})
        assert r.status_code == 200, r.text
        r = upload(a, s, {"TABLE_NAME": "from_404", "URL": url + ".missing", "FORMAT": "csv"})
        assert r.status_code == 400, r.text
    finally:
        httpd.shutdown()
    r = sync_csv(b, s, "SELECT id, mag FROM user_it_ut_carol.from_url ORDER BY id")
    assert csv_rows(r.text) == [("1", "10.5"), ("2", "11.25"), ("3", "")], r.text
    assert user_tables(psql, "it_ut_carol") == "from_job,from_url"

    # an async job reads the user tables of its owner (the user who created
    # it), and only those
    def job_owned_by(session):
        r = session.post(a.base + "/async", data={
            "LANG": "ADQL", "RESPONSEFORMAT": "csv",
            "QUERY": "SELECT id, mag FROM user_it_ut_carol.from_url ORDER BY id"}, allow_redirects=False, timeout=30)
        assert r.status_code == 303, r.text
        jid = r.headers["Location"].rstrip("/").rsplit("/", 1)[1]
        r = session.post(a.base + "/async/%s/phase" % jid, data={"PHASE": "RUN"}, allow_redirects=False, timeout=30)
        assert r.status_code == 303, r.text
        return jid, wait_completed(b, session, jid)

    jid, phase = job_owned_by(s)
    assert phase == "COMPLETED"
    r = s.get(b.base + "/async/%s/results/result" % jid, timeout=30)
    assert csv_rows(r.text) == [("1", "10.5"), ("2", "11.25"), ("3", "")], r.text
    add_user(cluster, "it_ut_erin", "pw-e")
    erin = login(a, "it_ut_erin", "pw-e")
    for session in (erin, requests.Session()):
        jid, phase = job_owned_by(session)
        assert phase == "ERROR"
        assert "user_it_ut_carol" in session.get(b.base + "/async/%s/error" % jid, timeout=30).text


def test_upload_from_job_goes_by_owner_id(cluster, pair, workdir):
    """JOBID= takes a job of the caller's by the owner's id: another user,
    or a user made again under a deleted user's name, has no such job."""
    a, b = pair
    psql = cluster["psql"]
    add_user(cluster, "it_ut_dave", "pw-d")
    add_user(cluster, "it_ut_frank", "pw-f")
    s = login(a, "it_ut_dave", "pw-d")
    jid = completed_job(a, s, "SELECT TOP 3 source_id FROM demo.sources ORDER BY source_id")
    frank = login(b, "it_ut_frank", "pw-f")
    r = upload(b, frank, {"TABLE_NAME": "not_mine", "JOBID": jid})
    assert r.status_code == 400 and "you have no job" in tsit.error_message(r.content), r.text
    rc, _, err = tsit_cli(cluster, "user", "del", "it_ut_dave")
    assert rc == 0, err
    add_user(cluster, "it_ut_dave", "pw-d2")
    again = login(b, "it_ut_dave", "pw-d2")
    r = upload(b, again, {"TABLE_NAME": "old_result", "JOBID": jid})
    assert r.status_code == 400 and "you have no job" in tsit.error_message(r.content), r.text
    assert user_tables(psql, "it_ut_dave") == "" and user_tables(psql, "it_ut_frank") == ""


def test_bad_input_keeps_nothing(cluster, pair, workdir):
    a, b = pair
    psql = cluster["psql"]
    add_user(cluster, "it_ut_dave", "pw-d")
    s = login(b, "it_ut_dave", "pw-d")
    path, _ = votable_file(workdir, psql)
    vot = open(path, "rb").read()

    def up(data, content=vot):
        return upload(a, s, data, files={"FILE": ("t.xml", content)})

    r = up({"TABLE_NAME": "t1", "FORMAT": "parquet"})
    assert r.status_code == 400 and "FORMAT" in tsit.error_message(r.content)
    for bad in ("1t", "a-b", "x" * 64, 'a"b', ""):
        r = up({"TABLE_NAME": bad, "FORMAT": "votable"})
        assert r.status_code == 400, (bad, r.text)
    r = up({"TABLE_NAME": "t1", "FORMAT": "votable"}, content=vot[: len(vot) // 2])
    assert r.status_code == 400, r.text
    r = up({"TABLE_NAME": "t1", "FORMAT": "csv"}, content=b"a,b\n1,2,3\n")
    assert r.status_code == 400, r.text
    r = upload(a, s, {"TABLE_NAME": "t1", "FORMAT": "votable"})
    assert r.status_code == 400 and "FILE" in tsit.error_message(r.content)
    # nothing of all that was kept, not even the schema
    assert user_tables(psql, "it_ut_dave") == ""
    assert psql.scalar("SELECT count(*) FROM pg_namespace WHERE nspname = 'user_it_ut_dave'") == "0"
    r = up({"TABLE_NAME": "t1", "FORMAT": "votable"})
    assert r.status_code == 200, r.text
    # a duplicate name is refused, the first table kept as it was
    r = up({"TABLE_NAME": "T1", "FORMAT": "csv"}, content=b"id\n1\n")
    assert r.status_code == 400 and "already" in tsit.error_message(r.content)
    assert psql.scalar("SELECT count(*) FROM user_it_ut_dave.t1") == "20"
    assert user_tables(psql, "it_ut_dave") == "t1"
    # TableTool: unknown actions, columns and tables
    r = s.post(a.ctx + "/TableTool", data={"ACTION": "drop", "TABLE_NAME": "t1"}, timeout=30)
    assert r.status_code == 400
    r = s.post(a.ctx + "/TableTool", data={"ACTION": "radec", "TABLE_NAME": "t1", "RA": "nope", "DEC": "dec"},
               timeout=30)
    assert r.status_code == 400 and "nope" in tsit.error_message(r.content)
    r = s.post(a.ctx + "/TableTool", data={"action": "rename", "table_name": "t1", "new_table_name": "9"},
               timeout=30)
    assert r.status_code == 400
    r = upload(a, s, {"TABLE_NAME": "nosuch", "DELETE": "TRUE"})
    assert r.status_code == 404
    r = requests.post(a.ctx + "/TableTool", data={"ACTION": "radec", "TABLE_NAME": "t1", "RA": "ra", "DEC": "dec"},
                      timeout=30)
    assert r.status_code == 401
    assert user_tables(psql, "it_ut_dave") == "t1"
