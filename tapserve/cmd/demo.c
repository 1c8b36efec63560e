/* tapserve/cmd/demo.c: `tapserve demo`, a TAP service over a private
 * PostgreSQL cluster holding a deterministic demo catalogue.
 *
 * Everything it makes is kept (the cluster keeps running after tapserve
 * exits), so a second run only checks and starts serving. */
#include "tapserve/tapserve.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEMO_DEFAULT_DIR  "var/demo-pg"
#define DEMO_DEFAULT_ROWS 1000000
#define DEMO_SCHEMA_NOTE  "tapserve demo catalogue (synthetic, deterministic)"

typedef struct demo_opts {
  int port;
  int port_given;
  const char *listen;
  int listen_given;
  const char *data_dir;
  int pg_port;
  int64_t rows;
  int no_serve;
  int stop;
  const char *config;
} demo_opts;

static void demo_usage(FILE *f)
{
  fputs("usage: tapserve demo [OPTIONS]\n"
        "Starts (creating it on first use) a private PostgreSQL cluster holding the\n"
        "demo catalogue (schema demo: tables sources and fields), then serves TAP.\n"
        "The cluster keeps running after tapserve exits; the next run reuses it.\n"
        "\n"
        "  --port N         HTTP port (default: $PORT, else 8080)\n"
        "  --listen ADDR    HTTP listen address (default 127.0.0.1)\n"
        "  --data-dir DIR   cluster directory (default ./" DEMO_DEFAULT_DIR ")\n"
        "  --pg-port N      PostgreSQL port on 127.0.0.1 (default 54320)\n"
        "  --rows N         rows in demo.sources (default 1000000)\n"
        "  --no-serve       prepare the database, print how to reach it, and exit\n"
        "  --stop           stop the cluster in --data-dir and exit\n"
        "  -c FILE          extra configuration (INI, docs/configuration.md); the\n"
        "                   options above win over it, and its dsn is ignored\n"
        "  --help           this text\n",
        f);
}

static int parse_port(const char *s, const char *what, int *out)
{
  int64_t v;
  if (ts_parse_int64(s, &v) || v < 0 || v > 65535) {
    fprintf(stderr, "tapserve demo: %s must be a port number (0-65535), not \"%s\"\n", what, s);
    return -1;
  }
  *out = (int)v;
  return 0;
}

/* Returns 0 to go on, 1 when done (--help), -1 on a usage error. */
static int parse_args(int argc, char **argv, demo_opts *o)
{
  const char *env_port = getenv("PORT");
  memset(o, 0, sizeof(*o));
  o->port = 8080;
  o->listen = "127.0.0.1";
  o->data_dir = DEMO_DEFAULT_DIR;
  o->pg_port = 54320;
  o->rows = DEMO_DEFAULT_ROWS;
  if (env_port && *env_port) {
    if (parse_port(env_port, "the environment variable PORT", &o->port))
      return -1;
    o->port_given = 1;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    int takes = !strcmp(a, "--port") || !strcmp(a, "--listen") || !strcmp(a, "--data-dir") ||
                !strcmp(a, "--pg-port") || !strcmp(a, "--rows") || !strcmp(a, "-c") ||
                !strcmp(a, "--config");
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      demo_usage(stdout);
      return 1;
    }
    if (takes && !v) {
      fprintf(stderr, "tapserve demo: %s needs a value (try --help)\n", a);
      return -1;
    }
    if (!strcmp(a, "--port")) {
      if (parse_port(v, "--port", &o->port))
        return -1;
      o->port_given = 1;
    } else if (!strcmp(a, "--listen")) {
      o->listen = v;
      o->listen_given = 1;
    } else if (!strcmp(a, "--data-dir")) {
      o->data_dir = v;
    } else if (!strcmp(a, "--pg-port")) {
      if (parse_port(v, "--pg-port", &o->pg_port))
        return -1;
      if (o->pg_port == 0) {
        fputs("tapserve demo: --pg-port must not be 0\n", stderr);
        return -1;
      }
    } else if (!strcmp(a, "--rows")) {
      if (ts_parse_int64(v, &o->rows) || o->rows < 1 || o->rows > 2000000000) {
        fprintf(stderr, "tapserve demo: --rows must be a number from 1 to 2000000000, not \"%s\"\n",
                v);
        return -1;
      }
    } else if (!strcmp(a, "-c") || !strcmp(a, "--config")) {
      o->config = v;
    } else if (!strcmp(a, "--no-serve")) {
      o->no_serve = 1;
    } else if (!strcmp(a, "--stop")) {
      o->stop = 1;
    } else {
      fprintf(stderr, "tapserve demo: unexpected argument %s (try --help)\n", a);
      return -1;
    }
    if (takes)
      i++;
  }
  return 0;
}

/* A fingerprint of demo.sql and the row count, kept as the comment of
 * schema demo: when either changes, the catalogue is rebuilt. */
static void demo_version(int64_t rows, char *out, size_t len)
{
  uint64_t h = ts_hash64(sql_demo, strlen(sql_demo), TS_HASH64_INIT);
  snprintf(out, len, DEMO_SCHEMA_NOTE "; rows %lld; script %016llx", (long long)rows,
           (unsigned long long)h);
}

static ts_err exec_ok(PGconn *c, const char *sql, const char *what, ts_error *err)
{
  PGresult *r = PQexec(c, sql);
  ExecStatusType st = PQresultStatus(r);
  ts_err rc = TS_OK;
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    rc = ts_fail(err, TS_EDB, 0, "%s: %s", what, PQerrorMessage(c));
  PQclear(r);
  return rc;
}

/* 1 when schema demo holds what this build of demo.sql makes for `rows`
 * and TAP_SCHEMA still describes it; 0 when it must be (re)loaded. */
static int demo_is_current(PGconn *c, const char *version)
{
  const char *params[1] = {version};
  PGresult *r = PQexecParams(c,
                             "SELECT obj_description(n.oid, 'pg_namespace') = $1"
                             "   AND to_regclass('demo.sources') IS NOT NULL"
                             "   AND to_regclass('demo.fields') IS NOT NULL"
                             "   AND (SELECT count(*) FROM tap_schema.tables"
                             "         WHERE table_name IN ('demo.sources', 'demo.fields')) = 2"
                             "  FROM pg_namespace n WHERE n.nspname = 'demo'",
                             1, NULL, params, NULL, NULL, 0);
  int ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
           !strcmp(PQgetvalue(r, 0, 0), "t");
  PQclear(r);
  return ok;
}

static ts_err demo_load(PGconn *c, int64_t rows, const char *version, ts_error *err)
{
  char sql[512];
  char *lit;
  ts_err rc;
  int64_t t0 = ts_now_ms();

  printf("loading %lld demo rows ...\n", (long long)rows);
  fflush(stdout);
  rc = exec_ok(c, "BEGIN", "BEGIN", err);
  if (rc)
    return rc;
  snprintf(sql, sizeof(sql), "SET LOCAL tapserve.demo_rows = '%lld'", (long long)rows);
  rc = exec_ok(c, sql, "setting tapserve.demo_rows", err);
  if (!rc)
    rc = exec_ok(c, sql_demo, "loading the demo catalogue (tapserve/sql/demo.sql)", err);
  if (!rc) {
    lit = PQescapeLiteral(c, version, strlen(version));
    if (!lit)
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    if (!rc) {
      snprintf(sql, sizeof(sql), "COMMENT ON SCHEMA demo IS %s", lit);
      rc = exec_ok(c, sql, "marking the demo schema", err);
    }
    PQfreemem(lit);
  }
  if (!rc)
    rc = exec_ok(c, "COMMIT", "COMMIT", err);
  if (rc) {
    PGresult *r = PQexec(c, "ROLLBACK");
    PQclear(r);
    return rc;
  }
  printf("loaded %lld demo rows in %.1f s\n", (long long)rows, (double)(ts_now_ms() - t0) / 1000.0);
  return TS_OK;
}

static int set_str(char **field, const char *value)
{
  char *dup = strdup(value);
  if (!dup)
    return -1;
  free(*field);
  *field = dup;
  return 0;
}

/* The host part of a URL for a listen address: a wildcard address is not
 * something a browser can open, loopback is; IPv6 needs brackets. */
static void url_host(const char *listen, char *out, size_t len)
{
  if (!strcmp(listen, "0.0.0.0") || !strcmp(listen, "::") || !*listen)
    snprintf(out, len, "127.0.0.1");
  else if (strchr(listen, ':'))
    snprintf(out, len, "[%s]", listen);
  else
    snprintf(out, len, "%s", listen);
}

static ts_err build_cfg(const demo_opts *o, const char *dsn, cfg *c, ts_error *err)
{
  char host[300], url[400];
  ts_err rc;

  cfg_defaults(c);
  url_host(o->listen, host, sizeof(host));
  snprintf(url, sizeof(url), "http://%s:%d/tap", host, o->port);
  if (set_str(&c->listen, o->listen) || set_str(&c->base_url, url) || set_str(&c->dsn, dsn))
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  c->port = o->port;
  if (o->config) {
    rc = cfg_load(c, o->config, err);
    if (rc)
      return rc;
    /* The file may tune anything, but the demo's database is the embedded
     * one, and options given on the command line win. */
    if (set_str(&c->dsn, dsn))
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    if (o->listen_given && set_str(&c->listen, o->listen))
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    if (o->port_given)
      c->port = o->port;
    /* A base_url the file did not change follows the final address. */
    if (c->base_url && !strcmp(c->base_url, url)) {
      url_host(c->listen, host, sizeof(host));
      snprintf(url, sizeof(url), "http://%s:%d/tap", host, c->port);
      if (set_str(&c->base_url, url))
        return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    }
  }
  /* Users' queries run as the read-only role demo.sql creates. */
  char qdsn[PATH_MAX + 160];
  const char *u = strstr(dsn, " user=");
  snprintf(qdsn, sizeof(qdsn), "%.*s user=tapserve_query", u ? (int)(u - dsn) : (int)strlen(dsn),
           dsn);
  if (set_str(&c->query_dsn, qdsn))
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  return cfg_finish(c, err);
}

int cmd_demo(int argc, char **argv)
{
  demo_opts o;
  pgc_opts po;
  char dsn[PATH_MAX + 128];
  ts_error err;
  PGconn *conn = NULL;
  char version[256];
  cfg c;
  int pr, rc;

  ts_error_clear(&err);
  pr = parse_args(argc, argv, &o);
  if (pr)
    return pr > 0 ? 0 : 2;
  po.data_dir = o.data_dir;
  po.port = o.pg_port;

  if (o.stop) {
    if (pgc_stop(&po, &err)) {
      fprintf(stderr, "tapserve demo: %s\n", err.msg);
      return 1;
    }
    return 0;
  }

  if (pgc_ensure(&po, dsn, sizeof(dsn), &err))
    goto fail;
  conn = PQconnectdb(dsn);
  if (PQstatus(conn) != CONNECTION_OK) {
    ts_fail(&err, TS_EUNAVAIL, 0, "cannot connect to %s: %s", dsn, PQerrorMessage(conn));
    goto fail;
  }
  /* The NOTICEs of CREATE ... IF NOT EXISTS on every run are noise here. */
  if (exec_ok(conn, "SET client_min_messages = warning", "SET", &err) ||
      meta_ensure_tap_schema(conn, &err))
    goto fail;
  demo_version(o.rows, version, sizeof(version));
  if (demo_is_current(conn, version))
    printf("demo catalogue ready (%lld rows in demo.sources)\n", (long long)o.rows);
  else if (demo_load(conn, o.rows, version, &err))
    goto fail;
  PQfinish(conn);
  conn = NULL;

  if (build_cfg(&o, dsn, &c, &err)) {
    cfg_free(&c);
    goto fail;
  }
  /* The plain DSN comes last: scripts take the last line holding one. */
  printf("\n"
         "  TAP service   %s\n"
         "  try           curl '%s/sync?LANG=ADQL&QUERY=SELECT+TOP+5+*+FROM+demo.sources'\n"
         "  psql          psql '%s'\n"
         "  over TCP      host=127.0.0.1 port=%d dbname=tapserve user=postgres\n"
         "  stop the db   tapserve demo --stop --data-dir %s\n"
         "  database      %s\n"
         "\n",
         c.base_url, c.base_url, dsn, o.pg_port, o.data_dir, dsn);
  fflush(stdout);
  if (o.no_serve) {
    cfg_free(&c);
    return 0;
  }
  rc = ts_serve(&c);
  cfg_free(&c);
  return rc;

fail:
  if (conn)
    PQfinish(conn);
  fprintf(stderr, "tapserve demo: %s\n", err.msg);
  return 1;
}
