/* tapserve/plus/: the cache of checked HTTP Basic credentials
 * (credcache.c) and ts_auth_request's use of it against TAPSERVE_TEST_DSN;
 * the JOB_IDS list of deletejobs (jobs.c). */
#include "test_list.h"
#include "ts_test.h"
#include "ts_test_pg.h"

#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static jobs_user user(int64_t id, const char *name)
{
  jobs_user u;
  memset(&u, 0, sizeof u);
  u.id = id;
  snprintf(u.name, sizeof u.name, "%s", name);
  return u;
}

int test_creds_hit_miss(void)
{
  plus_creds *c = plus_creds_new(64, 1000);
  jobs_user a = user(7, "alice"), got;
  TS_CHECK(c);
  TS_CHECK(!plus_creds_get(c, "alice", "pw", 0, &got));
  plus_creds_put(c, "alice", "pw", &a, plus_creds_generation(c), 0);
  TS_CHECK(plus_creds_get(c, "alice", "pw", 999, &got));
  TS_CHECK_EQ_INT(got.id, 7);
  TS_CHECK_STREQ(got.name, "alice");
  /* another password, another name, or the same bytes split otherwise */
  TS_CHECK(!plus_creds_get(c, "alice", "pw2", 1, &got));
  TS_CHECK(!plus_creds_get(c, "bob", "pw", 1, &got));
  TS_CHECK(!plus_creds_get(c, "alicep", "w", 1, &got));
  /* the TTL */
  TS_CHECK(!plus_creds_get(c, "alice", "pw", 1000, &got));
  plus_creds_free(c);
  /* no cache at all without a size or a TTL */
  TS_CHECK(plus_creds_new(0, 1000) == NULL);
  TS_CHECK(plus_creds_new(16, 0) == NULL);
  return 0;
}

int test_creds_drop(void)
{
  plus_creds *c = plus_creds_new(64, 60000);
  jobs_user a = user(1, "alice"), b = user(2, "bob"), got;
  uint64_t gen;
  TS_CHECK(c);
  plus_creds_put(c, "alice", "pa", &a, plus_creds_generation(c), 0);
  plus_creds_put(c, "bob", "pb", &b, plus_creds_generation(c), 0);
  plus_creds_drop(c, "alice");
  TS_CHECK(!plus_creds_get(c, "alice", "pa", 1, &got));
  TS_CHECK(plus_creds_get(c, "bob", "pb", 1, &got));
  plus_creds_drop(c, NULL);
  TS_CHECK(!plus_creds_get(c, "bob", "pb", 1, &got));
  /* a check that began before a drop (a password changed meanwhile)
   * stores nothing */
  gen = plus_creds_generation(c);
  plus_creds_drop(c, "carol");
  plus_creds_put(c, "alice", "pa", &a, gen, 2);
  TS_CHECK(!plus_creds_get(c, "alice", "pa", 3, &got));
  plus_creds_put(c, "alice", "pa", &a, plus_creds_generation(c), 2);
  TS_CHECK(plus_creds_get(c, "alice", "pa", 3, &got));
  plus_creds_free(c);
  return 0;
}

int test_creds_bounded(void)
{
  enum { CAP = 8, N = 200 };
  plus_creds *c = plus_creds_new(CAP, 60000);
  jobs_user a = user(1, "alice"), got;
  char pw[32];
  int hits = 0;
  TS_CHECK(c);
  for (int i = 0; i < N; i++) {
    snprintf(pw, sizeof pw, "pw%d", i);
    plus_creds_put(c, "alice", pw, &a, plus_creds_generation(c), 0);
  }
  for (int i = 0; i < N; i++) {
    snprintf(pw, sizeof pw, "pw%d", i);
    hits += plus_creds_get(c, "alice", pw, 1, &got);
  }
  /* no more remembered than the table holds, and the last one is */
  TS_CHECK(hits >= 1 && hits <= CAP);
  TS_CHECK(plus_creds_get(c, "alice", pw, 1, &got));
  plus_creds_free(c);
  return 0;
}

/* ts_auth_request answers a repeated Basic login from the cache (the
 * database's password no longer matters), until the user's entries are
 * dropped as LOGIN_OUT_EVENT drops them. */
int test_pg_auth_basic_cache(void)
{
  static cfg conf;
  static ts_app app;
  static http_request req;
  static http_header hdr[1];
  PGconn *c = ts_test_pg();
  ts_error e;
  ts_who who;
  char b64[200], v[220];

  TS_CHECK(c);
  TS_CHECK_EQ_INT(jobs_users_init(&e), TS_OK);
  TS_CHECK_EQ_INT(jobs_migrate(c, NULL, NULL, &e), TS_OK);
  PQclear(PQexec(c, "DELETE FROM tapserve.users WHERE name = 'ut_cache'"));
  PQclear(PQexec(c, "DELETE FROM tapserve.login_failures WHERE key IN ('ut_cache', 'ut_caddr')"));
  TS_CHECK_EQ_INT(jobs_user_add(c, "ut_cache", "pw-cache", 0, &e), TS_OK);
  cfg_defaults(&conf);
  app.cfg = &conf;
  app.db = jobs_db_new(getenv("TAPSERVE_TEST_DSN"), 2, 1000);
  app.creds = plus_creds_new(PLUS_CREDS_MAX, 60000);
  TS_CHECK(app.db && app.creds);
  snprintf(req.remote_addr, sizeof req.remote_addr, "ut_caddr");
  sodium_bin2base64(b64, sizeof b64, (const unsigned char *)"ut_cache:pw-cache", 17,
                    sodium_base64_VARIANT_ORIGINAL);
  snprintf(v, sizeof v, "Basic %s", b64);
  hdr[0].name = "authorization";
  hdr[0].value = v;
  req.headers = hdr;
  req.nheaders = 1;

  TS_CHECK_EQ_INT(ts_auth_request(&app, &req, &who, &e), TS_OK);
  TS_CHECK_STREQ(who.user.name, "ut_cache");
  /* the password changes behind the cache's back: still remembered */
  TS_CHECK_EQ_INT(jobs_user_passwd(c, "ut_cache", "pw-new", &e), TS_OK);
  TS_CHECK_EQ_INT(ts_auth_request(&app, &req, &who, &e), TS_OK);
  TS_CHECK_STREQ(who.user.name, "ut_cache");
  TS_CHECK_STREQ(who.via, "basic");
  /* the event's drop: the old password is checked again, and refused */
  plus_creds_drop(app.creds, "ut_cache");
  TS_CHECK_EQ_INT(ts_auth_request(&app, &req, &who, &e), TS_EAUTH);
  TS_CHECK_EQ_INT(who.user.id, 0);
  /* a refused password is never remembered */
  TS_CHECK_EQ_INT(ts_auth_request(&app, &req, &who, &e), TS_EAUTH);

  PQclear(PQexec(c, "DELETE FROM tapserve.users WHERE name = 'ut_cache'"));
  PQclear(PQexec(c, "DELETE FROM tapserve.login_failures WHERE key IN ('ut_cache', 'ut_caddr')"));
  plus_creds_free(app.creds);
  jobs_db_free(app.db);
  cfg_free(&conf);
  PQfinish(c);
  return 0;
}

int test_plus_job_ids(void)
{
  ts_arena *a = ts_arena_new(0, 1 << 20);
  const char **ids = NULL;
  size_t n = 0;
  ts_error e;
  TS_CHECK(a);
  TS_CHECK_EQ_INT(plus_job_ids_parse(" 0a1b , ,ff,", 4, a, &ids, &n, &e), TS_OK);
  TS_CHECK_EQ_INT(n, 2);
  TS_CHECK_STREQ(ids[0], "0a1b");
  TS_CHECK_STREQ(ids[1], "ff");
  TS_CHECK_EQ_INT(plus_job_ids_parse("", 4, a, &ids, &n, &e), TS_EINVAL);
  TS_CHECK_EQ_INT(plus_job_ids_parse(" , ", 4, a, &ids, &n, &e), TS_EINVAL);
  TS_CHECK_EQ_INT(plus_job_ids_parse(NULL, 4, a, &ids, &n, &e), TS_EINVAL);
  TS_CHECK_EQ_INT(plus_job_ids_parse("0a,x y", 4, a, &ids, &n, &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "\"x y\" is not a job id"));
  TS_CHECK_EQ_INT(plus_job_ids_parse("0A", 4, a, &ids, &n, &e), TS_EINVAL);
  TS_CHECK_EQ_INT(plus_job_ids_parse("1,2,3,4,5", 4, a, &ids, &n, &e), TS_ELIMIT);
  ts_arena_free(a);
  return 0;
}
