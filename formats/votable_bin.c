/* formats/votable_bin.c: the rows of VOTable BINARY and BINARY2: values in
 * VOTable's big-endian binary form, staged and base64-encoded in bulk into
 * the STREAM element that votable.c opened and closes. */
#include "formats/votable_int.h"

/* ---- base64 of the staged bytes ---------------------------------------- */

static const char vt_b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
enum { VT_B64_LINE = 76, VT_B64_CHUNK = 3072 };

/* Encodes every complete 3-byte group of the stage (and with `final` the
 * last 1-2 bytes, padded) into lines of 76 characters. */
void fmt__vt_b64_emit(fmt_votable *v, int final)
{
  stream_out *o = v->base.out;
  const uint8_t *p = v->stage;
  size_t n = v->stage_len, full = n / 3 * 3, i = 0;
  /* Input per reservation: whole lines that fit the out buffer (4
   * characters per group plus a newline per 19 groups), at most 3 KiB. */
  size_t lim = o->cap / 78 * 57;
  lim = lim > VT_B64_CHUNK ? VT_B64_CHUNK : lim < 3 ? 3 : lim;
  while (i < full) {
    size_t chunk = full - i < lim ? full - i : lim;
    char *q = stream_out_reserve(o, chunk / 3 * 4 + chunk / 57 + 2);
    if (!q)
      break;
    char *q0 = q;
    for (size_t j = i; j < i + chunk; j += 3) {
      uint32_t x = (uint32_t)p[j] << 16 | (uint32_t)p[j + 1] << 8 | p[j + 2];
      q[0] = vt_b64[x >> 18];
      q[1] = vt_b64[(x >> 12) & 63];
      q[2] = vt_b64[(x >> 6) & 63];
      q[3] = vt_b64[x & 63];
      q += 4;
      v->linepos += 4;
      if (v->linepos == VT_B64_LINE) {
        *q++ = '\n';
        v->linepos = 0;
      }
    }
    stream_out_commit(o, (size_t)(q - q0));
    i += chunk;
  }
  size_t rem = n - full;
  if (final) {
    char t[6];
    size_t k = 0;
    if (rem) {
      uint32_t x = (uint32_t)p[full] << 16 | (rem == 2 ? (uint32_t)p[full + 1] << 8 : 0);
      t[k++] = vt_b64[x >> 18];
      t[k++] = vt_b64[(x >> 12) & 63];
      t[k++] = rem == 2 ? vt_b64[(x >> 6) & 63] : '=';
      t[k++] = '=';
      v->linepos += 4;
    }
    if (v->linepos)
      t[k++] = '\n';
    stream_out_put(o, t, k);
    v->linepos = 0;
    v->stage_len = 0;
  } else {
    memmove(v->stage, p + full, rem);
    v->stage_len = rem;
  }
  v->row_spilled = 1;
}

/* Room for n (<= 64) contiguous bytes in the stage. */
static inline uint8_t *vt_room(fmt_votable *v, size_t n)
{
  if (VT_STAGE - v->stage_len < n)
    fmt__vt_b64_emit(v, 0);
  return v->stage + v->stage_len;
}

static void vt_put(fmt_votable *v, const void *src, size_t n)
{
  const uint8_t *s = src;
  while (n) {
    size_t room = VT_STAGE - v->stage_len;
    if (!room) {
      fmt__vt_b64_emit(v, 0);
      continue;
    }
    size_t k = n < room ? n : room;
    memcpy(v->stage + v->stage_len, s, k);
    v->stage_len += k;
    s += k;
    n -= k;
  }
}

static void vt_zeros(fmt_votable *v, size_t n)
{
  while (n) {
    size_t k = n < 64 ? n : 64;
    memset(vt_room(v, k), 0, k);
    v->stage_len += k;
    n -= k;
  }
}

static void vt_be(uint8_t *q, uint64_t x, int size)
{
  for (int i = size - 1; i >= 0; i--) {
    q[i] = (uint8_t)x;
    x >>= 8;
  }
}

static void vt_put_i32(fmt_votable *v, int32_t n)
{
  vt_be(vt_room(v, 4), (uint32_t)n, 4);
  v->stage_len += 4;
}

/* ---- binary elements ---------------------------------------------------- */

static double vt_as_f64(stream_kind k, const stream_value *el)
{
  switch (k) {
  case STREAM_BOOL:
    return stream_get_bool(el);
  case STREAM_INT2:
    return stream_get_int2(el);
  case STREAM_INT4:
    return stream_get_int4(el);
  case STREAM_INT8:
    return (double)stream_get_int8(el);
  case STREAM_FLOAT4:
    return stream_get_float4(el);
  case STREAM_FLOAT8:
    return stream_get_float8(el);
  default:
    return stream_numeric_to_double(el->p, el->len);
  }
}

static int64_t vt_as_i64(stream_kind k, const stream_value *el)
{
  switch (k) {
  case STREAM_BOOL:
    return stream_get_bool(el);
  case STREAM_INT2:
    return stream_get_int2(el);
  case STREAM_INT4:
    return stream_get_int4(el);
  case STREAM_INT8:
    return stream_get_int8(el);
  default: {
    double d = vt_as_f64(k, el);
    /* Out of range (and NaN) has no integer: write the NULL stand-in. */
    if (!(d >= -9.2233720368547758e18 && d < 9.2233720368547758e18))
      return INT64_MIN;
    return (int64_t)d;
  }
  }
}

/* One element of a numeric or boolean column; el->len < 0 is NULL:
 * '?' for boolean, NaN for floats, the VALUES null stand-in for integers. */
static ts_err vt_elem(fmt_votable *v, vt_dt dt, stream_kind k, const stream_value *el)
{
  int size = fmt__vt_dts[dt].size;
  uint8_t *q = vt_room(v, 8);
  if (el->len >= 0 && el->len < stream_kind_len(k))
    return TS_EFORMAT;
  v->stage_len += (size_t)size;
  if (el->len < 0) {
    if (dt == DT_BOOLEAN)
      q[0] = '?';
    else if (dt == DT_FLOAT)
      vt_be(q, 0x7fc00000u, 4);
    else if (dt == DT_DOUBLE)
      vt_be(q, 0x7ff8000000000000u, 8);
    else
      vt_be(q, (uint64_t)vt_int_null(dt), size);
    return TS_OK;
  }
  /* PostgreSQL's send format is big-endian like VOTable's: same-typed
   * values are copied as they are. */
  if ((dt == DT_SHORT && k == STREAM_INT2) ||
      ((dt == DT_INT && k == STREAM_INT4) || (dt == DT_FLOAT && k == STREAM_FLOAT4)) ||
      ((dt == DT_LONG && k == STREAM_INT8) || (dt == DT_DOUBLE && k == STREAM_FLOAT8))) {
    memcpy(q, el->p, (size_t)size);
    return TS_OK;
  }
  switch (dt) {
  case DT_BOOLEAN:
    q[0] = (k == STREAM_BOOL ? stream_get_bool(el) : vt_as_f64(k, el) != 0) ? 'T' : 'F';
    break;
  case DT_FLOAT: {
    float f = (float)vt_as_f64(k, el);
    uint32_t u;
    memcpy(&u, &f, 4);
    vt_be(q, u, 4);
    break;
  }
  case DT_DOUBLE: {
    double d = vt_as_f64(k, el);
    uint64_t u;
    memcpy(&u, &d, 8);
    vt_be(q, u, 8);
    break;
  }
  default:
    vt_be(q, (uint64_t)vt_as_i64(k, el), size);
    break;
  }
  return TS_OK;
}

/* Numeric or boolean column value (scalar or array). */
static ts_err vt_num_field(fmt_votable *v, const stream_column *c, const vt_col *vc,
                           const stream_value *val)
{
  static const stream_value null_el = {NULL, -1};
  ts_err rc = TS_OK;
  if (vc->scalar)
    return vt_elem(v, vc->dt, c->kind, val);
  if (!c->is_array) {
    /* A scalar declared with an arraysize: an array of one. */
    if (vc->fixed < 0)
      vt_put_i32(v, val->len < 0 ? 0 : 1);
    int32_t n = vc->fixed < 0 ? (val->len < 0 ? 0 : 1) : vc->fixed;
    for (int32_t i = 0; i < n && !rc; i++)
      rc = vt_elem(v, vc->dt, c->kind, i == 0 ? val : &null_el);
    return rc;
  }
  stream_array_iter it;
  int64_t count = 0;
  if (val->len >= 0) {
    if (stream_array_begin(&it, val))
      return TS_EFORMAT;
    count = it.count;
  }
  int64_t n = vc->fixed >= 0 ? vc->fixed : count;
  if (vc->fixed < 0 && vc->bound >= 0 && n > vc->bound)
    n = vc->bound;
  if (vc->fixed < 0)
    vt_put_i32(v, (int32_t)n);
  stream_value el;
  for (int64_t i = 0; i < n && !rc; i++) {
    if (i < count && stream_array_next(&it, &el))
      rc = vt_elem(v, vc->dt, c->kind, &el);
    else
      rc = vt_elem(v, vc->dt, c->kind, &null_el); /* padding of a fixed size */
  }
  return rc;
}

/* UTF-8 -> UTF-16BE code units; returns the number of units, writing them
 * when `v` is not NULL (at most `max`). Invalid sequences become U+FFFD. */
static size_t vt_utf16(fmt_votable *v, const uint8_t *s, size_t n, size_t max)
{
  size_t units = 0;
  for (size_t i = 0; i < n && units < max;) {
    size_t k = s[i] < 0x80 ? 1 : ts_utf8_seq(s + i, n - i);
    uint32_t cp;
    if (k == 0) {
      cp = 0xFFFD;
      k = 1;
    } else if (k == 1) {
      cp = s[i];
    } else {
      cp = s[i] & (0xFF >> (k + 1));
      for (size_t j = 1; j < k; j++)
        cp = cp << 6 | (s[i + j] & 0x3F);
    }
    i += k;
    if (cp >= 0x10000) {
      /* A pair, never split: drop it if only one unit is left. */
      if (units + 2 > max)
        break;
      if (v) {
        cp -= 0x10000;
        vt_be(vt_room(v, 4), (0xD800u + (cp >> 10)) << 16 | (0xDC00u + (cp & 0x3FF)), 4);
        v->stage_len += 4;
      }
      units += 2;
    } else {
      if (v) {
        vt_be(vt_room(v, 2), cp, 2);
        v->stage_len += 2;
      }
      units++;
    }
  }
  return units;
}

/* Length of a string cut to at most max bytes without splitting a UTF-8
 * sequence. */
static size_t vt_utf8_cut(const uint8_t *s, size_t n, size_t max)
{
  if (n <= max)
    return n;
  while (max > 0 && (s[max] & 0xC0) == 0x80)
    max--;
  return max;
}

/* Writes one string of a char/unicodeChar column: count (variable) or
 * padding (fixed). */
static ts_err vt_str(fmt_votable *v, const vt_col *vc, const uint8_t *s, size_t n)
{
  size_t max = vc->fixed >= 0 ? (size_t)vc->fixed : vc->bound >= 0 ? (size_t)vc->bound : SIZE_MAX;
  if (vc->dt == DT_CHAR) {
    if (vc->ascii) {
      ts_err rc = fmt__vt_ascii(v, &s, &n, max);
      if (rc)
        return rc;
    }
    n = vt_utf8_cut(s, n, max);
    if (vc->fixed < 0)
      vt_put_i32(v, (int32_t)n);
    vt_put(v, s, n);
    if (vc->fixed >= 0)
      vt_zeros(v, (size_t)vc->fixed - n); /* NUL padding: readers cut there */
    return TS_OK;
  }
  size_t units = vt_utf16(NULL, s, n, max);
  if (vc->fixed < 0)
    vt_put_i32(v, (int32_t)units);
  vt_utf16(v, s, n, max);
  if (vc->fixed >= 0)
    vt_zeros(v, ((size_t)vc->fixed - units) * 2);
  return TS_OK;
}

static ts_err vt_str_field(fmt_votable *v, const stream_column *c, const vt_col *vc,
                           const stream_value *val)
{
  if (val->len < 0) {
    if (vc->fixed < 0)
      vt_put_i32(v, 0);
    else
      vt_zeros(v, (size_t)vc->fixed * fmt__vt_dts[vc->dt].size);
    return TS_OK;
  }
  if ((c->kind == STREAM_TEXT && !c->is_array) || (c->is_array && fmt__kind_is_text(c->kind))) {
    const uint8_t *s;
    size_t n;
    ts_err rc = fmt__vt_text_of(v, c, val, &s, &n);
    return rc ? rc : vt_str(v, vc, s, n);
  }
  if (c->is_array)
    return TS_EFORMAT; /* numbers as one string: not a declared form */
  char tmp[FMT_NUM_MAX];
  if (val->len < stream_kind_len(c->kind))
    return TS_EFORMAT;
  size_t n = fmt__scalar_text(tmp, c->kind, val, FMT_TEXT_CSV);
  return vt_str(v, vc, (const uint8_t *)tmp, n);
}

ts_err fmt__vt_bin_rows(fmt_encoder *e, const stream_batch *b)
{
  fmt_votable *v = (fmt_votable *)e;
  const stream_column *cols = e->schema->cols;
  for (size_t r = 0; r < b->nrows; r++) {
    const stream_value *row = stream_batch_row(b, r);
    v->row_start = v->stage_len;
    v->row_spilled = 0;
    /* BINARY2 null flags, most significant bit first. */
    for (size_t k = 0; k < v->nflag; k++) {
      uint8_t byte = 0;
      for (size_t i = k * 8; i < k * 8 + 8 && i < b->ncols; i++)
        if (row[i].len < 0)
          byte |= (uint8_t)(0x80u >> (i & 7));
      *vt_room(v, 1) = byte;
      v->stage_len++;
    }
    for (size_t i = 0; i < b->ncols; i++) {
      const vt_col *vc = &v->cols[i];
      ts_err rc = vt_is_str(vc->dt) ? vt_str_field(v, &cols[i], vc, &row[i])
                                    : vt_num_field(v, &cols[i], vc, &row[i]);
      if (rc) {
        /* Drop the partial row when it is still in the stage, so the
         * stream stays decodable up to the last good row. */
        if (!v->row_spilled)
          v->stage_len = v->row_start;
        return rc;
      }
    }
  }
  return e->out->err;
}
