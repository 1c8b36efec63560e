"""astroquery's TapPlus end to end, as an ESA archive user works: two
instances behind HAProxy terminating TLS on loopback (the certificate
trusted through SSL_CERT_FILE), users made with `tapserve user add`.

Ada logs in, uploads an astropy table and a VOTable file as user tables,
finds them in load_tables(only_names=True) and their columns in load_table,
joins them with demo.sources (sync and async; PostgreSQL computes the same
join through psql for the reference), runs jobs; Bob, logged in beside her,
cannot read her tables until she makes a group, adds him and shares one
with it (share_group_create, share_group_add_user, share_table), and then
reads that one only; each sees only their own jobs in
search_async_jobs; remove_jobs, delete_user_table and logout take effect on
both instances.

Every request goes through HAProxy, and each lands on the other instance
than the one before: HAProxy's request log (ordered by its request counter)
says which instance it passed each request to, each instance's own log says
it answered exactly those, and the test asserts that they alternate."""

import os
import pathlib

import pytest
import requests

from test_tls import cli
from test_user_tables import pg_tables, user_tables  # tests/integration, on the path tscluster sets

ADA, ADA_PW = "e2e_ada", "pw-e2e-ada"
BOB, BOB_PW = "e2e_bob", "pw-e2e-bob"
SCHEMA = "user_" + ADA

# The reference sources: twelve of the demo catalogue.
SOURCES = "SELECT source_id FROM demo.sources ORDER BY source_id LIMIT 12 OFFSET 500"
# The same text is ADQL for tapserve and SQL for psql.
JOIN_FILE = (
    "SELECT u.id, u.mag, s.ra, s.dec, s.name FROM %s.t_file AS u"
    " JOIN demo.sources AS s ON s.source_id = u.id ORDER BY u.id" % SCHEMA
)
JOIN_MEM = (
    "SELECT u.label, s.source_id, s.ra FROM %s.t_mem AS u"
    " JOIN demo.sources AS s ON s.source_id = u.id ORDER BY s.source_id" % SCHEMA
)


def rows(table, kinds):
    """An astropy result table as tuples of Python values."""
    return [tuple(k(r[c]) for k, c in zip(kinds, table.colnames)) for r in table]


def text(v):
    return v.decode() if isinstance(v, bytes) else str(v)


def get_status(tap, subcontext):
    """Status of a GET through TapPlus's own connection (its cookie, its
    HTTPS), as astroquery's modules make them."""
    resp = tap._TapPlus__getconnhandler().execute_tapget(subcontext)
    resp.read()
    return resp.status


def tapplus(c):
    """TapPlus on the cluster's https:// URL with the upload and table-edit
    contexts astroquery's Gaia module gives it."""
    from astroquery.utils.tap.core import TapPlus

    return TapPlus(url=c.base, upload_context="Upload", table_edit_context="TableTool")


def rows_of(psql, sql, kinds):
    """The rows PostgreSQL computes for sql, as tuples of Python values."""
    return [tuple(k(v) for k, v in zip(kinds, r)) for r in psql.rows(sql)[1]]


def test_tapplus_through_haproxy(make_cluster, db, workdir, monkeypatch):
    from astropy.table import Table

    c = make_cluster(n=2, tls=True)
    psql = db["psql"]
    for name, pw in ((ADA, ADA_PW), (BOB, BOB_PW)):
        cli(db, "user", "add", name, stdin=pw + "\n")
    monkeypatch.setenv("SSL_CERT_FILE", c.cafile)
    ids = [int(i) for (i,) in psql.rows(SOURCES)[1]]

    ada = tapplus(c)
    ada.login(user=ADA, password=ADA_PW)

    # An astropy table and a VOTable file become user tables.
    mem = Table(rows=[(ids[0], "first"), (ids[3], "fourth"), (ids[7], "eighth")], names=("id", "label"))
    ada.upload_table(upload_resource=mem, table_name="t_mem", table_description="three sources")
    path = os.path.join(workdir, "e2e-sources.xml")
    Table(rows=[(i, 10.0 + k / 4) for k, i in enumerate(ids)], names=("id", "mag")).write(
        path, format="votable", overwrite=True
    )
    ada.upload_table(upload_resource=path, table_name="t_file", format="votable")
    assert user_tables(psql, ADA) == "t_file,t_mem"
    assert pg_tables(psql, SCHEMA) == "t_file,t_mem"

    names = [t.name for t in ada.load_tables(only_names=True)]
    assert SCHEMA + ".t_mem" in names and SCHEMA + ".t_file" in names and "demo.sources" in names, names
    t = ada.load_table(SCHEMA + ".t_mem")
    assert [col.name for col in t.columns] == ["id", "label"]
    assert t.description == "three sources"
    assert [col.name for col in ada.load_table(SCHEMA + ".t_file").columns] == ["id", "mag"]

    # The joins with demo.sources, sync and async, as PostgreSQL computes them.
    kinds = (int, float, float, float, text)
    want = rows_of(psql, JOIN_FILE, kinds)
    assert len(want) == 12
    assert rows(ada.launch_job(JOIN_FILE).get_results(), kinds) == want
    join_job = ada.launch_job_async(JOIN_MEM)
    kinds = (text, int, float)
    want = rows_of(psql, JOIN_MEM, kinds)
    assert [w[0] for w in want] == ["first", "fourth", "eighth"]
    assert rows(join_job.get_results(), kinds) == want
    count_job = ada.launch_job_async("SELECT COUNT(*) AS n FROM %s.t_file" % SCHEMA)
    assert rows(count_job.get_results(), (int,)) == [(12,)]
    ada_jobs = {join_job.jobid, count_job.jobid}

    # Bob, logged in too, neither sees nor reads Ada's tables.
    bob = tapplus(c)
    bob.login(user=BOB, password=BOB_PW)
    names = [t.name for t in bob.load_tables(only_names=True)]
    assert "demo.sources" in names and not [n for n in names if n.startswith(SCHEMA)], names
    with pytest.raises(requests.exceptions.HTTPError, match=SCHEMA):
        bob.launch_job("SELECT COUNT(*) FROM %s.t_mem" % SCHEMA)
    failed = bob.launch_job_async("SELECT COUNT(*) FROM %s.t_file" % SCHEMA, background=True)
    assert failed.wait_for_job_end()[1] == "ERROR"
    assert SCHEMA in failed.get_error()

    # Sharing: Ada makes a group, adds Bob to it and shares t_mem with it;
    # Bob then reads t_mem through either instance (consecutive requests
    # alternate), and still not t_file.
    ada.share_group_create(group_name="e2e_friends", description="Ada and Bob")
    ada.share_group_add_user(group_name="e2e_friends", user_id=BOB)
    ada.share_table(group_name="e2e_friends", table_name=SCHEMA + ".t_mem", description="for Bob")
    assert [i.title for i in ada.load_shared_items()] == [SCHEMA + ".t_mem"]
    names = [t.name for t in bob.load_tables(only_names=True)]
    assert SCHEMA + ".t_mem" in names and SCHEMA + ".t_file" not in names, names
    for _ in range(2):
        assert rows(bob.launch_job(JOIN_MEM).get_results(), kinds) == want
    with pytest.raises(requests.exceptions.HTTPError, match=SCHEMA):
        bob.launch_job("SELECT COUNT(*) FROM %s.t_file" % SCHEMA)

    bob_job = bob.launch_job_async("SELECT TOP 2 source_id FROM demo.sources ORDER BY source_id")
    assert rows(bob_job.get_results(), (int,)) == rows_of(
        psql, "SELECT source_id FROM demo.sources ORDER BY source_id LIMIT 2", (int,))
    bob_jobs = {failed.jobid, bob_job.jobid}

    # Each sees their own jobs, and only those.
    assert {j.jobid for j in ada.search_async_jobs()} == ada_jobs
    assert {j.jobid for j in bob.search_async_jobs()} == bob_jobs

    # remove_jobs: gone on both instances (consecutive requests, which
    # alternate), and from the database.
    store = pathlib.Path(c.overrides["jobs.result_store"].split(":", 1)[1])
    assert {f.name.split("-")[0] for f in store.iterdir()} >= ada_jobs
    ada.remove_jobs(sorted(ada_jobs))
    for _ in range(2):
        assert ada.search_async_jobs() == []
    for jid in sorted(ada_jobs):
        assert [get_status(ada, "async/" + jid) for _ in range(2)] == [404, 404]
    assert psql.scalar("SELECT count(*) FROM tapserve.jobs WHERE id IN ('%s')" % "','".join(ada_jobs)) == "0"
    assert not {f.name.split("-")[0] for f in store.iterdir()} & ada_jobs
    # Bob's job is not Ada's to remove, and stays.
    assert {j.jobid for j in bob.search_async_jobs()} == bob_jobs

    # delete_user_table: the tables, their rows and their metadata go.
    ada.delete_user_table(SCHEMA + ".t_mem")
    ada.delete_user_table(SCHEMA + ".t_file")
    assert user_tables(psql, ADA) == "" and pg_tables(psql, SCHEMA) == ""
    names = [t.name for t in ada.load_tables(only_names=True)]
    assert "demo.sources" in names and not [n for n in names if n.startswith(SCHEMA)], names

    # logout: the cookie TapPlus still sends is refused on both instances.
    ada.logout()
    assert [get_status(ada, "async") for _ in range(2)] == [401, 401]
    assert psql.scalar("SELECT count(*) FROM tapserve.sessions s JOIN tapserve.users u ON u.id = s.user_id"
                       " WHERE u.name = '%s'" % ADA) == "0"
    bob.remove_jobs(sorted(bob_jobs))
    bob.logout()

    # Which instance answered each request, from HAProxy's log and the
    # instances' own logs: always the other one than the request before.
    trail = c.trail()
    servers = [srv for srv, *_ in trail]
    print("%d requests through HAProxy: %s" % (len(trail), "".join(servers)))
    assert set(servers) == {"a", "b"}
    turns = [i for i in range(1, len(servers)) if servers[i] == servers[i - 1]]
    assert not turns, "requests answered by the same instance as the one before: %s" % [trail[i] for i in turns]
    # The trail is TapPlus's session: every kind of request it made is in it.
    made = {(m, u.split("?")[0]) for _, m, u, _ in trail}
    for kind in [("POST", "/ctx/login"), ("POST", "/ctx/Upload"), ("GET", "/ctx/tap/tables"),
                 ("POST", "/ctx/tap/sync"), ("POST", "/ctx/tap/async"), ("GET", "/ctx/tap/jobs/async"),
                 ("POST", "/ctx/tap/deletejobs"), ("POST", "/ctx/tap/share"), ("POST", "/ctx/logout")]:
        assert kind in made, (kind, sorted(made))
    # The two requests after the logout were refused by both instances.
    assert {srv for srv, m, u, st in trail if (m, u, st) == ("GET", "/ctx/tap/async", 401)} == {"a", "b"}

    cli(db, "user", "del", ADA)
    cli(db, "user", "del", BOB)

