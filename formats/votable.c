/* VOTable 1.4 encoders: TABLEDATA, BINARY2 and BINARY, and the DALI error
 * document. This file writes the document (head, FIELDs, INFOs, the
 * trailer) and TABLEDATA rows; votable_bin.c encodes BINARY and BINARY2
 * rows into the base64 STREAM.
 *
 * Document shape (TAP 1.1 section 4.4, DALI 1.1 section 4.3):
 *   VOTABLE > RESOURCE type="results" >
 *     INFO QUERY_STATUS=OK, INFO REQUEST_DATE/QUERY/SERVICE,
 *     TABLE (FIELDs, DATA),
 *     INFO QUERY_STATUS=OVERFLOW or =ERROR (the trailer, after the TABLE)
 * so an error discovered while rows are streaming still ends one
 * well-formed document. */
#include "formats/votable_int.h"

#include <stdlib.h>

const struct fmt__vt_dt_info fmt__vt_dts[DT_UNICODE + 1] = {
    [DT_BOOLEAN] = {"boolean", 1},     [DT_UBYTE] = {"unsignedByte", 1},
    [DT_SHORT] = {"short", 2},         [DT_INT] = {"int", 4},
    [DT_LONG] = {"long", 8},           [DT_FLOAT] = {"float", 4},
    [DT_DOUBLE] = {"double", 8},       [DT_CHAR] = {"char", 1},
    [DT_UNICODE] = {"unicodeChar", 2},
};

#define VT_NS "http://www.ivoa.net/xml/VOTable/v1.3"

/* ---- begin: column plans and the document head --------------------- */

static int vt_dt_parse(const char *s, vt_dt *dt)
{
  for (size_t i = 0; i < TS_ARRAY_LEN(fmt__vt_dts); i++) {
    if (strcmp(s, fmt__vt_dts[i].name) == 0) {
      *dt = (vt_dt)i;
      return 0;
    }
  }
  return -1;
}

static vt_dt vt_dt_default(stream_kind k)
{
  switch (k) {
  case STREAM_BOOL:
    return DT_BOOLEAN;
  case STREAM_INT2:
    return DT_SHORT;
  case STREAM_INT4:
    return DT_INT;
  case STREAM_INT8:
    return DT_LONG;
  case STREAM_FLOAT4:
    return DT_FLOAT;
  case STREAM_FLOAT8:
  case STREAM_NUMERIC:
    return DT_DOUBLE;
  default:
    return DT_CHAR;
  }
}

/* arraysize "N", "N*", "*", "AxB", "AxB*", "Ax*": total element count when
 * fixed, or the bound of a variable size. -1 on syntax error. */
static int vt_arraysize_parse(const char *as, int32_t *fixed, int32_t *bound)
{
  int64_t prod = 1;
  const char *p = as;
  for (;;) {
    if (*p == '*' && p[1] == '\0') {
      *fixed = -1;
      *bound = -1;
      return 0;
    }
    if (*p < '0' || *p > '9')
      return -1;
    int64_t n = 0;
    while (*p >= '0' && *p <= '9' && n < (1 << 28))
      n = n * 10 + (*p++ - '0');
    prod *= n;
    if (prod > (1 << 28))
      return -1;
    if (*p == 'x') {
      p++;
      continue;
    }
    if (*p == '*' && p[1] == '\0') {
      *fixed = -1;
      *bound = (int32_t)prod;
      return 0;
    }
    if (*p != '\0')
      return -1;
    *fixed = (int32_t)prod;
    *bound = -1;
    return 0;
  }
}

static ts_err vt_plan(fmt_votable *v, const stream_schema *s)
{
  v->cols = calloc(s->ncols ? s->ncols : 1, sizeof *v->cols);
  if (!v->cols)
    return TS_ENOMEM;
  for (size_t i = 0; i < s->ncols; i++) {
    const stream_column *c = &s->cols[i];
    vt_col *vc = &v->cols[i];
    if (c->kind == STREAM_UNSUPPORTED)
      return TS_EFORMAT;
    if (c->datatype) {
      if (vt_dt_parse(c->datatype, &vc->dt))
        return TS_EFORMAT;
    } else {
      vc->dt = vt_dt_default(c->kind);
    }
    /* Strings of any kind go to char columns; a number cannot come from
     * text or a time. */
    if (!vt_is_str(vc->dt) && fmt__kind_is_text(c->kind))
      return TS_EFORMAT;
    vc->arraysize = c->arraysize;
    if (!vc->arraysize && (vt_is_str(vc->dt) || c->is_array))
      vc->arraysize = "*"; /* a bare char means one character in VOTable */
    vc->scalar = vc->arraysize == NULL;
    vc->fixed = 1;
    vc->bound = -1;
    if (!vc->scalar && vt_arraysize_parse(vc->arraysize, &vc->fixed, &vc->bound))
      return TS_EFORMAT;
    /* A bounded variable-length string ("256*", from varchar(256)) is
     * written as "*": astropy before 7.1 reads "N*" as a fixed N in BINARY
     * and BINARY2 (rows come out misaligned or empty) and refuses it for
     * unicodeChar altogether. The bound stays in TAP_SCHEMA and /tables. */
    if (vt_is_str(vc->dt) && vc->fixed < 0 && vc->bound >= 0) {
      vc->arraysize = "*";
      vc->bound = -1;
    }
    /* VOTable 1.4 char is ASCII: text in it, which may hold anything, is
     * escaped (1.5 allows UTF-8 in char; unicodeChar carries it as is). */
    vc->ascii = vc->dt == DT_CHAR && c->kind == STREAM_TEXT && !v->base.type->votable_version;
    /* Integer NULLs that have no other representation: every NULL in
     * BINARY, elements of arrays in the other serialisations. */
    vc->values_null = vt_is_int(vc->dt) && (v->ser == VT_B || c->is_array);
  }
  return TS_OK;
}

/* xs:NCName, approximately (non-ASCII letters are let through). */
static int vt_ncname(const char *s)
{
  unsigned char c = (unsigned char)s[0];
  if (!(c == '_' || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c >= 0x80))
    return 0;
  for (const unsigned char *p = (const unsigned char *)s + 1; *p; p++)
    if (!(*p == '_' || *p == '-' || *p == '.' || (*p >= '0' && *p <= '9') ||
          ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z') || *p >= 0x80))
      return 0;
  return 1;
}

/* An ID is written only when it is a valid, so far unused xs:ID: a bad one
 * would make the whole document invalid for the sake of an optional
 * attribute. */
static int vt_id_ok(const stream_schema *s, size_t i)
{
  const char *id = s->cols[i].id;
  if (!id || !vt_ncname(id))
    return 0;
  for (size_t j = 0; j < i; j++)
    if (s->cols[j].id && strcmp(s->cols[j].id, id) == 0 && vt_ncname(s->cols[j].id))
      return 0;
  return 1;
}

static void vt_attr(stream_out *o, const char *name, const char *val)
{
  if (!val)
    return;
  stream_out_puts(o, " ");
  stream_out_puts(o, name);
  stream_out_puts(o, "=\"");
  fmt__xml(o, val, strlen(val), 1);
  stream_out_puts(o, "\"");
}

static void vt_info(stream_out *o, const char *name, const char *value)
{
  if (!value)
    return;
  stream_out_puts(o, "<INFO");
  vt_attr(o, "name", name);
  vt_attr(o, "value", value);
  stream_out_puts(o, "/>\n");
}

static const char vt_head[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                              "<VOTABLE version=\"1.4\" xmlns=\"" VT_NS "\""
                              " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
                              "<RESOURCE type=\"results\">\n";
/* VOTable 1.5 keeps the 1.3 namespace; only the version attribute differs. */
static const char vt_head15[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                                "<VOTABLE version=\"1.5\" xmlns=\"" VT_NS "\""
                                " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">\n"
                                "<RESOURCE type=\"results\">\n";
/* IDs of the COOSYS and TIMESYS elements that FIELDs refer to. */
#define VT_COOSYS_ID  "tapserve_coosys_icrs"
#define VT_TIMESYS_ID "tapserve_timesys_utc"
static const char vt_tail[] = "</RESOURCE>\n</VOTABLE>\n";

static void vt_field(fmt_votable *v, const stream_schema *s, size_t i)
{
  stream_out *o = v->base.out;
  const stream_column *c = &s->cols[i];
  const vt_col *vc = &v->cols[i];
  stream_out_puts(o, "<FIELD");
  vt_attr(o, "name", c->name ? c->name : "");
  if (vt_id_ok(s, i))
    vt_attr(o, "ID", c->id);
  vt_attr(o, "datatype", fmt__vt_dts[vc->dt].name);
  vt_attr(o, "arraysize", vc->arraysize);
  if (fmt_column_coosys(c))
    vt_attr(o, "ref", VT_COOSYS_ID);
  else if (fmt_column_timescale(c))
    vt_attr(o, "ref", VT_TIMESYS_ID);
  vt_attr(o, "xtype", c->xtype);
  vt_attr(o, "unit", c->unit);
  vt_attr(o, "ucd", c->ucd);
  vt_attr(o, "utype", c->utype);
  if (!c->description && !vc->values_null) {
    stream_out_puts(o, "/>\n");
    return;
  }
  stream_out_puts(o, ">");
  if (c->description) {
    stream_out_puts(o, "<DESCRIPTION>");
    fmt__xml(o, c->description, strlen(c->description), 0);
    stream_out_puts(o, "</DESCRIPTION>");
  }
  if (vc->values_null) {
    /* TABLEDATA writes NULL elements by kind (fmt__null_token), the binary
     * serialisations by datatype; they agree whenever both are integers
     * of the same width, which stream_column_set_type guarantees. */
    char num[FMT_NUM_MAX + 1];
    const char *nv = num;
    if (v->ser == VT_TD &&
        (c->kind == STREAM_INT2 || c->kind == STREAM_INT4 || c->kind == STREAM_INT8))
      nv = fmt__null_token(c->kind, FMT_TEXT_XML);
    else
      num[fmt__i64(num, vt_int_null(vc->dt))] = '\0';
    stream_out_puts(o, "<VALUES null=\"");
    stream_out_puts(o, nv);
    stream_out_puts(o, "\"/>");
  }
  stream_out_puts(o, "</FIELD>\n");
}

static ts_err vt_begin(fmt_encoder *e, const stream_schema *s, const fmt_info *info)
{
  fmt_votable *v = (fmt_votable *)e;
  stream_out *o = e->out;
  ts_buf_init(&v->scratch, FMT_SCRATCH_MAX);
  ts_buf_init(&v->esc, FMT_SCRATCH_MAX);
  ts_err rc = vt_plan(v, s);
  if (rc)
    return rc;
  v->nflag = v->ser == VT_B2 ? (s->ncols + 7) / 8 : 0;
  if (e->type->votable_version)
    stream_out_put(o, vt_head15, sizeof vt_head15 - 1);
  else
    stream_out_put(o, vt_head, sizeof vt_head - 1);
  stream_out_puts(o, "<INFO name=\"QUERY_STATUS\" value=\"OK\"/>\n");
  vt_info(o, "REQUEST_DATE", info->request_date);
  vt_info(o, "QUERY", info->query);
  vt_info(o, "SERVICE", info->service);
  /* Coordinate and time systems, where the metadata says which columns
   * are equatorial positions or timestamps. */
  int coo = 0, tim = 0;
  for (size_t i = 0; i < s->ncols; i++) {
    coo |= fmt_column_coosys(&s->cols[i]) != NULL;
    tim |= !fmt_column_coosys(&s->cols[i]) && fmt_column_timescale(&s->cols[i]) != NULL;
  }
  if (coo)
    stream_out_puts(o, "<COOSYS ID=\"" VT_COOSYS_ID "\" system=\"ICRS\"/>\n");
  if (tim)
    stream_out_puts(o, "<TIMESYS ID=\"" VT_TIMESYS_ID "\" timescale=\"UTC\""
                       " refposition=\"TOPOCENTER\"/>\n");
  stream_out_puts(o, "<TABLE");
  vt_attr(o, "name", info->table_name ? info->table_name : "result");
  stream_out_puts(o, ">\n");
  for (size_t i = 0; i < s->ncols; i++)
    vt_field(v, s, i);
  if (v->ser == VT_TD)
    stream_out_puts(o, "<DATA><TABLEDATA>\n");
  else
    stream_out_puts(o, v->ser == VT_B2 ? "<DATA><BINARY2><STREAM encoding=\"base64\">\n"
                                       : "<DATA><BINARY><STREAM encoding=\"base64\">\n");
  v->state = VT_BEGUN;
  return o->err;
}

/* ---- text of char columns ----------------------------------------------- */

/* The text of a non-NULL value of a text column: the value itself, or the
 * array literal of a text array (built in v->scratch). */
ts_err fmt__vt_text_of(fmt_votable *v, const stream_column *c, const stream_value *val,
                       const uint8_t **s, size_t *n)
{
  if (!c->is_array) {
    *s = val->p;
    *n = (size_t)val->len;
    return TS_OK;
  }
  ts_buf_reset(&v->scratch);
  ts_err rc = stream_format_array_literal(&v->scratch, c->kind, val);
  if (rc)
    return rc == TS_EINVAL ? TS_EFORMAT : rc;
  *s = (const uint8_t *)v->scratch.data;
  *n = v->scratch.len;
  return TS_OK;
}

/* Replaces (*s, *n) by its ASCII form (fmt__esc_put) of at most `max`
 * bytes, built in v->esc; unchanged when it is ASCII already. */
ts_err fmt__vt_ascii(fmt_votable *v, const uint8_t **s, size_t *n, size_t max)
{
  size_t len = fmt__esc_len(*s, *n, FMT_ESC_XML);
  if (len == *n)
    return TS_OK;
  if (len > max)
    len = max;
  ts_buf_reset(&v->esc);
  ts_err rc = ts_buf_reserve(&v->esc, len + 1);
  if (rc)
    return rc;
  v->esc.len = fmt__esc_put((uint8_t *)v->esc.data, len, *s, *n, FMT_ESC_XML);
  *s = (const uint8_t *)v->esc.data;
  *n = v->esc.len;
  return TS_OK;
}

static ts_err vt_td_ascii(fmt_votable *v, const stream_column *c, const stream_value *val)
{
  const uint8_t *s;
  size_t n;
  ts_err rc = fmt__vt_text_of(v, c, val, &s, &n);
  if (!rc)
    fmt__xml_ascii(v->base.out, (const char *)s, n); /* one pass, no copy */
  return rc ? rc : v->base.out->err;
}

/* ---- TABLEDATA rows ------------------------------------------------- */

static ts_err vt_td_rows(fmt_encoder *e, const stream_batch *b)
{
  fmt_votable *v = (fmt_votable *)e;
  stream_out *o = e->out;
  const stream_column *cols = e->schema->cols;
  for (size_t r = 0; r < b->nrows; r++) {
    const stream_value *row = stream_batch_row(b, r);
    stream_out_put(o, "<TR>", 4);
    for (size_t i = 0; i < b->ncols; i++) {
      if (row[i].len < 0) {
        stream_out_put(o, "<TD/>", 5); /* empty TD: NULL for every datatype */
        continue;
      }
      stream_out_put(o, "<TD>", 4);
      ts_err rc = v->cols[i].ascii
                      ? vt_td_ascii(v, &cols[i], &row[i])
                      : fmt__value_text(o, &cols[i], &row[i], FMT_TEXT_XML, &v->scratch);
      stream_out_put(o, "</TD>", 5);
      if (rc) {
        /* Close the row so that the ERROR trailer lands in valid XML. */
        stream_out_put(o, "</TR>\n", 6);
        return rc;
      }
    }
    stream_out_put(o, "</TR>\n", 6);
  }
  return o->err;
}

/* ---- end: trailer ---------------------------------------------------- */

static void vt_status(stream_out *o, const char *status, const char *msg)
{
  stream_out_puts(o, "<INFO name=\"QUERY_STATUS\" value=\"");
  stream_out_puts(o, status);
  if (!msg) {
    stream_out_puts(o, "\"/>\n");
    return;
  }
  stream_out_puts(o, "\">");
  fmt__xml(o, msg, strlen(msg), 0);
  stream_out_puts(o, "</INFO>\n");
}

static ts_err vt_end(fmt_encoder *e, const fmt_trailer *t)
{
  fmt_votable *v = (fmt_votable *)e;
  stream_out *o = e->out;
  if (v->state == VT_ENDED)
    return TS_EINTERNAL;
  if (v->state != VT_BEGUN) {
    /* Nothing was written yet: a failure becomes a whole error document. */
    if (t->status != FMT_ERROR)
      return TS_EINTERNAL;
    v->state = VT_ENDED;
    stream_out_put(o, vt_head, sizeof vt_head - 1);
    vt_status(o, "ERROR", t->message ? t->message : "internal error");
    stream_out_put(o, vt_tail, sizeof vt_tail - 1);
    return stream_out_flush(o);
  }
  v->state = VT_ENDED;
  if (v->ser == VT_TD) {
    stream_out_puts(o, "</TABLEDATA></DATA>\n</TABLE>\n");
  } else {
    fmt__vt_b64_emit(v, 1);
    stream_out_puts(o, v->ser == VT_B2 ? "</STREAM></BINARY2></DATA>\n</TABLE>\n"
                                       : "</STREAM></BINARY></DATA>\n</TABLE>\n");
  }
  if (t->status == FMT_OVERFLOW)
    vt_status(o, "OVERFLOW", t->message);
  else if (t->status == FMT_ERROR)
    vt_status(o, "ERROR", t->message ? t->message : "internal error");
  stream_out_put(o, vt_tail, sizeof vt_tail - 1);
  return stream_out_flush(o);
}

static void vt_destroy(fmt_encoder *e)
{
  fmt_votable *v = (fmt_votable *)e;
  free(v->cols);
  v->cols = NULL;
  ts_buf_free(&v->scratch);
  ts_buf_free(&v->esc);
}

static ts_err vt_begin_td(fmt_encoder *e, const stream_schema *s, const fmt_info *info)
{
  ((fmt_votable *)e)->ser = VT_TD;
  return vt_begin(e, s, info);
}
static ts_err vt_begin_b2(fmt_encoder *e, const stream_schema *s, const fmt_info *info)
{
  ((fmt_votable *)e)->ser = VT_B2;
  return vt_begin(e, s, info);
}
static ts_err vt_begin_b(fmt_encoder *e, const stream_schema *s, const fmt_info *info)
{
  ((fmt_votable *)e)->ser = VT_B;
  return vt_begin(e, s, info);
}

static const char *const vt_b2_aliases[] = {"votable/b2", "votableb2", "votable_binary2",
                                            "application/x-votable+xml", NULL};
static const char *const vt_td_aliases[] = {"votable_plain", "votable/td", "votabletd",
                                            "votable_td", NULL};
static const char *const vt_b_aliases[] = {"votable/b", "votableb", "votable_binary", NULL};

#define VT_TYPE(var, nm, mimetype, al, beg, rowsfn, ver, enc, extension)                           \
  const fmt_type var = {                                                                           \
      .name = nm,                                                                                  \
      .mime = mimetype,                                                                            \
      .ext = extension,                                                                            \
      .aliases = al,                                                                               \
      .can_report_error = 1,                                                                       \
      .size = sizeof(fmt_votable),                                                                 \
      .begin = beg,                                                                                \
      .rows = rowsfn,                                                                              \
      .end = vt_end,                                                                               \
      .destroy = vt_destroy,                                                                       \
      .votable_version = ver,                                                                      \
      .body_encoding = enc,                                                                        \
  }

#define VT_MIME "application/x-votable+xml;serialization="
VT_TYPE(fmt_votable_b2_type, "votable", VT_MIME "BINARY2", vt_b2_aliases, vt_begin_b2,
        fmt__vt_bin_rows, NULL, NULL, "vot");
VT_TYPE(fmt_votable_td_type, "votable/td", VT_MIME "TABLEDATA", vt_td_aliases, vt_begin_td,
        vt_td_rows, NULL, NULL, "vot");
VT_TYPE(fmt_votable_b_type, "votable/b", VT_MIME "BINARY", vt_b_aliases, vt_begin_b,
        fmt__vt_bin_rows, NULL, NULL, "vot");
/* As ESA serves it: the VOTable (BINARY2) as a gzip file, not as a
 * Content-Encoding, so clients that save the body get a .vot.gz. */
static const char *const vt_gzip_aliases[] = {"application/x-gzip", NULL};
VT_TYPE(fmt_votable_gzip_type, "votable_gzip", "application/gzip", vt_gzip_aliases, vt_begin_b2,
        fmt__vt_bin_rows, NULL, "gzip", "vot.gz");
/* Found by fmt_lookup with version=1.5; not listed by fmt_all. */
VT_TYPE(fmt_votable_b2_v15_type, "votable", VT_MIME "BINARY2;version=1.5", vt_b2_aliases,
        vt_begin_b2, fmt__vt_bin_rows, "1.5", NULL, "vot");
VT_TYPE(fmt_votable_td_v15_type, "votable/td", VT_MIME "TABLEDATA;version=1.5", vt_td_aliases,
        vt_begin_td, vt_td_rows, "1.5", NULL, "vot");
VT_TYPE(fmt_votable_b_v15_type, "votable/b", VT_MIME "BINARY;version=1.5", vt_b_aliases, vt_begin_b,
        fmt__vt_bin_rows, "1.5", NULL, "vot");

ts_err fmt_votable_error_doc(ts_buf *b, const char *message)
{
  ts_err rc = ts_buf_append(b, vt_head, sizeof vt_head - 1);
  if (!rc)
    rc = ts_buf_puts(b, "<INFO name=\"QUERY_STATUS\" value=\"ERROR\">");
  if (!rc && message)
    rc = ts_buf_xml(b, message, strlen(message));
  if (!rc)
    rc = ts_buf_puts(b, "</INFO>\n");
  if (!rc)
    rc = ts_buf_append(b, vt_tail, sizeof vt_tail - 1);
  return rc;
}
