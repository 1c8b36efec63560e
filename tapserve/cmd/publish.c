/* tapserve/cmd/publish.c: `tapserve publish` and `tapserve unpublish`
 * (docs/publishing.md).
 *
 * publish reads what PostgreSQL knows about a table (pg_catalog: types,
 * NOT NULL, primary key, indexes, foreign keys, comments), maps each type
 * with the same function the streaming pipeline uses
 * (stream_column_set_type), so TAP_SCHEMA says what /sync delivers, guesses
 * what the catalogue cannot say (UCDs and units of positions, indexed and
 * principal flags), lets a tableset file override the guesses, and writes
 * tap_schema's rows in one transaction, with GRANTs for the query role.
 * Any error rolls the whole transaction back: TAP_SCHEMA is either the old
 * one or the new one, never a mix.
 *
 * Published names: a PostgreSQL name that is a regular ADQL identifier in
 * lower case is published as it is; any other is published delimited
 * ("Mixed Case"), which meta.c maps back to the exact PostgreSQL name. */
#include "formats/tableset.h"
#include "tapserve/tapserve.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- options and connection (shared by publish, unpublish, tableset) ----- */

int cmd_db_option(int argc, char **argv, int *i, cmd_db *o)
{
  const char *a = argv[*i];
  if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && *i + 1 < argc) {
    o->config = argv[++*i];
    return 1;
  }
  if (!strcmp(a, "--dsn") && *i + 1 < argc) {
    o->dsn = argv[++*i];
    return 1;
  }
  return 0;
}

PGconn *cmd_db_connect(const char *prog, cmd_db *o)
{
  ts_error err;
  PGconn *conn;
  const char *dsn = o->dsn;
  if (o->config && o->dsn) {
    fprintf(stderr, "%s: give either -c FILE or --dsn CONNINFO, not both\n", prog);
    return NULL;
  }
  if (!o->config && !o->dsn) {
    fprintf(stderr,
            "%s: a configuration file (-c FILE) or a connection (--dsn CONNINFO) "
            "is required\n",
            prog);
    return NULL;
  }
  if (o->config) {
    cfg_defaults(&o->cfg);
    o->have_cfg = 1;
    if (cfg_load(&o->cfg, o->config, &err) || cfg_finish(&o->cfg, &err)) {
      fprintf(stderr, "%s: %s\n", prog, err.msg);
      return NULL;
    }
    dsn = o->cfg.dsn;
  }
  conn = stream_pg_connect_blocking(dsn, &err);
  if (!conn)
    fprintf(stderr, "%s: %s\n", prog, err.msg);
  return conn;
}

void cmd_db_free(cmd_db *o)
{
  if (o->have_cfg)
    cfg_free(&o->cfg);
  o->have_cfg = 0;
}

/* ---- small SQL helpers ----------------------------------------------------- */

typedef struct pub pub;

/* One statement with text parameters; NULL (message in err) unless the
 * status is `want`. */
static PGresult *sql(PGconn *conn, ExecStatusType want, ts_error *err, const char *q, int n,
                     const char *const *params)
{
  PGresult *r = PQexecParams(conn, q, n, NULL, params, NULL, NULL, 0);
  if (r && PQresultStatus(r) == want)
    return r;
  {
    const char *msg = r ? PQresultErrorMessage(r) : PQerrorMessage(conn);
    ts_fail(err, TS_EDB, 0, "%.*s", (int)strcspn(msg, "\n"), msg);
  }
  PQclear(r);
  return NULL;
}

static ts_err exec0(PGconn *conn, ts_error *err, const char *q, int n, const char *const *params)
{
  PGresult *r = sql(conn, PGRES_COMMAND_OK, err, q, n, params);
  if (!r)
    return TS_EDB;
  PQclear(r);
  return TS_OK;
}

static const char *val(const PGresult *r, int row, int col)
{
  return PQgetisnull(r, row, col) ? NULL : PQgetvalue(r, row, col);
}

/* ---- the model of one publication ------------------------------------------ */

typedef struct pcol {
  const char *db_name, *name; /* PostgreSQL and published names */
  uint32_t oid;
  int32_t typmod;
  const char *pgtype; /* format_type(), for messages */
  int attnum, notnull, supported, textual, pk, pos;
  const char *comment;
  /* TAP_SCHEMA.columns */
  const char *datatype, *arraysize, *xtype, *unit, *ucd, *utype, *description;
  int indexed, principal, std;
  fmt_ts_int index, size;
  int publish;
  const char *note; /* what was decided and why, printed */
  /* the mapped type (what /sync delivers) */
  const char *m_datatype, *m_arraysize, *m_xtype;
  int float8_array;
} pcol;

typedef struct pkey {
  const char *key_id, *target_table, *description, *utype;
  size_t n;
  const char **from, **target;
  int line; /* of a tableset's <foreignKey>, 0 otherwise */
} pkey;

typedef struct ptable {
  const char *db_schema, *db_table, *oid, *relkind;
  const char *schema_name, *table_name; /* published */
  const fmt_ts_schema *tss;             /* from a tableset, or NULL */
  const fmt_ts_table *tst;
  size_t ts_schema_pos, ts_table_pos; /* 1-based document positions */
  size_t ncols;
  pcol *cols;
  size_t nkeys, capkeys;
  pkey *keys;
  const char *description, *utype, *type, *schema_comment;
  fmt_ts_int index;
} ptable;

struct pub {
  PGconn *conn;
  ts_arena *a;
  ts_error *err;
  const char *tableset_name;
  int skip_unsupported;
  int utf8; /* server_encoding is UTF8: octet_length <> char_length finds non-ASCII */
  size_t ntables, captables;
  ptable *tables;
  ts_buf report; /* what was published, printed after COMMIT only */
};

static void rep(pub *p, const char *fmt, ...) TS_PRINTF(2, 3);
static void rep(pub *p, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  (void)ts_buf_vprintf(&p->report, fmt, ap); /* a report cut short is still a report */
  va_end(ap);
}

static const char *dup(pub *p, const char *s)
{
  return s ? ts_arena_strdup(p->a, s) : NULL;
}

/* A published identifier for a PostgreSQL name (see the file comment). */
static const char *pub_ident(pub *p, const char *db)
{
  int regular = db[0] >= 'a' && db[0] <= 'z';
  for (const char *c = db; *c && regular; c++)
    regular = (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_';
  if (regular) {
    /* An ADQL keyword (SIZE, SELECT, ...) must be delimited too: ask the
     * parser itself. */
    char q[300];
    ts_arena *tmp = ts_arena_new(4096, 0);
    adql_query *aq;
    ts_error e;
    snprintf(q, sizeof q, "SELECT %s FROM %s", db, db);
    regular = strlen(db) < 128 && tmp && adql_parse(q, strlen(q), tmp, &aq, &e) == TS_OK;
    ts_arena_free(tmp);
  }
  if (regular)
    return dup(p, db);
  {
    size_t n = strlen(db), o = 0;
    char *d = ts_arena_alloc(p->a, 2 * n + 3);
    if (!d)
      return NULL;
    d[o++] = '"';
    for (size_t i = 0; i < n; i++) {
      d[o++] = db[i];
      if (db[i] == '"')
        d[o++] = '"';
    }
    d[o++] = '"';
    d[o] = '\0';
    return d;
  }
}

/* The PostgreSQL name of a published identifier (meta.c's rule). */
static const char *db_ident(pub *p, const char *s, size_t n)
{
  char *d = ts_arena_alloc(p->a, n + 1), *o = d;
  if (!d)
    return NULL;
  if (n >= 2 && s[0] == '"' && s[n - 1] == '"') {
    for (size_t i = 1; i + 1 < n; i++) {
      *o++ = s[i];
      if (s[i] == '"' && s[i + 1] == '"')
        i++;
    }
  } else {
    for (size_t i = 0; i < n; i++)
      *o++ = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] - 'A' + 'a') : s[i];
  }
  *o = '\0';
  return d;
}

/* Splits "schema.table" (either part may be delimited) at the dot that is
 * outside quotes; returns the offset of the dot or -1. */
static long split_qualified(const char *s)
{
  int inq = 0;
  for (const char *c = s; *c; c++) {
    if (*c == '"')
      inq = !inq;
    else if (*c == '.' && !inq)
      return c - s;
  }
  return -1;
}

/* ---- reading pg_catalog ---------------------------------------------------- */

static ptable *add_table(pub *p)
{
  if (p->ntables == p->captables) {
    size_t ncap = p->captables ? p->captables * 2 : 8;
    ptable *t = ts_arena_calloc(p->a, ncap, sizeof *t);
    if (!t)
      return NULL;
    if (p->ntables)
      memcpy(t, p->tables, p->ntables * sizeof *t);
    p->tables = t;
    p->captables = ncap;
  }
  memset(&p->tables[p->ntables], 0, sizeof *p->tables);
  return &p->tables[p->ntables++];
}

/* Adds db_schema.db_table (found in pg_class) to the publication; `what`
 * names the argument or element for the message when it does not exist. */
static ts_err find_table(pub *p, const char *db_schema, const char *db_table, const char *what,
                         ptable **out)
{
  const char *params[2] = {db_schema, db_table};
  PGresult *r;
  ptable *t;
  for (size_t i = 0; i < p->ntables; i++)
    if (!strcmp(p->tables[i].db_schema, db_schema) && !strcmp(p->tables[i].db_table, db_table)) {
      *out = &p->tables[i];
      return TS_OK;
    }
  r = sql(p->conn, PGRES_TUPLES_OK, p->err,
          "SELECT c.oid, c.relkind, obj_description(c.oid, 'pg_class'),"
          " obj_description(n.oid, 'pg_namespace')"
          " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
          " WHERE n.nspname = $1 AND c.relname = $2 AND c.relkind IN ('r','v','m','p','f')",
          2, params);
  if (!r)
    return TS_EDB;
  if (PQntuples(r) != 1) {
    PQclear(r);
    return ts_fail(p->err, TS_ENOTFOUND, 0, "%s: there is no table or view %s.%s in the database",
                   what, db_schema, db_table);
  }
  t = add_table(p);
  if (!t) {
    PQclear(r);
    return ts_fail(p->err, TS_ENOMEM, 0, "out of memory");
  }
  t->db_schema = dup(p, db_schema);
  t->db_table = dup(p, db_table);
  t->oid = dup(p, val(r, 0, 0));
  t->relkind = dup(p, val(r, 0, 1));
  t->description = dup(p, val(r, 0, 2));
  t->schema_comment = dup(p, val(r, 0, 3));
  t->type = (t->relkind[0] == 'v' || t->relkind[0] == 'm') ? "view" : "table";
  t->schema_name = pub_ident(p, db_schema);
  {
    const char *bare = pub_ident(p, db_table);
    t->table_name =
        bare && t->schema_name ? ts_arena_printf(p->a, "%s.%s", t->schema_name, bare) : NULL;
  }
  PQclear(r);
  if (!t->schema_name || !t->table_name || !t->db_schema || !t->oid)
    return ts_fail(p->err, TS_ENOMEM, 0, "out of memory");
  *out = t;
  return TS_OK;
}

/* Tables of schema.* in name order. */
static ts_err add_schema_tables(pub *p, const char *db_schema, const char *what)
{
  const char *params[1] = {db_schema};
  PGresult *r = sql(p->conn, PGRES_TUPLES_OK, p->err,
                    "SELECT c.relname FROM pg_class c JOIN pg_namespace n"
                    " ON n.oid = c.relnamespace WHERE n.nspname = $1"
                    " AND c.relkind IN ('r','v','m','p','f') AND NOT c.relispartition"
                    " ORDER BY c.relname",
                    1, params);
  ts_err rc = TS_OK;
  ptable *t;
  if (!r)
    return TS_EDB;
  if (PQntuples(r) == 0)
    rc = ts_fail(p->err, TS_ENOTFOUND, 0, "%s: schema %s has no tables", what, db_schema);
  for (int i = 0; i < PQntuples(r) && !rc; i++)
    rc = find_table(p, db_schema, PQgetvalue(r, i, 0), what, &t);
  PQclear(r);
  return rc;
}

/* 1 when the ',' or ' ' separated list `s` (an int2vector) contains n. */
static int in_intlist(const char *s, int n, int first_only)
{
  while (s && *s) {
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s)
      return 0;
    if (v == n)
      return 1;
    if (first_only)
      return 0;
    s = end;
    while (*s == ' ' || *s == ',')
      s++;
  }
  return 0;
}

/* Reads an identifier (plain or "quoted") at *s into out. */
static int read_ident(const char **s, char *out, size_t cap)
{
  const char *c = *s;
  size_t o = 0;
  if (*c == '"') {
    for (c++; *c; c++) {
      if (*c == '"') {
        if (c[1] != '"')
          break;
        c++;
      }
      if (o + 1 < cap)
        out[o++] = *c;
    }
    if (*c != '"')
      return 0;
    c++;
  } else {
    while ((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_' ||
           (unsigned char)*c >= 0x80) {
      if (o + 1 < cap)
        out[o++] = *c;
      c++;
    }
  }
  out[o] = '\0';
  *s = c;
  return o > 0;
}

/* Finds `pattern` (with % for an identifier, twice) in an index definition. */
static int match_pair(const char *def, const char *pattern, char *x, char *y, size_t cap)
{
  const char *pct = strchr(pattern, '%');
  size_t lead = (size_t)(pct - pattern);
  for (const char *s = strstr(def, "("); s && (s = strstr(s, "")) && *s; s++) {
    const char *c = s, *pp = pattern + lead + 1;
    int k = 0;
    if (strncmp(c, pattern, lead) != 0)
      continue;
    c += lead;
    if (!read_ident(&c, x, cap))
      continue;
    for (;;) {
      const char *next = strchr(pp, '%');
      size_t n = next ? (size_t)(next - pp) : strlen(pp);
      if (strncmp(c, pp, n) != 0)
        break;
      c += n;
      if (!next)
        return k == 1;
      if (!read_ident(&c, y, cap))
        break;
      k++;
      pp = next + 1;
    }
  }
  return 0;
}

static pcol *col_by_db(ptable *t, const char *db)
{
  for (size_t i = 0; i < t->ncols; i++)
    if (!strcmp(t->cols[i].db_name, db))
      return &t->cols[i];
  return NULL;
}

static int numeric_oid(uint32_t oid)
{
  return oid == 700 || oid == 701 || oid == 1700;
}

static void mark_position(ptable *t, pcol *ra, pcol *dec, int from_index)
{
  ra->pos = 1;
  dec->pos = 2;
  ra->indexed |= from_index;
  dec->indexed |= from_index;
}

/* Columns, primary key, indexes, positions. */
static ts_err read_columns(pub *p, ptable *t)
{
  const char *params[1] = {t->oid};
  PGresult *r = sql(p->conn, PGRES_TUPLES_OK, p->err,
                    "SELECT a.attnum, a.attname,"
                    " CASE WHEN ty.typtype = 'd' THEN ty.typbasetype ELSE a.atttypid END,"
                    " CASE WHEN ty.typtype = 'd' THEN ty.typtypmod ELSE a.atttypmod END,"
                    " a.attnotnull, col_description(a.attrelid, a.attnum),"
                    " format_type(a.atttypid, a.atttypmod)"
                    " FROM pg_attribute a JOIN pg_type ty ON ty.oid = a.atttypid"
                    " WHERE a.attrelid = $1 AND a.attnum > 0 AND NOT a.attisdropped"
                    " ORDER BY a.attnum",
                    1, params);
  ts_err rc = TS_OK;
  if (!r)
    return TS_EDB;
  t->ncols = (size_t)PQntuples(r);
  t->cols = ts_arena_calloc(p->a, t->ncols + 1, sizeof *t->cols);
  if (!t->cols) {
    PQclear(r);
    return ts_fail(p->err, TS_ENOMEM, 0, "out of memory");
  }
  for (size_t i = 0; i < t->ncols; i++) {
    pcol *c = &t->cols[i];
    stream_column sc;
    memset(&sc, 0, sizeof sc);
    c->attnum = atoi(PQgetvalue(r, (int)i, 0));
    c->db_name = dup(p, PQgetvalue(r, (int)i, 1));
    c->name = pub_ident(p, c->db_name);
    c->oid = (uint32_t)strtoul(PQgetvalue(r, (int)i, 2), NULL, 10);
    c->typmod = (int32_t)strtol(PQgetvalue(r, (int)i, 3), NULL, 10);
    c->notnull = PQgetvalue(r, (int)i, 4)[0] == 't';
    c->comment = dup(p, val(r, (int)i, 5));
    c->pgtype = dup(p, PQgetvalue(r, (int)i, 6));
    c->supported = stream_column_set_type(&sc, c->oid, c->typmod) == TS_OK;
    if (c->supported) {
      c->m_datatype = sc.datatype;
      c->m_arraysize = sc.arraysize;
      c->m_xtype = sc.xtype;
      c->textual = sc.kind == STREAM_TEXT && !sc.is_array;
      c->float8_array = sc.kind == STREAM_FLOAT8 && sc.is_array;
    }
    if (!c->db_name || !c->name || !c->pgtype)
      rc = ts_fail(p->err, TS_ENOMEM, 0, "out of memory");
  }
  PQclear(r);
  if (rc)
    return rc;

  /* Indexes: the primary key's columns, leading columns, positions. */
  r = sql(p->conn, PGRES_TUPLES_OK, p->err,
          "SELECT i.indisprimary, i.indkey::text, pg_get_indexdef(i.indexrelid)"
          " FROM pg_index i WHERE i.indrelid = $1 ORDER BY i.indisprimary DESC, i.indexrelid",
          1, params);
  if (!r)
    return TS_EDB;
  for (int k = 0; k < PQntuples(r); k++) {
    int primary = PQgetvalue(r, k, 0)[0] == 't';
    const char *keys = PQgetvalue(r, k, 1), *def = PQgetvalue(r, k, 2);
    char x[256], y[256];
    for (size_t i = 0; i < t->ncols; i++) {
      pcol *c = &t->cols[i];
      if (primary && in_intlist(keys, c->attnum, 0))
        c->pk = c->indexed = 1;
      else if (in_intlist(keys, c->attnum, 1))
        c->indexed = 1;
    }
    if (match_pair(def, "spoint(radians(%), radians(%))", x, y, sizeof x) ||
        match_pair(def, "q3c_ang2ipix(%, %)", x, y, sizeof x)) {
      pcol *ra = col_by_db(t, x), *dec = col_by_db(t, y);
      int have = 0;
      for (size_t i = 0; i < t->ncols; i++)
        have |= t->cols[i].pos;
      if (ra && dec && ra != dec && !have)
        mark_position(t, ra, dec, 1);
    }
  }
  PQclear(r);

  /* No position index: the usual names. */
  {
    static const char *const pairs[][2] = {{"ra", "dec"},
                                           {"raj2000", "dej2000"},
                                           {"raj2000", "decj2000"},
                                           {"ra_icrs", "de_icrs"},
                                           {"ra_icrs", "dec_icrs"}};
    int have = 0;
    for (size_t i = 0; i < t->ncols; i++)
      have |= t->cols[i].pos;
    for (size_t k = 0; k < TS_ARRAY_LEN(pairs) && !have; k++) {
      pcol *ra = NULL, *dec = NULL;
      for (size_t i = 0; i < t->ncols; i++) {
        if (ts_strcaseeq(t->cols[i].db_name, pairs[k][0]))
          ra = &t->cols[i];
        else if (ts_strcaseeq(t->cols[i].db_name, pairs[k][1]))
          dec = &t->cols[i];
      }
      if (ra && dec && numeric_oid(ra->oid) && numeric_oid(dec->oid)) {
        mark_position(t, ra, dec, 0);
        have = 1;
      }
    }
  }
  return TS_OK;
}

/* ---- deciding the rows ------------------------------------------------------ */

static int same_str(const char *a, const char *b)
{
  if (a && !*a)
    a = NULL;
  if (b && !*b)
    b = NULL;
  return (!a && !b) || (a && b && !strcmp(a, b));
}

/* Whether a declared VOTable type is what the column delivers through
 * /sync (tap_merge_column_meta): the mapped type itself, unicodeChar for
 * text, a DALI geometry for a double precision[]. Fills why when not. */
static int type_ok(const pcol *c, const char *dt, const char *as, const char *xt, char *why,
                   size_t cap)
{
  if (c->textual && (!strcmp(dt, "char") || !strcmp(dt, "unicodeChar")) &&
      same_str(as, c->m_arraysize) && same_str(xt, c->m_xtype))
    return 1;
  if (c->float8_array && !strcmp(dt, "double") && xt &&
      ((!strcmp(xt, "point") && same_str(as, "2")) ||
       (!strcmp(xt, "circle") && same_str(as, "3")) ||
       (!strcmp(xt, "polygon") && same_str(as, "*"))))
    return 1;
  if (!strcmp(dt, c->m_datatype) && same_str(as, c->m_arraysize) && same_str(xt, c->m_xtype))
    return 1;
  snprintf(why, cap,
           "declared %s%s%s%s%s%s, but its PostgreSQL type %s is delivered as %s%s%s%s%s%s", dt,
           as ? " arraysize=" : "", as ? as : "", xt ? " xtype=" : "", xt ? xt : "", "", c->pgtype,
           c->m_datatype, c->m_arraysize ? " arraysize=" : "", c->m_arraysize ? c->m_arraysize : "",
           c->m_xtype ? " xtype=" : "", c->m_xtype ? c->m_xtype : "",
           c->textual ? " (or unicodeChar)" : "");
  return 0;
}

/* 1 when a text column holds a non-ASCII character. In a UTF-8 database a
 * string has one byte per character exactly when it is ASCII, which is a
 * cheaper test than a regular expression (as text: char(n) would not count
 * its padding in char_length). */
static ts_err has_non_ascii(pub *p, const ptable *t, const pcol *c, int *out)
{
  char *qs = PQescapeIdentifier(p->conn, t->db_schema, strlen(t->db_schema));
  char *qt = PQescapeIdentifier(p->conn, t->db_table, strlen(t->db_table));
  char *qc = PQescapeIdentifier(p->conn, c->db_name, strlen(c->db_name));
  char *q = NULL;
  PGresult *r = NULL;
  ts_err rc = TS_OK;
  if (qs && qt && qc)
    q = p->utf8 ? ts_arena_printf(
                      p->a,
                      "SELECT 1 FROM %s.%s WHERE octet_length(%s::text) <> char_length(%s::text)"
                      " LIMIT 1",
                      qs, qt, qc, qc)
                : ts_arena_printf(p->a, "SELECT 1 FROM %s.%s WHERE %s ~ '[^[:ascii:]]' LIMIT 1", qs,
                                  qt, qc);
  if (!q)
    rc = ts_fail(p->err, TS_ENOMEM, 0, "out of memory");
  else if (!(r = sql(p->conn, PGRES_TUPLES_OK, p->err, q, 0, NULL)))
    rc = TS_EDB;
  else
    *out = PQntuples(r) > 0;
  PQclear(r);
  PQfreemem(qs);
  PQfreemem(qt);
  PQfreemem(qc);
  return rc;
}

/* char -> unicodeChar when the data needs it (also for a declared char). */
static ts_err settle_text(pub *p, const ptable *t, pcol *c)
{
  int non_ascii = 0;
  ts_err rc;
  if (!c->textual || strcmp(c->datatype, "char") != 0)
    return TS_OK;
  rc = has_non_ascii(p, t, c, &non_ascii);
  if (!rc && non_ascii) {
    c->datatype = "unicodeChar";
    c->note = "unicodeChar: the column holds non-ASCII text";
  }
  return rc;
}

/* What PostgreSQL and the guesses say (no tableset). */
static void guess_column(pcol *c, size_t position)
{
  c->datatype = c->m_datatype;
  c->arraysize = c->m_arraysize;
  c->xtype = c->m_xtype;
  c->description = c->comment;
  if (c->pos) {
    c->ucd = c->pos == 1 ? "pos.eq.ra;meta.main" : "pos.eq.dec;meta.main";
    c->unit = "deg";
  }
  c->principal = c->pk || c->pos || c->comment;
  c->index = (fmt_ts_int){1, (int)position};
}

/* Re-publishing without a tableset keeps what TAP_SCHEMA already says of a
 * column that is still there (descriptions, units, UCDs, utypes, flags and
 * order given before, by hand or by a tableset); types and `indexed` are
 * facts of the database and are read again. */
static ts_err merge_old(pub *p, ptable *t)
{
  const char *params[1] = {t->table_name};
  PGresult *r = sql(p->conn, PGRES_TUPLES_OK, p->err,
                    "SELECT description, utype, table_index FROM tap_schema.tables"
                    " WHERE table_name = $1",
                    1, params);
  if (!r)
    return TS_EDB;
  if (PQntuples(r) == 1) {
    if (val(r, 0, 0))
      t->description = dup(p, val(r, 0, 0));
    t->utype = dup(p, val(r, 0, 1));
    t->index = (fmt_ts_int){val(r, 0, 2) != NULL, val(r, 0, 2) ? atoi(val(r, 0, 2)) : 0};
  }
  PQclear(r);
  r = sql(p->conn, PGRES_TUPLES_OK, p->err,
          "SELECT column_name, description, utype, unit, ucd, principal, std, column_index,"
          " datatype, arraysize, xtype, \"size\" FROM tap_schema.columns WHERE table_name = $1",
          1, params);
  if (!r)
    return TS_EDB;
  for (int i = 0; i < PQntuples(r); i++) {
    char why[400];
    pcol *c = NULL;
    for (size_t j = 0; j < t->ncols && !c; j++)
      if (t->cols[j].publish && !strcmp(t->cols[j].name, PQgetvalue(r, i, 0)))
        c = &t->cols[j];
    if (!c)
      continue;
    c->description = dup(p, val(r, i, 1));
    c->utype = dup(p, val(r, i, 2));
    c->unit = dup(p, val(r, i, 3));
    c->ucd = dup(p, val(r, i, 4));
    c->principal = atoi(PQgetvalue(r, i, 5)) != 0;
    c->std = atoi(PQgetvalue(r, i, 6)) != 0;
    c->index = (fmt_ts_int){val(r, i, 7) != NULL, val(r, i, 7) ? atoi(val(r, i, 7)) : 0};
    c->size = (fmt_ts_int){val(r, i, 11) != NULL, val(r, i, 11) ? atoi(val(r, i, 11)) : 0};
    if (type_ok(c, PQgetvalue(r, i, 8), val(r, i, 9), val(r, i, 10), why, sizeof why)) {
      c->datatype = dup(p, PQgetvalue(r, i, 8));
      c->arraysize = dup(p, val(r, i, 9));
      c->xtype = dup(p, val(r, i, 10));
    }
  }
  PQclear(r);
  return TS_OK;
}

static ts_err unsupported(pub *p, const ptable *t, pcol *c, int line)
{
  if (p->skip_unsupported && !line) {
    c->publish = 0;
    c->note = "skipped: tapserve cannot stream this type";
    return TS_OK;
  }
  if (line)
    return ts_fail(p->err, TS_EINVAL, 0,
                   "%s:%d: <column> %s of %s: its PostgreSQL type %s is not one tapserve can "
                   "stream",
                   p->tableset_name, line, c->name, t->table_name, c->pgtype);
  return ts_fail(p->err, TS_EINVAL, 0,
                 "column %s of %s: its PostgreSQL type %s is not one tapserve can stream "
                 "(--skip-unsupported leaves such columns out)",
                 c->name, t->table_name, c->pgtype);
}

/* Without a tableset: every column, guessed, then what TAP_SCHEMA had. */
static ts_err decide_guessed(pub *p, ptable *t)
{
  size_t pos = 0;
  ts_err rc = TS_OK;
  for (size_t i = 0; i < t->ncols && !rc; i++) {
    pcol *c = &t->cols[i];
    c->publish = 1;
    if (!c->supported)
      rc = unsupported(p, t, c, 0);
    else
      guess_column(c, ++pos);
  }
  if (!rc)
    rc = merge_old(p, t);
  for (size_t i = 0; i < t->ncols && !rc; i++)
    if (t->cols[i].publish)
      rc = settle_text(p, t, &t->cols[i]);
  return rc;
}

/* With a tableset: its columns, as declared, checked against the database. */
static ts_err decide_tableset(pub *p, ptable *t)
{
  const fmt_ts_table *tt = t->tst;
  ts_err rc = TS_OK;
  t->description = tt->description;
  t->utype = tt->utype;
  t->type = tt->type ? tt->type : t->type;
  if (tt->has_meta)
    t->index = tt->index;
  else
    t->index = (fmt_ts_int){1, (int)t->ts_table_pos};
  for (size_t i = 0; i < tt->ncols && !rc; i++) {
    const fmt_ts_column *d = &tt->cols[i];
    const char *db = db_ident(p, d->name, strlen(d->name));
    pcol *c = db ? col_by_db(t, db) : NULL;
    char why[400];
    if (!c)
      return ts_fail(p->err, TS_EINVAL, 0,
                     "%s:%d: <column> %s: table %s has no such column in the database",
                     p->tableset_name, d->line, d->name, t->table_name);
    if (c->publish)
      return ts_fail(p->err, TS_EINVAL, 0, "%s:%d: <column> %s of %s is declared twice",
                     p->tableset_name, d->line, d->name, t->table_name);
    c->publish = 1;
    c->name = d->name;
    if (!c->supported)
      return unsupported(p, t, c, d->line);
    if (d->datatype && !type_ok(c, d->datatype, d->arraysize, d->xtype, why, sizeof why))
      return ts_fail(p->err, TS_EINVAL, 0, "%s:%d: <column> %s of %s: %s", p->tableset_name,
                     d->line, d->name, t->table_name, why);
    c->datatype = d->datatype ? d->datatype : c->m_datatype;
    c->arraysize = d->datatype ? d->arraysize : c->m_arraysize;
    c->xtype = d->datatype ? d->xtype : c->m_xtype;
    c->description = d->description;
    c->unit = d->unit;
    c->ucd = d->ucd;
    c->utype = d->utype;
    c->indexed = d->indexed;
    c->principal = d->principal;
    c->std = d->std;
    c->index = d->has_meta ? d->index : (fmt_ts_int){1, (int)i + 1};
    c->size = d->has_meta ? d->size : (fmt_ts_int){0, 0};
    rc = settle_text(p, t, c);
  }
  for (size_t i = 0; i < t->ncols; i++)
    if (!t->cols[i].publish)
      t->cols[i].note = "not in the tableset: not published";
  return rc;
}

static pkey *add_key(pub *p, ptable *t)
{
  if (t->nkeys == t->capkeys) {
    size_t ncap = t->capkeys ? t->capkeys * 2 : 4;
    pkey *k = ts_arena_calloc(p->a, ncap, sizeof *k);
    if (!k)
      return NULL;
    if (t->nkeys)
      memcpy(k, t->keys, t->nkeys * sizeof *k);
    t->keys = k;
    t->capkeys = ncap;
  }
  memset(&t->keys[t->nkeys], 0, sizeof *t->keys);
  return &t->keys[t->nkeys++];
}

static int same_key(const pkey *a, const pkey *b)
{
  if (strcmp(a->target_table, b->target_table) != 0 || a->n != b->n)
    return 0;
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->from[i], b->from[i]) != 0 || strcmp(a->target[i], b->target[i]) != 0)
      return 0;
  return 1;
}

/* key_id is varchar(64): long ids are cut and made unique by a hash. */
static const char *key_id_for(pub *p, const char *from_table, const char *name)
{
  char *id = ts_arena_printf(p->a, "%s.%s", from_table, name);
  if (id && strlen(id) > 64) {
    uint32_t h = 2166136261u;
    for (const char *c = id; *c; c++)
      h = (h ^ (unsigned char)*c) * 16777619u;
    snprintf(id + 55, 10, "~%08x", h);
  }
  return id;
}

/* The keys going out of a table read from TAP_SCHEMA (kept on
 * re-publication) or from the database's foreign key constraints. */
static ts_err old_keys(pub *p, ptable *t)
{
  const char *params[1] = {t->table_name};
  PGresult *r = sql(p->conn, PGRES_TUPLES_OK, p->err,
                    "SELECT k.key_id, k.target_table, k.description, k.utype, kc.from_column,"
                    " kc.target_column FROM tap_schema.keys k JOIN tap_schema.key_columns kc"
                    " ON kc.key_id = k.key_id WHERE k.from_table = $1"
                    " ORDER BY k.key_id, kc.from_column",
                    1, params);
  pkey *k = NULL;
  int oom = 0;
  if (!r)
    return TS_EDB;
  for (int i = 0; i < PQntuples(r) && !oom; i++) {
    if (!k || strcmp(k->key_id, PQgetvalue(r, i, 0)) != 0) {
      k = add_key(p, t);
      oom = !k;
      if (oom)
        break;
      k->key_id = dup(p, PQgetvalue(r, i, 0));
      k->target_table = dup(p, PQgetvalue(r, i, 1));
      k->description = dup(p, val(r, i, 2));
      k->utype = dup(p, val(r, i, 3));
      k->from = ts_arena_calloc(p->a, (size_t)PQntuples(r), sizeof *k->from);
      k->target = ts_arena_calloc(p->a, (size_t)PQntuples(r), sizeof *k->target);
      oom = !k->from || !k->target;
      if (oom)
        break;
    }
    k->from[k->n] = dup(p, PQgetvalue(r, i, 4));
    k->target[k->n++] = dup(p, PQgetvalue(r, i, 5));
  }
  PQclear(r);
  return oom ? ts_fail(p->err, TS_ENOMEM, 0, "out of memory") : TS_OK;
}

static ts_err pg_keys(pub *p, ptable *t)
{
  const char *params[1] = {t->oid};
  PGresult *r = sql(p->conn, PGRES_TUPLES_OK, p->err,
                    "SELECT c.conname, tn.nspname, tc.relname, fa.attname, ta.attname"
                    " FROM pg_constraint c"
                    " CROSS JOIN LATERAL unnest(c.conkey, c.confkey) WITH ORDINALITY AS k(f, t, i)"
                    " JOIN pg_class tc ON tc.oid = c.confrelid"
                    " JOIN pg_namespace tn ON tn.oid = tc.relnamespace"
                    " JOIN pg_attribute fa ON fa.attrelid = c.conrelid AND fa.attnum = k.f"
                    " JOIN pg_attribute ta ON ta.attrelid = c.confrelid AND ta.attnum = k.t"
                    " WHERE c.contype = 'f' AND c.conrelid = $1 ORDER BY c.conname, k.i",
                    1, params);
  size_t first = t->nkeys;
  pkey *k = NULL;
  const char *kname = NULL;
  if (!r)
    return TS_EDB;
  for (int i = 0; i < PQntuples(r); i++) {
    if (!k || strcmp(kname, PQgetvalue(r, i, 0)) != 0) {
      const char *ts = pub_ident(p, PQgetvalue(r, i, 1)), *tt = pub_ident(p, PQgetvalue(r, i, 2));
      k = add_key(p, t);
      if (!k || !ts || !tt)
        break;
      kname = PQgetvalue(r, i, 0);
      k->key_id = key_id_for(p, t->table_name, kname);
      k->target_table = ts_arena_printf(p->a, "%s.%s", ts, tt);
      k->from = ts_arena_calloc(p->a, (size_t)PQntuples(r), sizeof *k->from);
      k->target = ts_arena_calloc(p->a, (size_t)PQntuples(r), sizeof *k->target);
      if (!k->from || !k->target)
        break;
    }
    k->from[k->n] = pub_ident(p, PQgetvalue(r, i, 3));
    k->target[k->n++] = pub_ident(p, PQgetvalue(r, i, 4));
  }
  PQclear(r);
  /* A constraint already described in TAP_SCHEMA keeps its row. */
  for (size_t i = first; i < t->nkeys;) {
    int dupkey = 0;
    for (size_t j = 0; j < first && !dupkey; j++)
      dupkey = same_key(&t->keys[i], &t->keys[j]);
    if (dupkey) {
      memmove(&t->keys[i], &t->keys[i + 1], (t->nkeys - i - 1) * sizeof *t->keys);
      t->nkeys--;
    } else {
      i++;
    }
  }
  return TS_OK;
}

static ts_err tableset_keys(pub *p, ptable *t)
{
  /* Ids the keys had, for keys the file gives without one. */
  ts_err rc = old_keys(p, t);
  size_t nold = t->nkeys;
  for (size_t i = 0; i < t->tst->nkeys && !rc; i++) {
    const fmt_ts_key *d = &t->tst->keys[i];
    pkey *k = add_key(p, t);
    if (!k)
      return ts_fail(p->err, TS_ENOMEM, 0, "out of memory");
    k->key_id = d->key_id;
    k->target_table = d->target_table;
    k->description = d->description;
    k->utype = d->utype;
    k->line = d->line;
    k->n = d->ncols;
    k->from = ts_arena_calloc(p->a, d->ncols + 1, sizeof *k->from);
    k->target = ts_arena_calloc(p->a, d->ncols + 1, sizeof *k->target);
    if (!k->from || !k->target)
      return ts_fail(p->err, TS_ENOMEM, 0, "out of memory");
    for (size_t j = 0; j < d->ncols; j++) {
      k->from[j] = d->cols[j].from;
      k->target[j] = d->cols[j].target;
    }
    for (size_t j = 0; j < nold && !k->key_id; j++)
      if (same_key(k, &t->keys[j]))
        k->key_id = t->keys[j].key_id;
    if (!k->key_id) {
      char name[40];
      snprintf(name, sizeof name, "fk%zu", i + 1);
      k->key_id = key_id_for(p, t->table_name, name);
    }
  }
  if (!rc) { /* the file's keys replace the old ones */
    memmove(t->keys, t->keys + nold, (t->nkeys - nold) * sizeof *t->keys);
    t->nkeys -= nold;
  }
  return rc;
}

/* ---- writing TAP_SCHEMA ----------------------------------------------------- */

static const char *int_text(pub *p, fmt_ts_int v)
{
  return v.set ? ts_arena_printf(p->a, "%d", v.v) : NULL;
}

static ts_err write_schema(pub *p, ptable *t)
{
  const fmt_ts_schema *s = t->tss;
  if (s) {
    fmt_ts_int idx = s->has_meta ? s->index : (fmt_ts_int){1, (int)t->ts_schema_pos};
    const char *params[4] = {t->schema_name, s->utype, s->description, int_text(p, idx)};
    return exec0(p->conn, p->err,
                 "INSERT INTO tap_schema.schemas (schema_name, utype, description, schema_index)"
                 " VALUES ($1, $2, $3, $4) ON CONFLICT (schema_name) DO UPDATE"
                 " SET utype = EXCLUDED.utype, description = EXCLUDED.description,"
                 " schema_index = EXCLUDED.schema_index",
                 4, params);
  }
  {
    const char *params[2] = {t->schema_name, t->schema_comment};
    return exec0(p->conn, p->err,
                 "INSERT INTO tap_schema.schemas (schema_name, description) VALUES ($1, $2)"
                 " ON CONFLICT (schema_name) DO NOTHING",
                 2, params);
  }
}

static ts_err write_table(pub *p, ptable *t)
{
  const char *tn[1] = {t->table_name};
  ts_err rc;
  if (!t->index.set) { /* a new table goes last in its schema */
    const char *sp[1] = {t->schema_name};
    PGresult *r = sql(p->conn, PGRES_TUPLES_OK, p->err,
                      "SELECT coalesce(max(table_index), 0) + 1 FROM tap_schema.tables"
                      " WHERE schema_name = $1",
                      1, sp);
    if (!r)
      return TS_EDB;
    t->index = (fmt_ts_int){1, atoi(PQgetvalue(r, 0, 0))};
    PQclear(r);
  }
  rc = write_schema(p, t);
  /* Columns and the keys going out are replaced; the table row is updated
   * in place, so keys of other tables pointing here stay. */
  if (!rc)
    rc = exec0(p->conn, p->err, "DELETE FROM tap_schema.columns WHERE table_name = $1", 1, tn);
  if (!rc)
    rc = exec0(p->conn, p->err, "DELETE FROM tap_schema.keys WHERE from_table = $1", 1, tn);
  if (!rc) {
    const char *params[6] = {t->schema_name, t->table_name,  t->type,
                             t->utype,       t->description, int_text(p, t->index)};
    rc = exec0(p->conn, p->err,
               "INSERT INTO tap_schema.tables (schema_name, table_name, table_type, utype,"
               " description, table_index) VALUES ($1, $2, $3, $4, $5, $6)"
               " ON CONFLICT (table_name) DO UPDATE SET schema_name = EXCLUDED.schema_name,"
               " table_type = EXCLUDED.table_type, utype = EXCLUDED.utype,"
               " description = EXCLUDED.description, table_index = EXCLUDED.table_index",
               6, params);
  }
  for (size_t i = 0; i < t->ncols && !rc; i++) {
    const pcol *c = &t->cols[i];
    const char *params[14];
    if (!c->publish)
      continue;
    params[0] = t->table_name;
    params[1] = c->name;
    params[2] = c->datatype;
    params[3] = c->arraysize;
    params[4] = c->xtype;
    params[5] = int_text(p, c->size);
    params[6] = c->description;
    params[7] = c->utype;
    params[8] = c->unit;
    params[9] = c->ucd;
    params[10] = c->indexed ? "1" : "0";
    params[11] = c->principal ? "1" : "0";
    params[12] = c->std ? "1" : "0";
    params[13] = int_text(p, c->index);
    rc = exec0(p->conn, p->err,
               "INSERT INTO tap_schema.columns (table_name, column_name, datatype, arraysize,"
               " xtype, \"size\", description, utype, unit, ucd, indexed, principal, std,"
               " column_index) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13,"
               " $14)",
               14, params);
  }
  return rc;
}

/* 1 when `table` has the published column `col` (after this transaction's
 * writes). */
static ts_err published_column(pub *p, const char *table, const char *col, int *yes)
{
  const char *params[2] = {table, col};
  PGresult *r =
      sql(p->conn, PGRES_TUPLES_OK, p->err,
          "SELECT 1 FROM tap_schema.columns WHERE table_name = $1 AND column_name = $2", 2, params);
  if (!r)
    return TS_EDB;
  *yes = PQntuples(r) > 0;
  PQclear(r);
  return TS_OK;
}

static ts_err key_fail(pub *p, const ptable *t, const pkey *k, const char *fmt, const char *a)
{
  char what[300];
  snprintf(what, sizeof what, fmt, a);
  if (k->line)
    return ts_fail(p->err, TS_EINVAL, 0, "%s:%d: <foreignKey> of %s: %s", p->tableset_name, k->line,
                   t->table_name, what);
  return ts_fail(p->err, TS_EINVAL, 0, "foreign key %s of %s: %s", k->key_id, t->table_name, what);
}

/* Keys after every table is written, since they may point at each other.
 * A key from the database whose target is not published is left out (and
 * said so); one from a tableset is an error. */
static ts_err write_keys(pub *p, ptable *t)
{
  ts_err rc = TS_OK;
  for (size_t i = 0; i < t->nkeys && !rc; i++) {
    const pkey *k = &t->keys[i];
    int ok = 1;
    const char *tp[1] = {k->target_table};
    PGresult *r = sql(p->conn, PGRES_TUPLES_OK, p->err,
                      "SELECT 1 FROM tap_schema.tables WHERE table_name = $1", 1, tp);
    if (!r)
      return TS_EDB;
    ok = PQntuples(r) > 0;
    PQclear(r);
    if (!ok && k->line)
      return key_fail(p, t, k, "target table %s is not published", k->target_table);
    for (size_t j = 0; j < k->n && ok && !rc; j++) {
      rc = published_column(p, t->table_name, k->from[j], &ok);
      if (!rc && !ok && k->line)
        return key_fail(p, t, k, "<fromColumn> %s is not a published column", k->from[j]);
      if (!rc && ok)
        rc = published_column(p, k->target_table, k->target[j], &ok);
      if (!rc && !ok && k->line)
        return key_fail(p, t, k, "<targetColumn> %s is not a published column", k->target[j]);
    }
    if (rc)
      return rc;
    if (!ok) {
      rep(p, "  foreign key %s -> %s left out: its target is not published\n", k->key_id,
          k->target_table);
      continue;
    }
    {
      const char *params[5] = {k->key_id, t->table_name, k->target_table, k->utype, k->description};
      rc = exec0(p->conn, p->err,
                 "INSERT INTO tap_schema.keys (key_id, from_table, target_table, utype,"
                 " description) VALUES ($1, $2, $3, $4, $5)",
                 5, params);
    }
    for (size_t j = 0; j < k->n && !rc; j++) {
      const char *params[3] = {k->key_id, k->from[j], k->target[j]};
      rc = exec0(p->conn, p->err,
                 "INSERT INTO tap_schema.key_columns (key_id, from_column, target_column)"
                 " VALUES ($1, $2, $3)",
                 3, params);
    }
    if (!rc)
      rep(p, "  foreign key %s -> %s\n", k->key_id, k->target_table);
  }
  return rc;
}

/* Keys of other tables that point at a column this publication removed
 * would make TAP_SCHEMA inconsistent: they go, and the output says so. */
static ts_err drop_dangling_keys(pub *p, const ptable *t)
{
  const char *params[1] = {t->table_name};
  PGresult *r = sql(p->conn, PGRES_TUPLES_OK, p->err,
                    "DELETE FROM tap_schema.keys k WHERE k.target_table = $1 AND EXISTS ("
                    " SELECT 1 FROM tap_schema.key_columns kc WHERE kc.key_id = k.key_id"
                    " AND NOT EXISTS (SELECT 1 FROM tap_schema.columns c"
                    " WHERE c.table_name = k.target_table AND c.column_name = kc.target_column))"
                    " RETURNING k.key_id",
                    1, params);
  if (!r)
    return TS_EDB;
  for (int i = 0; i < PQntuples(r); i++)
    rep(p, "  foreign key %s removed: it pointed at a column no longer published\n",
        PQgetvalue(r, i, 0));
  PQclear(r);
  return TS_OK;
}

static ts_err grant(pub *p, const ptable *t, const char *role)
{
  char *qr = PQescapeIdentifier(p->conn, role, strlen(role));
  char *qs = PQescapeIdentifier(p->conn, t->db_schema, strlen(t->db_schema));
  char *qt = PQescapeIdentifier(p->conn, t->db_table, strlen(t->db_table));
  char *q = qr && qs && qt ? ts_arena_printf(p->a,
                                             "GRANT USAGE ON SCHEMA %s TO %s;"
                                             " GRANT SELECT ON %s.%s TO %s;"
                                             " GRANT USAGE ON SCHEMA tap_schema TO %s;"
                                             " GRANT SELECT ON ALL TABLES IN SCHEMA tap_schema"
                                             " TO %s",
                                             qs, qr, qs, qt, qr, qr, qr)
                           : NULL;
  ts_err rc = q ? TS_OK : ts_fail(p->err, TS_ENOMEM, 0, "out of memory");
  PQfreemem(qr);
  PQfreemem(qs);
  PQfreemem(qt);
  if (!rc) {
    PGresult *r = PQexec(p->conn, q); /* several statements: simple protocol */
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
      const char *msg = PQresultErrorMessage(r);
      rc = ts_fail(p->err, TS_EDB, 0, "granting SELECT on %s to %s: %.*s", t->table_name, role,
                   (int)strcspn(msg, "\n"), msg);
    }
    PQclear(r);
  }
  return rc;
}

/* ---- printing ------------------------------------------------------------------ */

static void print_table(pub *p, const ptable *t)
{
  size_t n = 0;
  for (size_t i = 0; i < t->ncols; i++)
    n += t->cols[i].publish;
  rep(p, "published %s (%s, %zu column%s)%s\n", t->table_name, t->type, n, n == 1 ? "" : "s",
      t->tst ? " from the tableset" : "");
  for (size_t i = 0; i < t->ncols; i++) {
    const pcol *c = &t->cols[i];
    char type[80];
    if (!c->publish) {
      rep(p, "  %-24s %-22s %s\n", c->name, c->pgtype, c->note ? c->note : "not published");
      continue;
    }
    snprintf(type, sizeof type, "%s%s%s%s", c->datatype, c->arraysize ? "[" : "",
             c->arraysize ? c->arraysize : "", c->arraysize ? "]" : "");
    rep(p, "  %-24s %-22s %-16s%s%s%s%s%s%s%s%s%s%s\n", c->name, c->pgtype, type,
        c->xtype ? " xtype=" : "", c->xtype ? c->xtype : "", c->unit ? " unit=" : "",
        c->unit ? c->unit : "", c->ucd ? " ucd=" : "", c->ucd ? c->ucd : "",
        c->indexed ? " indexed" : "", c->principal ? " principal" : "", c->note ? " -- " : "",
        c->note ? c->note : "");
  }
}

/* ---- the command ------------------------------------------------------------------ */

static void publish_usage(FILE *f)
{
  fputs(
      "usage: tapserve publish (-c FILE | --dsn CONNINFO) [OPTIONS] [schema.table | schema.*]...\n"
      "\n"
      "Publishes tables that exist in PostgreSQL: writes their TAP_SCHEMA rows\n"
      "(columns, types, flags, foreign keys) in one transaction and grants SELECT\n"
      "to the query role. See docs/publishing.md.\n"
      "\n"
      "  -c FILE            the serve configuration ([database] dsn, query_dsn)\n"
      "  --dsn CONNINFO     connect with this libpq connection string instead\n"
      "  --tableset FILE    VODataService tableset: descriptions, units, UCDs, utypes,\n"
      "                     flags and foreign keys of the tables it lists\n"
      "  --grant ROLE       grant SELECT to ROLE (default: the user of query_dsn)\n"
      "  --skip-unsupported leave out columns of types tapserve cannot stream\n"
      "                     (default: refuse the table)\n",
      f);
}

/* The query role: --grant, else the user of query_dsn (NULL: none). */
static const char *query_role(pub *p, const cmd_db *o, const char *grant_role)
{
  PQconninfoOption *opts;
  const char *role = NULL;
  if (grant_role)
    return grant_role;
  if (!o->have_cfg || !o->cfg.query_dsn || !o->cfg.query_dsn[0])
    return NULL;
  opts = PQconninfoParse(o->cfg.query_dsn, NULL);
  for (PQconninfoOption *i = opts; i && i->keyword; i++)
    if (!strcmp(i->keyword, "user") && i->val && i->val[0])
      role = dup(p, i->val);
  PQconninfoFree(opts);
  return role;
}

/* Reads a whole tableset file, refusing one over the cap before reading. */
static ts_err load_tableset(const char *path, fmt_tableset **out, ts_error *err)
{
  FILE *f = fopen(path, "rb");
  struct stat st;
  char *buf = NULL;
  size_t n = 0;
  ts_err rc;
  if (!f)
    return ts_fail(err, TS_EIO, 0, "%s: %s", path, strerror(errno));
  if (fstat(fileno(f), &st) == 0 && S_ISREG(st.st_mode) && (size_t)st.st_size > FMT_TABLESET_MAX) {
    fclose(f);
    return ts_fail(err, TS_ELIMIT, 0,
                   "%s: %lld bytes is larger than the %zu MiB a tableset may have; nothing "
                   "was read",
                   path, (long long)st.st_size, FMT_TABLESET_MAX >> 20);
  }
  buf = malloc(FMT_TABLESET_MAX + 1);
  if (!buf) {
    fclose(f);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  n = fread(buf, 1, FMT_TABLESET_MAX + 1, f);
  if (ferror(f))
    rc = ts_fail(err, TS_EIO, 0, "%s: %s", path, strerror(errno));
  else
    rc = fmt_tableset_read(buf, n, path, out, err); /* a pipe over the cap fails here */
  fclose(f);
  free(buf);
  return rc;
}

static ts_err add_target(pub *p, const char *arg)
{
  long dot = split_qualified(arg);
  const char *s, *tb;
  ptable *t;
  if (dot <= 0 || !arg[dot + 1])
    return ts_fail(p->err, TS_EINVAL, 0, "%s: expected schema.table or schema.*", arg);
  s = db_ident(p, arg, (size_t)dot);
  if (!strcmp(arg + dot + 1, "*"))
    return add_schema_tables(p, s, arg);
  tb = db_ident(p, arg + dot + 1, strlen(arg + dot + 1));
  /* A plain name is tried as typed first, then folded to lower case. */
  if (arg[0] != '"' && arg[dot + 1] != '"') {
    const char *exact_s = ts_arena_strndup(p->a, arg, (size_t)dot);
    ts_error quiet;
    pub tmp = *p;
    tmp.err = &quiet;
    if (find_table(&tmp, exact_s, arg + dot + 1, arg, &t) == TS_OK) {
      p->tables = tmp.tables, p->ntables = tmp.ntables, p->captables = tmp.captables;
      return TS_OK;
    }
  }
  return find_table(p, s, tb, arg, &t);
}

static ts_err add_tableset_tables(pub *p, const fmt_tableset *ts)
{
  ts_err rc = TS_OK;
  for (size_t s = 0; s < ts->nschemas && !rc; s++) {
    const fmt_ts_schema *sc = &ts->schemas[s];
    if (ts_strcaseeq(sc->name, "TAP_SCHEMA"))
      return ts_fail(p->err, TS_EINVAL, 0,
                     "%s:%d: <schema> TAP_SCHEMA is tapserve's own; it cannot be published",
                     p->tableset_name, sc->line);
    for (size_t i = 0; i < sc->ntables && !rc; i++) {
      const fmt_ts_table *tt = &sc->tables[i];
      long dot = split_qualified(tt->name);
      const char *qual = tt->name;
      ptable *t;
      char what[300];
      if (dot < 0) /* an unqualified name belongs to its <schema> */
        qual = ts_arena_printf(p->a, "%s.%s", sc->name, tt->name);
      dot = split_qualified(qual);
      if (!qual || dot <= 0 || strncmp(qual, sc->name, (size_t)dot) != 0 ||
          strlen(sc->name) != (size_t)dot)
        return ts_fail(p->err, TS_EINVAL, 0, "%s:%d: <table> %s is not in its <schema> %s",
                       p->tableset_name, tt->line, tt->name, sc->name);
      snprintf(what, sizeof what, "%s:%d: <table> %s", p->tableset_name, tt->line, tt->name);
      rc = find_table(p, db_ident(p, qual, (size_t)dot),
                      db_ident(p, qual + dot + 1, strlen(qual + dot + 1)), what, &t);
      if (rc)
        return rc;
      if (t->tst)
        return ts_fail(p->err, TS_EINVAL, 0, "%s:%d: <table> %s is declared twice",
                       p->tableset_name, tt->line, tt->name);
      t->tss = sc;
      t->tst = tt;
      t->ts_schema_pos = s + 1;
      t->ts_table_pos = i + 1;
      t->schema_name = sc->name;
      t->table_name = qual;
    }
  }
  return rc;
}

static ts_err run_publish(pub *p, const char *role)
{
  ts_err rc = TS_OK;
  PGresult *r = sql(p->conn, PGRES_TUPLES_OK, p->err, "SHOW server_encoding", 0, NULL);
  if (!r)
    return TS_EDB;
  p->utf8 = !strcmp(PQgetvalue(r, 0, 0), "UTF8");
  PQclear(r);
  for (size_t i = 0; i < p->ntables && !rc; i++) {
    ptable *t = &p->tables[i];
    rc = read_columns(p, t);
    if (!rc)
      rc = t->tst ? decide_tableset(p, t) : decide_guessed(p, t);
    if (!rc)
      rc = t->tst ? tableset_keys(p, t) : old_keys(p, t);
    if (!rc && !t->tst)
      rc = pg_keys(p, t);
    if (!rc)
      rc = write_table(p, t);
  }
  for (size_t i = 0; i < p->ntables && !rc; i++) {
    print_table(p, &p->tables[i]);
    rc = write_keys(p, &p->tables[i]);
    if (!rc)
      rc = drop_dangling_keys(p, &p->tables[i]);
  }
  for (size_t i = 0; i < p->ntables && !rc && role; i++)
    rc = grant(p, &p->tables[i], role);
  return rc;
}

int cmd_publish(int argc, char **argv)
{
  static const char *prog = "tapserve publish";
  cmd_db o;
  const char *tableset = NULL, *grant_role = NULL, *role;
  fmt_tableset *ts = NULL;
  PGconn *conn = NULL;
  pub p;
  ts_error err;
  ts_err rc = TS_OK;
  int status = 1, ntargets = 0;

  memset(&o, 0, sizeof o);
  memset(&p, 0, sizeof p);
  ts_buf_init(&p.report, 64 << 20);
  ts_error_clear(&err);
  for (int i = 1; i < argc; i++) {
    if (cmd_db_option(argc, argv, &i, &o))
      continue;
    if (!strcmp(argv[i], "--tableset") && i + 1 < argc)
      tableset = argv[++i];
    else if (!strcmp(argv[i], "--grant") && i + 1 < argc)
      grant_role = argv[++i];
    else if (!strcmp(argv[i], "--skip-unsupported"))
      p.skip_unsupported = 1;
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      publish_usage(stdout);
      return 0;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "%s: unexpected option %s (try --help)\n", prog, argv[i]);
      return 2;
    } else
      ntargets++;
  }
  if (!ntargets && !tableset) {
    fprintf(stderr,
            "%s: name the tables to publish (schema.table or schema.*) or give "
            "--tableset FILE\n",
            prog);
    return 2;
  }
  if (tableset && load_tableset(tableset, &ts, &err)) {
    fprintf(stderr, "%s: %s\n%s: nothing was published (TAP_SCHEMA is unchanged)\n", prog, err.msg,
            prog);
    return 1;
  }
  conn = cmd_db_connect(prog, &o);
  p.a = ts_arena_new(64 * 1024, 0);
  if (!conn || !p.a)
    goto out;
  p.conn = conn;
  p.err = &err;
  p.tableset_name = tableset;
  role = query_role(&p, &o, grant_role);
  rc = meta_ensure_tap_schema(conn, &err);
  if (!rc)
    rc = exec0(conn, &err, "BEGIN", 0, NULL);
  if (rc)
    goto fail;
  /* Publishers queue behind each other; readers see the old rows until
   * COMMIT. */
  {
    PGresult *r = sql(conn, PGRES_TUPLES_OK, &err,
                      "SELECT pg_advisory_xact_lock(hashtext('tapserve.publish'))", 0, NULL);
    rc = r ? TS_OK : TS_EDB;
    PQclear(r);
  }
  if (!rc && ts)
    rc = add_tableset_tables(&p, ts);
  for (int i = 1; i < argc && !rc; i++) {
    if (argv[i][0] == '-') {
      if (strcmp(argv[i], "--skip-unsupported") != 0)
        i++; /* an option with a value */
      continue;
    }
    rc = add_target(&p, argv[i]);
  }
  if (!rc)
    rc = run_publish(&p, role);
  if (!rc)
    rc = exec0(conn, &err, "COMMIT", 0, NULL);
  if (rc)
    goto fail;
  fwrite(p.report.data ? p.report.data : "", 1, p.report.len, stdout);
  if (role)
    printf("granted SELECT on %zu table%s to %s\n", p.ntables, p.ntables == 1 ? "" : "s", role);
  else
    printf("no query role: nothing was granted (the configuration has no query_dsn user; "
           "use --grant ROLE)\n");
  status = 0;
  goto out;
fail:
  PQclear(PQexec(conn, "ROLLBACK"));
  fprintf(stderr, "%s: %s\n%s: nothing was published (TAP_SCHEMA is unchanged)\n", prog, err.msg,
          prog);
out:
  if (conn)
    PQfinish(conn);
  ts_arena_free(p.a);
  ts_buf_free(&p.report);
  fmt_tableset_free(ts);
  cmd_db_free(&o);
  return status;
}

/* ---- unpublish ------------------------------------------------------------------- */

static void unpublish_usage(FILE *f)
{
  fputs("usage: tapserve unpublish (-c FILE | --dsn CONNINFO) [--revoke] [--grant ROLE]\n"
        "                          schema.table | schema.* ...\n"
        "\n"
        "Removes published tables from TAP_SCHEMA (their columns, and foreign keys\n"
        "from or to them) in one transaction; a schema left without tables goes too.\n"
        "The data stays. --revoke also revokes SELECT from the query role (the user\n"
        "of query_dsn, or ROLE).\n",
        f);
}

static ts_err unpublish_one(pub *p, const char *arg, const char *role)
{
  long dot = split_qualified(arg);
  PGresult *r;
  ts_err rc = TS_OK;
  if (dot <= 0 || !arg[dot + 1])
    return ts_fail(p->err, TS_EINVAL, 0, "%s: expected schema.table or schema.*", arg);
  {
    const char *schema = ts_arena_strndup(p->a, arg, (size_t)dot);
    const char *params[1] = {!strcmp(arg + dot + 1, "*") ? schema : arg};
    r = sql(p->conn, PGRES_TUPLES_OK, p->err,
            !strcmp(arg + dot + 1, "*")
                ? "SELECT table_name, schema_name FROM tap_schema.tables"
                  " WHERE lower(schema_name) = lower($1) AND schema_name <> 'TAP_SCHEMA'"
                : "SELECT table_name, schema_name FROM tap_schema.tables"
                  " WHERE lower(table_name) = lower($1) AND schema_name <> 'TAP_SCHEMA'",
            1, params);
  }
  if (!r)
    return TS_EDB;
  if (PQntuples(r) == 0) {
    PQclear(r);
    return ts_fail(p->err, TS_ENOTFOUND, 0, "%s is not published", arg);
  }
  for (int i = 0; i < PQntuples(r) && !rc; i++) {
    const char *params[2] = {PQgetvalue(r, i, 0), PQgetvalue(r, i, 1)};
    /* columns and keys from or to the table go by ON DELETE CASCADE */
    rc = exec0(p->conn, p->err, "DELETE FROM tap_schema.tables WHERE table_name = $1", 1, params);
    if (!rc)
      rc = exec0(p->conn, p->err,
                 "DELETE FROM tap_schema.schemas s WHERE s.schema_name = $1"
                 " AND NOT EXISTS (SELECT 1 FROM tap_schema.tables t"
                 " WHERE t.schema_name = s.schema_name)",
                 1, params + 1);
    if (!rc && role) {
      long d = split_qualified(params[0]);
      const char *s = d > 0 ? db_ident(p, params[0], (size_t)d) : NULL;
      const char *tb = d > 0 ? db_ident(p, params[0] + d + 1, strlen(params[0] + d + 1)) : NULL;
      char *qs = s ? PQescapeIdentifier(p->conn, s, strlen(s)) : NULL;
      char *qt = tb ? PQescapeIdentifier(p->conn, tb, strlen(tb)) : NULL;
      char *qr = PQescapeIdentifier(p->conn, role, strlen(role));
      char *q = qs && qt && qr ? ts_arena_printf(p->a, "REVOKE SELECT ON %s.%s FROM %s", qs, qt, qr)
                               : NULL;
      rc = q ? exec0(p->conn, p->err, q, 0, NULL) : ts_fail(p->err, TS_ENOMEM, 0, "out of memory");
      PQfreemem(qs);
      PQfreemem(qt);
      PQfreemem(qr);
    }
    if (!rc)
      printf("unpublished %s%s%s\n", params[0], role ? "; revoked SELECT from " : "",
             role ? role : "");
  }
  PQclear(r);
  return rc;
}

int cmd_unpublish(int argc, char **argv)
{
  static const char *prog = "tapserve unpublish";
  cmd_db o;
  const char *grant_role = NULL, *role = NULL;
  int revoke = 0, ntargets = 0, status = 1;
  PGconn *conn = NULL;
  pub p;
  ts_error err;
  ts_err rc = TS_OK;

  memset(&o, 0, sizeof o);
  memset(&p, 0, sizeof p);
  ts_error_clear(&err);
  for (int i = 1; i < argc; i++) {
    if (cmd_db_option(argc, argv, &i, &o))
      continue;
    if (!strcmp(argv[i], "--revoke"))
      revoke = 1;
    else if (!strcmp(argv[i], "--grant") && i + 1 < argc)
      grant_role = argv[++i];
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      unpublish_usage(stdout);
      return 0;
    } else if (argv[i][0] == '-') {
      fprintf(stderr, "%s: unexpected option %s (try --help)\n", prog, argv[i]);
      return 2;
    } else
      ntargets++;
  }
  if (!ntargets) {
    fprintf(stderr, "%s: name the tables to unpublish (schema.table or schema.*)\n", prog);
    return 2;
  }
  conn = cmd_db_connect(prog, &o);
  p.a = ts_arena_new(16 * 1024, 0);
  if (!conn || !p.a)
    goto out;
  p.conn = conn;
  p.err = &err;
  if (revoke) {
    role = query_role(&p, &o, grant_role);
    if (!role) {
      fprintf(stderr,
              "%s: --revoke needs a query role: query_dsn with a user in the "
              "configuration, or --grant ROLE\n",
              prog);
      goto out;
    }
  }
  rc = meta_ensure_tap_schema(conn, &err);
  if (!rc)
    rc = exec0(conn, &err, "BEGIN", 0, NULL);
  for (int i = 1; i < argc && !rc; i++) {
    if (argv[i][0] == '-') {
      if (!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config") || !strcmp(argv[i], "--dsn") ||
          !strcmp(argv[i], "--grant"))
        i++;
      continue;
    }
    rc = unpublish_one(&p, argv[i], role);
  }
  if (!rc)
    rc = exec0(conn, &err, "COMMIT", 0, NULL);
  if (rc) {
    PQclear(PQexec(conn, "ROLLBACK"));
    fprintf(stderr, "%s: %s\n%s: nothing was unpublished (TAP_SCHEMA is unchanged)\n", prog,
            err.msg, prog);
    goto out;
  }
  status = 0;
out:
  if (conn)
    PQfinish(conn);
  ts_arena_free(p.a);
  cmd_db_free(&o);
  return status;
}
