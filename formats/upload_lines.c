/* formats/upload_lines.c: lines and CSV records from an fd, for the
 * line-oriented upload readers (formats/upload_rd.h). */
#include "formats/upload_rd.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

enum { TEXTIN_BUF = 64 << 10 };

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
