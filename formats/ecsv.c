/* ECSV 1.0 (astropy's Enhanced CSV): a YAML header in '#' comment lines
 * declaring each column's name, datatype, unit, description and meta (UCD,
 * utype, xtype), then CSV with a header line. astropy's Table.read gives
 * back the types, units and masks.
 *
 * Values as in CSV, except booleans (True/False, what the ECSV reader
 * expects) and numeric arrays, which ECSV writes as JSON arrays in a string
 * column with a subtype (float64[null], int32[3], ...); NULL elements are
 * JSON null, NaN and infinities the NaN/Infinity/-Infinity literals that
 * Python's json module (and so astropy) reads. Arrays of strings or times stay one string in
 * PostgreSQL's array-literal form, as in every other format. NULL is an
 * empty field (an empty string is written as "", which astropy masks as
 * well). */
#include "formats/fmt_int.h"

#include <stdio.h>

typedef struct fmt_ecsv {
  fmt_encoder base;
  ts_buf scratch;
} fmt_ecsv;

static const char *ecsv_datatype(stream_kind k)
{
  switch (k) {
  case STREAM_BOOL:
    return "bool";
  case STREAM_INT2:
    return "int16";
  case STREAM_INT4:
    return "int32";
  case STREAM_INT8:
    return "int64";
  case STREAM_FLOAT4:
    return "float32";
  case STREAM_FLOAT8:
  case STREAM_NUMERIC:
    return "float64";
  default:
    return "string";
  }
}

static int ecsv_numeric_array(const stream_column *c)
{
  return c->is_array && !fmt__kind_is_text(c->kind);
}

/* A YAML flow-style key: "value" pair (JSON strings are valid YAML). */
static void ecsv_kv(stream_out *o, const char *key, const char *val, int *first)
{
  if (!val)
    return;
  stream_out_puts(o, *first ? "" : ", ");
  *first = 0;
  stream_out_puts(o, key);
  stream_out_puts(o, ": ");
  fmt__json_str(o, val, strlen(val));
}

static ts_err ecsv_begin(fmt_encoder *e, const stream_schema *s, const fmt_info *info)
{
  fmt_ecsv *x = (fmt_ecsv *)e;
  stream_out *o = e->out;
  ts_buf_init(&x->scratch, FMT_SCRATCH_MAX);
  stream_out_puts(o, "# %ECSV 1.0\n# ---\n# delimiter: ','\n# datatype:\n");
  for (size_t i = 0; i < s->ncols; i++) {
    const stream_column *c = &s->cols[i];
    if (c->kind == STREAM_UNSUPPORTED)
      return TS_EFORMAT;
    int first = 1;
    stream_out_puts(o, "# - {");
    ecsv_kv(o, "name", c->name ? c->name : "", &first);
    ecsv_kv(o, "unit", c->unit, &first);
    if (ecsv_numeric_array(c)) {
      char sub[48];
      int32_t fixed = 0;
      if (c->arraysize) {
        const char *p = c->arraysize;
        while (*p >= '0' && *p <= '9' && fixed < 100000000)
          fixed = fixed * 10 + (*p++ - '0');
        if (*p != '\0')
          fixed = 0; /* N*, *, AxB: variable for ECSV */
      }
      if (fixed > 0)
        snprintf(sub, sizeof sub, "%s[%d]", ecsv_datatype(c->kind), (int)fixed);
      else
        snprintf(sub, sizeof sub, "%s[null]", ecsv_datatype(c->kind));
      ecsv_kv(o, "datatype", "string", &first);
      ecsv_kv(o, "subtype", sub, &first);
    } else {
      ecsv_kv(o, "datatype", ecsv_datatype(c->kind), &first);
    }
    ecsv_kv(o, "description", c->description, &first);
    if (c->ucd || c->utype || c->xtype) {
      int mfirst = 1;
      stream_out_puts(o, ", meta: {");
      ecsv_kv(o, "ucd", c->ucd, &mfirst);
      ecsv_kv(o, "utype", c->utype, &mfirst);
      ecsv_kv(o, "xtype", c->xtype, &mfirst);
      stream_out_puts(o, "}");
    }
    stream_out_puts(o, "}\n");
  }
  if (info->query || info->request_date) {
    int first = 1;
    stream_out_puts(o, "# meta: {");
    ecsv_kv(o, "QUERY", info->query, &first);
    ecsv_kv(o, "REQUEST_DATE", info->request_date, &first);
    ecsv_kv(o, "SERVICE", info->service, &first);
    stream_out_puts(o, "}\n");
  }
  stream_out_puts(o, "# schema: astropy-2.0\n");
  for (size_t i = 0; i < s->ncols; i++) {
    if (i)
      stream_out_put(o, ",", 1);
    const char *n = s->cols[i].name ? s->cols[i].name : "";
    stream_column tc = {.kind = STREAM_TEXT};
    stream_value v = {(const uint8_t *)n, (int32_t)strlen(n)};
    fmt__value_text(o, &tc, &v, FMT_TEXT_CSV, NULL);
  }
  stream_out_put(o, "\n", 1);
  return o->err;
}

static ts_err ecsv_rows(fmt_encoder *e, const stream_batch *b)
{
  fmt_ecsv *x = (fmt_ecsv *)e;
  stream_out *o = e->out;
  const stream_column *cols = e->schema->cols;
  for (size_t r = 0; r < b->nrows; r++) {
    const stream_value *row = stream_batch_row(b, r);
    for (size_t i = 0; i < b->ncols; i++) {
      const stream_column *c = &cols[i];
      const stream_value *v = &row[i];
      if (i)
        stream_out_put(o, ",", 1);
      if (v->len < 0) {
        /* an empty line would be skipped; astropy masks "" */
        if (b->ncols == 1)
          stream_out_put(o, "\"\"", 2);
        continue;
      }
      ts_err rc;
      if (c->kind == STREAM_BOOL && !c->is_array) {
        if (v->len < 1)
          return TS_EFORMAT;
        stream_out_puts(o, stream_get_bool(v) ? "True" : "False");
        rc = o->err;
      } else if (ecsv_numeric_array(c)) {
        /* JSON numbers, null and commas: no quote inside, so the CSV
         * quoting is just the two surrounding quotes. Booleans too. */
        stream_out_put(o, "\"", 1);
        rc = fmt__json_value(o, c, v, 1);
        stream_out_put(o, "\"", 1);
      } else {
        rc = fmt__value_text(o, c, v, FMT_TEXT_CSV, &x->scratch);
      }
      if (rc)
        return rc;
    }
    stream_out_put(o, "\n", 1);
  }
  return o->err;
}

static ts_err ecsv_end(fmt_encoder *e, const fmt_trailer *t)
{
  (void)t;
  return stream_out_flush(e->out);
}

static void ecsv_destroy(fmt_encoder *e)
{
  ts_buf_free(&((fmt_ecsv *)e)->scratch);
}

static const char *const fmt_ecsv_aliases[] = {"text/x-ecsv", "application/x-ecsv", NULL};

const fmt_type fmt_ecsv_type = {
    .name = "ecsv",
    .mime = "text/x-ecsv",
    .ext = "ecsv",
    .aliases = fmt_ecsv_aliases,
    .can_report_error = 0,
    .size = sizeof(fmt_ecsv),
    .begin = ecsv_begin,
    .rows = ecsv_rows,
    .end = ecsv_end,
    .destroy = ecsv_destroy,
};
