/* jobs/users.h: TAP+ users, login sessions, API tokens and the failed-login
 * throttle, all kept in schema tapserve of the shared database, so that
 * every instance sees the same (docs/internals/users.md).
 *
 * Secrets never reach the database or the logs as they are: passwords are
 * stored as argon2id hashes (libsodium's crypto_pwhash_str), session ids
 * and tokens as the hex SHA-256 of the secret. Like the rest of jobs/,
 * every function here is a blocking libpq call on a connection the caller
 * owns (worker threads, subcommands), never on the event loop. */
#ifndef TS_JOBS_USERS_H
#define TS_JOBS_USERS_H

#include "jobs/jobs.h"

enum {
  JOBS_USER_NAME_MAX = 63,   /* bytes of a user name (an event id: JOBS_EVENT_ID_MAX) */
  JOBS_PASSWORD_MAX = 1024,  /* bytes of a password */
  JOBS_PWHASH_MAX = 128,     /* an encoded hash with its NUL (crypto_pwhash_STRBYTES) */
  JOBS_SESSION_ID_LEN = 32,  /* hex digits of a session id (128 random bits) */
  JOBS_TOKEN_LEN = 48,       /* characters of a token: "tst_" and 44 hex digits */
  JOBS_SECRET_HASH_LEN = 64, /* hex digits of the SHA-256 of a session id or token */
};

/* 1 when `name` can be a user name: 1 to JOBS_USER_NAME_MAX bytes of
 * ASCII letters, digits and "_.-@", not starting with '.' or '-' (it also
 * names the user's schema and travels in event payloads). */
int jobs_user_name_ok(const char *name);

/* ---- passwords -------------------------------------------------------------
 * libsodium must be initialised (jobs_users_init) before any of these. */
/* sodium_init; TS_EINTERNAL when libsodium cannot start. Any thread, any
 * number of times. */
ts_err jobs_users_init(ts_error *err);
/* The argon2id hash of `pw` (0 to JOBS_PASSWORD_MAX bytes) with
 * libsodium's interactive limits. TS_EINVAL for a password too long,
 * TS_ENOMEM when the hash's memory cannot be had. */
ts_err jobs_password_hash(const char *pw, char out[JOBS_PWHASH_MAX], ts_error *err);
/* 1 when `pw` matches `hash`. Takes as long whatever the answer. */
int jobs_password_verify(const char *hash, const char *pw);
/* A hash of a random password with jobs_password_hash's parameters:
 * verifying against it for an unknown user takes the time a known one
 * takes. */
const char *jobs_password_dummy(void);
/* The hex SHA-256 of a secret (a session id or a token). */
void jobs_secret_hash(const char *secret, size_t len, char out[JOBS_SECRET_HASH_LEN + 1]);

/* ---- users ------------------------------------------------------------------ */
typedef struct jobs_user {
  int64_t id; /* 0: anonymous */
  char name[JOBS_USER_NAME_MAX + 1];
  int admin;
} jobs_user;

/* Adds a user with the password `pw`. TS_EINVAL for a name
 * jobs_user_name_ok refuses or one that is taken. */
ts_err jobs_user_add(PGconn *conn, const char *name, const char *pw, int admin, ts_error *err);
/* Sets a new password and ends the user's sessions (LOGIN_OUT_EVENT).
 * TS_ENOTFOUND when there is no such user. */
ts_err jobs_user_passwd(PGconn *conn, const char *name, const char *pw, ts_error *err);
/* Deletes the user with its groups, sessions and tokens (LOGIN_OUT_EVENT).
 * TS_ENOTFOUND when there is no such user. */
ts_err jobs_user_del(PGconn *conn, const char *name, ts_error *err);
/* The users, by name: name, is_admin (t/f), created_at, live sessions,
 * tokens. The caller PQclears it; NULL with err set. */
PGresult *jobs_user_list(PGconn *conn, ts_error *err);
/* The user called `name` and its password hash; TS_ENOTFOUND. */
ts_err jobs_user_get(PGconn *conn, const char *name, jobs_user *u, char hash[JOBS_PWHASH_MAX],
                     ts_error *err);

/* ---- sessions ---------------------------------------------------------------
 * A session lives while it is used: it expires `idle` after its last use
 * and `max` after its creation, whichever comes first. Its last use is
 * written at most once per jobs_session_touch_interval, not per request. */
typedef struct jobs_session_limits {
  int64_t idle_ms, max_ms; /* both > 0 */
} jobs_session_limits;
/* When a session created at created_ms and last used at last_ms expires. */
int64_t jobs_session_expiry(const jobs_session_limits *l, int64_t created_ms, int64_t last_ms);
/* How stale the recorded last use may get before a request writes it:
 * a tenth of idle_ms, at most a minute, at least a second. */
int64_t jobs_session_touch_interval(const jobs_session_limits *l);
/* A new session for user `user_id`: its id (JOBS_SESSION_ID_LEN hex
 * digits) in `id`, for the cookie; only its hash is stored. Publishes
 * LOGIN_IN_EVENT for user `name`. */
ts_err jobs_session_create(PGconn *conn, const jobs_user *u, const jobs_session_limits *l,
                           char id[JOBS_SESSION_ID_LEN + 1], ts_error *err);
/* The user of the live session `id` (len bytes, from a cookie: untrusted),
 * recording its use when the last one is older than the touch interval.
 * TS_EAUTH when there is no such session or it has expired (an expired
 * one is deleted). */
ts_err jobs_session_check(PGconn *conn, const char *id, size_t len, const jobs_session_limits *l,
                          jobs_user *u, ts_error *err);
/* Ends the session `id` and publishes LOGIN_OUT_EVENT for its user (set
 * in *u when u is not NULL). TS_EAUTH when there was no live session (an
 * expired one is deleted all the same). */
ts_err jobs_session_end(PGconn *conn, const char *id, size_t len, const jobs_session_limits *l,
                        jobs_user *u, ts_error *err);
/* Deletes up to `max` sessions past their recorded expiry (expires_at,
 * written at creation and at each recorded use); *n (may be NULL) deleted. */
ts_err jobs_session_sweep(PGconn *conn, int max, int *n, ts_error *err);

/* ---- API tokens -------------------------------------------------------------- */
/* A new token for user `name`, valid for `ttl_s` seconds (0: until
 * revoked): the token in `token` (shown once; only its hash is stored),
 * its id in *id. TS_ENOTFOUND when there is no such user. */
ts_err jobs_token_add(PGconn *conn, const char *name, int64_t ttl_s, char token[JOBS_TOKEN_LEN + 1],
                      int64_t *id, ts_error *err);
/* Tokens of user `name` (NULL: everybody's), by id: id, user, created_at,
 * expires_at, last_used. The caller PQclears it; NULL with err set. */
PGresult *jobs_token_list(PGconn *conn, const char *name, ts_error *err);
/* Revokes token `id`; TS_ENOTFOUND. */
ts_err jobs_token_revoke(PGconn *conn, int64_t id, ts_error *err);
/* The user of the live token `tok` (untrusted), recording its use at most
 * once a minute. TS_EAUTH when unknown or expired. */
ts_err jobs_token_check(PGconn *conn, const char *tok, size_t len, jobs_user *u, ts_error *err);

/* ---- failed logins ------------------------------------------------------------
 * Counted per user name (known or not) and per client address, in the
 * database so the limit holds across instances. After `max_*` failures,
 * each within `lockout_ms` of the one before, logins for that name or from
 * that address are refused until `lockout_ms` after the last failure. */
typedef struct jobs_login_limits {
  int max_per_user, max_per_addr;
  int64_t lockout_ms;
} jobs_login_limits;
/* TS_OK when a login for `name` from `addr` may be tried; TS_ETOOMANY with
 * *retry_s (seconds until it may) otherwise. */
ts_err jobs_login_allowed(PGconn *conn, const char *name, const char *addr,
                          const jobs_login_limits *l, int64_t *retry_s, ts_error *err);
/* Counts a failed login against `name` and `addr`. */
ts_err jobs_login_failed(PGconn *conn, const char *name, const char *addr,
                         const jobs_login_limits *l, ts_error *err);
/* A login for `name` succeeded: its own count starts again (the
 * address's does not, or one account would unlock guessing at others). */
ts_err jobs_login_succeeded(PGconn *conn, const char *name, ts_error *err);

#endif
