/* tapserve/plus/tabletool.c: POST {ctx}/TableTool, TAP+'s edits of a
 * user's own tables, in the parameters astroquery's TapPlus sends
 * (update_user_table, set_ra_dec_columns, rename_table). The work is
 * jobs/usertables.c's, run through plus__utab_run. */
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Columns one edit may name: PostgreSQL's own limit. */
enum { TT_MAX_COLUMNS = 1600 };

typedef enum { TT_EDIT, TT_RADEC, TT_RENAME } tt_action;

typedef struct tt_req {
  tt_action action;
  const char *table;
  /* edit */
  jobs_utab_edit *edits;
  size_t nedits;
  /* radec */
  const char *ra, *dec;
  /* rename */
  const char *new_table;
  const char **from, **to;
  size_t nrename;
} tt_req;

static ts_err tt_fn(ts_app *app, PGconn *conn, const jobs_user *u, void *ud, char ok[PLUS_OK_MAX],
                    ts_error *err)
{
  const tt_req *q = ud;
  ts_err rc;
  (void)app;
  if (q->action == TT_EDIT)
    rc = jobs_utab_edit_columns(conn, u, q->table, q->edits, q->nedits, err);
  else if (q->action == TT_RADEC)
    rc = jobs_utab_set_radec(conn, u, q->table, q->ra, q->dec, err);
  else
    rc = jobs_utab_rename(conn, u, q->table, q->new_table, q->from, q->to, q->nrename, err);
  if (!rc)
    snprintf(ok, PLUS_OK_MAX, "table %.200s updated", q->table);
  return rc;
}

/* Python's str() of None is how TapPlus says "no value". */
static const char *value_or_none(const char *v)
{
  return v && *v && strcmp(v, "None") ? v : NULL;
}

/* Flags by name (Ra, Dec, Flux, Mag, PK) or number; none: 0. */
static int parse_flags(const char *v, int *out)
{
  static const struct {
    const char *name;
    int flag;
  } names[] = {{"Ra", JOBS_UTAB_FLAG_RA},
               {"Dec", JOBS_UTAB_FLAG_DEC},
               {"Flux", JOBS_UTAB_FLAG_FLUX},
               {"Mag", JOBS_UTAB_FLAG_MAG},
               {"PK", JOBS_UTAB_FLAG_PK}};
  int64_t n;
  *out = 0;
  v = value_or_none(v);
  if (!v)
    return 1;
  for (size_t i = 0; i < TS_ARRAY_LEN(names); i++)
    if (ts_strcaseeq(v, names[i].name)) {
      *out = names[i].flag;
      return 1;
    }
  if (ts_parse_int64(v, &n) || n < 0 || n > 63)
    return 0;
  *out = (int)n & 31; /* 32 and up: "indexed" in ESA's numbering */
  return 1;
}

static int parse_bool(const char *v, int *out)
{
  *out = 0;
  if (!value_or_none(v) || ts_strcaseeq(v, "false") || !strcmp(v, "0"))
    return 1;
  *out = 1;
  return ts_strcaseeq(v, "true") || !strcmp(v, "1");
}

static ts_err parse_edit(const http_param *p, size_t np, ts_arena *a, tt_req *q, ts_error *err)
{
  const char *v = plus__param(p, np, "TABLE0_NUMCOLS");
  const char *ntab = plus__param(p, np, "NUMTABLES");
  int64_t n = 0;
  char key[64];
  q->table = plus__param(p, np, "TABLE0");
  if (ntab && strcmp(ntab, "1"))
    return ts_fail(err, TS_EINVAL, 0, "NUMTABLES must be 1: one table per edit");
  if (!q->table || !v || ts_parse_int64(v, &n) || n < 1 || n > TT_MAX_COLUMNS)
    return ts_fail(err, TS_EINVAL, 0,
                   "ACTION=edit needs TABLE0 and TABLE0_NUMCOLS (1 to %d), and TABLE0_COLi for "
                   "each column",
                   TT_MAX_COLUMNS);
  q->edits = ts_arena_calloc(a, (size_t)n, sizeof *q->edits);
  if (!q->edits)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  q->nedits = (size_t)n;
  for (int64_t i = 0; i < n; i++) {
    jobs_utab_edit *e = &q->edits[i];
    snprintf(key, sizeof key, "TABLE0_COL%lld", (long long)i);
    e->column = plus__param(p, np, key);
    if (!e->column)
      return ts_fail(err, TS_EINVAL, 0, "ACTION=edit: %s is missing", key);
    snprintf(key, sizeof key, "TABLE0_COL%lld_UCD", (long long)i);
    e->ucd = value_or_none(plus__param(p, np, key));
    snprintf(key, sizeof key, "TABLE0_COL%lld_UTYPE", (long long)i);
    e->utype = value_or_none(plus__param(p, np, key));
    snprintf(key, sizeof key, "TABLE0_COL%lld_FLAGS", (long long)i);
    if (!parse_flags(plus__param(p, np, key), &e->flags))
      return ts_fail(err, TS_EINVAL, 0, "%s must be Ra, Dec, Flux, Mag, PK or empty, not \"%.40s\"",
                     key, plus__param(p, np, key));
    snprintf(key, sizeof key, "TABLE0_COL%lld_INDEXED", (long long)i);
    if (!parse_bool(plus__param(p, np, key), &e->indexed))
      return ts_fail(err, TS_EINVAL, 0, "%s must be true or false, not \"%.40s\"", key,
                     plus__param(p, np, key));
    /* The position and the primary key are looked up: indexed. */
    if (e->flags & (JOBS_UTAB_FLAG_RA | JOBS_UTAB_FLAG_DEC | JOBS_UTAB_FLAG_PK))
      e->indexed = 1;
  }
  return TS_OK;
}

/* new_column_names: "old:new,old:new". */
static ts_err parse_rename(const http_param *p, size_t np, ts_arena *a, tt_req *q, ts_error *err)
{
  const char *cols = plus__param(p, np, "new_column_names");
  size_t cap = 1;
  q->table = plus__param(p, np, "table_name");
  q->new_table = value_or_none(plus__param(p, np, "new_table_name"));
  if (!q->table || !*q->table)
    return ts_fail(err, TS_EINVAL, 0, "action=rename needs table_name");
  if (!q->new_table && !(cols && *cols))
    return ts_fail(err, TS_EINVAL, 0,
                   "action=rename needs new_table_name or new_column_names (old:new,...)");
  for (const char *s = cols ? cols : ""; *s; s++)
    cap += *s == ',';
  if (cap > TT_MAX_COLUMNS)
    return ts_fail(err, TS_EINVAL, 0, "new_column_names names more than %d columns",
                   TT_MAX_COLUMNS);
  q->from = ts_arena_calloc(a, cap, sizeof *q->from);
  q->to = ts_arena_calloc(a, cap, sizeof *q->to);
  if (!q->from || !q->to)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  for (const char *s = cols ? cols : ""; *s;) {
    size_t len = strcspn(s, ",");
    const char *colon = memchr(s, ':', len);
    if (!colon || colon == s || colon == s + len - 1)
      return ts_fail(err, TS_EINVAL, 0, "new_column_names: \"%.*s\" is not old:new", (int)len, s);
    q->from[q->nrename] = ts_arena_strndup(a, s, (size_t)(colon - s));
    q->to[q->nrename] = ts_arena_strndup(a, colon + 1, len - (size_t)(colon - s) - 1);
    if (!q->from[q->nrename] || !q->to[q->nrename])
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    q->nrename++;
    s += len + (s[len] == ',');
  }
  return TS_OK;
}

void plus_tabletool(ts_app *app, http_request *req)
{
  http_param *p = NULL;
  size_t np = 0;
  tt_req *q = ts_arena_calloc(req->arena, 1, sizeof *q);
  const char *action;
  ts_error e;
  ts_err rc;

  ts_error_clear(&e);
  if (!q) {
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &e);
    return;
  }
  rc = http_request_params(req, &p, &np, &e);
  action = rc ? NULL : plus__param(p, np, "ACTION");
  if (rc) {
  } else if (action && ts_strcaseeq(action, "edit")) {
    q->action = TT_EDIT;
    rc = parse_edit(p, np, req->arena, q, &e);
  } else if (action && ts_strcaseeq(action, "radec")) {
    q->action = TT_RADEC;
    q->table = plus__param(p, np, "TABLE_NAME");
    q->ra = plus__param(p, np, "RA");
    q->dec = plus__param(p, np, "DEC");
    if (!q->table || !q->ra || !q->dec)
      rc = ts_fail(&e, TS_EINVAL, 0, "ACTION=radec needs TABLE_NAME, RA and DEC");
  } else if (action && ts_strcaseeq(action, "rename")) {
    q->action = TT_RENAME;
    rc = parse_rename(p, np, req->arena, q, &e);
  } else {
    rc = ts_fail(&e, TS_EINVAL, 0, "ACTION must be edit, radec or rename, not \"%.40s\"",
                 action ? action : "");
  }
  if (rc) {
    tap_send_error(req, &e);
    return;
  }
  plus__utab_run(app, req, tt_fn, q);
}
