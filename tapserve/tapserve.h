/* tapserve/tapserve.h: the running service (ts_app), its wiring and what
 * belongs to no resource family: the route table, the worker set, the
 * embedded cluster, the subcommands. Each family has its own header,
 * included here: tapserve/config.h (cfg_), tap.h (tap_, meta_), uws.h
 * (uws_), vosi.h (vosi_), web.h (web_). A file that needs only one family includes
 * only its header. Prefixes here: ts_, pgc_ (embedded cluster), cmd_
 * (subcommands). */
#ifndef TS_TAPSERVE_H
#define TS_TAPSERVE_H

#include "adql/adql.h"
#include "formats/formats.h"
#include "http/http.h"
#include "stream/pg.h"
#include "tapserve/config.h"
#include "tapserve/tap/tap.h"
#include "tapserve/uws/uws.h"
#include "tapserve/vosi/vosi.h"
#include "tapserve/web/web.h"

#include <stdatomic.h>

#define TAPSERVE_VERSION "0.1.0"

/* ---- the running service (main.c / tap.c / vosi.c) --------------------- */
typedef struct ts_app {
  cfg *cfg;
  uv_loop_t *loop;
  http_server *http;
  stream_pg_pool *pool;
  /* The servers of query_dsn (or dsn), shared by the pool and the
   * executors: which are up, whose turn it is (stream/pg.h). */
  stream_pg_servers *qservers;
  /* Queries over upload tables run on the primary (dsn's server), as the
   * query role: a standby may not have replayed the table yet. pservers
   * and upool are qservers and pool themselves when those name only the
   * primary. */
  stream_pg_servers *pservers;
  stream_pg_pool *upool;
  /* The current TAP_SCHEMA snapshot and its reloads (schema_cache.c): read
   * it only through meta_acquire/meta_hold. */
  struct schema_cache *schema;
  int64_t started_ms;
  int shutting_down;
  struct uws *uws;      /* async jobs (uws.c) */
  struct jobs_bus *bus; /* events between instances (jobs/events.h); set up by uws_start */
  struct jobs_db *db;   /* uws's blocking pool on dsn, for worker threads; set up by uws_start */
  struct tap_qcache *qcache; /* /sync translations (tap/qcache.c); loop thread */
  char *examples_doc;        /* the operator\'s /examples document ([tap] examples), or NULL */
  size_t examples_len;
  /* Set to 1 by whoever finds the database unreachable (the jobs
   * heartbeat, an executor that cannot reconnect), back to 0 by the
   * heartbeat once it gets through again; /availability reports
   * available=false while it is set. Written from worker threads. */
  atomic_int db_unreachable;
  /* The role user queries run as, as the query connection reported it at
   * start (main.c); "" when allow_query_as_service skipped the check.
   * Recorded in tapserve.query_roles by uws_start. */
  char query_role[64];
  /* 1 from the moment a drain begins (SIGUSR1, tapserve drain): no new
   * work, /availability false (main.c, "drain"). */
  atomic_int draining;
  /* /sync requests that hold or wait for a database connection (tap.c),
   * and the timer that looks for stalled ones among them. */
  struct sync_req *sync_head;
  int sync_count;
  uv_timer_t sync_watch;
  int sync_watch_state;       /* 0 not started, 1 running, 2 closed */
  struct http_router *routes; /* the route table (routes.c) */
  /* The role granted SELECT on upload tables: the query role, "" when it
   * is the service role, which owns them (tap_upload_start). */
  char upload_role[64];
  /* Threads of their own for login password checks (plus/), so argon2id
   * never holds up libuv's pool, where the UWS requests run. */
  struct ts_workq *plusq;
  /* HTTP Basic credentials checked lately (plus/credcache.c); NULL: none. */
  struct plus_creds *creds;
  /* The page for people (web/): built before serving, immutable. */
  web_site *web;
} ts_app;

/* ---- what the instance measures, /metrics (stats.c) --------------------- */
/* Resource families, the label of request metrics (http_request.tag, set
 * by the route table). */
typedef enum {
  TS_RES_OTHER,
  TS_RES_SYNC,
  TS_RES_ASYNC,   /* job list, creation, a job and its sub-resources */
  TS_RES_RESULTS, /* downloads of job results */
  TS_RES_VOSI,    /* capabilities, availability, tables */
  TS_RES_METRICS,
  TS_RES_N
} ts_resource;
/* Reads [metrics] allow; TS_EINVAL with a message when it is malformed.
 * Before serving. */
ts_err ts_stats_init(const cfg *c, ts_error *err);
/* The HTTP server's completion hook (http_server_opts.on_complete). */
void ts_stats_request(const http_request *r, int status, uint64_t body_bytes, int whole, void *ud);
/* Result rows written to a client (any thread). */
void ts_stats_rows(uint64_t n);
/* GET /metrics: the Prometheus text format (404 when [metrics] enabled is
 * off, 403 to addresses not in [metrics] allow). */
void ts_stats_serve(ts_app *app, http_request *req);

/* ---- the route table (routes.c) ---------------------------------------- */
/* Builds the service's route table under c->path_prefix. TS_ENOMEM, or
 * TS_EINVAL when a pattern is refused (a bug, or a base path the table
 * cannot hold). */
ts_err ts_routes_new(const cfg *c, struct http_router **out, ts_error *err);
/* The HTTP handler: looks the request up in app->routes and calls the
 * resource's handler; 404, or 405 with Allow, in DALI form otherwise. */
void ts_routes_handle(http_request *req, void *app);

/* ---- a worker set of its own (workq.c) ---------------------------------
 * Like uv_queue_work on a fixed set of threads apart from libuv's pool:
 * `work` runs on one of them, then `done` on the loop, in submission order
 * per thread. The caller owns `w` (embed it) until `done` is called. */
typedef struct ts_work ts_work;
typedef void (*ts_work_fn)(ts_work *w);
struct ts_work {
  ts_work *next; /* private */
  ts_work_fn work, done;
  void *data; /* the caller's */
};
typedef struct ts_workq ts_workq;
/* Starts nthreads (>= 1) threads; the queue's handle does not keep the
 * loop alive while nothing is outstanding. TS_ENOMEM, TS_EINTERNAL. */
ts_err ts_workq_new(uv_loop_t *loop, int nthreads, ts_workq **out);
/* Loop thread only. TS_EUNAVAIL without a queue: `done` is then never
 * called. */
ts_err ts_workq_submit(ts_workq *q, ts_work *w, ts_work_fn work, ts_work_fn done);
/* After the loop has stopped (nothing outstanding): ends the threads,
 * closes the handle (one more non-blocking loop turn) and frees q. */
void ts_workq_free(ts_workq *q);

/* ---- TAP_SCHEMA as live state (schema_cache.c) --------------------------
 * app->schema holds the current snapshot. Readers on any thread take a
 * reference for as long as they use it; a reload builds a new snapshot off
 * the loop and swaps it in on the loop, and whoever still holds the old
 * one finishes on it (docs/internals/tapserve.md, "TAP_SCHEMA snapshots"). */
/* Creates app->schema with `initial` as the current snapshot (taking the
 * caller's reference). No libuv handles yet: usable before the loop runs. */
ts_err schema_cache_new(ts_app *app, meta *initial, ts_error *err);
/* Makes sure the triggers that announce TAP_SCHEMA changes exist (the
 * cluster state migrations must have run); blocking, at startup. Tables
 * it cannot watch (not their owner) are logged, not fatal. */
void schema_cache_watch(ts_app *app);
/* Starts the reload machinery on the loop: the debounce timer and SIGHUP. */
void schema_cache_start(ts_app *app);
/* Closes its handles (shutdown); a reload in flight ends without a swap. */
void schema_cache_stop(ts_app *app);
/* Releases the current snapshot and everything else; after the loop. */
void schema_cache_free(ts_app *app);
/* The current snapshot with a reference the caller releases, or NULL when
 * there is none. Any thread. */
meta *meta_acquire(const ts_app *app);
/* meta_acquire, with the release deferred to ts_arena_free(a): for a
 * request or a job, whose arena lives exactly as long as it does. NULL when
 * there is no snapshot or no memory. */
const meta *meta_hold(const ts_app *app, ts_arena *a);
/* Makes m (the caller's reference) the current snapshot and drops the
 * cache's reference to the previous one. */
void schema_cache_swap(ts_app *app, meta *m);
/* A reload is due (a TAP_SCHEMA_UPDATED event, the bus's re-check,
 * SIGHUP): events within a few milliseconds make one reload, which runs on
 * the thread pool. `why` is logged. Loop thread; a no-op before
 * schema_cache_start and after schema_cache_stop. */
void schema_cache_changed(ts_app *app, const char *why);
/* Blocking reload (what the pool runs, then the swap): TS_OK and the new
 * snapshot current, or the error and the old snapshot kept (logged at warn
 * level). For startup tools and tests; not on the loop thread. */
ts_err schema_cache_reload(ts_app *app, ts_error *err);
/* How many snapshots have been made current (1 after schema_cache_new). */
uint64_t schema_cache_generation(const ts_app *app);

/* Runs the service until SIGTERM/SIGINT. */
int ts_serve(cfg *c);

/* ---- embedded PostgreSQL cluster (pgcluster.c) ------------------------- */
typedef struct pgc_opts {
  const char *data_dir; /* private cluster directory (created) */
  int port;             /* loopback port */
} pgc_opts;
/* Creates (initdb, as an unprivileged user when run as root) and starts the
 * cluster if needed, with pg_sphere available; writes a libpq DSN for
 * database "tapserve" into dsn. */
ts_err pgc_ensure(const pgc_opts *o, char *dsn, size_t dsnlen, ts_error *err);
ts_err pgc_stop(const pgc_opts *o, ts_error *err);

/* SQL scripts compiled in from tapserve/sql/ (NUL-terminated); the
 * TAP_SCHEMA one is declared in tap.h. */
extern const char sql_demo[];

/* ---- subcommands -------------------------------------------------------- */
int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_adql(int argc, char **argv);
int cmd_publish(int argc, char **argv);   /* cmd/publish.c */
int cmd_unpublish(int argc, char **argv); /* cmd/publish.c */
int cmd_tableset(int argc, char **argv);  /* cmd/tableset.c */
int cmd_drain(int argc, char **argv);     /* cmd/drain.c */
int cmd_cluster(int argc, char **argv);   /* cmd/cluster.c */
int cmd_user(int argc, char **argv);      /* cmd/user.c */
int cmd_token(int argc, char **argv);     /* cmd/token.c */
int cmd_notify(int argc, char **argv);    /* cmd/notify.c */
int cmd_quota(int argc, char **argv);     /* cmd/quota.c */

/* The database options of the subcommands that connect (publish,
 * unpublish, tableset): -c FILE (the serve configuration: [database] dsn,
 * query_dsn) or --dsn CONNINFO. */
typedef struct cmd_db {
  const char *config, *dsn; /* as given */
  cfg cfg;                  /* loaded from config (have_cfg) */
  int have_cfg;
} cmd_db;
/* Consumes -c/--config FILE or --dsn CONNINFO at argv[*i] (advancing *i
 * past the value): 1 when it did, 0 when argv[*i] is something else. */
int cmd_db_option(int argc, char **argv, int *i, cmd_db *o);
/* An option of one subcommand: a flag (*flag set to 1), or with `value`
 * one that takes the next argument. A list of them ends with a NULL name. */
typedef struct cmd_opt {
  const char *name;
  int *flag;
  const char **value;
} cmd_opt;
/* Reads the arguments of a connecting subcommand: the database options,
 * `opts`, --help/-h (usage on stdout) and the operands (what is not an
 * option), which it moves to argv[1..*noperands] in their order. Returns
 * -1 when the command is to go on, else its exit status: 0 after --help,
 * 2 after "PROG: unexpected option X" on stderr. */
int cmd_args(int argc, char **argv, const char *prog, cmd_db *o, const cmd_opt *opts,
             void (*usage)(FILE *), int *noperands);
/* Loads the configuration if one was given and connects (blocking); NULL
 * after printing "PROG: message" on stderr. */
PGconn *cmd_db_connect(const char *prog, cmd_db *o);
void cmd_db_free(cmd_db *o);

#endif
