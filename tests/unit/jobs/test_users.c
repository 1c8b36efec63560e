/* jobs/users.c and jobs/sessions.c: names, password hashes, session expiry
 * (pure), and users, sessions, tokens and the login throttle against
 * TAPSERVE_TEST_DSN. */
#include "test_list.h"
#include "ts_test.h"
#include "ts_test_pg.h"

#include "jobs/events.h"
#include "jobs/users.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int test_user_names(void)
{
  TS_CHECK(jobs_user_name_ok("alice"));
  TS_CHECK(jobs_user_name_ok("a.b-c_d@example.org"));
  TS_CHECK(!jobs_user_name_ok(""));
  TS_CHECK(!jobs_user_name_ok(NULL));
  TS_CHECK(!jobs_user_name_ok(".hidden"));
  TS_CHECK(!jobs_user_name_ok("-opt"));
  TS_CHECK(!jobs_user_name_ok("with space"));
  TS_CHECK(!jobs_user_name_ok("quote'"));
  TS_CHECK(!jobs_user_name_ok("caf\xc3\xa9"));
  {
    char n[JOBS_USER_NAME_MAX + 2];
    memset(n, 'a', sizeof n - 1);
    n[sizeof n - 1] = 0;
    TS_CHECK(!jobs_user_name_ok(n));
    n[JOBS_USER_NAME_MAX] = 0;
    TS_CHECK(jobs_user_name_ok(n));
  }
  return 0;
}

int test_password_hash(void)
{
  char h1[JOBS_PWHASH_MAX], h2[JOBS_PWHASH_MAX], sh[JOBS_SECRET_HASH_LEN + 1];
  ts_error e;
  TS_CHECK_EQ_INT(jobs_users_init(&e), TS_OK);
  TS_CHECK_EQ_INT(jobs_password_hash("s3cret", h1, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_password_hash("s3cret", h2, &e), TS_OK);
  TS_CHECK(!strncmp(h1, "$argon2id$", 10));
  TS_CHECK(strcmp(h1, h2) != 0); /* salted */
  TS_CHECK(strstr(h1, "s3cret") == NULL);
  TS_CHECK(jobs_password_verify(h1, "s3cret"));
  TS_CHECK(!jobs_password_verify(h1, "s3cret "));
  TS_CHECK(!jobs_password_verify(h1, ""));
  TS_CHECK(!jobs_password_verify("not a hash", "s3cret"));
  TS_CHECK(!strncmp(jobs_password_dummy(), "$argon2id$", 10));
  /* made with the parameters of jobs_password_hash: it costs the same */
  TS_CHECK(crypto_pwhash_str_needs_rehash(jobs_password_dummy(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                                          crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0);
  TS_CHECK(!jobs_password_verify(jobs_password_dummy(), "s3cret"));
  {
    static char longpw[JOBS_PASSWORD_MAX + 2];
    memset(longpw, 'x', JOBS_PASSWORD_MAX + 1);
    TS_CHECK_EQ_INT(jobs_password_hash(longpw, h2, &e), TS_EINVAL);
  }
  /* SHA-256 of "abc" (FIPS 180-2) */
  jobs_secret_hash("abc", 3, sh);
  TS_CHECK_STREQ(sh, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  return 0;
}

int test_session_expiry(void)
{
  jobs_session_limits l = {.idle_ms = 1000 * 60, .max_ms = 1000 * 600};
  /* sliding: the idle bound follows the last use */
  TS_CHECK_EQ_INT(jobs_session_expiry(&l, 0, 0), 60000);
  TS_CHECK_EQ_INT(jobs_session_expiry(&l, 0, 100000), 160000);
  /* never past the maximum from creation */
  TS_CHECK_EQ_INT(jobs_session_expiry(&l, 0, 590000), 600000);
  TS_CHECK_EQ_INT(jobs_session_expiry(&l, 5000, 1000000), 605000);
  /* last use written once per interval: a tenth of idle, within [1 s, 60 s] */
  TS_CHECK_EQ_INT(jobs_session_touch_interval(&l), 6000);
  l.idle_ms = 3600 * 1000;
  TS_CHECK_EQ_INT(jobs_session_touch_interval(&l), 60000);
  l.idle_ms = 2000;
  TS_CHECK_EQ_INT(jobs_session_touch_interval(&l), 1000);
  return 0;
}

static int count(PGconn *c, const char *sql)
{
  PGresult *r = PQexec(c, sql);
  int n = PQresultStatus(r) == PGRES_TUPLES_OK ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
  PQclear(r);
  return n;
}

/* 1 when `want` is among the notifications that have arrived on c (its
 * own statements: delivered by the time they return), the others dropped. */
static int next_event(PGconn *c, const char *want)
{
  return ts_test_pg_notified(c, want);
}

/* The pg tests run in parallel on one database: each touches only its own
 * users (ut_alice, ut_bob; tapserve's ut_auth) and throttle keys (utt_*). */
int test_pg_users_sessions(void)
{
  PGconn *c = ts_test_pg();
  ts_error e;
  jobs_user u, v;
  char hash[JOBS_PWHASH_MAX], sid[JOBS_SESSION_ID_LEN + 1], sid2[JOBS_SESSION_ID_LEN + 1];
  jobs_session_limits l = {.idle_ms = 60000, .max_ms = 600000};
  TS_CHECK(c);
  TS_CHECK_EQ_INT(jobs_users_init(&e), TS_OK);
  TS_CHECK_EQ_INT(jobs_migrate(c, NULL, NULL, &e), TS_OK);
  PQclear(PQexec(c, "DELETE FROM tapserve.users WHERE name = 'ut_alice'"));
  TS_CHECK_EQ_INT(jobs_user_add(c, "ut_alice", "pw-a", 0, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_user_add(c, "ut_alice", "other", 0, &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "exists"));
  TS_CHECK_EQ_INT(jobs_user_add(c, "ut bad", "pw", 0, &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_user_get(c, "ut_alice", &u, hash, &e), TS_OK);
  TS_CHECK(jobs_password_verify(hash, "pw-a"));
  TS_CHECK_EQ_INT(jobs_user_get(c, "ut_nobody", &v, hash, &e), TS_ENOTFOUND);

  /* a session: only its hash is stored; the login is announced */
  TS_CHECK(ts_test_exec_ok(c, "LISTEN " JOBS_CHANNEL));
  TS_CHECK_EQ_INT(jobs_session_create(c, &u, &l, sid, &e), TS_OK);
  TS_CHECK(next_event(c, "LOGIN_IN_EVENT ut_alice"));
  TS_CHECK_EQ_INT(strlen(sid), JOBS_SESSION_ID_LEN);
  {
    char q[256];
    snprintf(q, sizeof q, "SELECT count(*) FROM tapserve.sessions WHERE id_hash = '%s'", sid);
    TS_CHECK_EQ_INT(count(c, q), 0);
  }
  TS_CHECK_EQ_INT(jobs_session_check(c, sid, strlen(sid), &l, &v, &e), TS_OK);
  TS_CHECK_STREQ(v.name, "ut_alice");
  TS_CHECK_EQ_INT(v.id, u.id);
  /* malformed, unknown: refused without a user */
  TS_CHECK_EQ_INT(jobs_session_check(c, "zz", 2, &l, &v, &e), TS_EAUTH);
  TS_CHECK_EQ_INT(v.id, 0);
  TS_CHECK_EQ_INT(jobs_session_check(c, "0123456789abcdef0123456789abcdef", 32, &l, &v, &e),
                  TS_EAUTH);

  /* idle too long: refused and gone */
  TS_CHECK(ts_test_exec_ok(c, "UPDATE tapserve.sessions SET last_seen = now() - interval '61 s'"
                              " WHERE user_id = (SELECT id FROM tapserve.users"
                              " WHERE name = 'ut_alice')"));
  TS_CHECK_EQ_INT(jobs_session_check(c, sid, strlen(sid), &l, &v, &e), TS_EAUTH);
  TS_CHECK(strstr(e.msg, "expired"));
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM tapserve.sessions s JOIN tapserve.users u"
                           " ON u.id = s.user_id WHERE u.name = 'ut_alice'"),
                  0);

  /* used within idle but past the maximum: refused */
  TS_CHECK_EQ_INT(jobs_session_create(c, &u, &l, sid, &e), TS_OK);
  TS_CHECK(ts_test_exec_ok(c, "UPDATE tapserve.sessions SET created_at = now() - interval '601 s'"
                              " WHERE user_id = (SELECT id FROM tapserve.users"
                              " WHERE name = 'ut_alice')"));
  TS_CHECK_EQ_INT(jobs_session_check(c, sid, strlen(sid), &l, &v, &e), TS_EAUTH);

  /* a use after the touch interval moves last_seen; one within it does not */
  TS_CHECK_EQ_INT(jobs_session_create(c, &u, &l, sid, &e), TS_OK);
  TS_CHECK(ts_test_exec_ok(c, "UPDATE tapserve.sessions SET last_seen = now() - interval '10 s'"
                              " WHERE user_id = (SELECT id FROM tapserve.users"
                              " WHERE name = 'ut_alice')"));
  TS_CHECK_EQ_INT(jobs_session_check(c, sid, strlen(sid), &l, &v, &e), TS_OK);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM tapserve.sessions s JOIN tapserve.users u"
                           " ON u.id = s.user_id WHERE u.name = 'ut_alice'"
                           " AND s.last_seen > now() - interval '5 s'"),
                  1);
  TS_CHECK(ts_test_exec_ok(c, "UPDATE tapserve.sessions SET last_seen = now() - interval '3 s'"
                              " WHERE user_id = (SELECT id FROM tapserve.users"
                              " WHERE name = 'ut_alice')"));
  TS_CHECK_EQ_INT(jobs_session_check(c, sid, strlen(sid), &l, &v, &e), TS_OK);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM tapserve.sessions s JOIN tapserve.users u"
                           " ON u.id = s.user_id WHERE u.name = 'ut_alice'"
                           " AND s.last_seen < now() - interval '2 s'"),
                  1);

  /* logout of a session past its idle time: refused, and it is gone */
  TS_CHECK(ts_test_exec_ok(c, "UPDATE tapserve.sessions SET last_seen = now() - interval '61 s'"
                              " WHERE user_id = (SELECT id FROM tapserve.users"
                              " WHERE name = 'ut_alice')"));
  TS_CHECK_EQ_INT(jobs_session_end(c, sid, strlen(sid), &l, &v, &e), TS_EAUTH);
  TS_CHECK_EQ_INT(v.id, 0);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM tapserve.sessions s JOIN tapserve.users u"
                           " ON u.id = s.user_id WHERE u.name = 'ut_alice'"),
                  0);
  /* logout: ended once (and announced), then refused */
  TS_CHECK_EQ_INT(jobs_session_create(c, &u, &l, sid, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_session_end(c, sid, strlen(sid), &l, &v, &e), TS_OK);
  TS_CHECK(next_event(c, "LOGIN_OUT_EVENT ut_alice"));
  TS_CHECK_STREQ(v.name, "ut_alice");
  TS_CHECK_EQ_INT(jobs_session_end(c, sid, strlen(sid), &l, &v, &e), TS_EAUTH);
  TS_CHECK_EQ_INT(jobs_session_check(c, sid, strlen(sid), &l, &v, &e), TS_EAUTH);

  /* a new password ends every session of the user */
  TS_CHECK_EQ_INT(jobs_session_create(c, &u, &l, sid, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_session_create(c, &u, &l, sid2, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_user_passwd(c, "ut_alice", "pw-b", &e), TS_OK);
  TS_CHECK(next_event(c, "LOGIN_OUT_EVENT ut_alice"));
  TS_CHECK_EQ_INT(jobs_session_check(c, sid, strlen(sid), &l, &v, &e), TS_EAUTH);
  TS_CHECK_EQ_INT(jobs_session_check(c, sid2, strlen(sid2), &l, &v, &e), TS_EAUTH);
  TS_CHECK_EQ_INT(jobs_user_get(c, "ut_alice", &u, hash, &e), TS_OK);
  TS_CHECK(jobs_password_verify(hash, "pw-b"));
  TS_CHECK_EQ_INT(jobs_user_passwd(c, "ut_nobody", "x", &e), TS_ENOTFOUND);
  /* the sweep takes expired sessions only, at most `max` */
  TS_CHECK_EQ_INT(jobs_session_create(c, &u, &l, sid, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_session_create(c, &u, &l, sid2, &e), TS_OK);
  TS_CHECK(ts_test_exec_ok(c, "UPDATE tapserve.sessions SET expires_at = now() - interval '1 s'"
                              " WHERE user_id = (SELECT id FROM tapserve.users"
                              " WHERE name = 'ut_alice')"));
  TS_CHECK_EQ_INT(jobs_session_create(c, &u, &l, sid, &e), TS_OK);
  {
    int n = -1;
    TS_CHECK_EQ_INT(jobs_session_sweep(c, 1, &n, &e), TS_OK);
    TS_CHECK_EQ_INT(n, 1);
    TS_CHECK_EQ_INT(jobs_session_sweep(c, 100, &n, &e), TS_OK);
    TS_CHECK(n >= 1);
  }
  TS_CHECK_EQ_INT(jobs_session_check(c, sid, strlen(sid), &l, &v, &e), TS_OK);
  PQfinish(c);
  return 0;
}

int test_pg_tokens(void)
{
  PGconn *c = ts_test_pg();
  ts_error e;
  jobs_user u;
  char tok[JOBS_TOKEN_LEN + 1], tok2[JOBS_TOKEN_LEN + 1], sid[JOBS_SESSION_ID_LEN + 1];
  int64_t id = 0, id2 = 0;
  jobs_session_limits l = {.idle_ms = 60000, .max_ms = 600000};
  TS_CHECK(c);
  TS_CHECK_EQ_INT(jobs_users_init(&e), TS_OK);
  TS_CHECK_EQ_INT(jobs_migrate(c, NULL, NULL, &e), TS_OK);
  PQclear(PQexec(c, "DELETE FROM tapserve.users WHERE name = 'ut_bob'"));
  TS_CHECK_EQ_INT(jobs_user_add(c, "ut_bob", "pw", 0, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_token_add(c, "ut_nobody", 0, tok, &id, &e), TS_ENOTFOUND);
  TS_CHECK_EQ_INT(jobs_token_add(c, "ut_bob", 0, tok, &id, &e), TS_OK);
  TS_CHECK_EQ_INT(strlen(tok), JOBS_TOKEN_LEN);
  TS_CHECK_EQ_INT(jobs_token_check(c, tok, strlen(tok), &u, &e), TS_OK);
  TS_CHECK_STREQ(u.name, "ut_bob");
  /* the token's last character changed: unknown */
  {
    char bad[JOBS_TOKEN_LEN + 1];
    memcpy(bad, tok, sizeof bad);
    bad[JOBS_TOKEN_LEN - 1] = bad[JOBS_TOKEN_LEN - 1] == '0' ? '1' : '0';
    TS_CHECK_EQ_INT(jobs_token_check(c, bad, strlen(bad), &u, &e), TS_EAUTH);
    TS_CHECK_EQ_INT(u.id, 0);
  }
  TS_CHECK_EQ_INT(jobs_token_check(c, "tst_", 4, &u, &e), TS_EAUTH);
  /* expired */
  TS_CHECK_EQ_INT(jobs_token_add(c, "ut_bob", 3600, tok2, &id2, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_token_check(c, tok2, strlen(tok2), &u, &e), TS_OK);
  {
    char q[128];
    snprintf(q, sizeof q, "UPDATE tapserve.tokens SET expires_at = now() WHERE id = %lld",
             (long long)id2);
    TS_CHECK(ts_test_exec_ok(c, q));
  }
  TS_CHECK_EQ_INT(jobs_token_check(c, tok2, strlen(tok2), &u, &e), TS_EAUTH);
  /* revoked */
  TS_CHECK_EQ_INT(jobs_token_revoke(c, id, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_token_check(c, tok, strlen(tok), &u, &e), TS_EAUTH);
  TS_CHECK_EQ_INT(jobs_token_revoke(c, id, &e), TS_ENOTFOUND);
  /* deleting the user ends its tokens and sessions */
  TS_CHECK_EQ_INT(jobs_token_add(c, "ut_bob", 0, tok, &id, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_user_get(c, "ut_bob", &u, (char[JOBS_PWHASH_MAX]){0}, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_session_create(c, &u, &l, sid, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_user_del(c, "ut_bob", &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_token_check(c, tok, strlen(tok), &u, &e), TS_EAUTH);
  TS_CHECK_EQ_INT(jobs_session_check(c, sid, strlen(sid), &l, &u, &e), TS_EAUTH);
  TS_CHECK_EQ_INT(jobs_user_del(c, "ut_bob", &e), TS_ENOTFOUND);
  PQfinish(c);
  return 0;
}

int test_pg_login_throttle(void)
{
  PGconn *c = ts_test_pg();
  ts_error e;
  jobs_login_limits l = {.max_per_user = 3, .max_per_addr = 5, .lockout_ms = 60000};
  int64_t retry = 0;
  TS_CHECK(c);
  TS_CHECK_EQ_INT(jobs_migrate(c, NULL, NULL, &e), TS_OK);
  PQclear(PQexec(c, "DELETE FROM tapserve.login_failures WHERE key LIKE 'utt_%'"));
  /* per user: the third failure locks the name, from any address */
  for (int i = 0; i < 3; i++) {
    TS_CHECK_EQ_INT(jobs_login_allowed(c, "utt_carol", "utt_10.0.0.1", &l, &retry, &e), TS_OK);
    TS_CHECK_EQ_INT(jobs_login_failed(c, "utt_carol", "utt_10.0.0.1", &l, &e), TS_OK);
  }
  TS_CHECK_EQ_INT(jobs_login_allowed(c, "utt_carol", "utt_10.0.0.2", &l, &retry, &e), TS_ETOOMANY);
  TS_CHECK(retry >= 59 && retry <= 60);
  TS_CHECK(strstr(e.msg, "try again in"));
  /* other names from that address are still allowed (3 < 5) */
  TS_CHECK_EQ_INT(jobs_login_allowed(c, "utt_dave", "utt_10.0.0.1", &l, &retry, &e), TS_OK);
  /* per address: two more failures with other names lock the address */
  TS_CHECK_EQ_INT(jobs_login_failed(c, "utt_dave", "utt_10.0.0.1", &l, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_login_failed(c, "utt_erin", "utt_10.0.0.1", &l, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_login_allowed(c, "utt_frank", "utt_10.0.0.1", &l, &retry, &e), TS_ETOOMANY);
  TS_CHECK_EQ_INT(jobs_login_allowed(c, "utt_frank", "utt_10.0.0.3", &l, &retry, &e), TS_OK);
  /* the lockout ends lockout_ms after the last failure */
  TS_CHECK(ts_test_exec_ok(c, "UPDATE tapserve.login_failures SET last_failure = now()"
                              " - interval '61 s' WHERE key LIKE 'utt_%'"));
  TS_CHECK_EQ_INT(jobs_login_allowed(c, "utt_carol", "utt_10.0.0.1", &l, &retry, &e), TS_OK);
  /* and a failure after a quiet lockout period counts from 1 again */
  TS_CHECK_EQ_INT(jobs_login_failed(c, "utt_carol", "utt_10.0.0.1", &l, &e), TS_OK);
  TS_CHECK_EQ_INT(count(c, "SELECT failures FROM tapserve.login_failures"
                           " WHERE kind = 'user' AND key = 'utt_carol'"),
                  1);
  /* success clears the name's count */
  TS_CHECK_EQ_INT(jobs_login_succeeded(c, "utt_carol", &e), TS_OK);
  TS_CHECK_EQ_INT(count(c, "SELECT count(*) FROM tapserve.login_failures"
                           " WHERE kind = 'user' AND key = 'utt_carol'"),
                  0);
  PQclear(PQexec(c, "DELETE FROM tapserve.login_failures WHERE key LIKE 'utt_%'"));
  PQfinish(c);
  return 0;
}
