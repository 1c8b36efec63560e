/* jobs/sessions.c: login sessions and the failed-login throttle
 * (jobs/users.h). Both live in the shared database only: a session made
 * on one instance is good on all of them, and one ended anywhere is
 * refused everywhere at the next request, since no instance keeps a copy. */
#include "jobs/events.h"
#include "jobs/jobs_int.h"
#include "jobs/users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- expiry (pure: unit-tested) ----------------------------------------------- */

int64_t jobs_session_expiry(const jobs_session_limits *l, int64_t created_ms, int64_t last_ms)
{
  int64_t idle = last_ms + l->idle_ms, max = created_ms + l->max_ms;
  return idle < max ? idle : max;
}

int64_t jobs_session_touch_interval(const jobs_session_limits *l)
{
  int64_t t = l->idle_ms / 10;
  return t > 60000 ? 60000 : t < 1000 ? 1000 : t;
}

/* ---- sessions ------------------------------------------------------------------ */

/* Columns 3 to 5 of the statements below: creation, last use and the
 * database's now, in milliseconds. The decision is jobs_session_expiry's
 * alone, with the limits of the configuration at the time of the request. */
#define SESSION_TIMES                                                                              \
  " (extract(epoch FROM s.created_at) * 1000)::bigint,"                                            \
  " (extract(epoch FROM s.last_seen) * 1000)::bigint,"                                             \
  " (extract(epoch FROM now()) * 1000)::bigint"

/* 1 when the session of row 0 is live; t (may be NULL) gets its times. */
static int row_live(const PGresult *r, const jobs_session_limits *l, int64_t t[3])
{
  int64_t x[3];
  for (int i = 0; i < 3; i++)
    x[i] = strtoll(PQgetvalue(r, 0, 3 + i), NULL, 10);
  if (t)
    memcpy(t, x, sizeof x);
  return x[2] < jobs_session_expiry(l, x[0], x[1]);
}

/* A session id's shape: JOBS_SESSION_ID_LEN lower-case hex digits. */
static int id_shape_ok(const char *id, size_t len)
{
  if (len != JOBS_SESSION_ID_LEN)
    return 0;
  for (size_t i = 0; i < len; i++)
    if (!id[i] || !strchr("0123456789abcdef", id[i]))
      return 0;
  return 1;
}

ts_err jobs_session_create(PGconn *conn, const jobs_user *u, const jobs_session_limits *l,
                           char id[JOBS_SESSION_ID_LEN + 1], ts_error *err)
{
  char hash[JOBS_SECRET_HASH_LEN + 1], uid[24], max[24];
  ts_err rc;
  if (ts_random_hex(id, JOBS_SESSION_ID_LEN / 2))
    return ts_fail(err, TS_EINTERNAL, 0, "no randomness for a session id");
  jobs_secret_hash(id, JOBS_SESSION_ID_LEN, hash);
  snprintf(uid, sizeof uid, "%lld", (long long)u->id);
  /* created = last use = now: the first expiry is the nearer of both */
  snprintf(max, sizeof max, "%lld", (long long)jobs_session_expiry(l, 0, 0));
  {
    const char *v[3] = {hash, uid, max};
    rc = jobs__run(conn,
                   "INSERT INTO tapserve.sessions (id_hash, user_id, expires_at)"
                   " VALUES ($1, $2, now() + $3::bigint * interval '1 millisecond')",
                   3, v, NULL, err);
  }
  if (!rc)
    rc = jobs__user_event(conn, JOBS_EV_LOGIN_IN, u->name, err);
  if (rc)
    memset(id, 0, JOBS_SESSION_ID_LEN + 1);
  return rc;
}

ts_err jobs_session_check(PGconn *conn, const char *id, size_t len, const jobs_session_limits *l,
                          jobs_user *u, ts_error *err)
{
  char hash[JOBS_SECRET_HASH_LEN + 1];
  const char *v[2] = {hash, NULL};
  PGresult *r = NULL;
  ts_err rc;
  memset(u, 0, sizeof *u);
  if (!id_shape_ok(id, len))
    return ts_fail(err, TS_EAUTH, 0, "no such session, or it has expired: log in again");
  jobs_secret_hash(id, len, hash);
  rc = jobs__run(conn,
                 "SELECT u.id, u.name, u.is_admin," SESSION_TIMES
                 " FROM tapserve.sessions s JOIN tapserve.users u ON u.id = s.user_id"
                 " WHERE s.id_hash = $1",
                 1, v, &r, err);
  if (!rc && PQntuples(r) == 0)
    rc = ts_fail(err, TS_EAUTH, 0, "no such session, or it has expired: log in again");
  if (!rc) {
    int64_t t[3];
    char exp[24];
    jobs__user_row(r, 0, 0, u);
    if (!row_live(r, l, t)) {
      memset(u, 0, sizeof *u);
      jobs__run(conn, "DELETE FROM tapserve.sessions WHERE id_hash = $1", 1, v, NULL, err);
      rc = ts_fail(err, TS_EAUTH, 0, "the session has expired: log in again");
    } else if (t[2] - t[1] >= jobs_session_touch_interval(l)) {
      /* Only the first request of the interval writes, and only when the
       * row still holds the last use read above. */
      snprintf(exp, sizeof exp, "%lld", (long long)jobs_session_expiry(l, t[0], t[2]));
      v[1] = exp;
      rc = jobs__run(conn,
                     "UPDATE tapserve.sessions SET last_seen = now(),"
                     " expires_at = to_timestamp($2::bigint / 1000.0) WHERE id_hash = $1",
                     2, v, NULL, err);
    }
  }
  PQclear(r);
  return rc;
}

ts_err jobs_session_end(PGconn *conn, const char *id, size_t len, const jobs_session_limits *l,
                        jobs_user *u, ts_error *err)
{
  char hash[JOBS_SECRET_HASH_LEN + 1];
  const char *v[1] = {hash};
  PGresult *r = NULL;
  jobs_user who;
  ts_err rc;
  memset(&who, 0, sizeof who);
  if (!id_shape_ok(id, len))
    return ts_fail(err, TS_EAUTH, 0, "not logged in");
  jobs_secret_hash(id, len, hash);
  /* Gone either way; only a live one was a login to end. */
  rc = jobs__run(conn,
                 "DELETE FROM tapserve.sessions s USING tapserve.users u"
                 " WHERE s.id_hash = $1 AND u.id = s.user_id"
                 " RETURNING u.id, u.name, u.is_admin," SESSION_TIMES,
                 1, v, &r, err);
  if (!rc && (PQntuples(r) == 0 || !row_live(r, l, NULL)))
    rc = ts_fail(err, TS_EAUTH, 0, "not logged in");
  if (!rc) {
    jobs__user_row(r, 0, 0, &who);
    rc = jobs__user_event(conn, JOBS_EV_LOGIN_OUT, who.name, err);
  }
  PQclear(r);
  if (u)
    *u = who;
  return rc;
}

ts_err jobs_session_sweep(PGconn *conn, int max, int *n, ts_error *err)
{
  char m[16];
  const char *v[1] = {m};
  PGresult *r = NULL;
  ts_err rc;
  snprintf(m, sizeof m, "%d", max);
  rc = jobs__run(conn,
                 "DELETE FROM tapserve.sessions WHERE id_hash IN (SELECT id_hash"
                 " FROM tapserve.sessions WHERE expires_at <= now() LIMIT $1::int)",
                 1, v, &r, err);
  if (n)
    *n = rc ? 0 : (int)strtol(PQcmdTuples(r), NULL, 10);
  PQclear(r);
  return rc;
}

/* ---- failed logins ------------------------------------------------------------------ */

ts_err jobs_login_allowed(PGconn *conn, const char *name, const char *addr,
                          const jobs_login_limits *l, int64_t *retry_s, ts_error *err)
{
  char lock[24], mu[16], ma[16];
  PGresult *r = NULL;
  ts_err rc;
  *retry_s = 0;
  snprintf(lock, sizeof lock, "%lld", (long long)l->lockout_ms);
  snprintf(mu, sizeof mu, "%d", l->max_per_user);
  snprintf(ma, sizeof ma, "%d", l->max_per_addr);
  {
    const char *v[5] = {name, addr, lock, mu, ma};
    rc = jobs__run(conn,
                   "SELECT ceil(extract(epoch FROM max(last_failure"
                   "  + $3::bigint * interval '1 millisecond') - now()))::bigint"
                   " FROM tapserve.login_failures"
                   " WHERE ((kind = 'user' AND key = $1 AND failures >= $4::int)"
                   "  OR (kind = 'addr' AND key = $2 AND failures >= $5::int))"
                   " AND last_failure + $3::bigint * interval '1 millisecond' > now()",
                   5, v, &r, err);
  }
  if (!rc && !PQgetisnull(r, 0, 0)) {
    *retry_s = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
    if (*retry_s < 1)
      *retry_s = 1;
    rc = ts_fail(err, TS_ETOOMANY, 0,
                 "too many failed logins for this user or from this address: try again in "
                 "%lld s",
                 (long long)*retry_s);
  }
  PQclear(r);
  return rc;
}

ts_err jobs_login_failed(PGconn *conn, const char *name, const char *addr,
                         const jobs_login_limits *l, ts_error *err)
{
  char lock[24];
  const char *v[3] = {name, addr, lock};
  snprintf(lock, sizeof lock, "%lld", (long long)l->lockout_ms);
  /* A failure long after the previous one starts the count again. */
  return jobs__run(conn,
                   "INSERT INTO tapserve.login_failures AS f (kind, key, failures, last_failure)"
                   " VALUES ('user', $1, 1, now()), ('addr', $2, 1, now())"
                   " ON CONFLICT (kind, key) DO UPDATE SET"
                   " failures = CASE WHEN f.last_failure + $3::bigint * interval '1 millisecond'"
                   "  < now() THEN 1 ELSE f.failures + 1 END,"
                   " last_failure = now()",
                   3, v, NULL, err);
}

ts_err jobs_login_succeeded(PGconn *conn, const char *name, ts_error *err)
{
  const char *v[1] = {name};
  return jobs__run(conn, "DELETE FROM tapserve.login_failures WHERE kind = 'user' AND key = $1", 1,
                   v, NULL, err);
}
