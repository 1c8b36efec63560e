/* stream/pgcopy.c (the blocking COPY reader of the executors) against a
 * real PostgreSQL from TAPSERVE_TEST_DSN, and the COPY framing helpers it
 * shares with the loop's reader. */
#include "stream/pg.h"
#include "test_list.h"
#include "ts_test.h"

#include <stdlib.h>

typedef struct tuples {
  ts_buf copy;      /* header + tuples + trailer, as a result file holds them */
  uint64_t n;       /* tuples received */
  uint64_t fail_at; /* on_tuple fails at this tuple (1-based); 0: never */
  uint64_t stop_at; /* watch asks to cancel once this many arrived; 0: never */
  int cancel_call;  /* watch asks to cancel from this call on; 0: never */
  int watch_calls;
} tuples;

static ts_err on_tuple(void *ud, const uint8_t *p, size_t n, ts_error *err)
{
  tuples *t = ud;
  t->n++;
  if (t->fail_at && t->n == t->fail_at)
    return ts_fail(err, TS_EIO, 0, "disk full (the test)");
  if (ts_buf_append(&t->copy, (const char *)p, n))
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  return TS_OK;
}

static int watch(void *ud)
{
  tuples *t = ud;
  t->watch_calls++;
  if (t->cancel_call && t->watch_calls >= t->cancel_call)
    return 5;
  return t->stop_at && t->n >= t->stop_at ? 7 : 0;
}

/* Runs sql through the reader on conn; the tuples land in t->copy. */
static ts_err run_copy(PGconn *conn, const char *sql, int64_t maxrec, tuples *t, stream_pgcopy *r,
                       ts_error *err)
{
  memset(r, 0, sizeof *r);
  r->conn = conn;
  r->maxrec = maxrec;
  r->poll_ms = 20;
  r->on_tuple = on_tuple;
  r->watch = watch;
  r->ud = t;
  ts_error_clear(err);
  return stream_pgcopy_run(r, sql, err);
}

/* A blocking connection to the test server and a buffer of `cap` bytes
 * for the tuples; NULL without a server. */
static PGconn *copy_setup(tuples *t, size_t cap)
{
  const char *dsn = stream_test_dsn();
  ts_error err;
  ts_buf_init(&t->copy, cap);
  return dsn ? stream_pg_connect_blocking(dsn, &err) : NULL;
}

static void copy_teardown(tuples *t, PGconn *c)
{
  ts_buf_free(&t->copy);
  PQfinish(c);
}

/* The connection is idle and answers: the reader left nothing behind. */
static int conn_reusable(PGconn *conn)
{
  if (PQtransactionStatus(conn) != PQTRANS_IDLE)
    return 0;
  PGresult *res = PQexec(conn, "SELECT 41 + 1");
  int ok = PQresultStatus(res) == PGRES_TUPLES_OK && !strcmp(PQgetvalue(res, 0, 0), "42");
  PQclear(res);
  return ok;
}

int test_copy_framing(void)
{
  size_t size = 0;
  ts_error err;
  uint8_t h[40];
  memcpy(h, stream_copy_header, sizeof stream_copy_header);
  TS_CHECK_EQ_INT(stream_copy_header_check(h, 19, &size, &err), TS_OK);
  TS_CHECK_EQ_INT(size, 19);
  TS_CHECK_EQ_INT(stream_copy_header_check(h, 5, &size, &err), TS_EAGAIN);
  TS_CHECK_EQ_INT(size, 19);
  h[18] = 4; /* a 4-byte extension area */
  TS_CHECK_EQ_INT(stream_copy_header_check(h, 20, &size, &err), TS_EAGAIN);
  TS_CHECK_EQ_INT(size, 23);
  TS_CHECK_EQ_INT(stream_copy_header_check(h, 30, &size, &err), TS_OK);
  TS_CHECK_EQ_INT(size, 23);
  h[18] = 0;
  h[12] = 1; /* flag bit 16: OIDs */
  TS_CHECK_EQ_INT(stream_copy_header_check(h, 19, &size, &err), TS_EINVAL);
  TS_CHECK(strstr(err.msg, "OIDs"));
  h[12] = 0;
  h[15] = 0x80; /* negative extension length */
  TS_CHECK_EQ_INT(stream_copy_header_check(h, 19, &size, &err), TS_EINVAL);
  h[15] = 0;
  h[0] = 'X';
  TS_CHECK_EQ_INT(stream_copy_header_check(h, 3, &size, &err), TS_EINVAL);
  return 0;
}

int test_maxrec_take(void)
{
  int ovf = 0;
  TS_CHECK_EQ_INT(stream_maxrec_take(-1, 1000, 50, &ovf), 50);
  TS_CHECK_EQ_INT(ovf, 0);
  TS_CHECK_EQ_INT(stream_maxrec_take(10, 4, 6, &ovf), 6); /* exactly maxrec */
  TS_CHECK_EQ_INT(ovf, 0);
  TS_CHECK_EQ_INT(stream_maxrec_take(10, 4, 7, &ovf), 6); /* row 11 arrives */
  TS_CHECK_EQ_INT(ovf, 1);
  ovf = 0;
  TS_CHECK_EQ_INT(stream_maxrec_take(10, 10, 1, &ovf), 0);
  TS_CHECK_EQ_INT(ovf, 1);
  ovf = 0;
  TS_CHECK_EQ_INT(stream_maxrec_take(0, 0, 1, &ovf), 0); /* MAXREC=0 */
  TS_CHECK_EQ_INT(ovf, 1);
  ovf = 0;
  TS_CHECK_EQ_INT(stream_maxrec_take(0, 0, 0, &ovf), 0);
  TS_CHECK_EQ_INT(ovf, 0);
  return 0;
}

int test_pg_copy_describe(void)
{
  const char *dsn = stream_test_dsn();
  TS_CHECK(dsn);
  ts_error err;
  PGconn *c = stream_pg_connect_blocking(dsn, &err);
  TS_CHECK(c);
  ts_arena *a = ts_arena_new(4096, 1 << 20);
  stream_schema s = {0};
  TS_CHECK_EQ_INT(stream_pgcopy_describe(c, "SELECT 1::int4 AS a, 'x'::text AS b, 2.5::float8 AS c",
                                         a, &s, &err),
                  TS_OK);
  TS_CHECK_EQ_INT(s.ncols, 3);
  TS_CHECK_STREQ(s.cols[0].name, "a");
  TS_CHECK_STREQ(s.cols[0].datatype, "int");
  TS_CHECK_STREQ(s.cols[1].datatype, "char");
  TS_CHECK_STREQ(s.cols[2].datatype, "double");
  /* The same refusal as /sync's, naming the column. */
  stream_schema s2 = {0};
  TS_CHECK_EQ_INT(stream_pgcopy_describe(c, "SELECT point(1, 2) AS pos", a, &s2, &err), TS_EINVAL);
  TS_CHECK(strstr(err.msg, "\"pos\""));
  TS_CHECK_EQ_INT(stream_pgcopy_describe(c, "SELECT nope(1)", a, &s2, &err), TS_EQUERY);
  TS_CHECK(strstr(err.msg, "nope"));
  TS_CHECK(conn_reusable(c));
  ts_arena_free(a);
  PQfinish(c);
  return 0;
}

int test_pg_copy_rows(void)
{
  tuples t = {0};
  stream_pgcopy r;
  ts_error err;
  PGconn *c = copy_setup(&t, 1 << 24);
  TS_CHECK(c);
  ts_buf_append(&t.copy, (const char *)stream_copy_header, sizeof stream_copy_header);
  TS_CHECK_EQ_INT(run_copy(c,
                           "SELECT i, 'row ' || i AS s, CASE WHEN i % 3 = 0 THEN NULL ELSE i END "
                           "FROM generate_series(1, 5000) i",
                           -1, &t, &r, &err),
                  TS_OK);
  TS_CHECK_EQ_INT(r.tuples, 5000);
  TS_CHECK_EQ_INT(r.overflow, 0);
  TS_CHECK_EQ_INT(r.why, 0);
  TS_CHECK_STREQ(r.sqlstate, "");
  ts_buf_append(&t.copy, (const char *)stream_copy_trailer, sizeof stream_copy_trailer);
  /* The stored stream decodes to the rows, in order. */
  stream_copydec *d = stream_copydec_new(3, 100000);
  size_t used = 0;
  stream_batch b;
  TS_CHECK_EQ_INT(stream_copydec_feed(d, (const uint8_t *)t.copy.data, t.copy.len, &used, &b, &err),
                  TS_OK);
  TS_CHECK_EQ_INT(used, t.copy.len);
  TS_CHECK(stream_copydec_done(d));
  TS_CHECK_EQ_INT(b.nrows, 5000);
  for (size_t i = 0; i < b.nrows; i++) {
    const stream_value *row = stream_batch_row(&b, i);
    char want[32];
    TS_CHECK_EQ_INT(stream_get_int4(&row[0]), (int)i + 1);
    snprintf(want, sizeof want, "row %zu", i + 1);
    TS_CHECK_EQ_INT(row[1].len, (int32_t)strlen(want));
    TS_CHECK(!memcmp(row[1].p, want, strlen(want)));
    TS_CHECK_EQ_INT(row[2].len, (i + 1) % 3 == 0 ? -1 : 4);
  }
  stream_copydec_free(d);
  /* No rows at all: the reader still finishes cleanly. */
  t.n = 0;
  TS_CHECK_EQ_INT(run_copy(c, "SELECT 1 AS x WHERE false", -1, &t, &r, &err), TS_OK);
  TS_CHECK_EQ_INT(r.tuples, 0);
  TS_CHECK(conn_reusable(c));
  copy_teardown(&t, c);
  return 0;
}

int test_pg_copy_overflow(void)
{
  tuples t = {0};
  stream_pgcopy r;
  ts_error err;
  PGconn *c = copy_setup(&t, 1 << 20);
  TS_CHECK(c);
  /* The SQL carries LIMIT maxrec+1, as the translator writes it. */
  TS_CHECK_EQ_INT(run_copy(c, "SELECT i FROM generate_series(1, 100) i LIMIT 11", 10, &t, &r, &err),
                  TS_OK);
  TS_CHECK_EQ_INT(r.tuples, 10);
  TS_CHECK_EQ_INT(t.n, 10);
  TS_CHECK_EQ_INT(r.overflow, 1);
  t.n = 0;
  TS_CHECK_EQ_INT(run_copy(c, "SELECT i FROM generate_series(1, 10) i LIMIT 11", 10, &t, &r, &err),
                  TS_OK);
  TS_CHECK_EQ_INT(r.tuples, 10);
  TS_CHECK_EQ_INT(r.overflow, 0);
  t.n = 0;
  TS_CHECK_EQ_INT(run_copy(c, "SELECT 1 AS one LIMIT 1", 0, &t, &r, &err), TS_OK);
  TS_CHECK_EQ_INT(t.n, 0);
  TS_CHECK_EQ_INT(r.overflow, 1);
  TS_CHECK(conn_reusable(c));
  copy_teardown(&t, c);
  return 0;
}

int test_pg_copy_sql_error(void)
{
  tuples t = {0};
  stream_pgcopy r;
  ts_error err;
  PGconn *c = copy_setup(&t, 1 << 24);
  TS_CHECK(c);
  /* Before the COPY starts, and in its middle. */
  TS_CHECK_EQ_INT(run_copy(c, "SELECT no_such_function(1) AS x", -1, &t, &r, &err), TS_EQUERY);
  TS_CHECK(strstr(err.msg, "no_such_function"));
  TS_CHECK_STREQ(r.sqlstate, "42883");
  TS_CHECK(conn_reusable(c));
  TS_CHECK_EQ_INT(
      run_copy(c, "SELECT 1 / (5000 - i) AS x FROM generate_series(1, 10000) i", -1, &t, &r, &err),
      TS_EQUERY);
  TS_CHECK_STREQ(err.msg, "division by zero");
  TS_CHECK(r.tuples < 5000);
  TS_CHECK(conn_reusable(c));
  /* The operator's fault: a table the database does not have. */
  TS_CHECK_EQ_INT(run_copy(c, "SELECT * FROM no_such_table_here", -1, &t, &r, &err), TS_EDB);
  /* The consumer fails: its error, the query stopped, the connection clean. */
  t.n = 0;
  t.fail_at = 3;
  TS_CHECK_EQ_INT(run_copy(c, "SELECT generate_series(1, 50000000) AS i", -1, &t, &r, &err),
                  TS_EIO);
  TS_CHECK_STREQ(err.msg, "disk full (the test)");
  TS_CHECK_EQ_INT(r.tuples, 3);
  TS_CHECK(conn_reusable(c));
  copy_teardown(&t, c);
  return 0;
}

int test_pg_copy_cancel(void)
{
  tuples t = {.stop_at = 1};
  stream_pgcopy r;
  ts_error err;
  PGconn *c = copy_setup(&t, 1 << 26);
  TS_CHECK(c);
  /* Cancel while the query runs: the watch's reason comes back. */
  TS_CHECK_EQ_INT(run_copy(c, "SELECT generate_series(1, 50000000) AS i", -1, &t, &r, &err),
                  TS_ECANCELED);
  TS_CHECK_EQ_INT(r.why, 7);
  TS_CHECK_STREQ(r.sqlstate, "57014");
  TS_CHECK(r.tuples < 50000000);
  TS_CHECK(conn_reusable(c));
  /* Cancel before the first row: the watch runs while the COPY has not
   * started yet (the query sleeps first). */
  tuples t2 = {.cancel_call = 3};
  ts_buf_init(&t2.copy, 1 << 20);
  TS_CHECK_EQ_INT(run_copy(c, "SELECT 1 AS x FROM pg_sleep(5)", -1, &t2, &r, &err), TS_ECANCELED);
  TS_CHECK_EQ_INT(r.why, 5);
  TS_CHECK_EQ_INT(r.tuples, 0);
  TS_CHECK_EQ_INT(t2.watch_calls, 3);
  TS_CHECK(conn_reusable(c));
  t2.cancel_call = 0;
  /* A statement timeout in the database: 57014 without a reason of ours. */
  PQclear(PQexec(c, "SET statement_timeout = 100"));
  TS_CHECK_EQ_INT(run_copy(c, "SELECT 1 AS x FROM pg_sleep(5)", -1, &t2, &r, &err), TS_ECANCELED);
  TS_CHECK_EQ_INT(r.why, 0);
  TS_CHECK_STREQ(r.sqlstate, "57014");
  PQclear(PQexec(c, "SET statement_timeout = 0"));
  TS_CHECK(conn_reusable(c));
  ts_buf_free(&t2.copy);
  copy_teardown(&t, c);
  return 0;
}
