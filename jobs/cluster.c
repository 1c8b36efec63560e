/* This instance's place in the cluster: its row in tapserve.instances,
 * the heartbeat that keeps it, recovery of jobs whose instance is gone,
 * re-queueing of our own stray EXECUTING jobs, and the sweeper of expired
 * jobs and abandoned result files.
 *
 * The statements are blocking libpq; jobs_cluster runs them from a timer
 * of the loop on libuv's thread pool, one round at a time. */
#include "jobs/cluster.h"
#include "jobs/jobs_int.h"
#include "jobs/notify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { STRAYS_MAX = 64 }; /* executors looked at per round */

/* ---- instances -------------------------------------------------------------- */

static ts_err drop_stale(PGconn *conn, int timeout_s, ts_error *err)
{
  char t[16];
  const char *v[] = {t};
  snprintf(t, sizeof t, "%d", timeout_s);
  return jobs__run(
      conn, "DELETE FROM tapserve.instances WHERE heartbeat_at < now() - make_interval(secs => $1)",
      1, v, NULL, err);
}

ts_err jobs_instance_register(PGconn *conn, const char *host, int port, const char *version,
                              int timeout_s, char out_uuid[40], ts_error *err)
{
  PGresult *r = NULL;
  char p[16], pid[16];
  ts_err rc = drop_stale(conn, timeout_s, err);
  if (rc)
    return rc;
  snprintf(p, sizeof p, "%d", port);
  snprintf(pid, sizeof pid, "%d", (int)getpid());
  const char *v[] = {host, p, pid, version};
  rc = jobs__run(conn,
                 "INSERT INTO tapserve.instances (id, host, port, pid, version)"
                 " VALUES (gen_random_uuid(), $1, $2, $3, $4) RETURNING id",
                 4, v, &r, err);
  if (rc)
    return rc;
  snprintf(out_uuid, 40, "%s", PQgetvalue(r, 0, 0));
  PQclear(r);
  return TS_OK;
}

ts_err jobs_instance_heartbeat(PGconn *conn, const char *uuid, int timeout_s, int draining,
                               ts_error *err)
{
  const char *v[] = {uuid, draining ? "t" : "f"};
  PGresult *r = NULL;
  ts_err rc = jobs__run(conn,
                        "UPDATE tapserve.instances SET heartbeat_at = now(), draining = $2::bool"
                        " WHERE id = $1 RETURNING id",
                        2, v, &r, err);
  if (rc)
    return rc;
  int found = PQntuples(r);
  PQclear(r);
  if (!found) {
    /* Another instance took us for dead (a long stall): come back under
     * the same id, so our EXECUTING jobs stay ours. */
    char pid[16];
    snprintf(pid, sizeof pid, "%d", (int)getpid());
    const char *w[] = {uuid, pid};
    rc = jobs__run(conn,
                   "INSERT INTO tapserve.instances (id, host, port, pid, version)"
                   " VALUES ($1, '', 0, $2, '') ON CONFLICT (id) DO NOTHING",
                   2, w, NULL, err);
    if (rc)
      return rc;
  }
  return drop_stale(conn, timeout_s, err);
}

ts_err jobs_instance_unregister(PGconn *conn, const char *uuid, ts_error *err)
{
  const char *v[] = {uuid};
  return jobs__run(conn, "DELETE FROM tapserve.instances WHERE id = $1", 1, v, NULL, err);
}

ts_err jobs_recover(PGconn *conn, const char *instance, int requeue, int max_attempts, int *n,
                    ts_error *err)
{
  char m[16];
  const char *v[] = {requeue ? "t" : "f", m, instance};
  snprintf(m, sizeof m, "%d", max_attempts);
  *n = 0;
  for (;;) {
    PGresult *r = NULL;
    /* One job per statement (its own transaction), which claims the
     * orphan by stamping this instance's uuid on it in the same update
     * that decides its fate: SKIP LOCKED plus the phase re-check make two
     * instances recovering together take different jobs, each once. A
     * job that has used up its attempts is not queued again: a query that
     * kills its instance must not go on to kill the next one, and the
     * next. */
    ts_err rc = jobs__run(
        conn,
        "WITH o AS (SELECT id, backend_pid, $1::bool AND attempts < $2::int AS again"
        "   FROM tapserve.jobs x WHERE x.phase = 'EXECUTING'"
        "   AND (x.owner_instance IS NULL OR NOT EXISTS (SELECT 1 FROM tapserve.instances i"
        "        WHERE i.id = x.owner_instance))"
        "   LIMIT 1 FOR UPDATE SKIP LOCKED)"
        " UPDATE tapserve.jobs j SET"
        "   phase = CASE WHEN o.again THEN 'QUEUED' ELSE 'ERROR' END,"
        "   queued_at = now(), owner_instance = $3::uuid, backend_pid = NULL,"
        "   start_time = CASE WHEN o.again THEN NULL ELSE start_time END,"
        "   end_time = CASE WHEN o.again THEN NULL ELSE now() END,"
        "   error_type = CASE WHEN o.again THEN NULL ELSE 'transient' END,"
        "   error_summary = CASE WHEN o.again THEN NULL"
        "     WHEN $1::bool THEN 'job abandoned after ' || j.attempts"
        "       || ' attempts: the instances running it stopped'"
        "     ELSE 'the service stopped while this job was executing; submit it again' END"
        " FROM o WHERE j.id = o.id AND j.phase = 'EXECUTING'"
        " RETURNING j.id, o.backend_pid, o.again, j.attempts",
        3, v, &r, err);
    if (rc)
      return rc;
    int got = PQntuples(r);
    /* A dead instance's query may still run (a backend only notices a
     * vanished client when it next writes). */
    if (got)
      jobs__cancel_backend(conn, (int)strtol(PQgetvalue(r, 0, 1), NULL, 10));
    if (got && PQgetvalue(r, 0, 2)[0] == 't')
      ts_log(TS_LOG_INFO, NULL, "job %s: its instance is gone; queued again", PQgetvalue(r, 0, 0));
    else if (got)
      ts_log(TS_LOG_WARN, NULL, "job %s: its instance is gone; marked ERROR after %s attempt(s)",
             PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 3));
    PQclear(r);
    if (!got)
      return TS_OK;
    ++*n;
  }
}

ts_err jobs_requeue_strays(PGconn *conn, const char *instance, const char *const *running,
                           size_t nrunning, int min_age_s, int *n, ts_error *err)
{
  PGresult *r = NULL;
  ts_buf ids;
  char age[16];
  ts_err rc = TS_OK;
  *n = 0;
  /* Executors per instance are bounded by max_executing (at most 64 per
   * instance in practice): each id is 32 hex digits and a comma. */
  ts_buf_init(&ids, (nrunning + 1) * 40);
  /* A text[] literal of job ids (32 hex digits each: nothing to quote). */
  if (ts_buf_append(&ids, "{", 1))
    rc = TS_ENOMEM;
  for (size_t i = 0; !rc && i < nrunning; i++)
    if (ts_buf_printf(&ids, "%s%s", i ? "," : "", running[i]))
      rc = TS_ENOMEM;
  if (!rc && ts_buf_append(&ids, "}", 1))
    rc = TS_ENOMEM;
  if (rc) {
    ts_buf_free(&ids);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  snprintf(age, sizeof age, "%d", min_age_s);
  const char *v[] = {instance, age, ids.data};
  rc = jobs__run(
      conn,
      "SELECT id FROM tapserve.jobs WHERE phase = 'EXECUTING' AND owner_instance = $1::uuid"
      "   AND start_time < now() - make_interval(secs => $2::int)"
      "   AND NOT (id = ANY($3::text[]))",
      3, v, &r, err);
  ts_buf_free(&ids);
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    ts_error e;
    if (jobs_requeue(conn, PQgetvalue(r, i, 0), instance, &e) == TS_OK) {
      ts_log(TS_LOG_WARN, NULL, "job %s: EXECUTING here but run by no executor; queued again",
             PQgetvalue(r, i, 0));
      ++*n;
    }
  }
  PQclear(r);
  return rc;
}

/* ---- the maintenance loop ------------------------------------------------------ */

struct jobs_cluster {
  jobs_cluster_opts o;
  char instance[40];
  uv_timer_t tick;
  int tick_open, busy, stopped;
  int64_t next_beat, next_sweep;
  atomic_llong last_beat_ms; /* of the last heartbeat that got through */
};

typedef struct maint_work {
  uv_work_t work;
  jobs_cluster *cl;
  int beat, sweep;
} maint_work;

/* The heartbeat is also the probe of the database behind /availability:
 * unreachable from the first beat that cannot get through, reachable again
 * from the first that can. */
static void set_reachable(jobs_cluster *cl, int ok, const char *why)
{
  if (!cl->o.unreachable || atomic_exchange(cl->o.unreachable, !ok) == !ok)
    return;
  if (ok)
    ts_log(TS_LOG_INFO, NULL, "the database answers again; available");
  else
    ts_log(TS_LOG_WARN, NULL, "the database cannot be reached (%s); unavailable", why);
}

/* Our own EXECUTING jobs that no executor runs (a claim committed while
 * its connection died) go back to the queue; no other instance would
 * recover them while this one lives. */
static void requeue_strays(jobs_cluster *cl, PGconn *conn)
{
  char ids[STRAYS_MAX][40];
  const char *running[STRAYS_MAX];
  size_t n = 0;
  int requeued = 0;
  ts_error err;
  if (!cl->o.running || !cl->o.running(cl->o.ud, ids, STRAYS_MAX, &n))
    return;
  if (n > STRAYS_MAX)
    return;
  for (size_t i = 0; i < n; i++)
    running[i] = ids[i];
  if (jobs_requeue_strays(conn, cl->instance, running, n, cl->o.stray_age_s, &requeued, &err))
    ts_log(TS_LOG_WARN, NULL, "job recovery: %s", err.msg);
}

static void maint_work_cb(uv_work_t *w)
{
  maint_work *m = w->data;
  jobs_cluster *cl = m->cl;
  const jobs_cluster_opts *o = &cl->o;
  ts_error err;
  PGconn *conn = jobs_db_get(o->db, &err);
  int n = 0;
  if (!conn) {
    set_reachable(cl, 0, err.msg);
    ts_log(TS_LOG_DEBUG, NULL, "job maintenance: %s", err.msg);
    return;
  }
  if (m->beat) {
    int draining = o->draining && atomic_load(o->draining);
    ts_err rc = jobs_instance_heartbeat(conn, cl->instance, o->instance_timeout_s, draining, &err);
    if (!rc)
      atomic_store(&cl->last_beat_ms, ts_now_ms());
    if (rc)
      ts_log(TS_LOG_WARN, NULL, "heartbeat: %s", err.msg);
    set_reachable(cl, rc != TS_EUNAVAIL, err.msg);
    if (rc == TS_EUNAVAIL) {
      jobs_db_put(o->db, conn);
      return;
    }
  }
  if (m->beat && jobs_recover(conn, cl->instance, o->requeue, o->max_attempts, &n, &err))
    ts_log(TS_LOG_WARN, NULL, "job recovery: %s", err.msg);
  if (m->beat)
    requeue_strays(cl, conn);
  if (m->sweep) {
    if (jobs_sweep(conn, o->store, 1000, &n, &err))
      ts_log(TS_LOG_WARN, NULL, "job sweeper: %s", err.msg);
    else if (n)
      ts_log(TS_LOG_INFO, NULL, "job sweeper: %d expired job(s) destroyed", n);
    if (jobs_upload_sweep(conn, &n, &err))
      ts_log(TS_LOG_WARN, NULL, "upload sweeper: %s", err.msg);
    else if (n)
      ts_log(TS_LOG_INFO, NULL,
             "upload sweeper: %d upload table(s) of ended jobs or dead "
             "instances dropped",
             n);
    if (jobs_notify_sweep(conn, JOBS_NOTIFY_SWEEP_MAX, &n, &err))
      ts_log(TS_LOG_WARN, NULL, "notification sweeper: %s", err.msg);
    n = jobs_store_clean_tmp(o->store, o->tmp_age_s);
    if (n)
      ts_log(TS_LOG_INFO, NULL, "job sweeper: %d abandoned temporary result file(s) removed", n);
  }
  jobs_db_put(o->db, conn);
}

static void maint_after(uv_work_t *w, int status)
{
  maint_work *m = w->data;
  (void)status;
  m->cl->busy = 0;
  free(m);
}

static void on_tick(uv_timer_t *t)
{
  jobs_cluster *cl = t->data;
  int64_t now = ts_now_ms();
  maint_work *m;
  if (cl->busy || cl->stopped)
    return;
  m = calloc(1, sizeof *m);
  if (!m)
    return;
  m->cl = cl;
  /* While the database is away, probe it every tick, so availability
   * comes back as soon as it does. */
  m->beat = now >= cl->next_beat || (cl->o.unreachable && atomic_load(cl->o.unreachable));
  m->sweep = now >= cl->next_sweep;
  if (!m->beat && !m->sweep) {
    free(m);
    return;
  }
  if (m->beat)
    cl->next_beat = now + (int64_t)cl->o.heartbeat_s * 1000;
  if (m->sweep)
    cl->next_sweep = now + (int64_t)cl->o.sweep_interval_s * 1000;
  m->work.data = m;
  cl->busy = 1;
  if (uv_queue_work(cl->o.loop, &m->work, maint_work_cb, maint_after) != 0) {
    cl->busy = 0;
    free(m);
  }
}

ts_err jobs_cluster_start(const jobs_cluster_opts *o, jobs_cluster **out, int *recovered,
                          ts_error *err)
{
  jobs_cluster *cl = calloc(1, sizeof *cl);
  PGconn *conn;
  ts_err rc;
  int n = 0;
  *out = cl;
  if (!cl)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  cl->o = *o;
  conn = jobs_db_get(o->db, err);
  if (!conn)
    return err->code;
  rc = jobs_instance_register(conn, o->host, o->port, o->version, o->instance_timeout_s,
                              cl->instance, err);
  if (!rc)
    rc = jobs_recover(conn, cl->instance, o->requeue, o->max_attempts, &n, err);
  jobs_db_put(o->db, conn);
  if (rc)
    return rc;
  if (recovered)
    *recovered = n;
  uv_timer_init(o->loop, &cl->tick);
  cl->tick.data = cl;
  cl->tick_open = 1;
  cl->next_beat = ts_now_ms() + (int64_t)o->heartbeat_s * 1000;
  atomic_store(&cl->last_beat_ms, ts_now_ms());
  cl->next_sweep = ts_now_ms();
  uv_timer_start(&cl->tick, on_tick, 0, 1000);
  return TS_OK;
}

const char *jobs_cluster_instance(const jobs_cluster *cl)
{
  return cl->instance;
}

void jobs_cluster_beat_now(jobs_cluster *cl)
{
  if (cl)
    cl->next_beat = 0;
}

int64_t jobs_cluster_last_beat_ms(jobs_cluster *cl)
{
  return cl ? (int64_t)atomic_load(&cl->last_beat_ms) : 0;
}

static void tick_closed(uv_handle_t *h)
{
  jobs_cluster *cl = h->data;
  cl->tick_open = 0;
}

void jobs_cluster_stop(jobs_cluster *cl)
{
  ts_error err;
  PGconn *conn;
  if (!cl || cl->stopped)
    return;
  cl->stopped = 1;
  conn = cl->instance[0] ? jobs_db_get(cl->o.db, &err) : NULL;
  if (conn) {
    if (jobs_instance_unregister(conn, cl->instance, &err))
      ts_log(TS_LOG_WARN, NULL, "cannot unregister this instance: %s", err.msg);
    jobs_db_put(cl->o.db, conn);
  }
  if (cl->tick_open && !uv_is_closing((uv_handle_t *)&cl->tick))
    uv_close((uv_handle_t *)&cl->tick, tick_closed);
}

void jobs_cluster_free(jobs_cluster *cl)
{
  free(cl);
}
