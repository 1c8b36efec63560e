/* tapserve/plus/jobs.c: the TAP+ job resources astroquery's TapPlus uses
 * beside UWS: GET {tap}/jobs/async (search_async_jobs: the caller's jobs,
 * each whole) and POST {tap}/deletejobs (remove_jobs: JOB_IDS, a comma
 * list). The caller and the ownership of every job are looked up in the
 * shared database on libuv's pool, as the UWS resources do
 * (docs/users.md, "Jobs"). */
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"

#include <stdlib.h>
#include <string.h>

enum { PLUS_DELETE_MAX = 1000 /* job ids in one deletejobs */ };

typedef struct plus_jobs_op {
  uv_work_t work;
  ts_app *app;
  http_request *req;
  int delete;
  http_param *params;
  size_t np;
  ts_who who;
  ts_buf body;
  ts_error err;
  ts_err rc;
} plus_jobs_op;

static const char *param(const plus_jobs_op *o, const char *name)
{
  return plus__param(o->params, o->np, name);
}

static ts_err int_param(const plus_jobs_op *o, const char *name, int64_t *out, ts_error *err)
{
  const char *v = param(o, name);
  if (v && (ts_parse_int64(v, out) || *out < 0))
    return ts_fail(err, TS_EINVAL, 0, "%s must be a whole number, not \"%s\"", name, v);
  return TS_OK;
}

/* search_async_jobs's filters (astroquery's Filter): phaseid, jobid,
 * jobname (the RUNID), limit, offset, order and metadata_only. */
static ts_err list_filter(const plus_jobs_op *o, jobs_filter *f, int *full, ts_error *err)
{
  const char *v;
  ts_err rc;
  f->owner_id = o->who.user.id;
  f->anon_owner = o->who.has_anon ? o->who.anon : NULL;
  f->all_anonymous = o->app->cfg->jobs_list_anonymous;
  v = param(o, "phaseid");
  if (v && *v) {
    jobs_phase p;
    if (jobs_phase_parse(v, &p))
      return ts_fail(err, TS_EINVAL, 0, "phaseid must be a UWS phase such as COMPLETED, not \"%s\"",
                     v);
    f->phase_mask = 1u << p;
  }
  v = param(o, "jobid");
  f->id = v && *v ? v : NULL;
  v = param(o, "jobname");
  f->run_id = v && *v ? v : NULL;
  rc = int_param(o, "limit", &f->last, err);
  if (!rc)
    rc = int_param(o, "offset", &f->offset, err);
  if (rc)
    return rc;
  v = param(o, "order");
  if (v && *v) {
    const char *col = v[0] == '-' ? v + 1 : v;
    if (strcmp(col, "creation_time") && strcmp(col, "start_time"))
      return ts_fail(err, TS_EINVAL, 0,
                     "order must be creation_time or start_time, with '-' for newest first,"
                     " not \"%s\"",
                     v);
    f->oldest_first = v[0] != '-';
    f->by_start = !strcmp(col, "start_time");
  }
  v = param(o, "metadata_only");
  *full = v && ts_strcaseeq(v, "false");
  return TS_OK;
}

static ts_err work_list(plus_jobs_op *o, PGconn *conn, ts_arena *a)
{
  jobs_filter f;
  jobs_job *js = NULL;
  size_t n = 0;
  int full = 0;
  ts_err rc;
  memset(&f, 0, sizeof f);
  rc = list_filter(o, &f, &full, &o->err);
  /* With metadata_only=false each job comes whole, parameters and
   * results too. */
  if (!rc)
    rc = full ? jobs_list_full(conn, a, &f, &js, &n, &o->err)
              : jobs_list(conn, a, &f, &js, &n, &o->err);
  return rc ? rc : uws_doc_jobs_full(&o->body, o->app->cfg, js, n, &o->err);
}

ts_err plus_job_ids_parse(const char *list, size_t max, ts_arena *a, const char ***ids, size_t *n,
                          ts_error *err)
{
  *n = 0;
  *ids = ts_arena_calloc(a, max + 1, sizeof **ids);
  if (!*ids)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  for (const char *p = list ? list : "";;) {
    size_t len = strcspn(p, ",");
    const char *s = p, *e = p + len;
    while (s < e && *s == ' ')
      s++;
    while (e > s && e[-1] == ' ')
      e--;
    if (e > s) {
      if (*n == max)
        return ts_fail(err, TS_ELIMIT, 0, "deletejobs takes at most %zu jobs at once", max);
      if (!uws_job_id_ok(s, (size_t)(e - s)))
        return ts_fail(err, TS_EINVAL, 0, "JOB_IDS: \"%.*s\" is not a job id",
                       (int)(e - s > 64 ? 64 : e - s), s);
      (*ids)[*n] = ts_arena_strndup(a, s, (size_t)(e - s));
      if (!(*ids)[*n])
        return ts_fail(err, TS_ENOMEM, 0, "out of memory");
      ++*n;
    }
    if (!p[len])
      break;
    p += len + 1;
  }
  return *n ? TS_OK
            : ts_fail(err, TS_EINVAL, 0, "deletejobs needs JOB_IDS, a comma-separated list");
}

/* Every id is checked before any job goes: another user's job, a
 * malformed or unknown id refuses the whole request. */
static ts_err work_delete(plus_jobs_op *o, PGconn *conn, ts_arena *a)
{
  const char **ids = NULL;
  size_t n = 0;
  ts_err rc = plus_job_ids_parse(param(o, "JOB_IDS"), PLUS_DELETE_MAX, a, &ids, &n, &o->err);
  if (!rc)
    rc = jobs_access_all(conn, ids, n, o->who.user.id, &o->err);
  for (size_t i = 0; i < n && !rc; i++) {
    rc = jobs_delete(conn, uws_result_store(o->app), ids[i], &o->err);
    if (rc == TS_ENOTFOUND)
      rc = TS_OK; /* deleted meanwhile (or named twice): gone, as asked */
  }
  if (!rc && ts_buf_puts(&o->body, "OK\n"))
    rc = ts_fail(&o->err, TS_ENOMEM, 0, "out of memory");
  return rc;
}

static void op_work(uv_work_t *w)
{
  plus_jobs_op *o = w->data;
  PGconn *conn;
  ts_arena *a;
  /* The caller first: ts_auth_request takes a connection of its own. */
  o->rc = ts_auth_request(o->app, o->req, &o->who, &o->err);
  if (o->rc)
    return;
  conn = jobs_db_get(o->app->db, &o->err);
  if (!conn) {
    o->rc = o->err.code;
    return;
  }
  a = ts_arena_new(0, 0);
  if (!a)
    o->rc = ts_fail(&o->err, TS_ENOMEM, 0, "out of memory");
  else
    o->rc = o->delete ? work_delete(o, conn, a) : work_list(o, conn, a);
  ts_arena_free(a);
  jobs_db_put(o->app->db, conn);
}

static void op_after(uv_work_t *w, int status)
{
  plus_jobs_op *o = w->data;
  (void)status;
  if (o->rc)
    tap_send_error(o->req, &o->err);
  else
    http_respond(o->req, 200, o->delete ? "text/plain; charset=utf-8" : "text/xml; charset=utf-8",
                 NULL, o->body.data, o->body.len);
  ts_buf_free(&o->body);
  free(o);
}

static void start(ts_app *app, http_request *req, int delete)
{
  plus_jobs_op *o;
  ts_error e;
  if (!app->db || !uws_result_store(app)) {
    ts_fail(&e, TS_EUNAVAIL, 0, "async jobs are not available");
    tap_send_error(req, &e);
    return;
  }
  o = calloc(1, sizeof *o);
  if (!o) {
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &e);
    return;
  }
  o->app = app;
  o->req = req;
  o->delete = delete;
  ts_buf_init(&o->body, UWS_DOC_MAX);
  ts_error_clear(&o->err);
  if (http_request_params(req, &o->params, &o->np, &e)) {
    tap_send_error(req, &e);
    free(o);
    return;
  }
  o->work.data = o;
  if (uv_queue_work(app->loop, &o->work, op_work, op_after) != 0) {
    o->rc = ts_fail(&o->err, TS_EINTERNAL, 0, "cannot queue the request");
    op_after(&o->work, 0);
  }
}

void plus_jobs_list(ts_app *app, http_request *req)
{
  start(app, req, 0);
}

void plus_jobs_delete(ts_app *app, http_request *req)
{
  start(app, req, 1);
}
