/* tapserve/plus/upload.c: POST {ctx}/Upload, the TAP+ resource that keeps
 * a table in the caller's own schema (jobs/usertables.h), and the one way
 * user-table operations run: on libuv's pool, after finding the caller. */
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the run of one operation -------------------------------------------- */

typedef struct utab_op {
  uv_work_t work;
  ts_app *app;
  http_request *req;
  plus_utab_fn fn;
  void *ud;
  ts_err rc;
  ts_error err;
  char ok[PLUS_OK_MAX];
} utab_op;

int plus_has_credentials(const http_request *req)
{
  const char *id;
  size_t len;
  return http_header_get(req, "authorization") || plus__session_cookie(req, &id, &len);
}

const char *plus__param(const http_param *p, size_t n, const char *name)
{
  for (size_t i = 0; i < n; i++)
    if (ts_strcaseeq(p[i].name, name))
      return p[i].value;
  return NULL;
}

static void op_work(uv_work_t *w)
{
  utab_op *o = w->data;
  ts_who who;
  PGconn *conn = plus__user_conn(
      o->app, o->req, "log in to keep tables (POST login, or HTTP Basic)", &who, &o->err);
  if (!conn) {
    o->rc = o->err.code;
    return;
  }
  o->rc = o->fn(o->app, conn, &who.user, o->ud, o->ok, &o->err);
  jobs_db_put(o->app->db, conn);
  ts_log(TS_LOG_INFO, o->req->reqid, "user %s: %s", who.user.name, o->rc ? o->err.msg : o->ok);
}

static void op_after(uv_work_t *w, int status)
{
  utab_op *o = w->data;
  (void)status;
  if (o->rc) {
    tap_send_error(o->req, &o->err);
  } else {
    size_t n = strlen(o->ok);
    if (n + 1 < sizeof o->ok)
      o->ok[n++] = '\n';
    http_respond(o->req, 200, "text/plain; charset=utf-8", NULL, o->ok, n);
  }
  free(o);
}

void plus__utab_run(ts_app *app, http_request *req, plus_utab_fn fn, void *ud)
{
  utab_op *o;
  ts_error e;
  if (!plus_has_credentials(req)) {
    ts_fail(&e, TS_EAUTH, 0, "log in to keep tables (POST login, or HTTP Basic)");
    tap_send_error(req, &e);
    return;
  }
  if (!app->db) {
    ts_fail(&e, TS_EUNAVAIL, 0, "user tables need the database, which is not available");
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
  o->fn = fn;
  o->ud = ud;
  ts_error_clear(&o->err);
  o->work.data = o;
  if (uv_queue_work(app->loop, &o->work, op_work, op_after) != 0) {
    o->rc = ts_fail(&o->err, TS_EINTERNAL, 0, "cannot queue the request");
    op_after(&o->work, 0);
  }
}

/* ---- POST {ctx}/Upload ------------------------------------------------------ */

typedef enum { SRC_FILE, SRC_URL, SRC_JOB, SRC_DELETE } upload_src;

typedef struct upload_req {
  upload_src src;
  const char *table, *description, *ref; /* ref: the URL or the job id */
  char name[64];                         /* table checked (jobs_utab_ident); not for DELETE */
  fmt_upload_format format;
  const http_part *file;
} upload_req;

static void upload_env(ts_app *app, tap_upload_env *env)
{
  memset(env, 0, sizeof *env);
  env->c = app->cfg;
  env->db = app->db;
  env->store = uws_result_store(app);
  env->query_role = app->upload_role;
}

/* JOBID=: a completed job of the caller's (or an anonymous one: whoever
 * has its id may read its result), by the rule of every job request
 * (jobs_access: the owner's id, not its name). The loader checks the
 * phase and the result. */
static ts_err from_job(ts_app *app, PGconn *conn, const jobs_user *u, const upload_req *q,
                       const jobs_load_target *t, const tap_upload_env *env, ts_error *err)
{
  const cfg *c = app->cfg;
  jobs_upload_limits lim = {c->upload_max_bytes, (uint64_t)c->upload_max_rows,
                            (size_t)c->upload_max_columns};
  PGconn *read = NULL;
  ts_err rc = jobs_access(conn, q->ref, u->id, NULL, err);
  if (rc == TS_ENOTFOUND || rc == TS_EFORBIDDEN)
    rc = ts_fail(err, TS_EINVAL, 0, "you have no job %.80s", q->ref);
  if (!rc) {
    read = jobs_db_get(app->db, err);
    rc = read ? jobs_load_from_result(conn, read, env->store, t, q->ref, &lim, env->query_role, err)
              : err->code;
  }
  if (read)
    jobs_db_put(app->db, read);
  return rc;
}

static ts_err upload_fn(ts_app *app, PGconn *conn, const jobs_user *u, void *ud,
                        char ok[PLUS_OK_MAX], ts_error *err)
{
  const upload_req *q = ud;
  jobs_utab_new n = {u, q->table, q->description, app->upload_role,
                     (int64_t)app->cfg->users_quota_db};
  jobs_load_target t = jobs_utab_target(&n);
  tap_upload_env env;
  char schema[64], name[64];
  ts_arena *a = NULL;
  ts_err rc = jobs_utab_schema_name(u->name, schema, err);

  if (!rc && q->src == SRC_DELETE) {
    rc = jobs_utab_delete(conn, u, q->table, err);
    if (!rc && !jobs_utab_own_name(u, q->table, name, err))
      snprintf(ok, PLUS_OK_MAX, "deleted table %s.%s", schema, name);
    return rc;
  }
  if (rc)
    return rc;
  upload_env(app, &env);
  if (q->src == SRC_JOB) {
    rc = from_job(app, conn, u, q, &t, &env, err);
  } else {
    int fd = q->file ? q->file->fd : -1;
    const char *ctype = q->file ? q->file->content_type : NULL;
    a = ts_arena_new(0, 0);
    rc = a ? TS_OK : ts_fail(err, TS_ENOMEM, 0, "out of memory");
    if (!rc && q->src == SRC_URL)
      rc = tap_upload_fetch(&env, q->ref, a, &fd, &ctype, err);
    if (!rc)
      rc = tap_load_file(&env, conn, &t, fd, q->format, ctype, q->file ? q->file->filename : NULL,
                         err);
  }
  ts_arena_free(a);
  if (!rc)
    snprintf(ok, PLUS_OK_MAX, "uploaded table %s.%s", schema, q->name);
  return rc;
}

/* FORMAT as TapPlus and ESA's web page send it. */
static int parse_format(const char *v, fmt_upload_format *f)
{
  static const struct {
    const char *name;
    fmt_upload_format f;
  } names[] = {{"votable", FMT_UPLOAD_VOTABLE}, {"vot", FMT_UPLOAD_VOTABLE},
               {"xml", FMT_UPLOAD_VOTABLE},     {"fits", FMT_UPLOAD_FITS},
               {"csv", FMT_UPLOAD_CSV},         {"ecsv", FMT_UPLOAD_ECSV}};
  *f = FMT_UPLOAD_AUTO;
  if (!v || !*v)
    return 1;
  for (size_t i = 0; i < TS_ARRAY_LEN(names); i++)
    if (ts_strcaseeq(v, names[i].name)) {
      *f = names[i].f;
      return 1;
    }
  return 0;
}

void plus_upload(ts_app *app, http_request *req)
{
  http_param *p = NULL;
  size_t np = 0, nparts = 0;
  const http_part *parts = NULL;
  upload_req *q = ts_arena_calloc(req->arena, 1, sizeof *q);
  const char *del, *url, *job;
  ts_error e;

  if (!q) {
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &e);
    return;
  }
  if (http_request_params(req, &p, &np, &e)) {
    tap_send_error(req, &e);
    return;
  }
  if (http_request_parts(req, &parts, &nparts)) {
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &e);
    return;
  }
  q->table = plus__param(p, np, "TABLE_NAME");
  q->description = plus__param(p, np, "TABLE_DESC");
  del = plus__param(p, np, "DELETE");
  url = plus__param(p, np, "URL");
  job = plus__param(p, np, "JOBID");
  for (size_t i = 0; i < nparts; i++)
    if (parts[i].name && ts_strcaseeq(parts[i].name, "FILE"))
      q->file = &parts[i];
  if (!q->table || !*q->table) {
    ts_fail(&e, TS_EINVAL, 0, "the parameter TABLE_NAME is required");
    tap_send_error(req, &e);
    return;
  }
  if (del && ts_strcaseeq(del, "TRUE")) {
    q->src = SRC_DELETE;
  } else if (job && *job) {
    q->src = SRC_JOB;
    q->ref = job;
  } else if (url && *url) {
    q->src = SRC_URL;
    q->ref = url;
  } else if (!q->file || q->file->size == 0) {
    ts_fail(&e, TS_EINVAL, 0, "Upload needs the table: a FILE part, URL= or JOBID=");
    tap_send_error(req, &e);
    return;
  }
  /* A result keeps its own types: FORMAT says nothing then (TapPlus sends
   * one anyway). */
  if ((q->src == SRC_FILE || q->src == SRC_URL) &&
      !parse_format(plus__param(p, np, "FORMAT"), &q->format)) {
    ts_fail(&e, TS_EINVAL, 0, "unknown FORMAT \"%.60s\": votable, fits, csv or ecsv",
            plus__param(p, np, "FORMAT"));
    tap_send_error(req, &e);
    return;
  }
  if (q->src != SRC_DELETE && jobs_utab_ident("table", q->table, q->name, &e)) {
    tap_send_error(req, &e);
    return;
  }
  plus__utab_run(app, req, upload_fn, q);
}
