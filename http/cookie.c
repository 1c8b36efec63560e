/* http/cookie.c: the Cookie request header (RFC 6265 section 5.4, read
 * leniently as browsers write it) and Set-Cookie lines (section 4.1,
 * written strictly). */
#include "http/http.h"

#include <string.h>

static int is_ows(char c)
{
  return c == ' ' || c == '\t';
}

/* token characters of RFC 9110 (cookie names) */
static int is_tchar(unsigned char c)
{
  return c > 0x20 && c < 0x7f && !strchr("()<>@,;:\\\"/[]?={}", c);
}

/* cookie-octet of RFC 6265: no CTLs, whitespace, DQUOTE, comma, semicolon
 * or backslash */
static int is_cookie_octet(unsigned char c)
{
  return c == 0x21 || (c >= 0x23 && c <= 0x2b) || (c >= 0x2d && c <= 0x3a) ||
         (c >= 0x3c && c <= 0x5b) || (c >= 0x5d && c <= 0x7e);
}

int http_cookie_get(const char *header, size_t len, const char *name, const char **val,
                    size_t *vlen)
{
  size_t nlen = strlen(name), i = 0;
  int seen = 0;
  *val = NULL;
  *vlen = 0;
  if (!header || !nlen)
    return 0;
  /* One pass over the pairs; every index stays below len. */
  for (size_t pairs = 0; i < len && pairs < HTTP_COOKIES_MAX; pairs++) {
    size_t start, end, eq;
    while (i < len && (is_ows(header[i]) || header[i] == ';'))
      i++;
    start = i;
    while (i < len && header[i] != ';')
      i++;
    end = i;
    while (end > start && is_ows(header[end - 1]))
      end--;
    for (eq = start; eq < end && header[eq] != '='; eq++)
      ;
    if (eq == end)
      continue; /* no '=': not a pair */
    {
      size_t ne = eq, vs = eq + 1;
      while (ne > start && is_ows(header[ne - 1]))
        ne--;
      while (vs < end && is_ows(header[vs]))
        vs++;
      if (ne - start != nlen || memcmp(header + start, name, nlen) != 0)
        continue;
      if (end - vs >= 2 && header[vs] == '"' && header[end - 1] == '"') {
        vs++;
        end--;
      }
      if (end - vs > HTTP_COOKIE_VALUE_MAX)
        continue;
      /* the first one wins: RFC 6265 sorts longer paths first */
      if (!seen) {
        *val = header + vs;
        *vlen = end - vs;
        seen = 1;
      }
    }
  }
  return seen;
}

ts_err http_set_cookie(ts_buf *b, const http_cookie *c, ts_error *err)
{
  size_t nlen = c->name ? strlen(c->name) : 0, vlen = c->value ? strlen(c->value) : 0;
  const char *path = c->path && c->path[0] ? c->path : "/";
  ts_err rc;
  if (!nlen)
    return ts_fail(err, TS_EINVAL, 0, "a cookie needs a name");
  for (size_t i = 0; i < nlen; i++)
    if (!is_tchar((unsigned char)c->name[i]))
      return ts_fail(err, TS_EINVAL, 0, "a cookie name is a token");
  if (vlen > HTTP_COOKIE_VALUE_MAX)
    return ts_fail(err, TS_EINVAL, 0, "cookie value too long");
  for (size_t i = 0; i < vlen; i++)
    if (!is_cookie_octet((unsigned char)c->value[i]))
      return ts_fail(err, TS_EINVAL, 0, "a cookie value holds cookie-octets only");
  for (const char *p = path; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f || *p == ';')
      return ts_fail(err, TS_EINVAL, 0, "a cookie path holds no control character or ';'");
  rc = ts_buf_printf(b, "Set-Cookie: %s=%s; Path=%s", c->name, c->value ? c->value : "", path);
  if (!rc && c->max_age >= 0)
    rc = ts_buf_printf(b, "; Max-Age=%lld", (long long)c->max_age);
  if (!rc && c->max_age == 0)
    rc = ts_buf_puts(b, "; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
  if (!rc && c->secure)
    rc = ts_buf_puts(b, "; Secure");
  if (!rc && c->http_only)
    rc = ts_buf_puts(b, "; HttpOnly");
  if (!rc && c->same_site)
    rc = ts_buf_printf(b, "; SameSite=%s", c->same_site);
  if (!rc)
    rc = ts_buf_puts(b, "\r\n");
  if (rc)
    return ts_fail(err, rc, 0, "the Set-Cookie header does not fit");
  return TS_OK;
}
