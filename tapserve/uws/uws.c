/* UWS 1.1 async jobs: the /async resources (list, create, get, post,
 * controls, delete) and the op queue that runs their statements; start,
 * stop and the bus subscriptions are uws_life.c's. WAIT is uws_wait.c's, the executors that run
 * queued jobs into the result store uws_exec.c's, result downloads uws_dl.c's, the documents
 * uws_xml.c's. Job events from the bus (jobs/events.h) wake WAIT requests and idle executors; the
 * heartbeat, recovery and the sweeper are jobs/cluster.h's.
 *
 * Threads: the HTTP side runs on the loop and hands every database
 * statement to libuv's thread pool (jobs/ is blocking libpq), so the loop
 * never waits on PostgreSQL. Each executor is a thread of its own
 * (uws_exec.c). The loop tells executors about aborts through an atomic
 * flag (from NOTIFY), and each executor also re-reads its job's phase
 * every second, so an abort from any instance stops the query within
 * about a second even without the right to pg_cancel_backend.
 * docs/internals/jobs.md has the whole picture. */
#include "tapserve/uws/uws_int.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- small helpers ---------------------------------------------------------- */

const char *uws__param(http_param *p, size_t n, const char *name)
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

static int64_t cap_duration(const cfg *c, int64_t want)
{
  if (want < 0)
    want = c->jobs_duration_s;
  if (c->jobs_duration_max_s && (want == 0 || want > c->jobs_duration_max_s))
    want = c->jobs_duration_max_s;
  return want > UWS_DURATION_MAX_S ? UWS_DURATION_MAX_S : want;
}

static int64_t cap_destruction(const cfg *c, int64_t want_ms)
{
  int64_t max = ts_now_ms() + (int64_t)c->jobs_destruction_max_s * 1000;
  return want_ms > max ? max : want_ms;
}

/* ---- requests: each is one work item on libuv's pool -------------------------- */

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

/* The job parameters of a request: every one but the UWS controls, with
 * several UPLOAD parameters joined into one (a job keeps one value per
 * name). Allocated in a; *upload is the joined UPLOAD or NULL. */
static ts_err job_params(uws_op *o, ts_arena *a, jobs_param **out, size_t *n, const char **upload,
                         ts_error *err)
{
  jobs_param *ps = ts_arena_calloc(a, o->np + 1, sizeof *ps);
  size_t k = 0;
  if (!ps)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  *upload = tap_upload_join(o->params, o->np, a);
  for (size_t i = 0; i < o->np; i++) {
    const char *name = o->params[i].name;
    if (is_control(name) || ts_strcaseeq(name, "UPLOAD"))
      continue;
    ps[k].name = name;
    ps[k++].value = o->params[i].value;
  }
  if (*upload) {
    ps[k].name = "upload";
    ps[k++].value = *upload;
  }
  *out = ps;
  *n = k;
  return TS_OK;
}

/* A request's UPLOAD for a job: refs, the files of its inline and URL
 * uploads, and the jobs whose results it reads. */
typedef struct job_up {
  tap_upload_ref *refs;
  tap_upload_file *files;
  size_t n;
  const char **ids;
  size_t nids;
} job_up;

/* Checks UPLOAD without changing anything: the pairs, the source jobs
 * (they exist and can still give a result), the request's parts. */
static ts_err job_uploads_check(uws_op *o, PGconn *conn, const char *upload, ts_arena *a, job_up *j,
                                ts_error *err)
{
  const cfg *c = o->u->cfg;
  ts_err rc = tap_upload_parse(c, upload, a, &j->refs, &j->n, err);
  if (!rc)
    rc = tap_upload_sources(conn, o->who.user.id, j->refs, j->n, a, &j->ids, &j->nids, err);
  if (!rc)
    rc = tap_upload_resolve(o->req, o->params, o->np, j->refs, j->n, c->spool_dir, &j->files, err);
  return rc;
}

/* Loads the inline and URL uploads of job `id` now, from this request, so
 * that any instance can run it; the tables it had are replaced. (Its job:
 * uploads load when it runs, once their jobs are final.) */
static ts_err job_uploads_load(uws_op *o, PGconn *conn, const char *id, const job_up *j,
                               ts_error *err)
{
  tap_upload_env env;
  ts_err rc;
  memset(&env, 0, sizeof env);
  env.c = o->u->cfg;
  env.db = o->u->db;
  env.store = &o->u->store;
  env.query_role = o->u->app->upload_role;
  env.owner.job_id = id;
  env.caller = o->who.user.id;
  rc = jobs_upload_drop(conn, &env.owner, NULL, err);
  if (!rc)
    rc = tap_upload_load_files(&env, conn, j->files, j->n, err);
  return rc;
}

static ts_err apply_controls(uws_op *o, PGconn *conn, ts_error *err)
{
  const cfg *c = o->u->cfg;
  const char *v;
  ts_err rc = tap_check_single_valued(o->params, o->np, err);
  if (rc)
    return rc;
  v = uws__param(o->params, o->np, "RUNID");
  if (v)
    rc = jobs_set_run_id(conn, o->id, v, err);
  v = uws__param(o->params, o->np, "EXECUTIONDURATION");
  if (!rc && v) {
    int64_t s;
    if (ts_parse_int64(v, &s) || s < 0)
      return ts_fail(err, TS_EINVAL, 0, "EXECUTIONDURATION must be a whole number of seconds");
    rc = jobs_set_execution_duration(conn, o->id, cap_duration(c, s), err);
  }
  v = uws__param(o->params, o->np, "DESTRUCTION");
  if (!rc && v) {
    int64_t ms;
    if (parse_iso(v, &ms))
      return ts_fail(err, TS_EINVAL, 0, "DESTRUCTION must be an ISO 8601 time, not \"%s\"", v);
    rc = jobs_set_destruction(conn, o->id, cap_destruction(c, ms), err);
  }
  /* Ordinary parameters (on the job or on /parameters). A new UPLOAD is
   * checked and its dependencies replace the old ones in the same
   * transaction, so a refused one (a cycle) changes nothing. */
  if (!rc && (!strcmp(o->sub, "") || !strcmp(o->sub, "parameters"))) {
    size_t k = 0;
    jobs_param *ps = NULL;
    const char *upload = NULL;
    job_up j;
    ts_arena *a = ts_arena_new(0, 0);
    memset(&j, 0, sizeof j);
    if (!a)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    rc = job_params(o, a, &ps, &k, &upload, err);
    if (!rc && upload)
      rc = job_uploads_check(o, conn, upload, a, &j, err); /* refused before any change */
    if (!rc && k) {
      /* the parameters and the dependencies in one transaction, the
       * tables (each loaded in its own) after them */
      PQclear(PQexec(conn, "BEGIN"));
      rc = jobs_set_params(conn, o->id, ps, k, err);
      if (!rc && upload)
        rc = jobs_set_deps(conn, o->id, j.ids, j.nids, err);
      PQclear(PQexec(conn, rc ? "ROLLBACK" : "COMMIT"));
      if (!rc && upload)
        rc = job_uploads_load(o, conn, o->id, &j, err);
    }
    ts_arena_free(a);
  }
  v = uws__param(o->params, o->np, "PHASE");
  if (!rc && v) {
    if (!strcmp(v, "RUN"))
      rc = jobs_run(conn, o->id, o->u->instance, err);
    else if (!strcmp(v, "ABORT"))
      rc = jobs_abort(conn, o->id, o->u->instance, err);
    else
      return ts_fail(err, TS_EINVAL, 0, "PHASE must be RUN or ABORT, not \"%s\"", v);
  }
  return rc;
}

static void work_create(uws_op *o, PGconn *conn)
{
  const cfg *c = o->u->cfg;
  jobs_new n;
  const char *v;
  char id[40];
  jobs_param *ps = NULL;
  const char *upload = NULL;
  job_up j;
  ts_arena *a = ts_arena_new(0, 0);
  memset(&j, 0, sizeof j);
  if (!a) {
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
  v = uws__param(o->params, o->np, "PHASE");
  if (v && strcmp(v, "RUN") != 0) {
    op_fail(o, TS_EINVAL, "PHASE at job creation can only be RUN, not \"%s\"", v);
    goto out;
  }
  n.queue = v != NULL;
  n.instance = o->u->instance;
  /* The job is the caller's: a user's, else the anonymous browser's of
   * the owner cookie, which a first creation sets. */
  if (o->who.user.id) {
    n.owner = o->who.user.name;
    n.owner_id = o->who.user.id;
  } else {
    if (!o->who.has_anon) {
      ts_buf h;
      ts_buf_init(&h, sizeof o->set_cookie - 1);
      if (plus_anon_owner_new(c, &h, o->who.anon, &o->err)) {
        ts_buf_free(&h);
        o->failed = 1;
        goto out;
      }
      snprintf(o->set_cookie, sizeof o->set_cookie, "%s", h.data);
      ts_buf_free(&h);
      o->who.has_anon = 1;
    }
    n.anon_owner = o->who.anon;
  }
  /* The client as resolved through trusted proxies: anonymous jobs of
   * different clients count against different per-owner limits. */
  n.client = o->req->remote_addr;
  n.run_id = uws__param(o->params, o->np, "RUNID");
  v = uws__param(o->params, o->np, "EXECUTIONDURATION");
  if (v) {
    int64_t s;
    if (ts_parse_int64(v, &s) || s < 0) {
      op_fail(o, TS_EINVAL, "EXECUTIONDURATION must be a whole number of seconds, not \"%s\"", v);
      goto out;
    }
    n.execution_duration = s;
  }
  n.execution_duration = cap_duration(c, n.execution_duration);
  v = uws__param(o->params, o->np, "DESTRUCTION");
  if (v) {
    if (parse_iso(v, &n.destruction_ms)) {
      op_fail(o, TS_EINVAL, "DESTRUCTION must be an ISO 8601 time, not \"%s\"", v);
      goto out;
    }
    n.destruction_ms = cap_destruction(c, n.destruction_ms);
  }
  if (job_params(o, a, &ps, &n.nparams, &upload, &o->err) ||
      (upload && job_uploads_check(o, conn, upload, a, &j, &o->err))) {
    o->failed = 1;
    goto out;
  }
  n.params = ps;
  /* With uploads the job is queued only once its dependencies are
   * recorded: an executor must not claim it before. */
  int queue = n.queue;
  n.queue = queue && !upload;
  if (jobs_create(conn, &n, id, &o->err)) {
    o->failed = 1;
    goto out;
  }
  if (upload && (jobs_set_deps(conn, id, j.ids, j.nids, &o->err) ||
                 job_uploads_load(o, conn, id, &j, &o->err) ||
                 (queue && jobs_run(conn, id, o->u->instance, &o->err)))) {
    ts_error e2;
    jobs_delete(conn, &o->u->store, id, &e2);
    o->failed = 1;
    goto out;
  }
  snprintf(o->location, sizeof o->location, "%s/async/%s", c->base_url, id);
out:
  ts_arena_free(a);
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
  /* The caller's own jobs: a user's, or those of the browser's owner
   * cookie. Without either an anonymous request sees anonymous jobs only
   * where the operator allows it, because listing them would hand out
   * the ids that are their only protection. */
  f.owner_id = o->who.user.id;
  f.anon_owner = o->who.has_anon ? o->who.anon : NULL;
  f.all_anonymous = o->u->cfg->jobs_list_anonymous;
  if (jobs_list(conn, a, &f, &js, &n, &o->err)) {
    o->failed = 1;
    goto out;
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
  /* Clients poll the phase: the access check is its one lookup. */
  if (!strcmp(s, "phase")) {
    if (jobs_access(conn, o->id, o->who.user.id, &o->phase, &o->err))
      o->failed = 1;
    else if (ts_buf_puts(&o->body, jobs_phase_name(o->phase)))
      op_fail(o, TS_ENOMEM, "%s", "out of memory");
    o->ctype = "text/plain; charset=utf-8";
    return;
  }
  a = ts_arena_new(0, 0);
  if (!a) {
    op_fail(o, TS_ENOMEM, "%s", "out of memory");
    return;
  }
  /* Any other resource reads the whole job: the access rule is checked
   * on the row just read (jobs_access's rule), not by a lookup of its own. */
  if (jobs_get(conn, a, o->id, &j, &o->err)) {
    o->failed = 1;
    goto out;
  }
  if (!jobs_may_access(j->owner_id, o->who.user.id)) {
    op_fail(o, TS_EFORBIDDEN, "job %s belongs to another user", o->id);
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
  const char *action = uws__param(o->params, o->np, "ACTION");
  if (jobs_access(conn, o->id, o->who.user.id, NULL, &o->err)) {
    o->failed = 1;
    return;
  }
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
  if (!strcmp(o->sub, "phase") && !uws__param(o->params, o->np, "PHASE")) {
    op_fail(o, TS_EINVAL, "%s", "POST to phase needs PHASE=RUN or PHASE=ABORT");
    return;
  }
  if (!strcmp(o->sub, "executionduration") && !uws__param(o->params, o->np, "EXECUTIONDURATION")) {
    op_fail(o, TS_EINVAL, "%s", "POST to executionduration needs EXECUTIONDURATION");
    return;
  }
  if (!strcmp(o->sub, "destruction") && !uws__param(o->params, o->np, "DESTRUCTION")) {
    op_fail(o, TS_EINVAL, "%s", "POST to destruction needs DESTRUCTION");
    return;
  }
  if (apply_controls(o, conn, &o->err)) {
    o->failed = 1;
    return;
  }
  snprintf(o->location, sizeof o->location, "%s/async/%s", base, o->id);
}

static void op_run(uws_op *o, PGconn *conn);

/* Who the request comes from (plus/plus.h), before any connection of
 * ours is taken: ts_auth_request takes its own. */
static int op_caller(uws_op *o)
{
  if (o->who_done)
    return 0;
  if (ts_auth_request(o->u->app, o->req, &o->who, &o->err)) {
    o->failed = 1;
    return -1;
  }
  o->who_done = 1;
  return 0;
}

static void op_work(uv_work_t *w)
{
  uws_op *o = w->data;
  PGconn *conn;
  if (op_caller(o))
    return;
  conn = jobs_db_get(o->u->db, &o->err);
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
    if (jobs_access(conn, o->id, o->who.user.id, NULL, &o->err) ||
        jobs_delete(conn, &o->u->store, o->id, &o->err))
      o->failed = 1;
    else
      snprintf(o->location, sizeof o->location, "%s/async", o->u->cfg->base_url);
    break;
  }
}

void uws__op_respond(uws_op *o)
{
  http_request *req = o->req;
  if (o->failed) {
    tap_send_error(req, &o->err);
  } else if (o->location[0]) {
    char hdr[1900];
    snprintf(hdr, sizeof hdr, "Location: %s\r\n%s", o->location, o->set_cookie);
    http_respond(req, 303, "text/plain; charset=utf-8", hdr, o->location, strlen(o->location));
  } else if (o->body.len == 0 && !o->body.data) {
    http_respond(req, 200, o->ctype, NULL, "", 0);
  } else {
    http_respond(req, 200, o->ctype, NULL, o->body.data, o->body.len);
  }
}

void uws__op_free(uws_op *o)
{
  ts_buf_free(&o->body);
  free(o);
}

static void op_after(uv_work_t *w, int status)
{
  uws_op *o = w->data;
  (void)status;
  if (o->wait) {
    uws__wait_after(o);
    return;
  }
  uws__op_respond(o);
  uws__op_free(o);
}

void uws__op_queue(uws_op *o)
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
    uws__op_free(o);
    return NULL;
  }
  return o;
}

/* ---- job events --------------------------------------------------------------- */

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
    uws__op_queue(o);
}

void uws_jobs_post(ts_app *app, http_request *req)
{
  ts_error e;
  if (vosi_refuse_new_work(app, &e)) {
    tap_send_error(req, &e); /* reads of existing jobs go on */
    return;
  }
  uws *u = jobs_of(app, req);
  uws_op *o = u ? op_new(u, req, OP_CREATE, NULL, 0, "") : NULL;
  if (o)
    uws__op_queue(o);
}

void uws_job_get(ts_app *app, http_request *req, const char *id, const char *sub)
{
  uws *u = jobs_of(app, req);
  uws_op *o = u ? op_new(u, req, OP_GET, id, strlen(id), sub) : NULL;
  if (!o)
    return;
  const char *wv = !sub[0] ? uws__param(o->params, o->np, "WAIT") : NULL;
  if (wv) {
    int64_t secs;
    if (ts_parse_int64(wv, &secs) || secs < -1) {
      ts_error e;
      ts_fail(&e, TS_EINVAL, 0, "WAIT must be a number of seconds (or -1), not \"%s\"", wv);
      tap_send_error(req, &e);
      uws__op_free(o);
      return;
    }
    if (secs < 0 || secs > u->cfg->jobs_wait_max_s)
      secs = u->cfg->jobs_wait_max_s;
    if (secs > 0 && !atomic_load(&u->stopping)) {
      uws__start_wait(u, o, secs);
      return;
    }
  }
  uws__op_queue(o);
}

void uws_job_post(ts_app *app, http_request *req, const char *id, const char *sub)
{
  uws *u = jobs_of(app, req);
  uws_op *o = u ? op_new(u, req, OP_POST, id, strlen(id), sub) : NULL;
  if (o)
    uws__op_queue(o);
}

void uws_job_delete(ts_app *app, http_request *req, const char *id)
{
  uws *u = jobs_of(app, req);
  uws_op *o = u ? op_new(u, req, OP_DELETE, id, strlen(id), "") : NULL;
  if (o)
    uws__op_queue(o);
}

void uws_job_result(ts_app *app, http_request *req, const char *id)
{
  uws *u = jobs_of(app, req);
  if (u)
    uws__start_download(u, req, id, strlen(id));
}
