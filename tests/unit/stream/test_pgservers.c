/* stream/pgservers.c: the servers of a multi-host connection string, the
 * round-robin over those that are up, and (against the test server) the
 * pool and the blocking connect skipping a server that refuses. */
#include "stream/pg.h"
#include "test_list.h"
#include "ts_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The value of keyword k in server i's connection parameters, or NULL. */
static const char *param(const stream_pg_servers *s, int i, const char *app, const char *k)
{
  static const char *kw[STREAM_PG_PARAMS_MAX], *val[STREAM_PG_PARAMS_MAX];
  stream_pg_servers_params(s, i, app, kw, val);
  for (int n = 0; kw[n]; n++)
    if (!strcmp(kw[n], k))
      return val[n];
  return NULL;
}

static int refused(const char *dsn, const char *want)
{
  stream_pg_servers *s = NULL;
  ts_error err;
  ts_err rc = stream_pg_servers_new(dsn, 0, &s, &err);
  if (rc != TS_EINVAL || s || !strstr(err.msg, want)) {
    fprintf(stderr, "# %s: rc %d, message \"%s\", wanted \"%s\"\n", dsn, rc, err.msg, want);
    return 0;
  }
  return 1;
}

int test_servers_parse(void)
{
  stream_pg_servers *s;
  ts_error err;

  TS_CHECK_EQ_INT(stream_pg_servers_new("host=a,b port=5433,5434 dbname=x user=q "
                                        "target_session_attrs=read-write application_name=z",
                                        0, &s, &err),
                  TS_OK);
  TS_CHECK_EQ_INT(stream_pg_servers_count(s), 2);
  TS_CHECK_STREQ(stream_pg_servers_name(s, 0), "a:5433");
  TS_CHECK_STREQ(stream_pg_servers_name(s, 1), "b:5434");
  TS_CHECK_STREQ(param(s, 1, NULL, "host"), "b");
  TS_CHECK_STREQ(param(s, 1, NULL, "port"), "5434");
  TS_CHECK_STREQ(param(s, 1, NULL, "dbname"), "x");
  TS_CHECK_STREQ(param(s, 1, NULL, "user"), "q");
  TS_CHECK_STREQ(param(s, 1, NULL, "application_name"), "z");
  TS_CHECK_STREQ(param(s, 1, "tapserve", "application_name"), "tapserve");
  TS_CHECK(param(s, 0, NULL, "target_session_attrs") == NULL); /* it would refuse standbys */
  stream_pg_servers_free(s);

  /* URI form; one port for every host; hostaddr lists. */
  TS_CHECK_EQ_INT(stream_pg_servers_new("postgresql://u@h1:7001,h2:7002/db", 0, &s, &err), TS_OK);
  TS_CHECK_EQ_INT(stream_pg_servers_count(s), 2);
  TS_CHECK_STREQ(stream_pg_servers_name(s, 1), "h2:7002");
  TS_CHECK_STREQ(param(s, 0, NULL, "dbname"), "db");
  TS_CHECK_STREQ(param(s, 0, NULL, "user"), "u");
  stream_pg_servers_free(s);
  TS_CHECK_EQ_INT(stream_pg_servers_new("host=a,b,c port=6000", 0, &s, &err), TS_OK);
  TS_CHECK_EQ_INT(stream_pg_servers_count(s), 3);
  TS_CHECK_STREQ(param(s, 2, NULL, "port"), "6000");
  stream_pg_servers_free(s);
  TS_CHECK_EQ_INT(
      stream_pg_servers_new("host=a,b hostaddr=127.0.0.1,127.0.0.2 port=1,2", 0, &s, &err), TS_OK);
  TS_CHECK_STREQ(param(s, 1, NULL, "hostaddr"), "127.0.0.2");
  TS_CHECK_STREQ(param(s, 1, NULL, "host"), "b");
  stream_pg_servers_free(s);

  /* One server, and none named (libpq's defaults). */
  TS_CHECK_EQ_INT(stream_pg_servers_new("dbname=x", 0, &s, &err), TS_OK);
  TS_CHECK_EQ_INT(stream_pg_servers_count(s), 1);
  TS_CHECK(param(s, 0, NULL, "host") == NULL);
  TS_CHECK_STREQ(stream_pg_servers_name(s, 0), "(default):(default)");
  stream_pg_servers_free(s);

  TS_CHECK(refused("host=a,b port=1,2,3", "2 servers but 3 ports"));
  TS_CHECK(refused("host=a,b hostaddr=127.0.0.1", "2 hosts but 1 host addresses"));
  TS_CHECK(refused("host=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q", "more than 16 servers"));
  TS_CHECK(refused("host=a nosuchkey=1", "malformed connection string"));
  TS_CHECK(refused("postgresql://a:1,b:2/db?x=1", "malformed connection string"));
  /* The error report is optional: its code is still returned. */
  TS_CHECK_EQ_INT(stream_pg_servers_new("host=a nosuchkey=1", 0, &s, NULL), TS_EINVAL);
  TS_CHECK(s == NULL);
  TS_CHECK_EQ_INT(stream_pg_servers_new_at("user=q", "host=a nosuchkey=1", 0, &s, NULL), TS_EINVAL);
  TS_CHECK(s == NULL);
  return 0;
}

/* The query role on the primary: the servers of one string, every other
 * option of another. */
int test_servers_new_at(void)
{
  stream_pg_servers *s, *q;
  ts_error err;

  TS_CHECK_EQ_INT(stream_pg_servers_new_at("host=r1,r2 port=1,2 dbname=cat user=q password=pw",
                                           "host=prim port=7 dbname=other user=svc", 0, &s, &err),
                  TS_OK);
  TS_CHECK_EQ_INT(stream_pg_servers_count(s), 1);
  TS_CHECK_STREQ(stream_pg_servers_name(s, 0), "prim:7");
  TS_CHECK_STREQ(param(s, 0, NULL, "host"), "prim");
  TS_CHECK_STREQ(param(s, 0, NULL, "user"), "q");
  TS_CHECK_STREQ(param(s, 0, NULL, "password"), "pw");
  TS_CHECK_STREQ(param(s, 0, NULL, "dbname"), "cat");
  TS_CHECK_EQ_INT(stream_pg_servers_new("host=r1,r2 port=1,2 user=q", 0, &q, &err), TS_OK);
  TS_CHECK(!stream_pg_servers_same(s, q));
  stream_pg_servers_free(q);
  /* A primary named like the one server of the other: the same. */
  TS_CHECK_EQ_INT(stream_pg_servers_new("postgresql://q@prim:7/cat", 0, &q, &err), TS_OK);
  TS_CHECK(stream_pg_servers_same(s, q));
  stream_pg_servers_free(q);
  stream_pg_servers_free(s);

  /* No server in the primary's string: libpq's defaults, not the other's. */
  TS_CHECK_EQ_INT(stream_pg_servers_new_at("host=r1 port=1 user=q", "dbname=x", 0, &s, &err),
                  TS_OK);
  TS_CHECK(param(s, 0, NULL, "host") == NULL && param(s, 0, NULL, "port") == NULL);
  stream_pg_servers_free(s);
  TS_CHECK_EQ_INT(stream_pg_servers_new_at("user=q", "host=a nosuchkey=1", 0, &s, &err), TS_EINVAL);
  TS_CHECK(s == NULL && strstr(err.msg, "malformed connection string"));
  return 0;
}

int test_servers_pick(void)
{
  stream_pg_servers *s;
  ts_error err;
  TS_CHECK_EQ_INT(stream_pg_servers_new("host=a,b,c", 60000, &s, &err), TS_OK);
  /* Round-robin over the servers that are up. */
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, -1), 0);
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, -1), 1);
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, -1), 2);
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, -1), 0);
  TS_CHECK_EQ_INT(stream_pg_servers_up(s), 3);
  stream_pg_servers_mark(s, 1, 0);
  TS_CHECK_EQ_INT(stream_pg_servers_up(s), 2);
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, -1), 2);
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, -1), 0);
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, -1), 2);
  /* avoid: another server when one is up, else the avoided one. */
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, 0), 2);
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, 0), 2);
  stream_pg_servers_mark(s, 2, 0);
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, 0), 0);
  /* Every server down: the one whose back-off ends first (1, marked
   * first), so that a query still has somewhere to try. */
  stream_pg_servers_mark(s, 0, 0);
  TS_CHECK_EQ_INT(stream_pg_servers_up(s), 0);
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, -1), 1);
  /* A connection that succeeds brings its server back at once. */
  stream_pg_servers_mark(s, 2, 1);
  TS_CHECK_EQ_INT(stream_pg_servers_up(s), 1);
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, -1), 2);
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, 2), 2);
  stream_pg_servers_free(s);
  return 0;
}

int test_servers_backoff(void)
{
  /* A server down for 20 ms is tried again once that has passed (waited
   * for by polling the state, bounded). */
  stream_pg_servers *s;
  ts_error err;
  int waited = 0;
  TS_CHECK_EQ_INT(stream_pg_servers_new("host=a,b", 20, &s, &err), TS_OK);
  stream_pg_servers_mark(s, 0, 0);
  TS_CHECK_EQ_INT(stream_pg_servers_up(s), 1);
  while (stream_pg_servers_up(s) < 2 && waited < 5000) {
    nanosleep(&(struct timespec){0, 1000000}, NULL);
    waited++;
  }
  TS_CHECK_EQ_INT(stream_pg_servers_up(s), 2);
  TS_CHECK_EQ_INT(stream_pg_servers_pick(s, -1), 0);
  stream_pg_servers_free(s);
  return 0;
}

/* "host=127.0.0.1,H port=1,P ..." from the test server's DSN: a server
 * that refuses at once first, then the real one. */
static int dead_then_live(char *out, size_t cap)
{
  const char *dsn = stream_test_dsn();
  if (!dsn)
    return -1;
  char *perr = NULL;
  PQconninfoOption *o = PQconninfoParse(dsn, &perr);
  if (!o)
    return -1;
  const char *host = "localhost", *port = "5432", *db = "postgres", *user = "postgres";
  for (PQconninfoOption *p = o; p->keyword; p++) {
    if (!p->val)
      continue;
    if (!strcmp(p->keyword, "host"))
      host = p->val;
    else if (!strcmp(p->keyword, "port"))
      port = p->val;
    else if (!strcmp(p->keyword, "dbname"))
      db = p->val;
    else if (!strcmp(p->keyword, "user"))
      user = p->val;
  }
  int n = snprintf(out, cap, "host=127.0.0.1,%s port=1,%s dbname=%s user=%s", host, port, db, user);
  PQconninfoFree(o);
  return n > 0 && (size_t)n < cap ? 0 : -1;
}

int test_pg_servers_connect(void)
{
  /* The blocking connect skips the refusing server and marks it down;
   * the next connect goes straight to the live one. */
  char dsn[1024];
  stream_pg_servers *s;
  ts_error err;
  int server = -1;
  TS_CHECK_EQ_INT(dead_then_live(dsn, sizeof dsn), 0);
  TS_CHECK_EQ_INT(stream_pg_servers_new(dsn, 60000, &s, &err), TS_OK);
  PGconn *c = stream_pg_servers_connect(s, "tapserve-test-servers", -1, &server, &err);
  TS_CHECK(c != NULL);
  TS_CHECK_EQ_INT(server, 1);
  TS_CHECK_EQ_INT(stream_pg_servers_up(s), 1);
  PGresult *r = PQexec(c, "SELECT current_setting('application_name')");
  TS_CHECK_STREQ(PQgetvalue(r, 0, 0), "tapserve-test-servers");
  PQclear(r);
  PQfinish(c);
  c = stream_pg_servers_connect(s, NULL, -1, &server, &err);
  TS_CHECK(c != NULL);
  TS_CHECK_EQ_INT(server, 1);
  PQfinish(c);
  stream_pg_servers_free(s);

  /* Nothing answers: TS_EUNAVAIL with libpq's message. */
  TS_CHECK_EQ_INT(stream_pg_servers_new("host=127.0.0.1,127.0.0.1 port=1,2", 0, &s, &err), TS_OK);
  TS_CHECK(stream_pg_servers_connect(s, NULL, -1, &server, &err) == NULL);
  TS_CHECK_EQ_INT(err.code, TS_EUNAVAIL);
  TS_CHECK(strstr(err.msg, "cannot connect to the database: "));
  TS_CHECK_EQ_INT(stream_pg_servers_up(s), 0);
  stream_pg_servers_free(s);
  return 0;
}

typedef struct pool_run {
  int done;
  ts_err rc;
  char msg[sizeof(((ts_error *)0)->msg)];
} pool_run;

static void on_done(void *ud, ts_err rc, const ts_error *err, uint64_t nrows, int overflow)
{
  pool_run *r = ud;
  (void)nrows;
  (void)overflow;
  r->done = 1;
  r->rc = rc;
  snprintf(r->msg, sizeof r->msg, "%s", err && err->msg[0] ? err->msg : "");
}

static void closed(void *ud)
{
  (*(int *)ud)++;
}

int test_pg_pool_servers(void)
{
  /* A pool whose first server refuses: the queries are served by the
   * other instead of failing (before, the refused connect ended the
   * oldest waiter with "cannot connect"). */
  enum { N = 4 };
  char dsn[1024];
  uv_loop_t loop;
  pool_run runs[N] = {{0}};
  stream_query_cbs cbs = {NULL, NULL, on_done};
  stream_query_opts o = {"SELECT generate_series(1, 10)", -1, 0, 0, "test", 0};
  stream_pg_servers *s;
  ts_error err;
  int nclosed = 0;

  TS_CHECK_EQ_INT(dead_then_live(dsn, sizeof dsn), 0);
  TS_CHECK_EQ_INT(stream_pg_servers_new(dsn, 60000, &s, &err), TS_OK);
  uv_loop_init(&loop);
  stream_pg_pool_opts po = {NULL, 2, 5000, "tapserve-test-servers", 5000, s};
  stream_pg_pool *pool = stream_pg_pool_new(&loop, &po);
  TS_CHECK(pool != NULL);
  for (int i = 0; i < N; i++)
    TS_CHECK(stream_query_run(pool, &o, &cbs, &runs[i]) != NULL);
  for (int pending = N; pending;) {
    uv_run(&loop, UV_RUN_ONCE);
    pending = 0;
    for (int i = 0; i < N; i++)
      pending += !runs[i].done;
  }
  for (int i = 0; i < N; i++) {
    if (runs[i].rc)
      fprintf(stderr, "# query %d: %s\n", i, runs[i].msg);
    TS_CHECK_EQ_INT(runs[i].rc, TS_OK);
  }
  TS_CHECK_EQ_INT(stream_pg_servers_up(s), 1);
  stream_pg_pool_close(pool, closed, &nclosed);
  uv_run(&loop, UV_RUN_DEFAULT);
  TS_CHECK_EQ_INT(nclosed, 1);
  TS_CHECK_EQ_INT(uv_loop_close(&loop), 0);
  stream_pg_servers_free(s);
  return 0;
}
