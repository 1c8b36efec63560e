/* tapserve/cmd/unpublish.c: `tapserve unpublish`, published tables
 * removed from TAP_SCHEMA in one transaction (docs/publishing.md). */
#include "tapserve/cmd/publish_int.h"

#include <stdio.h>
#include <string.h>

/* ---- unpublish ------------------------------------------------------------------- */

static void unpublish_usage(FILE *f)
{
  fputs("usage: tapserve unpublish (-c FILE | --dsn CONNINFO) [--revoke] [--grant ROLE]\n"
        "                          schema.table | schema.* ...\n"
        "\n"
        "Removes published tables from TAP_SCHEMA (their columns, and foreign keys\n"
        "from or to them) in one transaction; a schema left without tables goes too.\n"
        "The data stays. --revoke also revokes SELECT from the query role (the user\n"
        "of query_dsn, or ROLE).\n",
        f);
}

static ts_err unpublish_one(pub *p, const char *arg, const char *role)
{
  long dot = pub__split_qualified(arg);
  PGresult *r;
  ts_err rc = TS_OK;
  if (dot <= 0 || !arg[dot + 1])
    return ts_fail(p->err, TS_EINVAL, 0, "%s: expected schema.table or schema.*", arg);
  {
    const char *schema = ts_arena_strndup(p->a, arg, (size_t)dot);
    const char *params[1] = {!strcmp(arg + dot + 1, "*") ? schema : arg};
    r = cmd__sql(p->conn, PGRES_TUPLES_OK, p->err,
                 !strcmp(arg + dot + 1, "*")
                     ? "SELECT table_name, schema_name FROM tap_schema.tables"
                       " WHERE lower(schema_name) = lower($1) AND schema_name <> 'TAP_SCHEMA'"
                     : "SELECT table_name, schema_name FROM tap_schema.tables"
                       " WHERE lower(table_name) = lower($1) AND schema_name <> 'TAP_SCHEMA'",
                 1, params);
  }
  if (!r)
    return TS_EDB;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return ts_fail(p->err, TS_ENOTFOUND, 0, "%s is not published", arg);
  }
  for (int i = 0; i < PQntuples(r) && !rc; i++) {
    const char *params[2] = {PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)};
    /* columns and keys from or to the table go by ON DELETE CASCADE */
    rc = cmd__exec(p->conn, p->err, "DELETE FROM tap_schema.tables WHERE table_name = $1", 1,
                   params);
    if (!rc)
      rc = cmd__exec(p->conn, p->err,
                     "DELETE FROM tap_schema.schemas s WHERE s.schema_name = $1"
                     " AND NOT EXISTS (SELECT 1 FROM tap_schema.tables t"
                     " WHERE t.schema_name = s.schema_name)",
                     1, params + 1);
    if (!rc && role) {
      long d = pub__split_qualified(params[0]);
      const char *s = d > 0 ? adql_db_ident(p->a, params[0], (size_t)d) : NULL;
      const char *tb =
          d > 0 ? adql_db_ident(p->a, params[0] + d + 1, strlen(params[0] + d + 1)) : NULL;
      char *qs = s ? PQescapeIdentifier(p->conn, s, strlen(s)) : NULL;
      char *qt = tb ? PQescapeIdentifier(p->conn, tb, strlen(tb)) : NULL;
      char *qr = PQescapeIdentifier(p->conn, role, strlen(role));
      char *q = qs && qt && qr ? ts_arena_printf(p->a, "REVOKE SELECT ON %s.%s FROM %s", qs, qt, qr)
                               : NULL;
      rc = q ? cmd__exec(p->conn, p->err, q, 0, NULL)
             : ts_fail(p->err, TS_ENOMEM, 0, "out of memory");
      PQfreemem(qs);
      PQfreemem(qt);
      PQfreemem(qr);
    }
    if (!rc)
      printf("unpublished %s%s%s\n", params[0], role ? "; revoked SELECT from " : "",
             role ? role : "");
  }
  PQclear(r);
  return rc;
}

int cmd_unpublish(int argc, char **argv)
{
  static const char *prog = "tapserve unpublish";
  cmd_db o;
  const char *grant_role = NULL, *role = NULL;
  int revoke = 0, ntargets = 0, status = 1;
  PGconn *conn = NULL;
  pub p;
  ts_error err;
  ts_err rc = TS_OK;

  memset(&o, 0, sizeof o);
  memset(&p, 0, sizeof p);
  ts_error_clear(&err);
  {
    const cmd_opt opts[] = {
        {"--revoke", &revoke, NULL}, {"--grant", NULL, &grant_role}, {NULL, NULL, NULL}};
    int st = cmd_args(argc, argv, prog, &o, opts, unpublish_usage, &ntargets);
    if (st >= 0)
      return st;
  }
  if (!ntargets) {
    fprintf(stderr, "%s: name the tables to unpublish (schema.table or schema.*)\n", prog);
    return 2;
  }
  rc = pub__open(&p, prog, &o, &err) ? TS_EDB : TS_OK;
  conn = p.conn;
  if (rc)
    goto out;
  if (revoke) {
    role = pub__query_role(&p, &o, grant_role);
    if (!role) {
      fprintf(stderr,
              "%s: --revoke needs a query role: query_dsn with a user in the "
              "configuration, or --grant ROLE\n",
              prog);
      goto out;
    }
  }
  rc = meta_ensure_tap_schema(conn, &err);
  if (!rc)
    rc = cmd__exec(conn, &err, "BEGIN", 0, NULL);
  for (int i = 1; i <= ntargets && !rc; i++)
    rc = unpublish_one(&p, argv[i], role);
  if (!rc)
    rc = cmd__exec(conn, &err, "COMMIT", 0, NULL);
  if (rc) {
    PQclear(PQexec(conn, "ROLLBACK"));
    fprintf(stderr, "%s: %s\n%s: nothing was unpublished (TAP_SCHEMA is unchanged)\n", prog,
            err.msg, prog);
    goto out;
  }
  status = 0;
out:
  if (conn)
    PQfinish(conn);
  ts_arena_free(p.a);
  cmd_db_free(&o);
  return status;
}
