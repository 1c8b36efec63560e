"""TAP+ sharing across two tapserve instances on one database, with
astroquery's TapPlus as the client: a user uploads a table, makes a group,
adds another user and shares the table; the member reads it (on the other
instance) in /tables, in a sync query and in an async job, and not before
nor after the share or the membership ends; load_groups and
load_shared_items give what was set; a member cannot change the owner's
group or share the owner's table (403), anonymous callers get 401, bad
input 4xx with nothing changed; shares go with their table, group and
user."""

import csv
import io

import pytest
import requests

import tsit
from test_user_tables import login
from test_users import Alternating, add_user, cli, ctx_server

OVERRIDES = {"users.session_idle": "600"}


@pytest.fixture(scope="module")
def pair(cluster, workdir):
    a = ctx_server(workdir, "share-a", cluster["dsn"], OVERRIDES)
    b = ctx_server(workdir, "share-b", cluster["dsn"], OVERRIDES)
    yield a, b
    a.stop()
    b.stop()


def tapplus(servers):
    from astroquery.utils.tap.conn.tapconn import TapConn
    from astroquery.utils.tap.core import TapPlus

    handler = Alternating(servers)
    conn = TapConn(
        ishttps=False, host="127.0.0.1", server_context="/ctx", tap_context="tap", upload_context="Upload",
        table_edit_context="TableTool", port=servers[0].port, sslport=servers[0].port, connhandler=handler,
    )
    return TapPlus(url=servers[0].base, connhandler=conn), handler


def count_rows(srv, session, table):
    """The row count of `table` by a sync query of session's, or None when
    the query is refused (an unknown table: 400)."""
    r = session.post(srv.base + "/sync", data={"LANG": "ADQL", "RESPONSEFORMAT": "csv",
                                               "QUERY": "SELECT count(*) AS n FROM " + table}, timeout=60)
    if r.status_code == 400:
        assert table.split(".")[0] in tsit.error_message(r.content), r.text
        return None
    assert r.status_code == 200, r.text
    return int(list(csv.reader(io.StringIO(r.text)))[1][0])


def in_tables(srv, session, table):
    r = session.get(srv.base + "/tables", timeout=30)
    assert r.status_code == 200
    return ("<name>%s</name>" % table) in r.text


def async_phase(srv, session, query):
    """The final phase of an async job of session's running query, waited
    for with UWS WAIT (no polling), and the job's URL."""
    r = session.post(srv.base + "/async", data={"LANG": "ADQL", "PHASE": "RUN", "QUERY": query},
                     allow_redirects=False, timeout=30)
    assert r.status_code == 303, r.text
    url = r.headers["Location"]
    phase = None
    for _ in range(20):
        phase = session.get(url + "/phase", timeout=30).text.strip()
        if phase in ("COMPLETED", "ERROR", "ABORTED"):
            break
        session.get(url, params={"WAIT": "30", "PHASE": phase}, timeout=60)
    return phase, url


def hidden(sessions, servers):
    """The table is unknown to the sessions (by port) on every server: a
    sync query, /tables, and an async job of the first server's."""
    for srv in servers:
        assert count_rows(srv, sessions[srv.port], TABLE) is None
        assert not in_tables(srv, sessions[srv.port], TABLE)
    phase, _ = async_phase(servers[0], sessions[servers[0].port], "SELECT count(*) FROM " + TABLE)
    assert phase == "ERROR"


def share(srv, session, **data):
    return session.post(srv.base + "/share", data=data, timeout=30)


TABLE = "user_it_sh_alice.t_shared"


def test_astroquery_sharing(cluster, pair):
    from astropy.table import Table

    a, b = pair
    psql = cluster["psql"]
    add_user(cluster, "it_sh_alice", "pw-alice")
    add_user(cluster, "it_sh_bob", "pw-bob")
    alice, handler = tapplus([a, b])
    alice.login(user="it_sh_alice", password="pw-alice")
    bob_s = {srv.port: login(srv, "it_sh_bob", "pw-bob") for srv in (a, b)}

    t = Table(rows=[(1, 10.5, -5.25), (2, 11.0, -6.0), (3, 12.0, 1.0)], names=("id", "ra", "dec"))
    alice.upload_table(upload_resource=t, table_name="t_shared", table_description="three rows")
    alice.set_ra_dec_columns(table_name=TABLE, ra_column_name="ra", dec_column_name="dec")

    alice.share_group_create(group_name="friends", description="people I trust")
    assert alice.is_valid_user("it_sh_bob") is True
    assert alice.is_valid_user("it_sh_nobody") is False
    alice.share_group_add_user(group_name="friends", user_id="it_sh_bob")
    g = alice.load_group("friends")
    assert (g.title, g.description, g.owner) == ("friends", "people I trust", "it_sh_alice")
    assert [(u.id, u.name) for u in g.users] == [("it_sh_bob", "it_sh_bob")]
    assert psql.scalar(
        "SELECT string_agg(u.name, ',') FROM tapserve.group_members m JOIN tapserve.users u ON u.id = m.user_id"
        " WHERE m.group_id = %s" % g.id
    ) == "it_sh_bob"

    # a member of the group, before the share: nothing, on either instance
    hidden(bob_s, (a, b))

    alice.share_table(group_name="friends", table_name=TABLE, description="for bob")
    items = alice.load_shared_items()
    assert [(i.title, i.description, i.type) for i in items] == [(TABLE, "for bob", "0")]
    assert [(s.id, s.type, s.mode) for s in items[0].shared_to_items] == [(g.id, "Group", "Read")]

    # at once, on both instances: a sync query, /tables (with the flags), an async job
    for srv in (b, a):
        s = bob_s[srv.port]
        assert count_rows(srv, s, TABLE) == 3
        assert in_tables(srv, s, TABLE)
        r = s.get(srv.base + "/tables", params={"tables": TABLE}, timeout=30)
        assert r.status_code == 200 and "esatapplus:flags" in r.text, r.text
        phase, url = async_phase(srv, s, "SELECT id FROM %s WHERE id > 1 ORDER BY id" % TABLE)
        assert phase == "COMPLETED"
        r = s.get(url + "/results/result", params={"RESPONSEFORMAT": "csv"}, timeout=30)
        assert list(csv.reader(io.StringIO(r.text)))[1:] == [["2"], ["3"]]
    # astroquery as the member: the group and the table's metadata
    bob, _ = tapplus([b, a])
    bob.login(user="it_sh_bob", password="pw-bob")
    assert [(x.title, x.owner) for x in bob.load_groups()] == [("friends", "it_sh_alice")]
    cols = {c.name: c for c in bob.load_table(TABLE).columns}
    assert (cols["ra"].flags, cols["dec"].flags) == ("1", "2")
    assert bob.load_shared_items() == []  # shares of bob's own tables: none

    # the member may neither change nor delete the group, nor share the table
    with pytest.raises(Exception):
        bob.share_group_delete(group_name="friends")
    for srv in (a, b):
        s = bob_s[srv.port]
        r = share(srv, s, action="CreateOrUpdateGroup", group_id=g.id, title="mine", description="", users_list="")
        assert r.status_code == 403, r.text
        assert "only its owner" in tsit.error_message(r.content)
        assert share(srv, s, action="RemoveGroup", group_id=g.id).status_code == 403
        r = share(srv, s, action="CreateOrUpdateItem", resource_type="0", title=TABLE, description="",
                  items_list="%s|Group|Read" % g.id)
        assert r.status_code == 403, r.text
        r = share(srv, s, action="RemoveItem", resource_type="0", resource_id=items[0].id)
        assert r.status_code == 403, r.text
    assert [(x.title, len(x.users)) for x in alice.load_groups()] == [("friends", 1)]
    assert len(alice.load_shared_items()) == 1

    # stopping the share takes the table away at once, on both instances
    alice.share_table_stop(group_name="friends", table_name=TABLE)
    assert alice.load_shared_items() == []
    hidden(bob_s, (b, a))

    # shared again, then bob leaves the group: the same
    alice.share_table(group_name="friends", table_name=TABLE, description="again")
    assert count_rows(a, bob_s[a.port], TABLE) == 3
    alice.share_group_delete_user(group_name="friends", user_id="it_sh_bob")
    assert alice.load_group("friends").users == []
    for srv in (a, b):
        assert count_rows(srv, bob_s[srv.port], TABLE) is None
    assert bob.load_groups() == []

    # the group goes, and its shares with it
    alice.share_group_add_user(group_name="friends", user_id="it_sh_bob")
    assert count_rows(b, bob_s[b.port], TABLE) == 3
    alice.share_group_delete(group_name="friends")
    assert alice.load_groups() == [] and alice.load_shared_items() == []
    assert count_rows(a, bob_s[a.port], TABLE) is None
    assert psql.scalar(
        "SELECT count(*) FROM tapserve.shares h JOIN tapserve.users u ON u.id = h.owner_id"
        " WHERE u.name = 'it_sh_alice'"
    ) == "0"
    alice.logout()
    bob.logout()
    assert all(x != y for x, y in zip(handler.used, handler.used[1:]))


def test_anonymous_401(pair):
    a, _ = pair
    for method, path, params in (("GET", "/share", {"action": "GetGroups"}),
                                 ("POST", "/share", {"action": "CreateOrUpdateGroup", "title": "x"}),
                                 ("GET", "/users", {"USER": "it_sh_alice"})):
        r = requests.request(method, a.base + path, params=params if method == "GET" else None,
                             data=params if method == "POST" else None, timeout=30)
        assert r.status_code == 401, r.text
        assert r.headers["WWW-Authenticate"].startswith("Basic")
        r = requests.request(method, a.base + path, params=params, auth=("it_sh_nobody", "wrong"), timeout=30)
        assert r.status_code == 401


def counts(psql, owner):
    """(groups, members of them, shares) of user owner's."""
    return psql.scalar(
        "SELECT (SELECT count(*) FROM tapserve.groups g JOIN tapserve.users u ON u.id = g.owner_id"
        "   WHERE u.name = '{0}') || ',' ||"
        " (SELECT count(*) FROM tapserve.group_members m JOIN tapserve.groups g ON g.id = m.group_id"
        "   JOIN tapserve.users u ON u.id = g.owner_id WHERE u.name = '{0}') || ',' ||"
        " (SELECT count(*) FROM tapserve.shares h JOIN tapserve.users u ON u.id = h.owner_id"
        "   WHERE u.name = '{0}')".format(owner)
    )


def test_bad_input(cluster, pair):
    a, b = pair
    psql = cluster["psql"]
    add_user(cluster, "it_sh_carol", "pw-c")
    add_user(cluster, "it_sh_dave", "pw-d")
    add_user(cluster, "it_sh_erin", "pw-e")
    c = login(a, "it_sh_carol", "pw-c")
    d = login(b, "it_sh_dave", "pw-d")
    r = c.post(a.ctx + "/Upload", data={"TABLE_NAME": "mine", "FORMAT": "csv"},
               files={"FILE": ("m.csv", b"x\n1\n")}, timeout=30)
    assert r.status_code == 200, r.text
    r = d.post(b.ctx + "/Upload", data={"TABLE_NAME": "his", "FORMAT": "csv"},
               files={"FILE": ("h.csv", b"x\n1\n")}, timeout=30)
    assert r.status_code == 200, r.text
    r = share(a, c, action="CreateOrUpdateGroup", title="team", description="")
    assert r.status_code == 200, r.text
    gid = psql.scalar("SELECT g.id FROM tapserve.groups g JOIN tapserve.users u ON u.id = g.owner_id"
                      " WHERE u.name = 'it_sh_carol'")
    r = share(a, c, action="CreateOrUpdateGroup", group_id=gid, title="team", description="",
              users_list="it_sh_erin")
    assert r.status_code == 200, r.text
    r = share(b, d, action="CreateOrUpdateGroup", title="other", description="")
    dgid = psql.scalar("SELECT g.id FROM tapserve.groups g JOIN tapserve.users u ON u.id = g.owner_id"
                       " WHERE u.name = 'it_sh_dave'")
    before = counts(psql, "it_sh_carol")
    assert before == "1,1,0"

    cases = [
        (400, dict(), "needs an action"),
        (400, dict(action="Frobnicate"), "unknown share action"),
        (400, dict(action="CreateOrUpdateGroup", description="x"), "needs a title"),
        (400, dict(action="CreateOrUpdateGroup", title="team", description=""), "already"),
        (400, dict(action="CreateOrUpdateGroup", title="   ", description=""), "needs a title"),
        (400, dict(action="CreateOrUpdateGroup", title="t\x01", description=""), "control"),
        (400, dict(action="CreateOrUpdateGroup", title="x" * 200, description=""), "at most"),
        (400, dict(action="CreateOrUpdateGroup", group_id="abc", title="team"), "group_id"),
        (404, dict(action="CreateOrUpdateGroup", group_id="999999999", title="team"), "no group"),
        # an unknown member changes nothing, not even the title
        (404, dict(action="CreateOrUpdateGroup", group_id=gid, title="renamed",
                   users_list="it_sh_dave,it_sh_nobody"), "no user named"),
        (400, dict(action="CreateOrUpdateGroup", group_id=gid, title="team", users_list="a b"),
         "not a user name"),
        (400, dict(action="RemoveGroup"), "group_id"),
        (404, dict(action="RemoveGroup", group_id="999999999"), "no group"),
        (403, dict(action="RemoveGroup", group_id=dgid), "only its owner"),
        (400, dict(action="CreateOrUpdateItem", resource_type="0", title="mine", items_list=""), "items_list"),
        (400, dict(action="CreateOrUpdateItem", resource_type="0", title="mine", items_list="%s" % gid),
         "items_list"),
        (400, dict(action="CreateOrUpdateItem", resource_type="0", title="mine",
                   items_list="%s|User|Read" % gid), "Group"),
        (400, dict(action="CreateOrUpdateItem", resource_type="0", title="mine",
                   items_list="%s|Group|Write" % gid), "Read"),
        (400, dict(action="CreateOrUpdateItem", resource_type="1", title="mine",
                   items_list="%s|Group|Read" % gid), "resource_type"),
        (400, dict(action="CreateOrUpdateItem", resource_type="0", items_list="%s|Group|Read" % gid), "title"),
        (404, dict(action="CreateOrUpdateItem", resource_type="0", title="nothere",
                   items_list="%s|Group|Read" % gid), "no table"),
        (404, dict(action="CreateOrUpdateItem", resource_type="0", title="user_it_sh_nobody.x",
                   items_list="%s|Group|Read" % gid), "no table"),
        (403, dict(action="CreateOrUpdateItem", resource_type="0", title="user_it_sh_dave.his",
                   items_list="%s|Group|Read" % gid), "another user's"),
        (404, dict(action="CreateOrUpdateItem", resource_type="0", title="mine",
                   items_list="999999999|Group|Read"), "no group"),
        # all or nothing: a good group, then one carol is not in
        (403, dict(action="CreateOrUpdateItem", resource_type="0", title="mine",
                   items_list="%s|Group|Read,%s|Group|Read" % (gid, dgid)), "neither own nor belong"),
        (400, dict(action="RemoveItem", resource_id="x"), "resource_id"),
        (404, dict(action="RemoveItem", resource_id="999999999"), "no shared item"),
    ]
    for status, data, text in cases:
        r = share(a, c, **data)
        assert r.status_code == status, (data, r.text)
        assert text in tsit.error_message(r.content), (data, r.text)
        assert counts(psql, "it_sh_carol") == before, data
    assert psql.scalar("SELECT name FROM tapserve.groups WHERE id = %s" % gid) == "team"
    # changes are POSTs
    r = c.get(a.base + "/share", params={"action": "RemoveGroup", "group_id": gid}, timeout=30)
    assert r.status_code == 405 and r.headers["Allow"] == "POST"
    r = c.get(a.base + "/users", timeout=30)
    assert r.status_code == 400
    # a user name that cannot be one is simply nobody
    r = c.get(a.base + "/users", params={"USER": "no such\nuser"}, timeout=30)
    assert r.status_code == 200 and r.text == ""
    r = c.get(a.base + "/users", params={"USER": "it_sh_dave"}, timeout=30)
    assert r.status_code == 200 and r.text == "it_sh_dave:it_sh_dave\n"

    # what goes by cascade: the table (with its share), the member's user
    r = share(a, c, action="CreateOrUpdateItem", resource_type="0", title="user_it_sh_carol.mine",
              description="d", items_list="%s|Group|Read" % gid)
    assert r.status_code == 200, r.text
    assert counts(psql, "it_sh_carol") == "1,1,1"
    e = login(b, "it_sh_erin", "pw-e")
    assert count_rows(b, e, "user_it_sh_carol.mine") == 1
    # renaming the table keeps the share
    r = c.post(a.ctx + "/TableTool", data={"action": "rename", "table_name": "mine", "new_table_name": "ours"},
               timeout=30)
    assert r.status_code == 200, r.text
    assert count_rows(b, e, "user_it_sh_carol.ours") == 1
    r = c.get(a.base + "/share", params={"action": "GetSharedItems"}, timeout=30)
    assert "<title>user_it_sh_carol.ours</title>" in r.text
    r = c.post(a.ctx + "/Upload", data={"TABLE_NAME": "ours", "DELETE": "TRUE"}, timeout=30)
    assert r.status_code == 200, r.text
    assert counts(psql, "it_sh_carol") == "1,1,0"
    rc, _, err = cli(cluster, "user", "del", "it_sh_erin")
    assert rc == 0, err
    assert counts(psql, "it_sh_carol") == "1,0,0"
    rc, _, err = cli(cluster, "user", "del", "it_sh_carol")
    assert rc == 0, err
    assert psql.scalar("SELECT count(*) FROM tapserve.groups WHERE id = %s" % gid) == "0"

