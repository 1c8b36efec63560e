/* formats/upload_csv.c: the CSV upload reader (RFC 4180 with a header row).
 *
 * Quoted fields (with "" for a quote, and line breaks inside), CRLF, LF or
 * CR line ends, an optional UTF-8 BOM; empty lines are skipped. The header
 * row names the columns.
 *
 * CSV has no types, so they are inferred, and from the whole file, as
 * TOPCAT and astropy do, not from a sample: a first pass reads every row,
 * checks its shape (a ragged row is an error naming it, found before any
 * table is made) and keeps, per column, which types every non-empty value
 * fits; a second pass writes the rows. A column is int when every value
 * is an integer within 32 bits, else long when within 64, else double
 * when every value is a number (NaN and infinities included), else
 * boolean (true/false/T/F in any case), else timestamp (ISO 8601), else
 * char. Empty fields are NULL and do not vote; a column with none but
 * empty fields is char. Two passes need a file that can be read twice
 * (pread), which every upload is: a spooled part, a fetched URL or a
 * stored result. */
#include "formats/upload_int.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

enum {
  CSV_CHUNK = 64 << 10,
  CSV_ROW_MAX = 256 << 20, /* all the fields of one row */
};

enum { C_INT = 1, C_LONG = 2, C_DOUBLE = 4, C_BOOL = 8, C_TS = 16, C_ALL = 31 };

typedef struct csv_rd {
  int fd;
  off_t off;
  uint8_t *buf;
  size_t pos, len;
  int eof;
  uint64_t line; /* of the byte being read, 1-based */
  uint64_t row_line;
  const fmt_upload_limits *lim;
  ts_error *err;
  ts_buf row;    /* the fields of the row, each NUL-terminated */
  size_t *ends;  /* end of field i in row (before its NUL) */
  size_t nf;     /* fields in the row */
  size_t maxf;   /* slots in ends: max_columns + 1 */
  uint64_t rows; /* data rows read */
} csv_rd;

static int next(csv_rd *r)
{
  if (r->pos == r->len) {
    if (r->eof)
      return -1;
    ssize_t n;
    do
      n = pread(r->fd, r->buf, CSV_CHUNK, r->off);
    while (n < 0 && errno == EINTR);
    if (n <= 0) {
      r->eof = 1;
      if (n < 0)
        return -2;
      return -1;
    }
    r->off += n;
    r->pos = 0;
    r->len = (size_t)n;
  }
  return r->buf[r->pos++];
}

static int peek(csv_rd *r)
{
  int c = next(r);
  if (c >= 0)
    r->pos--;
  return c;
}

static void rewind_rd(csv_rd *r)
{
  r->off = 0;
  r->pos = r->len = 0;
  r->eof = 0;
  r->line = 1;
  r->rows = 0;
}

/* The row's number in messages: 0 is the header. */
static ts_err field_end(csv_rd *r)
{
  if (r->nf >= r->maxf) /* one more than allowed tells a ragged row */
    return ts_fail(r->err, TS_ELIMIT, 0, "line %llu: more than %zu columns (limit max_columns)",
                   (unsigned long long)r->row_line, r->lim->max_columns);
  r->ends[r->nf++] = r->row.len;
  return ts_buf_append(&r->row, "", 1)
             ? ts_fail(r->err, TS_ELIMIT, 0, "line %llu: the row is too long",
                       (unsigned long long)r->row_line)
             : TS_OK;
}

enum { SPAN_EOF = -1, SPAN_EIO = -2, SPAN_VALUE = -3, SPAN_ROW = -4 };

/* Appends to the row the bytes up to the next quote (quoted) or comma or
 * line end (not quoted), a buffer at a time; returns that byte (not
 * consumed) or a SPAN_ code. `start`: where the field began in the row. */
static int span(csv_rd *r, int quoted, size_t start)
{
  for (;;) {
    if (r->pos == r->len) {
      int c = next(r);
      if (c < 0)
        return c;
      r->pos--;
    }
    const uint8_t *p = r->buf + r->pos, *end = r->buf + r->len, *q = p;
    if (quoted) {
      while (q < end && *q != '"')
        r->line += *q++ == '\n';
    } else {
      while (q < end && *q != ',' && *q != '\n' && *q != '\r')
        q++;
    }
    size_t k = (size_t)(q - p);
    if (k) {
      if (r->row.len - start + k > r->lim->max_value_bytes)
        return SPAN_VALUE;
      if (ts_buf_append(&r->row, p, k))
        return SPAN_ROW;
      r->pos += k;
    }
    if (q < end)
      return *q;
  }
}

/* Reads one record into r->row; *got = 0 at the end of the file. */
static ts_err read_row(csv_rd *r, int *got)
{
  ts_buf_reset(&r->row);
  r->nf = 0;
  *got = 0;
  int c;
  /* Empty lines are skipped. */
  for (;;) {
    c = peek(r);
    if (c == '\n' || c == '\r') {
      next(r);
      if (c == '\r' && peek(r) == '\n')
        next(r);
      r->line++;
      continue;
    }
    break;
  }
  if (c == SPAN_EIO)
    return ts_fail(r->err, TS_EIO, 0, "cannot read the upload");
  if (c < 0)
    return TS_OK;
  r->row_line = r->line;
  for (;;) {
    size_t start = r->row.len;
    c = peek(r);
    if (c == '"') {
      /* quoted: up to the closing quote, "" for a quote */
      next(r);
      for (;;) {
        c = span(r, 1, start);
        if (c == SPAN_EOF)
          return ts_fail(r->err, TS_EINVAL, 0,
                         "line %llu: a quoted field is not closed before the end of the file",
                         (unsigned long long)r->row_line);
        if (c < 0)
          goto fail;
        next(r); /* the quote */
        if (peek(r) != '"')
          break;
        next(r);
        if (r->row.len - start >= r->lim->max_value_bytes) {
          c = SPAN_VALUE;
          goto fail;
        }
        if (ts_buf_append(&r->row, "\"", 1)) {
          c = SPAN_ROW;
          goto fail;
        }
      }
      c = next(r);
      if (c >= 0 && c != ',' && c != '\n' && c != '\r')
        return ts_fail(r->err, TS_EINVAL, 0, "line %llu, column %zu: '%c' after a closing quote",
                       (unsigned long long)r->line, r->nf + 1, c >= 0x20 && c < 0x7f ? c : '?');
    } else {
      c = span(r, 0, start);
      if (c < SPAN_EOF)
        goto fail;
      if (c >= 0)
        next(r);
    }
    if (c == SPAN_EIO)
      goto fail;
    ts_err rc = field_end(r);
    if (rc)
      return rc;
    if (c == ',')
      continue;
    if (c == '\r' && peek(r) == '\n')
      next(r);
    if (c >= 0)
      r->line++;
    *got = 1;
    return TS_OK;
  }
fail:
  if (c == SPAN_VALUE)
    return ts_fail(r->err, TS_ELIMIT, 0,
                   "line %llu, column %zu: a value is longer than the limit max_value_bytes (%zu)",
                   (unsigned long long)r->row_line, r->nf + 1, r->lim->max_value_bytes);
  if (c == SPAN_ROW)
    return ts_fail(r->err, TS_ELIMIT, 0, "line %llu: the row is longer than %d bytes",
                   (unsigned long long)r->row_line, CSV_ROW_MAX);
  return ts_fail(r->err, TS_EIO, 0, "cannot read the upload");
}

static const char *field(const csv_rd *r, size_t i, size_t *n)
{
  size_t b = i ? r->ends[i - 1] + 1 : 0;
  *n = r->ends[i] - b;
  return r->row.data + b;
}

/* Reads the header (after a BOM): the column names. */
static ts_err read_header(csv_rd *r, size_t *ncols)
{
  int got;
  if (peek(r) == 0xEF) {
    uint8_t bom[3];
    size_t k = 0;
    while (k < 3 && r->pos < r->len)
      bom[k++] = r->buf[r->pos++];
    if (k < 3 || memcmp(bom, "\xEF\xBB\xBF", 3) != 0)
      r->pos -= k; /* not a BOM (or one split across reads: not at offset 0) */
  }
  ts_err rc = read_row(r, &got);
  if (rc)
    return rc;
  if (!got)
    return ts_fail(r->err, TS_EINVAL, 0, "the CSV upload is empty (it needs a header row)");
  if (r->nf > r->lim->max_columns)
    return ts_fail(r->err, TS_ELIMIT, 0, "line %llu: more than %zu columns (limit max_columns)",
                   (unsigned long long)r->row_line, r->lim->max_columns);
  *ncols = r->nf;
  return TS_OK;
}

static ts_err row_shape(csv_rd *r, size_t ncols)
{
  if (r->nf != ncols)
    return ts_fail(r->err, TS_EINVAL, 0, "row %llu (line %llu) has %zu fields, the header %zu",
                   (unsigned long long)r->rows, (unsigned long long)r->row_line, r->nf, ncols);
  return TS_OK;
}

/* Pass 1: shape, row count, and the types each column's values fit. */
static ts_err infer(csv_rd *r, size_t ncols, unsigned *cand)
{
  ts_error e;
  for (;;) {
    int got;
    ts_err rc = read_row(r, &got);
    if (rc || !got)
      return rc;
    r->rows++;
    if (r->lim->max_rows && r->rows > r->lim->max_rows)
      return ts_fail(r->err, TS_ELIMIT, 0, "the table has more than %llu rows (limit max_rows)",
                     (unsigned long long)r->lim->max_rows);
    rc = row_shape(r, ncols);
    if (rc)
      return rc;
    for (size_t i = 0; i < ncols; i++) {
      size_t n;
      const char *s = field(r, i, &n);
      if (!ts_utf8_valid(s, n))
        return ts_fail(r->err, TS_EINVAL, 0,
                       "row %llu (line %llu), column %zu: the text is not UTF-8 (or holds a NUL)",
                       (unsigned long long)r->rows, (unsigned long long)r->row_line, i + 1);
      if (n == 0)
        continue;
      unsigned c = cand[i];
      int64_t iv;
      int bv;
      if (c & (C_INT | C_LONG)) {
        if (fmt__up_parse_i64(s, n, &iv, &e))
          c &= ~(unsigned)(C_INT | C_LONG);
        else if (iv < INT32_MIN || iv > INT32_MAX)
          c &= ~(unsigned)C_INT;
      }
      if ((c & C_DOUBLE) && !fmt__up_is_f64(s, n))
        c &= ~(unsigned)C_DOUBLE;
      if ((c & C_BOOL) && (fmt__up_parse_bool(s, n, &bv, &e) || bv < 0 || (n == 1 && s[0] <= '9')))
        c &= ~(unsigned)C_BOOL; /* 1 and 0 are integers, "?" is text */
      if ((c & C_TS) && fmt__up_parse_timestamp(s, n, &iv, &e))
        c &= ~(unsigned)C_TS;
      cand[i] = c | 0x100; /* has a value */
    }
  }
}

static ts_err describe(csv_rd *r, ts_arena *a, size_t ncols, const unsigned *cand,
                       fmt_upload_column **colsp)
{
  fmt_upload_column *cols = ts_arena_calloc(a, ncols, sizeof *cols);
  if (!cols)
    return ts_fail(r->err, TS_ENOMEM, 0, "out of memory describing %zu columns", ncols);
  for (size_t i = 0; i < ncols; i++) {
    size_t n;
    const char *s = field(r, i, &n);
    if (!ts_utf8_valid(s, n))
      return ts_fail(r->err, TS_EINVAL, 0, "header, column %zu: the name is not UTF-8", i + 1);
    cols[i].c.name = n ? ts_arena_strndup(a, s, n) : ts_arena_printf(a, "col%zu", i + 1);
    if (!cols[i].c.name)
      return ts_fail(r->err, TS_ENOMEM, 0, "out of memory describing %zu columns", ncols);
    unsigned c = cand[i];
    const char *dt = "char", *as = "*", *xt = NULL;
    if (!(c & 0x100))
      ;
    else if (c & C_INT)
      dt = "int", as = NULL;
    else if (c & C_LONG)
      dt = "long", as = NULL;
    else if (c & C_DOUBLE)
      dt = "double", as = NULL;
    else if (c & C_BOOL)
      dt = "boolean", as = NULL;
    else if (c & C_TS)
      xt = "timestamp";
    ts_err rc = fmt_upload_set_type(&cols[i], dt, as, xt, r->err);
    if (rc)
      return rc;
  }
  *colsp = cols;
  return TS_OK;
}

ts_err fmt__upload_csv(int fd, const fmt_upload_limits *lim, ts_arena *a,
                       fmt_upload_table_fn on_table, void *ud, stream_out *out, uint64_t *rows,
                       ts_error *err)
{
  csv_rd r;
  stream_copyenc enc;
  int enc_on = 0;
  unsigned *cand = NULL;
  fmt_upload_column *cols = NULL;
  size_t ncols = 0;
  ts_err rc;
  memset(&r, 0, sizeof r);
  r.fd = fd;
  r.lim = lim;
  r.err = err;
  r.maxf = lim->max_columns + 1;
  r.line = 1;
  ts_buf_init(&r.row, CSV_ROW_MAX);
  r.buf = malloc(CSV_CHUNK);
  r.ends = malloc(r.maxf * sizeof *r.ends);
  if (!r.buf || !r.ends) {
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    goto out;
  }
  rc = read_header(&r, &ncols);
  if (rc)
    goto out;
  cand = malloc(ncols * sizeof *cand);
  if (!cand) {
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < ncols; i++)
    cand[i] = C_ALL;
  rc = infer(&r, ncols, cand);
  if (rc)
    goto out;
  /* Pass 2: the header again (for the names), then the rows. */
  rewind_rd(&r);
  rc = read_header(&r, &ncols);
  if (!rc)
    rc = describe(&r, a, ncols, cand, &cols);
  if (rc)
    goto out;
  fmt_upload_table t = {NULL, NULL, ncols, cols};
  rc = on_table(ud, &t, err);
  if (rc) {
    if (err->code == TS_OK)
      ts_fail(err, rc, 0, "the upload table was refused");
    goto out;
  }
  rc = stream_copyenc_init(&enc, out, ncols);
  enc_on = 1;
  for (;;) {
    int got;
    if (rc)
      break;
    rc = read_row(&r, &got);
    if (rc || !got)
      break;
    r.rows++;
    rc = row_shape(&r, ncols); /* the file changed between the passes */
    if (!rc)
      rc = stream_copyenc_row(&enc);
    for (size_t i = 0; !rc && i < ncols; i++) {
      size_t n;
      const char *s = field(&r, i, &n);
      rc = fmt__up_put_text(&enc, &cols[i], NULL, s, n, err);
      if (rc)
        fmt__up_locate(err, "row %llu (line %llu), column %s", (unsigned long long)r.rows,
                       (unsigned long long)r.row_line, cols[i].c.name);
    }
  }
  if (!rc)
    rc = stream_copyenc_finish(&enc);
  if (rc && err->code == TS_OK)
    ts_fail(err, rc, 0, "cannot write the rows");
  *rows = enc.rows;
out:
  if (enc_on)
    stream_copyenc_free(&enc);
  ts_buf_free(&r.row);
  free(r.ends);
  free(r.buf);
  free(cand);
  return rc;
}
