/* tapserve/web/check.c: POST {tap}/web/check, the page's "check" button.
 * The query goes through tap_prepare_query_plain, the one path /sync and
 * async jobs take (parser, checker against the current TAP_SCHEMA snapshot
 * and, for a logged-in caller, their own tables; translation), so the page
 * can never accept what /sync refuses or the other way round; nothing runs
 * in the database. A caller with credentials is checked on libuv's pool
 * (who they are and their tables are database reads). */
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"
#include "tapserve/web/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { WEB_CHECK_DOC_MAX = 4096 }; /* a message of at most 512 bytes, escaped */

int web__suggestion(const char *msg, char *out, size_t cap)
{
  static const char intro[] = "(did you mean \"";
  const char *p = NULL, *end;
  /* The last one: the checker's own comes at the end of the message, and
   * a name the user wrote may hold the same words. */
  for (const char *q = strstr(msg, intro); q; q = strstr(q + 1, intro))
    p = q;
  out[0] = 0;
  if (!p)
    return 0;
  p += sizeof intro - 1;
  end = strstr(p, "\"?)");
  if (!end || end == p || (size_t)(end - p) >= cap)
    return 0;
  memcpy(out, p, (size_t)(end - p));
  out[end - p] = 0;
  return 1;
}

ts_err web__check_json(ts_buf *b, const char *query, const ts_error *err)
{
  ts_error e;
  char sugg[256];
  ts_err rc;
  if (!err)
    return ts_buf_puts(b, "{\"ok\":true}");
  e = *err;
  e.line = e.col = 0;
  if (e.pos > 0 && query)
    ts_error_set_linecol(&e, query, strlen(query));
  rc = ts_buf_printf(b, "{\"ok\":false,\"line\":%d,\"column\":%d,\"message\":", e.line, e.col);
  if (!rc)
    rc = jobs_json_str(b, e.msg);
  if (!rc)
    rc = ts_buf_puts(b, ",\"suggestion\":");
  if (!rc)
    rc =
        web__suggestion(e.msg, sugg, sizeof sugg) ? jobs_json_str(b, sugg) : ts_buf_puts(b, "null");
  if (!rc)
    rc = ts_buf_puts(b, "}");
  return rc;
}

typedef struct web_check_op {
  uv_work_t work;
  ts_app *app;
  http_request *req;
  tap_params cp;
  int creds; /* the request carries credentials: its user's tables count */
  int status;
  ts_buf b;
  ts_arena *a; /* the check's memory: a worker must not share the request's */
} web_check_op;

/* The check itself: on the loop without credentials, on libuv's pool
 * with them (ts_auth_request, tap_user_layer). */
static void check_run(web_check_op *o)
{
  adql_layer ul, *layers = NULL;
  PGconn *conn = NULL;
  tap_query tq;
  ts_error err;
  ts_err rc = TS_OK;
  ts_error_clear(&err);
  if (o->creds) {
    ts_who who;
    rc = ts_auth_request(o->app, o->req, &who, &err);
    if (!rc && who.user.id && o->app->db && (conn = jobs_db_get(o->app->db, &err)) == NULL)
      rc = err.code;
    if (!rc && conn) {
      rc = tap_user_layer(conn, o->a, &who.user, &ul, &err);
      if (!rc && ul.ntables)
        layers = &ul;
    }
    if (conn)
      jobs_db_put(o->app->db, conn);
  }
  if (!rc) {
    rc = tap_prepare_query_plain(o->app, tap_request_param, &o->cp, layers, o->a, &tq, &err);
    if (rc && rc != TS_EADQL)
      o->status = ts_err_http(rc);
  } else {
    o->status = ts_err_http(rc);
  }
  if (web__check_json(&o->b, tap_request_param(&o->cp, "query"), rc ? &err : NULL))
    o->status = -1;
}

static void check_work(uv_work_t *w)
{
  check_run(w->data);
}

static void check_done(uv_work_t *w, int status)
{
  web_check_op *o = w->data;
  ts_error err;
  (void)status;
  if (o->status < 0) {
    ts_fail(&err, TS_EINTERNAL, 0, "cannot build the check answer");
    tap_send_error(o->req, &err);
  } else {
    web__send_json(o->req, o->status, &o->b);
  }
  ts_buf_free(&o->b);
  ts_arena_free(o->a);
  free(o);
}

void web_check(ts_app *app, http_request *req)
{
  web_check_op *o = calloc(1, sizeof *o);
  ts_error err;
  ts_err rc;

  ts_error_clear(&err);
  if (!o) {
    ts_fail(&err, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &err);
    return;
  }
  o->app = app;
  o->req = req;
  o->status = 200;
  o->work.data = o;
  ts_buf_init(&o->b, WEB_CHECK_DOC_MAX);
  o->a = ts_arena_new(0, TS_QUERY_ARENA_CAP);
  rc = o->a ? http_request_params(req, &o->cp.all, &o->cp.n, &err)
            : ts_fail(&err, TS_ENOMEM, 0, "out of memory");
  if (!rc)
    rc = tap_check_single_valued(o->cp.all, o->cp.n, &err);
  if (!rc && !tap_request_param(&o->cp, "lang")) {
    /* The page's form always sends LANG; a bare QUERY means ADQL. */
    static const http_param lang = {"LANG", "ADQL"};
    http_param *more = ts_arena_calloc(req->arena, o->cp.n + 1, sizeof *more);
    if (!more) {
      rc = ts_fail(&err, TS_ENOMEM, 0, "out of memory");
    } else {
      if (o->cp.n)
        memcpy(more, o->cp.all, o->cp.n * sizeof *more);
      more[o->cp.n++] = lang;
      o->cp.all = more;
    }
  }
  if (rc) {
    o->status = ts_err_http(rc);
    if (web__check_json(&o->b, tap_request_param(&o->cp, "query"), &err))
      o->status = -1;
    check_done(&o->work, 0);
    return;
  }
  o->creds = plus_has_credentials(req);
  if (!o->creds) {
    check_run(o);
    check_done(&o->work, 0);
  } else if (uv_queue_work(app->loop, &o->work, check_work, check_done) != 0) {
    ts_fail(&err, TS_EUNAVAIL, 0, "the check is not available now");
    o->status = ts_err_http(TS_EUNAVAIL);
    ts_buf_reset(&o->b);
    if (web__check_json(&o->b, NULL, &err))
      o->status = -1;
    check_done(&o->work, 0);
  }
}
