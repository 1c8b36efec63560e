/* formats/upload_text.c: lines, CSV records and values from text, for the
 * line-oriented upload readers (formats/upload_int.h). */
#include "formats/upload_int.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <unistd.h>

enum { TEXTIN_BUF = 64 << 10 };

size_t fmt__upload_value_max(const fmt_upload_limits *lim)
{
  return lim && lim->max_value_bytes ? lim->max_value_bytes : FMT_UPLOAD_VALUE_MAX;
}

uint32_t fmt__upload_elem_oid(stream_kind k)
{
  switch (k) {
  case STREAM_BOOL:
    return 16;
  case STREAM_INT2:
    return 21;
  case STREAM_INT4:
    return 23;
  case STREAM_INT8:
    return 20;
  case STREAM_FLOAT4:
    return 700;
  default:
    return 701;
  }
}

ts_err fmt__textin_init(fmt_textin *t, int fd, size_t max, size_t max_fields)
{
  memset(t, 0, sizeof *t);
  t->fd = fd;
  t->max_fields = max_fields ? max_fields : 1600;
  ts_buf_init(&t->rec, max);
  t->buf = malloc(TEXTIN_BUF);
  t->cap = TEXTIN_BUF;
  return t->buf ? TS_OK : TS_ENOMEM;
}

void fmt__textin_free(fmt_textin *t)
{
  free(t->buf);
  free(t->fields);
  ts_buf_free(&t->rec);
  t->buf = NULL;
  t->fields = NULL;
}

/* The next byte, -1 at the end, -2 on a read error. */
static int next_byte(fmt_textin *t)
{
  if (t->pos == t->len) {
    if (t->eof)
      return -1;
    ssize_t n;
    do
      n = pread(t->fd, t->buf, t->cap, (off_t)t->off);
    while (n < 0 && errno == EINTR);
    if (n < 0)
      return -2;
    t->pos = 0;
    t->len = (size_t)n;
    t->off += (uint64_t)n;
    if (n == 0) {
      t->eof = 1;
      return -1;
    }
  }
  return t->buf[t->pos++];
}

static int peek_byte(fmt_textin *t)
{
  int c = next_byte(t);
  if (c >= 0)
    t->pos--;
  return c;
}

int fmt__textin_peek(fmt_textin *t, int c)
{
  return peek_byte(t) == c;
}

static ts_err rec_put(fmt_textin *t, char c, ts_error *err)
{
  if (ts_buf_append(&t->rec, &c, 1))
    return ts_fail(err, TS_ELIMIT, 0, "line %llu: longer than the limit of %zu bytes",
                   (unsigned long long)t->line, t->rec.max);
  return TS_OK;
}

/* Appends the bytes of the read buffer up to the next one of the stop
 * bytes (-1: none): most of a record goes in one append, not one per byte. */
static ts_err take_run(fmt_textin *t, int s1, int s2, int s3, int s4, ts_error *err)
{
  size_t i = t->pos;
  while (i < t->len) {
    int b = t->buf[i];
    if (b == s1 || b == s2 || b == s3 || b == s4)
      break;
    i++;
  }
  if (i == t->pos)
    return TS_OK;
  if (ts_buf_append(&t->rec, t->buf + t->pos, i - t->pos))
    return ts_fail(err, TS_ELIMIT, 0, "line %llu: longer than the limit of %zu bytes",
                   (unsigned long long)t->line, t->rec.max);
  t->pos = i;
  return TS_OK;
}

static ts_err read_failed(fmt_textin *t, ts_error *err)
{
  return ts_fail(err, TS_EIO, 0, "line %llu: read error: %s", (unsigned long long)t->line,
                 strerror(errno));
}

ts_err fmt__textin_line(fmt_textin *t, const char **line, size_t *len, int *got, ts_error *err)
{
  ts_buf_reset(&t->rec);
  *got = 0;
  int c = next_byte(t);
  if (c == -2)
    return read_failed(t, err);
  if (c == -1)
    return TS_OK;
  t->line++;
  for (; c >= 0 && c != '\n'; c = next_byte(t)) {
    ts_err rc = rec_put(t, (char)c, err);
    if (!rc)
      rc = take_run(t, '\n', -1, -1, -1, err);
    if (rc)
      return rc;
  }
  if (c == -2)
    return read_failed(t, err);
  if (t->rec.len && t->rec.data[t->rec.len - 1] == '\r')
    t->rec.len--;
  if (rec_put(t, 0, err))
    return TS_ELIMIT;
  t->rec.len--;
  *line = t->rec.data;
  *len = t->rec.len;
  *got = 1;
  return TS_OK;
}

/* Field starts are kept as offsets while the record grows (the buffer
 * may move), then turned into pointers. */
static ts_err field_end(fmt_textin *t, size_t start, int quoted, ts_error *err)
{
  if (t->nfields == t->max_fields)
    return ts_fail(err, TS_ELIMIT, 0, "line %llu: more than %zu fields",
                   (unsigned long long)t->line, t->max_fields);
  if (t->nfields == t->fields_cap) {
    size_t n = t->fields_cap ? t->fields_cap * 2 : 16;
    fmt_field *f = realloc(t->fields, n * sizeof *f);
    if (!f)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    t->fields = f;
    t->fields_cap = n;
  }
  t->fields[t->nfields].p = (const char *)(uintptr_t)start;
  t->fields[t->nfields].len = t->rec.len - start;
  t->fields[t->nfields].quoted = quoted;
  t->nfields++;
  return rec_put(t, 0, err);
}

ts_err fmt__textin_record(fmt_textin *t, char delim, int *got, ts_error *err)
{
  ts_err rc = TS_OK;
  int c;
  *got = 0;
  t->nfields = 0;
  ts_buf_reset(&t->rec);
  /* blank lines (and, space-delimited, lines of blanks) are skipped */
  for (;;) {
    c = next_byte(t);
    if (c == -2)
      return read_failed(t, err);
    if (c == -1)
      return TS_OK;
    if (c == '\n') {
      t->line++;
      continue;
    }
    if (c == '\r' && peek_byte(t) == '\n')
      continue;
    if (delim == ' ' && (c == ' ' || c == '\t'))
      continue;
    break;
  }
  t->line++;
  uint64_t first_line = t->line;
  size_t start = 0;
  int quoted = 0, in_quotes = 0, after_quote = 0;
  for (;; c = next_byte(t)) {
    if (c == -2)
      return read_failed(t, err);
    if (in_quotes) {
      if (c == -1)
        return ts_fail(err, TS_EINVAL, 0, "line %llu: quoted field not closed at the end",
                       (unsigned long long)first_line);
      if (c == '"') {
        if (peek_byte(t) == '"') {
          next_byte(t);
          rc = rec_put(t, '"', err);
        } else {
          in_quotes = 0;
          after_quote = 1;
        }
      } else {
        if (c == '\n')
          t->line++;
        rc = rec_put(t, (char)c, err);
        if (!rc)
          rc = take_run(t, '"', '\n', -1, -1, err);
      }
      if (rc)
        return rc;
      continue;
    }
    int end_line = c == -1 || c == '\n' || (c == '\r' && peek_byte(t) == '\n');
    int sep = c == delim || (delim == ' ' && c == '\t');
    if (end_line || sep) {
      if (c == '\r')
        next_byte(t);
      /* space-delimited: a run of blanks is one separator, and blanks at
       * the end of the line end no field */
      if (delim != ' ' || quoted || t->rec.len > start) {
        rc = field_end(t, start, quoted, err);
        if (rc)
          return rc;
      }
      start = t->rec.len;
      quoted = after_quote = 0;
      if (end_line)
        break;
      continue;
    }
    if (after_quote) {
      if (delim == ' ' || c == ' ')
        continue; /* blanks after the closing quote */
      return ts_fail(err, TS_EINVAL, 0, "line %llu: text after a closing quote",
                     (unsigned long long)t->line);
    }
    if (c == '"' && t->rec.len == start) {
      in_quotes = quoted = 1;
      continue;
    }
    rc = rec_put(t, (char)c, err);
    if (!rc)
      rc = take_run(t, delim, '\n', '\r', delim == ' ' ? '\t' : -1, err);
    if (rc)
      return rc;
  }
  for (size_t i = 0; i < t->nfields; i++)
    t->fields[i].p = t->rec.data + (uintptr_t)t->fields[i].p;
  *got = 1;
  return TS_OK;
}

/* ---- values ------------------------------------------------------------ */

static const char *skip_blanks(const char *s)
{
  while (*s == ' ' || *s == '\t')
    s++;
  return s;
}

static int only_blanks(const char *s)
{
  return *skip_blanks(s) == 0;
}

ts_err fmt__text_bool(const char *s, int *v)
{
  static const char *const yes[] = {"true", "t", "1", "yes", "y"};
  static const char *const no[] = {"false", "f", "0", "no", "n"};
  char w[8];
  size_t n = 0;
  s = skip_blanks(s);
  while (s[n] && s[n] != ' ' && n < sizeof w - 1) {
    w[n] = s[n];
    n++;
  }
  w[n] = 0;
  if (!only_blanks(s + n))
    return TS_EINVAL;
  for (size_t i = 0; i < TS_ARRAY_LEN(yes); i++) {
    if (ts_strcaseeq(w, yes[i])) {
      *v = 1;
      return TS_OK;
    }
    if (ts_strcaseeq(w, no[i])) {
      *v = 0;
      return TS_OK;
    }
  }
  return TS_EINVAL;
}

ts_err fmt__text_int(const char *s, int64_t min, int64_t max, int64_t *v)
{
  int64_t x;
  if (ts_parse_int64(s, &x) || x < min || x > max)
    return TS_EINVAL;
  *v = x;
  return TS_OK;
}

ts_err fmt__text_uint(const char *s, uint64_t *v)
{
  s = skip_blanks(s);
  if (*s == '+')
    s++;
  if (*s < '0' || *s > '9')
    return TS_EINVAL;
  uint64_t x = 0;
  for (; *s >= '0' && *s <= '9'; s++)
    if (__builtin_mul_overflow(x, 10, &x) || __builtin_add_overflow(x, (uint64_t)(*s - '0'), &x))
      return TS_EINVAL;
  if (!only_blanks(s))
    return TS_EINVAL;
  *v = x;
  return TS_OK;
}

ts_err fmt__text_double(const char *s, double *v)
{
  s = skip_blanks(s);
  const char *p = s + (*s == '+' || *s == '-');
  int neg = *s == '-';
  /* strtod takes hex, "infinity" and "nan(...)": only plain words here */
  static const char *const words[] = {"nan", "inf", "infinity"};
  for (size_t i = 0; i < TS_ARRAY_LEN(words); i++) {
    size_t n = strlen(words[i]);
    if (ts_strncaseeq(p, words[i], n) && only_blanks(p + n)) {
      *v = i == 0 ? NAN : neg ? -INFINITY : INFINITY;
      return TS_OK;
    }
  }
  if (!((*p >= '0' && *p <= '9') || (*p == '.' && p[1] >= '0' && p[1] <= '9')))
    return TS_EINVAL;
  for (const char *q = p; *q && *q != ' '; q++)
    if (!strchr("0123456789.eE+-", *q))
      return TS_EINVAL;
  char *end;
  errno = 0;
  double d = strtod(s, &end);
  if (end == s || !only_blanks(end))
    return TS_EINVAL;
  *v = d; /* out of range: ±HUGE_VAL or a denormal, as PostgreSQL would */
  return TS_OK;
}

static int digits(const char *s, int n, int *v)
{
  int x = 0;
  for (int i = 0; i < n; i++) {
    if (s[i] < '0' || s[i] > '9')
      return -1;
    x = x * 10 + (s[i] - '0');
  }
  *v = x;
  return 0;
}

/* Days from 2000-01-01 to y-m-d (proleptic Gregorian). */
static int64_t days_from_2000(int64_t y, int m, int d)
{
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468 - 10957; /* 1970-01-01, then 2000-01-01 */
}

ts_err fmt__text_timestamp(const char *s, int64_t *usec)
{
  static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int y, mo, d, h = 0, mi = 0, sec = 0;
  int64_t frac = 0;
  s = skip_blanks(s);
  if (digits(s, 4, &y) || s[4] != '-' || digits(s + 5, 2, &mo) || s[7] != '-' ||
      digits(s + 8, 2, &d))
    return TS_EINVAL;
  s += 10;
  if (*s == 'T' || (*s == ' ' && s[1] >= '0' && s[1] <= '9')) {
    if (digits(s + 1, 2, &h) || s[3] != ':' || digits(s + 4, 2, &mi))
      return TS_EINVAL;
    s += 6;
    if (*s == ':') {
      if (digits(s + 1, 2, &sec))
        return TS_EINVAL;
      s += 3;
      if (*s == '.') {
        int n = 0;
        for (s++; *s >= '0' && *s <= '9'; s++, n++)
          if (n < 6)
            frac = frac * 10 + (*s - '0');
        if (n == 0)
          return TS_EINVAL;
        for (; n < 6; n++)
          frac *= 10;
      }
    }
  }
  if (*s == 'Z')
    s++;
  int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (!only_blanks(s) || mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] ||
      (mo == 2 && d == 29 && !leap) || h > 23 || mi > 59 || sec > 60)
    return TS_EINVAL;
  *usec = ((days_from_2000(y, mo, d) * 24 + h) * 60 + mi) * 60000000LL + sec * 1000000LL + frac;
  return TS_OK;
}

ts_err fmt__text_put(stream_copyenc *e, stream_kind k, const char *s, size_t n)
{
  int64_t i;
  double d;
  int b;
  switch (k) {
  case STREAM_BOOL:
    return fmt__text_bool(s, &b) ? TS_EINVAL : stream_copyenc_bool(e, b);
  case STREAM_INT2:
    return fmt__text_int(s, INT16_MIN, INT16_MAX, &i) ? TS_EINVAL
                                                      : stream_copyenc_int2(e, (int16_t)i);
  case STREAM_INT4:
    return fmt__text_int(s, INT32_MIN, INT32_MAX, &i) ? TS_EINVAL
                                                      : stream_copyenc_int4(e, (int32_t)i);
  case STREAM_INT8:
    return fmt__text_int(s, INT64_MIN, INT64_MAX, &i) ? TS_EINVAL : stream_copyenc_int8(e, i);
  case STREAM_FLOAT4:
    return fmt__text_double(s, &d) ? TS_EINVAL : stream_copyenc_float4(e, (float)d);
  case STREAM_FLOAT8:
    return fmt__text_double(s, &d) ? TS_EINVAL : stream_copyenc_float8(e, d);
  case STREAM_TIMESTAMP:
    return fmt__text_timestamp(s, &i) ? TS_EINVAL : stream_copyenc_timestamp(e, i, 0);
  case STREAM_TEXT:
    return ts_utf8_valid(s, n) ? stream_copyenc_text(e, s, n) : TS_EINVAL;
  default:
    return TS_EINVAL;
  }
}
