/* PostgreSQL on the libuv loop: the connection pool (see pg.h and
 * docs/internals/stream.md; one query's life on a connection is pg.c).
 *
 * Every connection has one uv_poll_t on a dup of libpq's socket (so libpq
 * may close or replace its socket without libuv ever polling a stale fd)
 * and one uv_timer_t (connect timeout, deferred drains). The poll mask is
 * derived from libpq's state each time: readable unless the query is
 * paused in COPY, writable while PQflush has bytes left.
 *
 * Queries wait for a connection in arrival order, each at most the pool's
 * wait_timeout_ms; the kick timer hands out idle connections, opens new
 * ones up to `size`, runs the due on_done callbacks and ends the waiters
 * whose time is up. */
#include "stream/pg_int.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void stream__notice_to_log(void *arg, const char *message)
{
  char line[512];
  stream__trim_pq_message(line, sizeof line, message);
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
  stream__pool_kick(p); /* a closing pool may be waiting for this */
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

void stream__conn_unwatch(pg_conn *c)
{
  if (!c->poll)
    return;
  uv_poll_stop(&c->poll->h);
  c->poll->armed = 0;
}

static void poll_close(pg_conn *c)
{
  if (!c->poll)
    return;
  stream__conn_unwatch(c);
  uv_close((uv_handle_t *)&c->poll->h, poll_closed);
  c->poll = NULL;
}

static void conn_on_poll(uv_poll_t *h, int status, int events);

/* Makes sure c->poll watches libpq's current socket. */
static int conn_sync_socket(pg_conn *c)
{
  int sock = PQsocket(c->conn);
  struct stat st;
  /* Only a connection being made can change its socket: a live one keeps
   * the one it has, so its watch needs no fstat per query phase. */
  if (sock >= 0 && c->poll && c->state != CONN_CONNECTING && c->poll->sock == sock)
    return 0;
  if (sock < 0 || fstat(sock, &st) != 0)
    return -1;
  if (c->poll && c->poll->dev == st.st_dev && c->poll->ino == st.st_ino) {
    c->poll->sock = sock;
    return 0;
  }
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
  pp->sock = sock;
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
void stream__conn_discard(pg_conn *c)
{
  stream_pg_pool *p = c->pool;
  if (c->state == CONN_CLOSING)
    return;
  if (c->state == CONN_CONNECTING)
    p->nconnecting--;
  if (c->state == CONN_BUSY)
    p->nbusy--;
  p->nopen--;
  p->per_server[c->server]--;
  c->state = CONN_CLOSING;
  pool_unlink(p, c);
  if (c->q) {
    c->q->c = NULL;
    c->q = NULL;
  }
  stream__conn_unwatch(c);
  PQfinish(c->conn); /* before the fd closes: PQfinish still sends Terminate */
  c->conn = NULL;
  poll_close(c);
  uv_timer_stop(&c->timer);
  uv_close((uv_handle_t *)&c->timer, timer_closed);
}

/* 1 when server i holds at least two connections more than another
 * server that is up: one of its connections should go, so that the next
 * one opens on the other (a standby that came back, or that was down when
 * the pool filled). */
static int pool_unbalanced(stream_pg_pool *p, int i)
{
  int n = stream_pg_servers_count(p->servers);
  for (int j = 0; j < n; j++)
    if (j != i && p->per_server[j] + 1 < p->per_server[i] && stream_pg_servers_is_up(p->servers, j))
      return 1;
  return 0;
}

/* The server of a new connection: the next one up in turn (not `avoid`
 * when another is up), or one up that holds fewer of this pool's
 * connections. */
static int pool_pick(stream_pg_pool *p, int avoid)
{
  int best = stream_pg_servers_pick(p->servers, avoid);
  int n = stream_pg_servers_count(p->servers);
  for (int i = 0; i < n; i++)
    if (i != avoid && p->per_server[i] < p->per_server[best] &&
        stream_pg_servers_is_up(p->servers, i))
      best = i;
  return best;
}

/* The query is finished with this connection: back to idle, or closed when
 * it is not in a clean state, the pool is closing, or its server holds more
 * than its share of the pool. */
void stream__conn_release(pg_conn *c)
{
  stream_pg_pool *p = c->pool;
  if (c->q) {
    c->q->c = NULL;
    c->q = NULL;
  }
  if (p->closing || PQstatus(c->conn) != CONNECTION_OK ||
      PQtransactionStatus(c->conn) != PQTRANS_IDLE || pool_unbalanced(p, c->server)) {
    stream__conn_discard(c);
    return;
  }
  c->state = CONN_IDLE;
  p->nbusy--;
  stream__conn_arm(c);
  stream__pool_kick(p);
}

/* Connection-level failure: the connection goes; its query ends with
 * TS_EDB (unless a cancel already owns it). */
void stream__conn_broken(pg_conn *c, const char *why)
{
  stream_query *q = c->q;
  char msg[300];
  stream__trim_pq_message(msg, sizeof msg, why);
  if (q && q->phase == Q_CANCELING) {
    stream__conn_unwatch(c); /* the cancel's completion closes it */
    return;
  }
  if (q && stream__query_retry(q, msg))
    return;
  if (q)
    stream__query_set_error(q, TS_EDB, "lost the connection to the database: %s", msg);
  else
    ts_log(TS_LOG_WARN, NULL, "database connection lost: %s", msg);
  stream__conn_discard(c);
  if (q)
    stream__query_finish(q);
}

void stream__conn_arm(pg_conn *c)
{
  if (c->state == CONN_CLOSING || c->state == CONN_CONNECTING)
    return;
  int fl = PQflush(c->conn);
  if (fl < 0) {
    stream__conn_broken(c, PQerrorMessage(c->conn));
    return;
  }
  stream_query *q = c->q;
  int want = UV_READABLE;
  if (q && ((q->phase == Q_COPY && q->paused) || q->phase == Q_CANCELING))
    want = 0;
  if (fl == 1)
    want |= UV_WRITABLE;
  if (conn_sync_socket(c) != 0) {
    stream__conn_broken(c, "cannot watch the database socket");
    return;
  }
  if (!want) {
    stream__conn_unwatch(c);
    return;
  }
  if (want == c->poll->armed)
    return; /* already watched for that: no epoll_ctl per query phase */
  int rc = uv_poll_start(&c->poll->h, want, conn_on_poll);
  if (rc) {
    c->poll->armed = 0;
    stream__conn_broken(c, uv_strerror(rc));
    return;
  }
  c->poll->armed = want;
}

static void conn_connect_failed(pg_conn *c, const char *why)
{
  stream_pg_pool *p = c->pool;
  char msg[300];
  stream__trim_pq_message(msg, sizeof msg, why);
  ts_log(TS_LOG_WARN, NULL, "cannot connect to the database: %s", msg);
  stream_pg_servers_mark(p->servers, c->server, 0);
  stream__conn_discard(c);
  /* Another server is up: the waiters get a connection there, from the
   * kick that follows the discard. Otherwise the database is unreachable:
   * fail the oldest waiter rather than let it hang; the others get their
   * own attempt from stream__pool_kick. */
  stream_query *q = stream_pg_servers_up(p->servers) ? NULL : p->wait_head;
  if (q) {
    p->wait_head = q->next;
    if (!p->wait_head)
      p->wait_tail = NULL;
    p->nwaiting--;
    stream__query_set_error(q, TS_EUNAVAIL, "cannot connect to the database: %s", msg);
    stream__query_finish(q);
  }
}

static void conn_connect_step(pg_conn *c, PostgresPollingStatusType st)
{
  if (st == PGRES_POLLING_OK) {
    c->pool->nconnecting--;
    uv_timer_stop(&c->timer);
    if (PQsetnonblocking(c->conn, 1) != 0) {
      c->pool->nconnecting++; /* stream__conn_discard counts it out again */
      conn_connect_failed(c, PQerrorMessage(c->conn));
      return;
    }
    PQsetNoticeProcessor(c->conn, stream__notice_to_log, NULL);
    stream_pg_servers_mark(c->pool->servers, c->server, 1);
    c->state = CONN_IDLE;
    stream__conn_arm(c);
    stream__pool_kick(c->pool);
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
  c->poll->armed = rc ? 0 : want;
  if (rc)
    conn_connect_failed(c, uv_strerror(rc));
}

static void conn_connect_timeout(uv_timer_t *t)
{
  pg_conn *c = t->data;
  if (c->state == CONN_CONNECTING)
    conn_connect_failed(c, "connection timed out");
}

static void conn_open(stream_pg_pool *p, int avoid)
{
  const char *kw[STREAM_PG_PARAMS_MAX], *val[STREAM_PG_PARAMS_MAX];
  pg_conn *c = calloc(1, sizeof *c);
  if (!c)
    return; /* the waiters stay queued; the next kick tries again */
  c->pool = p;
  c->sess_timeout = -1; /* no session set yet */
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
  c->server = pool_pick(p, avoid);
  p->per_server[c->server]++;
  stream_pg_servers_params(p->servers, c->server, p->app_name, kw, val);
  c->conn = PQconnectStartParams(kw, val, 0);
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
    pp->armed = 0;
    if (status < 0) {
      conn_connect_failed(c, uv_strerror(status));
      return;
    }
    conn_connect_step(c, PQconnectPoll(c->conn));
    return;
  }
  if (status < 0) {
    stream__conn_broken(c, uv_strerror(status));
    return;
  }
  if ((events & UV_READABLE) && !PQconsumeInput(c->conn)) {
    stream__conn_broken(c, PQerrorMessage(c->conn));
    return;
  }
  if (c->state == CONN_IDLE) {
    /* Nothing is expected on an idle connection but notices and, when the
     * server goes away, an error and EOF. */
    PGnotify *n;
    while ((n = PQnotifies(c->conn)))
      PQfreemem(n);
    if (PQstatus(c->conn) != CONNECTION_OK) {
      stream__conn_broken(c, PQerrorMessage(c->conn));
      return;
    }
    stream__conn_arm(c);
    return;
  }
  stream__query_step(c->q);
  if (c->state != CONN_CLOSING)
    stream__conn_arm(c);
}

/* ---- the pool -------------------------------------------------------------- */

static void pool_kick_cb(uv_timer_t *t);

void stream__pool_kick(stream_pg_pool *p)
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
  if (p->own_servers)
    stream_pg_servers_free(p->servers);
  stream__desc_free(p);
  free(p);
  if (done)
    done(ud);
}

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
  p->wait_timeouts++;
  ts_log(TS_LOG_WARN, q->reqid, "no database connection free within %d ms (%d busy, %d waiting)",
         p->wait_timeout_ms, p->nbusy, p->nwaiting);
  stream__query_set_error(q, TS_EUNAVAIL,
                          "every database connection of this service is busy; try again later");
  stream__query_finish(q);
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
      stream__query_free(q);
      continue;
    }
    if (p->closing && p->wait_head) {
      q = p->wait_head;
      p->wait_head = q->next;
      if (!p->wait_head)
        p->wait_tail = NULL;
      p->nwaiting--;
      stream__query_set_error(q, TS_EUNAVAIL, "the database connection pool is closing");
      stream__query_finish(q); /* onto the done list, handled by this loop */
      continue;
    }
    if (p->closing) {
      for (pg_conn *c = p->conns, *next; c; c = next) {
        next = c->next;
        if (c->state != CONN_BUSY)
          stream__conn_discard(c);
      }
      break;
    }
    /* A query sent back after a recovery conflict prefers another server. */
    int avoid = p->wait_head ? p->wait_head->avoid_server : -1;
    pg_conn *idle = NULL;
    for (pg_conn *c = p->conns; c; c = c->next)
      if (c->state == CONN_IDLE && (!idle || (idle->server == avoid && c->server != avoid)))
        idle = c;
    if (idle && p->wait_head) {
      q = p->wait_head;
      p->wait_head = q->next;
      if (!p->wait_head)
        p->wait_tail = NULL;
      p->nwaiting--;
      stream__conn_start_query(idle, q);
      continue;
    }
    if (p->nwaiting > p->nconnecting && p->nopen < p->size) {
      int before = p->nopen;
      conn_open(p, avoid);
      if (p->nopen > before || p->done_head)
        continue;
    }
    if (pool_expire_waiter(p))
      continue;
    break;
  }
  p->in_kick = 0;
  if (p->done_head) {
    stream__pool_kick(p);
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
  p->servers = o->servers;
  if (!p->servers) {
    ts_error err;
    if (stream_pg_servers_new(p->dsn, 0, &p->servers, &err)) {
      ts_log(TS_LOG_ERROR, NULL, "database pool: %s", err.msg);
      free(p->dsn);
      free(p->app_name);
      free(p);
      return NULL;
    }
    p->own_servers = 1;
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

void stream_pg_pool_counts(const stream_pg_pool *p, int *size, uint64_t *waits,
                           uint64_t *wait_timeouts)
{
  *size = p->size;
  *waits = p->waits;
  *wait_timeouts = p->wait_timeouts;
}

void stream_pg_pool_describes(const stream_pg_pool *p, uint64_t *described, uint64_t *reused)
{
  *described = p->described;
  *reused = p->desc_reused;
}

/* Puts a query that has no connection back first in line. */
void stream__wait_push_front(stream_pg_pool *p, stream_query *q)
{
  q->phase = Q_WAITING;
  q->wait_until = uv_now(p->loop) + (uint64_t)(p->wait_timeout_ms > 0 ? p->wait_timeout_ms : 0);
  q->next = p->wait_head;
  p->wait_head = q;
  if (!p->wait_tail)
    p->wait_tail = q;
  p->nwaiting++;
  stream__pool_kick(p);
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
    stream__trim_pq_message(msg, sizeof msg, PQerrorMessage(conn));
    ts_fail(err, TS_EUNAVAIL, 0, "cannot connect to the database: %s", msg);
    PQfinish(conn);
    return NULL;
  }
  PQsetNoticeProcessor(conn, stream__notice_to_log, NULL);
  return conn;
}

int stream_pg_conn_lost(const PGconn *conn, const PGresult *res)
{
  const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  if (!conn || PQstatus(conn) != CONNECTION_OK)
    return 1;
  return (st && (!strncmp(st, "08", 2) || !strcmp(st, "57P01") || !strcmp(st, "57P02") ||
                 !strcmp(st, "57P03"))) ||
         stream_pg_recovery_conflict(res);
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
