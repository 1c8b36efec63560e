/* tapserve/plus/login.c: POST {ctx}/login and POST {ctx}/logout, the TAP+
 * session resources. The work (argon2id, the database) runs on the login
 * threads (app->plusq); the answer is written back on the loop. */
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  PLUS_HDR_MAX = 1024, /* two Set-Cookie lines with their attributes */
  PLUS_SWEEP_MAX = 100 /* expired sessions deleted per login */
};

typedef struct plus_op {
  ts_work work;
  ts_app *app;
  http_request *req;
  int logout;
  const char *name; /* login: the form's, in the request arena */
  char *pw;         /* idem; wiped once checked */
  const char *sid;  /* logout: the cookie's session id (in the request) */
  size_t sid_len;
  ts_err rc;
  ts_error err;
  int64_t retry_s;
  char id[JOBS_SESSION_ID_LEN + 1]; /* login: the new session */
} plus_op;

/* JSESSIONID first: TapPlus reads the first Set-Cookie line only. */
static ts_err session_cookies(const cfg *c, const char *value, ts_buf *b, ts_error *err)
{
  char path[512];
  http_cookie k = {PLUS_COOKIE_JAVA,
                   value,
                   plus_cookie_path(c, path, sizeof path),
                   value[0] ? -1 : 0,
                   !strncmp(c->base_url, "https://", 8),
                   1,
                   "Lax"};
  ts_err rc = http_set_cookie(b, &k, err);
  k.name = PLUS_COOKIE;
  return rc ? rc : http_set_cookie(b, &k, err);
}

static void op_work(ts_work *w)
{
  plus_op *o = w->data;
  ts_app *app = o->app;
  PGconn *conn = app->db ? jobs_db_get(app->db, &o->err) : NULL;
  jobs_user u;
  if (!app->db)
    ts_fail(&o->err, TS_EUNAVAIL, 0, "logins are not available");
  if (!conn) {
    o->rc = o->err.code;
    return;
  }
  jobs_session_limits sl;
  plus__limits(app->cfg, &sl, NULL);
  if (o->logout) {
    o->rc = jobs_session_end(conn, o->sid, o->sid_len, &sl, NULL, &o->err);
  } else {
    o->rc = plus__check_password(app, conn, o->name, o->pw, o->req->remote_addr, &u, &o->retry_s,
                                 &o->err);
    sodium_memzero(o->pw, strlen(o->pw));
    if (!o->rc)
      o->rc = jobs_session_create(conn, &u, &sl, o->id, &o->err);
    if (!o->rc)
      ts_log(TS_LOG_INFO, o->req->reqid, "user %s logged in", u.name);
    /* Sessions nobody presents again would stay: each login clears a
     * few of those expired (an index range; failures only logged). */
    if (!o->rc) {
      ts_error e;
      int n = 0;
      if (jobs_session_sweep(conn, PLUS_SWEEP_MAX, &n, &e))
        ts_log(TS_LOG_WARN, o->req->reqid, "expired sessions not swept: %s", e.msg);
    }
  }
  jobs_db_put(app->db, conn);
}

static void op_after(ts_work *w)
{
  plus_op *o = w->data;
  const cfg *c = o->app->cfg;
  ts_buf hdr;
  ts_error e;
  ts_buf_init(&hdr, PLUS_HDR_MAX);
  if (o->rc == TS_ETOOMANY) {
    if (ts_buf_printf(&hdr, "Retry-After: %lld\r\n", (long long)o->retry_s))
      tap_send_error(o->req, &o->err); /* the message says how long too */
    else
      tap_send_error_headers(o->req, &o->err, hdr.data);
  } else if (o->rc) {
    /* a failed logout leaves no stale cookie behind either */
    if (o->logout && !session_cookies(c, "", &hdr, &e))
      tap_send_error_headers(o->req, &o->err, hdr.data);
    else if (!o->logout && ts_err_http(o->rc) == 401)
      /* a wrong password of a form is no invitation to HTTP Basic: a
       * browser would put its own password dialog over the page */
      tap_send_error_headers(o->req, &o->err, TAP_CHALLENGE_BEARER);
    else
      tap_send_error(o->req, &o->err);
  } else if (session_cookies(c, o->logout ? "" : o->id, &hdr, &e)) {
    tap_send_error(o->req, &e);
  } else {
    http_respond(o->req, 200, "text/plain; charset=utf-8", hdr.data, "OK\n", 3);
  }
  sodium_memzero(o->id, sizeof o->id);
  ts_buf_free(&hdr);
  free(o);
}

static void queue(plus_op *o)
{
  o->work.data = o;
  if (!o->app->plusq || ts_workq_submit(o->app->plusq, &o->work, op_work, op_after)) {
    o->rc = ts_fail(&o->err, TS_EUNAVAIL, 0, "logins are not available");
    op_after(&o->work);
  }
}

static plus_op *op_new(ts_app *app, http_request *req)
{
  plus_op *o = calloc(1, sizeof *o);
  ts_error e;
  if (!o) {
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &e);
    return NULL;
  }
  o->app = app;
  o->req = req;
  ts_error_clear(&o->err);
  return o;
}

void plus_login(ts_app *app, http_request *req)
{
  http_param *p = NULL;
  size_t n = 0;
  ts_error e;
  plus_op *o;
  const char *name = NULL;
  char *pw = NULL;

  if (http_request_params(req, &p, &n, &e)) {
    tap_send_error(req, &e);
    return;
  }
  for (size_t i = 0; i < n; i++) {
    if (ts_strcaseeq(p[i].name, "username"))
      name = p[i].value;
    else if (ts_strcaseeq(p[i].name, "password"))
      pw = (char *)p[i].value; /* decoded into the request arena: ours to wipe */
  }
  if (!name || !name[0] || !pw) {
    ts_fail(&e, TS_EINVAL, 0, "login needs the parameters username and password");
    tap_send_error(req, &e);
    return;
  }
  if (strlen(pw) > JOBS_PASSWORD_MAX || strlen(name) > JOBS_PASSWORD_MAX) {
    ts_fail(&e, TS_EINVAL, 0, "user name or password too long");
    tap_send_error(req, &e);
    return;
  }
  o = op_new(app, req);
  if (!o)
    return;
  o->name = name;
  o->pw = pw;
  queue(o);
}

void plus_logout(ts_app *app, http_request *req)
{
  plus_op *o = op_new(app, req);
  if (!o)
    return;
  o->logout = 1;
  if (!plus__session_cookie(req, &o->sid, &o->sid_len)) {
    o->rc = ts_fail(&o->err, TS_EAUTH, 0, "not logged in");
    o->work.data = o;
    op_after(&o->work);
    return;
  }
  queue(o);
}
