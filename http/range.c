/* Range and If-Range (see http.h): one range, the way downloads serve it. */
#include "http/http.h"

#include <string.h>

/* 1*DIGIT into *v; the end in *end. 0 for no digits or a value beyond
 * INT64_MAX. */
static int range_number(const char *s, uint64_t *v, const char **end)
{
  uint64_t n = 0;
  const char *p = s;
  for (; *p >= '0' && *p <= '9'; p++) {
    if (n > ((uint64_t)INT64_MAX - (uint64_t)(*p - '0')) / 10)
      return 0;
    n = n * 10 + (uint64_t)(*p - '0');
  }
  *v = n;
  *end = p;
  return p > s;
}

http_range_result http_range_parse(const char *value, int64_t length, uint64_t *first,
                                   uint64_t *last)
{
  const char *r = value, *e;
  uint64_t size = (uint64_t)length, a, b;
  if (!r || length < 0 || strncmp(r, "bytes=", 6) != 0 || strchr(r, ','))
    return HTTP_RANGE_IGNORE;
  r += 6;
  while (*r == ' ')
    r++;
  if (*r == '-') { /* the last n bytes */
    if (!range_number(r + 1, &b, &e) || *e)
      return HTTP_RANGE_IGNORE;
    if (b == 0 || size == 0)
      return HTTP_RANGE_UNSATISFIABLE;
    *first = b >= size ? 0 : size - b;
    *last = size - 1;
    return HTTP_RANGE_PARTIAL;
  }
  if (!range_number(r, &a, &e) || *e != '-')
    return HTTP_RANGE_IGNORE;
  r = e + 1;
  if (!*r) {
    b = UINT64_MAX; /* to the end */
  } else if (!range_number(r, &b, &e) || *e || b < a) {
    return HTTP_RANGE_IGNORE;
  }
  if (a >= size)
    return HTTP_RANGE_UNSATISFIABLE;
  *first = a;
  *last = b >= size ? size - 1 : b;
  return HTTP_RANGE_PARTIAL;
}

int http_if_range_matches(const char *if_range, const char *etag)
{
  size_t n = strlen(etag);
  if (!if_range)
    return 1;
  return strlen(if_range) == n + 2 && if_range[0] == '"' && !strncmp(if_range + 1, etag, n) &&
         if_range[n + 1] == '"';
}
