/* http/cookie.c: reading the Cookie header, writing Set-Cookie. */
#include "http/http.h"
#include "test_list.h"
#include "ts_test.h"

#include <string.h>

static int get(const char *hdr, const char *name, char *out, size_t cap)
{
  const char *v;
  size_t n;
  if (!http_cookie_get(hdr, hdr ? strlen(hdr) : 0, name, &v, &n))
    return 0;
  if (n >= cap)
    return 0;
  memcpy(out, v, n);
  out[n] = 0;
  return 1;
}

int test_cookie_get(void)
{
  char v[64];
  TS_CHECK(get("SESSION=abc", "SESSION", v, sizeof v));
  TS_CHECK_STREQ(v, "abc");
  TS_CHECK(get("a=1; SESSION=abc; b=2", "SESSION", v, sizeof v));
  TS_CHECK_STREQ(v, "abc");
  TS_CHECK(get("  a=1 ;  SESSION = abc  ;", "SESSION", v, sizeof v));
  TS_CHECK_STREQ(v, "abc");
  TS_CHECK(get("SESSION=\"quoted\"", "SESSION", v, sizeof v));
  TS_CHECK_STREQ(v, "quoted");
  TS_CHECK(get("SESSION=", "SESSION", v, sizeof v));
  TS_CHECK_STREQ(v, "");
  /* the first of two wins */
  TS_CHECK(get("SESSION=one; SESSION=two", "SESSION", v, sizeof v));
  TS_CHECK_STREQ(v, "one");
  /* names are exact: no prefix, no case folding */
  TS_CHECK(!get("XSESSION=1; SESSIONX=2; session=3", "SESSION", v, sizeof v));
  TS_CHECK(!get("SESSION", "SESSION", v, sizeof v));
  TS_CHECK(!get("", "SESSION", v, sizeof v));
  TS_CHECK(!get(NULL, "SESSION", v, sizeof v));
  TS_CHECK(get("JSESSIONID=j1; SESSION=s1", "JSESSIONID", v, sizeof v));
  TS_CHECK_STREQ(v, "j1");
  /* a lone quote is kept as it is */
  TS_CHECK(get("SESSION=\"", "SESSION", v, sizeof v));
  TS_CHECK_STREQ(v, "\"");
  /* only the bytes given are read: the name past len is not seen */
  {
    const char *h = "a=1; SESSION=abc";
    const char *val;
    size_t n;
    TS_CHECK(!http_cookie_get(h, 6, "SESSION", &val, &n));
    TS_CHECK(http_cookie_get(h, strlen(h) - 1, "SESSION", &val, &n));
    TS_CHECK_EQ_INT(n, 2);
  }
  return 0;
}

int test_cookie_limits(void)
{
  static char big[HTTP_COOKIE_VALUE_MAX + 64];
  char v[16];
  /* a value past the cap is ignored */
  memcpy(big, "SESSION=", 8);
  memset(big + 8, 'x', HTTP_COOKIE_VALUE_MAX + 1);
  big[8 + HTTP_COOKIE_VALUE_MAX + 1] = 0;
  TS_CHECK(!get(big, "SESSION", v, sizeof v));
  /* pairs past HTTP_COOKIES_MAX are not looked at */
  {
    char hdr[HTTP_COOKIES_MAX * 6 + 32];
    size_t o = 0;
    for (int i = 0; i < HTTP_COOKIES_MAX; i++)
      o += (size_t)snprintf(hdr + o, sizeof hdr - o, "a=1; ");
    snprintf(hdr + o, sizeof hdr - o, "SESSION=late");
    TS_CHECK(!get(hdr, "SESSION", v, sizeof v));
  }
  return 0;
}

int test_set_cookie(void)
{
  ts_buf b;
  ts_error e;
  ts_buf_init(&b, 4096);
  http_cookie c = {"SESSION", "0123abcd", "/ctx", -1, 1, 1, "Lax"};
  TS_CHECK_EQ_INT(http_set_cookie(&b, &c, &e), TS_OK);
  TS_CHECK_STREQ(b.data,
                 "Set-Cookie: SESSION=0123abcd; Path=/ctx; Secure; HttpOnly; SameSite=Lax\r\n");
  ts_buf_reset(&b);
  http_cookie del = {"SESSION", "", NULL, 0, 0, 1, "Lax"};
  TS_CHECK_EQ_INT(http_set_cookie(&b, &del, &e), TS_OK);
  TS_CHECK_STREQ(b.data, "Set-Cookie: SESSION=; Path=/; Max-Age=0; Expires=Thu, 01 Jan 1970 "
                         "00:00:00 GMT; HttpOnly; SameSite=Lax\r\n");
  /* what the header cannot carry is refused, nothing appended */
  ts_buf_reset(&b);
  http_cookie bad_v = {"SESSION", "a;b", NULL, -1, 0, 0, NULL};
  TS_CHECK_EQ_INT(http_set_cookie(&b, &bad_v, &e), TS_EINVAL);
  http_cookie bad_n = {"SES SION", "x", NULL, -1, 0, 0, NULL};
  TS_CHECK_EQ_INT(http_set_cookie(&b, &bad_n, &e), TS_EINVAL);
  http_cookie bad_p = {"SESSION", "x", "/a;Domain=evil", -1, 0, 0, NULL};
  TS_CHECK_EQ_INT(http_set_cookie(&b, &bad_p, &e), TS_EINVAL);
  http_cookie crlf = {"SESSION", "x\r\nX-Evil: 1", NULL, -1, 0, 0, NULL};
  TS_CHECK_EQ_INT(http_set_cookie(&b, &crlf, &e), TS_EINVAL);
  TS_CHECK_EQ_INT(b.len, 0);
  ts_buf_free(&b);
  return 0;
}
