/* JSON, in the shape taplib and ESA serve:
 *   {"metadata":[{"name":..,"datatype":..,"arraysize":..,"xtype":..,"unit":..,
 *                 "ucd":..,"utype":..,"description":..},...],
 *    "data":[[v,v,...],...]}
 * followed by "query_status" ("OK" or "OVERFLOW"). NULL is null; NaN and
 * infinities are null too (JSON has no such numbers). JSON cannot carry an
 * error once "data" has begun: can_report_error = 0, the caller breaks the
 * transfer. */
#include "formats/fmt_int.h"

#include <math.h>

typedef struct fmt_json {
  fmt_encoder base;
  int nrows_written;
} fmt_json;

void fmt__json_str(stream_out *o, const char *str, size_t n)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *s = (const unsigned char *)str;
  size_t run = 0, i = 0;
  stream_out_put(o, "\"", 1);
  while (i < n) {
    unsigned char c = s[i];
    if (c >= 0x20 && c != '"' && c != '\\' && c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0x80) {
      size_t k = ts_utf8_seq(s + i, n - i);
      if (k) {
        i += k;
        continue;
      }
    }
    stream_out_put(o, s + run, i - run);
    char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
    if (c >= 0x80)
      stream_out_put(o, "\\ufffd", 6);
    else if (c == '"' || c == '\\')
      stream_out_put(o, c == '"' ? "\\\"" : "\\\\", 2);
    else if (c == '\n')
      stream_out_put(o, "\\n", 2);
    else if (c == '\t')
      stream_out_put(o, "\\t", 2);
    else if (c == '\r')
      stream_out_put(o, "\\r", 2);
    else
      stream_out_put(o, esc, 6);
    run = ++i;
  }
  stream_out_put(o, s + run, n - run);
  stream_out_put(o, "\"", 1);
}

/* One scalar element (non-NULL) as JSON. */
static ts_err json_scalar(stream_out *o, stream_kind kind, const stream_value *v, int literals)
{
  if (v->len < stream_kind_len(kind) || kind == STREAM_UNSUPPORTED)
    return TS_EFORMAT;
  if (kind == STREAM_TEXT) {
    fmt__json_str(o, (const char *)v->p, (size_t)v->len);
    return o->err;
  }
  char *p = stream_out_reserve(o, FMT_NUM_MAX + 2);
  if (!p)
    return o->err ? o->err : TS_ENOMEM;
  size_t n;
  switch (kind) {
  case STREAM_FLOAT4:
  case STREAM_FLOAT8:
  case STREAM_NUMERIC: {
    double d = kind == STREAM_FLOAT4   ? stream_get_float4(v)
               : kind == STREAM_FLOAT8 ? stream_get_float8(v)
                                       : stream_numeric_to_double(v->p, v->len);
    if (!isfinite(d) && literals) {
      const char *lit = isnan(d) ? "NaN" : d > 0 ? "Infinity" : "-Infinity";
      n = strlen(lit);
      memcpy(p, lit, n);
    } else if (!isfinite(d)) {
      memcpy(p, "null", 4);
      n = 4;
    } else {
      n = kind == STREAM_FLOAT4 ? fmt__float(p, (float)d) : fmt__double(p, d);
      /* JSON readers take "-0" for the integer 0 and lose the sign. */
      if (n == 2 && p[0] == '-' && p[1] == '0') {
        memcpy(p + 2, ".0", 2);
        n = 4;
      }
    }
    break;
  }
  case STREAM_TIMESTAMP:
  case STREAM_TIMESTAMPTZ:
  case STREAM_DATE:
    p[0] = '"';
    n = 1 + fmt__scalar_text(p + 1, kind, v, FMT_TEXT_CSV);
    p[n++] = '"';
    break;
  default:
    n = fmt__scalar_text(p, kind, v, FMT_TEXT_CSV); /* true/false, integers */
  }
  stream_out_commit(o, n);
  return TS_OK;
}

ts_err fmt__json_value(stream_out *o, const stream_column *col, const stream_value *v, int literals)
{
  if (!col->is_array)
    return json_scalar(o, col->kind, v, literals);
  stream_array_iter it;
  stream_value el;
  if (stream_array_begin(&it, v))
    return TS_EFORMAT;
  stream_out_put(o, "[", 1);
  int first = 1;
  while (stream_array_next(&it, &el)) {
    if (!first)
      stream_out_put(o, ",", 1);
    first = 0;
    if (el.len < 0) {
      stream_out_put(o, "null", 4);
      continue;
    }
    ts_err rc = json_scalar(o, col->kind, &el, literals);
    if (rc)
      return rc;
  }
  stream_out_put(o, "]", 1);
  return o->err;
}

static void json_key_str(stream_out *o, const char *key, const char *val, int *first)
{
  if (!*first)
    stream_out_put(o, ",", 1);
  *first = 0;
  fmt__json_str(o, key, strlen(key));
  stream_out_put(o, ":", 1);
  if (val)
    fmt__json_str(o, val, strlen(val));
  else
    stream_out_put(o, "null", 4);
}

static ts_err json_begin(fmt_encoder *e, const stream_schema *s, const fmt_info *info)
{
  stream_out *o = e->out;
  (void)info;
  stream_out_puts(o, "{\"metadata\":[");
  for (size_t i = 0; i < s->ncols; i++) {
    const stream_column *c = &s->cols[i];
    if (c->kind == STREAM_UNSUPPORTED)
      return TS_EFORMAT;
    int first = 1;
    stream_out_puts(o, i ? ",\n{" : "\n{");
    json_key_str(o, "name", c->name ? c->name : "", &first);
    json_key_str(o, "datatype", c->datatype, &first);
    json_key_str(o, "arraysize", c->arraysize, &first);
    json_key_str(o, "xtype", c->xtype, &first);
    json_key_str(o, "unit", c->unit, &first);
    json_key_str(o, "ucd", c->ucd, &first);
    json_key_str(o, "utype", c->utype, &first);
    json_key_str(o, "description", c->description, &first);
    stream_out_puts(o, "}");
  }
  stream_out_puts(o, "],\n\"data\":[");
  return o->err;
}

static ts_err json_rows(fmt_encoder *e, const stream_batch *b)
{
  fmt_json *j = (fmt_json *)e;
  stream_out *o = e->out;
  const stream_column *cols = e->schema->cols;
  for (size_t r = 0; r < b->nrows; r++) {
    const stream_value *row = stream_batch_row(b, r);
    stream_out_put(o, j->nrows_written ? ",\n[" : "\n[", j->nrows_written ? 3 : 2);
    j->nrows_written = 1;
    for (size_t i = 0; i < b->ncols; i++) {
      if (i)
        stream_out_put(o, ",", 1);
      if (row[i].len < 0) {
        stream_out_put(o, "null", 4);
        continue;
      }
      ts_err rc = fmt__json_value(o, &cols[i], &row[i], 0);
      if (rc)
        return rc;
    }
    stream_out_put(o, "]", 1);
  }
  return o->err;
}

static ts_err json_end(fmt_encoder *e, const fmt_trailer *t)
{
  stream_out *o = e->out;
  if (!e->schema)
    return TS_EINTERNAL;
  if (t->status == FMT_ERROR)
    return stream_out_flush(o); /* incomplete on purpose: the caller breaks the transfer */
  stream_out_puts(o, "\n],\n\"query_status\":");
  stream_out_puts(o, t->status == FMT_OVERFLOW ? "\"OVERFLOW\"}\n" : "\"OK\"}\n");
  return stream_out_flush(o);
}

static const char *const fmt_json_aliases[] = {"application/json", "text/json", NULL};

const fmt_type fmt_json_type = {
    .name = "json",
    .mime = "application/json",
    .ext = "json",
    .aliases = fmt_json_aliases,
    .can_report_error = 0,
    .size = sizeof(fmt_json),
    .begin = json_begin,
    .rows = json_rows,
    .end = json_end,
};
