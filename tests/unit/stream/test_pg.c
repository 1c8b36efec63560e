/* stream/pg.c against a real PostgreSQL. The server comes from
 * TAPSERVE_TEST_DSN (scripts/test-pgcluster.sh starts a throwaway one);
 * without it these tests fail rather than pass silently. */
#include "stream/pg.h"
#include "test_list.h"
#include "ts_test.h"

#include <math.h>
#include <stdlib.h>

typedef struct qrun qrun;
struct qrun {
  uv_loop_t *loop;
  stream_pg_pool *pool;
  stream_query *q;
  /* results */
  int done_calls;
  ts_err rc;
  ts_error err;
  uint64_t nrows;
  int overflow;
  int schema_calls;
  size_t ncols;
  uint32_t oids[32];
  char names[32][64];
  char arraysize[32][16];
  uint64_t batch_rows_seen, batches, max_batch;
  int bad_value; /* the row check failed at this row + 1 */
  int64_t next_expected;
  /* behaviour */
  ts_err (*check_batch)(qrun *r, const stream_batch *b);
  ts_err schema_rc;
  int pause_after_first;
  int paused_now;
  int batches_while_paused;
  uv_timer_t resume_timer;
  int cancel_after_first;
  int backend_pid;
  int pool_open_max;
  int first_row_checked;
  int done_seq; /* 1 for the first query to end, 2 for the next ... */
};

static int done_count;   /* queries ended so far, for done_seq */
static int pool_wait_ms; /* the pool's wait_timeout_ms in run_queries */

const char *stream_test_dsn(void)
{
  const char *dsn = getenv("TAPSERVE_TEST_DSN");
  if (!dsn || !*dsn)
    fprintf(stderr, "# TAPSERVE_TEST_DSN is not set: start a cluster with "
                    "scripts/test-pgcluster.sh run <command>\n");
  return dsn && *dsn ? dsn : NULL;
}

static ts_err on_schema(void *ud, stream_schema *s, ts_error *err)
{
  qrun *r = ud;
  r->schema_calls++;
  r->ncols = s->ncols;
  for (size_t i = 0; i < s->ncols && i < 32; i++) {
    r->oids[i] = s->cols[i].type_oid;
    snprintf(r->names[i], sizeof r->names[i], "%s", s->cols[i].name);
    snprintf(r->arraysize[i], sizeof r->arraysize[i], "%s",
             s->cols[i].arraysize ? s->cols[i].arraysize : "");
  }
  if (r->schema_rc)
    return ts_fail(err, r->schema_rc, 0, "schema refused by the test");
  return TS_OK;
}

static void resume_cb(uv_timer_t *t)
{
  qrun *r = t->data;
  r->paused_now = 0;
  stream_query_resume(r->q);
}

static ts_err on_batch(void *ud, const stream_batch *b, ts_error *err)
{
  qrun *r = ud;
  int open = 0;
  stream_pg_pool_stats(r->pool, &open, NULL, NULL);
  if (open > r->pool_open_max)
    r->pool_open_max = open;
  if (r->paused_now)
    r->batches_while_paused++;
  r->batches++;
  r->batch_rows_seen += b->nrows;
  if (b->nrows > r->max_batch)
    r->max_batch = b->nrows;
  if (r->check_batch) {
    ts_err rc = r->check_batch(r, b);
    if (rc)
      return ts_fail(err, rc, 0, "row check failed");
  }
  if (r->batches == 1 && r->pause_after_first) {
    stream_query_pause(r->q);
    r->paused_now = 1;
    uv_timer_start(&r->resume_timer, resume_cb, 100, 0);
  }
  if (r->batches == 1 && r->cancel_after_first) {
    r->backend_pid = stream_query_backend_pid(r->q);
    stream_query_cancel(r->q);
    /* The batch stays readable until the callback returns, cancel or not
     * (ASan checks this). */
    int64_t sum = 0;
    for (size_t i = 0; i < b->nrows; i++)
      sum += stream_get_int4(&stream_batch_row(b, i)[0]);
    if (sum != (int64_t)b->nrows * (int64_t)(b->nrows + 1) / 2)
      return ts_fail(err, TS_EINTERNAL, 0, "batch changed after cancel");
  }
  return TS_OK;
}

static void on_done(void *ud, ts_err rc, const ts_error *err, uint64_t nrows, int overflow)
{
  qrun *r = ud;
  r->done_calls++;
  r->done_seq = ++done_count;
  r->rc = rc;
  r->err = *err;
  r->nrows = nrows;
  r->overflow = overflow;
  r->q = NULL;
}

static const stream_query_cbs test_cbs = {on_schema, on_batch, on_done};

static void pool_closed(void *ud)
{
  (*(int *)ud)++;
}

/* Runs the queries on one pool to completion and closes everything; 0 when
 * the loop ended with every handle closed. */
static int run_queries(const char *dsn, int pool_size, qrun *runs, const stream_query_opts *opts,
                       int n)
{
  uv_loop_t loop;
  uv_loop_init(&loop);
  stream_pg_pool_opts po = {dsn, pool_size, 5000, "tapserve-test", pool_wait_ms, NULL};
  stream_pg_pool *pool = stream_pg_pool_new(&loop, &po);
  if (!pool)
    return -1;
  for (int i = 0; i < n; i++) {
    runs[i].loop = &loop;
    runs[i].pool = pool;
    uv_timer_init(&loop, &runs[i].resume_timer);
    runs[i].resume_timer.data = &runs[i];
    runs[i].q = stream_query_run(pool, &opts[i], &test_cbs, &runs[i]);
    if (!runs[i].q)
      return -1;
    if (runs[i].done_calls) /* never from inside stream_query_run */
      return -1;
  }
  for (;;) {
    int pending = 0;
    uv_run(&loop, UV_RUN_ONCE);
    for (int i = 0; i < n; i++)
      pending += runs[i].done_calls == 0;
    if (!pending)
      break;
  }
  int closed = 0;
  stream_pg_pool_close(pool, pool_closed, &closed);
  for (int i = 0; i < n; i++)
    uv_close((uv_handle_t *)&runs[i].resume_timer, NULL);
  uv_run(&loop, UV_RUN_DEFAULT);
  int rc = uv_loop_close(&loop);
  if (closed != 1 || rc != 0) {
    fprintf(stderr, "# pool closed %d times, uv_loop_close %d\n", closed, rc);
    return -1;
  }
  for (int i = 0; i < n; i++)
    if (runs[i].done_calls != 1)
      return -1;
  return 0;
}

static int run_one(const char *sql, int64_t maxrec, int64_t timeout_ms, size_t batch, qrun *r)
{
  const char *dsn = stream_test_dsn();
  if (!dsn)
    return -1;
  stream_query_opts o = {sql, maxrec, timeout_ms, batch, "test", 0};
  return run_queries(dsn, 1, r, &o, 1);
}

int test_pool_connect_refused(void)
{
  /* Port 1 on loopback refuses at once: the query ends with EUNAVAIL and
   * a libpq message, and the pool still closes cleanly. */
  qrun r = {0};
  stream_query_opts o = {"SELECT 1", -1, 0, 0, "test", 0};
  TS_CHECK_EQ_INT(run_queries("host=127.0.0.1 port=1", 1, &r, &o, 1), 0);
  TS_CHECK_EQ_INT(r.rc, TS_EUNAVAIL);
  TS_CHECK(strstr(r.err.msg, "cannot connect to the database"));
  TS_CHECK_EQ_INT(r.schema_calls, 0);
  ts_error err;
  TS_CHECK(stream_pg_connect_blocking("host=127.0.0.1 port=1", &err) == NULL);
  TS_CHECK_EQ_INT(err.code, TS_EUNAVAIL);
  TS_CHECK(strstr(err.msg, "cannot connect to the database: "));
  return 0;
}

/* ---- describe and values of every supported type ------------------------- */
static ts_err check_types_row(qrun *r, const stream_batch *b)
{
  char tmp[64];
  if (b->nrows != 1 || b->ncols != 18)
    return TS_EINTERNAL;
  const stream_value *v = stream_batch_row(b, 0);
#define EXPECT(c)                                                                                  \
  do {                                                                                             \
    if (!(c)) {                                                                                    \
      fprintf(stderr, "# value check failed: %s\n", #c);                                           \
      return TS_EINTERNAL;                                                                         \
    }                                                                                              \
  } while (0)
  EXPECT(stream_get_bool(&v[0]) == 1);
  EXPECT(stream_get_int2(&v[1]) == -12);
  EXPECT(stream_get_int4(&v[2]) == 123456);
  EXPECT(stream_get_int8(&v[3]) == 9000000000LL);
  EXPECT(stream_get_float4(&v[4]) == 1.5f);
  EXPECT(stream_get_float8(&v[5]) == -2.25);
  EXPECT(stream_numeric_to_double(v[6].p, v[6].len) == 12345.678);
  EXPECT(v[7].len == 6 && !memcmp(v[7].p, "h\xc3\xa9llo", 6));
  EXPECT(v[8].len == 2 && !memcmp(v[8].p, "vc", 2));
  EXPECT(v[9].len == 3 && !memcmp(v[9].p, "bp ", 3));
  EXPECT(v[10].len == 2 && !memcmp(v[10].p, "nm", 2));
  stream_format_timestamp(tmp, stream_get_int8(&v[11]));
  EXPECT(!strcmp(tmp, "2020-01-02T03:04:05.500000"));
  stream_format_timestamp(tmp, stream_get_int8(&v[12]));
  EXPECT(!strcmp(tmp, "2020-01-02T01:04:05")); /* +02 shifted to UTC */
  stream_format_date(tmp, stream_get_int4(&v[13]));
  EXPECT(!strcmp(tmp, "1999-12-31"));
  ts_buf s;
  ts_buf_init(&s, 4096);
  EXPECT(stream_format_array_literal(&s, STREAM_INT4, &v[14]) == TS_OK);
  EXPECT(!strcmp(s.data, "{1,NULL,3}"));
  ts_buf_reset(&s);
  EXPECT(stream_format_array_literal(&s, STREAM_FLOAT8, &v[15]) == TS_OK);
  EXPECT(!strcmp(s.data, "{1.5,2.5,3.5,4.5}"));
  ts_buf_reset(&s);
  EXPECT(stream_format_array_literal(&s, STREAM_TEXT, &v[16]) == TS_OK);
  EXPECT(!strcmp(s.data, "{a,\"b c\",NULL}"));
  ts_buf_free(&s);
  EXPECT(v[17].len == -1);
  r->first_row_checked = 1;
  return TS_OK;
#undef EXPECT
}

int test_pg_describe_types(void)
{
  qrun r = {.check_batch = check_types_row};
  TS_CHECK_EQ_INT(run_one("SELECT true AS b, (-12)::int2 AS i2, 123456 AS i4, 9000000000::int8 AS "
                          "i8, 1.5::float4 AS f4, -2.25::float8 AS f8, 12345.678::numeric(10,3) "
                          "AS num, 'h\xc3\xa9llo'::text AS t, 'vc'::varchar(20) AS vc, "
                          "'bp'::char(3) AS bp, 'nm'::name AS nm, "
                          "'2020-01-02 03:04:05.5'::timestamp AS ts, "
                          "'2020-01-02 03:04:05+02'::timestamptz AS tstz, "
                          "'1999-12-31'::date AS d, ARRAY[1,NULL,3] AS ai, "
                          "ARRAY[[1.5,2.5],[3.5,4.5]]::float8[] AS af, "
                          "ARRAY['a','b c',NULL]::text[] AS at, NULL::int4 AS nul ;  ",
                          -1, 0, 0, &r),
                  0);
  if (r.rc)
    fprintf(stderr, "# %s\n", r.err.msg);
  TS_CHECK_EQ_INT(r.rc, TS_OK);
  TS_CHECK_EQ_INT(r.schema_calls, 1);
  TS_CHECK_EQ_INT(r.ncols, 18);
  static const uint32_t oids[] = {16,   21, 23,   20,   700,  701,  1700, 25,   1043,
                                  1042, 19, 1114, 1184, 1082, 1007, 1022, 1009, 23};
  for (int i = 0; i < 18; i++)
    TS_CHECK_EQ_INT(r.oids[i], oids[i]);
  TS_CHECK_STREQ(r.names[0], "b");
  TS_CHECK_STREQ(r.names[16], "at");
  TS_CHECK_STREQ(r.arraysize[8], "20*");
  TS_CHECK_STREQ(r.arraysize[9], "3");
  TS_CHECK_STREQ(r.arraysize[14], "*");
  TS_CHECK(r.first_row_checked);
  TS_CHECK_EQ_INT(r.nrows, 1);
  TS_CHECK_EQ_INT(r.overflow, 0);
  return 0;
}

/* ---- many rows ------------------------------------------------------------ */
static ts_err check_series(qrun *r, const stream_batch *b)
{
  for (size_t i = 0; i < b->nrows; i++) {
    const stream_value *v = stream_batch_row(b, i);
    int64_t k = ++r->next_expected;
    char txt[32];
    int n = snprintf(txt, sizeof txt, "row %lld", (long long)k);
    if (v[0].len != 4 || stream_get_int4(&v[0]) != k ||
        stream_get_int8(&v[1]) != k * 3000000000LL || v[2].len != n ||
        memcmp(v[2].p, txt, (size_t)n) != 0 || stream_get_float8(&v[3]) != (double)k / 4 ||
        (k % 7 == 0) != (v[4].len == -1)) {
      r->bad_value = (int)k;
      return TS_EINTERNAL;
    }
  }
  return TS_OK;
}

static const char series_sql[] =
    "SELECT i, i * 3000000000::int8 AS j, 'row ' || i AS t, i / 4.0::float8 AS f, "
    "CASE WHEN i % 7 = 0 THEN NULL ELSE i END AS n FROM generate_series(1, 100000) i";

int test_pg_stream_rows(void)
{
  qrun r = {.check_batch = check_series};
  TS_CHECK_EQ_INT(run_one(series_sql, -1, 0, 500, &r), 0);
  if (r.rc)
    fprintf(stderr, "# %s (bad row %d)\n", r.err.msg, r.bad_value);
  TS_CHECK_EQ_INT(r.rc, TS_OK);
  TS_CHECK_EQ_INT(r.nrows, 100000);
  TS_CHECK_EQ_INT(r.next_expected, 100000);
  TS_CHECK_EQ_INT(r.batch_rows_seen, 100000);
  TS_CHECK(r.max_batch <= 500);
  TS_CHECK(r.batches >= 200);
  TS_CHECK_EQ_INT(r.overflow, 0);
  return 0;
}

int test_pg_pause_resume(void)
{
  qrun r = {.check_batch = check_series, .pause_after_first = 1};
  TS_CHECK_EQ_INT(run_one(series_sql, -1, 0, 1000, &r), 0);
  TS_CHECK_EQ_INT(r.rc, TS_OK);
  TS_CHECK_EQ_INT(r.nrows, 100000);
  TS_CHECK_EQ_INT(r.next_expected, 100000);
  TS_CHECK_EQ_INT(r.batches_while_paused, 0);
  TS_CHECK(r.batches > 1);
  return 0;
}

int test_pg_maxrec(void)
{
  qrun r = {.check_batch = check_series};
  /* The SQL carries LIMIT maxrec+1, as the translator writes it. */
  TS_CHECK_EQ_INT(run_one("SELECT * FROM (SELECT i, i * 3000000000::int8, 'row ' || i, "
                          "i / 4.0::float8, CASE WHEN i % 7 = 0 THEN NULL ELSE i END "
                          "FROM generate_series(1, 1000) i) s LIMIT 11",
                          10, 0, 4, &r),
                  0);
  TS_CHECK_EQ_INT(r.rc, TS_OK);
  TS_CHECK_EQ_INT(r.nrows, 10);
  TS_CHECK_EQ_INT(r.batch_rows_seen, 10);
  TS_CHECK_EQ_INT(r.overflow, 1);
  /* Exactly maxrec rows: no overflow. */
  qrun r2 = {.check_batch = check_series};
  TS_CHECK_EQ_INT(run_one("SELECT i, i * 3000000000::int8, 'row ' || i, i / 4.0::float8, "
                          "CASE WHEN i % 7 = 0 THEN NULL ELSE i END "
                          "FROM generate_series(1, 10) i LIMIT 11",
                          10, 0, 0, &r2),
                  0);
  TS_CHECK_EQ_INT(r2.rc, TS_OK);
  TS_CHECK_EQ_INT(r2.nrows, 10);
  TS_CHECK_EQ_INT(r2.overflow, 0);
  /* MAXREC=0: only the metadata. */
  qrun r3 = {0};
  TS_CHECK_EQ_INT(run_one("SELECT 1 AS one LIMIT 1", 0, 0, 0, &r3), 0);
  TS_CHECK_EQ_INT(r3.rc, TS_OK);
  TS_CHECK_EQ_INT(r3.schema_calls, 1);
  TS_CHECK_EQ_INT(r3.nrows, 0);
  TS_CHECK_EQ_INT(r3.batches, 0);
  TS_CHECK_EQ_INT(r3.overflow, 1);
  return 0;
}

int test_pg_sql_error(void)
{
  const char *dsn = stream_test_dsn();
  TS_CHECK(dsn);
  /* The error, then a query on the same single connection: it was rolled
   * back and returned to the pool in a usable state. */
  qrun r[2] = {{0}};
  stream_query_opts o[2] = {{"SELECT no_such_function(1) AS x", -1, 0, 0, "t1", 0},
                            {"SELECT 42 AS answer", -1, 0, 0, "t2", 0}};
  TS_CHECK_EQ_INT(run_queries(dsn, 1, r, o, 2), 0);
  TS_CHECK_EQ_INT(r[0].rc, TS_EQUERY); /* 42883: the query's fault */
  TS_CHECK(strstr(r[0].err.msg, "no_such_function"));
  TS_CHECK_EQ_INT(r[0].schema_calls, 0);
  TS_CHECK_EQ_INT(r[1].rc, TS_OK);
  TS_CHECK_EQ_INT(r[1].nrows, 1);
  /* A runtime error in the middle of the COPY. */
  qrun r3 = {0};
  TS_CHECK_EQ_INT(
      run_one("SELECT 1 / (5000 - i) AS x FROM generate_series(1, 10000) i", -1, 0, 100, &r3), 0);
  TS_CHECK_EQ_INT(r3.rc, TS_EQUERY);
  TS_CHECK_STREQ(r3.err.msg, "division by zero");
  TS_CHECK(r3.nrows < 5000);
  /* A table the database does not have: published metadata out of step
   * with the database, the operator's problem. */
  qrun r4 = {0};
  TS_CHECK_EQ_INT(run_one("SELECT * FROM no_such_table_here", -1, 0, 100, &r4), 0);
  TS_CHECK_EQ_INT(r4.rc, TS_EDB);
  return 0;
}

int test_sqlstate_map(void)
{
  /* The client's: cardinality, data exceptions, syntax and access rules. */
  static const char *const client[] = {"21000", "22012", "22003", "2201E",
                                       "22P02", "42883", "42804", "42601"};
  /* Everything else, and the class 42 states that mean TAP_SCHEMA names
   * something the query role cannot read. */
  static const char *const server[] = {"42P01", "42703", "42501", "08006", "57P01",
                                       "53100", "XX000", "2",     "",      NULL};
  for (size_t i = 0; i < TS_ARRAY_LEN(client); i++)
    TS_CHECK_EQ_INT(stream_pg_sqlstate_err(client[i]), TS_EQUERY);
  for (size_t i = 0; i < TS_ARRAY_LEN(server); i++)
    TS_CHECK_EQ_INT(stream_pg_sqlstate_err(server[i]), TS_EDB);
  TS_CHECK_EQ_INT(ts_err_http(TS_EQUERY), 400);
  return 0;
}

int test_pg_unsupported_type(void)
{
  qrun r = {0};
  TS_CHECK_EQ_INT(run_one("SELECT 1 AS a, point(1, 2) AS pos", -1, 0, 0, &r), 0);
  TS_CHECK_EQ_INT(r.rc, TS_EINVAL);
  TS_CHECK(strstr(r.err.msg, "\"pos\""));
  TS_CHECK(strstr(r.err.msg, "point"));
  TS_CHECK_EQ_INT(r.schema_calls, 0);
  return 0;
}

int test_pg_schema_refused(void)
{
  const char *dsn = stream_test_dsn();
  TS_CHECK(dsn);
  qrun r[2] = {{.schema_rc = TS_EFORMAT}, {0}};
  stream_query_opts o[2] = {{"SELECT 1 AS x", -1, 0, 0, "t1", 0},
                            {"SELECT 2 AS y", -1, 0, 0, "t2", 0}};
  TS_CHECK_EQ_INT(run_queries(dsn, 1, r, o, 2), 0);
  TS_CHECK_EQ_INT(r[0].rc, TS_EFORMAT);
  TS_CHECK_STREQ(r[0].err.msg, "schema refused by the test");
  TS_CHECK_EQ_INT(r[0].batches, 0);
  TS_CHECK_EQ_INT(r[1].rc, TS_OK);
  return 0;
}

int test_pg_statement_timeout(void)
{
  qrun r = {0};
  TS_CHECK_EQ_INT(run_one("SELECT 1 AS x FROM pg_sleep(5)", -1, 200, 0, &r), 0);
  if (r.rc)
    fprintf(stderr, "# %s\n", r.err.msg);
  TS_CHECK_EQ_INT(r.rc, TS_EQUERYTIMEOUT);
  TS_CHECK(strstr(r.err.msg, "200 ms"));
  return 0;
}

/* Polls pg_stat_activity (blocking, up to 2 s) until the backend is gone. */
static int backend_gone(const char *dsn, int pid)
{
  ts_error err;
  PGconn *c = stream_pg_connect_blocking(dsn, &err);
  if (!c)
    return 0;
  char sql[128];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
  int gone = 0;
  for (int i = 0; i < 40 && !gone; i++) {
    PGresult *res = PQexec(c, sql);
    gone = PQresultStatus(res) == PGRES_TUPLES_OK && !strcmp(PQgetvalue(res, 0, 0), "0");
    PQclear(res);
    if (!gone)
      uv_sleep(50);
  }
  PQfinish(c);
  return gone;
}

int test_pg_cancel(void)
{
  const char *dsn = stream_test_dsn();
  TS_CHECK(dsn);
  qrun r = {.cancel_after_first = 1};
  TS_CHECK_EQ_INT(run_one("SELECT generate_series(1, 50000000) AS i", -1, 0, 1000, &r), 0);
  TS_CHECK_EQ_INT(r.rc, TS_ECANCELED);
  TS_CHECK_EQ_INT(r.batches, 1);
  TS_CHECK(r.backend_pid > 0);
  TS_CHECK(backend_gone(dsn, r.backend_pid));
  return 0;
}

int test_pg_pool_concurrency(void)
{
  const char *dsn = stream_test_dsn();
  TS_CHECK(dsn);
  qrun r[5];
  stream_query_opts o[5];
  char sql[5][128];
  memset(r, 0, sizeof r);
  for (int i = 0; i < 5; i++) {
    snprintf(sql[i], sizeof sql[i], "SELECT i FROM generate_series(1, %d) i", 20000 + i * 1000);
    o[i] = (stream_query_opts){sql[i], -1, 0, 0, "pool", 0};
  }
  TS_CHECK_EQ_INT(run_queries(dsn, 2, r, o, 5), 0);
  for (int i = 0; i < 5; i++) {
    TS_CHECK_EQ_INT(r[i].rc, TS_OK);
    TS_CHECK_EQ_INT(r[i].nrows, 20000 + i * 1000);
    TS_CHECK(r[i].pool_open_max <= 2);
  }
  return 0;
}

/* A query that finds every connection busy for wait_timeout_ms ends with
 * TS_EUNAVAIL instead of waiting for as long as the others run. */
int test_pg_pool_wait_timeout(void)
{
  const char *dsn = stream_test_dsn();
  qrun r[2];
  stream_query_opts o[2] = {{"SELECT 1 AS x FROM pg_sleep(1)", -1, 0, 0, "slow", 0},
                            {"SELECT 2 AS y", -1, 0, 0, "waits", 0}};
  TS_CHECK(dsn != NULL);
  memset(r, 0, sizeof r);
  done_count = 0;
  pool_wait_ms = 200;
  int rc = run_queries(dsn, 1, r, o, 2);
  pool_wait_ms = 0;
  TS_CHECK_EQ_INT(rc, 0);
  TS_CHECK_EQ_INT(r[0].rc, TS_OK);
  TS_CHECK_EQ_INT(r[0].nrows, 1);
  TS_CHECK_EQ_INT(r[1].rc, TS_EUNAVAIL);
  TS_CHECK(strstr(r[1].err.msg, "busy") != NULL);
  TS_CHECK_EQ_INT(r[1].schema_calls, 0);
  TS_CHECK_EQ_INT(r[1].done_seq, 1); /* it did not wait for the slow one */
  return 0;
}

/* Runs the loop until r has its on_done. */
static void run_until_done(uv_loop_t *loop, qrun *r)
{
  while (!r->done_calls)
    uv_run(loop, UV_RUN_ONCE);
}

/* The server ends an idle pooled connection (a restart, pg_terminate_backend)
 * and the next query comes before the loop has polled that connection: it
 * must get a new connection, not the dead one's "terminating connection"
 * error. (The pool's kick timer runs before libuv polls for I/O.) */
int test_pg_pool_dead_idle(void)
{
  const char *dsn = stream_test_dsn();
  uv_loop_t loop;
  qrun r[2];
  ts_error err;
  int pid = 0, closed = 0;
  TS_CHECK(dsn);
  memset(r, 0, sizeof r);
  uv_loop_init(&loop);
  stream_pg_pool_opts po = {dsn, 1, 5000, "tapserve-test-dead-idle", 0, NULL};
  stream_pg_pool *pool = stream_pg_pool_new(&loop, &po);
  stream_query_opts o = {"SELECT i FROM generate_series(1, 10) i", -1, 0, 0, "dead-idle", 0};
  TS_CHECK(pool);
  r[0].pool = r[1].pool = pool;
  TS_CHECK((r[0].q = stream_query_run(pool, &o, &test_cbs, &r[0])) != NULL);
  run_until_done(&loop, &r[0]);
  TS_CHECK_EQ_INT(r[0].rc, TS_OK);

  PGconn *c = stream_pg_connect_blocking(dsn, &err);
  TS_CHECK(c);
  PGresult *res = PQexec(c, "SELECT pid FROM pg_stat_activity"
                            " WHERE application_name = 'tapserve-test-dead-idle'");
  TS_CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1);
  pid = (int)strtol(PQgetvalue(res, 0, 0), NULL, 10);
  PQclear(res);
  char sql[64];
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
  PQclear(PQexec(c, sql));
  PQfinish(c);
  TS_CHECK(backend_gone(dsn, pid));

  TS_CHECK((r[1].q = stream_query_run(pool, &o, &test_cbs, &r[1])) != NULL);
  run_until_done(&loop, &r[1]);
  if (r[1].rc)
    fprintf(stderr, "# %s\n", r[1].err.msg);
  TS_CHECK_EQ_INT(r[1].rc, TS_OK);
  TS_CHECK_EQ_INT(r[1].nrows, 10);
  stream_pg_pool_close(pool, pool_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  TS_CHECK_EQ_INT(closed, 1);
  TS_CHECK_EQ_INT(uv_loop_close(&loop), 0);
  return 0;
}

/* A query seen again under the same describe_gen skips its describe; a
 * column whose type changed since is caught by its binary width, the
 * description dropped, and the next query described afresh. */
int test_pg_describe_reuse(void)
{
  const char *dsn = stream_test_dsn();
  uv_loop_t loop;
  qrun r[5];
  ts_error err;
  int closed = 0;
  uint64_t described = 0, reused = 0;
  TS_CHECK(dsn);
  PGconn *c = stream_pg_connect_blocking(dsn, &err);
  TS_CHECK(c);
  PQclear(PQexec(c, "DROP TABLE IF EXISTS desc_reuse"));
  PGresult *res = PQexec(c, "CREATE TABLE desc_reuse AS SELECT i::int4 AS x, 'r' || i AS name"
                            " FROM generate_series(1, 5) i");
  TS_CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
  PQclear(res);

  memset(r, 0, sizeof r);
  uv_loop_init(&loop);
  stream_pg_pool_opts po = {dsn, 1, 5000, "tapserve-test-describe", 0, NULL};
  stream_pg_pool *pool = stream_pg_pool_new(&loop, &po);
  TS_CHECK(pool);
  stream_query_opts o = {"SELECT x, name FROM desc_reuse ORDER BY x", -1, 0, 0, "desc", 7};
  stream_query_opts fresh = o;
  fresh.describe_gen = 8;
  stream_query_opts never = o;
  never.describe_gen = 0;
  const stream_query_opts *seq[5] = {&o, &o, &fresh, &never, &never};
  for (int i = 0; i < 5; i++) {
    r[i].pool = pool;
    TS_CHECK((r[i].q = stream_query_run(pool, seq[i], &test_cbs, &r[i])) != NULL);
    run_until_done(&loop, &r[i]);
    TS_CHECK_EQ_INT(r[i].rc, TS_OK);
    TS_CHECK_EQ_INT(r[i].nrows, 5);
    TS_CHECK_EQ_INT(r[i].oids[0], 23); /* int4 */
    TS_CHECK_STREQ(r[i].names[1], "name");
  }
  /* Described: the first, the new generation, both without a generation. */
  stream_pg_pool_describes(pool, &described, &reused);
  TS_CHECK_EQ_INT(described, 4);
  TS_CHECK_EQ_INT(reused, 1);

  /* The type changes behind the description's back. */
  res = PQexec(c, "ALTER TABLE desc_reuse ALTER x TYPE int8");
  TS_CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
  PQclear(res);
  memset(r, 0, sizeof r);
  for (int i = 0; i < 2; i++) {
    r[i].pool = pool;
    TS_CHECK((r[i].q = stream_query_run(pool, &fresh, &test_cbs, &r[i])) != NULL);
    run_until_done(&loop, &r[i]);
  }
  TS_CHECK_EQ_INT(r[0].rc, TS_EDB);
  TS_CHECK(strstr(r[0].err.msg, "did the column's type change?"));
  TS_CHECK_EQ_INT(r[1].rc, TS_OK);
  TS_CHECK_EQ_INT(r[1].oids[0], 20); /* int8, described afresh */
  TS_CHECK_EQ_INT(r[1].nrows, 5);
  stream_pg_pool_describes(pool, &described, &reused);
  TS_CHECK_EQ_INT(described, 5);
  TS_CHECK_EQ_INT(reused, 2);

  stream_pg_pool_close(pool, pool_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  TS_CHECK_EQ_INT(closed, 1);
  TS_CHECK_EQ_INT(uv_loop_close(&loop), 0);
  PQclear(PQexec(c, "DROP TABLE desc_reuse"));
  PQfinish(c);
  return 0;
}

/* Queries run in read-only transactions, whether described first or not
 * (the session is set once per connection, not per query). */
int test_pg_read_only(void)
{
  const char *dsn = stream_test_dsn();
  uv_loop_t loop;
  qrun r[3];
  ts_error err;
  int closed = 0;
  TS_CHECK(dsn);
  PGconn *c = stream_pg_connect_blocking(dsn, &err);
  TS_CHECK(c);
  PQclear(PQexec(c, "DROP SEQUENCE IF EXISTS ro_seq"));
  PGresult *res = PQexec(c, "CREATE SEQUENCE ro_seq");
  TS_CHECK(PQresultStatus(res) == PGRES_COMMAND_OK);
  PQclear(res);
  memset(r, 0, sizeof r);
  uv_loop_init(&loop);
  stream_pg_pool_opts po = {dsn, 1, 5000, "tapserve-test-ro", 0, NULL};
  stream_pg_pool *pool = stream_pg_pool_new(&loop, &po);
  TS_CHECK(pool);
  stream_query_opts o = {"SELECT nextval('ro_seq') AS n", -1, 0, 0, "ro", 3};
  stream_query_opts ok = {"SELECT 1 AS one", -1, 0, 0, "ok", 3};
  const stream_query_opts *seq[3] = {&o, &ok, &o};
  for (int i = 0; i < 3; i++) {
    r[i].pool = pool;
    TS_CHECK((r[i].q = stream_query_run(pool, seq[i], &test_cbs, &r[i])) != NULL);
    run_until_done(&loop, &r[i]);
  }
  for (int i = 0; i < 3; i += 2) {
    TS_CHECK_EQ_INT(r[i].rc, TS_EDB);
    TS_CHECK(strstr(r[i].err.msg, "read-only transaction"));
  }
  TS_CHECK_EQ_INT(r[1].rc, TS_OK); /* the connection serves on after an error */
  uint64_t described, reused;
  stream_pg_pool_describes(pool, &described, &reused);
  TS_CHECK_EQ_INT(reused, 1); /* the third: the read-only session held without a describe */
  stream_pg_pool_close(pool, pool_closed, &closed);
  uv_run(&loop, UV_RUN_DEFAULT);
  TS_CHECK_EQ_INT(closed, 1);
  TS_CHECK_EQ_INT(uv_loop_close(&loop), 0);
  /* nextval never ran: the sequence was never called */
  res = PQexec(c, "SELECT is_called FROM ro_seq");
  TS_CHECK(PQresultStatus(res) == PGRES_TUPLES_OK && !strcmp(PQgetvalue(res, 0, 0), "f"));
  PQclear(res);
  PQclear(PQexec(c, "DROP SEQUENCE ro_seq"));
  PQfinish(c);
  return 0;
}
