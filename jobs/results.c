/* A stored result's metadata in schema tapserve: its columns as JSON
 * (written at completion, read back for downloads) and the sizes of its
 * encodings already served (Content-Length without a second pass). */
#include "jobs/jobs.h"
#include "jobs/jobs_int.h"

#include <stdio.h>
#include <string.h>

static ts_err json_field(ts_buf *b, const char *name, const char *v, int *first)
{
  ts_err rc;
  if (!v)
    return TS_OK;
  rc = ts_buf_printf(b, "%s\"%s\":", *first ? "" : ",", name);
  *first = 0;
  return rc ? rc : jobs_json_str(b, v);
}

ts_err jobs_schema_json(const stream_schema *s, ts_buf *b)
{
  ts_err rc = ts_buf_puts(b, "[");
  for (size_t i = 0; i < s->ncols && !rc; i++) {
    const stream_column *c = &s->cols[i];
    int first = 0;
    rc = ts_buf_printf(b, "%s{\"oid\":%u,\"typmod\":%d", i ? "," : "", (unsigned)c->type_oid,
                       (int)c->typmod);
    if (!rc)
      rc = json_field(b, "name", c->name, &first);
    if (!rc)
      rc = json_field(b, "datatype", c->datatype, &first);
    if (!rc)
      rc = json_field(b, "arraysize", c->arraysize, &first);
    if (!rc)
      rc = json_field(b, "xtype", c->xtype, &first);
    if (!rc)
      rc = json_field(b, "unit", c->unit, &first);
    if (!rc)
      rc = json_field(b, "ucd", c->ucd, &first);
    if (!rc)
      rc = json_field(b, "utype", c->utype, &first);
    if (!rc)
      rc = json_field(b, "description", c->description, &first);
    if (!rc)
      rc = ts_buf_puts(b, "}");
  }
  return rc ? rc : ts_buf_puts(b, "]");
}

ts_err jobs_result_schema(PGconn *conn, ts_arena *a, const char *id, const char *name,
                          stream_schema *out, ts_error *err)
{
  const char *v[] = {id, name};
  return jobs__columns_schema(
      conn, a,
      "SELECT c->>'name', (c->>'oid')::int8, (c->>'typmod')::int, c->>'datatype',"
      "   c->>'xtype', c->>'unit', c->>'ucd', c->>'utype', c->>'description',"
      "   c->>'arraysize'"
      " FROM tapserve.results r, jsonb_array_elements(r.columns) WITH ORDINALITY"
      "   AS t(c, i)"
      " WHERE r.job_id = $1 AND r.name = $2 ORDER BY t.i",
      2, v, out, err);
}

int jobs__column_row(ts_arena *a, const PGresult *r, int row, int col, stream_column *c)
{
  if (stream_column_set_type(c, (uint32_t)jobs__i64(r, row, col + 1),
                             (int32_t)jobs__i64(r, row, col + 2)))
    return -1;
  c->name = jobs__opt(a, r, row, col);
  const char *dt = jobs__opt(a, r, row, col + 3);
  /* What the metadata merge (tap_merge_column_meta) chose on top of the
   * type comes back: text shown as unicodeChar, DALI geometry xtypes
   * with their fixed arraysizes. */
  if (dt && !strcmp(dt, "unicodeChar") && c->kind == STREAM_TEXT && !c->is_array)
    c->datatype = "unicodeChar";
  const char *xt = jobs__opt(a, r, row, col + 4), *as = jobs__opt(a, r, row, col + 9);
  if (xt)
    c->xtype = xt;
  if (as && c->is_array)
    c->arraysize = as;
  c->unit = jobs__opt(a, r, row, col + 5);
  c->ucd = jobs__opt(a, r, row, col + 6);
  c->utype = jobs__opt(a, r, row, col + 7);
  c->description = jobs__opt(a, r, row, col + 8);
  return 0;
}

ts_err jobs__columns_schema(PGconn *conn, ts_arena *a, const char *sql, int n, const char *const *v,
                            stream_schema *out, ts_error *err)
{
  PGresult *r = NULL;
  ts_err rc = jobs__run(conn, sql, n, v, &r, err);
  if (rc)
    return rc;
  out->ncols = (size_t)PQntuples(r);
  out->cols = ts_arena_calloc(a, out->ncols + 1, sizeof *out->cols);
  if (!out->cols) {
    PQclear(r);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  for (int i = 0; i < (int)out->ncols && !rc; i++)
    if (jobs__column_row(a, r, i, 0, &out->cols[i]))
      rc = ts_fail(err, TS_EINTERNAL, 0, "stored result column %d has an unsupported type", i + 1);
  PQclear(r);
  return rc;
}

ts_err jobs_result_size_get(PGconn *conn, const char *id, const char *name, const char *fmt,
                            int64_t *size, ts_error *err)
{
  PGresult *r = NULL;
  const char *v[] = {id, name, fmt};
  ts_err rc = jobs__run(conn,
                        "SELECT (encoded_sizes->>$3)::int8 FROM tapserve.results"
                        " WHERE job_id = $1 AND name = $2",
                        3, v, &r, err);
  if (rc)
    return rc;
  *size = PQntuples(r) == 1 && !PQgetisnull(r, 0, 0) ? jobs__i64(r, 0, 0) : -1;
  PQclear(r);
  return TS_OK;
}

ts_err jobs_result_size_set(PGconn *conn, const char *id, const char *name, const char *fmt,
                            int64_t size, ts_error *err)
{
  char s[24];
  const char *v[] = {id, name, fmt, s};
  snprintf(s, sizeof s, "%lld", (long long)size);
  return jobs__run(conn,
                   "UPDATE tapserve.results SET encoded_sizes = encoded_sizes ||"
                   " jsonb_build_object($3::text, $4::int8) WHERE job_id = $1 AND name = $2",
                   4, v, NULL, err);
}
