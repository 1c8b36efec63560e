/* tests/unit/formats/upload_test.h: helpers of the upload reader tests:
 * a file from bytes, a reader run through fmt_upload_read, the COPY BINARY
 * it wrote decoded back into a batch and into one text line per row
 * ("1|2.5|NULL|{1,2}|abc") so tests compare strings, VOTable's binary
 * form and base64, and a sample table for round trips through tapserve's
 * own encoders. */
#ifndef TS_UPLOAD_TEST_H
#define TS_UPLOAD_TEST_H

#include "formats/formats.h"
#include "formats/upload.h"
#include "ts_test.h"
#include "ts_test_pg.h"

#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* What a reader gave: the table, the rows decoded, the error. */
typedef struct up_result {
  ts_err rc;
  ts_error err;
  uint64_t rows;
  ts_arena *a;
  fmt_upload_table t; /* copied in on_table (strings in a) */
  int tables;         /* on_table calls */
  ts_buf bytes;       /* the COPY BINARY bytes */
  stream_copydec *dec;
  stream_batch b; /* the rows decoded */
  ts_buf text;    /* the rows as text: one line per row */
} up_result;

static inline ts_err up_on_table(void *ud, const fmt_upload_table *t, ts_error *err)
{
  up_result *r = ud;
  (void)err;
  r->tables++;
  r->t = *t;
  return TS_OK;
}

static inline ts_err up_to_buf(void *ud, const char *p, size_t n)
{
  return ts_buf_append(ud, p, n);
}

/* A temporary file holding [p, p+n), opened for reading and unlinked. */
static inline int up_tmpfd(const void *p, size_t n)
{
  char path[] = "/tmp/ts-upload-test-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0)
    return -1;
  unlink(path);
  const char *s = p;
  while (n) {
    ssize_t w = write(fd, s, n);
    if (w <= 0) {
      close(fd);
      return -1;
    }
    s += w;
    n -= (size_t)w;
  }
  return fd;
}

static inline void up_value(ts_buf *b, const stream_column *c, const stream_value *v)
{
  char tmp[64];
  if (v->len < 0) {
    ts_buf_puts(b, "NULL");
    return;
  }
  if (c->is_array) {
    stream_format_array_literal(b, c->kind, v);
    return;
  }
  switch (c->kind) {
  case STREAM_BOOL:
    ts_buf_puts(b, stream_get_bool(v) ? "t" : "f");
    break;
  case STREAM_INT2:
    ts_buf_printf(b, "%d", stream_get_int2(v));
    break;
  case STREAM_INT4:
    ts_buf_printf(b, "%d", stream_get_int4(v));
    break;
  case STREAM_INT8:
    ts_buf_printf(b, "%lld", (long long)stream_get_int8(v));
    break;
  case STREAM_FLOAT4:
    ts_buf_printf(b, "%.9g", stream_get_float4(v));
    break;
  case STREAM_FLOAT8:
    ts_buf_printf(b, "%.17g", stream_get_float8(v));
    break;
  case STREAM_TIMESTAMP:
    stream_format_timestamp(tmp, stream_get_int8(v));
    ts_buf_puts(b, tmp);
    break;
  default:
    ts_buf_append(b, v->p, (size_t)v->len);
  }
}

/* Rows of a batch as text lines, by the kinds of `cols`. */
static inline void up_batch_text(ts_buf *b, const stream_column *cols, const stream_batch *bt)
{
  for (size_t r = 0; r < bt->nrows; r++) {
    const stream_value *row = stream_batch_row(bt, r);
    for (size_t i = 0; i < bt->ncols; i++) {
      if (i)
        ts_buf_puts(b, "|");
      up_value(b, &cols[i], &row[i]);
    }
    ts_buf_puts(b, "\n");
  }
}

/* Reads fd (closed after) as format f through fmt_upload_read and
 * decodes what it wrote into r->b and r->text. Free with up_free. */
static inline void up_run(fmt_upload_format f, int fd, const fmt_upload_limits *lim, up_result *r)
{
  stream_out out;
  memset(r, 0, sizeof *r);
  r->a = ts_arena_new(0, 64 << 20);
  ts_buf_init(&r->bytes, TS_TEST_BUF_MAX);
  ts_buf_init(&r->text, TS_TEST_BUF_MAX);
  ts_buf_append(&r->text, "", 0);
  if (fd < 0 || stream_out_init(&out, 1000, up_to_buf, &r->bytes)) { /* small: many flushes */
    r->rc = TS_EIO;
    return;
  }
  r->rc = fmt_upload_read(fd, f, lim, r->a, up_on_table, r, &out, &r->rows, &r->err);
  stream_out_free(&out);
  close(fd);
  if (r->rc || !r->tables)
    return;
  r->dec = stream_copydec_new(r->t.ncols, r->rows + 1);
  size_t used = 0;
  ts_error err;
  if (stream_copydec_feed(r->dec, (const uint8_t *)r->bytes.data, r->bytes.len, &used, &r->b,
                          &err) ||
      stream_copydec_finish(r->dec, &err)) {
    fprintf(stderr, "# COPY output does not decode: %s\n", err.msg);
    r->rc = TS_EINTERNAL;
    return;
  }
  stream_column *cols = calloc(r->t.ncols, sizeof *cols);
  for (size_t i = 0; cols && i < r->t.ncols; i++)
    cols[i] = r->t.cols[i].c;
  if (cols)
    up_batch_text(&r->text, cols, &r->b);
  free(cols);
}

static inline void up_run_file(fmt_upload_format f, const char *path, const fmt_upload_limits *lim,
                               up_result *r)
{
  up_run(f, open(path, O_RDONLY | O_CLOEXEC), lim, r);
}

/* Reads [doc, doc+n) as format f (up_run); says why it failed. */
static inline ts_err up_read(up_result *r, fmt_upload_format f, const void *doc, size_t n,
                             const fmt_upload_limits *lim)
{
  up_run(f, up_tmpfd(doc, n), lim, r);
  if (r->rc)
    fprintf(stderr, "# upload error %s: %s\n", ts_err_name(r->rc), r->err.msg);
  return r->rc;
}

static inline void up_free(up_result *r)
{
  stream_copydec_free(r->dec);
  ts_buf_free(&r->bytes);
  ts_buf_free(&r->text);
  ts_arena_free(r->a);
  memset(r, 0, sizeof *r);
}

static inline const stream_value *up_val(const up_result *r, size_t row, size_t col)
{
  return &stream_batch_row(&r->b, row)[col];
}

/* [doc, doc+len) read as f must fail with `code` and a message holding
 * `words` (any message when NULL); with `no_table`, before on_table. 1
 * when it does, else says what came instead. */
static inline int up_refused(fmt_upload_format f, const char *doc, size_t len,
                             const fmt_upload_limits *lim, ts_err code, const char *words,
                             int no_table)
{
  up_result r;
  up_run(f, up_tmpfd(doc, len), lim, &r);
  int ok = r.rc == code && (!words || strstr(r.err.msg, words)) && (!no_table || !r.tables);
  if (!ok)
    fprintf(stderr, "# got %s \"%s\" (%d tables), expected %s with \"%s\"\n", ts_err_name(r.rc),
            r.err.msg, r.tables, ts_err_name(code), words ? words : "");
  up_free(&r);
  return ok;
}

/* The index of the column named `name`, or -1. */
static inline int up_col_index(const up_result *r, const char *name)
{
  for (size_t i = 0; i < r->t.ncols; i++)
    if (r->t.cols[i].c.name && strcmp(r->t.cols[i].c.name, name) == 0)
      return (int)i;
  return -1;
}

/* The column named `name`, or NULL. */
static inline const fmt_upload_column *up_col(const up_result *r, const char *name)
{
  int i = up_col_index(r, name);
  return i < 0 ? NULL : &r->t.cols[i];
}

/* Element i of an array value: 0 when absent. */
static inline int up_elem(const stream_value *v, int64_t i, stream_value *el, int64_t *count)
{
  stream_array_iter it;
  if (stream_array_begin(&it, v))
    return 0;
  *count = it.count;
  for (int64_t k = 0; k <= i; k++)
    if (!stream_array_next(&it, el))
      return 0;
  return 1;
}

/* "CREATE TEMP TABLE name (...)" of t's columns and COPY types on c: 1
 * when it succeeded. */
static inline int up_pg_create(PGconn *c, const char *name, const fmt_upload_table *t)
{
  ts_buf sql;
  ts_buf_init(&sql, 1 << 16);
  ts_buf_printf(&sql, "CREATE TEMP TABLE %s (", name);
  for (size_t i = 0; i < t->ncols; i++)
    ts_buf_printf(&sql, "%s\"%s\" %s", i ? ", " : "", t->cols[i].c.name, t->cols[i].copy_type);
  ts_buf_puts(&sql, ")");
  int ok = ts_test_exec_ok(c, sql.data);
  ts_buf_free(&sql);
  return ok;
}

/* r's table made on c as `name` and its COPY bytes loaded: 1 when
 * PostgreSQL took them. */
static inline int up_pg_load(PGconn *c, const char *name, const up_result *r)
{
  char copy[128];
  snprintf(copy, sizeof copy, "COPY %s FROM STDIN (FORMAT binary)", name);
  if (!up_pg_create(c, name, &r->t))
    return 0;
  PGresult *res = PQexec(c, copy);
  int ok = PQresultStatus(res) == PGRES_COPY_IN;
  PQclear(res);
  ok = ok && PQputCopyData(c, r->bytes.data, (int)r->bytes.len) == 1 && PQputCopyEnd(c, NULL) == 1;
  res = PQgetResult(c);
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    fprintf(stderr, "# COPY: %s", PQerrorMessage(c));
  ok = ok && PQresultStatus(res) == PGRES_COMMAND_OK;
  PQclear(res);
  return ok;
}

/* Runs python code with Debian's python3 (astropy); 0 when it succeeded. */
static inline int up_python(const char *code)
{
  char path[] = "/tmp/ts-upload-py-XXXXXX";
  int fd = mkstemp(path);
  if (fd < 0)
    return -1;
  size_t n = strlen(code);
  int ok = write(fd, code, n) == (ssize_t)n;
  close(fd);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s", path);
  int rc = ok ? system(cmd) : -1;
  unlink(path);
  return rc;
}

/* Writes a table with astropy (`script`: python that writes the file
 * named by its variable `path`, ending in .suffix) and reads it as f into
 * r; r->rc is TS_EIO when python failed. */
static inline void up_astropy(const char *script, const char *suffix, fmt_upload_format f,
                              up_result *r)
{
  char dir[] = "/tmp/ts-astropy-XXXXXX", path[64];
  ts_buf code;
  memset(r, 0, sizeof *r);
  r->rc = TS_EIO;
  if (!mkdtemp(dir))
    return;
  snprintf(path, sizeof path, "%s/t.%s", dir, suffix);
  ts_buf_init(&code, 1 << 16);
  ts_buf_printf(&code, "path = '%s'\n%s", path, script);
  if (up_python(code.data) == 0)
    up_run_file(f, path, NULL, r);
  ts_buf_free(&code);
  unlink(path);
  rmdir(dir);
  if (r->rc)
    fprintf(stderr, "# %s\n", r->rc == TS_EIO && !r->err.msg[0] ? "python failed" : r->err.msg);
}

/* Bytes in VOTable's binary form, and their base64 (76-column lines). */
typedef struct up_bin {
  uint8_t b[1 << 16];
  size_t n;
} up_bin;

static inline void up_be(up_bin *o, uint64_t x, int n)
{
  for (int i = n - 1; i >= 0; i--)
    o->b[o->n + (size_t)i] = (uint8_t)x, x >>= 8;
  o->n += (size_t)n;
}
static inline void up_f4(up_bin *o, float f)
{
  uint32_t u;
  memcpy(&u, &f, 4);
  up_be(o, u, 4);
}
static inline void up_f8(up_bin *o, double d)
{
  uint64_t u;
  memcpy(&u, &d, 8);
  up_be(o, u, 8);
}
static inline void up_raw(up_bin *o, const void *p, size_t n)
{
  memcpy(o->b + o->n, p, n);
  o->n += n;
}
static inline void up_b64(ts_buf *out, const uint8_t *p, size_t n)
{
  static const char t[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  for (size_t i = 0; i < n; i += 3) {
    uint32_t x = (uint32_t)p[i] << 16 | (i + 1 < n ? (uint32_t)p[i + 1] << 8 : 0) |
                 (i + 2 < n ? p[i + 2] : 0);
    char q[4] = {t[x >> 18], t[(x >> 12) & 63], i + 1 < n ? t[(x >> 6) & 63] : '=',
                 i + 2 < n ? t[x & 63] : '='};
    ts_buf_append(out, q, 4);
    if (i % 57 == 54)
      ts_buf_append(out, "\n", 1);
  }
}

/* ---- a sample table for round trips through tapserve's encoders --------- */
/* Column types of the sample (PostgreSQL OIDs). */
static const uint32_t up_sample_oids[] = {16, 21, 23, 20, 700, 701, 25, 1114, 1022, 1007};
enum { UP_SAMPLE_COLS = 10 };

/* COPY BINARY of the sample's rows into bytes. Row 1 is NULL wherever the
 * format can say so: with `null_arrays` also its arrays and a NaN (FITS
 * writes a NULL array as elements and reads NaN as NULL, ECSV does not). */
static inline ts_err up_sample(ts_buf *bytes, int rows, int null_arrays)
{
  stream_out out;
  stream_copyenc e;
  ts_err rc = stream_out_init(&out, 4096, up_to_buf, bytes);
  if (!rc)
    rc = stream_copyenc_init(&e, &out, UP_SAMPLE_COLS);
  for (int r = 0; r < rows && !rc; r++) {
    rc = stream_copyenc_row(&e);
    int nul = r % 3 == 1;
    static const char *const texts[] = {"plain", "\xc3\xa9t\xc3\xa9 \xe2\x82\xac", "a,\"b\" c"};
    if (!rc)
      rc = nul ? stream_copyenc_null(&e) : stream_copyenc_bool(&e, r % 2);
    if (!rc)
      rc = nul ? stream_copyenc_null(&e)
               : stream_copyenc_int2(&e, (int16_t)(r % 2 ? -r : INT16_MAX - r));
    if (!rc)
      rc = nul ? stream_copyenc_null(&e)
               : stream_copyenc_int4(&e, r % 2 ? INT32_MIN + 1 + r : r * 1000);
    if (!rc)
      rc = nul ? stream_copyenc_null(&e) : stream_copyenc_int8(&e, ((int64_t)r << 40) - 7);
    if (!rc)
      rc = nul ? stream_copyenc_null(&e) : stream_copyenc_float4(&e, 0.1f * (float)r - 3e-8f);
    if (!rc)
      rc = nul ? (null_arrays ? stream_copyenc_float8(&e, NAN) : stream_copyenc_null(&e))
               : stream_copyenc_float8(&e, r % 2 ? 1.0 / 3 * r : -1e300 / (r + 1));
    if (!rc)
      rc = nul ? stream_copyenc_null(&e)
               : stream_copyenc_text(&e, texts[r % 3], strlen(texts[r % 3]));
    if (!rc)
      rc = nul ? stream_copyenc_null(&e)
               : stream_copyenc_timestamp(&e, 86400000000LL * r + 3723000001LL, 0);
    if (!rc && nul && null_arrays) {
      rc = stream_copyenc_null(&e);
      if (!rc)
        rc = stream_copyenc_null(&e);
      continue;
    }
    if (!rc)
      rc = stream_copyenc_array_begin(&e, 701);
    for (int k = 0; k < 3 && !rc; k++)
      rc = stream_copyenc_float8(&e, r + k / 4.0);
    if (!rc)
      rc = stream_copyenc_array_end(&e);
    if (!rc)
      rc = stream_copyenc_array_begin(&e, 23);
    for (int k = 0; k < 1 + r % 4 && !rc; k++)
      rc = k == 1 ? stream_copyenc_null(&e) : stream_copyenc_int4(&e, k - r);
    if (!rc)
      rc = stream_copyenc_array_end(&e);
  }
  if (!rc)
    rc = stream_copyenc_finish(&e);
  stream_copyenc_free(&e);
  stream_out_free(&out);
  return rc;
}

/* The sample encoded by tapserve's encoder `fmt` ("fits", "ecsv") into doc. */
static inline int up_sample_encode(const char *fmt, const ts_buf *bytes, int rows, ts_buf *doc)
{
  static const char *const names[] = {"b", "s", "i", "l", "f", "d", "t", "ts", "arr", "vi"};
  stream_column cols[UP_SAMPLE_COLS];
  stream_schema s = {UP_SAMPLE_COLS, cols};
  memset(cols, 0, sizeof cols);
  for (int i = 0; i < UP_SAMPLE_COLS; i++) {
    if (stream_column_set_type(&cols[i], up_sample_oids[i], -1))
      return -1;
    cols[i].name = names[i];
  }
  cols[5].unit = "deg";
  cols[5].ucd = "pos.eq.ra";
  cols[5].description = "a double, described";
  stream_copydec *d = stream_copydec_new(UP_SAMPLE_COLS, (size_t)rows + 1);
  stream_batch b;
  size_t used;
  ts_error err;
  if (stream_copydec_feed(d, (const uint8_t *)bytes->data, bytes->len, &used, &b, &err))
    return -1;
  stream_out o;
  stream_out_init(&o, 4096, up_to_buf, doc);
  fmt_encoder *e = fmt_encoder_new(fmt_lookup(fmt), &o);
  fmt_info info = {0};
  fmt_trailer tr = {0};
  int done = 0, bad = !e || fmt_encoder_begin(e, &s, &info) || fmt_encoder_rows(e, &b) ||
                      fmt_encoder_end(e, &tr);
  while (!bad && !done)
    bad = fmt_encoder_drain(e, &done) != TS_OK;
  stream_out_flush(&o);
  fmt_encoder_free(e);
  stream_out_free(&o);
  stream_copydec_free(d);
  return bad ? -1 : 0;
}

/* The COPY bytes two runs wrote are the same; prints where they differ. */
static inline int up_same_bytes(const ts_buf *a, const ts_buf *b)
{
  size_t n = a->len < b->len ? a->len : b->len, i = 0;
  while (i < n && a->data[i] == b->data[i])
    i++;
  if (i == n && a->len == b->len)
    return 1;
  fprintf(stderr, "# COPY bytes differ at %zu (lengths %zu and %zu)\n", i, a->len, b->len);
  return 0;
}

/* The sample (up_sample) written by tapserve's encoder `fmt` and read
 * back as f gives the COPY bytes it was made from, its types and its
 * column metadata: 0 when it does. */
static inline int up_sample_roundtrip(const char *fmt, fmt_upload_format f, int rows,
                                      int null_arrays)
{
  ts_buf in, doc;
  up_result r;
  ts_buf_init(&in, TS_TEST_BUF_MAX);
  ts_buf_init(&doc, TS_TEST_BUF_MAX);
  TS_CHECK_EQ_INT(up_sample(&in, rows, null_arrays), TS_OK);
  TS_CHECK(up_sample_encode(fmt, &in, rows, &doc) == 0);
  up_run(f, up_tmpfd(doc.data, doc.len), NULL, &r);
  if (r.rc)
    fprintf(stderr, "# %s\n", r.err.msg);
  TS_CHECK_EQ_INT(r.rc, TS_OK);
  TS_CHECK_EQ_INT(r.rows, rows);
  TS_CHECK_STREQ(r.t.cols[7].copy_type, "timestamp");
  TS_CHECK_STREQ(r.t.cols[5].c.ucd, "pos.eq.ra");
  TS_CHECK_STREQ(r.t.cols[5].c.unit, "deg");
  TS_CHECK_STREQ(r.t.cols[5].c.description, "a double, described");
  TS_CHECK(up_same_bytes(&in, &r.bytes));
  up_free(&r);
  ts_buf_free(&in);
  ts_buf_free(&doc);
  return 0;
}

#endif
