/* tapserve/plus/auth.c: who a request comes from (ts_auth_request) and the
 * one password check of form logins and HTTP Basic. */
#include "jobs/events.h"
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

void plus__limits(const cfg *c, jobs_session_limits *s, jobs_login_limits *l)
{
  if (s) {
    s->idle_ms = (int64_t)c->users_session_idle_s * 1000;
    s->max_ms = (int64_t)c->users_session_max_s * 1000;
  }
  if (l) {
    l->max_per_user = c->users_login_max_failures;
    l->max_per_addr = c->users_login_max_failures_addr;
    l->lockout_ms = (int64_t)c->users_login_lockout_s * 1000;
  }
}

ts_err plus__check_password(ts_app *app, PGconn *conn, const char *name, const char *pw,
                            const char *addr, jobs_user *u, int64_t *retry_s, ts_error *err)
{
  jobs_login_limits l;
  char hash[JOBS_PWHASH_MAX];
  /* Every malformed name shares one counter: none of them can succeed. */
  const char *key = jobs_user_name_ok(name) ? name : "(not a user name)";
  ts_err rc;
  int ok;

  plus__limits(app->cfg, NULL, &l);
  *retry_s = 0;
  rc = jobs_login_allowed(conn, key, addr, &l, retry_s, err);
  if (rc)
    return rc;
  rc = jobs_user_get(conn, name, u, hash, err);
  if (rc && rc != TS_ENOTFOUND)
    return rc;
  /* Unknown or not: one argon2id verification, then one answer. */
  ok = jobs_password_verify(rc ? jobs_password_dummy() : hash, pw) && !rc;
  sodium_memzero(hash, sizeof hash);
  if (ok)
    return jobs_login_succeeded(conn, key, err);
  memset(u, 0, sizeof *u);
  rc = jobs_login_failed(conn, key, addr, &l, err);
  if (!rc)
    rc = ts_fail(err, TS_EAUTH, 0, "wrong user name or password");
  return rc;
}

int plus__session_cookie(const http_request *req, const char **id, size_t *len)
{
  const char *h = http_header_get(req, "cookie");
  size_t n = h ? strlen(h) : 0;
  return http_cookie_get(h, n, PLUS_COOKIE, id, len) ||
         http_cookie_get(h, n, PLUS_COOKIE_JAVA, id, len);
}

/* "Basic" credentials: base64 of "user:password". */
static ts_err auth_basic(ts_app *app, PGconn *conn, const http_request *req, const char *b64,
                         jobs_user *u, ts_error *err)
{
  /* the user name, the colon and the longest password, in base64 */
  char raw[JOBS_USER_NAME_MAX + 1 + JOBS_PASSWORD_MAX + 4];
  size_t n = 0;
  int64_t retry = 0;
  char *colon;
  ts_err rc;
  if (sodium_base642bin((unsigned char *)raw, sizeof raw - 1, b64, strlen(b64), " ", &n, NULL,
                        sodium_base64_VARIANT_ORIGINAL) != 0)
    return ts_fail(err, TS_EAUTH, 0, "malformed Basic credentials");
  raw[n] = 0;
  colon = memchr(raw, ':', n);
  if (!colon || strlen(raw) != n) {
    sodium_memzero(raw, sizeof raw);
    return ts_fail(err, TS_EAUTH, 0, "malformed Basic credentials");
  }
  *colon = 0;
  /* A script sends the same credentials with each request: the answer
   * of one argon2id check is good for [users] basic_cache seconds. */
  if (app->creds && plus_creds_get(app->creds, raw, colon + 1, ts_now_ms(), u)) {
    sodium_memzero(raw, sizeof raw);
    return TS_OK;
  }
  uint64_t gen = app->creds ? plus_creds_generation(app->creds) : 0;
  /* The address is the client's, through [server] trusted_proxies
   * (http_client_addr): a proxy's own would throttle all its clients. */
  rc = plus__check_password(app, conn, raw, colon + 1, req->remote_addr, u, &retry, err);
  if (!rc && app->creds)
    plus_creds_put(app->creds, raw, colon + 1, u, gen, ts_now_ms());
  sodium_memzero(raw, sizeof raw);
  return rc;
}

static ts_err auth_on(ts_app *app, PGconn *conn, const http_request *req, ts_who *who,
                      ts_error *err)
{
  const char *authz = http_header_get(req, "authorization"), *id;
  size_t len;
  jobs_session_limits sl;
  ts_err rc;

  if (authz) {
    size_t sp = strcspn(authz, " ");
    const char *cred = authz + sp;
    while (*cred == ' ')
      cred++;
    if (sp == 5 && ts_strncaseeq(authz, "Basic", 5)) {
      who->via = "basic";
      return auth_basic(app, conn, req, cred, &who->user, err);
    }
    if (sp == 6 && ts_strncaseeq(authz, "Bearer", 6)) {
      who->via = "bearer";
      return jobs_token_check(conn, cred, strlen(cred), &who->user, err);
    }
    return ts_fail(err, TS_EAUTH, 0, "unsupported Authorization scheme: use Basic or Bearer");
  }
  if (plus__session_cookie(req, &id, &len)) {
    plus__limits(app->cfg, &sl, NULL);
    who->via = "session";
    rc = jobs_session_check(conn, id, len, &sl, &who->user, err);
    return rc;
  }
  return TS_OK; /* anonymous */
}

ts_err ts_auth_request(ts_app *app, const http_request *req, ts_who *who, ts_error *err)
{
  PGconn *conn;
  ts_err rc;
  memset(who, 0, sizeof *who);
  if (!http_header_get(req, "authorization") &&
      !plus__session_cookie(req, &(const char *){0}, &(size_t){0})) {
    /* anonymous, without a database round trip */
    who->has_anon = plus_anon_owner(req, who->anon);
    return TS_OK;
  }
  if (!app->db)
    return ts_fail(err, TS_EUNAVAIL, 0, "logins are not available");
  conn = jobs_db_get(app->db, err);
  if (!conn)
    return err->code;
  rc = auth_on(app, conn, req, who, err);
  jobs_db_put(app->db, conn);
  if (rc) {
    memset(&who->user, 0, sizeof who->user);
    who->via = NULL;
  }
  return rc;
}

const char *plus_cookie_path(const cfg *c, char *buf, size_t cap)
{
  const char *cut = strrchr(c->path_prefix, '/');
  size_t n = cut ? (size_t)(cut - c->path_prefix) : 0;
  snprintf(buf, cap, "%.*s", (int)n, c->path_prefix);
  return n ? buf : "/";
}

int plus_anon_owner(const http_request *req, char hash[JOBS_SECRET_HASH_LEN + 1])
{
  const char *h = http_header_get(req, "cookie"), *v;
  size_t len;
  if (!h || !http_cookie_get(h, strlen(h), PLUS_OWNER_COOKIE, &v, &len) || len != PLUS_OWNER_ID_LEN)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
      return 0;
  jobs_secret_hash(v, len, hash);
  return 1;
}

ts_err plus_anon_owner_new(const cfg *c, ts_buf *hdr, char hash[JOBS_SECRET_HASH_LEN + 1],
                           ts_error *err)
{
  char id[PLUS_OWNER_ID_LEN + 1], path[512];
  ts_err rc;
  if (ts_random_hex(id, PLUS_OWNER_ID_LEN / 2))
    return ts_fail(err, TS_EIO, 0, "no random bytes for an owner id");
  /* A year: the jobs it owns live far less; the browser keeps it across
   * restarts. */
  http_cookie k = {PLUS_OWNER_COOKIE,
                   id,
                   plus_cookie_path(c, path, sizeof path),
                   365 * 86400,
                   !strncmp(c->base_url, "https://", 8),
                   1,
                   "Lax"};
  jobs_secret_hash(id, PLUS_OWNER_ID_LEN, hash);
  rc = http_set_cookie(hdr, &k, err);
  sodium_memzero(id, sizeof id);
  return rc;
}

/* LOGIN_OUT_EVENT (logout, password changed, user deleted, on any
 * instance): the user's remembered Basic credentials go. */
static void on_login_out(void *ud, const jobs_event *ev)
{
  ts_app *app = ud;
  plus_creds_drop(app->creds, ev->id);
}

/* Events may have been missed: nothing remembered can be trusted. */
static void on_recheck(void *ud)
{
  ts_app *app = ud;
  plus_creds_drop(app->creds, NULL);
}

ts_err plus_start(ts_app *app, ts_error *err)
{
  ts_err rc = jobs_users_init(err);
  if (!rc && ts_workq_new(app->loop, PLUS_THREADS, &app->plusq))
    rc = ts_fail(err, TS_EINTERNAL, 0, "cannot start the login threads");
  /* Without the bus no instance would hear of a password change: no
   * cache then. */
  if (!rc && app->bus && app->cfg->users_basic_cache_s > 0) {
    app->creds = plus_creds_new(PLUS_CREDS_MAX, (int64_t)app->cfg->users_basic_cache_s * 1000);
    if (!app->creds)
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    else if (jobs_bus_subscribe(app->bus, JOBS_EV_LOGIN_OUT, on_login_out, app) ||
             jobs_bus_on_recheck(app->bus, on_recheck, app))
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  return rc;
}

void plus_free(ts_app *app)
{
  if (app->plusq)
    ts_workq_free(app->plusq);
  app->plusq = NULL;
  plus_creds_free(app->creds);
  app->creds = NULL;
}

PGconn *plus__user_conn(ts_app *app, const http_request *req, const char *why, ts_who *who,
                        ts_error *err)
{
  PGconn *conn;
  ts_err rc = ts_auth_request(app, req, who, err);
  if (!rc && who->user.id == 0)
    ts_fail(err, TS_EAUTH, 0, "%s", why);
  if (rc || who->user.id == 0)
    return NULL;
  conn = jobs_db_get(app->db, err);
  return conn;
}
