/* jobs/notify.h: notifications, kept in tapserve.notifications of the shared
 * database: the operator's messages to everybody (`tapserve notify`) and
 * messages to one user that other modules leave (a job finished, a quota
 * nearly full). Each has an expiry and is gone from every instance the
 * moment it passes, since every read filters on it; expired rows are
 * deleted by jobs_notify_sweep. Creation and removal are announced with
 * NOTIFICATION_CREATED_EVENT / NOTIFICATION_REMOVED_EVENT (id: the
 * notification's number), for instances that keep a cache; the rows are
 * the truth (docs/internals/notify.md).
 *
 * Like the rest of jobs/, every function here is a blocking libpq call on
 * a connection the caller owns. */
#ifndef TS_JOBS_NOTIFY_H
#define TS_JOBS_NOTIFY_H

#include "jobs/jobs.h"

/* The kinds: name (CLI, database), the code ESA's TAP+ clients see as the
 * second number of "[type: A,B]" (A is -100 for a message to everybody, 1
 * for one to a user), and whether an operator may send it with
 * `tapserve notify add --type`. */
#define JOBS_NOTIFY_KINDS(XX)                                                                      \
  XX(INFO, "info", 0, 1)                                                                           \
  XX(WARNING, "warning", 1, 1)                                                                     \
  XX(MAINTENANCE, "maintenance", -1, 1)                                                            \
  XX(JOB, "job", 2, 0)                                                                             \
  XX(QUOTA, "quota", 3, 0)

typedef enum jobs_notify_kind {
#define XX(name, text, code, op) JOBS_NOTIFY_##name,
  JOBS_NOTIFY_KINDS(XX)
#undef XX
      JOBS_NOTIFY_NKINDS
} jobs_notify_kind;

enum {
  JOBS_NOTIFY_TEXT_MAX = 2000,             /* bytes of a message */
  JOBS_NOTIFY_SERVE_MAX = 100,             /* messages one request returns, newest first */
  JOBS_NOTIFY_SWEEP_MAX = 1000,            /* expired ones the cluster's sweeper deletes per run */
  JOBS_NOTIFY_USER_TTL_S = 30 * 24 * 3600, /* default life of a message to a user */
  JOBS_NOTIFY_AUDIENCE_ALL = -100,         /* first number of "[type: A,B]" */
  JOBS_NOTIFY_AUDIENCE_USER = 1,
};

/* "info", ...; NULL outside the enum. */
const char *jobs_notify_kind_name(jobs_notify_kind k);
/* The kind's code (the B of "[type: A,B]"); 0 outside the enum. */
int jobs_notify_kind_code(jobs_notify_kind k);
/* The kind called `s` (case-sensitive); TS_EINVAL for an unknown name. */
ts_err jobs_notify_kind_parse(const char *s, jobs_notify_kind *out);
/* 1 when an operator may send this kind (info, warning, maintenance). */
int jobs_notify_kind_operator(jobs_notify_kind k);

/* TS_OK when `text` can be a message: 1 to JOBS_NOTIFY_TEXT_MAX bytes of
 * UTF-8 without control characters (a message is one line of the TAP+
 * answer). TS_EINVAL with the reason. */
ts_err jobs_notify_text_check(const char *text, ts_error *err);

/* A message for everybody (user NULL) or for user `user` (a name), of
 * kind k, until `until`: a PostgreSQL timestamp with time zone
 * ("2026-12-24 18:00Z") or "+" and an interval from now ("+2h", "+3 days").
 * TS_EINVAL for a bad text or time or one not in the future, TS_ENOTFOUND
 * for an unknown user. *id (may be NULL) gets its number. Publishes
 * NOTIFICATION_CREATED_EVENT. */
ts_err jobs_notify_add(PGconn *conn, const char *user, jobs_notify_kind k, const char *text,
                       const char *until, int64_t *id, ts_error *err);
/* A message to the user with id `user_id` (jobs_user.id), for the modules
 * that tell users about their own things: kept `ttl_s` seconds (0:
 * JOBS_NOTIFY_USER_TTL_S). Same errors and event as jobs_notify_add. */
ts_err jobs_notify_user(PGconn *conn, int64_t user_id, jobs_notify_kind k, const char *text,
                        int64_t ttl_s, int64_t *id, ts_error *err);

/* What a caller may read: the live messages to everybody and, for a user
 * (user_id > 0; 0 is anonymous), the live ones to that user; newest
 * first, at most JOBS_NOTIFY_SERVE_MAX. Columns: id, audience (-100 or 1),
 * kind, text, created_at in ms. With `id` > 0 only that message: then
 * TS_ENOTFOUND when it does not exist or has expired, TS_EFORBIDDEN when
 * it is another user's (a message to everybody is anyone's to read). The
 * caller PQclears *out. */
ts_err jobs_notify_visible(PGconn *conn, int64_t user_id, int64_t id, PGresult **out,
                           ts_error *err);
/* A user dismisses message `id` of their own: TS_ENOTFOUND (none, or
 * expired), TS_EFORBIDDEN (another user's, or one to everybody: those are
 * the operator's to remove). Publishes NOTIFICATION_REMOVED_EVENT. */
ts_err jobs_notify_dismiss(PGconn *conn, int64_t user_id, int64_t id, ts_error *err);
/* The operator removes message `id` (any). TS_ENOTFOUND. Publishes
 * NOTIFICATION_REMOVED_EVENT. */
ts_err jobs_notify_del(PGconn *conn, int64_t id, ts_error *err);
/* Every live message, by id: id, user name ("" for everybody), kind,
 * created_at and expires_at (ISO 8601 UTC), text. The caller PQclears
 * it; NULL with err set. */
PGresult *jobs_notify_list(PGconn *conn, ts_error *err);
/* Deletes up to `max` expired messages; *n (may be NULL) deleted. No
 * event: every reader filters on the expiry already. */
ts_err jobs_notify_sweep(PGconn *conn, int max, int *n, ts_error *err);

#endif
