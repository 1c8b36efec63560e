/* tapserve/plus/auth.c: ts_auth_request against TAPSERVE_TEST_DSN, with
 * every kind of credential a client can send. */
#include "test_list.h"
#include "ts_test.h"
#include "ts_test_pg.h"

#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct auth_fixture {
  cfg conf;
  ts_app app;
  http_request req;
  http_header hdr[1];
  char value[256];
} auth_fixture;

/* The request carries one header `name: value` (name NULL: none). */
static void with_header(auth_fixture *f, const char *name, const char *value)
{
  f->req.headers = f->hdr;
  f->req.nheaders = name ? 1 : 0;
  snprintf(f->value, sizeof f->value, "%s", value ? value : "");
  f->hdr[0].name = name;
  f->hdr[0].value = f->value;
}

static void basic(auth_fixture *f, const char *userpw)
{
  char b64[200], v[220];
  sodium_bin2base64(b64, sizeof b64, (const unsigned char *)userpw, strlen(userpw),
                    sodium_base64_VARIANT_ORIGINAL);
  snprintf(v, sizeof v, "Basic %s", b64);
  with_header(f, "authorization", v);
}

int test_pg_auth_request(void)
{
  static auth_fixture f;
  PGconn *c = ts_test_pg();
  ts_error e;
  ts_who who;
  jobs_user u;
  jobs_session_limits sl;
  char tok[JOBS_TOKEN_LEN + 1], sid[JOBS_SESSION_ID_LEN + 1], v[128];
  int64_t tid;

  TS_CHECK(c);
  TS_CHECK_EQ_INT(jobs_users_init(&e), TS_OK);
  TS_CHECK_EQ_INT(jobs_migrate(c, NULL, NULL, &e), TS_OK);
  PQclear(PQexec(c, "DELETE FROM tapserve.users WHERE name = 'ut_auth'"));
  PQclear(PQexec(c, "DELETE FROM tapserve.login_failures WHERE key IN ('ut_auth', 'ut_addr')"));
  TS_CHECK_EQ_INT(jobs_user_add(c, "ut_auth", "pw:auth", 0, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_token_add(c, "ut_auth", 0, tok, &tid, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_user_get(c, "ut_auth", &u, (char[JOBS_PWHASH_MAX]){0}, &e), TS_OK);

  cfg_defaults(&f.conf);
  f.conf.users_login_max_failures = 3;
  f.app.cfg = &f.conf;
  f.app.db = jobs_db_new(getenv("TAPSERVE_TEST_DSN"), 2, 1000);
  TS_CHECK(f.app.db);
  snprintf(f.req.remote_addr, sizeof f.req.remote_addr, "ut_addr");
  plus__limits(&f.conf, &sl, NULL);
  TS_CHECK_EQ_INT(jobs_session_create(c, &u, &sl, sid, &e), TS_OK);

  /* nothing: anonymous */
  with_header(&f, NULL, NULL);
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_OK);
  TS_CHECK_EQ_INT(who.user.id, 0);
  TS_CHECK(who.via == NULL);
  /* an unrelated cookie: still anonymous */
  with_header(&f, "cookie", "theme=dark");
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_OK);
  TS_CHECK_EQ_INT(who.user.id, 0);

  /* Basic: the password may hold a colon, the name may not */
  basic(&f, "ut_auth:pw:auth");
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_OK);
  TS_CHECK_STREQ(who.user.name, "ut_auth");
  TS_CHECK_STREQ(who.via, "basic");
  basic(&f, "ut_auth:wrong");
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_EAUTH);
  TS_CHECK_EQ_INT(who.user.id, 0);
  with_header(&f, "authorization", "Basic !!!not base64");
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_EAUTH);
  basic(&f, "no colon");
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_EAUTH);

  /* Bearer */
  snprintf(v, sizeof v, "Bearer %s", tok);
  with_header(&f, "authorization", v);
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_OK);
  TS_CHECK_STREQ(who.user.name, "ut_auth");
  TS_CHECK_STREQ(who.via, "bearer");
  with_header(&f, "authorization", "bearer tst_0000");
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_EAUTH);
  with_header(&f, "authorization", "Digest username=\"ut_auth\"");
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_EAUTH);
  TS_CHECK(strstr(e.msg, "Basic or Bearer"));

  /* the session cookies */
  snprintf(v, sizeof v, "a=1; SESSION=%s", sid);
  with_header(&f, "cookie", v);
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_OK);
  TS_CHECK_STREQ(who.user.name, "ut_auth");
  TS_CHECK_STREQ(who.via, "session");
  snprintf(v, sizeof v, "JSESSIONID=%s", sid);
  with_header(&f, "cookie", v);
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_OK);
  TS_CHECK_EQ_INT(who.user.id, u.id);
  /* a session that does not hold is refused, never taken as anonymous */
  with_header(&f, "cookie", "SESSION=0123456789abcdef0123456789abcdef");
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_EAUTH);
  TS_CHECK_EQ_INT(who.user.id, 0);

  /* Basic counts towards the failed-login throttle (3 per name here):
   * two more failures, and then the right password is refused too */
  basic(&f, "ut_auth:wrong");
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_EAUTH);
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_EAUTH);
  basic(&f, "ut_auth:pw:auth");
  TS_CHECK_EQ_INT(ts_auth_request(&f.app, &f.req, &who, &e), TS_ETOOMANY);
  TS_CHECK_EQ_INT(who.user.id, 0);

  PQclear(PQexec(c, "DELETE FROM tapserve.users WHERE name = 'ut_auth'"));
  PQclear(PQexec(c, "DELETE FROM tapserve.login_failures WHERE key IN ('ut_auth', 'ut_addr')"));
  jobs_db_free(f.app.db);
  cfg_free(&f.conf);
  PQfinish(c);
  return 0;
}
