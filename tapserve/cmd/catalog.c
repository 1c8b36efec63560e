/* tapserve/cmd/catalog.c: what PostgreSQL knows about the tables being
 * published (pg_catalog: types, NOT NULL, primary key, indexes, foreign
 * keys, comments) and the TAP_SCHEMA rows decided from it: the type
 * mapping of the streaming pipeline, the guesses, what TAP_SCHEMA already
 * had, or what a tableset declares (docs/publishing.md).
 *
 * Published names: a PostgreSQL name that is a regular ADQL identifier in
 * lower case is published as it is; any other is published delimited
 * ("Mixed Case"), which meta.c maps back to the exact PostgreSQL name. */
#include "tapserve/cmd/publish_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *pub__dup(pub *p, const char *s)
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
    return pub__dup(p, db);
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

/* Splits "schema.table" (either part may be delimited) at the dot that is
 * outside quotes; returns the offset of the dot or -1. */
long pub__split_qualified(const char *s)
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
ts_err pub__find_table(pub *p, const char *db_schema, const char *db_table, const char *what,
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
  r = cmd__sql(p->conn, PGRES_TUPLES_OK, p->err,
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
  t->db_schema = pub__dup(p, db_schema);
  t->db_table = pub__dup(p, db_table);
  t->oid = pub__dup(p, cmd__val(r, 0, 0));
  t->relkind = pub__dup(p, cmd__val(r, 0, 1));
  t->description = pub__dup(p, cmd__val(r, 0, 2));
  t->schema_comment = pub__dup(p, cmd__val(r, 0, 3));
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
ts_err pub__add_schema_tables(pub *p, const char *db_schema, const char *what)
{
  const char *params[1] = {db_schema};
  PGresult *r = cmd__sql(p->conn, PGRES_TUPLES_OK, p->err,
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
    rc = pub__find_table(p, db_schema, PQgetvalue(r, i, 0), what, &t);
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
  for (const char *s = def; *s; s++) {
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
ts_err pub__read_columns(pub *p, ptable *t)
{
  const char *params[1] = {t->oid};
  PGresult *r = cmd__sql(p->conn, PGRES_TUPLES_OK, p->err,
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
    c->attnum = cmd__int(PQgetvalue(r, (int)i, 0));
    c->db_name = pub__dup(p, PQgetvalue(r, (int)i, 1));
    c->name = pub_ident(p, c->db_name);
    c->oid = (uint32_t)strtoul(PQgetvalue(r, (int)i, 2), NULL, 10);
    c->typmod = (int32_t)strtol(PQgetvalue(r, (int)i, 3), NULL, 10);
    c->notnull = PQgetvalue(r, (int)i, 4)[0] == 't';
    c->comment = pub__dup(p, cmd__val(r, (int)i, 5));
    c->pgtype = pub__dup(p, PQgetvalue(r, (int)i, 6));
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
  r = cmd__sql(p->conn, PGRES_TUPLES_OK, p->err,
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
  else if (!(r = cmd__sql(p->conn, PGRES_TUPLES_OK, p->err, q, 0, NULL)))
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
  PGresult *r = cmd__sql(p->conn, PGRES_TUPLES_OK, p->err,
                         "SELECT description, utype, table_index FROM tap_schema.tables"
                         " WHERE table_name = $1",
                         1, params);
  if (!r)
    return TS_EDB;
  if (PQntuples(r) == 1) {
    if (cmd__val(r, 0, 0))
      t->description = pub__dup(p, cmd__val(r, 0, 0));
    t->utype = pub__dup(p, cmd__val(r, 0, 1));
    t->index_known = 1;
    t->index = (fmt_ts_int){cmd__val(r, 0, 2) != NULL,
                            cmd__val(r, 0, 2) ? cmd__int(cmd__val(r, 0, 2)) : 0};
  }
  PQclear(r);
  r = cmd__sql(
      p->conn, PGRES_TUPLES_OK, p->err,
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
    c->description = pub__dup(p, cmd__val(r, i, 1));
    c->utype = pub__dup(p, cmd__val(r, i, 2));
    c->unit = pub__dup(p, cmd__val(r, i, 3));
    c->ucd = pub__dup(p, cmd__val(r, i, 4));
    c->principal = cmd__int(PQgetvalue(r, i, 5)) != 0;
    c->std = cmd__int(PQgetvalue(r, i, 6)) != 0;
    c->index = (fmt_ts_int){cmd__val(r, i, 7) != NULL,
                            cmd__val(r, i, 7) ? cmd__int(cmd__val(r, i, 7)) : 0};
    c->size = (fmt_ts_int){cmd__val(r, i, 11) != NULL,
                           cmd__val(r, i, 11) ? cmd__int(cmd__val(r, i, 11)) : 0};
    if (type_ok(c, PQgetvalue(r, i, 8), cmd__val(r, i, 9), cmd__val(r, i, 10), why, sizeof why)) {
      c->datatype = pub__dup(p, PQgetvalue(r, i, 8));
      c->arraysize = pub__dup(p, cmd__val(r, i, 9));
      c->xtype = pub__dup(p, cmd__val(r, i, 10));
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
ts_err pub__decide_guessed(pub *p, ptable *t)
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
ts_err pub__decide_tableset(pub *p, ptable *t)
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
  t->index_known = 1;
  for (size_t i = 0; i < tt->ncols && !rc; i++) {
    const fmt_ts_column *d = &tt->cols[i];
    const char *db = adql_db_ident(p->a, d->name, strlen(d->name));
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
ts_err pub__old_keys(pub *p, ptable *t)
{
  const char *params[1] = {t->table_name};
  PGresult *r = cmd__sql(p->conn, PGRES_TUPLES_OK, p->err,
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
      k->key_id = pub__dup(p, PQgetvalue(r, i, 0));
      k->target_table = pub__dup(p, PQgetvalue(r, i, 1));
      k->description = pub__dup(p, cmd__val(r, i, 2));
      k->utype = pub__dup(p, cmd__val(r, i, 3));
      k->from = ts_arena_calloc(p->a, (size_t)PQntuples(r), sizeof *k->from);
      k->target = ts_arena_calloc(p->a, (size_t)PQntuples(r), sizeof *k->target);
      oom = !k->from || !k->target;
      if (oom)
        break;
    }
    k->from[k->n] = pub__dup(p, PQgetvalue(r, i, 4));
    k->target[k->n++] = pub__dup(p, PQgetvalue(r, i, 5));
  }
  PQclear(r);
  return oom ? ts_fail(p->err, TS_ENOMEM, 0, "out of memory") : TS_OK;
}

ts_err pub__pg_keys(pub *p, ptable *t)
{
  const char *params[1] = {t->oid};
  PGresult *r =
      cmd__sql(p->conn, PGRES_TUPLES_OK, p->err,
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

ts_err pub__tableset_keys(pub *p, ptable *t)
{
  /* Ids the keys had, for keys the file gives without one. */
  ts_err rc = pub__old_keys(p, t);
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
  if (!rc && nold) { /* the file's keys replace the old ones */
    memmove(t->keys, t->keys + nold, (t->nkeys - nold) * sizeof *t->keys);
    t->nkeys -= nold;
  }
  return rc;
}
