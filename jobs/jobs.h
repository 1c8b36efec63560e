/* jobs/jobs.h: UWS jobs and the shared-database cluster state.
 *
 * Everything a job is lives in schema `tapserve` of the shared database
 * (docs/internals/jobs.md): the job rows, the instances that run them, and
 * the index of stored results. The functions here are blocking libpq calls
 * on a connection the caller owns; tapserve runs them on worker threads,
 * never on the event loop. Phase changes are compare-and-set updates, and
 * a trigger on tapserve.jobs announces every phase change with NOTIFY on
 * channel JOBS_CHANNEL, so waiting clients and idle executors on any
 * instance wake up without polling.
 *
 * The result store keeps a job's result canonically: the PostgreSQL COPY
 * (FORMAT binary) byte stream, zstd-compressed, either as a file in a
 * directory (fs:DIR) or as chunks in tapserve.result_chunks (pg). */
#ifndef TS_JOBS_H
#define TS_JOBS_H

#include "formats/formats.h"

#include <libpq-fe.h>

/* The LISTEN/NOTIFY channel of cluster events; payload "KIND id [phase]". */
#define JOBS_CHANNEL "tapserve_events"

/* The schema version of the cluster state this build expects. */
int jobs_schema_version(void);

/* Brings schema tapserve to jobs_schema_version(): every missing migration
 * runs in its own transaction under a transaction-level advisory lock, so
 * instances starting together apply each one once. A database newer than
 * this build is an error (TS_EDB). *from and *to (may be NULL) get the versions
 * before and after. */
ts_err jobs_migrate(PGconn *conn, int *from, int *to, ts_error *err);

/* The roles user queries run as (tapserve.query_roles): each instance
 * records its own at start; `tapserve publish` grants SELECT to those that
 * still exist when it is given no role. jobs_query_roles returns them as
 * a PGresult of one column (the caller PQclears it), NULL with err set. */
ts_err jobs_record_query_role(PGconn *conn, const char *role, ts_error *err);
PGresult *jobs_query_roles(PGconn *conn, ts_error *err);

/* ---- phases --------------------------------------------------------------- */
typedef enum jobs_phase {
  JOBS_PENDING,
  JOBS_QUEUED,
  JOBS_EXECUTING,
  JOBS_COMPLETED,
  JOBS_ERROR,
  JOBS_ABORTED,
  JOBS_UNKNOWN,
  JOBS_HELD,
  JOBS_SUSPENDED,
  JOBS_ARCHIVED,
  JOBS_NPHASES
} jobs_phase;

const char *jobs_phase_name(jobs_phase p);
/* Exact upper-case names (UWS spells them so); TS_EINVAL otherwise. */
ts_err jobs_phase_parse(const char *s, jobs_phase *out);
/* 1 for COMPLETED, ERROR, ABORTED, ARCHIVED. */
int jobs_phase_final(jobs_phase p);

/* ---- a small blocking connection pool for worker threads ----------------- */
typedef struct jobs_db jobs_db;
/* max: connections open at most, idle and in use together (PostgreSQL's
 * max_connections is shared with every other instance and service);
 * wait_ms: how long jobs_db_get waits for one beyond that (0: not at all).
 * NULL when out of memory. Connections open lazily and stay open while
 * idle. */
jobs_db *jobs_db_new(const char *dsn, int max, int wait_ms);
/* A connection in idle state, or NULL with err set: TS_EUNAVAIL when the
 * database cannot be reached, or when all `max` connections stayed in use
 * for wait_ms (blocks the calling thread that long). */
PGconn *jobs_db_get(jobs_db *db, ts_error *err);
/* Gives a connection back; one that is not idle and healthy is closed. */
void jobs_db_put(jobs_db *db, PGconn *conn);
void jobs_db_free(jobs_db *db);

/* ---- job rows -------------------------------------------------------------- */
typedef struct jobs_param {
  const char *name; /* lower case */
  const char *value;
} jobs_param;

typedef struct jobs_result_info {
  const char *name;  /* "result" */
  const char *store; /* "fs" or "pg" */
  const char *location;
  int64_t rows, bytes, raw_bytes;
  int overflow;
} jobs_result_info;

typedef struct jobs_job {
  char id[40];
  const char *owner;  /* the owning user's name; NULL: anonymous */
  int64_t owner_id;   /* the owning user's id; 0: anonymous (anyone holding the id) */
  const char *run_id; /* may be NULL */
  jobs_phase phase;
  int64_t creation_ms, start_ms, end_ms; /* 0: not set */
  int64_t execution_duration;            /* seconds; 0: unlimited */
  int64_t destruction_ms;
  const char *error_summary; /* NULL unless ERROR */
  const char *error_type;    /* "fatal" or "transient" */
  const char *owner_instance;
  int backend_pid;
  int attempts;            /* executions started and not given back (jobs_claim, jobs_requeue) */
  const char *client_addr; /* the creator's address (NULL: not recorded) */
  int64_t queue_position;  /* QUEUED (jobs_get only): 1 for the next to be claimed; else 0 */
  size_t nparams;
  const jobs_param *params; /* sorted by name */
  size_t nresults;
  const jobs_result_info *results;
} jobs_job;

/* The value of a parameter (name compared case-insensitively), or NULL. */
const char *jobs_param_get(const jobs_job *j, const char *name);

typedef struct jobs_new {
  const char *owner;      /* the user's name; NULL: anonymous */
  int64_t owner_id;       /* the user's id; 0: anonymous */
  const char *anon_owner; /* anonymous: the hash of the browser's owner cookie, or NULL */
  const char *client;   /* the client's address (per-owner limits of anonymous jobs); may be NULL */
  const char *instance; /* the creating instance's uuid (owner_instance); may be NULL */
  const char *run_id;
  int64_t execution_duration; /* seconds */
  int64_t destruction_ms;
  int queue; /* 1: created QUEUED (PHASE=RUN at creation) */
  size_t nparams;
  const jobs_param *params; /* names are lower-cased when stored */
} jobs_new;

/* Inserts a job with a fresh unguessable id (32 hex digits) into out_id. */
ts_err jobs_create(PGconn *conn, const jobs_new *n, char out_id[40], ts_error *err);
/* The job with its parameters and results, allocated in `a`, all read on
 * one snapshot (a REPEATABLE READ transaction, unless the caller has one
 * open). TS_ENOTFOUND when there is none. */
ts_err jobs_get(PGconn *conn, ts_arena *a, const char *id, jobs_job **out, ts_error *err);
/* The phase alone: one primary-key lookup (clients poll it). */
ts_err jobs_get_phase(PGconn *conn, const char *id, jobs_phase *out, ts_error *err);
/* The rule: 1 when a job owned by user `owner_id` (0: anonymous) may be
 * used by user `caller` (0: anonymous). */
int jobs_may_access(int64_t owner_id, int64_t caller);
/* Whether the caller (user id `caller`, 0 when anonymous) may use job `id`:
 * a user's job is that user's alone, an anonymous job anyone's who holds
 * its id. TS_ENOTFOUND, TS_EFORBIDDEN; *phase (may be NULL) gets the
 * phase. One primary-key lookup: every request on a job makes it. */
ts_err jobs_access(PGconn *conn, const char *id, int64_t caller, jobs_phase *phase, ts_error *err);

/* Whose jobs a list shows: a user's (owner_id > 0), else an anonymous
 * browser's (anon_owner, the hash of its owner cookie), else every
 * anonymous job (all_anonymous) or none at all. */
typedef struct jobs_filter {
  int64_t owner_id;
  const char *anon_owner;
  int all_anonymous;
  unsigned phase_mask; /* 1 << phase; 0: every phase but ARCHIVED (UWS 1.1) */
  int64_t after_ms;    /* created strictly after; 0: no limit */
  int64_t last;        /* only the `last` most recent; 0: all */
  int64_t offset;      /* skips the first `offset` of the order (TAP+) */
  const char *id;      /* this job only; NULL: any (TAP+ jobid) */
  const char *run_id;  /* jobs with this RUNID; NULL: any (TAP+ jobname) */
  int oldest_first;    /* ascending (TAP+ order) */
  int by_start;        /* ordered by start time (never started: last), else creation time */
} jobs_filter;
/* Jobs matching `f`, newest first (the UWS columns set; no parameters
 * nor results). */
ts_err jobs_list(PGconn *conn, ts_arena *a, const jobs_filter *f, jobs_job **out, size_t *n,
                 ts_error *err);
/* jobs_list with each job's parameters and results, on one snapshot: four
 * statements whatever the number of jobs. */
ts_err jobs_list_full(PGconn *conn, ts_arena *a, const jobs_filter *f, jobs_job **out, size_t *n,
                      ts_error *err);
/* jobs_access for every id of ids[0..n) in one statement: TS_ENOTFOUND or
 * TS_EFORBIDDEN naming the first id that fails. */
ts_err jobs_access_all(PGconn *conn, const char *const *ids, size_t n, int64_t caller,
                       ts_error *err);

/* Every phase change below stamps owner_instance with `instance`, the
 * instance in charge of the new phase (NULL leaves it unset). */

/* PENDING (or HELD) -> QUEUED. TS_EINVAL with a message naming the phase
 * when the job is in another phase; TS_ENOTFOUND. Running an already
 * QUEUED or EXECUTING job is accepted and changes nothing. */
ts_err jobs_run(PGconn *conn, const char *id, const char *instance, ts_error *err);
/* Any non-final phase -> ABORTED; cancels the job's backend with
 * pg_cancel_backend when it was EXECUTING. Aborting a final job changes
 * nothing (UWS). */
ts_err jobs_abort(PGconn *conn, const char *id, const char *instance, ts_error *err);
/* Sets (or replaces) parameters while the job is PENDING; TS_EINVAL in
 * any other phase. */
ts_err jobs_set_params(PGconn *conn, const char *id, const jobs_param *p, size_t n, ts_error *err);
ts_err jobs_set_run_id(PGconn *conn, const char *id, const char *run_id, ts_error *err);
/* While PENDING (or QUEUED for the duration). Values are the already
 * capped ones. */
ts_err jobs_set_execution_duration(PGconn *conn, const char *id, int64_t secs, ts_error *err);
ts_err jobs_set_destruction(PGconn *conn, const char *id, int64_t ms, ts_error *err);

/* Deletes the job, its results and chunks (cancelling its backend when
 * EXECUTING), and removes stored files through `store` (may be NULL).
 * TS_ENOTFOUND when there is no such job. */
typedef struct jobs_store jobs_store;
ts_err jobs_delete(PGconn *conn, const jobs_store *store, const char *id, ts_error *err);
/* Deletes up to `max` jobs whose destruction time has passed; *n deleted. */
ts_err jobs_sweep(PGconn *conn, const jobs_store *store, int max, int *n, ts_error *err);

/* ---- execution (instances, heartbeats and recovery: jobs/cluster.h) ---- */
/* The transaction-level advisory lock key jobs_claim takes when a limit is
 * set (the migrations take another). */
#define JOBS_CLAIM_LOCK "7596120417835203"
/* Limits of jobs_claim, cluster-wide (0: none). */
typedef struct jobs_limits {
  int max_per_user; /* EXECUTING per owner; anonymous owners told apart by client_addr */
  int max_async;    /* EXECUTING in the whole cluster */
} jobs_limits;
/* Claims the oldest QUEUED job (FOR UPDATE SKIP LOCKED) within the limits
 * whose dependencies (jobs_set_deps) are all final: EXECUTING, owned by `instance`, start time set,
 * attempts + 1. With a limit, the count and the claim run in one transaction under an advisory
 * lock, so instances claiming at once cannot exceed it together. *out NULL
 * when nothing is claimable. */
ts_err jobs_claim(PGconn *conn, ts_arena *a, const char *instance, const jobs_limits *lim,
                  jobs_job **out, ts_error *err);
ts_err jobs_set_backend_pid(PGconn *conn, const char *id, const char *instance, int pid,
                            ts_error *err);
/* EXECUTING (owned by `instance`) -> COMPLETED with the result row, in one
 * transaction; when in_txn the caller has already begun it (the pg store
 * wrote its chunks in it) and this commits it. TS_ECANCELED (rolled back)
 * when the job is no longer EXECUTING here (aborted, deleted). */
ts_err jobs_complete(PGconn *conn, const char *id, const char *instance, const jobs_result_info *r,
                     const char *columns_json, int in_txn, ts_error *err);
/* EXECUTING (owned by `instance`) -> ERROR with the message
 * (jobs_fail), or -> QUEUED (jobs_requeue: the instance stops cleanly;
 * the attempt is given back, so it does not count towards max_attempts).
 * TS_ECANCELED when no longer ours. */
ts_err jobs_fail(PGconn *conn, const char *id, const char *instance, const char *message,
                 ts_error *err);
ts_err jobs_requeue(PGconn *conn, const char *id, const char *instance, ts_error *err);

/* Columns of a stored result, rebuilt from their JSON record (names,
 * PostgreSQL types and the TAP metadata), allocated in `a`. */
ts_err jobs_result_schema(PGconn *conn, ts_arena *a, const char *id, const char *name,
                          stream_schema *out, ts_error *err);
/* JSON of a schema for jobs_complete. Returns TS_ENOMEM. */
ts_err jobs_schema_json(const stream_schema *s, ts_buf *out);
/* A cap for `out`: up to 1664 columns (PostgreSQL's limit) with their
 * metadata. */
enum { JOBS_SCHEMA_JSON_MAX = 16 << 20 };
/* The encoded size of a result in one format, once known (-1 unknown). */
ts_err jobs_result_size_get(PGconn *conn, const char *id, const char *name, const char *fmt,
                            int64_t *size, ts_error *err);
ts_err jobs_result_size_set(PGconn *conn, const char *id, const char *name, const char *fmt,
                            int64_t size, ts_error *err);

/* ---- the result store -------------------------------------------------- */
typedef enum jobs_store_kind { JOBS_STORE_FS, JOBS_STORE_PG } jobs_store_kind;
struct jobs_store {
  jobs_store_kind kind;
  char dir[1024]; /* fs: the directory */
  int level;      /* zstd level */
};
/* Parses "fs:DIR" or "pg"; creates DIR when missing. */
ts_err jobs_store_init(jobs_store *s, const char *spec, ts_error *err);

/* Writing one result. For pg the chunks go through `conn` inside a
 * transaction this call begins (jobs_complete with in_txn=1 commits it);
 * for fs a temporary file in DIR that finish fsyncs and renames. The
 * writer has a thread of its own that compresses and stores what
 * jobs_store_write hands over, so the caller only copies bytes. Memory is
 * fixed: one zstd context, one chunk of output and four 1 MiB buffers of
 * input; a caller ahead of the store waits for a free buffer. A failure of
 * the thread is returned by the next write (or finish). */
typedef struct jobs_store_writer jobs_store_writer;
ts_err jobs_store_writer_open(const jobs_store *s, PGconn *conn, const char *job_id,
                              const char *name, jobs_store_writer **out, ts_error *err);
/* Raw COPY bytes in; compressed and stored. */
ts_err jobs_store_write(jobs_store_writer *w, const void *buf, size_t len, ts_error *err);
/* Bytes written so far (raw: handed to jobs_store_write; stored: the
 * compressed bytes already in the store); either may be NULL. Any thread. */
void jobs_store_writer_bytes(jobs_store_writer *w, int64_t *raw, int64_t *stored);
/* The pg store inserts chunks through `conn` from the writer's thread:
 * whoever else uses that connection while the writer is open (between
 * open and finish or free) holds this lock meanwhile. */
void jobs_store_writer_lock(jobs_store_writer *w);
void jobs_store_writer_unlock(jobs_store_writer *w);
/* Ends the stream; the result is in place (fs: renamed) and `r` gets
 * store, location and byte counts (strings owned by the writer until
 * jobs_store_writer_free). */
ts_err jobs_store_writer_finish(jobs_store_writer *w, jobs_result_info *r, ts_error *err);
/* Frees; when the result was not committed (commit=0) removes whatever was
 * written (fs file, pg transaction rolled back). When it was (commit=1),
 * the fs store also removes the temporary files an earlier execution of
 * the same job left for this result (an instance that died writing it). */
void jobs_store_writer_free(jobs_store_writer *w, int commit);
/* Removes temporary files of the fs store older than `age_s` seconds:
 * what an instance killed while writing left behind (a live writer is
 * younger than the longest execution duration). Returns how many. */
int jobs_store_clean_tmp(const jobs_store *s, int64_t age_s);
/* Removes a stored fs result (pg chunks go with their job row). */
void jobs_store_remove(const jobs_store *s, const char *store, const char *location);

/* Reading one result back: decompressed COPY bytes. pg reads chunk by
 * chunk through `conn`. */
typedef struct jobs_store_reader jobs_store_reader;
ts_err jobs_store_reader_open(const jobs_store *s, PGconn *conn, const char *job_id,
                              const jobs_result_info *r, jobs_store_reader **out, ts_error *err);
/* The connection later reads of a pg result go through (NULL: none for
 * now); a reader need not keep one between reads, since every chunk is
 * read by its own statement. */
void jobs_store_reader_use(jobs_store_reader *r, PGconn *conn);
/* Fills up to cap bytes; *got 0 at the end of the stream. */
ts_err jobs_store_read(jobs_store_reader *r, uint8_t *buf, size_t cap, size_t *got, ts_error *err);
void jobs_store_reader_free(jobs_store_reader *r);

/* ---- upload tables (uploads.c) -----------------------------------------
 * TAP UPLOAD tables live in schema tap_upload (created by migration 7,
 * owned by the service role), one per upload, named up_<owner>_<name>
 * where owner is the job id (async) or the request id (/sync), and are
 * recorded in tapserve.uploads with their column metadata. Loading is one
 * transaction (docs/internals/jobs.md, "Upload tables"). Blocking, on a
 * service connection, never on the loop. */
#define JOBS_UPLOAD_SCHEMA "tap_upload"
/* Upload names: PostgreSQL's 63-byte identifiers hold "up_", a 32-digit
 * job id, "_" and the name. */
enum { JOBS_UPLOAD_NAME_MAX = 27 };

typedef struct jobs_upload_owner {
  const char *job_id;     /* async: the job (NULL for /sync) */
  const char *request_id; /* /sync: the request (NULL for a job) */
  const char *instance;   /* this instance's uuid: a request's tables go with it */
} jobs_upload_owner;

typedef struct jobs_upload_limits {
  uint64_t max_bytes; /* COPY bytes per upload; 0: none */
  uint64_t max_rows;
  size_t max_columns;
} jobs_upload_limits;

/* One column as the loader creates it. */
typedef struct jobs_upload_col {
  stream_column c;        /* name and the metadata recorded for the checker */
  const char *copy_type;  /* SQL type the COPY bytes are in */
  const char *final_type; /* NULL, or spoint/scircle/spoly made from degrees */
} jobs_upload_col;

/* "up_<id>_<name>" in lower case into out. TS_EINVAL (naming the upload)
 * when name is not a regular identifier of at most JOBS_UPLOAD_NAME_MAX
 * characters. */
ts_err jobs_upload_table_name(const jobs_upload_owner *o, const char *name, char out[64],
                              ts_error *err);

typedef struct jobs_upload_load jobs_upload_load;
/* Begins a transaction, creates the table and starts COPY FROM STDIN
 * (FORMAT binary). `cols` is copied. The caller then writes the COPY
 * stream (header, tuples, trailer) and finishes, or frees to abandon. */
ts_err jobs_upload_begin(PGconn *conn, const jobs_upload_owner *o, const char *name,
                         const jobs_upload_col *cols, size_t ncols, uint64_t max_bytes,
                         jobs_upload_load **out, ts_error *err);
/* COPY bytes; TS_ELIMIT naming [upload] max_bytes beyond it. */
ts_err jobs_upload_write(jobs_upload_load *l, const void *buf, size_t len, ts_error *err);
/* Ends COPY (malformed data: TS_EINVAL naming the upload), converts
 * geometry columns to their pgSphere types, indexes the position (a point
 * column, or the ra/dec pair with UCDs pos.eq.ra;meta.main and
 * pos.eq.dec;meta.main), ANALYZEs, grants SELECT to query_role (NULL or
 * "": none) and records the table; commits. */
ts_err jobs_upload_finish(jobs_upload_load *l, uint64_t rows, const char *query_role,
                          ts_error *err);
/* Frees; what was not committed is rolled back. NULL-safe. */
void jobs_upload_free(jobs_upload_load *l);

/* Where a table read from a file or a stored result is loaded: `begin`
 * starts its load as jobs_upload_begin does (then jobs_upload_write,
 * jobs_upload_finish and jobs_upload_free drive it whatever the target).
 * jobs_upload_target gives the TAP_UPLOAD table `name` of an owner;
 * jobs_utab_target (jobs/usertables.h) a user's persistent table. */
typedef struct jobs_load_target jobs_load_target;
struct jobs_load_target {
  const char *name; /* the table's name as the client gave it, for messages */
  ts_err (*begin)(const jobs_load_target *t, PGconn *conn, const jobs_upload_col *cols,
                  size_t ncols, uint64_t max_bytes, jobs_upload_load **out, ts_error *err);
  const void *ud; /* the target's own (borrowed for as long as the target is used) */
};
/* `o` is borrowed for as long as the target is used. */
jobs_load_target jobs_upload_target(const jobs_upload_owner *o, const char *name);

/* Loads the stored result of job src_id as upload `name` of owner: the
 * stored COPY stream goes in as it is, into columns of the result's own
 * types. The job must be COMPLETED (TS_EINVAL naming the upload and the
 * phase otherwise; TS_EINVAL for no such job); limits give TS_ELIMIT.
 * `read` is a second connection (the pg store reads chunks through it
 * while `conn` is in COPY); it may be the same as conn for an fs store. */
ts_err jobs_upload_from_result(PGconn *conn, PGconn *read, const jobs_store *store,
                               const jobs_upload_owner *o, const char *name, const char *src_id,
                               const jobs_upload_limits *lim, const char *query_role,
                               ts_error *err);

/* jobs_upload_from_result into any target. */
ts_err jobs_load_from_result(PGconn *conn, PGconn *read, const jobs_store *store,
                             const jobs_load_target *t, const char *src_id,
                             const jobs_upload_limits *lim, const char *query_role, ts_error *err);

typedef struct jobs_upload_info {
  const char *name;  /* the upload name (lower case) */
  const char *table; /* in JOBS_UPLOAD_SCHEMA */
  int64_t rows;
  stream_schema schema; /* columns and their metadata as loaded */
} jobs_upload_info;
/* The tables of a job or a request, by name, allocated in a. */
ts_err jobs_upload_list(PGconn *conn, ts_arena *a, const jobs_upload_owner *o,
                        jobs_upload_info **out, size_t *n, ts_error *err);
/* Drops the tables of a job or a request; *n (may be NULL) how many. */
ts_err jobs_upload_drop(PGconn *conn, const jobs_upload_owner *o, int *n, ts_error *err);
/* Drops tables whose job is gone or has ended, and those of requests
 * whose instance is gone (killed). */
ts_err jobs_upload_sweep(PGconn *conn, int *n, ts_error *err);
/* GRANT USAGE on the schema to the query role (at start). */
ts_err jobs_upload_grant_schema(PGconn *conn, const char *query_role, ts_error *err);

/* The jobs whose results job `id` uploads (job: sources); replaces the
 * earlier set. A QUEUED job is claimed only once each of them is final
 * (jobs_claim). TS_EINVAL when the set would make a cycle. */
ts_err jobs_set_deps(PGconn *conn, const char *id, const char *const *deps, size_t n,
                     ts_error *err);

/* ---- helpers ----------------------------------------------------------- */
/* Appends s as a JSON string literal. */
ts_err jobs_json_str(ts_buf *b, const char *s);

#endif
