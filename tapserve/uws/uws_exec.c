/* UWS job executors: each is a thread of its own with two blocking
 * connections (service state, and the query role); it claims a QUEUED
 * job, runs COPY (FORMAT binary), stores the byte stream through the zstd
 * writer and commits COMPLETED with a compare-and-set. Aborts arrive
 * through an atomic flag (from job events, uws.c) and through a re-read of
 * the job's phase every second. */
#include "tapserve/uws/uws_int.h"

#include "jobs/notify.h"
#include "jobs/quota.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
  EXEC_POLL_MS = 200,    /* executor watchdog period */
  PHASE_CHECK_MS = 1000, /* executor re-reads its job's phase this often */
};

/* Milliseconds of a stored duration (0: unlimited), never overflowing. */
static int64_t duration_ms(int64_t secs)
{
  return secs <= 0 ? 0 : (secs > UWS_DURATION_MAX_S ? UWS_DURATION_MAX_S : secs) * 1000;
}

/* ---- executors --------------------------------------------------------------- */

/* 1 when running jobs are to be given back to the queue: the instance
 * stops, or a drain's grace time is over. */
static int exec_giving_back(uws *u)
{
  return atomic_load(&u->stopping) || atomic_load(&u->give_back);
}

enum {
  EXEC_RETRIES = 5,         /* connection losses in a row before a job is ERROR */
  EXEC_RETRY_MIN_MS = 250,  /* first wait for the database after a loss, doubling */
  EXEC_RETRY_MAX_MS = 5000, /* longest wait between attempts to reconnect */
};

/* A connection that has sat idle (between jobs, or across a database
 * restart) is checked before use, and replaced when it is gone. */
static ts_err ensure_conn(PGconn **c, const char *dsn, ts_error *err)
{
  if (stream_pg_idle_usable(*c))
    return TS_OK;
  if (*c)
    PQfinish(*c);
  *c = stream_pg_connect_blocking(dsn, err);
  if (!*c)
    return err->code;
  PQclear(PQexec(*c, "SET application_name = 'tapserve job'"));
  return TS_OK;
}

/* The query connection of a job: each job takes the next server of
 * query_dsn in turn (other than query_avoid when another is up: the server
 * the last execution lost its connection on, or that canceled it for a
 * recovery conflict), so that jobs spread over the servers and a server
 * that comes back is used again. The idle connection kept from the last
 * job serves when it is on that server. A job that names upload or user
 * tables runs on the primary (app->pservers): they were made there, maybe
 * just now. */
static ts_err ensure_query_conn(uws_exec *e, int uploads, ts_error *err)
{
  stream_pg_servers *qs = e->u->app->qservers;
  int pinned = uploads && e->u->app->pservers != qs;
  if (pinned)
    qs = e->u->app->pservers;
  int want = stream_pg_servers_pick(qs, pinned ? -1 : e->query_avoid);
  e->query_avoid = -1;
  if (!pinned && e->query_server == want && stream_pg_idle_usable(e->query))
    return TS_OK;
  if (e->query)
    PQfinish(e->query);
  e->query = stream_pg_servers_connect(qs, "tapserve job", want, &e->query_server, err);
  if (!e->query)
    return err->code;
  /* An abort cancels the recorded backend pid on the primary (dsn): a
   * standby's pid means nothing there, or another session. When unsure,
   * say standby: the watchdog stops an aborted job all the same. */
  PGresult *r = PQexec(e->query, "SELECT pg_is_in_recovery()");
  e->query_standby = PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1 ||
                     strcmp(PQgetvalue(r, 0, 0), "f") != 0;
  PQclear(r);
  ts_log(TS_LOG_DEBUG, NULL, "job query connection on %s%s%s",
         stream_pg_servers_name(qs, e->query_server), e->query_standby ? " (a standby)" : "",
         pinned ? " (the primary, for uploads)" : "");
  if (pinned)
    e->query_server = -1; /* not one of qservers: the next job connects anew */
  return TS_OK;
}

static ts_err exec_simple(PGconn *c, const char *sql, ts_error *err)
{
  PGresult *r = PQexec(c, sql);
  ts_err rc = TS_OK;
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    rc = stream_pg_result_error(c, r, err);
  PQclear(r);
  return rc;
}

typedef struct exec_run {
  uws_exec *e;
  jobs_job *job;
  ts_arena *a;
  adql_query *adql;
  char *sql;
  int64_t maxrec;
  stream_schema schema;
  jobs_store_writer *w;
  stream_pgcopy copy; /* the reader; its why: 0 none, 1 abort/delete, 2 timeout, 3 shutdown */
  int64_t deadline_ms, next_check_ms;
  int on_primary;  /* the query names upload or user tables, made on the primary */
  int64_t charged; /* bytes charged to the owner's file quota so far */
} exec_run;

static const char *job_param(const void *src, const char *name)
{
  return jobs_param_get(src, name);
}

/* The job's uploads of earlier results (job: sources), loaded now that
 * the jobs they come from are final (jobs_claim waited for them), unless
 * an earlier execution of this job loaded them already; then the
 * TAP_UPLOAD layer of everything the job has loaded. */
static ts_err exec_uploads(exec_run *x, adql_layer **layer, ts_error *err)
{
  uws *u = x->e->u;
  const char *upload = jobs_param_get(x->job, "upload");
  tap_upload_ref *refs = NULL;
  jobs_upload_info *have = NULL;
  size_t n = 0, nhave = 0, k = 0;
  tap_upload_env env;
  ts_err rc;

  *layer = NULL;
  if (!upload)
    return TS_OK;
  memset(&env, 0, sizeof env);
  env.c = u->cfg;
  env.db = u->db;
  env.store = &u->store;
  env.query_role = u->app->upload_role;
  env.owner.job_id = x->job->id;
  env.caller = x->job->owner_id; /* the job reads what its owner may */
  env.deadline_ms = 0;           /* final by now: no waiting */
  rc = tap_upload_parse(u->cfg, upload, x->a, &refs, &n, err);
  if (!rc)
    rc = jobs_upload_list(x->e->state, x->a, &env.owner, &have, &nhave, err);
  for (size_t i = 0; i < n && !rc; i++) {
    int loaded = 0;
    for (size_t j = 0; j < nhave; j++)
      loaded |= ts_strcaseeq(have[j].name, refs[i].name);
    if (!loaded)
      refs[k++] = refs[i];
  }
  if (!rc)
    rc = tap_upload_load(&env, x->e->state, refs, k, err);
  if (!rc) {
    *layer = ts_arena_alloc(x->a, sizeof **layer);
    rc = *layer ? tap_upload_layer(x->e->state, x->a, &env.owner, *layer, err)
                : ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  return rc;
}

/* The user tables of the job's owner, when the owner is a user, in front
 * of *layer. They are found by the owner's id, which the job records: a
 * user deleted since has none, a user made again under the same name
 * does not own the old one's. */
static ts_err exec_user_layer(exec_run *x, adql_layer **layer, ts_error *err)
{
  jobs_user owner = {.id = x->job->owner_id};
  adql_layer *l;
  ts_err rc;
  if (x->job->owner_id <= 0)
    return TS_OK;
  l = ts_arena_calloc(x->a, 1, sizeof *l);
  rc = l ? tap_user_layer(x->e->state, x->a, &owner, l, err)
         : ts_fail(err, TS_ENOMEM, 0, "out of memory");
  if (!rc && l->ntables) {
    if (*layer)
      (*layer)->next = l;
    else
      *layer = l;
  }
  return rc;
}

/* Checks the job's parameters and translates its query (the rules of
 * /sync). */
static ts_err exec_prepare(exec_run *x, ts_error *err)
{
  tap_query tq;
  adql_layer *layer = NULL;
  ts_err rc = exec_uploads(x, &layer, err);
  if (!rc)
    rc = exec_user_layer(x, &layer, err);
  if (!rc)
    rc = tap_prepare_query(x->e->u->app, job_param, x->job, layer, x->a, &tq, err);
  if (rc)
    return rc;
  x->on_primary = layer != NULL;
  x->maxrec = tq.maxrec;
  x->adql = tq.q;
  x->sql = tq.sql;
  return TS_OK;
}

static ts_err exec_describe(exec_run *x, PGconn *qc, ts_error *err)
{
  ts_err rc = stream_pgcopy_describe(qc, x->sql, x->a, &x->schema, err);
  if (!rc)
    tap_merge_column_meta(&x->schema, x->adql);
  return rc;
}

/* Charges the owner's file quota (jobs/quota.h) for the result: while
 * writing, each time it grew by JOBS_QUOTA_STEP (a result past the limit
 * stops there), through a connection of its own when the pg store holds
 * the state connection's transaction; with `settle`, its exact size in
 * the state connection's transaction that completes the job. Anonymous
 * jobs have no quota. */
static ts_err exec_charge(exec_run *x, int64_t total, int settle, ts_error *err)
{
  uws *u = x->e->u;
  PGconn *c = x->e->state;
  /* While the writer runs, the pg store's thread may be using the state
   * connection: look at it, and use it, under the writer's lock. After
   * jobs_store_writer_finish (settle) the thread is gone. */
  int locked = !settle && x->w;
  ts_err rc;
  if (x->job->owner_id <= 0 || (!settle && total < x->charged + JOBS_QUOTA_STEP))
    return TS_OK;
  if (locked)
    jobs_store_writer_lock(x->w);
  if (!settle && PQtransactionStatus(c) != PQTRANS_IDLE) {
    /* the pg store's transaction: a connection of its own */
    if (locked)
      jobs_store_writer_unlock(x->w);
    locked = 0;
    if (!(c = jobs_db_get(u->db, err)))
      return TS_OK; /* no connection now: the next step or the settling charges */
  }
  rc = jobs_quota_charge_job(c, x->job->id, u->instance, total, (int64_t)u->cfg->users_quota_files,
                             err);
  if (locked)
    jobs_store_writer_unlock(x->w);
  if (c != x->e->state)
    jobs_db_put(u->db, c);
  if (!rc)
    x->charged = total;
  /* no longer ours: the watchdog stops the query */
  return !settle && rc == TS_ECANCELED ? TS_OK : rc;
}

/* The stored stream is written with the canonical header and trailer
 * around PostgreSQL's tuples. */
static ts_err exec_tuple(void *ud, const uint8_t *p, size_t n, ts_error *err)
{
  exec_run *x = ud;
  ts_err rc = jobs_store_write(x->w, p, n, err);
  int64_t stored;
  if (rc)
    return rc;
  jobs_store_writer_bytes(x->w, NULL, &stored);
  return exec_charge(x, stored, 0, err);
}

/* Watchdog step between reads: abort, shutdown, duration, and the job's
 * phase in the database. Returns why the query must stop (0: it need
 * not). */
static int exec_watch(void *ud)
{
  exec_run *x = ud;
  uws *u = x->e->u;
  int64_t now = ts_now_ms();
  if (atomic_load(&x->e->abort))
    return 1;
  if (exec_giving_back(u))
    return 3;
  if (x->deadline_ms && now > x->deadline_ms)
    return 2;
  if (now >= x->next_check_ms) {
    jobs_phase p;
    ts_error e;
    x->next_check_ms = now + PHASE_CHECK_MS;
    /* On the state connection, which may be inside the pg store's
     * transaction: READ COMMITTED still sees an abort committed since. */
    if (x->w)
      jobs_store_writer_lock(x->w); /* the pg store's thread writes through it */
    ts_err rc = jobs_get_phase(x->e->state, x->job->id, &p, &e);
    if (x->w)
      jobs_store_writer_unlock(x->w);
    if (rc == TS_ENOTFOUND || (!rc && p != JOBS_EXECUTING))
      return 1;
  }
  return 0;
}

static ts_err exec_copy(exec_run *x, PGconn *qc, ts_error *err)
{
  stream_pgcopy *r = &x->copy;
  r->conn = qc;
  r->maxrec = x->maxrec;
  r->poll_ms = EXEC_POLL_MS;
  r->on_tuple = exec_tuple;
  r->watch = exec_watch;
  r->ud = x;
  ts_err rc = jobs_store_write(x->w, stream_copy_header, sizeof stream_copy_header, err);
  if (!rc)
    rc = stream_pgcopy_run(r, x->sql, err);
  if (rc != TS_ECANCELED)
    return rc;
  /* Canceled: by our watchdog (why), or in the database (57014: the
   * statement timeout, or another instance's pg_cancel_backend). */
  if (r->why == 2 ||
      (r->why == 0 && !strcmp(r->sqlstate, "57014") && x->job->execution_duration > 0))
    return ts_fail(err, TS_EQUERYTIMEOUT, 0, "the query exceeded the execution duration of %lld s",
                   (long long)x->job->execution_duration);
  if (r->why)
    return ts_fail(err, TS_ECANCELED, 0, "canceled");
  ts_error in = *err;
  return ts_fail(err, stream_pg_sqlstate_err(r->sqlstate), 0, "%s", in.msg);
}

/* Tells a logged-in owner that their job ended (astroquery's ESA
 * modules show these at start, the web page beside the job list). A
 * message that cannot be kept is logged, never the job's failure. */
static void exec_notify_owner(uws_exec *e, const jobs_job *job, const char *how)
{
  char text[JOBS_NOTIFY_TEXT_MAX];
  ts_error err;
  if (job->owner_id <= 0 || !e->state)
    return;
  snprintf(text, sizeof text, "Job %s%s%s%s %s", job->id, job->run_id ? " (" : "",
           job->run_id ? job->run_id : "", job->run_id ? ")" : "", how);
  for (char *c = text; *c; c++) /* a message is one line (a database error may have more) */
    if ((unsigned char)*c < 0x20 || *c == 0x7f)
      *c = ' ';
  if (jobs_notify_user(e->state, job->owner_id, JOBS_NOTIFY_JOB, text, 0, NULL, &err))
    ts_log(TS_LOG_WARN, NULL, "job %s: cannot notify its owner: %s", job->id, err.msg);
}

/* One execution of the job into the store; TS_OK once it is COMPLETED.
 * The result of a failed execution is removed, except when the completion
 * itself lost its connection: it may have committed, and the next
 * execution (if there is one) writes the same file again. */
static ts_err exec_once(uws_exec *e, jobs_job *job, ts_arena *a, exec_run *x, ts_error *err)
{
  uws *u = e->u;
  ts_err rc;
  jobs_result_info res;
  ts_buf cols;
  char set[STREAM_PG_PROLOGUE_MAX];
  int keep = 0;

  memset(x, 0, sizeof *x);
  x->e = e;
  x->job = job;
  x->a = a;
  ts_error_clear(err);
  ts_buf_init(&cols, JOBS_SCHEMA_JSON_MAX);
  if (job->execution_duration > 0)
    x->deadline_ms = ts_now_ms() + duration_ms(job->execution_duration) + 2000;
  x->next_check_ms = ts_now_ms() + PHASE_CHECK_MS;

  rc = exec_prepare(x, err);
  if (!rc)
    rc = ensure_query_conn(e, x->on_primary, err);
  if (!rc)
    rc = jobs_set_backend_pid(e->state, job->id, u->instance,
                              e->query_standby ? 0 : PQbackendPID(e->query), err);
  stream_pg_prologue(set, duration_ms(job->execution_duration));
  if (!rc)
    rc = exec_simple(e->query, set, err);
  if (!rc)
    rc = exec_describe(x, e->query, err);
  if (!rc)
    rc = jobs_store_writer_open(&u->store, e->state, job->id, "result", &x->w, err);
  if (!rc)
    rc = exec_copy(x, e->query, err);
  if (e->query && PQtransactionStatus(e->query) != PQTRANS_IDLE)
    PQclear(PQexec(e->query, rc ? "ROLLBACK" : "COMMIT"));
  if (rc == TS_EUNAVAIL && e->query) {
    /* Lost, or canceled by a standby's recovery conflict: the next
     * execution connects again, on another server when one is up. */
    PQfinish(e->query);
    e->query = NULL;
    e->query_avoid = e->query_server;
  }
  if (!rc)
    rc = jobs_store_write(x->w, stream_copy_trailer, sizeof stream_copy_trailer, err);
  if (!rc)
    rc = jobs_store_writer_finish(x->w, &res, err);
  if (rc == TS_EIO && PQstatus(e->state) != CONNECTION_OK) {
    /* The pg store writes through the state connection. */
    ts_error in = *err;
    ts_fail(err, TS_EUNAVAIL, 0, "lost the connection to the database: %.450s", in.msg);
  } else if (rc == TS_EIO) {
    /* Only the store answers TS_EIO: say where the problem is. */
    ts_error in = *err;
    ts_fail(err, TS_EIO, 0, "cannot store the result: %.450s", in.msg);
  }
  if (!rc) {
    res.rows = (int64_t)x->copy.tuples;
    res.overflow = x->copy.overflow;
    if (jobs_schema_json(&x->schema, &cols))
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  if (!rc) {
    /* the exact size charged in the completion's transaction */
    int in_txn = u->store.kind == JOBS_STORE_PG;
    if (!in_txn && job->owner_id > 0 && !(rc = exec_simple(e->state, "BEGIN", err)))
      in_txn = 1;
    if (!rc)
      rc = exec_charge(x, res.bytes, 1, err);
    if (!rc)
      rc = jobs_complete(e->state, job->id, u->instance, &res, cols.data, in_txn, err);
    keep = !rc || rc == TS_EUNAVAIL;
    if (!rc) {
      char how[96];
      ts_log(TS_LOG_INFO, NULL, "job %s: COMPLETED, %lld rows%s, %lld bytes stored (%lld raw)",
             job->id, (long long)x->copy.tuples, x->copy.overflow ? " (overflow)" : "",
             (long long)res.bytes, (long long)res.raw_bytes);
      snprintf(how, sizeof how, "completed: %lld rows%s", (long long)x->copy.tuples,
               x->copy.overflow ? " (truncated at MAXREC)" : "");
      exec_notify_owner(e, job, how);
    }
  }
  jobs_store_writer_free(x->w, keep); /* NULL-safe; removes a result not kept */
  x->w = NULL;
  ts_buf_free(&cols);
  if (rc && e->state && PQtransactionStatus(e->state) != PQTRANS_IDLE)
    PQclear(PQexec(e->state, "ROLLBACK"));
  return rc;
}

/* Sleeps up to ms, waking early when the instance stops. */
static void exec_sleep(uws *u, int64_t ms)
{
  int64_t end = ts_now_ms() + ms;
  while (!exec_giving_back(u) && ts_now_ms() < end)
    poll(NULL, 0, EXEC_POLL_MS);
}

/* After the lost-th lost connection in a row: waits (backing off from
 * EXEC_RETRY_MIN_MS << (lost - 1) up to EXEC_RETRY_MAX_MS, for as long as
 * the database is away, until the instance stops) for a new state
 * connection, then says
 * whether the job is still ours to run: EXECUTING here. 0 when it is not
 * (aborted, deleted, completed by the execution that lost its connection
 * at the very end, or recovered by another instance meanwhile) or the
 * instance stops. */
static int exec_reconnect(uws_exec *e, jobs_job *job, ts_arena *a, int lost)
{
  uws *u = e->u;
  int64_t wait = (int64_t)EXEC_RETRY_MIN_MS << (lost < 6 ? lost - 1 : 5);
  if (wait > EXEC_RETRY_MAX_MS)
    wait = EXEC_RETRY_MAX_MS;
  ts_error err;
  jobs_job *now = NULL;
  for (;; wait = wait * 2 < EXEC_RETRY_MAX_MS ? wait * 2 : EXEC_RETRY_MAX_MS) {
    exec_sleep(u, wait);
    if (exec_giving_back(u))
      return 0;
    ts_err rc = ensure_conn(&e->state, u->cfg->dsn, &err);
    if (!rc)
      rc = jobs_get(e->state, a, job->id, &now, &err);
    if (rc == TS_EUNAVAIL) {
      atomic_store(&u->app->db_unreachable, 1);
      continue; /* still away */
    }
    return !rc && now->phase == JOBS_EXECUTING && now->owner_instance &&
           !strcmp(now->owner_instance, u->instance);
  }
}

/* Runs a claimed job to its end. A failure of a database connection (a
 * restart, a failover) before the job is COMPLETED is not the job's: it
 * runs again on new connections once the database answers, up to
 * EXEC_RETRIES times in a row; a query that fails on its own is ERROR at
 * once. */
static void exec_job(uws_exec *e, jobs_job *job, ts_arena *a)
{
  uws *u = e->u;
  const cfg *c = u->cfg;
  exec_run x;
  ts_error err, e2;
  ts_err rc;
  int lost = 0;

  for (;;) {
    rc = exec_once(e, job, a, &x, &err);
    if (rc != TS_EUNAVAIL || x.copy.why)
      break;
    if (++lost > EXEC_RETRIES) {
      ts_error in = err;
      ts_fail(&err, TS_EUNAVAIL, 0,
              "the database connection was lost %d times running this job: %.400s", lost, in.msg);
      break;
    }
    ts_log(TS_LOG_WARN, NULL, "job %s: %s; running it again once the database answers", job->id,
           err.msg);
    if (!exec_reconnect(e, job, a, lost)) {
      if (!exec_giving_back(u)) {
        ts_log(TS_LOG_INFO, NULL, "job %s: no longer executing here", job->id);
        return;
      }
      x.copy.why = 3;
      break;
    }
  }
  if (!rc)
    return;
  if (x.copy.why == 3) {
    /* Shutdown: the job goes back to the queue (or fails), per on_restart;
     * a drain gives it back to the queue whatever on_restart says (another
     * instance runs it). Either way the attempt is not counted. */
    ts_log(TS_LOG_INFO, NULL, "job %s: given back (this instance stops)", job->id);
    if (!strcmp(c->jobs_on_restart, "requeue") || atomic_load(&u->app->draining))
      jobs_requeue(e->state, job->id, u->instance, &e2);
    else
      jobs_fail(e->state, job->id, u->instance,
                "the service stopped while this job was executing; submit it again", &e2);
    return;
  }
  if (x.copy.why == 1 || rc == TS_ECANCELED) {
    ts_log(TS_LOG_INFO, NULL, "job %s: stopped (aborted or deleted)", job->id);
    return;
  }
  ts_log(TS_LOG_INFO, NULL, "job %s: ERROR: %s", job->id, err.msg);
  if (jobs_fail(e->state, job->id, u->instance, err.msg, &e2)) {
    if (e2.code != TS_ECANCELED)
      ts_log(TS_LOG_WARN, NULL, "job %s: cannot record its error: %s", job->id, e2.msg);
    return;
  }
  char how[600];
  snprintf(how, sizeof how, "ended in ERROR: %.500s", err.msg);
  exec_notify_owner(e, job, how);
}

/* A job's upload tables serve its executions only: once it is final
 * (UWS runs a job once) they go; when it went back to the queue they stay
 * for the next execution. What fails here the sweeper does later. */
static void exec_drop_uploads(uws_exec *e, const jobs_job *job)
{
  jobs_phase p;
  ts_error err;
  jobs_upload_owner o = {job->id, NULL, NULL};
  if (!jobs_param_get(job, "upload") || !e->state)
    return;
  if (jobs_get_phase(e->state, job->id, &p, &err) == TS_OK && !jobs_phase_final(p))
    return;
  if (jobs_upload_drop(e->state, &o, NULL, &err))
    ts_log(TS_LOG_WARN, NULL, "job %s: upload tables left for the sweeper: %s", job->id, err.msg);
}

void uws__exec_main(void *arg)
{
  uws_exec *e = arg;
  uws *u = e->u;
  const cfg *c = u->cfg;
  unsigned seen = 0;
  const jobs_limits lim = {c->jobs_max_per_user, c->jobs_max_async};
  e->query_avoid = -1;
  for (;;) {
    ts_error err;
    jobs_job *job = NULL;
    ts_arena *a;
    pthread_mutex_lock(&u->mu);
    if (atomic_load(&u->stopping)) {
      pthread_mutex_unlock(&u->mu);
      break;
    }
    seen = u->kick;
    pthread_mutex_unlock(&u->mu);

    /* Capped like a /sync request: a query that needs more memory to
     * translate fails, it does not take the instance down. */
    /* A draining instance claims nothing more: it only finishes what it
     * runs. */
    a = atomic_load(&u->app->draining) ? NULL : ts_arena_new(0, TS_QUERY_ARENA_CAP);
    if (a && !ensure_conn(&e->state, c->dsn, &err) &&
        !jobs_claim(e->state, a, u->instance, &lim, &job, &err) && job) {
      pthread_mutex_lock(&u->mu);
      snprintf(e->job_id, sizeof e->job_id, "%s", job->id);
      atomic_store(&e->abort, 0);
      pthread_mutex_unlock(&u->mu);
      ts_log(TS_LOG_INFO, NULL, "job %s: EXECUTING", job->id);
      exec_job(e, job, a);
      exec_drop_uploads(e, job);
      pthread_mutex_lock(&u->mu);
      e->job_id[0] = '\0';
      pthread_mutex_unlock(&u->mu);
      ts_arena_free(a);
      continue; /* a slot is free again: look for the next job at once */
    }
    ts_arena_free(a);
    /* Nothing to run: sleep until a NOTIFY says a job was queued (the
     * loop bumps `kick`), with a timeout as the fallback for a lost
     * LISTEN connection. */
    pthread_mutex_lock(&u->mu);
    if (!atomic_load(&u->stopping) && u->kick == seen) {
      struct timespec ts;
      clock_gettime(CLOCK_REALTIME, &ts);
      ts.tv_sec += 5;
      pthread_cond_timedwait(&u->cv, &u->mu, &ts);
    }
    pthread_mutex_unlock(&u->mu);
  }
  if (e->query)
    PQfinish(e->query);
  if (e->state)
    PQfinish(e->state);
  e->query = e->state = NULL;
}

void uws__kick_executors(uws *u)
{
  pthread_mutex_lock(&u->mu);
  u->kick++;
  pthread_cond_broadcast(&u->cv);
  pthread_mutex_unlock(&u->mu);
}
