/* FITS BINTABLE, written with cfitsio.
 *
 * A FITS table states its row count (NAXIS2) and the width of every
 * string column (TFORMn = 'nA') before the data, which a streamed result
 * does not know. So the rows are spooled first, as they come, to an
 * unlinked temporary file in PostgreSQL's COPY BINARY form, while the
 * encoder notes the row count, the longest string of each column, the
 * element counts of array columns and which columns had NULLs. end() then
 * creates the FITS file with those exact sizes (cfitsio, a second
 * temporary file, unlinked once reopened for reading); each drain() call
 * first converts the next 256 KiB of the spool back through the COPY
 * decoder into rows of the table (big-endian like PostgreSQL's send format,
 * so most values are copied as they are), so that the caller can let its
 * event loop run between pieces; then drain() copies the finished file to
 * the output, piece by piece, at the pace of the client. Memory stays a few hundred KiB whatever
 * the row count; the disk holds the result twice for the duration of the request.
 *
 * Nothing is written to the output before the document is complete: an
 * error at any moment is still reported as a DALI error document by the
 * caller (end with FMT_ERROR discards the spool).
 *
 * Column types: boolean L, short I, int J, long K, real E, double and
 * numeric D, text and times A (times as ISO 8601), arrays of numbers as
 * fixed nX when every row has the same count, else variable-length 1PX
 * (written through cfitsio's heap after the fixed part of every row
 * exists, so the heap never moves). NULL: TNULLn on integer columns that
 * had one (the type's minimum), NaN for floats, 0 for logicals (the FITS
 * undefined value), an empty string for text. Keywords: TTYPEn with the
 * description as comment, TUNITn, TDISPn, TNULLn, TUCDn, TUTYPn, TCOMMn
 * (the conventions of STIL/TOPCAT), and in the table header the query
 * (long-string convention), the request date, the service and QSTATUS
 * (OK or OVERFLOW). */
#include "formats/fmt_int.h"

#include <errno.h>
#include <fcntl.h>
#include <fitsio.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

enum {
  FITS_SPOOL_BUF = 256 << 10,
  FITS_ROWBLOCK = 1 << 20, /* bytes of table rows written per cfitsio call */
  FITS_DRAIN = 256 << 10
};

typedef struct fits_colstat {
  int64_t maxlen; /* strings: longest value in bytes; arrays: most elements */
  int64_t mincnt; /* arrays: fewest elements (-1: no non-NULL value yet) */
  int had_null;   /* a NULL value or NULL array element */
  char code;      /* TFORM letter: L I J K E D A */
  int var;        /* variable-length array column (1P) */
  int64_t repeat; /* elements per row of the fixed part */
  int64_t width;  /* bytes per row of the fixed part */
  int64_t offset; /* where the column starts in a row */
} fits_colstat;

typedef struct fmt_fits {
  fmt_encoder base;
  FILE *spool;
  char *spool_buf; /* rows are staged here and written in large pieces */
  size_t spool_len;
  int out_fd; /* the finished FITS file, being drained */
  uint64_t nrows;
  fits_colstat *cs;
  ts_buf scratch;
  char *query, *request_date, *service, *table_name;
  int ended;
  int escaped; /* some text had characters written as \u escapes */
  /* The conversion, one spool piece per drain call (see fits_step). */
  fitsfile *ff;
  char path[512]; /* the FITS file while cfitsio writes it */
  stream_copydec *dec;
  uint8_t *block, *inbuf;
  int64_t naxis1, row;
  int converting;
} fmt_fits;

static int fits_spool_put(fmt_fits *f, const void *p, size_t n);

static char *fits_strdup(const char *s)
{
  if (!s)
    return NULL;
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d)
    memcpy(d, s, n);
  return d;
}

/* An unlinked temporary file; with `path` the name is kept (cfitsio opens
 * by name) and the caller unlinks it. */
static int fits_tmpfile(char *path, size_t cap)
{
  const char *dir = getenv("TMPDIR");
  snprintf(path, cap, "%s/tapserve-fits-XXXXXX", dir && *dir ? dir : "/tmp");
  return mkstemp(path);
}

static char fits_code(stream_kind k)
{
  switch (k) {
  case STREAM_BOOL:
    return 'L';
  case STREAM_INT2:
    return 'I';
  case STREAM_INT4:
    return 'J';
  case STREAM_INT8:
    return 'K';
  case STREAM_FLOAT4:
    return 'E';
  case STREAM_FLOAT8:
  case STREAM_NUMERIC:
    return 'D';
  default:
    return 'A';
  }
}

static int fits_elsize(char code)
{
  switch (code) {
  case 'I':
    return 2;
  case 'J':
  case 'E':
    return 4;
  case 'K':
  case 'D':
    return 8;
  default:
    return 1;
  }
}

static ts_err fits_begin(fmt_encoder *e, const stream_schema *s, const fmt_info *info)
{
  fmt_fits *f = (fmt_fits *)e;
  char path[512];
  f->out_fd = -1;
  ts_buf_init(&f->scratch, FMT_SCRATCH_MAX);
  f->cs = calloc(s->ncols ? s->ncols : 1, sizeof *f->cs);
  if (!f->cs)
    return TS_ENOMEM;
  if (s->ncols > 999)
    return TS_EFORMAT; /* TFIELDS <= 999 */
  for (size_t i = 0; i < s->ncols; i++) {
    if (s->cols[i].kind == STREAM_UNSUPPORTED)
      return TS_EFORMAT;
    f->cs[i].mincnt = -1;
    f->cs[i].code = fits_code(s->cols[i].kind);
  }
  f->query = fits_strdup(info->query);
  f->request_date = fits_strdup(info->request_date);
  f->service = fits_strdup(info->service);
  f->table_name = fits_strdup(info->table_name ? info->table_name : "result");
  int fd = fits_tmpfile(path, sizeof path);
  if (fd < 0)
    return TS_EIO;
  unlink(path);
  f->spool = fdopen(fd, "w+b");
  if (!f->spool) {
    close(fd);
    return TS_EIO;
  }
  f->spool_buf = malloc(FITS_SPOOL_BUF);
  if (!f->spool_buf)
    return TS_ENOMEM;
  /* COPY BINARY header: signature, flags, header extension length. */
  static const char hdr[19] = "PGCOPY\n\377\r\n\0\0\0\0\0\0\0\0\0";
  if (fits_spool_put(f, hdr, sizeof hdr))
    return TS_EIO;
  return TS_OK;
}

/* FITS character fields hold printable ASCII only (fitsverify rejects
 * anything else): text goes through fmt__esc_len/fmt__esc_put, which
 * write every other character as a \uXXXX escape (nothing is lost and a
 * reader can undo it). */
/* Length of the text form of a time value. */
static size_t fits_time_len(stream_kind k, const stream_value *v)
{
  char tmp[FMT_NUM_MAX];
  return fmt__scalar_text(tmp, k, v, FMT_TEXT_CSV);
}

static ts_err fits_note(fmt_fits *f, const stream_column *c, fits_colstat *cs,
                        const stream_value *v)
{
  if (v->len < 0) {
    cs->had_null = 1;
    return TS_OK;
  }
  if (!c->is_array) {
    if (c->kind == STREAM_TEXT) {
      int64_t n = (int64_t)fmt__esc_len(v->p, (size_t)v->len, FMT_ESC_PRINTABLE);
      if (n > cs->maxlen)
        cs->maxlen = n;
      if (n != v->len)
        f->escaped = 1;
    } else if (v->len < stream_kind_len(c->kind)) {
      return TS_EFORMAT;
    } else if (fmt__kind_is_text(c->kind)) {
      int64_t n = (int64_t)fits_time_len(c->kind, v);
      if (n > cs->maxlen)
        cs->maxlen = n;
    }
    return TS_OK;
  }
  if (fmt__kind_is_text(c->kind)) {
    ts_buf_reset(&f->scratch);
    ts_err rc = stream_format_array_literal(&f->scratch, c->kind, v);
    if (rc)
      return rc == TS_EINVAL ? TS_EFORMAT : rc;
    int64_t n =
        (int64_t)fmt__esc_len((const uint8_t *)f->scratch.data, f->scratch.len, FMT_ESC_PRINTABLE);
    if (n > cs->maxlen)
      cs->maxlen = n;
    if (n != (int64_t)f->scratch.len)
      f->escaped = 1;
    return TS_OK;
  }
  stream_array_iter it;
  stream_value el;
  if (stream_array_begin(&it, v))
    return TS_EFORMAT;
  while (stream_array_next(&it, &el)) {
    if (el.len < 0)
      cs->had_null = 1;
    else if (el.len < stream_kind_len(c->kind))
      return TS_EFORMAT;
  }
  if (it.count > cs->maxlen)
    cs->maxlen = it.count;
  if (cs->mincnt < 0 || it.count < cs->mincnt)
    cs->mincnt = it.count;
  return TS_OK;
}

/* One fwrite per 256 KiB: per-value stdio calls were 40% of the time. */
static int fits_spool_flush(fmt_fits *f)
{
  size_t n = f->spool_len;
  f->spool_len = 0;
  return n && fwrite(f->spool_buf, 1, n, f->spool) != n ? -1 : 0;
}

static int fits_spool_put(fmt_fits *f, const void *p, size_t n)
{
  if (FITS_SPOOL_BUF - f->spool_len < n) {
    if (fits_spool_flush(f))
      return -1;
    if (n > FITS_SPOOL_BUF)
      return fwrite(p, 1, n, f->spool) != n ? -1 : 0;
  }
  memcpy(f->spool_buf + f->spool_len, p, n);
  f->spool_len += n;
  return 0;
}

static ts_err fits_rows(fmt_encoder *e, const stream_batch *b)
{
  fmt_fits *f = (fmt_fits *)e;
  const stream_column *cols = e->schema->cols;
  for (size_t r = 0; r < b->nrows; r++) {
    const stream_value *row = stream_batch_row(b, r);
    for (size_t i = 0; i < b->ncols; i++) {
      ts_err rc = fits_note(f, &cols[i], &f->cs[i], &row[i]);
      if (rc)
        return rc;
    }
    uint8_t n2[2] = {(uint8_t)(b->ncols >> 8), (uint8_t)b->ncols};
    int bad = fits_spool_put(f, n2, 2);
    for (size_t i = 0; i < b->ncols && !bad; i++) {
      uint32_t l = (uint32_t)row[i].len;
      uint8_t l4[4] = {(uint8_t)(l >> 24), (uint8_t)(l >> 16), (uint8_t)(l >> 8), (uint8_t)l};
      bad = fits_spool_put(f, l4, 4);
      if (!bad && row[i].len > 0)
        bad = fits_spool_put(f, row[i].p, (size_t)row[i].len);
    }
    if (bad)
      return TS_EIO;
    f->nrows++;
  }
  return TS_OK;
}

/* ---- end: the FITS file ------------------------------------------------ */

static void fits_be(uint8_t *q, uint64_t x, int size)
{
  for (int i = size - 1; i >= 0; i--) {
    q[i] = (uint8_t)x;
    x >>= 8;
  }
}

static uint64_t fits_null_bits(char code)
{
  switch (code) {
  case 'I':
    return (uint16_t)INT16_MIN;
  case 'J':
    return (uint32_t)INT32_MIN;
  case 'K':
    return (uint64_t)INT64_MIN;
  case 'E':
    return 0x7fc00000u;
  case 'D':
    return 0x7ff8000000000000u;
  default:
    return 0; /* L: undefined; A: empty */
  }
}

/* One element of a numeric/boolean column into q (size of code). */
static void fits_elem(uint8_t *q, char code, stream_kind k, const stream_value *el)
{
  int size = fits_elsize(code);
  if (el->len < 0) {
    fits_be(q, fits_null_bits(code), size);
    return;
  }
  if (code == 'L') {
    q[0] = stream_get_bool(el) ? 'T' : 'F';
  } else if (k == STREAM_NUMERIC) {
    double d = stream_numeric_to_double(el->p, el->len);
    uint64_t u;
    memcpy(&u, &d, 8);
    fits_be(q, u, 8);
  } else {
    memcpy(q, el->p, (size_t)size); /* same width and byte order */
  }
}

static int fits_put_cell(fmt_fits *f, fitsfile *ff, const stream_column *c, const fits_colstat *cs,
                         uint8_t *q, const stream_value *v, int64_t rownum, int colnum, int *status)
{
  if (cs->code == 'A') {
    const char *s = NULL;
    size_t n = 0;
    char tmp[FMT_NUM_MAX];
    if (v->len >= 0) {
      if (c->is_array) {
        ts_buf_reset(&f->scratch);
        if (stream_format_array_literal(&f->scratch, c->kind, v))
          return -1;
        s = f->scratch.data;
        n = f->scratch.len;
      } else if (c->kind == STREAM_TEXT) {
        s = (const char *)v->p;
        n = (size_t)v->len;
      } else {
        n = fmt__scalar_text(tmp, c->kind, v, FMT_TEXT_CSV);
        s = tmp;
      }
    }
    n = n ? fmt__esc_put(q, (size_t)cs->width, (const uint8_t *)s, n, FMT_ESC_PRINTABLE) : 0;
    memset(q + n, 0, (size_t)cs->width - n); /* NUL ends a FITS string */
    return 0;
  }
  if (!c->is_array) {
    fits_elem(q, cs->code, c->kind, v);
    return 0;
  }
  stream_array_iter it;
  stream_value el;
  static const stream_value null_el = {NULL, -1};
  int size = fits_elsize(cs->code);
  if (!cs->var) {
    int64_t i = 0;
    if (v->len >= 0) {
      if (stream_array_begin(&it, v))
        return -1;
      while (i < cs->repeat && stream_array_next(&it, &el))
        fits_elem(q + i++ * size, cs->code, c->kind, &el);
    }
    for (; i < cs->repeat; i++)
      fits_elem(q + i * size, cs->code, c->kind, &null_el);
    return 0;
  }
  /* Variable length: through cfitsio's heap, after the row exists (the
   * block pass, colnum 0, only leaves the descriptor zero). */
  memset(q, 0, 8);
  if (v->len < 0 || colnum == 0)
    return 0;
  if (stream_array_begin(&it, v))
    return -1;
  if (it.count == 0)
    return 0;
  ts_buf_reset(&f->scratch);
  if (ts_buf_reserve(&f->scratch, (size_t)it.count * (size_t)size))
    return -1;
  uint8_t *a = (uint8_t *)f->scratch.data;
  int64_t i = 0;
  while (stream_array_next(&it, &el))
    fits_elem(a + i++ * size, cs->code, c->kind, &el);
  /* cfitsio wants native values: the big-endian bytes are turned back. */
  if (cs->code == 'L') {
    for (int64_t j = 0; j < i; j++)
      a[j] = a[j] == 'T';
    fits_write_col(ff, TLOGICAL, colnum, rownum, 1, i, a, status);
    return 0;
  }
  for (int64_t j = 0; j < i; j++) {
    uint8_t *p = a + j * size;
    for (int x = 0; x < size / 2; x++) {
      uint8_t t = p[x];
      p[x] = p[size - 1 - x];
      p[size - 1 - x] = t;
    }
  }
  int dt = cs->code == 'I'   ? TSHORT
           : cs->code == 'J' ? TINT
           : cs->code == 'K' ? TLONGLONG
           : cs->code == 'E' ? TFLOAT
                             : TDOUBLE;
  fits_write_col(ff, dt, colnum, rownum, 1, i, a, status);
  return 0;
}

static void fits_key_str(fitsfile *ff, const char *key, const char *val, const char *comment,
                         int *st)
{
  if (val && *val)
    fits_write_key_longstr(ff, key, val, comment, st);
}

/* Keeps only printable ASCII (FITS headers are ASCII). */
static void fits_ascii(char *dst, size_t cap, const char *src)
{
  size_t n = 0;
  for (; src && *src && n + 1 < cap; src++)
    if ((unsigned char)*src >= 0x20 && (unsigned char)*src < 0x7f)
      dst[n++] = *src;
    else if ((unsigned char)*src < 0x80 || ((unsigned char)*src & 0xC0) != 0x80)
      dst[n++] = '?';
  dst[n] = '\0';
}

static ts_err fits_cfitsio_failed(int st)
{
  char msg[FLEN_STATUS];
  fits_get_errstatus(st, msg);
  ts_log(TS_LOG_ERROR, NULL, "FITS output: cfitsio error %d: %s", st, msg);
  return TS_EIO;
}

/* Creates the FITS file with its header (the sizes noted while spooling)
 * and gets the spool ready to be read back. */
static ts_err fits_open(fmt_fits *f, const fmt_trailer *t, const char *path)
{
  const stream_schema *s = f->base.schema;
  size_t nc = s->ncols;
  int st = 0;
  ts_err rc = TS_OK;
  char **ttype = calloc(nc + 1, sizeof *ttype), **tform = calloc(nc + 1, sizeof *tform);
  char *names = calloc(nc + 1, 72), *forms = calloc(nc + 1, 32);
  if (!ttype || !tform || !names || !forms) {
    rc = TS_ENOMEM;
    goto out;
  }
  int64_t naxis1 = 0;
  for (size_t i = 0; i < nc; i++) {
    fits_colstat *cs = &f->cs[i];
    const stream_column *c = &s->cols[i];
    ttype[i] = names + i * 72;
    tform[i] = forms + i * 32;
    fits_ascii(ttype[i], 69, c->name ? c->name : "");
    if (!ttype[i][0])
      snprintf(ttype[i], 69, "col%zu", i + 1);
    if (cs->code == 'A') {
      cs->repeat = cs->maxlen > 0 ? cs->maxlen : 1;
      cs->width = cs->repeat;
      snprintf(tform[i], 32, "%lldA", (long long)cs->repeat);
    } else if (c->is_array && (cs->mincnt != cs->maxlen || cs->maxlen == 0)) {
      cs->var = 1;
      cs->repeat = 1;
      cs->width = 8;
      snprintf(tform[i], 32, "1P%c(%lld)", cs->code, (long long)cs->maxlen);
    } else {
      cs->repeat = c->is_array ? cs->maxlen : 1;
      cs->width = cs->repeat * fits_elsize(cs->code);
      snprintf(tform[i], 32, "%lld%c", (long long)cs->repeat, cs->code);
    }
    cs->offset = naxis1;
    naxis1 += cs->width;
  }
  f->naxis1 = naxis1;
  fits_create_file(&f->ff, path, &st);
  fitsfile *ff = f->ff;
  fits_create_tbl(ff, BINARY_TBL, (LONGLONG)f->nrows, (int)nc, ttype, tform, NULL, f->table_name,
                  &st);
  for (size_t i = 0; i < nc && !st; i++) {
    const stream_column *c = &s->cols[i];
    const fits_colstat *cs = &f->cs[i];
    char key[24], val[72];
    int n = (int)i + 1;
    if (c->description) {
      fits_ascii(val, 48, c->description);
      snprintf(key, sizeof key, "TTYPE%d", n);
      fits_modify_comment(ff, key, val, &st);
    }
    if (c->unit) {
      fits_ascii(val, 69, c->unit);
      snprintf(key, sizeof key, "TUNIT%d", n);
      fits_write_key_str(ff, key, val, "physical unit", &st);
    }
    if (cs->had_null && (cs->code == 'I' || cs->code == 'J' || cs->code == 'K')) {
      snprintf(key, sizeof key, "TNULL%d", n);
      LONGLONG nv = cs->code == 'I' ? INT16_MIN : cs->code == 'J' ? INT32_MIN : INT64_MIN;
      fits_write_key(ff, TLONGLONG, key, &nv, "NULL value", &st);
    }
    /* Display formats for scalars only (astropy applies them to each
     * element and fails on arrays); G with every significant digit so a
     * displayed value reads back exactly. */
    const char *disp = c->is_array       ? NULL
                       : cs->code == 'E' ? "G16.9"
                       : cs->code == 'D' ? "G25.17"
                       : cs->code == 'I' ? "I6"
                       : cs->code == 'J' ? "I11"
                       : cs->code == 'K' ? "I20"
                                         : NULL;
    char adisp[32];
    if (cs->code == 'A' && !c->is_array) {
      snprintf(adisp, sizeof adisp, "A%lld", (long long)cs->repeat);
      disp = adisp;
    }
    if (disp) {
      snprintf(key, sizeof key, "TDISP%d", n);
      fits_write_key_str(ff, key, disp, "display format", &st);
    }
    if (c->ucd) {
      snprintf(key, sizeof key, "TUCD%d", n);
      fits_ascii(val, 69, c->ucd);
      fits_write_key_str(ff, key, val, "UCD", &st);
    }
    if (c->utype) {
      snprintf(key, sizeof key, "TUTYP%d", n);
      fits_ascii(val, 69, c->utype);
      fits_write_key_str(ff, key, val, "utype", &st);
    }
    if (c->xtype) {
      snprintf(key, sizeof key, "TXTYP%d", n);
      fits_ascii(val, 69, c->xtype);
      fits_write_key_str(ff, key, val, "DALI xtype", &st);
    }
    if (c->description) {
      snprintf(key, sizeof key, "TCOMM%d", n);
      char *d = malloc(strlen(c->description) + 1);
      if (d) {
        fits_ascii(d, strlen(c->description) + 1, c->description);
        fits_write_key_longstr(ff, key, d, "description", &st);
        free(d);
      }
    }
  }
  if (!st) {
    char *q = f->query ? malloc(strlen(f->query) + 1) : NULL;
    if (q)
      fits_ascii(q, strlen(f->query) + 1, f->query);
    fits_write_key_longwarn(ff, &st);
    fits_key_str(ff, "QUERY", q, "the ADQL query", &st);
    free(q);
    fits_key_str(ff, "REQDATE", f->request_date, "request date (UTC)", &st);
    fits_key_str(ff, "ORIGIN", f->service, "service that wrote this file", &st);
    fits_write_key_str(
        ff, "QSTATUS", t->status == FMT_OVERFLOW ? "OVERFLOW" : "OK",
        t->status == FMT_OVERFLOW ? "more rows than MAXREC: truncated" : "TAP query status", &st);
    fits_write_date(ff, &st);
    if (f->escaped)
      fits_write_comment(ff,
                         "Characters outside printable ASCII in character columns are "
                         "written as \\uXXXX or \\UXXXXXXXX escapes (Unicode code points).",
                         &st);
  }
  if (st) {
    rc = fits_cfitsio_failed(st);
    goto out;
  }
  uint8_t trailer[2] = {0xff, 0xff};
  if (fits_spool_put(f, trailer, 2) || fits_spool_flush(f) || fflush(f->spool) ||
      fseeko(f->spool, 0, SEEK_SET)) {
    rc = TS_EIO;
    goto out;
  }
  size_t block_rows = naxis1 > 0 && naxis1 < FITS_ROWBLOCK ? (size_t)(FITS_ROWBLOCK / naxis1) : 1;
  f->block = malloc((size_t)(naxis1 > 0 ? naxis1 : 1) * block_rows);
  f->inbuf = malloc(FITS_SPOOL_BUF);
  f->dec = stream_copydec_new(nc, block_rows);
  if (!f->block || !f->inbuf || !f->dec)
    rc = TS_ENOMEM;
  f->row = 1;
  f->converting = 1;
out:
  free(ttype);
  free(tform);
  free(names);
  free(forms);
  return rc;
}

/* Converts the next piece of the spool (<= 256 KiB, a few thousand rows)
 * into table rows: spread over drain calls, so that a large result does
 * not hold up the event loop. After the last piece the file is closed and
 * reopened for reading. */
static ts_err fits_step(fmt_fits *f)
{
  const stream_schema *s = f->base.schema;
  size_t nc = s->ncols;
  fitsfile *ff = f->ff;
  int64_t naxis1 = f->naxis1;
  uint8_t *block = f->block;
  int st = 0;
  size_t got = fread(f->inbuf, 1, FITS_SPOOL_BUF, f->spool);
  size_t pos = 0;
  while (pos < got && !st) {
    size_t used = 0;
    stream_batch b;
    ts_error err;
    if (stream_copydec_feed(f->dec, f->inbuf + pos, got - pos, &used, &b, &err))
      return TS_EINTERNAL;
    pos += used;
    if (!b.nrows)
      continue;
    for (size_t r = 0; r < b.nrows; r++) {
      const stream_value *vals = stream_batch_row(&b, r);
      for (size_t i = 0; i < nc; i++)
        if (fits_put_cell(f, ff, &s->cols[i], &f->cs[i],
                          block + (size_t)naxis1 * r + (size_t)f->cs[i].offset, &vals[i], 0, 0,
                          &st))
          return TS_EFORMAT;
    }
    if (naxis1 > 0)
      fits_write_tblbytes(ff, f->row, 1, (LONGLONG)naxis1 * (LONGLONG)b.nrows, block, &st);
    /* variable-length arrays after their rows exist */
    for (size_t i = 0; i < nc && !st; i++) {
      if (!f->cs[i].var)
        continue;
      for (size_t r = 0; r < b.nrows && !st; r++) {
        uint8_t desc[8];
        if (fits_put_cell(f, ff, &s->cols[i], &f->cs[i], desc, &stream_batch_row(&b, r)[i],
                          f->row + (int64_t)r, (int)i + 1, &st))
          return TS_EFORMAT;
      }
    }
    f->row += (int64_t)b.nrows;
  }
  if (st)
    return fits_cfitsio_failed(st);
  if (ferror(f->spool))
    return TS_EIO;
  if (got > 0)
    return TS_OK;
  /* the whole spool is converted */
  f->converting = 0;
  fits_write_chksum(ff, &st);
  fits_close_file(ff, &st);
  f->ff = NULL;
  fclose(f->spool);
  f->spool = NULL;
  if (st)
    return fits_cfitsio_failed(st);
  f->out_fd = open(f->path, O_RDONLY | O_CLOEXEC);
  unlink(f->path);
  f->path[0] = '\0';
  return f->out_fd < 0 ? TS_EIO : TS_OK;
}

static ts_err fits_end(fmt_encoder *e, const fmt_trailer *t)
{
  fmt_fits *f = (fmt_fits *)e;
  if (f->ended || !f->spool)
    return TS_EINTERNAL;
  f->ended = 1;
  if (t->status == FMT_ERROR) {
    /* Nothing was sent: the caller answers with an error document. */
    fclose(f->spool);
    f->spool = NULL;
    return TS_OK;
  }
  int fd = fits_tmpfile(f->path, sizeof f->path);
  if (fd < 0) {
    f->path[0] = '\0';
    return TS_EIO;
  }
  /* cfitsio creates the file itself ("!" overwrites the placeholder). */
  close(fd);
  char cpath[520];
  snprintf(cpath, sizeof cpath, "!%s", f->path);
  return fits_open(f, t, cpath);
}

static ts_err fits_drain(fmt_encoder *e, int *done)
{
  fmt_fits *f = (fmt_fits *)e;
  stream_out *o = e->out;
  *done = 0;
  if (f->converting)
    return fits_step(f); /* nothing for the output yet */
  if (f->out_fd < 0) {
    *done = 1;
    return TS_OK;
  }
  size_t total = 0;
  while (total < FITS_DRAIN) {
    char *p = stream_out_reserve(o, o->cap);
    if (!p)
      return o->err ? o->err : TS_ENOMEM;
    ssize_t n = read(f->out_fd, p, o->cap);
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0)
      return TS_EIO;
    if (n == 0) {
      close(f->out_fd);
      f->out_fd = -1;
      *done = 1;
      break;
    }
    stream_out_commit(o, (size_t)n);
    total += (size_t)n;
  }
  return stream_out_flush(o);
}

static void fits_destroy(fmt_encoder *e)
{
  fmt_fits *f = (fmt_fits *)e;
  if (f->ff) {
    int st = 0;
    fits_close_file(f->ff, &st);
  }
  if (f->path[0])
    unlink(f->path);
  stream_copydec_free(f->dec);
  free(f->block);
  free(f->inbuf);
  if (f->spool)
    fclose(f->spool);
  if (f->out_fd >= 0 && f->cs)
    close(f->out_fd);
  free(f->spool_buf);
  free(f->cs);
  free(f->query);
  free(f->request_date);
  free(f->service);
  free(f->table_name);
  ts_buf_free(&f->scratch);
}

static const char *const fmt_fits_aliases[] = {"application/fits", "image/fits", NULL};

const fmt_type fmt_fits_type = {
    .name = "fits",
    .mime = "application/fits",
    .ext = "fits",
    .aliases = fmt_fits_aliases,
    .can_report_error = 1,
    .size = sizeof(fmt_fits),
    .begin = fits_begin,
    .rows = fits_rows,
    .end = fits_end,
    .destroy = fits_destroy,
    .drain = fits_drain,
};
