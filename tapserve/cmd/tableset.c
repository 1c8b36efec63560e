/* tapserve/cmd/tableset.c: `tapserve tableset`, TAP_SCHEMA written out as
 * a VODataService 1.2 tableset with every field it holds, so that
 * metadata can be edited as a file and published again with
 * `tapserve publish --tableset` (docs/publishing.md). */
#include "tapserve/cmd/publish_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void tableset_usage(FILE *f)
{
  fputs("usage: tapserve tableset (-c FILE | --dsn CONNINFO) [-o OUT.xml] [schema...]\n"
        "\n"
        "Writes the published tables (those of the schemas named, else every schema\n"
        "but TAP_SCHEMA) as a VODataService tableset: descriptions, units, UCDs,\n"
        "utypes, types, flags, foreign keys, and the *_index, size and key_id fields\n"
        "in <?tapserve?> instructions. Edit it and publish it again with\n"
        "tapserve publish --tableset OUT.xml.\n",
        f);
}

/* TAP_SCHEMA in its published order (meta.c's). $1: the schema names as a
 * text array (as published, or a delimited one without its quotes), NULL
 * for every schema but TAP_SCHEMA. */
static const char *const q_schemas =
    "SELECT schema_name, utype, description, schema_index FROM tap_schema.schemas"
    " WHERE CASE WHEN $1::text[] IS NULL THEN schema_name <> 'TAP_SCHEMA'"
    " ELSE EXISTS (SELECT 1 FROM unnest($1::text[]) x WHERE lower(schema_name) = lower(x)"
    " OR schema_name = '\"' || replace(x, '\"', '\"\"') || '\"') END"
    " ORDER BY schema_index IS NULL, schema_index, schema_name";
static const char *const q_tables =
    "SELECT schema_name, table_name, table_type, utype, description, table_index"
    " FROM tap_schema.tables ORDER BY table_index IS NULL, table_index, table_name";
static const char *const q_columns =
    "SELECT table_name, column_name, datatype, arraysize, xtype, \"size\", description,"
    " utype, unit, ucd, indexed, principal, std, column_index FROM tap_schema.columns"
    " ORDER BY table_name, column_index IS NULL, column_index, column_name";
static const char *const q_keys =
    "SELECT k.key_id, k.from_table, k.target_table, k.utype, k.description, kc.from_column,"
    " kc.target_column FROM tap_schema.keys k JOIN tap_schema.key_columns kc"
    " ON kc.key_id = k.key_id ORDER BY k.key_id, kc.from_column";

static const char *v(fmt_tableset *ts, const PGresult *r, int i, int j)
{
  return PQgetisnull(r, i, j) ? NULL : ts_arena_strdup(ts->arena, PQgetvalue(r, i, j));
}

static fmt_ts_int iv(const PGresult *r, int i, int j)
{
  return PQgetisnull(r, i, j) ? (fmt_ts_int){0, 0} : (fmt_ts_int){1, cmd__int(PQgetvalue(r, i, j))};
}

static fmt_ts_table *find(fmt_tableset *ts, const char *name)
{
  for (size_t s = 0; s < ts->nschemas; s++)
    for (size_t t = 0; t < ts->schemas[s].ntables; t++)
      if (!strcmp(ts->schemas[s].tables[t].name, name))
        return &ts->schemas[s].tables[t];
  return NULL;
}

/* Builds the model from the four result sets (schemas already filtered). */
static ts_err build(fmt_tableset *ts, PGresult *rs[4], ts_error *err)
{
  fmt_ts_key *k = NULL;
  const char *kid = NULL;
  for (int i = 0; i < PQntuples(rs[0]); i++) {
    fmt_ts_schema *s = fmt_ts_add_schema(ts);
    if (!s)
      goto oom;
    s->name = v(ts, rs[0], i, 0);
    s->utype = v(ts, rs[0], i, 1);
    s->description = v(ts, rs[0], i, 2);
    s->has_meta = 1;
    s->index = iv(rs[0], i, 3);
  }
  for (int i = 0; i < PQntuples(rs[1]); i++) {
    fmt_ts_schema *s = NULL;
    fmt_ts_table *t;
    for (size_t j = 0; j < ts->nschemas && !s; j++)
      if (!strcmp(ts->schemas[j].name, PQgetvalue(rs[1], i, 0)))
        s = &ts->schemas[j];
    if (!s)
      continue;
    t = fmt_ts_add_table(ts, s);
    if (!t)
      goto oom;
    t->name = v(ts, rs[1], i, 1);
    t->type = v(ts, rs[1], i, 2);
    t->utype = v(ts, rs[1], i, 3);
    t->description = v(ts, rs[1], i, 4);
    t->has_meta = 1;
    t->index = iv(rs[1], i, 5);
  }
  for (int i = 0; i < PQntuples(rs[2]); i++) {
    fmt_ts_table *t = find(ts, PQgetvalue(rs[2], i, 0));
    fmt_ts_column *c;
    if (!t)
      continue;
    c = fmt_ts_add_column(ts, t);
    if (!c)
      goto oom;
    c->name = v(ts, rs[2], i, 1);
    c->datatype = v(ts, rs[2], i, 2);
    c->arraysize = v(ts, rs[2], i, 3);
    c->xtype = v(ts, rs[2], i, 4);
    c->size = iv(rs[2], i, 5);
    c->description = v(ts, rs[2], i, 6);
    c->utype = v(ts, rs[2], i, 7);
    c->unit = v(ts, rs[2], i, 8);
    c->ucd = v(ts, rs[2], i, 9);
    c->indexed = cmd__int(PQgetvalue(rs[2], i, 10)) != 0;
    c->principal = cmd__int(PQgetvalue(rs[2], i, 11)) != 0;
    c->std = cmd__int(PQgetvalue(rs[2], i, 12)) != 0;
    c->has_meta = 1;
    c->index = iv(rs[2], i, 13);
  }
  for (int i = 0; i < PQntuples(rs[3]); i++) {
    fmt_ts_fkcol *fc;
    if (!kid || strcmp(kid, PQgetvalue(rs[3], i, 0)) != 0) {
      fmt_ts_table *t = find(ts, PQgetvalue(rs[3], i, 1));
      kid = PQgetvalue(rs[3], i, 0);
      k = t ? fmt_ts_add_key(ts, t) : NULL;
      if (t && !k)
        goto oom;
      if (k) {
        k->key_id = v(ts, rs[3], i, 0);
        k->target_table = v(ts, rs[3], i, 2);
        k->utype = v(ts, rs[3], i, 3);
        k->description = v(ts, rs[3], i, 4);
      }
    }
    if (!k)
      continue; /* a key of a table not written */
    fc = fmt_ts_add_fkcol(ts, k);
    if (!fc)
      goto oom;
    fc->from = v(ts, rs[3], i, 5);
    fc->target = v(ts, rs[3], i, 6);
  }
  return TS_OK;
oom:
  return ts_fail(err, TS_ENOMEM, 0, "out of memory");
}

/* The schema names as a PostgreSQL text array literal. */
static ts_err schema_array(ts_buf *b, char **names, size_t n)
{
  ts_err rc = ts_buf_puts(b, "{");
  for (size_t i = 0; i < n && !rc; i++) {
    rc = ts_buf_puts(b, i ? ",\"" : "\"");
    for (const char *c = names[i]; *c && !rc; c++)
      rc = (*c == '"' || *c == '\\') ? ts_buf_printf(b, "\\%c", *c) : ts_buf_append(b, c, 1);
    if (!rc)
      rc = ts_buf_puts(b, "\"");
  }
  return rc ? rc : ts_buf_puts(b, "}");
}

int cmd_tableset(int argc, char **argv)
{
  static const char *prog = "tapserve tableset";
  cmd_db o;
  const char *out_path = NULL;
  int nschemas = 0;
  PGconn *conn = NULL;
  PGresult *rs[4] = {NULL, NULL, NULL, NULL};
  fmt_tableset *ts = NULL;
  ts_buf arr, doc;
  ts_error err;
  ts_err rc = TS_OK;
  int status = 1;

  memset(&o, 0, sizeof o);
  ts_buf_init(&arr, 1 << 20);
  ts_buf_init(&doc, FMT_TABLESET_MAX);
  ts_error_clear(&err);
  {
    const cmd_opt opts[] = {{"-o", NULL, &out_path}, {NULL, NULL, NULL}};
    int st = cmd_args(argc, argv, prog, &o, opts, tableset_usage, &nschemas);
    if (st >= 0)
      return st;
  }
  conn = cmd_db_connect(prog, &o);
  if (!conn)
    goto out;
  rc = nschemas ? schema_array(&arr, argv + 1, (size_t)nschemas) : TS_OK;
  if (rc) {
    ts_fail(&err, rc, 0, "too many schema names");
    goto fail;
  }
  /* One snapshot for the four reads, as meta_load does. */
  PQclear(PQexec(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  {
    const char *param[1] = {nschemas ? arr.data : NULL};
    const char *const qs[4] = {q_schemas, q_tables, q_columns, q_keys};
    for (int i = 0; i < 4 && !rc; i++) {
      rs[i] = PQexecParams(conn, qs[i], i == 0 ? 1 : 0, NULL, i == 0 ? param : NULL, NULL, NULL, 0);
      if (PQresultStatus(rs[i]) != PGRES_TUPLES_OK) {
        const char *msg = PQresultErrorMessage(rs[i]);
        rc = ts_fail(&err, TS_EDB, 0, "reading TAP_SCHEMA: %.*s", (int)strcspn(msg, "\n"), msg);
      }
    }
  }
  PQclear(PQexec(conn, "COMMIT"));
  if (rc)
    goto fail;
  if (PQntuples(rs[0]) == 0) {
    ts_fail(&err, TS_ENOTFOUND, 0, "%s",
            nschemas ? "none of these schemas is published" : "nothing is published yet");
    goto fail;
  }
  ts = fmt_tableset_new();
  rc = ts ? build(ts, rs, &err) : ts_fail(&err, TS_ENOMEM, 0, "out of memory");
  if (!rc)
    rc = fmt_tableset_write(ts, &doc);
  if (rc) {
    if (!err.msg[0])
      ts_fail(&err, rc, 0, "cannot build the document: %s", ts_err_text(rc));
    goto fail;
  }
  {
    FILE *f = out_path ? fopen(out_path, "w") : stdout;
    if (!f || fwrite(doc.data, 1, doc.len, f) != doc.len || (out_path && fclose(f) != 0)) {
      ts_fail(&err, TS_EIO, 0, "%s: %s", out_path ? out_path : "standard output", strerror(errno));
      goto fail;
    }
    if (!out_path)
      fflush(stdout);
  }
  status = 0;
  goto out;
fail:
  fprintf(stderr, "%s: %s\n", prog, err.msg);
out:
  for (int i = 0; i < 4; i++)
    PQclear(rs[i]);
  if (conn)
    PQfinish(conn);
  fmt_tableset_free(ts);
  ts_buf_free(&arr);
  ts_buf_free(&doc);
  cmd_db_free(&o);
  return status;
}
