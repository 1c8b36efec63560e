/* PostgreSQL on the libuv loop: a connection pool and the query source
 * (see pg.h and docs/internals/stream.md).
 *
 * Every connection has one uv_poll_t on a dup of libpq's socket (so libpq
 * may close or replace its socket without libuv ever polling a stale fd)
 * and one uv_timer_t (connect timeout, deferred drains). The poll mask is
 * derived from libpq's state each time: readable unless the query is
 * paused in COPY, writable while PQflush has bytes left.
 *
 * A query walks through phases, each ended by libpq's NULL result:
 *   prologue (BEGIN READ ONLY; SET LOCAL ...) -> PREPARE "" -> DESCRIBE ""
 *   -> on_schema -> COPY (sql) TO STDOUT (FORMAT binary) -> rows -> COMMIT
 * An error in any phase records the first error and ends with ROLLBACK.
 * Cancellation and callback failures while the backend may be working
 * send a cancel request from a worker thread and then close the
 * connection: closing is the only way that also stops a backend blocked on
 * a full socket, and the pool simply opens a new connection.
 *
 * on_done always runs from the pool's kick timer, never from inside a
 * call of the user, and only after the query's connection is back (idle
 * or closed). */
#include "stream/pg.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

typedef struct pg_conn pg_conn;

typedef struct pg_poll {
  uv_poll_t h;
  int fd;    /* our dup of libpq's socket; closed in the close callback */
  dev_t dev; /* identity of the socket, to notice libpq replacing it */
  ino_t ino; /* even when the new socket reuses the same number */
  pg_conn *c;
} pg_poll;

enum conn_state { CONN_CONNECTING, CONN_IDLE, CONN_BUSY, CONN_CLOSING };

enum query_phase {
  Q_WAITING,    /* queued for a connection */
  Q_BEGIN,      /* stream_pg_prologue(): BEGIN READ ONLY; SET LOCAL ... */
  Q_PREPARE,    /* PQsendPrepare("") */
  Q_DESCRIBE,   /* PQsendDescribePrepared("") */
  Q_COPY_START, /* COPY sent, waiting for PGRES_COPY_OUT */
  Q_COPY,       /* rows via PQgetCopyData */
  Q_COPY_END,   /* COPY's final result */
  Q_END_TX,     /* COMMIT or ROLLBACK */
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
  stream_query *q;
};

struct stream_pg_pool {
  uv_loop_t *loop;
  char *dsn, *app_name;
  int size, connect_timeout_ms, wait_timeout_ms;
  pg_conn *conns;
  int nopen, nbusy, nconnecting, nalive;
  stream_query *wait_head, *wait_tail;
  int nwaiting;
  stream_query *done_head, *done_tail;
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
  int64_t maxrec, timeout_ms;
  size_t batch_rows;
  stream_query_cbs cbs;
  void *ud;
  int phase;
  int paused;
  int user_canceled;
  int retried; /* went back to the wait list once after a lost connection */
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

static void pool_kick(stream_pg_pool *p);
static void conn_arm(pg_conn *c);
static void conn_discard(pg_conn *c);
static void conn_broken(pg_conn *c, const char *why);
static void query_step(stream_query *q);
static void query_abort(stream_query *q, ts_err rc, const ts_error *err);
static int query_retry(stream_query *q, const char *why);
static void wait_push_front(stream_pg_pool *p, stream_query *q);

/* ---- small helpers ------------------------------------------------------- */

/* libpq messages end in a newline and may span lines; keep the first line. */
static void trim_pq_message(char *dst, size_t cap, const char *src)
{
  size_t n = 0;
  if (!src)
    src = "";
  while (src[n] && src[n] != '\n' && n + 1 < cap)
    n++;
  memcpy(dst, src, n);
  dst[n] = 0;
}

static void query_set_error(stream_query *q, ts_err rc, const char *fmt, ...) TS_PRINTF(3, 4);
static void query_set_error(stream_query *q, ts_err rc, const char *fmt, ...)
{
  if (q->rc)
    return; /* the first error is the one the user needs */
  va_list ap;
  va_start(ap, fmt);
  ts_failv(&q->err, rc, 0, fmt, ap);
  va_end(ap);
  q->rc = rc;
}

static void query_free_bufs(stream_query *q, int keep_last)
{
  size_t n = keep_last && q->nbufs ? q->nbufs - 1 : q->nbufs;
  for (size_t i = 0; i < n; i++)
    PQfreemem(q->bufs[i]);
  if (n < q->nbufs)
    q->bufs[0] = q->bufs[n];
  q->nbufs -= n;
}

static void query_free(stream_query *q)
{
  query_free_bufs(q, 0);
  free(q->bufs);
  stream_copydec_free(q->dec);
  ts_arena_free(q->arena); /* sql, reqid, schema */
  free(q);
}

/* The query is over: on_done is due from the pool's kick. */
static void query_finish(stream_query *q)
{
  if (q->phase == Q_DONE)
    return;
  q->phase = Q_DONE;
  /* The libpq buffers stay until query_free: this may run inside on_batch
   * (a cancel from the callback), whose batch still points into them. */
  stream_pg_pool *p = q->pool;
  q->next = NULL;
  if (p->done_tail)
    p->done_tail->next = q;
  else
    p->done_head = q;
  p->done_tail = q;
  pool_kick(p);
}

static void notice_to_log(void *arg, const char *message)
{
  char line[512];
  trim_pq_message(line, sizeof line, message);
  ts_log(TS_LOG_DEBUG, NULL, "postgresql: %s", line);
}

/* ---- poll handles --------------------------------------------------------- */

static void conn_unref(pg_conn *c)
{
  if (--c->handles_open > 0)
    return; /* the timer and every poll handle must be closed first */
  stream_pg_pool *p = c->pool;
  free(c);
  p->nalive--;
  pool_kick(p); /* a closing pool may be waiting for this */
}

static void poll_closed(uv_handle_t *h)
{
  pg_poll *pp = h->data;
  pg_conn *c = pp->c;
  close(pp->fd); /* only now: libuv no longer references it */
  free(pp);
  conn_unref(c);
}

static void timer_closed(uv_handle_t *h)
{
  conn_unref(h->data);
}

static void poll_close(pg_conn *c)
{
  if (!c->poll)
    return;
  uv_poll_stop(&c->poll->h);
  uv_close((uv_handle_t *)&c->poll->h, poll_closed);
  c->poll = NULL;
}

static void conn_on_poll(uv_poll_t *h, int status, int events);

/* Makes sure c->poll watches libpq's current socket. */
static int conn_sync_socket(pg_conn *c)
{
  int sock = PQsocket(c->conn);
  struct stat st;
  if (sock < 0 || fstat(sock, &st) != 0)
    return -1;
  if (c->poll && c->poll->dev == st.st_dev && c->poll->ino == st.st_ino)
    return 0;
  poll_close(c);
  pg_poll *pp = calloc(1, sizeof *pp);
  if (!pp)
    return -1;
  pp->fd = fcntl(sock, F_DUPFD_CLOEXEC, 0);
  if (pp->fd < 0) {
    free(pp);
    return -1;
  }
  pp->dev = st.st_dev;
  pp->ino = st.st_ino;
  pp->c = c;
  if (uv_poll_init_socket(c->pool->loop, &pp->h, pp->fd) != 0) {
    close(pp->fd);
    free(pp);
    return -1;
  }
  pp->h.data = pp;
  c->handles_open++;
  c->poll = pp;
  return 0;
}

/* ---- connections ----------------------------------------------------------- */

static void pool_unlink(stream_pg_pool *p, pg_conn *c)
{
  if (c->prev)
    c->prev->next = c->next;
  else if (p->conns == c)
    p->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  c->prev = c->next = NULL;
}

/* Closes the connection for good. The query it served (if any) is
 * detached; the caller decides what happens to it. */
static void conn_discard(pg_conn *c)
{
  stream_pg_pool *p = c->pool;
  if (c->state == CONN_CLOSING)
    return;
  if (c->state == CONN_CONNECTING)
    p->nconnecting--;
  if (c->state == CONN_BUSY)
    p->nbusy--;
  p->nopen--;
  c->state = CONN_CLOSING;
  pool_unlink(p, c);
  if (c->q) {
    c->q->c = NULL;
    c->q = NULL;
  }
  if (c->poll)
    uv_poll_stop(&c->poll->h);
  PQfinish(c->conn); /* before the fd closes: PQfinish still sends Terminate */
  c->conn = NULL;
  poll_close(c);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, timer_closed);
}

/* The query is finished with this connection: back to idle, or closed when
 * it is not in a clean state or the pool is closing. */
static void conn_release(pg_conn *c)
{
  stream_pg_pool *p = c->pool;
  if (c->q) {
    c->q->c = NULL;
    c->q = NULL;
  }
  if (p->closing || PQstatus(c->conn) != CONNECTION_OK ||
      PQtransactionStatus(c->conn) != PQTRANS_IDLE) {
    conn_discard(c);
    return;
  }
  c->state = CONN_IDLE;
  p->nbusy--;
  conn_arm(c);
  pool_kick(p);
}

/* Connection-level failure: the connection goes; its query ends with
 * TS_EDB (unless a cancel already owns it). */
static void conn_broken(pg_conn *c, const char *why)
{
  stream_query *q = c->q;
  char msg[300];
  trim_pq_message(msg, sizeof msg, why);
  if (q && q->phase == Q_CANCELING) {
    if (c->poll)
      uv_poll_stop(&c->poll->h); /* the cancel's completion closes it */
    return;
  }
  if (q && query_retry(q, msg))
    return;
  if (q)
    query_set_error(q, TS_EDB, "lost the connection to the database: %s", msg);
  else
    ts_log(TS_LOG_WARN, NULL, "database connection lost: %s", msg);
  conn_discard(c);
  if (q)
    query_finish(q);
}

static void conn_arm(pg_conn *c)
{
  if (c->state == CONN_CLOSING || c->state == CONN_CONNECTING)
    return;
  int fl = PQflush(c->conn);
  if (fl < 0) {
    conn_broken(c, PQerrorMessage(c->conn));
    return;
  }
  stream_query *q = c->q;
  int want = UV_READABLE;
  if (q && ((q->phase == Q_COPY && q->paused) || q->phase == Q_CANCELING))
    want = 0;
  if (fl == 1)
    want |= UV_WRITABLE;
  if (conn_sync_socket(c) != 0) {
    conn_broken(c, "cannot watch the database socket");
    return;
  }
  if (!want) {
    uv_poll_stop(&c->poll->h);
    return;
  }
  int rc = uv_poll_start(&c->poll->h, want, conn_on_poll);
  if (rc)
    conn_broken(c, uv_strerror(rc));
}

static void conn_connect_failed(pg_conn *c, const char *why)
{
  stream_pg_pool *p = c->pool;
  char msg[300];
  trim_pq_message(msg, sizeof msg, why);
  ts_log(TS_LOG_WARN, NULL, "cannot connect to the database: %s", msg);
  conn_discard(c);
  /* The database is unreachable: fail the oldest waiter rather than let it
   * hang; the others get their own attempt from pool_kick. */
  stream_query *q = p->wait_head;
  if (q) {
    p->wait_head = q->next;
    if (!p->wait_head)
      p->wait_tail = NULL;
    p->nwaiting--;
    query_set_error(q, TS_EUNAVAIL, "cannot connect to the database: %s", msg);
    query_finish(q);
  }
}

static void conn_connect_step(pg_conn *c, PostgresPollingStatusType st)
{
  if (st == PGRES_POLLING_OK) {
    c->pool->nconnecting--;
    uv_timer_stop(&c->timer);
    if (PQsetnonblocking(c->conn, 1) != 0) {
      c->pool->nconnecting++; /* conn_discard counts it out again */
      conn_connect_failed(c, PQerrorMessage(c->conn));
      return;
    }
    PQsetNoticeProcessor(c->conn, notice_to_log, NULL);
    c->state = CONN_IDLE;
    conn_arm(c);
    pool_kick(c->pool);
    return;
  }
  if (st == PGRES_POLLING_FAILED) {
    conn_connect_failed(c, PQerrorMessage(c->conn));
    return;
  }
  if (conn_sync_socket(c) != 0) {
    conn_connect_failed(c, "cannot watch the database socket");
    return;
  }
  int want = st == PGRES_POLLING_READING ? UV_READABLE : UV_WRITABLE;
  int rc = uv_poll_start(&c->poll->h, want, conn_on_poll);
  if (rc)
    conn_connect_failed(c, uv_strerror(rc));
}

static void conn_connect_timeout(uv_timer_t *t)
{
  pg_conn *c = t->data;
  if (c->state == CONN_CONNECTING)
    conn_connect_failed(c, "connection timed out");
}

static void conn_open(stream_pg_pool *p)
{
  pg_conn *c = calloc(1, sizeof *c);
  if (!c)
    return; /* the waiters stay queued; the next kick tries again */
  c->pool = p;
  uv_timer_init(p->loop, &c->timer);
  c->timer.data = c;
  c->handles_open = 1;
  c->state = CONN_CONNECTING;
  p->nalive++;
  p->nopen++;
  p->nconnecting++;
  c->next = p->conns;
  if (p->conns)
    p->conns->prev = c;
  p->conns = c;
  const char *kw[] = {"dbname", "application_name", NULL};
  const char *val[] = {p->dsn, p->app_name, NULL};
  c->conn = PQconnectStartParams(kw, val, 1);
  if (!c->conn || PQstatus(c->conn) == CONNECTION_BAD) {
    conn_connect_failed(c, c->conn ? PQerrorMessage(c->conn) : "out of memory");
    return;
  }
  if (p->connect_timeout_ms > 0)
    uv_timer_start(&c->timer, conn_connect_timeout, (uint64_t)p->connect_timeout_ms, 0);
  /* libpq: after PQconnectStart, wait for the socket to be writable. */
  conn_connect_step(c, PGRES_POLLING_WRITING);
}

static void conn_on_poll(uv_poll_t *h, int status, int events)
{
  pg_poll *pp = h->data;
  pg_conn *c = pp->c;
  if (c->state == CONN_CLOSING)
    return;
  if (c->state == CONN_CONNECTING) {
    /* libpq may switch sockets inside PQconnectPoll: stop first (poll.rst). */
    uv_poll_stop(h);
    if (status < 0) {
      conn_connect_failed(c, uv_strerror(status));
      return;
    }
    conn_connect_step(c, PQconnectPoll(c->conn));
    return;
  }
  if (status < 0) {
    conn_broken(c, uv_strerror(status));
    return;
  }
  if ((events & UV_READABLE) && !PQconsumeInput(c->conn)) {
    conn_broken(c, PQerrorMessage(c->conn));
    return;
  }
  if (c->state == CONN_IDLE) {
    /* Nothing is expected on an idle connection but notices and, when the
     * server goes away, an error and EOF. */
    PGnotify *n;
    while ((n = PQnotifies(c->conn)))
      PQfreemem(n);
    if (PQstatus(c->conn) != CONNECTION_OK) {
      conn_broken(c, PQerrorMessage(c->conn));
      return;
    }
    conn_arm(c);
    return;
  }
  query_step(c->q);
  if (c->state != CONN_CLOSING)
    conn_arm(c);
}

/* ---- the pool -------------------------------------------------------------- */

static void pool_kick_cb(uv_timer_t *t);

static void pool_kick(stream_pg_pool *p)
{
  if (!p->kick_closed && !p->in_kick)
    uv_timer_start(&p->kick, pool_kick_cb, 0, 0);
}

static void pool_closed(uv_handle_t *h)
{
  stream_pg_pool *p = h->data;
  void (*done)(void *) = p->close_done;
  void *ud = p->close_ud;
  free(p->dsn);
  free(p->app_name);
  free(p);
  if (done)
    done(ud);
}

static void conn_start_query(pg_conn *c, stream_query *q);

/* Ends the oldest waiting query if it has waited wait_timeout_ms without
 * getting a connection: every connection is busy (or the database cannot
 * be reached), and a client is better told so than kept waiting without
 * bound. Returns 1 when it ended one. */
static int pool_expire_waiter(stream_pg_pool *p)
{
  stream_query *q = p->wait_head;
  if (!q || p->wait_timeout_ms <= 0 || uv_now(p->loop) < q->wait_until)
    return 0;
  p->wait_head = q->next;
  if (!p->wait_head)
    p->wait_tail = NULL;
  p->nwaiting--;
  ts_log(TS_LOG_WARN, q->reqid, "no database connection free within %d ms (%d busy, %d waiting)",
         p->wait_timeout_ms, p->nbusy, p->nwaiting);
  query_set_error(q, TS_EUNAVAIL,
                  "every database connection of this service is busy; try again later");
  query_finish(q);
  return 1;
}

static void pool_kick_cb(uv_timer_t *t)
{
  stream_pg_pool *p = t->data;
  p->in_kick = 1;
  for (;;) {
    stream_query *q = p->done_head;
    if (q) {
      p->done_head = q->next;
      if (!p->done_head)
        p->done_tail = NULL;
      if (q->cbs.on_done)
        q->cbs.on_done(q->ud, q->rc, &q->err, q->nrows, q->overflow);
      query_free(q);
      continue;
    }
    if (p->closing && p->wait_head) {
      q = p->wait_head;
      p->wait_head = q->next;
      if (!p->wait_head)
        p->wait_tail = NULL;
      p->nwaiting--;
      query_set_error(q, TS_EUNAVAIL, "the database connection pool is closing");
      query_finish(q); /* onto the done list, handled by this loop */
      continue;
    }
    if (p->closing) {
      for (pg_conn *c = p->conns, *next; c; c = next) {
        next = c->next;
        if (c->state != CONN_BUSY)
          conn_discard(c);
      }
      break;
    }
    pg_conn *idle = NULL;
    for (pg_conn *c = p->conns; c && !idle; c = c->next)
      if (c->state == CONN_IDLE)
        idle = c;
    if (idle && p->wait_head) {
      q = p->wait_head;
      p->wait_head = q->next;
      if (!p->wait_head)
        p->wait_tail = NULL;
      p->nwaiting--;
      conn_start_query(idle, q);
      continue;
    }
    if (p->nwaiting > p->nconnecting && p->nopen < p->size) {
      int before = p->nopen;
      conn_open(p);
      if (p->nopen > before || p->done_head)
        continue;
    }
    if (pool_expire_waiter(p))
      continue;
    break;
  }
  p->in_kick = 0;
  if (p->done_head) {
    pool_kick(p);
    return;
  }
  /* Come back when the oldest waiter's time is up (a kick for any other
   * reason comes sooner and arms this again). The queue is in arrival
   * order and every query waits as long, so the head expires first. */
  if (!p->closing && p->wait_head && p->wait_timeout_ms > 0) {
    uint64_t now = uv_now(p->loop);
    uint64_t due = p->wait_head->wait_until;
    uv_timer_start(&p->kick, pool_kick_cb, due > now ? due - now : 0, 0);
  }
  if (p->closing && p->nalive == 0 && !p->kick_closed) {
    p->kick_closed = 1;
    uv_close((uv_handle_t *)&p->kick, pool_closed);
  }
}

stream_pg_pool *stream_pg_pool_new(uv_loop_t *loop, const stream_pg_pool_opts *o)
{
  stream_pg_pool *p = calloc(1, sizeof *p);
  if (!p)
    return NULL;
  p->loop = loop;
  p->dsn = strdup(o->dsn ? o->dsn : "");
  p->app_name = strdup(o->app_name ? o->app_name : "tapserve");
  if (!p->dsn || !p->app_name) {
    free(p->dsn);
    free(p->app_name);
    free(p);
    return NULL;
  }
  p->size = o->size >= 1 ? o->size : 1;
  p->connect_timeout_ms = o->connect_timeout_ms;
  p->wait_timeout_ms = o->wait_timeout_ms;
  uv_timer_init(loop, &p->kick);
  p->kick.data = p;
  return p;
}

void stream_pg_pool_close(stream_pg_pool *p, void (*done)(void *ud), void *ud)
{
  if (p->closing)
    return;
  p->closing = 1;
  p->close_done = done;
  p->close_ud = ud;
  uv_timer_start(&p->kick, pool_kick_cb, 0, 0);
}

void stream_pg_pool_stats(const stream_pg_pool *p, int *open, int *busy, int *waiting)
{
  if (open)
    *open = p->nopen;
  if (busy)
    *busy = p->nbusy;
  if (waiting)
    *waiting = p->nwaiting;
}

/* ---- queries --------------------------------------------------------------- */

static void query_send_failed(stream_query *q)
{
  pg_conn *c = q->c;
  conn_broken(c, PQerrorMessage(c->conn));
}

static void query_end_tx(stream_query *q)
{
  pg_conn *c = q->c;
  q->phase = Q_END_TX;
  if (!PQsendQuery(c->conn, q->rc ? "ROLLBACK" : "COMMIT"))
    query_send_failed(q);
}

/* Puts a query that has no connection back first in line. */
static void wait_push_front(stream_pg_pool *p, stream_query *q)
{
  q->phase = Q_WAITING;
  q->wait_until = uv_now(p->loop) + (uint64_t)(p->wait_timeout_ms > 0 ? p->wait_timeout_ms : 0);
  q->next = p->wait_head;
  p->wait_head = q;
  if (!p->wait_tail)
    p->wait_tail = q;
  p->nwaiting++;
  pool_kick(p);
}

void stream_pg_prologue(char out[STREAM_PG_PROLOGUE_MAX], int64_t timeout_ms)
{
  if (timeout_ms < 0)
    timeout_ms = 0;
  if (timeout_ms > INT_MAX)
    timeout_ms = INT_MAX;
  snprintf(out, STREAM_PG_PROLOGUE_MAX,
           "BEGIN READ ONLY; SET LOCAL statement_timeout = %lld;"
           " SET LOCAL standard_conforming_strings = on",
           (long long)timeout_ms);
}

static void conn_start_query(pg_conn *c, stream_query *q)
{
  stream_pg_pool *p = c->pool;
  char sql[STREAM_PG_PROLOGUE_MAX];
  if (!stream_pg_idle_usable(c->conn)) {
    /* Its server has gone (a restart) and our poll has not seen it yet:
     * not this query's failure. */
    ts_log(TS_LOG_INFO, q->reqid, "idle database connection gone; using another");
    conn_discard(c);
    wait_push_front(p, q);
    return;
  }
  c->state = CONN_BUSY;
  p->nbusy++;
  c->q = q;
  q->c = c;
  q->phase = Q_BEGIN;
  q->started_ms = ts_now_ms();
  stream_pg_prologue(sql, q->timeout_ms);
  if (!PQsendQuery(c->conn, sql)) {
    query_send_failed(q);
    return;
  }
  conn_arm(c);
}

/* Records a PostgreSQL error result in the query. */
static void query_db_error(stream_query *q, const PGresult *res)
{
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  char msg[400];
  trim_pq_message(msg, sizeof msg, primary ? primary : PQresultErrorMessage(res));
  if (state && !strcmp(state, "57014")) { /* query_canceled */
    int64_t elapsed = ts_now_ms() - q->started_ms;
    if (q->user_canceled)
      query_set_error(q, TS_ECANCELED, "query canceled");
    else if (strstr(msg, "statement timeout") || (q->timeout_ms > 0 && elapsed >= q->timeout_ms))
      query_set_error(q, TS_EQUERYTIMEOUT, "query exceeded the execution time limit of %lld ms",
                      (long long)q->timeout_ms);
    else /* pg_cancel_backend from elsewhere: an abort of the job */
      query_set_error(q, TS_ECANCELED, "query canceled in the database: %s", msg);
    return;
  }
  query_set_error(q, stream_pg_sqlstate_err(state), "%s", msg[0] ? msg : "unknown database error");
}

ts_err stream_pg_sqlstate_err(const char *sqlstate)
{
  static const char *const operator_faults[] = {"42P01", "42703", "42501"};
  if (!sqlstate || strlen(sqlstate) != 5)
    return TS_EDB;
  if (strncmp(sqlstate, "21", 2) != 0 && strncmp(sqlstate, "22", 2) != 0 &&
      strncmp(sqlstate, "42", 2) != 0)
    return TS_EDB;
  for (size_t i = 0; i < TS_ARRAY_LEN(operator_faults); i++)
    if (!strcmp(sqlstate, operator_faults[i]))
      return TS_EDB;
  return TS_EQUERY;
}

ts_err stream_pg_schema(const PGresult *res, ts_arena *a, stream_schema *out, ts_error *err)
{
  int n = PQnfields(res);
  out->ncols = (size_t)n;
  out->cols = ts_arena_calloc(a, (size_t)n + 1, sizeof(stream_column));
  if (!out->cols)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory describing the query");
  for (int i = 0; i < n; i++) {
    stream_column *col = &out->cols[i];
    col->name = ts_arena_strdup(a, PQfname(res, i));
    if (!col->name)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory describing the query");
    uint32_t oid = (uint32_t)PQftype(res, i);
    if (stream_column_set_type(col, oid, PQfmod(res, i)) != TS_OK) {
      const char *tn = stream_pg_type_name(oid);
      if (tn)
        return ts_fail(err, TS_EINVAL, 0, "column \"%s\" has type %s, which cannot be output",
                       col->name, tn);
      return ts_fail(err, TS_EINVAL, 0, "column \"%s\" has a type (OID %u) which cannot be output",
                     col->name, (unsigned)oid);
    }
  }
  return TS_OK;
}

static void query_build_schema(stream_query *q, const PGresult *res)
{
  ts_error e;
  ts_err rc = stream_pg_schema(res, q->arena, &q->schema, &e);
  if (rc)
    query_set_error(q, rc, "%s", e.msg);
}

static void query_start_copy(stream_query *q)
{
  pg_conn *c = q->c;
  q->dec = stream_copydec_new(q->schema.ncols, q->batch_rows);
  char *copy =
      q->dec ? ts_arena_printf(q->arena, "COPY (%s) TO STDOUT (FORMAT binary)", q->sql) : NULL;
  if (!copy) {
    query_set_error(q, TS_ENOMEM, "out of memory starting the query");
    query_end_tx(q);
    return;
  }
  q->phase = Q_COPY_START;
  if (!PQsendQuery(c->conn, copy))
    query_send_failed(q);
}

/* libpq returned NULL: the phase's command is complete. */
static void query_phase_complete(stream_query *q)
{
  pg_conn *c = q->c;
  if (q->rc && q->phase != Q_END_TX) {
    query_end_tx(q); /* ROLLBACK */
    return;
  }
  switch (q->phase) {
  case Q_BEGIN:
    q->phase = Q_PREPARE;
    if (!PQsendPrepare(c->conn, "", q->sql, 0, NULL))
      query_send_failed(q);
    return;
  case Q_PREPARE:
    q->phase = Q_DESCRIBE;
    if (!PQsendDescribePrepared(c->conn, ""))
      query_send_failed(q);
    return;
  case Q_DESCRIBE:
    if (!q->schema.cols) {
      query_set_error(q, TS_EDB, "the database did not describe the query");
      query_end_tx(q);
      return;
    }
    if (q->cbs.on_schema) {
      ts_error e;
      ts_error_clear(&e);
      ts_err rc = q->cbs.on_schema(q->ud, &q->schema, &e);
      if (q->phase != Q_DESCRIBE)
        return; /* canceled from inside the callback */
      if (rc) {
        q->rc = rc;
        q->err = e;
        q->err.code = rc;
        query_end_tx(q);
        return;
      }
    }
    query_start_copy(q);
    return;
  case Q_COPY_START:
    query_set_error(q, TS_EDB, "the database did not start the COPY");
    query_end_tx(q);
    return;
  case Q_COPY_END:
    if (q->copy_bad[0])
      query_set_error(q, TS_EDB, "malformed COPY data from the database: %s", q->copy_bad);
    query_end_tx(q); /* COMMIT, or ROLLBACK after malformed data */
    return;
  case Q_END_TX:
    conn_release(c);
    query_finish(q);
    return;
  default:
    return;
  }
}

/* Hands the pending rows to on_batch (at most up to maxrec), then frees
 * the libpq buffers they pointed into, except the last when its rest is
 * still to be decoded. */
static void query_deliver(stream_query *q, int keep_last)
{
  stream_batch b;
  ts_err rc = TS_OK;
  ts_error e;
  stream_copydec_take(q->dec, &b);
  b.nrows = stream_maxrec_take(q->maxrec, q->nrows, b.nrows, &q->overflow);
  if (b.nrows) {
    ts_error_clear(&e);
    q->nrows += b.nrows;
    if (q->cbs.on_batch)
      rc = q->cbs.on_batch(q->ud, &b, &e);
  }
  if (q->phase != Q_COPY)
    return; /* canceled from inside the callback: query_free frees the buffers */
  query_free_bufs(q, keep_last);
  if (rc) {
    e.code = rc;
    query_abort(q, rc, &e);
  }
}

static int query_keep_buf(stream_query *q, char *buf)
{
  if (q->nbufs == q->bufs_cap) {
    size_t cap = q->bufs_cap ? q->bufs_cap * 2 : 64;
    char **nb = realloc(q->bufs, cap * sizeof *nb);
    if (!nb)
      return -1;
    q->bufs = nb;
    q->bufs_cap = cap;
  }
  q->bufs[q->nbufs++] = buf;
  return 0;
}

/* Reads CopyData messages until libpq runs dry, the consumer pauses, or
 * the COPY ends. Returns 1 when the phase moved on (keep stepping). */
static int query_drain(stream_query *q)
{
  pg_conn *c = q->c;
  ts_error e;
  char *buf;
  int n = 0;
  while (q->phase == Q_COPY && !q->paused && (n = PQgetCopyData(c->conn, &buf, 1)) > 0) {
    if (q->overflow) { /* only the LIMIT maxrec+1 row can follow: drop it */
      PQfreemem(buf);
      continue;
    }
    if (query_keep_buf(q, buf) != 0) {
      PQfreemem(buf);
      query_set_error(q, TS_ENOMEM, "out of memory reading rows");
      query_abort(q, TS_ENOMEM, &q->err);
      return 0;
    }
    size_t off = 0, used;
    while (off < (size_t)n) {
      if (stream_copydec_add(q->dec, (const uint8_t *)buf + off, (size_t)n - off, &used, &e)) {
        ts_error bad;
        ts_fail(&bad, TS_EDB, 0, "malformed COPY data from the database: %s", e.msg);
        query_abort(q, TS_EDB, &bad);
        return 0;
      }
      off += used;
      if (off < (size_t)n || stream_copydec_pending(q->dec) >= q->batch_rows) {
        query_deliver(q, off < (size_t)n);
        if (q->phase != Q_COPY)
          return 0;
      }
    }
  }
  if (q->phase != Q_COPY)
    return 0;
  if (!q->paused && stream_copydec_pending(q->dec)) {
    query_deliver(q, 0); /* libpq ran dry: hand over what we have */
    if (q->phase != Q_COPY)
      return 0;
  }
  if (q->paused || n == 0)
    return 0;
  if (n == -1) {
    /* A COPY that failed ends without its trailer: the error result that
     * follows is the one to report, so the check waits for Q_COPY_END. */
    if (!q->overflow && stream_copydec_finish(q->dec, &e) != TS_OK)
      snprintf(q->copy_bad, sizeof q->copy_bad, "%s", e.msg);
    q->phase = Q_COPY_END;
    return 1;
  }
  conn_broken(c, PQerrorMessage(c->conn)); /* -2 */
  return 0;
}

static void query_step(stream_query *q)
{
  for (;;) {
    if (!q->c)
      return;
    if (q->phase == Q_COPY) {
      if (!query_drain(q))
        return;
      continue;
    }
    if (q->phase < Q_BEGIN || q->phase > Q_END_TX)
      return;
    PGconn *conn = q->c->conn;
    int phase = q->phase;
    while (q->phase == phase && !PQisBusy(conn)) {
      PGresult *res = PQgetResult(conn);
      if (!res) {
        query_phase_complete(q);
        break;
      }
      ExecStatusType st = PQresultStatus(res);
      if (st == PGRES_COPY_OUT && phase == Q_COPY_START)
        q->phase = Q_COPY;
      else if (st == PGRES_FATAL_ERROR && stream_pg_conn_lost(conn, res) &&
               query_retry(q, PQresultErrorMessage(res))) {
        PQclear(res);
        return; /* the connection is gone; the query waits for another */
      } else if (st == PGRES_FATAL_ERROR)
        query_db_error(q, res);
      else if (st == PGRES_COMMAND_OK && phase == Q_DESCRIBE)
        query_build_schema(q, res);
      else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_NONFATAL_ERROR)
        query_set_error(q, TS_EDB, "unexpected database reply (%s)", PQresStatus(st));
      PQclear(res);
    }
    if (q->phase == phase)
      return; /* busy: wait for more input */
  }
}

static void query_cancel_work(uv_work_t *w)
{
  stream_query *q = w->data;
  /* libpq 15's PQcancel blocks (connect + send): it runs off the loop. */
  if (!PQcancel(q->cancel, q->cancel_errbuf, sizeof q->cancel_errbuf) && !q->cancel_errbuf[0])
    snprintf(q->cancel_errbuf, sizeof q->cancel_errbuf, "unknown error");
}

static void query_cancel_done(uv_work_t *w, int status)
{
  stream_query *q = w->data;
  PQfreeCancel(q->cancel);
  q->cancel = NULL;
  if (q->cancel_errbuf[0])
    ts_log(TS_LOG_WARN, q->reqid, "cancel request failed: %s", q->cancel_errbuf);
  /* Closing stops the backend even when it is blocked writing to us. */
  if (q->c)
    conn_discard(q->c);
  query_finish(q);
}

/* The connection failed before the query told its user anything (no
 * schema yet): a server restart or failover killed it, not the query. The
 * connection goes and the query waits, first in line, for another, once.
 * Returns 1 when it did; 0 leaves the failure to the caller. */
static int query_retry(stream_query *q, const char *why)
{
  stream_pg_pool *p = q->pool;
  char msg[300];
  if (q->retried || !q->c || q->phase < Q_BEGIN || q->phase > Q_DESCRIBE || q->rc ||
      q->user_canceled || p->closing)
    return 0;
  trim_pq_message(msg, sizeof msg, why);
  ts_log(TS_LOG_INFO, q->reqid, "database connection lost before the query ran (%s); retrying",
         msg);
  q->retried = 1;
  conn_discard(q->c); /* detaches q */
  memset(&q->schema, 0, sizeof q->schema);
  wait_push_front(p, q);
  return 1;
}

/* Stops the query: a waiting one ends at once; one on a connection gets a
 * cancel request and loses its connection. */
static void query_abort(stream_query *q, ts_err rc, const ts_error *err)
{
  stream_pg_pool *p = q->pool;
  if (q->phase == Q_CANCELING || q->phase == Q_DONE)
    return;
  if (rc == TS_ECANCELED || !q->rc) {
    q->rc = rc;
    if (err)
      q->err = *err;
    else
      ts_fail(&q->err, rc, 0, "query canceled");
    q->err.code = rc;
  }
  if (q->phase == Q_WAITING) {
    stream_query **pp = &p->wait_head, *prev = NULL;
    while (*pp && *pp != q) {
      prev = *pp;
      pp = &(*pp)->next;
    }
    if (*pp) {
      *pp = q->next;
      if (p->wait_tail == q)
        p->wait_tail = prev;
      p->nwaiting--;
    }
    query_finish(q);
    return;
  }
  pg_conn *c = q->c;
  q->phase = Q_CANCELING;
  if (!c) {
    query_finish(q);
    return;
  }
  if (c->poll)
    uv_poll_stop(&c->poll->h);
  uv_timer_stop(&c->timer);
  q->cancel = PQgetCancel(c->conn); /* on the loop thread: reads the conn */
  q->cancel_errbuf[0] = 0;
  q->work.data = q;
  if (!q->cancel || uv_queue_work(p->loop, &q->work, query_cancel_work, query_cancel_done) != 0) {
    PQfreeCancel(q->cancel);
    q->cancel = NULL;
    conn_discard(c);
    query_finish(q);
  }
}

/* Trailing blanks and semicolons would break "COPY (sql) TO STDOUT". */
static size_t sql_trimmed_len(const char *s)
{
  size_t n = strlen(s);
  while (n > 0 && (s[n - 1] == ';' || s[n - 1] == ' ' || s[n - 1] == '\n' || s[n - 1] == '\t' ||
                   s[n - 1] == '\r'))
    n--;
  return n;
}

stream_query *stream_query_run(stream_pg_pool *p, const stream_query_opts *o,
                               const stream_query_cbs *cbs, void *ud)
{
  stream_query *q = calloc(1, sizeof *q);
  if (!q)
    return NULL;
  q->arena = ts_arena_new(0, 0);
  if (!q->arena) {
    free(q);
    return NULL;
  }
  const char *sql = o->sql ? o->sql : "";
  q->sql = ts_arena_strndup(q->arena, sql, sql_trimmed_len(sql));
  q->reqid = o->reqid ? ts_arena_strdup(q->arena, o->reqid) : NULL;
  if (!q->sql || (o->reqid && !q->reqid)) {
    ts_arena_free(q->arena);
    free(q);
    return NULL;
  }
  q->pool = p;
  q->maxrec = o->maxrec;
  q->timeout_ms = o->timeout_ms;
  q->batch_rows = o->batch_rows ? o->batch_rows : 1000;
  q->cbs = *cbs;
  q->ud = ud;
  q->phase = Q_WAITING;
  ts_error_clear(&q->err);
  if (p->closing) {
    query_set_error(q, TS_EUNAVAIL, "the database connection pool is closing");
    query_finish(q); /* on_done from the kick, not from here */
    return q;
  }
  q->wait_until = uv_now(p->loop) + (uint64_t)(p->wait_timeout_ms > 0 ? p->wait_timeout_ms : 0);
  if (p->wait_tail)
    p->wait_tail->next = q;
  else
    p->wait_head = q;
  p->wait_tail = q;
  p->nwaiting++;
  pool_kick(p);
  return q;
}

void stream_query_pause(stream_query *q)
{
  if (q->paused)
    return;
  q->paused = 1;
  if (q->c && q->phase == Q_COPY)
    conn_arm(q->c);
}

static void conn_resume_cb(uv_timer_t *t)
{
  pg_conn *c = t->data;
  stream_query *q = c->q;
  if (c->state != CONN_BUSY || !q || q->phase != Q_COPY || q->paused)
    return;
  /* Rows libpq already holds would otherwise wait for a socket event that
   * may never come: drain them before polling again. */
  query_step(q);
  if (c->state != CONN_CLOSING)
    conn_arm(c);
}

void stream_query_resume(stream_query *q)
{
  if (!q->paused)
    return;
  q->paused = 0;
  if (q->c && q->phase == Q_COPY)
    uv_timer_start(&q->c->timer, conn_resume_cb, 0, 0);
}

void stream_query_cancel(stream_query *q)
{
  if (q->phase == Q_CANCELING || q->phase == Q_DONE)
    return;
  q->user_canceled = 1;
  ts_error e;
  ts_fail(&e, TS_ECANCELED, 0, "query canceled");
  query_abort(q, TS_ECANCELED, &e);
}

int stream_query_backend_pid(const stream_query *q)
{
  return q->c && q->c->conn ? PQbackendPID(q->c->conn) : 0;
}

PGconn *stream_pg_connect_blocking(const char *dsn, ts_error *err)
{
  PGconn *conn = PQconnectdb(dsn ? dsn : "");
  if (!conn) {
    ts_fail(err, TS_ENOMEM, 0, "out of memory connecting to the database");
    return NULL;
  }
  if (PQstatus(conn) != CONNECTION_OK) {
    char msg[400];
    trim_pq_message(msg, sizeof msg, PQerrorMessage(conn));
    ts_fail(err, TS_EUNAVAIL, 0, "cannot connect to the database: %s", msg);
    PQfinish(conn);
    return NULL;
  }
  PQsetNoticeProcessor(conn, notice_to_log, NULL);
  return conn;
}

int stream_pg_conn_lost(const PGconn *conn, const PGresult *res)
{
  const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (!conn || PQstatus(conn) != CONNECTION_OK)
    return 1;
  return st && (!strncmp(st, "08", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") ||
                !strcmp(st, "57P03"));
}

int stream_pg_idle_usable(PGconn *conn)
{
  if (!conn || PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) != PQTRANS_IDLE)
    return 0;
  struct pollfd pfd = {PQsocket(conn), POLLIN, 0};
  if (pfd.fd < 0)
    return 0;
  return poll(&pfd, 1, 0) == 0;
}
