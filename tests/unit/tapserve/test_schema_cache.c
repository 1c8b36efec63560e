/* TAP_SCHEMA snapshots: reference counting and swaps (readers on other
 * threads keep what they hold), reloads that keep the old snapshot when the
 * rows are inconsistent, and the trigger that announces changes (the last
 * two against TAPSERVE_TEST_DSN). */
#include "jobs/jobs.h"
#include "tapserve/tapserve.h"
#include "test_list.h"
#include "ts_test.h"
#include "ts_test_pg.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows of one schema "s" with `n` tables s.t0 .. s.t<n-1>, each with n
 * columns: a snapshot whose shape says which one it is. */
typedef struct gen_rows {
  meta_rows rows;
  const char *schemas[META_SCHEMA_W];
  const char **tables, **columns;
  char names[16][2][16];
} gen_rows;

static meta *make_meta(int n)
{
  gen_rows g;
  meta *m = NULL;
  ts_error e;
  memset(&g, 0, sizeof g);
  g.schemas[0] = "s";
  g.tables = calloc((size_t)n * META_TABLE_W, sizeof *g.tables);
  g.columns = calloc((size_t)n * n * META_COLUMN_W, sizeof *g.columns);
  if (!g.tables || !g.columns || n > 16)
    goto out;
  for (int t = 0; t < n; t++) {
    snprintf(g.names[t][0], sizeof g.names[t][0], "s.t%d", t);
    snprintf(g.names[t][1], sizeof g.names[t][1], "c%d", t);
    g.tables[t * META_TABLE_W] = "s";
    g.tables[t * META_TABLE_W + 1] = g.names[t][0];
    for (int c = 0; c < n; c++) {
      const char **r = g.columns + (t * n + c) * META_COLUMN_W;
      r[0] = g.names[t][0];
      r[1] = g.names[c][1];
      r[2] = "double";
    }
  }
  g.rows.nschemas = 1;
  g.rows.schemas = g.schemas;
  g.rows.ntables = (size_t)n;
  g.rows.tables = g.tables;
  g.rows.ncolumns = (size_t)(n * n);
  g.rows.columns = g.columns;
  if (meta_build(&g.rows, NULL, &m, &e) != TS_OK)
    fprintf(stderr, "# meta_build: %s\n", e.msg);
out:
  free(g.tables);
  free(g.columns);
  return m;
}

/* 1 when m is a whole snapshot of make_meta's shape. */
static int meta_consistent(const meta *m)
{
  const adql_meta *am = meta_adql(m);
  char name[32];
  for (size_t t = 0; t < am->ntables; t++) {
    if (am->tables[t].ncols != am->ntables)
      return 0;
    snprintf(name, sizeof name, "s.t%zu", t);
    if (!meta_find_table(m, name))
      return 0;
  }
  return 1;
}

int test_schema_swap_keeps_readers(void)
{
  ts_app app;
  ts_error e;
  meta *a = make_meta(2), *b = make_meta(3), *r, *r2;
  memset(&app, 0, sizeof app);
  TS_CHECK(a && b);
  TS_CHECK(meta_acquire(&app) == NULL); /* no cache: no snapshot */
  TS_CHECK_EQ_INT(schema_cache_new(&app, a, &e), TS_OK);
  TS_CHECK_EQ_INT(schema_cache_generation(&app), 1);
  r = meta_acquire(&app);
  TS_CHECK(r == a);

  schema_cache_swap(&app, b);
  TS_CHECK_EQ_INT(schema_cache_generation(&app), 2);
  /* The reader still has the old snapshot, whole (ASan: not freed). */
  TS_CHECK_EQ_INT(meta_adql(r)->ntables, 2);
  TS_CHECK(meta_find_table(r, "s.t1") != NULL);
  TS_CHECK(meta_find_table(r, "s.t2") == NULL);
  TS_CHECK(meta_consistent(r));
  /* New readers get the new one. */
  r2 = meta_acquire(&app);
  TS_CHECK(r2 == b);
  TS_CHECK(meta_find_table(r2, "s.t2") != NULL);
  meta_release(r2);
  /* The last reference frees the old snapshot (ASan's leak check says it
   * is freed, and not before). */
  meta_release(r);

  /* A hold ends with its arena. */
  {
    ts_arena *ar = ts_arena_new(4096, 0);
    const meta *h;
    TS_CHECK(ar != NULL);
    h = meta_hold(&app, ar);
    TS_CHECK(h == b);
    schema_cache_swap(&app, make_meta(1));
    TS_CHECK(meta_consistent(h) && meta_adql(h)->ntables == 3);
    ts_arena_free(ar); /* frees b */
  }
  r = meta_acquire(&app);
  TS_CHECK_EQ_INT(meta_adql(r)->ntables, 1);
  meta_release(r);
  schema_cache_free(&app);
  TS_CHECK(app.schema == NULL);
  return 0;
}

/* Executors on other threads acquire, read and release while the loop
 * thread swaps: every reader sees a whole snapshot, and nothing is freed
 * under it (ASan/TSan builds catch what this cannot see). */
typedef struct reader_arg {
  ts_app *app;
  atomic_int *stop;
  long reads, bad;
} reader_arg;

static void *reader_main(void *p)
{
  reader_arg *ra = p;
  while (!atomic_load(ra->stop)) {
    meta *m = meta_acquire(ra->app);
    if (!m || !meta_consistent(m))
      ra->bad++;
    meta_release(m);
    ra->reads++;
  }
  return NULL;
}

int test_schema_swap_threads(void)
{
  ts_app app;
  ts_error e;
  atomic_int stop;
  pthread_t th[3];
  reader_arg ra[3];
  memset(&app, 0, sizeof app);
  atomic_init(&stop, 0);
  TS_CHECK_EQ_INT(schema_cache_new(&app, make_meta(1), &e), TS_OK);
  for (int i = 0; i < 3; i++) {
    ra[i] = (reader_arg){&app, &stop, 0, 0};
    TS_CHECK(pthread_create(&th[i], NULL, reader_main, &ra[i]) == 0);
  }
  for (int i = 0; i < 2000; i++) {
    meta *m = make_meta(1 + i % 8);
    TS_CHECK(m != NULL);
    schema_cache_swap(&app, m);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < 3; i++) {
    pthread_join(th[i], NULL);
    TS_CHECK_EQ_INT(ra[i].bad, 0);
  }
  TS_CHECK_EQ_INT(schema_cache_generation(&app), 2001);
  schema_cache_free(&app);
  return 0;
}

/* ---- against PostgreSQL ---------------------------------------------------- */

static const char cleanup_sql[] = "DELETE FROM tap_schema.schemas WHERE schema_name = 'live_u'";

int test_pg_schema_reload_keeps_old(void)
{
  PGconn *c = ts_test_pg();
  ts_app app;
  cfg conf;
  ts_error e;
  meta *m = NULL, *held;
  TS_CHECK(c);
  memset(&app, 0, sizeof app);
  cfg_defaults(&conf);
  free(conf.dsn);
  conf.dsn = strdup(getenv("TAPSERVE_TEST_DSN"));
  app.cfg = &conf;
  if (meta_ensure_tap_schema(c, &e) || !ts_test_exec_ok(c, cleanup_sql) ||
      meta_load(c, &conf, &m, &e)) {
    fprintf(stderr, "# %s\n", e.msg);
    TS_CHECK(0);
  }
  TS_CHECK_EQ_INT(schema_cache_new(&app, m, &e), TS_OK);
  held = meta_acquire(&app);

  /* A table whose column has a datatype no VOTable knows: refused, the old
   * snapshot stays, and the error names the row. */
  TS_CHECK(ts_test_exec_ok(c, "BEGIN;"
                              "INSERT INTO tap_schema.schemas (schema_name) VALUES ('live_u');"
                              "INSERT INTO tap_schema.tables (schema_name, table_name)"
                              " VALUES ('live_u', 'live_u.t');"
                              "INSERT INTO tap_schema.columns (table_name, column_name, datatype)"
                              " VALUES ('live_u.t', 'x', 'floaty');"
                              "COMMIT"));
  TS_CHECK_EQ_INT(schema_cache_reload(&app, &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "unknown datatype 'floaty'") != NULL);
  TS_CHECK_EQ_INT(schema_cache_generation(&app), 1);
  m = meta_acquire(&app);
  TS_CHECK(m == held && meta_find_table(m, "live_u.t") == NULL);
  meta_release(m);

  /* Corrected: the reload takes it, and the earlier reader keeps its own. */
  TS_CHECK(ts_test_exec_ok(c, "UPDATE tap_schema.columns SET datatype = 'double'"
                              " WHERE table_name = 'live_u.t'"));
  TS_CHECK_EQ_INT(schema_cache_reload(&app, &e), TS_OK);
  TS_CHECK_EQ_INT(schema_cache_generation(&app), 2);
  m = meta_acquire(&app);
  TS_CHECK(m != held && meta_find_table(m, "live_u.t") != NULL);
  meta_release(m);
  TS_CHECK(meta_find_table(held, "live_u.t") == NULL);
  TS_CHECK(meta_find_table(held, "TAP_SCHEMA.tables") != NULL);
  meta_release(held);

  TS_CHECK(ts_test_exec_ok(c, cleanup_sql));
  schema_cache_free(&app);
  cfg_free(&conf);
  PQfinish(c);
  return 0;
}

/* TAP_SCHEMA_UPDATED events on the events channel, as "payload|...". */
static int drain(PGconn *l, char *out, size_t cap)
{
  PGnotify *n;
  int count = 0;
  out[0] = '\0';
  PQclear(PQexec(l, "SELECT 1")); /* a round trip: whatever was sent has arrived */
  PQconsumeInput(l);
  while ((n = PQnotifies(l)) != NULL) {
    /* Jobs tests running at the same time send their own events. */
    if (!strcmp(n->relname, JOBS_CHANNEL) && !strncmp(n->extra, "TAP_SCHEMA_UPDATED_EVENT", 24)) {
      count++;
      snprintf(out + strlen(out), cap - strlen(out), "%s%s", out[0] ? "|" : "", n->extra);
    }
    PQfreemem(n);
  }
  return count;
}

static const char cleanup_v[] = "DELETE FROM tap_schema.schemas WHERE schema_name = 'live_v'";

int test_pg_schema_trigger(void)
{
  PGconn *c = ts_test_pg(), *l = ts_test_pg();
  ts_error e;
  char got[512];
  TS_CHECK(c && l);
  /* The order of a fresh start: TAP_SCHEMA first, then the migrations. */
  TS_CHECK_EQ_INT(meta_ensure_tap_schema(c, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_migrate(c, NULL, NULL, &e), TS_OK);
  TS_CHECK(ts_test_exec_ok(c, cleanup_v));
  TS_CHECK(ts_test_exec_ok(c, "SELECT tapserve.watch_tap_schema()"));
  TS_CHECK(ts_test_exec_ok(l, "LISTEN " JOBS_CHANNEL));
  drain(l, got, sizeof got);

  /* One transaction over three tables: one event. */
  TS_CHECK(ts_test_exec_ok(c, "BEGIN;"
                              "INSERT INTO tap_schema.schemas (schema_name) VALUES ('live_v');"
                              "INSERT INTO tap_schema.tables (schema_name, table_name)"
                              " VALUES ('live_v', 'live_v.t');"
                              "INSERT INTO tap_schema.columns (table_name, column_name, datatype)"
                              " VALUES ('live_v.t', 'x', 'double');"
                              "COMMIT"));
  TS_CHECK_EQ_INT(drain(l, got, sizeof got), 1);
  TS_CHECK_STREQ(got, "TAP_SCHEMA_UPDATED_EVENT -");
  /* Nothing before the commit; a rolled-back change says nothing. */
  TS_CHECK(ts_test_exec_ok(c, "BEGIN; UPDATE tap_schema.columns SET description = 'd'"
                              " WHERE table_name = 'live_v.t'"));
  TS_CHECK_EQ_INT(drain(l, got, sizeof got), 0);
  TS_CHECK(ts_test_exec_ok(c, "ROLLBACK"));
  TS_CHECK_EQ_INT(drain(l, got, sizeof got), 0);
  /* Every table is watched: keys and key_columns too. */
  TS_CHECK(ts_test_exec_ok(c, "INSERT INTO tap_schema.keys (key_id, from_table, target_table)"
                              " VALUES ('live_k', 'live_v.t', 'live_v.t')"));
  TS_CHECK_EQ_INT(drain(l, got, sizeof got), 1);
  TS_CHECK(ts_test_exec_ok(c,
                           "INSERT INTO tap_schema.key_columns (key_id, from_column, target_column)"
                           " VALUES ('live_k', 'x', 'x')"));
  TS_CHECK_EQ_INT(drain(l, got, sizeof got), 1);
  TS_CHECK(ts_test_exec_ok(c, "DELETE FROM tap_schema.keys WHERE key_id = 'live_k'"));
  TS_CHECK_EQ_INT(drain(l, got, sizeof got), 1);
  TS_CHECK(ts_test_exec_ok(c, cleanup_v));
  TS_CHECK_EQ_INT(drain(l, got, sizeof got), 1);

  /* Installing again changes nothing (every start does it). */
  TS_CHECK(ts_test_exec_ok(c, "SELECT tapserve.watch_tap_schema()"));
  {
    PGresult *r = PQexec(c, "SELECT count(*) FROM pg_trigger WHERE tgname = 'tapserve_notify'"
                            " AND tgrelid::regclass::text LIKE 'tap_schema.%'");
    int n = PQresultStatus(r) == PGRES_TUPLES_OK ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
    PQclear(r);
    TS_CHECK_EQ_INT(n, 5);
  }
  PQfinish(l);
  PQfinish(c);
  return 0;
}
