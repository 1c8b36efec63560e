/* formats/upload_lines.c: lines and CSV records from an fd, the one
 * record reader of the CSV and ECSV upload readers (formats/upload_int.h). */
#include "formats/upload_int.h"

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

enum { TEXTIN_BUF = 64 << 10 };

ts_err fmt__textin_init(fmt_textin *t, int fd, size_t max, size_t max_fields)
{
  memset(t, 0, sizeof *t);
  t->fd = fd;
  t->max_fields = max_fields ? max_fields : FMT_UP_COLUMNS_MAX;
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

void fmt__textin_rewind(fmt_textin *t)
{
  t->off = 0;
  t->pos = t->len = 0;
  t->eof = 0;
  t->line = t->rec_line = 0;
  t->nfields = 0;
  ts_buf_reset(&t->rec);
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

/* Appends n bytes to the record: a field's bytes (field: checked against
 * max_value) or a terminator. */
static ts_err rec_add(fmt_textin *t, const void *p, size_t n, int field, ts_error *err)
{
  if (field && t->max_value && t->rec.len - t->fstart + n > t->max_value)
    return ts_fail(err, TS_ELIMIT, 0,
                   "line %llu, column %zu: a value is longer than the limit max_value_bytes (%zu)",
                   (unsigned long long)t->rec_line, t->nfields + 1, t->max_value);
  if (ts_buf_append(&t->rec, p, n))
    return ts_fail(err, TS_ELIMIT, 0, "line %llu: longer than the limit of %zu bytes",
                   (unsigned long long)t->line, t->rec.max);
  return TS_OK;
}

static ts_err rec_put(fmt_textin *t, char c, ts_error *err)
{
  return rec_add(t, &c, 1, 1, err);
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
  ts_err rc = rec_add(t, t->buf + t->pos, i - t->pos, 1, err);
  if (!rc)
    t->pos = i;
  return rc;
}

void fmt__textin_skip_bom(fmt_textin *t)
{
  if (peek_byte(t) != 0xEF || t->pos != 0 || t->off != t->len || t->len < 3)
    return; /* not at the start of the file, or shorter than a BOM */
  if (memcmp(t->buf + t->pos, "\xEF\xBB\xBF", 3) == 0)
    t->pos += 3;
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
  if (rec_add(t, "", 1, 0, err))
    return TS_ELIMIT;
  t->rec.len--;
  *line = t->rec.data;
  *len = t->rec.len;
  *got = 1;
  return TS_OK;
}

/* Room in t->fields for field number i (0-based). */
static ts_err field_room(fmt_textin *t, size_t i, ts_error *err)
{
  if (i == t->fields_cap) {
    size_t n = t->fields_cap ? t->fields_cap * 2 : 16;
    fmt_field *f = realloc(t->fields, n * sizeof *f);
    if (!f)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    t->fields = f;
    t->fields_cap = n;
  }
  return TS_OK;
}

/* Field starts are kept as offsets while the record grows (the buffer
 * may move), then turned into pointers. */
static ts_err field_end(fmt_textin *t, int quoted, ts_error *err)
{
  if (t->nfields == t->max_fields)
    return ts_fail(err, TS_ELIMIT, 0, "line %llu: more than %zu columns (limit max_columns)",
                   (unsigned long long)t->rec_line, t->max_fields);
  if (field_room(t, t->nfields, err))
    return TS_ENOMEM;
  t->fields[t->nfields].p = (const char *)(uintptr_t)t->fstart;
  t->fields[t->nfields].len = t->rec.len - t->fstart;
  t->fields[t->nfields].quoted = quoted;
  t->nfields++;
  ts_err rc = rec_add(t, "", 1, 0, err);
  t->fstart = t->rec.len;
  return rc;
}

/* 1 when c, just read, ends a line: LF, CRLF (the LF is then next), or
 * a lone CR when t->cr_ends. */
static int line_end(fmt_textin *t, int c)
{
  return c == '\n' || (c == '\r' && (t->cr_ends || peek_byte(t) == '\n'));
}

/* The common record read in place: one that ends in the read buffer
 * (LF or CRLF), with no quote and no other CR in it, within the limits,
 * its first byte just read. Its fields are cut in the buffer itself (each
 * delimiter and the line end become NULs) and t->rec is not used, so no
 * byte is copied. Its bytes are scanned four times, each by memchr
 * (vectorised): for the line end, a quote, a CR, then field by field for
 * the delimiter. 1 when read so; 0 when the record needs the
 * byte-by-byte reader (nothing consumed or changed); TS_ENOMEM as -1. */
static int record_in_place(fmt_textin *t, char delim, ts_error *err)
{
  uint8_t *b = t->buf + t->pos - 1, *stop = memchr(b, '\n', t->len - (t->pos - 1)), *cr;
  size_t skip = 1;
  if (!stop || memchr(b, '"', (size_t)(stop - b)))
    return 0;
  cr = memchr(b, '\r', (size_t)(stop - b));
  if (cr && cr + 1 != stop)
    return 0; /* a lone CR: a line end, or text */
  if (cr)
    stop = cr, skip = 2;
  if ((size_t)(stop - b) + 1 > t->rec.max)
    return 0;    /* as the fields with their NULs in t->rec: over its cap */
  size_t nf = 0; /* t->nfields only once the record is taken */
  for (uint8_t *f = b;;) {
    uint8_t *q = memchr(f, delim, (size_t)(stop - f));
    size_t len = (size_t)((q ? q : stop) - f);
    if (nf == t->max_fields || (t->max_value && len > t->max_value))
      return 0; /* the byte-by-byte reader says which limit */
    if (field_room(t, nf, err))
      return -1;
    t->fields[nf++] = (fmt_field){(const char *)f, len, 0};
    if (!q)
      break;
    f = q + 1;
  }
  t->nfields = nf;
  for (size_t i = 0; i < nf; i++)
    ((uint8_t *)t->fields[i].p)[t->fields[i].len] = 0;
  t->pos = (size_t)(stop - t->buf) + skip;
  return 1;
}

ts_err fmt__textin_record(fmt_textin *t, char delim, int *got, ts_error *err)
{
  ts_err rc = TS_OK;
  int c;
  *got = 0;
  t->nfields = 0;
  t->fstart = 0;
  ts_buf_reset(&t->rec);
  /* blank lines (and, space-delimited, lines of blanks) are skipped */
  for (;;) {
    c = next_byte(t);
    if (c == -2)
      return read_failed(t, err);
    if (c == -1)
      return TS_OK;
    if (c == '\r' && peek_byte(t) == '\n')
      continue;
    if (line_end(t, c)) {
      t->line++;
      continue;
    }
    if (delim == ' ' && (c == ' ' || c == '\t'))
      continue;
    break;
  }
  t->rec_line = ++t->line;
  if (delim != ' ') {
    int in_place = record_in_place(t, delim, err);
    if (in_place < 0)
      return TS_ENOMEM;
    if (in_place) {
      *got = 1;
      return TS_OK;
    }
  }
  int quoted = 0, in_quotes = 0, after_quote = 0;
  for (;; c = next_byte(t)) {
    if (c == -2)
      return read_failed(t, err);
    if (in_quotes) {
      if (c == -1)
        return ts_fail(err, TS_EINVAL, 0,
                       "line %llu: a quoted field is not closed before the end of the file",
                       (unsigned long long)t->rec_line);
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
    int end_line = c == -1 || line_end(t, c);
    int sep = c == delim || (delim == ' ' && c == '\t');
    if (end_line || sep) {
      if (c == '\r' && peek_byte(t) == '\n')
        next_byte(t);
      /* space-delimited: a run of blanks is one separator, and blanks at
       * the end of the line end no field */
      if (delim != ' ' || quoted || t->rec.len > t->fstart) {
        rc = field_end(t, quoted, err);
        if (rc)
          return rc;
      }
      quoted = after_quote = 0;
      if (end_line)
        break;
      continue;
    }
    if (after_quote) {
      if (!t->strict_quote && (delim == ' ' || c == ' '))
        continue; /* blanks after the closing quote */
      return ts_fail(err, TS_EINVAL, 0, "line %llu, column %zu: '%c' after a closing quote",
                     (unsigned long long)t->line, t->nfields + 1, c >= 0x20 && c < 0x7f ? c : '?');
    }
    if (c == '"' && t->rec.len == t->fstart) {
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
