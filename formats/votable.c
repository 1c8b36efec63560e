/* VOTable 1.4 encoders: TABLEDATA, BINARY2 and BINARY, and the DALI error
 * document.
 *
 * Document shape (TAP 1.1 section 4.4, DALI 1.1 section 4.3):
 *   VOTABLE > RESOURCE type="results" >
 *     INFO QUERY_STATUS=OK, INFO REQUEST_DATE/QUERY/SERVICE,
 *     TABLE (FIELDs, DATA),
 *     INFO QUERY_STATUS=OVERFLOW or =ERROR (the trailer, after the TABLE)
 * so an error discovered while rows are streaming still ends one
 * well-formed document. */
#include "formats/fmt_int.h"

#include <stdlib.h>

enum { VT_TD, VT_B2, VT_B };
enum { VT_BEGUN = 1, VT_ENDED = 2 };

/* VOTable primitive datatypes we write (binary element size in brackets). */
typedef enum vt_dt {
  DT_BOOLEAN, /* [1] 'T' 'F' '?' */
  DT_UBYTE,   /* [1] */
  DT_SHORT,   /* [2] */
  DT_INT,     /* [4] */
  DT_LONG,    /* [8] */
  DT_FLOAT,   /* [4] */
  DT_DOUBLE,  /* [8] */
  DT_CHAR,    /* [1] bytes of UTF-8 */
  DT_UNICODE  /* [2] UTF-16BE code units */
} vt_dt;

static const struct {
  const char *name;
  uint8_t size;
} vt_dts[] = {
    [DT_BOOLEAN] = {"boolean", 1},     [DT_UBYTE] = {"unsignedByte", 1},
    [DT_SHORT] = {"short", 2},         [DT_INT] = {"int", 4},
    [DT_LONG] = {"long", 8},           [DT_FLOAT] = {"float", 4},
    [DT_DOUBLE] = {"double", 8},       [DT_CHAR] = {"char", 1},
    [DT_UNICODE] = {"unicodeChar", 2},
};

/* How one column is encoded, fixed in begin. */
typedef struct vt_col {
  vt_dt dt;
  int scalar;            /* a single value, no count, no array */
  int32_t fixed;         /* >= 0: exactly this many elements (chars for strings) */
  int32_t bound;         /* variable length: at most this many, -1 unlimited */
  const char *arraysize; /* the arraysize written in FIELD (NULL: none) */
  int values_null;       /* write <VALUES null=...> */
  int ascii;             /* VOTable 1.4 char from text: non-ASCII as \uXXXX escapes */
} vt_col;

/* Binary bytes are collected here, then base64-encoded in bulk. Only the
 * 0..2 bytes that do not fill a base64 group stay between flushes. */
enum { VT_STAGE = 48 * 1024 };

typedef struct fmt_votable {
  fmt_encoder base;
  int ser;
  int state;
  vt_col *cols;
  size_t nflag;     /* null-flag bytes per row (BINARY2), 0 otherwise */
  size_t stage_len; /* bytes in stage */
  size_t row_start; /* stage offset where the current row began */
  int row_spilled;  /* the current row has been partly base64-encoded */
  unsigned linepos; /* base64 characters on the current output line */
  ts_buf scratch;   /* array literals of text/time arrays */
  ts_buf esc;       /* the ASCII form of a value of an `ascii` column */
  uint8_t stage[VT_STAGE];
} fmt_votable;

#define VT_NS "http://www.ivoa.net/xml/VOTable/v1.3"

/* ---- begin: column plans and the document head --------------------- */

static int vt_dt_parse(const char *s, vt_dt *dt)
{
  for (size_t i = 0; i < TS_ARRAY_LEN(vt_dts); i++) {
    if (strcmp(s, vt_dts[i].name) == 0) {
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

static int vt_is_int(vt_dt dt)
{
  return dt == DT_UBYTE || dt == DT_SHORT || dt == DT_INT || dt == DT_LONG;
}
static int vt_is_str(vt_dt dt)
{
  return dt == DT_CHAR || dt == DT_UNICODE;
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

/* The NULL stand-in of an integer datatype, declared as VALUES null. */
static int64_t vt_int_null(vt_dt dt)
{
  switch (dt) {
  case DT_UBYTE:
    return 255;
  case DT_SHORT:
    return INT16_MIN;
  case DT_INT:
    return INT32_MIN;
  default:
    return INT64_MIN;
  }
}

static void vt_field(fmt_votable *v, const stream_schema *s, size_t i)
{
  stream_out *o = v->base.out;
  const stream_column *c = &s->cols[i];
  const vt_col *vc = &v->cols[i];
  stream_out_puts(o, "<FIELD");
  vt_attr(o, "name", c->name ? c->name : "");
  if (vt_id_ok(s, i))
    vt_attr(o, "ID", c->id);
  vt_attr(o, "datatype", vt_dts[vc->dt].name);
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
static ts_err vt_text_of(fmt_votable *v, const stream_column *c, const stream_value *val,
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
static ts_err vt_ascii(fmt_votable *v, const uint8_t **s, size_t *n, size_t max)
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
  ts_err rc = vt_text_of(v, c, val, &s, &n);
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

/* ---- base64 of the staged bytes ---------------------------------------- */

static const char vt_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
enum { VT_B64_LINE = 76, VT_B64_CHUNK = 3072 };

/* Encodes every complete 3-byte group of the stage (and with `final` the
 * last 1-2 bytes, padded) into lines of 76 characters. */
static void vt_b64_emit(fmt_votable *v, int final)
{
  stream_out *o = v->base.out;
  const uint8_t *p = v->stage;
  size_t n = v->stage_len, full = n / 3 * 3, i = 0;
  /* Input per reservation: whole lines that fit the out buffer (4
   * characters per group plus a newline per 19 groups), at most 3 KiB. */
  size_t lim = o->cap / 78 * 57;
  lim = lim > VT_B64_CHUNK ? VT_B64_CHUNK : lim < 3 ? 3 : lim;
  while (i < full) {
    size_t chunk = full - i < lim ? full - i : lim;
    char *q = stream_out_reserve(o, chunk / 3 * 4 + chunk / 57 + 2);
    if (!q)
      break;
    char *q0 = q;
    for (size_t j = i; j < i + chunk; j += 3) {
      uint32_t x = (uint32_t)p[j] << 16 | (uint32_t)p[j + 1] << 8 | p[j + 2];
      q[0] = vt_b64[x >> 18];
      q[1] = vt_b64[(x >> 12) & 63];
      q[2] = vt_b64[(x >> 6) & 63];
      q[3] = vt_b64[x & 63];
      q += 4;
      v->linepos += 4;
      if (v->linepos == VT_B64_LINE) {
        *q++ = '\n';
        v->linepos = 0;
      }
    }
    stream_out_commit(o, (size_t)(q - q0));
    i += chunk;
  }
  size_t rem = n - full;
  if (final) {
    char t[6];
    size_t k = 0;
    if (rem) {
      uint32_t x = (uint32_t)p[full] << 16 | (rem == 2 ? (uint32_t)p[full + 1] << 8 : 0);
      t[k++] = vt_b64[x >> 18];
      t[k++] = vt_b64[(x >> 12) & 63];
      t[k++] = rem == 2 ? vt_b64[(x >> 6) & 63] : '=';
      t[k++] = '=';
      v->linepos += 4;
    }
    if (v->linepos)
      t[k++] = '\n';
    stream_out_put(o, t, k);
    v->linepos = 0;
    v->stage_len = 0;
  } else {
    memmove(v->stage, p + full, rem);
    v->stage_len = rem;
  }
  v->row_spilled = 1;
}

/* Room for n (<= 64) contiguous bytes in the stage. */
static inline uint8_t *vt_room(fmt_votable *v, size_t n)
{
  if (VT_STAGE - v->stage_len < n)
    vt_b64_emit(v, 0);
  return v->stage + v->stage_len;
}

static void vt_put(fmt_votable *v, const void *src, size_t n)
{
  const uint8_t *s = src;
  while (n) {
    size_t room = VT_STAGE - v->stage_len;
    if (!room) {
      vt_b64_emit(v, 0);
      continue;
    }
    size_t k = n < room ? n : room;
    memcpy(v->stage + v->stage_len, s, k);
    v->stage_len += k;
    s += k;
    n -= k;
  }
}

static void vt_zeros(fmt_votable *v, size_t n)
{
  while (n) {
    size_t k = n < 64 ? n : 64;
    memset(vt_room(v, k), 0, k);
    v->stage_len += k;
    n -= k;
  }
}

static void vt_be(uint8_t *q, uint64_t x, int size)
{
  for (int i = size - 1; i >= 0; i--) {
    q[i] = (uint8_t)x;
    x >>= 8;
  }
}

static void vt_put_i32(fmt_votable *v, int32_t n)
{
  vt_be(vt_room(v, 4), (uint32_t)n, 4);
  v->stage_len += 4;
}

/* ---- binary elements ---------------------------------------------------- */

static int64_t vt_as_i64(stream_kind k, const stream_value *el)
{
  switch (k) {
  case STREAM_BOOL:
    return stream_get_bool(el);
  case STREAM_INT2:
    return stream_get_int2(el);
  case STREAM_INT4:
    return stream_get_int4(el);
  case STREAM_INT8:
    return stream_get_int8(el);
  default: {
    double d = k == STREAM_FLOAT4   ? stream_get_float4(el)
               : k == STREAM_FLOAT8 ? stream_get_float8(el)
                                    : stream_numeric_to_double(el->p, el->len);
    /* Out of range (and NaN) has no integer: write the NULL stand-in. */
    if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18))
      return INT64_MIN;
    return (int64_t)d;
  }
  }
}

static double vt_as_f64(stream_kind k, const stream_value *el)
{
  switch (k) {
  case STREAM_BOOL:
    return stream_get_bool(el);
  case STREAM_INT2:
    return stream_get_int2(el);
  case STREAM_INT4:
    return stream_get_int4(el);
  case STREAM_INT8:
    return (double)stream_get_int8(el);
  case STREAM_FLOAT4:
    return stream_get_float4(el);
  case STREAM_FLOAT8:
    return stream_get_float8(el);
  default:
    return stream_numeric_to_double(el->p, el->len);
  }
}

/* One element of a numeric or boolean column; el->len < 0 is NULL:
 * '?' for boolean, NaN for floats, the VALUES null stand-in for integers. */
static ts_err vt_elem(fmt_votable *v, vt_dt dt, stream_kind k, const stream_value *el)
{
  int size = vt_dts[dt].size;
  uint8_t *q = vt_room(v, 8);
  if (el->len >= 0 && el->len < fmt__kind_len(k))
    return TS_EFORMAT;
  v->stage_len += (size_t)size;
  if (el->len < 0) {
    if (dt == DT_BOOLEAN)
      q[0] = '?';
    else if (dt == DT_FLOAT)
      vt_be(q, 0x7fc00000u, 4);
    else if (dt == DT_DOUBLE)
      vt_be(q, 0x7ff8000000000000u, 8);
    else
      vt_be(q, (uint64_t)vt_int_null(dt), size);
    return TS_OK;
  }
  /* PostgreSQL's send format is big-endian like VOTable's: same-typed
   * values are copied as they are. */
  if ((dt == DT_SHORT && k == STREAM_INT2) ||
      ((dt == DT_INT && k == STREAM_INT4) || (dt == DT_FLOAT && k == STREAM_FLOAT4)) ||
      ((dt == DT_LONG && k == STREAM_INT8) || (dt == DT_DOUBLE && k == STREAM_FLOAT8))) {
    memcpy(q, el->p, (size_t)size);
    return TS_OK;
  }
  switch (dt) {
  case DT_BOOLEAN:
    q[0] = (k == STREAM_BOOL ? stream_get_bool(el) : vt_as_f64(k, el) != 0) ? 'T' : 'F';
    break;
  case DT_FLOAT: {
    float f = (float)vt_as_f64(k, el);
    uint32_t u;
    memcpy(&u, &f, 4);
    vt_be(q, u, 4);
    break;
  }
  case DT_DOUBLE: {
    double d = vt_as_f64(k, el);
    uint64_t u;
    memcpy(&u, &d, 8);
    vt_be(q, u, 8);
    break;
  }
  default:
    vt_be(q, (uint64_t)vt_as_i64(k, el), size);
    break;
  }
  return TS_OK;
}

/* Numeric or boolean column value (scalar or array). */
static ts_err vt_num_field(fmt_votable *v, const stream_column *c, const vt_col *vc,
                           const stream_value *val)
{
  static const stream_value null_el = {NULL, -1};
  ts_err rc = TS_OK;
  if (vc->scalar)
    return vt_elem(v, vc->dt, c->kind, val);
  if (!c->is_array) {
    /* A scalar declared with an arraysize: an array of one. */
    if (vc->fixed < 0)
      vt_put_i32(v, val->len < 0 ? 0 : 1);
    int32_t n = vc->fixed < 0 ? (val->len < 0 ? 0 : 1) : vc->fixed;
    for (int32_t i = 0; i < n && !rc; i++)
      rc = vt_elem(v, vc->dt, c->kind, i == 0 ? val : &null_el);
    return rc;
  }
  stream_array_iter it;
  int64_t count = 0;
  if (val->len >= 0) {
    if (stream_array_begin(&it, val))
      return TS_EFORMAT;
    count = it.count;
  }
  int64_t n = vc->fixed >= 0 ? vc->fixed : count;
  if (vc->fixed < 0 && vc->bound >= 0 && n > vc->bound)
    n = vc->bound;
  if (vc->fixed < 0)
    vt_put_i32(v, (int32_t)n);
  stream_value el;
  for (int64_t i = 0; i < n && !rc; i++) {
    if (i < count && stream_array_next(&it, &el))
      rc = vt_elem(v, vc->dt, c->kind, &el);
    else
      rc = vt_elem(v, vc->dt, c->kind, &null_el); /* padding of a fixed size */
  }
  return rc;
}

/* UTF-8 -> UTF-16BE code units; returns the number of units, writing them
 * when `v` is not NULL (at most `max`). Invalid sequences become U+FFFD. */
static size_t vt_utf16(fmt_votable *v, const uint8_t *s, size_t n, size_t max)
{
  size_t units = 0;
  for (size_t i = 0; i < n && units < max;) {
    size_t k = s[i] < 0x80 ? 1 : ts_utf8_seq(s + i, n - i);
    uint32_t cp;
    if (k == 0) {
      cp = 0xFFFD;
      k = 1;
    } else if (k == 1) {
      cp = s[i];
    } else {
      cp = s[i] & (0xFF >> (k + 1));
      for (size_t j = 1; j < k; j++)
        cp = cp << 6 | (s[i + j] & 0x3F);
    }
    i += k;
    if (cp >= 0x10000) {
      /* A pair, never split: drop it if only one unit is left. */
      if (units + 2 > max)
        break;
      if (v) {
        cp -= 0x10000;
        vt_be(vt_room(v, 4), (0xD800u + (cp >> 10)) << 16 | (0xDC00u + (cp & 0x3FF)), 4);
        v->stage_len += 4;
      }
      units += 2;
    } else {
      if (v) {
        vt_be(vt_room(v, 2), cp, 2);
        v->stage_len += 2;
      }
      units++;
    }
  }
  return units;
}

/* Length of a string cut to at most max bytes without splitting a UTF-8
 * sequence. */
static size_t vt_utf8_cut(const uint8_t *s, size_t n, size_t max)
{
  if (n <= max)
    return n;
  while (max > 0 && (s[max] & 0xC0) == 0x80)
    max--;
  return max;
}

/* Writes one string of a char/unicodeChar column: count (variable) or
 * padding (fixed). */
static ts_err vt_str(fmt_votable *v, const vt_col *vc, const uint8_t *s, size_t n)
{
  size_t max = vc->fixed >= 0 ? (size_t)vc->fixed : vc->bound >= 0 ? (size_t)vc->bound : SIZE_MAX;
  if (vc->dt == DT_CHAR) {
    if (vc->ascii) {
      ts_err rc = vt_ascii(v, &s, &n, max);
      if (rc)
        return rc;
    }
    n = vt_utf8_cut(s, n, max);
    if (vc->fixed < 0)
      vt_put_i32(v, (int32_t)n);
    vt_put(v, s, n);
    if (vc->fixed >= 0)
      vt_zeros(v, (size_t)vc->fixed - n); /* NUL padding: readers cut there */
    return TS_OK;
  }
  size_t units = vt_utf16(NULL, s, n, max);
  if (vc->fixed < 0)
    vt_put_i32(v, (int32_t)units);
  vt_utf16(v, s, n, max);
  if (vc->fixed >= 0)
    vt_zeros(v, ((size_t)vc->fixed - units) * 2);
  return TS_OK;
}

static ts_err vt_str_field(fmt_votable *v, const stream_column *c, const vt_col *vc,
                           const stream_value *val)
{
  if (val->len < 0) {
    if (vc->fixed < 0)
      vt_put_i32(v, 0);
    else
      vt_zeros(v, (size_t)vc->fixed * vt_dts[vc->dt].size);
    return TS_OK;
  }
  if ((c->kind == STREAM_TEXT && !c->is_array) || (c->is_array && fmt__kind_is_text(c->kind))) {
    const uint8_t *s;
    size_t n;
    ts_err rc = vt_text_of(v, c, val, &s, &n);
    return rc ? rc : vt_str(v, vc, s, n);
  }
  if (c->is_array)
    return TS_EFORMAT; /* numbers as one string: not a declared form */
  char tmp[FMT_NUM_MAX];
  if (val->len < fmt__kind_len(c->kind))
    return TS_EFORMAT;
  size_t n = fmt__scalar_text(tmp, c->kind, val, FMT_TEXT_CSV);
  return vt_str(v, vc, (const uint8_t *)tmp, n);
}

static ts_err vt_bin_rows(fmt_encoder *e, const stream_batch *b)
{
  fmt_votable *v = (fmt_votable *)e;
  const stream_column *cols = e->schema->cols;
  for (size_t r = 0; r < b->nrows; r++) {
    const stream_value *row = stream_batch_row(b, r);
    v->row_start = v->stage_len;
    v->row_spilled = 0;
    /* BINARY2 null flags, most significant bit first. */
    for (size_t k = 0; k < v->nflag; k++) {
      uint8_t byte = 0;
      for (size_t i = k * 8; i < k * 8 + 8 && i < b->ncols; i++)
        if (row[i].len < 0)
          byte |= (uint8_t)(0x80u >> (i & 7));
      *vt_room(v, 1) = byte;
      v->stage_len++;
    }
    for (size_t i = 0; i < b->ncols; i++) {
      const vt_col *vc = &v->cols[i];
      ts_err rc = vt_is_str(vc->dt) ? vt_str_field(v, &cols[i], vc, &row[i])
                                    : vt_num_field(v, &cols[i], vc, &row[i]);
      if (rc) {
        /* Drop the partial row when it is still in the stage, so the
         * stream stays decodable up to the last good row. */
        if (!v->row_spilled)
          v->stage_len = v->row_start;
        return rc;
      }
    }
  }
  return e->out->err;
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
    vt_b64_emit(v, 1);
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
VT_TYPE(fmt_votable_b2_type, "votable", VT_MIME "BINARY2", vt_b2_aliases, vt_begin_b2, vt_bin_rows,
        NULL, NULL, "vot");
VT_TYPE(fmt_votable_td_type, "votable/td", VT_MIME "TABLEDATA", vt_td_aliases, vt_begin_td,
        vt_td_rows, NULL, NULL, "vot");
VT_TYPE(fmt_votable_b_type, "votable/b", VT_MIME "BINARY", vt_b_aliases, vt_begin_b, vt_bin_rows,
        NULL, NULL, "vot");
/* As ESA serves it: the VOTable (BINARY2) as a gzip file, not as a
 * Content-Encoding, so clients that save the body get a .vot.gz. */
static const char *const vt_gzip_aliases[] = {"application/x-gzip", NULL};
VT_TYPE(fmt_votable_gzip_type, "votable_gzip", "application/gzip", vt_gzip_aliases, vt_begin_b2,
        vt_bin_rows, NULL, "gzip", "vot.gz");
/* Found by fmt_lookup with version=1.5; not listed by fmt_all. */
VT_TYPE(fmt_votable_b2_v15_type, "votable", VT_MIME "BINARY2;version=1.5", vt_b2_aliases,
        vt_begin_b2, vt_bin_rows, "1.5", NULL, "vot");
VT_TYPE(fmt_votable_td_v15_type, "votable/td", VT_MIME "TABLEDATA;version=1.5", vt_td_aliases,
        vt_begin_td, vt_td_rows, "1.5", NULL, "vot");
VT_TYPE(fmt_votable_b_v15_type, "votable/b", VT_MIME "BINARY;version=1.5", vt_b_aliases, vt_begin_b,
        vt_bin_rows, "1.5", NULL, "vot");

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
