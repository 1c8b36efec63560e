/* tapserve/web/info.c: the page's two read-only JSON resources that no
 * protocol resource answers: who the browser is logged in as
 * (GET {tap}/web/session) and the row estimates of the published tables
 * (GET {tap}/web/rows). Both need the database, so they run on worker
 * threads and answer on the loop. */
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"
#include "tapserve/web/web_int.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>

enum {
  WEB_INFO_DOC_MAX = 16 << 20, /* the row estimates of every published table */
  WEB_INFO_ARG_MAX = 16 << 20  /* the table names sent to the database */
};

typedef struct info_op {
  ts_work work;
  ts_app *app;
  http_request *req;
  ts_buf arg; /* rows: the tables, as JSON [{"q","s","t"}] */
  ts_buf doc; /* the answer */
  ts_err rc;
  ts_error err;
} info_op;

static void info_free(info_op *o)
{
  ts_buf_free(&o->arg);
  ts_buf_free(&o->doc);
  free(o);
}

static void info_after(ts_work *w)
{
  info_op *o = w->data;
  ts_error e;
  if (o->rc) {
    ts_buf_reset(&o->doc);
    if (web__check_json(&o->doc, NULL, &o->err)) {
      ts_fail(&e, TS_EINTERNAL, 0, "cannot build the answer");
      tap_send_error(o->req, &e);
    } else {
      web__send_json(o->req, ts_err_http(o->rc), &o->doc);
    }
  } else {
    web__send_json(o->req, 200, &o->doc);
  }
  info_free(o);
}

static void session_work(ts_work *w)
{
  info_op *o = w->data;
  ts_who who;
  ts_err rc = ts_auth_request(o->app, o->req, &who, &o->err);
  /* A session that has expired is no error here: the page shows the
   * login form again. */
  if (rc == TS_EAUTH) {
    o->rc = ts_buf_puts(&o->doc, "{\"user\":null,\"expired\":true}");
    return;
  }
  if (rc) {
    o->rc = rc;
    return;
  }
  if (!who.user.id) {
    o->rc = ts_buf_puts(&o->doc, "{\"user\":null}");
    return;
  }
  rc = ts_buf_puts(&o->doc, "{\"user\":");
  if (!rc)
    rc = jobs_json_str(&o->doc, who.user.name);
  if (!rc)
    rc = ts_buf_puts(&o->doc, ",\"via\":");
  if (!rc)
    rc = jobs_json_str(&o->doc, who.via ? who.via : "");
  if (!rc)
    rc = ts_buf_puts(&o->doc, "}");
  o->rc = rc;
}

/* pg_class.reltuples of each published table, as PostgreSQL's planner
 * knows it (-1: never analysed; null in the answer). */
static void rows_work(ts_work *w)
{
  info_op *o = w->data;
  static const char sql[] = "SELECT j.q, c.reltuples::bigint FROM json_to_recordset($1::json) AS "
                            "j(q text, s text, t text)"
                            " JOIN pg_namespace n ON n.nspname = j.s"
                            " JOIN pg_class c ON c.relnamespace = n.oid AND c.relname = j.t";
  const char *params[1] = {o->arg.data};
  PGconn *conn = o->app->db ? jobs_db_get(o->app->db, &o->err) : NULL;
  PGresult *res = NULL;
  ts_err rc = TS_OK;
  if (!conn) {
    o->rc = o->app->db ? o->err.code : ts_fail(&o->err, TS_EUNAVAIL, 0, "no database");
    return;
  }
  res = PQexecParams(conn, sql, 1, NULL, params, NULL, NULL, 0);
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    o->rc = ts_fail(&o->err, TS_EDB, 0, "row estimates: %s", PQerrorMessage(conn));
    goto out;
  }
  rc = ts_buf_puts(&o->doc, "{");
  for (int i = 0; !rc && i < PQntuples(res); i++) {
    const char *n = PQgetvalue(res, i, 1);
    rc = i ? ts_buf_puts(&o->doc, ",") : TS_OK;
    if (!rc)
      rc = jobs_json_str(&o->doc, PQgetvalue(res, i, 0));
    if (!rc)
      rc = ts_buf_printf(&o->doc, ":%s", n[0] == '-' ? "null" : n);
  }
  if (!rc)
    rc = ts_buf_puts(&o->doc, "}");
  if (rc)
    ts_fail(&o->err, rc, 0, "the row estimates do not fit in %zu bytes", o->doc.max);
  o->rc = rc;
out:
  PQclear(res);
  jobs_db_put(o->app->db, conn);
}

static info_op *info_new(ts_app *app, http_request *req)
{
  info_op *o = calloc(1, sizeof *o);
  if (!o)
    return NULL;
  o->app = app;
  o->req = req;
  o->work.data = o;
  ts_buf_init(&o->arg, WEB_INFO_ARG_MAX);
  ts_buf_init(&o->doc, WEB_INFO_DOC_MAX);
  return o;
}

static void info_submit(info_op *o, ts_workq *q, ts_work_fn fn)
{
  ts_error e;
  if (ts_workq_submit(q, &o->work, fn, info_after)) {
    ts_fail(&e, TS_EUNAVAIL, 0, "the service is shutting down");
    tap_send_error(o->req, &e);
    info_free(o);
  }
}

void web_session(ts_app *app, http_request *req)
{
  info_op *o = info_new(app, req);
  ts_error e;
  if (!o) {
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &e);
    return;
  }
  /* HTTP Basic takes an argon2id check: the login threads. */
  info_submit(o, app->plusq, session_work);
}

/* The published tables as the JSON argument of rows_work. */
static ts_err rows_arg(const meta *m, ts_buf *b)
{
  ts_err rc = ts_buf_puts(b, "[");
  int first = 1;
  for (size_t i = 0; !rc && i < meta_nschemas(m); i++) {
    const meta_schema *s = meta_schema_at(m, i);
    for (size_t k = 0; !rc && k < s->ntables; k++) {
      const meta_table *t = &s->tables[k];
      rc = ts_buf_puts(b, first ? "{\"q\":" : ",{\"q\":");
      first = 0;
      if (!rc)
        rc = jobs_json_str(b, t->qualified_name);
      if (!rc)
        rc = ts_buf_puts(b, ",\"s\":");
      if (!rc)
        rc = jobs_json_str(b, t->adql->db_schema);
      if (!rc)
        rc = ts_buf_puts(b, ",\"t\":");
      if (!rc)
        rc = jobs_json_str(b, t->adql->db_name);
      if (!rc)
        rc = ts_buf_puts(b, "}");
    }
  }
  return rc ? rc : ts_buf_puts(b, "]");
}

void web_rows(ts_app *app, http_request *req)
{
  info_op *o = info_new(app, req);
  const meta *m = meta_hold(app, req->arena);
  ts_error e;
  if (!o || !m) {
    ts_fail(&e, o ? TS_EUNAVAIL : TS_ENOMEM, 0, "%s",
            o ? "the table metadata is not available" : "out of memory");
    tap_send_error(req, &e);
    if (o)
      info_free(o);
    return;
  }
  if (rows_arg(m, &o->arg)) {
    ts_fail(&e, TS_EINTERNAL, 0, "too many tables for the row estimates");
    tap_send_error(req, &e);
    info_free(o);
    return;
  }
  info_submit(o, app->plusq, rows_work);
}
