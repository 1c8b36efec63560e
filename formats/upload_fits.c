/* formats/upload_fits.c: the FITS upload reader (formats/upload.h).
 *
 * Reads the first BINTABLE extension with cfitsio: the header through its
 * keyword functions, the rows in blocks of about 1 MiB with
 * fits_read_tblbytes, as raw big-endian bytes that are converted here
 * (TNULLn, TSCALn/TZEROn applied by us, so that the column's type is
 * chosen once from the header and every value is checked against it).
 * Variable-length arrays (P and Q descriptors) are read from the heap with
 * pread, each descriptor checked against the heap's bounds first. Before
 * any row is read, NAXIS1 x NAXIS2 plus the heap (PCOUNT) must fit in the
 * file: a wrong NAXIS2 or a truncated file is an error, not a short table.
 *
 * Columns in VOTable terms (then fmt_upload_set_type, the one rule):
 *   L boolean, X bit, B unsignedByte, I short, J int, K long, E float,
 *   D double, A char (one string: up to the first NUL, trailing blanks
 *   dropped, empty = NULL); a repeat count > 1 or TDIMn makes an array
 *   (flattened), P/Q an array of variable length ("*"). Integers with
 *   TSCALn = 1 and an integral TZEROn (FITS's unsigned convention: I with
 *   TZERO 32768 ...) become the narrowest type that holds every value
 *   (uint16 -> int, uint32 -> long, int8 -> short; uint64 stays long and
 *   a value above 2^63-1 is an error); any other scaling gives double.
 *   NULL: TNULLn (compared with the stored value), NaN for E/D, 0 for L.
 *   Metadata: TTYPEn, TUNITn, TUCDn, TUTYPn, TXTYPn (STIL's conventions)
 *   and TCOMMn as description; EXTNAME is the table's name. Text written
 *   by tapserve's own encoder with \uXXXX escapes (it says so in a COMMENT)
 *   is unescaped. C and M (complex) are refused, naming the column. */
#include "formats/upload_int.h"

#include <errno.h>
#include <fitsio.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

enum {
  FITS_BLOCK = 1 << 20 /* bytes of rows read per cfitsio call */
};

typedef struct fcol {
  fmt_upload_column *col;
  int n;          /* 1-based column number */
  char code;      /* L X B I J K E D A */
  char var;       /* 0, 'P' or 'Q' */
  int64_t repeat; /* fixed part: elements (bits for X, characters for A) */
  int64_t offset; /* in the row */
  int64_t width;  /* bytes in the row */
  int has_null;
  int64_t tnull;
  int scaled; /* floating result: d * tscal + tzero */
  double tscal, tzero;
  int64_t izero; /* integral offset (tscal 1) */
  int u64;       /* K with TZERO 2^63 */
} fcol;

typedef struct freader {
  int fd;
  const fmt_upload_limits *lim;
  size_t value_max;
  fitsfile *ff;
  int hdu;
  size_t ncols;
  fcol *fc;
  int escapes;
  int64_t naxis1, naxis2, datastart, heapstart, heapsize;
  stream_copyenc enc;
  ts_buf heap; /* one variable-length array */
  ts_buf text; /* unescaped text */
  ts_error *err;
} freader;

static int elem_size(char code)
{
  switch (code) {
  case 'I':
    return 2;
  case 'J':
  case 'E':
    return 4;
  case 'K':
  case 'D':
  case 'C':
    return 8;
  case 'M':
    return 16;
  default:
    return 1; /* L B A; X counts bits */
  }
}

static ts_err cfitsio_fail(freader *r, int st, const char *what)
{
  char msg[FLEN_STATUS];
  fits_get_errstatus(st, msg);
  return ts_fail(r->err, TS_EINVAL, 0, "FITS: %s: %s", what, msg);
}

/* Keyword root (root<n> when n > 0) of `type` into val; KEY_NO_EXIST is
 * no error: 1 when present. */
static int key_num(freader *r, const char *root, int n, int type, void *val, int *st)
{
  char name[FLEN_KEYWORD];
  if (n)
    snprintf(name, sizeof name, "%s%d", root, n);
  else
    snprintf(name, sizeof name, "%s", root);
  if (*st)
    return 0;
  fits_read_key(r->ff, type, name, val, NULL, st);
  if (*st == KEY_NO_EXIST || *st == VALUE_UNDEFINED) {
    *st = 0;
    return 0;
  }
  return !*st;
}

/* A string keyword root<n> (FLEN_VALUE bytes at val): 1 when present. */
static int key_str(freader *r, const char *root, int n, char *val, int *st)
{
  return key_num(r, root, n, TSTRING, val, st);
}

static const char *arena_key(ts_arena *a, const char *v)
{
  return v && *v ? ts_arena_strdup(a, v) : NULL;
}

/* TFORMn: [r]t or [r]Pt[(max)] / [r]Qt[(max)]. */
static int parse_tform(const char *s, fcol *f)
{
  while (*s == ' ')
    s++;
  int64_t r = 1;
  if (*s >= '0' && *s <= '9') {
    r = 0;
    while (*s >= '0' && *s <= '9') {
      if (r > (int64_t)1 << 40)
        return -1;
      r = r * 10 + (*s++ - '0');
    }
  }
  char c = *s++;
  if (c == 'P' || c == 'Q') {
    if (r > 1)
      return -1;
    f->var = c;
    c = *s++;
    if (*s == '(') {
      while (*s && *s != ')')
        s++;
      if (*s++ != ')')
        return -1;
    }
    r = 1;
  }
  if (!c || !strchr("LXBIJKAEDCM", c))
    return -1;
  while (*s == ' ')
    s++;
  if (*s && !f->var && c != 'A') /* rAw: the w (sub-string width) is ignored */
    return -1;
  f->code = c;
  f->repeat = r;
  int64_t bytes = c == 'X' ? (r + 7) / 8 : r * elem_size(c);
  f->width = f->var ? (f->var == 'P' ? 8 : 16) : bytes;
  return 0;
}

/* TDIMn "(a,b,c)" -> VOTable arraysize "axbxc" when its product is the
 * repeat count; NULL otherwise (the repeat count is used). */
static const char *tdim_arraysize(ts_arena *a, const char *tdim, int64_t repeat)
{
  char out[FLEN_VALUE];
  size_t n = 0;
  int64_t prod = 1;
  const char *p = strchr(tdim, '(');
  if (!p)
    return NULL;
  p++;
  for (;;) {
    char *end;
    long long d = strtoll(p, &end, 10);
    if (end == p || d <= 0 || d > repeat)
      return NULL;
    prod *= d;
    if (prod > repeat)
      return NULL;
    int w = snprintf(out + n, sizeof out - n, "%s%lld", n ? "x" : "", d);
    if (w < 0 || (size_t)w >= sizeof out - n)
      return NULL;
    n += (size_t)w;
    p = end;
    while (*p == ' ')
      p++;
    if (*p == ')')
      break;
    if (*p++ != ',')
      return NULL;
  }
  return prod == repeat ? ts_arena_strdup(a, out) : NULL;
}

/* The VOTable datatype of an integer column given its scaling. */
static const char *int_datatype(fcol *f)
{
  static const double lo[] = {0, -32768.0, -2147483648.0, -9223372036854775808.0};
  static const double hi[] = {255, 32767.0, 2147483647.0, 9223372036854775807.0};
  int k = f->code == 'B' ? 0 : f->code == 'I' ? 1 : f->code == 'J' ? 2 : 3;
  if (!f->scaled)
    return k == 0 ? "unsignedByte" : k == 1 ? "short" : k == 2 ? "int" : "long";
  if (f->tscal != 1.0 || f->tzero != floor(f->tzero) || fabs(f->tzero) > 9.3e18)
    return "double";
  f->scaled = 0;
  if (k == 3) {
    if (f->tzero == 9223372036854775808.0)
      f->u64 = 1;
    else
      f->izero = (int64_t)f->tzero; /* overflow checked per value */
    return "long";
  }
  f->izero = (int64_t)f->tzero;
  double l = lo[k] + f->tzero, h = hi[k] + f->tzero;
  if (l >= -32768.0 && h <= 32767.0)
    return "short";
  if (l >= -2147483648.0 && h <= 2147483647.0)
    return "int";
  return "long";
}

/* Reads the column's header keywords and chooses its type. */
static ts_err describe(freader *r, ts_arena *a, fcol *f, int *st)
{
  char v[FLEN_VALUE], name[32];
  fmt_upload_column *col = f->col;
  stream_column *c = &col->c;
  if (key_str(r, "TTYPE", f->n, v, st) && v[0])
    c->name = ts_arena_strdup(a, v);
  else {
    snprintf(name, sizeof name, "col%d", f->n);
    c->name = ts_arena_strdup(a, name);
  }
  if (!key_str(r, "TFORM", f->n, v, st) || parse_tform(v, f))
    return *st ? cfitsio_fail(r, *st, "reading the table header")
               : ts_fail(r->err, TS_EINVAL, 0, "FITS: column %d (%s): bad or missing TFORM%d '%s'",
                         f->n, c->name, f->n, *st ? "" : v);
  if (key_str(r, "TUNIT", f->n, v, st))
    c->unit = arena_key(a, v);
  if (key_str(r, "TUCD", f->n, v, st))
    c->ucd = arena_key(a, v);
  if (key_str(r, "TUTYP", f->n, v, st))
    c->utype = arena_key(a, v);
  const char *xtype = NULL;
  if (key_str(r, "TXTYP", f->n, v, st))
    xtype = arena_key(a, v);
  char key[FLEN_KEYWORD], *longv = NULL;
  snprintf(key, sizeof key, "TCOMM%d", f->n);
  if (!*st) {
    fits_read_key_longstr(r->ff, key, &longv, NULL, st);
    if (*st == KEY_NO_EXIST || *st == VALUE_UNDEFINED)
      *st = 0;
    else if (!*st && longv && *longv)
      c->description = ts_arena_strdup(a, longv);
    if (longv)
      fits_free_memory(longv, st);
  }
  LONGLONG tnull;
  if (key_num(r, "TNULL", f->n, TLONGLONG, &tnull, st) && strchr("BIJK", f->code)) {
    f->has_null = 1;
    f->tnull = tnull;
  }
  f->tscal = 1.0;
  f->tzero = 0.0;
  key_num(r, "TSCAL", f->n, TDOUBLE, &f->tscal, st);
  key_num(r, "TZERO", f->n, TDOUBLE, &f->tzero, st);
  if (*st)
    return cfitsio_fail(r, *st, "reading the table header");
  if (!isfinite(f->tscal) || !isfinite(f->tzero) || f->tscal == 0)
    return ts_fail(r->err, TS_EINVAL, 0, "FITS: column %d (%s): bad TSCAL%d or TZERO%d", f->n,
                   c->name, f->n, f->n);
  f->scaled = f->tscal != 1.0 || f->tzero != 0.0;
  if (f->scaled && !strchr("BIJKED", f->code))
    f->scaled = 0; /* FITS: scaling applies to numbers only */
  const char *dt;
  switch (f->code) {
  case 'L':
    dt = "boolean";
    break;
  case 'X':
    dt = "bit";
    break;
  case 'A':
    dt = "char";
    break;
  case 'E':
    dt = f->scaled ? "double" : "float";
    break;
  case 'D':
    dt = "double";
    break;
  case 'C':
    dt = "floatComplex";
    break;
  case 'M':
    dt = "doubleComplex";
    break;
  default:
    dt = int_datatype(f);
  }
  const char *as = NULL;
  if (f->var)
    as = "*";
  else if (f->code == 'A')
    as = f->repeat > 0 ? ts_arena_printf(a, "%lld", (long long)f->repeat) : "*";
  else if (f->repeat == 0)
    as = "*"; /* no data: always an empty array */
  else if (f->repeat > 1) {
    if (key_str(r, "TDIM", f->n, v, st))
      as = tdim_arraysize(a, v, f->repeat);
    if (!as)
      as = ts_arena_printf(a, "%lld", (long long)f->repeat);
  }
  if (*st)
    return cfitsio_fail(r, *st, "reading the table header");
  return fmt_upload_set_type(col, dt, as, xtype, r->err);
}

/* ---- values ------------------------------------------------------------ */

/* Element i of a numeric or logical column whose data start at p. */
static ts_err put_elem(freader *r, const fcol *f, const uint8_t *p, int64_t i, int64_t row)
{
  stream_copyenc *e = &r->enc;
  switch (f->code) {
  case 'L':
    if (p[i] == 0)
      return stream_copyenc_null(e);
    if (p[i] != 'T' && p[i] != 'F')
      return ts_fail(r->err, TS_EINVAL, 0,
                     "FITS: column %d (%s), row %lld: logical value is not T, F or 0", f->n,
                     f->col->c.name, (long long)row);
    return stream_copyenc_bool(e, p[i] == 'T');
  case 'X':
    return stream_copyenc_bool(e, p[i / 8] >> (7 - i % 8) & 1);
  case 'E':
  case 'D': {
    int sz = elem_size(f->code);
    double d = fmt__up_be_float(p + i * sz, sz);
    if (isnan(d))
      return stream_copyenc_null(e);
    return fmt__up_put_f64(e, f->col, f->scaled ? d * f->tscal + f->tzero : d, r->err);
  }
  default: {
    int sz = elem_size(f->code);
    int64_t v = fmt__up_be_int(p + i * sz, sz);
    if (f->has_null && v == f->tnull)
      return stream_copyenc_null(e);
    if (f->scaled)
      return fmt__up_put_f64(e, f->col, (double)v * f->tscal + f->tzero, r->err);
    if (f->u64) {
      if (v >= 0) /* stored v + 2^63 > 2^63 - 1 */
        return ts_fail(r->err, TS_EINVAL, 0,
                       "FITS: column %d (%s), row %lld: unsigned value above 2^63-1 does not fit "
                       "in a bigint",
                       f->n, f->col->c.name, (long long)row);
      v = (int64_t)((uint64_t)v + ((uint64_t)1 << 63));
    } else if (__builtin_add_overflow(v, f->izero, &v)) {
      return ts_fail(r->err, TS_EINVAL, 0,
                     "FITS: column %d (%s), row %lld: value with TZERO%d does not fit in a bigint",
                     f->n, f->col->c.name, (long long)row, f->n);
    }
    return fmt__up_put_i64(e, f->col, v, r->err);
  }
  }
}

static int hexval(int c)
{
  return c >= '0' && c <= '9'   ? c - '0'
         : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                : -1;
}

/* Undoes tapserve's \uXXXX and \UXXXXXXXX escapes into r->heap. */
static ts_err unescape(freader *r, const uint8_t *s, size_t n)
{
  ts_buf *b = &r->text;
  ts_buf_reset(b);
  for (size_t i = 0; i < n;) {
    int len = i + 1 < n && s[i] == '\\' ? (s[i + 1] == 'u' ? 4 : s[i + 1] == 'U' ? 8 : 0) : 0;
    uint32_t cp = 0;
    for (int j = 0; len && j < len; j++) {
      int h = i + 2 + (size_t)j < n ? hexval(s[i + 2 + (size_t)j]) : -1;
      if (h < 0)
        len = 0;
      cp = cp << 4 | (uint32_t)(h < 0 ? 0 : h);
    }
    if (!len || cp > 0x10FFFF || cp == 0) {
      if (ts_buf_append(b, s + i, 1))
        return TS_ELIMIT;
      i++;
      continue;
    }
    uint8_t u[4];
    size_t un = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (un == 1)
      u[0] = (uint8_t)cp;
    else if (un == 2)
      u[0] = (uint8_t)(0xC0 | cp >> 6), u[1] = (uint8_t)(0x80 | (cp & 0x3F));
    else if (un == 3)
      u[0] = (uint8_t)(0xE0 | cp >> 12), u[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)),
      u[2] = (uint8_t)(0x80 | (cp & 0x3F));
    else
      u[0] = (uint8_t)(0xF0 | cp >> 18), u[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F)),
      u[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F)), u[3] = (uint8_t)(0x80 | (cp & 0x3F));
    if (ts_buf_append(b, u, un))
      return TS_ELIMIT;
    i += 2 + (size_t)len;
  }
  return TS_OK;
}

/* A character field: up to the first NUL, trailing blanks dropped. */
static ts_err put_chars(freader *r, const fcol *f, const uint8_t *p, size_t n, int64_t row)
{
  const uint8_t *nul = memchr(p, 0, n);
  if (nul)
    n = (size_t)(nul - p);
  while (n && p[n - 1] == ' ')
    n--;
  if (!n)
    return stream_copyenc_null(&r->enc);
  if (r->escapes && memchr(p, '\\', n)) {
    ts_err rc = unescape(r, p, n);
    if (rc)
      return ts_fail(r->err, rc, 0, "FITS: column %d (%s), row %lld: value too long", f->n,
                     f->col->c.name, (long long)row);
    p = (const uint8_t *)r->text.data;
    n = r->text.len;
  }
  if (!ts_utf8_valid((const char *)p, n))
    return ts_fail(r->err, TS_EINVAL, 0,
                   "FITS: column %d (%s), row %lld: character data is neither ASCII nor UTF-8",
                   f->n, f->col->c.name, (long long)row);
  if (f->col->c.kind == STREAM_TIMESTAMP) {
    int64_t us;
    if (fmt__up_parse_timestamp((const char *)p, n, &us, r->err))
      return fmt__up_locate(r->err, "FITS: column %d (%s), row %lld", f->n, f->col->c.name,
                            (long long)row);
    return stream_copyenc_timestamp(&r->enc, us, 0);
  }
  return stream_copyenc_text(&r->enc, (const char *)p, n);
}

/* count elements of f starting at p (the fixed part, or a heap array). */
static ts_err put_elems(freader *r, const fcol *f, const uint8_t *p, int64_t count, int64_t row)
{
  if (f->code == 'A')
    return put_chars(r, f, p, (size_t)count, row);
  if (!f->col->c.is_array)
    return put_elem(r, f, p, 0, row);
  ts_err rc = stream_copyenc_array_begin(&r->enc, fmt__up_elem_oid(f->col->c.kind));
  for (int64_t i = 0; i < count && !rc; i++)
    rc = put_elem(r, f, p, i, row);
  return rc ? rc : stream_copyenc_array_end(&r->enc);
}

/* A variable-length array: its descriptor checked, its elements read
 * from the heap. */
static ts_err put_var(freader *r, const fcol *f, const uint8_t *d, int64_t row)
{
  uint64_t count, off;
  if (f->var == 'P') {
    count = stream_be32(d);
    off = stream_be32(d + 4);
  } else {
    count = stream_be64(d);
    off = stream_be64(d + 8);
  }
  uint64_t bytes = f->code == 'X' ? (count + 7) / 8 : count * (uint64_t)elem_size(f->code);
  if (count > (uint64_t)1 << 40 || bytes > r->value_max)
    return ts_fail(r->err, count > (uint64_t)1 << 40 ? TS_EINVAL : TS_ELIMIT, 0,
                   "FITS: column %d (%s), row %lld: %llu elements, more than the limit of %zu "
                   "bytes per value",
                   f->n, f->col->c.name, (long long)row, (unsigned long long)count, r->value_max);
  if (off > (uint64_t)r->heapsize || bytes > (uint64_t)r->heapsize - off)
    return ts_fail(r->err, TS_EINVAL, 0,
                   "FITS: column %d (%s), row %lld: array descriptor points outside the heap", f->n,
                   f->col->c.name, (long long)row);
  ts_buf_reset(&r->heap);
  if (ts_buf_reserve(&r->heap, (size_t)bytes + 1))
    return ts_fail(r->err, TS_ENOMEM, 0, "FITS: out of memory");
  uint8_t *p = (uint8_t *)r->heap.data;
  for (uint64_t got = 0; got < bytes;) {
    ssize_t n = pread(r->fd, p + got, (size_t)(bytes - got), r->heapstart + (off_t)(off + got));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      return ts_fail(r->err, TS_EIO, 0, "FITS: reading the heap: %s",
                     n < 0 ? strerror(errno) : "unexpected end of file");
    got += (uint64_t)n;
  }
  return put_elems(r, f, p, (int64_t)count, row);
}

static ts_err put_row(freader *r, const uint8_t *row, int64_t rownum)
{
  ts_err rc = stream_copyenc_row(&r->enc);
  for (size_t i = 0; i < r->ncols && !rc; i++) {
    const fcol *f = &r->fc[i];
    if (f->var)
      rc = put_var(r, f, row + f->offset, rownum);
    else if (f->repeat == 0 && f->code == 'A')
      rc = stream_copyenc_null(&r->enc);
    else
      rc = put_elems(r, f, row + f->offset, f->repeat, rownum);
  }
  return rc;
}

/* ---- the table --------------------------------------------------------- */

/* Moves to the BINTABLE, checks its sizes against the file's. */
static ts_err open_table(freader *r, int64_t fsize)
{
  int st = 0, type = 0;
  fits_movabs_hdu(r->ff, r->hdu, &type, &st);
  if (st)
    return cfitsio_fail(r, st, "reading the BINTABLE header");
  if (type != BINARY_TBL)
    return ts_fail(r->err, TS_EINVAL, 0, "FITS HDU %d: not a BINTABLE", r->hdu);
  LONGLONG naxis1 = 0, naxis2 = 0, pcount = 0, theap = 0, head, data, end;
  int tfields = 0;
  key_num(r, "NAXIS1", 0, TLONGLONG, &naxis1, &st);
  key_num(r, "NAXIS2", 0, TLONGLONG, &naxis2, &st);
  key_num(r, "PCOUNT", 0, TLONGLONG, &pcount, &st);
  key_num(r, "TFIELDS", 0, TINT, &tfields, &st);
  fits_get_hduaddrll(r->ff, &head, &data, &end, &st);
  if (st)
    return cfitsio_fail(r, st, "reading the BINTABLE header");
  int64_t fixed;
  if (naxis1 < 0 || naxis2 < 0 || pcount < 0 || tfields < 1 ||
      __builtin_mul_overflow(naxis1, naxis2, &fixed))
    return ts_fail(r->err, TS_EINVAL, 0,
                   "FITS HDU %d: bad NAXIS1 (%lld), NAXIS2 (%lld), PCOUNT (%lld) or TFIELDS (%d)",
                   r->hdu, (long long)naxis1, (long long)naxis2, (long long)pcount, tfields);
  if (fixed > fsize || pcount > fsize || data + fixed + pcount > fsize)
    return ts_fail(r->err, TS_EINVAL, 0,
                   "FITS HDU %d: NAXIS2 = %lld rows of NAXIS1 = %lld bytes and a heap of %lld "
                   "bytes need %lld bytes after the header, the file has %lld (wrong NAXIS2 or "
                   "truncated file)",
                   r->hdu, (long long)naxis2, (long long)naxis1, (long long)pcount,
                   (long long)(fixed > fsize ? fixed : fixed + pcount),
                   (long long)(fsize - data > 0 ? fsize - data : 0));
  if (naxis1 == 0 && naxis2 > 0) /* rows of nothing: NAXIS2 would be unchecked */
    return ts_fail(r->err, TS_EINVAL, 0,
                   "FITS HDU %d: NAXIS1 = 0 with NAXIS2 = %lld: the rows hold no data", r->hdu,
                   (long long)naxis2);
  theap = fixed;
  key_num(r, "THEAP", 0, TLONGLONG, &theap, &st);
  if (st || theap < fixed || theap - fixed > pcount)
    return ts_fail(r->err, TS_EINVAL, 0, "FITS HDU %d: THEAP outside the data", r->hdu);
  if (r->lim->max_columns && (size_t)tfields > r->lim->max_columns)
    return ts_fail(r->err, TS_ELIMIT, 0,
                   "FITS HDU %d: %d columns, more than the limit of %zu columns per upload", r->hdu,
                   tfields, r->lim->max_columns);
  if (r->lim->max_rows && (uint64_t)naxis2 > r->lim->max_rows)
    return ts_fail(r->err, TS_ELIMIT, 0,
                   "FITS HDU %d: %lld rows, more than the limit of %llu rows per upload", r->hdu,
                   (long long)naxis2, (unsigned long long)r->lim->max_rows);
  if ((uint64_t)naxis1 > r->value_max)
    return ts_fail(r->err, TS_ELIMIT, 0,
                   "FITS HDU %d: rows of %lld bytes, more than the limit of %zu bytes", r->hdu,
                   (long long)naxis1, r->value_max);
  r->naxis1 = naxis1;
  r->naxis2 = naxis2;
  r->datastart = data;
  r->heapstart = data + theap;
  r->heapsize = pcount - (theap - fixed);
  r->ncols = (size_t)tfields;
  return TS_OK;
}

/* tapserve's FITS encoder says so when it escaped text. */
static int has_escape_comment(freader *r)
{
  int st = 0, nkeys = 0, more = 0;
  char card[FLEN_CARD];
  fits_get_hdrspace(r->ff, &nkeys, &more, &st);
  for (int i = 1; i <= nkeys && !st; i++) {
    fits_read_record(r->ff, i, card, &st);
    if (!st && strncmp(card, "COMMENT", 7) == 0 &&
        strstr(card, "Characters outside printable ASCII in character columns"))
      return 1;
  }
  return 0;
}

static void close_ff(freader *r)
{
  int st = 0;
  if (r->ff)
    fits_close_file(r->ff, &st);
  r->ff = NULL;
}

ts_err fmt__upload_fits(int fd, const fmt_upload_limits *lim, ts_arena *a,
                        fmt_upload_table_fn on_table, void *ud, stream_out *out, uint64_t *rows,
                        ts_error *err)
{
  freader r = {.fd = fd, .lim = lim, .err = err};
  uint8_t head[80], *block = NULL;
  struct stat sb;
  ts_err rc = TS_OK;
  int st = 0;
  r.value_max = lim->max_value_bytes;
  ts_buf_init(&r.heap, r.value_max);
  ts_buf_init(&r.text, r.value_max);
  /* cfitsio is handed only what looks like FITS: a regular file that
   * starts with the SIMPLE card and holds at least one header block. */
  if (fstat(fd, &sb) || !S_ISREG(sb.st_mode))
    return ts_fail(err, TS_EIO, 0, "FITS: the upload is not a regular file");
  if (sb.st_size < 2880 || pread(fd, head, sizeof head, 0) != (ssize_t)sizeof head ||
      memcmp(head, "SIMPLE  =", 9) != 0)
    return ts_fail(err, TS_EINVAL, 0,
                   "FITS: not a FITS file (no SIMPLE card in a 2880-byte "
                   "header)");
  rc = fmt__fits_prescan(fd, (int64_t)sb.st_size, &r.hdu, err);
  if (rc)
    goto out;
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  fits_open_diskfile(&r.ff, path, READONLY, &st);
  if (st) {
    r.ff = NULL;
    rc = cfitsio_fail(&r, st, "opening the file");
    goto out;
  }
  rc = open_table(&r, (int64_t)sb.st_size);
  if (rc)
    goto out;
  fmt_upload_table *t = ts_arena_calloc(a, 1, sizeof *t);
  fmt_upload_column *cols = ts_arena_calloc(a, r.ncols, sizeof *cols);
  r.fc = ts_arena_calloc(a, r.ncols, sizeof *r.fc);
  if (!t || !cols || !r.fc) {
    rc = ts_fail(err, TS_ENOMEM, 0, "FITS: out of memory");
    goto out;
  }
  int64_t offset = 0;
  for (size_t i = 0; i < r.ncols; i++) {
    fcol *f = &r.fc[i];
    f->col = &cols[i];
    f->n = (int)i + 1;
    rc = describe(&r, a, f, &st);
    if (rc)
      goto out;
    f->offset = offset;
    offset += f->width;
    if (offset > r.naxis1) {
      rc = ts_fail(err, TS_EINVAL, 0,
                   "FITS HDU %d: the columns' TFORMs need %lld bytes per row, NAXIS1 is %lld",
                   r.hdu, (long long)offset, (long long)r.naxis1);
      goto out;
    }
  }
  char extname[FLEN_VALUE];
  fits_read_key(r.ff, TSTRING, "EXTNAME", extname, NULL, &st);
  t->name = !st && extname[0] ? ts_arena_strdup(a, extname) : NULL;
  st = 0;
  r.escapes = has_escape_comment(&r);
  t->ncols = r.ncols;
  t->cols = cols;
  rc = fmt__up_begin(on_table, ud, t, &r.enc, out, err);
  if (rc)
    goto out;
  int64_t per = r.naxis1 > 0 && r.naxis1 < FITS_BLOCK ? FITS_BLOCK / r.naxis1 : 1;
  block = malloc((size_t)(r.naxis1 > 0 ? r.naxis1 : 1) * (size_t)per);
  if (!block) {
    rc = ts_fail(err, TS_ENOMEM, 0, "FITS: out of memory");
    goto out;
  }
  for (int64_t row = 1; row <= r.naxis2 && !rc; row += per) {
    int64_t n = r.naxis2 - row + 1 < per ? r.naxis2 - row + 1 : per;
    if (r.naxis1 > 0)
      fits_read_tblbytes(r.ff, row, 1, n * r.naxis1, block, &st);
    if (st) {
      rc = cfitsio_fail(&r, st, "reading rows");
      break;
    }
    for (int64_t i = 0; i < n && !rc; i++)
      rc = put_row(&r, block + i * r.naxis1, row + i);
  }
  rc = fmt__up_end(&r.enc, rc, rows, err);
out:
  free(block);
  close_ff(&r);
  stream_copyenc_free(&r.enc);
  ts_buf_free(&r.heap);
  ts_buf_free(&r.text);
  return rc;
}
