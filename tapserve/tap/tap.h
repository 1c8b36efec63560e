/* tapserve/tap/tap.h: the TAP resources: TAP_SCHEMA in memory (meta.c, prefix
 * meta_), the home page and /sync (tap.c), query preparation shared with
 * async jobs, DALI errors, /examples (examples.c) and the one response
 * path of results (result.c). Prefix tap_. */
#ifndef TS_TAPSERVE_TAP_H
#define TS_TAPSERVE_TAP_H

#include "adql/adql.h"
#include "formats/formats.h"
#include "formats/upload.h"
#include "http/http.h"
#include "jobs/jobs.h"
#include "jobs/usertables.h"
#include "stream/pg.h"
#include "tapserve/config.h"

/* Defined in tapserve/tapserve.h: the running service. */
typedef struct ts_app ts_app;

/* ---- TAP_SCHEMA (meta.c) ---------------------------------------------- */
typedef struct meta meta;
/* Creates schema tap_schema (TAP 1.1 tables, describing themselves) when
 * missing; blocking, for startup. */
ts_err meta_ensure_tap_schema(PGconn *conn, ts_error *err);
/* The script it runs, compiled in from tapserve/sql/tap_schema.sql. */
extern const char sql_tap_schema[];
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

/* ---- TAP resources (tap.c) --------------------------------------------- */
/* /sync (the home page is tapserve/web/'s). */
void tap_sync(ts_app *app, http_request *req);
/* Starts and stops the /sync stall watch (before serving; on shutdown). */
void tap_start(ts_app *app);
void tap_stop(ts_app *app);
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
/* A request's parameters (http_request_params). */
typedef struct tap_params {
  http_param *all;
  size_t n;
} tap_params;
/* The tap_param_fn of a tap_params (src): names compare
 * case-insensitively, the first value wins. */
const char *tap_request_param(const void *src, const char *name);
/* Fills out (strings in a or borrowed from src). `uploads` (NULL: none)
 * is the request's TAP_UPLOAD layer (tap_upload_layer), borrowed for as
 * long as the checked query lives. UPLOAD itself is the caller's (it
 * loads the tables first). Errors are TS_EINVAL or TS_EADQL with a message
 * for the client; ADQL messages carry "line L, column C". */
ts_err tap_prepare_query(const ts_app *app, tap_param_fn get, const void *src, adql_layer *uploads,
                         ts_arena *a, tap_query *out, ts_error *err);
/* The same, but an ADQL error (TS_EADQL) keeps the checker's own
 * sentence, its position in err->pos: for whoever shows the position
 * itself (the web page's check). */
ts_err tap_prepare_query_plain(const ts_app *app, tap_param_fn get, const void *src,
                               adql_layer *layers, ts_arena *a, tap_query *out, ts_error *err);
/* Rewrites an ADQL error (rc TS_EADQL) into the form DALI clients show:
 * "ADQL error at line L, column C: ..." from its position in `adql`.
 * Returns rc. */
ts_err tap_adql_error_for_client(ts_err rc, ts_error *err, const char *adql);
/* The same for /sync requests without per-request tables, on the loop
 * thread only: the translation of a QUERY text seen before (same MAXREC,
 * same TAP_SCHEMA snapshot) is reused from a small cache (qcache.c)
 * instead of parsed, checked and translated again; *out then points into
 * the cache's entry, which the request holds until its arena goes. */
ts_err tap_prepare_query_cached(ts_app *app, tap_param_fn get, const void *src, ts_arena *a,
                                tap_query *out, ts_error *err);
/* The cache's entries go (at shutdown, on the loop thread). */
void tap_qcache_free(ts_app *app);
/* Translations made and reused by tap_prepare_query_cached since the start. */
void tap_qcache_counts(const ts_app *app, uint64_t *made, uint64_t *reused);
/* The two halves of tap_prepare_query (tap.c), for qcache.c: the
 * parameters, then the translation of out->adql in a. */
ts_err tap__prepare_params(const ts_app *app, tap_param_fn get, const void *src, tap_query *out,
                           ts_error *err);
ts_err tap__prepare_translate(const ts_app *app, adql_layer *layers, ts_arena *a, tap_query *out,
                              ts_error *err);
/* DALI 1.1 (section 3.1.2): a single-valued parameter given more than once
 * is an error. Returns TS_EINVAL naming the parameter when REQUEST, LANG,
 * QUERY, MAXREC, RUNID or RESPONSEFORMAT (with its TAP 1.0 name FORMAT)
 * occurs with two different values among params[0..n); the same value
 * repeated counts as one value. Names compare case-insensitively. */
ts_err tap_check_single_valued(const http_param *params, size_t n, ts_error *err);
/* The WWW-Authenticate lines of a 401 (RFC 7235). */
#define TAP_CHALLENGE_BASIC  "WWW-Authenticate: Basic realm=\"tapserve\"\r\n"
#define TAP_CHALLENGE_BEARER "WWW-Authenticate: Bearer realm=\"tapserve\"\r\n"
/* A DALI error document with the HTTP status of err->code. */
void tap_send_error(http_request *req, const ts_error *err);
/* The same with extra header lines ("Allow: GET\r\n"), or NULL. */
void tap_send_error_headers(http_request *req, const ts_error *err, const char *extra_headers);
/* The DALI error document of the HTTP server's own errors (limits,
 * malformed requests): http_server_opts.error_doc. */
const char *tap_error_doc(ts_buf *b, int status, const char *msg);

/* ---- uploads (upload.c) -----------------------------------------------
 * The UPLOAD parameter, the loading of uploads into tables (jobs/uploads.c
 * keeps them) and the TAP_UPLOAD layer of a request's metadata. */
typedef enum tap_upload_kind {
  TAP_UPLOAD_INLINE, /* param:X: a part or parameter of the request */
  TAP_UPLOAD_URL,    /* http:// or https:// elsewhere */
  TAP_UPLOAD_JOB     /* job:ID or this service's own result URL of job ID */
} tap_upload_kind;
typedef struct tap_upload_ref {
  const char *name; /* as given: an ADQL regular identifier */
  tap_upload_kind kind;
  const char *uri; /* as given */
  const char *ref; /* X of param:X, the URL, or the job id */
} tap_upload_ref;
/* Every UPLOAD parameter's value joined with ';' (one value, as a job
 * stores it), in a; NULL when there is none (or no memory). */
const char *tap_upload_join(const http_param *p, size_t n, ts_arena *a);
/* Parses an UPLOAD value into refs (in a). TS_EINVAL naming the upload for
 * a malformed pair, a name that is not a regular identifier, a name given
 * twice (case-insensitively), an unsupported URI; TS_ELIMIT past [upload]
 * max_uploads. */
ts_err tap_upload_parse(const cfg *c, const char *value, ts_arena *a, tap_upload_ref **refs,
                        size_t *n, ts_error *err);
/* The TAPRegExt upload methods (ivo-ids) this service takes, NULL-ended. */
extern const char *const tap_upload_methods[];
/* What loading needs; blocking, on a worker thread. */
typedef struct tap_upload_env {
  const cfg *c;
  jobs_db *db; /* a second connection for reading the result store */
  const jobs_store *store;
  const char *query_role; /* granted SELECT; "" or NULL: none */
  jobs_upload_owner owner;
  int64_t deadline_ms; /* a job: source still running is waited for until then */
  int64_t caller;      /* the user whose request or job it is (0: anonymous): another
                        * user's job is no source (jobs_access) */
} tap_upload_env;
/* Loads the job: uploads among refs through conn, each in its own
 * transaction (jobs_upload_from_result), once every source job is
 * COMPLETED. While one is still to run nothing is loaded: TS_EAGAIN
 * before env->deadline_ms (the caller tries again later), else
 * TS_EQUERYTIMEOUT. Errors name the upload. */
ts_err tap_upload_load(const tap_upload_env *env, PGconn *conn, const tap_upload_ref *refs,
                       size_t n, ts_error *err);
/* A file to load: inline uploads point at the request's spooled part or a
 * temporary copy of its parameter; URL ones have fd -1 (fetched when
 * loaded). */
typedef struct tap_upload_file {
  const tap_upload_ref *ref;
  int fd;
  const char *content_type, *filename; /* NULL when unknown */
} tap_upload_file;
/* One tap_upload_file per ref (in req's arena): param:X is the file part
 * named X, else the parameter X whose value is the table (spooled to an
 * unlinked file in spool_dir, closed with the request). TS_EINVAL naming
 * the upload when there is neither. Call where the request is owned. */
ts_err tap_upload_resolve(http_request *req, const http_param *params, size_t np,
                          const tap_upload_ref *refs, size_t n, const char *spool_dir,
                          tap_upload_file **out, ts_error *err);
/* Loads the inline and URL uploads among f (URLs fetched first with the
 * [upload] limits), each read by its format's reader into its table in one
 * transaction. Errors name the upload; limits give TS_ELIMIT naming the
 * key. Blocking. */
ts_err tap_upload_load_files(const tap_upload_env *env, PGconn *conn, const tap_upload_file *f,
                             size_t n, ts_error *err);
/* Fetches `url` with the [upload] limits into an unlinked temporary file
 * (*fd, closed with a); *ctype its Content-Type (in a, may be NULL). A URL
 * that fails (no such host, 404, private address) is TS_EINVAL, limits
 * TS_ELIMIT/TS_ETIMEOUT naming the key. Blocking. */
ts_err tap_upload_fetch(const tap_upload_env *env, const char *url, ts_arena *a, int *fd,
                        const char **ctype, ts_error *err);
/* Reads the table in fd (from offset 0) by `format` (FMT_UPLOAD_AUTO:
 * sniffed from its first bytes, ctype and filename) into target t, in one
 * transaction with env's [upload] limits; env->owner is not used. Errors
 * as fmt_upload_read and the loader give them. Blocking. */
ts_err tap_load_file(const tap_upload_env *env, PGconn *conn, const jobs_load_target *t, int fd,
                     fmt_upload_format format, const char *ctype, const char *filename,
                     ts_error *err);
/* The ids of the jobs whose results refs upload (for jobs_set_deps), in
 * a; TS_EINVAL naming the upload when such a job does not exist or ended
 * without a result, TS_EFORBIDDEN when it is not the caller's (user id;
 * 0: anonymous) to read. */
ts_err tap_upload_sources(PGconn *conn, int64_t caller, const tap_upload_ref *refs, size_t n,
                          ts_arena *a, const char ***ids, size_t *nids, ts_error *err);
/* The TAP_UPLOAD layer of a request or a job: its loaded tables with their
 * columns' metadata, all in a. */
ts_err tap_upload_layer(PGconn *conn, ts_arena *a, const jobs_upload_owner *o, adql_layer *l,
                        ts_error *err);
/* ---- user tables (user_layer.c) ----------------------------------------
 * The layer of the persistent user tables user `u` may read
 * (jobs_utab_readable; none for anonymous): schema user_<name>, their
 * columns' metadata as recorded, all in a. */
ts_err tap_user_layer(PGconn *conn, ts_arena *a, const jobs_user *u, adql_layer *l, ts_error *err);
/* Fills *t, a table of a layer: published as schema.name, in PostgreSQL
 * db_schema.db_name, with the ADQL metadata of its columns (regular names
 * as they are, others delimited as TAP_SCHEMA would publish them) made in
 * a; strings are borrowed. Returns the columns (for the caller to add to),
 * NULL when out of memory. For the TAP_UPLOAD and user layers alike. */
adql_column_meta *tap_layer_table(ts_arena *a, adql_table_meta *t, const char *schema,
                                  const char *name, const char *db_schema, const char *db_name,
                                  const char *description, const stream_column *cols, size_t ncols);

/* At start, after uws_start: finds the query role (app->upload_role) and
 * lets it use schema tap_upload. Blocking. */
ts_err tap_upload_start(ts_app *app, ts_error *err);

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
/* How a response ended (hooks.on_done). */
typedef struct tap_result_end {
  int complete;     /* the whole document (or range) went out; it may end with an
                     * error status: the producer knows */
  int size_wrong;   /* sized: the encoder wrote another length than promised (the
                     * transfer was broken) */
  uint64_t encoded; /* bytes the encoder wrote, before any compression: the
                     * identity size of the document */
} tap_result_end;
typedef struct tap_result_hooks {
  /* The client reads again after tap_result_blocked() said to pause. */
  void (*on_drain)(void *ud);
  /* The client went away: stop producing (then call tap_result_finish). */
  void (*on_abort)(void *ud);
  /* Called once, after tap_result_finish, when the response ends, before
   * the request is released. May be NULL. */
  void (*on_done)(void *ud, const tap_result_end *end);
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
/* The file name clients save the document under, without the format's
 * extension (default "result-REQID"). Before the first rows. */
void tap_result_set_name(tap_result *r, const char *name);
/* Sized and ranged answers (a stored result whose encoded size is known):
 * the document is `size` bytes long; it goes out uncompressed with
 * Content-Length and Accept-Ranges, or, when `ranged`, only bytes
 * [first, last] (inclusive, within size) as 206 with Content-Range. A
 * document of another length than promised breaks the transfer
 * (on_done's size_wrong). Before the first rows. */
void tap_result_set_size(tap_result *r, uint64_t size, int ranged, uint64_t first, uint64_t last);
/* 1 once the whole range went out: the producer stops and finishes. */
int tap_result_range_done(const tap_result *r);
/* 1 when the producer should pause until hooks.on_drain. */
int tap_result_blocked(const tap_result *r);
int tap_result_aborted(const tap_result *r);
/* Ends the response and the request: rc TS_OK closes with an OK or OVERFLOW
 * status (a HEAD request without tap_result_begin: the headers alone); any other
 * rc sends err as a DALI error document when nothing was
 * sent yet, else ends a VOTable with QUERY_STATUS ERROR, or breaks the
 * transfer for formats that cannot say so. r is gone afterwards. */
void tap_result_finish(tap_result *r, ts_err rc, const ts_error *err, int overflow);

#endif
