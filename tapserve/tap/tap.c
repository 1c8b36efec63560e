/* TAP resources: the home page, and the streaming /sync:
 * ADQL -> SQL -> describe -> COPY BINARY -> tap_result (encoder, chunked
 * HTTP, see result.c). */
#include "tapserve/plus/plus.h"
#include "tapserve/tap/tap.h"
#include "tapserve/tapserve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  TAP_ERROR_DOC_MAX = 64 * 1024 /* a DALI error document: one message of 512 bytes, escaped */
};

/* ---- errors --------------------------------------------------------------- */

/* Retry-After of 429 and 503 answers: long enough for a stream or a
 * connection to come free, short enough for a script that waits. */
enum { TAP_RETRY_AFTER_S = 5 };

void tap_send_error_headers(http_request *req, const ts_error *err, const char *extra_headers)
{
  ts_buf b;
  const char *msg = err->msg[0] ? err->msg : ts_err_text(err->code);
  int status = ts_err_http(err->code);
  char retry[32], challenge[1024];
  if (!extra_headers && (status == 429 || status == 503)) {
    snprintf(retry, sizeof retry, "Retry-After: %d\r\n", TAP_RETRY_AFTER_S);
    extra_headers = retry;
  }
  /* RFC 7235: a 401 names the schemes that would do (plus/auth.c), unless
   * the caller named them itself (a form login: plus/login.c). A browser
   * (a request with cookies: the web page) would answer a Basic challenge
   * with its own password dialog over the page, so Basic is offered only
   * to clients without cookies, which scripts are; Bearer, which browsers
   * do not prompt for, is always named. */
  if (status == 401 && !(extra_headers && strstr(extra_headers, "WWW-Authenticate:"))) {
    int n = snprintf(challenge, sizeof challenge, "%s%s" TAP_CHALLENGE_BEARER,
                     extra_headers ? extra_headers : "",
                     http_header_get(req, "cookie") ? "" : TAP_CHALLENGE_BASIC);
    if (n > 0 && (size_t)n < sizeof challenge)
      extra_headers = challenge;
  }
  ts_buf_init(&b, TAP_ERROR_DOC_MAX);
  if (fmt_votable_error_doc(&b, msg) != TS_OK) {
    http_respond(req, 500, "text/plain", NULL, "internal error\n", 15);
    ts_buf_free(&b);
    return;
  }
  ts_log(TS_LOG_INFO, req->reqid, "error %d: %s", status, msg);
  http_respond(req, status, "application/x-votable+xml", extra_headers, b.data, b.len);
  ts_buf_free(&b);
}

const char *tap_error_doc(ts_buf *b, int status, const char *msg)
{
  (void)status;
  return fmt_votable_error_doc(b, msg) == TS_OK ? "application/x-votable+xml" : NULL;
}

void tap_send_error(http_request *req, const ts_error *err)
{
  tap_send_error_headers(req, err, NULL);
}

static void send_fail(http_request *req, ts_err code, const char *fmt, ...) TS_PRINTF(3, 4);
static void send_fail(http_request *req, ts_err code, const char *fmt, ...)
{
  ts_error e;
  va_list ap;
  va_start(ap, fmt);
  ts_failv(&e, code, 0, fmt, ap);
  va_end(ap);
  tap_send_error(req, &e);
}

/* ---- /sync ---------------------------------------------------------------- */

typedef struct sync_req {
  ts_app *app;
  struct sync_req *prev, *next; /* app->sync_head, while the query runs or waits */
  int linked;
  http_request *req;
  tap_result *result;
  stream_query *query;  /* NULL once on_done ran */
  stream_pg_pool *pool; /* the one it runs on: app->pool, or app->upool */
  adql_query *adql;
  const char *adql_text;
  int64_t maxrec;
  int uploads; /* the request has upload tables, dropped when it ends */
  char date[32];
} sync_req;

static void sync_uploads_drop(ts_app *app, const char *reqid);
static void sync_on_done_hook(void *ud, const tap_result_end *end);

/* ---- /sync streams in progress ---------------------------------------------
 * Each holds or waits for one of the pool's connections. A client address
 * may have max_sync_per_client of them at once (429 beyond), and a stream
 * whose client has read nothing for sync_stall_timeout is cut while other
 * requests wait for a connection: otherwise pool_size clients that stop
 * reading would hold every connection until write_timeout. */

static void sync_watch_cb(uv_timer_t *t);

static void sync_link(sync_req *s)
{
  ts_app *app = s->app;
  s->prev = NULL;
  s->next = app->sync_head;
  if (app->sync_head)
    app->sync_head->prev = s;
  app->sync_head = s;
  s->linked = 1;
  if (app->sync_count++ == 0 && app->sync_watch_state == 1 && app->cfg->sync_stall_timeout_ms > 0) {
    uint64_t iv = (uint64_t)app->cfg->sync_stall_timeout_ms / 4;
    iv = iv < 50 ? 50 : iv > 1000 ? 1000 : iv;
    uv_timer_start(&app->sync_watch, sync_watch_cb, iv, iv);
  }
}

static void sync_unlink(sync_req *s)
{
  ts_app *app = s->app;
  if (!s->linked)
    return;
  s->linked = 0;
  if (s->prev)
    s->prev->next = s->next;
  else
    app->sync_head = s->next;
  if (s->next)
    s->next->prev = s->prev;
  if (--app->sync_count == 0 && app->sync_watch_state == 1)
    uv_timer_stop(&app->sync_watch);
}

static int sync_count_addr(const ts_app *app, const char *addr)
{
  int n = 0;
  for (const sync_req *s = app->sync_head; s; s = s->next)
    n += !strcmp(s->req->remote_addr, addr);
  return n;
}

/* Every stream's stall is measured at each tick (so that one that stalled
 * long ago is known when others start waiting); streams are cut only while
 * a request waits for a connection, and only those that hold one. */
static void sync_watch_cb(uv_timer_t *t)
{
  ts_app *app = t->data;
  uint64_t limit = (uint64_t)app->cfg->sync_stall_timeout_ms;
  int waiting = 0, uwaiting = 0;
  stream_pg_pool_stats(app->pool, NULL, NULL, &waiting);
  if (app->upool != app->pool)
    stream_pg_pool_stats(app->upool, NULL, NULL, &uwaiting);
  for (sync_req *s = app->sync_head; s; s = s->next) {
    uint64_t ms = http_write_stalled_ms(s->req);
    /* Cutting frees a connection of the stream's own pool only. */
    int w = s->pool == app->pool ? waiting : uwaiting;
    if (w > 0 && ms >= limit && s->query && stream_query_backend_pid(s->query)) {
      ts_log(TS_LOG_WARN, s->req->reqid,
             "client %s has read nothing for %llu ms while %d requests wait for a database "
             "connection; cutting its stream",
             s->req->remote_addr, (unsigned long long)ms, w);
      http_abort(s->req); /* on_abort cancels the query, which frees the connection */
    }
  }
}

void tap_start(ts_app *app)
{
  uv_timer_init(app->loop, &app->sync_watch);
  app->sync_watch.data = app;
  app->sync_watch_state = 1;
}

void tap_stop(ts_app *app)
{
  if (app->sync_watch_state != 1)
    return;
  app->sync_watch_state = 2;
  uv_close((uv_handle_t *)&app->sync_watch, NULL);
}

static void sync_on_drain(void *ud)
{
  sync_req *s = ud;
  if (s->query)
    stream_query_resume(s->query);
}

static void sync_on_abort(void *ud)
{
  sync_req *s = ud;
  if (s->query)
    stream_query_cancel(s->query);
}

void tap_merge_column_meta(stream_schema *schema, const adql_query *q)
{
  size_t n = adql_result_ncols(q);

  if (n != schema->ncols)
    return;
  for (size_t i = 0; i < n; i++) {
    const adql_column_meta *m = adql_result_col(q, i);
    stream_column *c = &schema->cols[i];
    if (m->name)
      c->name = m->name;
    c->unit = m->unit;
    c->ucd = m->ucd;
    c->utype = m->utype;
    c->description = m->description;
    if (!c->xtype && m->xtype)
      c->xtype = m->xtype;
    /* Geometries arrive as float8[] (PostgreSQL's describe knows no
     * more); the ADQL metadata says which DALI shape they are: point
     * double[2], circle double[3], polygon double[*]. */
    if (c->kind == STREAM_FLOAT8 && c->is_array && m->xtype &&
        (!strcmp(m->xtype, "point") || !strcmp(m->xtype, "circle") ||
         !strcmp(m->xtype, "polygon"))) {
      c->xtype = m->xtype;
      c->arraysize = m->arraysize;
    }
    /* Text published as unicodeChar (non-ASCII content) is written as
     * such; every other datatype follows PostgreSQL's type. */
    if (c->kind == STREAM_TEXT && !c->is_array && m->datatype &&
        !strcmp(m->datatype, "unicodeChar"))
      c->datatype = "unicodeChar";
  }
}

static ts_err sync_on_schema(void *ud, stream_schema *schema, ts_error *err)
{
  sync_req *s = ud;
  fmt_info info;

  tap_merge_column_meta(schema, s->adql);
  memset(&info, 0, sizeof info);
  info.query = s->adql_text;
  info.request_date = s->date;
  info.service = "tapserve " TAPSERVE_VERSION;
  info.table_name = "result";
  info.maxrec = s->maxrec;
  return tap_result_begin(s->result, schema, &info, err);
}

static ts_err sync_on_batch(void *ud, const stream_batch *b, ts_error *err)
{
  sync_req *s = ud;
  ts_err rc = tap_result_rows(s->result, b, err);
  if (!rc && tap_result_blocked(s->result))
    stream_query_pause(s->query);
  return rc;
}

static void sync_on_done(void *ud, ts_err rc, const ts_error *err, uint64_t nrows, int overflow)
{
  sync_req *s = ud;
  s->query = NULL;
  sync_unlink(s);
  if (rc == TS_OK)
    ts_log(TS_LOG_INFO, s->req->reqid, "sync: %llu rows%s", (unsigned long long)nrows,
           overflow ? " (overflow)" : "");
  else
    ts_log(TS_LOG_INFO, s->req->reqid, "sync failed after %llu rows: %s", (unsigned long long)nrows,
           err && err->msg[0] ? err->msg : ts_err_text(rc));
  tap_result_finish(s->result, rc, err, overflow);
}

static const stream_query_cbs sync_cbs = {sync_on_schema, sync_on_batch, sync_on_done};
static const tap_result_hooks sync_hooks = {sync_on_drain, sync_on_abort, sync_on_done_hook};

ts_err tap__prepare_params(const ts_app *app, tap_param_fn get, const void *src, tap_query *out,
                           ts_error *err)
{
  const char *v;

  memset(out, 0, sizeof *out);
  v = get(src, "request");
  if (v && !ts_strcaseeq(v, "doQuery"))
    return ts_fail(err, TS_EINVAL, 0,
                   "unsupported REQUEST \"%s\" (this service answers REQUEST=doQuery)", v);
  v = get(src, "lang");
  if (!v)
    return ts_fail(err, TS_EINVAL, 0, "the LANG parameter is required (LANG=ADQL)");
  if (!ts_strcaseeq(v, "ADQL") && !ts_strcaseeq(v, "ADQL-2.0") && !ts_strcaseeq(v, "ADQL-2.1"))
    return ts_fail(err, TS_EINVAL, 0, "unsupported LANG \"%s\" (this service speaks ADQL)", v);
  out->adql = get(src, "query");
  if (!out->adql || !*out->adql)
    return ts_fail(err, TS_EINVAL, 0, "the QUERY parameter is required");

  v = get(src, "responseformat");
  if (!v || !*v)
    v = get(src, "format");
  out->fmt = v && *v ? fmt_lookup(v) : fmt_default();
  if (!out->fmt)
    return ts_fail(err, TS_EINVAL, 0,
                   "unknown RESPONSEFORMAT \"%s\" (see /capabilities for the formats)", v);

  out->maxrec = app->cfg->maxrec_default;
  v = get(src, "maxrec");
  if (v && (ts_parse_int64(v, &out->maxrec) || out->maxrec < 0))
    return ts_fail(err, TS_EINVAL, 0, "MAXREC must be a non-negative integer, not \"%s\"", v);
  if (out->maxrec > app->cfg->maxrec_limit)
    out->maxrec = app->cfg->maxrec_limit;
  return TS_OK;
}

ts_err tap__prepare_translate(const ts_app *app, adql_layer *layers, ts_arena *a, tap_query *out,
                              ts_error *err)
{
  const meta *m;
  adql_meta *mine = NULL;

  /* The query's checked form points into the TAP_SCHEMA snapshot: it holds
   * a reference for as long as its arena lives (the request, the job). */
  m = meta_hold(app, a);
  if (!m)
    return ts_fail(err, TS_EUNAVAIL, 0, "the table metadata is not available");
  /* The checked query keeps its metadata: the request's view lives in
   * its arena. */
  if (layers) {
    mine = ts_arena_alloc(a, sizeof *mine);
    if (!mine)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    /* the chain as the caller linked it, after the published tables */
    *mine = *meta_adql(m);
    mine->layers = layers;
  }
  /* One row more than MAXREC tells an overflow from an exact fit. */
  if (adql_parse(out->adql, strlen(out->adql), a, &out->q, err) ||
      adql_check(out->q, mine ? mine : meta_adql(m), err) ||
      adql_translate(out->q, out->maxrec + 1, a, &out->sql, err))
    return err->code ? err->code : TS_EADQL;
  return TS_OK;
}

ts_err tap_adql_error_for_client(ts_err rc, ts_error *err, const char *adql)
{
  if (rc != TS_EADQL || !adql)
    return rc;
  /* ADQL errors carry their position in the message as DALI clients show
   * it. */
  ts_error in = *err;
  ts_error_set_linecol(&in, adql, strlen(adql));
  if (in.line > 0)
    ts_fail(err, TS_EADQL, in.pos, "ADQL error at line %d, column %d: %.440s", in.line, in.col,
            in.msg);
  else
    ts_fail(err, TS_EADQL, 0, "ADQL error: %.480s", in.msg);
  return rc;
}

ts_err tap_prepare_query_plain(const ts_app *app, tap_param_fn get, const void *src,
                               adql_layer *layers, ts_arena *a, tap_query *out, ts_error *err)
{
  ts_err rc = tap__prepare_params(app, get, src, out, err);
  return rc ? rc : tap__prepare_translate(app, layers, a, out, err);
}

ts_err tap_prepare_query(const ts_app *app, tap_param_fn get, const void *src, adql_layer *layers,
                         ts_arena *a, tap_query *out, ts_error *err)
{
  ts_err rc = tap_prepare_query_plain(app, get, src, layers, a, out, err);
  return tap_adql_error_for_client(rc, err, out->adql);
}

ts_err tap_check_single_valued(const http_param *params, size_t n, ts_error *err)
{
  /* Each row: a parameter's name, its other name, and how to call it. */
  static const struct {
    const char *name, *alias, *shown;
  } single[] = {
      {"REQUEST", NULL, "REQUEST"}, {"LANG", NULL, "LANG"},
      {"QUERY", NULL, "QUERY"},     {"MAXREC", NULL, "MAXREC"},
      {"RUNID", NULL, "RUNID"},     {"RESPONSEFORMAT", "FORMAT", "RESPONSEFORMAT (or FORMAT)"}};
  for (size_t k = 0; k < TS_ARRAY_LEN(single); k++) {
    const char *first = NULL;
    for (size_t i = 0; i < n; i++) {
      if (!ts_strcaseeq(params[i].name, single[k].name) &&
          !(single[k].alias && ts_strcaseeq(params[i].name, single[k].alias)))
        continue;
      if (!first)
        first = params[i].value;
      else if (strcmp(first, params[i].value) != 0)
        return ts_fail(err, TS_EINVAL, 0, "%s is single-valued but was given two different values",
                       single[k].shown);
    }
  }
  return TS_OK;
}

/* DALI: parameter names are case-insensitive; tap_check_single_valued has
 * made sure that a repeated one has a single value. */
const char *tap_request_param(const void *src, const char *name)
{
  const tap_params *p = src;
  for (size_t i = 0; i < p->n; i++)
    if (ts_strcaseeq(p->all[i].name, name))
      return p->all[i].value;
  return NULL;
}

/* The query of a /sync request, its uploads (if any) loaded and its
 * layers (uploads, user tables; NULL: none) linked: checked,
 * translated and streamed. */
static void sync_run(ts_app *app, http_request *req, tap_params *p, adql_layer *layers, int uploads)
{
  tap_query tq;
  ts_error err;
  sync_req *s;

  ts_error_clear(&err);
  /* Without per-request tables the translation of a query text seen
   * before is reused (qcache.c). */
  if (layers ? tap_prepare_query(app, tap_request_param, p, layers, req->arena, &tq, &err)
             : tap_prepare_query_cached(app, tap_request_param, p, req->arena, &tq, &err)) {
    if (uploads)
      sync_uploads_drop(app, req->reqid);
    tap_send_error(req, &err);
    return;
  }
  ts_log(TS_LOG_DEBUG, req->reqid, "sql: %s", tq.sql);

  s = ts_arena_calloc(req->arena, 1, sizeof *s);
  if (!s) {
    if (uploads)
      sync_uploads_drop(app, req->reqid);
    send_fail(req, TS_ENOMEM, "%s", "out of memory");
    return;
  }
  s->app = app;
  s->req = req;
  s->adql_text = tq.adql;
  s->adql = tq.q;
  s->maxrec = tq.maxrec;
  s->uploads = uploads;
  ts_iso8601(s->date, ts_now_ms(), 0);
  s->result = tap_result_new(req, tq.fmt, &sync_hooks, s);
  if (!s->result) {
    if (uploads)
      sync_uploads_drop(app, req->reqid);
    send_fail(req, TS_ENOMEM, "%s", "out of memory");
    return;
  }
  stream_query_opts o;
  memset(&o, 0, sizeof o);
  o.sql = tq.sql;
  o.maxrec = s->maxrec;
  o.timeout_ms = (int64_t)app->cfg->sync_timeout_s * 1000;
  o.batch_rows = (size_t)app->cfg->fetch_size;
  o.reqid = req->reqid;
  /* A query on published tables only may reuse the description of the
   * same SQL under the same TAP_SCHEMA snapshot; upload and user tables
   * change under the same names without a new snapshot. They were also
   * made on the primary, maybe just now: a standby of query_dsn may not
   * have them yet, so such a query runs there. */
  o.describe_gen = layers ? 0 : schema_cache_generation(app);
  s->pool = layers ? app->upool : app->pool;
  s->query = stream_query_run(s->pool, &o, &sync_cbs, s);
  if (s->query)
    sync_link(s);
  if (!s->query) {
    ts_error e;
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
    tap_result_finish(s->result, TS_ENOMEM, &e, 0);
  }
}

/* ---- /sync with uploads or credentials -----------------------------------------
 * The tables are loaded on libuv's pool (blocking libpq on a service
 * connection), then the query runs on the loop as any other; the tables
 * are dropped when the response ends, however it ends. A request with
 * credentials takes the same way: who it comes from, and the layer of its
 * user tables, are found in the database on the pool. */

/* A /sync request whose upload is a job still running looks again this
 * often, from a timer on the loop: no thread waits meanwhile. */
enum { SYNC_UPLOAD_RETRY_MS = 250 };

typedef struct sync_upload {
  uv_work_t work;
  uv_timer_t retry; /* closed before the struct is freed */
  ts_app *app;
  http_request *req;
  tap_params p;
  tap_upload_ref *refs;
  tap_upload_file *files; /* the inline and URL ones, loaded once the job: ones can be */
  size_t n;
  tap_upload_env env;
  char reqid[17];
  char instance[40];
  ts_arena *a;       /* the layers; freed with the request */
  adql_layer layer;  /* TAP_UPLOAD */
  adql_layer ulayer; /* the caller's user tables */
  int creds;         /* the request carries credentials */
  ts_error err;
  ts_err rc;
  int waiting;  /* tries that found a source job still running */
  int who_done; /* env.caller is known (the first try) */
} sync_upload;

typedef struct sync_drop {
  uv_work_t work;
  ts_app *app;
  char reqid[17];
} sync_drop;

static void drop_work(uv_work_t *w)
{
  sync_drop *d = w->data;
  ts_error err;
  PGconn *conn = jobs_db_get(d->app->db, &err);
  jobs_upload_owner o = {NULL, d->reqid, NULL};
  if (conn && jobs_upload_drop(conn, &o, NULL, &err) == TS_OK) {
    jobs_db_put(d->app->db, conn);
    return;
  }
  if (conn)
    jobs_db_put(d->app->db, conn);
  /* The sweeper drops them once this instance is gone; meanwhile they
   * are only space. */
  ts_log(TS_LOG_WARN, d->reqid, "cannot drop the request's upload tables: %s", err.msg);
}

static void drop_after(uv_work_t *w, int status)
{
  (void)status;
  free(w->data);
}

static void sync_uploads_drop(ts_app *app, const char *reqid)
{
  sync_drop *d = calloc(1, sizeof *d);
  if (!d) {
    ts_log(TS_LOG_WARN, reqid, "out of memory: upload tables left for the sweeper");
    return;
  }
  d->app = app;
  snprintf(d->reqid, sizeof d->reqid, "%s", reqid);
  d->work.data = d;
  if (uv_queue_work(app->loop, &d->work, drop_work, drop_after) != 0) {
    ts_log(TS_LOG_WARN, reqid, "cannot queue the drop of upload tables; left for the sweeper");
    free(d);
  }
}

static void sync_on_done_hook(void *ud, const tap_result_end *end)
{
  sync_req *s = ud;
  (void)end;
  if (s->uploads)
    sync_uploads_drop(s->app, s->req->reqid);
}

static void upload_work(uv_work_t *w)
{
  sync_upload *u = w->data;
  PGconn *conn;
  ts_who who;
  int first = !u->who_done;
  /* The caller, once: job: sources are read as the caller (never another
   * user's result), and its own tables are a layer of the query. */
  if (first) {
    u->rc = ts_auth_request(u->app, u->req, &who, &u->err);
    if (u->rc)
      return;
    u->env.caller = who.user.id;
    u->who_done = 1;
  }
  conn = jobs_db_get(u->app->db, &u->err);
  if (!conn) {
    u->rc = u->err.code;
    return;
  }
  if (first && u->creds)
    u->rc = tap_user_layer(conn, u->a, &who.user, &u->ulayer, &u->err);
  if (!u->rc && u->n)
    u->rc = tap_upload_load(&u->env, conn, u->refs, u->n, &u->err);
  if (!u->rc && u->n)
    u->rc = tap_upload_load_files(&u->env, conn, u->files, u->n, &u->err);
  if (!u->rc && u->n)
    u->rc = tap_upload_layer(conn, u->a, &u->env.owner, &u->layer, &u->err);
  if (u->rc && u->rc != TS_EAGAIN && u->n) { /* EAGAIN: nothing loaded yet */
    ts_error e2;
    jobs_upload_drop(conn, &u->env.owner, NULL, &e2);
  }
  jobs_db_put(u->app->db, conn);
}

static void arena_free_cb(void *a)
{
  ts_arena_free(a);
}

static void upload_free(uv_handle_t *h)
{
  sync_upload *u = h->data;
  ts_arena_free(u->a); /* NULL once the request owns it */
  free(u);
}

static void upload_after(uv_work_t *w, int status);

static void upload_retry(uv_timer_t *t)
{
  sync_upload *u = t->data;
  ts_error_clear(&u->err);
  u->rc = TS_OK;
  if (uv_queue_work(u->app->loop, &u->work, upload_work, upload_after) != 0) {
    u->rc = ts_fail(&u->err, TS_EINTERNAL, 0, "cannot queue the uploads");
    upload_after(&u->work, 0);
  }
}

static void upload_after(uv_work_t *w, int status)
{
  sync_upload *u = w->data;
  http_request *req = u->req;
  (void)status;
  if (u->rc == TS_EAGAIN) {
    if (!u->waiting++)
      ts_log(TS_LOG_INFO, req->reqid, "%s: the request waits for it", u->err.msg);
    uv_timer_start(&u->retry, upload_retry, SYNC_UPLOAD_RETRY_MS, 0);
    return;
  }
  if (u->rc) {
    tap_send_error(req, &u->err);
  } else if (ts_arena_defer(req->arena, arena_free_cb, u->a)) {
    if (u->n)
      sync_uploads_drop(u->app, req->reqid);
    send_fail(req, TS_ENOMEM, "%s", "out of memory");
  } else {
    adql_layer *layers = NULL;
    u->a = NULL; /* the request's now */
    if (u->ulayer.ntables) {
      u->ulayer.next = NULL;
      layers = &u->ulayer;
    }
    if (u->n) {
      u->layer.next = layers;
      layers = &u->layer;
    }
    sync_run(u->app, req, &u->p, layers, u->n > 0);
  }
  uv_close((uv_handle_t *)&u->retry, upload_free);
}

/* upload: the UPLOAD parameter (NULL: none); creds: the request carries
 * credentials. */
static void sync_with_layers(ts_app *app, http_request *req, tap_params *p, const char *upload,
                             int creds)
{
  sync_upload *u;
  ts_error err;
  if (!app->db || !uws_instance_id(app)) {
    if (!upload) { /* no users without the database: anonymous */
      sync_run(app, req, p, NULL, 0);
      return;
    }
    send_fail(req, TS_EUNAVAIL, "%s", "uploads need the jobs database, which is not available");
    return;
  }
  u = calloc(1, sizeof *u);
  if (!u || !(u->a = ts_arena_new(0, TS_QUERY_ARENA_CAP))) {
    free(u);
    send_fail(req, TS_ENOMEM, "%s", "out of memory");
    return;
  }
  u->app = app;
  u->req = req;
  u->p = *p;
  u->creds = creds;
  if (upload && (tap_upload_parse(app->cfg, upload, req->arena, &u->refs, &u->n, &err) ||
                 tap_upload_resolve(req, p->all, p->n, u->refs, u->n, app->cfg->spool_dir,
                                    &u->files, &err))) {
    ts_arena_free(u->a);
    free(u);
    tap_send_error(req, &err);
    return;
  }
  snprintf(u->reqid, sizeof u->reqid, "%s", req->reqid);
  snprintf(u->instance, sizeof u->instance, "%s", uws_instance_id(app));
  u->env.c = app->cfg;
  u->env.db = app->db;
  u->env.store = uws_result_store(app);
  u->env.query_role = app->upload_role;
  u->env.owner.request_id = u->reqid;
  u->env.owner.instance = u->instance;
  u->env.deadline_ms = ts_now_ms() + (int64_t)app->cfg->sync_timeout_s * 1000;
  u->work.data = u;
  uv_timer_init(app->loop, &u->retry);
  u->retry.data = u;
  upload_retry(&u->retry);
}

void tap_sync(ts_app *app, http_request *req)
{
  tap_params p = {0};
  ts_error err;
  const char *upload;
  int creds;

  ts_error_clear(&err);
  if (vosi_refuse_new_work(app, &err)) {
    tap_send_error(req, &err);
    return;
  }
  if (sync_count_addr(app, req->remote_addr) >= app->cfg->max_sync_per_client) {
    ts_fail(&err, TS_ETOOMANY, 0,
            "too many /sync requests from your address at once (at most %d); wait for one to "
            "finish, or use /async",
            app->cfg->max_sync_per_client);
    tap_send_error(req, &err);
    return;
  }
  if (http_request_params(req, &p.all, &p.n, &err) || tap_check_single_valued(p.all, p.n, &err)) {
    tap_send_error(req, &err);
    return;
  }
  upload = tap_upload_join(p.all, p.n, req->arena);
  creds = plus_has_credentials(req);
  if (upload || creds)
    sync_with_layers(app, req, &p, upload, creds);
  else
    sync_run(app, req, &p, NULL, 0);
}
