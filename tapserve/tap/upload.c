/* TAP UPLOAD (DALI 1.1 section 3.4, TAP 1.1 section 3.3.3): the UPLOAD
 * parameter, the loading of job: sources (earlier results of this service)
 * and the TAP_UPLOAD metadata layer a request's query is checked against.
 *
 * UPLOAD=name,URI[;name,URI...], also as several UPLOAD parameters. Names
 * are ADQL regular identifiers, unique per request whatever their case.
 * URIs: param:X (a part or parameter of the request), http:// and
 * https:// (fetched by the service), job:ID and this service's own
 * result URL {base_url}/async/ID/results/result (both read from the result
 * store, no HTTP). The tables themselves are jobs/uploads.c's. */
#include "tapserve/tap/tap.h"
#include "tapserve/tapserve.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

const char *tap_upload_join(const http_param *p, size_t n, ts_arena *a)
{
  ts_buf b;
  const char *out = NULL;
  size_t total = 0, count = 0;
  for (size_t i = 0; i < n; i++)
    if (ts_strcaseeq(p[i].name, "UPLOAD")) {
      total += strlen(p[i].value) + 1;
      count++;
    }
  if (!count)
    return NULL;
  ts_buf_init(&b, total + 1);
  for (size_t i = 0, k = 0; i < n; i++)
    if (ts_strcaseeq(p[i].name, "UPLOAD") && ts_buf_printf(&b, "%s%s", k++ ? ";" : "", p[i].value))
      goto out;
  out = ts_arena_strndup(a, b.data ? b.data : "", b.len);
out:
  ts_buf_free(&b);
  return out;
}

static char *trimmed(ts_arena *a, const char *s, size_t n)
{
  while (n && isspace((unsigned char)*s))
    s++, n--;
  while (n && isspace((unsigned char)s[n - 1]))
    n--;
  return ts_arena_strndup(a, s, n);
}

static int regular_ident(const char *s)
{
  if (!isalpha((unsigned char)*s))
    return 0;
  for (; *s; s++)
    if (!isalnum((unsigned char)*s) && *s != '_')
      return 0;
  return 1;
}

/* The job id of this service's own result URL, or NULL. */
static const char *own_result_id(const char *base_url, const char *uri, ts_arena *a)
{
  static const char tail[] = "/results/result";
  size_t bl = strlen(base_url), ul = strlen(uri), tl = sizeof tail - 1;
  if (ul <= bl + 7 + tl || strncmp(uri, base_url, bl) != 0 ||
      strncmp(uri + bl, "/async/", 7) != 0 || strcmp(uri + ul - tl, tail) != 0)
    return NULL;
  const char *id = uri + bl + 7;
  size_t idlen = ul - bl - 7 - tl;
  return uws_job_id_ok(id, idlen) ? ts_arena_strndup(a, id, idlen) : NULL;
}

ts_err tap_upload_parse(const cfg *c, const char *value, ts_arena *a, tap_upload_ref **refs,
                        size_t *n, ts_error *err)
{
  size_t cap = 1, k = 0;
  *refs = NULL;
  *n = 0;
  for (const char *p = value; *p; p++)
    cap += *p == ';';
  *refs = ts_arena_calloc(a, cap, sizeof **refs);
  if (!*refs)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  for (const char *p = value;;) {
    const char *end = strchr(p, ';'), *comma;
    size_t len = end ? (size_t)(end - p) : strlen(p);
    tap_upload_ref *r = &(*refs)[k];
    char *item = trimmed(a, p, len);
    if (!item)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    if (*item) {
      comma = strchr(item, ',');
      if (!comma)
        return ts_fail(err, TS_EINVAL, 0,
                       "UPLOAD \"%.80s\" is not name,URI (DALI: UPLOAD=name,URI)", item);
      r->name = trimmed(a, item, (size_t)(comma - item));
      r->uri = trimmed(a, comma + 1, strlen(comma + 1));
      if (!r->name || !r->uri)
        return ts_fail(err, TS_ENOMEM, 0, "out of memory");
      if (!regular_ident(r->name) || strlen(r->name) > JOBS_UPLOAD_NAME_MAX)
        return ts_fail(err, TS_EINVAL, 0,
                       "UPLOAD name \"%.80s\" must be an ADQL regular identifier (a letter, then "
                       "letters, digits or _) of at most %d characters",
                       r->name, JOBS_UPLOAD_NAME_MAX);
      for (size_t i = 0; i < k; i++)
        if (ts_strcaseeq((*refs)[i].name, r->name))
          return ts_fail(err, TS_EINVAL, 0, "UPLOAD name \"%s\" is given twice", r->name);
      if (!strncmp(r->uri, "param:", 6) && r->uri[6]) {
        r->kind = TAP_UPLOAD_INLINE;
        r->ref = r->uri + 6;
      } else if (!strncmp(r->uri, "http://", 7) || !strncmp(r->uri, "https://", 8)) {
        r->ref = own_result_id(c->base_url, r->uri, a);
        r->kind = r->ref ? TAP_UPLOAD_JOB : TAP_UPLOAD_URL;
        if (!r->ref)
          r->ref = r->uri;
      } else if (!strncmp(r->uri, "job:", 4) && uws_job_id_ok(r->uri + 4, strlen(r->uri + 4))) {
        r->kind = TAP_UPLOAD_JOB;
        r->ref = r->uri + 4;
      } else {
        return ts_fail(err, TS_EINVAL, 0,
                       "UPLOAD \"%s\": unsupported URI \"%.120s\" (param:NAME, http://, https://, "
                       "job:JOBID or a result URL of this service)",
                       r->name, r->uri);
      }
      k++;
      if ((int)k > c->upload_max_uploads)
        return ts_fail(err, TS_ELIMIT, 0,
                       "more than %d uploads in one request ([upload] max_uploads)",
                       c->upload_max_uploads);
    }
    if (!end)
      break;
    p = end + 1;
  }
  *n = k;
  return TS_OK;
}

const char *const tap_upload_methods[] = {"ivo://ivoa.net/std/TAPRegExt#upload-inline",
                                          "ivo://ivoa.net/std/TAPRegExt#upload-http",
                                          "ivo://ivoa.net/std/TAPRegExt#upload-https", NULL};

/* ---- loading ------------------------------------------------------------ */

/* The phase of the job an upload reads; TS_EINVAL naming the upload when
 * there is no such job or it ended without a result. */
static ts_err source_phase(PGconn *conn, int64_t caller, const tap_upload_ref *r, jobs_phase *p,
                           ts_error *err)
{
  /* A user's result is that user's alone, whichever way it is named. */
  ts_err rc = jobs_access(conn, r->ref, caller, p, err);
  if (rc == TS_ENOTFOUND)
    return ts_fail(err, TS_EINVAL, 0, "UPLOAD \"%s\": there is no job %s", r->name, r->ref);
  if (rc == TS_EFORBIDDEN)
    return ts_fail(err, TS_EFORBIDDEN, 0, "UPLOAD \"%s\": job %s belongs to another user", r->name,
                   r->ref);
  if (rc)
    return rc;
  if (jobs_phase_final(*p) && *p != JOBS_COMPLETED)
    return ts_fail(err, TS_EINVAL, 0, "UPLOAD \"%s\": job %s ended in %s, it has no result",
                   r->name, r->ref, jobs_phase_name(*p));
  return TS_OK;
}

ts_err tap_upload_load(const tap_upload_env *env, PGconn *conn, const tap_upload_ref *refs,
                       size_t n, ts_error *err)
{
  jobs_upload_limits lim = {env->c->upload_max_bytes, (uint64_t)env->c->upload_max_rows,
                            (size_t)env->c->upload_max_columns};
  PGconn *read = NULL;
  ts_err rc = TS_OK;
  /* Every source first: nothing is loaded while one is still to run. */
  for (size_t i = 0; i < n && !rc; i++) {
    jobs_phase p;
    if (refs[i].kind != TAP_UPLOAD_JOB)
      continue;
    rc = source_phase(conn, env->caller, &refs[i], &p, err);
    if (!rc && p != JOBS_COMPLETED)
      rc = ts_now_ms() < env->deadline_ms
               ? ts_fail(err, TS_EAGAIN, 0, "UPLOAD \"%s\": job %s is %s", refs[i].name,
                         refs[i].ref, jobs_phase_name(p))
               : ts_fail(err, TS_EQUERYTIMEOUT, 0,
                         "UPLOAD \"%s\": job %s is still %s after the execution duration of "
                         "this request",
                         refs[i].name, refs[i].ref, jobs_phase_name(p));
  }
  for (size_t i = 0; i < n && !rc; i++) {
    if (refs[i].kind != TAP_UPLOAD_JOB)
      continue;
    if (!read)
      read = jobs_db_get(env->db, err);
    rc = read ? jobs_upload_from_result(conn, read, env->store, &env->owner, refs[i].name,
                                        refs[i].ref, &lim, env->query_role, err)
              : err->code;
  }
  if (read)
    jobs_db_put(env->db, read);
  return rc;
}

ts_err tap_upload_sources(PGconn *conn, int64_t caller, const tap_upload_ref *refs, size_t n,
                          ts_arena *a, const char ***ids, size_t *nids, ts_error *err)
{
  *nids = 0;
  *ids = ts_arena_calloc(a, n + 1, sizeof **ids);
  if (!*ids)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  for (size_t i = 0; i < n; i++) {
    jobs_phase p;
    ts_err rc;
    if (refs[i].kind != TAP_UPLOAD_JOB)
      continue;
    rc = source_phase(conn, caller, &refs[i], &p, err);
    if (rc)
      return rc;
    (*ids)[(*nids)++] = refs[i].ref;
  }
  return TS_OK;
}

/* ---- the TAP_UPLOAD layer -------------------------------------------------- */

/* A column name as TAP_SCHEMA would publish it: a regular identifier as
 * it is, anything else delimited ("Mixed Case" keeps its quotes). */
static const char *published(ts_arena *a, const char *name)
{
  ts_buf b;
  const char *out;
  if (regular_ident(name))
    return name;
  ts_buf_init(&b, 2 * strlen(name) + 3);
  if (adql_quote(&b, name, '"')) {
    ts_buf_free(&b);
    return NULL;
  }
  out = ts_arena_strndup(a, b.data, b.len);
  ts_buf_free(&b);
  return out;
}

adql_column_meta *tap_layer_table(ts_arena *a, adql_table_meta *t, const char *schema,
                                  const char *name, const char *db_schema, const char *db_name,
                                  const char *description, const stream_column *cols, size_t ncols)
{
  adql_column_meta *cm = ts_arena_calloc(a, ncols + 1, sizeof *cm);
  for (size_t j = 0; cm && j < ncols; j++) {
    const stream_column *c = &cols[j];
    cm[j].name = published(a, c->name);
    cm[j].db_name = c->name;
    cm[j].datatype = c->datatype;
    cm[j].arraysize = c->arraysize;
    cm[j].xtype = c->xtype;
    cm[j].unit = c->unit;
    cm[j].ucd = c->ucd;
    cm[j].utype = c->utype;
    cm[j].description = c->description;
    if (!cm[j].name)
      return NULL;
  }
  t->schema = schema;
  t->name = name;
  t->db_schema = db_schema;
  t->db_name = db_name;
  t->description = description;
  t->ncols = ncols;
  t->cols = cm;
  return cm;
}

ts_err tap_upload_layer(PGconn *conn, ts_arena *a, const jobs_upload_owner *o, adql_layer *l,
                        ts_error *err)
{
  jobs_upload_info *u = NULL;
  size_t n = 0;
  adql_table_meta *t;
  ts_err rc = jobs_upload_list(conn, a, o, &u, &n, err);
  memset(l, 0, sizeof *l);
  l->name = "uploads";
  if (rc)
    return rc;
  t = ts_arena_calloc(a, n + 1, sizeof *t);
  if (!t)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  for (size_t i = 0; i < n; i++)
    if (!tap_layer_table(a, &t[i], "TAP_UPLOAD", u[i].name, JOBS_UPLOAD_SCHEMA, u[i].table,
                         "uploaded table", u[i].schema.cols, u[i].schema.ncols))
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  l->ntables = n;
  l->tables = t;
  return TS_OK;
}

/* ---- start ----------------------------------------------------------------- */

ts_err tap_upload_start(ts_app *app, ts_error *err)
{
  const cfg *c = app->cfg;
  PGconn *svc = NULL, *q = NULL;
  PGresult *r = NULL;
  ts_err rc = TS_OK;

  svc = jobs_db_get(app->db, err);
  if (!svc)
    return err->code;
  q = c->query_dsn[0] ? stream_pg_connect_blocking(c->query_dsn, err) : NULL;
  if (c->query_dsn[0] && !q) {
    rc = err->code ? err->code : TS_EDB;
    goto out;
  }
  r = PQexec(q ? q : svc, "SELECT current_user");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = ts_fail(err, TS_EDB, 0, "cannot read the query role: %s", PQerrorMessage(q ? q : svc));
    goto out;
  }
  snprintf(app->upload_role, sizeof app->upload_role, "%s", PQgetvalue(r, 0, 0));
  /* The service role owns the upload tables: only another role needs a
   * grant. */
  if (!strcmp(app->upload_role, PQuser(svc)))
    app->upload_role[0] = '\0';
  else
    rc = jobs_upload_grant_schema(svc, app->upload_role, err);
out:
  PQclear(r);
  if (q)
    PQfinish(q);
  jobs_db_put(app->db, svc);
  return rc;
}
