/* jobs/quota.h: per-user quotas, prefix jobs_quota_. A logged-in user
 * has two: the database space of their tables (tapserve.user_tables.bytes)
 * and the file space of their job results (the bytes stored, fs or pg).
 * Limits are the user's own (`tapserve quota set`) or the instance's
 * default ([users] quota_db, quota_files; 0: no limit). Anonymous jobs
 * have none.
 *
 * Usage lives in tapserve.quotas of the shared database and moves in the
 * same transactions as the rows that hold it: a trigger on user_tables
 * keeps db_used; a job's charge (jobs.quota_bytes) goes to files_used as
 * it writes and settles to its stored size, and is given back by trigger
 * when the job fails, is aborted or requeued, or is deleted. Charges are
 * compare-and-set updates under the quota row's lock, so instances
 * charging one user at once cannot pass the limit together
 * (docs/internals/quota.md). Blocking libpq on a connection the caller
 * owns; never on the loop. */
#ifndef TS_JOBS_QUOTA_H
#define TS_JOBS_QUOTA_H

#include "jobs/jobs.h"

/* A job charges its result as it writes, each time it grew this much. */
enum { JOBS_QUOTA_STEP = 1 << 20 };

typedef enum jobs_quota_kind { JOBS_QUOTA_DB, JOBS_QUOTA_FILES } jobs_quota_kind;

/* A user's usage and own limits. */
typedef struct jobs_quota {
  int64_t db_used, files_used;   /* bytes */
  int64_t db_limit, files_limit; /* the user's own; -1: the default applies */
} jobs_quota;

/* The limit in force: the user's own, else `dflt` (0: none). */
int64_t jobs_quota_limit(int64_t own, int64_t dflt);

/* User `user_id`'s usage and limits (all 0 / -1 before any use). */
ts_err jobs_quota_get(PGconn *conn, int64_t user_id, jobs_quota *out, ts_error *err);
/* Sets the user's own limit of one kind (bytes, 0: no limit; -1: back to
 * the default). Publishes QUOTA_DB_UPDATED or QUOTA_FILE_UPDATED. */
ts_err jobs_quota_set(PGconn *conn, int64_t user_id, jobs_quota_kind k, int64_t limit,
                      ts_error *err);

/* After a change that made user `user_id`'s tables larger, inside the
 * change's own transaction (the trigger has counted it): TS_ELIMIT naming
 * the quota, the usage and the limit when the tables now take more than
 * the limit (`dflt` when the user has none); the caller rolls back, which
 * gives the bytes back. `added` is the change's own size, for the
 * message. When usage passes 90 % of the limit for the first time since
 * it was last below, leaves the user a notification (kind quota). */
ts_err jobs_quota_check_db(PGconn *conn, int64_t user_id, int64_t added, int64_t dflt,
                           ts_error *err);

/* Sets the charge of job `job_id` (EXECUTING on `instance`) to `total`
 * bytes stored, moving the difference to its owner's file usage. TS_ELIMIT
 * naming the quota, the usage and the limit when the charge would pass it
 * (nothing changes then); TS_ECANCELED when the job is no longer
 * executing here. Anonymous jobs succeed without a charge. Notifies the
 * owner when usage passes 90 % of the limit, as jobs_quota_check_db. Run
 * it in the transaction that commits the result to settle atomically. */
ts_err jobs_quota_charge_job(PGconn *conn, const char *job_id, const char *instance, int64_t total,
                             int64_t dflt, ts_error *err);

#endif
