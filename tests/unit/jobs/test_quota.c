/* jobs/quota.c against TAPSERVE_TEST_DSN: the database quota of user
 * tables (refused past the limit with nothing left, usage following the
 * tables, the 90 % warning once per crossing) and the file quota of job
 * results (charges refused past the limit, given back by failure and
 * deletion, settled at completion; anonymous jobs free). */
#include "test_list.h"
#include "ts_test.h"
#include "ts_test_pg.h"

#include "jobs/notify.h"
#include "jobs/quota.h"
#include "jobs/usertables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ts_err test_load_rows(PGconn *c, const jobs_load_target *t, int n, int garbage, uint64_t max_bytes,
                      ts_error *err);

#define QUOTA_INSTANCE "00000000-0000-0000-0000-00000000a0a0"

static int64_t q_used(PGconn *c, int64_t user, jobs_quota_kind k)
{
  jobs_quota q;
  ts_error e;
  if (jobs_quota_get(c, user, &q, &e))
    return -1;
  return k == JOBS_QUOTA_DB ? q.db_used : q.files_used;
}

static int warnings(PGconn *c, int64_t user)
{
  char sql[160];
  snprintf(sql, sizeof sql,
           "SELECT count(*) FROM tapserve.notifications WHERE user_id = %lld AND kind = 'quota'",
           (long long)user);
  return ts_test_count(c, sql);
}

static int setup_user(PGconn *c, const char *name, jobs_user *u)
{
  ts_error e;
  char hash[JOBS_PWHASH_MAX], sql[160];
  snprintf(sql, sizeof sql, "DELETE FROM tapserve.users WHERE name = '%s'", name);
  if (jobs_users_init(&e) || jobs_migrate(c, NULL, NULL, &e) || !ts_test_exec_ok(c, sql) ||
      jobs_user_add(c, name, "pw", 0, &e) || jobs_user_get(c, name, u, hash, &e)) {
    fprintf(stderr, "# %s\n", e.msg);
    return -1;
  }
  return 0;
}

int test_pg_quota_db(void)
{
  PGconn *c = ts_test_pg();
  ts_error e;
  jobs_user u;
  int64_t one;
  TS_CHECK(c);
  TS_CHECK(ts_test_exec_ok(c, "CREATE EXTENSION IF NOT EXISTS pg_sphere"));
  TS_CHECK_EQ_INT(setup_user(c, "ut_quota_db", &u), 0);
  TS_CHECK(ts_test_exec_ok(c, "LISTEN " JOBS_CHANNEL));

  /* past the default limit: refused, naming the quota, nothing left */
  {
    jobs_utab_new nt = {&u, "a", NULL, NULL, 1000};
    jobs_load_target t = jobs_utab_target(&nt);
    TS_CHECK_EQ_INT(test_load_rows(c, &t, 5, 0, 0, &e), TS_ELIMIT);
    TS_CHECK(strstr(e.msg, "database quota exceeded"));
    TS_CHECK(strstr(e.msg, "limit of 1000 bytes"));
    TS_CHECK_EQ_INT(PQtransactionStatus(c), PQTRANS_IDLE);
    TS_CHECK_EQ_INT(ts_test_count(c, "SELECT count(*) FROM pg_namespace"
                                     " WHERE nspname = 'user_ut_quota_db'"),
                    0);
    TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_DB), 0);
  }
  /* no limit: kept, usage the table's size */
  {
    jobs_utab_new nt = {&u, "a", NULL, NULL, 0};
    jobs_load_target t = jobs_utab_target(&nt);
    TS_CHECK_EQ_INT(test_load_rows(c, &t, 5, 0, 0, &e), TS_OK);
    one = q_used(c, u.id, JOBS_QUOTA_DB);
    TS_CHECK(one > 1000);
    TS_CHECK(ts_test_pg_notified(c, "QUOTA_DB_UPDATED_EVENT ut_quota_db"));
  }
  /* the user's own limit wins over the default: two tables of this size
   * are 95 % of it, a third is refused */
  TS_CHECK_EQ_INT(jobs_quota_set(c, u.id, JOBS_QUOTA_DB, one * 2 * 100 / 95, &e), TS_OK);
  TS_CHECK(ts_test_pg_notified(c, "QUOTA_DB_UPDATED_EVENT ut_quota_db"));
  for (int round = 1; round <= 2; round++) {
    jobs_utab_new nt = {&u, "b", NULL, NULL, 0};
    jobs_load_target t = jobs_utab_target(&nt);
    TS_CHECK_EQ_INT(test_load_rows(c, &t, 5, 0, 0, &e), TS_OK);
    TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_DB), 2 * one);
    /* passing 90 % warns once per crossing: deleting b goes below it */
    TS_CHECK_EQ_INT(warnings(c, u.id), round);
    {
      jobs_utab_new n3 = {&u, "c", NULL, NULL, 0};
      jobs_load_target t3 = jobs_utab_target(&n3);
      TS_CHECK_EQ_INT(test_load_rows(c, &t3, 5, 0, 0, &e), TS_ELIMIT);
      TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_DB), 2 * one);
      TS_CHECK_EQ_INT(warnings(c, u.id), round);
    }
    TS_CHECK_EQ_INT(jobs_utab_delete(c, &u, "b", &e), TS_OK);
    TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_DB), one);
  }
  TS_CHECK_EQ_INT(jobs_utab_delete(c, &u, "a", &e), TS_OK);
  TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_DB), 0);
  /* back to the default */
  {
    jobs_quota q;
    TS_CHECK_EQ_INT(jobs_quota_set(c, u.id, JOBS_QUOTA_DB, -1, &e), TS_OK);
    TS_CHECK_EQ_INT(jobs_quota_get(c, u.id, &q, &e), TS_OK);
    TS_CHECK_EQ_INT(q.db_limit, -1);
    TS_CHECK_EQ_INT(jobs_quota_limit(q.db_limit, 77), 77);
  }
  TS_CHECK_EQ_INT(jobs_quota_set(c, 0, JOBS_QUOTA_DB, 5, &e), TS_ENOTFOUND);
  TS_CHECK_EQ_INT(jobs_user_del(c, "ut_quota_db", &e), TS_OK);
  PQfinish(c);
  return 0;
}

/* A job of `owner` (0: anonymous) EXECUTING on QUOTA_INSTANCE. */
static int running_job(PGconn *c, int64_t owner, char id[40])
{
  jobs_new n;
  ts_error e;
  char sql[200];
  memset(&n, 0, sizeof n);
  n.owner = owner ? "ut_quota_files" : NULL;
  n.owner_id = owner;
  n.destruction_ms = ts_now_ms() + 3600 * 1000;
  if (jobs_create(c, &n, id, &e)) {
    fprintf(stderr, "# %s\n", e.msg);
    return -1;
  }
  snprintf(sql, sizeof sql,
           "UPDATE tapserve.jobs SET phase = 'EXECUTING', owner_instance = '" QUOTA_INSTANCE
           "' WHERE id = '%s'",
           id);
  return ts_test_exec_ok(c, sql) ? 0 : -1;
}

int test_pg_quota_files(void)
{
  PGconn *c = ts_test_pg();
  ts_error e;
  jobs_user u;
  char j1[40], j2[40], j3[40];
  TS_CHECK(c);
  TS_CHECK_EQ_INT(setup_user(c, "ut_quota_files", &u), 0);
  TS_CHECK(ts_test_exec_ok(c, "LISTEN " JOBS_CHANNEL));
  TS_CHECK_EQ_INT(running_job(c, u.id, j1), 0);
  TS_CHECK_EQ_INT(running_job(c, u.id, j2), 0);
  TS_CHECK_EQ_INT(running_job(c, 0, j3), 0);

  /* the default limit applies until the user has one */
  TS_CHECK_EQ_INT(jobs_quota_charge_job(c, j1, QUOTA_INSTANCE, 400, 300, &e), TS_ELIMIT);
  TS_CHECK_EQ_INT(jobs_quota_set(c, u.id, JOBS_QUOTA_FILES, 1000, &e), TS_OK);
  TS_CHECK(ts_test_pg_notified(c, "QUOTA_FILE_UPDATED_EVENT ut_quota_files"));
  TS_CHECK_EQ_INT(jobs_quota_charge_job(c, j1, QUOTA_INSTANCE, 400, 300, &e), TS_OK);
  TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_FILES), 400);
  TS_CHECK(ts_test_pg_notified(c, "QUOTA_FILE_UPDATED_EVENT ut_quota_files"));
  /* past the limit: refused with usage and limit, nothing charged */
  TS_CHECK_EQ_INT(jobs_quota_charge_job(c, j2, QUOTA_INSTANCE, 700, 0, &e), TS_ELIMIT);
  TS_CHECK(strstr(e.msg, "file quota exceeded"));
  TS_CHECK(strstr(e.msg, "take 400 bytes"));
  TS_CHECK(strstr(e.msg, "at least 700 more"));
  TS_CHECK(strstr(e.msg, "limit of 1000 bytes"));
  TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_FILES), 400);
  TS_CHECK_EQ_INT(warnings(c, u.id), 0);
  /* up to the limit exactly; 90 % warns once, not per charge */
  TS_CHECK_EQ_INT(jobs_quota_charge_job(c, j2, QUOTA_INSTANCE, 500, 0, &e), TS_OK);
  TS_CHECK_EQ_INT(warnings(c, u.id), 1);
  TS_CHECK_EQ_INT(jobs_quota_charge_job(c, j1, QUOTA_INSTANCE, 500, 0, &e), TS_OK);
  TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_FILES), 1000);
  TS_CHECK_EQ_INT(warnings(c, u.id), 1);
  /* a charge is the job's total: a smaller one gives bytes back */
  TS_CHECK_EQ_INT(jobs_quota_charge_job(c, j1, QUOTA_INSTANCE, 450, 0, &e), TS_OK);
  TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_FILES), 950);
  /* anonymous jobs have no quota; a job not ours changes nothing */
  TS_CHECK_EQ_INT(jobs_quota_charge_job(c, j3, QUOTA_INSTANCE, (int64_t)1 << 40, 1, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_quota_charge_job(c, j2, "00000000-0000-0000-0000-000000000001", 600, 0, &e),
                  TS_ECANCELED);
  TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_FILES), 950);
  /* failing gives the job's bytes back */
  TS_CHECK_EQ_INT(jobs_fail(c, j1, QUOTA_INSTANCE, "ut failed", &e), TS_OK);
  TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_FILES), 500);
  TS_CHECK_EQ_INT(jobs_quota_charge_job(c, j1, QUOTA_INSTANCE, 10, 0, &e), TS_ECANCELED);
  /* settled in the completion's transaction, kept by COMPLETED */
  {
    jobs_result_info res = {"result", "pg", "result_chunks", 3, 480, 900, 0};
    TS_CHECK(ts_test_exec_ok(c, "BEGIN"));
    TS_CHECK_EQ_INT(jobs_quota_charge_job(c, j2, QUOTA_INSTANCE, 480, 0, &e), TS_OK);
    TS_CHECK_EQ_INT(jobs_complete(c, j2, QUOTA_INSTANCE, &res, "[]", 1, &e), TS_OK);
    TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_FILES), 480);
  }
  /* below 90 % now: the next crossing warns again */
  TS_CHECK_EQ_INT(running_job(c, u.id, j1), 0);
  TS_CHECK_EQ_INT(jobs_quota_charge_job(c, j1, QUOTA_INSTANCE, 470, 0, &e), TS_OK);
  TS_CHECK_EQ_INT(warnings(c, u.id), 2);
  TS_CHECK_EQ_INT(jobs_abort(c, j1, QUOTA_INSTANCE, &e), TS_OK);
  TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_FILES), 480);
  /* deleting the job gives its result's bytes back */
  TS_CHECK_EQ_INT(jobs_delete(c, NULL, j2, &e), TS_OK);
  TS_CHECK_EQ_INT(q_used(c, u.id, JOBS_QUOTA_FILES), 0);
  TS_CHECK(ts_test_pg_notified(c, "QUOTA_FILE_UPDATED_EVENT ut_quota_files"));
  TS_CHECK_EQ_INT(jobs_delete(c, NULL, j1, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_delete(c, NULL, j3, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_user_del(c, "ut_quota_files", &e), TS_OK);
  PQfinish(c);
  return 0;
}
