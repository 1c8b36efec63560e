/* Number and text formatting shared by the encoders (see fmt_int.h). */
#include "formats/fmt_int.h"

#include <stdlib.h>

/* Two digits at a time: halves the divisions of the naive loop. */
static const char fmt_digits2[201] = "00010203040506070809"
                                     "10111213141516171819"
                                     "20212223242526272829"
                                     "30313233343536373839"
                                     "40414243444546474849"
                                     "50515253545556575859"
                                     "60616263646566676869"
                                     "70717273747576777879"
                                     "80818283848586878889"
                                     "90919293949596979899";

/* Digits of v < 2^32, written backwards ending at p; returns the start. */
static inline char *fmt_u32_back(char *p, uint32_t v)
{
  while (v >= 100) {
    unsigned i = (v % 100) * 2;
    v /= 100;
    *--p = fmt_digits2[i + 1];
    *--p = fmt_digits2[i];
  }
  if (v >= 10) {
    unsigned i = v * 2;
    *--p = fmt_digits2[i + 1];
    *--p = fmt_digits2[i];
  } else {
    *--p = (char)('0' + v);
  }
  return p;
}

/* Exactly 8 digits of v < 10^8, leading zeros included, ending at p. */
static inline char *fmt_u32_8_back(char *p, uint32_t v)
{
  for (int j = 0; j < 4; j++) {
    unsigned i = (v % 100) * 2;
    v /= 100;
    *--p = fmt_digits2[i + 1];
    *--p = fmt_digits2[i];
  }
  return p;
}

/* 64-bit divisions are several times slower than 32-bit ones: values above
 * 2^32 are cut into blocks of 8 digits first (17-digit float mantissas
 * and 19-digit ids are the common large cases). */
size_t fmt__u64(char *out, uint64_t v)
{
  char tmp[24];
  char *end = tmp + sizeof tmp, *p = end;
  if (v >> 32) {
    p = fmt_u32_8_back(p, (uint32_t)(v % 100000000));
    v /= 100000000;
    if (v >> 32) {
      p = fmt_u32_8_back(p, (uint32_t)(v % 100000000));
      v /= 100000000;
    }
  }
  p = fmt_u32_back(p, (uint32_t)v);
  size_t n = (size_t)(end - p);
  memcpy(out, p, n);
  return n;
}

size_t fmt__i64(char *out, int64_t v)
{
  if (v < 0) {
    out[0] = '-';
    /* Negate in unsigned arithmetic so INT64_MIN does not overflow. */
    return 1 + fmt__u64(out + 1, 0 - (uint64_t)v);
  }
  return fmt__u64(out, (uint64_t)v);
}

#define FMT_FFFD "\xEF\xBF\xBD"

/* Byte classes for the XML escaper: 0 copies as is. */
enum { XC_PLAIN, XC_ENTITY, XC_CTRL, XC_WS, XC_HIGH };
static unsigned char fmt_xml_class(unsigned char c)
{
  switch (c) {
  case '&':
  case '<':
  case '>':
  case '"':
  case '\'':
    return XC_ENTITY;
  case '\t':
  case '\n':
  case '\r':
    return XC_WS;
  default:
    return c < 0x20 ? XC_CTRL : c >= 0x80 ? XC_HIGH : XC_PLAIN;
  }
}

static size_t fmt_esc_cp(const uint8_t *s, size_t n, fmt_esc_keep keep, size_t *k, uint32_t *cp);
static void fmt_esc_write(uint8_t *q, size_t e, uint32_t cp);

/* XML text (attr: attribute value); with `ascii`, control characters and
 * everything outside ASCII become escapes as fmt__esc_put writes them
 * (FMT_ESC_XML), in the same pass. */
static inline void fmt_xml_run(stream_out *o, const char *str, size_t n, int attr, int ascii)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t run = 0, i = 0;
  while (i < n) {
    unsigned char c = s[i];
    unsigned char cls = fmt_xml_class(c);
    const char *rep = NULL;
    size_t k = 1;
    if ((cls == XC_PLAIN && !(ascii && c == 0x7f)) || (cls == XC_WS && !attr)) {
      i++;
      continue;
    }
    if (ascii && cls != XC_ENTITY && cls != XC_WS) {
      uint8_t q[10];
      uint32_t cp;
      size_t e = fmt_esc_cp(s + i, n - i, FMT_ESC_XML, &k, &cp);
      fmt_esc_write(q, e, cp);
      stream_out_put(o, s + run, i - run);
      stream_out_put(o, q, e);
      i += k;
      run = i;
      continue;
    }
    switch (cls) {
    case XC_ENTITY:
      rep = c == '&'   ? "&amp;"
            : c == '<' ? "&lt;"
            : c == '>' ? "&gt;"
            : c == '"' ? "&quot;"
                       : "&apos;";
      break;
    case XC_WS:
      rep = c == '\t' ? "&#9;" : c == '\n' ? "&#10;" : "&#13;";
      break;
    case XC_CTRL:
      rep = FMT_FFFD;
      break;
    default: /* XC_HIGH */
      k = ts_utf8_seq(s + i, n - i);
      if (!k) {
        rep = FMT_FFFD;
        k = 1;
      }
    }
    if (rep) {
      stream_out_put(o, s + run, i - run);
      stream_out_puts(o, rep);
      i += k;
      run = i;
    } else {
      i += k;
    }
  }
  stream_out_put(o, s + run, n - run);
}

void fmt__xml(stream_out *o, const char *str, size_t n, int attr)
{
  fmt_xml_run(o, str, n, attr, 0);
}

void fmt__xml_ascii(stream_out *o, const char *str, size_t n)
{
  fmt_xml_run(o, str, n, 0, 1);
}

void fmt__utf8(stream_out *o, const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t run = 0, i = 0;
  while (i < n) {
    if (s[i] < 0x80) {
      i++;
      continue;
    }
    size_t k = ts_utf8_seq(s + i, n - i);
    if (k) {
      i += k;
      continue;
    }
    stream_out_put(o, s + run, i - run);
    stream_out_put(o, FMT_FFFD, 3);
    run = ++i;
  }
  stream_out_put(o, s + run, n - run);
}

/* ---- text restricted to ASCII (fmt__esc_*) ------------------------------ */

/* One character of s: its escaped length (1 when kept), its byte length *k
 * and code point *cp. */
static size_t fmt_esc_cp(const uint8_t *s, size_t n, fmt_esc_keep keep, size_t *k, uint32_t *cp)
{
  if ((s[0] >= 0x20 && s[0] < 0x7f) ||
      (keep == FMT_ESC_XML && (s[0] == '\t' || s[0] == '\n' || s[0] == '\r'))) {
    *k = 1;
    *cp = s[0];
    return 1;
  }
  size_t len = s[0] < 0x80 ? 1 : ts_utf8_seq(s, n);
  if (len <= 1) {
    *k = 1;
    *cp = s[0] < 0x80 ? s[0] : 0xFFFD;
  } else {
    *k = len;
    uint32_t c = s[0] & (0xFF >> (len + 1));
    for (size_t j = 1; j < len; j++)
      c = c << 6 | (s[j] & 0x3F);
    *cp = c;
  }
  return *cp > 0xFFFF ? 10 : 6;
}

/* The length of the longest start of s that is kept as it is: the common
 * all-ASCII value is measured in this one tight pass. */
static size_t fmt_esc_kept(const uint8_t *s, size_t n, fmt_esc_keep keep)
{
  size_t i = 0;
  if (keep == FMT_ESC_XML) {
    while (i < n && ((uint8_t)(s[i] - 0x20) < 0x5f || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
      i++;
  } else {
    while (i < n && (uint8_t)(s[i] - 0x20) < 0x5f)
      i++;
  }
  return i;
}

/* Writes the escape of code point cp, e (6 or 10) bytes, into q. */
static void fmt_esc_write(uint8_t *q, size_t e, uint32_t cp)
{
  static const char hex[] = "0123456789ABCDEF";
  q[0] = '\\';
  q[1] = e == 6 ? 'u' : 'U';
  for (size_t d = 0; d + 2 < e; d++)
    q[e - 1 - d] = (uint8_t)hex[(cp >> (4 * d)) & 15];
}

size_t fmt__esc_len(const uint8_t *s, size_t n, fmt_esc_keep keep)
{
  size_t total = fmt_esc_kept(s, n, keep);
  for (size_t i = total; i < n;) {
    size_t k;
    uint32_t cp;
    total += fmt_esc_cp(s + i, n - i, keep, &k, &cp);
    i += k;
  }
  return total;
}

size_t fmt__esc_put(uint8_t *q, size_t max, const uint8_t *s, size_t n, fmt_esc_keep keep)
{
  size_t w = 0;
  for (size_t i = 0; i < n;) {
    size_t k;
    uint32_t cp;
    size_t e = fmt_esc_cp(s + i, n - i, keep, &k, &cp);
    if (w + e > max)
      break;
    if (e == 1)
      q[w] = s[i];
    else
      fmt_esc_write(q + w, e, cp);
    w += e;
    i += k;
  }
  return w;
}

/* CSV text: quoted when it holds a separator, quote, CR, LF, or begins or
 * ends with a blank (readers trim those otherwise), or when it is empty so
 * that an empty string stays distinct from NULL. Quotes are doubled. */
static void fmt_csv_text(stream_out *o, const char *s, size_t n, int force_quote)
{
  int quote =
      force_quote || n == 0 || s[0] == ' ' || s[n - 1] == ' ' || s[0] == '\t' || s[n - 1] == '\t';
  for (size_t i = 0; i < n && !quote; i++) {
    char c = s[i];
    quote = c == ',' || c == '"' || c == '\r' || c == '\n';
  }
  if (!quote) {
    fmt__utf8(o, s, n);
    return;
  }
  stream_out_put(o, "\"", 1);
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '"') {
      fmt__utf8(o, s + run, i + 1 - run); /* the quote itself ... */
      run = i;                            /* ... and once more with the next run */
    }
  }
  fmt__utf8(o, s + run, n - run);
  stream_out_put(o, "\"", 1);
}

/* TSV has no quoting: TAB, CR and LF inside a value become blanks (the
 * documented lossy rule), everything else is copied. */
static void fmt_tsv_text(stream_out *o, const char *s, size_t n)
{
  size_t run = 0;
  for (size_t i = 0; i < n; i++) {
    if (s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
      fmt__utf8(o, s + run, i - run);
      stream_out_put(o, " ", 1);
      run = i + 1;
    }
  }
  fmt__utf8(o, s + run, n - run);
}

static void fmt_put_text(stream_out *o, const char *s, size_t n, fmt_textstyle style)
{
  if (style == FMT_TEXT_XML)
    fmt__xml(o, s, n, 0);
  else if (style == FMT_TEXT_CSV)
    fmt_csv_text(o, s, n, 0);
  else
    fmt_tsv_text(o, s, n);
}

/* Formats a non-NULL, non-text scalar of `kind` into buf. */
size_t fmt__scalar_text(char *buf, stream_kind kind, const stream_value *v, fmt_textstyle style)
{
  switch (kind) {
  case STREAM_BOOL:
    if (style == FMT_TEXT_XML) {
      buf[0] = stream_get_bool(v) ? 'T' : 'F';
      return 1;
    }
    if (stream_get_bool(v)) {
      memcpy(buf, "true", 4);
      return 4;
    }
    memcpy(buf, "false", 5);
    return 5;
  case STREAM_INT2:
    return fmt__i64(buf, stream_get_int2(v));
  case STREAM_INT4:
    return fmt__i64(buf, stream_get_int4(v));
  case STREAM_INT8:
    return fmt__i64(buf, stream_get_int8(v));
  case STREAM_FLOAT4:
    return fmt__float(buf, stream_get_float4(v));
  case STREAM_FLOAT8:
    return fmt__double(buf, stream_get_float8(v));
  case STREAM_NUMERIC:
    return fmt__double(buf, stream_numeric_to_double(v->p, v->len));
  case STREAM_TIMESTAMP:
  case STREAM_TIMESTAMPTZ:
    return stream_format_timestamp(buf, stream_get_int8(v));
  case STREAM_DATE:
    return stream_format_date(buf, stream_get_int4(v));
  default:
    return 0;
  }
}

const char *fmt__null_token(stream_kind kind, fmt_textstyle style)
{
  switch (kind) {
  case STREAM_FLOAT4:
  case STREAM_FLOAT8:
  case STREAM_NUMERIC:
    return "NaN";
  case STREAM_INT2:
    return "-32768";
  case STREAM_INT4:
    return "-2147483648";
  case STREAM_INT8:
    return "-9223372036854775808";
  case STREAM_BOOL:
    return style == FMT_TEXT_XML ? "?" : "false";
  default:
    return "";
  }
}

int fmt__kind_is_text(stream_kind k)
{
  return k == STREAM_TEXT || k == STREAM_TIMESTAMP || k == STREAM_TIMESTAMPTZ || k == STREAM_DATE;
}

ts_err fmt__value_text(stream_out *o, const stream_column *col, const stream_value *v,
                       fmt_textstyle style, ts_buf *scratch)
{
  stream_kind kind = col->kind;
  if (col->is_array && fmt__kind_is_text(kind)) {
    ts_buf_reset(scratch);
    ts_err rc = stream_format_array_literal(scratch, kind, v);
    if (rc)
      return rc == TS_EINVAL ? TS_EFORMAT : rc;
    fmt_put_text(o, scratch->data, scratch->len, style);
    return o->err;
  }
  if (!col->is_array) {
    if (kind == STREAM_TEXT) {
      fmt_put_text(o, (const char *)v->p, (size_t)v->len, style);
      return o->err;
    }
    if (v->len < stream_kind_len(kind) || kind == STREAM_UNSUPPORTED)
      return TS_EFORMAT;
    char *p = stream_out_reserve(o, FMT_NUM_MAX);
    if (!p)
      return o->err ? o->err : TS_ENOMEM;
    stream_out_commit(o, fmt__scalar_text(p, kind, v, style));
    return TS_OK;
  }
  /* Arrays: elements separated by one blank. A blank-separated list has
   * no empty token, so a NULL element is written as a value: NaN in a float
   * array, the type's minimum in an integer array (VOTable declares it as
   * <VALUES null>), "?" in a TABLEDATA boolean array (false in CSV/TSV).
   * CSV always quotes arrays so that readers see one field. */
  stream_array_iter it;
  stream_value el;
  if (stream_array_begin(&it, v))
    return TS_EFORMAT;
  if (style == FMT_TEXT_CSV)
    stream_out_put(o, "\"", 1);
  int first = 1;
  while (stream_array_next(&it, &el)) {
    if (!first)
      stream_out_put(o, " ", 1);
    first = 0;
    char *p = stream_out_reserve(o, FMT_NUM_MAX);
    if (!p)
      return o->err ? o->err : TS_ENOMEM;
    size_t n;
    if (el.len < 0) {
      const char *z = fmt__null_token(kind, style);
      n = strlen(z);
      memcpy(p, z, n);
    } else if (el.len < stream_kind_len(kind) || kind == STREAM_UNSUPPORTED) {
      return TS_EFORMAT;
    } else {
      n = fmt__scalar_text(p, kind, &el, style);
    }
    stream_out_commit(o, n);
  }
  if (style == FMT_TEXT_CSV)
    stream_out_put(o, "\"", 1);
  return o->err;
}
