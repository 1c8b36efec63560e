/* http/multipart.c: a streaming multipart/form-data parser (RFC 7578 over
 * RFC 2046), without sockets or files.
 *
 * The body comes in whatever pieces the server read. A state machine looks
 * for the delimiter "\n--BOUNDARY" one byte at a time (with memchr between
 * line feeds): the bytes of a partial match are held back and given to the
 * part's content only once they turn out not to be a delimiter, and so is a
 * CR just before one, since the CR of "\r\n--BOUNDARY" belongs to the
 * delimiter. Part headers are collected into one buffer bounded by
 * max_header_bytes. Memory is that buffer plus a decoding buffer twice its
 * size, whatever the body; there is no recursion. What a part is for
 * (parameter, spooled file) is the callbacks' business (body.c). */
#include "http/http_int.h"

#include <stdlib.h>
#include <string.h>

enum {
  MP_PREAMBLE = 0, /* before the first delimiter: ignored */
  MP_BOUND_TAIL,   /* a delimiter matched: "--", padding, or a line end follows */
  MP_DASH2,        /* "--BOUNDARY-" seen */
  MP_PAD,          /* transport padding (blanks) after the boundary */
  MP_LF,           /* CR after the boundary line: LF must follow */
  MP_HEADERS,      /* a part's header lines */
  MP_DATA,         /* a part's content */
  MP_EPILOGUE,     /* after the close delimiter: ignored */
  MP_FAILED
};

int http__is_multipart_type(const char *ct)
{
  static const char mp[] = "multipart/form-data";
  if (!ct)
    return 0;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  if (!ts_strncaseeq(ct, mp, sizeof mp - 1))
    return 0;
  ct += sizeof mp - 1;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  return *ct == '\0' || *ct == ';';
}

static int is_tchar(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* RFC 2046 bchars: DIGIT / ALPHA / "'()+_,-./:=?" and space (not last). */
/* RFC 2046's bchars, and '<' '>', which STILTS (taplint, TOPCAT) puts in
 * its boundary: the boundary is matched literally, so they do no harm. */
static int is_bchar(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && strchr("'()+_,-./:=? <>", c) != NULL);
}

static const char *skip_ws(const char *s, const char *end)
{
  while (s < end && (*s == ' ' || *s == '\t'))
    s++;
  return s;
}

/* Reads "name =" of a header parameter at *s (after its ';' and blanks):
 * the name's start and length, *s just past the blanks after '='. NULL
 * when there is no token name followed by '='. */
static const char *param_name(const char **s, const char *end, size_t *nlen)
{
  const char *name = *s, *p = *s;
  while (p < end && is_tchar((unsigned char)*p))
    p++;
  *nlen = (size_t)(p - name);
  p = skip_ws(p, end);
  if (*nlen == 0 || p >= end || *p != '=')
    return NULL;
  *s = skip_ws(p + 1, end);
  return name;
}

/* Reads a token or a quoted-string value at *s (backslash escapes one
 * character) into out (room for end - *s bytes), NUL-terminated. 0 on
 * success; -1 when malformed (unterminated quote, empty token, NUL). */
static int read_value(const char **s, const char *end, char *out, size_t *outlen)
{
  const char *p = *s;
  size_t n = 0;
  if (p < end && *p == '"') {
    for (p++; p < end && *p != '"'; p++) {
      if (*p == '\\' && p + 1 < end)
        p++;
      if (*p == '\0')
        return -1;
      out[n++] = *p;
    }
    if (p >= end)
      return -1;
    p++;
  } else {
    while (p < end && *p != ';' && *p != ' ' && *p != '\t')
      out[n++] = *p++;
    if (n == 0)
      return -1;
  }
  out[n] = '\0';
  *s = p;
  *outlen = n;
  return 0;
}

ts_err http__mp_boundary(const char *ct, char out[HTTP__MP_BOUNDARY_MAX + 1], size_t *len,
                         ts_error *err)
{
  const char *end, *p;

  if (!http__is_multipart_type(ct))
    return ts_fail(err, TS_EINVAL, 0, "not a multipart/form-data content type");
  end = ct + strlen(ct);
  p = strchr(ct, ';');
  while (p && p < end) {
    const char *name;
    size_t nlen, vlen;
    p = skip_ws(p + 1, end);
    if (!(name = param_name(&p, end, &nlen)))
      break;
    /* A value longer than a boundary may be cannot be one: measure first. */
    const char *vstart = p;
    if (*p == '"') {
      const char *q = p + 1;
      while (q < end && *q != '"')
        q += (*q == '\\' && q + 1 < end) ? 2 : 1;
      vlen = (size_t)(q - vstart);
    } else {
      vlen = strcspn(p, "; \t");
    }
    char *tmp = malloc(vlen + 2);
    if (!tmp)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    if (read_value(&p, end, tmp, &vlen) != 0) {
      free(tmp);
      break;
    }
    if (nlen == 8 && ts_strncaseeq(name, "boundary", 8)) {
      int ok = vlen >= 1 && vlen <= HTTP__MP_BOUNDARY_MAX && tmp[vlen - 1] != ' ';
      for (size_t i = 0; ok && i < vlen; i++)
        ok = is_bchar((unsigned char)tmp[i]);
      if (ok) {
        memcpy(out, tmp, vlen + 1);
        *len = vlen;
      }
      free(tmp);
      if (!ok)
        return ts_fail(err, TS_EINVAL, 0,
                       "malformed multipart boundary (RFC 2046: 1 to 70 characters from "
                       "letters, digits and '()+_,-./:=? )");
      return TS_OK;
    }
    free(tmp);
    p = skip_ws(p, end);
    if (p < end && *p != ';')
      break;
  }
  return ts_fail(err, TS_EINVAL, 0, "multipart/form-data content type without a boundary");
}

ts_err http__mp_init(http__mp *m, const char *boundary, size_t blen, size_t max_header_bytes,
                     const http__mp_cbs *cbs, void *ud)
{
  memset(m, 0, sizeof *m);
  if (blen == 0 || blen > HTTP__MP_BOUNDARY_MAX)
    return TS_EINVAL;
  memcpy(m->delim, "\n--", 3);
  memcpy(m->delim + 3, boundary, blen);
  m->dlen = 3 + blen;
  m->boundary = m->delim + 3;
  m->blen = blen;
  m->max_header = max_header_bytes;
  m->cbs = cbs;
  m->ud = ud;
  m->state = MP_PREAMBLE;
  m->matched = 1; /* the body's start counts as a line start */
  ts_buf_init(&m->hb, max_header_bytes);
  /* Decoded values are never longer than their raw text; the raw text of
   * all of them, one NUL each, and the decoded filename* fit in 3x. */
  m->dec = malloc(3 * max_header_bytes + 16);
  return m->dec ? TS_OK : TS_ENOMEM;
}

void http__mp_free(http__mp *m)
{
  ts_buf_free(&m->hb);
  free(m->dec);
  m->dec = NULL;
}

static ts_err mp_fail(http__mp *m, ts_error *err, ts_err code, const char *fmt, ...)
    TS_PRINTF(4, 5);

static ts_err mp_fail(http__mp *m, ts_error *err, ts_err code, const char *fmt, ...)
{
  va_list ap;
  m->state = MP_FAILED;
  va_start(ap, fmt);
  ts_failv(err, code, 0, fmt, ap);
  va_end(ap);
  return code;
}

/* A callback refused: it filled err itself. */
static ts_err cb_failed(http__mp *m, ts_err rc)
{
  m->state = MP_FAILED;
  return rc;
}

/* Content bytes of the current part (discarded outside a part). A CR at
 * the end is held back: it may be the CR of the next delimiter. */
static ts_err emit(http__mp *m, const char *p, size_t n, ts_error *err)
{
  ts_err rc;
  if (m->state != MP_DATA || n == 0)
    return TS_OK;
  if (m->pending_cr) {
    m->pending_cr = 0;
    if ((rc = m->cbs->on_data(m->ud, "\r", 1, err)) != TS_OK)
      return rc;
  }
  if (p[n - 1] == '\r') {
    m->pending_cr = 1;
    n--;
  }
  return n ? m->cbs->on_data(m->ud, p, n, err) : TS_OK;
}

/* Decodes an RFC 5987 ext-value (charset'language'pct-encoded) into out as
 * UTF-8. -1 when malformed, of another charset, or holding a NUL. */
static int ext_value(const char *v, size_t n, char *out)
{
  const char *end = v + n, *q1 = memchr(v, '\'', n), *q2;
  size_t o = 0;
  int latin1;
  if (!q1 || !(q2 = memchr(q1 + 1, '\'', (size_t)(end - q1 - 1))))
    return -1;
  if ((size_t)(q1 - v) == 5 && ts_strncaseeq(v, "UTF-8", 5))
    latin1 = 0;
  else if ((size_t)(q1 - v) == 10 && ts_strncaseeq(v, "ISO-8859-1", 10))
    latin1 = 1;
  else
    return -1;
  for (const char *p = q2 + 1; p < end; p++) {
    unsigned c = (unsigned char)*p;
    if (c == '%') {
      static const char hex[] = "0123456789abcdef";
      const char *h1, *h2;
      if (end - p < 3 || !p[1] || !p[2] || !(h1 = strchr(hex, p[1] | 0x20)) ||
          !(h2 = strchr(hex, p[2] | 0x20)))
        return -1;
      c = (unsigned)((h1 - hex) * 16 + (h2 - hex));
      p += 2;
    }
    if (c == 0)
      return -1;
    if (latin1 && c >= 0x80) {
      out[o++] = (char)(0xC0 | (c >> 6));
      out[o++] = (char)(0x80 | (c & 0x3F));
    } else {
      out[o++] = (char)c;
    }
  }
  out[o] = '\0';
  return latin1 || ts_utf8_valid(out, o) ? 0 : -1;
}

/* Parses the part's Content-Disposition ("form-data; name=..;
 * filename=..; filename*=..") into m->dec and calls on_part. */
static ts_err headers_done(http__mp *m, ts_error *err)
{
  const char *hb = m->hb.data ? m->hb.data : "";
  const char *p = hb + m->cd_off, *end = p + m->cd_len;
  char *name = NULL, *fname = NULL, *fname_ext = NULL, *ct = NULL;
  char *dec = m->dec;
  unsigned idx = m->nparts;

  if (!m->have_cd)
    return mp_fail(m, err, TS_EINVAL, "multipart part %u has no Content-Disposition header", idx);
  p = skip_ws(p, end);
  const char *dt = p;
  while (p < end && is_tchar((unsigned char)*p))
    p++;
  if ((size_t)(p - dt) != 9 || !ts_strncaseeq(dt, "form-data", 9))
    return mp_fail(m, err, TS_EINVAL, "multipart part %u: Content-Disposition is not \"form-data\"",
                   idx);
  for (;;) {
    const char *pn;
    size_t pnlen, vlen;
    p = skip_ws(p, end);
    if (p >= end)
      break;
    if (*p != ';')
      return mp_fail(m, err, TS_EINVAL, "multipart part %u: malformed Content-Disposition", idx);
    p = skip_ws(p + 1, end);
    if (p >= end)
      break; /* a trailing ';' */
    if (!(pn = param_name(&p, end, &pnlen)))
      return mp_fail(m, err, TS_EINVAL, "multipart part %u: malformed Content-Disposition", idx);
    char *v = dec;
    if (read_value(&p, end, v, &vlen) != 0)
      return mp_fail(m, err, TS_EINVAL,
                     "multipart part %u: malformed Content-Disposition parameter \"%.*s\"", idx,
                     (int)(pnlen < 40 ? pnlen : 40), pn);
    dec += vlen + 1;
    if (pnlen == 4 && ts_strncaseeq(pn, "name", 4) && !name) {
      name = v;
    } else if (pnlen == 8 && ts_strncaseeq(pn, "filename", 8) && !fname) {
      fname = v;
    } else if (pnlen == 9 && ts_strncaseeq(pn, "filename*", 9) && !fname_ext) {
      /* decoded in place: never longer than its ASCII form except for
       * Latin-1 bytes, and those take three bytes in the input */
      if (ext_value(v, vlen, dec) != 0)
        return mp_fail(m, err, TS_EINVAL,
                       "multipart part %u: malformed filename* (RFC 5987, UTF-8 or ISO-8859-1)",
                       idx);
      fname_ext = dec;
      dec += strlen(dec) + 1;
    }
  }
  if (!name)
    return mp_fail(m, err, TS_EINVAL, "multipart part %u has no name", idx);
  if (m->have_ct) {
    const char *c0 = skip_ws(hb + m->ct_off, hb + m->ct_off + m->ct_len);
    size_t cl = m->ct_len - (size_t)(c0 - (hb + m->ct_off));
    memcpy(dec, c0, cl);
    dec[cl] = '\0';
    ct = dec;
  }
  http__mp_part part = {name, fname_ext ? fname_ext : fname, ct, idx};
  m->state = MP_DATA;
  m->matched = 0;
  m->pending_cr = 0;
  m->in_part = 1;
  ts_err rc = m->cbs->on_part(m->ud, &part, err);
  return rc != TS_OK ? cb_failed(m, rc) : TS_OK;
}

/* One complete header line [line, line+n) without its line end. */
static ts_err header_line(http__mp *m, size_t off, size_t n, ts_error *err)
{
  const char *line = m->hb.data + off;
  size_t k = 0;
  unsigned idx = m->nparts;

  if (line[0] == ' ' || line[0] == '\t')
    return mp_fail(m, err, TS_EINVAL, "multipart part %u: folded header lines are not allowed",
                   idx);
  while (k < n && is_tchar((unsigned char)line[k]))
    k++;
  if (k == 0 || k >= n || line[k] != ':')
    return mp_fail(m, err, TS_EINVAL, "multipart part %u: malformed header line", idx);
  if (memchr(line, '\0', n))
    return mp_fail(m, err, TS_EINVAL, "multipart part %u: NUL byte in a header", idx);
  size_t voff = off + k + 1, vlen = n - k - 1;
  while (vlen > 0 && (m->hb.data[voff + vlen - 1] == ' ' || m->hb.data[voff + vlen - 1] == '\t'))
    vlen--;
  if (k == 19 && ts_strncaseeq(line, "content-disposition", 19)) {
    if (m->have_cd)
      return mp_fail(m, err, TS_EINVAL, "multipart part %u has two Content-Disposition headers",
                     idx);
    m->have_cd = 1;
    m->cd_off = voff;
    m->cd_len = vlen;
  } else if (k == 12 && ts_strncaseeq(line, "content-type", 12)) {
    m->have_ct = 1;
    m->ct_off = voff;
    m->ct_len = vlen;
  } else if (k == 25 && ts_strncaseeq(line, "content-transfer-encoding", 25)) {
    const char *v = skip_ws(m->hb.data + voff, m->hb.data + voff + vlen);
    size_t l = vlen - (size_t)(v - (m->hb.data + voff));
    if (!((l == 6 && ts_strncaseeq(v, "binary", 6)) || (l == 4 && ts_strncaseeq(v, "8bit", 4)) ||
          (l == 4 && ts_strncaseeq(v, "7bit", 4))))
      return mp_fail(m, err, TS_EINVAL,
                     "multipart part %u: Content-Transfer-Encoding \"%.*s\" is not supported "
                     "(send the content as it is)",
                     idx, (int)(l < 40 ? l : 40), v);
  }
  return TS_OK;
}

/* Header bytes: collects lines until the empty one. Returns the bytes used
 * in *used (stops after the header block). */
static ts_err feed_headers(http__mp *m, const char *d, size_t len, size_t *used, ts_error *err)
{
  size_t i = 0;
  ts_err rc;
  while (i < len) {
    const char *nl = memchr(d + i, '\n', len - i);
    size_t take = nl ? (size_t)(nl - (d + i)) + 1 : len - i;
    if (ts_buf_append(&m->hb, d + i, take) != TS_OK)
      return mp_fail(m, err, TS_ELIMIT,
                     "multipart part %u: headers longer than the limit of %zu bytes", m->nparts,
                     m->max_header);
    i += take;
    if (!nl)
      break;
    size_t end = m->hb.len - 1; /* the LF */
    if (end > m->line_start && m->hb.data[end - 1] == '\r')
      end--;
    if (end == m->line_start) { /* the empty line */
      *used = i;
      return headers_done(m, err);
    }
    if ((rc = header_line(m, m->line_start, end - m->line_start, err)) != TS_OK)
      return rc;
    m->line_start = m->hb.len;
  }
  *used = i;
  return TS_OK;
}

static void start_headers(http__mp *m)
{
  m->state = MP_HEADERS;
  m->nparts++;
  ts_buf_reset(&m->hb);
  m->line_start = 0;
  m->have_cd = m->have_ct = 0;
}

ts_err http__mp_feed(http__mp *m, const char *d, size_t len, ts_error *err)
{
  size_t i = 0;
  ts_err rc;

  while (i < len) {
    unsigned char c = (unsigned char)d[i];
    switch (m->state) {
    case MP_PREAMBLE:
    case MP_DATA:
      if (m->matched == 0) {
        const char *nl = memchr(d + i, '\n', len - i);
        size_t stop = nl ? (size_t)(nl - d) : len;
        if ((rc = emit(m, d + i, stop - i, err)) != TS_OK)
          return cb_failed(m, rc);
        i = stop;
        if (nl) {
          m->matched = 1;
          i++;
        }
        break;
      }
      if (c == (unsigned char)m->delim[m->matched]) {
        i++;
        if (++m->matched < m->dlen)
          break;
        m->matched = 0;
        m->pending_cr = 0; /* the CR of the delimiter */
        if (m->in_part) {
          m->in_part = 0;
          if ((rc = m->cbs->on_part_end(m->ud, err)) != TS_OK)
            return cb_failed(m, rc);
        }
        m->state = MP_BOUND_TAIL;
        break;
      }
      /* Not a delimiter after all: the held bytes are content (or
       * preamble), and c is looked at again as a possible start. */
      if ((rc = emit(m, m->delim, m->matched, err)) != TS_OK)
        return cb_failed(m, rc);
      m->matched = 0;
      break;
    case MP_BOUND_TAIL:
    case MP_PAD:
      i++;
      if (c == '-' && m->state == MP_BOUND_TAIL)
        m->state = MP_DASH2;
      else if (c == ' ' || c == '\t')
        m->state = MP_PAD;
      else if (c == '\r')
        m->state = MP_LF;
      else if (c == '\n')
        start_headers(m);
      else
        return mp_fail(m, err, TS_EINVAL,
                       "malformed multipart body: the boundary is followed by other text on its "
                       "line");
      break;
    case MP_DASH2:
      i++;
      if (c != '-')
        return mp_fail(m, err, TS_EINVAL,
                       "malformed multipart body: the boundary is followed by other text on its "
                       "line");
      m->state = MP_EPILOGUE;
      break;
    case MP_LF:
      i++;
      if (c != '\n')
        return mp_fail(m, err, TS_EINVAL,
                       "malformed multipart body: CR without LF after a boundary");
      start_headers(m);
      break;
    case MP_HEADERS: {
      size_t used = 0;
      if ((rc = feed_headers(m, d + i, len - i, &used, err)) != TS_OK)
        return rc;
      i += used;
      break;
    }
    case MP_EPILOGUE:
      return TS_OK;
    default:
      return ts_fail(err, TS_EINVAL, 0, "malformed multipart body");
    }
  }
  return TS_OK;
}

ts_err http__mp_finish(http__mp *m, ts_error *err)
{
  if (m->state == MP_EPILOGUE)
    return TS_OK;
  if (m->state == MP_FAILED)
    return ts_fail(err, TS_EINVAL, 0, "malformed multipart body");
  if (m->nparts == 0 && m->state == MP_PREAMBLE)
    return mp_fail(m, err, TS_EINVAL,
                   "multipart body without any boundary \"--%.*s\" (is the boundary in the "
                   "Content-Type the one the body uses?)",
                   (int)m->blen, m->boundary);
  return mp_fail(m, err, TS_EINVAL,
                 "multipart body ends without its closing boundary \"--%.*s--\" (truncated?)",
                 (int)m->blen, m->boundary);
}
