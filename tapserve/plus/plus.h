/* tapserve/plus/plus.h: ESA's TAP+ extensions as astroquery's TapPlus speaks
 * them (prefix plus_), and who a request comes from (ts_auth_request),
 * for every handler that needs to know. docs/users.md for operators and
 * users, docs/internals/users.md for how it works. */
#ifndef TS_TAPSERVE_PLUS_H
#define TS_TAPSERVE_PLUS_H

#include "http/http.h"
#include "jobs/users.h"
#include "tapserve/config.h"

/* Defined in tapserve/tapserve.h: the running service. */
typedef struct ts_app ts_app;

/* The cookies a session travels in: SESSION, and JSESSIONID for the
 * clients that know no other (astroquery's TapPlus keeps only that one). */
#define PLUS_COOKIE      "SESSION"
#define PLUS_COOKIE_JAVA "JSESSIONID"

/* Who a request comes from. */
typedef struct ts_who {
  jobs_user user;  /* user.id 0: anonymous */
  const char *via; /* "session", "basic", "bearer"; NULL when anonymous */
} ts_who;

/* Blocking (a worker thread): the caller of `req` from its credentials,
 * looked up in the shared database through app->db. In order: an
 * Authorization header (Basic user:password, Bearer token), then the
 * cookie SESSION, then JSESSIONID. No credentials at all: anonymous,
 * TS_OK. Credentials that do not hold (unknown or expired session or token,
 * wrong password): TS_EAUTH (401), never anonymous. A Basic login counts
 * towards the failed-login throttle like a form login and is refused
 * with TS_ETOOMANY while it holds. TS_EUNAVAIL without a database. */
ts_err ts_auth_request(ts_app *app, const http_request *req, ts_who *who, ts_error *err);

/* Password checks take 64 MiB and 0.1 to 0.5 s of CPU each: they
 * run on PLUS_THREADS threads of their own (app->plusq), and logins beyond
 * wait in its queue rather than in front of the UWS requests. */
enum { PLUS_THREADS = 2 };
/* Warms up what logins need (libsodium, the dummy hash that makes unknown
 * users take as long as known ones) and starts app->plusq; blocking, before
 * serving. */
ts_err plus_start(ts_app *app, ts_error *err);
/* Ends app->plusq's threads; after the loop has stopped. */
void plus_free(ts_app *app);

/* POST {ctx}/login (form username, password): a new session in the
 * cookies, 200; 401 for a wrong name or password (the same answer, in the
 * same time, for both); 429 with Retry-After while the name or the
 * address is throttled. */
void plus_login(ts_app *app, http_request *req);
/* POST {ctx}/logout: ends the session of the request's cookie on every
 * instance and clears the cookies, 200; 401 when there was no live one. */
void plus_logout(ts_app *app, http_request *req);

/* 1 when the request carries credentials (an Authorization header, or a
 * SESSION or JSESSIONID cookie): whoever serves it must ask
 * ts_auth_request. Reads headers only: the loop or any thread. */
int plus_has_credentials(const http_request *req);

/* POST {ctx}/Upload (upload.c): keeps a table in the caller's schema
 * user_<name>, from a multipart part FILE, URL= or JOBID= (a COMPLETED job
 * of the caller's, or an anonymous one), with TABLE_NAME, TABLE_DESC and
 * FORMAT (votable, fits, csv, ecsv; absent: from the bytes); DELETE=TRUE
 * with TABLE_NAME removes one. 200 on success; 401 without a login; 400
 * for bad input, nothing kept; 404 for a table the caller does not have. */
void plus_upload(ts_app *app, http_request *req);
/* POST {ctx}/TableTool (tabletool.c): ACTION=edit (TABLE0, TABLE0_NUMCOLS,
 * TABLE0_COLi[_UCD|_UTYPE|_FLAGS|_INDEXED]), ACTION=radec (TABLE_NAME, RA,
 * DEC), action=rename (table_name, new_table_name, new_column_names
 * "old:new,..."), as astroquery's TapPlus sends them. 200, 401, 400, 404. */
void plus_tabletool(ts_app *app, http_request *req);

/* ---- shared by plus/'s own sources (auth.c, login.c) ---------------------- */
/* The session and login limits of the configuration. */
void plus__limits(const cfg *c, jobs_session_limits *s, jobs_login_limits *l);
/* The throttle, then the password (against the dummy hash for an unknown
 * user, so both take the same time), then the count of failures: the one
 * path of form logins and HTTP Basic. TS_EAUTH (wrong name or password,
 * one message for both), TS_ETOOMANY with *retry_s, database errors. */
ts_err plus__check_password(ts_app *app, PGconn *conn, const char *name, const char *pw,
                            const char *addr, jobs_user *u, int64_t *retry_s, ts_error *err);
/* A user-table operation on libuv's pool: plus__utab_run finds the caller
 * (401 for anonymous or bad credentials) and calls `fn` with a service
 * connection; the answer is 200 with the line fn wrote into `ok`
 * (PLUS_OK_MAX bytes, text/plain), or the error as a DALI document. `ud`
 * is the caller's (the request's arena). */
enum { PLUS_OK_MAX = 256 };
typedef ts_err (*plus_utab_fn)(ts_app *app, PGconn *conn, const jobs_user *u, void *ud,
                               char ok[PLUS_OK_MAX], ts_error *err);
void plus__utab_run(ts_app *app, http_request *req, plus_utab_fn fn, void *ud);
/* The value of parameter `name` (case-insensitive; the first), or NULL. */
const char *plus__param(const http_param *p, size_t n, const char *name);
/* The session id of the request's cookies (SESSION, else JSESSIONID):
 * 1 with *id, *len pointing into the header; 0 when there is none. */
int plus__session_cookie(const http_request *req, const char **id, size_t *len);

#endif
