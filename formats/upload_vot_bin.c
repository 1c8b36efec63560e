/* formats/upload_vot_bin.c: the STREAM of a VOTable upload: base64
 * decoded as the characters arrive, and the BINARY and BINARY2 rows in it
 * decoded byte by byte (a state per field: null flags, the 4-byte count of
 * a variable array, the value), whatever the pieces they come in. */
#include "formats/upload_vot_int.h"

#include <math.h>

static ts_err value_limit(fmt_uv_rd *r, uint64_t bytes)
{
  if (bytes <= r->lim->max_value_bytes)
    return TS_OK;
  ts_fail(r->err, TS_ELIMIT, 0, "a value of %llu bytes is over the limit max_value_bytes (%zu)",
          (unsigned long long)bytes, r->lim->max_value_bytes);
  fmt__uv_fail_at(r, TS_ELIMIT);
  return TS_ELIMIT;
}

/* ---- binary values ----------------------------------------------------------- */

/* unicodeChar (UCS-2, or UTF-16 as VOTable 1.5 allows) to UTF-8 in
 * r->conv, up to the first U+0000. */
static ts_err utf16(fmt_uv_rd *r, const uint8_t *p, size_t n, ts_error *err)
{
  ts_buf_reset(&r->conv);
  for (size_t i = 0; i + 1 < n; i += 2) {
    uint32_t u = stream_be16(p + i);
    if (u == 0)
      break;
    if (u >= 0xD800 && u < 0xDC00 && i + 3 < n) {
      uint32_t lo = stream_be16(p + i + 2);
      if (lo >= 0xDC00 && lo < 0xE000) {
        u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
        i += 2;
      }
    }
    if (u >= 0xD800 && u < 0xE000)
      return ts_fail(err, TS_EINVAL, 0, "unpaired UTF-16 surrogate in a unicodeChar value");
    uint8_t q[4];
    size_t k;
    if (u < 0x80)
      q[0] = (uint8_t)u, k = 1;
    else if (u < 0x800)
      q[0] = (uint8_t)(0xC0 | u >> 6), q[1] = (uint8_t)(0x80 | (u & 63)), k = 2;
    else if (u < 0x10000)
      q[0] = (uint8_t)(0xE0 | u >> 12), q[1] = (uint8_t)(0x80 | ((u >> 6) & 63)),
      q[2] = (uint8_t)(0x80 | (u & 63)), k = 3;
    else
      q[0] = (uint8_t)(0xF0 | u >> 18), q[1] = (uint8_t)(0x80 | ((u >> 12) & 63)),
      q[2] = (uint8_t)(0x80 | ((u >> 6) & 63)), q[3] = (uint8_t)(0x80 | (u & 63)), k = 4;
    ts_err rc = ts_buf_append(&r->conv, q, k);
    if (rc)
      return ts_fail(err, rc, 0, "a unicodeChar value is too long");
  }
  return TS_OK;
}

/* One text value (char, unicodeChar; text or timestamp column). Empty is
 * NULL except in BINARY2, whose null flags say which are. */
static ts_err bin_text(fmt_uv_rd *r, const fmt_upload_column *col, const fmt_uv_field *f,
                       const uint8_t *p, size_t n, ts_error *err)
{
  const char *s = (const char *)p;
  if (f->dt == UV_DT_UCHAR) {
    ts_err rc = utf16(r, p, n, err);
    if (rc)
      return rc;
    s = r->conv.data;
    n = r->conv.len;
  } else {
    const uint8_t *z = n ? memchr(p, 0, n) : NULL; /* p is NULL for no bytes */
    if (z)
      n = (size_t)(z - p);
  }
  if (n == 0 && r->ser != UV_SER_B2)
    return stream_copyenc_null(&r->enc);
  if (n == 0) /* a non-NULL empty string (or timestamp: none) */
    return col->c.kind == STREAM_TEXT ? stream_copyenc_text(&r->enc, "", 0)
                                      : stream_copyenc_null(&r->enc);
  return fmt__up_put_text(&r->enc, col, NULL, s, n, err);
}

/* Element i of a numeric, boolean or bit field. */
static ts_err bin_elem(fmt_uv_rd *r, const fmt_upload_column *col, const fmt_uv_field *f,
                       const uint8_t *p, uint64_t i, ts_error *err)
{
  stream_copyenc *e = &r->enc;
  switch (f->dt) {
  case UV_DT_BIT:
    /* A scalar bit has a byte to itself, and writers disagree on which
     * bit of it holds the value (astropy sets 0x08): any set bit is true.
     * Arrays pack bits from the most significant one down. */
    if (!col->c.is_array)
      return stream_copyenc_bool(e, p[0] != 0);
    return stream_copyenc_bool(e, p[i / 8] >> (7 - i % 8) & 1);
  case UV_DT_BOOL: {
    uint8_t c = p[i];
    if (c == 'T' || c == 't' || c == '1')
      return stream_copyenc_bool(e, 1);
    if (c == 'F' || c == 'f' || c == '0')
      return stream_copyenc_bool(e, 0);
    if (c == '?' || c == ' ' || c == 0)
      return stream_copyenc_null(e);
    return ts_fail(err, TS_EINVAL, 0, "byte 0x%02x is not a boolean", c);
  }
  case UV_DT_FLOAT:
  case UV_DT_DOUBLE: {
    int sz = fmt__uv_dts[f->dt].size;
    double d = fmt__up_be_float(p + i * (uint64_t)sz, sz);
    /* In BINARY a NaN scalar is how NULL is written. */
    if (isnan(d) && r->ser == UV_SER_B && !col->c.is_array)
      return stream_copyenc_null(e);
    return fmt__up_put_f64(e, col, d, err);
  }
  default: {
    int sz = fmt__uv_dts[f->dt].size;
    int64_t v = fmt__up_be_int(p + i * (uint64_t)sz, sz);
    if (f->nul.has_int && v == f->nul.int_null)
      return stream_copyenc_null(e);
    return fmt__up_put_i64(e, col, v, err);
  }
  }
}

static ts_err bin_value(fmt_uv_rd *r, const uint8_t *p, size_t n, int isnull)
{
  const fmt_upload_column *col = &r->cols[r->col];
  const fmt_uv_field *f = &r->f[r->col];
  ts_error *err = r->err;
  uint64_t count = r->count;
  if (isnull)
    return stream_copyenc_null(&r->enc);
  if (f->dt == UV_DT_CHAR || f->dt == UV_DT_UCHAR)
    return bin_text(r, col, f, p, n, err);
  if (!col->c.is_array)
    return bin_elem(r, col, f, p, 0, err);
  if (count == 0 && r->ser == UV_SER_B)
    return stream_copyenc_null(&r->enc); /* BINARY has no other NULL for arrays */
  ts_err rc = fmt__up_geom_count(col, count, err);
  if (!rc)
    rc = stream_copyenc_array_begin(&r->enc, fmt__up_elem_oid(col->c.kind));
  for (uint64_t i = 0; !rc && i < count; i++)
    rc = bin_elem(r, col, f, p, i, err);
  if (!rc)
    rc = stream_copyenc_array_end(&r->enc);
  return rc;
}

/* The next field of the row (or the end of it): what to read. */
static void bin_field(fmt_uv_rd *r)
{
  if (r->col == r->nf) {
    r->bs = UV_B_IDLE;
    return;
  }
  const fmt_uv_field *f = &r->f[r->col];
  if (f->variable) {
    r->bs = UV_B_LEN;
    r->need = 4;
    return;
  }
  r->count = f->fixed;
  r->bs = UV_B_DATA;
  r->need = f->dt == UV_DT_BIT ? (size_t)((f->fixed + 7) / 8)
                               : (size_t)f->fixed * fmt__uv_dts[f->dt].size;
}

/* Acts on the `need` bytes at p for the current state. */
static ts_err bin_step(fmt_uv_rd *r, const uint8_t *p)
{
  switch (r->bs) {
  case UV_B_FLAGS:
    memcpy(r->flags, p, r->nflag);
    bin_field(r);
    return TS_OK;
  case UV_B_LEN: {
    const fmt_uv_field *f = &r->f[r->col];
    uint64_t count = stream_be32(p), bytes;
    uint64_t elems;
    int size = f->dt == UV_DT_BIT ? 1 : fmt__uv_dts[f->dt].size;
    if (__builtin_mul_overflow(count, f->fixed, &elems) ||
        __builtin_mul_overflow(elems, (uint64_t)size, &bytes))
      bytes = UINT64_MAX;
    else if (f->dt == UV_DT_BIT)
      bytes = (elems + 7) / 8;
    if (value_limit(r, bytes))
      return TS_ELIMIT;
    r->count = count * f->fixed;
    r->bs = UV_B_DATA;
    r->need = (size_t)bytes;
    return TS_OK;
  }
  case UV_B_DATA: {
    int isnull = r->ser == UV_SER_B2 && (r->flags[r->col / 8] >> (7 - r->col % 8) & 1);
    ts_err rc = bin_value(r, p, r->need, isnull);
    if (rc) {
      if (r->err->code == TS_OK)
        ts_fail(r->err, rc, 0, "%s", rc == TS_ELIMIT ? "the value is too large" : "bad value");
      fmt__uv_fail_at(r, rc);
      return rc;
    }
    r->col++;
    bin_field(r);
    return TS_OK;
  }
  default:
    return TS_OK;
  }
}

/* Decoded bytes of the STREAM, split anywhere. */
static ts_err bin_feed(fmt_uv_rd *r, const uint8_t *p, size_t n)
{
  ts_err rc = TS_OK;
  while (n && !rc) {
    if (r->bs == UV_B_IDLE) {
      if (fmt__uv_row_begin(r))
        return r->rc;
      if (r->ser == UV_SER_B2) {
        r->bs = UV_B_FLAGS;
        r->need = r->nflag;
      } else {
        bin_field(r);
      }
    }
    if (r->gb.len == 0 && n >= r->need) {
      size_t need = r->need;
      rc = bin_step(r, p);
      p += need;
      n -= need;
    } else {
      size_t take = r->need - r->gb.len < n ? r->need - r->gb.len : n;
      rc = ts_buf_append(&r->gb, p, take);
      if (rc) {
        fmt__uv_fail(r, rc, "row %llu: out of memory", (unsigned long long)r->row);
        return rc;
      }
      p += take;
      n -= take;
      if (r->gb.len == r->need) {
        rc = bin_step(r, (const uint8_t *)r->gb.data);
        ts_buf_reset(&r->gb);
      }
    }
    /* Fields of no bytes (an empty variable array) need no input. */
    while (!rc && r->bs != UV_B_IDLE && r->need == 0)
      rc = bin_step(r, NULL);
  }
  return rc;
}

/* base64 value of a byte; -1 not base64, -2 blank, -3 '=' */
static const int8_t b64tab[256] = {
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -2, -2, -1, -1, -2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -2, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, 62, -1, -1, -1, 63,
    52, 53, 54, 55, 56, 57, 58, 59, 60, 61, -1, -1, -1, -3, -1, -1, -1, 0,  1,  2,  3,  4,  5,  6,
    7,  8,  9,  10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, -1, -1, -1, -1, -1,
    -1, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47, 48,
    49, 50, 51, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
    -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
};

void fmt__uv_stream_text(fmt_uv_rd *r, const uint8_t *s, size_t n)
{
  uint8_t out[UV_DECODED + 3];
  size_t o = 0, i = 0;
  while (i < n) {
    /* Whole groups of four base64 characters: the bulk of a STREAM. */
    while (r->b64n == 0 && !r->b64end && i + 4 <= n && o < UV_DECODED) {
      int a = b64tab[s[i]], b = b64tab[s[i + 1]], c = b64tab[s[i + 2]], d = b64tab[s[i + 3]];
      if ((a | b | c | d) < 0)
        break;
      uint32_t x = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | (uint32_t)d;
      out[o++] = (uint8_t)(x >> 16);
      out[o++] = (uint8_t)(x >> 8);
      out[o++] = (uint8_t)x;
      i += 4;
    }
    if (o >= UV_DECODED) {
      if (bin_feed(r, out, o))
        return;
      o = 0;
      continue;
    }
    if (i >= n)
      break;
    /* One character at a time: blanks, padding, groups split by either. */
    int v = b64tab[s[i++]];
    if (v == -2)
      continue;
    if (v == -3) {
      r->b64end = 1;
      continue;
    }
    if (v < 0 || r->b64end) {
      fmt__uv_fail(r, TS_EINVAL, "line %d: the STREAM holds %s", fmt__uv_line(r),
                   v < 0 ? "a character that is not base64" : "base64 after its '=' padding");
      return;
    }
    r->b64 = r->b64 << 6 | (uint32_t)v;
    if (++r->b64n == 4) {
      out[o++] = (uint8_t)(r->b64 >> 16);
      out[o++] = (uint8_t)(r->b64 >> 8);
      out[o++] = (uint8_t)r->b64;
      r->b64n = 0;
      r->b64 = 0;
    }
  }
  if (o)
    bin_feed(r, out, o);
}

void fmt__uv_stream_end(fmt_uv_rd *r)
{
  uint8_t out[2];
  size_t o = 0;
  if (r->b64n == 1) {
    fmt__uv_fail(r, TS_EINVAL, "line %d: the base64 of the STREAM is truncated", fmt__uv_line(r));
    return;
  }
  if (r->b64n == 2)
    out[o++] = (uint8_t)(r->b64 >> 4);
  if (r->b64n == 3) {
    out[o++] = (uint8_t)(r->b64 >> 10);
    out[o++] = (uint8_t)(r->b64 >> 2);
  }
  if (o && bin_feed(r, out, o))
    return;
  if (r->bs != UV_B_IDLE)
    fmt__uv_fail(
        r, TS_EINVAL, "line %d: the STREAM ends inside row %llu (column %s): truncated data",
        fmt__uv_line(r), (unsigned long long)r->row, r->col < r->nf ? r->cols[r->col].c.name : "?");
  r->in_stream = 0;
}

/* ---- SAX callbacks ----------------------------------------------------------- */
