/* http/range.c: Range (RFC 9110 14.2) and If-Range (13.1.5). */
#include "http/http.h"
#include "test_list.h"
#include "ts_test.h"

#include <stdint.h>

typedef struct range_case {
  const char *value;
  int64_t length;
  http_range_result want;
  uint64_t first, last;
} range_case;

int test_range_parse(void)
{
  static const range_case cases[] = {
      {"bytes=0-99", 1000, HTTP_RANGE_PARTIAL, 0, 99},
      {"bytes=100-", 1000, HTTP_RANGE_PARTIAL, 100, 999},
      {"bytes=-100", 1000, HTTP_RANGE_PARTIAL, 900, 999},
      {"bytes= 5-9", 1000, HTTP_RANGE_PARTIAL, 5, 9},
      {"bytes=999-999", 1000, HTTP_RANGE_PARTIAL, 999, 999},
      /* last beyond the end: clipped */
      {"bytes=10-5000", 1000, HTTP_RANGE_PARTIAL, 10, 999},
      {"bytes=0-18446744073709551615", 1000, HTTP_RANGE_IGNORE, 0, 0}, /* beyond int64 */
      {"bytes=0-9223372036854775807", 1000, HTTP_RANGE_PARTIAL, 0, 999},
      /* a suffix longer than the representation: all of it */
      {"bytes=-5000", 1000, HTTP_RANGE_PARTIAL, 0, 999},
      {"bytes=-1", 1, HTTP_RANGE_PARTIAL, 0, 0},
      /* unsatisfiable: 416 */
      {"bytes=1000-", 1000, HTTP_RANGE_UNSATISFIABLE, 0, 0},
      {"bytes=1000-2000", 1000, HTTP_RANGE_UNSATISFIABLE, 0, 0},
      {"bytes=-0", 1000, HTTP_RANGE_UNSATISFIABLE, 0, 0},
      {"bytes=0-", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0},
      {"bytes=-5", 0, HTTP_RANGE_UNSATISFIABLE, 0, 0},
      /* ignored: the whole representation */
      {NULL, 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=0-99", -1, HTTP_RANGE_IGNORE, 0, 0}, /* length unknown */
      {"bytes=0-9,20-29", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=0-9, 20-29", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"items=0-9", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"Bytes=0-9", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=-", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=9-5", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=a-5", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=5", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=5-x", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=0-9 ", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=+5-9", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=-+5", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=--5", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=-5-", 1000, HTTP_RANGE_IGNORE, 0, 0},
      {"bytes=99999999999999999999-", 1000, HTTP_RANGE_IGNORE, 0, 0},
  };
  for (size_t i = 0; i < TS_ARRAY_LEN(cases); i++) {
    const range_case *c = &cases[i];
    uint64_t first = 0, last = 0;
    http_range_result got = http_range_parse(c->value, c->length, &first, &last);
    if (got != c->want || (got == HTTP_RANGE_PARTIAL && (first != c->first || last != c->last))) {
      fprintf(stderr, "# \"%s\" over %lld: %d %llu-%llu, expected %d %llu-%llu\n",
              c->value ? c->value : "(none)", (long long)c->length, (int)got,
              (unsigned long long)first, (unsigned long long)last, (int)c->want,
              (unsigned long long)c->first, (unsigned long long)c->last);
      return 1;
    }
  }
  return 0;
}

int test_if_range(void)
{
  TS_CHECK(http_if_range_matches(NULL, "j1-result-votable"));
  TS_CHECK(http_if_range_matches("\"j1-result-votable\"", "j1-result-votable"));
  TS_CHECK(!http_if_range_matches("W/\"j1-result-votable\"", "j1-result-votable"));
  TS_CHECK(!http_if_range_matches("\"j1-result-csv\"", "j1-result-votable"));
  TS_CHECK(!http_if_range_matches("\"j1-result-votable", "j1-result-votable"));
  TS_CHECK(!http_if_range_matches("\"j1-result-votable\"x", "j1-result-votable"));
  TS_CHECK(!http_if_range_matches("\"\"", "j1-result-votable"));
  TS_CHECK(!http_if_range_matches("Sun, 06 Dec 2026 11:00:00 GMT", "j1-result-votable"));
  return 0;
}
