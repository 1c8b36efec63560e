/* formats/upload_ecsv.c: the ECSV upload reader (formats/upload.h).
 *
 * astropy's ECSV 1.0: "# %ECSV 1.0", then a YAML header in '#' lines, then
 * CSV (space or comma delimited, RFC 4180 quoting) whose first line names
 * the columns. The header is read by a small line-oriented parser for the
 * subset ECSV writers produce, not by a YAML library: top-level keys
 * (delimiter, datatype, meta, schema), the datatype list with each column
 * in flow style ({name: a, datatype: int64, meta: {ucd: x}}) or block style
 * (one key per line, meta as a mapping or an !!omap list of one-key flow
 * mappings), plain, 'single' and "double" quoted scalars, and flow
 * collections continued on the next lines. Nesting is followed with an
 * explicit stack of bounded depth (no recursion); anything else (anchors,
 * block scalars, tags other than !!omap) is ignored or refused with the
 * line. Table-level meta is ignored.
 *
 * Types in VOTable terms: bool boolean; int8, int16 short; int32 int;
 * int64 long; uint8 unsignedByte; uint16 int; uint32 long; uint64 long
 * (values above 2^63-1 refused); float16, float32 float; float64 double;
 * string char, or with a subtype such as int64[3], float64[2,null] an
 * array of that type given as a JSON array per value (flattened; a null
 * dimension makes it "*"); subtype json stays text. meta.ucd, meta.utype
 * and meta.xtype (tapserve writes the last two) are kept; an xtype
 * timestamp column is read as ISO 8601. An empty field is NULL. */
#include "formats/upload_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

enum {
  ECSV_HEADER_MAX = 16 << 20, /* bytes of the YAML header */
  ECSV_DEPTH = 16,            /* flow collections inside one another */
  ECSV_JSON_DEPTH = 32,       /* nested JSON arrays of a multidimensional value */
  ECSV_KEY = 64,
  ECSV_RECORD_EXTRA = 1 << 20 /* record cap beyond the value cap */
};

typedef struct ecol {
  fmt_upload_column *col;
  const char *name, *datatype, *subtype, *unit, *description, *ucd, *utype, *xtype;
  int json; /* string column holding a JSON array per value */
} ecol;

typedef struct ecsv {
  ts_arena *a;
  ts_error *err;
  const fmt_upload_limits *lim;
  fmt_textin in;
  ecol *cols;
  size_t ncols, cap;
  char delim;
  size_t vmax; /* max_value_bytes */
  uint64_t header_bytes;
  stream_copyenc enc;
  ts_buf line; /* a logical header line (continued flow collections) */
  ts_buf flat; /* a multidimensional JSON array, flattened */
} ecsv;

/* ---- YAML subset ------------------------------------------------------- */

static ts_err yaml_fail(ecsv *x, const char *what)
{
  return ts_fail(x->err, TS_EINVAL, 0, "ECSV header, line %llu: %s", (unsigned long long)x->in.line,
                 what);
}

/* Stores value `v` of `key` (a dotted path inside the column: "name",
 * "meta.ucd") in column c. */
static ts_err col_set(ecsv *x, ecol *c, const char *key, const char *v)
{
  static const struct {
    const char *key;
    size_t off;
  } fields[] = {
      {"name", offsetof(ecol, name)},
      {"datatype", offsetof(ecol, datatype)},
      {"subtype", offsetof(ecol, subtype)},
      {"unit", offsetof(ecol, unit)},
      {"description", offsetof(ecol, description)},
      {"meta.ucd", offsetof(ecol, ucd)},
      {"meta.utype", offsetof(ecol, utype)},
      {"meta.xtype", offsetof(ecol, xtype)},
  };
  for (size_t i = 0; i < TS_ARRAY_LEN(fields); i++) {
    if (strcmp(key, fields[i].key) != 0)
      continue;
    const char *d =
        *v && strcmp(v, "null") != 0 && strcmp(v, "~") != 0 ? ts_arena_strdup(x->a, v) : NULL;
    if (*v && !d && strcmp(v, "null") != 0 && strcmp(v, "~") != 0)
      return ts_fail(x->err, TS_ENOMEM, 0, "ECSV: out of memory");
    *(const char **)((char *)c + fields[i].off) = d;
  }
  return TS_OK;
}

/* A scalar at p: quoted or plain (plain ends at one of `stops`, or at
 * ": "). Its text goes into out (cap bytes, truncated); returns the end. */
static const char *scalar(const char *p, const char *stops, char *out, size_t cap, int *bad)
{
  size_t n = 0;
  *bad = 0;
  if (*p == '\'' || *p == '"') {
    char q = *p++;
    for (; *p; p++) {
      char c = *p;
      if (c == q) {
        if (q == '\'' && p[1] == '\'')
          p++;
        else
          break;
      } else if (q == '"' && c == '\\' && p[1]) {
        c = *++p;
        c = c == 'n' ? '\n' : c == 't' ? '\t' : c;
      }
      if (n + 1 < cap)
        out[n++] = c;
    }
    if (*p != q)
      *bad = 1;
    else
      p++;
    out[n] = 0;
    return p;
  }
  for (; *p && !strchr(stops, *p) && !(*p == ':' && (p[1] == ' ' || !p[1])); p++)
    if (n + 1 < cap)
      out[n++] = *p;
  while (n && out[n - 1] == ' ')
    n--;
  out[n] = 0;
  return p;
}

/* A flow collection "{...}" or "[...]" at p, its keys under `prefix`
 * ("" or "meta"). Explicit stack: one entry per open collection. */
static ts_err flow(ecsv *x, ecol *c, const char *p, const char *prefix)
{
  struct {
    char key[ECSV_KEY]; /* the key this collection is the value of */
    int map;
  } st[ECSV_DEPTH];
  int depth = 0, want_value = 0, bad;
  char key[ECSV_KEY] = "", val[4096], path[3 * ECSV_KEY];
  for (;;) {
    while (*p == ' ')
      p++;
    if (!*p)
      break;
    if (*p == '!') { /* a tag (!!omap): ignored */
      while (*p && *p != ' ')
        p++;
      continue;
    }
    if (*p == '{' || *p == '[') {
      if (depth == ECSV_DEPTH)
        return yaml_fail(x, "flow collections nested too deep");
      const char *name = depth == 0 ? prefix : want_value ? key : st[depth - 1].key;
      snprintf(st[depth].key, ECSV_KEY, "%s", name);
      st[depth].map = *p == '{';
      depth++;
      want_value = 0;
      p++;
      continue;
    }
    if (*p == '}' || *p == ']') {
      if (!depth || st[depth - 1].map != (*p == '}'))
        return yaml_fail(x, "unbalanced flow collection");
      depth--;
      want_value = 0;
      p++;
      if (!depth)
        break;
      continue;
    }
    if (*p == ',') {
      want_value = 0;
      p++;
      continue;
    }
    if (!depth)
      return yaml_fail(x, "expected a flow mapping");
    if (*p == ':' && st[depth - 1].map) {
      want_value = 1;
      p++;
      continue;
    }
    const char *from = p;
    p = scalar(p, ",}]", val, sizeof val, &bad);
    if (bad)
      return yaml_fail(x, "quoted string not closed");
    if (p == from) /* ": " inside a list: nothing to read, but move on */
      p++;
    if (!st[depth - 1].map)
      continue; /* list items: not used */
    if (!want_value) {
      size_t kn = strnlen(val, sizeof key - 1);
      memcpy(key, val, kn);
      key[kn] = 0;
      while (*p == ' ')
        p++;
      if (*p != ':')
        return yaml_fail(x, "flow mapping key without ':'");
      continue;
    }
    const char *in = st[depth - 1].key;
    snprintf(path, sizeof path, "%s%s%s", in, *in ? "." : "", key);
    ts_err rc = col_set(x, c, path, val);
    if (rc)
      return rc;
    want_value = 0;
  }
  if (depth)
    return yaml_fail(x, "flow collection not closed");
  while (*p == ' ')
    p++;
  if (*p && *p != '#')
    return yaml_fail(x, "unbalanced flow collection, or text after it");
  return TS_OK;
}

/* 1 when the text leaves a flow collection or a quote open. */
static int open_flow(const char *s)
{
  int depth = 0;
  char q = 0, prev = ' ';
  for (; *s; prev = *s, s++) {
    if (q) {
      if (*s == q && !(q == '\'' && s[1] == '\''))
        q = 0;
      else if (q == '\'' && *s == '\'')
        s++;
      else if (q == '"' && *s == '\\' && s[1])
        s++;
    } else if ((*s == '\'' || *s == '"') && strchr(" {[,:", prev)) {
      q = *s;
    } else if (*s == '{' || *s == '[') {
      depth++;
    } else if (*s == '}' || *s == ']') {
      depth--;
    }
  }
  return depth > 0 || q;
}

static ecol *new_col(ecsv *x)
{
  if (x->ncols == x->cap) {
    size_t n = x->cap ? x->cap * 2 : 16;
    ecol *c = ts_arena_calloc(x->a, n, sizeof *c);
    if (!c)
      return NULL;
    if (x->ncols)
      memcpy(c, x->cols, x->ncols * sizeof *c);
    x->cols = c;
    x->cap = n;
  }
  ecol *c = &x->cols[x->ncols++];
  memset(c, 0, sizeof *c);
  return c;
}

typedef enum { SEC_NONE, SEC_DATATYPE, SEC_OTHER } section;

/* One logical header line (indent, text after it). */
typedef struct hstate {
  section sec;
  int col_indent;  /* indent of the current column's block keys */
  int meta_indent; /* -1: not in a column's block meta */
} hstate;

static ts_err key_value(ecsv *x, const char *s, char *key, const char **rest)
{
  int bad;
  const char *p = scalar(s, "", key, ECSV_KEY, &bad);
  if (bad || *p != ':')
    return yaml_fail(x, "expected 'key: value'");
  p++;
  while (*p == ' ')
    p++;
  *rest = p;
  return TS_OK;
}

static ts_err block_value(ecsv *x, ecol *c, const char *path, const char *v)
{
  char val[4096];
  int bad;
  if (*v == '{' || *v == '[' || *v == '!')
    return TS_OK; /* a collection or a tag: only meta's are read (flow) */
  const char *end = scalar(v, "#", val, sizeof val, &bad);
  (void)end;
  if (bad)
    return yaml_fail(x, "quoted string not closed");
  return col_set(x, c, path, val);
}

static ts_err header_line(ecsv *x, hstate *h, const char *s)
{
  int indent = 0;
  char key[ECSV_KEY], path[2 * ECSV_KEY + 2];
  const char *v;
  ts_err rc;
  while (s[indent] == ' ')
    indent++;
  s += indent;
  if (!*s || *s == '#' || strcmp(s, "---") == 0)
    return TS_OK;
  int dash = s[0] == '-' && (s[1] == ' ' || !s[1]);
  if (indent == 0 && !dash) {
    rc = key_value(x, s, key, &v);
    if (rc)
      return rc;
    h->sec = strcmp(key, "datatype") == 0 ? SEC_DATATYPE : SEC_OTHER;
    h->meta_indent = -1;
    if (strcmp(key, "delimiter") == 0) {
      char d[8];
      int bad;
      scalar(v, "#", d, sizeof d, &bad);
      if (bad || strlen(d) != 1 || (d[0] != ' ' && d[0] != ','))
        return yaml_fail(x, "delimiter must be ' ' or ','");
      x->delim = d[0];
    }
    return TS_OK;
  }
  if (h->sec != SEC_DATATYPE)
    return TS_OK;
  ecol *c = x->ncols ? &x->cols[x->ncols - 1] : NULL;
  if (dash && (h->meta_indent < 0 || indent < h->meta_indent ||
               (indent == h->meta_indent && c && indent < h->col_indent))) {
    /* a new column */
    if (x->lim->max_columns && x->ncols >= x->lim->max_columns)
      return ts_fail(x->err, TS_ELIMIT, 0,
                     "ECSV header: more than the limit of %zu columns per upload",
                     x->lim->max_columns);
    if (x->ncols >= 1600)
      return ts_fail(x->err, TS_ELIMIT, 0, "ECSV header: more than 1600 columns");
    c = new_col(x);
    if (!c)
      return ts_fail(x->err, TS_ENOMEM, 0, "ECSV: out of memory");
    h->meta_indent = -1;
    s += 1;
    while (*s == ' ')
      s++;
    if (*s == '{')
      return flow(x, c, s, "");
    h->col_indent = indent + 2;
    indent = h->col_indent;
    if (!*s)
      return TS_OK;
    dash = 0;
  }
  if (!c)
    return yaml_fail(x, "datatype must be a list of columns");
  if (h->meta_indent >= 0 && (indent > h->meta_indent || (indent == h->meta_indent && dash))) {
    /* an entry of the column's meta: "- {ucd: x}", "- ucd: x", "ucd: x" */
    if (dash) {
      s += 1;
      while (*s == ' ')
        s++;
    }
    if (*s == '{')
      return flow(x, c, s, "meta");
    rc = key_value(x, s, key, &v);
    if (rc)
      return rc;
    snprintf(path, sizeof path, "meta.%s", key);
    return block_value(x, c, path, v);
  }
  h->meta_indent = -1;
  if (dash || indent < h->col_indent)
    return yaml_fail(x, "unexpected list item in a column");
  if (indent > h->col_indent)
    return TS_OK; /* inside a key we do not read */
  rc = key_value(x, s, key, &v);
  if (rc)
    return rc;
  if (strcmp(key, "meta") == 0) {
    if (*v == '{')
      return flow(x, c, v, "meta");
    h->meta_indent = indent;
    return TS_OK;
  }
  return block_value(x, c, key, v);
}

/* Reads "# %ECSV", the YAML header and the column-name line. */
static ts_err read_header(ecsv *x)
{
  const char *l;
  size_t n;
  int got;
  hstate h = {SEC_NONE, 2, -1};
  ts_err rc = fmt__textin_line(&x->in, &l, &n, &got, x->err);
  if (rc)
    return fmt__up_locate(x->err, "ECSV");
  if (!got || strncmp(l, "# %ECSV ", 8) != 0)
    return ts_fail(x->err, TS_EINVAL, 0, "ECSV: the first line is not '# %%ECSV 1.0'");
  if (l[8] != '1' && strncmp(l + 8, "0.9", 3) != 0)
    return ts_fail(x->err, TS_EINVAL, 0, "ECSV: version %.16s is not supported (1.0 is)", l + 8);
  ts_buf_reset(&x->line);
  while (fmt__textin_peek(&x->in, '#')) {
    rc = fmt__textin_line(&x->in, &l, &n, &got, x->err);
    if (rc)
      return fmt__up_locate(x->err, "ECSV");
    x->header_bytes += n;
    if (x->header_bytes > ECSV_HEADER_MAX)
      return ts_fail(x->err, TS_ELIMIT, 0, "ECSV: header longer than %d bytes", ECSV_HEADER_MAX);
    l += 1;
    if (*l == ' ')
      l++;
    if (x->line.len) { /* continuing a flow collection */
      while (*l == ' ')
        l++;
      if (ts_buf_append(&x->line, " ", 1))
        return ts_fail(x->err, TS_ELIMIT, 0, "ECSV: header line too long");
    }
    if (ts_buf_append(&x->line, l, strlen(l)))
      return ts_fail(x->err, TS_ELIMIT, 0, "ECSV: header line too long");
    if (open_flow(x->line.data))
      continue;
    rc = header_line(x, &h, x->line.data);
    ts_buf_reset(&x->line);
    if (rc)
      return rc;
  }
  if (x->line.len)
    return yaml_fail(x, "flow collection or quote not closed");
  if (!x->ncols)
    return ts_fail(x->err, TS_EINVAL, 0, "ECSV: the header declares no columns (datatype)");
  /* the column names */
  rc = fmt__textin_record(&x->in, x->delim, &got, x->err);
  if (rc)
    return fmt__up_locate(x->err, "ECSV");
  if (!got)
    return ts_fail(x->err, TS_EINVAL, 0, "ECSV: no line of column names after the header");
  if (x->in.nfields != x->ncols)
    return ts_fail(x->err, TS_EINVAL, 0,
                   "ECSV line %llu: %zu column names, the header declares %zu columns",
                   (unsigned long long)x->in.line, x->in.nfields, x->ncols);
  for (size_t i = 0; i < x->ncols; i++)
    if (!x->cols[i].name || strcmp(x->cols[i].name, x->in.fields[i].p) != 0)
      return ts_fail(x->err, TS_EINVAL, 0,
                     "ECSV line %llu: column %zu is named '%.64s', the header says '%.64s'",
                     (unsigned long long)x->in.line, i + 1, x->in.fields[i].p,
                     x->cols[i].name ? x->cols[i].name : "");
  return TS_OK;
}

/* ---- types ------------------------------------------------------------- */

static const char *votable_type(const char *ecsv_type)
{
  static const char *const map[][2] = {
      {"bool", "boolean"},
      {"int8", "short"},
      {"int16", "short"},
      {"int32", "int"},
      {"int64", "long"},
      {"uint8", "unsignedByte"},
      {"uint16", "int"},
      {"uint32", "long"},
      {"uint64", "long"},
      {"float16", "float"},
      {"float32", "float"},
      {"float64", "double"},
      {"complex64", "floatComplex"},
      {"complex128", "doubleComplex"},
      {"string", "char"},
  };
  for (size_t i = 0; i < TS_ARRAY_LEN(map); i++)
    if (strcmp(ecsv_type, map[i][0]) == 0)
      return map[i][1];
  return NULL;
}

static ts_err set_types(ecsv *x, fmt_upload_column *cols)
{
  for (size_t i = 0; i < x->ncols; i++) {
    ecol *e = &x->cols[i];
    fmt_upload_column *col = &cols[i];
    e->col = col;
    col->c.name = e->name;
    col->c.unit = e->unit;
    col->c.ucd = e->ucd;
    col->c.utype = e->utype;
    col->c.description = e->description;
    if (!e->datatype)
      return ts_fail(x->err, TS_EINVAL, 0, "ECSV header: column %zu (%s) has no datatype", i + 1,
                     e->name);
    const char *dt = votable_type(e->datatype), *as = NULL;
    if (!dt)
      return ts_fail(x->err, TS_EINVAL, 0, "ECSV header: column %s: unknown datatype '%.32s'",
                     e->name, e->datatype);
    const char *br = e->subtype ? strchr(e->subtype, '[') : NULL;
    if (strcmp(dt, "char") == 0 && br) {
      /* subtype "int64[2,null]": a JSON array per value */
      char base[32];
      size_t bn = (size_t)(br - e->subtype);
      if (bn >= sizeof base)
        bn = sizeof base - 1;
      memcpy(base, e->subtype, bn);
      base[bn] = 0;
      dt = votable_type(base);
      if (!dt || strcmp(dt, "char") == 0)
        return ts_fail(x->err, TS_EINVAL, 0,
                       "ECSV header: column %s: subtype '%.32s' is not "
                       "supported",
                       e->name, e->subtype);
      /* numpy shape (row-major) -> VOTable arraysize (first index fastest) */
      char buf[128] = "";
      const char *p = e->subtype + strlen(e->subtype);
      int var = 0;
      size_t n = 0;
      if (p[-1] != ']')
        return ts_fail(x->err, TS_EINVAL, 0, "ECSV header: column %s: bad subtype '%.32s'", e->name,
                       e->subtype);
      p--;
      while (p > br) {
        const char *q = p;
        while (q > br + 1 && q[-1] != ',')
          q--;
        size_t len = (size_t)(p - q);
        if (len == 4 && strncmp(q, "null", 4) == 0)
          var = 1;
        else if (len == 0 || len > 9 || strspn(q, "0123456789") < len)
          return ts_fail(x->err, TS_EINVAL, 0, "ECSV header: column %s: bad subtype '%.32s'",
                         e->name, e->subtype);
        int w = snprintf(buf + n, sizeof buf - n, "%s%.*s", n ? "x" : "", (int)len, q);
        if (w < 0 || (size_t)w >= sizeof buf - n)
          return ts_fail(x->err, TS_EINVAL, 0, "ECSV header: column %s: bad subtype", e->name);
        n += (size_t)w;
        p = q - 1;
      }
      as = var ? "*" : ts_arena_strdup(x->a, buf);
      e->json = 1;
    } else if (strcmp(dt, "char") == 0) {
      as = "*";
    }
    ts_err rc = fmt_upload_set_type(col, dt, as, e->xtype, x->err);
    if (rc)
      return rc;
  }
  return TS_OK;
}

/* ---- values ------------------------------------------------------------ */

/* A JSON array of a multidimensional column ("[[1,2],[3,4]]") as the
 * flat list "[1,2,3,4]" fmt__up_put_text reads, in x->flat. The nesting
 * is checked (balanced, at most ECSV_JSON_DEPTH deep) with a counter. */
static ts_err flatten(ecsv *x, const char *s, size_t n, const char **out, size_t *outn)
{
  int depth = 0, seen = 0;
  ts_buf_reset(&x->flat);
  for (size_t i = 0; i < n; i++) {
    char c = s[i];
    if (c == '[') {
      if (depth == 0 && seen)
        break; /* a second list after the first: refused below */
      if (++depth > ECSV_JSON_DEPTH)
        return ts_fail(x->err, TS_EINVAL, 0, "JSON array nested deeper than %d", ECSV_JSON_DEPTH);
      seen = 1;
      if (depth == 1 && ts_buf_append(&x->flat, "[", 1))
        return ts_fail(x->err, TS_ELIMIT, 0, "value too long");
      continue;
    }
    if (c == ']') {
      if (--depth < 0)
        return ts_fail(x->err, TS_EINVAL, 0, "unbalanced JSON array");
      if (depth == 0 && ts_buf_append(&x->flat, "]", 1))
        return ts_fail(x->err, TS_ELIMIT, 0, "value too long");
      continue;
    }
    if (c != ' ' && (!seen || depth == 0))
      return ts_fail(x->err, TS_EINVAL, 0, "\"%.40s\" is not a JSON array", s);
    if (depth && ts_buf_append(&x->flat, &c, 1))
      return ts_fail(x->err, TS_ELIMIT, 0, "value too long");
  }
  if (depth || !seen)
    return ts_fail(x->err, TS_EINVAL, 0, "\"%.40s\" is not a JSON array", s);
  *out = x->flat.data;
  *outn = x->flat.len;
  return TS_OK;
}

static ts_err put_row(ecsv *x)
{
  fmt_textin *in = &x->in;
  if (in->nfields != x->ncols)
    return ts_fail(x->err, TS_EINVAL, 0,
                   "ECSV line %llu: %zu fields, the header declares %zu columns",
                   (unsigned long long)in->line, in->nfields, x->ncols);
  ts_err rc = stream_copyenc_row(&x->enc);
  for (size_t i = 0; i < x->ncols && !rc; i++) {
    const ecol *c = &x->cols[i];
    const char *s = in->fields[i].p;
    size_t n = in->fields[i].len;
    if (n > x->vmax)
      return ts_fail(x->err, TS_ELIMIT, 0,
                     "ECSV line %llu, column %s: a value of %zu bytes, more than the limit of "
                     "%zu",
                     (unsigned long long)in->line, c->name, n, x->vmax);
    if (c->json && n)
      rc = flatten(x, s, n, &s, &n);
    if (!rc)
      rc = fmt__up_put_text(&x->enc, c->col, NULL, s, n, x->err);
    if (rc)
      return fmt__up_locate(x->err, "ECSV line %llu, column %s", (unsigned long long)in->line,
                            c->name);
  }
  return rc;
}

ts_err fmt__upload_ecsv(int fd, const fmt_upload_limits *lim, ts_arena *a,
                        fmt_upload_table_fn on_table, void *ud, stream_out *out, uint64_t *rows,
                        ts_error *err)
{
  ecsv x = {.a = a, .err = err, .lim = lim, .delim = ' ', .vmax = lim->max_value_bytes};
  size_t vmax = x.vmax;
  int got;
  ts_buf_init(&x.line, ECSV_HEADER_MAX);
  ts_buf_init(&x.flat, vmax);
  /* a record holds values of up to vmax bytes each, and header lines */
  ts_err rc = fmt__textin_init(&x.in, fd, vmax + ECSV_RECORD_EXTRA, lim->max_columns);
  if (rc) {
    rc = ts_fail(err, rc, 0, "ECSV: out of memory");
    goto out;
  }
  rc = read_header(&x);
  if (rc)
    goto out;
  fmt_upload_table *t = ts_arena_calloc(a, 1, sizeof *t);
  fmt_upload_column *cols = ts_arena_calloc(a, x.ncols, sizeof *cols);
  if (!t || !cols) {
    rc = ts_fail(err, TS_ENOMEM, 0, "ECSV: out of memory");
    goto out;
  }
  rc = set_types(&x, cols);
  if (rc)
    goto out;
  t->ncols = x.ncols;
  t->cols = cols;
  rc = fmt__up_begin(on_table, ud, t, &x.enc, out, err);
  while (!rc) {
    rc = fmt__textin_record(&x.in, x.delim, &got, err);
    if (rc)
      rc = fmt__up_locate(err, "ECSV");
    if (rc || !got)
      break;
    if (x.lim->max_rows && x.enc.rows >= x.lim->max_rows) {
      rc = ts_fail(err, TS_ELIMIT, 0, "ECSV: more than the limit of %llu rows per upload",
                   (unsigned long long)x.lim->max_rows);
      break;
    }
    rc = put_row(&x);
  }
  rc = fmt__up_end(&x.enc, rc, rows, err);
out:
  stream_copyenc_free(&x.enc);
  fmt__textin_free(&x.in);
  ts_buf_free(&x.line);
  ts_buf_free(&x.flat);
  return rc;
}
