/* http/proxy.c: trusted proxies and the client address behind them. */
#include "http/http.h"
#include "test_list.h"
#include "ts_test.h"

#include <string.h>

typedef struct xff_case {
  const char *peer;
  const char *lines[3]; /* X-Forwarded-For header lines, NULL-terminated */
  const char *want;
} xff_case;

int test_proxy_parse(void)
{
  http_proxies p;
  ts_error err;
  TS_CHECK(http_proxies_parse("", &p, &err) == TS_OK && p.n == 0);
  TS_CHECK(http_proxies_parse(" 10.0.0.0/8, ::1  192.168.1.7,", &p, &err) == TS_OK);
  TS_CHECK_EQ_INT((int)p.n, 3);
  TS_CHECK(http_proxies_trust(&p, "10.200.3.4"));
  TS_CHECK(!http_proxies_trust(&p, "11.0.0.1"));
  TS_CHECK(http_proxies_trust(&p, "::1"));
  TS_CHECK(http_proxies_trust(&p, "::ffff:10.1.1.1")); /* v4 seen through a v6 socket */
  TS_CHECK(http_proxies_trust(&p, "192.168.1.7"));
  TS_CHECK(!http_proxies_trust(&p, "192.168.1.8"));
  TS_CHECK(!http_proxies_trust(&p, "not an address"));
  TS_CHECK(http_proxies_parse("10.0.0.0/33", &p, &err) == TS_EINVAL);
  TS_CHECK(strstr(err.msg, "10.0.0.0/33") != NULL);
  TS_CHECK(http_proxies_parse("fe80::/129", &p, &err) == TS_EINVAL);
  TS_CHECK(http_proxies_parse("10.0.0.0/", &p, &err) == TS_EINVAL);
  TS_CHECK(http_proxies_parse("10.0.0.0/8x", &p, &err) == TS_EINVAL);
  TS_CHECK(http_proxies_parse("example.org", &p, &err) == TS_EINVAL);
  TS_CHECK(strstr(err.msg, "example.org") != NULL);
  TS_CHECK(http_proxies_parse("fe80::/10", &p, &err) == TS_OK);
  TS_CHECK(http_proxies_trust(&p, "febf::1") && !http_proxies_trust(&p, "fec0::1"));
  return 0;
}

int test_proxy_client_addr(void)
{
  static const xff_case cases[] = {
      /* an untrusted peer: its header is ignored */
      {"203.0.113.9", {"1.2.3.4", NULL}, "203.0.113.9"},
      /* a trusted peer without the header */
      {"127.0.0.1", {NULL}, "127.0.0.1"},
      {"127.0.0.1", {"198.51.100.7", NULL}, "198.51.100.7"},
      /* what the client wrote itself stays left of what the proxy saw */
      {"127.0.0.1", {"6.6.6.6, 198.51.100.7", NULL}, "198.51.100.7"},
      /* a proxy that adds a line of its own: the last line counts */
      {"127.0.0.1", {"6.6.6.6", "198.51.100.7", NULL}, "198.51.100.7"},
      /* a chain of trusted proxies is walked through */
      {"127.0.0.1", {"198.51.100.7, 10.1.2.3,10.9.9.9", NULL}, "198.51.100.7"},
      {"127.0.0.1", {"198.51.100.7", "10.1.2.3", NULL}, "198.51.100.7"},
      /* all trusted: the left-most */
      {"127.0.0.1", {"10.1.2.3", NULL}, "10.1.2.3"},
      /* garbage ends the walk at the last trusted hop */
      {"127.0.0.1", {"bogus, 10.1.2.3", NULL}, "10.1.2.3"},
      {"127.0.0.1", {"", NULL}, "127.0.0.1"},
      {"127.0.0.1", {"198.51.100.7,", NULL}, "127.0.0.1"},
      /* canonical text: one client, one string */
      {"127.0.0.1", {" 2001:DB8:0:0::1 ", NULL}, "2001:db8::1"},
      {"127.0.0.1", {"::ffff:198.51.100.7", NULL}, "198.51.100.7"},
  };
  http_proxies p;
  ts_error err;
  TS_CHECK(http_proxies_parse("127.0.0.1 10.0.0.0/8", &p, &err) == TS_OK);
  for (size_t i = 0; i < TS_ARRAY_LEN(cases); i++) {
    const xff_case *c = &cases[i];
    char out[64];
    size_t n = 0;
    while (c->lines[n])
      n++;
    http_client_addr(&p, c->peer, c->lines, n, out, sizeof out);
    TS_CHECK_STREQ(out, c->want);
  }
  /* no trusted proxies: never believed */
  {
    char out[64];
    const char *line = "198.51.100.7";
    http_proxies none;
    TS_CHECK(http_proxies_parse("", &none, &err) == TS_OK);
    http_client_addr(&none, "127.0.0.1", &line, 1, out, sizeof out);
    TS_CHECK_STREQ(out, "127.0.0.1");
    http_client_addr(NULL, "127.0.0.1", &line, 1, out, sizeof out);
    TS_CHECK_STREQ(out, "127.0.0.1");
  }
  return 0;
}
