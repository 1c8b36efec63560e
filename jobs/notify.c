/* jobs/notify.c: notifications in the shared database (jobs/notify.h). */
#include "jobs/notify.h"
#include "jobs/events.h"
#include "jobs/jobs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *name;
  int code, op;
} kinds[] = {
#define XX(n, text, code, op) {text, code, op},
    JOBS_NOTIFY_KINDS(XX)
#undef XX
};

const char *jobs_notify_kind_name(jobs_notify_kind k)
{
  return (unsigned)k < JOBS_NOTIFY_NKINDS ? kinds[k].name : NULL;
}

int jobs_notify_kind_code(jobs_notify_kind k)
{
  return (unsigned)k < JOBS_NOTIFY_NKINDS ? kinds[k].code : 0;
}

int jobs_notify_kind_operator(jobs_notify_kind k)
{
  return (unsigned)k < JOBS_NOTIFY_NKINDS && kinds[k].op;
}

ts_err jobs_notify_kind_parse(const char *s, jobs_notify_kind *out)
{
  for (int i = 0; s && i < JOBS_NOTIFY_NKINDS; i++) {
    if (!strcmp(s, kinds[i].name)) {
      *out = (jobs_notify_kind)i;
      return TS_OK;
    }
  }
  return TS_EINVAL;
}

ts_err jobs_notify_text_check(const char *text, ts_error *err)
{
  size_t n = text ? strlen(text) : 0;
  if (n == 0)
    return ts_fail(err, TS_EINVAL, 0, "a notification needs a text");
  if (n > JOBS_NOTIFY_TEXT_MAX)
    return ts_fail(err, TS_EINVAL, 0, "a notification has at most %d bytes of text",
                   JOBS_NOTIFY_TEXT_MAX);
  if (!ts_utf8_valid(text, n))
    return ts_fail(err, TS_EINVAL, 0, "a notification's text must be UTF-8");
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)text[i];
    if (c < 0x20 || c == 0x7f)
      return ts_fail(err, TS_EINVAL, 0,
                     "a notification is one line: no line breaks or other control characters");
  }
  return TS_OK;
}

static ts_err publish(PGconn *conn, jobs_event_kind kind, const char *id, ts_error *err)
{
  jobs_event ev = {.kind = kind};
  snprintf(ev.id, sizeof ev.id, "%s", id);
  return jobs_event_publish(conn, &ev, err);
}

/* jobs__run with one integer parameter ($1). */
static ts_err run_int(PGconn *conn, const char *sql, int64_t v, PGresult **res, ts_error *err)
{
  char t[24];
  const char *vals[1] = {t};
  snprintf(t, sizeof t, "%lld", (long long)v);
  return jobs__run(conn, sql, 1, vals, res, err);
}

/* The expiry `until` names (see jobs_notify_add) as a timestamptz literal
 * in out: read by PostgreSQL, so every form its input accepts works. */
static ts_err expiry(PGconn *conn, const char *until, char *out, size_t cap, ts_error *err)
{
  const int rel = until[0] == '+';
  const char *v[1] = {until + rel};
  const char *sql = rel ? "SELECT t::text, t > now() FROM (SELECT now() + $1::interval AS t) s"
                        : "SELECT t::text, t > now() FROM (SELECT $1::timestamptz AS t) s";
  PGresult *r = PQexecParams(conn, sql, 1, NULL, v, NULL, NULL, 0);
  ts_err rc = TS_OK;
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    if (state && !strncmp(state, "22", 2)) /* data exception: the value */
      rc = ts_fail(err, TS_EINVAL, 0,
                   "%s is not a time: give a date and time (2026-12-24 18:00Z) or + and a "
                   "duration (+2h, +3 days)",
                   until);
    else
      rc = ts_fail(err, TS_EDB, 0, "job database: %s", PQerrorMessage(conn));
  } else if (PQgetvalue(r, 0, 1)[0] != 't') {
    rc = ts_fail(err, TS_EINVAL, 0, "%s is not in the future", until);
  } else {
    snprintf(out, cap, "%s", PQgetvalue(r, 0, 0));
  }
  PQclear(r);
  return rc;
}

/* The one insert: user_sql selects the addressee's id ($1) from `who`
 * (NULL for everybody). */
static ts_err insert(PGconn *conn, const char *user_sql, const char *who, jobs_notify_kind k,
                     const char *text, const char *until, int64_t *id, ts_error *err)
{
  char expires[64], sql[512];
  PGresult *r = NULL;
  ts_err rc = jobs_notify_text_check(text, err);
  if (!rc && !jobs_notify_kind_name(k))
    rc = ts_fail(err, TS_EINVAL, 0, "unknown notification kind");
  if (!rc)
    rc = expiry(conn, until, expires, sizeof expires, err);
  if (rc)
    return rc;
  snprintf(sql, sizeof sql,
           "INSERT INTO tapserve.notifications (user_id, kind, text, expires_at)"
           " SELECT u.id, $2, $3, $4::timestamptz FROM (%s) u RETURNING id",
           user_sql);
  rc = jobs__run(conn, "BEGIN", 0, NULL, NULL, err);
  if (!rc) {
    const char *v[4] = {who, jobs_notify_kind_name(k), text, expires};
    rc = jobs__run(conn, sql, 4, v, &r, err);
  }
  if (!rc && PQntuples(r) == 0)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "no user %s", who ? who : "");
  if (!rc)
    rc = publish(conn, JOBS_EV_NOTIFICATION_CREATED, PQgetvalue(r, 0, 0), err);
  if (!rc)
    rc = jobs__run(conn, "COMMIT", 0, NULL, NULL, err);
  if (!rc && id)
    *id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  if (rc)
    jobs__rollback(conn);
  return rc;
}

ts_err jobs_notify_add(PGconn *conn, const char *user, jobs_notify_kind k, const char *text,
                       const char *until, int64_t *id, ts_error *err)
{
  if (!user)
    return insert(conn, "SELECT NULL::bigint AS id WHERE $1::text IS NULL", NULL, k, text, until,
                  id, err);
  return insert(conn, "SELECT id FROM tapserve.users WHERE name = $1", user, k, text, until, id,
                err);
}

ts_err jobs_notify_user(PGconn *conn, int64_t user_id, jobs_notify_kind k, const char *text,
                        int64_t ttl_s, int64_t *id, ts_error *err)
{
  char uid[24], until[40];
  snprintf(uid, sizeof uid, "%lld", (long long)user_id);
  snprintf(until, sizeof until, "+%lld seconds",
           (long long)(ttl_s > 0 ? ttl_s : JOBS_NOTIFY_USER_TTL_S));
  return insert(conn, "SELECT id FROM tapserve.users WHERE id = $1::bigint", uid, k, text, until,
                id, err);
}

/* The addressee of live message `id` in *owner (0: everybody);
 * TS_ENOTFOUND when there is none or it has expired. */
static ts_err owner_of(PGconn *conn, int64_t id, int64_t *owner, ts_error *err)
{
  PGresult *r = NULL;
  ts_err rc = run_int(conn,
                      "SELECT coalesce(user_id, 0) FROM tapserve.notifications"
                      " WHERE id = $1::bigint AND expires_at > now()",
                      id, &r, err);
  if (!rc && PQntuples(r) == 0)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "no notification %lld", (long long)id);
  if (!rc)
    *owner = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return rc;
}

ts_err jobs_notify_visible(PGconn *conn, int64_t user_id, int64_t id, PGresult **out, ts_error *err)
{
  char uid[24], ids[24], lim[16];
  const char *v[3] = {uid, ids, lim};
  ts_err rc;
  *out = NULL;
  if (id > 0) {
    int64_t owner = 0;
    rc = owner_of(conn, id, &owner, err);
    if (rc)
      return rc;
    if (owner && owner != user_id)
      return ts_fail(err, TS_EFORBIDDEN, 0, "notification %lld is another user's", (long long)id);
  }
  snprintf(uid, sizeof uid, "%lld", (long long)(user_id > 0 ? user_id : 0));
  snprintf(ids, sizeof ids, "%lld", (long long)(id > 0 ? id : 0));
  snprintf(lim, sizeof lim, "%d", JOBS_NOTIFY_SERVE_MAX);
  return jobs__run(conn,
                   "SELECT id, CASE WHEN user_id IS NULL THEN -100 ELSE 1 END, kind, text,"
                   " (extract(epoch FROM created_at) * 1000)::bigint"
                   " FROM tapserve.notifications"
                   " WHERE expires_at > now()"
                   "  AND (user_id IS NULL OR user_id = nullif($1::bigint, 0))"
                   "  AND ($2::bigint = 0 OR id = $2::bigint)"
                   " ORDER BY created_at DESC, id DESC LIMIT $3::integer",
                   3, v, out, err);
}

/* Deletes message `id` and announces it. */
static ts_err delete_one(PGconn *conn, int64_t id, ts_error *err)
{
  PGresult *r = NULL;
  char ids[24];
  ts_err rc =
      run_int(conn, "DELETE FROM tapserve.notifications WHERE id = $1::bigint", id, &r, err);
  if (!rc && strcmp(PQcmdTuples(r), "1") != 0)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "no notification %lld", (long long)id);
  PQclear(r);
  snprintf(ids, sizeof ids, "%lld", (long long)id);
  return rc ? rc : publish(conn, JOBS_EV_NOTIFICATION_REMOVED, ids, err);
}

ts_err jobs_notify_dismiss(PGconn *conn, int64_t user_id, int64_t id, ts_error *err)
{
  int64_t owner = 0;
  ts_err rc = owner_of(conn, id, &owner, err);
  if (rc)
    return rc;
  if (!owner)
    return ts_fail(err, TS_EFORBIDDEN, 0,
                   "notification %lld is for everybody: only the operator removes it",
                   (long long)id);
  if (owner != user_id)
    return ts_fail(err, TS_EFORBIDDEN, 0, "notification %lld is another user's", (long long)id);
  return delete_one(conn, id, err);
}

ts_err jobs_notify_del(PGconn *conn, int64_t id, ts_error *err)
{
  return delete_one(conn, id, err);
}

PGresult *jobs_notify_list(PGconn *conn, ts_error *err)
{
  PGresult *r = NULL;
  jobs__run(conn,
            "SELECT n.id, coalesce(u.name, ''), n.kind,"
            " to_char(n.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
            " to_char(n.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), n.text"
            " FROM tapserve.notifications n LEFT JOIN tapserve.users u ON u.id = n.user_id"
            " WHERE n.expires_at > now() ORDER BY n.id",
            0, NULL, &r, err);
  return r;
}

ts_err jobs_notify_sweep(PGconn *conn, int max, int *n, ts_error *err)
{
  PGresult *r = NULL;
  ts_err rc = run_int(conn,
                      "DELETE FROM tapserve.notifications WHERE id IN (SELECT id FROM"
                      " tapserve.notifications WHERE expires_at <= now() ORDER BY expires_at"
                      " LIMIT $1::integer)",
                      max > 0 ? max : 1, &r, err);
  if (n)
    *n = rc ? 0 : (int)strtol(PQcmdTuples(r), NULL, 10);
  PQclear(r);
  return rc;
}
