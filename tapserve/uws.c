/* UWS 1.1 async jobs: the /async resources, the executors that run queued
 * jobs into the result store, result downloads in any format. Job events
 * from the bus (jobs/events.h) wake WAIT requests and idle executors; the
 * heartbeat, recovery and the sweeper are jobs/cluster.h's.
 *
 * Threads: the HTTP side runs on the loop and hands every database
 * statement to libuv's thread pool (jobs/ is blocking libpq), so the loop
 * never waits on PostgreSQL. Each executor is a thread of its own with two
 * blocking connections (service state, and the query role); it claims a
 * QUEUED job, runs COPY (FORMAT binary), stores the byte stream through
 * the zstd writer and commits COMPLETED with a compare-and-set. The loop
 * tells executors about aborts through an atomic flag (from NOTIFY), and
 * each executor also re-reads its job's phase every second, so an abort
 * from any instance stops the query within about a second even without
 * the right to pg_cancel_backend. docs/internals/jobs.md has the whole
 * picture. */
#include "jobs/cluster.h"
#include "jobs/events.h"
#include "jobs/jobs.h"
#include "tapserve/tapserve.h"
#include "tapserve/uws.h"

#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

enum {
  DL_BLOCK = 256 * 1024, /* decompressed bytes handed to the decoder per read */
  EXEC_POLL_MS = 200,    /* executor watchdog period */
  PHASE_CHECK_MS = 1000, /* executor re-reads its job's phase this often */
  DB_WAIT_MS = 5000      /* a request waits this long for a jobs connection, then 503 */
};

typedef struct uws uws;

typedef struct uws_exec {
  uws *u;
  uv_thread_t th;
  int started;
  PGconn *state, *query;
  char job_id[40]; /* guarded by u->mu */
  atomic_int abort;
} uws_exec;

typedef struct uws_wait uws_wait;

struct uws {
  ts_app *app;
  cfg *cfg;
  jobs_store store;
  jobs_db *db;
  char instance[40];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned kick;
  atomic_int stopping; /* read by the executor threads without the mutex */
  uws_exec *execs;
  int nexec;
  /* loop side */
  jobs_cluster *cluster; /* this instance's row, heartbeat, recovery, sweeper */
  uws_wait *waiters;
  ts_workq *dlq; /* result downloads: threads apart from libuv's pool */
};

/* ---- small helpers ---------------------------------------------------------- */

static const char *param(http_param *p, size_t n, const char *name)
{
  for (size_t i = 0; i < n; i++)
    if (ts_strcaseeq(p[i].name, name))
      return p[i].value;
  return NULL;
}

/* "YYYY-MM-DDTHH:MM:SS[.fff][Z]" (also a date alone) -> unix ms. */
static ts_err parse_iso(const char *s, int64_t *ms)
{
  struct tm tm;
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, n = 0;
  double sec = 0;
  memset(&tm, 0, sizeof tm);
  if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3)
    return TS_EINVAL;
  s += n;
  if (*s == 'T' || *s == ' ') {
    if (sscanf(s + 1, "%2d:%2d:%lf%n", &h, &mi, &sec, &n) != 3)
      return TS_EINVAL;
    s += 1 + n;
  }
  if (*s == 'Z')
    s++;
  if (*s || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec < 0 || sec >= 61)
    return TS_EINVAL;
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  *ms = (int64_t)timegm(&tm) * 1000 + (int64_t)(sec * 1000.0 + 0.5);
  return TS_OK;
}

static int valid_id(const char *s, size_t n)
{
  if (n == 0 || n >= 40)
    return 0;
  for (size_t i = 0; i < n; i++)
    if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
      return 0;
  return 1;
}

/* The longest execution duration a job can have, in seconds: PostgreSQL's
 * statement_timeout counts milliseconds in an int (about 24.8 days). */
#define UWS_DURATION_MAX_S ((int64_t)INT_MAX / 1000)

static int64_t cap_duration(const cfg *c, int64_t want)
{
  if (want < 0)
    want = c->jobs_duration_s;
  if (c->jobs_duration_max_s && (want == 0 || want > c->jobs_duration_max_s))
    want = c->jobs_duration_max_s;
  return want > UWS_DURATION_MAX_S ? UWS_DURATION_MAX_S : want;
}

/* Milliseconds of a stored duration (0: unlimited), never overflowing. */
static int64_t duration_ms(int64_t secs)
{
  return secs <= 0 ? 0 : (secs > UWS_DURATION_MAX_S ? UWS_DURATION_MAX_S : secs) * 1000;
}

static int64_t cap_destruction(const cfg *c, int64_t want_ms)
{
  int64_t max = ts_now_ms() + (int64_t)c->jobs_destruction_max_s * 1000;
  return want_ms > max ? max : want_ms;
}

/* ---- requests: each is one work item on libuv's pool -------------------------- */

typedef enum {
  OP_LIST,
  OP_CREATE,
  OP_GET,  /* job XML, or a sub-resource as text */
  OP_POST, /* POST on the job or a sub-resource */
  OP_DELETE
} uws_opkind;

typedef struct uws_op {
  uv_work_t work;
  uws *u;
  http_request *req;
  uws_opkind kind;
  char id[40];
  const char *sub; /* "" for the job itself, else "phase", "parameters", ... */
  http_param *params;
  size_t np;
  /* results */
  int status;
  const char *ctype;
  ts_buf body;
  char location[1200];
  ts_error err;
  int failed;
  jobs_phase phase; /* of the job, when fetched */
  /* WAIT */
  uws_wait *wait;
} uws_op;

struct uws_wait {
  uws_wait *next;
  uws_op *op;
  uv_timer_t timer;
  jobs_phase initial;
  int have_initial;
  int has_phase_param;
  jobs_phase phase_param;
  int in_flight, dirty, expired, aborted, done;
};

static void op_fail(uws_op *o, ts_err code, const char *fmt, ...) TS_PRINTF(3, 4);
static void op_fail(uws_op *o, ts_err code, const char *fmt, ...)
{
  va_list ap;
  o->failed = 1;
  va_start(ap, fmt);
  ts_failv(&o->err, code, 0, fmt, ap);
  va_end(ap);
}

/* Special parameters are UWS controls, not job parameters. */
static int is_control(const char *name)
{
  static const char *const ctl[] = {"PHASE",       "ACTION", "RUNID", "EXECUTIONDURATION",
                                    "DESTRUCTION", "WAIT"};
  for (size_t i = 0; i < TS_ARRAY_LEN(ctl); i++)
    if (ts_strcaseeq(name, ctl[i]))
      return 1;
  return 0;
}

static ts_err apply_controls(uws_op *o, PGconn *conn, int *did, ts_error *err)
{
  const cfg *c = o->u->cfg;
  const char *v;
  ts_err rc = tap_check_single_valued(o->params, o->np, err);
  *did = 0;
  if (rc)
    return rc;
  v = param(o->params, o->np, "RUNID");
  if (v) {
    rc = jobs_set_run_id(conn, o->id, v, err);
    *did = 1;
  }
  v = param(o->params, o->np, "EXECUTIONDURATION");
  if (!rc && v) {
    int64_t s;
    if (ts_parse_int64(v, &s) || s < 0)
      return ts_fail(err, TS_EINVAL, 0, "EXECUTIONDURATION must be a whole number of seconds");
    rc = jobs_set_execution_duration(conn, o->id, cap_duration(c, s), err);
    *did = 1;
  }
  v = param(o->params, o->np, "DESTRUCTION");
  if (!rc && v) {
    int64_t ms;
    if (parse_iso(v, &ms))
      return ts_fail(err, TS_EINVAL, 0, "DESTRUCTION must be an ISO 8601 time, not \"%s\"", v);
    rc = jobs_set_destruction(conn, o->id, cap_destruction(c, ms), err);
    *did = 1;
  }
  /* Ordinary parameters (on the job or on /parameters). */
  if (!rc && (!strcmp(o->sub, "") || !strcmp(o->sub, "parameters"))) {
    size_t k = 0;
    jobs_param *ps = calloc(o->np + 1, sizeof *ps);
    if (!ps)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    for (size_t i = 0; i < o->np; i++)
      if (!is_control(o->params[i].name)) {
        ps[k].name = o->params[i].name;
        ps[k++].value = o->params[i].value;
      }
    if (k) {
      rc = jobs_set_params(conn, o->id, ps, k, err);
      *did = 1;
    }
    free(ps);
  }
  v = param(o->params, o->np, "PHASE");
  if (!rc && v) {
    if (!strcmp(v, "RUN"))
      rc = jobs_run(conn, o->id, err);
    else if (!strcmp(v, "ABORT"))
      rc = jobs_abort(conn, o->id, err);
    else
      return ts_fail(err, TS_EINVAL, 0, "PHASE must be RUN or ABORT, not \"%s\"", v);
    *did = 1;
  }
  return rc;
}

static void work_create(uws_op *o, PGconn *conn)
{
  const cfg *c = o->u->cfg;
  jobs_new n;
  const char *v;
  char id[40];
  jobs_param *ps = calloc(o->np + 1, sizeof *ps);
  if (!ps) {
    op_fail(o, TS_ENOMEM, "%s", "out of memory");
    return;
  }
  memset(&n, 0, sizeof n);
  if (tap_check_single_valued(o->params, o->np, &o->err)) {
    o->failed = 1;
    goto out;
  }
  n.execution_duration = c->jobs_duration_s;
  n.destruction_ms = ts_now_ms() + (int64_t)c->jobs_destruction_s * 1000;
  v = param(o->params, o->np, "PHASE");
  if (v && strcmp(v, "RUN") != 0) {
    op_fail(o, TS_EINVAL, "PHASE at job creation can only be RUN, not \"%s\"", v);
    goto out;
  }
  n.queue = v != NULL;
  n.run_id = param(o->params, o->np, "RUNID");
  v = param(o->params, o->np, "EXECUTIONDURATION");
  if (v) {
    int64_t s;
    if (ts_parse_int64(v, &s) || s < 0) {
      op_fail(o, TS_EINVAL, "EXECUTIONDURATION must be a whole number of seconds, not \"%s\"", v);
      goto out;
    }
    n.execution_duration = s;
  }
  n.execution_duration = cap_duration(c, n.execution_duration);
  v = param(o->params, o->np, "DESTRUCTION");
  if (v) {
    if (parse_iso(v, &n.destruction_ms)) {
      op_fail(o, TS_EINVAL, "DESTRUCTION must be an ISO 8601 time, not \"%s\"", v);
      goto out;
    }
    n.destruction_ms = cap_destruction(c, n.destruction_ms);
  }
  for (size_t i = 0; i < o->np; i++)
    if (!is_control(o->params[i].name)) {
      ps[n.nparams].name = o->params[i].name;
      ps[n.nparams++].value = o->params[i].value;
    }
  n.params = ps;
  if (jobs_create(conn, &n, id, &o->err)) {
    o->failed = 1;
    goto out;
  }
  snprintf(o->location, sizeof o->location, "%s/async/%s", c->base_url, id);
out:
  free(ps);
}

static void work_list(uws_op *o, PGconn *conn)
{
  jobs_filter f;
  jobs_job *js = NULL;
  size_t n = 0;
  ts_arena *a = ts_arena_new(0, 0);
  memset(&f, 0, sizeof f);
  if (!a) {
    op_fail(o, TS_ENOMEM, "%s", "out of memory");
    return;
  }
  for (size_t i = 0; i < o->np; i++) {
    const char *name = o->params[i].name, *v = o->params[i].value;
    if (ts_strcaseeq(name, "PHASE")) {
      jobs_phase p;
      if (jobs_phase_parse(v, &p)) {
        op_fail(o, TS_EINVAL, "PHASE must be a UWS phase name such as EXECUTING, not \"%s\"", v);
        goto out;
      }
      f.phase_mask |= 1u << p;
    } else if (ts_strcaseeq(name, "AFTER")) {
      if (parse_iso(v, &f.after_ms)) {
        op_fail(o, TS_EINVAL, "AFTER must be an ISO 8601 time, not \"%s\"", v);
        goto out;
      }
    } else if (ts_strcaseeq(name, "LAST")) {
      if (ts_parse_int64(v, &f.last) || f.last <= 0) {
        op_fail(o, TS_EINVAL, "LAST must be a positive integer, not \"%s\"", v);
        goto out;
      }
    }
  }
  /* Requests carry no identity yet: an anonymous request sees anonymous
   * jobs only where the operator allows it, because listing them would
   * hand out the ids that are their only protection. */
  if (o->u->cfg->jobs_list_anonymous) {
    f.owner = NULL;
    if (jobs_list(conn, a, &f, &js, &n, &o->err)) {
      o->failed = 1;
      goto out;
    }
  }
  if (uws_doc_jobs(&o->body, o->u->cfg, js, n, &o->err))
    o->failed = 1;
  o->ctype = "text/xml; charset=utf-8";
out:
  ts_arena_free(a);
}

static void work_get(uws_op *o, PGconn *conn)
{
  jobs_job *j = NULL;
  ts_arena *a;
  const char *s = o->sub;
  if (!strcmp(s, "phase")) {
    if (jobs_get_phase(conn, o->id, &o->phase, &o->err)) {
      o->failed = 1;
      return;
    }
    if (ts_buf_puts(&o->body, jobs_phase_name(o->phase)))
      op_fail(o, TS_ENOMEM, "%s", "out of memory");
    o->ctype = "text/plain; charset=utf-8";
    return;
  }
  a = ts_arena_new(0, 0);
  if (!a) {
    op_fail(o, TS_ENOMEM, "%s", "out of memory");
    return;
  }
  if (jobs_get(conn, a, o->id, &j, &o->err)) {
    o->failed = 1;
    goto out;
  }
  o->phase = j->phase;
  if (uws_doc_job(&o->body, o->u->cfg, j, s, &o->ctype, &o->err))
    o->failed = 1;
out:
  ts_arena_free(a);
}

static void work_post(uws_op *o, PGconn *conn)
{
  const char *base = o->u->cfg->base_url;
  const char *action = param(o->params, o->np, "ACTION");
  int did = 0;
  if (action) {
    if (!ts_strcaseeq(action, "DELETE") || o->sub[0]) {
      op_fail(o, TS_EINVAL, "ACTION must be DELETE (on the job), not \"%s\"", action);
      return;
    }
    if (jobs_delete(conn, &o->u->store, o->id, &o->err)) {
      o->failed = 1;
      return;
    }
    snprintf(o->location, sizeof o->location, "%s/async", base);
    return;
  }
  if (!strcmp(o->sub, "phase") && !param(o->params, o->np, "PHASE")) {
    op_fail(o, TS_EINVAL, "%s", "POST to phase needs PHASE=RUN or PHASE=ABORT");
    return;
  }
  if (!strcmp(o->sub, "executionduration") && !param(o->params, o->np, "EXECUTIONDURATION")) {
    op_fail(o, TS_EINVAL, "%s", "POST to executionduration needs EXECUTIONDURATION");
    return;
  }
  if (!strcmp(o->sub, "destruction") && !param(o->params, o->np, "DESTRUCTION")) {
    op_fail(o, TS_EINVAL, "%s", "POST to destruction needs DESTRUCTION");
    return;
  }
  if (apply_controls(o, conn, &did, &o->err)) {
    o->failed = 1;
    return;
  }
  if (!did) {
    /* Nothing to change: still answer for a job that does not exist. */
    jobs_phase p;
    if (jobs_get_phase(conn, o->id, &p, &o->err)) {
      o->failed = 1;
      return;
    }
  }
  snprintf(o->location, sizeof o->location, "%s/async/%s", base, o->id);
}

static void op_run(uws_op *o, PGconn *conn);

static void op_work(uv_work_t *w)
{
  uws_op *o = w->data;
  PGconn *conn = jobs_db_get(o->u->db, &o->err);
  if (!conn) {
    o->failed = 1;
    return;
  }
  op_run(o, conn);
  /* A pooled connection can die between its check and its statement (the
   * database restarting just then). Reading again on a new one is safe;
   * a change may have been made before the connection went, so it is not
   * repeated. */
  if (o->failed && o->err.code == TS_EUNAVAIL && (o->kind == OP_LIST || o->kind == OP_GET)) {
    jobs_db_put(o->u->db, conn);
    conn = jobs_db_get(o->u->db, &o->err);
    if (!conn)
      return;
    ts_buf_reset(&o->body);
    o->failed = 0;
    op_run(o, conn);
  }
  jobs_db_put(o->u->db, conn);
}

static void op_run(uws_op *o, PGconn *conn)
{
  switch (o->kind) {
  case OP_LIST:
    work_list(o, conn);
    break;
  case OP_CREATE:
    work_create(o, conn);
    break;
  case OP_GET:
    work_get(o, conn);
    break;
  case OP_POST:
    work_post(o, conn);
    break;
  case OP_DELETE:
    if (jobs_delete(conn, &o->u->store, o->id, &o->err))
      o->failed = 1;
    else
      snprintf(o->location, sizeof o->location, "%s/async", o->u->cfg->base_url);
    break;
  }
}

static void op_respond(uws_op *o)
{
  http_request *req = o->req;
  if (o->failed) {
    tap_send_error(req, &o->err);
  } else if (o->location[0]) {
    char hdr[1300];
    snprintf(hdr, sizeof hdr, "Location: %s\r\n", o->location);
    http_respond(req, 303, "text/plain; charset=utf-8", hdr, o->location, strlen(o->location));
  } else if (o->body.len == 0 && !o->body.data) {
    http_respond(req, 200, o->ctype, NULL, "", 0);
  } else {
    http_respond(req, 200, o->ctype, NULL, o->body.data, o->body.len);
  }
}

static void op_free(uws_op *o)
{
  ts_buf_free(&o->body);
  free(o);
}

static void wait_after(uws_op *o);

static void op_after(uv_work_t *w, int status)
{
  uws_op *o = w->data;
  (void)status;
  if (o->wait) {
    wait_after(o);
    return;
  }
  op_respond(o);
  op_free(o);
}

static void op_queue(uws_op *o)
{
  ts_buf_reset(&o->body);
  o->failed = 0;
  o->work.data = o;
  if (uv_queue_work(o->u->app->loop, &o->work, op_work, op_after) != 0) {
    o->failed = 1;
    ts_fail(&o->err, TS_EINTERNAL, 0, "cannot queue the request");
    op_after(&o->work, 0);
  }
}

static uws_op *op_new(uws *u, http_request *req, uws_opkind kind, const char *id, size_t idlen,
                      const char *sub)
{
  uws_op *o = calloc(1, sizeof *o);
  ts_error err;
  if (!o) {
    ts_fail(&err, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &err);
    return NULL;
  }
  o->u = u;
  o->req = req;
  o->kind = kind;
  o->sub = sub;
  if (id)
    snprintf(o->id, sizeof o->id, "%.*s", (int)idlen, id);
  ts_buf_init(&o->body, UWS_DOC_MAX);
  ts_error_clear(&o->err);
  if (http_request_params(req, &o->params, &o->np, &err)) {
    tap_send_error(req, &err);
    op_free(o);
    return NULL;
  }
  return o;
}

/* ---- WAIT ------------------------------------------------------------------ */

static int wait_active(jobs_phase p)
{
  return p == JOBS_PENDING || p == JOBS_QUEUED || p == JOBS_EXECUTING || p == JOBS_HELD ||
         p == JOBS_SUSPENDED;
}

static void wait_unlink(uws *u, uws_wait *w)
{
  for (uws_wait **pp = &u->waiters; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      return;
    }
}

static void wait_timer_closed(uv_handle_t *h)
{
  uws_wait *w = h->data;
  op_free(w->op);
  free(w);
}

static void wait_finish(uws_wait *w, int respond)
{
  uws *u = w->op->u;
  w->done = 1;
  wait_unlink(u, w);
  uv_timer_stop(&w->timer);
  if (respond)
    op_respond(w->op);
  else
    http_end(w->op->req, 0);
  uv_close((uv_handle_t *)&w->timer, wait_timer_closed);
}

static void wait_fetch(uws_wait *w)
{
  w->in_flight = 1;
  w->dirty = 0;
  op_queue(w->op);
}

static void wait_after(uws_op *o)
{
  uws_wait *w = o->wait;
  w->in_flight = 0;
  if (w->aborted) {
    wait_finish(w, 0);
    return;
  }
  if (o->failed || w->expired || atomic_load(&o->u->stopping)) {
    wait_finish(w, 1);
    return;
  }
  if (!w->have_initial) {
    w->have_initial = 1;
    w->initial = w->has_phase_param ? w->phase_param : o->phase;
    /* UWS 1.1: block only while the job is in an active phase (and in the
     * phase the client named, if it named one). */
    if (!wait_active(o->phase) || o->phase != w->initial) {
      wait_finish(w, 1);
      return;
    }
  } else if (o->phase != w->initial) {
    wait_finish(w, 1);
    return;
  }
  if (w->dirty)
    wait_fetch(w);
}

static void wait_on_timer(uv_timer_t *t)
{
  uws_wait *w = t->data;
  w->expired = 1;
  if (!w->in_flight)
    wait_fetch(w);
}

static void wait_on_abort(void *ud)
{
  uws_wait *w = ud;
  if (w->done)
    return;
  w->aborted = 1;
  if (!w->in_flight)
    wait_finish(w, 0);
}

/* A NOTIFY about job `id`: every waiter on it looks again. */
static void wait_wake(uws *u, const char *id)
{
  for (uws_wait *w = u->waiters; w; w = w->next) {
    if (!id || !strcmp(w->op->id, id)) {
      if (w->in_flight)
        w->dirty = 1;
      else if (w->have_initial)
        wait_fetch(w);
    }
  }
}

static void start_wait(uws *u, uws_op *o, int64_t secs)
{
  uws_wait *w = calloc(1, sizeof *w);
  const char *pp = param(o->params, o->np, "PHASE");
  if (!w) {
    op_queue(o);
    return;
  }
  if (pp) {
    if (jobs_phase_parse(pp, &w->phase_param)) {
      ts_error e;
      free(w);
      ts_fail(&e, TS_EINVAL, 0, "PHASE must be a UWS phase name, not \"%s\"", pp);
      tap_send_error(o->req, &e);
      op_free(o);
      return;
    }
    w->has_phase_param = 1;
  }
  w->op = o;
  o->wait = w;
  /* Registered before the first fetch: a change committed after that
   * fetch's snapshot always finds the waiter. */
  w->next = u->waiters;
  u->waiters = w;
  uv_timer_init(u->app->loop, &w->timer);
  w->timer.data = w;
  uv_timer_start(&w->timer, wait_on_timer, (uint64_t)secs * 1000, 0);
  http_on_abort(o->req, wait_on_abort, w);
  wait_fetch(w);
}

/* ---- downloads --------------------------------------------------------------- */

/* Where the end of a streamed download stands (tap_result's on_done may
 * come from within tap_result_finish or later). */
enum { DL_TR_NONE, DL_TR_FINISHING, DL_TR_WAITING, DL_TR_DONE };

typedef struct uws_dl {
  ts_work work; /* on u->dlq */
  uws *u;
  http_request *req;
  ts_arena *a;
  char id[40];
  char reqid[17]; /* for the log once req is gone */
  char key[48];   /* the format's key in encoded_sizes (name;version=V) */
  const char *rf; /* RESPONSEFORMAT of the download URL */
  const char *range, *if_range;
  /* from prep */
  jobs_job *job;
  jobs_result_info res;
  stream_schema schema;
  const fmt_type *fmt;
  fmt_info info;
  char date[32];
  int64_t size;   /* encoded size in fmt, -1 unknown */
  int size_wrong; /* the encoder wrote another size than the recorded one */
  PGconn *conn;
  jobs_store_reader *rd;
  ts_error err;
  ts_err rc;
  /* range */
  int ranged, unsatisfiable;
  uint64_t start, end; /* inclusive */
  char etag[112];      /* without the quotes */
  /* streaming: every download goes through tap_result (sized, ranged or
   * chunked; Content-Encoding, the gzip file of votable_gzip, spooled
   * formats, error trailers), which counts the bytes the encoder wrote:
   * they become the recorded size when a download of unknown size
   * completes. */
  uint8_t *buf;
  size_t len;
  stream_copydec *dec;
  int started, aborted, in_flight, blocked, ok, ended, head;
  tap_result *tr;
  int tr_end, tr_complete; /* tr_end: DL_TR_* */
  uint64_t encoded;        /* from tap_result's on_done */
} uws_dl;

/* Decodes a block of the stored COPY stream into the response; stops
 * early once a range has gone out. */
static ts_err feed_block(stream_copydec *dec, tap_result *tr, const uint8_t *buf, size_t len,
                         ts_error *err)
{
  size_t off = 0;
  while (off < len && !tap_result_range_done(tr)) {
    size_t used = 0;
    stream_batch b;
    memset(&b, 0, sizeof b);
    ts_err rc = stream_copydec_feed(dec, buf + off, len - off, &used, &b, err);
    if (rc)
      return rc;
    off += used;
    if (b.nrows) {
      rc = tap_result_rows(tr, &b, err);
      if (rc)
        return rc;
    } else if (used == 0) {
      break;
    }
  }
  return TS_OK;
}

/* The key of a format in tapserve.results.encoded_sizes, and its ETag
 * (without quotes): the serialisation and the VOTable version written are
 * part of both, so "votable", "votable/td" and their version=1.5 variants
 * never share a size or an ETag. */
static void dl_keys(uws_dl *d)
{
  const fmt_type *f = d->fmt;
  snprintf(d->key, sizeof d->key, "%s%s%s", f->name, f->votable_version ? ";version=" : "",
           f->votable_version ? f->votable_version : "");
  snprintf(d->etag, sizeof d->etag, "%s-%s-%s%s%s", d->id, d->res.name, f->name,
           f->votable_version ? "-v" : "", f->votable_version ? f->votable_version : "");
  for (char *p = d->etag; *p; p++)
    if (*p == '/' || *p == '"' || *p == '\\' || (unsigned char)*p <= ' ')
      *p = '_';
}

static void dl_prep(uws_dl *d)
{
  const char *rf;
  d->rc = jobs_get(d->conn, d->a, d->id, &d->job, &d->err);
  if (d->rc)
    return;
  if (d->job->phase != JOBS_COMPLETED || d->job->nresults == 0) {
    d->rc = ts_fail(&d->err, TS_ENOTFOUND, 0, "job %s has no result (it is %s)", d->id,
                    jobs_phase_name(d->job->phase));
    return;
  }
  d->res = d->job->results[0];
  rf = d->rf;
  if (!rf || !*rf)
    rf = jobs_param_get(d->job, "responseformat");
  if (!rf || !*rf)
    rf = jobs_param_get(d->job, "format");
  d->fmt = rf && *rf ? fmt_lookup(rf) : fmt_default();
  if (!d->fmt) {
    d->rc = ts_fail(&d->err, TS_EINVAL, 0,
                    "unknown RESPONSEFORMAT \"%s\" (see /capabilities for the formats)", rf);
    return;
  }
  d->rc = jobs_result_schema(d->conn, d->a, d->id, d->res.name, &d->schema, &d->err);
  if (d->rc)
    return;
  /* Everything the encoder sees comes from the stored job, so the bytes of
   * one format are the same on every download and every instance. */
  memset(&d->info, 0, sizeof d->info);
  d->info.query = jobs_param_get(d->job, "query");
  ts_iso8601(d->date, d->job->creation_ms, 0);
  d->info.request_date = d->date;
  d->info.service = "tapserve " TAPSERVE_VERSION;
  d->info.table_name = "result";
  d->info.maxrec = -1;
  const char *mr = jobs_param_get(d->job, "maxrec");
  if (mr && ts_parse_int64(mr, &d->info.maxrec))
    d->info.maxrec = -1;
  dl_keys(d);
  d->rc = jobs_result_size_get(d->conn, d->id, d->res.name, d->key, &d->size, &d->err);
  if (d->rc)
    return;
  if (d->fmt->body_encoding)
    d->range = NULL; /* compressed as a whole: served through tap_result only */
  /* A range in a format whose size is not known yet is not served: the
   * whole result goes out (RFC 9110 lets a server ignore Range), and its
   * bytes counted on the way become the size. No encoding pass ever runs
   * only to count. */
  d->rc = jobs_store_reader_open(&d->u->store, d->conn, d->id, &d->res, &d->rd, &d->err);
}

/* A download holds a jobs connection only while it works on the download
 * threads, never while it waits for its client: N stalled clients must not
 * hold N of the pool's connections. */
static void dl_prep_work(ts_work *w)
{
  uws_dl *d = w->data;
  d->conn = jobs_db_get(d->u->db, &d->err);
  if (!d->conn) {
    d->rc = d->err.code;
    return;
  }
  dl_prep(d);
  if (d->rd)
    jobs_store_reader_use(d->rd, NULL);
  jobs_db_put(d->u->db, d->conn);
  d->conn = NULL;
}

/* Records what the download learnt: the size of a format whose whole
 * document went out (counted on the way, so later downloads are sized and
 * ranges served), or that a recorded size was wrong. A download that was
 * aborted or failed changes nothing. */
static void dl_close_work(ts_work *w)
{
  uws_dl *d = w->data;
  ts_error e;
  int learnt = d->ok && d->tr_complete && !d->head && d->size < 0 && !d->fmt->body_encoding;
  jobs_store_reader_free(d->rd);
  d->rd = NULL;
  if (!learnt && !d->size_wrong)
    return;
  d->conn = jobs_db_get(d->u->db, &e);
  if (!d->conn)
    ts_log(TS_LOG_WARN, d->reqid, "job %s: cannot record the %s size: %s", d->id, d->key, e.msg);
  if (d->conn && learnt &&
      jobs_result_size_set(d->conn, d->id, d->res.name, d->key, (int64_t)d->encoded, &e))
    ts_log(TS_LOG_WARN, d->reqid, "job %s: cannot record the %s size: %s", d->id, d->key, e.msg);
  if (d->conn && d->size_wrong && jobs_result_size_set(d->conn, d->id, d->res.name, d->key, -1, &e))
    ts_log(TS_LOG_WARN, d->reqid, "job %s: cannot forget the %s size: %s", d->id, d->key, e.msg);
  jobs_db_put(d->u->db, d->conn);
  d->conn = NULL;
}

static void dl_free(uws_dl *d)
{
  stream_copydec_free(d->dec);
  free(d->buf);
  ts_arena_free(d->a);
  free(d);
}

static void dl_close_after(ts_work *w)
{
  uws_dl *d = w->data;
  ts_log(TS_LOG_DEBUG, d->reqid, "job %s: download of %s ended: %s, %s%lld bytes%s", d->id, d->key,
         d->ok && (!d->tr_end || d->tr_complete) ? "complete"
         : d->aborted                            ? "aborted"
                                                 : "failed",
         d->size < 0 ? "streamed " : "sized ", (long long)d->encoded,
         d->ok && d->tr_complete && !d->head && d->size < 0 && !d->fmt->body_encoding
             ? " (size recorded)"
             : "");
  dl_free(d);
}

/* Queues the next step of a download on the download threads. */
static ts_err dl_submit(uws_dl *d, ts_work_fn work, ts_work_fn done)
{
  d->work.data = d;
  return ts_workq_submit(d->u->dlq, &d->work, work, done);
}

/* The response has ended and the request is done with: record what was
 * learnt, then release everything. */
static void dl_release(uws_dl *d)
{
  if (dl_submit(d, dl_close_work, dl_close_after)) {
    dl_close_work(&d->work);
    dl_free(d);
  }
}

/* tap_result's on_done: a download has really ended. */
static void dl_on_done(void *ud, const tap_result_end *end)
{
  uws_dl *d = ud;
  d->tr_complete = end->complete;
  d->size_wrong = end->size_wrong;
  d->encoded = end->encoded;
  if (d->tr_end == DL_TR_WAITING)
    dl_release(d);
  else
    d->tr_end = DL_TR_DONE; /* within tap_result_finish: dl_end releases */
}

/* Ends the response (ok: complete) and releases everything. */
static void dl_end(uws_dl *d, int ok)
{
  if (d->ended)
    return;
  d->ended = 1;
  d->ok = ok;
  if (d->tr) {
    ts_err rc = ok ? TS_OK : d->err.code ? d->err.code : TS_EIO;
    tap_result *tr = d->tr;
    d->tr = NULL;
    /* The document may still be going out (a spooled format, a slow
     * client): on_done says when it has ended, and how long it was. */
    d->tr_end = DL_TR_FINISHING;
    tap_result_finish(tr, rc, &d->err, d->res.overflow);
    if (d->tr_end == DL_TR_FINISHING) {
      d->tr_end = DL_TR_WAITING; /* on_done releases */
      return;
    }
  } else if (!d->started && !d->aborted) {
    ts_error e = d->err;
    if (!e.code)
      ts_fail(&e, TS_EINTERNAL, 0, "the download failed");
    tap_send_error(d->req, &e);
  } else {
    http_end(d->req, ok);
  }
  dl_release(d);
}

static void dl_read(uws_dl *d);

/* The stored stream has ended: tap_result writes the trailer. */
static void dl_finish_stream(uws_dl *d)
{
  ts_err rc = stream_copydec_finish(d->dec, &d->err);
  if (rc)
    ts_log(TS_LOG_WARN, d->req->reqid, "download of job %s failed: %s", d->id, d->err.msg);
  dl_end(d, rc == TS_OK);
}

static void dl_read_work(ts_work *w)
{
  uws_dl *d = w->data;
  PGconn *conn = NULL;
  if (d->res.store && !strcmp(d->res.store, "pg")) { /* chunks come through a jobs connection */
    conn = jobs_db_get(d->u->db, &d->err);
    if (!conn) {
      d->rc = d->err.code;
      return;
    }
    jobs_store_reader_use(d->rd, conn);
  }
  d->rc = jobs_store_read(d->rd, d->buf, DL_BLOCK, &d->len, &d->err);
  jobs_store_reader_use(d->rd, NULL);
  jobs_db_put(d->u->db, conn);
}

static void dl_read_after(ts_work *w)
{
  uws_dl *d = w->data;
  d->in_flight = 0;
  if (d->aborted || d->rc) {
    dl_end(d, 0);
    return;
  }
  if (d->len == 0) {
    dl_finish_stream(d);
    return;
  }
  d->rc = feed_block(d->dec, d->tr, d->buf, d->len, &d->err);
  if (d->rc || d->aborted) {
    dl_end(d, 0);
    return;
  }
  if (tap_result_range_done(d->tr)) {
    dl_end(d, 1); /* the rest of the document is not needed */
    return;
  }
  if (tap_result_blocked(d->tr)) {
    d->blocked = 1; /* on_drain reads on */
    return;
  }
  dl_read(d);
}

static void dl_read(uws_dl *d)
{
  d->in_flight = 1;
  if (dl_submit(d, dl_read_work, dl_read_after)) {
    d->in_flight = 0;
    dl_end(d, 0);
  }
}

static void dl_on_drain(void *ud)
{
  uws_dl *d = ud;
  if (d->blocked && !d->ended) {
    d->blocked = 0;
    dl_read(d);
  }
}

static void dl_on_abort(void *ud)
{
  uws_dl *d = ud;
  d->aborted = 1;
  if (!d->in_flight && !d->ended)
    dl_end(d, 0);
}

static const tap_result_hooks dl_hooks = {dl_on_drain, dl_on_abort, dl_on_done};

static void dl_prep_after(ts_work *w)
{
  uws_dl *d = w->data;
  d->in_flight = 0;
  if (d->rc || d->aborted) {
    dl_end(d, 0);
    return;
  }
  if (http_if_range_matches(d->if_range, d->etag)) {
    http_range_result rr = http_range_parse(d->range, d->size, &d->start, &d->end);
    d->ranged = rr == HTTP_RANGE_PARTIAL;
    d->unsatisfiable = rr == HTTP_RANGE_UNSATISFIABLE;
  }
  if (d->unsatisfiable) {
    char hdr[96];
    snprintf(hdr, sizeof hdr, "Content-Range: bytes */%lld\r\n", (long long)d->size);
    http_respond(d->req, 416, "text/plain; charset=utf-8", hdr, "range not satisfiable\n", 22);
    d->started = 1;
    d->ended = 1;
    dl_release(d);
    return;
  }
  d->tr = tap_result_new(d->req, d->fmt, &dl_hooks, d);
  if (!d->tr) {
    ts_fail(&d->err, TS_ENOMEM, 0, "out of memory");
    dl_end(d, 0);
    return;
  }
  tap_result_set_etag(d->tr, d->etag);
  tap_result_set_name(d->tr, d->id);
  if (d->size >= 0)
    tap_result_set_size(d->tr, (uint64_t)d->size, d->ranged, d->start, d->end);
  if (d->req->is_head) {
    /* The head says everything (Content-Length once the size is known);
     * nothing to encode. */
    d->head = 1;
    dl_end(d, 1);
    return;
  }
  d->buf = malloc(DL_BLOCK);
  d->dec = stream_copydec_new(d->schema.ncols, (size_t)d->u->cfg->fetch_size);
  if (!d->buf || !d->dec) {
    ts_fail(&d->err, TS_ENOMEM, 0, "out of memory");
    dl_end(d, 0);
    return;
  }
  if (tap_result_begin(d->tr, &d->schema, &d->info, &d->err)) {
    dl_end(d, 0);
    return;
  }
  dl_read(d);
}

static void start_download(uws *u, http_request *req, const char *id, size_t idlen)
{
  uws_dl *d = calloc(1, sizeof *d);
  http_param *ps = NULL;
  size_t np = 0;
  ts_error err;
  if (!d || !(d->a = ts_arena_new(0, 0))) {
    free(d);
    ts_fail(&err, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &err);
    return;
  }
  if (http_request_params(req, &ps, &np, &err)) {
    ts_arena_free(d->a);
    free(d);
    tap_send_error(req, &err);
    return;
  }
  d->u = u;
  d->req = req;
  d->size = -1;
  snprintf(d->id, sizeof d->id, "%.*s", (int)idlen, id);
  snprintf(d->reqid, sizeof d->reqid, "%s", req->reqid);
  d->rf = param(ps, np, "RESPONSEFORMAT");
  if (!d->rf)
    d->rf = param(ps, np, "FORMAT");
  d->range = http_header_get(req, "range");
  d->if_range = http_header_get(req, "if-range");
  ts_error_clear(&d->err);
  http_on_abort(req, dl_on_abort, d);
  http_on_drain(req, dl_on_drain, d);
  d->in_flight = 1;
  if (dl_submit(d, dl_prep_work, dl_prep_after)) {
    ts_fail(&d->err, TS_EINTERNAL, 0, "cannot queue the request");
    d->in_flight = 0;
    dl_end(d, 0);
  }
}

/* ---- executors --------------------------------------------------------------- */

enum {
  STRAY_AGE_S = 60,         /* an own EXECUTING job no executor runs, this old, is re-queued */
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
} exec_run;

static const char *job_param(const void *src, const char *name)
{
  return jobs_param_get(src, name);
}

/* Checks the job's parameters and translates its query (the rules of
 * /sync). */
static ts_err exec_prepare(exec_run *x, ts_error *err)
{
  tap_query tq;
  ts_err rc = tap_prepare_query(x->e->u->app, job_param, x->job, x->a, &tq, err);
  if (rc)
    return rc;
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

/* The stored stream is written with the canonical header and trailer
 * around PostgreSQL's tuples. */
static ts_err exec_tuple(void *ud, const uint8_t *p, size_t n, ts_error *err)
{
  exec_run *x = ud;
  return jobs_store_write(x->w, p, n, err);
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
  if (atomic_load(&u->stopping))
    return 3;
  if (x->deadline_ms && now > x->deadline_ms)
    return 2;
  if (now >= x->next_check_ms) {
    jobs_phase p;
    ts_error e;
    x->next_check_ms = now + PHASE_CHECK_MS;
    /* On the state connection, which may be inside the pg store's
     * transaction: READ COMMITTED still sees an abort committed since. */
    ts_err rc = jobs_get_phase(x->e->state, x->job->id, &p, &e);
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

/* One execution of the job into the store; TS_OK once it is COMPLETED.
 * The result of a failed execution is removed, except when the completion
 * itself lost its connection: it may have committed, and the next
 * execution (if there is one) writes the same file again. */
static ts_err exec_once(uws_exec *e, jobs_job *job, ts_arena *a, exec_run *x, ts_error *err)
{
  uws *u = e->u;
  const cfg *c = u->cfg;
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
    rc = ensure_conn(&e->query, c->query_dsn[0] ? c->query_dsn : c->dsn, err);
  if (!rc)
    rc = jobs_set_backend_pid(e->state, job->id, u->instance, PQbackendPID(e->query), err);
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
    rc = jobs_complete(e->state, job->id, u->instance, &res, cols.data,
                       u->store.kind == JOBS_STORE_PG, err);
    keep = !rc || rc == TS_EUNAVAIL;
    if (!rc)
      ts_log(TS_LOG_INFO, NULL, "job %s: COMPLETED, %lld rows%s, %lld bytes stored (%lld raw)",
             job->id, (long long)x->copy.tuples, x->copy.overflow ? " (overflow)" : "",
             (long long)res.bytes, (long long)res.raw_bytes);
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
  while (!atomic_load(&u->stopping) && ts_now_ms() < end)
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
    if (atomic_load(&u->stopping))
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
      if (!atomic_load(&u->stopping)) {
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
    /* Shutdown: the job goes back to the queue (or fails), per on_restart. */
    if (!strcmp(c->jobs_on_restart, "requeue"))
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
  if (jobs_fail(e->state, job->id, u->instance, err.msg, &e2) && e2.code != TS_ECANCELED)
    ts_log(TS_LOG_WARN, NULL, "job %s: cannot record its error: %s", job->id, e2.msg);
}

static void exec_main(void *arg)
{
  uws_exec *e = arg;
  uws *u = e->u;
  const cfg *c = u->cfg;
  unsigned seen = 0;
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
    a = ts_arena_new(0, TS_QUERY_ARENA_CAP);
    if (a && !ensure_conn(&e->state, c->dsn, &err) &&
        !jobs_claim(e->state, a, u->instance, c->jobs_max_per_user, &job, &err) && job) {
      pthread_mutex_lock(&u->mu);
      snprintf(e->job_id, sizeof e->job_id, "%s", job->id);
      atomic_store(&e->abort, 0);
      pthread_mutex_unlock(&u->mu);
      ts_log(TS_LOG_INFO, NULL, "job %s: EXECUTING", job->id);
      exec_job(e, job, a);
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

static void kick_executors(uws *u)
{
  pthread_mutex_lock(&u->mu);
  u->kick++;
  pthread_cond_broadcast(&u->cv);
  pthread_mutex_unlock(&u->mu);
}

/* ---- job events --------------------------------------------------------------- */

/* A job changed on some instance: executors look for queued work, an
 * executor running an aborted or deleted job stops, and every WAIT on the
 * job fetches it again (events are hints: the phase is re-read). */
static void on_job_event(void *ud, const jobs_event *ev)
{
  uws *u = ud;
  if (ev->has_phase && ev->phase == JOBS_QUEUED)
    kick_executors(u);
  if (ev->kind == JOBS_EV_JOB_REMOVED || (ev->has_phase && ev->phase == JOBS_ABORTED)) {
    pthread_mutex_lock(&u->mu);
    for (int i = 0; i < u->nexec; i++)
      if (!strcmp(u->execs[i].job_id, ev->id))
        atomic_store(&u->execs[i].abort, 1);
    pthread_mutex_unlock(&u->mu);
  }
  wait_wake(u, ev->id);
}

/* Events may have been missed: every waiter looks again, and so does
 * every idle executor. */
static void on_recheck(void *ud)
{
  uws *u = ud;
  wait_wake(u, NULL);
  kick_executors(u);
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
  co.running = running_jobs;
  co.ud = u;
  rc = jobs_cluster_start(&co, &u->cluster, &n, err);
  if (rc)
    return rc;
  snprintf(u->instance, sizeof u->instance, "%s", jobs_cluster_instance(u->cluster));
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
    if (uv_thread_create(&u->execs[i].th, exec_main, &u->execs[i]) != 0)
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
  /* WAIT requests answer now rather than hold the shutdown. */
  wait_wake(u, NULL);
  for (uws_wait *w = u->waiters; w; w = w->next)
    w->expired = 1;
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

int uws_job_id_ok(const char *id, size_t len)
{
  return valid_id(id, len);
}

/* The jobs, or a 503 answered when async jobs are not running. */
static uws *jobs_of(ts_app *app, http_request *req)
{
  ts_error e;
  if (app->uws)
    return app->uws;
  ts_fail(&e, TS_EUNAVAIL, 0, "async jobs are not available");
  tap_send_error(req, &e);
  return NULL;
}

void uws_jobs_get(ts_app *app, http_request *req)
{
  uws *u = jobs_of(app, req);
  uws_op *o = u ? op_new(u, req, OP_LIST, NULL, 0, "") : NULL;
  if (o)
    op_queue(o);
}

void uws_jobs_post(ts_app *app, http_request *req)
{
  uws *u = jobs_of(app, req);
  uws_op *o = u ? op_new(u, req, OP_CREATE, NULL, 0, "") : NULL;
  if (o)
    op_queue(o);
}

void uws_job_get(ts_app *app, http_request *req, const char *id, const char *sub)
{
  uws *u = jobs_of(app, req);
  uws_op *o = u ? op_new(u, req, OP_GET, id, strlen(id), sub) : NULL;
  if (!o)
    return;
  const char *wv = !sub[0] ? param(o->params, o->np, "WAIT") : NULL;
  if (wv) {
    int64_t secs;
    if (ts_parse_int64(wv, &secs) || secs < -1) {
      ts_error e;
      ts_fail(&e, TS_EINVAL, 0, "WAIT must be a number of seconds (or -1), not \"%s\"", wv);
      tap_send_error(req, &e);
      op_free(o);
      return;
    }
    if (secs < 0 || secs > u->cfg->jobs_wait_max_s)
      secs = u->cfg->jobs_wait_max_s;
    if (secs > 0 && !atomic_load(&u->stopping)) {
      start_wait(u, o, secs);
      return;
    }
  }
  op_queue(o);
}

void uws_job_post(ts_app *app, http_request *req, const char *id, const char *sub)
{
  uws *u = jobs_of(app, req);
  uws_op *o = u ? op_new(u, req, OP_POST, id, strlen(id), sub) : NULL;
  if (o)
    op_queue(o);
}

void uws_job_delete(ts_app *app, http_request *req, const char *id)
{
  uws *u = jobs_of(app, req);
  uws_op *o = u ? op_new(u, req, OP_DELETE, id, strlen(id), "") : NULL;
  if (o)
    op_queue(o);
}

void uws_job_result(ts_app *app, http_request *req, const char *id)
{
  uws *u = jobs_of(app, req);
  if (u)
    start_download(u, req, id, strlen(id));
}
