/* stream/pg_int.h: what pg.c (one query's life on a connection) and
 * pgpool.c (the connection pool on the loop) share; for those sources
 * only. Prefix stream__. */
#ifndef TS_STREAM_PG_INT_H
#define TS_STREAM_PG_INT_H

#include "stream/pg.h"

#include <sys/types.h>

typedef struct pg_conn pg_conn;
typedef struct stream__desc_entry stream__desc_entry;

/* How long a query's description may be reused (pgdesc.c). */
enum { STREAM__DESC_TTL_MS = 10000 };

typedef struct pg_poll {
  uv_poll_t h;
  int fd;    /* our dup of libpq's socket; closed in the close callback */
  dev_t dev; /* identity of the socket, to notice libpq replacing it */
  ino_t ino; /* even when the new socket reuses the same number */
  int sock;  /* libpq's socket number it was made for */
  int armed; /* the events uv_poll watches now (0: stopped) */
  pg_conn *c;
} pg_poll;

enum conn_state { CONN_CONNECTING, CONN_IDLE, CONN_BUSY, CONN_CLOSING };

enum query_phase {
  Q_WAITING,    /* queued for a connection */
  Q_DESCRIBE,   /* one pipeline: SET standard_conforming_strings, PREPARE "", DESCRIBE "" */
  Q_COPY_START, /* "COPY (sql) TO STDOUT (FORMAT binary)" sent, until COPY_OUT */
  Q_COPY,       /* rows via PQgetCopyData */
  Q_COPY_END,   /* COPY's final result */
  Q_CANCELING,  /* cancel request in a worker thread; the connection will close */
  Q_DONE        /* on_done is due (on the pool's done list) */
};

struct pg_conn {
  stream_pg_pool *pool;
  pg_conn *prev, *next; /* pool->conns, while not closing */
  PGconn *conn;
  pg_poll *poll;
  uv_timer_t timer;
  int handles_open; /* timer + poll handles not yet closed */
  int state;
  int server;           /* index in pool->servers */
  int64_t sess_timeout; /* the session is set (query_send_session) for this timeout; -1: not */
  stream_query *q;
};

struct stream_pg_pool {
  uv_loop_t *loop;
  char *dsn, *app_name;
  stream_pg_servers *servers;
  int own_servers;                       /* made from dsn: freed with the pool */
  int per_server[STREAM_PG_SERVERS_MAX]; /* open connections on each server */
  int size, connect_timeout_ms, wait_timeout_ms;
  pg_conn *conns;
  int nopen, nbusy, nconnecting, nalive;
  stream_query *wait_head, *wait_tail;
  int nwaiting;
  uint64_t waits;         /* queries that found no idle connection (metrics) */
  uint64_t wait_timeouts; /* ... and gave up after wait_timeout_ms */
  stream_query *done_head, *done_tail;
  stream__desc_entry **desc;       /* pgdesc.c; NULL until the first use */
  uint64_t described, desc_reused; /* queries described / that reused a description */
  uv_timer_t kick;
  int in_kick;
  int closing, kick_closed;
  void (*close_done)(void *ud);
  void *close_ud;
};

struct stream_query {
  stream_pg_pool *pool;
  stream_query *next; /* wait list or done list */
  pg_conn *c;
  ts_arena *arena;
  char *sql, *reqid;
  size_t sql_len;    /* strlen(sql) */
  uint64_t sql_hash; /* ts_hash64 of sql, the description cache key (when desc_gen) */
  int64_t maxrec, timeout_ms;
  size_t batch_rows;
  stream_query_cbs cbs;
  void *ud;
  int phase;
  int piped;         /* results of the describe pipeline seen so far */
  int pipe_session;  /* 1: the pipeline sets the session first */
  uint64_t desc_gen; /* stream_query_opts.describe_gen */
  int desc_hit;      /* the description came from pgdesc.c */
  int paused;
  int user_canceled;
  int retried;      /* went back to the wait list once after a lost connection */
  int avoid_server; /* the server it was sent back from (-1: none) */
  ts_err rc;
  ts_error err;
  stream_schema schema;
  stream_copydec *dec;
  char **bufs; /* libpq CopyData buffers the pending batch points into */
  size_t nbufs, bufs_cap;
  uint64_t nrows;
  int overflow;
  int64_t started_ms;
  uint64_t wait_until; /* loop time after which a waiting query gives up */
  PGcancel *cancel;
  uv_work_t work;
  char cancel_errbuf[256];
  char copy_bad[sizeof(((ts_error *)0)->msg)]; /* decoder's complaint at the end of COPY */
};

/* ---- pgpool.c ---- */

/* libpq notice processor: notices go to the log at debug level. */
void stream__notice_to_log(void *arg, const char *message);
void stream__pool_kick(stream_pg_pool *p);
/* Watches the connection for what libpq needs next (flushes first). */
void stream__conn_arm(pg_conn *c);
/* Stops watching the connection's socket. */
void stream__conn_unwatch(pg_conn *c);
/* Closes the connection for good; its query (if any) is detached. */
void stream__conn_discard(pg_conn *c);
/* The query is finished with this connection: back to idle, or closed. */
void stream__conn_release(pg_conn *c);
/* Connection-level failure: the connection goes, its query ends or retries. */
void stream__conn_broken(pg_conn *c, const char *why);
/* Puts a query that has no connection back first in line. */
void stream__wait_push_front(stream_pg_pool *p, stream_query *q);

/* ---- pg.c ---- */

/* libpq messages end in a newline and may span lines; keep the first line. */
void stream__trim_pq_message(char *dst, size_t cap, const char *src);
/* Records the query's first error. */
void stream__query_set_error(stream_query *q, ts_err rc, const char *fmt, ...) TS_PRINTF(3, 4);
void stream__query_free(stream_query *q);
/* The query is over: on_done is due from the pool's kick. */
void stream__query_finish(stream_query *q);
/* Reads what libpq has for the query and moves it through its phases. */
void stream__query_step(stream_query *q);
/* A lost connection before the query told its user anything: back in line
 * once. Returns 1 when it did. */
int stream__query_retry(stream_query *q, const char *why);
/* ---- pgdesc.c ---- */

/* Fills q->schema from an earlier description of the same SQL and
 * generation: 1 when it did. */
int stream__desc_lookup(stream_query *q);
/* Keeps the description res of q's SQL for later queries. */
void stream__desc_store(stream_query *q, const PGresult *res);
/* Drops q's description (its COPY data did not decode). */
void stream__desc_forget(stream_query *q);
void stream__desc_free(stream_pg_pool *p);

/* Takes the idle connection c for q and sends the describe pipeline, or
 * with a description at hand the COPY at once. */
void stream__conn_start_query(pg_conn *c, stream_query *q);

#endif
