/* TAP_SCHEMA: creating it, loading it, and the in-memory view that the
 * ADQL checker (adql_meta) and /tables (meta_schema, meta_table) read.
 *
 * Loading is two steps: meta_load reads the five tables as text rows in one
 * consistent snapshot, meta_build turns rows into the structures. Tests
 * build from hand-written rows, so everything but the SQL is testable
 * without a database.
 *
 * Name mapping (published ADQL name -> PostgreSQL identifier), documented
 * in docs/internals/tapserve.md:
 *   - the schema TAP_SCHEMA is the PostgreSQL schema tap_schema, and its
 *     tables are the lower-case names;
 *   - a delimited name ("Mixed Case", with "" for a quote) is used exactly,
 *     quotes removed;
 *   - a regular name is folded to lower case, as PostgreSQL does with
 *     unquoted identifiers.
 * Everything lives in one arena owned by the meta object. A built meta
 * never changes: it is a snapshot, shared by reference count between the
 * requests and jobs that read it (schema_cache.c swaps in new ones). */
#include "tapserve/tap/tap.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

struct meta {
  atomic_int refs; /* meta_retain/meta_release, from any thread */
  ts_arena *arena;
  adql_meta adql;
  size_t nschemas;
  meta_schema *schemas;
  size_t ntables;
  meta_table *tables;         /* grouped by schema, in published order */
  adql_table_meta *atables;   /* parallel to tables */
  const meta_table **by_name; /* the tables sorted by qualified_name */
  size_t nkeys;
  meta_key *keys;
};

/* ---- small helpers ---------------------------------------------------------- */

static const char *dup0(ts_arena *a, const char *s, int *oom)
{
  char *d;
  if (!s)
    return NULL;
  d = ts_arena_strdup(a, s);
  if (!d)
    *oom = 1;
  return d;
}

static int is_delimited(const char *s)
{
  return s[0] == '"';
}

/* Published names compare case-insensitively unless delimited. */
static int name_eq(const char *a, const char *b)
{
  if (strchr(a, '"') || strchr(b, '"'))
    return strcmp(a, b) == 0;
  return ts_strcaseeq(a, b);
}

static int opt_int(const char *s, int dflt)
{
  int64_t v;
  if (!s || ts_parse_int64(s, &v) != TS_OK || v < INT32_MIN || v > INT32_MAX)
    return dflt;
  return (int)v;
}

/* TAP 1.0 services wrote ADQL type names into TAP_SCHEMA.columns.datatype;
 * TAP 1.1 wants VOTable datatypes. Rows in the old form are translated so
 * that an existing TAP_SCHEMA keeps working. */
typedef struct type_map {
  const char *adql, *datatype, *arraysize, *xtype;
} type_map;
static const type_map legacy_types[] = {
    {"SMALLINT", "short", NULL, NULL},
    {"INTEGER", "int", NULL, NULL},
    {"BIGINT", "long", NULL, NULL},
    {"REAL", "float", NULL, NULL},
    {"DOUBLE", "double", NULL, NULL},
    {"BOOLEAN", "boolean", NULL, NULL},
    {"CHAR", "char", "", NULL},
    {"VARCHAR", "char", "*", NULL},
    {"CLOB", "char", "*", NULL},
    {"TIMESTAMP", "char", "*", "timestamp"},
    {"BINARY", "unsignedByte", "", NULL},
    {"VARBINARY", "unsignedByte", "*", NULL},
    {"BLOB", "unsignedByte", "*", NULL},
    {"POINT", "double", "2", "point"},
    {"CIRCLE", "double", "3", "circle"},
    {"POLYGON", "double", "*", "polygon"},
    {"REGION", "char", "*", "adql:REGION"},
};
static const char *const votable_types[] = {
    "boolean", "bit",   "unsignedByte", "short",       "int",          "long",
    "char",    "float", "double",       "unicodeChar", "floatComplex", "doubleComplex",
};

static ts_err column_type(ts_arena *a, const char *const *r, adql_column_meta *c, int *oom,
                          ts_error *err)
{
  const char *dt = r[2], *size = r[5];
  c->datatype = NULL;
  for (size_t i = 0; i < TS_ARRAY_LEN(votable_types); i++)
    if (!strcmp(dt, votable_types[i]))
      c->datatype = votable_types[i];
  if (c->datatype) {
    c->arraysize = dup0(a, r[3] ? r[3] : size, oom); /* TAP 1.0 "size" as a fallback */
    c->xtype = dup0(a, r[4], oom);
    return TS_OK;
  }
  for (size_t i = 0; i < TS_ARRAY_LEN(legacy_types); i++) {
    const type_map *t = &legacy_types[i];
    if (!ts_strcaseeq(dt, t->adql))
      continue;
    c->datatype = t->datatype;
    if (r[3])
      c->arraysize = dup0(a, r[3], oom);
    else if (t->arraysize && !t->arraysize[0]) /* CHAR(n), BINARY(n): n from "size" */
      c->arraysize = dup0(a, size ? size : "1", oom);
    else
      c->arraysize = t->arraysize;
    c->xtype = r[4] ? dup0(a, r[4], oom) : t->xtype;
    return TS_OK;
  }
  return ts_fail(err, TS_EINVAL, 0, "TAP_SCHEMA.columns: %s.%s has unknown datatype '%s'", r[0],
                 r[1], dt);
}

/* ---- building ------------------------------------------------------------------ */

static int cmp_by_name(const void *pa, const void *pb)
{
  const meta_table *a = *(const meta_table *const *)pa, *b = *(const meta_table *const *)pb;
  return strcmp(a->qualified_name, b->qualified_name);
}

/* Index of the table with exactly this qualified name, or (size_t)-1. */
static size_t find_exact(const meta *m, const char *name)
{
  size_t lo = 0, hi = m->ntables;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    int c = strcmp(m->by_name[mid]->qualified_name, name);
    if (c == 0)
      return (size_t)(m->by_name[mid] - m->tables);
    if (c < 0)
      lo = mid + 1;
    else
      hi = mid;
  }
  return (size_t)-1;
}

static ts_err build_tables(meta *m, const meta_rows *rows, int *oom, ts_error *err)
{
  ts_arena *a = m->arena;
  size_t *count = ts_arena_calloc(a, m->nschemas + 1, sizeof *count);
  size_t *sidx = ts_arena_calloc(a, rows->ntables + 1, sizeof *sidx);
  size_t *next = ts_arena_calloc(a, m->nschemas + 1, sizeof *next);
  if (!count || !sidx || !next)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");

  for (size_t i = 0; i < rows->ntables; i++) {
    const char *const *r = rows->tables + i * META_TABLE_W;
    size_t s;
    if (!r[0] || !r[1])
      return ts_fail(err, TS_EINVAL, 0, "TAP_SCHEMA.tables: row %zu has no schema or table name",
                     i + 1);
    for (s = 0; s < m->nschemas; s++)
      if (!strcmp(m->schemas[s].name, r[0]))
        break;
    if (s == m->nschemas)
      return ts_fail(err, TS_EINVAL, 0,
                     "TAP_SCHEMA.tables: %s is in schema %s, which is not in "
                     "TAP_SCHEMA.schemas",
                     r[1], r[0]);
    sidx[i] = s;
    count[s]++;
  }
  /* Tables grouped by schema (stable), so each schema's list is a slice. */
  for (size_t s = 1; s < m->nschemas; s++)
    next[s] = next[s - 1] + count[s - 1];
  for (size_t s = 0; s < m->nschemas; s++) {
    m->schemas[s].tables = m->tables + next[s];
    m->schemas[s].ntables = count[s];
  }
  for (size_t i = 0; i < rows->ntables; i++) {
    const char *const *r = rows->tables + i * META_TABLE_W;
    size_t slot = next[sidx[i]]++;
    meta_table *t = &m->tables[slot];
    adql_table_meta *at = &m->atables[slot];
    const char *schema = r[0], *qn = r[1], *bare;
    size_t sl = strlen(schema);
    int tap_schema = ts_strcaseeq(schema, "TAP_SCHEMA");

    if (strlen(qn) > sl && qn[sl] == '.' &&
        (is_delimited(schema) ? !strncmp(qn, schema, sl) : ts_strncaseeq(qn, schema, sl)))
      bare = qn + sl + 1;
    else if (!strchr(qn, '.') || is_delimited(qn))
      bare = qn; /* an unqualified name (TAP 1.1 allows it) */
    else
      return ts_fail(err, TS_EINVAL, 0,
                     "TAP_SCHEMA.tables: table_name %s does not start with its schema_name %s", qn,
                     schema);
    t->qualified_name = dup0(m->arena, qn, oom);
    t->table_type = dup0(m->arena, r[2] ? r[2] : "table", oom);
    t->utype = dup0(m->arena, r[3], oom);
    t->description = dup0(m->arena, r[4], oom);
    t->adql = at;
    at->schema = dup0(m->arena, schema, oom);
    at->name = dup0(m->arena, bare, oom);
    at->description = t->description;
    at->db_schema = tap_schema ? "tap_schema" : adql_db_ident(a, schema, sl);
    at->db_name = adql_db_ident(a, bare, strlen(bare)); /* TAP_SCHEMA's are lower case already */
    if (!at->db_schema || !at->db_name)
      *oom = 1;
  }
  if (*oom)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  for (size_t i = 0; i < m->ntables; i++)
    m->by_name[i] = &m->tables[i];
  qsort(m->by_name, m->ntables, sizeof *m->by_name, cmp_by_name);
  for (size_t i = 1; i < m->ntables; i++)
    if (!strcmp(m->by_name[i]->qualified_name, m->by_name[i - 1]->qualified_name))
      return ts_fail(err, TS_EINVAL, 0, "TAP_SCHEMA.tables: %s appears twice",
                     m->by_name[i]->qualified_name);
  return TS_OK;
}

static ts_err build_columns(meta *m, const meta_rows *rows, int *oom, ts_error *err)
{
  ts_arena *a = m->arena;
  size_t *count = ts_arena_calloc(a, m->ntables + 1, sizeof *count);
  size_t *tidx = ts_arena_calloc(a, rows->ncolumns + 1, sizeof *tidx);
  size_t *fill = ts_arena_calloc(a, m->ntables + 1, sizeof *fill);
  adql_column_meta **cols = ts_arena_calloc(a, m->ntables + 1, sizeof *cols);
  size_t last = (size_t)-1;
  if (!count || !tidx || !fill || !cols)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");

  for (size_t i = 0; i < rows->ncolumns; i++) {
    const char *const *r = rows->columns + i * META_COLUMN_W;
    size_t t;
    if (!r[0] || !r[1] || !r[2])
      return ts_fail(err, TS_EINVAL, 0,
                     "TAP_SCHEMA.columns: row %zu has no table_name, column_name or datatype",
                     i + 1);
    /* Rows come grouped by table: try the previous table first. */
    if (last != (size_t)-1 && !strcmp(m->tables[last].qualified_name, r[0]))
      t = last;
    else
      t = find_exact(m, r[0]);
    if (t == (size_t)-1)
      return ts_fail(err, TS_EINVAL, 0,
                     "TAP_SCHEMA.columns: column %s belongs to %s, which is not in "
                     "TAP_SCHEMA.tables",
                     r[1], r[0]);
    tidx[i] = last = t;
    count[t]++;
  }
  for (size_t t = 0; t < m->ntables; t++) {
    cols[t] = ts_arena_calloc(a, count[t] + 1, sizeof **cols);
    if (!cols[t])
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    m->atables[t].cols = cols[t];
    m->atables[t].ncols = count[t];
  }
  for (size_t i = 0; i < rows->ncolumns; i++) {
    const char *const *r = rows->columns + i * META_COLUMN_W;
    size_t t = tidx[i];
    adql_column_meta *c = &cols[t][fill[t]++];
    ts_err rc;
    for (size_t j = 0; j + 1 < fill[t]; j++)
      if (name_eq(cols[t][j].name, r[1]))
        return ts_fail(err, TS_EINVAL, 0, "TAP_SCHEMA.columns: %s has two columns named %s", r[0],
                       r[1]);
    c->name = dup0(a, r[1], oom);
    c->db_name = adql_db_ident(a, r[1], strlen(r[1]));
    if (!c->db_name)
      *oom = 1;
    rc = column_type(a, r, c, oom, err);
    if (rc)
      return rc;
    c->description = dup0(a, r[6], oom);
    c->utype = dup0(a, r[7], oom);
    c->unit = dup0(a, r[8], oom);
    c->ucd = dup0(a, r[9], oom);
    c->indexed = opt_int(r[10], 0) != 0;
    c->principal = opt_int(r[11], 0) != 0;
    c->std = opt_int(r[12], 0) != 0;
  }
  return *oom ? ts_fail(err, TS_ENOMEM, 0, "out of memory") : TS_OK;
}

static int cmp_str(const void *pa, const void *pb)
{
  return strcmp(*(const char *const *)pa, *(const char *const *)pb);
}

static ts_err build_keys(meta *m, const meta_rows *rows, int *oom, ts_error *err)
{
  ts_arena *a = m->arena;
  size_t *count = ts_arena_calloc(a, m->ntables + 1, sizeof *count);
  size_t *from = ts_arena_calloc(a, rows->nkeys + 1, sizeof *from);
  size_t *fill = ts_arena_calloc(a, m->ntables + 1, sizeof *fill);
  const char **ids = ts_arena_calloc(a, rows->nkeys + 1, sizeof *ids);
  if (!count || !from || !fill || !ids)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");

  for (size_t i = 0; i < rows->nkeys; i++) {
    const char *const *r = rows->keys + i * META_KEY_W;
    meta_key *k = &m->keys[i];
    size_t tf, tt;
    if (!r[0] || !r[1] || !r[2])
      return ts_fail(err, TS_EINVAL, 0,
                     "TAP_SCHEMA.keys: row %zu has an empty key_id, "
                     "from_table or target_table",
                     i + 1);
    tf = find_exact(m, r[1]);
    tt = find_exact(m, r[2]);
    if (tf == (size_t)-1 || tt == (size_t)-1)
      return ts_fail(err, TS_EINVAL, 0,
                     "TAP_SCHEMA.keys: key %s refers to %s, which is not in "
                     "TAP_SCHEMA.tables",
                     r[0], tf == (size_t)-1 ? r[1] : r[2]);
    k->key_id = dup0(a, r[0], oom);
    k->from_table = m->tables[tf].qualified_name;
    k->target_table = m->tables[tt].qualified_name;
    k->utype = dup0(a, r[3], oom);
    k->description = dup0(a, r[4], oom);
    from[i] = tf;
    count[tf]++;
    ids[i] = r[0];
  }
  qsort(ids, rows->nkeys, sizeof *ids, cmp_str);
  for (size_t i = 1; i < rows->nkeys; i++)
    if (!strcmp(ids[i], ids[i - 1]))
      return ts_fail(err, TS_EINVAL, 0, "TAP_SCHEMA.keys: key_id %s appears twice", ids[i]);

  /* Column pairs: at most a handful per key, so a linear match is fine. */
  for (size_t i = 0; i < rows->nkeys; i++) {
    meta_key *k = &m->keys[i];
    size_t n = 0;
    meta_key_column *kc;
    for (size_t j = 0; j < rows->nkey_columns; j++)
      n += rows->key_columns[j * META_KEYCOL_W] &&
           !strcmp(rows->key_columns[j * META_KEYCOL_W], k->key_id);
    kc = ts_arena_calloc(a, n + 1, sizeof *kc);
    if (!kc)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    n = 0;
    for (size_t j = 0; j < rows->nkey_columns; j++) {
      const char *const *r = rows->key_columns + j * META_KEYCOL_W;
      if (!r[0] || strcmp(r[0], k->key_id) != 0)
        continue;
      if (!r[1] || !r[2])
        return ts_fail(err, TS_EINVAL, 0, "TAP_SCHEMA.key_columns: key %s has an empty column",
                       k->key_id);
      kc[n].from_column = dup0(a, r[1], oom);
      kc[n].target_column = dup0(a, r[2], oom);
      n++;
    }
    if (n == 0)
      return ts_fail(err, TS_EINVAL, 0,
                     "TAP_SCHEMA.keys: key %s has no rows in "
                     "TAP_SCHEMA.key_columns",
                     k->key_id);
    k->cols = kc;
    k->ncols = n;
  }
  for (size_t j = 0; j < rows->nkey_columns; j++) {
    const char *id = rows->key_columns[j * META_KEYCOL_W];
    if (!id || !bsearch(&id, ids, rows->nkeys, sizeof *ids, cmp_str))
      return ts_fail(err, TS_EINVAL, 0,
                     "TAP_SCHEMA.key_columns: key_id %s is not in "
                     "TAP_SCHEMA.keys",
                     id ? id : "(null)");
  }

  for (size_t t = 0; t < m->ntables; t++) {
    const meta_key **list = ts_arena_calloc(a, count[t] + 1, sizeof *list);
    if (!list)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    m->tables[t].keys = list;
    m->tables[t].nkeys = count[t];
  }
  for (size_t i = 0; i < rows->nkeys; i++) {
    meta_table *t = &m->tables[from[i]];
    ((const meta_key **)t->keys)[fill[from[i]]++] = &m->keys[i];
  }
  return *oom ? ts_fail(err, TS_ENOMEM, 0, "out of memory") : TS_OK;
}

ts_err meta_build(const meta_rows *rows, const cfg *c, meta **out, ts_error *err)
{
  meta *m = calloc(1, sizeof *m);
  int oom = 0;
  ts_err rc;
  *out = NULL;
  if (!m)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  atomic_init(&m->refs, 1);
  m->arena = ts_arena_new(64 * 1024, 0);
  if (!m->arena) {
    free(m);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  m->nschemas = rows->nschemas;
  m->ntables = rows->ntables;
  m->nkeys = rows->nkeys;
  m->schemas = ts_arena_calloc(m->arena, m->nschemas + 1, sizeof *m->schemas);
  m->tables = ts_arena_calloc(m->arena, m->ntables + 1, sizeof *m->tables);
  m->atables = ts_arena_calloc(m->arena, m->ntables + 1, sizeof *m->atables);
  m->by_name = ts_arena_calloc(m->arena, m->ntables + 1, sizeof *m->by_name);
  m->keys = ts_arena_calloc(m->arena, m->nkeys + 1, sizeof *m->keys);
  if (!m->schemas || !m->tables || !m->atables || !m->by_name || !m->keys) {
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < rows->nschemas; i++) {
    const char *const *r = rows->schemas + i * META_SCHEMA_W;
    if (!r[0]) {
      rc = ts_fail(err, TS_EINVAL, 0, "TAP_SCHEMA.schemas: row %zu has no schema_name", i + 1);
      goto out;
    }
    for (size_t j = 0; j < i; j++) {
      if (!strcmp(m->schemas[j].name, r[0])) {
        rc = ts_fail(err, TS_EINVAL, 0, "TAP_SCHEMA.schemas: %s appears twice", r[0]);
        goto out;
      }
    }
    m->schemas[i].name = dup0(m->arena, r[0], &oom);
    m->schemas[i].utype = dup0(m->arena, r[1], &oom);
    m->schemas[i].description = dup0(m->arena, r[2], &oom);
  }
  rc = build_tables(m, rows, &oom, err);
  if (!rc)
    rc = build_columns(m, rows, &oom, err);
  if (!rc)
    rc = build_keys(m, rows, &oom, err);
  if (!rc && oom)
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
  m->adql.ntables = m->ntables;
  m->adql.tables = m->atables;
  /* UDFs, geometry functions and coordinate systems: the operator's
   * [adql] settings, or the defaults (standard UDFs, everything else
   * allowed, ICRS). */
  if (!rc && c)
    rc = cfg_adql_meta(c, m->arena, &m->adql, err);
  else if (!rc)
    m->adql.udfs = adql_std_udfs(&m->adql.nudfs);
out:
  if (rc) {
    meta_release(m);
    return rc;
  }
  *out = m;
  return TS_OK;
}

meta *meta_retain(meta *m)
{
  if (m)
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
  return m;
}

void meta_release(meta *m)
{
  /* acq_rel: every reader's last access happens before the free. */
  if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
    return;
  ts_arena_free(m->arena);
  free(m);
}

const adql_meta *meta_adql(const meta *m)
{
  return &m->adql;
}

size_t meta_nschemas(const meta *m)
{
  return m->nschemas;
}

const meta_schema *meta_schema_at(const meta *m, size_t i)
{
  return i < m->nschemas ? &m->schemas[i] : NULL;
}

const meta_table *meta_find_table(const meta *m, const char *qualified_name)
{
  size_t t = find_exact(m, qualified_name);
  if (t != (size_t)-1)
    return &m->tables[t];
  /* Not spelled exactly as published: regular names match in any case. */
  for (size_t i = 0; i < m->ntables; i++)
    if (name_eq(m->tables[i].qualified_name, qualified_name))
      return &m->tables[i];
  return NULL;
}

/* 1 when the ';'-separated UCD has the word `w` (case-insensitive). */
static int ucd_has(const char *ucd, const char *w)
{
  size_t n = strlen(w);
  for (const char *p = ucd; p && *p;) {
    const char *e = strchr(p, ';');
    size_t len = e ? (size_t)(e - p) : strlen(p);
    while (len && *p == ' ')
      p++, len--;
    while (len && p[len - 1] == ' ')
      len--;
    if (len == n && ts_strncaseeq(p, w, n))
      return 1;
    p = e ? e + 1 : NULL;
  }
  return 0;
}

int meta_column_esa_flags(const adql_column_meta *c)
{
  int f = 0;
  if (!c->ucd)
    return 0;
  if (ucd_has(c->ucd, "meta.main")) {
    if (ucd_has(c->ucd, "pos.eq.ra"))
      f |= 1;
    if (ucd_has(c->ucd, "pos.eq.dec"))
      f |= 2;
  }
  for (const char *p = c->ucd; (p = strstr(p, "phot.")) != NULL; p += 5) {
    if (!strncmp(p + 5, "flux", 4))
      f |= 4;
    else if (!strncmp(p + 5, "mag", 3))
      f |= 8;
  }
  return f;
}

/* ---- PostgreSQL ------------------------------------------------------------ */

static ts_err exec_ok(PGconn *conn, const char *sql, ExecStatusType want, PGresult **out,
                      ts_error *err)
{
  PGresult *r = PQexec(conn, sql);
  if (!r)
    return ts_fail(err, TS_EDB, 0, "%s", PQerrorMessage(conn));
  if (PQresultStatus(r) != want) {
    const char *msg = PQresultErrorMessage(r);
    ts_fail(err, TS_EDB, 0, "TAP_SCHEMA: %.*s", (int)strcspn(msg, "\n"), msg);
    PQclear(r);
    return TS_EDB;
  }
  if (out)
    *out = r;
  else
    PQclear(r);
  return TS_OK;
}

ts_err meta_ensure_tap_schema(PGconn *conn, ts_error *err)
{
  ts_err rc = exec_ok(conn, "BEGIN", PGRES_COMMAND_OK, NULL, err);
  if (rc)
    return rc;
  /* A multi-statement PQexec returns the last result only, but stops at
   * the first failing statement, whose error is then that result's. */
  rc = exec_ok(conn, sql_tap_schema, PGRES_COMMAND_OK, NULL, err);
  if (!rc)
    rc = exec_ok(conn, "COMMIT", PGRES_COMMAND_OK, NULL, err);
  if (rc)
    PQclear(PQexec(conn, "ROLLBACK"));
  return rc;
}

static const char *const load_sql[5] = {
    "SELECT schema_name, utype, description, schema_index FROM tap_schema.schemas"
    " ORDER BY schema_index IS NULL, schema_index, schema_name",
    "SELECT schema_name, table_name, table_type, utype, description, table_index"
    " FROM tap_schema.tables ORDER BY table_index IS NULL, table_index, table_name",
    "SELECT table_name, column_name, datatype, arraysize, xtype, \"size\", description,"
    " utype, unit, ucd, indexed, principal, std, column_index"
    " FROM tap_schema.columns"
    " ORDER BY table_name, column_index IS NULL, column_index, column_name",
    "SELECT key_id, from_table, target_table, utype, description FROM tap_schema.keys"
    " ORDER BY key_id",
    "SELECT key_id, from_column, target_column FROM tap_schema.key_columns"
    " ORDER BY key_id, from_column",
};

/* The rows of a result as a NULL-for-NULL string array in the arena-free
 * heap (pointers into `r`, which must outlive the array). */
static const char **result_rows(const PGresult *r, int width)
{
  int n = PQntuples(r);
  const char **v;
  if (PQnfields(r) != width)
    return NULL;
  v = calloc((size_t)n * (size_t)width + 1, sizeof *v);
  if (!v)
    return NULL;
  for (int i = 0; i < n; i++)
    for (int j = 0; j < width; j++)
      v[i * width + j] = PQgetisnull(r, i, j) ? NULL : PQgetvalue(r, i, j);
  return v;
}

ts_err meta_load(PGconn *conn, const cfg *c, meta **out, ts_error *err)
{
  static const int widths[5] = {META_SCHEMA_W, META_TABLE_W, META_COLUMN_W, META_KEY_W,
                                META_KEYCOL_W};
  PGresult *res[5] = {NULL};
  const char **v[5] = {NULL};
  meta_rows rows;
  ts_err rc;

  *out = NULL;
  /* One snapshot for all five reads, so a concurrent publish cannot give
   * us columns of a table we did not see. */
  rc =
      exec_ok(conn, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", PGRES_COMMAND_OK, NULL, err);
  if (rc)
    return rc;
  for (int i = 0; i < 5; i++) {
    rc = exec_ok(conn, load_sql[i], PGRES_TUPLES_OK, &res[i], err);
    if (rc)
      goto out;
    v[i] = result_rows(res[i], widths[i]);
    if (!v[i]) {
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
      goto out;
    }
  }
  rows.nschemas = (size_t)PQntuples(res[0]);
  rows.ntables = (size_t)PQntuples(res[1]);
  rows.ncolumns = (size_t)PQntuples(res[2]);
  rows.nkeys = (size_t)PQntuples(res[3]);
  rows.nkey_columns = (size_t)PQntuples(res[4]);
  rows.schemas = v[0];
  rows.tables = v[1];
  rows.columns = v[2];
  rows.keys = v[3];
  rows.key_columns = v[4];
  rc = meta_build(&rows, c, out, err);
out:
  PQclear(PQexec(conn, rc ? "ROLLBACK" : "COMMIT"));
  for (int i = 0; i < 5; i++) {
    free(v[i]);
    PQclear(res[i]);
  }
  return rc;
}
