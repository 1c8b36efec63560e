/* CSV (RFC 4180) and TSV encoders.
 *
 * CSV: a header line of column names, CRLF line ends, fields quoted when
 * they need it, NULL as an empty field (an empty string is written as "").
 * TSV: a header line, LF line ends, no quoting; TAB, CR and LF inside a
 * value become blanks. Neither format can carry an error after the data
 * started, so both have can_report_error = 0. */
#include "formats/fmt_int.h"

typedef struct fmt_csv {
  fmt_encoder base;
  char sep;
  const char *eol;
  size_t eol_len;
  fmt_textstyle style;
  ts_buf scratch; /* array literals of text/time arrays */
} fmt_csv;

static void csv_setup(fmt_csv *c, int tsv)
{
  c->sep = tsv ? '\t' : ',';
  c->eol = tsv ? "\n" : "\r\n";
  c->eol_len = tsv ? 1 : 2;
  c->style = tsv ? FMT_TEXT_TSV : FMT_TEXT_CSV;
}

static ts_err csv_begin_common(fmt_encoder *e, const stream_schema *s, int tsv)
{
  fmt_csv *c = (fmt_csv *)e;
  stream_out *o = e->out;
  csv_setup(c, tsv);
  ts_buf_init(&c->scratch, FMT_SCRATCH_MAX);
  /* Names go through the same text path as values, so a name with a comma
   * is quoted and one with a TAB is made TSV-safe. */
  for (size_t i = 0; i < s->ncols; i++) {
    if (i)
      stream_out_put(o, &c->sep, 1);
    const char *n = s->cols[i].name ? s->cols[i].name : "";
    stream_column tc = {.kind = STREAM_TEXT};
    stream_value v = {(const uint8_t *)n, (int32_t)strlen(n)};
    fmt__value_text(o, &tc, &v, c->style, NULL);
  }
  stream_out_put(o, c->eol, c->eol_len);
  return o->err;
}

static ts_err csv_begin(fmt_encoder *e, const stream_schema *s, const fmt_info *info)
{
  return csv_begin_common(e, s, 0);
}

static ts_err tsv_begin(fmt_encoder *e, const stream_schema *s, const fmt_info *info)
{
  return csv_begin_common(e, s, 1);
}

static ts_err csv_rows(fmt_encoder *e, const stream_batch *b)
{
  fmt_csv *c = (fmt_csv *)e;
  stream_out *o = e->out;
  const stream_column *cols = e->schema->cols;
  for (size_t r = 0; r < b->nrows; r++) {
    const stream_value *row = stream_batch_row(b, r);
    for (size_t i = 0; i < b->ncols; i++) {
      if (i)
        stream_out_put(o, &c->sep, 1);
      if (row[i].len < 0) {
        /* A one-column NULL would be an empty line, which CSV readers
         * skip: "" keeps the row (it then reads as an empty string). TSV
         * has no quoting and keeps the empty line. */
        if (b->ncols == 1 && c->style == FMT_TEXT_CSV)
          stream_out_put(o, "\"\"", 2);
        continue;
      }
      ts_err rc = fmt__value_text(o, &cols[i], &row[i], c->style, &c->scratch);
      if (rc)
        return rc;
    }
    stream_out_put(o, c->eol, c->eol_len);
  }
  return o->err;
}

/* Nothing to close: on OVERFLOW or ERROR the caller decides what the
 * transport does (a broken chunked transfer for ERROR). */
static ts_err csv_end(fmt_encoder *e, const fmt_trailer *t)
{
  return stream_out_flush(e->out);
}

static void csv_destroy(fmt_encoder *e)
{
  ts_buf_free(&((fmt_csv *)e)->scratch);
}

static const char *const fmt_csv_aliases[] = {"text/csv", NULL};
static const char *const fmt_tsv_aliases[] = {"text/tab-separated-values", "tab-separated-values",
                                              NULL};

const fmt_type fmt_csv_type = {
    .name = "csv",
    .mime = "text/csv;header=present",
    .ext = "csv",
    .aliases = fmt_csv_aliases,
    .can_report_error = 0,
    .size = sizeof(fmt_csv),
    .begin = csv_begin,
    .rows = csv_rows,
    .end = csv_end,
    .destroy = csv_destroy,
};

const fmt_type fmt_tsv_type = {
    .name = "tsv",
    .mime = "text/tab-separated-values",
    .ext = "tsv",
    .aliases = fmt_tsv_aliases,
    .can_report_error = 0,
    .size = sizeof(fmt_csv),
    .begin = tsv_begin,
    .rows = csv_rows,
    .end = csv_end,
    .destroy = csv_destroy,
};
