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

#include <stdlib.h>

enum { CSV_ROW_MAX = 256 << 20 }; /* all the fields of one row */

enum { C_INT = 1, C_LONG = 2, C_DOUBLE = 4, C_BOOL = 8, C_TS = 16, C_ALL = 31 };

typedef struct csv_rd {
  fmt_textin in; /* records: RFC 4180, lone CRs end lines too */
  const fmt_upload_limits *lim;
  ts_error *err;
  uint64_t rows; /* data rows read */
} csv_rd;

static const char *field(const csv_rd *r, size_t i, size_t *n)
{
  *n = r->in.fields[i].len;
  return r->in.fields[i].p;
}

static ts_err read_row(csv_rd *r, int *got)
{
  return fmt__textin_record(&r->in, ',', got, r->err);
}

/* Reads the header (after a BOM): the column names. */
static ts_err read_header(csv_rd *r, size_t *ncols)
{
  int got;
  fmt__textin_skip_bom(&r->in);
  ts_err rc = read_row(r, &got);
  if (rc)
    return rc;
  if (!got)
    return ts_fail(r->err, TS_EINVAL, 0, "the CSV upload is empty (it needs a header row)");
  *ncols = r->in.nfields;
  return TS_OK;
}

static ts_err row_shape(csv_rd *r, size_t ncols)
{
  if (r->in.nfields != ncols)
    return ts_fail(r->err, TS_EINVAL, 0, "row %llu (line %llu) has %zu fields, the header %zu",
                   (unsigned long long)r->rows, (unsigned long long)r->in.rec_line, r->in.nfields,
                   ncols);
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
                       (unsigned long long)r->rows, (unsigned long long)r->in.rec_line, i + 1);
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
  stream_copyenc enc = {0};
  unsigned *cand = NULL;
  fmt_upload_column *cols = NULL;
  size_t ncols = 0;
  ts_err rc;
  memset(&r, 0, sizeof r);
  r.lim = lim;
  r.err = err;
  rc = fmt__textin_init(&r.in, fd, CSV_ROW_MAX, lim->max_columns);
  r.in.cr_ends = 1;
  r.in.strict_quote = 1;
  r.in.max_value = lim->max_value_bytes;
  if (rc) {
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
  fmt__textin_rewind(&r.in);
  r.rows = 0;
  rc = read_header(&r, &ncols);
  if (!rc)
    rc = describe(&r, a, ncols, cand, &cols);
  if (rc)
    goto out;
  fmt_upload_table t = {NULL, NULL, ncols, cols};
  rc = fmt__up_begin(on_table, ud, &t, &enc, out, err);
  while (!rc) {
    int got;
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
                       (unsigned long long)r.in.rec_line, cols[i].c.name);
    }
  }
  rc = fmt__up_end(&enc, rc, rows, err);
out:
  stream_copyenc_free(&enc);
  fmt__textin_free(&r.in);
  free(cand);
  return rc;
}
