/* Growable buffer with a mandatory maximum, plus small string helpers. */
#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ts_buf_init(ts_buf *b, size_t max)
{
  b->data = NULL;
  b->len = b->cap = 0;
  b->max = max < SIZE_MAX / 2 ? max : SIZE_MAX / 2;
}

ts_err ts_buf_reserve(ts_buf *b, size_t extra)
{
  if (extra > b->max || b->len > b->max - extra)
    return TS_ELIMIT;
  size_t need = b->len + extra + 1;
  if (need <= b->cap)
    return TS_OK;
  size_t ncap = b->cap ? b->cap : 256;
  while (ncap < need)
    ncap *= 2;
  if (ncap > b->max + 1)
    ncap = b->max + 1;
  char *p = realloc(b->data, ncap);
  if (!p)
    return TS_ENOMEM;
  b->data = p;
  b->cap = ncap;
  return TS_OK;
}

ts_err ts_buf_append(ts_buf *b, const void *p, size_t n)
{
  ts_err rc = ts_buf_reserve(b, n);
  if (rc)
    return rc;
  if (n)
    memcpy(b->data + b->len, p, n);
  b->len += n;
  b->data[b->len] = '\0';
  return TS_OK;
}

ts_err ts_buf_puts(ts_buf *b, const char *s)
{
  return ts_buf_append(b, s, strlen(s));
}

ts_err ts_buf_vprintf(ts_buf *b, const char *fmt, va_list ap)
{
  va_list ap2;
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap2);
  va_end(ap2);
  if (n < 0)
    return TS_EINTERNAL;
  ts_err rc = ts_buf_reserve(b, (size_t)n);
  if (rc)
    return rc;
  vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
  b->len += (size_t)n;
  return TS_OK;
}

ts_err ts_buf_printf(ts_buf *b, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  ts_err rc = ts_buf_vprintf(b, fmt, ap);
  va_end(ap);
  return rc;
}

size_t ts_utf8_seq(const unsigned char *p, size_t n)
{
  unsigned c = p[0];
  size_t k;
  unsigned cp;
  if (c < 0x80)
    return 1;
  if (c >= 0xC2 && c <= 0xDF) {
    k = 2;
    cp = c & 0x1F;
  } else if (c >= 0xE0 && c <= 0xEF) {
    k = 3;
    cp = c & 0x0F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    k = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (n < k)
    return 0;
  for (size_t i = 1; i < k; i++) {
    if ((p[i] & 0xC0) != 0x80)
      return 0;
    cp = (cp << 6) | (p[i] & 0x3F);
  }
  if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF) || cp == 0xFFFE || cp == 0xFFFF)
    return 0;
  return k;
}

int ts_utf8_valid(const char *p, size_t n)
{
  const unsigned char *s = (const unsigned char *)p;
  size_t i = 0;
  while (i < n) {
    if (s[i] < 0x80) { /* ASCII, the most of any text: no call */
      if (s[i] == 0)
        return 0;
      i++;
      continue;
    }
    size_t k = ts_utf8_seq(s + i, n - i);
    if (!k)
      return 0;
    i += k;
  }
  return 1;
}

ts_err ts_buf_xml(ts_buf *b, const char *str, size_t n)
{
  const unsigned char *s = (const unsigned char *)str;
  size_t i = 0, run = 0;
  ts_err rc = TS_OK;
  while (i < n && !rc) {
    unsigned char c = s[i];
    const char *rep = NULL;
    size_t k = 1;
    switch (c) {
    case '&':
      rep = "&amp;";
      break;
    case '<':
      rep = "&lt;";
      break;
    case '>':
      rep = "&gt;";
      break;
    case '"':
      rep = "&quot;";
      break;
    case '\'':
      rep = "&apos;";
      break;
    case '\t':
    case '\n':
    case '\r':
      break;
    default:
      if (c < 0x20)
        rep = "\xEF\xBF\xBD";
      else if (c >= 0x80) {
        k = ts_utf8_seq(s + i, n - i);
        if (!k) {
          rep = "\xEF\xBF\xBD";
          k = 1;
        }
      }
    }
    if (rep) {
      rc = ts_buf_append(b, s + run, i - run);
      if (!rc)
        rc = ts_buf_puts(b, rep);
      i += k;
      run = i;
    } else {
      i += k;
    }
  }
  if (!rc)
    rc = ts_buf_append(b, s + run, i - run);
  return rc;
}

void ts_buf_reset(ts_buf *b)
{
  b->len = 0;
  if (b->data)
    b->data[0] = '\0';
}

void ts_buf_free(ts_buf *b)
{
  free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

char *ts_buf_steal(ts_buf *b, size_t *len)
{
  char *p = b->data;
  if (!p)
    p = calloc(1, 1);
  if (len)
    *len = b->len;
  b->data = NULL;
  b->len = b->cap = 0;
  return p;
}

int ts_strcaseeq(const char *a, const char *b)
{
  for (; *a && *b; a++, b++)
    if (tolower((unsigned char)*a) != tolower((unsigned char)*b))
      return 0;
  return *a == *b;
}

int ts_strncaseeq(const char *a, const char *b, size_t n)
{
  for (size_t i = 0; i < n; i++) {
    if (tolower((unsigned char)a[i]) != tolower((unsigned char)b[i]))
      return 0;
    if (!a[i])
      return 1;
  }
  return 1;
}

ts_err ts_parse_int64(const char *s, int64_t *out)
{
  char *end;
  if (!s)
    return TS_EINVAL;
  while (isspace((unsigned char)*s))
    s++;
  if (!*s || !(isdigit((unsigned char)*s) || *s == '-' || *s == '+'))
    return TS_EINVAL;
  errno = 0;
  long long v = strtoll(s, &end, 10);
  if (errno || end == s)
    return TS_EINVAL;
  while (isspace((unsigned char)*end))
    end++;
  if (*end)
    return TS_EINVAL;
  *out = v;
  return TS_OK;
}
