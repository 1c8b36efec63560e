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
  /* Anonymous with an owner cookie (plus_anon_owner): its hash. */
  int has_anon;
  char anon[JOBS_SECRET_HASH_LEN + 1];
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

/* ---- who owns a job (tapserve.jobs.owner_id / anon_owner) ---------------
 * A job belongs to the user who created it, or to the anonymous browser
 * whose owner cookie the creation carried (set by that creation when it
 * had none): random, HttpOnly, SameSite=Lax, on the context path. Only
 * its SHA-256 is stored, so the database holds nothing to present. */
#define PLUS_OWNER_COOKIE "TAPSERVE_OWNER"
enum { PLUS_OWNER_ID_LEN = 32 }; /* hex digits: 128 random bits */
/* The hash of the request's owner cookie into `hash`: 1 when it carries
 * a well-formed one, 0 when not (none, or not PLUS_OWNER_ID_LEN hex
 * digits). */
int plus_anon_owner(const http_request *req, char hash[JOBS_SECRET_HASH_LEN + 1]);
/* A new owner id: its Set-Cookie line appended to `hdr` and its hash
 * into `hash`. TS_EIO without random bytes, TS_ELIMIT past hdr's cap. */
ts_err plus_anon_owner_new(const cfg *c, ts_buf *hdr, char hash[JOBS_SECRET_HASH_LEN + 1],
                           ts_error *err);
/* The path cookies are set on: the context, where /login and /tap both
 * live ("/" when tap is at the root). */
const char *plus_cookie_path(const cfg *c, char *buf, size_t cap);

/* ---- HTTP Basic credentials checked lately (credcache.c) ----------------
 * Bounded (cap entries), each valid ttl_ms; keyed by a keyed hash of the
 * name and password, never the password. Any thread. */
typedef struct plus_creds plus_creds;
/* NULL when cap or ttl_ms is 0 (no cache) or out of memory. */
plus_creds *plus_creds_new(size_t cap, int64_t ttl_ms);
void plus_creds_free(plus_creds *c);
/* Read before checking a password; plus_creds_put stores the answer only
 * when no drop came in between. */
uint64_t plus_creds_generation(plus_creds *c);
/* 1 with *u when name and pw were found good within the TTL. */
int plus_creds_get(plus_creds *c, const char *name, const char *pw, int64_t now_ms, jobs_user *u);
void plus_creds_put(plus_creds *c, const char *name, const char *pw, const jobs_user *u,
                    uint64_t generation, int64_t now_ms);
/* Forgets user `name`'s entries (NULL: everybody's). */
void plus_creds_drop(plus_creds *c, const char *name);
/* Entries of the cache of app->creds ([users] basic_cache seconds). */
enum { PLUS_CREDS_MAX = 1024 };

/* Password checks take 64 MiB and 0.1 to 0.5 s of CPU each: they
 * run on PLUS_THREADS threads of their own (app->plusq), and logins beyond
 * wait in its queue rather than in front of the UWS requests. */
enum { PLUS_THREADS = 2 };
/* Warms up what logins need (libsodium) and starts app->plusq; blocking,
 * before serving. */
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

/* GET {tap}/jobs/async (TapPlus.search_async_jobs): the caller's jobs as
 * uws:job elements, filtered by phaseid, jobid, jobname, limit, offset,
 * order (creation_time or start_time, '-' for newest first; newest first
 * without), whole with metadata_only=false. */
void plus_jobs_list(ts_app *app, http_request *req);
/* POST {tap}/deletejobs (TapPlus.remove_jobs): deletes the jobs of
 * JOB_IDS (a comma list), each of which the caller must be allowed to
 * use (jobs_access); one that is not refuses them all (403, 404). 200 "OK". */
void plus_jobs_delete(ts_app *app, http_request *req);
/* The ids of a JOB_IDS list (untrusted): comma-separated, blanks around
 * each ignored, empty items skipped, each a job id (uws_job_id_ok), at
 * most `max`; allocated in `a`. TS_EINVAL naming a bad item or for no id
 * at all, TS_ELIMIT past max, TS_ENOMEM. */
ts_err plus_job_ids_parse(const char *list, size_t max, ts_arena *a, const char ***ids, size_t *n,
                          ts_error *err);
/* GET or POST {tap}/notification: action=GetNotifications (the caller's
 * notifications as astroquery's ESA modules read them) and
 * action=RemoveNotification (POST); notification.c has the formats. */
void plus_notification(ts_app *app, http_request *req);
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

/* {tap}/share (share.c): TAP+ sharing as astroquery's TapPlus speaks it:
 * action=GetGroups, GetSharedItems (GET or POST; XML), CreateOrUpdateGroup
 * (title, description, group_id, users_list), RemoveGroup (group_id),
 * CreateOrUpdateItem (resource_type=0, title: the table, description,
 * items_list "<group id>|Group|Read,..."), RemoveItem (resource_id), the
 * changes by POST only. 200; 401 without a login; 403 for another user's
 * group, table or share; 404 for none; 400 for bad input, nothing changed. */
void plus_share(ts_app *app, http_request *req);
/* GET {tap}/users?USER=name (TapPlus.is_valid_user): 200 "name:name" when a
 * user has that name, 200 with an empty body when none has; 401 without a
 * login, 400 without USER. */
void plus_users(ts_app *app, http_request *req);

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
/* Blocking: the caller of `req` (ts_auth_request), TS_EAUTH with the
 * message `why` when anonymous, then a service connection of app->db for
 * the caller to give back (jobs_db_put). NULL with err set otherwise. */
PGconn *plus__user_conn(ts_app *app, const http_request *req, const char *why, ts_who *who,
                        ts_error *err);
/* The value of parameter `name` (case-insensitive; the first), or NULL. */
const char *plus__param(const http_param *p, size_t n, const char *name);
/* The session id of the request's cookies (SESSION, else JSESSIONID):
 * 1 with *id, *len pointing into the header; 0 when there is none. */
int plus__session_cookie(const http_request *req, const char **id, size_t *len);

#endif
