/* stream/pg.h: PostgreSQL on the libuv loop.
 *
 * A pool of non-blocking libpq connections, each polled with one uv_poll_t.
 * stream_query_run() takes a connection, opens a READ ONLY transaction with
 * statement_timeout, describes the statement (column types, without running
 * it), then streams COPY (sql) TO STDOUT (FORMAT binary) through the copy
 * decoder in batches, honouring pause/resume for backpressure.
 * Cancellation (client gone, timeout) sends a cancel request from a worker
 * thread (libpq 15's PQcancel blocks) and discards or resets the
 * connection. */
#ifndef TS_STREAM_PG_H
#define TS_STREAM_PG_H

#include "stream/stream.h"

#include <libpq-fe.h>
#include <uv.h>

typedef struct stream_pg_pool stream_pg_pool;

/* ---- the servers of a connection string (pgservers.c) --------------------
 * A connection string may name several servers in libpq's multi-host
 * syntax (host=a,b port=1,2, or postgresql://a:1,b:2/db): a primary and
 * its hot standbys. Every new connection names one of them, round-robin
 * over those that are up; a server that refused a connection is skipped
 * for a back-off and tried again after it. target_session_attrs is
 * dropped (it could only refuse the standbys). Thread-safe. */
typedef struct stream_pg_servers stream_pg_servers;
enum {
  STREAM_PG_SERVERS_MAX = 16,      /* servers in one connection string */
  STREAM_PG_SERVER_NAME_MAX = 128, /* "host:port", for logs */
  STREAM_PG_PARAMS_MAX = 48,       /* keyword/value pairs of one connection, with the NULL */
};
/* Parses `dsn`; TS_EINVAL naming what is wrong (libpq's message, host
 * and port lists of different lengths, more than STREAM_PG_SERVERS_MAX),
 * TS_ENOMEM. down_ms: the first back-off of a server that refused a
 * connection (0: 5000); it doubles, up to 8 times that, while the server
 * keeps refusing. */
ts_err stream_pg_servers_new(const char *dsn, int down_ms, stream_pg_servers **out, ts_error *err);
/* The servers of at_dsn (its host, hostaddr and port) with the other
 * options of dsn (user, dbname, password...): the query role on the
 * primary of `dsn`, for the queries that must see what was just written
 * there. at_dsn NULL: stream_pg_servers_new. */
ts_err stream_pg_servers_new_at(const char *dsn, const char *at_dsn, int down_ms,
                                stream_pg_servers **out, ts_error *err);
void stream_pg_servers_free(stream_pg_servers *s); /* NULL-safe */
int stream_pg_servers_count(const stream_pg_servers *s);
/* 1 when a and b name the same servers (host, hostaddr, port), in order. */
int stream_pg_servers_same(const stream_pg_servers *a, const stream_pg_servers *b);
const char *stream_pg_servers_name(const stream_pg_servers *s, int i);
/* The server for the next connection: round-robin over the servers that
 * are up, other than `avoid` when another is up (-1: none); when every
 * server is down, the one whose back-off ends first. */
int stream_pg_servers_pick(stream_pg_servers *s, int avoid);
/* Servers up now; whether server i is. */
int stream_pg_servers_up(stream_pg_servers *s);
int stream_pg_servers_is_up(stream_pg_servers *s, int i);
/* A connection to server i succeeded (ok 1: it is up) or failed (0: down
 * for its back-off). */
void stream_pg_servers_mark(stream_pg_servers *s, int i, int ok);
/* The keyword/value arrays (NULL-terminated, for PQconnectStartParams
 * with expand_dbname 0) of a connection to server i; application_name
 * replaced by app_name unless it is NULL. Strings belong to s. Returns the
 * number of pairs. */
int stream_pg_servers_params(const stream_pg_servers *s, int i, const char *app_name,
                             const char *kw[STREAM_PG_PARAMS_MAX],
                             const char *val[STREAM_PG_PARAMS_MAX]);
/* Blocking connect (worker threads): tries each server at most once,
 * `first` (-1: stream_pg_servers_pick), then round-robin over those up,
 * marking each up or down. The
 * server's index in *server (may be NULL). NULL with TS_EUNAVAIL (the last
 * server's message) when none answered, TS_ENOMEM. */
PGconn *stream_pg_servers_connect(stream_pg_servers *s, const char *app_name, int first,
                                  int *server, ts_error *err);
/* 1 when an error result is a hot standby canceling the statement (or
 * ending the session) because of a conflict with WAL replay: not the
 * statement's fault, and it may run again, better on another server. */
int stream_pg_recovery_conflict(const PGresult *res);

typedef struct stream_pg_pool_opts {
  const char *dsn; /* libpq connection string (used when servers is NULL) */
  int size;        /* maximum connections (>= 1) */
  int connect_timeout_ms;
  const char *app_name;       /* application_name, e.g. "tapserve" */
  int wait_timeout_ms;        /* a query waits at most this long for a connection, then ends
                               * with TS_EUNAVAIL; 0: no bound */
  stream_pg_servers *servers; /* the servers to connect to, or NULL: those of dsn;
                               * borrowed, must outlive the pool */
} stream_pg_pool_opts;

/* Returns NULL when out of memory. Connections are opened lazily. */
stream_pg_pool *stream_pg_pool_new(uv_loop_t *loop, const stream_pg_pool_opts *o);
/* Closes idle connections at once and busy ones when released; calls
 * done(ud) once every handle is closed. */
void stream_pg_pool_close(stream_pg_pool *p, void (*done)(void *ud), void *ud);
/* Connections open / in use / waiters (for logs and /availability). */
void stream_pg_pool_stats(const stream_pg_pool *p, int *open, int *busy, int *waiting);
/* Its size, how many queries found no idle connection and had to wait, and
 * how many of those gave up (wait_timeout_ms): since the start. Loop
 * thread. */
void stream_pg_pool_counts(const stream_pg_pool *p, int *size, uint64_t *waits,
                           uint64_t *wait_timeouts);
/* Queries described by the database, and those that reused an earlier
 * description (stream_query_opts.describe_gen): since the start. Loop
 * thread. */
void stream_pg_pool_describes(const stream_pg_pool *p, uint64_t *described, uint64_t *reused);

typedef struct stream_query stream_query;

typedef struct stream_query_opts {
  const char *sql;    /* a SELECT; must already carry its LIMIT */
  int64_t maxrec;     /* deliver at most maxrec rows; one more = overflow. -1: no limit */
  int64_t timeout_ms; /* statement_timeout; 0: none */
  size_t batch_rows;  /* rows per batch (the fetch size); 0: 1000 */
  const char *reqid;  /* for logs */
  /* Nonzero: the column description of this SQL may come from an earlier
   * query of the same text and the same describe_gen (the caller bumps it
   * whenever what the SQL names may have changed), saving a round trip;
   * a cached description is at most 10 s old. 0: always described. */
  uint64_t describe_gen;
} stream_query_opts;

typedef struct stream_query_cbs {
  /* Column model from describe, before any row. The schema (names, types,
   * datatype/arraysize/xtype set) may be edited in place (metadata from
   * TAP_SCHEMA); it lives until on_done returns. A non-OK return cancels
   * the query (on_done then gets that code and err). */
  ts_err (*on_schema)(void *ud, stream_schema *schema, ts_error *err);
  /* One batch of rows; valid only during the call. Same return rule. */
  ts_err (*on_batch)(void *ud, const stream_batch *b, ts_error *err);
  /* Called exactly once, last, after the connection is back in the pool:
   * rc TS_OK (all rows delivered), TS_ECANCELED (stream_query_cancel),
   * TS_EQUERYTIMEOUT, TS_EDB (message from PostgreSQL in err), or whatever
   * a callback returned. overflow is 1 when row maxrec+1 arrived (it was
   * not delivered). The query object is freed after this returns. */
  void (*on_done)(void *ud, ts_err rc, const ts_error *err, uint64_t nrows, int overflow);
} stream_query_cbs;

/* Starts a query; callbacks never run inside this call. Returns NULL only
 * when out of memory (then no callback runs). */
stream_query *stream_query_run(stream_pg_pool *p, const stream_query_opts *o,
                               const stream_query_cbs *cbs, void *ud);
/* Stop reading from PostgreSQL (the backend blocks on its socket) / go on. */
void stream_query_pause(stream_query *q);
void stream_query_resume(stream_query *q);
/* Cancels in the database at once; on_done follows with TS_ECANCELED. Safe
 * to call once on_done has not yet run; a no-op afterwards is NOT safe (the
 * object is gone), so callers drop their pointer in on_done. */
void stream_query_cancel(stream_query *q);
/* The backend pid serving the query (0 before it has a connection). */
int stream_query_backend_pid(const stream_query *q);

/* The status code of a PostgreSQL error by its SQLSTATE: TS_EQUERY when
 * the query itself is at fault (classes 21 cardinality, 22 data exception
 * such as 1/0 or a numeric overflow, 42 syntax or access rule), which a
 * client gets as HTTP 400; TS_EDB for everything else, and for the class
 * 42 errors that mean the published metadata and the database disagree
 * (42P01 undefined table, 42703 undefined column, 42501 insufficient
 * privilege): the checker only lets published names through, so those are
 * the operator's to fix. Cancellation (57014) and connection failures are
 * told apart by the callers, which know why a query stopped. */
ts_err stream_pg_sqlstate_err(const char *sqlstate);

/* The statement that opens an async job's query transaction: BEGIN READ
 * ONLY with the statement timeout (0 = none; values beyond PostgreSQL's
 * limit of INT_MAX ms are clamped to it) and standard_conforming_strings
 * on, because the SQL the translator writes quotes string literals the
 * standard way ('' only, backslashes are plain characters) whatever the
 * role or database default says. A /sync query (stream_query_run) gets
 * the same three settings once per pooled connection, as session
 * settings, instead. Writes at most STREAM_PG_PROLOGUE_MAX bytes with the
 * NUL. */
enum { STREAM_PG_PROLOGUE_MAX = 160 };
void stream_pg_prologue(char out[STREAM_PG_PROLOGUE_MAX], int64_t timeout_ms);

/* Synchronous helpers for startup and CLI work (blocking libpq; never on
 * the loop while it serves requests). */
PGconn *stream_pg_connect_blocking(const char *dsn, ts_error *err);

/* 1 when a failure on `conn` (with `res`, its error result, or NULL) is the
 * connection's and not the statement's: the connection is bad, or the
 * SQLSTATE is of class 08 (connection exception) or 57P01-57P03 (the
 * server shuts down, crashed, or cannot accept connections yet). Such a
 * statement may be run again on a new connection, and so may one that a hot
 * standby canceled for a conflict with recovery (stream_pg_recovery_conflict);
 * any other error is the statement's own. */
int stream_pg_conn_lost(const PGconn *conn, const PGresult *res);
/* 1 when an idle blocking connection kept between uses is still worth
 * using: CONNECTION_OK, no transaction open, and nothing waiting on its
 * socket (an idle connection receives nothing but the server's last words
 * when it goes away, so anything readable means it is gone). */
int stream_pg_idle_usable(PGconn *conn);

/* The column model of a described statement (PQdescribePrepared's
 * result): names and types, with datatype/arraysize/xtype set, strings in
 * arena `a`. TS_EINVAL (naming the column) for a type that cannot be
 * output, TS_ENOMEM. /sync and the executors build their schema here. */
ts_err stream_pg_schema(const PGresult *res, ts_arena *a, stream_schema *out, ts_error *err);

/* ---- blocking COPY reader (pgcopy.c) -----------------------------------
 * For worker threads that own a blocking libpq connection (the async
 * executors): describe a statement, then run COPY (sql) TO STDOUT (FORMAT
 * binary) and hand over its tuples one by one, as PostgreSQL sent them. The
 * header is checked once (stream_copy_header_check), the MAXREC rule is
 * stream_maxrec_take, errors are mapped by stream_pg_sqlstate_err and
 * stream_pg_conn_lost. Never on the loop. */

/* The error of a failed statement on a blocking connection (res: its error
 * result, or NULL when sending failed): TS_EUNAVAIL when the connection
 * failed (stream_pg_conn_lost: the statement may run again on a new one),
 * else stream_pg_sqlstate_err of its SQLSTATE; PostgreSQL's primary message
 * (or libpq's) in err. Returns the code. */
ts_err stream_pg_result_error(PGconn *conn, const PGresult *res, ts_error *err);

/* Prepares `sql` as the unnamed statement on `conn` and describes it into
 * *out (stream_pg_schema). A failed statement gives TS_EUNAVAIL when the
 * connection is lost (stream_pg_conn_lost), else the code of its SQLSTATE,
 * with PostgreSQL's message. */
ts_err stream_pgcopy_describe(PGconn *conn, const char *sql, ts_arena *a, stream_schema *out,
                              ts_error *err);

typedef struct stream_pgcopy {
  /* set by the caller */
  PGconn *conn;
  int64_t maxrec; /* deliver at most maxrec tuples (-1: no limit) */
  int poll_ms;    /* watch runs at least this often while waiting; 0: 200 */
  /* One tuple (field count, then the fields), valid during the call only.
   * A non-OK return cancels the query; the reader drains what is left and
   * returns that code and err. */
  ts_err (*on_tuple)(void *ud, const uint8_t *tuple, size_t len, ts_error *err);
  /* Asked before every wait for the database: 0 to go on, or a reason (> 0)
   * to cancel the query. The first reason is kept in `why`; the cancel is
   * sent once. NULL: never canceled. */
  int (*watch)(void *ud);
  void *ud;
  /* results */
  uint64_t tuples;  /* delivered */
  int overflow;     /* tuple maxrec+1 arrived (not delivered) */
  int why;          /* the reason watch gave, 0 if it never asked to cancel */
  char sqlstate[6]; /* of the error that ended the query; "" when none */
} stream_pgcopy;

/* Runs COPY (sql) TO STDOUT (FORMAT binary) on r->conn (in the caller's
 * transaction, if any) and reads it to the end. TS_OK: every tuple was
 * delivered (or the rest dropped after an overflow). TS_ECANCELED (with
 * PostgreSQL's message, or "canceled") when the query ended canceled, by
 * watch (r->why > 0) or otherwise (r->sqlstate "57014": a statement
 * timeout or pg_cancel_backend): the caller knows which it was. TS_EDB for
 * malformed COPY data. TS_EUNAVAIL when the connection was lost (the
 * statement may run again on a new one). Otherwise the code of the
 * statement's SQLSTATE or of on_tuple. The connection is idle again (all
 * results read) when this returns, unless it was lost. */
ts_err stream_pgcopy_run(stream_pgcopy *r, const char *sql, ts_error *err);

#endif
