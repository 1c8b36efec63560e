/* jobs/users.c: TAP+ users, their passwords and API tokens
 * (jobs/users.h; sessions and the login throttle are in sessions.c). */
#include "jobs/events.h"
#include "jobs/jobs_int.h"
#include "jobs/users.h"

#include <pthread.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

_Static_assert(JOBS_PWHASH_MAX >= crypto_pwhash_STRBYTES, "JOBS_PWHASH_MAX too small");
_Static_assert((int)JOBS_USER_NAME_MAX <= (int)JOBS_EVENT_ID_MAX, "a user name is an event id");

int jobs_user_name_ok(const char *name)
{
  size_t n = name ? strlen(name) : 0;
  if (n == 0 || n > JOBS_USER_NAME_MAX || name[0] == '.' || name[0] == '-')
    return 0;
  for (size_t i = 0; i < n; i++) {
    char c = name[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          strchr("_.-@", c)))
      return 0;
  }
  return 1;
}

/* ---- passwords ------------------------------------------------------------------ */

ts_err jobs_users_init(ts_error *err)
{
  if (sodium_init() < 0)
    return ts_fail(err, TS_EINTERNAL, 0, "libsodium cannot be initialised");
  return TS_OK;
}

ts_err jobs_password_hash(const char *pw, char out[JOBS_PWHASH_MAX], ts_error *err)
{
  size_t n = strlen(pw);
  out[0] = 0;
  if (n > JOBS_PASSWORD_MAX)
    return ts_fail(err, TS_EINVAL, 0, "a password has at most %d bytes", JOBS_PASSWORD_MAX);
  if (crypto_pwhash_str_alg(out, pw, n, crypto_pwhash_OPSLIMIT_INTERACTIVE,
                            crypto_pwhash_MEMLIMIT_INTERACTIVE, crypto_pwhash_ALG_ARGON2ID13) != 0)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory hashing a password");
  return TS_OK;
}

int jobs_password_verify(const char *hash, const char *pw)
{
  size_t n = strlen(pw);
  if (n > JOBS_PASSWORD_MAX)
    return 0;
  return crypto_pwhash_str_verify(hash, pw, n) == 0;
}

/* The hash unknown users are checked against, so that their answer takes
 * as long as a known user's. Made once, offline, with the parameters of
 * jobs_password_hash (a unit test keeps them equal), of 32 random bytes
 * nobody kept: not made at start, where its 64 MiB would set the
 * process's peak memory before it served anything. Whatever matches it,
 * an unknown user's login fails. */
static const char dummy_hash[] = "$argon2id$v=19$m=65536,t=2,p=1$9Qp7kxuh9qCzvXb6PbdY9w$"
                                 "BSheBOgUb2dDOlcIbXNnFIbyiOeAN+0IhePAxyMzd/4";

const char *jobs_password_dummy(void)
{
  return dummy_hash;
}

void jobs_secret_hash(const char *secret, size_t len, char out[JOBS_SECRET_HASH_LEN + 1])
{
  unsigned char d[crypto_hash_sha256_BYTES];
  crypto_hash_sha256(d, (const unsigned char *)secret, len);
  sodium_bin2hex(out, JOBS_SECRET_HASH_LEN + 1, d, sizeof d);
  sodium_memzero(d, sizeof d);
}

/* ---- users ------------------------------------------------------------------------ */

ts_err jobs__user_event(PGconn *conn, int kind, const char *name, ts_error *err)
{
  jobs_event ev = {.kind = (jobs_event_kind)kind};
  snprintf(ev.id, sizeof ev.id, "%s", name);
  return jobs_event_publish(conn, &ev, err);
}

static ts_err publish_logout(PGconn *conn, const char *name, ts_error *err)
{
  return jobs__user_event(conn, JOBS_EV_LOGIN_OUT, name, err);
}

void jobs__user_row(const PGresult *r, int row, int col, jobs_user *u)
{
  u->id = strtoll(PQgetvalue(r, row, col), NULL, 10);
  snprintf(u->name, sizeof u->name, "%s", PQgetvalue(r, row, col + 1));
  u->admin = PQgetvalue(r, row, col + 2)[0] == 't';
}

static ts_err name_check(const char *name, ts_error *err)
{
  if (jobs_user_name_ok(name))
    return TS_OK;
  return ts_fail(err, TS_EINVAL, 0,
                 "a user name has 1 to %d letters, digits or _.-@ and does not start with . or -",
                 JOBS_USER_NAME_MAX);
}

ts_err jobs_user_add(PGconn *conn, const char *name, const char *pw, int admin, ts_error *err)
{
  char hash[JOBS_PWHASH_MAX];
  PGresult *r = NULL;
  ts_err rc = name_check(name, err);
  if (!rc)
    rc = jobs_password_hash(pw, hash, err);
  if (rc)
    return rc;
  {
    const char *v[3] = {name, hash, admin ? "t" : "f"};
    rc = jobs__run(conn,
                   "INSERT INTO tapserve.users (name, password_hash, is_admin)"
                   " VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING",
                   3, v, &r, err);
  }
  if (!rc && strcmp(PQcmdTuples(r), "1") != 0)
    rc = ts_fail(err, TS_EINVAL, 0, "user %s exists", name);
  PQclear(r);
  sodium_memzero(hash, sizeof hash);
  return rc;
}

ts_err jobs_user_passwd(PGconn *conn, const char *name, const char *pw, ts_error *err)
{
  char hash[JOBS_PWHASH_MAX];
  PGresult *r = NULL;
  ts_err rc = jobs_password_hash(pw, hash, err);
  if (rc)
    return rc;
  /* The new hash and the end of every session in one transaction. */
  rc = jobs__run(conn, "BEGIN", 0, NULL, NULL, err);
  if (!rc) {
    const char *v[2] = {name, hash};
    rc = jobs__run(conn,
                   "UPDATE tapserve.users SET password_hash = $2, password_changed_at = now()"
                   " WHERE name = $1 RETURNING id",
                   2, v, &r, err);
  }
  sodium_memzero(hash, sizeof hash);
  if (!rc && PQntuples(r) == 0)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "no user %s", name);
  if (!rc) {
    const char *v[1] = {PQgetvalue(r, 0, 0)};
    rc = jobs__run(conn, "DELETE FROM tapserve.sessions WHERE user_id = $1", 1, v, NULL, err);
  }
  PQclear(r);
  if (!rc)
    rc = publish_logout(conn, name, err); /* delivered at COMMIT */
  if (!rc)
    rc = jobs__run(conn, "COMMIT", 0, NULL, NULL, err);
  if (rc && PQtransactionStatus(conn) != PQTRANS_IDLE)
    PQclear(PQexec(conn, "ROLLBACK"));
  return rc;
}

ts_err jobs_user_del(PGconn *conn, const char *name, ts_error *err)
{
  const char *v[1] = {name};
  PGresult *r = NULL;
  ts_err rc = jobs__run(conn, "DELETE FROM tapserve.users WHERE name = $1", 1, v, &r, err);
  if (!rc && strcmp(PQcmdTuples(r), "1") != 0)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "no user %s", name);
  PQclear(r);
  if (!rc)
    rc = publish_logout(conn, name, err);
  return rc;
}

PGresult *jobs_user_list(PGconn *conn, ts_error *err)
{
  PGresult *r = NULL;
  jobs__run(conn,
            "SELECT u.name, u.is_admin, to_char(u.created_at AT TIME ZONE 'UTC',"
            " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
            " (SELECT count(*) FROM tapserve.sessions s WHERE s.user_id = u.id"
            "  AND s.expires_at > now()),"
            " (SELECT count(*) FROM tapserve.tokens t WHERE t.user_id = u.id"
            "  AND (t.expires_at IS NULL OR t.expires_at > now()))"
            " FROM tapserve.users u ORDER BY u.name",
            0, NULL, &r, err);
  return r;
}

ts_err jobs_user_get(PGconn *conn, const char *name, jobs_user *u, char hash[JOBS_PWHASH_MAX],
                     ts_error *err)
{
  const char *v[1] = {name};
  PGresult *r = NULL;
  ts_err rc;
  memset(u, 0, sizeof *u);
  if (!jobs_user_name_ok(name))
    return ts_fail(err, TS_ENOTFOUND, 0, "no such user");
  rc = jobs__run(conn,
                 "SELECT id, name, is_admin, password_hash FROM tapserve.users"
                 " WHERE name = $1",
                 1, v, &r, err);
  if (!rc && PQntuples(r) == 0)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "no such user");
  if (!rc) {
    jobs__user_row(r, 0, 0, u);
    snprintf(hash, JOBS_PWHASH_MAX, "%s", PQgetvalue(r, 0, 3));
  }
  PQclear(r);
  return rc;
}

/* ---- API tokens ---------------------------------------------------------------------- */

ts_err jobs_token_add(PGconn *conn, const char *name, int64_t ttl_s, char token[JOBS_TOKEN_LEN + 1],
                      int64_t *id, ts_error *err)
{
  char hash[JOBS_SECRET_HASH_LEN + 1], ttl[24];
  PGresult *r = NULL;
  ts_err rc;
  memcpy(token, "tst_", 4);
  if (ts_random_hex(token + 4, (JOBS_TOKEN_LEN - 4) / 2))
    return ts_fail(err, TS_EINTERNAL, 0, "no randomness for a token");
  token[JOBS_TOKEN_LEN] = 0;
  jobs_secret_hash(token, JOBS_TOKEN_LEN, hash);
  snprintf(ttl, sizeof ttl, "%lld", (long long)ttl_s);
  {
    const char *v[3] = {name, hash, ttl};
    rc = jobs__run(conn,
                   "INSERT INTO tapserve.tokens (token_hash, user_id, expires_at)"
                   " SELECT $2, id, CASE WHEN $3::bigint > 0"
                   "  THEN now() + $3::bigint * interval '1 second' END"
                   " FROM tapserve.users WHERE name = $1 RETURNING id",
                   3, v, &r, err);
  }
  if (!rc && PQntuples(r) == 0)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "no user %s", name);
  if (!rc)
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  if (rc)
    sodium_memzero(token, JOBS_TOKEN_LEN + 1);
  return rc;
}

PGresult *jobs_token_list(PGconn *conn, const char *name, ts_error *err)
{
  const char *v[1] = {name};
  PGresult *r = NULL;
  jobs__run(conn,
            "SELECT t.id, u.name,"
            " to_char(t.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
            " coalesce(to_char(t.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
            "  'never'),"
            " coalesce(to_char(t.last_used AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
            "  'never')"
            " FROM tapserve.tokens t JOIN tapserve.users u ON u.id = t.user_id"
            " WHERE $1::text IS NULL OR u.name = $1 ORDER BY t.id",
            1, v, &r, err);
  return r;
}

ts_err jobs_token_revoke(PGconn *conn, int64_t id, ts_error *err)
{
  char ids[24];
  const char *v[1] = {ids};
  PGresult *r = NULL;
  ts_err rc;
  snprintf(ids, sizeof ids, "%lld", (long long)id);
  rc = jobs__run(conn,
                 "DELETE FROM tapserve.tokens t USING tapserve.users u"
                 " WHERE t.id = $1 AND u.id = t.user_id RETURNING u.name",
                 1, v, &r, err);
  if (!rc && PQntuples(r) == 0)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "no token %lld", (long long)id);
  if (!rc)
    rc = publish_logout(conn, PQgetvalue(r, 0, 0), err);
  PQclear(r);
  return rc;
}

/* A token's shape, before any database work: "tst_" and hex digits. */
static int token_shape_ok(const char *tok, size_t len)
{
  if (len != JOBS_TOKEN_LEN || memcmp(tok, "tst_", 4) != 0)
    return 0;
  for (size_t i = 4; i < len; i++)
    if (!strchr("0123456789abcdef", tok[i]) || !tok[i])
      return 0;
  return 1;
}

ts_err jobs_token_check(PGconn *conn, const char *tok, size_t len, jobs_user *u, ts_error *err)
{
  char hash[JOBS_SECRET_HASH_LEN + 1];
  const char *v[1] = {hash};
  PGresult *r = NULL;
  ts_err rc;
  memset(u, 0, sizeof *u);
  if (!token_shape_ok(tok, len))
    return ts_fail(err, TS_EAUTH, 0, "invalid or expired token");
  jobs_secret_hash(tok, len, hash);
  rc = jobs__run(conn,
                 "SELECT u.id, u.name, u.is_admin,"
                 " t.last_used IS NULL OR t.last_used < now() - interval '1 minute'"
                 " FROM tapserve.tokens t JOIN tapserve.users u ON u.id = t.user_id"
                 " WHERE t.token_hash = $1 AND (t.expires_at IS NULL OR t.expires_at > now())",
                 1, v, &r, err);
  if (!rc && PQntuples(r) == 0)
    rc = ts_fail(err, TS_EAUTH, 0, "invalid or expired token");
  if (!rc) {
    jobs__user_row(r, 0, 0, u);
    if (PQgetvalue(r, 0, 3)[0] == 't')
      rc = jobs__run(conn, "UPDATE tapserve.tokens SET last_used = now() WHERE token_hash = $1", 1,
                     v, NULL, err);
  }
  PQclear(r);
  return rc;
}
