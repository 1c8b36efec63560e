/* tapserve/tapserve.h: shared declarations of the executable's own files
 * (config, CLI subcommands, metadata, TAP/VOSI resources, wiring).
 * Prefixes: cfg_ (configuration), meta_ (TAP_SCHEMA), tap_ (TAP
 * resources), vosi_ (VOSI resources), pgc_ (embedded cluster), cmd_
 * (subcommands). */
#ifndef TS_TAPSERVE_H
#define TS_TAPSERVE_H

#include "adql/adql.h"
#include "formats/formats.h"
#include "http/http.h"
#include "stream/pg.h"

#include <stdatomic.h>

#define TAPSERVE_VERSION "0.1.0"

/* ---- configuration (config.c; every key documented in
 * docs/configuration.md) ------------------------------------------------- */
typedef struct cfg {
  /* [server] */
  char *listen;                   /* listen = 127.0.0.1 */
  int port;                       /* port = 8080 */
  char *base_url;                 /* base_url = http://127.0.0.1:8080/tap (no trailing slash) */
  char *path_prefix;              /* derived from base_url's path: "/tap" */
  int max_connections;            /* max_connections = 1024 */
  size_t max_header_bytes;        /* max_header_bytes = 16384 */
  size_t max_body_bytes;          /* max_body_bytes = 16777216 */
  int header_timeout_ms;          /* header_timeout = 10 (seconds in the file) */
  int body_timeout_ms;            /* body_timeout = 60 */
  int idle_timeout_ms;            /* idle_timeout = 60 */
  int write_timeout_ms;           /* write_timeout = 300 */
  int max_connections_per_client; /* max_connections_per_client = 64 (per peer address) */
  int first_byte_timeout_ms;      /* first_byte_timeout = 5 */
  size_t max_form_body_bytes;     /* max_form_body_bytes = 2097152 */
  size_t body_budget_bytes;       /* body_budget_bytes = 67108864 (all bodies together) */
  /* [database] */
  char *dsn;                  /* dsn = libpq connection string (TAP_SCHEMA, service state) */
  char *query_dsn;            /* query_dsn = connection for user queries: a role that can only
                                 read the published schemas ("" = dsn) */
  int pool_size;              /* pool_size = 8 */
  int connect_timeout_ms;     /* connect_timeout = 10 */
  int pool_wait_timeout_ms;   /* pool_wait_timeout = 5 (a /sync request waits for a connection;
                                 503 after; 0 = no bound) */
  int allow_query_as_service; /* allow_query_as_service = no: yes lets the query role use
                                 schema tapserve (the service state) */
  /* [tap] */
  int64_t maxrec_default;    /* maxrec_default = 100000 */
  int64_t maxrec_limit;      /* maxrec_limit = 10000000 (hard limit) */
  int sync_timeout_s;        /* sync_timeout = 600 (execution duration of /sync) */
  int fetch_size;            /* fetch_size = 1000 (rows per batch) */
  int max_sync_per_client;   /* max_sync_per_client = 4 (/sync requests at once per address) */
  int sync_stall_timeout_ms; /* sync_stall_timeout = 10 (a stream not read for this long is cut
                                while others wait for a connection; 0 = never) */
  char *service_title;       /* title = tapserve demo */
  char *service_description;
  char *tap_examples; /* examples = XHTML file served at /examples ("" = built-in) */
  /* [log] */
  int log_level; /* level = info (debug|info|warn|error) */
  /* [adql] (operator control of the query language) */
  char *adql_geometry; /* geometry = comma-separated geometry functions ("" = all) */
  char *adql_coordsys; /* coordinate_systems = ICRS (comma-separated) */
  char *adql_udfs;     /* udfs = "name(a TYPE, ...) -> TYPE = SQL" declarations, ';'-separated */
  int adql_std_udfs;   /* std_udfs = 1: also offer ivo_hasword, ivo_healpix_index ... */
  /* [jobs] (UWS async jobs, uws.c; docs/async.md) */
  char *jobs_result_store;     /* result_store = fs:/var/tmp/tapserve-results | pg */
  int jobs_max_executing;      /* max_executing = 2 (jobs run at once by this instance) */
  int jobs_max_per_user;       /* max_per_user = 4 (EXECUTING per owner; 0 = no limit) */
  int jobs_duration_s;         /* execution_duration = 3600 (default, seconds) */
  int jobs_duration_max_s;     /* execution_duration_max = 86400 (0 = unlimited allowed) */
  int jobs_destruction_s;      /* destruction = 604800 (default lifetime, seconds) */
  int jobs_destruction_max_s;  /* destruction_max = 2592000 */
  char *jobs_on_restart;       /* on_restart = requeue | error */
  int jobs_wait_max_s;         /* wait_max = 600 (longest WAIT) */
  int jobs_sweep_interval_s;   /* sweep_interval = 60 */
  int jobs_heartbeat_s;        /* heartbeat = 5 */
  int jobs_instance_timeout_s; /* instance_timeout = 30 */
  int jobs_list_anonymous;     /* list_anonymous = 0 (1: anonymous job list shows anonymous jobs) */
  int jobs_download_threads;   /* download_threads = 2 (threads reading stored results) */
  int jobs_max_attempts;       /* max_attempts = 2: executions of a job whose instances die */
} cfg;

/* Sets every field to its default. */
void cfg_defaults(cfg *c);
/* Reads an INI file over the defaults; unknown keys and bad values are
 * errors (message with file:line). */
ts_err cfg_load(cfg *c, const char *path, ts_error *err);
/* Fills derived fields (path_prefix, base_url when empty) and checks
 * consistency. */
ts_err cfg_finish(cfg *c, ts_error *err);
void cfg_free(cfg *c);
/* Fills the operator-controlled parts of `am` (UDFs, allowed geometry
 * functions and coordinate systems) from the [adql] keys of `c`, parsed
 * into `a`. Errors name the offending declaration. */
ts_err cfg_adql_meta(const cfg *c, ts_arena *a, adql_meta *am, ts_error *err);

/* ---- TAP_SCHEMA (meta.c) ---------------------------------------------- */
typedef struct meta meta;
/* Creates schema tap_schema (TAP 1.1 tables, describing themselves) when
 * missing; blocking, for startup. */
ts_err meta_ensure_tap_schema(PGconn *conn, ts_error *err);
/* Loads TAP_SCHEMA into memory (blocking, startup or reload), with the
 * UDFs, geometry functions and coordinate systems of c's [adql] keys (c
 * NULL: the standard UDFs, every geometry function, ICRS). */
ts_err meta_load(PGconn *conn, const cfg *c, meta **out, ts_error *err);
/* A built meta is an immutable snapshot with a reference count (1 for its
 * builder). meta_retain adds a reference and returns m; meta_release drops
 * one and frees the snapshot with the last. Both take NULL and may be
 * called from any thread. */
meta *meta_retain(meta *m);
void meta_release(meta *m);
/* The adql view of it (tables, columns, UDFs). */
const adql_meta *meta_adql(const meta *m);

/* TAP_SCHEMA rows as text, NULL for SQL NULL, in the published order
 * (meta_load sorts by the *_index columns, then by name). Column order per
 * row is that of the TAP 1.1 tables:
 *   schemas     (4): schema_name utype description schema_index
 *   tables      (6): schema_name table_name table_type utype description table_index
 *   columns    (14): table_name column_name datatype arraysize xtype size description
 *                    utype unit ucd indexed principal std column_index
 *   keys        (5): key_id from_table target_table utype description
 *   key_columns (3): key_id from_column target_column
 * Each array holds n*width strings, row after row. */
typedef struct meta_rows {
  size_t nschemas, ntables, ncolumns, nkeys, nkey_columns;
  const char *const *schemas;
  const char *const *tables;
  const char *const *columns;
  const char *const *keys;
  const char *const *key_columns;
} meta_rows;
enum { META_SCHEMA_W = 4, META_TABLE_W = 6, META_COLUMN_W = 14, META_KEY_W = 5, META_KEYCOL_W = 3 };

/* Builds the in-memory metadata from rows (copied: `rows` is borrowed for
 * the call only). meta_load is a query plus this. Tables whose schema is
 * not in `schemas`, columns of unknown tables and keys between unknown
 * tables are errors (TS_EINVAL naming the row), because they mean a
 * TAP_SCHEMA that clients would find inconsistent. */
ts_err meta_build(const meta_rows *rows, const cfg *c, meta **out, ts_error *err);

/* The published view for /tables. Everything is owned by the meta object
 * and lives until its last meta_release. */
typedef struct meta_key_column {
  const char *from_column;
  const char *target_column;
} meta_key_column;

typedef struct meta_key {
  const char *key_id;
  const char *from_table; /* qualified published names */
  const char *target_table;
  const char *utype;
  const char *description;
  size_t ncols;
  const meta_key_column *cols;
} meta_key;

typedef struct meta_table {
  const char *qualified_name; /* TAP_SCHEMA.tables.table_name: "TAP_SCHEMA.tables" */
  const char *table_type;     /* "table" or "view" */
  const char *utype;
  const char *description;
  const adql_table_meta *adql; /* name split, db names and the columns */
  size_t nkeys;                /* foreign keys going out of this table */
  const meta_key *const *keys;
} meta_table;

typedef struct meta_schema {
  const char *name;
  const char *utype;
  const char *description;
  size_t ntables;
  const meta_table *tables;
} meta_schema;

size_t meta_nschemas(const meta *m);
const meta_schema *meta_schema_at(const meta *m, size_t i);
/* A table by its qualified published name: regular identifiers match
 * case-insensitively, delimited ones ("quoted") exactly. NULL if unknown. */
const meta_table *meta_find_table(const meta *m, const char *qualified_name);
/* The esatapplus:flags bit set TapPlus reads for a column: 1 Ra, 2 Dec,
 * 4 Flux, 8 Mag (from the UCD's main position/photometry words). */
int meta_column_esa_flags(const adql_column_meta *c);

/* The memory one query may use while it is parsed, checked, translated
 * and described: the arena cap of a /sync request and of an async
 * executor's job alike. Past it the query fails with TS_ENOMEM, never the
 * process. */
#define TS_QUERY_ARENA_CAP ((size_t)64 << 20)

/* ---- the running service (main.c / tap.c / vosi.c) --------------------- */
typedef struct ts_app {
  cfg *cfg;
  uv_loop_t *loop;
  http_server *http;
  stream_pg_pool *pool;
  /* The current TAP_SCHEMA snapshot and its reloads (schema_cache.c): read
   * it only through meta_acquire/meta_hold. */
  struct schema_cache *schema;
  int64_t started_ms;
  int shutting_down;
  struct uws *uws;    /* async jobs (uws.c) */
  struct jobs_bus *bus; /* events between instances (jobs/events.h); set up by uws_start */
  struct jobs_db *db;   /* uws's blocking pool on dsn, for worker threads; set up by uws_start */
  char *examples_doc; /* the operator\'s /examples document ([tap] examples), or NULL */
  size_t examples_len;
  /* Set to 1 by whoever finds the database unreachable (the jobs
   * heartbeat, an executor that cannot reconnect), back to 0 by the
   * heartbeat once it gets through again; /availability reports
   * available=false while it is set. Written from worker threads. */
  atomic_int db_unreachable;
  /* /sync requests that hold or wait for a database connection (tap.c),
   * and the timer that looks for stalled ones among them. */
  struct sync_req *sync_head;
  int sync_count;
  uv_timer_t sync_watch;
  int sync_watch_state; /* 0 not started, 1 running, 2 closed */
} ts_app;

/* The HTTP handler: routes under cfg->path_prefix. */
void tap_handle(http_request *req, void *app);
/* Starts and stops the /sync stall watch (before serving; on shutdown). */
void tap_start(ts_app *app);
void tap_stop(ts_app *app);
/* VOSI resources: each answers the request completely. */
void vosi_capabilities(ts_app *app, http_request *req);
void vosi_availability(ts_app *app, http_request *req);
/* path_rest: "" for /tables, "schema.table" for /tables/schema.table. */
void vosi_tables(ts_app *app, http_request *req, const char *path_rest);
/* The documents behind them, appended to `b` (no request needed; used by
 * the handlers and by tests). Each returns TS_OK, or TS_ENOMEM/TS_ELIMIT
 * from the buffer, leaving a partial document. */
ts_err vosi_capabilities_xml(const cfg *c, const adql_meta *am, const fmt_type *const *fmts,
                             size_t nfmts, ts_buf *b);
ts_err vosi_availability_xml(int available, int64_t up_since_ms, const char *note, ts_buf *b);
typedef struct vosi_tables_opts {
  int detail_min; /* tables without columns (detail=min, only_tables=true) */
  int esa_extras; /* esatapplus:flags on every column (astroquery TapPlus needs it) */
} vosi_tables_opts;
/* A vosi:tableset; sel (nsel tables) restricts it to those tables, NULL
 * means all. */
ts_err vosi_tables_xml(const meta *m, const vosi_tables_opts *o, const meta_table *const *sel,
                       size_t nsel, ts_buf *b);
/* A vosi:table root element (/tables/NAME), always with columns. */
ts_err vosi_table_xml(const meta_table *t, const vosi_tables_opts *o, ts_buf *b);
/* Result metadata over the column model PostgreSQL described: output
 * names, unit/UCD/utype/description from TAP_SCHEMA or the checker, DALI
 * geometry xtypes and arraysizes, unicodeChar for text published so. The
 * types stay PostgreSQL's, which the binary decoding depends on. For /sync
 * and async jobs alike. */
void tap_merge_column_meta(stream_schema *schema, const adql_query *q);
/* A TAP query request checked and translated, by the rules /sync and async
 * jobs share: REQUEST (doQuery or absent), LANG (ADQL), no UPLOAD, QUERY,
 * RESPONSEFORMAT/FORMAT (the default when absent), MAXREC (the configured
 * default, capped at the hard limit). */
typedef struct tap_query {
  const char *adql;    /* QUERY */
  const fmt_type *fmt; /* the output format asked for */
  int64_t maxrec;
  adql_query *q; /* checked */
  char *sql;     /* PostgreSQL SQL, limited to maxrec + 1 rows */
} tap_query;
/* Looks a parameter up by its lower-case name; NULL when absent. */
typedef const char *(*tap_param_fn)(const void *src, const char *name);
/* Fills out (strings in a or borrowed from src). Errors are TS_EINVAL or
 * TS_EADQL with a message for the client; ADQL messages carry "line L,
 * column C". */
ts_err tap_prepare_query(const ts_app *app, tap_param_fn get, const void *src, ts_arena *a,
                         tap_query *out, ts_error *err);
/* DALI 1.1 (section 3.1.2): a single-valued parameter given more than once
 * is an error. Returns TS_EINVAL naming the parameter when REQUEST, LANG,
 * QUERY, MAXREC, RUNID or RESPONSEFORMAT (with its TAP 1.0 name FORMAT)
 * occurs with two different values among params[0..n); the same value
 * repeated counts as one value. Names compare case-insensitively. */
ts_err tap_check_single_valued(const http_param *params, size_t n, ts_error *err);
/* A DALI error document with the HTTP status of err->code. */
void tap_send_error(http_request *req, const ts_error *err);
/* The same with extra header lines ("Allow: GET\r\n"), or NULL. */
void tap_send_error_headers(http_request *req, const ts_error *err, const char *extra_headers);

/* ---- DALI examples (examples.c) ----------------------------------------
 * /examples: the operator's document (app->examples_doc) as it is, else the
 * built-in one. */
void tap_examples(ts_app *app, http_request *req);
/* The built-in document: a few queries and their descriptions. */
enum { TAP_EXAMPLES_DOC_MAX = 1 << 20 };
/* The built-in XHTML+RDFa document: the built-in example queries that
 * check against `am` (the published metadata; NULL lists none). TS_OK, or
 * TS_ENOMEM/TS_ELIMIT from the buffer. */
ts_err tap_examples_xml(const cfg *c, const adql_meta *am, ts_buf *b);
/* Reads the operator's examples file (at most 4 MiB) into *doc (malloc'd,
 * the caller frees it). TS_EINVAL/TS_EIO/TS_ELIMIT with a message naming
 * the file. */
ts_err tap_examples_load(const char *path, char **doc, size_t *len, ts_error *err);

/* ---- streaming one result to a client (result.c) -----------------------
 * Schema and batches in, a formatted HTTP response out; used by /sync and
 * by async result downloads. Nothing is sent before the encoder's first
 * buffer is full, so an error until then becomes a DALI error document with
 * a fitting status, and a small result goes out with Content-Length. */
typedef struct tap_result tap_result;
typedef struct tap_result_hooks {
  /* The client reads again after tap_result_blocked() said to pause. */
  void (*on_drain)(void *ud);
  /* The client went away: stop producing (then call tap_result_finish). */
  void (*on_abort)(void *ud);
  /* Called once, after tap_result_finish, when the response ends, before
   * the request is released: complete is 1 when the whole document went
   * out (which may end with an error status: the producer knows), and
   * encoded the number of bytes the encoder wrote, before any
   * compression: the identity size of the document. May be NULL. */
  void (*on_done)(void *ud, int complete, uint64_t encoded);
} tap_result_hooks;
/* Allocated in the request's arena; NULL when out of memory (nothing sent). */
tap_result *tap_result_new(http_request *req, const fmt_type *fmt, const tap_result_hooks *hooks,
                           void *ud);
ts_err tap_result_begin(tap_result *r, const stream_schema *schema, const fmt_info *info,
                        ts_error *err);
ts_err tap_result_rows(tap_result *r, const stream_batch *b, ts_error *err);
/* Sends `ETag: "etag"` with an identity-coded answer and a weak ETag
 * naming the coding with a compressed one. Before the first rows. */
void tap_result_set_etag(tap_result *r, const char *etag);
/* 1 when the producer should pause until hooks.on_drain. */
int tap_result_blocked(const tap_result *r);
int tap_result_aborted(const tap_result *r);
/* Ends the response and the request: rc TS_OK closes with an OK or OVERFLOW
 * status; any other rc sends err as a DALI error document when nothing was
 * sent yet, else ends a VOTable with QUERY_STATUS ERROR, or breaks the
 * transfer for formats that cannot say so. r is gone afterwards. */
void tap_result_finish(tap_result *r, ts_err rc, const ts_error *err, int overflow);

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

/* ---- UWS async jobs (uws.c) -------------------------------------------- */
/* Migrates schema tapserve, registers this instance, recovers orphaned
 * jobs, starts the executors, the event bus (app->bus) and the
 * maintenance timer (jobs/cluster.h).
 * Blocking; before serving. */
ts_err uws_start(ts_app *app, ts_error *err);
/* Stops executing (own EXECUTING jobs re-queued or failed per on_restart),
 * unregisters the instance and closes every handle; blocking for at most a
 * few hundred milliseconds per executor. */
void uws_stop(ts_app *app);
/* Frees what uws_start allocated; after the loop has stopped. */
void uws_free(ts_app *app);
/* /async and /async/...: rest is the path after the base path. */
void uws_handle(ts_app *app, http_request *req, const char *rest);

/* ---- UWS documents (uws_xml.c) ----------------------------------------- */
typedef struct jobs_job jobs_job;
/* The largest UWS document (job list, job, sub-resource) built for one
 * request; a larger one is an error for that request. */
enum { UWS_DOC_MAX = 64 << 20 };
/* Each appends a complete response body to `b` and returns TS_OK, or fails
 * with a message in err: TS_EINTERNAL (500) when the document would pass
 * b's cap, TS_ENOMEM when memory runs out; `b` then holds a partial
 * document that must not be sent. */
/* The job list of GET /async. */
ts_err uws_doc_jobs(ts_buf *b, const cfg *c, const jobs_job *js, size_t n, ts_error *err);
/* GET /async/{id}[/sub] of a job read in full: the job (sub ""), its
 * parameters, results or error document, or a plain-text sub-resource
 * (executionduration, destruction, quote, owner, runid). Sets *ctype.
 * TS_ENOTFOUND for an unknown sub-resource, and for "error" while the job
 * is not in ERROR. */
ts_err uws_doc_job(ts_buf *b, const cfg *c, const jobs_job *j, const char *sub, const char **ctype,
                   ts_error *err);
/* ISO 8601 UTC, with milliseconds only when there are some. */
void uws_iso8601(char out[32], int64_t ms);

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

/* SQL scripts compiled in from tapserve/sql/ (NUL-terminated). */
extern const char sql_tap_schema[];
extern const char sql_demo[];

/* ---- subcommands -------------------------------------------------------- */
int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_adql(int argc, char **argv);
int cmd_publish(int argc, char **argv);   /* cmd/publish.c */
int cmd_unpublish(int argc, char **argv); /* cmd/publish.c */
int cmd_tableset(int argc, char **argv);  /* cmd/tableset.c */

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
/* Loads the configuration if one was given and connects (blocking); NULL
 * after printing "PROG: message" on stderr. */
PGconn *cmd_db_connect(const char *prog, cmd_db *o);
void cmd_db_free(cmd_db *o);

#endif
