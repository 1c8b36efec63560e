/* tapserve/cmd/publish.c: `tapserve publish` (docs/publishing.md).
 *
 * publish reads what PostgreSQL knows about a table (pg_catalog: types,
 * NOT NULL, primary key, indexes, foreign keys, comments), maps each type
 * with the same function the streaming pipeline uses
 * (stream_column_set_type), so TAP_SCHEMA says what /sync delivers, guesses
 * what the catalogue cannot say (UCDs and units of positions, indexed and
 * principal flags), lets a tableset file override the guesses, and writes
 * tap_schema's rows in one transaction, with GRANTs for the query role.
 * Any error rolls the whole transaction back: TAP_SCHEMA is either the old
 * one or the new one, never a mix. This file writes the rows that
 * catalog.c decided, and prints what it published once it is committed. */
#include "tapserve/cmd/publish_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void rep(pub *p, const char *fmt, ...) TS_PRINTF(2, 3);
static void rep(pub *p, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  (void)ts_buf_vprintf(&p->report, fmt, ap); /* a report cut short is still a report */
  va_end(ap);
}

/* ---- writing TAP_SCHEMA ----------------------------------------------------- */

static const char *int_text(pub *p, fmt_ts_int v)
{
  return v.set ? ts_arena_printf(p->a, "%d", v.v) : NULL;
}

static ts_err write_schema(pub *p, ptable *t)
{
  const fmt_ts_schema *s = t->tss;
  if (s) {
    fmt_ts_int idx = s->has_meta ? s->index : (fmt_ts_int){1, (int)t->ts_schema_pos};
    const char *params[4] = {t->schema_name, s->utype, s->description, int_text(p, idx)};
    return cmd__exec(
        p->conn, p->err,
        "INSERT INTO tap_schema.schemas (schema_name, utype, description, schema_index)"
        " VALUES ($1, $2, $3, $4) ON CONFLICT (schema_name) DO UPDATE"
        " SET utype = EXCLUDED.utype, description = EXCLUDED.description,"
        " schema_index = EXCLUDED.schema_index",
        4, params);
  }
  {
    const char *params[2] = {t->schema_name, t->schema_comment};
    return cmd__exec(p->conn, p->err,
                     "INSERT INTO tap_schema.schemas (schema_name, description) VALUES ($1, $2)"
                     " ON CONFLICT (schema_name) DO NOTHING",
                     2, params);
  }
}

/* TAP_SCHEMA.columns."size": the one given, else N for an arraysize N or
 * N* (taplint's TSSZ check wants the two to agree), else NULL. */
static fmt_ts_int size_of(const pcol *c)
{
  const char *a = c->arraysize;
  long n = 0;
  if (c->size.set || !a || *a < '0' || *a > '9')
    return c->size;
  while (*a >= '0' && *a <= '9' && n < INT32_MAX / 10)
    n = n * 10 + (*a++ - '0');
  if (*a == '*')
    a++;
  return *a ? c->size : (fmt_ts_int){1, (int)n};
}

static ts_err write_table(pub *p, ptable *t)
{
  const char *tn[1] = {t->table_name};
  ts_err rc;
  if (!t->index_known) { /* a new table goes last in its schema */
    const char *sp[1] = {t->schema_name};
    PGresult *r = cmd__sql(p->conn, PGRES_TUPLES_OK, p->err,
                           "SELECT coalesce(max(table_index), 0) + 1 FROM tap_schema.tables"
                           " WHERE schema_name = $1",
                           1, sp);
    if (!r)
      return TS_EDB;
    t->index = (fmt_ts_int){1, cmd__int(PQgetvalue(r, 0, 0))};
    PQclear(r);
  }
  rc = write_schema(p, t);
  /* Columns and the keys going out are replaced; the table row is updated
   * in place, so keys of other tables pointing here stay. */
  if (!rc)
    rc = cmd__exec(p->conn, p->err, "DELETE FROM tap_schema.columns WHERE table_name = $1", 1, tn);
  if (!rc)
    rc = cmd__exec(p->conn, p->err, "DELETE FROM tap_schema.keys WHERE from_table = $1", 1, tn);
  if (!rc) {
    const char *params[6] = {t->schema_name, t->table_name,  t->type,
                             t->utype,       t->description, int_text(p, t->index)};
    rc = cmd__exec(p->conn, p->err,
                   "INSERT INTO tap_schema.tables (schema_name, table_name, table_type, utype,"
                   " description, table_index) VALUES ($1, $2, $3, $4, $5, $6)"
                   " ON CONFLICT (table_name) DO UPDATE SET schema_name = EXCLUDED.schema_name,"
                   " table_type = EXCLUDED.table_type, utype = EXCLUDED.utype,"
                   " description = EXCLUDED.description, table_index = EXCLUDED.table_index",
                   6, params);
  }
  for (size_t i = 0; i < t->ncols && !rc; i++) {
    const pcol *c = &t->cols[i];
    const char *params[14];
    if (!c->publish)
      continue;
    params[0] = t->table_name;
    params[1] = c->name;
    params[2] = c->datatype;
    params[3] = c->arraysize;
    params[4] = c->xtype;
    params[5] = int_text(p, size_of(c));
    params[6] = c->description;
    params[7] = c->utype;
    params[8] = c->unit;
    params[9] = c->ucd;
    params[10] = c->indexed ? "1" : "0";
    params[11] = c->principal ? "1" : "0";
    params[12] = c->std ? "1" : "0";
    params[13] = int_text(p, c->index);
    rc = cmd__exec(p->conn, p->err,
                   "INSERT INTO tap_schema.columns (table_name, column_name, datatype, arraysize,"
                   " xtype, \"size\", description, utype, unit, ucd, indexed, principal, std,"
                   " column_index) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
                   " $14)",
                   14, params);
  }
  return rc;
}

/* 1 when `table` has the published column `col` (after this transaction's
 * writes). */
static ts_err published_column(pub *p, const char *table, const char *col, int *yes)
{
  const char *params[2] = {table, col};
  PGresult *r = cmd__sql(
      p->conn, PGRES_TUPLES_OK, p->err,
      "SELECT 1 FROM tap_schema.columns WHERE table_name = $1 AND column_name = $2", 2, params);
  if (!r)
    return TS_EDB;
  *yes = PQntuples(r) > 0;
  PQclear(r);
  return TS_OK;
}

static ts_err key_fail(pub *p, const ptable *t, const pkey *k, const char *fmt, ...)
    TS_PRINTF(4, 5);
static ts_err key_fail(pub *p, const ptable *t, const pkey *k, const char *fmt, ...)
{
  char what[300];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (k->line)
    return ts_fail(p->err, TS_EINVAL, 0, "%s:%d: <foreignKey> of %s: %s", p->tableset_name, k->line,
                   t->table_name, what);
  return ts_fail(p->err, TS_EINVAL, 0, "foreign key %s of %s: %s", k->key_id, t->table_name, what);
}

/* Keys after every table is written, since they may point at each other.
 * A key from the database whose target is not published is left out (and
 * said so); one from a tableset is an error. */
static ts_err write_keys(pub *p, ptable *t)
{
  ts_err rc = TS_OK;
  for (size_t i = 0; i < t->nkeys && !rc; i++) {
    const pkey *k = &t->keys[i];
    int ok = 1;
    const char *tp[1] = {k->target_table};
    PGresult *r = cmd__sql(p->conn, PGRES_TUPLES_OK, p->err,
                           "SELECT 1 FROM tap_schema.tables WHERE table_name = $1", 1, tp);
    if (!r)
      return TS_EDB;
    ok = PQntuples(r) > 0;
    PQclear(r);
    if (!ok && k->line)
      return key_fail(p, t, k, "target table %s is not published", k->target_table);
    for (size_t j = 0; j < k->n && ok && !rc; j++) {
      rc = published_column(p, t->table_name, k->from[j], &ok);
      if (!rc && !ok && k->line)
        return key_fail(p, t, k, "<fromColumn> %s is not a published column", k->from[j]);
      if (!rc && ok)
        rc = published_column(p, k->target_table, k->target[j], &ok);
      if (!rc && !ok && k->line)
        return key_fail(p, t, k, "<targetColumn> %s is not a published column", k->target[j]);
    }
    if (rc)
      return rc;
    if (!ok) {
      rep(p, "  foreign key %s -> %s left out: its target is not published\n", k->key_id,
          k->target_table);
      continue;
    }
    {
      const char *params[5] = {k->key_id, t->table_name, k->target_table, k->utype, k->description};
      rc = cmd__exec(p->conn, p->err,
                     "INSERT INTO tap_schema.keys (key_id, from_table, target_table, utype,"
                     " description) VALUES ($1, $2, $3, $4, $5)",
                     5, params);
    }
    for (size_t j = 0; j < k->n && !rc; j++) {
      const char *params[3] = {k->key_id, k->from[j], k->target[j]};
      rc = cmd__exec(p->conn, p->err,
                     "INSERT INTO tap_schema.key_columns (key_id, from_column, target_column)"
                     " VALUES ($1, $2, $3)",
                     3, params);
    }
    if (!rc)
      rep(p, "  foreign key %s -> %s\n", k->key_id, k->target_table);
  }
  return rc;
}

/* Keys of other tables that point at a column this publication removed
 * would make TAP_SCHEMA inconsistent: they go, and the output says so. */
static ts_err drop_dangling_keys(pub *p, const ptable *t)
{
  const char *params[1] = {t->table_name};
  PGresult *r =
      cmd__sql(p->conn, PGRES_TUPLES_OK, p->err,
               "DELETE FROM tap_schema.keys k WHERE k.target_table = $1 AND EXISTS ("
               " SELECT 1 FROM tap_schema.key_columns kc WHERE kc.key_id = k.key_id"
               " AND NOT EXISTS (SELECT 1 FROM tap_schema.columns c"
               " WHERE c.table_name = k.target_table AND c.column_name = kc.target_column))"
               " RETURNING k.key_id",
               1, params);
  if (!r)
    return TS_EDB;
  for (int i = 0; i < PQntuples(r); i++)
    rep(p, "  foreign key %s removed: it pointed at a column no longer published\n",
        PQgetvalue(r, i, 0));
  PQclear(r);
  return TS_OK;
}

static ts_err grant(pub *p, const ptable *t, const char *role)
{
  char *qr = PQescapeIdentifier(p->conn, role, strlen(role));
  char *qs = PQescapeIdentifier(p->conn, t->db_schema, strlen(t->db_schema));
  char *qt = PQescapeIdentifier(p->conn, t->db_table, strlen(t->db_table));
  char *q = qr && qs && qt ? ts_arena_printf(p->a,
                                             "GRANT USAGE ON SCHEMA %s TO %s;"
                                             " GRANT SELECT ON %s.%s TO %s;"
                                             " GRANT USAGE ON SCHEMA tap_schema TO %s;"
                                             " GRANT SELECT ON ALL TABLES IN SCHEMA tap_schema"
                                             " TO %s",
                                             qs, qr, qs, qt, qr, qr, qr)
                           : NULL;
  ts_err rc = q ? TS_OK : ts_fail(p->err, TS_ENOMEM, 0, "out of memory");
  PQfreemem(qr);
  PQfreemem(qs);
  PQfreemem(qt);
  if (!rc) {
    PGresult *r = PQexec(p->conn, q); /* several statements: simple protocol */
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      const char *msg = PQresultErrorMessage(r);
      rc = ts_fail(p->err, TS_EDB, 0, "granting SELECT on %s to %s: %.*s", t->table_name, role,
                   (int)strcspn(msg, "\n"), msg);
    }
    PQclear(r);
  }
  return rc;
}

/* ---- printing ------------------------------------------------------------------ */

static void print_table(pub *p, const ptable *t)
{
  size_t n = 0;
  for (size_t i = 0; i < t->ncols; i++)
    n += t->cols[i].publish;
  rep(p, "published %s (%s, %zu column%s)%s\n", t->table_name, t->type, n, n == 1 ? "" : "s",
      t->tst ? " from the tableset" : "");
  for (size_t i = 0; i < t->ncols; i++) {
    const pcol *c = &t->cols[i];
    char type[80];
    if (!c->publish) {
      rep(p, "  %-24s %-22s %s\n", c->name, c->pgtype, c->note ? c->note : "not published");
      continue;
    }
    snprintf(type, sizeof type, "%s%s%s%s", c->datatype, c->arraysize ? "[" : "",
             c->arraysize ? c->arraysize : "", c->arraysize ? "]" : "");
    rep(p, "  %-24s %-22s %-16s%s%s%s%s%s%s%s%s%s%s\n", c->name, c->pgtype, type,
        c->xtype ? " xtype=" : "", c->xtype ? c->xtype : "", c->unit ? " unit=" : "",
        c->unit ? c->unit : "", c->ucd ? " ucd=" : "", c->ucd ? c->ucd : "",
        c->indexed ? " indexed" : "", c->principal ? " principal" : "", c->note ? " -- " : "",
        c->note ? c->note : "");
  }
}

/* ---- the command ------------------------------------------------------------------ */

static void publish_usage(FILE *f)
{
  fputs(
      "usage: tapserve publish (-c FILE | --dsn CONNINFO) [OPTIONS] [schema.table | schema.*]...\n"
      "\n"
      "Publishes tables that exist in PostgreSQL: writes their TAP_SCHEMA rows\n"
      "(columns, types, flags, foreign keys) in one transaction and grants SELECT\n"
      "to the query role. See docs/publishing.md.\n"
      "\n"
      "  -c FILE            the serve configuration ([database] dsn, query_dsn)\n"
      "  --dsn CONNINFO     connect with this libpq connection string instead\n"
      "  --tableset FILE    VODataService tableset: descriptions, units, UCDs, utypes,\n"
      "                     flags and foreign keys of the tables it lists\n"
      "  --grant ROLE       grant SELECT to ROLE (default: the user of query_dsn)\n"
      "  --skip-unsupported leave out columns of types tapserve cannot stream\n"
      "                     (default: refuse the table)\n",
      f);
}

/* Reads a whole tableset file, refusing one over the cap before reading. */
static ts_err load_tableset(const char *path, fmt_tableset **out, ts_error *err)
{
  FILE *f = fopen(path, "rb");
  struct stat st;
  char *buf = NULL;
  size_t n = 0;
  ts_err rc;
  if (!f)
    return ts_fail(err, TS_EIO, 0, "%s: %s", path, strerror(errno));
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > FMT_TABLESET_MAX) {
    fclose(f);
    return ts_fail(err, TS_ELIMIT, 0,
                   "%s: %lld bytes is larger than the %zu MiB a tableset may have; nothing "
                   "was read",
                   path, (long long)st.st_size, FMT_TABLESET_MAX >> 20);
  }
  buf = malloc(FMT_TABLESET_MAX + 1);
  if (!buf) {
    fclose(f);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  n = fread(buf, 1, FMT_TABLESET_MAX + 1, f);
  if (ferror(f))
    rc = ts_fail(err, TS_EIO, 0, "%s: %s", path, strerror(errno));
  else
    rc = fmt_tableset_read(buf, n, path, out, err); /* a pipe over the cap fails here */
  fclose(f);
  free(buf);
  return rc;
}

static ts_err add_target(pub *p, const char *arg)
{
  long dot = pub__split_qualified(arg);
  const char *s, *tb;
  ptable *t;
  if (dot <= 0 || !arg[dot + 1])
    return ts_fail(p->err, TS_EINVAL, 0, "%s: expected schema.table or schema.*", arg);
  s = adql_db_ident(p->a, arg, (size_t)dot);
  if (!strcmp(arg + dot + 1, "*"))
    return pub__add_schema_tables(p, s, arg);
  tb = adql_db_ident(p->a, arg + dot + 1, strlen(arg + dot + 1));
  /* A plain name is tried as typed first, then folded to lower case. */
  if (arg[0] != '"' && arg[dot + 1] != '"') {
    const char *exact_s = ts_arena_strndup(p->a, arg, (size_t)dot);
    ts_error quiet;
    pub tmp = *p;
    tmp.err = &quiet;
    if (pub__find_table(&tmp, exact_s, arg + dot + 1, arg, &t) == TS_OK) {
      p->tables = tmp.tables, p->ntables = tmp.ntables, p->captables = tmp.captables;
      return TS_OK;
    }
  }
  return pub__find_table(p, s, tb, arg, &t);
}

static ts_err add_tableset_tables(pub *p, const fmt_tableset *ts)
{
  ts_err rc = TS_OK;
  for (size_t s = 0; s < ts->nschemas && !rc; s++) {
    const fmt_ts_schema *sc = &ts->schemas[s];
    if (ts_strcaseeq(sc->name, "TAP_SCHEMA"))
      return ts_fail(p->err, TS_EINVAL, 0,
                     "%s:%d: <schema> TAP_SCHEMA is tapserve's own; it cannot be published",
                     p->tableset_name, sc->line);
    for (size_t i = 0; i < sc->ntables && !rc; i++) {
      const fmt_ts_table *tt = &sc->tables[i];
      long dot = pub__split_qualified(tt->name);
      const char *qual = tt->name;
      ptable *t;
      char what[300];
      if (dot < 0) /* an unqualified name belongs to its <schema> */
        qual = ts_arena_printf(p->a, "%s.%s", sc->name, tt->name);
      dot = pub__split_qualified(qual);
      if (!qual || dot <= 0 || strncmp(qual, sc->name, (size_t)dot) != 0 ||
          strlen(sc->name) != (size_t)dot)
        return ts_fail(p->err, TS_EINVAL, 0, "%s:%d: <table> %s is not in its <schema> %s",
                       p->tableset_name, tt->line, tt->name, sc->name);
      snprintf(what, sizeof what, "%s:%d: <table> %s", p->tableset_name, tt->line, tt->name);
      rc = pub__find_table(p, adql_db_ident(p->a, qual, (size_t)dot),
                           adql_db_ident(p->a, qual + dot + 1, strlen(qual + dot + 1)), what, &t);
      if (rc)
        return rc;
      if (t->tst)
        return ts_fail(p->err, TS_EINVAL, 0, "%s:%d: <table> %s is declared twice",
                       p->tableset_name, tt->line, tt->name);
      t->tss = sc;
      t->tst = tt;
      t->ts_schema_pos = s + 1;
      t->ts_table_pos = i + 1;
      t->schema_name = sc->name;
      t->table_name = qual;
    }
  }
  return rc;
}

static ts_err run_publish(pub *p, const char *role)
{
  ts_err rc = TS_OK;
  PGresult *r = cmd__sql(p->conn, PGRES_TUPLES_OK, p->err, "SHOW server_encoding", 0, NULL);
  if (!r)
    return TS_EDB;
  p->utf8 = !strcmp(PQgetvalue(r, 0, 0), "UTF8");
  PQclear(r);
  for (size_t i = 0; i < p->ntables && !rc; i++) {
    ptable *t = &p->tables[i];
    rc = pub__read_columns(p, t);
    if (!rc)
      rc = t->tst ? pub__decide_tableset(p, t) : pub__decide_guessed(p, t);
    if (!rc)
      rc = t->tst ? pub__tableset_keys(p, t) : pub__old_keys(p, t);
    if (!rc && !t->tst)
      rc = pub__pg_keys(p, t);
    if (!rc)
      rc = write_table(p, t);
  }
  for (size_t i = 0; i < p->ntables && !rc; i++) {
    print_table(p, &p->tables[i]);
    rc = write_keys(p, &p->tables[i]);
    if (!rc)
      rc = drop_dangling_keys(p, &p->tables[i]);
  }
  for (size_t i = 0; i < p->ntables && !rc && role; i++)
    rc = grant(p, &p->tables[i], role);
  return rc;
}

int cmd_publish(int argc, char **argv)
{
  static const char *prog = "tapserve publish";
  cmd_db o;
  const char *tableset = NULL, *grant_role = NULL, *role;
  fmt_tableset *ts = NULL;
  PGconn *conn = NULL;
  pub p;
  ts_error err;
  ts_err rc = TS_OK;
  int status = 1, ntargets = 0;

  memset(&o, 0, sizeof o);
  memset(&p, 0, sizeof p);
  ts_buf_init(&p.report, 64 << 20);
  ts_error_clear(&err);
  {
    const cmd_opt opts[] = {{"--tableset", NULL, &tableset},
                            {"--grant", NULL, &grant_role},
                            {"--skip-unsupported", &p.skip_unsupported, NULL},
                            {NULL, NULL, NULL}};
    int st = cmd_args(argc, argv, prog, &o, opts, publish_usage, &ntargets);
    if (st >= 0)
      return st;
  }
  if (!ntargets && !tableset) {
    fprintf(stderr,
            "%s: name the tables to publish (schema.table or schema.*) or give "
            "--tableset FILE\n",
            prog);
    return 2;
  }
  if (tableset && load_tableset(tableset, &ts, &err)) {
    fprintf(stderr, "%s: %s\n%s: nothing was published (TAP_SCHEMA is unchanged)\n", prog, err.msg,
            prog);
    return 1;
  }
  rc = pub__open(&p, prog, &o, &err) ? TS_EDB : TS_OK;
  conn = p.conn;
  if (rc)
    goto out;
  p.tableset_name = tableset;
  role = pub__query_role(&p, &o, grant_role);
  rc = meta_ensure_tap_schema(conn, &err);
  if (!rc)
    rc = cmd__exec(conn, &err, "BEGIN", 0, NULL);
  if (rc)
    goto fail;
  /* Publishers queue behind each other; readers see the old rows until
   * COMMIT. */
  {
    PGresult *r = cmd__sql(conn, PGRES_TUPLES_OK, &err,
                           "SELECT pg_advisory_xact_lock(hashtext('tapserve.publish'))", 0, NULL);
    rc = r ? TS_OK : TS_EDB;
    PQclear(r);
  }
  if (!rc && ts)
    rc = add_tableset_tables(&p, ts);
  for (int i = 1; i <= ntargets && !rc; i++)
    rc = add_target(&p, argv[i]);
  if (!rc)
    rc = run_publish(&p, role);
  if (!rc)
    rc = cmd__exec(conn, &err, "COMMIT", 0, NULL);
  if (rc)
    goto fail;
  fwrite(p.report.data ? p.report.data : "", 1, p.report.len, stdout);
  if (role)
    printf("granted SELECT on %zu table%s to %s\n", p.ntables, p.ntables == 1 ? "" : "s", role);
  else
    printf("no query role: nothing was granted (no --grant, no query_dsn user in the "
           "configuration, and no instance has recorded its query role in the database; use "
           "--grant ROLE)\n");
  status = 0;
  goto out;
fail:
  PQclear(PQexec(conn, "ROLLBACK"));
  fprintf(stderr, "%s: %s\n%s: nothing was published (TAP_SCHEMA is unchanged)\n", prog, err.msg,
          prog);
out:
  if (conn)
    PQfinish(conn);
  ts_arena_free(p.a);
  ts_buf_free(&p.report);
  fmt_tableset_free(ts);
  cmd_db_free(&o);
  return status;
}
