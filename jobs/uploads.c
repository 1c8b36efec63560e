/* The life cycle of upload tables (TAP UPLOAD): tables in schema
 * tap_upload, one per upload, each recorded in tapserve.uploads.
 *
 * A table is created, filled with COPY ... FROM STDIN (FORMAT binary),
 * given its pgSphere types and index, analysed, granted to the query role
 * and recorded, all in one transaction: a failure at any step leaves
 * nothing. Tables go with their owner: a /sync request drops its own when
 * its response ends; a job's go when the job is deleted or has ended (the
 * sweeper); a dead instance's sync tables go with the sweeper too. The one
 * SQL function tapserve.drop_uploads (migration 7) drops a set of them. */
#include "jobs/jobs_int.h"
#include "stream/pg.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  UPLOAD_SQL_MAX = 1 << 20, /* one statement: up to 1600 column definitions */
  UPLOAD_COPY_READ = 1 << 16,
};

struct jobs_upload_load {
  PGconn *conn;
  char db_schema[64]; /* JOBS_UPLOAD_SCHEMA, or a user's schema */
  char table[64];
  char name[64];
  jobs__load_record_fn record; /* records the table before COMMIT */
  void *record_ud;
  void (*record_ud_free)(void *);
  stream_schema schema; /* what the table holds, for the record */
  const char **final;   /* per column: NULL or the pgSphere type */
  int point, ra, dec;   /* the indexed position's columns (-1: none) */
  ts_arena *a;
  int in_copy, committed;
  uint64_t bytes;
  uint64_t max_bytes;
};

static int valid_name(const char *s)
{
  size_t n = strlen(s);
  if (n == 0 || n > JOBS_UPLOAD_NAME_MAX || !isalpha((unsigned char)s[0]))
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]) && s[i] != '_')
      return 0;
  return 1;
}

static int valid_owner_id(const char *s)
{
  size_t n = s ? strlen(s) : 0;
  if (n == 0 || n > 32)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!isalnum((unsigned char)s[i]))
      return 0;
  return 1;
}

ts_err jobs_upload_table_name(const jobs_upload_owner *o, const char *name, char out[64],
                              ts_error *err)
{
  const char *id = o->job_id ? o->job_id : o->request_id;
  if (!valid_name(name))
    return ts_fail(err, TS_EINVAL, 0,
                   "upload name \"%.80s\" is not an ADQL regular identifier of at most %d "
                   "characters",
                   name, JOBS_UPLOAD_NAME_MAX);
  if (!valid_owner_id(id) || (o->job_id && o->request_id))
    return ts_fail(err, TS_EINTERNAL, 0, "an upload belongs to one job or one request");
  snprintf(out, 64, "up_%s_%s", id, name);
  for (char *p = out; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  return TS_OK;
}

ts_err jobs__put_ident(ts_buf *b, const char *s)
{
  ts_err rc = ts_buf_puts(b, "\"");
  for (; !rc && *s; s++)
    rc = *s == '"' ? ts_buf_puts(b, "\"\"") : ts_buf_append(b, s, 1);
  return rc ? rc : ts_buf_puts(b, "\"");
}

ts_err jobs__put_qualified(ts_buf *b, const char *schema, const char *table)
{
  ts_err rc = jobs__put_ident(b, schema);
  if (!rc)
    rc = ts_buf_puts(b, ".");
  return rc ? rc : jobs__put_ident(b, table);
}

/* The table's schema-qualified name. */
static ts_err put_qualified(ts_buf *b, const jobs_upload_load *l)
{
  return jobs__put_qualified(b, l->db_schema, l->table);
}

ts_err jobs__exec_buf(PGconn *conn, ts_buf *b, ts_error *err)
{
  ts_err rc = jobs__run(conn, b->data, 0, NULL, NULL, err);
  ts_buf_reset(b);
  return rc;
}

static const char *final_of_xtype(const stream_column *c)
{
  if (c->kind != STREAM_FLOAT8 || !c->is_array || !c->xtype)
    return NULL;
  if (!strcmp(c->xtype, "point"))
    return "spoint";
  if (!strcmp(c->xtype, "circle"))
    return "scircle";
  if (!strcmp(c->xtype, "polygon"))
    return "spoly";
  return NULL;
}

/* The owner of an upload table, for its row in tapserve.uploads ("":
 * none). */
typedef struct upload_owner {
  char job_id[40], request_id[40], instance[40];
} upload_owner;

static ts_err record_upload(void *ud, PGconn *conn, const jobs__load_info *li, ts_error *err);

ts_err jobs__load_begin(PGconn *conn, const char *db_schema, const char *table, const char *label,
                        const jobs_upload_col *cols, size_t ncols, uint64_t max_bytes,
                        jobs__load_record_fn record, void *ud, void (*ud_free)(void *),
                        jobs_upload_load **out, ts_error *err)
{
  jobs_upload_load *l = calloc(1, sizeof *l);
  ts_buf b;
  ts_err rc = TS_OK;
  PGresult *r = NULL;

  *out = NULL;
  ts_buf_init(&b, UPLOAD_SQL_MAX);
  if (!l || !(l->a = ts_arena_new(0, 0))) {
    free(l);
    if (ud_free)
      ud_free(ud);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  l->conn = conn;
  l->max_bytes = max_bytes;
  l->record = record;
  l->record_ud = ud;
  l->record_ud_free = ud_free;
  l->point = l->ra = l->dec = -1;
  snprintf(l->db_schema, sizeof l->db_schema, "%s", db_schema);
  snprintf(l->table, sizeof l->table, "%s", table);
  snprintf(l->name, sizeof l->name, "%s", label);
  if (ncols == 0) {
    rc = ts_fail(err, TS_EINVAL, 0, "upload \"%s\" has no columns", label);
    goto out;
  }
  l->schema.ncols = ncols;
  l->schema.cols = ts_arena_calloc(l->a, ncols, sizeof *l->schema.cols);
  l->final = ts_arena_calloc(l->a, ncols, sizeof *l->final);
  if (!l->schema.cols || !l->final) {
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    goto out;
  }
  /* A caller that prepared the table's place (a user's schema) has its
   * transaction open already: the load joins it. */
  if (PQtransactionStatus(conn) == PQTRANS_IDLE)
    rc = jobs__run(conn, "BEGIN", 0, NULL, NULL, err);
  if (rc)
    goto out;
  rc = ts_buf_puts(&b, "CREATE TABLE ");
  if (!rc)
    rc = put_qualified(&b, l);
  if (!rc)
    rc = ts_buf_puts(&b, " (");
  for (size_t i = 0; i < ncols && !rc; i++) {
    l->schema.cols[i] = cols[i].c;
    l->final[i] = cols[i].final_type;
    if (i)
      rc = ts_buf_puts(&b, ", ");
    if (!rc)
      rc = jobs__put_ident(&b, cols[i].c.name);
    if (!rc)
      rc = ts_buf_printf(&b, " %s", cols[i].copy_type);
  }
  if (!rc)
    rc = ts_buf_puts(&b, ")");
  if (rc) {
    rc = ts_fail(err, rc, 0, "upload \"%s\": too many columns to describe", label);
    goto out;
  }
  rc = jobs__exec_buf(conn, &b, err);
  if (rc)
    goto out;
  if (ts_buf_puts(&b, "COPY ") || put_qualified(&b, l) ||
      ts_buf_puts(&b, " FROM STDIN (FORMAT binary)")) {
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    goto out;
  }
  r = PQexec(conn, b.data);
  if (PQresultStatus(r) != PGRES_COPY_IN) {
    rc = stream_pg_result_error(conn, r, err);
    goto out;
  }
  l->in_copy = 1;
out:
  PQclear(r);
  ts_buf_free(&b);
  if (rc) {
    jobs_upload_free(l);
    return rc;
  }
  *out = l;
  return TS_OK;
}

ts_err jobs_upload_begin(PGconn *conn, const jobs_upload_owner *o, const char *name,
                         const jobs_upload_col *cols, size_t ncols, uint64_t max_bytes,
                         jobs_upload_load **out, ts_error *err)
{
  char table[64];
  upload_owner *uo;
  ts_err rc = jobs_upload_table_name(o, name, table, err);
  if (rc)
    return rc;
  uo = calloc(1, sizeof *uo);
  if (!uo)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  snprintf(uo->job_id, sizeof uo->job_id, "%s", o->job_id ? o->job_id : "");
  snprintf(uo->request_id, sizeof uo->request_id, "%s", o->request_id ? o->request_id : "");
  snprintf(uo->instance, sizeof uo->instance, "%s", o->instance ? o->instance : "");
  return jobs__load_begin(conn, JOBS_UPLOAD_SCHEMA, table, name, cols, ncols, max_bytes,
                          record_upload, uo, free, out, err);
}

static ts_err begin_upload_target(const jobs_load_target *t, PGconn *conn,
                                  const jobs_upload_col *cols, size_t ncols, uint64_t max_bytes,
                                  jobs_upload_load **out, ts_error *err)
{
  return jobs_upload_begin(conn, t->ud, t->name, cols, ncols, max_bytes, out, err);
}

jobs_load_target jobs_upload_target(const jobs_upload_owner *o, const char *name)
{
  jobs_load_target t = {name, begin_upload_target, o};
  return t;
}

ts_err jobs_upload_write(jobs_upload_load *l, const void *buf, size_t len, ts_error *err)
{
  if (!l->in_copy)
    return ts_fail(err, TS_EINTERNAL, 0, "upload \"%s\": not copying", l->name);
  l->bytes += len;
  if (l->max_bytes && l->bytes > l->max_bytes)
    return ts_fail(err, TS_ELIMIT, 0,
                   "upload \"%s\" is larger than the limit of %llu bytes per upload "
                   "([upload] max_bytes)",
                   l->name, (unsigned long long)l->max_bytes);
  if (PQputCopyData(l->conn, buf, (int)len) != 1)
    return ts_fail(err, stream_pg_conn_lost(l->conn, NULL) ? TS_EUNAVAIL : TS_EDB, 0,
                   "upload \"%s\": %s", l->name, PQerrorMessage(l->conn));
  return TS_OK;
}

/* The position of the table, for its index: a point column, else the
 * main ra/dec pair by their UCDs (l->point, or l->ra and l->dec, for the
 * record). The expression index matches what the translator writes for
 * POINT('ICRS', ra, dec). */
static ts_err put_position_index(jobs_upload_load *l, ts_buf *b)
{
  int ra = -1, dec = -1;
  for (size_t i = 0; i < l->schema.ncols; i++) {
    const stream_column *c = &l->schema.cols[i];
    if (l->final[i] && !strcmp(l->final[i], "spoint")) {
      ts_err rc = ts_buf_puts(b, "CREATE INDEX ON ");
      if (!rc)
        rc = put_qualified(b, l);
      if (!rc)
        rc = ts_buf_puts(b, " USING gist (");
      if (!rc)
        rc = jobs__put_ident(b, c->name);
      l->point = (int)i;
      return rc ? rc : ts_buf_puts(b, ")");
    }
    if (c->ucd && ts_strcaseeq(c->ucd, "pos.eq.ra;meta.main") && ra < 0 && !c->is_array)
      ra = (int)i;
    if (c->ucd && ts_strcaseeq(c->ucd, "pos.eq.dec;meta.main") && dec < 0 && !c->is_array)
      dec = (int)i;
  }
  if (ra < 0 || dec < 0)
    return TS_OK;
  l->ra = ra;
  l->dec = dec;
  return jobs__put_radec_index(b, l->db_schema, l->table, l->schema.cols[ra].name,
                               l->schema.cols[dec].name);
}

static const char *col_name(const jobs_upload_load *l, int i)
{
  return i < 0 ? NULL : l->schema.cols[i].name;
}

ts_err jobs__put_radec_index(ts_buf *b, const char *schema, const char *table, const char *ra,
                             const char *dec)
{
  ts_err rc = ts_buf_puts(b, "CREATE INDEX ON ");
  if (!rc)
    rc = jobs__put_qualified(b, schema, table);
  if (!rc)
    rc = ts_buf_puts(b, " USING gist (spoint(radians(");
  if (!rc)
    rc = jobs__put_ident(b, ra);
  if (!rc)
    rc = ts_buf_puts(b, "), radians(");
  if (!rc)
    rc = jobs__put_ident(b, dec);
  return rc ? rc : ts_buf_puts(b, ")))");
}

/* pgSphere types have no binary input: geometry came as arrays of
 * degrees and becomes spoint, scircle or spoly here. A USING expression
 * may not hold a subquery, so polygons go through a session function. */
static ts_err convert_geometry(jobs_upload_load *l, ts_buf *b, ts_error *err)
{
  ts_err rc = TS_OK;
  int have_poly = 0;
  for (size_t i = 0; i < l->schema.ncols && !rc; i++) {
    const char *f = l->final[i];
    const char *c;
    ts_buf q;
    if (!f)
      continue;
    ts_buf_init(&q, 256);
    rc = jobs__put_ident(&q, l->schema.cols[i].name);
    c = q.data;
    if (!rc && !strcmp(f, "spoly") && !have_poly) {
      have_poly = 1;
      rc = jobs__run(l->conn,
                     "CREATE OR REPLACE FUNCTION pg_temp.ts_dali_spoly(a float8[]) RETURNS spoly"
                     " LANGUAGE sql IMMUTABLE AS $$ SELECT spoly(spoint(radians(a[2 * i - 1]),"
                     " radians(a[2 * i])) ORDER BY i)"
                     " FROM generate_series(1, array_length(a, 1) / 2) AS g(i) $$",
                     0, NULL, NULL, err);
    }
    if (!rc && (ts_buf_puts(b, "ALTER TABLE ") || put_qualified(b, l) ||
                ts_buf_printf(b, " ALTER COLUMN %s TYPE %s USING ", c, f)))
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    if (!rc && !strcmp(f, "spoint"))
      rc = ts_buf_printf(b, "spoint(radians(%s[1]), radians(%s[2]))", c, c);
    else if (!rc && !strcmp(f, "scircle"))
      rc = ts_buf_printf(b, "scircle(spoint(radians(%s[1]), radians(%s[2])), radians(%s[3]))", c, c,
                         c);
    else if (!rc)
      rc = ts_buf_printf(b, "pg_temp.ts_dali_spoly(%s)", c);
    if (!rc)
      rc = jobs__exec_buf(l->conn, b, err);
    ts_buf_free(&q);
  }
  return rc;
}

ts_err jobs_upload_finish(jobs_upload_load *l, uint64_t rows, const char *query_role, ts_error *err)
{
  ts_buf b, cols;
  PGresult *r;
  ts_err rc = TS_OK;

  ts_buf_init(&b, UPLOAD_SQL_MAX);
  ts_buf_init(&cols, JOBS_SCHEMA_JSON_MAX);
  l->in_copy = 0;
  if (PQputCopyEnd(l->conn, NULL) != 1) {
    rc = ts_fail(err, TS_EDB, 0, "upload \"%s\": %s", l->name, PQerrorMessage(l->conn));
    goto out;
  }
  while ((r = PQgetResult(l->conn)) != NULL) {
    if (!rc && PQresultStatus(r) != PGRES_COMMAND_OK) {
      ts_error in;
      rc = stream_pg_result_error(l->conn, r, &in);
      ts_fail(err, rc == TS_EUNAVAIL ? rc : TS_EINVAL, 0, "upload \"%s\" cannot be loaded: %.400s",
              l->name, in.msg);
      rc = err->code;
    }
    PQclear(r);
  }
  if (rc)
    goto out;
  rc = convert_geometry(l, &b, err);
  if (!rc && put_position_index(l, &b))
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
  if (!rc && b.len)
    rc = jobs__exec_buf(l->conn, &b, err);
  if (!rc && (ts_buf_puts(&b, "ANALYZE ") || put_qualified(&b, l)))
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
  if (!rc)
    rc = jobs__exec_buf(l->conn, &b, err);
  if (!rc && query_role && *query_role) {
    if (ts_buf_puts(&b, "GRANT SELECT ON ") || put_qualified(&b, l) || ts_buf_puts(&b, " TO ") ||
        jobs__put_ident(&b, query_role))
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    if (!rc)
      rc = jobs__exec_buf(l->conn, &b, err);
  }
  if (!rc && jobs_schema_json(&l->schema, &cols))
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
  if (!rc) {
    jobs__load_info li = {l->db_schema,
                          l->table,
                          l->name,
                          &l->schema,
                          cols.data,
                          rows,
                          l->bytes,
                          col_name(l, l->point),
                          col_name(l, l->ra),
                          col_name(l, l->dec)};
    rc = l->record(l->record_ud, l->conn, &li, err);
  }
  if (!rc)
    rc = jobs__run(l->conn, "COMMIT", 0, NULL, NULL, err);
  if (!rc)
    l->committed = 1;
out:
  ts_buf_free(&b);
  ts_buf_free(&cols);
  return rc;
}

static ts_err record_upload(void *ud, PGconn *conn, const jobs__load_info *li, ts_error *err)
{
  const upload_owner *o = ud;
  char nrows[24], nbytes[24];
  const char *v[] = {li->table,
                     li->label,
                     *o->job_id ? o->job_id : NULL,
                     *o->request_id ? o->request_id : NULL,
                     *o->instance ? o->instance : NULL,
                     li->columns_json,
                     nrows,
                     nbytes};
  snprintf(nrows, sizeof nrows, "%llu", (unsigned long long)li->rows);
  snprintf(nbytes, sizeof nbytes, "%llu", (unsigned long long)li->bytes);
  return jobs__run(conn,
                   "INSERT INTO tapserve.uploads (table_name, name, job_id, request_id, instance,"
                   "   columns, rows, bytes) VALUES ($1, lower($2), $3, $4, $5::uuid, $6::jsonb,"
                   "   $7::int8, $8::int8)",
                   8, v, NULL, err);
}

void jobs_upload_free(jobs_upload_load *l)
{
  if (!l)
    return;
  if (l->in_copy) {
    PGresult *r;
    PQputCopyEnd(l->conn, "upload abandoned");
    while ((r = PQgetResult(l->conn)) != NULL)
      PQclear(r);
  }
  if (!l->committed && PQtransactionStatus(l->conn) != PQTRANS_IDLE)
    PQclear(PQexec(l->conn, "ROLLBACK"));
  if (l->record_ud_free)
    l->record_ud_free(l->record_ud);
  ts_arena_free(l->a);
  free(l);
}

/* ---- a stored job result as an upload ----------------------------------- */

ts_err jobs_upload_from_result(PGconn *conn, PGconn *read, const jobs_store *store,
                               const jobs_upload_owner *o, const char *name, const char *src_id,
                               const jobs_upload_limits *lim, const char *query_role, ts_error *err)
{
  jobs_load_target t = jobs_upload_target(o, name);
  return jobs_load_from_result(conn, read, store, &t, src_id, lim, query_role, err);
}

ts_err jobs_load_from_result(PGconn *conn, PGconn *read, const jobs_store *store,
                             const jobs_load_target *t, const char *src_id,
                             const jobs_upload_limits *lim, const char *query_role, ts_error *err)
{
  const char *name = t->name;
  ts_arena *a = ts_arena_new(0, 0);
  jobs_job *j = NULL;
  const jobs_result_info *res = NULL;
  stream_schema s;
  jobs_upload_col *cols = NULL;
  jobs_upload_load *l = NULL;
  jobs_store_reader *rd = NULL;
  uint8_t *buf = NULL;
  ts_err rc;

  if (!a)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  rc = jobs_get(read, a, src_id, &j, err);
  if (rc == TS_ENOTFOUND)
    rc = ts_fail(err, TS_EINVAL, 0, "upload \"%s\": there is no job %s", name, src_id);
  if (rc)
    goto out;
  if (j->phase != JOBS_COMPLETED) {
    rc = ts_fail(err, TS_EINVAL, 0, "upload \"%s\": job %s is %s, not COMPLETED", name, src_id,
                 jobs_phase_name(j->phase));
    goto out;
  }
  for (size_t i = 0; i < j->nresults; i++)
    if (!strcmp(j->results[i].name, "result"))
      res = &j->results[i];
  if (!res) {
    rc = ts_fail(err, TS_EINVAL, 0, "upload \"%s\": job %s has no result", name, src_id);
    goto out;
  }
  if (lim->max_rows && (uint64_t)res->rows > lim->max_rows) {
    rc = ts_fail(err, TS_ELIMIT, 0,
                 "upload \"%s\" has %lld rows, more than the limit of %llu ([upload] max_rows)",
                 name, (long long)res->rows, (unsigned long long)lim->max_rows);
    goto out;
  }
  rc = jobs_result_schema(read, a, src_id, "result", &s, err);
  if (rc)
    goto out;
  if (lim->max_columns && s.ncols > lim->max_columns) {
    rc = ts_fail(err, TS_ELIMIT, 0,
                 "upload \"%s\" has %zu columns, more than the limit of %zu ([upload] "
                 "max_columns)",
                 name, s.ncols, lim->max_columns);
    goto out;
  }
  cols = ts_arena_calloc(a, s.ncols + 1, sizeof *cols);
  if (!cols) {
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    goto out;
  }
  /* The stored bytes are PostgreSQL's own binary form of each column's
   * type: the table gets exactly those types. */
  for (size_t i = 0; i < s.ncols && !rc; i++) {
    char oid[16], mod[16];
    const char *v[] = {oid, mod};
    PGresult *r = NULL;
    snprintf(oid, sizeof oid, "%u", (unsigned)s.cols[i].type_oid);
    snprintf(mod, sizeof mod, "%d", (int)s.cols[i].typmod);
    rc = jobs__run(read, "SELECT format_type($1::oid, nullif($2::int, -1))", 2, v, &r, err);
    if (!rc) {
      cols[i].c = s.cols[i];
      cols[i].copy_type = ts_arena_strdup(a, PQgetvalue(r, 0, 0));
      cols[i].final_type = final_of_xtype(&s.cols[i]);
      if (!cols[i].copy_type)
        rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    }
    PQclear(r);
  }
  if (rc)
    goto out;
  rc = jobs_store_reader_open(store, read, src_id, res, &rd, err);
  if (!rc)
    rc = t->begin(t, conn, cols, s.ncols, lim->max_bytes, &l, err);
  buf = rc ? NULL : malloc(UPLOAD_COPY_READ);
  if (!rc && !buf)
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
  while (!rc) {
    size_t got = 0;
    rc = jobs_store_read(rd, buf, UPLOAD_COPY_READ, &got, err);
    if (rc || got == 0)
      break;
    rc = jobs_upload_write(l, buf, got, err);
  }
  if (!rc)
    rc = jobs_upload_finish(l, (uint64_t)res->rows, query_role, err);
out:
  free(buf);
  jobs_upload_free(l);
  jobs_store_reader_free(rd);
  ts_arena_free(a);
  return rc;
}

/* ---- what a request or a job has, and dropping ------------------------ */

/* Runs `head` "<owner condition>" `tail` with the owner's id as $1. */
static ts_err run_for_owner(PGconn *conn, const jobs_upload_owner *o, const char *head,
                            const char *tail, PGresult **r, ts_error *err)
{
  const char *v[] = {o->job_id ? o->job_id : o->request_id};
  char sql[512];
  snprintf(sql, sizeof sql, "%s%s%s", head, o->job_id ? "job_id = $1" : "request_id = $1", tail);
  return jobs__run(conn, sql, 1, v, r, err);
}

ts_err jobs_upload_list(PGconn *conn, ts_arena *a, const jobs_upload_owner *o,
                        jobs_upload_info **out, size_t *n, ts_error *err)
{
  PGresult *r = NULL;
  ts_err rc;
  *out = NULL;
  *n = 0;
  rc = run_for_owner(conn, o, "SELECT name, table_name, rows FROM tapserve.uploads WHERE ",
                     " ORDER BY name", &r, err);
  if (rc)
    return rc;
  *out = ts_arena_calloc(a, (size_t)PQntuples(r) + 1, sizeof **out);
  if (!*out) {
    PQclear(r);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  for (int i = 0; i < PQntuples(r) && !rc; i++) {
    jobs_upload_info *u = &(*out)[i];
    u->name = ts_arena_strdup(a, PQgetvalue(r, i, 0));
    u->table = ts_arena_strdup(a, PQgetvalue(r, i, 1));
    u->rows = strtoll(PQgetvalue(r, i, 2), NULL, 10);
    if (!u->name || !u->table)
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    if (!rc)
      rc = jobs__columns_schema(conn, a,
                                "SELECT c->>'name', (c->>'oid')::int8, (c->>'typmod')::int,"
                                "   c->>'datatype', c->>'xtype', c->>'unit', c->>'ucd',"
                                "   c->>'utype', c->>'description', c->>'arraysize'"
                                " FROM tapserve.uploads u, jsonb_array_elements(u.columns)"
                                "   WITH ORDINALITY AS t(c, i)"
                                " WHERE u.table_name = $1 ORDER BY t.i",
                                1, &u->table, &u->schema, err);
    *n = (size_t)i + 1;
  }
  PQclear(r);
  return rc;
}

/* drop_uploads over the tables `where` selects (a query's result: the
 * count dropped). */
static ts_err drop_result(ts_err rc, PGresult *r, int *n)
{
  if (!rc && n)
    *n = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return rc;
}

ts_err jobs_upload_drop(PGconn *conn, const jobs_upload_owner *o, int *n, ts_error *err)
{
  PGresult *r = NULL;
  ts_err rc = run_for_owner(
      conn, o, "SELECT tapserve.drop_uploads(array(SELECT table_name FROM tapserve.uploads WHERE ",
      "))", &r, err);
  return drop_result(rc, r, n);
}

ts_err jobs_upload_sweep(PGconn *conn, int *n, ts_error *err)
{
  PGresult *r = NULL;
  /* A job's tables live while the job may still run; a request's while
   * its instance is alive (its response drops them). */
  ts_err rc = jobs__run(
      conn,
      "SELECT tapserve.drop_uploads(array(SELECT u.table_name FROM tapserve.uploads u"
      "  WHERE (u.job_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tapserve.jobs j"
      "           WHERE j.id = u.job_id AND j.phase NOT IN ('COMPLETED', 'ERROR', 'ABORTED',"
      "           'ARCHIVED')))"
      "     OR (u.request_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM tapserve.instances i"
      "           WHERE i.id = u.instance))))",
      0, NULL, &r, err);
  return drop_result(rc, r, n);
}

ts_err jobs_upload_grant_schema(PGconn *conn, const char *query_role, ts_error *err)
{
  ts_buf b;
  ts_err rc;
  ts_buf_init(&b, 512);
  /* Instances starting together grant at once, and concurrent GRANTs on
   * one schema fail with "tuple concurrently updated": an advisory lock
   * held to the end of the implicit transaction of this one simple-protocol
   * message (both statements) makes them take turns. */
  if (ts_buf_puts(&b, "SELECT pg_advisory_xact_lock(hashtext('tapserve.upload_grant'));"
                      " GRANT USAGE ON SCHEMA " JOBS_UPLOAD_SCHEMA " TO ") ||
      jobs__put_ident(&b, query_role)) {
    ts_buf_free(&b);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  PGresult *r = PQexec(conn, b.data);
  rc = PQresultStatus(r) == PGRES_COMMAND_OK
           ? TS_OK
           : ts_fail(err, TS_EDB, 0, "granting USAGE on schema " JOBS_UPLOAD_SCHEMA ": %s",
                     PQerrorMessage(conn));
  PQclear(r);
  ts_buf_free(&b);
  return rc;
}

/* ---- dependencies between jobs --------------------------------------- */

ts_err jobs_set_deps(PGconn *conn, const char *id, const char *const *deps, size_t n, ts_error *err)
{
  ts_buf arr;
  PGresult *r = NULL;
  ts_err rc;
  ts_buf_init(&arr, 64 * (n + 1));
  rc = ts_buf_puts(&arr, "{");
  for (size_t i = 0; i < n && !rc; i++)
    rc = ts_buf_printf(&arr, "%s%s", i ? "," : "", deps[i]); /* job ids: letters, digits */
  if (!rc)
    rc = ts_buf_puts(&arr, "}");
  if (rc) {
    ts_buf_free(&arr);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  {
    const char *v[] = {id, arr.data};
    rc = jobs__run(conn,
                   "WITH RECURSIVE r(id) AS (SELECT unnest($2::text[])"
                   "   UNION SELECT d.dep_id FROM tapserve.job_deps d JOIN r ON d.job_id = r.id)"
                   " SELECT 1 FROM r WHERE id = $1 LIMIT 1",
                   2, v, &r, err);
    if (!rc && PQntuples(r) > 0)
      rc = ts_fail(err, TS_EINVAL, 0,
                   "UPLOAD: job %s would depend on its own result (a cycle through job: uploads)",
                   id);
    PQclear(r);
    if (!rc)
      rc = jobs__run(conn, "DELETE FROM tapserve.job_deps WHERE job_id = $1", 1, v, NULL, err);
    if (!rc && n)
      rc = jobs__run(conn,
                     "INSERT INTO tapserve.job_deps (job_id, dep_id)"
                     " SELECT $1, d FROM unnest($2::text[]) AS d ON CONFLICT DO NOTHING",
                     2, v, NULL, err);
  }
  ts_buf_free(&arr);
  return rc;
}
