/* jobs/: phases, JSON, the result store (fs everywhere; pg, migrations and
 * compare-and-set phase changes against TAPSERVE_TEST_DSN). */
#define TS_TEST_MAIN
#include "test_list.h"
#include "ts_test.h"
#include "ts_test_pg.h"

#include "jobs/cluster.h"
#include "jobs/jobs.h"

#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

int test_phase_names(void)
{
  jobs_phase p;
  for (int i = 0; i < JOBS_NPHASES; i++) {
    TS_CHECK(jobs_phase_parse(jobs_phase_name((jobs_phase)i), &p) == TS_OK);
    TS_CHECK_EQ_INT(p, i);
  }
  TS_CHECK(jobs_phase_parse("executing", &p) == TS_EINVAL); /* UWS spells them upper case */
  TS_CHECK(jobs_phase_final(JOBS_COMPLETED) && jobs_phase_final(JOBS_ABORTED));
  TS_CHECK(!jobs_phase_final(JOBS_EXECUTING) && !jobs_phase_final(JOBS_QUEUED));
  return 0;
}

int test_json_str(void)
{
  ts_buf b;
  ts_buf_init(&b, TS_TEST_BUF_MAX);
  TS_CHECK(jobs_json_str(&b, "a\"b\\c\n\x01 é") == TS_OK);
  TS_CHECK_STREQ(b.data, "\"a\\\"b\\\\c\\u000a\\u0001 é\"");
  ts_buf_free(&b);
  return 0;
}

static char tmpdir[256];

static int make_tmpdir(void)
{
  snprintf(tmpdir, sizeof tmpdir, "/tmp/jobs-unit-XXXXXX");
  return mkdtemp(tmpdir) ? 0 : -1;
}

/* Files in tmpdir (hidden ones included), "." and ".." excluded. */
static int count_files(void)
{
  DIR *d = opendir(tmpdir);
  struct dirent *e;
  int n = 0;
  if (!d)
    return -1;
  while ((e = readdir(d)) != NULL)
    n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

int test_store_spec(void)
{
  jobs_store s;
  ts_error err;
  TS_CHECK(jobs_store_init(&s, "pg", &err) == TS_OK && s.kind == JOBS_STORE_PG);
  TS_CHECK(jobs_store_init(&s, "s3:bucket", &err) == TS_EINVAL);
  TS_CHECK(jobs_store_init(&s, "fs:", &err) == TS_EINVAL);
  TS_CHECK(make_tmpdir() == 0);
  char spec[300];
  snprintf(spec, sizeof spec, "fs:%s/a/b", tmpdir);
  TS_CHECK(jobs_store_init(&s, spec, &err) == TS_OK); /* created with its parents */
  TS_CHECK(access(s.dir, W_OK) == 0);
  return 0;
}

/* A deterministic, compressible byte stream of n bytes. */
static void fill(uint8_t *p, size_t n, unsigned seed)
{
  for (size_t i = 0; i < n; i++)
    p[i] = (uint8_t)((i * 7 + seed) % 251 < 200 ? 'a' + (i % 13) : (i * 31 + seed) & 0xff);
}

static int roundtrip(const jobs_store *s, PGconn *conn, const char *id)
{
  enum { N = 3 * 1024 * 1024 + 17 };
  uint8_t *in = malloc(N), *out = malloc(N + 1);
  jobs_store_writer *w = NULL;
  jobs_store_reader *r = NULL;
  jobs_result_info info;
  ts_error err;
  size_t got, total = 0;
  TS_CHECK(in && out);
  fill(in, N, 3);
  TS_CHECK(jobs_store_writer_open(s, conn, id, "result", &w, &err) == TS_OK);
  for (size_t off = 0; off < N; off += 100000)
    TS_CHECK(jobs_store_write(w, in + off, off + 100000 < N ? 100000 : N - off, &err) == TS_OK);
  TS_CHECK(jobs_store_writer_finish(w, &info, &err) == TS_OK);
  TS_CHECK_EQ_INT(info.raw_bytes, N);
  TS_CHECK(info.bytes > 0 && info.bytes < N / 2);
  jobs_result_info keep = info;
  char loc[128];
  snprintf(loc, sizeof loc, "%s", info.location);
  keep.location = loc;
  keep.store = s->kind == JOBS_STORE_PG ? "pg" : "fs";
  keep.name = "result";
  if (conn)
    PQclear(PQexec(conn, "COMMIT"));
  jobs_store_writer_free(w, 1);
  TS_CHECK(jobs_store_reader_open(s, conn, id, &keep, &r, &err) == TS_OK);
  /* odd read sizes cross every zstd block boundary */
  do {
    TS_CHECK(jobs_store_read(r, out + total, total + 4099 <= N + 1 ? 4099 : N + 1 - total, &got,
                             &err) == TS_OK);
    total += got;
  } while (got > 0 && total <= N);
  TS_CHECK_EQ_INT(total, N);
  TS_CHECK(memcmp(in, out, N) == 0);
  jobs_store_reader_free(r);
  free(in);
  free(out);
  return 0;
}

int test_store_fs_roundtrip(void)
{
  jobs_store s;
  ts_error err;
  char spec[300];
  TS_CHECK(make_tmpdir() == 0);
  snprintf(spec, sizeof spec, "fs:%s", tmpdir);
  TS_CHECK(jobs_store_init(&s, spec, &err) == TS_OK);
  TS_CHECK(roundtrip(&s, NULL, "00ff") == 0);
  TS_CHECK_EQ_INT(count_files(), 1); /* the result, no temporary left */
  jobs_store_remove(&s, "fs", "00ff-result.copy.zst");
  TS_CHECK_EQ_INT(count_files(), 0);
  return 0;
}

int test_store_fs_abort(void)
{
  jobs_store s;
  ts_error err;
  char spec[300];
  jobs_store_writer *w = NULL;
  jobs_result_info info;
  TS_CHECK(make_tmpdir() == 0);
  snprintf(spec, sizeof spec, "fs:%s", tmpdir);
  TS_CHECK(jobs_store_init(&s, spec, &err) == TS_OK);
  /* abandoned while writing: nothing left */
  TS_CHECK(jobs_store_writer_open(&s, NULL, "ab", "result", &w, &err) == TS_OK);
  TS_CHECK(jobs_store_write(w, "xyz", 3, &err) == TS_OK);
  TS_CHECK_EQ_INT(count_files(), 1);
  jobs_store_writer_free(w, 0);
  TS_CHECK_EQ_INT(count_files(), 0);
  /* finished but its row never committed: removed too */
  TS_CHECK(jobs_store_writer_open(&s, NULL, "ab", "result", &w, &err) == TS_OK);
  TS_CHECK(jobs_store_write(w, "xyz", 3, &err) == TS_OK);
  TS_CHECK(jobs_store_writer_finish(w, &info, &err) == TS_OK);
  jobs_store_writer_free(w, 0);
  TS_CHECK_EQ_INT(count_files(), 0);
  /* a store that cannot be written fails with a message */
  s.kind = JOBS_STORE_FS;
  snprintf(s.dir, sizeof s.dir, "%s/missing", tmpdir);
  TS_CHECK(jobs_store_writer_open(&s, NULL, "ab", "result", &w, &err) == TS_EIO);
  TS_CHECK(strstr(err.msg, "cannot create a result file") != NULL);
  return 0;
}

int test_store_truncated(void)
{
  jobs_store s;
  ts_error err;
  char spec[300], path[600];
  jobs_store_writer *w = NULL;
  jobs_store_reader *r = NULL;
  jobs_result_info info;
  uint8_t in[50000], out[60000];
  size_t got = 0, total = 0;
  ts_err rc = TS_OK;
  TS_CHECK(make_tmpdir() == 0);
  snprintf(spec, sizeof spec, "fs:%s", tmpdir);
  TS_CHECK(jobs_store_init(&s, spec, &err) == TS_OK);
  fill(in, sizeof in, 9);
  TS_CHECK(jobs_store_writer_open(&s, NULL, "cd", "result", &w, &err) == TS_OK);
  TS_CHECK(jobs_store_write(w, in, sizeof in, &err) == TS_OK);
  TS_CHECK(jobs_store_writer_finish(w, &info, &err) == TS_OK);
  jobs_result_info keep = {"result", "fs", "cd-result.copy.zst", 0, 0, 0, 0};
  jobs_store_writer_free(w, 1);
  snprintf(path, sizeof path, "%s/cd-result.copy.zst", tmpdir);
  TS_CHECK(truncate(path, info.bytes - 5) == 0);
  TS_CHECK(jobs_store_reader_open(&s, NULL, "cd", &keep, &r, &err) == TS_OK);
  do {
    rc = jobs_store_read(r, out + total, sizeof out - total, &got, &err);
    total += got;
  } while (!rc && got > 0);
  TS_CHECK(rc == TS_EIO); /* never a silently short result */
  jobs_store_reader_free(r);
  return 0;
}

int test_store_clean_tmp(void)
{
  jobs_store s;
  ts_error err;
  char spec[300], old[600];
  jobs_store_writer *w = NULL;
  struct timeval tv[2] = {{1000, 0}, {1000, 0}};
  TS_CHECK(make_tmpdir() == 0);
  snprintf(spec, sizeof spec, "fs:%s", tmpdir);
  TS_CHECK(jobs_store_init(&s, spec, &err) == TS_OK);
  snprintf(old, sizeof old, "%s/.tmp-dead-result.copy.zst-0011", tmpdir);
  FILE *f = fopen(old, "w");
  TS_CHECK(f != NULL);
  fclose(f);
  TS_CHECK(utimes(old, tv) == 0); /* written long ago by a writer that died */
  TS_CHECK(jobs_store_writer_open(&s, NULL, "ef", "result", &w, &err) == TS_OK); /* alive */
  TS_CHECK_EQ_INT(count_files(), 2);
  TS_CHECK_EQ_INT(jobs_store_clean_tmp(&s, 3600), 1);
  TS_CHECK_EQ_INT(count_files(), 1);
  TS_CHECK(access(old, F_OK) != 0);
  jobs_store_writer_free(w, 0);
  return 0;
}

/* A job queued again after its instance died while writing its result:
 * the dead writer's temporary file goes when the next execution's result
 * is committed, not a day later with the sweeper. */
int test_store_stale_tmp(void)
{
  jobs_store s;
  ts_error err;
  char spec[300], stale[600], other[600];
  jobs_store_writer *w = NULL;
  jobs_result_info info;
  TS_CHECK(make_tmpdir() == 0);
  snprintf(spec, sizeof spec, "fs:%s", tmpdir);
  TS_CHECK(jobs_store_init(&s, spec, &err) == TS_OK);
  snprintf(stale, sizeof stale, "%s/.tmp-ab12-result.copy.zst-00deadbeef000000", tmpdir);
  snprintf(other, sizeof other, "%s/.tmp-ab123-result.copy.zst-00deadbeef000000", tmpdir);
  FILE *f = fopen(stale, "w");
  TS_CHECK(f != NULL);
  fclose(f);
  f = fopen(other, "w"); /* another job's, being written */
  TS_CHECK(f != NULL);
  fclose(f);
  TS_CHECK(jobs_store_writer_open(&s, NULL, "ab12", "result", &w, &err) == TS_OK);
  TS_CHECK(jobs_store_write(w, "x", 1, &err) == TS_OK);
  TS_CHECK(jobs_store_writer_finish(w, &info, &err) == TS_OK);
  jobs_store_writer_free(w, 1);
  TS_CHECK(access(stale, F_OK) != 0);
  TS_CHECK(access(other, F_OK) == 0);
  TS_CHECK_EQ_INT(count_files(), 2); /* the result and the other job's file */
  return 0;
}

/* Bytes zstd cannot shrink (xorshift), so that the store's thread really
 * writes about as much as it is given. */
static void noise(uint8_t *p, size_t n, uint64_t *x)
{
  for (size_t i = 0; i < n; i++) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    p[i] = (uint8_t)*x;
  }
}

/* Writes up to `max` noise in 64 KiB pieces, then finishes; returns the
 * first error (from a write or from finish). */
static ts_err write_noise(jobs_store_writer *w, size_t max, jobs_result_info *info, ts_error *err)
{
  enum { PIECE = 64 * 1024 };
  static uint8_t piece[PIECE];
  uint64_t x = 88172645463325252ull;
  ts_err rc = TS_OK;
  for (size_t off = 0; off < max && !rc; off += PIECE) {
    noise(piece, PIECE, &x);
    rc = jobs_store_write(w, piece, PIECE, err);
  }
  return rc ? rc : jobs_store_writer_finish(w, info, err);
}

/* The store's thread fails writing (the file may not grow past 256 KiB):
 * the executor's next write, or finish, says so, and nothing is left. */
int test_store_fs_write_fails(void)
{
  jobs_store s;
  ts_error err;
  char spec[300];
  jobs_store_writer *w = NULL;
  jobs_result_info info;
  struct rlimit lim = {256 * 1024, 256 * 1024};
  TS_CHECK(make_tmpdir() == 0);
  snprintf(spec, sizeof spec, "fs:%s", tmpdir);
  TS_CHECK(jobs_store_init(&s, spec, &err) == TS_OK);
  TS_CHECK(jobs_store_writer_open(&s, NULL, "full", "result", &w, &err) == TS_OK);
  signal(SIGXFSZ, SIG_IGN); /* write(2) fails with EFBIG instead */
  TS_CHECK(setrlimit(RLIMIT_FSIZE, &lim) == 0);
  ts_err rc = write_noise(w, 64 << 20, &info, &err);
  lim.rlim_cur = lim.rlim_max = RLIM_INFINITY;
  setrlimit(RLIMIT_FSIZE, &lim);
  TS_CHECK(rc == TS_EIO);
  TS_CHECK(strstr(err.msg, "cannot write the result file") != NULL);
  int64_t stored = -1;
  jobs_store_writer_bytes(w, NULL, &stored);
  TS_CHECK(stored <= 256 * 1024);
  jobs_store_writer_free(w, 0);
  TS_CHECK_EQ_INT(count_files(), 0);
  return 0;
}

/* Abandoned with buffers still queued for the thread (an abort mid-job):
 * free returns, and no file is left. A finished writer's counts are the
 * bytes given and the bytes stored. */
int test_store_fs_abandon(void)
{
  jobs_store s;
  ts_error err;
  char spec[300];
  jobs_store_writer *w = NULL;
  jobs_result_info info;
  int64_t raw = -1, stored = -1;
  TS_CHECK(make_tmpdir() == 0);
  snprintf(spec, sizeof spec, "fs:%s", tmpdir);
  TS_CHECK(jobs_store_init(&s, spec, &err) == TS_OK);
  for (int i = 0; i < 3; i++) {
    enum { N = 5 << 20 };
    static uint8_t buf[N];
    uint64_t x = 7 + (uint64_t)i;
    noise(buf, N, &x);
    TS_CHECK(jobs_store_writer_open(&s, NULL, "gone", "result", &w, &err) == TS_OK);
    TS_CHECK(jobs_store_write(w, buf, N, &err) == TS_OK);
    jobs_store_writer_bytes(w, &raw, NULL);
    TS_CHECK_EQ_INT(raw, N);
    jobs_store_writer_free(w, 0);
    TS_CHECK_EQ_INT(count_files(), 0);
  }
  TS_CHECK(jobs_store_writer_open(&s, NULL, "kept", "result", &w, &err) == TS_OK);
  TS_CHECK(write_noise(w, 3 << 20, &info, &err) == TS_OK);
  jobs_store_writer_bytes(w, &raw, &stored);
  TS_CHECK_EQ_INT(raw, 3 << 20);
  TS_CHECK_EQ_INT(info.raw_bytes, raw);
  TS_CHECK_EQ_INT(info.bytes, stored);
  TS_CHECK(stored > 3 << 20); /* noise does not shrink: zstd adds its frame */
  jobs_store_writer_free(w, 1);
  TS_CHECK_EQ_INT(count_files(), 1);
  return 0;
}

/* ---- against PostgreSQL ---------------------------------------------------- */

int test_pg_migrate(void)
{
  PGconn *c = ts_test_pg();
  ts_error err;
  int from, to;
  TS_CHECK(c);
  TS_CHECK(jobs_migrate(c, &from, &to, &err) == TS_OK);
  TS_CHECK_EQ_INT(to, jobs_schema_version());
  TS_CHECK(jobs_migrate(c, &from, &to, &err) == TS_OK); /* idempotent */
  TS_CHECK_EQ_INT(from, to);
  /* a database newer than this build is refused */
  PQclear(PQexec(c, "INSERT INTO tapserve.schema_version (version) VALUES (9999)"));
  TS_CHECK(jobs_migrate(c, &from, &to, &err) == TS_EDB);
  TS_CHECK(strstr(err.msg, "newer") != NULL);
  PQclear(PQexec(c, "DELETE FROM tapserve.schema_version WHERE version = 9999"));
  PQfinish(c);
  return 0;
}

int test_pg_store_roundtrip(void)
{
  PGconn *c = ts_test_pg();
  jobs_store s;
  ts_error err;
  char id[40];
  jobs_new n;
  TS_CHECK(c);
  TS_CHECK(jobs_migrate(c, NULL, NULL, &err) == TS_OK);
  TS_CHECK(jobs_store_init(&s, "pg", &err) == TS_OK);
  memset(&n, 0, sizeof n);
  n.destruction_ms = ts_now_ms() + 60000;
  TS_CHECK(jobs_create(c, &n, id, &err) == TS_OK);
  TS_CHECK(roundtrip(&s, c, id) == 0);
  TS_CHECK(jobs_delete(c, &s, id, &err) == TS_OK);
  PGresult *r = PQexec(c, "SELECT count(*) FROM tapserve.result_chunks WHERE job_id NOT IN "
                          "(SELECT id FROM tapserve.jobs)");
  TS_CHECK_STREQ(PQgetvalue(r, 0, 0), "0"); /* chunks went with the job */
  PQclear(r);
  PQfinish(c);
  return 0;
}

/* The pg store's thread loses its connection mid-result (the backend is
 * terminated): the next write or finish fails with the store's message,
 * and none of the chunks stays. Meanwhile another user of the connection
 * (the executor's phase check) holds the writer's lock. */
int test_pg_store_write_fails(void)
{
  PGconn *c = ts_test_pg(), *admin = ts_test_pg();
  jobs_store s;
  jobs_store_writer *w = NULL;
  jobs_result_info info;
  ts_error err;
  char id[40], pid[16];
  jobs_new n;
  enum { PIECE = 1 << 20 };
  static uint8_t piece[PIECE];
  uint64_t x = 99;
  ts_err rc = TS_OK;
  TS_CHECK(c && admin);
  TS_CHECK(jobs_migrate(c, NULL, NULL, &err) == TS_OK);
  TS_CHECK(jobs_store_init(&s, "pg", &err) == TS_OK);
  memset(&n, 0, sizeof n);
  n.destruction_ms = ts_now_ms() + 60000;
  TS_CHECK(jobs_create(admin, &n, id, &err) == TS_OK);
  TS_CHECK(jobs_store_writer_open(&s, c, id, "result", &w, &err) == TS_OK);
  for (int i = 0; i < 4; i++) {
    noise(piece, PIECE, &x);
    TS_CHECK(jobs_store_write(w, piece, PIECE, &err) == TS_OK);
  }
  jobs_store_writer_lock(w);
  PGresult *r = PQexec(c, "SELECT 1");
  TS_CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
  PQclear(r);
  snprintf(pid, sizeof pid, "%d", PQbackendPID(c));
  jobs_store_writer_unlock(w);
  const char *v[] = {pid};
  r = PQexecParams(admin, "SELECT pg_terminate_backend($1::int)", 1, NULL, v, NULL, NULL, 0);
  TS_CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
  PQclear(r);
  for (int i = 0; i < 64 && !rc; i++) {
    noise(piece, PIECE, &x);
    rc = jobs_store_write(w, piece, PIECE, &err);
  }
  if (!rc)
    rc = jobs_store_writer_finish(w, &info, &err);
  TS_CHECK(rc == TS_EIO);
  TS_CHECK(strstr(err.msg, "cannot store a result chunk") != NULL);
  jobs_store_writer_free(w, 0);
  r = PQexecParams(admin, "SELECT count(*) FROM tapserve.result_chunks WHERE job_id = $1", 1, NULL,
                   (const char *[]){id}, NULL, NULL, 0);
  TS_CHECK(PQresultStatus(r) == PGRES_TUPLES_OK);
  TS_CHECK_STREQ(PQgetvalue(r, 0, 0), "0");
  PQclear(r);
  TS_CHECK(jobs_delete(admin, &s, id, &err) == TS_OK);
  PQfinish(c);
  PQfinish(admin);
  return 0;
}

/* Claims jobs until `id` comes (other tests' jobs may be queued before it). */
static int claim_until(PGconn *c, ts_arena *a, const char *inst, const char *id, jobs_job **j)
{
  ts_error err;
  for (int i = 0; i < 100; i++) {
    jobs_limits none = {0, 0};
    TS_CHECK(jobs_claim(c, a, inst, &none, j, &err) == TS_OK);
    TS_CHECK(*j != NULL);
    if (!strcmp((*j)->id, id))
      return 0;
    TS_CHECK(jobs_requeue(c, (*j)->id, inst, &err) == TS_OK);
  }
  return 1;
}

int test_pg_job_cas(void)
{
  PGconn *c = ts_test_pg();
  ts_error err;
  char id[40], inst[40], other[40];
  jobs_new n;
  jobs_param ps[] = {{"QUERY", "SELECT 1"}, {"query", "ignored"}, {"Lang", "ADQL"}};
  jobs_job *j = NULL;
  jobs_phase p;
  ts_arena *a = ts_arena_new(0, 0);
  TS_CHECK(c && a);
  TS_CHECK(jobs_migrate(c, NULL, NULL, &err) == TS_OK);
  memset(&n, 0, sizeof n);
  n.destruction_ms = ts_now_ms() + 60000;
  n.params = ps;
  n.nparams = 3;
  n.owner = "cas-test-owner";
  TS_CHECK(jobs_instance_register(c, "test", 0, "t", 30, inst, &err) == TS_OK);
  n.instance = inst;
  TS_CHECK(jobs_create(c, &n, id, &err) == TS_OK);
  TS_CHECK(jobs_get(c, a, id, &j, &err) == TS_OK);
  TS_CHECK_EQ_INT(j->phase, JOBS_PENDING);
  TS_CHECK_STREQ(j->owner_instance, inst);                /* the creating instance */
  TS_CHECK_STREQ(jobs_param_get(j, "query"), "SELECT 1"); /* the first of repeated names */
  TS_CHECK_STREQ(j->params[0].name, "lang");              /* stored lower case */
  TS_CHECK(jobs_set_params(c, id, ps, 1, &err) == TS_OK);
  TS_CHECK(jobs_instance_register(c, "test", 0, "t", 30, other, &err) == TS_OK);
  TS_CHECK(jobs_run(c, id, other, &err) == TS_OK);
  TS_CHECK(jobs_get(c, a, id, &j, &err) == TS_OK);
  TS_CHECK_STREQ(j->owner_instance, other); /* the instance that queued it */
  TS_CHECK(j->queue_position >= 1);
  TS_CHECK(jobs_run(c, id, inst, &err) == TS_OK); /* already queued: nothing changes */
  TS_CHECK(jobs_set_params(c, id, ps, 1, &err) == TS_EINVAL);
  TS_CHECK(strstr(err.msg, "QUEUED") != NULL);
  TS_CHECK(claim_until(c, a, inst, id, &j) == 0);
  TS_CHECK_STREQ(j->owner_instance, inst);
  TS_CHECK_EQ_INT(j->queue_position, 0);
  TS_CHECK_STREQ(j->id, id);
  TS_CHECK(jobs_get_phase(c, id, &p, &err) == TS_OK && p == JOBS_EXECUTING);
  /* an abort wins over a completion that comes after it */
  TS_CHECK(jobs_abort(c, id, other, &err) == TS_OK);
  TS_CHECK(jobs_get(c, a, id, &j, &err) == TS_OK);
  TS_CHECK_STREQ(j->owner_instance, other); /* the aborting instance */
  jobs_result_info ri = {"result", "pg", "result_chunks", 1, 1, 1, 0};
  TS_CHECK(jobs_complete(c, id, inst, &ri, "[]", 0, &err) == TS_ECANCELED);
  TS_CHECK(jobs_fail(c, id, inst, "x", &err) == TS_ECANCELED);
  TS_CHECK(jobs_get_phase(c, id, &p, &err) == TS_OK && p == JOBS_ABORTED);
  TS_CHECK(jobs_abort(c, id, inst, &err) == TS_OK); /* final: nothing to do */
  TS_CHECK(jobs_run(c, id, inst, &err) == TS_EINVAL);
  TS_CHECK(jobs_delete(c, NULL, id, &err) == TS_OK);
  TS_CHECK(jobs_delete(c, NULL, id, &err) == TS_ENOTFOUND);
  TS_CHECK(jobs_instance_unregister(c, inst, &err) == TS_OK);
  TS_CHECK(jobs_instance_unregister(c, other, &err) == TS_OK);
  ts_arena_free(a);
  PQfinish(c);
  return 0;
}

/* Every claim counts an attempt; a clean requeue gives it back; a job whose
 * instance dies is queued again until it has had max_attempts executions,
 * then it is ERROR with the reason. */
int test_pg_attempts(void)
{
  PGconn *c = ts_test_pg();
  ts_error err;
  char id[40], inst[40], rescuer[40];
  jobs_new n;
  jobs_param ps[] = {{"query", "SELECT 1"}};
  jobs_job *j = NULL;
  ts_arena *a = ts_arena_new(0, 0);
  int got;
  TS_CHECK(c && a);
  TS_CHECK(jobs_migrate(c, NULL, NULL, &err) == TS_OK);
  memset(&n, 0, sizeof n);
  n.destruction_ms = ts_now_ms() + 60000;
  n.params = ps;
  n.nparams = 1;
  n.queue = 1;
  TS_CHECK(jobs_create(c, &n, id, &err) == TS_OK);
  TS_CHECK(jobs_get(c, a, id, &j, &err) == TS_OK);
  TS_CHECK_EQ_INT(j->attempts, 0);

  TS_CHECK(jobs_instance_register(c, "test", 0, "t", 30, inst, &err) == TS_OK);
  TS_CHECK(claim_until(c, a, inst, id, &j) == 0);
  TS_CHECK_EQ_INT(j->attempts, 1);
  TS_CHECK(jobs_requeue(c, id, inst, &err) == TS_OK); /* a clean stop */
  TS_CHECK(jobs_get(c, a, id, &j, &err) == TS_OK);
  TS_CHECK_EQ_INT(j->attempts, 0);

  for (int attempt = 1; attempt <= 3; attempt++) {
    TS_CHECK(jobs_instance_register(c, "test", 0, "t", 30, inst, &err) == TS_OK);
    TS_CHECK(claim_until(c, a, inst, id, &j) == 0);
    TS_CHECK_EQ_INT(j->attempts, attempt);
    TS_CHECK(jobs_instance_unregister(c, inst, &err) == TS_OK); /* the instance dies */
    TS_CHECK(jobs_instance_register(c, "test", 0, "t", 30, rescuer, &err) == TS_OK);
    TS_CHECK(jobs_recover(c, rescuer, 1, 3, &got, &err) == TS_OK);
    TS_CHECK(got >= 1);
    TS_CHECK(jobs_get(c, a, id, &j, &err) == TS_OK);
    TS_CHECK_EQ_INT(j->attempts, attempt);
    TS_CHECK_STREQ(j->owner_instance, rescuer); /* claimed by the recovering instance */
    TS_CHECK(jobs_instance_unregister(c, rescuer, &err) == TS_OK);
    if (attempt < 3) {
      TS_CHECK_EQ_INT(j->phase, JOBS_QUEUED);
      TS_CHECK(j->error_summary == NULL);
    }
  }
  TS_CHECK_EQ_INT(j->phase, JOBS_ERROR);
  TS_CHECK_STREQ(j->error_summary,
                 "job abandoned after 3 attempts: the instances running it stopped");
  TS_CHECK(jobs_delete(c, NULL, id, &err) == TS_OK);
  ts_arena_free(a);
  PQfinish(c);
  return 0;
}

/* jobs_get on one snapshot: its statements are held up (a lock on the
 * results table) while another transaction completes the job; the job
 * read must not be the old phase with the new result. */
typedef struct get_arg {
  PGconn *c;
  ts_arena *a;
  const char *id;
  jobs_job *j;
  ts_err rc;
} get_arg;

static void *get_thread(void *p)
{
  get_arg *g = p;
  ts_error err;
  g->rc = jobs_get(g->c, g->a, g->id, &g->j, &err);
  return NULL;
}

int test_pg_get_snapshot(void)
{
  PGconn *c = ts_test_pg(), *writer = ts_test_pg(), *reader = ts_test_pg();
  ts_error err;
  char id[40], sql[400];
  jobs_new n;
  pthread_t th;
  get_arg g;
  ts_arena *a = ts_arena_new(0, 0);
  TS_CHECK(c && writer && reader && a);
  TS_CHECK(jobs_migrate(c, NULL, NULL, &err) == TS_OK);
  memset(&n, 0, sizeof n);
  n.destruction_ms = ts_now_ms() + 60000;
  n.owner = "snapshot-test-owner";
  TS_CHECK(jobs_create(c, &n, id, &err) == TS_OK);

  TS_CHECK(ts_test_exec_ok(writer, "BEGIN"));
  TS_CHECK(ts_test_exec_ok(writer, "LOCK TABLE tapserve.results IN ACCESS EXCLUSIVE MODE"));
  memset(&g, 0, sizeof g);
  g.c = reader;
  g.a = a;
  g.id = id;
  TS_CHECK(pthread_create(&th, NULL, get_thread, &g) == 0);
  /* until the reader waits for the results table */
  for (int i = 0;; i++) {
    PGresult *r = PQexec(c, "SELECT count(*) FROM pg_locks WHERE NOT granted"
                            " AND relation = 'tapserve.results'::regclass");
    int waiting = PQresultStatus(r) == PGRES_TUPLES_OK && strtol(PQgetvalue(r, 0, 0), NULL, 10) > 0;
    PQclear(r);
    if (waiting)
      break;
    TS_CHECK(i < 3000);
    usleep(10000);
  }
  snprintf(sql, sizeof sql, "UPDATE tapserve.jobs SET phase = 'COMPLETED' WHERE id = '%s'", id);
  TS_CHECK(ts_test_exec_ok(writer, sql));
  snprintf(sql, sizeof sql,
           "INSERT INTO tapserve.results (job_id, name, store, location, rows, bytes, raw_bytes,"
           " overflow, columns) VALUES ('%s', 'result', 'pg', 'result_chunks', 1, 1, 1, false,"
           " '[]')",
           id);
  TS_CHECK(ts_test_exec_ok(writer, sql));
  TS_CHECK(ts_test_exec_ok(writer, "COMMIT"));
  TS_CHECK(pthread_join(th, NULL) == 0);
  TS_CHECK(g.rc == TS_OK);
  /* either before the completion or after it, never half of each */
  if (g.j->phase == JOBS_COMPLETED)
    TS_CHECK_EQ_INT(g.j->nresults, 1);
  else
    TS_CHECK_EQ_INT(g.j->nresults, 0);
  TS_CHECK(jobs_delete(c, NULL, id, &err) == TS_OK);
  ts_arena_free(a);
  PQfinish(reader);
  PQfinish(writer);
  PQfinish(c);
  return 0;
}

/* The server ends a pooled idle connection (a restart): jobs_db_get must
 * not hand it out again. */
int test_pg_db_dead_idle(void)
{
  PGconn *c = ts_test_pg(), *k = ts_test_pg();
  const char *dsn = getenv("TAPSERVE_TEST_DSN");
  jobs_db *db = jobs_db_new(dsn ? dsn : "", 2, 0);
  ts_error err;
  char sql[96];
  jobs_phase p;
  TS_CHECK(c && k && db);
  TS_CHECK(jobs_migrate(c, NULL, NULL, &err) == TS_OK);
  PGconn *d = jobs_db_get(db, &err);
  TS_CHECK(d);
  int pid = PQbackendPID(d);
  jobs_db_put(db, d);
  snprintf(sql, sizeof sql, "SELECT pg_terminate_backend(%d)", pid);
  TS_CHECK(ts_test_exec_ok(k, sql));
  snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_stat_activity WHERE pid = %d", pid);
  for (int i = 0;; i++) { /* until the backend has exited */
    PGresult *r = PQexec(k, sql);
    int gone = PQresultStatus(r) == PGRES_TUPLES_OK && !strcmp(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
    if (gone)
      break;
    TS_CHECK(i < 1000);
    usleep(10000);
  }
  d = jobs_db_get(db, &err);
  TS_CHECK(d);
  TS_CHECK(jobs_get_phase(d, "no-such-job", &p, &err) == TS_ENOTFOUND);
  jobs_db_put(db, d);
  jobs_db_free(db);
  PQfinish(k);
  PQfinish(c);
  return 0;
}

typedef struct db_waiter {
  jobs_db *db;
  PGconn *got;
  ts_error err;
} db_waiter;

static void *db_wait_thread(void *arg)
{
  db_waiter *w = arg;
  w->got = jobs_db_get(w->db, &w->err);
  return NULL;
}

/* At most `max` connections open: one more waits for a connection to come
 * back, and gives up with TS_EUNAVAIL when none does in time. */
int test_pg_db_bound(void)
{
  const char *dsn = getenv("TAPSERVE_TEST_DSN");
  TS_CHECK(dsn && *dsn);
  jobs_db *db = jobs_db_new(dsn, 2, 300);
  ts_error err;
  TS_CHECK(db);
  PGconn *a = jobs_db_get(db, &err), *b = jobs_db_get(db, &err);
  TS_CHECK(a && b);
  TS_CHECK(jobs_db_get(db, &err) == NULL);
  TS_CHECK_EQ_INT(err.code, TS_EUNAVAIL);
  TS_CHECK(strstr(err.msg, "all 2 connections"));
  /* A waiter gets the connection given back meanwhile. */
  db_waiter w = {db, NULL, {0}};
  pthread_t th;
  jobs_db_free(db);
  db = jobs_db_new(dsn, 1, 5000);
  w.db = db;
  PGconn *c = jobs_db_get(db, &err);
  TS_CHECK(c);
  TS_CHECK(pthread_create(&th, NULL, db_wait_thread, &w) == 0);
  usleep(100000);
  jobs_db_put(db, c);
  pthread_join(th, NULL);
  TS_CHECK(w.got == c);
  /* A connection that is closed (not idle) frees its place too. */
  PQclear(PQexec(w.got, "BEGIN"));
  TS_CHECK(pthread_create(&th, NULL, db_wait_thread, &w) == 0);
  usleep(100000);
  jobs_db_put(db, w.got);
  pthread_join(th, NULL);
  TS_CHECK(w.got && PQstatus(w.got) == CONNECTION_OK);
  jobs_db_put(db, w.got);
  PQfinish(a);
  PQfinish(b);
  jobs_db_free(db);
  return 0;
}

/* ---- cluster-wide limits of jobs_claim ------------------------------------ */

static int count_executing(PGconn *c)
{
  PGresult *r = PQexec(c, "SELECT count(*) FROM tapserve.jobs WHERE phase = 'EXECUTING'");
  int n = PQresultStatus(r) == PGRES_TUPLES_OK ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
  PQclear(r);
  return n;
}

static int queue_job(PGconn *c, const char *client, char id[40])
{
  ts_error err;
  jobs_new n;
  memset(&n, 0, sizeof n);
  n.destruction_ms = ts_now_ms() + 60000;
  n.queue = 1;
  n.client = client;
  TS_CHECK(jobs_create(c, &n, id, &err) == TS_OK);
  return 0;
}

typedef struct claim_arg {
  PGconn *c;
  const char *inst;
  jobs_limits lim;
  jobs_job *j;
  ts_err rc;
  atomic_int done;
} claim_arg;

static void *claim_thread(void *p)
{
  claim_arg *g = p;
  ts_error err;
  ts_arena *a = ts_arena_new(0, 0);
  g->rc = jobs_claim(g->c, a, g->inst, &g->lim, &g->j, &err);
  atomic_store(&g->done, 1);
  ts_arena_free(a); /* only whether a job came matters */
  return NULL;
}

/* max_async: a claim made while another instance's claim is in flight
 * (its transaction holds the claim lock and has made a job EXECUTING, not
 * yet committed) waits for it and then counts it, so the two cannot both
 * take the last slot. Without the lock the second claim would see the
 * first's job still QUEUED, take another and exceed the cap. */
int test_pg_claim_cap(void)
{
  PGconn *c = ts_test_pg(), *first = ts_test_pg(), *second = ts_test_pg();
  ts_error err;
  char a_id[40], b_id[40], inst[40], sql[300];
  pthread_t th;
  claim_arg g;
  TS_CHECK(c && first && second);
  TS_CHECK(jobs_migrate(c, NULL, NULL, &err) == TS_OK);
  TS_CHECK(jobs_instance_register(c, "test", 0, "t", 30, inst, &err) == TS_OK);
  TS_CHECK(queue_job(c, NULL, a_id) == 0);
  TS_CHECK(queue_job(c, NULL, b_id) == 0);
  int before = count_executing(c);
  TS_CHECK(before >= 0);

  TS_CHECK(ts_test_exec_ok(first, "BEGIN"));
  TS_CHECK(ts_test_exec_ok(first, "SELECT pg_advisory_xact_lock(" JOBS_CLAIM_LOCK ")"));
  snprintf(sql, sizeof sql,
           "UPDATE tapserve.jobs SET phase = 'EXECUTING', owner_instance = '%s' WHERE id = '%s'",
           inst, a_id);
  TS_CHECK(ts_test_exec_ok(first, sql));

  memset(&g, 0, sizeof g);
  g.c = second;
  g.inst = inst;
  g.lim.max_async = before + 1; /* room for one more: the first claim's */
  TS_CHECK(pthread_create(&th, NULL, claim_thread, &g) == 0);
  /* until the second claim waits for the lock, or has returned */
  for (int i = 0; !atomic_load(&g.done); i++) {
    PGresult *r = PQexec(c, "SELECT count(*) FROM pg_locks WHERE NOT granted"
                            " AND locktype = 'advisory'");
    int waiting = PQresultStatus(r) == PGRES_TUPLES_OK && strtol(PQgetvalue(r, 0, 0), NULL, 10) > 0;
    PQclear(r);
    if (waiting)
      break;
    TS_CHECK(i < 3000);
    usleep(10000);
  }
  TS_CHECK(ts_test_exec_ok(first, "COMMIT"));
  TS_CHECK(pthread_join(th, NULL) == 0);
  TS_CHECK(g.rc == TS_OK);
  TS_CHECK(g.j == NULL); /* the cap was reached by the first claim */
  TS_CHECK_EQ_INT(count_executing(c), before + 1);

  /* with room again, the queued job is claimed */
  g.lim.max_async = before + 2;
  atomic_store(&g.done, 0);
  claim_thread(&g);
  TS_CHECK(g.rc == TS_OK && g.j != NULL);
  TS_CHECK(jobs_delete(c, NULL, a_id, &err) == TS_OK);
  TS_CHECK(jobs_delete(c, NULL, b_id, &err) == TS_OK);
  TS_CHECK(jobs_instance_unregister(c, inst, &err) == TS_OK);
  PQfinish(second);
  PQfinish(first);
  PQfinish(c);
  return 0;
}

/* max_per_user with anonymous jobs: one limit per client address, not
 * one for every anonymous client together. */
int test_pg_claim_per_client(void)
{
  PGconn *c = ts_test_pg();
  ts_error err;
  char inst[40], ids[3][40], sql[200];
  ts_arena *a = ts_arena_new(0, 0);
  jobs_limits lim = {1, 0};
  jobs_job *j = NULL;
  int claimed[3] = {0, 0, 0};
  TS_CHECK(c && a);
  TS_CHECK(jobs_migrate(c, NULL, NULL, &err) == TS_OK);
  TS_CHECK(jobs_instance_register(c, "test", 0, "t", 30, inst, &err) == TS_OK);
  TS_CHECK(queue_job(c, "192.0.2.1", ids[0]) == 0);
  TS_CHECK(queue_job(c, "192.0.2.1", ids[1]) == 0);
  TS_CHECK(queue_job(c, "192.0.2.2", ids[2]) == 0);
  TS_CHECK(jobs_get(c, a, ids[0], &j, &err) == TS_OK);
  TS_CHECK_STREQ(j->client_addr, "192.0.2.1");
  /* Claim until nothing more comes; other tests' queued jobs may come too
   * (they are put back). */
  for (int k = 0; k < 200; k++) {
    TS_CHECK(jobs_claim(c, a, inst, &lim, &j, &err) == TS_OK);
    if (!j)
      break;
    int mine = 0;
    for (int i = 0; i < 3; i++)
      if (!strcmp(j->id, ids[i]))
        claimed[i] = mine = 1;
    if (!mine) {
      snprintf(sql, sizeof sql, "UPDATE tapserve.jobs SET phase = 'HELD' WHERE id = '%s'", j->id);
      TS_CHECK(ts_test_exec_ok(c, sql));
    }
  }
  TS_CHECK(claimed[0] && !claimed[1]); /* 192.0.2.1 has its one */
  TS_CHECK(claimed[2]);                /* 192.0.2.2 is not held back by it */
  for (int i = 0; i < 3; i++)
    TS_CHECK(jobs_delete(c, NULL, ids[i], &err) == TS_OK);
  TS_CHECK(jobs_instance_unregister(c, inst, &err) == TS_OK);
  ts_arena_free(a);
  PQfinish(c);
  return 0;
}

/* deletejobs' check: every id in one statement, the first that fails named. */
int test_pg_access_all(void)
{
  PGconn *c = ts_test_pg();
  ts_error err;
  char mine[40], other[40], anon[40];
  jobs_new n;
  TS_CHECK(c);
  TS_CHECK(jobs_migrate(c, NULL, NULL, &err) == TS_OK);
  memset(&n, 0, sizeof n);
  n.destruction_ms = ts_now_ms() + 60000;
  n.owner = "access-a";
  n.owner_id = 9001;
  TS_CHECK(jobs_create(c, &n, mine, &err) == TS_OK);
  n.owner = "access-b";
  n.owner_id = 9002;
  TS_CHECK(jobs_create(c, &n, other, &err) == TS_OK);
  n.owner = NULL;
  n.owner_id = 0;
  TS_CHECK(jobs_create(c, &n, anon, &err) == TS_OK);
  const char *ok[] = {mine, anon, mine};
  TS_CHECK(jobs_access_all(c, ok, 3, 9001, &err) == TS_OK);
  const char *bad[] = {mine, other, anon};
  TS_CHECK_EQ_INT(jobs_access_all(c, bad, 3, 9001, &err), TS_EFORBIDDEN);
  TS_CHECK(strstr(err.msg, other) != NULL);
  const char *gone[] = {anon, "00000000000000000000000000000000"};
  TS_CHECK_EQ_INT(jobs_access_all(c, gone, 2, 0, &err), TS_ENOTFOUND);
  TS_CHECK(strstr(err.msg, "00000000000000000000000000000000") != NULL);
  const char *evil[] = {"a\",\"b"};
  TS_CHECK_EQ_INT(jobs_access_all(c, evil, 1, 0, &err), TS_EINVAL);
  const char *anon_only[] = {anon};
  TS_CHECK_EQ_INT(jobs_access_all(c, anon_only, 1, 0, &err), TS_OK);
  TS_CHECK(jobs_delete(c, NULL, mine, &err) == TS_OK);
  TS_CHECK(jobs_delete(c, NULL, other, &err) == TS_OK);
  TS_CHECK(jobs_delete(c, NULL, anon, &err) == TS_OK);
  PQfinish(c);
  return 0;
}
