/* The life of the async side: start (the result store, the jobs pool,
 * migrations, the cluster module, the event bus and its subscriptions,
 * the executors), stop, drain and free, and what other parts of tapserve
 * ask of it (instance id, executing jobs, heartbeat age). The resources
 * themselves are uws.c's. */
#include "tapserve/uws/uws_int.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum {
  STRAY_AGE_S = 60, /* an own EXECUTING job no executor runs, this old, is re-queued */
  DB_WAIT_MS = 5000 /* a request waits this long for a jobs connection, then 503 */
};

/* A job changed on some instance: executors look for queued work, an
 * executor running an aborted or deleted job stops, and every WAIT on the
 * job fetches it again (events are hints: the phase is re-read). */
static void on_job_event(void *ud, const jobs_event *ev)
{
  uws *u = ud;
  /* A job queued, or one that ended (anywhere in the cluster) and so
   * freed room under max_async_jobs or its owner's max_per_user. */
  if ((ev->has_phase && (ev->phase == JOBS_QUEUED || jobs_phase_final(ev->phase))) ||
      ev->kind == JOBS_EV_JOB_REMOVED)
    uws__kick_executors(u);
  if (ev->kind == JOBS_EV_JOB_REMOVED || (ev->has_phase && ev->phase == JOBS_ABORTED)) {
    pthread_mutex_lock(&u->mu);
    for (int i = 0; i < u->nexec; i++)
      if (!strcmp(u->execs[i].job_id, ev->id))
        atomic_store(&u->execs[i].abort, 1);
    pthread_mutex_unlock(&u->mu);
  }
  uws__wait_wake(u, ev->id);
}

/* Events may have been missed: every waiter looks again, and so does
 * every idle executor. */
static void on_recheck(void *ud)
{
  uws *u = ud;
  uws__wait_wake(u, NULL);
  uws__kick_executors(u);
}

/* For the cluster's stray check, on a thread of the pool. */
static int running_jobs(void *ud, char (*ids)[40], size_t cap, size_t *n)
{
  uws *u = ud;
  *n = 0;
  pthread_mutex_lock(&u->mu);
  for (int i = 0; i < u->nexec; i++)
    if (u->execs[i].job_id[0] && *n < cap) {
      snprintf(ids[*n], 40, "%s", u->execs[i].job_id);
      ++*n;
    }
  int complete = *n < cap || (size_t)u->nexec <= cap;
  pthread_mutex_unlock(&u->mu);
  return complete;
}

/* ---- start / stop ------------------------------------------------------------- */

ts_err uws_start(ts_app *app, ts_error *err)
{
  cfg *c = app->cfg;
  uws *u = calloc(1, sizeof *u);
  PGconn *conn = NULL;
  jobs_cluster_opts co;
  ts_err rc;
  int from = 0, to = 0, n = 0;
  char host[256];

  if (!u)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  u->app = app;
  u->cfg = c;
  pthread_mutex_init(&u->mu, NULL);
  pthread_cond_init(&u->cv, NULL);
  atomic_init(&u->stopping, 0);
  atomic_init(&u->give_back, 0);
  app->uws = u;
  rc = jobs_store_init(&u->store, c->jobs_result_store, err);
  if (rc)
    return rc;
  /* Downloads read the store on threads of their own; UWS statements stay
   * on libuv's pool, where no download ever waits in front of them. */
  rc = ts_workq_new(app->loop, c->jobs_download_threads, &u->dlq);
  if (rc)
    return ts_fail(err, rc, 0, "cannot start the download threads");
  u->db = jobs_db_new(c->dsn, c->jobs_db_connections, DB_WAIT_MS);
  app->db = u->db; /* TAP_SCHEMA reloads borrow from it too (schema_cache.c) */
  if (!u->db)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  conn = jobs_db_get(u->db, err);
  if (!conn)
    return err->code;
  rc = jobs_migrate(conn, &from, &to, err);
  if (!rc && app->query_role[0])
    rc = jobs_record_query_role(conn, app->query_role, err);
  jobs_db_put(u->db, conn);
  if (rc)
    return rc;
  if (from != to)
    ts_log(TS_LOG_INFO, NULL, "cluster state: version %d -> %d", from, to);
  if (gethostname(host, sizeof host) != 0)
    snprintf(host, sizeof host, "localhost");
  host[sizeof host - 1] = '\0';
  memset(&co, 0, sizeof co);
  co.loop = app->loop;
  co.db = u->db;
  co.store = &u->store;
  co.host = host;
  co.port = c->port;
  co.version = TAPSERVE_VERSION;
  co.heartbeat_s = c->jobs_heartbeat_s;
  co.instance_timeout_s = c->jobs_instance_timeout_s;
  co.sweep_interval_s = c->jobs_sweep_interval_s;
  co.requeue = !strcmp(c->jobs_on_restart, "requeue");
  co.max_attempts = c->jobs_max_attempts;
  /* A file being written is touched at least every chunk; one untouched
   * for a day (or the longest duration) belongs to a dead writer. */
  co.tmp_age_s = c->jobs_duration_max_s > 86400 ? c->jobs_duration_max_s : 86400;
  /* A claim reaches its executor within milliseconds, so a minute's age
   * keeps a fresh claim out of the stray check. */
  co.stray_age_s = STRAY_AGE_S;
  co.unreachable = &app->db_unreachable;
  co.draining = &app->draining;
  co.running = running_jobs;
  co.ud = u;
  rc = jobs_cluster_start(&co, &u->cluster, &n, err);
  if (rc)
    return rc;
  snprintf(u->instance, sizeof u->instance, "%s", jobs_cluster_instance(u->cluster));
  ts_log_set_instance(u->instance); /* every log line names it from now on */
  ts_log(TS_LOG_INFO, NULL, "jobs: instance %s, result store %s, %d executor(s)%s", u->instance,
         c->jobs_result_store, c->jobs_max_executing, n ? ", orphaned jobs recovered" : "");

  app->bus = jobs_bus_new(app->loop, c->dsn);
  if (!app->bus || jobs_bus_subscribe(app->bus, JOBS_EV_JOB_CREATED, on_job_event, u) ||
      jobs_bus_subscribe(app->bus, JOBS_EV_JOB_UPDATED, on_job_event, u) ||
      jobs_bus_subscribe(app->bus, JOBS_EV_JOB_REMOVED, on_job_event, u) ||
      jobs_bus_on_recheck(app->bus, on_recheck, u))
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  jobs_bus_start(app->bus);

  u->nexec = c->jobs_max_executing;
  u->execs = calloc((size_t)u->nexec + 1, sizeof *u->execs);
  if (!u->execs)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  for (int i = 0; i < u->nexec; i++) {
    u->execs[i].u = u;
    atomic_init(&u->execs[i].abort, 0);
    if (uv_thread_create(&u->execs[i].th, uws__exec_main, &u->execs[i]) != 0)
      return ts_fail(err, TS_EINTERNAL, 0, "cannot start the job executors");
    u->execs[i].started = 1;
  }
  return TS_OK;
}

void uws_stop(ts_app *app)
{
  uws *u = app->uws;
  if (!u || atomic_load(&u->stopping))
    return;
  pthread_mutex_lock(&u->mu);
  atomic_store(&u->stopping, 1);
  pthread_cond_broadcast(&u->cv);
  pthread_mutex_unlock(&u->mu);
  /* Each executor notices within EXEC_POLL_MS, cancels its query and
   * re-queues (or fails) its job before it returns. */
  for (int i = 0; i < u->nexec; i++)
    if (u->execs[i].started)
      uv_thread_join(&u->execs[i].th);
  u->nexec = 0;
  jobs_cluster_stop(u->cluster);
  jobs_bus_stop(app->bus);
  uws_end_waits(app);
}

void uws_end_waits(ts_app *app)
{
  uws *u = app->uws;
  if (!u)
    return;
  /* WAIT requests answer now rather than hold the shutdown. */
  uws__wait_wake(u, NULL);
  for (uws_wait *w = u->waiters; w; w = w->next)
    w->expired = 1;
}

int uws_executing(ts_app *app)
{
  uws *u = app->uws;
  int n = 0;
  if (!u)
    return 0;
  pthread_mutex_lock(&u->mu);
  for (int i = 0; i < u->nexec; i++)
    n += u->execs[i].job_id[0] != '\0';
  pthread_mutex_unlock(&u->mu);
  return n;
}

const char *uws_instance(ts_app *app)
{
  return app->uws ? app->uws->instance : "";
}

int64_t uws_last_heartbeat_ms(ts_app *app)
{
  return app->uws ? jobs_cluster_last_beat_ms(app->uws->cluster) : 0;
}

void uws_give_back(ts_app *app)
{
  uws *u = app->uws;
  if (u)
    atomic_store(&u->give_back, 1);
}

void uws_draining(ts_app *app)
{
  uws *u = app->uws;
  if (u)
    jobs_cluster_beat_now(u->cluster);
}

void uws_free(ts_app *app)
{
  uws *u = app->uws;
  if (!u)
    return;
  jobs_bus_free(app->bus);
  app->bus = NULL;
  jobs_cluster_free(u->cluster);
  ts_workq_free(u->dlq);
  jobs_db_free(u->db);
  app->db = NULL;
  free(u->execs);
  pthread_cond_destroy(&u->cv);
  pthread_mutex_destroy(&u->mu);
  free(u);
  app->uws = NULL;
}

/* ---- entry points (reached through the route table, routes.c) ---------------- */

const char *uws_instance_id(const ts_app *app)
{
  return app->uws ? app->uws->instance : NULL;
}

const struct jobs_store *uws_result_store(const ts_app *app)
{
  return app->uws ? &app->uws->store : NULL;
}
