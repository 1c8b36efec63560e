/* stream/copyenc.c: the COPY BINARY encoder, the mirror of copydec.c.
 *
 * Writes what COPY ... FROM STDIN (FORMAT binary) reads: the 19-byte
 * header, one tuple per row (int16 field count, then per field an int32
 * length, -1 for NULL, and the value in PostgreSQL's binary send format),
 * and the trailer. Scalar fields go straight into the stream_out; an array
 * is gathered in the encoder's own buffer, because its length and its
 * element count precede the elements. */
#include "stream/stream.h"

enum {
  COPYENC_ARRAY_MAX = 256 * 1024 * 1024, /* one array value; PostgreSQL's own limit is 1 GB */
  OID_BOOL = 16,
  OID_INT8 = 20,
  OID_INT2 = 21,
  OID_INT4 = 23,
  OID_TEXT = 25,
  OID_FLOAT4 = 700,
  OID_FLOAT8 = 701,
  OID_DATE = 1082,
  OID_TIMESTAMP = 1114,
  OID_TIMESTAMPTZ = 1184,
};

static void be16(uint8_t *p, uint16_t v)
{
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}

static void be32(uint8_t *p, uint32_t v)
{
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

static void be64(uint8_t *p, uint64_t v)
{
  be32(p, (uint32_t)(v >> 32));
  be32(p + 4, (uint32_t)v);
}

ts_err stream_copyenc_init(stream_copyenc *e, stream_out *out, size_t ncols)
{
  memset(e, 0, sizeof *e);
  if (ncols == 0 || ncols > 1600) /* PostgreSQL's MaxTupleAttributeNumber */
    return TS_EINVAL;
  e->out = out;
  e->ncols = (uint16_t)ncols;
  e->field = e->ncols; /* no row open */
  ts_buf_init(&e->arr, COPYENC_ARRAY_MAX);
  return stream_out_put(out, stream_copy_header, STREAM_COPY_HEADER_MIN);
}

void stream_copyenc_free(stream_copyenc *e)
{
  ts_buf_free(&e->arr);
}

ts_err stream_copyenc_row(stream_copyenc *e)
{
  if (e->field != e->ncols || e->in_array)
    return TS_EINVAL;
  uint8_t n[2];
  be16(n, e->ncols);
  e->field = 0;
  e->rows++;
  return stream_out_put(e->out, n, 2);
}

/* One length-prefixed value: a field of the row, or an element of the
 * open array. */
static ts_err put(stream_copyenc *e, const void *p, int32_t len, uint32_t oid)
{
  uint8_t l[4];
  be32(l, (uint32_t)len);
  if (e->in_array) {
    if (e->elem_oid != oid && oid != 0)
      return TS_EINVAL;
    if (len < 0)
      e->arr_nulls = 1;
    e->arr_count++;
    ts_err rc = ts_buf_append(&e->arr, l, 4);
    if (rc == TS_OK && len > 0)
      rc = ts_buf_append(&e->arr, p, (size_t)len);
    return rc;
  }
  if (e->field >= e->ncols)
    return TS_EINVAL;
  e->field++;
  ts_err rc = stream_out_put(e->out, l, 4);
  if (rc == TS_OK && len > 0)
    rc = stream_out_put(e->out, p, (size_t)len);
  return rc;
}

ts_err stream_copyenc_null(stream_copyenc *e)
{
  return put(e, NULL, -1, 0);
}

ts_err stream_copyenc_raw(stream_copyenc *e, const void *p, size_t len)
{
  if (len > INT32_MAX)
    return TS_ELIMIT;
  return put(e, p, (int32_t)len, 0);
}

ts_err stream_copyenc_bool(stream_copyenc *e, int v)
{
  uint8_t b = v ? 1 : 0;
  return put(e, &b, 1, OID_BOOL);
}

ts_err stream_copyenc_int2(stream_copyenc *e, int16_t v)
{
  uint8_t b[2];
  be16(b, (uint16_t)v);
  return put(e, b, 2, OID_INT2);
}

ts_err stream_copyenc_int4(stream_copyenc *e, int32_t v)
{
  uint8_t b[4];
  be32(b, (uint32_t)v);
  return put(e, b, 4, OID_INT4);
}

ts_err stream_copyenc_int8(stream_copyenc *e, int64_t v)
{
  uint8_t b[8];
  be64(b, (uint64_t)v);
  return put(e, b, 8, OID_INT8);
}

ts_err stream_copyenc_float4(stream_copyenc *e, float v)
{
  uint32_t u;
  uint8_t b[4];
  memcpy(&u, &v, 4);
  be32(b, u);
  return put(e, b, 4, OID_FLOAT4);
}

ts_err stream_copyenc_float8(stream_copyenc *e, double v)
{
  uint64_t u;
  uint8_t b[8];
  memcpy(&u, &v, 8);
  be64(b, u);
  return put(e, b, 8, OID_FLOAT8);
}

ts_err stream_copyenc_text(stream_copyenc *e, const char *p, size_t len)
{
  if (len > INT32_MAX)
    return TS_ELIMIT;
  if (memchr(p, 0, len)) /* PostgreSQL text cannot hold NUL */
    return TS_EINVAL;
  return put(e, p, (int32_t)len, OID_TEXT);
}

ts_err stream_copyenc_timestamp(stream_copyenc *e, int64_t usec, int with_zone)
{
  uint8_t b[8];
  be64(b, (uint64_t)usec);
  return put(e, b, 8, with_zone ? OID_TIMESTAMPTZ : OID_TIMESTAMP);
}

ts_err stream_copyenc_date(stream_copyenc *e, int32_t days)
{
  uint8_t b[4];
  be32(b, (uint32_t)days);
  return put(e, b, 4, OID_DATE);
}

ts_err stream_copyenc_array_begin(stream_copyenc *e, uint32_t elem_oid)
{
  if (e->in_array || e->field >= e->ncols || elem_oid == 0)
    return TS_EINVAL;
  e->in_array = 1;
  e->elem_oid = elem_oid;
  e->arr_count = 0;
  e->arr_nulls = 0;
  ts_buf_reset(&e->arr);
  return TS_OK;
}

ts_err stream_copyenc_array_end(stream_copyenc *e)
{
  if (!e->in_array)
    return TS_EINVAL;
  e->in_array = 0;
  if (e->arr_count > INT32_MAX)
    return TS_ELIMIT;
  /* An empty array has no dimensions (ndim 0): that is how PostgreSQL
   * itself sends '{}'. */
  uint8_t h[20];
  size_t hl = 12;
  be32(h, e->arr_count ? 1 : 0);
  be32(h + 4, e->arr_nulls ? 1 : 0);
  be32(h + 8, e->elem_oid);
  if (e->arr_count) {
    be32(h + 12, (uint32_t)e->arr_count);
    be32(h + 16, 1); /* lower bound */
    hl = 20;
  }
  uint64_t total = hl + e->arr.len;
  if (total > INT32_MAX)
    return TS_ELIMIT;
  uint8_t l[4];
  be32(l, (uint32_t)total);
  e->field++;
  ts_err rc = stream_out_put(e->out, l, 4);
  if (rc == TS_OK)
    rc = stream_out_put(e->out, h, hl);
  if (rc == TS_OK && e->arr.len)
    rc = stream_out_put(e->out, e->arr.data, e->arr.len);
  return rc;
}

ts_err stream_copyenc_finish(stream_copyenc *e)
{
  if (e->field != e->ncols || e->in_array)
    return TS_EINVAL;
  ts_err rc = stream_out_put(e->out, stream_copy_trailer, 2);
  return rc == TS_OK ? stream_out_flush(e->out) : rc;
}
