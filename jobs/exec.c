/* The executors' side of a job's life in schema tapserve: claiming a
 * QUEUED job (under the cluster-wide limits), its backend, and its end
 * (COMPLETED with its result row, ERROR, or back to the queue). Every
 * change is a compare-and-set on (phase, owner_instance), so an instance
 * that lost the job (aborted, deleted, recovered elsewhere) changes
 * nothing. The job rows themselves are jobs.c's. */
#include "jobs/jobs.h"
#include "jobs/jobs_int.h"

#include <stdio.h>
#include <string.h>

ts_err jobs_claim(PGconn *conn, ts_arena *a, const char *instance, const jobs_limits *lim,
                  jobs_job **out, ts_error *err)
{
  PGresult *r = NULL;
  char m[16], g[16];
  const char *v[] = {instance, m, g};
  int locked = lim->max_per_user > 0 || lim->max_async > 0;
  ts_err rc = TS_OK;
  *out = NULL;
  snprintf(m, sizeof m, "%d", lim->max_per_user);
  snprintf(g, sizeof g, "%d", lim->max_async);
  /* Counting and claiming in one statement is not enough: two instances
   * claiming at once each count the other's claim out (neither has
   * committed). Under the lock, the claim statement's snapshot is taken
   * after the previous holder committed, so its count includes that
   * claim. Anonymous owners (NULL) are told apart by client address. */
  if (locked)
    rc = jobs__run(conn, "BEGIN", 0, NULL, NULL, err);
  if (!rc && locked)
    rc = jobs__run(conn, "SELECT pg_advisory_xact_lock(" JOBS_CLAIM_LOCK ")", 0, NULL, NULL, err);
  if (!rc)
    rc = jobs__run(
        conn,
        "UPDATE tapserve.jobs j SET phase = 'EXECUTING', owner_instance = $1::uuid,"
        "   start_time = now(), backend_pid = NULL, attempts = j.attempts + 1"
        " WHERE j.id = (SELECT q.id FROM tapserve.jobs q WHERE q.phase = 'QUEUED'"
        "   AND ($3::int = 0 OR (SELECT count(*) FROM tapserve.jobs e"
        "        WHERE e.phase = 'EXECUTING') < $3::int)"
        "   AND ($2::int = 0 OR (SELECT count(*) FROM tapserve.jobs e"
        "        WHERE e.phase = 'EXECUTING' AND e.owner IS NOT DISTINCT FROM q.owner"
        "        AND (q.owner IS NOT NULL OR e.client_addr IS NOT DISTINCT FROM q.client_addr))"
        "        < $2::int)"
        "   AND NOT EXISTS (SELECT 1 FROM tapserve.job_deps d JOIN tapserve.jobs p"
        "        ON p.id = d.dep_id WHERE d.job_id = q.id"
        "        AND p.phase NOT IN ('COMPLETED', 'ERROR', 'ABORTED', 'ARCHIVED'))"
        "   ORDER BY q.queued_at, q.id LIMIT 1 FOR UPDATE SKIP LOCKED)"
        "   AND j.phase = 'QUEUED'"
        " RETURNING j.id",
        3, v, &r, err);
  if (!rc && locked)
    rc = jobs__run(conn, "COMMIT", 0, NULL, NULL, err);
  if (rc) {
    PQclear(r);
    jobs__rollback(conn);
    return rc;
  }
  if (PQntuples(r) == 1) {
    char id[40];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return jobs_get(conn, a, id, out, err);
  }
  PQclear(r);
  return TS_OK;
}

ts_err jobs_set_backend_pid(PGconn *conn, const char *id, const char *instance, int pid,
                            ts_error *err)
{
  char p[16];
  const char *v[] = {id, instance, p};
  snprintf(p, sizeof p, "%d", pid);
  return jobs__run(conn,
                   "UPDATE tapserve.jobs SET backend_pid = $3::int"
                   " WHERE id = $1 AND phase = 'EXECUTING' AND owner_instance = $2::uuid",
                   3, v, NULL, err);
}

ts_err jobs_complete(PGconn *conn, const char *id, const char *instance,
                     const jobs_result_info *res, const char *columns_json, int in_txn,
                     ts_error *err)
{
  PGresult *r = NULL;
  char rows[24], bytes[24], raw[24];
  ts_err rc = TS_OK;
  snprintf(rows, sizeof rows, "%lld", (long long)res->rows);
  snprintf(bytes, sizeof bytes, "%lld", (long long)res->bytes);
  snprintf(raw, sizeof raw, "%lld", (long long)res->raw_bytes);
  const char *u[] = {id, instance};
  const char *v[] = {id,          res->name, res->store, res->location,
                     rows,        bytes,     raw,        res->overflow ? "t" : "f",
                     columns_json};
  if (!in_txn)
    rc = jobs__run(conn, "BEGIN", 0, NULL, NULL, err);
  if (!rc)
    rc = jobs__run(
        conn,
        "UPDATE tapserve.jobs SET phase = 'COMPLETED', end_time = now(), backend_pid = NULL"
        " WHERE id = $1 AND phase = 'EXECUTING' AND owner_instance = $2::uuid RETURNING id",
        2, u, &r, err);
  if (!rc && PQntuples(r) != 1)
    rc = ts_fail(err, TS_ECANCELED, 0, "the job was aborted or deleted while executing");
  PQclear(r);
  if (!rc)
    rc = jobs__run(
        conn,
        "INSERT INTO tapserve.results (job_id, name, store, location, rows, bytes, raw_bytes,"
        " overflow, columns) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
        9, v, NULL, err);
  if (!rc)
    rc = jobs__run(conn, "COMMIT", 0, NULL, NULL, err);
  if (rc)
    jobs__rollback(conn);
  return rc;
}

static ts_err end_cas(PGconn *conn, const char *sql, int n, const char *const *v, ts_error *err)
{
  PGresult *r = NULL;
  ts_err rc = jobs__run(conn, sql, n, v, &r, err);
  if (rc)
    return rc;
  int matched = PQntuples(r);
  PQclear(r);
  return matched ? TS_OK : ts_fail(err, TS_ECANCELED, 0, "the job is no longer executing here");
}

ts_err jobs_fail(PGconn *conn, const char *id, const char *instance, const char *message,
                 ts_error *err)
{
  const char *v[] = {id, instance, message};
  return end_cas(
      conn,
      "UPDATE tapserve.jobs SET phase = 'ERROR', end_time = now(), backend_pid = NULL,"
      "   error_summary = $3, error_type = 'fatal'"
      " WHERE id = $1 AND phase = 'EXECUTING' AND owner_instance = $2::uuid RETURNING id",
      3, v, err);
}

ts_err jobs_requeue(PGconn *conn, const char *id, const char *instance, ts_error *err)
{
  const char *v[] = {id, instance};
  return end_cas(
      conn,
      "UPDATE tapserve.jobs SET phase = 'QUEUED', queued_at = now(), start_time = NULL,"
      "   backend_pid = NULL, attempts = greatest(attempts - 1, 0)"
      " WHERE id = $1 AND phase = 'EXECUTING' AND owner_instance = $2::uuid RETURNING id",
      2, v, err);
}
