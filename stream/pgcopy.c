/* The blocking COPY reader for worker threads (see pg.h).
 *
 * The loop's reader (pg.c) decodes rows into batches; this one hands over
 * each CopyData message's tuple as it came, for callers that store the
 * COPY stream itself. PostgreSQL sends the header with the first tuple,
 * then one tuple per message, then the trailer alone. Both readers share
 * the header check, the MAXREC rule, the schema and the error mapping. */
#include "stream/pg.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

enum { PGCOPY_POLL_MS = 200 };

typedef struct pgcopy_run {
  stream_pgcopy *r;
  int canceled;    /* a cancel request was sent */
  int header_seen; /* the first message's header has been checked */
} pgcopy_run;

ts_err stream_pg_result_error(PGconn *conn, const PGresult *res, ts_error *err)
{
  const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  ts_err code = stream_pg_conn_lost(conn, res)
                    ? TS_EUNAVAIL
                    : stream_pg_sqlstate_err(PQresultErrorField(res, PG_DIAG_SQLSTATE));
  return ts_fail(err, code, 0, "%s", m ? m : PQerrorMessage(conn));
}

ts_err stream_pgcopy_describe(PGconn *conn, const char *sql, ts_arena *a, stream_schema *out,
                              ts_error *err)
{
  PGresult *res = PQprepare(conn, "", sql, 0, NULL);
  ts_err rc;
  if (PQresultStatus(res) == PGRES_COMMAND_OK) {
    PQclear(res);
    res = PQdescribePrepared(conn, "");
  }
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    rc = stream_pg_result_error(conn, res, err);
  else
    rc = stream_pg_schema(res, a, out, err);
  PQclear(res);
  return rc;
}

static void send_cancel(pgcopy_run *x)
{
  char eb[256];
  PGcancel *c = PQgetCancel(x->r->conn);
  x->canceled = 1;
  if (c) {
    PQcancel(c, eb, sizeof eb);
    PQfreeCancel(c);
  }
}

/* Asks the caller's watch, then waits for input. -1 when the connection
 * failed. */
static int wait_input(pgcopy_run *x)
{
  stream_pgcopy *r = x->r;
  struct pollfd pfd = {PQsocket(r->conn), POLLIN, 0};
  if (r->watch && !x->canceled) {
    int why = r->watch(r->ud);
    if (why) {
      r->why = why;
      send_cancel(x);
    }
  }
  if (poll(&pfd, 1, r->poll_ms > 0 ? r->poll_ms : PGCOPY_POLL_MS) > 0 && !PQconsumeInput(r->conn))
    return -1;
  return 0;
}

/* An error result that ends the query: canceled (by us or in the
 * database), or the statement's or the connection's failure. */
static ts_err query_failed(pgcopy_run *x, const PGresult *res, ts_error *err)
{
  stream_pgcopy *r = x->r;
  const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
  const char *m = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
  snprintf(r->sqlstate, sizeof r->sqlstate, "%s", state ? state : "");
  if (!r->why && stream_pg_recovery_conflict(res))
    return stream_pg_result_error(r->conn, res, err); /* TS_EUNAVAIL: run it again */
  if (r->why || !strcmp(r->sqlstate, "57014"))
    return ts_fail(err, TS_ECANCELED, 0, "%s", m ? m : "canceled");
  return stream_pg_result_error(r->conn, res, err);
}

/* One CopyData message: the first carries the header (plus its extension
 * area) before its tuple; the trailer comes alone. */
static ts_err copy_message(pgcopy_run *x, const uint8_t *p, size_t n, ts_error *err)
{
  stream_pgcopy *r = x->r;
  if (!x->header_seen) {
    size_t hlen = 0;
    ts_error e;
    ts_err hrc = stream_copy_header_check(p, n, &hlen, &e);
    if (hrc == TS_EAGAIN)
      hrc = ts_fail(&e, TS_EINVAL, 0, "COPY header of %zu bytes cut to %zu", hlen, n);
    if (hrc)
      return ts_fail(err, TS_EDB, 0, "malformed COPY data from the database: %s", e.msg);
    p += hlen;
    n -= hlen;
    x->header_seen = 1;
  }
  if (n == 0 || (n == sizeof stream_copy_trailer && !memcmp(p, stream_copy_trailer, n)))
    return TS_OK;
  if (r->overflow || !stream_maxrec_take(r->maxrec, r->tuples, 1, &r->overflow))
    return TS_OK; /* tuple maxrec+1 (and anything after it) is not delivered */
  r->tuples++;
  return r->on_tuple(r->ud, p, n, err);
}

static ts_err copy_start(pgcopy_run *x, const char *sql, ts_error *err)
{
  static const char copy_fmt[] = "COPY (%s) TO STDOUT (FORMAT binary)";
  PGconn *conn = x->r->conn;
  ts_buf cmd;
  ts_buf_init(&cmd, strlen(sql) + sizeof copy_fmt);
  if (ts_buf_printf(&cmd, copy_fmt, sql)) {
    ts_buf_free(&cmd);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  int sent = PQsendQuery(conn, cmd.data);
  ts_buf_free(&cmd);
  if (!sent)
    return stream_pg_result_error(conn, NULL, err);
  /* The COPY_OUT result comes first (or an error); the watch keeps running
   * while the query plans and starts. */
  while (PQisBusy(conn))
    if (wait_input(x) < 0)
      break;
  PGresult *res = PQgetResult(conn);
  ts_err rc = TS_OK;
  if (PQresultStatus(res) != PGRES_COPY_OUT) {
    rc = query_failed(x, res, err);
    PQclear(res);
    while ((res = PQgetResult(conn)) != NULL)
      PQclear(res);
    return rc;
  }
  PQclear(res);
  return TS_OK;
}

ts_err stream_pgcopy_run(stream_pgcopy *r, const char *sql, ts_error *err)
{
  pgcopy_run x = {r, 0, 0};
  PGresult *res;
  r->tuples = 0;
  r->overflow = 0;
  r->why = 0;
  r->sqlstate[0] = 0;
  ts_err rc = copy_start(&x, sql, err);
  if (rc)
    return rc;
  for (;;) {
    char *buf = NULL;
    int n = PQgetCopyData(r->conn, &buf, 1);
    if (n > 0) {
      if (!rc)
        rc = copy_message(&x, (const uint8_t *)buf, (size_t)n, err);
      PQfreemem(buf);
      if (rc && !x.canceled)
        send_cancel(&x); /* the consumer failed: stop the query, keep draining */
      continue;
    }
    if (n == 0) {
      if (wait_input(&x) < 0)
        break;
      continue;
    }
    break; /* -1: done, -2: error */
  }
  /* The final result(s): COPY's status or the error that ended it. */
  while ((res = PQgetResult(r->conn)) != NULL) {
    ExecStatusType st = PQresultStatus(res);
    if (st != PGRES_COMMAND_OK && st != PGRES_COPY_OUT && !rc)
      rc = query_failed(&x, res, err);
    PQclear(res);
  }
  if (!rc && r->why)
    rc = ts_fail(err, TS_ECANCELED, 0, "canceled");
  if (!rc && PQstatus(r->conn) != CONNECTION_OK)
    rc = ts_fail(err, TS_EUNAVAIL, 0, "lost the connection to the database: %s",
                 PQerrorMessage(r->conn));
  return rc;
}
