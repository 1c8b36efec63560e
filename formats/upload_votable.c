/* formats/upload_votable.c: the VOTable upload reader (1.1 to 1.5).
 *
 * The first TABLE of the document (RESOURCE nesting, INFO, PARAM, GROUP,
 * COOSYS, TIMESYS skipped) gives the columns (FIELD: name, ID, datatype,
 * arraysize, xtype, unit, ucd, utype, DESCRIPTION, VALUES/@null) and its
 * DATA the rows: TABLEDATA, or a BINARY or BINARY2 STREAM in base64.
 *
 * The parser is libxml2's SAX2 push parser fed 64 KiB at a time, not
 * xmlTextReader: the reader hands out a text node whole, and a STREAM is
 * one text node as large as the table. SAX delivers text in pieces, so the
 * base64 is decoded and the rows written as the characters come, and
 * memory stays flat whatever the size (see docs/internals/formats.md).
 *
 * Security: no network (XML_PARSE_NONET), no DTD loading, no entity
 * substitution, and a DOCTYPE is refused where it starts, before any
 * entity declaration is read (billion laughs, XXE); libxml2's own limits
 * stay on (no XML_PARSE_HUGE) and element depth is bounded here. */
#include "formats/upload_int.h"

#include <errno.h>
#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

enum {
  VT_DEPTH_MAX = 64,    /* VOTable nests RESOURCEs, GROUPs; 64 is plenty */
  VT_CHUNK = 64 << 10,  /* bytes read and pushed at a time */
  VT_FIELDS_GROW = 16,  /* initial FIELD slots */
  VT_DECODED = 4 << 10, /* base64 decoded per step */
};

typedef enum vt_dt {
  DT_BOOL,
  DT_BIT,
  DT_UBYTE,
  DT_SHORT,
  DT_INT,
  DT_LONG,
  DT_CHAR,
  DT_UCHAR,
  DT_FLOAT,
  DT_DOUBLE,
  DT_OTHER,
} vt_dt;

static const struct {
  const char *name;
  int size;
} vt_dts[] = {{"boolean", 1}, {"bit", 0},  {"unsignedByte", 1}, {"short", 2}, {"int", 4},
              {"long", 8},    {"char", 1}, {"unicodeChar", 2},  {"float", 4}, {"double", 8}};

typedef struct vt_field {
  const char *name, *id, *datatype, *arraysize, *xtype, *unit, *ucd, *utype, *desc;
  fmt_up_null nul;
  vt_dt dt;
  uint64_t fixed; /* elements in the fixed dimensions (1 for a scalar) */
  int variable;   /* arraysize ends in '*': a 4-byte count precedes the value */
} vt_field;

typedef enum { S_SEEK, S_TABLE, S_DATA, S_DONE } vt_state;
typedef enum { T_NONE, T_TABLE_DESC, T_FIELD_DESC, T_TD, T_STREAM } vt_text;
typedef enum { SER_NONE, SER_TD, SER_B, SER_B2 } vt_ser;
typedef enum { B_IDLE, B_FLAGS, B_LEN, B_DATA } vt_bstate;

typedef struct vt_rd {
  xmlParserCtxtPtr ctx;
  const fmt_upload_limits *lim;
  ts_arena *a;
  fmt_upload_table_fn on_table;
  void *ud;
  stream_out *out;
  ts_error *err;
  ts_err rc;
  int finished; /* the table is read: the rest of the document is not */
  int depth, seen_root, tdepth;
  vt_state st;
  vt_text text_to;
  int in_field, in_tr;
  ts_buf text; /* a TD or a DESCRIPTION */
  const char *tname, *tdesc;
  vt_field *f;
  size_t nf, fcap;
  fmt_upload_column *cols;
  stream_copyenc enc;
  int enc_on;
  vt_ser ser;
  uint64_t row; /* rows begun */
  size_t col;   /* the TD or binary field being read */
  /* STREAM: base64 and the binary rows */
  int in_stream;
  uint32_t b64;
  int b64n, b64end;
  vt_bstate bs;
  size_t need;
  uint64_t count; /* elements of the current field */
  ts_buf gb;      /* bytes of a field or flags split across pieces */
  uint8_t flags[FMT_UP_COLUMNS_MAX / 8];
  size_t nflag;
  ts_buf conv; /* unicodeChar as UTF-8 */
  /* the first libxml2 error */
  int xml_line;
  char xml_msg[200];
} vt_rd;

static int line(vt_rd *r)
{
  return r->ctx ? xmlSAX2GetLineNumber(r->ctx) : 0;
}

static void stop(vt_rd *r, ts_err rc)
{
  if (!r->rc)
    r->rc = rc ? rc : TS_EINVAL;
  xmlStopParser(r->ctx);
}

static void fail(vt_rd *r, ts_err code, const char *fmt, ...) TS_PRINTF(3, 4);
static void fail(vt_rd *r, ts_err code, const char *fmt, ...)
{
  va_list ap;
  if (r->rc)
    return;
  va_start(ap, fmt);
  ts_failv(r->err, code, 0, fmt, ap);
  va_end(ap);
  stop(r, code);
}

/* A value's error: the reason in r->err gets the row and column. */
static void fail_at(vt_rd *r, ts_err rc)
{
  if (r->rc)
    return;
  const char *name = r->col < r->nf ? r->cols[r->col].c.name : "?";
  if (r->ser == SER_TD)
    fmt__up_locate(r->err, "line %d, row %llu, column %s", line(r), (unsigned long long)r->row,
                   name);
  else
    fmt__up_locate(r->err, "row %llu, column %s", (unsigned long long)r->row, name);
  stop(r, rc);
}

/* ---- attributes ----------------------------------------------------------- */

/* An attribute's value in the arena, or NULL. With entity substitution off
 * libxml2 hands "&amp;" in attribute values on as "&#38;" (so that a tree
 * builder can tell it from a literal '&'); that is undone here. */
static const char *attr(vt_rd *r, int n, const xmlChar **at, const char *name)
{
  for (int i = 0; i < n; i++, at += 5) {
    if (strcmp((const char *)at[0], name) != 0)
      continue;
    const char *v = (const char *)at[3], *end = (const char *)at[4];
    char *s = ts_arena_alloc(r->a, (size_t)(end - v) + 1), *q = s;
    if (!s) {
      fail(r, TS_ENOMEM, "out of memory reading attribute %s", name);
      return NULL;
    }
    while (v < end) {
      if (end - v >= 5 && memcmp(v, "&#38;", 5) == 0) {
        *q++ = '&';
        v += 5;
      } else {
        *q++ = *v++;
      }
    }
    *q = 0;
    return s;
  }
  return NULL;
}

static int is(const xmlChar *local, const char *name)
{
  return strcmp((const char *)local, name) == 0;
}

/* ---- the table's description ------------------------------------------------ */

static void add_field(vt_rd *r, int nat, const xmlChar **at)
{
  if (r->nf >= r->lim->max_columns) {
    fail(r, TS_ELIMIT, "the table has more than %zu columns (limit max_columns)",
         r->lim->max_columns);
    return;
  }
  if (r->nf == r->fcap) {
    size_t cap = r->fcap ? r->fcap * 2 : VT_FIELDS_GROW;
    vt_field *f = realloc(r->f, cap * sizeof *f);
    if (!f) {
      fail(r, TS_ENOMEM, "out of memory reading FIELD %zu", r->nf + 1);
      return;
    }
    r->f = f;
    r->fcap = cap;
  }
  vt_field *f = &r->f[r->nf++];
  memset(f, 0, sizeof *f);
  f->name = attr(r, nat, at, "name");
  f->id = attr(r, nat, at, "ID");
  f->datatype = attr(r, nat, at, "datatype");
  f->arraysize = attr(r, nat, at, "arraysize");
  f->xtype = attr(r, nat, at, "xtype");
  f->unit = attr(r, nat, at, "unit");
  f->ucd = attr(r, nat, at, "ucd");
  f->utype = attr(r, nat, at, "utype");
  r->in_field = 1;
}

static void field_values(vt_rd *r, int nat, const xmlChar **at)
{
  vt_field *f = &r->f[r->nf - 1];
  const char *null = attr(r, nat, at, "null");
  ts_error e;
  if (!null || !f->datatype)
    return;
  for (int d = DT_UBYTE; d <= DT_LONG; d++)
    if (strcmp(f->datatype, vt_dts[d].name) == 0) {
      if (fmt__up_parse_i64(null, strlen(null), &f->nul.int_null, &e)) {
        fail(r, TS_EINVAL, "line %d, FIELD %s: VALUES null: %s", line(r), f->name ? f->name : "?",
             e.msg);
        return;
      }
      f->nul.has_int = 1;
    }
}

/* The binary layout of a field: element type, fixed elements, variable. */
static void plan(vt_field *f)
{
  f->dt = DT_OTHER;
  for (int d = 0; d < DT_OTHER; d++)
    if (strcmp(f->datatype, vt_dts[d].name) == 0)
      f->dt = (vt_dt)d;
  f->fixed = 1;
  f->variable = 0;
  for (const char *p = f->arraysize; p && *p;) {
    if (*p == '*') {
      f->variable = 1;
      break;
    }
    char *end;
    unsigned long d = strtoul(p, &end, 10);
    f->fixed *= d; /* fmt_upload_set_type has bounded the product */
    if (*end == '*')
      f->variable = 1;
    if (*end != 'x')
      break;
    p = end + 1;
  }
}

static const char *dup_text(vt_rd *r)
{
  return r->text.len ? ts_arena_strndup(r->a, r->text.data, r->text.len) : NULL;
}

/* The columns are known (DATA begins, or the TABLE ends without one):
 * types, on_table, and the COPY header. */
static void begin_rows(vt_rd *r)
{
  if (r->nf == 0) {
    fail(r, TS_EINVAL, "line %d: the TABLE has no FIELD", line(r));
    return;
  }
  r->cols = ts_arena_calloc(r->a, r->nf, sizeof *r->cols);
  if (!r->cols) {
    fail(r, TS_ENOMEM, "out of memory describing %zu columns", r->nf);
    return;
  }
  for (size_t i = 0; i < r->nf; i++) {
    vt_field *f = &r->f[i];
    stream_column *c = &r->cols[i].c;
    c->name = f->name ? f->name : f->id;
    if (!c->name)
      c->name = ts_arena_printf(r->a, "col%zu", i + 1);
    c->id = f->id;
    c->unit = f->unit;
    c->ucd = f->ucd;
    c->utype = f->utype;
    c->description = f->desc;
    ts_err rc = fmt_upload_set_type(&r->cols[i], f->datatype, f->arraysize, f->xtype, r->err);
    if (rc) {
      stop(r, rc);
      return;
    }
    plan(f);
  }
  fmt_upload_table t = {r->tname, r->tdesc, r->nf, r->cols};
  ts_err rc = r->on_table(r->ud, &t, r->err);
  if (rc) {
    if (r->err->code == TS_OK)
      ts_fail(r->err, rc, 0, "the upload table was refused");
    stop(r, rc);
    return;
  }
  rc = stream_copyenc_init(&r->enc, r->out, r->nf);
  r->enc_on = 1;
  if (rc)
    fail(r, rc, "cannot begin writing the rows");
  r->nflag = (r->nf + 7) / 8;
}

/* ---- rows ------------------------------------------------------------------ */

static int row_begin(vt_rd *r)
{
  if (r->lim->max_rows && r->row >= r->lim->max_rows) {
    fail(r, TS_ELIMIT, "the table has more than %llu rows (limit max_rows)",
         (unsigned long long)r->lim->max_rows);
    return -1;
  }
  r->row++;
  r->col = 0;
  ts_err rc = stream_copyenc_row(&r->enc);
  if (rc) {
    fail(r, rc, "row %llu: cannot write the row", (unsigned long long)r->row);
    return -1;
  }
  return 0;
}

static void td_end(vt_rd *r)
{
  if (r->col >= r->nf) {
    fail(r, TS_EINVAL, "line %d, row %llu: more TD than the %zu FIELDs", line(r),
         (unsigned long long)r->row, r->nf);
    return;
  }
  ts_err rc = fmt__up_put_text(&r->enc, &r->cols[r->col], &r->f[r->col].nul, r->text.data,
                               r->text.len, r->err);
  if (rc)
    fail_at(r, rc);
  else
    r->col++;
}

static ts_err value_limit(vt_rd *r, uint64_t bytes)
{
  if (bytes <= r->lim->max_value_bytes)
    return TS_OK;
  ts_fail(r->err, TS_ELIMIT, 0, "a value of %llu bytes is over the limit max_value_bytes (%zu)",
          (unsigned long long)bytes, r->lim->max_value_bytes);
  fail_at(r, TS_ELIMIT);
  return TS_ELIMIT;
}

/* ---- binary values ----------------------------------------------------------- */

static uint64_t be(const uint8_t *p, int n)
{
  uint64_t x = 0;
  for (int i = 0; i < n; i++)
    x = x << 8 | p[i];
  return x;
}

/* unicodeChar (UCS-2, or UTF-16 as VOTable 1.5 allows) to UTF-8 in
 * r->conv, up to the first U+0000. */
static ts_err utf16(vt_rd *r, const uint8_t *p, size_t n, ts_error *err)
{
  ts_buf_reset(&r->conv);
  for (size_t i = 0; i + 1 < n; i += 2) {
    uint32_t u = (uint32_t)be(p + i, 2);
    if (u == 0)
      break;
    if (u >= 0xD800 && u < 0xDC00 && i + 3 < n) {
      uint32_t lo = (uint32_t)be(p + i + 2, 2);
      if (lo >= 0xDC00 && lo < 0xE000) {
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        i += 2;
      }
    }
    if (u >= 0xD800 && u < 0xE000)
      return ts_fail(err, TS_EINVAL, 0, "unpaired UTF-16 surrogate in a unicodeChar value");
    uint8_t q[4];
    size_t k;
    if (u < 0x80)
      q[0] = (uint8_t)u, k = 1;
    else if (u < 0x800)
      q[0] = (uint8_t)(0xC0 | u >> 6), q[1] = (uint8_t)(0x80 | (u & 63)), k = 2;
    else if (u < 0x10000)
      q[0] = (uint8_t)(0xE0 | u >> 12), q[1] = (uint8_t)(0x80 | ((u >> 6) & 63)),
      q[2] = (uint8_t)(0x80 | (u & 63)), k = 3;
    else
      q[0] = (uint8_t)(0xF0 | u >> 18), q[1] = (uint8_t)(0x80 | ((u >> 12) & 63)),
      q[2] = (uint8_t)(0x80 | ((u >> 6) & 63)), q[3] = (uint8_t)(0x80 | (u & 63)), k = 4;
    ts_err rc = ts_buf_append(&r->conv, q, k);
    if (rc)
      return ts_fail(err, rc, 0, "a unicodeChar value is too long");
  }
  return TS_OK;
}

/* One text value (char, unicodeChar; text or timestamp column). Empty is
 * NULL except in BINARY2, whose null flags say which are. */
static ts_err bin_text(vt_rd *r, const fmt_upload_column *col, const vt_field *f, const uint8_t *p,
                       size_t n, ts_error *err)
{
  const char *s = (const char *)p;
  if (f->dt == DT_UCHAR) {
    ts_err rc = utf16(r, p, n, err);
    if (rc)
      return rc;
    s = r->conv.data;
    n = r->conv.len;
  } else {
    const uint8_t *z = n ? memchr(p, 0, n) : NULL; /* p is NULL for no bytes */
    if (z)
      n = (size_t)(z - p);
  }
  if (n == 0 && r->ser != SER_B2)
    return stream_copyenc_null(&r->enc);
  if (n == 0) /* a non-NULL empty string (or timestamp: none) */
    return col->c.kind == STREAM_TEXT ? stream_copyenc_text(&r->enc, "", 0)
                                      : stream_copyenc_null(&r->enc);
  return fmt__up_put_text(&r->enc, col, NULL, s, n, err);
}

/* Element i of a numeric, boolean or bit field. */
static ts_err bin_elem(vt_rd *r, const fmt_upload_column *col, const vt_field *f, const uint8_t *p,
                       uint64_t i, ts_error *err)
{
  stream_copyenc *e = &r->enc;
  switch (f->dt) {
  case DT_BIT:
    return stream_copyenc_bool(e, p[i / 8] >> (7 - i % 8) & 1);
  case DT_BOOL: {
    uint8_t c = p[i];
    if (c == 'T' || c == 't' || c == '1')
      return stream_copyenc_bool(e, 1);
    if (c == 'F' || c == 'f' || c == '0')
      return stream_copyenc_bool(e, 0);
    if (c == '?' || c == ' ' || c == 0)
      return stream_copyenc_null(e);
    return ts_fail(err, TS_EINVAL, 0, "byte 0x%02x is not a boolean", c);
  }
  case DT_FLOAT:
  case DT_DOUBLE: {
    int sz = vt_dts[f->dt].size;
    uint64_t u = be(p + i * (uint64_t)sz, sz);
    double d;
    if (sz == 4) {
      uint32_t u4 = (uint32_t)u;
      float x;
      memcpy(&x, &u4, 4);
      d = x;
    } else {
      memcpy(&d, &u, 8);
    }
    /* In BINARY a NaN scalar is how NULL is written. */
    if (isnan(d) && r->ser == SER_B && !col->c.is_array)
      return stream_copyenc_null(e);
    return fmt__up_put_f64(e, col, d, err);
  }
  default: {
    int sz = vt_dts[f->dt].size;
    uint64_t u = be(p + i * (uint64_t)sz, sz);
    int64_t v = f->dt == DT_UBYTE   ? (int64_t)u
                : f->dt == DT_SHORT ? (int16_t)u
                : f->dt == DT_INT   ? (int32_t)u
                                    : (int64_t)u;
    if (f->nul.has_int && v == f->nul.int_null)
      return stream_copyenc_null(e);
    return fmt__up_put_i64(e, col, v, err);
  }
  }
}

static ts_err bin_value(vt_rd *r, const uint8_t *p, size_t n, int isnull)
{
  const fmt_upload_column *col = &r->cols[r->col];
  const vt_field *f = &r->f[r->col];
  ts_error *err = r->err;
  uint64_t count = r->count;
  if (isnull)
    return stream_copyenc_null(&r->enc);
  if (f->dt == DT_CHAR || f->dt == DT_UCHAR)
    return bin_text(r, col, f, p, n, err);
  if (!col->c.is_array)
    return bin_elem(r, col, f, p, 0, err);
  if (count == 0 && r->ser == SER_B)
    return stream_copyenc_null(&r->enc); /* BINARY has no other NULL for arrays */
  ts_err rc = fmt__up_geom_count(col, count, err);
  if (!rc)
    rc = stream_copyenc_array_begin(&r->enc, fmt__up_elem_oid(col->c.kind));
  for (uint64_t i = 0; !rc && i < count; i++)
    rc = bin_elem(r, col, f, p, i, err);
  if (!rc)
    rc = stream_copyenc_array_end(&r->enc);
  return rc;
}

/* The next field of the row (or the end of it): what to read. */
static void bin_field(vt_rd *r)
{
  if (r->col == r->nf) {
    r->bs = B_IDLE;
    return;
  }
  const vt_field *f = &r->f[r->col];
  if (f->variable) {
    r->bs = B_LEN;
    r->need = 4;
    return;
  }
  r->count = f->fixed;
  r->bs = B_DATA;
  r->need = f->dt == DT_BIT ? (size_t)((f->fixed + 7) / 8) : (size_t)f->fixed * vt_dts[f->dt].size;
}

/* Acts on the `need` bytes at p for the current state. */
static ts_err bin_step(vt_rd *r, const uint8_t *p)
{
  switch (r->bs) {
  case B_FLAGS:
    memcpy(r->flags, p, r->nflag);
    bin_field(r);
    return TS_OK;
  case B_LEN: {
    const vt_field *f = &r->f[r->col];
    uint64_t count = be(p, 4), bytes;
    uint64_t elems;
    int size = f->dt == DT_BIT ? 1 : vt_dts[f->dt].size;
    if (__builtin_mul_overflow(count, f->fixed, &elems) ||
        __builtin_mul_overflow(elems, (uint64_t)size, &bytes))
      bytes = UINT64_MAX;
    else if (f->dt == DT_BIT)
      bytes = (elems + 7) / 8;
    if (value_limit(r, bytes))
      return TS_ELIMIT;
    r->count = count * f->fixed;
    r->bs = B_DATA;
    r->need = (size_t)bytes;
    return TS_OK;
  }
  case B_DATA: {
    int isnull = r->ser == SER_B2 && (r->flags[r->col / 8] >> (7 - r->col % 8) & 1);
    ts_err rc = bin_value(r, p, r->need, isnull);
    if (rc) {
      if (r->err->code == TS_OK)
        ts_fail(r->err, rc, 0, "%s", rc == TS_ELIMIT ? "the value is too large" : "bad value");
      fail_at(r, rc);
      return rc;
    }
    r->col++;
    bin_field(r);
    return TS_OK;
  }
  default:
    return TS_OK;
  }
}

/* Decoded bytes of the STREAM, split anywhere. */
static ts_err bin_feed(vt_rd *r, const uint8_t *p, size_t n)
{
  ts_err rc = TS_OK;
  while (n && !rc) {
    if (r->bs == B_IDLE) {
      if (row_begin(r))
        return r->rc;
      if (r->ser == SER_B2) {
        r->bs = B_FLAGS;
        r->need = r->nflag;
      } else {
        bin_field(r);
      }
    }
    if (r->gb.len == 0 && n >= r->need) {
      size_t need = r->need;
      rc = bin_step(r, p);
      p += need;
      n -= need;
    } else {
      size_t take = r->need - r->gb.len < n ? r->need - r->gb.len : n;
      rc = ts_buf_append(&r->gb, p, take);
      if (rc) {
        fail(r, rc, "row %llu: out of memory", (unsigned long long)r->row);
        return rc;
      }
      p += take;
      n -= take;
      if (r->gb.len == r->need) {
        rc = bin_step(r, (const uint8_t *)r->gb.data);
        ts_buf_reset(&r->gb);
      }
    }
    /* Fields of no bytes (an empty variable array) need no input. */
    while (!rc && r->bs != B_IDLE && r->need == 0)
      rc = bin_step(r, NULL);
  }
  return rc;
}

/* base64 value of a byte; -1 not base64, -2 blank, -3 '=' */
static const int8_t b64tab[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -2, -2, -1, -1, -2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -3, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 50, 51, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

static void stream_text(vt_rd *r, const uint8_t *s, size_t n)
{
  uint8_t out[VT_DECODED + 3];
  size_t o = 0, i = 0;
  while (i < n) {
    /* Whole groups of four base64 characters: the bulk of a STREAM. */
    while (r->b64n == 0 && !r->b64end && i + 4 <= n && o < VT_DECODED) {
      int a = b64tab[s[i]], b = b64tab[s[i + 1]], c = b64tab[s[i + 2]], d = b64tab[s[i + 3]];
      if ((a | b | c | d) < 0)
        break;
      uint32_t x = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
      out[o++] = (uint8_t)(x >> 16);
      out[o++] = (uint8_t)(x >> 8);
      out[o++] = (uint8_t)x;
      i += 4;
    }
    if (o >= VT_DECODED) {
      if (bin_feed(r, out, o))
        return;
      o = 0;
      continue;
    }
    if (i >= n)
      break;
    /* One character at a time: blanks, padding, groups split by either. */
    int v = b64tab[s[i++]];
    if (v == -2)
      continue;
    if (v == -3) {
      r->b64end = 1;
      continue;
    }
    if (v < 0 || r->b64end) {
      fail(r, TS_EINVAL, "line %d: the STREAM holds %s", line(r),
           v < 0 ? "a character that is not base64" : "base64 after its '=' padding");
      return;
    }
    r->b64 = r->b64 << 6 | (uint32_t)v;
    if (++r->b64n == 4) {
      out[o++] = (uint8_t)(r->b64 >> 16);
      out[o++] = (uint8_t)(r->b64 >> 8);
      out[o++] = (uint8_t)r->b64;
      r->b64n = 0;
      r->b64 = 0;
    }
  }
  if (o)
    bin_feed(r, out, o);
}

static void stream_end(vt_rd *r)
{
  uint8_t out[2];
  size_t o = 0;
  if (r->b64n == 1) {
    fail(r, TS_EINVAL, "line %d: the base64 of the STREAM is truncated", line(r));
    return;
  }
  if (r->b64n == 2)
    out[o++] = (uint8_t)(r->b64 >> 4);
  if (r->b64n == 3) {
    out[o++] = (uint8_t)(r->b64 >> 10);
    out[o++] = (uint8_t)(r->b64 >> 2);
  }
  if (o && bin_feed(r, out, o))
    return;
  if (r->bs != B_IDLE)
    fail(r, TS_EINVAL, "line %d: the STREAM ends inside row %llu (column %s): truncated data",
         line(r), (unsigned long long)r->row, r->col < r->nf ? r->cols[r->col].c.name : "?");
  r->in_stream = 0;
}

/* ---- SAX callbacks ----------------------------------------------------------- */

static void on_start(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                     int nns, const xmlChar **ns, int nat, int ndef, const xmlChar **at)
{
  vt_rd *r = ud;
  (void)prefix, (void)uri, (void)nns, (void)ns, (void)ndef;
  if (r->rc || r->finished)
    return;
  int d = ++r->depth;
  if (d > VT_DEPTH_MAX) {
    fail(r, TS_EINVAL, "line %d: elements nest deeper than %d", line(r), VT_DEPTH_MAX);
    return;
  }
  if (!r->seen_root) {
    r->seen_root = 1;
    if (!is(local, "VOTABLE"))
      fail(r, TS_EINVAL, "line %d: the document is not a VOTable (its root is %.64s)", line(r),
           (const char *)local);
    return;
  }
  switch (r->st) {
  case S_SEEK:
    if (is(local, "TABLE")) {
      r->st = S_TABLE;
      r->tdepth = d;
      r->tname = attr(r, nat, at, "name");
    }
    return;
  case S_TABLE:
    if (d == r->tdepth + 1) {
      if (is(local, "FIELD")) {
        add_field(r, nat, at);
      } else if (is(local, "DESCRIPTION")) {
        r->text_to = T_TABLE_DESC;
        ts_buf_reset(&r->text);
      } else if (is(local, "DATA")) {
        begin_rows(r);
        r->st = S_DATA;
      }
    } else if (d == r->tdepth + 2 && r->in_field) {
      if (is(local, "DESCRIPTION")) {
        r->text_to = T_FIELD_DESC;
        ts_buf_reset(&r->text);
      } else if (is(local, "VALUES")) {
        field_values(r, nat, at);
      }
    }
    return;
  case S_DATA:
    if (d == r->tdepth + 2) {
      if (is(local, "TABLEDATA"))
        r->ser = SER_TD;
      else if (is(local, "BINARY"))
        r->ser = SER_B;
      else if (is(local, "BINARY2"))
        r->ser = SER_B2;
      else
        fail(r, TS_EINVAL, "line %d: DATA as %.32s is not supported (TABLEDATA, BINARY, BINARY2)",
             line(r), (const char *)local);
    } else if (d == r->tdepth + 3 && r->ser == SER_TD && is(local, "TR")) {
      if (!row_begin(r))
        r->in_tr = 1;
    } else if (d == r->tdepth + 4 && r->in_tr && is(local, "TD")) {
      const char *enc = attr(r, nat, at, "encoding");
      if (enc && strcmp(enc, "none") != 0)
        fail(r, TS_EINVAL, "line %d: TD encoding=\"%.32s\" is not supported", line(r), enc);
      r->text_to = T_TD;
      ts_buf_reset(&r->text);
    } else if (d == r->tdepth + 3 && (r->ser == SER_B || r->ser == SER_B2) && is(local, "STREAM")) {
      const char *enc = attr(r, nat, at, "encoding");
      if (attr(r, nat, at, "href"))
        fail(r, TS_EINVAL, "line %d: a STREAM with href (external data) is not accepted", line(r));
      else if (!enc || strcmp(enc, "base64") != 0)
        fail(r, TS_EINVAL, "line %d: STREAM encoding \"%.32s\" is not supported (base64 only)",
             line(r), enc ? enc : "");
      r->in_stream = 1;
      r->text_to = T_STREAM;
    }
    return;
  default:
    return;
  }
}

static void on_end(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
  vt_rd *r = ud;
  (void)prefix, (void)uri;
  if (r->rc || r->finished)
    return;
  int d = r->depth--;
  if (r->st == S_TABLE || r->st == S_DATA) {
    if (d == r->tdepth) {
      if (r->st == S_TABLE)
        begin_rows(r); /* a TABLE without DATA: no rows */
      r->st = S_DONE;
      r->finished = 1;
      xmlStopParser(r->ctx);
      return;
    }
    if (r->text_to == T_TABLE_DESC && d == r->tdepth + 1) {
      r->tdesc = dup_text(r);
      r->text_to = T_NONE;
    } else if (r->text_to == T_FIELD_DESC && d == r->tdepth + 2) {
      r->f[r->nf - 1].desc = dup_text(r);
      r->text_to = T_NONE;
    } else if (r->in_field && d == r->tdepth + 1 && is(local, "FIELD")) {
      r->in_field = 0;
    } else if (r->text_to == T_TD && d == r->tdepth + 4) {
      r->text_to = T_NONE;
      td_end(r);
    } else if (r->in_tr && d == r->tdepth + 3) {
      r->in_tr = 0;
      if (r->col != r->nf)
        fail(r, TS_EINVAL, "line %d, row %llu: %zu TD where the table has %zu FIELDs", line(r),
             (unsigned long long)r->row, r->col, r->nf);
    } else if (r->in_stream && d == r->tdepth + 3) {
      r->text_to = T_NONE;
      stream_end(r);
    }
  }
}

static void on_text(void *ud, const xmlChar *ch, int len)
{
  vt_rd *r = ud;
  if (r->rc || r->finished || r->text_to == T_NONE)
    return;
  if (r->text_to == T_STREAM) {
    stream_text(r, ch, (size_t)len);
    return;
  }
  if (ts_buf_append(&r->text, ch, (size_t)len)) {
    if (r->text_to == T_TD) {
      ts_fail(r->err, TS_ELIMIT, 0, "a value is longer than the limit max_value_bytes (%zu)",
              r->lim->max_value_bytes);
      fail_at(r, TS_ELIMIT);
    } else {
      fail(r, TS_ELIMIT, "line %d: a DESCRIPTION is longer than the limit max_value_bytes (%zu)",
           line(r), r->lim->max_value_bytes);
    }
  }
}

static void on_doctype(void *ud, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
  vt_rd *r = ud;
  (void)name, (void)ext, (void)sys;
  fail(r, TS_EINVAL, "line %d: a DOCTYPE is not accepted in an upload (no DTD, no entities)",
       line(r));
}

static void on_entity_decl(void *ud, const xmlChar *name, int type, const xmlChar *pub,
                           const xmlChar *sys, xmlChar *content)
{
  vt_rd *r = ud;
  (void)name, (void)type, (void)pub, (void)sys, (void)content;
  fail(r, TS_EINVAL, "line %d: entity declarations are not accepted", line(r));
}

static xmlEntityPtr on_get_entity(void *ud, const xmlChar *name)
{
  (void)ud, (void)name;
  return NULL; /* only the five predefined ones, which libxml2 handles itself */
}

static void on_xml_error(void *ud, xmlErrorPtr e)
{
  vt_rd *r = ud;
  if (!e || e->level < XML_ERR_ERROR || r->xml_msg[0])
    return;
  snprintf(r->xml_msg, sizeof r->xml_msg, "%s", e->message ? e->message : "malformed XML");
  size_t n = strlen(r->xml_msg);
  while (n && (r->xml_msg[n - 1] == '\n' || r->xml_msg[n - 1] == ' '))
    r->xml_msg[--n] = 0;
  r->xml_line = e->line;
}

/* ---- the reader ------------------------------------------------------------------ */

ts_err fmt__upload_votable(int fd, const fmt_upload_limits *lim, ts_arena *a,
                           fmt_upload_table_fn on_table, void *ud, stream_out *out, uint64_t *rows,
                           ts_error *err)
{
  xmlSAXHandler sax;
  vt_rd r;
  char *buf = NULL;
  ts_err rc = TS_OK;
  memset(&sax, 0, sizeof sax);
  memset(&r, 0, sizeof r);
  sax.initialized = XML_SAX2_MAGIC;
  sax.startElementNs = on_start;
  sax.endElementNs = on_end;
  sax.characters = on_text;
  sax.cdataBlock = on_text;
  sax.ignorableWhitespace = on_text;
  sax.internalSubset = on_doctype;
  sax.entityDecl = on_entity_decl;
  sax.getEntity = on_get_entity;
  sax.getParameterEntity = on_get_entity;
  sax.serror = on_xml_error;
  r.lim = lim;
  r.a = a;
  r.on_table = on_table;
  r.ud = ud;
  r.out = out;
  r.err = err;
  ts_buf_init(&r.text, lim->max_value_bytes);
  ts_buf_init(&r.gb, lim->max_value_bytes);
  ts_buf_init(&r.conv, lim->max_value_bytes * 2);
  buf = malloc(VT_CHUNK);
  if (!buf) {
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    goto out;
  }
  r.ctx = xmlCreatePushParserCtxt(&sax, &r, NULL, 0, "upload");
  if (!r.ctx) {
    rc = ts_fail(err, TS_ENOMEM, 0, "cannot create an XML parser");
    goto out;
  }
  xmlCtxtUseOptions(r.ctx, XML_PARSE_NONET | XML_PARSE_NOWARNING);
  off_t off = 0;
  for (;;) {
    ssize_t n = pread(fd, buf, VT_CHUNK, off);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0) {
      rc = ts_fail(err, TS_EIO, 0, "cannot read the upload");
      goto out;
    }
    off += n;
    int xrc = xmlParseChunk(r.ctx, buf, (int)n, n == 0);
    if (r.rc) {
      rc = r.rc;
      goto out;
    }
    if (r.finished)
      break;
    if (xrc || !r.ctx->wellFormed) {
      rc = ts_fail(err, TS_EINVAL, 0, "malformed XML: line %d: %s",
                   r.xml_line ? r.xml_line : line(&r), r.xml_msg[0] ? r.xml_msg : "syntax error");
      goto out;
    }
    if (n == 0)
      break;
  }
  if (!r.seen_root) {
    rc = ts_fail(err, TS_EINVAL, 0, "the upload is empty");
    goto out;
  }
  if (r.st != S_DONE) {
    rc = ts_fail(err, TS_EINVAL, 0, "the VOTable has no TABLE");
    goto out;
  }
  rc = stream_copyenc_finish(&r.enc);
  if (rc && err->code == TS_OK)
    ts_fail(err, rc, 0, "cannot finish writing the rows");
  *rows = r.enc.rows;
out:
  if (r.ctx)
    xmlFreeParserCtxt(r.ctx);
  if (r.enc_on)
    stream_copyenc_free(&r.enc);
  ts_buf_free(&r.text);
  ts_buf_free(&r.gb);
  ts_buf_free(&r.conv);
  free(r.f);
  free(buf);
  return rc;
}
