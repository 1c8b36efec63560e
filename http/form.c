/* http/form.c: percent-decoding, form parameters, header lookup and the
 * status texts. Pure functions over memory: no sockets, fuzzable. */
#include "http/http_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static int hexval(unsigned char c)
{
  if (c >= '0' && c <= '9')
    return c - '0';
  if (c >= 'a' && c <= 'f')
    return c - 'a' + 10;
  if (c >= 'A' && c <= 'F')
    return c - 'A' + 10;
  return -1;
}

int http__pct_decode(const char *s, size_t n, int plus_space, char *out, size_t *outlen, size_t *at)
{
  size_t j = 0;

  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    *at = i + 1;
    if (c == '%') {
      int hi = i + 2 < n ? hexval((unsigned char)s[i + 1]) : -1;
      int lo = hi >= 0 ? hexval((unsigned char)s[i + 2]) : -1;
      if (hi < 0 || lo < 0)
        return HTTP__PCT_MALFORMED;
      c = (unsigned char)(hi * 16 + lo);
      if (c == 0)
        return HTTP__PCT_NUL_ENCODED;
      i += 2;
    } else if (c == '+' && plus_space) {
      c = ' ';
    } else if (c == 0) {
      return HTTP__PCT_NUL;
    }
    out[j++] = (char)c;
  }
  out[j] = '\0';
  *outlen = j;
  return HTTP__PCT_OK;
}

ts_err http__decode(ts_arena *a, const char *s, size_t n, int plus_space, char **out, ts_error *err)
{
  char *d = ts_arena_alloc(a, n + 1);
  size_t len, at = 0;

  if (!d)
    return ts_fail(err, TS_ENOMEM, 0, "request too large for its memory limit");
  switch (http__pct_decode(s, n, plus_space, d, &len, &at)) {
  case HTTP__PCT_MALFORMED:
    return ts_fail(err, TS_EINVAL, 0, "malformed percent-encoding at byte %zu", at);
  case HTTP__PCT_NUL_ENCODED:
    return ts_fail(err, TS_EINVAL, 0, "percent-encoded NUL byte at byte %zu", at);
  case HTTP__PCT_NUL:
    return ts_fail(err, TS_EINVAL, 0, "NUL byte at byte %zu", at);
  default:
    *out = d;
    return TS_OK;
  }
}

ts_err http_parse_form(ts_arena *a, const char *s, size_t len, http_param **params, size_t *n,
                       size_t *cap, ts_error *err)
{
  size_t i = 0;

  while (i < len) {
    size_t end = i, eq;
    while (end < len && s[end] != '&')
      end++;
    if (end == i) { /* "a=1&&b=2": empty fields carry nothing */
      i = end + 1;
      continue;
    }
    eq = i;
    while (eq < end && s[eq] != '=')
      eq++;
    if (*n == *cap) {
      size_t ncap = *cap ? 2 * *cap : 8;
      http_param *np = ts_arena_alloc(a, ncap * sizeof *np);
      if (!np)
        return ts_fail(err, TS_ENOMEM, 0, "too many parameters for the request's memory limit");
      if (*n)
        memcpy(np, *params, *n * sizeof *np);
      *params = np;
      *cap = ncap;
    }
    char *name, *value;
    ts_err rc = http__decode(a, s + i, eq - i, 1, &name, err);
    if (rc == TS_OK)
      rc = http__decode(a, eq < end ? s + eq + 1 : "", eq < end ? end - eq - 1 : 0, 1, &value, err);
    if (rc == TS_EINVAL && err) {
      char why[sizeof err->msg];
      snprintf(why, sizeof why, "%s", err->msg);
      ts_fail(err, TS_EINVAL, 0, "malformed parameter \"%.*s\": %s",
              (int)(eq - i < 64 ? eq - i : 64), s + i, why);
    }
    if (rc != TS_OK)
      return rc;
    (*params)[*n] = (http_param){name, value};
    (*n)++;
    i = end + 1;
  }
  return TS_OK;
}

int http__is_form_type(const char *ct)
{
  static const char form[] = "application/x-www-form-urlencoded";
  size_t fl = sizeof form - 1;
  if (!ct)
    return 0;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  if (!ts_strncaseeq(ct, form, fl))
    return 0;
  ct += fl;
  while (*ct == ' ' || *ct == '\t')
    ct++;
  return *ct == '\0' || *ct == ';';
}

ts_err http_request_params(http_request *r, http_param **out, size_t *n, ts_error *err)
{
  http__req *q = http__req_of(r);
  http_param *params = NULL;
  size_t np = 0, cap = 0;
  ts_err rc;

  if (q->params_done) {
    *out = q->params;
    *n = q->nparams;
    return TS_OK;
  }
  rc = http_parse_form(r->arena, r->query, strlen(r->query), &params, &np, &cap, err);
  if (rc == TS_OK && strcmp(r->method, "POST") == 0 &&
      http__is_form_type(http_header_get(r, "content-type")))
    rc = http_parse_form(r->arena, r->body, r->body_len, &params, &np, &cap, err);
  if (rc == TS_OK && q->mp) {
    const http_param *mp;
    size_t nmp;
    http__body_mp_params(q, &mp, &nmp);
    if (nmp > 0) {
      http_param *all = ts_arena_alloc(r->arena, (np + nmp) * sizeof *all);
      if (!all)
        return ts_fail(err, TS_ENOMEM, 0, "too many parameters for the request's memory limit");
      if (np)
        memcpy(all, params, np * sizeof *all);
      memcpy(all + np, mp, nmp * sizeof *all);
      params = all;
      np += nmp;
    }
  }
  if (rc != TS_OK)
    return rc;
  q->params = params;
  q->nparams = np;
  q->params_done = 1;
  *out = params;
  *n = np;
  return TS_OK;
}

const char *http_header_get(const http_request *r, const char *name)
{
  for (size_t i = 0; i < r->nheaders; i++)
    if (strcmp(r->headers[i].name, name) == 0)
      return r->headers[i].value;
  return NULL;
}

const char *http_status_text(int status)
{
  switch (status) {
  case 100:
    return "Continue";
  case 200:
    return "OK";
  case 201:
    return "Created";
  case 202:
    return "Accepted";
  case 204:
    return "No Content";
  case 206:
    return "Partial Content";
  case 301:
    return "Moved Permanently";
  case 302:
    return "Found";
  case 303:
    return "See Other";
  case 304:
    return "Not Modified";
  case 307:
    return "Temporary Redirect";
  case 308:
    return "Permanent Redirect";
  case 400:
    return "Bad Request";
  case 401:
    return "Unauthorized";
  case 403:
    return "Forbidden";
  case 404:
    return "Not Found";
  case 405:
    return "Method Not Allowed";
  case 406:
    return "Not Acceptable";
  case 408:
    return "Request Timeout";
  case 409:
    return "Conflict";
  case 410:
    return "Gone";
  case 411:
    return "Length Required";
  case 412:
    return "Precondition Failed";
  case 413:
    return "Content Too Large";
  case 414:
    return "URI Too Long";
  case 415:
    return "Unsupported Media Type";
  case 416:
    return "Range Not Satisfiable";
  case 417:
    return "Expectation Failed";
  case 422:
    return "Unprocessable Content";
  case 429:
    return "Too Many Requests";
  case 431:
    return "Request Header Fields Too Large";
  case 500:
    return "Internal Server Error";
  case 501:
    return "Not Implemented";
  case 502:
    return "Bad Gateway";
  case 503:
    return "Service Unavailable";
  case 504:
    return "Gateway Timeout";
  case 505:
    return "HTTP Version Not Supported";
  default:
    return "Unknown";
  }
}

void http__date(char out[32], int64_t unix_ms)
{
  /* IMF-fixdate with English names whatever the process locale is. */
  static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
  static const char months[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
  time_t t = (time_t)(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  char tmp[96]; /* 29 characters for every year 1000..9999 */
  snprintf(tmp, sizeof tmp, "%s, %02d %s %04d %02d:%02d:%02d GMT", days[tm.tm_wday % 7], tm.tm_mday,
           months[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  memcpy(out, tmp, 31);
  out[31] = '\0';
}
