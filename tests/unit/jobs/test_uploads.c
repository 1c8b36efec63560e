/* jobs/uploads.c against TAPSERVE_TEST_DSN: an upload table loaded from a
 * COPY BINARY stream in one transaction (types, pgSphere conversion,
 * position index, record, metadata back), failures that leave nothing,
 * dropping, the sweeper, and dependencies between jobs. */
#include "test_list.h"
#include "ts_test.h"
#include "ts_test_pg.h"

#include "jobs/cluster.h"
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink {
  jobs_upload_load *l;
  ts_error *err;
} sink;

static ts_err to_load(void *ud, const char *buf, size_t len)
{
  sink *s = ud;
  return jobs_upload_write(s->l, buf, len, s->err);
}

static int count(PGconn *c, const char *sql)
{
  PGresult *r = PQexec(c, sql);
  int n = PQresultStatus(r) == PGRES_TUPLES_OK ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
  PQclear(r);
  return n;
}

static int setup(PGconn *c)
{
  ts_error err;
  TS_CHECK(c);
  TS_CHECK(ts_test_exec_ok(c, "CREATE EXTENSION IF NOT EXISTS pg_sphere"));
  TS_CHECK(jobs_migrate(c, NULL, NULL, &err) == TS_OK);
  return 0;
}

/* id int, ra/dec with the main position UCDs, pos as a DALI point. */
static void columns(jobs_upload_col *cols)
{
  memset(cols, 0, 4 * sizeof *cols);
  stream_column_set_type(&cols[0].c, 23, -1);
  cols[0].c.name = "id";
  cols[0].copy_type = "integer";
  stream_column_set_type(&cols[1].c, 701, -1);
  cols[1].c.name = "RA";
  cols[1].c.unit = "deg";
  cols[1].c.ucd = "pos.eq.ra;meta.main";
  cols[1].copy_type = "double precision";
  stream_column_set_type(&cols[2].c, 701, -1);
  cols[2].c.name = "dec";
  cols[2].c.ucd = "pos.eq.dec;meta.main";
  cols[2].copy_type = "double precision";
  stream_column_set_type(&cols[3].c, 1022, -1);
  cols[3].c.name = "pos";
  cols[3].c.xtype = "point";
  cols[3].c.arraysize = "2";
  cols[3].copy_type = "double precision[]";
  cols[3].final_type = "spoint";
}

/* Loads n rows of the first ncols (3 or 4: without or with pos) of
 * columns() into target t (or, with garbage, bytes COPY refuses);
 * test_usertables.c loads user tables with it too. */
ts_err test_load_cols(PGconn *c, const jobs_load_target *t, int ncols, int n, int garbage,
                      uint64_t max_bytes, ts_error *err);
ts_err test_load_cols(PGconn *c, const jobs_load_target *t, int ncols, int n, int garbage,
                      uint64_t max_bytes, ts_error *err)
{
  jobs_upload_col cols[4];
  jobs_upload_load *l = NULL;
  stream_out out;
  stream_copyenc e;
  sink s = {NULL, err};
  ts_err rc;
  columns(cols);
  rc = t->begin(t, c, cols, (size_t)ncols, max_bytes, &l, err);
  if (rc)
    return rc;
  s.l = l;
  stream_out_init(&out, 4096, to_load, &s);
  rc = stream_copyenc_init(&e, &out, garbage ? ncols - 1 : ncols);
  for (int i = 0; i < n && !rc; i++) {
    rc = stream_copyenc_row(&e);
    if (!rc)
      rc = stream_copyenc_int4(&e, i);
    if (!rc)
      rc = stream_copyenc_float8(&e, 10.0 + i * 0.01);
    if (!rc)
      rc = stream_copyenc_float8(&e, -5.0);
    if (!rc && !garbage && ncols == 4) {
      rc = stream_copyenc_array_begin(&e, 701);
      if (!rc)
        rc = stream_copyenc_float8(&e, 10.0 + i * 0.01);
      if (!rc)
        rc = stream_copyenc_float8(&e, -5.0);
      if (!rc)
        rc = stream_copyenc_array_end(&e);
    }
  }
  if (!rc)
    rc = stream_copyenc_finish(&e);
  if (!rc)
    rc = stream_out_flush(&out);
  if (rc && !err->msg[0])
    ts_fail(err, rc, 0, "encoding");
  if (!rc)
    rc = jobs_upload_finish(l, (uint64_t)n, NULL, err);
  stream_copyenc_free(&e);
  stream_out_free(&out);
  jobs_upload_free(l);
  return rc;
}

ts_err test_load_rows(PGconn *c, const jobs_load_target *t, int n, int garbage, uint64_t max_bytes,
                      ts_error *err);
ts_err test_load_rows(PGconn *c, const jobs_load_target *t, int n, int garbage, uint64_t max_bytes,
                      ts_error *err)
{
  return test_load_cols(c, t, 4, n, garbage, max_bytes, err);
}

static ts_err load(PGconn *c, const jobs_upload_owner *o, const char *name, int n, int garbage,
                   uint64_t max_bytes, ts_error *err)
{
  jobs_load_target t = jobs_upload_target(o, name);
  return test_load_rows(c, &t, n, garbage, max_bytes, err);
}

int test_pg_upload_load(void)
{
  PGconn *c = ts_test_pg();
  ts_error err;
  ts_arena *a = ts_arena_new(0, 0);
  jobs_upload_owner o = {NULL, "0123abcd0123abcd", "00000000-0000-0000-0000-000000000001"};
  jobs_upload_info *u = NULL;
  size_t n = 0;
  int dropped = 0;
  char t[64];
  TS_CHECK(setup(c) == 0);
  ts_error_clear(&err);
  TS_CHECK(load(c, &o, "MyList", 500, 0, 0, &err) == TS_OK);
  TS_CHECK(jobs_upload_table_name(&o, "MyList", t, &err) == TS_OK);
  TS_CHECK_STREQ(t, "up_0123abcd0123abcd_mylist");
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM tap_upload.up_0123abcd0123abcd_mylist"), 500);
  /* pgSphere type, index on the point column, ANALYZEd */
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM tap_upload.up_0123abcd0123abcd_mylist"
                           " WHERE pos @ scircle(spoint(radians(10), radians(-5)), radians(0.5))"),
                  51);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM pg_indexes WHERE schemaname = 'tap_upload'"
                           " AND tablename = 'up_0123abcd0123abcd_mylist'"
                           " AND indexdef LIKE '%gist (pos)%'"),
                  1);
  TS_CHECK_EQ_INT(count(c, "SELECT reltuples::int FROM pg_class"
                           " WHERE oid = 'tap_upload.up_0123abcd0123abcd_mylist'::regclass"),
                  500);
  TS_CHECK(jobs_upload_list(c, a, &o, &u, &n, &err) == TS_OK);
  TS_CHECK_EQ_INT(n, 1);
  TS_CHECK_STREQ(u[0].name, "mylist");
  TS_CHECK_EQ_INT(u[0].rows, 500);
  TS_CHECK_EQ_INT(u[0].schema.ncols, 4);
  TS_CHECK_STREQ(u[0].schema.cols[1].name, "RA");
  TS_CHECK_STREQ(u[0].schema.cols[1].unit, "deg");
  TS_CHECK_STREQ(u[0].schema.cols[3].xtype, "point");
  TS_CHECK_STREQ(u[0].schema.cols[3].arraysize, "2");
  /* the same name twice in one request: refused, the first stays */
  TS_CHECK(load(c, &o, "mylist", 1, 0, 0, &err) != TS_OK);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM tap_upload.up_0123abcd0123abcd_mylist"), 500);
  TS_CHECK(jobs_upload_drop(c, &o, &dropped, &err) == TS_OK);
  TS_CHECK_EQ_INT(dropped, 1);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM pg_tables WHERE schemaname = 'tap_upload'"
                           " AND tablename = 'up_0123abcd0123abcd_mylist'"),
                  0);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM tapserve.uploads"
                           " WHERE request_id = '0123abcd0123abcd'"),
                  0);
  ts_arena_free(a);
  PQfinish(c);
  return 0;
}

/* ra/dec by their UCDs and no point column: an expression index on the
 * spoint the translator writes. */
int test_pg_upload_radec_index(void)
{
  PGconn *c = ts_test_pg();
  ts_error err;
  jobs_upload_col cols[4];
  jobs_upload_load *l = NULL;
  jobs_upload_owner o = {NULL, "feedfeedfeedfeed", NULL};
  TS_CHECK(setup(c) == 0);
  columns(cols);
  TS_CHECK(jobs_upload_begin(c, &o, "radec", cols, 3, 0, &l, &err) == TS_OK);
  TS_CHECK(jobs_upload_write(l, stream_copy_header, sizeof stream_copy_header, &err) == TS_OK);
  TS_CHECK(jobs_upload_write(l, stream_copy_trailer, sizeof stream_copy_trailer, &err) == TS_OK);
  TS_CHECK(jobs_upload_finish(l, 0, NULL, &err) == TS_OK);
  jobs_upload_free(l);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM pg_indexes WHERE tablename ="
                           " 'up_feedfeedfeedfeed_radec'"
                           " AND indexdef LIKE '%gist (%spoint(radians(\"RA\")%radians(%dec%'"),
                  1);
  TS_CHECK(jobs_upload_drop(c, &o, NULL, &err) == TS_OK);
  PQfinish(c);
  return 0;
}

/* Malformed COPY data, a size limit, a bad name: an error naming the
 * upload, and neither table nor record left. */
int test_pg_upload_failures(void)
{
  PGconn *c = ts_test_pg();
  ts_error err;
  jobs_upload_owner o = {NULL, "badbadbadbadbad1", NULL};
  TS_CHECK(setup(c) == 0);
  int before = count(c, "SELECT count(*) FROM pg_tables WHERE schemaname = 'tap_upload'");
  ts_error_clear(&err);
  TS_CHECK(load(c, &o, "broken", 10, 1, 0, &err) == TS_EINVAL);
  TS_CHECK(strstr(err.msg, "upload \"broken\"") != NULL);
  ts_error_clear(&err);
  TS_CHECK(load(c, &o, "big", 5000, 0, 10000, &err) == TS_ELIMIT);
  TS_CHECK(strstr(err.msg, "max_bytes") != NULL);
  TS_CHECK(load(c, &o, "1abc", 1, 0, 0, &err) == TS_EINVAL);
  TS_CHECK(load(c, &o, "abcdefghijklmnopqrstuvwxyz01", 1, 0, 0, &err) == TS_EINVAL);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM pg_tables WHERE schemaname = 'tap_upload'"),
                  before);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM tapserve.uploads"
                           " WHERE request_id = 'badbadbadbadbad1'"),
                  0);
  TS_CHECK(PQtransactionStatus(c) == PQTRANS_IDLE);
  PQfinish(c);
  return 0;
}

/* The sweeper drops a job's tables once the job has ended or is gone, and
 * a request's once its instance is gone; a live job's stay. */
int test_pg_upload_sweep(void)
{
  PGconn *c = ts_test_pg();
  ts_error err;
  jobs_new n;
  char live[40], ended[40], inst[40];
  TS_CHECK(setup(c) == 0);
  memset(&n, 0, sizeof n);
  n.destruction_ms = ts_now_ms() + 60000;
  TS_CHECK(jobs_create(c, &n, live, &err) == TS_OK);
  TS_CHECK(jobs_create(c, &n, ended, &err) == TS_OK);
  TS_CHECK(jobs_instance_register(c, "test", 0, "t", 30, inst, &err) == TS_OK);
  jobs_upload_owner ol = {live, NULL, NULL}, oe = {ended, NULL, NULL};
  jobs_upload_owner orq = {NULL, "aaaabbbbccccdddd", inst};
  TS_CHECK(load(c, &ol, "t", 3, 0, 0, &err) == TS_OK);
  TS_CHECK(load(c, &oe, "t", 3, 0, 0, &err) == TS_OK);
  TS_CHECK(load(c, &orq, "t", 3, 0, 0, &err) == TS_OK);
  TS_CHECK(jobs_abort(c, ended, inst, &err) == TS_OK);
  TS_CHECK(jobs_upload_sweep(c, NULL, &err) == TS_OK);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM tapserve.uploads WHERE request_id ="
                           " 'aaaabbbbccccdddd'"),
                  1); /* its instance lives */
  char sql[256];
  snprintf(sql, sizeof sql, "SELECT count(*) FROM tapserve.uploads WHERE job_id = '%s'", live);
  TS_CHECK_EQ_INT(count(c, sql), 1);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM tapserve.uploads WHERE job_id = '%s'", ended);
  TS_CHECK_EQ_INT(count(c, sql), 0);
  TS_CHECK(jobs_instance_unregister(c, inst, &err) == TS_OK);
  TS_CHECK(jobs_upload_sweep(c, NULL, &err) == TS_OK);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM pg_tables WHERE tablename ="
                           " 'up_aaaabbbbccccdddd_t'"),
                  0);
  /* deleting a job drops its tables with it */
  TS_CHECK(jobs_delete(c, NULL, live, &err) == TS_OK);
  snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_tables WHERE tablename = 'up_%s_t'", live);
  TS_CHECK_EQ_INT(count(c, sql), 0);
  TS_CHECK(jobs_delete(c, NULL, ended, &err) == TS_OK);
  PQfinish(c);
  return 0;
}

/* A job is not claimed while a job it uploads from is still to run; a
 * cycle through dependencies is refused. */
int test_pg_job_deps(void)
{
  PGconn *c = ts_test_pg();
  ts_error err;
  jobs_new n;
  char a[40], b[40], inst[40];
  jobs_job *j = NULL;
  jobs_limits none = {0, 0};
  ts_arena *ar = ts_arena_new(0, 0);
  TS_CHECK(setup(c) == 0);
  TS_CHECK(ts_test_exec_ok(c, "UPDATE tapserve.jobs SET phase = 'ABORTED'"
                              " WHERE phase IN ('QUEUED', 'EXECUTING')"));
  memset(&n, 0, sizeof n);
  n.destruction_ms = ts_now_ms() + 60000;
  TS_CHECK(jobs_create(c, &n, a, &err) == TS_OK);
  TS_CHECK(jobs_create(c, &n, b, &err) == TS_OK);
  const char *da[] = {a}, *db[] = {b};
  TS_CHECK(jobs_set_deps(c, b, da, 1, &err) == TS_OK);     /* b uploads a's result */
  TS_CHECK(jobs_set_deps(c, a, db, 1, &err) == TS_EINVAL); /* a from b: a cycle */
  TS_CHECK(strstr(err.msg, "cycle") != NULL);
  TS_CHECK(jobs_set_deps(c, a, da, 1, &err) == TS_EINVAL); /* itself */
  TS_CHECK(jobs_instance_register(c, "test", 0, "t", 30, inst, &err) == TS_OK);
  TS_CHECK(jobs_run(c, b, inst, &err) == TS_OK);
  TS_CHECK(jobs_claim(c, ar, inst, &none, &j, &err) == TS_OK);
  TS_CHECK(j == NULL); /* b waits for a, which is PENDING */
  TS_CHECK(jobs_abort(c, a, inst, &err) == TS_OK);
  TS_CHECK(jobs_claim(c, ar, inst, &none, &j, &err) == TS_OK);
  TS_CHECK(j != NULL && !strcmp(j->id, b));
  TS_CHECK(jobs_delete(c, NULL, a, &err) == TS_OK);
  TS_CHECK(jobs_delete(c, NULL, b, &err) == TS_OK);
  TS_CHECK(jobs_instance_unregister(c, inst, &err) == TS_OK);
  ts_arena_free(ar);
  PQfinish(c);
  return 0;
}
