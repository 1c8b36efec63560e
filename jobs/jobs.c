/* Job rows in schema tapserve, as the UWS resources see them: creation,
 * reading, the caller's access and job list, parameters, the phase
 * changes a client asks for (run, abort), deletion and the destruction
 * sweep; and the statement helpers of jobs/ (jobs_int.h). The executors'
 * side is exec.c, result metadata results.c. Every function is one or a
 * few blocking statements on the caller's connection; every phase change
 * is a compare-and-set UPDATE (`... AND phase = expected`), so concurrent
 * requests on several instances cannot both win a transition. */
#include "jobs/jobs.h"
#include "jobs/jobs_int.h"
#include "stream/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MS(col) "(extract(epoch FROM " col ") * 1000)::int8"

/* A job's parameters as JSON: what one request body can carry, escaped. */
enum { JOBS_PARAMS_JSON_MAX = 64 << 20 };

static const char *const phase_names[JOBS_NPHASES] = {
    "PENDING", "QUEUED",  "EXECUTING", "COMPLETED", "ERROR",
    "ABORTED", "UNKNOWN", "HELD",      "SUSPENDED", "ARCHIVED"};

const char *jobs_phase_name(jobs_phase p)
{
  return (unsigned)p < JOBS_NPHASES ? phase_names[p] : "UNKNOWN";
}

ts_err jobs_phase_parse(const char *s, jobs_phase *out)
{
  for (int i = 0; i < JOBS_NPHASES; i++) {
    if (s && !strcmp(s, phase_names[i])) {
      *out = (jobs_phase)i;
      return TS_OK;
    }
  }
  return TS_EINVAL;
}

int jobs_phase_final(jobs_phase p)
{
  return p == JOBS_COMPLETED || p == JOBS_ERROR || p == JOBS_ABORTED || p == JOBS_ARCHIVED;
}

const char *jobs_param_get(const jobs_job *j, const char *name)
{
  for (size_t i = 0; i < j->nparams; i++)
    if (ts_strcaseeq(j->params[i].name, name))
      return j->params[i].value;
  return NULL;
}

/* ---- statement helpers ------------------------------------------------------ */

ts_err jobs__run(PGconn *conn, const char *sql, int n, const char *const *vals, PGresult **res,
                 ts_error *err)
{
  PGresult *r = PQexecParams(conn, sql, n, NULL, vals, NULL, NULL, 0);
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
    const char *m = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
    ts_err code = stream_pg_conn_lost(conn, r) ? TS_EUNAVAIL : TS_EDB;
    ts_fail(err, code, 0, "job database: %s", m ? m : PQerrorMessage(conn));
    PQclear(r);
    if (res)
      *res = NULL;
    return code;
  }
  if (res)
    *res = r;
  else
    PQclear(r);
  return TS_OK;
}

void jobs__rollback(PGconn *conn)
{
  if (PQtransactionStatus(conn) != PQTRANS_IDLE)
    PQclear(PQexec(conn, "ROLLBACK"));
}

const char *jobs__opt(ts_arena *a, const PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) ? NULL : ts_arena_strdup(a, PQgetvalue(r, row, col));
}

int64_t jobs__i64(const PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) ? 0 : strtoll(PQgetvalue(r, row, col), NULL, 10);
}

ts_err jobs_json_str(ts_buf *b, const char *s)
{
  ts_err rc = ts_buf_puts(b, "\"");
  for (const unsigned char *p = (const unsigned char *)s; !rc && *p; p++) {
    if (*p == '"' || *p == '\\')
      rc = ts_buf_printf(b, "\\%c", *p);
    else if (*p < 0x20)
      rc = ts_buf_printf(b, "\\u%04x", *p);
    else
      rc = ts_buf_append(b, p, 1);
  }
  return rc ? rc : ts_buf_puts(b, "\"");
}

/* {"name": "value", ...} with lower-cased names; the first of repeated
 * names wins (DALI). */
/* params_json failed: past the cap it is the request's size (413). */
static ts_err params_fail(ts_err rc, ts_error *err)
{
  if (rc == TS_ELIMIT)
    return ts_fail(err, TS_ELIMIT, 0, "the job parameters take more than %d bytes",
                   JOBS_PARAMS_JSON_MAX);
  return ts_fail(err, TS_ENOMEM, 0, "out of memory");
}

static ts_err params_json(const jobs_param *p, size_t n, ts_buf *b)
{
  ts_err rc = ts_buf_puts(b, "{");
  int first = 1;
  for (size_t i = 0; i < n && !rc; i++) {
    char lname[128];
    size_t len = strlen(p[i].name);
    int dup = 0;
    if (len == 0 || len >= sizeof lname)
      continue;
    for (size_t k = 0; k < i && !dup; k++)
      dup = ts_strcaseeq(p[k].name, p[i].name);
    if (dup)
      continue;
    for (size_t k = 0; k <= len; k++)
      lname[k] =
          (char)(p[i].name[k] >= 'A' && p[i].name[k] <= 'Z' ? p[i].name[k] + 32 : p[i].name[k]);
    if (!first)
      rc = ts_buf_puts(b, ",");
    first = 0;
    if (!rc)
      rc = jobs_json_str(b, lname);
    if (!rc)
      rc = ts_buf_puts(b, ":");
    if (!rc)
      rc = jobs_json_str(b, p[i].value ? p[i].value : "");
  }
  return rc ? rc : ts_buf_puts(b, "}");
}

/* ---- jobs ------------------------------------------------------------------- */

ts_err jobs_create(PGconn *conn, const jobs_new *n, char out_id[40], ts_error *err)
{
  ts_buf pj;
  char dur[24], destr[24];
  ts_err rc;

  if (ts_random_hex(out_id, 16))
    return ts_fail(err, TS_EIO, 0, "no random bytes for a job id");
  ts_buf_init(&pj, JOBS_PARAMS_JSON_MAX);
  rc = params_json(n->params, n->nparams, &pj);
  if (rc) {
    ts_buf_free(&pj);
    return params_fail(rc, err);
  }
  snprintf(dur, sizeof dur, "%lld", (long long)n->execution_duration);
  snprintf(destr, sizeof destr, "%lld", (long long)n->destruction_ms);
  char oid[24];
  snprintf(oid, sizeof oid, "%lld", (long long)n->owner_id);
  const char *v[] = {out_id,
                     n->owner,
                     n->run_id,
                     n->queue ? "QUEUED" : "PENDING",
                     dur,
                     destr,
                     pj.data,
                     n->client,
                     n->instance,
                     n->owner_id > 0 ? oid : NULL,
                     n->owner_id > 0 ? NULL : n->anon_owner};
  rc = jobs__run(
      conn,
      "INSERT INTO tapserve.jobs (id, owner, run_id, phase, queued_at, execution_duration,"
      " destruction, parameters, client_addr, owner_instance, owner_id, anon_owner)"
      " VALUES ($1, $2, $3, $4, CASE WHEN $4 = 'QUEUED' THEN now() END, $5,"
      " to_timestamp($6::int8 / 1000.0), $7, $8, $9::uuid, $10::int8, $11)",
      11, v, NULL, err);
  ts_buf_free(&pj);
  return rc;
}

#define JOB_COLS                                                                                   \
  "id, owner, run_id, phase, " MS("creation_time") ", " MS("start_time") ", " MS(                  \
      "end_time") ", execution_duration, " MS("destruction") ", error_summary, error_type,"        \
                                                             " owner_instance::text, backend_pid," \
                                                             " attempts, client_addr, owner_id"

static ts_err row_to_job(ts_arena *a, PGresult *r, int i, jobs_job *j)
{
  memset(j, 0, sizeof *j);
  snprintf(j->id, sizeof j->id, "%s", PQgetvalue(r, i, 0));
  j->owner = jobs__opt(a, r, i, 1);
  j->run_id = jobs__opt(a, r, i, 2);
  if (jobs_phase_parse(PQgetvalue(r, i, 3), &j->phase))
    j->phase = JOBS_UNKNOWN;
  j->creation_ms = jobs__i64(r, i, 4);
  j->start_ms = jobs__i64(r, i, 5);
  j->end_ms = jobs__i64(r, i, 6);
  j->execution_duration = jobs__i64(r, i, 7);
  j->destruction_ms = jobs__i64(r, i, 8);
  j->error_summary = jobs__opt(a, r, i, 9);
  j->error_type = jobs__opt(a, r, i, 10);
  j->owner_instance = jobs__opt(a, r, i, 11);
  j->backend_pid = (int)jobs__i64(r, i, 12);
  j->attempts = (int)jobs__i64(r, i, 13);
  j->client_addr = jobs__opt(a, r, i, 14);
  j->owner_id = jobs__i64(r, i, 15);
  return TS_OK;
}

/* The text[] literal of ids[0..n) into b. Job ids are checked
 * (uws_job_id_ok) before they come here; quoting them as array elements
 * still keeps anything else out. */
static ts_err id_array(ts_buf *b, const char *const *ids, size_t n, ts_error *err)
{
  ts_err rc = TS_OK;
  for (size_t i = 0; !rc && i < n; i++) {
    if (strpbrk(ids[i], "\"\\{},"))
      rc = ts_fail(err, TS_EINVAL, 0, "not a job id");
    else if (ts_buf_printf(b, "%s\"%s\"", i ? "," : "{", ids[i]))
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  if (!rc && ts_buf_puts(b, n ? "}" : "{}"))
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
  return rc;
}

/* The parameters and results of js[0..n), whose ids are the text[]
 * literal `ids` in the same order: two statements whatever n is, each row
 * carrying the place of its job in the list. */
static ts_err fill_details(PGconn *conn, ts_arena *a, jobs_job *js, size_t n, const char *ids,
                           ts_error *err)
{
  PGresult *r = NULL;
  const char *v[] = {ids};
  ts_err rc = jobs__run(conn,
                        "SELECT u.ord, p.key, p.value"
                        " FROM unnest($1::text[]) WITH ORDINALITY AS u(id, ord)"
                        " JOIN tapserve.jobs j ON j.id = u.id, jsonb_each_text(j.parameters) p"
                        " ORDER BY u.ord, p.key",
                        1, v, &r, err);
  int nr = rc ? 0 : PQntuples(r);
  /* Rows come grouped by job: each job's slice is contiguous. */
  for (int i = 0; !rc && i < nr;) {
    size_t k = (size_t)jobs__i64(r, i, 0) - 1;
    int e = i;
    while (e < nr && (size_t)jobs__i64(r, e, 0) - 1 == k)
      e++;
    jobs_param *ps = k < n ? ts_arena_calloc(a, (size_t)(e - i) + 1, sizeof *ps) : NULL;
    if (!ps) {
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
      break;
    }
    for (int t = i; t < e; t++) {
      ps[t - i].name = ts_arena_strdup(a, PQgetvalue(r, t, 1));
      ps[t - i].value = jobs__opt(a, r, t, 2);
      if (!ps[t - i].value)
        ps[t - i].value = "";
    }
    js[k].params = ps;
    js[k].nparams = (size_t)(e - i);
    i = e;
  }
  PQclear(r);
  if (rc)
    return rc;

  rc = jobs__run(conn,
                 "SELECT u.ord, r.name, r.store, r.location, r.rows, r.bytes, r.raw_bytes,"
                 " r.overflow FROM unnest($1::text[]) WITH ORDINALITY AS u(id, ord)"
                 " JOIN tapserve.results r ON r.job_id = u.id ORDER BY u.ord, r.name",
                 1, v, &r, err);
  nr = rc ? 0 : PQntuples(r);
  for (int i = 0; !rc && i < nr;) {
    size_t k = (size_t)jobs__i64(r, i, 0) - 1;
    int e = i;
    while (e < nr && (size_t)jobs__i64(r, e, 0) - 1 == k)
      e++;
    jobs_result_info *rs = k < n ? ts_arena_calloc(a, (size_t)(e - i) + 1, sizeof *rs) : NULL;
    if (!rs) {
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
      break;
    }
    for (int t = i; t < e; t++) {
      jobs_result_info *x = &rs[t - i];
      x->name = ts_arena_strdup(a, PQgetvalue(r, t, 1));
      x->store = ts_arena_strdup(a, PQgetvalue(r, t, 2));
      x->location = ts_arena_strdup(a, PQgetvalue(r, t, 3));
      x->rows = jobs__i64(r, t, 4);
      x->bytes = jobs__i64(r, t, 5);
      x->raw_bytes = jobs__i64(r, t, 6);
      x->overflow = PQgetvalue(r, t, 7)[0] == 't';
    }
    js[k].results = rs;
    js[k].nresults = (size_t)(e - i);
    i = e;
  }
  PQclear(r);
  return rc;
}

/* The three statements of jobs_get, on one snapshot. */
static ts_err get_job(PGconn *conn, ts_arena *a, const char *id, jobs_job **out, ts_error *err)
{
  PGresult *r = NULL;
  const char *v[] = {id};
  jobs_job *j;
  ts_buf ids;
  ts_err rc;

  /* A QUEUED job's place in the cluster's queue: claims take the oldest
   * queued_at first (jobs_claim). */
  rc = jobs__run(conn,
                 "SELECT " JOB_COLS ", CASE WHEN phase = 'QUEUED' THEN (SELECT count(*)"
                 "   FROM tapserve.jobs q WHERE q.phase = 'QUEUED'"
                 "   AND (q.queued_at, q.id) <= (j.queued_at, j.id)) END"
                 " FROM tapserve.jobs j WHERE id = $1",
                 1, v, &r, err);
  if (rc)
    return rc;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return ts_fail(err, TS_ENOTFOUND, 0, "no job %s", id);
  }
  j = ts_arena_calloc(a, 1, sizeof *j);
  if (!j) {
    PQclear(r);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  row_to_job(a, r, 0, j);
  j->queue_position = jobs__i64(r, 0, 16);
  PQclear(r);

  ts_buf_init(&ids, 256); /* one job id, "{\"...\"}" */
  rc = id_array(&ids, &id, 1, err);
  if (!rc)
    rc = fill_details(conn, a, j, 1, ids.data, err);
  ts_buf_free(&ids);
  if (rc)
    return rc;
  *out = j;
  return TS_OK;
}

ts_err jobs_get(PGconn *conn, ts_arena *a, const char *id, jobs_job **out, ts_error *err)
{
  ts_err rc;
  /* The job, its parameters and its results are one snapshot only inside
   * one REPEATABLE READ transaction: in READ COMMITTED each statement
   * would see the commits made since the one before (a job read EXECUTING
   * with the result its completion stored in between). A caller already
   * in a transaction keeps its own. */
  if (PQtransactionStatus(conn) != PQTRANS_IDLE)
    return get_job(conn, a, id, out, err);
  rc = jobs__run(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL, err);
  if (!rc)
    rc = get_job(conn, a, id, out, err);
  if (!rc)
    rc = jobs__run(conn, "COMMIT", 0, NULL, NULL, err);
  if (rc)
    jobs__rollback(conn);
  return rc;
}

ts_err jobs_get_phase(PGconn *conn, const char *id, jobs_phase *out, ts_error *err)
{
  PGresult *r = NULL;
  const char *v[] = {id};
  ts_err rc = jobs__run(conn, "SELECT phase FROM tapserve.jobs WHERE id = $1", 1, v, &r, err);
  if (rc)
    return rc;
  if (PQntuples(r) != 1)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "no job %s", id);
  else if (jobs_phase_parse(PQgetvalue(r, 0, 0), out))
    *out = JOBS_UNKNOWN;
  PQclear(r);
  return rc;
}

int jobs_may_access(int64_t owner_id, int64_t caller)
{
  return owner_id <= 0 || owner_id == caller;
}

ts_err jobs_access(PGconn *conn, const char *id, int64_t caller, jobs_phase *phase, ts_error *err)
{
  PGresult *r = NULL;
  const char *v[] = {id};
  ts_err rc =
      jobs__run(conn, "SELECT phase, owner_id FROM tapserve.jobs WHERE id = $1", 1, v, &r, err);
  if (rc)
    return rc;
  if (PQntuples(r) != 1) {
    rc = ts_fail(err, TS_ENOTFOUND, 0, "no job %s", id);
  } else {
    if (!jobs_may_access(jobs__i64(r, 0, 1), caller))
      rc = ts_fail(err, TS_EFORBIDDEN, 0, "job %s belongs to another user", id);
    else if (phase && jobs_phase_parse(PQgetvalue(r, 0, 0), phase))
      *phase = JOBS_UNKNOWN;
  }
  PQclear(r);
  return rc;
}

ts_err jobs_access_all(PGconn *conn, const char *const *ids, size_t n, int64_t caller,
                       ts_error *err)
{
  PGresult *r = NULL;
  ts_buf b;
  ts_err rc = TS_OK;
  ts_buf_init(&b, 64 * (n + 1));
  rc = id_array(&b, ids, n, err);
  const char *v[] = {b.data};
  if (!rc)
    rc = jobs__run(conn, "SELECT id, owner_id FROM tapserve.jobs WHERE id = ANY($1::text[])", 1, v,
                   &r, err);
  for (size_t i = 0; !rc && i < n; i++) {
    int k = 0;
    while (k < PQntuples(r) && strcmp(PQgetvalue(r, k, 0), ids[i]))
      k++;
    if (k == PQntuples(r))
      rc = ts_fail(err, TS_ENOTFOUND, 0, "no job %s", ids[i]);
    else if (!jobs_may_access(jobs__i64(r, k, 1), caller))
      rc = ts_fail(err, TS_EFORBIDDEN, 0, "job %s belongs to another user", ids[i]);
  }
  PQclear(r);
  ts_buf_free(&b);
  return rc;
}

ts_err jobs_list(PGconn *conn, ts_arena *a, const jobs_filter *f, jobs_job **out, size_t *n,
                 ts_error *err)
{
  char phases[256] = "{", after[24], last[24], oid[24], off[24];
  unsigned mask =
      f->phase_mask ? f->phase_mask : ((1u << JOBS_NPHASES) - 1) & ~(1u << JOBS_ARCHIVED);
  PGresult *r = NULL;
  ts_err rc;
  size_t pl = 1;

  for (int i = 0; i < JOBS_NPHASES; i++)
    if (mask & (1u << i))
      pl += (size_t)snprintf(phases + pl, sizeof phases - pl, "%s%s", pl > 1 ? "," : "",
                             phase_names[i]);
  snprintf(phases + pl, sizeof phases - pl, "}");
  snprintf(after, sizeof after, "%lld", (long long)f->after_ms);
  snprintf(last, sizeof last, "%lld", (long long)f->last);
  snprintf(oid, sizeof oid, "%lld", (long long)f->owner_id);
  snprintf(off, sizeof off, "%lld", (long long)(f->offset > 0 ? f->offset : 0));
  /* Nobody to show the jobs of: an empty list without a statement. */
  if (f->owner_id <= 0 && !f->anon_owner && !f->all_anonymous) {
    *n = 0;
    *out = ts_arena_calloc(a, 1, sizeof **out);
    return *out ? TS_OK : ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  const char *v[] = {f->owner_id > 0 ? oid : NULL,
                     f->owner_id > 0 ? NULL : f->anon_owner,
                     phases,
                     after,
                     f->last > 0 ? last : NULL,
                     off,
                     f->id,
                     f->run_id};
  /* One statement per order, either walking its index (owner_id or
   * anon_owner, creation_time): the parameters are constants when an
   * unnamed statement is planned, so the CASE folds away. */
#define LIST_SQL(order)                                                                            \
  "SELECT " JOB_COLS " FROM tapserve.jobs"                                                         \
  " WHERE CASE WHEN $1::int8 IS NOT NULL THEN owner_id = $1::int8"                                 \
  "   WHEN $2::text IS NOT NULL THEN anon_owner = $2 AND owner_id IS NULL"                         \
  "   ELSE owner_id IS NULL END"                                                                   \
  "   AND phase = ANY($3::text[])"                                                                 \
  "   AND ($4::int8 = 0 OR creation_time > to_timestamp($4::int8 / 1000.0))"                       \
  "   AND ($7::text IS NULL OR id = $7) AND ($8::text IS NULL OR run_id = $8)"                     \
  " ORDER BY " order " LIMIT $5::int8 OFFSET $6::int8"
  static const char *const sql[2][2] = {
      {LIST_SQL("creation_time DESC, id"), LIST_SQL("creation_time, id")},
      {LIST_SQL("start_time DESC NULLS LAST, id"), LIST_SQL("start_time NULLS LAST, id")}};
  rc = jobs__run(conn, sql[f->by_start != 0][f->oldest_first != 0], 8, v, &r, err);
  if (rc)
    return rc;
  *n = (size_t)PQntuples(r);
  *out = ts_arena_calloc(a, *n + 1, sizeof **out);
  if (!*out) {
    PQclear(r);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  for (int i = 0; i < (int)*n; i++)
    row_to_job(a, r, i, &(*out)[i]);
  PQclear(r);
  return TS_OK;
}

ts_err jobs_list_full(PGconn *conn, ts_arena *a, const jobs_filter *f, jobs_job **out, size_t *n,
                      ts_error *err)
{
  const char **ids;
  ts_buf b;
  ts_err rc;
  ts_buf_init(&b, 0);
  /* One snapshot for the list and the details, as in jobs_get. */
  rc = jobs__run(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, NULL, err);
  if (!rc)
    rc = jobs_list(conn, a, f, out, n, err);
  if (!rc) {
    ids = ts_arena_calloc(a, *n + 1, sizeof *ids);
    if (!ids)
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    for (size_t i = 0; !rc && i < *n; i++)
      ids[i] = (*out)[i].id;
    ts_buf_init(&b, 64 * (*n + 1));
    if (!rc)
      rc = id_array(&b, ids, *n, err);
  }
  if (!rc)
    rc = fill_details(conn, a, *out, *n, b.data, err);
  ts_buf_free(&b);
  if (!rc)
    rc = jobs__run(conn, "COMMIT", 0, NULL, NULL, err);
  if (rc)
    jobs__rollback(conn);
  return rc;
}

/* After a compare-and-set that matched nothing: why. */
static ts_err explain_phase(PGconn *conn, const char *id, const char *what, ts_error *err)
{
  jobs_phase p;
  ts_err rc = jobs_get_phase(conn, id, &p, err);
  if (rc)
    return rc;
  return ts_fail(err, TS_EINVAL, 0, "%s (the job is %s)", what, jobs_phase_name(p));
}

ts_err jobs_run(PGconn *conn, const char *id, const char *instance, ts_error *err)
{
  PGresult *r = NULL;
  const char *v[] = {id, instance};
  jobs_phase p;
  ts_err rc = jobs__run(conn,
                        "UPDATE tapserve.jobs SET phase = 'QUEUED', queued_at = now(),"
                        "   owner_instance = $2::uuid"
                        " WHERE id = $1 AND phase IN ('PENDING', 'HELD') RETURNING id",
                        2, v, &r, err);
  if (rc)
    return rc;
  int n = PQntuples(r);
  PQclear(r);
  if (n == 1)
    return TS_OK;
  rc = jobs_get_phase(conn, id, &p, err);
  if (rc)
    return rc;
  if (p == JOBS_QUEUED || p == JOBS_EXECUTING)
    return TS_OK;
  return ts_fail(err, TS_EINVAL, 0, "only a PENDING job can be run (the job is %s)",
                 jobs_phase_name(p));
}

/* Best effort: a backend that is already gone, or a role without the right
 * to signal it, leaves the executor's own watchdog to stop the query. */
void jobs__cancel_backend(PGconn *conn, int pid)
{
  char p[16];
  const char *v[] = {p};
  ts_error e;
  if (pid <= 0)
    return;
  snprintf(p, sizeof p, "%d", pid);
  if (jobs__run(conn, "SELECT pg_cancel_backend($1::int)", 1, v, NULL, &e))
    ts_log(TS_LOG_WARN, NULL, "cannot cancel backend %d: %s", pid, e.msg);
}

ts_err jobs_abort(PGconn *conn, const char *id, const char *instance, ts_error *err)
{
  PGresult *r = NULL;
  const char *v[] = {id, instance};
  jobs_phase p;
  ts_err rc =
      jobs__run(conn,
                "WITH o AS (SELECT id, phase, backend_pid FROM tapserve.jobs WHERE id = $1"
                "           FOR UPDATE)"
                " UPDATE tapserve.jobs j SET phase = 'ABORTED', abort_requested = true,"
                "   end_time = now(), owner_instance = $2::uuid"
                " FROM o WHERE j.id = o.id AND o.phase IN ('PENDING', 'QUEUED', 'EXECUTING',"
                "   'HELD', 'SUSPENDED', 'UNKNOWN')"
                " RETURNING o.phase, o.backend_pid",
                2, v, &r, err);
  if (rc)
    return rc;
  if (PQntuples(r) == 1) {
    if (!strcmp(PQgetvalue(r, 0, 0), "EXECUTING"))
      jobs__cancel_backend(conn, (int)jobs__i64(r, 0, 1));
    PQclear(r);
    return TS_OK;
  }
  PQclear(r);
  return jobs_get_phase(conn, id, &p, err); /* TS_ENOTFOUND, or final: nothing to do */
}

ts_err jobs_set_params(PGconn *conn, const char *id, const jobs_param *p, size_t n, ts_error *err)
{
  ts_buf pj;
  PGresult *r = NULL;
  ts_err rc;
  ts_buf_init(&pj, JOBS_PARAMS_JSON_MAX);
  rc = params_json(p, n, &pj);
  if (rc) {
    ts_buf_free(&pj);
    return params_fail(rc, err);
  }
  const char *v[] = {id, pj.data};
  rc = jobs__run(conn,
                 "UPDATE tapserve.jobs SET parameters = parameters || $2::jsonb"
                 " WHERE id = $1 AND phase = 'PENDING' RETURNING id",
                 2, v, &r, err);
  ts_buf_free(&pj);
  if (rc)
    return rc;
  int matched = PQntuples(r);
  PQclear(r);
  return matched ? TS_OK
                 : explain_phase(conn, id,
                                 "parameters can only be changed while the job is PENDING", err);
}

static ts_err update_pending(PGconn *conn, const char *sql, const char *id, const char *val,
                             const char *what, ts_error *err)
{
  PGresult *r = NULL;
  const char *v[] = {id, val};
  ts_err rc = jobs__run(conn, sql, 2, v, &r, err);
  if (rc)
    return rc;
  int matched = PQntuples(r);
  PQclear(r);
  return matched ? TS_OK : explain_phase(conn, id, what, err);
}

ts_err jobs_set_run_id(PGconn *conn, const char *id, const char *run_id, ts_error *err)
{
  return update_pending(conn,
                        "UPDATE tapserve.jobs SET run_id = $2 WHERE id = $1 AND phase = 'PENDING'"
                        " RETURNING id",
                        id, run_id, "RUNID can only be changed while the job is PENDING", err);
}

ts_err jobs_set_execution_duration(PGconn *conn, const char *id, int64_t secs, ts_error *err)
{
  char s[24];
  snprintf(s, sizeof s, "%lld", (long long)secs);
  return update_pending(conn,
                        "UPDATE tapserve.jobs SET execution_duration = $2::int8"
                        " WHERE id = $1 AND phase IN ('PENDING', 'QUEUED') RETURNING id",
                        id, s, "the execution duration can only be changed before the job runs",
                        err);
}

ts_err jobs_set_destruction(PGconn *conn, const char *id, int64_t ms, ts_error *err)
{
  char s[24];
  snprintf(s, sizeof s, "%lld", (long long)ms);
  /* The destruction time may change in any phase (UWS 1.1). */
  return update_pending(conn,
                        "UPDATE tapserve.jobs SET destruction = to_timestamp($2::int8 / 1000.0)"
                        " WHERE id = $1 RETURNING id",
                        id, s, "cannot change the destruction time", err);
}

ts_err jobs_delete(PGconn *conn, const jobs_store *store, const char *id, ts_error *err)
{
  PGresult *job = NULL, *res = NULL;
  const char *v[] = {id};
  ts_err rc = jobs__run(conn, "BEGIN", 0, NULL, NULL, err);
  if (!rc)
    rc = jobs__run(conn, "SELECT phase, backend_pid FROM tapserve.jobs WHERE id = $1 FOR UPDATE", 1,
                   v, &job, err);
  if (!rc && PQntuples(job) != 1)
    rc = ts_fail(err, TS_ENOTFOUND, 0, "no job %s", id);
  if (!rc)
    rc = jobs__run(conn, "SELECT store, location FROM tapserve.results WHERE job_id = $1", 1, v,
                   &res, err);
  if (!rc)
    rc = jobs__run(conn, "DELETE FROM tapserve.jobs WHERE id = $1", 1, v, NULL, err);
  if (!rc)
    rc = jobs__run(conn, "COMMIT", 0, NULL, NULL, err);
  if (rc) {
    jobs__rollback(conn);
    goto out;
  }
  /* The rows are gone first, so no instance can serve a file we remove. */
  if (!strcmp(PQgetvalue(job, 0, 0), "EXECUTING"))
    jobs__cancel_backend(conn, (int)jobs__i64(job, 0, 1));
  for (int i = 0; store && i < PQntuples(res); i++)
    jobs_store_remove(store, PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
  /* Its upload tables, once its query is cancelled (it may still read
   * them); what cannot go now the sweeper drops, the job being gone. */
  {
    jobs_upload_owner o = {id, NULL, NULL};
    ts_error e2;
    if (jobs_upload_drop(conn, &o, NULL, &e2))
      ts_log(TS_LOG_INFO, NULL, "job %s: upload tables left for the sweeper: %s", id, e2.msg);
  }
out:
  PQclear(job);
  PQclear(res);
  return rc;
}

ts_err jobs_sweep(PGconn *conn, const jobs_store *store, int max, int *n, ts_error *err)
{
  PGresult *r = NULL;
  char m[16];
  const char *v[] = {m};
  ts_err rc;
  *n = 0;
  snprintf(m, sizeof m, "%d", max);
  rc = jobs__run(
      conn, "SELECT id FROM tapserve.jobs WHERE destruction < now() ORDER BY destruction LIMIT $1",
      1, v, &r, err);
  if (rc)
    return rc;
  for (int i = 0; i < PQntuples(r); i++) {
    rc = jobs_delete(conn, store, PQgetvalue(r, i, 0), err);
    if (rc == TS_ENOTFOUND)
      rc = TS_OK; /* deleted meanwhile by its owner or another instance */
    if (rc)
      break;
    ++*n;
  }
  PQclear(r);
  return rc;
}
