/* formats/upload.c: the entry points of the upload readers: which format
 * a file is in, and the one call that reads any of them. */
#include "formats/upload_int.h"

#include <strings.h>
#include <unistd.h>

static int has_prefix(const uint8_t *p, size_t n, const char *s)
{
  size_t l = strlen(s);
  return n >= l && memcmp(p, s, l) == 0;
}

/* Is the element name at p VOTABLE (with or without a namespace prefix)? */
static int root_is_votable(const uint8_t *p, size_t n)
{
  size_t i = 0;
  while (i < n && p[i] != '>' && p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\n' &&
         p[i] != '/' && p[i] != '[')
    i++;
  const uint8_t *name = p;
  size_t len = i;
  const uint8_t *colon = memchr(name, ':', len);
  if (colon) {
    len -= (size_t)(colon + 1 - name);
    name = colon + 1;
  }
  return len == 7 && memcmp(name, "VOTABLE", 7) == 0;
}

/* After a BOM, blanks, an XML declaration, comments and processing
 * instructions: is the first element VOTABLE (with or without a
 * namespace prefix)? */
static int is_votable(const uint8_t *p, size_t n)
{
  size_t i = 0;
  if (has_prefix(p, n, "\xEF\xBB\xBF"))
    i = 3;
  for (;;) {
    while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
      i++;
    if (i >= n || p[i] != '<')
      return 0;
    if (has_prefix(p + i, n - i, "<!DOCTYPE")) {
      /* Its name is the root's; an internal subset may follow, with '>'
       * inside, so the name decides (the reader refuses DOCTYPEs). */
      i += 9;
      while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == '\r' || p[i] == '\n'))
        i++;
      return root_is_votable(p + i, n - i);
    }
    if (i + 1 < n && (p[i + 1] == '?' || p[i + 1] == '!')) {
      const char *close = p[i + 1] == '?' ? "?>" : ">";
      if (has_prefix(p + i, n - i, "<!--"))
        close = "-->";
      size_t k = i + 2, cl = strlen(close);
      while (k + cl <= n && memcmp(p + k, close, cl) != 0)
        k++;
      if (k + cl > n)
        return 0;
      i = k + cl;
      continue;
    }
    return root_is_votable(p + i + 1, n - i - 1);
  }
}

static int ends_with(const char *s, const char *suffix)
{
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcasecmp(s + a - b, suffix) == 0;
}

fmt_upload_format fmt_upload_sniff(const uint8_t *head, size_t n, const char *content_type,
                                   const char *filename)
{
  if (has_prefix(head, n, "SIMPLE  ="))
    return FMT_UPLOAD_FITS;
  if (is_votable(head, n))
    return FMT_UPLOAD_VOTABLE;
  if (has_prefix(head, n, "# %ECSV"))
    return FMT_UPLOAD_ECSV;
  /* Other XML (an HTML error page, a VOTable cut short) goes to the
   * VOTable reader, whose message says what it is, rather than become a
   * one-column CSV table. */
  size_t i = has_prefix(head, n, "\xEF\xBB\xBF") ? 3 : 0;
  while (i < n && (head[i] == ' ' || head[i] == '\t' || head[i] == '\r' || head[i] == '\n'))
    i++;
  if (i < n && head[i] == '<')
    return FMT_UPLOAD_VOTABLE;
  /* The bytes say nothing certain: text that could be CSV, or a head too
   * short to tell. The client's labels decide, then CSV. */
  const char *ct = content_type ? content_type : "";
  if (strncasecmp(ct, "application/x-votable+xml", 25) == 0 ||
      strncasecmp(ct, "text/xml", 8) == 0 || strncasecmp(ct, "application/xml", 15) == 0)
    return FMT_UPLOAD_VOTABLE;
  if (strncasecmp(ct, "application/fits", 16) == 0 || strncasecmp(ct, "image/fits", 10) == 0)
    return FMT_UPLOAD_FITS;
  if (strncasecmp(ct, "text/x-ecsv", 11) == 0)
    return FMT_UPLOAD_ECSV;
  if (filename) {
    if (ends_with(filename, ".vot") || ends_with(filename, ".xml") ||
        ends_with(filename, ".votable"))
      return FMT_UPLOAD_VOTABLE;
    if (ends_with(filename, ".fits") || ends_with(filename, ".fit") || ends_with(filename, ".fts"))
      return FMT_UPLOAD_FITS;
    if (ends_with(filename, ".ecsv"))
      return FMT_UPLOAD_ECSV;
  }
  return FMT_UPLOAD_CSV;
}

int64_t fmt__up_be_int(const uint8_t *p, int size)
{
  switch (size) {
  case 1:
    return p[0];
  case 2:
    return (int16_t)stream_be16(p);
  case 4:
    return (int32_t)stream_be32(p);
  default:
    return (int64_t)stream_be64(p);
  }
}

double fmt__up_be_float(const uint8_t *p, int size)
{
  if (size == 4) {
    uint32_t u = stream_be32(p);
    float x;
    memcpy(&x, &u, 4);
    return x;
  }
  uint64_t u = stream_be64(p);
  double d;
  memcpy(&d, &u, 8);
  return d;
}

ts_err fmt__up_begin(fmt_upload_table_fn on_table, void *ud, const fmt_upload_table *t,
                     stream_copyenc *e, stream_out *out, ts_error *err)
{
  memset(e, 0, sizeof *e);
  ts_err rc = on_table(ud, t, err);
  if (rc) {
    if (err->code == TS_OK)
      ts_fail(err, rc, 0, "the upload table was refused");
    return rc;
  }
  rc = stream_copyenc_init(e, out, t->ncols);
  if (rc && err->code == TS_OK)
    ts_fail(err, rc, 0, "cannot begin writing the rows of %zu columns (%s)", t->ncols,
            ts_err_text(rc));
  return rc;
}

ts_err fmt__up_end(stream_copyenc *e, ts_err rc, uint64_t *rows, ts_error *err)
{
  if (!rc)
    rc = stream_copyenc_finish(e);
  if (rc && err->code == TS_OK)
    ts_fail(err, rc, 0, "cannot write the rows (%s)", ts_err_text(rc));
  *rows = e->rows;
  return rc;
}

ts_err fmt_upload_read(int fd, fmt_upload_format f, const fmt_upload_limits *lim, ts_arena *a,
                       fmt_upload_table_fn on_table, void *ud, stream_out *out, uint64_t *rows,
                       ts_error *err)
{
  fmt_upload_limits l = lim ? *lim : (fmt_upload_limits){0};
  if (!l.max_value_bytes)
    l.max_value_bytes = FMT_UP_VALUE_MAX_DEFAULT;
  if (!l.max_columns || l.max_columns > FMT_UP_COLUMNS_MAX)
    l.max_columns = FMT_UP_COLUMNS_MAX;
  *rows = 0;
  ts_error_clear(err);
  if (f == FMT_UPLOAD_AUTO) {
    uint8_t head[512];
    ssize_t n = pread(fd, head, sizeof head, 0);
    if (n < 0)
      return ts_fail(err, TS_EIO, 0, "cannot read the upload");
    f = fmt_upload_sniff(head, (size_t)n, NULL, NULL);
  }
  switch (f) {
  case FMT_UPLOAD_VOTABLE:
    return fmt__upload_votable(fd, &l, a, on_table, ud, out, rows, err);
  case FMT_UPLOAD_CSV:
    return fmt__upload_csv(fd, &l, a, on_table, ud, out, rows, err);
  case FMT_UPLOAD_FITS:
    return fmt__upload_fits(fd, &l, a, on_table, ud, out, rows, err);
  case FMT_UPLOAD_ECSV:
    return fmt__upload_ecsv(fd, &l, a, on_table, ud, out, rows, err);
  default:
    return ts_fail(err, TS_EINVAL, 0, "unknown upload format");
  }
}
