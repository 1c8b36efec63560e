/* formats/upload_votable.c: the VOTable upload reader (1.1 to 1.5).
 *
 * The first TABLE of the document (RESOURCE nesting, INFO, PARAM, GROUP,
 * COOSYS, TIMESYS skipped) gives the columns (FIELD: name, ID, datatype,
 * arraysize, xtype, unit, ucd, utype, DESCRIPTION, VALUES/@null) and its
 * DATA the rows: TABLEDATA, or a BINARY or BINARY2 STREAM in base64. The
 * rest of the document is parsed without being used: a document that is
 * not well-formed after the table (or cut short) is refused like one that
 * breaks inside it.
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
#include "formats/upload_vot_int.h"

#include <errno.h>
#include <libxml/parserInternals.h>
#include <stdlib.h>
#include <unistd.h>

const fmt_uv_dtinfo fmt__uv_dts[UV_DT_OTHER] = {
    {"boolean", 1}, {"bit", 0},  {"unsignedByte", 1}, {"short", 2}, {"int", 4},
    {"long", 8},    {"char", 1}, {"unicodeChar", 2},  {"float", 4}, {"double", 8}};

int fmt__uv_line(fmt_uv_rd *r)
{
  return r->ctx ? xmlSAX2GetLineNumber(r->ctx) : 0;
}

static void stop(fmt_uv_rd *r, ts_err rc)
{
  if (!r->rc)
    r->rc = rc ? rc : TS_EINVAL;
  xmlStopParser(r->ctx);
}

void fmt__uv_fail(fmt_uv_rd *r, ts_err code, const char *fmt, ...)
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
void fmt__uv_fail_at(fmt_uv_rd *r, ts_err rc)
{
  if (r->rc)
    return;
  const char *name = r->col < r->nf ? r->cols[r->col].c.name : "?";
  if (r->ser == UV_SER_TD)
    fmt__up_locate(r->err, "line %d, row %llu, column %s", fmt__uv_line(r),
                   (unsigned long long)r->row, name);
  else
    fmt__up_locate(r->err, "row %llu, column %s", (unsigned long long)r->row, name);
  stop(r, rc);
}

/* ---- attributes ----------------------------------------------------------- */

/* An attribute's value in the arena, or NULL. With entity substitution off
 * libxml2 hands "&amp;" in attribute values on as "&#38;" (so that a tree
 * builder can tell it from a literal '&'); that is undone here. */
static const char *attr(fmt_uv_rd *r, int n, const xmlChar **at, const char *name)
{
  for (int i = 0; i < n; i++, at += 5) {
    if (strcmp((const char *)at[0], name) != 0)
      continue;
    const char *v = (const char *)at[3], *end = (const char *)at[4];
    char *s = ts_arena_alloc(r->a, (size_t)(end - v) + 1), *q = s;
    if (!s) {
      fmt__uv_fail(r, TS_ENOMEM, "out of memory reading attribute %s", name);
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

static void add_field(fmt_uv_rd *r, int nat, const xmlChar **at)
{
  if (r->nf >= r->lim->max_columns) {
    fmt__uv_fail(r, TS_ELIMIT, "the table has more than %zu columns (limit max_columns)",
                 r->lim->max_columns);
    return;
  }
  if (r->nf == r->fcap) {
    size_t cap = r->fcap ? r->fcap * 2 : UV_FIELDS_GROW;
    fmt_uv_field *f = realloc(r->f, cap * sizeof *f);
    if (!f) {
      fmt__uv_fail(r, TS_ENOMEM, "out of memory reading FIELD %zu", r->nf + 1);
      return;
    }
    r->f = f;
    r->fcap = cap;
  }
  fmt_uv_field *f = &r->f[r->nf++];
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

static void field_values(fmt_uv_rd *r, int nat, const xmlChar **at)
{
  fmt_uv_field *f = &r->f[r->nf - 1];
  const char *null = attr(r, nat, at, "null");
  ts_error e;
  if (!null || !f->datatype)
    return;
  for (int d = UV_DT_UBYTE; d <= UV_DT_LONG; d++)
    if (strcmp(f->datatype, fmt__uv_dts[d].name) == 0) {
      if (fmt__up_parse_i64(null, strlen(null), &f->nul.int_null, &e)) {
        fmt__uv_fail(r, TS_EINVAL, "line %d, FIELD %s: VALUES null: %s", fmt__uv_line(r),
                     f->name ? f->name : "?", e.msg);
        return;
      }
      f->nul.has_int = 1;
    }
}

/* The binary layout of a field: element type, fixed elements, variable. */
static void plan(fmt_uv_field *f)
{
  f->dt = UV_DT_OTHER;
  for (int d = 0; d < UV_DT_OTHER; d++)
    if (strcmp(f->datatype, fmt__uv_dts[d].name) == 0)
      f->dt = (fmt_uv_dt)d;
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

/* A DESCRIPTION's text, without the blanks that indent it. */
static const char *dup_text(fmt_uv_rd *r)
{
  if (!r->text.len)
    return NULL; /* and data may be NULL */
  const char *p = r->text.data, *end = p + r->text.len;
  while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
    p++;
  while (end > p && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '\n' || end[-1] == '\r'))
    end--;
  return p < end ? ts_arena_strndup(r->a, p, (size_t)(end - p)) : NULL;
}

/* The columns are known (DATA begins, or the TABLE ends without one):
 * types, on_table, and the COPY header. */
static void begin_rows(fmt_uv_rd *r)
{
  if (r->nf == 0) {
    fmt__uv_fail(r, TS_EINVAL, "line %d: the TABLE has no FIELD", fmt__uv_line(r));
    return;
  }
  r->cols = ts_arena_calloc(r->a, r->nf, sizeof *r->cols);
  if (!r->cols) {
    fmt__uv_fail(r, TS_ENOMEM, "out of memory describing %zu columns", r->nf);
    return;
  }
  for (size_t i = 0; i < r->nf; i++) {
    fmt_uv_field *f = &r->f[i];
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
  ts_err rc = fmt__up_begin(r->on_table, r->ud, &t, &r->enc, r->out, r->err);
  if (rc) {
    stop(r, rc);
    return;
  }
  r->nflag = (r->nf + 7) / 8;
}

/* ---- rows ------------------------------------------------------------------ */

int fmt__uv_row_begin(fmt_uv_rd *r)
{
  if (r->lim->max_rows && r->row >= r->lim->max_rows) {
    fmt__uv_fail(r, TS_ELIMIT, "the table has more than %llu rows (limit max_rows)",
                 (unsigned long long)r->lim->max_rows);
    return -1;
  }
  r->row++;
  r->col = 0;
  ts_err rc = stream_copyenc_row(&r->enc);
  if (rc) {
    fmt__uv_fail(r, rc, "row %llu: cannot write the row", (unsigned long long)r->row);
    return -1;
  }
  return 0;
}

static void td_end(fmt_uv_rd *r)
{
  if (r->col >= r->nf) {
    fmt__uv_fail(r, TS_EINVAL, "line %d, row %llu: more TD than the %zu FIELDs", fmt__uv_line(r),
                 (unsigned long long)r->row, r->nf);
    return;
  }
  ts_err rc = fmt__up_put_text(&r->enc, &r->cols[r->col], &r->f[r->col].nul, r->text.data,
                               r->text.len, r->err);
  if (rc)
    fmt__uv_fail_at(r, rc);
  else
    r->col++;
}

static void on_start(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri,
                     int nns, const xmlChar **ns, int nat, int ndef, const xmlChar **at)
{
  fmt_uv_rd *r = ud;
  (void)prefix, (void)uri, (void)nns, (void)ns, (void)ndef;
  if (r->rc || r->finished)
    return;
  int d = ++r->depth;
  if (d > UV_DEPTH_MAX) {
    fmt__uv_fail(r, TS_EINVAL, "line %d: elements nest deeper than %d", fmt__uv_line(r),
                 UV_DEPTH_MAX);
    return;
  }
  if (!r->seen_root) {
    r->seen_root = 1;
    if (!is(local, "VOTABLE"))
      fmt__uv_fail(r, TS_EINVAL, "line %d: the document is not a VOTable (its root is %.64s)",
                   fmt__uv_line(r), (const char *)local);
    return;
  }
  switch (r->st) {
  case UV_S_SEEK:
    if (is(local, "TABLE")) {
      r->st = UV_S_TABLE;
      r->tdepth = d;
      r->tname = attr(r, nat, at, "name");
    }
    return;
  case UV_S_TABLE:
    if (d == r->tdepth + 1) {
      if (is(local, "FIELD")) {
        add_field(r, nat, at);
      } else if (is(local, "DESCRIPTION")) {
        r->text_to = UV_T_TABLE_DESC;
        ts_buf_reset(&r->text);
      } else if (is(local, "DATA")) {
        begin_rows(r);
        r->st = UV_S_DATA;
      }
    } else if (d == r->tdepth + 2 && r->in_field) {
      if (is(local, "DESCRIPTION")) {
        r->text_to = UV_T_FIELD_DESC;
        ts_buf_reset(&r->text);
      } else if (is(local, "VALUES")) {
        field_values(r, nat, at);
      }
    }
    return;
  case UV_S_DATA:
    if (d == r->tdepth + 2) {
      if (is(local, "TABLEDATA"))
        r->ser = UV_SER_TD;
      else if (is(local, "BINARY"))
        r->ser = UV_SER_B;
      else if (is(local, "BINARY2"))
        r->ser = UV_SER_B2;
      else
        fmt__uv_fail(r, TS_EINVAL,
                     "line %d: DATA as %.32s is not supported (TABLEDATA, BINARY, BINARY2)",
                     fmt__uv_line(r), (const char *)local);
    } else if (d == r->tdepth + 3 && r->ser == UV_SER_TD && is(local, "TR")) {
      if (!fmt__uv_row_begin(r))
        r->in_tr = 1;
    } else if (d == r->tdepth + 4 && r->in_tr && is(local, "TD")) {
      const char *enc = attr(r, nat, at, "encoding");
      if (enc && strcmp(enc, "none") != 0)
        fmt__uv_fail(r, TS_EINVAL, "line %d: TD encoding=\"%.32s\" is not supported",
                     fmt__uv_line(r), enc);
      r->text_to = UV_T_TD;
      ts_buf_reset(&r->text);
    } else if (d == r->tdepth + 3 && (r->ser == UV_SER_B || r->ser == UV_SER_B2) &&
               is(local, "STREAM")) {
      const char *enc = attr(r, nat, at, "encoding");
      if (attr(r, nat, at, "href"))
        fmt__uv_fail(r, TS_EINVAL, "line %d: a STREAM with href (external data) is not accepted",
                     fmt__uv_line(r));
      else if (!enc || strcmp(enc, "base64") != 0)
        fmt__uv_fail(r, TS_EINVAL,
                     "line %d: STREAM encoding \"%.32s\" is not supported (base64 only)",
                     fmt__uv_line(r), enc ? enc : "");
      r->in_stream = 1;
      r->text_to = UV_T_STREAM;
    }
    return;
  default:
    return;
  }
}

static void on_end(void *ud, const xmlChar *local, const xmlChar *prefix, const xmlChar *uri)
{
  fmt_uv_rd *r = ud;
  (void)prefix, (void)uri;
  if (r->rc || r->finished)
    return;
  int d = r->depth--;
  if (r->st == UV_S_TABLE || r->st == UV_S_DATA) {
    if (d == r->tdepth) {
      if (r->st == UV_S_TABLE)
        begin_rows(r); /* a TABLE without DATA: no rows */
      r->st = UV_S_DONE;
      r->finished = 1; /* the rest is parsed only to check it is well-formed */
      return;
    }
    if (r->text_to == UV_T_TABLE_DESC && d == r->tdepth + 1) {
      r->tdesc = dup_text(r);
      r->text_to = UV_T_NONE;
    } else if (r->text_to == UV_T_FIELD_DESC && d == r->tdepth + 2) {
      r->f[r->nf - 1].desc = dup_text(r);
      r->text_to = UV_T_NONE;
    } else if (r->in_field && d == r->tdepth + 1 && is(local, "FIELD")) {
      r->in_field = 0;
    } else if (r->text_to == UV_T_TD && d == r->tdepth + 4) {
      r->text_to = UV_T_NONE;
      td_end(r);
    } else if (r->in_tr && d == r->tdepth + 3) {
      r->in_tr = 0;
      if (r->col != r->nf)
        fmt__uv_fail(r, TS_EINVAL, "line %d, row %llu: %zu TD where the table has %zu FIELDs",
                     fmt__uv_line(r), (unsigned long long)r->row, r->col, r->nf);
    } else if (r->in_stream && d == r->tdepth + 3) {
      r->text_to = UV_T_NONE;
      fmt__uv_stream_end(r);
    }
  }
}

static void on_text(void *ud, const xmlChar *ch, int len)
{
  fmt_uv_rd *r = ud;
  if (r->rc || r->finished || r->text_to == UV_T_NONE)
    return;
  if (r->text_to == UV_T_STREAM) {
    fmt__uv_stream_text(r, ch, (size_t)len);
    return;
  }
  if (ts_buf_append(&r->text, ch, (size_t)len)) {
    if (r->text_to == UV_T_TD) {
      ts_fail(r->err, TS_ELIMIT, 0, "a value is longer than the limit max_value_bytes (%zu)",
              r->lim->max_value_bytes);
      fmt__uv_fail_at(r, TS_ELIMIT);
    } else {
      fmt__uv_fail(r, TS_ELIMIT,
                   "line %d: a DESCRIPTION is longer than the limit max_value_bytes (%zu)",
                   fmt__uv_line(r), r->lim->max_value_bytes);
    }
  }
}

static void on_doctype(void *ud, const xmlChar *name, const xmlChar *ext, const xmlChar *sys)
{
  fmt_uv_rd *r = ud;
  (void)name, (void)ext, (void)sys;
  fmt__uv_fail(r, TS_EINVAL,
               "line %d: a DOCTYPE is not accepted in an upload (no DTD, no entities)",
               fmt__uv_line(r));
}

static void on_entity_decl(void *ud, const xmlChar *name, int type, const xmlChar *pub,
                           const xmlChar *sys, xmlChar *content)
{
  fmt_uv_rd *r = ud;
  (void)name, (void)type, (void)pub, (void)sys, (void)content;
  fmt__uv_fail(r, TS_EINVAL, "line %d: entity declarations are not accepted", fmt__uv_line(r));
}

static xmlEntityPtr on_get_entity(void *ud, const xmlChar *name)
{
  (void)ud, (void)name;
  return NULL; /* only the five predefined ones, which libxml2 handles itself */
}

static void on_xml_error(void *ud, xmlErrorPtr e)
{
  fmt_uv_rd *r = ud;
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
  fmt_uv_rd r;
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
  buf = malloc(UV_CHUNK);
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
    ssize_t n = pread(fd, buf, UV_CHUNK, off);
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
    if (xrc || !r.ctx->wellFormed) {
      rc = ts_fail(err, TS_EINVAL, 0, "malformed XML: line %d: %s",
                   r.xml_line ? r.xml_line : fmt__uv_line(&r),
                   r.xml_msg[0] ? r.xml_msg : "syntax error");
      goto out;
    }
    if (n == 0)
      break;
  }
  if (!r.seen_root) {
    rc = ts_fail(err, TS_EINVAL, 0, "the upload is empty");
    goto out;
  }
  if (r.st != UV_S_DONE) {
    rc = ts_fail(err, TS_EINVAL, 0, "the VOTable has no TABLE");
    goto out;
  }
  rc = fmt__up_end(&r.enc, TS_OK, rows, err);
out:
  if (r.ctx)
    xmlFreeParserCtxt(r.ctx);
  stream_copyenc_free(&r.enc);
  ts_buf_free(&r.text);
  ts_buf_free(&r.gb);
  ts_buf_free(&r.conv);
  free(r.f);
  free(buf);
  return rc;
}
