/* The FITS upload reader: every TFORM with nulls and scaling (files made
 * with cfitsio here), tapserve's own FITS output read back to the same
 * COPY bytes, files written by astropy, hostile files, and (label pg) the
 * rows COPYed into PostgreSQL. */
#include "test_list.h"
#include "ts_test_pg.h"
#include "upload_test.h"

#include <fitsio.h>
#include <math.h>
#include <sys/stat.h>

/* ---- a table with every TFORM, made with cfitsio ------------------------ */
static int make_tforms(char *path)
{
  char *ttype[] = {"l",   "x",  "b",  "i",   "j",   "k",  "e",  "d",   "a",
                   "arr", "vj", "vd", "u16", "u32", "s8", "sc", "u64", "va"};
  char *tform[] = {"L",  "8X",  "B",   "I",  "J",  "K",  "E", "D",  "10A",
                   "6D", "1PJ", "1QD", "1U", "1V", "1S", "I", "1W", "1PA"};
  int st = 0;
  fitsfile *ff;
  char cpath[80];
  int fd = mkstemp(path);
  if (fd < 0)
    return -1;
  close(fd);
  snprintf(cpath, sizeof cpath, "!%s", path);
  fits_create_file(&ff, cpath, &st);
  fits_create_tbl(ff, BINARY_TBL, 0, 18, ttype, tform, NULL, "things", &st);
  long tnull_b = 255, tnull_i = -1;
  double tscal = 0.5, tzero = 10;
  fits_write_key(ff, TLONG, "TNULL3", &tnull_b, NULL, &st);
  fits_write_key(ff, TLONG, "TNULL4", &tnull_i, NULL, &st);
  fits_write_key(ff, TDOUBLE, "TSCAL16", &tscal, NULL, &st);
  fits_write_key(ff, TDOUBLE, "TZERO16", &tzero, NULL, &st);
  fits_write_key_str(ff, "TDIM10", "(3,2)", NULL, &st);
  fits_write_key_str(ff, "TUNIT8", "deg", NULL, &st);
  fits_write_key_str(ff, "TUCD8", "pos.eq.ra", NULL, &st);
  fits_write_key_longstr(ff, "TCOMM8", "right ascension, described at length", NULL, &st);
  fits_set_hdustruc(ff, &st);
  /* row 1: values; row 2: NULLs; row 3: other values */
  char l[] = {1, 0}, xb[] = {1, 0, 1, 0, 0, 0, 0, 0};
  unsigned char b[] = {7, 0};
  short i[] = {-5, 32767};
  int j[] = {100000, -2147483647};
  LONGLONG k[] = {(LONGLONG)1 << 40, -3};
  float e[] = {1.5f, -0.25f};
  double d[] = {0.1, -1e300}, arr[6] = {1, 2, 3, 4, 5, 6};
  int vj[] = {1, 2, 3};
  double vd[] = {0.5};
  unsigned short u16[] = {65535, 0};
  unsigned int u32[] = {4000000000u, 1};
  signed char s8[] = {-100, 127};
  double sc[] = {1.5, -2};
  ULONGLONG u64[] = {123, 9223372036854775807ULL};
  char *a[] = {"hello", "x y "}, *va[] = {"var text", "v"};
  for (int r = 0; r < 3 && !st; r++) {
    long row = r + 1;
    if (r == 1) {
      fits_write_col_null(ff, 1, row, 1, 1, &st);
      fits_write_col_null(ff, 3, row, 1, 1, &st);
      fits_write_col_null(ff, 4, row, 1, 1, &st);
      float fn = NAN;
      double dn = NAN;
      fits_write_col(ff, TFLOAT, 7, row, 1, 1, &fn, &st);
      fits_write_col(ff, TDOUBLE, 8, row, 1, 1, &dn, &st);
      char *empty = "";
      fits_write_col(ff, TSTRING, 9, row, 1, 1, &empty, &st);
      ULONGLONG zero = 0;
      fits_write_col(ff, TULONGLONG, 17, row, 1, 1, &zero, &st);
      continue;
    }
    int x = r / 2;
    fits_write_col(ff, TLOGICAL, 1, row, 1, 1, &l[x], &st);
    fits_write_col_bit(ff, 2, row, 1, 8, xb, &st);
    fits_write_col(ff, TBYTE, 3, row, 1, 1, &b[x], &st);
    fits_write_col(ff, TSHORT, 4, row, 1, 1, &i[x], &st);
    fits_write_col(ff, TINT, 5, row, 1, 1, &j[x], &st);
    fits_write_col(ff, TLONGLONG, 6, row, 1, 1, &k[x], &st);
    fits_write_col(ff, TFLOAT, 7, row, 1, 1, &e[x], &st);
    fits_write_col(ff, TDOUBLE, 8, row, 1, 1, &d[x], &st);
    fits_write_col(ff, TSTRING, 9, row, 1, 1, &a[x], &st);
    fits_write_col(ff, TDOUBLE, 10, row, 1, 6, arr, &st);
    fits_write_col(ff, TINT, 11, row, 1, x ? 1 : 3, vj, &st);
    fits_write_col(ff, TDOUBLE, 12, row, 1, 1, vd, &st);
    fits_write_col(ff, TUSHORT, 13, row, 1, 1, &u16[x], &st);
    fits_write_col(ff, TUINT, 14, row, 1, 1, &u32[x], &st);
    fits_write_col(ff, TSBYTE, 15, row, 1, 1, &s8[x], &st);
    fits_write_col(ff, TDOUBLE, 16, row, 1, 1, &sc[x], &st);
    fits_write_col(ff, TULONGLONG, 17, row, 1, 1, &u64[x], &st);
    fits_write_col(ff, TSTRING, 18, row, 1, 1, &va[x], &st);
  }
  fits_close_file(ff, &st);
  if (st) {
    char msg[FLEN_STATUS];
    fits_get_errstatus(st, msg);
    fprintf(stderr, "# cfitsio: %s\n", msg);
  }
  return st ? -1 : 0;
}

static int is_null(const up_result *r, size_t row, int col)
{
  return col >= 0 && up_val(r, row, (size_t)col)->len == -1;
}

/* The file of make_tforms, read into r. */
static void read_tforms(up_result *r)
{
  char path[] = "/tmp/ts-fits-tforms-XXXXXX";
  if (make_tforms(path) != 0) {
    memset(r, 0, sizeof *r);
    r->rc = TS_EIO;
    return;
  }
  up_run_file(FMT_UPLOAD_FITS, path, NULL, r);
  unlink(path);
}

int test_upload_fits_tforms(void)
{
  up_result r;
  read_tforms(&r);
  if (r.rc)
    fprintf(stderr, "# %s\n", r.err.msg);
  TS_CHECK_EQ_INT(r.rc, TS_OK);
  TS_CHECK_EQ_INT(r.tables, 1);
  TS_CHECK_EQ_INT(r.rows, 3);
  TS_CHECK_STREQ(r.t.name, "things");
  TS_CHECK_EQ_INT(r.t.ncols, 18);
  static const char *const types[] = {"boolean",   "boolean[]",
                                      "smallint",  "smallint",
                                      "integer",   "bigint",
                                      "real",      "double precision",
                                      "text",      "double precision[]",
                                      "integer[]", "double precision[]",
                                      "integer",   "bigint",
                                      "smallint",  "double precision",
                                      "bigint",    "text"};
  for (int c = 0; c < 18; c++)
    TS_CHECK_STREQ(r.t.cols[c].copy_type, types[c]);
  TS_CHECK_STREQ(r.t.cols[9].c.arraysize, "3x2");
  TS_CHECK_STREQ(r.t.cols[7].c.unit, "deg");
  TS_CHECK_STREQ(r.t.cols[7].c.ucd, "pos.eq.ra");
  TS_CHECK_STREQ(r.t.cols[7].c.description, "right ascension, described at length");
  /* row 1 */
  TS_CHECK(stream_get_bool(up_val(&r, 0, 0)));
  stream_value el;
  int64_t n;
  TS_CHECK(up_elem(up_val(&r, 0, 1), 2, &el, &n) && n == 8 && stream_get_bool(&el));
  TS_CHECK(up_elem(up_val(&r, 0, 1), 1, &el, &n) && !stream_get_bool(&el));
  TS_CHECK_EQ_INT(stream_get_int2(up_val(&r, 0, 2)), 7);
  TS_CHECK_EQ_INT(stream_get_int2(up_val(&r, 0, 3)), -5);
  TS_CHECK_EQ_INT(stream_get_int4(up_val(&r, 0, 4)), 100000);
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 0, 5)), (int64_t)1 << 40);
  TS_CHECK(stream_get_float4(up_val(&r, 0, 6)) == 1.5f);
  TS_CHECK(stream_get_float8(up_val(&r, 0, 7)) == 0.1);
  TS_CHECK_EQ_INT(up_val(&r, 0, 8)->len, 5);
  TS_CHECK(memcmp(up_val(&r, 0, 8)->p, "hello", 5) == 0);
  TS_CHECK(up_elem(up_val(&r, 0, 9), 5, &el, &n) && n == 6 && stream_get_float8(&el) == 6);
  TS_CHECK(up_elem(up_val(&r, 0, 10), 2, &el, &n) && n == 3 && stream_get_int4(&el) == 3);
  TS_CHECK(up_elem(up_val(&r, 0, 11), 0, &el, &n) && n == 1 && stream_get_float8(&el) == 0.5);
  TS_CHECK_EQ_INT(stream_get_int4(up_val(&r, 0, 12)), 65535);
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 0, 13)), 4000000000LL);
  TS_CHECK_EQ_INT(stream_get_int2(up_val(&r, 0, 14)), -100);
  TS_CHECK(stream_get_float8(up_val(&r, 0, 15)) == 1.5);
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 0, 16)), 123);
  TS_CHECK_EQ_INT(up_val(&r, 0, 17)->len, 8);
  /* row 2: NULLs as FITS says them */
  for (int c = 0; c < 9; c++)
    TS_CHECK(c == 1 || c == 4 || c == 5 || is_null(&r, 1, c));
  TS_CHECK(up_elem(up_val(&r, 1, 10), 0, &el, &n) == 0 && n == 0); /* empty array */
  TS_CHECK(is_null(&r, 1, 17));
  /* row 3 */
  TS_CHECK(!stream_get_bool(up_val(&r, 2, 0)));
  TS_CHECK_EQ_INT(stream_get_int2(up_val(&r, 2, 3)), 32767);
  TS_CHECK_EQ_INT(stream_get_int4(up_val(&r, 2, 4)), -2147483647);
  TS_CHECK_EQ_INT(up_val(&r, 2, 8)->len, 3); /* "x y": trailing blank dropped */
  TS_CHECK_EQ_INT(stream_get_int4(up_val(&r, 2, 12)), 0);
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 2, 13)), 1);
  TS_CHECK_EQ_INT(stream_get_int2(up_val(&r, 2, 14)), 127);
  TS_CHECK(stream_get_float8(up_val(&r, 2, 15)) == -2);
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 2, 16)), INT64_MAX);
  up_free(&r);
  return 0;
}

/* tapserve's FITS output read back gives the COPY bytes it was made from. */
int test_upload_fits_roundtrip(void)
{
  return up_sample_roundtrip("fits", FMT_UPLOAD_FITS, 2000, 0);
}

/* Files written by astropy: masked integers (TNULL), unsigned types
 * (TZERO), NaN, strings, a 2-D column (TDIM) and variable-length arrays. */
int test_upload_fits_astropy(void)
{
  up_result r;
  up_astropy("import numpy as np\n"
             "from astropy.table import Table, MaskedColumn\n"
             "t = Table()\n"
             "t['id'] = MaskedColumn([1, 2, 3], mask=[0, 1, 0], dtype='int64')\n"
             "t['ra'] = np.array([10.5, np.nan, -1.25])\n"
             "t['ra'].unit = 'deg'\n"
             "t['u16'] = np.array([1, 2, 65535], dtype='uint16')\n"
             "t['u64'] = np.array([0, 5, 2**63 - 1], dtype='uint64')\n"
             "t['name'] = ['alpha', 'b', '']\n"
             "t['m'] = np.arange(18, dtype='int32').reshape(3, 2, 3)\n"
             "t['flag'] = [True, False, True]\n"
             "from astropy.io import fits\n"
             "h = fits.table_to_hdu(t)\n"
             "v = fits.Column(name='v', format='PD()', array=np.array([np.array([1.0, 2.0]), "
             "np.array([3.0]), np.array([])], dtype=object))\n"
             "fits.BinTableHDU.from_columns(h.columns + fits.ColDefs([v]), "
             "header=h.header).writeto(path, overwrite=True)\n",
             "fits", FMT_UPLOAD_FITS, &r);
  TS_CHECK_EQ_INT(r.rc, TS_OK);
  TS_CHECK_EQ_INT(r.rows, 3);
  int id = up_col_index(&r, "id"), ra = up_col_index(&r, "ra"), u16 = up_col_index(&r, "u16"),
      u64 = up_col_index(&r, "u64"), name = up_col_index(&r, "name"), m = up_col_index(&r, "m"),
      v = up_col_index(&r, "v"), flag = up_col_index(&r, "flag");
  TS_CHECK(id >= 0 && ra >= 0 && u16 >= 0 && u64 >= 0 && name >= 0 && m >= 0 && v >= 0 &&
           flag >= 0);
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 0, (size_t)id)), 1);
  TS_CHECK(is_null(&r, 1, id));
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 2, (size_t)id)), 3);
  TS_CHECK_STREQ(r.t.cols[ra].c.unit, "deg");
  TS_CHECK(stream_get_float8(up_val(&r, 0, (size_t)ra)) == 10.5);
  TS_CHECK(is_null(&r, 1, ra));
  TS_CHECK_STREQ(r.t.cols[u16].copy_type, "integer");
  TS_CHECK_EQ_INT(stream_get_int4(up_val(&r, 2, (size_t)u16)), 65535);
  TS_CHECK_STREQ(r.t.cols[u64].copy_type, "bigint");
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 2, (size_t)u64)), INT64_MAX);
  TS_CHECK_EQ_INT(up_val(&r, 0, (size_t)name)->len, 5);
  TS_CHECK(is_null(&r, 2, name));
  TS_CHECK_STREQ(r.t.cols[m].copy_type, "integer[]");
  TS_CHECK_STREQ(r.t.cols[m].c.arraysize, "3x2");
  stream_value el;
  int64_t n;
  TS_CHECK(up_elem(up_val(&r, 1, (size_t)m), 5, &el, &n) && n == 6 && stream_get_int4(&el) == 11);
  TS_CHECK_STREQ(r.t.cols[v].copy_type, "double precision[]");
  TS_CHECK(up_elem(up_val(&r, 0, (size_t)v), 1, &el, &n) && n == 2 && stream_get_float8(&el) == 2);
  TS_CHECK(up_elem(up_val(&r, 1, (size_t)v), 0, &el, &n) && n == 1 && stream_get_float8(&el) == 3);
  TS_CHECK(!up_elem(up_val(&r, 2, (size_t)v), 0, &el, &n) && n == 0);
  TS_CHECK(stream_get_bool(up_val(&r, 0, (size_t)flag)));
  up_free(&r);
  return 0;
}

/* ---- hostile files ------------------------------------------------------ */

static int file_bytes(const char *path, ts_buf *b)
{
  FILE *f = fopen(path, "rb");
  char tmp[4096];
  size_t n;
  if (!f)
    return -1;
  while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
    if (ts_buf_append(b, tmp, n))
      break;
  fclose(f);
  return 0;
}

/* Replaces the value of header card `key` (the first after `from`). */
static int set_card(ts_buf *b, size_t from, const char *key, const char *value)
{
  for (size_t p = from; p + 80 <= b->len; p += 80) {
    if (strncmp(b->data + p, key, strlen(key)) == 0 && b->data[p + strlen(key)] == ' ') {
      char card[81];
      snprintf(card, sizeof card, "%-8s= %-70s", key, value);
      memcpy(b->data + p, card, 80);
      return 0;
    }
  }
  return -1;
}

/* Where the BINTABLE's data start in the file held by b (-1: unknown). */
static int64_t data_start(const ts_buf *b)
{
  int st = 0, hdutype;
  fitsfile *ff;
  void *mem = b->data;
  size_t memsize = b->len;
  LONGLONG head, data = -1, end;
  fits_open_memfile(&ff, "x", READONLY, &mem, &memsize, 0, NULL, &st);
  fits_movabs_hdu(ff, 2, &hdutype, &st);
  fits_get_hduaddrll(ff, &head, &data, &end, &st);
  fits_close_file(ff, &st);
  return st ? -1 : data;
}

/* b = a copy of good; the byte `off` bytes into its data, NULL when the
 * data cannot be found. */
static uint8_t *data_at(ts_buf *b, const ts_buf *good, int64_t off)
{
  ts_buf_reset(b);
  ts_buf_append(b, good->data, good->len);
  int64_t data = data_start(b);
  return data > 0 ? (uint8_t *)b->data + data + off : NULL;
}

static ts_err read_bytes(const ts_buf *b, const fmt_upload_limits *lim, up_result *r)
{
  up_run(FMT_UPLOAD_FITS, up_tmpfd(b->data, b->len), lim, r);
  if (r->rc)
    fprintf(stderr, "# (expected) %s: %s\n", ts_err_name(r->rc), r->err.msg);
  return r->rc;
}

int test_upload_fits_hostile(void)
{
  char path[] = "/tmp/ts-fits-hostile-XXXXXX";
  ts_buf good, b;
  up_result r;
  ts_buf_init(&good, TS_TEST_BUF_MAX);
  ts_buf_init(&b, TS_TEST_BUF_MAX);
  TS_CHECK(make_tforms(path) == 0);
  TS_CHECK(file_bytes(path, &good) == 0);
  unlink(path);
  TS_CHECK_EQ_INT(read_bytes(&good, NULL, &r), TS_OK);
  up_free(&r);
  /* wrong NAXIS2: more rows than the file holds */
  ts_buf_reset(&b);
  ts_buf_append(&b, good.data, good.len);
  TS_CHECK(set_card(&b, 2880, "NAXIS2", "100000") == 0);
  TS_CHECK_EQ_INT(read_bytes(&b, NULL, &r), TS_EINVAL);
  TS_CHECK(strstr(r.err.msg, "NAXIS2"));
  TS_CHECK_EQ_INT(r.tables, 0);
  up_free(&r);
  /* and a negative one */
  ts_buf_reset(&b);
  ts_buf_append(&b, good.data, good.len);
  TS_CHECK(set_card(&b, 2880, "NAXIS2", "-1") == 0);
  TS_CHECK_EQ_INT(read_bytes(&b, NULL, &r), TS_EINVAL);
  up_free(&r);
  /* rows of no bytes: NAXIS2 could be anything */
  ts_buf_reset(&b);
  ts_buf_append(&b, good.data, good.len);
  TS_CHECK(set_card(&b, 2880, "NAXIS1", "0") == 0);
  TS_CHECK(set_card(&b, 2880, "NAXIS2", "999999999999") == 0);
  TS_CHECK(set_card(&b, 2880, "TFIELDS", "1") == 0);
  TS_CHECK(set_card(&b, 2880, "TFORM1", "'0L'") == 0);
  TS_CHECK_EQ_INT(read_bytes(&b, NULL, &r), TS_EINVAL);
  TS_CHECK(strstr(r.err.msg, "NAXIS1 = 0"));
  up_free(&r);
  /* truncated in the data */
  ts_buf_reset(&b);
  ts_buf_append(&b, good.data, 2 * 2880 + 40);
  TS_CHECK_EQ_INT(read_bytes(&b, NULL, &r), TS_EINVAL);
  TS_CHECK(strstr(r.err.msg, "truncated"));
  up_free(&r);
  /* truncated in the header, and not FITS at all */
  ts_buf_reset(&b);
  ts_buf_append(&b, good.data, 2880 + 1000);
  TS_CHECK_EQ_INT(read_bytes(&b, NULL, &r), TS_EINVAL);
  up_free(&r);
  ts_buf_reset(&b);
  ts_buf_append(&b, "a,b\n1,2\n", 8);
  TS_CHECK_EQ_INT(read_bytes(&b, NULL, &r), TS_EINVAL);
  up_free(&r);
  /* no extension: the primary header alone */
  ts_buf_reset(&b);
  ts_buf_append(&b, good.data, 2880);
  TS_CHECK_EQ_INT(read_bytes(&b, NULL, &r), TS_EINVAL);
  TS_CHECK(strstr(r.err.msg, "BINTABLE"));
  up_free(&r);
  /* bad TFORMs */
  static const char *const bad_forms[] = {"'Z'", "'2PJ'", "'J3'", "'C'", "'-1J'"};
  for (size_t i = 0; i < TS_ARRAY_LEN(bad_forms); i++) {
    ts_buf_reset(&b);
    ts_buf_append(&b, good.data, good.len);
    TS_CHECK(set_card(&b, 2880, "TFORM5", bad_forms[i]) == 0);
    TS_CHECK(read_bytes(&b, NULL, &r) != TS_OK);
    up_free(&r);
  }
  /* a variable-length descriptor pointing past the heap (column 11, 1PJ,
   * row 1: its offset word) */
  /* offsets: L1 X1 B1 I2 J4 K8 E4 D8 10A 6D=48 -> 1PJ at 87 */
  uint8_t *p = data_at(&b, &good, 87);
  TS_CHECK(p);
  p[4] = 0x7f;
  TS_CHECK_EQ_INT(read_bytes(&b, NULL, &r), TS_EINVAL);
  TS_CHECK(strstr(r.err.msg, "heap"));
  up_free(&r);
  /* character data that is not UTF-8 (column 9, 10A, row 1, at 29) */
  p = data_at(&b, &good, 29);
  TS_CHECK(p && memcmp(p, "hello", 5) == 0);
  p[1] = 0xff;
  TS_CHECK_EQ_INT(read_bytes(&b, NULL, &r), TS_EINVAL);
  TS_CHECK(strstr(r.err.msg, "column 9 (a), row 1: character data is neither ASCII nor UTF-8"));
  up_free(&r);
  /* an unsigned 64-bit value above 2^63-1 (column 17, 1W, row 1) */
  /* ... 1PJ 8, 1QD 16, U 2, V 4, S 1, I 2 -> 1W at 120 */
  p = data_at(&b, &good, 120);
  TS_CHECK(p);
  memset(p, 0x7f, 8); /* stored 2^63-1-ish + 2^63 */
  TS_CHECK_EQ_INT(read_bytes(&b, NULL, &r), TS_EINVAL);
  TS_CHECK(strstr(r.err.msg, "u64"));
  up_free(&r);
  /* limits */
  fmt_upload_limits lim = {.max_rows = 2};
  TS_CHECK_EQ_INT(read_bytes(&good, &lim, &r), TS_ELIMIT);
  TS_CHECK(strstr(r.err.msg, "limit"));
  up_free(&r);
  fmt_upload_limits lim2 = {.max_columns = 10};
  TS_CHECK_EQ_INT(read_bytes(&good, &lim2, &r), TS_ELIMIT);
  up_free(&r);
  fmt_upload_limits lim3 = {.max_value_bytes = 8};
  TS_CHECK_EQ_INT(read_bytes(&good, &lim3, &r), TS_ELIMIT);
  up_free(&r);
  ts_buf_free(&good);
  ts_buf_free(&b);
  return 0;
}

/* 10,000 columns: refused with a message, whatever TFIELDS says. */
int test_upload_fits_wide(void)
{
  ts_buf b;
  up_result r;
  char card[81];
  ts_buf_init(&b, TS_TEST_BUF_MAX);
  static const char *const primary[] = {
      "SIMPLE  =                    T", "BITPIX  =                    8",
      "NAXIS   =                    0", "EXTEND  =                    T"};
  for (size_t i = 0; i < TS_ARRAY_LEN(primary); i++) {
    snprintf(card, sizeof card, "%-80s", primary[i]);
    ts_buf_append(&b, card, 80);
  }
  snprintf(card, sizeof card, "%-80s", "END");
  ts_buf_append(&b, card, 80);
  while (b.len % 2880)
    ts_buf_append(&b, " ", 1);
  static const char *const ext[] = {
      "XTENSION= 'BINTABLE'",           "BITPIX  =                    8",
      "NAXIS   =                    2", "NAXIS1  =                10000",
      "NAXIS2  =                    1", "PCOUNT  =                    0",
      "GCOUNT  =                    1", "TFIELDS =                10000"};
  for (size_t i = 0; i < TS_ARRAY_LEN(ext); i++) {
    snprintf(card, sizeof card, "%-80s", ext[i]);
    ts_buf_append(&b, card, 80);
  }
  /* keywords have 8 characters: TFORM999 is the last one there can be */
  for (int c = 1; c <= 999; c++) {
    char kw[16];
    snprintf(kw, sizeof kw, "TFORM%d", c);
    snprintf(card, sizeof card, "%-8s= 'L'", kw);
    snprintf(card + strlen(card), sizeof card - strlen(card), "%*s", (int)(80 - strlen(card)), "");
    ts_buf_append(&b, card, 80);
  }
  snprintf(card, sizeof card, "%-80s", "END");
  ts_buf_append(&b, card, 80);
  while (b.len % 2880)
    ts_buf_append(&b, " ", 1);
  for (int i = 0; i < 10000; i++)
    ts_buf_append(&b, "T", 1);
  while (b.len % 2880)
    ts_buf_append(&b, "\0", 1);
  TS_CHECK(read_bytes(&b, NULL, &r) != TS_OK);
  TS_CHECK(r.err.msg[0]);
  TS_CHECK_EQ_INT(r.tables, 0);
  up_free(&r);
  ts_buf_free(&b);
  return 0;
}

/* The reader's output COPYed into PostgreSQL, the table made from the
 * column types it chose. */
int test_pg_upload_fits(void)
{
  up_result r;
  read_tforms(&r);
  TS_CHECK_EQ_INT(r.rc, TS_OK);
  PGconn *c = ts_test_pg();
  TS_CHECK(c);
  TS_CHECK(up_pg_load(c, "up_fits", &r));
  PGresult *res =
      PQexec(c, "SELECT count(*), count(b), sum(u32), max(a), min(sc)::text, "
                "(SELECT arr::text || vj::text || x::text FROM up_fits WHERE l) FROM up_fits");
  TS_CHECK_EQ_INT(PQresultStatus(res), PGRES_TUPLES_OK);
  TS_CHECK_STREQ(PQgetvalue(res, 0, 0), "3");
  TS_CHECK_STREQ(PQgetvalue(res, 0, 1), "2");
  /* row 2 holds a stored 0, which TZERO makes 2^31 */
  TS_CHECK_STREQ(PQgetvalue(res, 0, 2), "6147483649");
  TS_CHECK_STREQ(PQgetvalue(res, 0, 3), "x y");
  TS_CHECK_STREQ(PQgetvalue(res, 0, 4), "-2");
  TS_CHECK_STREQ(PQgetvalue(res, 0, 5), "{1,2,3,4,5,6}{1,2,3}{t,f,t,f,f,f,f,f}");
  PQclear(res);
  PQfinish(c);
  up_free(&r);
  return 0;
}
