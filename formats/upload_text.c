/* formats/upload_text.c: values written as text (VOTable TABLEDATA, CSV,
 * ECSV) into COPY BINARY fields, for every upload reader that has text. */
#include "formats/upload_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

enum { UP_NUM_MAX = 400 }; /* the longest number text looked at */

static int blank(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void trim(const char **s, size_t *n)
{
  while (*n && blank(**s))
    (*s)++, (*n)--;
  while (*n && blank((*s)[*n - 1]))
    (*n)--;
}

/* Shown in messages: at most 40 bytes of the value. */
#define SHOW(s, n) (int)((n) > 40 ? 40 : (n)), (s)

ts_err fmt__up_locate(ts_error *err, const char *fmt, ...)
{
  char where[200], why[sizeof err->msg];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(where, sizeof where, fmt, ap);
  va_end(ap);
  snprintf(why, sizeof why, "%s", err->msg);
  return ts_fail(err, err->code ? err->code : TS_EINVAL, 0, "%s: %s", where, why);
}

ts_err fmt__up_parse_i64(const char *s, size_t n, int64_t *v, ts_error *err)
{
  const char *p0 = s;
  size_t n0 = n;
  trim(&s, &n);
  int neg = 0;
  if (n && (*s == '+' || *s == '-'))
    neg = *s == '-', s++, n--;
  uint64_t x = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
  int base = 10;
  if (n > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X'))
    base = 16, s += 2, n -= 2;
  if (!n)
    goto bad;
  for (size_t i = 0; i < n; i++) {
    unsigned d;
    char c = s[i];
    if (c >= '0' && c <= '9')
      d = (unsigned)(c - '0');
    else if (base == 16 && (c | 0x20) >= 'a' && (c | 0x20) <= 'f')
      d = (unsigned)((c | 0x20) - 'a' + 10);
    else
      goto bad;
    if (x > (lim - d) / (uint64_t)base)
      return ts_fail(err, TS_EINVAL, 0, "\"%.*s\" is out of the range of a 64-bit integer",
                     SHOW(p0, n0));
    x = x * (uint64_t)base + d;
  }
  *v = neg ? (int64_t)(0 - x) : (int64_t)x;
  return TS_OK;
bad:
  return ts_fail(err, TS_EINVAL, 0, "\"%.*s\" is not an integer", SHOW(p0, n0));
}

static int is_digit(char c)
{
  return c >= '0' && c <= '9';
}

/* What a number's text is, after trim (scan_f64). */
enum { NUM_BAD, NUM_FAST, NUM_SLOW };

/* The one scanner of a number's text: [sign]digits[.digits][e[sign]digits]
 * or [sign]nan, inf, infinity (any case), at most UP_NUM_MAX bytes.
 * NUM_FAST when Clinger's fast path gives its value (into *v unless v is
 * NULL): significant digits making an integer w <= 2^53 and a power of
 * ten e within [-22, 22] make w * 10^e (or w / 10^-e) of two exact
 * doubles, so one IEEE operation rounds it correctly, as strtod does.
 * NUM_SLOW for the other numbers, which strtod converts (most values a
 * CSV file holds take the fast path, and strtod is the most of the
 * reading time); NUM_BAD for text that is not a number. Inlined into
 * both callers, so fmt__up_is_f64 (v NULL, the kind unused) keeps only
 * the grammar and costs what a scanner of its own did. */
static inline __attribute__((always_inline)) int scan_f64(const char *s, size_t n, double *v)
{
  static const double p10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
  const char *p = s, *end = s + n;
  uint64_t w = 0;
  int neg = 0, nd = 0, any = 0;
  long e = 0;
  if (!n || n > UP_NUM_MAX)
    return NUM_BAD;
  if (*p == '+' || *p == '-')
    neg = *p++ == '-';
  size_t rest = (size_t)(end - p);
  if (rest && (*p | 0x20) >= 'i')
    return (rest == 3 && (strncasecmp(p, "nan", 3) == 0 || strncasecmp(p, "inf", 3) == 0)) ||
                   (rest == 8 && strncasecmp(p, "infinity", 8) == 0)
               ? NUM_SLOW
               : NUM_BAD;
  /* nd counts the significant digits; w holds them while there are at
   * most 19 (past that, only the grammar is checked). */
  for (; p < end && is_digit(*p); p++, any = 1) {
    if (w == 0 && *p == '0')
      continue; /* leading zeros are not significant */
    if (++nd <= 19)
      w = w * 10 + (uint64_t)(*p - '0');
  }
  if (p < end && *p == '.')
    for (p++; p < end && is_digit(*p); p++, any = 1, e--) {
      if (w == 0 && *p == '0')
        continue;
      if (++nd <= 19)
        w = w * 10 + (uint64_t)(*p - '0');
    }
  if (!any)
    return NUM_BAD;
  if (p < end && (*p == 'e' || *p == 'E')) {
    long x = 0;
    int eneg = 0;
    p++;
    if (p < end && (*p == '+' || *p == '-'))
      eneg = *p++ == '-';
    if (p == end || !is_digit(*p))
      return NUM_BAD;
    for (; p < end && is_digit(*p); p++)
      if (x < 100000)
        x = x * 10 + (*p - '0');
    e += eneg ? -x : x;
  }
  if (p != end)
    return NUM_BAD;
  if (nd > 19 || w > (uint64_t)1 << 53 || (w != 0 && (e < -22 || e > 22)))
    return NUM_SLOW;
  if (v) {
    double d = (double)w;
    if (w != 0)
      d = e < 0 ? d / p10[-e] : d * p10[e];
    *v = neg ? -d : d;
  }
  return NUM_FAST;
}

ts_err fmt__up_parse_f64(const char *s, size_t n, double *v, ts_error *err)
{
  char buf[UP_NUM_MAX + 1];
  const char *p0 = s;
  size_t n0 = n;
  trim(&s, &n);
  switch (scan_f64(s, n, v)) {
  case NUM_FAST:
    return TS_OK;
  case NUM_SLOW:
    memcpy(buf, s, n);
    buf[n] = 0;
    *v = strtod(buf, NULL); /* the whole text: scan_f64 checked its grammar */
    return TS_OK;
  default:
    return ts_fail(err, TS_EINVAL, 0, "\"%.*s\" is not a number", SHOW(p0, n0));
  }
}

int fmt__up_is_f64(const char *s, size_t n)
{
  trim(&s, &n);
  return scan_f64(s, n, NULL) != NUM_BAD;
}

ts_err fmt__up_parse_bool(const char *s, size_t n, int *v, ts_error *err)
{
  const char *p0 = s;
  size_t n0 = n;
  trim(&s, &n);
  if (n == 0 || (n == 1 && *s == '?')) {
    *v = -1;
    return TS_OK;
  }
  if ((n == 1 && (*s == 'T' || *s == 't' || *s == '1')) ||
      (n == 4 && strncasecmp(s, "true", 4) == 0)) {
    *v = 1;
    return TS_OK;
  }
  if ((n == 1 && (*s == 'F' || *s == 'f' || *s == '0')) ||
      (n == 5 && strncasecmp(s, "false", 5) == 0)) {
    *v = 0;
    return TS_OK;
  }
  return ts_fail(err, TS_EINVAL, 0, "\"%.*s\" is not a boolean", SHOW(p0, n0));
}

/* Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's
 * days_from_civil). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  unsigned yoe = (unsigned)(y - era * 400);
  unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

/* n digits at *p as a number; -1 when they are not all digits. */
static long digits(const char **p, const char *end, int n)
{
  long x = 0;
  for (int i = 0; i < n; i++, (*p)++) {
    if (*p >= end || **p < '0' || **p > '9')
      return -1;
    x = x * 10 + (**p - '0');
  }
  return x;
}

ts_err fmt__up_parse_timestamp(const char *s, size_t n, int64_t *usec, ts_error *err)
{
  static const unsigned char mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const char *p0 = s;
  size_t n0 = n;
  trim(&s, &n);
  const char *p = s, *end = s + n;
  long y = digits(&p, end, 4), mo, d, h = 0, mi = 0, sec = 0, frac = 0, off = 0;
  if (y < 0 || p >= end || *p++ != '-' || (mo = digits(&p, end, 2)) < 1 || mo > 12 || p >= end ||
      *p++ != '-' || (d = digits(&p, end, 2)) < 1 || d > mdays[mo - 1])
    goto bad;
  if (mo == 2 && d == 29 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)))
    goto bad;
  if (p < end && (*p == 'T' || *p == ' ')) {
    p++;
    if ((h = digits(&p, end, 2)) < 0 || h > 23 || p >= end || *p++ != ':' ||
        (mi = digits(&p, end, 2)) < 0 || mi > 59)
      goto bad;
    if (p < end && *p == ':') {
      p++;
      if ((sec = digits(&p, end, 2)) < 0 || sec > 60)
        goto bad;
      if (p < end && *p == '.') {
        long scale = 100000;
        int any = 0, round = 0;
        for (p++; p < end && *p >= '0' && *p <= '9'; p++, any = 1) {
          if (scale)
            frac += (*p - '0') * scale, scale /= 10;
          else if (!round)
            round = *p >= '5' ? 1 : -1;
        }
        if (!any)
          goto bad;
        frac += round > 0;
      }
    }
  }
  if (p < end && *p == 'Z') {
    p++;
  } else if (p < end && (*p == '+' || *p == '-') && p > s + 10) {
    int sign = *p++ == '-' ? -1 : 1;
    long oh = digits(&p, end, 2), om = 0;
    if (p < end && *p == ':')
      p++;
    if (p < end)
      om = digits(&p, end, 2);
    if (oh < 0 || oh > 23 || om < 0 || om > 59)
      goto bad;
    off = sign * (oh * 3600 + om * 60);
  }
  if (p != end)
    goto bad;
  int64_t days = days_from_civil(y, (unsigned)mo, (unsigned)d) - 10957; /* 2000-01-01 */
  *usec = ((days * 86400 + h * 3600 + mi * 60 + sec - off) * 1000000) + frac;
  return TS_OK;
bad:
  return ts_fail(err, TS_EINVAL, 0, "\"%.*s\" is not an ISO 8601 timestamp", SHOW(p0, n0));
}

ts_err fmt__up_geom_count(const fmt_upload_column *col, uint64_t n, ts_error *err)
{
  const char *f = col->final_type;
  if (!f)
    return TS_OK;
  if (strcmp(f, "spoint") == 0 && n != 2)
    return ts_fail(err, TS_EINVAL, 0, "a point needs 2 values, not %llu", (unsigned long long)n);
  if (strcmp(f, "scircle") == 0 && n != 3)
    return ts_fail(err, TS_EINVAL, 0, "a circle needs 3 values, not %llu", (unsigned long long)n);
  if (strcmp(f, "spoly") == 0 && (n < 6 || n % 2))
    return ts_fail(err, TS_EINVAL, 0,
                   "a polygon needs an even number of values, at least 6, not %llu",
                   (unsigned long long)n);
  return TS_OK;
}

/* The encoder's own errors (the stream's, a value over PostgreSQL's
 * limits) get a reason unless the sink already gave one. */
static ts_err enc(ts_err rc, ts_error *err)
{
  if (rc && err->code == TS_OK)
    ts_fail(err, rc, 0, "%s",
            rc == TS_ELIMIT ? "the value is too large" : "cannot write the value");
  return rc;
}

ts_err fmt__up_put_i64(stream_copyenc *e, const fmt_upload_column *col, int64_t v, ts_error *err)
{
  const stream_column *c = &col->c;
  switch (c->kind) {
  case STREAM_INT2:
    if (c->datatype && strcmp(c->datatype, "unsignedByte") == 0 && (v < 0 || v > 255))
      return ts_fail(err, TS_EINVAL, 0, "%lld is out of the range of an unsignedByte",
                     (long long)v);
    if (v < INT16_MIN || v > INT16_MAX)
      return ts_fail(err, TS_EINVAL, 0, "%lld is out of the range of a short", (long long)v);
    return enc(stream_copyenc_int2(e, (int16_t)v), err);
  case STREAM_INT4:
    if (v < INT32_MIN || v > INT32_MAX)
      return ts_fail(err, TS_EINVAL, 0, "%lld is out of the range of an int", (long long)v);
    return enc(stream_copyenc_int4(e, (int32_t)v), err);
  case STREAM_INT8:
    return enc(stream_copyenc_int8(e, v), err);
  case STREAM_BOOL:
    return enc(stream_copyenc_bool(e, v != 0), err);
  case STREAM_FLOAT4:
    return enc(stream_copyenc_float4(e, (float)v), err);
  case STREAM_FLOAT8:
    return enc(stream_copyenc_float8(e, (double)v), err);
  default:
    return ts_fail(err, TS_EINVAL, 0, "an integer where the column holds %s", col->copy_type);
  }
}

ts_err fmt__up_put_f64(stream_copyenc *e, const fmt_upload_column *col, double v, ts_error *err)
{
  switch (col->c.kind) {
  case STREAM_FLOAT4:
    return enc(stream_copyenc_float4(e, (float)v), err);
  case STREAM_FLOAT8:
    return enc(stream_copyenc_float8(e, v), err);
  default:
    if (v != floor(v) || !(v >= -9.2233720368547758e18 && v < 9.2233720368547758e18))
      return ts_fail(err, TS_EINVAL, 0, "%g is not an integer", v);
    return fmt__up_put_i64(e, col, (int64_t)v, err);
  }
}

/* One scalar element (or field) from its text; the text is not blank. */
static ts_err put_scalar(stream_copyenc *e, const fmt_upload_column *col, const fmt_up_null *nul,
                         const char *s, size_t n, ts_error *err)
{
  ts_err rc;
  switch (col->c.kind) {
  case STREAM_BOOL: {
    int b;
    rc = fmt__up_parse_bool(s, n, &b, err);
    if (rc)
      return rc;
    return enc(b < 0 ? stream_copyenc_null(e) : stream_copyenc_bool(e, b), err);
  }
  case STREAM_INT2:
  case STREAM_INT4:
  case STREAM_INT8: {
    int64_t v;
    rc = fmt__up_parse_i64(s, n, &v, err);
    if (rc)
      return rc;
    if (nul && nul->has_int && v == nul->int_null)
      return enc(stream_copyenc_null(e), err);
    return fmt__up_put_i64(e, col, v, err);
  }
  case STREAM_FLOAT4:
  case STREAM_FLOAT8: {
    double v;
    rc = fmt__up_parse_f64(s, n, &v, err);
    if (rc)
      return rc;
    return fmt__up_put_f64(e, col, v, err);
  }
  case STREAM_TIMESTAMP: {
    int64_t us;
    rc = fmt__up_parse_timestamp(s, n, &us, err);
    if (rc)
      return rc;
    return enc(stream_copyenc_timestamp(e, us, 0), err);
  }
  default:
    if (!ts_utf8_valid(s, n))
      return ts_fail(err, TS_EINVAL, 0, "the text is not UTF-8 (or holds a NUL byte)");
    return enc(stream_copyenc_text(e, s, n), err);
  }
}

static int sep(char c)
{
  return blank(c) || c == ',';
}

/* An array: elements separated by blanks or by commas (with blanks
 * around them), optionally bracketed. */
static ts_err put_array(stream_copyenc *e, const fmt_upload_column *col, const fmt_up_null *nul,
                        const char *s, size_t n, ts_error *err)
{
  int bit = col->c.datatype && strcmp(col->c.datatype, "bit") == 0;
  if (n >= 2 && ((s[0] == '[' && s[n - 1] == ']') || (s[0] == '{' && s[n - 1] == '}'))) {
    s++, n -= 2;
    trim(&s, &n);
  }
  int commas = memchr(s, ',', n) != NULL;
  ts_err rc = enc(stream_copyenc_array_begin(e, fmt__up_elem_oid(col->c.kind)), err);
  uint64_t count = 0;
  size_t i = 0;
  while (!rc && i < n) {
    while (i < n && blank(s[i]))
      i++;
    size_t b = i;
    while (i < n && !sep(s[i]))
      i++;
    size_t len = i - b;
    while (i < n && blank(s[i]))
      i++;
    int comma = i < n && s[i] == ',';
    if (comma)
      i++;
    if (len == 0 && !commas)
      break; /* trailing blanks */
    if (len == 0 || (len == 4 && strncmp(s + b, "null", 4) == 0)) {
      rc = enc(stream_copyenc_null(e), err);
      count++;
    } else if (bit && len > 1) {
      for (size_t k = b; !rc && k < b + len; k++, count++)
        rc = s[k] == '0' || s[k] == '1'
                 ? enc(stream_copyenc_bool(e, s[k] == '1'), err)
                 : ts_fail(err, TS_EINVAL, 0, "\"%.*s\" is not a bit array", SHOW(s + b, len));
    } else {
      rc = put_scalar(e, col, nul, s + b, len, err);
      count++;
    }
    if (comma && i >= n && !rc) { /* "1," ends with an empty element */
      rc = enc(stream_copyenc_null(e), err);
      count++;
    }
  }
  if (!rc)
    rc = fmt__up_geom_count(col, count, err);
  if (!rc)
    rc = enc(stream_copyenc_array_end(e), err);
  return rc;
}

ts_err fmt__up_put_text(stream_copyenc *e, const fmt_upload_column *col, const fmt_up_null *nul,
                        const char *s, size_t n, ts_error *err)
{
  /* Text keeps its blanks; only an empty one is NULL. */
  if (col->c.kind == STREAM_TEXT && !col->c.is_array)
    return n ? put_scalar(e, col, nul, s, n, err) : enc(stream_copyenc_null(e), err);
  trim(&s, &n);
  if (n == 0)
    return enc(stream_copyenc_null(e), err);
  if (col->c.is_array)
    return put_array(e, col, nul, s, n, err);
  return put_scalar(e, col, nul, s, n, err);
}
