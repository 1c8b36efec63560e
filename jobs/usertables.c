/* Persistent user tables (jobs/usertables.h): their names, their schema,
 * their rows in tapserve.user_tables and the changes TableTool makes. */
#include "jobs/usertables.h"
#include "jobs/jobs_int.h"
#include "jobs/quota.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { UTAB_SQL_MAX = 4096 };

/* ---- names ----------------------------------------------------------------- */

ts_err jobs_utab_schema_name(const char *user, char out[64], ts_error *err)
{
  size_t n = strlen(user);
  if (!jobs_user_name_ok(user) || n > JOBS_UTAB_USER_MAX)
    return ts_fail(err, TS_EINVAL, 0,
                   "user name \"%.80s\" cannot name a schema of user tables (at most %d "
                   "characters)",
                   user, JOBS_UTAB_USER_MAX);
  snprintf(out, 64, JOBS_UTAB_PREFIX "%s", user);
  for (char *p = out + strlen(JOBS_UTAB_PREFIX); *p; p++)
    *p = isalnum((unsigned char)*p) ? (char)tolower((unsigned char)*p) : '_';
  return TS_OK;
}

ts_err jobs_utab_ident(const char *what, const char *name, char out[64], ts_error *err)
{
  size_t n = strlen(name);
  int ok = n > 0 && n <= JOBS_UTAB_NAME_MAX && isalpha((unsigned char)name[0]);
  for (size_t i = 0; ok && i < n; i++)
    ok = isalnum((unsigned char)name[i]) || name[i] == '_';
  if (!ok)
    return ts_fail(err, TS_EINVAL, 0,
                   "%s name \"%.80s\" must be an ADQL regular identifier (a letter, then letters, "
                   "digits or _) of at most %d characters",
                   what, name, JOBS_UTAB_NAME_MAX);
  for (size_t i = 0; i <= n; i++)
    out[i] = (char)tolower((unsigned char)name[i]);
  return TS_OK;
}

ts_err jobs_utab_own_name(const jobs_user *u, const char *given, char out[64], ts_error *err)
{
  const char *dot = strchr(given, '.');
  char schema[64];
  if (dot) {
    ts_err rc = jobs_utab_schema_name(u->name, schema, err);
    if (rc)
      return rc;
    if (strlen(schema) != (size_t)(dot - given) || strncasecmp(given, schema, strlen(schema)))
      return ts_fail(err, TS_ENOTFOUND, 0, "you have no table %.140s", given);
    given = dot + 1;
  }
  return jobs_utab_ident("table", given, out, err);
}

/* ---- the transaction of one change ---------------------------------------- */

static char *id_text(const jobs_user *u, char buf[24])
{
  snprintf(buf, 24, "%lld", (long long)u->id);
  return buf;
}

/* BEGIN, and the user's lock for the rest of the transaction. */
static ts_err begin_locked(PGconn *conn, const jobs_user *u, ts_error *err)
{
  char id[24];
  const char *v[] = {id_text(u, id)};
  ts_err rc = jobs__run(conn, "BEGIN", 0, NULL, NULL, err);
  if (!rc)
    rc = jobs__run(conn,
                   "SELECT pg_advisory_xact_lock(hashtextextended('tapserve.user_tables:' || $1,"
                   " 0))",
                   1, v, NULL, err);
  return rc;
}

/* COMMIT after success, else ROLLBACK; rc either way. */
static ts_err end(PGconn *conn, ts_err rc, ts_error *err)
{
  if (!rc)
    return jobs__run(conn, "COMMIT", 0, NULL, NULL, err);
  jobs__rollback(conn);
  return rc;
}

static ts_err oom(ts_error *err)
{
  return ts_fail(err, TS_ENOMEM, 0, "out of memory");
}

/* The user's schema into out; made (and granted to query_role) when
 * `create` and there is none yet. TS_ENOTFOUND without one. */
static ts_err user_schema(PGconn *conn, const jobs_user *u, int create, const char *query_role,
                          char out[64], ts_error *err)
{
  char id[24];
  const char *v[] = {id_text(u, id), out};
  PGresult *r = NULL;
  ts_buf b;
  ts_err rc = jobs__run(conn, "SELECT schema_name FROM tapserve.user_schemas WHERE user_id = $1", 1,
                        v, &r, err);
  if (!rc && PQntuples(r) == 1) {
    snprintf(out, 64, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return TS_OK;
  }
  PQclear(r);
  if (rc)
    return rc;
  if (!create)
    return ts_fail(err, TS_ENOTFOUND, 0, "you have no tables");
  rc = jobs_utab_schema_name(u->name, out, err);
  if (rc)
    return rc;
  r = NULL;
  rc = jobs__run(conn,
                 "INSERT INTO tapserve.user_schemas (user_id, schema_name) VALUES ($1, $2)"
                 " ON CONFLICT (schema_name) DO NOTHING RETURNING 1",
                 2, v, &r, err);
  if (!rc && PQntuples(r) != 1)
    rc = ts_fail(err, TS_EINVAL, 0,
                 "the schema name %s of user %s is another user's: this user cannot keep tables",
                 out, u->name);
  PQclear(r);
  ts_buf_init(&b, 512);
  if (!rc && (ts_buf_puts(&b, "CREATE SCHEMA ") || jobs__put_ident(&b, out)))
    rc = oom(err);
  if (!rc)
    rc = jobs__exec_buf(conn, &b, err);
  /* The query role reads it: the checker is the gate, as for uploads. */
  if (!rc && query_role && *query_role &&
      (ts_buf_puts(&b, "GRANT USAGE ON SCHEMA ") || jobs__put_ident(&b, out) ||
       ts_buf_puts(&b, " TO ") || jobs__put_ident(&b, query_role)))
    rc = oom(err);
  if (!rc && b.len)
    rc = jobs__exec_buf(conn, &b, err);
  ts_buf_free(&b);
  return rc;
}

/* 1 when the user has table `t`. */
static ts_err has_table(PGconn *conn, const jobs_user *u, const char *t, int *yes, ts_error *err)
{
  char id[24];
  const char *v[] = {id_text(u, id), t};
  PGresult *r = NULL;
  ts_err rc =
      jobs__run(conn, "SELECT 1 FROM tapserve.user_tables WHERE user_id = $1 AND table_name = $2",
                2, v, &r, err);
  *yes = !rc && PQntuples(r) == 1;
  PQclear(r);
  return rc;
}

/* Records the table's size as PostgreSQL counts it (table and indexes);
 * the user's database usage follows (a trigger, jobs/quota.h). *bytes
 * (may be NULL) gets it. */
static ts_err refresh_size(PGconn *conn, const jobs_user *u, const char *schema, const char *t,
                           int64_t *bytes, ts_error *err)
{
  char id[24];
  const char *v[] = {id_text(u, id), t, schema};
  PGresult *r = NULL;
  ts_err rc = jobs__run(conn,
                        "UPDATE tapserve.user_tables SET bytes ="
                        " pg_total_relation_size(format('%I.%I', $3::text, $2::text)::regclass)"
                        " WHERE user_id = $1 AND table_name = $2 RETURNING bytes",
                        3, v, &r, err);
  if (!rc && bytes)
    *bytes = PQntuples(r) == 1 ? jobs__i64(r, 0, 0) : 0;
  PQclear(r);
  return rc;
}

/* ---- a new table ----------------------------------------------------------- */

typedef struct utab_load {
  jobs_user user;
  char *description;
  int64_t quota_db;
} utab_load;

static void utab_load_free(void *p)
{
  utab_load *ul = p;
  if (ul)
    free(ul->description);
  free(ul);
}

static ts_err record_utab(void *ud, PGconn *conn, const jobs__load_info *li, ts_error *err)
{
  utab_load *ul = ud;
  char id[24], nrows[24];
  snprintf(nrows, sizeof nrows, "%llu", (unsigned long long)li->rows);
  /* What the loader indexed is the position: the Ra/Dec pair flagged,
   * or the point column. */
  const char *v[] = {id_text(&ul->user, id), li->table,      ul->description,
                     li->columns_json,       nrows,          li->index_ra,
                     li->index_dec,          li->index_point};
  ts_err rc = jobs__run(
      conn,
      "INSERT INTO tapserve.user_tables (user_id, table_name, description, columns, rows, bytes)"
      " SELECT $1, $2, $3, coalesce(jsonb_agg(c || jsonb_build_object("
      "     'flags', CASE WHEN c->>'name' = $6 THEN 1 WHEN c->>'name' = $7 THEN 2 ELSE 0 END,"
      "     'indexed', coalesce(c->>'name' IN ($6, $7, $8), false)) ORDER BY i), '[]'),"
      "   $5::int8, 0"
      " FROM jsonb_array_elements($4::jsonb) WITH ORDINALITY AS t(c, i)",
      8, v, NULL, err);
  int64_t bytes = 0;
  if (!rc)
    rc = refresh_size(conn, &ul->user, li->db_schema, li->table, &bytes, err);
  /* over the quota: the load rolls back, table, row and usage */
  return rc ? rc : jobs_quota_check_db(conn, ul->user.id, bytes, ul->quota_db, err);
}

static ts_err begin_utab(const jobs_load_target *t, PGconn *conn, const jobs_upload_col *cols,
                         size_t ncols, uint64_t max_bytes, jobs_upload_load **out, ts_error *err)
{
  const jobs_utab_new *n = t->ud;
  utab_load *ul = calloc(1, sizeof *ul);
  char schema[64], table[64];
  int taken = 0;
  ts_err rc;

  *out = NULL;
  if (!ul || !(ul->description = strdup(n->description ? n->description : ""))) {
    utab_load_free(ul);
    return oom(err);
  }
  ul->user = *n->user;
  ul->quota_db = n->quota_db;
  rc = jobs_utab_ident("table", n->table, table, err);
  if (!rc)
    rc = begin_locked(conn, n->user, err);
  if (!rc)
    rc = user_schema(conn, n->user, 1, n->query_role, schema, err);
  if (!rc)
    rc = has_table(conn, n->user, table, &taken, err);
  if (!rc && taken)
    rc = ts_fail(err, TS_EINVAL, 0,
                 "you have a table %s.%s already: delete it first, or choose "
                 "another name",
                 schema, table);
  if (rc) {
    utab_load_free(ul);
    return end(conn, rc, err);
  }
  /* the load joins this transaction and rolls it back if it fails */
  return jobs__load_begin(conn, schema, table, n->table, cols, ncols, max_bytes, record_utab, ul,
                          utab_load_free, out, err);
}

jobs_load_target jobs_utab_target(const jobs_utab_new *n)
{
  jobs_load_target t = {n->table, begin_utab, n};
  return t;
}

/* ---- reading ------------------------------------------------------------------- */

/* The rows of jobs_utab_readable: a table's columns 0-6, then one of its
 * columns (from 7 on, as jobs__column_row reads them; 17 flags, 18
 * indexed), the table's columns in order. */
enum { RD_COL = 7, RD_FLAGS = 17, RD_INDEXED = 18 };

static int same_table(const PGresult *r, int i, int j)
{
  return !strcmp(PQgetvalue(r, i, 2), PQgetvalue(r, j, 2)) &&
         !strcmp(PQgetvalue(r, i, 3), PQgetvalue(r, j, 3));
}

/* Table t from rows [from, to) of r. */
static ts_err read_table(ts_arena *a, const PGresult *r, int from, int to, jobs_utab *t,
                         ts_error *err)
{
  t->owner = jobs__opt(a, r, from, 1);
  t->schema = jobs__opt(a, r, from, 2);
  t->table = jobs__opt(a, r, from, 3);
  t->description = jobs__opt(a, r, from, 4);
  t->rows = jobs__i64(r, from, 5);
  t->bytes = jobs__i64(r, from, 6);
  t->ncols = (size_t)(to - from);
  t->cols = ts_arena_calloc(a, t->ncols + 1, sizeof *t->cols);
  if (!t->owner || !t->schema || !t->table || !t->cols)
    return oom(err);
  for (int i = from; i < to; i++) {
    jobs_utab_column *c = &t->cols[i - from];
    if (jobs__column_row(a, r, i, RD_COL, &c->c))
      return ts_fail(err, TS_EINTERNAL, 0, "column %d of %s has an unsupported type", i - from + 1,
                     t->table);
    c->flags = (int)jobs__i64(r, i, RD_FLAGS);
    c->indexed = PQgetvalue(r, i, RD_INDEXED)[0] == 't';
  }
  return TS_OK;
}

ts_err jobs_utab_readable(PGconn *conn, ts_arena *a, const jobs_user *u, jobs_utab **out, size_t *n,
                          ts_error *err)
{
  char id[24];
  const char *v[1];
  PGresult *r = NULL;
  size_t ntables = 0;
  ts_err rc;
  *out = NULL;
  *n = 0;
  if (!u || u->id == 0)
    return TS_OK;
  v[0] = id_text(u, id);
  /* The user's own tables and those shared (tapserve.shares) with a group
   * the user owns or is a member of; everything else asks here. One
   * statement: a row per column. */
  rc = jobs__run(conn,
                 "SELECT t.user_id, u.name, s.schema_name, t.table_name, t.description, t.rows,"
                 "   t.bytes, c->>'name', (c->>'oid')::int8, (c->>'typmod')::int,"
                 "   c->>'datatype', c->>'xtype', c->>'unit', c->>'ucd', c->>'utype',"
                 "   c->>'description', c->>'arraysize', coalesce((c->>'flags')::int, 0),"
                 "   coalesce((c->>'indexed')::bool, false)"
                 " FROM tapserve.user_tables t"
                 " JOIN tapserve.user_schemas s ON s.user_id = t.user_id"
                 " JOIN tapserve.users u ON u.id = t.user_id,"
                 "   jsonb_array_elements(t.columns) WITH ORDINALITY AS x(c, i)"
                 " WHERE t.user_id = $1 OR EXISTS (SELECT 1 FROM tapserve.shares h"
                 "   JOIN tapserve.groups g ON g.id = h.group_id"
                 "   WHERE h.owner_id = t.user_id AND h.table_name = t.table_name"
                 "   AND (g.owner_id = $1 OR EXISTS (SELECT 1 FROM tapserve.group_members m"
                 "     WHERE m.group_id = g.id AND m.user_id = $1)))"
                 " ORDER BY s.schema_name, t.table_name, x.i",
                 1, v, &r, err);
  if (rc)
    return rc;
  for (int i = 0; i < PQntuples(r); i++)
    ntables += i == 0 || !same_table(r, i - 1, i);
  *out = ts_arena_calloc(a, ntables + 1, sizeof **out);
  if (!*out) {
    PQclear(r);
    return oom(err);
  }
  for (int from = 0, to; from < PQntuples(r) && !rc; from = to) {
    for (to = from + 1; to < PQntuples(r) && same_table(r, from, to); to++)
      ;
    rc = read_table(a, r, from, to, &(*out)[*n], err);
    *n += 1;
  }
  PQclear(r);
  return rc;
}

/* ---- changes -------------------------------------------------------------------- */

/* Begins a change of table `given` of u: the transaction, its lock, the
 * schema, the table's name (checked to exist) in t. */
static ts_err begin_change(PGconn *conn, const jobs_user *u, const char *given, char schema[64],
                           char t[64], ts_error *err)
{
  int yes = 0;
  ts_err rc = jobs_utab_own_name(u, given, t, err);
  if (!rc)
    rc = begin_locked(conn, u, err);
  if (!rc)
    rc = user_schema(conn, u, 0, NULL, schema, err);
  if (!rc)
    rc = has_table(conn, u, t, &yes, err);
  if (!rc && !yes)
    rc = TS_ENOTFOUND;
  /* another's schema, no schema, no such table: all the same to the caller */
  if (rc == TS_ENOTFOUND)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "you have no table %.140s", given);
  return rc ? end(conn, rc, err) : TS_OK;
}

ts_err jobs_utab_delete(PGconn *conn, const jobs_user *u, const char *table, ts_error *err)
{
  char schema[64], t[64], id[24];
  const char *v[] = {id_text(u, id), t};
  ts_buf b;
  ts_err rc = begin_change(conn, u, table, schema, t, err);
  if (rc)
    return rc;
  ts_buf_init(&b, 512);
  rc = jobs__run(conn, "DELETE FROM tapserve.user_tables WHERE user_id = $1 AND table_name = $2", 2,
                 v, NULL, err);
  if (!rc && (ts_buf_puts(&b, "DROP TABLE IF EXISTS ") || jobs__put_qualified(&b, schema, t)))
    rc = oom(err);
  if (!rc)
    rc = jobs__exec_buf(conn, &b, err);
  ts_buf_free(&b);
  return end(conn, rc, err);
}

/* Sets keys of column `col`'s JSON record (an object of the changes). */
static ts_err set_column(PGconn *conn, const jobs_user *u, const char *t, const char *col,
                         const char *changes_sql, int n, const char *const *extra, ts_error *err)
{
  char id[24], sql[1024];
  const char *v[7] = {id_text(u, id), t, col};
  PGresult *r = NULL;
  ts_err rc;
  for (int i = 0; i < n && i < 4; i++)
    v[3 + i] = extra[i];
  snprintf(sql, sizeof sql,
           "UPDATE tapserve.user_tables SET columns = (SELECT jsonb_agg(CASE WHEN c->>'name' = $3"
           "   THEN c || %s ELSE c END ORDER BY i)"
           "   FROM jsonb_array_elements(columns) WITH ORDINALITY AS x(c, i))"
           " WHERE user_id = $1 AND table_name = $2"
           "   AND columns @> jsonb_build_array(jsonb_build_object('name', $3::text))"
           " RETURNING 1",
           changes_sql);
  rc = jobs__run(conn, sql, 3 + n, v, &r, err);
  if (!rc && PQntuples(r) != 1)
    rc = ts_fail(err, TS_EINVAL, 0, "table %s has no column %.80s", t, col);
  PQclear(r);
  return rc;
}

/* The table's indexes that changes look after, a row each: access method,
 * the column of a single-column btree index (else NULL), the
 * schema-qualified name (format('%I.%I')), and for a GiST expression
 * index whether it is the position of ra and dec (its columns, in the
 * order the expression names them, are ra then dec). Only changes make
 * expression indexes on user tables, all of them radec's. */
static ts_err table_indexes(PGconn *conn, const char *schema, const char *t, const char *ra,
                            const char *dec, PGresult **r, ts_error *err)
{
  const char *v[] = {schema, t, ra, dec};
  return jobs__run(conn,
                   "SELECT am.amname, a.attname, format('%I.%I', $1::text, ic.relname),"
                   "   i.indexprs IS NOT NULL AND array(SELECT v.attname FROM regexp_matches("
                   "     i.indexprs::text, ':varattno (\\d+)', 'g') WITH ORDINALITY AS m(n, o)"
                   "     JOIN pg_attribute v ON v.attrelid = i.indrelid AND v.attnum = m.n[1]::int"
                   "     ORDER BY m.o)::text[] = ARRAY[$3, $4]"
                   " FROM pg_index i"
                   " JOIN pg_class ic ON ic.oid = i.indexrelid"
                   " JOIN pg_am am ON am.oid = ic.relam"
                   " LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]"
                   "   AND i.indnatts = 1 AND i.indexprs IS NULL"
                   " WHERE i.indrelid = format('%I.%I', $1::text, $2::text)::regclass"
                   "   AND ((am.amname = 'btree' AND a.attname IS NOT NULL)"
                   "     OR (am.amname = 'gist' AND i.indexprs IS NOT NULL))",
                   4, v, r, err);
}

/* A btree index on `col` alone when `on`, else none; ix from
 * table_indexes. */
static ts_err set_btree(PGconn *conn, ts_buf *b, const char *schema, const char *t, const char *col,
                        int on, const PGresult *ix, ts_error *err)
{
  const char *have = NULL;
  for (int i = 0; i < PQntuples(ix) && !have; i++)
    if (!strcmp(PQgetvalue(ix, i, 0), "btree") && !strcmp(PQgetvalue(ix, i, 1), col))
      have = PQgetvalue(ix, i, 2);
  if (!have == !on)
    return TS_OK;
  if (on ? ts_buf_puts(b, "CREATE INDEX ON ") || jobs__put_qualified(b, schema, t) ||
               ts_buf_puts(b, " (") || jobs__put_ident(b, col) || ts_buf_puts(b, ")")
         : ts_buf_printf(b, "DROP INDEX %s", have)) /* format('%I') quoted */
    return oom(err);
  return jobs__exec_buf(conn, b, err);
}

/* The position index on ra and dec, replacing the table's GiST expression
 * indexes; kept as it is when it is on these columns already. ix from
 * table_indexes for ra and dec. */
static ts_err radec_index(PGconn *conn, ts_buf *b, const char *schema, const char *t,
                          const char *ra, const char *dec, const PGresult *ix, ts_error *err)
{
  const char *v[] = {schema, t, ra, dec};
  PGresult *r = NULL;
  ts_err rc;
  if (!strcmp(ra, dec))
    return ts_fail(err, TS_EINVAL, 0, "Ra and Dec must be two columns, not %.60s twice", ra);
  for (int i = 0; i < PQntuples(ix); i++)
    if (PQgetvalue(ix, i, 3)[0] == 't')
      return TS_OK;
  /* numbers only: radians() of anything else fails, and late */
  rc = jobs__run(conn,
                 "SELECT a.attname FROM pg_attribute a"
                 " WHERE a.attrelid = format('%I.%I', $1::text, $2::text)::regclass"
                 "   AND a.attname IN ($3, $4) AND a.attndims = 0"
                 "   AND a.atttypid IN ('float8'::regtype, 'float4'::regtype, 'int2'::regtype,"
                 "     'int4'::regtype, 'int8'::regtype, 'numeric'::regtype)",
                 4, v, &r, err);
  if (!rc && PQntuples(r) != 2)
    rc = ts_fail(err, TS_EINVAL, 0, "Ra (%.60s) and Dec (%.60s) must be numeric columns of %s", ra,
                 dec, t);
  PQclear(r);
  for (int i = 0; !rc && i < PQntuples(ix); i++) {
    if (strcmp(PQgetvalue(ix, i, 0), "gist"))
      continue;
    if (ts_buf_printf(b, "DROP INDEX %s", PQgetvalue(ix, i, 2)))
      rc = oom(err);
    if (!rc)
      rc = jobs__exec_buf(conn, b, err);
  }
  if (!rc && jobs__put_radec_index(b, schema, t, ra, dec))
    rc = oom(err);
  return rc ? rc : jobs__exec_buf(conn, b, err);
}

/* Ra and Dec to ra and dec, cleared from every other column. */
static ts_err radec_flags(PGconn *conn, const jobs_user *u, const char *t, const char *ra,
                          const char *dec, ts_error *err)
{
  char id[24];
  const char *v[] = {id_text(u, id), t, ra, dec};
  return jobs__run(
      conn,
      "UPDATE tapserve.user_tables SET columns = (SELECT jsonb_agg(CASE"
      "   WHEN c->>'name' = $3 THEN c || '{\"flags\": 1, \"indexed\": true}'"
      "   WHEN c->>'name' = $4 THEN c || '{\"flags\": 2, \"indexed\": true}'"
      "   WHEN (c->>'flags')::int IN (1, 2) THEN c || '{\"flags\": 0}'"
      "   ELSE c END ORDER BY i) FROM jsonb_array_elements(columns) WITH ORDINALITY AS x(c, i))"
      " WHERE user_id = $1 AND table_name = $2",
      4, v, NULL, err);
}

ts_err jobs_utab_set_radec(PGconn *conn, const jobs_user *u, const char *table, const char *ra,
                           const char *dec, ts_error *err)
{
  char schema[64], t[64];
  PGresult *ix = NULL;
  ts_buf b;
  ts_err rc = begin_change(conn, u, table, schema, t, err);
  if (rc)
    return rc;
  ts_buf_init(&b, 1024);
  rc = table_indexes(conn, schema, t, ra, dec, &ix, err);
  if (!rc)
    rc = radec_index(conn, &b, schema, t, ra, dec, ix, err);
  if (!rc)
    rc = radec_flags(conn, u, t, ra, dec, err);
  if (!rc)
    rc = refresh_size(conn, u, schema, t, NULL, err);
  PQclear(ix);
  ts_buf_free(&b);
  return end(conn, rc, err);
}

/* The edits checked alone (no column twice, at most one Ra and one Dec,
 * both or neither), their Ra and Dec columns found. */
static ts_err check_edits(const jobs_utab_edit *e, size_t n, const char **ra, const char **dec,
                          ts_error *err)
{
  *ra = *dec = NULL;
  for (size_t i = 0; i < n; i++) {
    for (size_t j = 0; j < i; j++)
      if (!strcmp(e[i].column, e[j].column))
        return ts_fail(err, TS_EINVAL, 0, "column %.60s is edited twice", e[i].column);
    if (e[i].flags & JOBS_UTAB_FLAG_RA) {
      if (*ra)
        return ts_fail(err, TS_EINVAL, 0, "two Ra columns: %.60s and %.60s", *ra, e[i].column);
      *ra = e[i].column;
    }
    if (e[i].flags & JOBS_UTAB_FLAG_DEC) {
      if (*dec)
        return ts_fail(err, TS_EINVAL, 0, "two Dec columns: %.60s and %.60s", *dec, e[i].column);
      *dec = e[i].column;
    }
  }
  if (!*ra != !*dec)
    return ts_fail(err, TS_EINVAL, 0, "Ra and Dec go together: name both columns");
  return TS_OK;
}

/* The edits as a JSON array for jsonb_to_recordset. */
static ts_err edits_json(const jobs_utab_edit *e, size_t n, ts_buf *b)
{
  ts_err rc = ts_buf_puts(b, "[");
  for (size_t i = 0; i < n && !rc; i++) {
    const char *ucd = e[i].ucd && *e[i].ucd ? e[i].ucd : NULL;
    const char *utype = e[i].utype && *e[i].utype ? e[i].utype : NULL;
    rc = ts_buf_puts(b, i ? ", {\"name\": " : "{\"name\": ");
    if (!rc)
      rc = jobs_json_str(b, e[i].column);
    if (!rc)
      rc = ts_buf_puts(b, ", \"ucd\": ");
    if (!rc)
      rc = ucd ? jobs_json_str(b, ucd) : ts_buf_puts(b, "null");
    if (!rc)
      rc = ts_buf_puts(b, ", \"utype\": ");
    if (!rc)
      rc = utype ? jobs_json_str(b, utype) : ts_buf_puts(b, "null");
    if (!rc)
      rc = ts_buf_printf(b, ", \"flags\": %d, \"indexed\": %s}", e[i].flags,
                         e[i].indexed ? "true" : "false");
  }
  return rc ? rc : ts_buf_puts(b, "]");
}

/* The columns' new records in one UPDATE: the edits (JSON), and when they
 * name a Ra and a Dec, those indexed and the flags cleared from the other
 * columns. TS_EINVAL naming the columns the table does not have. */
static ts_err edit_records(PGconn *conn, const jobs_user *u, const char *t, const char *json,
                           const char *ra, const char *dec, ts_error *err)
{
  char id[24];
  const char *v[] = {id_text(u, id), t, json, ra, dec};
  PGresult *r = NULL;
  ts_err rc = jobs__run(
      conn,
      "UPDATE tapserve.user_tables SET columns = (SELECT jsonb_agg(CASE"
      "     WHEN e.name IS NOT NULL THEN c || jsonb_build_object('ucd', e.ucd, 'utype', e.utype,"
      "       'flags', e.flags, 'indexed', e.indexed OR coalesce(e.name IN ($4, $5), false))"
      "     WHEN $4::text IS NOT NULL AND (c->>'flags')::int IN (1, 2)"
      "       THEN c || '{\"flags\": 0}'"
      "     ELSE c END ORDER BY x.i)"
      "   FROM jsonb_array_elements(columns) WITH ORDINALITY AS x(c, i)"
      "   LEFT JOIN jsonb_to_recordset($3::jsonb)"
      "     AS e(name text, ucd text, utype text, flags int, indexed bool)"
      "     ON e.name = x.c->>'name')"
      " WHERE user_id = $1 AND table_name = $2"
      " RETURNING (SELECT string_agg(e.name, ', ') FROM jsonb_to_recordset($3::jsonb)"
      "   AS e(name text)"
      "   WHERE NOT columns @> jsonb_build_array(jsonb_build_object('name', e.name)))",
      5, v, &r, err);
  if (!rc && (PQntuples(r) != 1 || !PQgetisnull(r, 0, 0)))
    rc = ts_fail(err, TS_EINVAL, 0, "table %s has no column %.200s", t,
                 PQntuples(r) == 1 ? PQgetvalue(r, 0, 0) : "of these");
  PQclear(r);
  return rc;
}

ts_err jobs_utab_edit_columns(PGconn *conn, const jobs_user *u, const char *table,
                              const jobs_utab_edit *e, size_t n, ts_error *err)
{
  char schema[64], t[64];
  const char *ra = NULL, *dec = NULL;
  PGresult *ix = NULL;
  ts_buf b;
  ts_err rc = check_edits(e, n, &ra, &dec, err);
  if (!rc)
    rc = begin_change(conn, u, table, schema, t, err);
  if (rc)
    return rc;
  ts_buf_init(&b, JOBS_SCHEMA_JSON_MAX);
  if (edits_json(e, n, &b))
    rc = oom(err);
  if (!rc)
    rc = edit_records(conn, u, t, b.data, ra, dec, err);
  ts_buf_reset(&b);
  if (!rc)
    rc = table_indexes(conn, schema, t, ra, dec, &ix, err);
  for (size_t i = 0; i < n && !rc; i++)
    rc = set_btree(conn, &b, schema, t, e[i].column, e[i].indexed, ix, err);
  if (!rc && ra)
    rc = radec_index(conn, &b, schema, t, ra, dec, ix, err);
  if (!rc)
    rc = refresh_size(conn, u, schema, t, NULL, err);
  PQclear(ix);
  ts_buf_free(&b);
  return end(conn, rc, err);
}

ts_err jobs_utab_rename(PGconn *conn, const jobs_user *u, const char *table, const char *new_table,
                        const char *const *from, const char *const *to, size_t n, ts_error *err)
{
  char schema[64], t[64], nt[64], col[64], id[24];
  int taken = 0;
  ts_buf b;
  ts_err rc = begin_change(conn, u, table, schema, t, err);
  if (rc)
    return rc;
  ts_buf_init(&b, 1024);
  for (size_t i = 0; i < n && !rc; i++) {
    const char *x[] = {col};
    rc = jobs_utab_ident("column", to[i], col, err);
    /* the record first: it knows whether the column is there */
    if (!rc)
      rc = set_column(conn, u, t, from[i], "jsonb_build_object('name', $4::text)", 1, x, err);
    if (!rc && (ts_buf_puts(&b, "ALTER TABLE ") || jobs__put_qualified(&b, schema, t) ||
                ts_buf_puts(&b, " RENAME COLUMN ") || jobs__put_ident(&b, from[i]) ||
                ts_buf_puts(&b, " TO ") || jobs__put_ident(&b, col)))
      rc = oom(err);
    if (!rc)
      rc = jobs__exec_buf(conn, &b, err);
    if (rc == TS_EDB) { /* two columns of one name: PostgreSQL's message says so */
      ts_error in = *err;
      rc = ts_fail(err, TS_EINVAL, 0, "cannot rename column %.60s: %.300s", from[i], in.msg);
    }
  }
  if (!rc && new_table && *new_table) {
    rc = jobs_utab_ident("table", new_table, nt, err);
    if (!rc && strcmp(nt, t)) {
      const char *v[] = {id_text(u, id), t, nt};
      rc = has_table(conn, u, nt, &taken, err);
      if (!rc && taken)
        rc = ts_fail(err, TS_EINVAL, 0, "you have a table %s.%s already", schema, nt);
      if (!rc && (ts_buf_puts(&b, "ALTER TABLE ") || jobs__put_qualified(&b, schema, t) ||
                  ts_buf_puts(&b, " RENAME TO ") || jobs__put_ident(&b, nt)))
        rc = oom(err);
      if (!rc)
        rc = jobs__exec_buf(conn, &b, err);
      if (!rc)
        rc = jobs__run(conn,
                       "UPDATE tapserve.user_tables SET table_name = $3"
                       " WHERE user_id = $1 AND table_name = $2",
                       3, v, NULL, err);
    }
  }
  ts_buf_free(&b);
  return end(conn, rc, err);
}
