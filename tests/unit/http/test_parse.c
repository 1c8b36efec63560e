/* Request framing and form decoding, driven without sockets through the
 * same entry points the server uses (http__conn_feed, http_parse_form). */
#include "http/http_int.h"
#include "test_list.h"
#define TS_TEST_MAIN
#include "ts_test.h"

#include <stdlib.h>

static http_server_opts popts(size_t max_header, size_t max_body)
{
  http_server_opts o = {0};
  o.max_header_bytes = max_header;
  o.max_body_bytes = max_body;
  http_server_opts_defaults(&o);
  return o;
}

int test_form_decode(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  http_param *p = NULL;
  size_t n = 0, cap = 0;
  ts_error err;
  const char *s = "a=1&b=x+y&&C%5Fd=%41%62%2b&e&f=&=g&h=%e2%82%ac";

  TS_CHECK(a);
  TS_CHECK_EQ_INT(http_parse_form(a, s, strlen(s), &p, &n, &cap, &err), TS_OK);
  TS_CHECK_EQ_INT(n, 7);
  TS_CHECK_STREQ(p[0].name, "a");
  TS_CHECK_STREQ(p[0].value, "1");
  TS_CHECK_STREQ(p[1].value, "x y");
  TS_CHECK_STREQ(p[2].name, "C_d"); /* names kept as sent, decoded */
  TS_CHECK_STREQ(p[2].value, "Ab+");
  TS_CHECK_STREQ(p[3].name, "e");
  TS_CHECK_STREQ(p[3].value, "");
  TS_CHECK_STREQ(p[4].value, "");
  TS_CHECK_STREQ(p[5].name, "");
  TS_CHECK_STREQ(p[5].value, "g");
  TS_CHECK_STREQ(p[6].value, "\xe2\x82\xac");
  /* appending keeps what is there; growing past cap copies */
  for (int i = 0; i < 20; i++)
    TS_CHECK_EQ_INT(http_parse_form(a, "k=v", 3, &p, &n, &cap, &err), TS_OK);
  TS_CHECK_EQ_INT(n, 27);
  TS_CHECK_STREQ(p[0].name, "a");
  TS_CHECK_STREQ(p[26].value, "v");

  const char *bad[] = {"x=%G1", "x=%4", "x=%", "%zz=1", "x=%00", "a=1&b=%2"};
  for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
    size_t before = n;
    TS_CHECK_EQ_INT(http_parse_form(a, bad[i], strlen(bad[i]), &p, &n, &cap, &err), TS_EINVAL);
    TS_CHECK_EQ_INT(err.code, TS_EINVAL);
    TS_CHECK(strstr(err.msg, "malformed parameter") != NULL);
    TS_CHECK(n <= before + 1);
  }
  ts_arena_free(a);
  return 0;
}

int test_feed_bytewise(void)
{
  http_server_opts o = popts(0, 0);
  http__reqparser p;
  const char *req = "POST /a%20b/%C3%A9?x=1&y=%41 HTTP/1.1\r\nHost: h\r\n"
                    "Content-Type:  text/plain  \r\nX-Mixed-Case: V\r\n"
                    "Content-Length: 5\r\n\r\nhe\0lo";
  size_t len = strlen(req) + 3; /* the body holds a NUL */
  size_t used;
  http__feed_rc rc = HTTP__FEED_MORE;

  http__reqparser_init(&p, &o);
  for (size_t i = 0; i < len; i++) {
    rc = http__conn_feed(&p, req + i, 1, &used);
    TS_CHECK_EQ_INT(used, 1);
    if (i + 1 < len)
      TS_CHECK_EQ_INT(rc, HTTP__FEED_MORE);
  }
  TS_CHECK_EQ_INT(rc, HTTP__FEED_REQUEST);
  http_request *r = p.req;
  TS_CHECK(r);
  TS_CHECK_STREQ(r->method, "POST");
  TS_CHECK_STREQ(r->target, "/a%20b/%C3%A9?x=1&y=%41");
  TS_CHECK_STREQ(r->path, "/a b/\xc3\xa9");
  TS_CHECK_STREQ(r->raw_path, "/a%20b/%C3%A9"); /* what routes match */
  TS_CHECK_STREQ(r->query, "x=1&y=%41");
  TS_CHECK_EQ_INT(r->http_minor, 1);
  TS_CHECK_EQ_INT(r->nheaders, 4);
  TS_CHECK_STREQ(r->headers[2].name, "x-mixed-case");
  TS_CHECK_STREQ(http_header_get(r, "content-type"), "text/plain");
  TS_CHECK(http_header_get(r, "accept") == NULL);
  TS_CHECK_EQ_INT(r->body_len, 5);
  TS_CHECK(memcmp(r->body, "he\0lo", 6) == 0);
  http__reqparser_next(&p);
  ts_arena_free(r->arena);
  http__reqparser_free(&p);
  return 0;
}

int test_feed_pipelined(void)
{
  http_server_opts o = popts(0, 0);
  http__reqparser p;
  const char *one = "GET /one HTTP/1.1\r\nHost: h\r\n\r\n";
  const char *two = "POST /two HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n";
  const char *three = "HEAD /three HTTP/1.0\r\n\r\n";
  char all[512];
  size_t used;
  snprintf(all, sizeof all, "%s%s%s", one, two, three);
  size_t len = strlen(all), off = 0;

  http__reqparser_init(&p, &o);
  TS_CHECK_EQ_INT(http__conn_feed(&p, all, len, &used), HTTP__FEED_REQUEST);
  TS_CHECK_EQ_INT(used, strlen(one));
  TS_CHECK_STREQ(p.req->path, "/one");
  TS_CHECK_EQ_INT(http__req_of(p.req)->keep_alive, 1);
  /* until the caller takes the request, feeding more changes nothing */
  TS_CHECK_EQ_INT(http__conn_feed(&p, all + used, len - used, &used), HTTP__FEED_REQUEST);
  TS_CHECK_EQ_INT(used, 0);
  http_request *r = p.req;
  http__reqparser_next(&p);
  ts_arena_free(r->arena);
  off = strlen(one);

  TS_CHECK_EQ_INT(http__conn_feed(&p, all + off, len - off, &used), HTTP__FEED_REQUEST);
  TS_CHECK_EQ_INT(used, strlen(two));
  r = p.req;
  TS_CHECK_STREQ(r->path, "/two");
  TS_CHECK_EQ_INT(r->body_len, 5);
  TS_CHECK_STREQ(r->body, "abcde");
  TS_CHECK(http_header_get(r, "trailer") == NULL); /* trailers are not headers */
  http__reqparser_next(&p);
  ts_arena_free(r->arena);
  off += used;

  TS_CHECK_EQ_INT(http__conn_feed(&p, all + off, len - off, &used), HTTP__FEED_REQUEST);
  r = p.req;
  TS_CHECK_EQ_INT(r->is_head, 1);
  TS_CHECK_EQ_INT(r->http_minor, 0);
  TS_CHECK_EQ_INT(http__req_of(r)->keep_alive, 0);
  http__reqparser_next(&p);
  ts_arena_free(r->arena);
  http__reqparser_free(&p);
  return 0;
}

/* Feeds s in pieces of `step` bytes; returns the final code and status. */
static http__feed_rc feed_all(const http_server_opts *o, const char *s, size_t step, int *status,
                              size_t *total_used)
{
  http__reqparser p;
  http__feed_rc rc = HTTP__FEED_MORE;
  size_t len = strlen(s), off = 0, used;
  http__reqparser_init(&p, o);
  while (off < len && rc == HTTP__FEED_MORE) {
    size_t n = len - off < step ? len - off : step;
    rc = http__conn_feed(&p, s + off, n, &used);
    off += used;
  }
  *status = p.err_status;
  if (total_used)
    *total_used = off;
  if (rc == HTTP__FEED_REQUEST) {
    http_request *r = p.req;
    http__reqparser_next(&p);
    ts_arena_free(r->arena);
  }
  http__reqparser_free(&p);
  return rc;
}

int test_feed_limits(void)
{
  http_server_opts o = popts(100, 1000);
  char big[4096];
  int st;
  size_t used;

  /* exactly at the limit passes, one byte more is 431 */
  char fit[128], over[128];
  snprintf(fit, sizeof fit, "GET / HTTP/1.1\r\nX: %0*d\r\n\r\n", 100 - 23, 0);
  snprintf(over, sizeof over, "GET / HTTP/1.1\r\nX: %0*d\r\n\r\n", 101 - 23, 0);
  TS_CHECK_EQ_INT(strlen(fit), 100);
  TS_CHECK_EQ_INT(feed_all(&o, fit, 7, &st, NULL), HTTP__FEED_REQUEST);
  TS_CHECK_EQ_INT(feed_all(&o, over, 7, &st, &used), HTTP__FEED_ERROR);
  TS_CHECK_EQ_INT(st, 431);
  TS_CHECK(used <= 100);
  /* an endless header line stops at the limit */
  memset(big, 'a', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  memcpy(big, "GET / HTTP/1.1\r\nX: ", 19);
  TS_CHECK_EQ_INT(feed_all(&o, big, 4096, &st, &used), HTTP__FEED_ERROR);
  TS_CHECK_EQ_INT(st, 431);
  TS_CHECK_EQ_INT(used, 100);

  /* Content-Length over the limit: refused at the head, body never read */
  TS_CHECK_EQ_INT(
      feed_all(&o, "POST / HTTP/1.1\r\nContent-Length: 1001\r\n\r\nxx", 1000, &st, &used),
      HTTP__FEED_ERROR);
  TS_CHECK_EQ_INT(st, 413);
  /* at the limit: fine */
  snprintf(big, sizeof big, "POST / HTTP/1.1\r\nContent-Length: 1000\r\n\r\n%01000d", 7);
  TS_CHECK_EQ_INT(feed_all(&o, big, 333, &st, NULL), HTTP__FEED_REQUEST);
  /* chunked bodies count too */
  snprintf(big, sizeof big,
           "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n%01000d\r\n"
           "1\r\nx\r\n0\r\n\r\n",
           7);
  TS_CHECK_EQ_INT(feed_all(&o, big, 100, &st, NULL), HTTP__FEED_ERROR);
  TS_CHECK_EQ_INT(st, 413);
  return 0;
}

int test_feed_errors(void)
{
  http_server_opts o = popts(0, 100);
  int st;
  static const struct {
    const char *req;
    int status;
  } cases[] = {
      {"PATCH /x HTTP/1.1\r\n\r\n", 405},
      {"PUT /x HTTP/1.1\r\nContent-Length: 1\r\n\r\nx", 405},
      {"OPTIONS * HTTP/1.1\r\n\r\n", 405},
      {"GET /%zz HTTP/1.1\r\n\r\n", 400},
      {"GET /a%00b HTTP/1.1\r\n\r\n", 400},
      {"GET /a%2 HTTP/1.1\r\n\r\n", 400},
      {"GARBAGE / HTTP/1.1\r\n\r\n", 405},
      {"get / HTTP/1.1\r\n\r\n", 405},
      {"\x01\x02 / HTTP/1.1\r\n\r\n", 400},
      {"GET\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400},
      {"GET / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
      {"GET / HTTP/2.0\r\n\r\n", 505},
      {"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400},
  };
  for (size_t i = 0; i < TS_ARRAY_LEN(cases); i++) {
    http__feed_rc rc = feed_all(&o, cases[i].req, 5, &st, NULL);
    if (rc != HTTP__FEED_ERROR || st != cases[i].status)
      fprintf(stderr, "# case %zu: rc %d status %d\n", i, rc, st);
    TS_CHECK_EQ_INT(rc, HTTP__FEED_ERROR);
    TS_CHECK_EQ_INT(st, cases[i].status);
  }
  /* An unknown method token is 405 only in a well-formed request line; a
   * line that arrived whole and is not one is malformed. */
  TS_CHECK_EQ_INT(feed_all(&o, "GARBAGE\r\n\r\n", 64, &st, NULL), HTTP__FEED_ERROR);
  TS_CHECK_EQ_INT(st, 400);
  TS_CHECK_EQ_INT(feed_all(&o, "BREW /pot HTTP/1.1\r\n\r\n", 64, &st, NULL), HTTP__FEED_ERROR);
  TS_CHECK_EQ_INT(st, 405);
  TS_CHECK_EQ_INT(feed_all(&o, "BREW /pot\r\n\r\n", 64, &st, NULL), HTTP__FEED_ERROR);
  TS_CHECK_EQ_INT(st, 400);

  /* Expect: 100-continue is flagged once the head is in, for a body to come */
  http__reqparser p;
  size_t used;
  const char *h = "POST /x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
  http__reqparser_init(&p, &o);
  TS_CHECK_EQ_INT(http__conn_feed(&p, h, strlen(h), &used), HTTP__FEED_MORE);
  TS_CHECK_EQ_INT(p.expect_continue, 1);
  TS_CHECK_EQ_INT(p.phase, HTTP__PH_BODY);
  TS_CHECK_EQ_INT(http__conn_feed(&p, "abc", 3, &used), HTTP__FEED_REQUEST);
  http_request *r = p.req;
  http__reqparser_next(&p);
  ts_arena_free(r->arena);
  http__reqparser_free(&p);
  return 0;
}
