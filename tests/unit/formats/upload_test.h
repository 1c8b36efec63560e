/* Helpers of the upload reader tests: a file from bytes, a read into
 * memory, and the COPY BINARY it wrote decoded back into one text line per
 * row ("1|2.5|NULL|{1,2}|abc"), so tests compare strings. */
#ifndef TS_UPLOAD_TEST_H
#define TS_UPLOAD_TEST_H

#include "formats/upload.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

typedef struct up_result {
  ts_err rc;
  ts_error err;
  uint64_t rows;
  ts_arena *a;
  fmt_upload_table t; /* copied in on_table (strings in a) */
  int tables;         /* on_table calls */
  ts_buf copy;        /* the COPY BINARY bytes */
  ts_buf text;        /* decoded: one line per row */
} up_result;

static inline int up_memfd(const void *p, size_t n)
{
  char path[] = "/tmp/ts_upload_XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0)
    unlink(path);
  const char *s = p;
  while (fd >= 0 && n) {
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

static inline ts_err up_on_table(void *ud, const fmt_upload_table *t, ts_error *err)
{
  up_result *r = ud;
  (void)err;
  r->tables++;
  r->t = *t;
  return TS_OK;
}

static inline ts_err up_flush(void *ud, const char *buf, size_t len)
{
  return ts_buf_append(ud, buf, len);
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

/* Reads [doc, doc+n) as format f; on success decodes the COPY bytes into
 * r->text. Free with up_free. */
static inline ts_err up_read(up_result *r, fmt_upload_format f, const void *doc, size_t n,
                             const fmt_upload_limits *lim)
{
  stream_out o;
  memset(r, 0, sizeof *r);
  r->a = ts_arena_new(0, 0);
  ts_buf_init(&r->copy, 256 << 20);
  ts_buf_init(&r->text, 256 << 20);
  ts_buf_append(&r->text, "", 0);
  int fd = up_memfd(doc, n);
  if (fd < 0 || stream_out_init(&o, 1000, up_flush, &r->copy))
    return r->rc = TS_EIO;
  r->rc = fmt_upload_read(fd, f, lim, r->a, up_on_table, r, &o, &r->rows, &r->err);
  stream_out_free(&o);
  close(fd);
  if (r->rc) {
    fprintf(stderr, "# upload error %s: %s\n", ts_err_name(r->rc), r->err.msg);
    return r->rc;
  }
  stream_copydec *d = stream_copydec_new(r->t.ncols, 1000);
  const uint8_t *p = (const uint8_t *)r->copy.data;
  size_t left = r->copy.len;
  stream_column *cols = calloc(r->t.ncols, sizeof *cols);
  for (size_t i = 0; i < r->t.ncols; i++)
    cols[i] = r->t.cols[i].c;
  while (left) {
    size_t used;
    stream_batch b;
    ts_error e;
    if (stream_copydec_feed(d, p, left, &used, &b, &e)) {
      fprintf(stderr, "# COPY decode: %s\n", e.msg);
      r->rc = TS_EINTERNAL;
      break;
    }
    up_batch_text(&r->text, cols, &b);
    p += used;
    left -= used;
    if (!used && !b.nrows)
      break;
  }
  if (!r->rc && !stream_copydec_done(d))
    r->rc = TS_EINTERNAL;
  free(cols);
  stream_copydec_free(d);
  return r->rc;
}

static inline void up_free(up_result *r)
{
  ts_arena_free(r->a);
  ts_buf_free(&r->copy);
  ts_buf_free(&r->text);
}

/* The column named `name` of the last read, or NULL. */
static inline const fmt_upload_column *up_col(const up_result *r, const char *name)
{
  for (size_t i = 0; i < r->t.ncols; i++)
    if (strcmp(r->t.cols[i].c.name, name) == 0)
      return &r->t.cols[i];
  return NULL;
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

#endif
