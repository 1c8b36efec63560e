/* PostgreSQL on the libuv loop: one query's life on a pool connection
 * (see pg.h and docs/internals/stream.md; the pool is pgpool.c).
 *
 * A query takes two round trips to the server, one when its description
 * is at hand (pgdesc.c):
 *   1. one pipeline: the session's settings when this connection has not
 *      got them yet (read-only transactions, standard strings, the
 *      query's statement_timeout); PREPARE ""; DESCRIBE ""; Sync
 *      -> on_schema
 *   2. COPY (sql) TO STDOUT (FORMAT binary), alone in its implicit
 *      transaction -> rows
 * An error records the first error; the implicit transaction is over
 * with it. Cancellation and callback
 * failures while the backend may be working send a cancel request from a
 * worker thread and then close the connection: closing is the only way
 * that also stops a backend blocked on a full socket, and the pool simply
 * opens a new connection.
 *
 * on_done always runs from the pool's kick timer, never from inside a
 * call of the user, and only after the query's connection is back (idle
 * or closed). */
#include "stream/pg_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void query_abort(stream_query *q, ts_err rc, const ts_error *err);
static void query_schema_ready(stream_query *q);

/* ---- small helpers ------------------------------------------------------- */

/* libpq messages end in a newline and may span lines; keep the first line. */
void stream__trim_pq_message(char *dst, size_t cap, const char *src)
{
  size_t n = 0;
  if (!src)
    src = "";
  while (src[n] && src[n] != '\n' && n + 1 < cap)
    n++;
  memcpy(dst, src, n);
  dst[n] = 0;
}

void stream__query_set_error(stream_query *q, ts_err rc, const char *fmt, ...)
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

void stream__query_free(stream_query *q)
{
  query_free_bufs(q, 0);
  free(q->bufs);
  stream_copydec_free(q->dec);
  ts_arena_free(q->arena); /* sql, reqid, schema */
  free(q);
}

/* The query is over: on_done is due from the pool's kick. */
void stream__query_finish(stream_query *q)
{
  if (q->phase == Q_DONE)
    return;
  if (q->rc && q->desc_hit)
    stream__desc_forget(q); /* described afresh next time */
  q->phase = Q_DONE;
  /* The libpq buffers stay until stream__query_free: this may run inside on_batch
   * (a cancel from the callback), whose batch still points into them. */
  stream_pg_pool *p = q->pool;
  q->next = NULL;
  if (p->done_tail)
    p->done_tail->next = q;
  else
    p->done_head = q;
  p->done_tail = q;
  stream__pool_kick(p);
}

/* ---- queries --------------------------------------------------------------- */

static void query_send_failed(stream_query *q)
{
  pg_conn *c = q->c;
  stream__conn_broken(c, PQerrorMessage(c->conn));
}

/* A statement_timeout PostgreSQL takes: 0 (none) for a negative one,
 * INT_MAX ms beyond its limit. */
static long long pg_timeout(int64_t timeout_ms)
{
  return timeout_ms < 0 ? 0 : timeout_ms > INT_MAX ? INT_MAX : (long long)timeout_ms;
}

/* The same three settings as query_send_session, for one transaction. */
void stream_pg_prologue(char out[STREAM_PG_PROLOGUE_MAX], int64_t timeout_ms)
{
  snprintf(out, STREAM_PG_PROLOGUE_MAX,
           "BEGIN READ ONLY; SET LOCAL statement_timeout = %lld;"
           " SET LOCAL standard_conforming_strings = on",
           pg_timeout(timeout_ms));
}

/* The session a query runs in: read-only transactions, standard string
 * syntax (the whole text of a query is lexed before it runs) and the
 * query's statement_timeout. Set once per connection and timeout, not
 * per query: the COPY then runs alone, in its own implicit transaction,
 * as pgbench's SELECT does. ADQL cannot name set_config or SET. */
static int query_send_session(stream_query *q)
{
  char sql[200];
  snprintf(sql, sizeof sql,
           "SELECT set_config('default_transaction_read_only', 'on', false),"
           " set_config('standard_conforming_strings', 'on', false),"
           " set_config('statement_timeout', '%lld', false)",
           pg_timeout(q->timeout_ms));
  return PQsendQueryParams(q->c->conn, sql, 0, NULL, NULL, NULL, NULL, 0);
}

/* The first round trip, in one pipeline: the session (when this
 * connection has not got the query's yet), the statement, its
 * description, Sync. */
static int query_send_describe(stream_query *q)
{
  pg_conn *c = q->c;
  PGconn *conn = c->conn;
  q->piped = 0;
  q->pipe_session = c->sess_timeout != q->timeout_ms;
  return PQenterPipelineMode(conn) && (!q->pipe_session || query_send_session(q)) &&
         PQsendPrepare(conn, "", q->sql, 0, NULL) && PQsendDescribePrepared(conn, "") &&
         PQpipelineSync(conn);
}

void stream__conn_start_query(pg_conn *c, stream_query *q)
{
  stream_pg_pool *p = c->pool;
  if (!stream_pg_idle_usable(c->conn)) {
    /* Its server has gone (a restart) and our poll has not seen it yet:
     * not this query's failure. */
    ts_log(TS_LOG_INFO, q->reqid, "idle database connection gone; using another");
    stream__conn_discard(c);
    stream__wait_push_front(p, q);
    return;
  }
  c->state = CONN_BUSY;
  p->nbusy++;
  c->q = q;
  q->c = c;
  q->phase = Q_DESCRIBE;
  q->started_ms = ts_now_ms();
  /* Only a connection whose session a describe has set for this timeout
   * may skip it. */
  if (c->sess_timeout == q->timeout_ms && stream__desc_lookup(q)) {
    query_schema_ready(q);
    if (q->c == c && c->state != CONN_CLOSING)
      stream__conn_arm(c);
    return;
  }
  p->described++;
  if (!query_send_describe(q)) {
    query_send_failed(q);
    return;
  }
  stream__conn_arm(c);
}

/* Records a PostgreSQL error result in the query. */
static void query_db_error(stream_query *q, const PGresult *res)
{
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *primary = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  char msg[400];
  stream__trim_pq_message(msg, sizeof msg, primary ? primary : PQresultErrorMessage(res));
  if (stream_pg_recovery_conflict(res)) {
    /* A hot standby replaying WAL that the query's snapshot still needed;
     * past its first rows the query cannot start again elsewhere. */
    stream__query_set_error(
        q, TS_EUNAVAIL, "the database server (a standby) canceled the query: %s; try again", msg);
    return;
  }
  if (state && !strcmp(state, "57014")) { /* query_canceled */
    int64_t elapsed = ts_now_ms() - q->started_ms;
    if (q->user_canceled)
      stream__query_set_error(q, TS_ECANCELED, "query canceled");
    else if (strstr(msg, "statement timeout") || (q->timeout_ms > 0 && elapsed >= q->timeout_ms))
      stream__query_set_error(q, TS_EQUERYTIMEOUT,
                              "query exceeded the execution time limit of %lld ms",
                              (long long)q->timeout_ms);
    else /* pg_cancel_backend from elsewhere: an abort of the job */
      stream__query_set_error(q, TS_ECANCELED, "query canceled in the database: %s", msg);
    return;
  }
  stream__query_set_error(q, stream_pg_sqlstate_err(state), "%s",
                          msg[0] ? msg : "unknown database error");
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
    stream__query_set_error(q, rc, "%s", e.msg);
}

/* The second round trip: the transaction, the COPY and the COMMIT in one
 * simple query. */
static void query_start_copy(stream_query *q)
{
  static const char head[] = "COPY (", tail[] = ") TO STDOUT (FORMAT binary)";
  pg_conn *c = q->c;
  size_t n = q->sql_len;
  char *copy = ts_arena_alloc(q->arena, sizeof head + n + sizeof tail);
  q->dec = stream_copydec_new(q->schema.ncols, q->batch_rows);
  if (q->dec && stream_copydec_expect(q->dec, &q->schema) != TS_OK) {
    stream_copydec_free(q->dec);
    q->dec = NULL;
  }
  if (!q->dec)
    copy = NULL;
  if (copy) {
    memcpy(copy, head, sizeof head - 1);
    memcpy(copy + sizeof head - 1, q->sql, n);
    memcpy(copy + sizeof head - 1 + n, tail, sizeof tail);
  }
  if (!copy) {
    stream__query_set_error(q, TS_ENOMEM, "out of memory starting the query");
    stream__conn_release(c);
    stream__query_finish(q);
    return;
  }
  q->phase = Q_COPY_START;
  if (!PQsendQuery(c->conn, copy))
    query_send_failed(q);
}

/* The columns are known (described now or earlier): on_schema, then the
 * COPY. */
static void query_schema_ready(stream_query *q)
{
  pg_conn *c = q->c;
  if (!q->rc && !q->schema.cols)
    stream__query_set_error(q, TS_EDB, "the database did not describe the query");
  if (!q->rc && q->cbs.on_schema) {
    ts_error e;
    ts_error_clear(&e);
    ts_err rc = q->cbs.on_schema(q->ud, &q->schema, &e);
    if (q->phase != Q_DESCRIBE)
      return; /* canceled from inside the callback */
    if (rc) {
      q->rc = rc;
      q->err = e;
      q->err.code = rc;
    }
  }
  if (q->rc) { /* no transaction is open: the connection is idle again */
    stream__conn_release(c);
    stream__query_finish(q);
    return;
  }
  query_start_copy(q);
}

/* The describe pipeline has reached its Sync. */
static void query_described(stream_query *q)
{
  pg_conn *c = q->c;
  if (!PQexitPipelineMode(c->conn)) {
    stream__conn_broken(c, PQerrorMessage(c->conn));
    return;
  }
  if (!q->rc && q->pipe_session)
    c->sess_timeout = q->timeout_ms;
  else if (q->rc)
    c->sess_timeout = -1; /* the pipeline's SET may have rolled back with it */
  query_schema_ready(q);
}

/* libpq returned NULL: the simple query of the phase is complete. */
static void query_phase_complete(stream_query *q)
{
  pg_conn *c = q->c;
  switch (q->phase) {
  case Q_COPY_START: /* an error before the first row */
    if (!q->rc)
      stream__query_set_error(q, TS_EDB, "the database did not start the COPY");
    stream__conn_release(c);
    stream__query_finish(q);
    return;
  case Q_COPY_END: /* the COPY's implicit transaction is over, ended or aborted */
    if (q->copy_bad[0])
      stream__query_set_error(q, TS_EDB, "malformed COPY data from the database: %s", q->copy_bad);
    stream__conn_release(c);
    stream__query_finish(q);
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
    return; /* canceled from inside the callback: stream__query_free frees the buffers */
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
      stream__query_set_error(q, TS_ENOMEM, "out of memory reading rows");
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
  stream__conn_broken(c, PQerrorMessage(c->conn)); /* -2 */
  return 0;
}

void stream__query_step(stream_query *q)
{
  for (;;) {
    if (!q->c)
      return;
    if (q->phase == Q_COPY) {
      if (!query_drain(q))
        return;
      continue;
    }
    if (q->phase < Q_DESCRIBE || q->phase > Q_COPY_END)
      return;
    PGconn *conn = q->c->conn;
    int phase = q->phase;
    while (q->phase == phase && !PQisBusy(conn)) {
      PGresult *res = PQgetResult(conn);
      if (!res) {
        if (phase != Q_DESCRIBE) {
          query_phase_complete(q);
          break;
        }
        /* Inside the pipeline a NULL ends one command's results; the
         * pipeline itself ends at its Sync. */
        if (PQstatus(conn) != CONNECTION_OK) {
          stream__conn_broken(q->c, PQerrorMessage(conn));
          return;
        }
        continue;
      }
      ExecStatusType st = PQresultStatus(res);
      if (st == PGRES_PIPELINE_SYNC && phase == Q_DESCRIBE) {
        PQclear(res);
        query_described(q);
        break;
      }
      if (st == PGRES_COPY_OUT && phase == Q_COPY_START)
        q->phase = Q_COPY;
      else if (st == PGRES_FATAL_ERROR && stream_pg_conn_lost(conn, res) &&
               stream__query_retry(q, PQresultErrorMessage(res))) {
        PQclear(res);
        return; /* the connection is gone; the query waits for another */
      } else if (st == PGRES_FATAL_ERROR)
        query_db_error(q, res);
      else if (phase == Q_DESCRIBE && ++q->piped == 2 + q->pipe_session && st == PGRES_COMMAND_OK) {
        query_build_schema(q, res); /* after the session's and the PREPARE's */
        if (!q->rc)
          stream__desc_store(q, res);
      } else if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && st != PGRES_NONFATAL_ERROR &&
                 st != PGRES_PIPELINE_ABORTED)
        stream__query_set_error(q, TS_EDB, "unexpected database reply (%s)", PQresStatus(st));
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
    stream__conn_discard(q->c);
  stream__query_finish(q);
}

/* The connection failed before the query told its user anything (no
 * schema yet): a server restart or failover killed it, or a standby
 * canceled it for a recovery conflict, not the query. The connection goes
 * and the query waits, first in line, for another (on another server when
 * there is one), once.
 * Returns 1 when it did; 0 leaves the failure to the caller. */
int stream__query_retry(stream_query *q, const char *why)
{
  stream_pg_pool *p = q->pool;
  char msg[300];
  if (q->retried || !q->c || q->phase != Q_DESCRIBE || q->rc || q->user_canceled || p->closing)
    return 0;
  stream__trim_pq_message(msg, sizeof msg, why);
  ts_log(TS_LOG_INFO, q->reqid, "database connection lost before the query ran (%s); retrying",
         msg);
  q->retried = 1;
  q->avoid_server = q->c->server;
  stream__conn_discard(q->c); /* detaches q */
  memset(&q->schema, 0, sizeof q->schema);
  stream__wait_push_front(p, q);
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
    stream__query_finish(q);
    return;
  }
  pg_conn *c = q->c;
  q->phase = Q_CANCELING;
  if (!c) {
    stream__query_finish(q);
    return;
  }
  stream__conn_unwatch(c);
  uv_timer_stop(&c->timer);
  q->cancel = PQgetCancel(c->conn); /* on the loop thread: reads the conn */
  q->cancel_errbuf[0] = 0;
  q->work.data = q;
  if (!q->cancel || uv_queue_work(p->loop, &q->work, query_cancel_work, query_cancel_done) != 0) {
    PQfreeCancel(q->cancel);
    q->cancel = NULL;
    stream__conn_discard(c);
    stream__query_finish(q);
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
  q->sql_len = sql_trimmed_len(sql);
  q->sql = ts_arena_strndup(q->arena, sql, q->sql_len);
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
  q->desc_gen = o->describe_gen;
  if (q->desc_gen)
    q->sql_hash = ts_hash64(q->sql, q->sql_len, TS_HASH64_INIT);
  q->cbs = *cbs;
  q->ud = ud;
  q->phase = Q_WAITING;
  q->avoid_server = -1;
  ts_error_clear(&q->err);
  if (p->closing) {
    stream__query_set_error(q, TS_EUNAVAIL, "the database connection pool is closing");
    stream__query_finish(q); /* on_done from the kick, not from here */
    return q;
  }
  q->wait_until = uv_now(p->loop) + (uint64_t)(p->wait_timeout_ms > 0 ? p->wait_timeout_ms : 0);
  if (p->wait_tail)
    p->wait_tail->next = q;
  else
    p->wait_head = q;
  p->wait_tail = q;
  if (p->nbusy + p->nwaiting >= p->nopen)
    p->waits++;
  p->nwaiting++;
  stream__pool_kick(p);
  return q;
}

void stream_query_pause(stream_query *q)
{
  if (q->paused)
    return;
  q->paused = 1;
  if (q->c && q->phase == Q_COPY)
    stream__conn_arm(q->c);
}

static void conn_resume_cb(uv_timer_t *t)
{
  pg_conn *c = t->data;
  stream_query *q = c->q;
  if (c->state != CONN_BUSY || !q || q->phase != Q_COPY || q->paused)
    return;
  /* Rows libpq already holds would otherwise wait for a socket event that
   * may never come: drain them before polling again. */
  stream__query_step(q);
  if (c->state != CONN_CLOSING)
    stream__conn_arm(c);
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
