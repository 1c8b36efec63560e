/* tapserve/cmd/db.c: the database options every connecting subcommand
 * takes (-c FILE or --dsn CONNINFO) and small libpq helpers for cmd/. */
#include "jobs/jobs.h"
#include "tapserve/cmd/publish_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- options and connection (shared by publish, unpublish, tableset) ----- */

int cmd_db_option(int argc, char **argv, int *i, cmd_db *o)
{
  const char *a = argv[*i];
  if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && *i + 1 < argc) {
    o->config = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--dsn") && *i + 1 < argc) {
    o->dsn = argv[++*i];
    return 1;
  }
  return 0;
}

/* The option `a` names in `opts`, or NULL. */
static const cmd_opt *find_opt(const cmd_opt *opts, const char *a)
{
  for (; opts && opts->name; opts++)
    if (!strcmp(opts->name, a))
      return opts;
  return NULL;
}

int cmd_args(int argc, char **argv, const char *prog, cmd_db *o, const cmd_opt *opts,
             void (*usage)(FILE *), int *noperands)
{
  int n = 0;
  for (int i = 1; i < argc; i++) {
    const cmd_opt *op = find_opt(opts, argv[i]);
    if (cmd_db_option(argc, argv, &i, o))
      continue;
    if (op && op->value && i + 1 < argc)
      *op->value = argv[++i];
    else if (op && op->flag)
      *op->flag = 1;
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      usage(stdout);
      return 0;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "%s: unexpected option %s (try --help)\n", prog, argv[i]);
      return 2;
    } else
      argv[++n] = argv[i]; /* n < i: only arguments already read are overwritten */
  }
  *noperands = n;
  return -1;
}

PGconn *cmd_db_connect(const char *prog, cmd_db *o)
{
  ts_error err;
  PGconn *conn;
  const char *dsn = o->dsn;
  if (o->config && o->dsn) {
    fprintf(stderr, "%s: give either -c FILE or --dsn CONNINFO, not both\n", prog);
    return NULL;
  }
  if (!o->config && !o->dsn) {
    fprintf(stderr,
            "%s: a configuration file (-c FILE) or a connection (--dsn CONNINFO) "
            "is required\n",
            prog);
    return NULL;
  }
  if (o->config) {
    cfg_defaults(&o->cfg);
    o->have_cfg = 1;
    if (cfg_load(&o->cfg, o->config, &err) || cfg_finish(&o->cfg, &err)) {
      fprintf(stderr, "%s: %s\n", prog, err.msg);
      return NULL;
    }
    dsn = o->cfg.dsn;
  }
  conn = stream_pg_connect_blocking(dsn, &err);
  if (!conn)
    fprintf(stderr, "%s: %s\n", prog, err.msg);
  return conn;
}

void cmd_db_free(cmd_db *o)
{
  if (o->have_cfg)
    cfg_free(&o->cfg);
  o->have_cfg = 0;
}

/* ---- small SQL helpers ----------------------------------------------------- */

/* One statement with text parameters; NULL (message in err) unless the
 * status is `want`. */
PGresult *cmd__sql(PGconn *conn, ExecStatusType want, ts_error *err, const char *q, int n,
                   const char *const *params)
{
  PGresult *r = PQexecParams(conn, q, n, NULL, params, NULL, NULL, 0);
  if (r && PQresultStatus(r) == want)
    return r;
  {
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
    ts_fail(err, TS_EDB, 0, "%.*s", (int)strcspn(msg, "\n"), msg);
  }
  PQclear(r);
  return NULL;
}

ts_err cmd__exec(PGconn *conn, ts_error *err, const char *q, int n, const char *const *params)
{
  PGresult *r = cmd__sql(conn, PGRES_COMMAND_OK, err, q, n, params);
  if (!r)
    return TS_EDB;
  PQclear(r);
  return TS_OK;
}

const char *cmd__val(const PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

int pub__open(pub *p, const char *prog, cmd_db *o, ts_error *err)
{
  p->conn = cmd_db_connect(prog, o);
  p->a = ts_arena_new(64 * 1024, 0);
  p->err = err;
  return p->conn && p->a ? 0 : -1;
}

const char *pub__query_role(pub *p, const cmd_db *o, const char *grant_role)
{
  PQconninfoOption *opts;
  const char *role = NULL;
  if (grant_role)
    return grant_role;
  if (!o->have_cfg || !o->cfg.query_dsn || !o->cfg.query_dsn[0])
    opts = NULL;
  else
    opts = PQconninfoParse(o->cfg.query_dsn, NULL);
  for (PQconninfoOption *i = opts; i && i->keyword; i++)
    if (!strcmp(i->keyword, "user") && i->val && i->val[0])
      role = pub__dup(p, i->val);
  PQconninfoFree(opts);
  if (role)
    return role;
  /* Given only a DSN (the demo's, say): the role the instances serving
   * this database last recorded. */
  ts_error e;
  PGresult *r = p->conn ? jobs_query_roles(p->conn, &e) : NULL;
  if (r && PQntuples(r) > 0)
    role = pub__dup(p, PQgetvalue(r, 0, 0));
  PQclear(r);
  return role;
}

int cmd__int(const char *s)
{
  long v = s ? strtol(s, NULL, 10) : 0;
  return v < INT32_MIN ? INT32_MIN : v > INT32_MAX ? INT32_MAX : (int)v;
}
