/* tapserve/plus/notification.c: {tap}/notification, the TAP+ notification
 * resource that astroquery's ESA modules (Gaia, JWST, Hubble, ESASky) read
 * when they start:
 *
 *   GET {tap}/notification?action=GetNotifications[&id=N]
 *     200 text/plain, one line per notification, newest first:
 *     "<id>[type: <A>,<B>]=<text>" (clients print what follows the first
 *     '='); A is -100 for a message to everybody, 1 for one to the caller,
 *     B the kind's code (jobs/notify.h). With id: that one, 404 when it
 *     does not exist or has expired, 403 when it is another user's.
 *   POST {tap}/notification  action=RemoveNotification&id=N
 *     the caller dismisses one of their own: 200, 401 anonymous, 403 for
 *     another user's or one to everybody, 404.
 *
 * Anonymous callers see the messages to everybody, a user those and their
 * own. The work (who the caller is, the database) runs on libuv's pool;
 * a Basic password not in the credential cache goes to the login threads
 * through ts_auth_request like any other. Expired rows are invisible at
 * once and deleted by the cluster's sweeper. */
#include "jobs/notify.h"
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  /* the answer: every line at its longest */
  NOTIFY_BODY_MAX = JOBS_NOTIFY_SERVE_MAX * (JOBS_NOTIFY_TEXT_MAX + 64),
};

typedef struct notify_op {
  uv_work_t work;
  ts_app *app;
  http_request *req;
  int remove; /* RemoveNotification; else GetNotifications */
  int64_t id; /* 0: all of them */
  ts_err rc;
  ts_error err;
  ts_buf body;
} notify_op;

/* One line per row of jobs_notify_visible. A text is checked when it is
 * stored; one written into the table by hand still cannot break a line. */
static ts_err write_lines(PGresult *r, ts_buf *b)
{
  ts_err rc = TS_OK;
  for (int i = 0; !rc && i < PQntuples(r); i++) {
    jobs_notify_kind k;
    size_t at;
    if (jobs_notify_kind_parse(PQgetvalue(r, i, 2), &k))
      k = JOBS_NOTIFY_INFO; /* the table's CHECK allows no other */
    rc = ts_buf_printf(b, "%s[type: %s,%d]=", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
                       jobs_notify_kind_code(k));
    at = b->len;
    if (!rc)
      rc = ts_buf_puts(b, PQgetvalue(r, i, 3));
    for (size_t j = at; !rc && j < b->len; j++)
      if ((unsigned char)b->data[j] < 0x20)
        b->data[j] = ' ';
    if (!rc)
      rc = ts_buf_puts(b, "\n");
  }
  return rc;
}

static void op_work(uv_work_t *w)
{
  notify_op *o = w->data;
  ts_app *app = o->app;
  ts_who who;
  PGconn *conn = NULL;
  PGresult *r = NULL;

  o->rc = ts_auth_request(app, o->req, &who, &o->err);
  if (o->rc)
    return;
  if (o->remove && !who.user.id) {
    o->rc = ts_fail(&o->err, TS_EAUTH, 0, "log in to remove your notifications");
    return;
  }
  if (!app->db) {
    o->rc = ts_fail(&o->err, TS_EUNAVAIL, 0, "notifications are not available");
    return;
  }
  conn = jobs_db_get(app->db, &o->err);
  if (!conn) {
    o->rc = o->err.code;
    return;
  }
  if (o->remove) {
    o->rc = jobs_notify_dismiss(conn, who.user.id, o->id, &o->err);
    if (!o->rc && ts_buf_puts(&o->body, "OK\n"))
      o->rc = ts_fail(&o->err, TS_ENOMEM, 0, "out of memory");
  } else {
    o->rc = jobs_notify_visible(conn, who.user.id, o->id, &r, &o->err);
    if (!o->rc && write_lines(r, &o->body))
      o->rc = ts_fail(&o->err, TS_ENOMEM, 0, "out of memory writing notifications");
  }
  PQclear(r);
  jobs_db_put(app->db, conn);
}

static void op_after(uv_work_t *w, int status)
{
  (void)status;
  notify_op *o = w->data;
  if (o->rc)
    tap_send_error(o->req, &o->err);
  else
    http_respond(o->req, 200, "text/plain; charset=utf-8", "Cache-Control: no-store\r\n",
                 o->body.data ? o->body.data : "", o->body.len);
  ts_buf_free(&o->body);
  free(o);
}

/* The request's action and id; TS_EINVAL, TS_EMETHOD with the reason. */
static ts_err read_params(http_request *req, notify_op *o, ts_error *err)
{
  http_param *p = NULL;
  size_t n = 0;
  const char *action, *id;
  ts_err rc = http_request_params(req, &p, &n, err);
  if (rc)
    return rc;
  action = plus__param(p, n, "action");
  id = plus__param(p, n, "id");
  if (!action)
    return ts_fail(err, TS_EINVAL, 0,
                   "notification needs action=GetNotifications or action=RemoveNotification");
  if (ts_strcaseeq(action, "RemoveNotification"))
    o->remove = 1;
  else if (!ts_strcaseeq(action, "GetNotifications"))
    return ts_fail(err, TS_EINVAL, 0,
                   "unknown notification action %.64s: GetNotifications or RemoveNotification",
                   action);
  if (o->remove && strcmp(req->method, "POST") != 0)
    return ts_fail(err, TS_EMETHOD, 0, "RemoveNotification is a POST");
  if (id) {
    char *end = NULL;
    long long v = strtoll(id, &end, 10);
    if (!id[0] || !end || *end || v <= 0)
      return ts_fail(err, TS_EINVAL, 0, "id must be a notification number, not %.64s", id);
    o->id = v;
  } else if (o->remove) {
    return ts_fail(err, TS_EINVAL, 0, "RemoveNotification needs the id of a notification");
  }
  return TS_OK;
}

void plus_notification(ts_app *app, http_request *req)
{
  notify_op *o = calloc(1, sizeof *o);
  ts_error e;
  if (!o) {
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &e);
    return;
  }
  o->app = app;
  o->req = req;
  ts_error_clear(&o->err);
  ts_buf_init(&o->body, NOTIFY_BODY_MAX);
  o->work.data = o;
  if (read_params(req, o, &o->err)) {
    o->rc = o->err.code;
    if (o->rc == TS_EMETHOD) {
      tap_send_error_headers(req, &o->err, "Allow: POST\r\n");
      ts_buf_free(&o->body);
      free(o);
      return;
    }
    op_after(&o->work, 0);
    return;
  }
  if (uv_queue_work(app->loop, &o->work, op_work, op_after) != 0) {
    o->rc = ts_fail(&o->err, TS_EUNAVAIL, 0, "notifications are not available");
    op_after(&o->work, 0);
  }
}
