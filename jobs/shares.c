/* TAP+ sharing (jobs/shares.h): groups, their members, and shares of user
 * tables with groups, each change one transaction with its events. */
#include "jobs/shares.h"
#include "jobs/events.h"
#include "jobs/jobs_int.h"
#include "jobs/usertables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { SHARE_LIST_MAX = JOBS_GROUP_MEMBERS_MAX * (JOBS_USER_NAME_MAX + 1) };

static char *num_text(int64_t v, char buf[24])
{
  snprintf(buf, 24, "%lld", (long long)v);
  return buf;
}

static ts_err oom(ts_error *err)
{
  return ts_fail(err, TS_ENOMEM, 0, "out of memory");
}

/* COMMIT when rc is TS_OK, else ROLLBACK; rc, or COMMIT's failure. */
static ts_err end(PGconn *conn, ts_err rc, ts_error *err)
{
  if (!rc)
    return jobs__run(conn, "COMMIT", 0, NULL, NULL, err);
  jobs__rollback(conn);
  return rc;
}

static ts_err publish(PGconn *conn, jobs_event_kind kind, const char *id, ts_error *err)
{
  jobs_event ev = {.kind = kind};
  snprintf(ev.id, sizeof ev.id, "%s", id);
  return jobs_event_publish(conn, &ev, err);
}

static ts_err publish_num(PGconn *conn, jobs_event_kind kind, int64_t id, ts_error *err)
{
  char buf[24];
  return publish(conn, kind, num_text(id, buf), err);
}

/* ---- checks ---------------------------------------------------------------- */

/* UTF-8 without control characters other than those `allowed` names. */
static int text_ok(const char *s, const char *allowed)
{
  if (!ts_utf8_valid(s, strlen(s)))
    return 0;
  for (const unsigned char *p = (const unsigned char *)s; *p; p++)
    if ((*p < 0x20 && !strchr(allowed, *p)) || *p == 0x7f)
      return 0;
  return 1;
}

ts_err jobs_group_title_check(const char *title, ts_error *err)
{
  size_t n = strlen(title), blank = strspn(title, " ");
  if (n == 0 || blank == n)
    return ts_fail(err, TS_EINVAL, 0, "a group needs a title");
  if (n > JOBS_GROUP_TITLE_MAX || !text_ok(title, ""))
    return ts_fail(err, TS_EINVAL, 0,
                   "a group title has at most %d bytes of UTF-8 text without control characters",
                   JOBS_GROUP_TITLE_MAX);
  return TS_OK;
}

ts_err jobs_share_desc_check(const char *desc, ts_error *err)
{
  if (strlen(desc) > JOBS_SHARE_DESC_MAX || !text_ok(desc, "\t\r\n"))
    return ts_fail(err, TS_EINVAL, 0,
                   "a description has at most %d bytes of UTF-8 text without control "
                   "characters other than tabs and line ends",
                   JOBS_SHARE_DESC_MAX);
  return TS_OK;
}

/* ---- groups ---------------------------------------------------------------- */

/* The comma list of names s into (*out)[0..*n), strings in a. */
static ts_err split_names(ts_arena *a, const char *s, const char ***out, size_t *n, ts_error *err)
{
  size_t count = *s ? 1 : 0;
  for (const char *p = s; *p; p++)
    count += *p == ',';
  *n = 0;
  *out = ts_arena_calloc(a, count + 1, sizeof **out);
  if (!*out)
    return oom(err);
  for (const char *p = s; *p && *n < count;) {
    size_t len = strcspn(p, ",");
    (*out)[(*n)++] = ts_arena_strndup(a, p, len);
    if (!(*out)[*n - 1])
      return oom(err);
    p += len + (p[len] == ',');
  }
  return TS_OK;
}

ts_err jobs_groups_visible(PGconn *conn, ts_arena *a, const jobs_user *u, jobs_group **out,
                           size_t *n, ts_error *err)
{
  char id[24];
  const char *v[] = {num_text(u->id, id)};
  PGresult *r = NULL;
  ts_err rc;
  *out = NULL;
  *n = 0;
  /* user names hold no commas: one aggregate carries the members */
  rc = jobs__run(conn,
                 "SELECT g.id, o.name, g.name, coalesce(g.description, ''),"
                 "   coalesce((SELECT string_agg(m.name, ',' ORDER BY m.name)"
                 "     FROM tapserve.group_members gm JOIN tapserve.users m ON m.id = gm.user_id"
                 "     WHERE gm.group_id = g.id), '')"
                 " FROM tapserve.groups g JOIN tapserve.users o ON o.id = g.owner_id"
                 " WHERE g.owner_id = $1 OR EXISTS (SELECT 1 FROM tapserve.group_members x"
                 "   WHERE x.group_id = g.id AND x.user_id = $1)"
                 " ORDER BY g.owner_id <> $1, g.name, g.id",
                 1, v, &r, err);
  if (rc)
    return rc;
  *out = ts_arena_calloc(a, (size_t)PQntuples(r) + 1, sizeof **out);
  if (!*out)
    rc = oom(err);
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    jobs_group *g = &(*out)[i];
    g->id = jobs__i64(r, i, 0);
    g->owner = jobs__opt(a, r, i, 1);
    g->title = jobs__opt(a, r, i, 2);
    g->description = jobs__opt(a, r, i, 3);
    if (!g->owner || !g->title || !g->description)
      rc = oom(err);
    if (!rc)
      rc = split_names(a, PQgetvalue(r, i, 4), &g->members, &g->nmembers, err);
    *n += !rc;
  }
  PQclear(r);
  return rc;
}

ts_err jobs_group_create(PGconn *conn, const jobs_user *u, const char *title,
                         const char *description, int64_t *id, ts_error *err)
{
  char uid[24];
  const char *v[] = {num_text(u->id, uid), title, description ? description : ""};
  PGresult *r = NULL;
  ts_err rc = jobs_group_title_check(title, err);
  if (!rc)
    rc = jobs_share_desc_check(v[2], err);
  if (!rc)
    rc = jobs__run(conn, "BEGIN", 0, NULL, NULL, err);
  if (rc)
    return rc;
  rc = jobs__run(conn,
                 "INSERT INTO tapserve.groups (owner_id, name, description) VALUES ($1, $2, $3)"
                 " ON CONFLICT (owner_id, name) DO NOTHING RETURNING id",
                 3, v, &r, err);
  if (!rc && PQntuples(r) == 0)
    rc = ts_fail(err, TS_EINVAL, 0, "you have a group named \"%.128s\" already", title);
  if (!rc) {
    *id = jobs__i64(r, 0, 0);
    rc = publish_num(conn, JOBS_EV_SHARE_GROUPS_CREATED, *id, err);
  }
  PQclear(r);
  return end(conn, rc, err);
}

/* Inside a transaction: group `gid` locked for the rest of it, and
 * checked to be u's. */
static ts_err lock_own_group(PGconn *conn, const jobs_user *u, int64_t gid, ts_error *err)
{
  char g[24];
  const char *v[] = {num_text(gid, g)};
  PGresult *r = NULL;
  ts_err rc = jobs__run(conn, "SELECT owner_id FROM tapserve.groups WHERE id = $1 FOR UPDATE", 1, v,
                        &r, err);
  if (!rc && PQntuples(r) == 0)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "there is no group %lld", (long long)gid);
  else if (!rc && jobs__i64(r, 0, 0) != u->id)
    rc = ts_fail(err, TS_EFORBIDDEN, 0,
                 "group %lld is another user's: only its owner may change or delete it",
                 (long long)gid);
  PQclear(r);
  return rc;
}

/* The members as one comma list (names checked) into b. */
static ts_err member_list(const jobs_group_change *c, ts_buf *b, ts_error *err)
{
  if (c->nmembers > JOBS_GROUP_MEMBERS_MAX)
    return ts_fail(err, TS_EINVAL, 0, "a group has at most %d members", JOBS_GROUP_MEMBERS_MAX);
  for (size_t i = 0; i < c->nmembers; i++) {
    if (!jobs_user_name_ok(c->members[i]))
      return ts_fail(err, TS_EINVAL, 0, "\"%.80s\" is not a user name", c->members[i]);
    if ((i && ts_buf_puts(b, ",")) || ts_buf_puts(b, c->members[i]))
      return oom(err);
  }
  if (ts_buf_puts(b, ""))
    return oom(err);
  return TS_OK;
}

/* Publishes `kind` for each name in column 0 of r. */
static ts_err publish_names(PGconn *conn, jobs_event_kind kind, const PGresult *r, ts_error *err)
{
  ts_err rc = TS_OK;
  for (int i = 0; !rc && i < PQntuples(r); i++)
    rc = publish(conn, kind, PQgetvalue(r, i, 0), err);
  return rc;
}

/* The members of group v[0] become the names of the comma list v[1]. */
static ts_err set_members(PGconn *conn, const char *const v[2], ts_error *err)
{
  PGresult *r = NULL;
  ts_err rc = jobs__run(conn,
                        "SELECT n FROM unnest(string_to_array($1, ',')) n WHERE NOT EXISTS"
                        " (SELECT 1 FROM tapserve.users u WHERE u.name = n) LIMIT 1",
                        1, v + 1, &r, err);
  if (!rc && PQntuples(r) > 0)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "there is no user named \"%.80s\"", PQgetvalue(r, 0, 0));
  PQclear(r);
  r = NULL;
  if (!rc)
    rc = jobs__run(conn,
                   "DELETE FROM tapserve.group_members m USING tapserve.users u"
                   " WHERE m.group_id = $1 AND u.id = m.user_id"
                   " AND NOT u.name = ANY (string_to_array($2, ',')) RETURNING u.name",
                   2, v, &r, err);
  if (!rc)
    rc = publish_names(conn, JOBS_EV_SHARE_USERS_REMOVED, r, err);
  PQclear(r);
  r = NULL;
  if (!rc)
    rc =
        jobs__run(conn,
                  "WITH added AS (INSERT INTO tapserve.group_members (group_id, user_id)"
                  "   SELECT $1, id FROM tapserve.users WHERE name = ANY (string_to_array($2, ','))"
                  "   ON CONFLICT DO NOTHING RETURNING user_id)"
                  " SELECT u.name FROM added JOIN tapserve.users u ON u.id = added.user_id",
                  2, v, &r, err);
  if (!rc)
    rc = publish_names(conn, JOBS_EV_SHARE_USERS_CREATED, r, err);
  PQclear(r);
  return rc;
}

ts_err jobs_group_update(PGconn *conn, const jobs_user *u, int64_t id, const jobs_group_change *c,
                         ts_error *err)
{
  char gid[24], uid[24];
  ts_buf names;
  PGresult *r = NULL;
  ts_err rc = TS_OK;
  ts_buf_init(&names, SHARE_LIST_MAX);
  if (c->title)
    rc = jobs_group_title_check(c->title, err);
  if (!rc && c->description)
    rc = jobs_share_desc_check(c->description, err);
  if (!rc && c->set_members)
    rc = member_list(c, &names, err);
  if (!rc)
    rc = jobs__run(conn, "BEGIN", 0, NULL, NULL, err);
  if (rc) {
    ts_buf_free(&names);
    return rc;
  }
  rc = lock_own_group(conn, u, id, err);
  if (!rc && c->title) {
    const char *v[] = {num_text(u->id, uid), c->title, num_text(id, gid)};
    rc = jobs__run(conn,
                   "SELECT 1 FROM tapserve.groups WHERE owner_id = $1 AND name = $2 AND id <> $3",
                   3, v, &r, err);
    if (!rc && PQntuples(r) > 0)
      rc = ts_fail(err, TS_EINVAL, 0, "you have another group named \"%.128s\"", c->title);
    PQclear(r);
  }
  if (!rc) {
    const char *v[] = {num_text(id, gid), c->title, c->description};
    rc = jobs__run(conn,
                   "UPDATE tapserve.groups SET name = coalesce($2, name),"
                   " description = coalesce($3, description) WHERE id = $1",
                   3, v, NULL, err);
  }
  if (!rc && c->set_members) {
    const char *v[] = {num_text(id, gid), names.data};
    rc = set_members(conn, v, err);
  }
  if (!rc)
    rc = publish_num(conn, JOBS_EV_SHARE_GROUPS_UPDATED, id, err);
  ts_buf_free(&names);
  return end(conn, rc, err);
}

ts_err jobs_group_delete(PGconn *conn, const jobs_user *u, int64_t id, ts_error *err)
{
  char gid[24];
  const char *v[] = {num_text(id, gid)};
  ts_err rc = jobs__run(conn, "BEGIN", 0, NULL, NULL, err);
  if (rc)
    return rc;
  rc = lock_own_group(conn, u, id, err);
  /* members and shares go by cascade */
  if (!rc)
    rc = jobs__run(conn, "DELETE FROM tapserve.groups WHERE id = $1", 1, v, NULL, err);
  if (!rc)
    rc = publish_num(conn, JOBS_EV_SHARE_GROUPS_REMOVED, id, err);
  return end(conn, rc, err);
}

/* ---- shares ------------------------------------------------------------------ */

ts_err jobs_shares_own(PGconn *conn, ts_arena *a, const jobs_user *u, jobs_share **out, size_t *n,
                       ts_error *err)
{
  char uid[24];
  const char *v[] = {num_text(u->id, uid)};
  PGresult *r = NULL;
  ts_err rc;
  *out = NULL;
  *n = 0;
  rc = jobs__run(conn,
                 "SELECT h.id, s.schema_name || '.' || h.table_name, h.description, h.group_id"
                 " FROM tapserve.shares h JOIN tapserve.user_schemas s ON s.user_id = h.owner_id"
                 " WHERE h.owner_id = $1 ORDER BY h.table_name, h.group_id",
                 1, v, &r, err);
  if (rc)
    return rc;
  *out = ts_arena_calloc(a, (size_t)PQntuples(r) + 1, sizeof **out);
  if (!*out)
    rc = oom(err);
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    jobs_share *s = &(*out)[i];
    s->id = jobs__i64(r, i, 0);
    s->table = jobs__opt(a, r, i, 1);
    s->description = jobs__opt(a, r, i, 2);
    s->group_id = jobs__i64(r, i, 3);
    if (!s->table || !s->description)
      rc = oom(err);
    *n += !rc;
  }
  PQclear(r);
  return rc;
}

/* The name of u's table `given` into t; TS_EFORBIDDEN when it names a
 * table of another user's, TS_ENOTFOUND when nobody has it. */
static ts_err own_table(PGconn *conn, const jobs_user *u, const char *given, char t[64],
                        ts_error *err)
{
  const char *dot = strchr(given, '.');
  char schema[64], table[64];
  PGresult *r = NULL;
  ts_err rc = jobs_utab_own_name(u, given, t, err);
  if (rc != TS_ENOTFOUND || !dot)
    return rc;
  /* another schema: another user's table, or nothing */
  snprintf(schema, sizeof schema, "%.*s", (int)(dot - given < 63 ? dot - given : 63), given);
  rc = jobs_utab_ident("table", dot + 1, table, err);
  if (!rc) {
    const char *v[] = {schema, table};
    rc =
        jobs__run(conn,
                  "SELECT 1 FROM tapserve.user_tables t JOIN tapserve.user_schemas s"
                  " ON s.user_id = t.user_id WHERE s.schema_name = lower($1) AND t.table_name = $2",
                  2, v, &r, err);
  }
  if (!rc && PQntuples(r) > 0)
    rc = ts_fail(err, TS_EFORBIDDEN, 0,
                 "table %.140s is another user's: only its owner may share it or stop sharing it",
                 given);
  else if (!rc)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "you have no table %.140s", given);
  PQclear(r);
  return rc;
}

/* Inside a transaction: group g (locked against deletion until the end)
 * is one u owns or belongs to. */
static ts_err share_group_ok(PGconn *conn, const jobs_user *u, int64_t gid, ts_error *err)
{
  char g[24], uid[24];
  const char *v[] = {num_text(gid, g), num_text(u->id, uid)};
  PGresult *r = NULL;
  ts_err rc = jobs__run(conn,
                        "SELECT g.owner_id = $2 OR EXISTS (SELECT 1 FROM tapserve.group_members m"
                        "   WHERE m.group_id = g.id AND m.user_id = $2)"
                        " FROM tapserve.groups g WHERE g.id = $1 FOR KEY SHARE",
                        2, v, &r, err);
  if (!rc && PQntuples(r) == 0)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "there is no group %lld", (long long)gid);
  else if (!rc && PQgetvalue(r, 0, 0)[0] != 't')
    rc = ts_fail(err, TS_EFORBIDDEN, 0,
                 "you neither own nor belong to group %lld: share with your own groups",
                 (long long)gid);
  PQclear(r);
  return rc;
}

ts_err jobs_share_put(PGconn *conn, const jobs_user *u, const char *table, const char *description,
                      const int64_t *groups, size_t ngroups, ts_error *err)
{
  char t[64], uid[24], gid[24];
  const char *desc = description ? description : "";
  PGresult *r = NULL;
  ts_err rc;
  if (ngroups == 0)
    return ts_fail(err, TS_EINVAL, 0, "name a group to share the table with");
  rc = jobs_share_desc_check(desc, err);
  if (!rc)
    rc = jobs__run(conn, "BEGIN", 0, NULL, NULL, err);
  if (rc)
    return rc;
  rc = own_table(conn, u, table, t, err);
  if (!rc) {
    const char *v[] = {num_text(u->id, uid), t};
    rc = jobs__run(conn,
                   "SELECT 1 FROM tapserve.user_tables WHERE user_id = $1 AND table_name = $2"
                   " FOR KEY SHARE",
                   2, v, &r, err);
    if (!rc && PQntuples(r) == 0)
      rc = ts_fail(err, TS_ENOTFOUND, 0, "you have no table %.140s", table);
    PQclear(r);
    r = NULL;
  }
  for (size_t i = 0; !rc && i < ngroups; i++) {
    const char *v[] = {num_text(u->id, uid), t, num_text(groups[i], gid), desc};
    rc = share_group_ok(conn, u, groups[i], err);
    if (!rc)
      rc = jobs__run(conn,
                     "INSERT INTO tapserve.shares (owner_id, table_name, group_id, description)"
                     " VALUES ($1, $2, $3, $4) ON CONFLICT (owner_id, table_name, group_id)"
                     " DO UPDATE SET description = EXCLUDED.description"
                     " RETURNING id, xmax = 0",
                     4, v, &r, err);
    if (!rc)
      rc = publish_num(conn,
                       PQgetvalue(r, 0, 1)[0] == 't' ? JOBS_EV_SHARE_ITEMS_CREATED
                                                     : JOBS_EV_SHARE_ITEMS_UPDATED,
                       jobs__i64(r, 0, 0), err);
    PQclear(r);
    r = NULL;
  }
  return end(conn, rc, err);
}

ts_err jobs_share_remove(PGconn *conn, const jobs_user *u, int64_t id, ts_error *err)
{
  char sid[24];
  const char *v[] = {num_text(id, sid)};
  PGresult *r = NULL;
  ts_err rc = jobs__run(conn, "BEGIN", 0, NULL, NULL, err);
  if (rc)
    return rc;
  rc = jobs__run(conn, "SELECT owner_id FROM tapserve.shares WHERE id = $1 FOR UPDATE", 1, v, &r,
                 err);
  if (!rc && PQntuples(r) == 0)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "there is no shared item %lld", (long long)id);
  else if (!rc && jobs__i64(r, 0, 0) != u->id)
    rc = ts_fail(err, TS_EFORBIDDEN, 0,
                 "shared item %lld is another user's: only its owner may stop sharing it",
                 (long long)id);
  PQclear(r);
  if (!rc)
    rc = jobs__run(conn, "DELETE FROM tapserve.shares WHERE id = $1", 1, v, NULL, err);
  if (!rc)
    rc = publish_num(conn, JOBS_EV_SHARE_ITEMS_REMOVED, id, err);
  return end(conn, rc, err);
}

ts_err jobs_share_user_exists(PGconn *conn, const char *name, int *yes, ts_error *err)
{
  PGresult *r = NULL;
  ts_err rc = jobs__run(conn, "SELECT 1 FROM tapserve.users WHERE name = $1", 1, &name, &r, err);
  *yes = !rc && PQntuples(r) > 0;
  PQclear(r);
  return rc;
}
