/* Per-user quotas in schema tapserve (jobs/quota.h): the reading and
 * setting of a user's row, and the two checks, each one statement whose
 * SQL function (migration 12) does the compare-and-set under the row's
 * lock. */
#include "jobs/quota.h"
#include "jobs/jobs_int.h"
#include "jobs/notify.h"

#include <stdio.h>
#include <string.h>

static const char *const quota_what[] = {"database", "file"};

int64_t jobs_quota_limit(int64_t own, int64_t dflt)
{
  return own >= 0 ? own : dflt;
}

static char *i64_text(int64_t v, char buf[24])
{
  snprintf(buf, 24, "%lld", (long long)v);
  return buf;
}

ts_err jobs_quota_get(PGconn *conn, int64_t user_id, jobs_quota *out, ts_error *err)
{
  char id[24];
  const char *v[] = {i64_text(user_id, id)};
  PGresult *r = NULL;
  ts_err rc = jobs__run(conn,
                        "SELECT db_used, files_used, coalesce(db_limit, -1),"
                        "   coalesce(files_limit, -1) FROM tapserve.quotas WHERE user_id = $1",
                        1, v, &r, err);
  if (rc)
    return rc;
  out->db_used = out->files_used = 0;
  out->db_limit = out->files_limit = -1;
  if (PQntuples(r) == 1) {
    out->db_used = jobs__i64(r, 0, 0);
    out->files_used = jobs__i64(r, 0, 1);
    out->db_limit = jobs__i64(r, 0, 2);
    out->files_limit = jobs__i64(r, 0, 3);
  }
  PQclear(r);
  return TS_OK;
}

ts_err jobs_quota_set(PGconn *conn, int64_t user_id, jobs_quota_kind k, int64_t limit,
                      ts_error *err)
{
  char id[24], l[24];
  const char *v[] = {i64_text(user_id, id), limit >= 0 ? i64_text(limit, l) : NULL};
  PGresult *r = NULL;
  /* The quotas row announces the change (its trigger). */
  static const char *const sql[] = {
      "INSERT INTO tapserve.quotas AS q (user_id, db_limit)"
      " SELECT id, $2::int8 FROM tapserve.users WHERE id = $1"
      " ON CONFLICT (user_id) DO UPDATE SET db_limit = $2::int8 RETURNING 1",
      "INSERT INTO tapserve.quotas AS q (user_id, files_limit)"
      " SELECT id, $2::int8 FROM tapserve.users WHERE id = $1"
      " ON CONFLICT (user_id) DO UPDATE SET files_limit = $2::int8 RETURNING 1"};
  ts_err rc = jobs__run(conn, sql[k == JOBS_QUOTA_FILES], 2, v, &r, err);
  if (!rc && PQntuples(r) != 1)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "no such user");
  PQclear(r);
  return rc;
}

/* The warning of a crossing: a notification of kind quota, best effort
 * (a message that cannot be kept is logged, never the change's failure). */
static void quota_warn(PGconn *conn, int64_t user_id, jobs_quota_kind k, int64_t used,
                       int64_t limit)
{
  char text[256];
  ts_error e;
  snprintf(text, sizeof text, "Your %s space is %lld %% full: %lld of %lld bytes used by your %s",
           quota_what[k], (long long)(used * 100 / limit), (long long)used, (long long)limit,
           k == JOBS_QUOTA_DB ? "tables" : "job results");
  if (jobs_notify_user(conn, user_id, JOBS_NOTIFY_QUOTA, text, 0, NULL, &e))
    ts_log(TS_LOG_WARN, NULL, "cannot leave user %lld a quota warning: %s", (long long)user_id,
           e.msg);
}

/* The columns status, used, lim, crossed of a check's row. */
typedef struct quota_answer {
  char status[8];
  int64_t used, limit;
  int crossed;
} quota_answer;

static ts_err quota_call(PGconn *conn, const char *sql, int n, const char *const *v,
                         quota_answer *a, ts_error *err)
{
  PGresult *r = NULL;
  ts_err rc = jobs__run(conn, sql, n, v, &r, err);
  if (rc)
    return rc;
  snprintf(a->status, sizeof a->status, "%s", PQgetvalue(r, 0, 0));
  a->used = jobs__i64(r, 0, 1);
  a->limit = jobs__i64(r, 0, 2);
  a->crossed = PQgetvalue(r, 0, 3)[0] == 't';
  PQclear(r);
  return TS_OK;
}

ts_err jobs_quota_check_db(PGconn *conn, int64_t user_id, int64_t added, int64_t dflt,
                           ts_error *err)
{
  char id[24], d[24];
  const char *v[] = {i64_text(user_id, id), i64_text(dflt, d)};
  quota_answer a;
  ts_err rc =
      quota_call(conn, "SELECT * FROM tapserve.quota_check_db($1::int8, $2::int8)", 2, v, &a, err);
  if (rc)
    return rc;
  if (!strcmp(a.status, "over"))
    return ts_fail(err, TS_ELIMIT, 0,
                   "database quota exceeded: your tables would take %lld bytes with this one "
                   "(%lld bytes), over your limit of %lld bytes; delete tables to make room",
                   (long long)a.used, (long long)added, (long long)a.limit);
  if (a.crossed)
    quota_warn(conn, user_id, JOBS_QUOTA_DB, a.used, a.limit);
  return TS_OK;
}

ts_err jobs_quota_charge_job(PGconn *conn, const char *job_id, const char *instance, int64_t total,
                             int64_t dflt, ts_error *err)
{
  char t[24], d[24];
  const char *v[] = {job_id, instance, i64_text(total, t), i64_text(dflt, d)};
  quota_answer a;
  ts_err rc = quota_call(conn,
                         "SELECT * FROM tapserve.quota_charge_job($1, $2::uuid, $3::int8,"
                         " $4::int8)",
                         4, v, &a, err);
  if (rc)
    return rc;
  if (!strcmp(a.status, "gone"))
    return ts_fail(err, TS_ECANCELED, 0, "the job is no longer executing here");
  if (!strcmp(a.status, "over"))
    return ts_fail(err, TS_ELIMIT, 0,
                   "file quota exceeded: your stored job results take %lld bytes and this "
                   "result at least %lld more, over your limit of %lld bytes; delete jobs to "
                   "make room",
                   (long long)a.used, (long long)total, (long long)a.limit);
  if (a.crossed) {
    PGresult *r = NULL;
    const char *w[] = {job_id};
    if (!jobs__run(conn, "SELECT owner_id FROM tapserve.jobs WHERE id = $1", 1, w, &r, err) &&
        PQntuples(r) == 1)
      quota_warn(conn, jobs__i64(r, 0, 0), JOBS_QUOTA_FILES, a.used, a.limit);
    PQclear(r);
  }
  return TS_OK;
}
