/* Two formats for people rather than programs.
 *
 * text: aligned columns. The widths are fixed before the first row (a
 * streamed result cannot look ahead): from the datatype for numbers,
 * booleans and times, from a fixed arraysize for strings, else the width
 * of the name and at least 12; a longer value pushes the rest of its line
 * to the right but never loses characters. NULL is blank. A line of dashes
 * under the names; OVERFLOW and ERROR are stated in a last line.
 *
 * html: one page with a table (names, units and descriptions in the head),
 * values escaped; OVERFLOW and ERROR in a paragraph after the table, so
 * the page can say that it is incomplete (can_report_error = 1). */
#include "formats/fmt_int.h"

#include <stdlib.h>

typedef struct fmt_plain {
  fmt_encoder base;
  int *width;
  ts_buf scratch;
  ts_buf cell;
  stream_out cellout; /* renders one value into `cell` to measure it */
  char cellbuf[256];
  int html_rows; /* html: rows written */
} fmt_plain;

static int plain_kind_width(const stream_column *c)
{
  if (c->is_array)
    return 0;
  switch (c->kind) {
  case STREAM_BOOL:
    return 5;
  case STREAM_INT2:
    return 6;
  case STREAM_INT4:
    return 11;
  case STREAM_INT8:
    return 20;
  case STREAM_FLOAT4:
    return 14;
  case STREAM_FLOAT8:
  case STREAM_NUMERIC:
    return 23;
  case STREAM_TIMESTAMP:
  case STREAM_TIMESTAMPTZ:
    return 26;
  case STREAM_DATE:
    return 10;
  default:
    return 0;
  }
}

/* Characters (code points) of UTF-8 text, for alignment. */
static size_t plain_chars(const char *s, size_t n)
{
  size_t k = 0;
  for (size_t i = 0; i < n; i++)
    k += ((unsigned char)s[i] & 0xC0) != 0x80;
  return k;
}

static ts_err plain_cell_flush(void *ud, const char *buf, size_t len)
{
  return ts_buf_append(ud, buf, len);
}

static ts_err plain_init(fmt_plain *p, const stream_schema *s)
{
  ts_buf_init(&p->scratch, FMT_SCRATCH_MAX);
  ts_buf_init(&p->cell, FMT_SCRATCH_MAX);
  p->width = calloc(s->ncols ? s->ncols : 1, sizeof *p->width);
  if (!p->width)
    return TS_ENOMEM;
  p->cellout.buf = p->cellbuf;
  p->cellout.cap = sizeof p->cellbuf;
  p->cellout.flush = plain_cell_flush;
  p->cellout.ud = &p->cell;
  return TS_OK;
}

static void plain_pad(stream_out *o, size_t n)
{
  static const char blanks[] = "                                ";
  while (n) {
    size_t k = n < sizeof blanks - 1 ? n : sizeof blanks - 1;
    stream_out_put(o, blanks, k);
    n -= k;
  }
}

static ts_err text_begin(fmt_encoder *e, const stream_schema *s, const fmt_info *info)
{
  fmt_plain *p = (fmt_plain *)e;
  stream_out *o = e->out;
  (void)info;
  ts_err rc = plain_init(p, s);
  if (rc)
    return rc;
  for (size_t i = 0; i < s->ncols; i++) {
    const stream_column *c = &s->cols[i];
    if (c->kind == STREAM_UNSUPPORTED)
      return TS_EFORMAT;
    const char *name = c->name ? c->name : "";
    int w = plain_kind_width(c), nw = (int)plain_chars(name, strlen(name));
    if (!w && c->arraysize && c->arraysize[0] >= '1' && c->arraysize[0] <= '9')
      w = (int)(strtol(c->arraysize, NULL, 10) > 64 ? 64 : strtol(c->arraysize, NULL, 10));
    if (!w)
      w = 12;
    p->width[i] = w > nw ? w : nw;
  }
  for (size_t i = 0; i < s->ncols; i++) {
    const char *name = s->cols[i].name ? s->cols[i].name : "";
    if (i)
      stream_out_put(o, "  ", 2);
    fmt__utf8(o, name, strlen(name));
    if (i + 1 < s->ncols)
      plain_pad(o, (size_t)p->width[i] - plain_chars(name, strlen(name)));
  }
  stream_out_put(o, "\n", 1);
  for (size_t i = 0; i < s->ncols; i++) {
    if (i)
      stream_out_put(o, "  ", 2);
    for (int k = 0; k < p->width[i]; k++)
      stream_out_put(o, "-", 1);
  }
  stream_out_put(o, "\n", 1);
  return o->err;
}

/* Renders one value into p->cell (TSV rules: no quoting, line breaks and
 * TABs as blanks). */
static ts_err plain_render(fmt_plain *p, const stream_column *c, const stream_value *v)
{
  ts_buf_reset(&p->cell);
  p->cellout.len = 0;
  p->cellout.err = TS_OK;
  if (v->len < 0)
    return TS_OK;
  ts_err rc = fmt__value_text(&p->cellout, c, v, FMT_TEXT_TSV, &p->scratch);
  if (!rc)
    rc = stream_out_flush(&p->cellout);
  return rc;
}

static int plain_right(const stream_column *c)
{
  return !c->is_array && c->kind != STREAM_TEXT && plain_kind_width(c) && c->kind != STREAM_BOOL &&
         c->kind != STREAM_TIMESTAMP && c->kind != STREAM_TIMESTAMPTZ && c->kind != STREAM_DATE;
}

static ts_err text_rows(fmt_encoder *e, const stream_batch *b)
{
  fmt_plain *p = (fmt_plain *)e;
  stream_out *o = e->out;
  const stream_column *cols = e->schema->cols;
  for (size_t r = 0; r < b->nrows; r++) {
    const stream_value *row = stream_batch_row(b, r);
    for (size_t i = 0; i < b->ncols; i++) {
      ts_err rc = plain_render(p, &cols[i], &row[i]);
      if (rc)
        return rc;
      size_t w = plain_chars(p->cell.data ? p->cell.data : "", p->cell.len);
      size_t pad = w < (size_t)p->width[i] ? (size_t)p->width[i] - w : 0;
      if (i)
        stream_out_put(o, "  ", 2);
      if (plain_right(&cols[i]))
        plain_pad(o, pad);
      stream_out_put(o, p->cell.data, p->cell.len);
      if (!plain_right(&cols[i]) && i + 1 < b->ncols)
        plain_pad(o, pad);
    }
    stream_out_put(o, "\n", 1);
  }
  return o->err;
}

static ts_err text_end(fmt_encoder *e, const fmt_trailer *t)
{
  stream_out *o = e->out;
  if (!e->schema)
    return TS_EINTERNAL;
  if (t->status == FMT_OVERFLOW)
    stream_out_puts(o, "# QUERY_STATUS OVERFLOW: more rows than MAXREC; the result is truncated\n");
  else if (t->status == FMT_ERROR) {
    stream_out_puts(o, "# QUERY_STATUS ERROR: ");
    const char *m = t->message ? t->message : "internal error";
    fmt__utf8(o, m, strlen(m));
    stream_out_puts(o, "\n");
  }
  return stream_out_flush(o);
}

static void plain_destroy(fmt_encoder *e)
{
  fmt_plain *p = (fmt_plain *)e;
  free(p->width);
  p->width = NULL;
  ts_buf_free(&p->scratch);
  ts_buf_free(&p->cell);
}

/* ---- html ---------------------------------------------------------------- */

static void html_text(stream_out *o, const char *s)
{
  fmt__xml(o, s, strlen(s), 0);
}

static ts_err html_begin(fmt_encoder *e, const stream_schema *s, const fmt_info *info)
{
  fmt_plain *p = (fmt_plain *)e;
  stream_out *o = e->out;
  ts_err rc = plain_init(p, s);
  if (rc)
    return rc;
  const char *title = info->table_name ? info->table_name : "result";
  stream_out_puts(o, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
  html_text(o, title);
  stream_out_puts(o, "</title><style>"
                     "body{font-family:sans-serif}table{border-collapse:collapse}"
                     "th,td{border:1px solid #bbb;padding:2px 6px;font-size:90%}"
                     "th{background:#eee;vertical-align:bottom}td.n{text-align:right}"
                     "td.null{background:#f8f8f8}.unit{font-weight:normal;color:#555}"
                     "p.error{color:#a00;font-weight:bold}"
                     "</style></head><body>\n");
  if (info->query) {
    stream_out_puts(o, "<pre class=\"query\">");
    html_text(o, info->query);
    stream_out_puts(o, "</pre>\n");
  }
  stream_out_puts(o, "<table>\n<thead><tr>");
  for (size_t i = 0; i < s->ncols; i++) {
    const stream_column *c = &s->cols[i];
    if (c->kind == STREAM_UNSUPPORTED)
      return TS_EFORMAT;
    stream_out_puts(o, "<th");
    if (c->description) {
      stream_out_puts(o, " title=\"");
      fmt__xml(o, c->description, strlen(c->description), 1);
      stream_out_puts(o, "\"");
    }
    stream_out_puts(o, ">");
    html_text(o, c->name ? c->name : "");
    if (c->unit) {
      stream_out_puts(o, "<br><span class=\"unit\">[");
      html_text(o, c->unit);
      stream_out_puts(o, "]</span>");
    }
    stream_out_puts(o, "</th>");
  }
  stream_out_puts(o, "</tr></thead>\n<tbody>\n");
  return o->err;
}

static ts_err html_rows(fmt_encoder *e, const stream_batch *b)
{
  fmt_plain *p = (fmt_plain *)e;
  stream_out *o = e->out;
  const stream_column *cols = e->schema->cols;
  for (size_t r = 0; r < b->nrows; r++) {
    const stream_value *row = stream_batch_row(b, r);
    stream_out_put(o, "<tr>", 4);
    for (size_t i = 0; i < b->ncols; i++) {
      if (row[i].len < 0) {
        stream_out_puts(o, "<td class=\"null\"></td>");
        continue;
      }
      stream_out_puts(o, plain_right(&cols[i]) ? "<td class=\"n\">" : "<td>");
      ts_err rc = fmt__value_text(o, &cols[i], &row[i], FMT_TEXT_XML, &p->scratch);
      stream_out_put(o, "</td>", 5);
      if (rc) {
        stream_out_put(o, "</tr>\n", 6);
        return rc;
      }
    }
    stream_out_put(o, "</tr>\n", 6);
    p->html_rows = 1;
  }
  return o->err;
}

static ts_err html_end(fmt_encoder *e, const fmt_trailer *t)
{
  stream_out *o = e->out;
  if (!e->schema) {
    if (t->status != FMT_ERROR)
      return TS_EINTERNAL;
    stream_out_puts(o, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>error</title>"
                       "</head><body>\n");
  } else {
    stream_out_puts(o, "</tbody></table>\n");
  }
  if (t->status == FMT_OVERFLOW) {
    stream_out_puts(o, "<p class=\"overflow\">The result was truncated at MAXREC rows.</p>\n");
  } else if (t->status == FMT_ERROR) {
    stream_out_puts(o, "<p class=\"error\">Error: ");
    html_text(o, t->message ? t->message : "internal error");
    stream_out_puts(o, " (the table above is incomplete)</p>\n");
  }
  stream_out_puts(o, "</body></html>\n");
  return stream_out_flush(o);
}

static const char *const fmt_text_aliases[] = {"text/plain", "txt", "ascii", NULL};
static const char *const fmt_html_aliases[] = {"text/html", NULL};

const fmt_type fmt_text_type = {
    .name = "text",
    .mime = "text/plain;charset=utf-8",
    .ext = "txt",
    .aliases = fmt_text_aliases,
    .can_report_error = 1,
    .size = sizeof(fmt_plain),
    .begin = text_begin,
    .rows = text_rows,
    .end = text_end,
    .destroy = plain_destroy,
};

const fmt_type fmt_html_type = {
    .name = "html",
    .mime = "text/html;charset=utf-8",
    .ext = "html",
    .aliases = fmt_html_aliases,
    .can_report_error = 1,
    .size = sizeof(fmt_plain),
    .begin = html_begin,
    .rows = html_rows,
    .end = html_end,
    .destroy = plain_destroy,
};
