/* The upload fetcher's parts that need no server: the address classifier
 * (every edge of every range) and the reading of response headers. */
#include "http/fetch_int.h"
#include "test_list.h"
#include "ts_test.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

typedef struct addr_case {
  const char *addr;
  const char *range; /* the CIDR of its row, or NULL for a public address */
} addr_case;

static int class_of(const char *text, int *row)
{
  struct sockaddr_in in;
  struct sockaddr_in6 in6;
  memset(&in, 0, sizeof in);
  memset(&in6, 0, sizeof in6);
  if (inet_pton(AF_INET, text, &in.sin_addr) == 1) {
    in.sin_family = AF_INET;
    *row = http__addr_class((struct sockaddr *)&in, sizeof in);
    return 0;
  }
  if (inet_pton(AF_INET6, text, &in6.sin6_addr) == 1) {
    in6.sin6_family = AF_INET6;
    *row = http__addr_class((struct sockaddr *)&in6, sizeof in6);
    return 0;
  }
  return -1;
}

int test_fetch_addr_class(void)
{
  static const addr_case cases[] = {
      /* 0.0.0.0/8 */
      {"0.0.0.0", "0.0.0.0/8"},
      {"0.255.255.255", "0.0.0.0/8"},
      {"1.0.0.0", NULL},
      /* 10.0.0.0/8 */
      {"9.255.255.255", NULL},
      {"10.0.0.0", "10.0.0.0/8"},
      {"10.255.255.255", "10.0.0.0/8"},
      {"11.0.0.0", NULL},
      /* 100.64.0.0/10 */
      {"100.63.255.255", NULL},
      {"100.64.0.0", "100.64.0.0/10"},
      {"100.127.255.255", "100.64.0.0/10"},
      {"100.128.0.0", NULL},
      /* 127.0.0.0/8 */
      {"126.255.255.255", NULL},
      {"127.0.0.0", "127.0.0.0/8"},
      {"127.0.0.1", "127.0.0.0/8"},
      {"127.255.255.255", "127.0.0.0/8"},
      {"128.0.0.0", NULL},
      /* 169.254.0.0/16 */
      {"169.253.255.255", NULL},
      {"169.254.0.0", "169.254.0.0/16"},
      {"169.254.169.254", "169.254.0.0/16"}, /* cloud metadata */
      {"169.254.255.255", "169.254.0.0/16"},
      {"169.255.0.0", NULL},
      /* 172.16.0.0/12 */
      {"172.15.255.255", NULL},
      {"172.16.0.0", "172.16.0.0/12"},
      {"172.31.255.255", "172.16.0.0/12"},
      {"172.32.0.0", NULL},
      /* 192.168.0.0/16 */
      {"192.167.255.255", NULL},
      {"192.168.0.0", "192.168.0.0/16"},
      {"192.168.255.255", "192.168.0.0/16"},
      {"192.169.0.0", NULL},
      /* 224.0.0.0/4 and 240.0.0.0/4 */
      {"223.255.255.255", NULL},
      {"224.0.0.0", "224.0.0.0/4"},
      {"239.255.255.255", "224.0.0.0/4"},
      {"240.0.0.0", "240.0.0.0/4"},
      {"255.255.255.255", "240.0.0.0/4"},
      {"8.8.8.8", NULL},
      /* IPv6 */
      {"::", "::/128"},
      {"::1", "::1/128"},
      {"::2", "0.0.0.0/8"}, /* IPv4-compatible 0.0.0.2 */
      {"::1.0.0.0", NULL},
      {"fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
      {"fe80::", "fe80::/10"},
      {"febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fe80::/10"},
      {"fec0::", "fec0::/10"},
      {"feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fec0::/10"},
      {"fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", NULL},
      {"fc00::", "fc00::/7"},
      {"fd00::2", "fc00::/7"},
      {"fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "fc00::/7"},
      {"fe00::", NULL},
      {"ff00::", "ff00::/8"},
      {"ff02::1", "ff00::/8"},
      {"ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ff00::/8"},
      {"2001:db8::1", NULL},
      {"2a00:1450:4001::1", NULL},
      /* IPv6 forms of IPv4 addresses: classified by the IPv4 address */
      {"::ffff:127.0.0.1", "127.0.0.0/8"},
      {"::ffff:10.1.2.3", "10.0.0.0/8"},
      {"::ffff:169.254.169.254", "169.254.0.0/16"},
      {"::ffff:0.0.0.0", "0.0.0.0/8"},
      {"::ffff:100.64.0.1", "100.64.0.0/10"},
      {"::ffff:224.0.0.1", "224.0.0.0/4"},
      {"::ffff:8.8.8.8", NULL},
      {"::127.0.0.1", "127.0.0.0/8"},
      {"::192.168.1.1", "192.168.0.0/16"},
      {"64:ff9b::7f00:1", "127.0.0.0/8"},
      {"64:ff9b::808:808", NULL},
      {"2002:7f00:1::", "127.0.0.0/8"},
      {"2002:c0a8:101::1", "192.168.0.0/16"},
      {"2002:808:808::", NULL},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    int row = -2;
    TS_CHECK(class_of(cases[i].addr, &row) == 0);
    const char *got = row < 0 ? NULL : http__addr_class_range(row);
    if (cases[i].range ? !got || strcmp(got, cases[i].range) != 0 : got != NULL) {
      fprintf(stderr, "# %s: in %s, expected %s\n", cases[i].addr, got ? got : "public",
              cases[i].range ? cases[i].range : "public");
      TS_CHECK(0);
    }
  }
  /* names for messages; families other than IP are no row */
  int row = -1;
  class_of("10.0.0.1", &row);
  TS_CHECK_STREQ(http__addr_class_name(row), "private");
  class_of("::1", &row);
  TS_CHECK_STREQ(http__addr_class_name(row), "loopback");
  struct sockaddr sa = {.sa_family = AF_UNIX};
  TS_CHECK_EQ_INT(http__addr_class(&sa, sizeof sa), -1);
  struct sockaddr_in short_in = {.sin_family = AF_INET};
  TS_CHECK_EQ_INT(http__addr_class((struct sockaddr *)&short_in, 4), -1);
  TS_CHECK(http__addr_class_count() <= 32); /* one bit per row in a refusal mask */
  return 0;
}

/* Header lines as libcurl hands them, "|" between lines; the answer at the
 * last (blank) line. */
typedef struct head_case {
  const char *lines;
  uint64_t max;
  int refuse;
} head_case;

int test_fetch_head_lines(void)
{
  static const head_case cases[] = {
      {"HTTP/1.1 200 OK\r\n|Content-Length: 1001\r\n|\r\n", 1000, 1},
      {"HTTP/1.1 200 OK\r\n|Content-Length: 1000\r\n|\r\n", 1000, 0},
      {"HTTP/1.1 200 OK\r\n|\r\n", 1000, 0}, /* length unknown: counted while written */
      {"HTTP/2 200\r\n|content-length: 5000\r\n|\r\n", 1000, 1},
      {"HTTP/1.1 200 OK\r\n|CONTENT-LENGTH:\t 5000 \t\r\n|\r\n", 1000, 1},
      {"HTTP/1.1 200 OK\n|Content-Length: 5000\n|\n", 1000, 1},
      /* encoded: the announced length is not the decoded one */
      {"HTTP/1.1 200 OK\r\n|Content-Encoding: gzip\r\n|Content-Length: 5000\r\n|\r\n", 1000, 0},
      {"HTTP/1.1 200 OK\r\n|Content-Encoding: identity\r\n|Content-Length: 5000\r\n|\r\n", 1000, 1},
      {"HTTP/1.1 200 OK\r\n|Content-Encoding: "
       "gzipgzipgzipgzipgzipgzipgzipgzipgzipgzipgzipgzipgzipgzipgzipgzipgzip\r\n|"
       "Content-Length: 5000\r\n|\r\n",
       1000, 0},
      /* not a 2xx: its body is not kept */
      {"HTTP/1.1 404 Not Found\r\n|Content-Length: 5000\r\n|\r\n", 1000, 0},
      {"HTTP/1.1 302 Found\r\n|Content-Length: 5000\r\n|\r\n", 1000, 0},
      /* each response starts afresh */
      {"HTTP/1.1 302 Found\r\n|Content-Length: 5000\r\n|\r\n|HTTP/1.1 200 OK\r\n|\r\n", 1000, 0},
      {"HTTP/1.1 200 OK\r\n|Content-Encoding: gzip\r\n|\r\n|HTTP/1.1 200 OK\r\n|"
       "Content-Length: 5000\r\n|\r\n",
       1000, 1},
      /* unreadable lengths count as unknown */
      {"HTTP/1.1 200 OK\r\n|Content-Length: -5000\r\n|\r\n", 1000, 0},
      {"HTTP/1.1 200 OK\r\n|Content-Length: 5000x\r\n|\r\n", 1000, 0},
      {"HTTP/1.1 200 OK\r\n|Content-Length: 99999999999999999999999\r\n|\r\n", 1000, 0},
      {"HTTP/1.1 200 OK\r\n|Content-Length:\r\n|\r\n", 1000, 0},
      {"HTTP/1.1 200 OK\r\n|Content-Length: 18446744073709551614\r\n|\r\n", 1000, 1},
      {"HTTP/1.1\r\n|Content-Length: 5000\r\n|\r\n", 1000, 0},
      {"HTTP/1.1 2\r\n|Content-Length: 5000\r\n|\r\n", 1000, 0},
      {"HTTP/1.1 299 Whatever\r\n|Content-Length: 5000\r\n|\r\n", 1000, 1},
      {"HTTP/1.1 300 Multiple\r\n|Content-Length: 5000\r\n|\r\n", 1000, 0},
      /* a field whose name only starts like it */
      {"HTTP/1.1 200 OK\r\n|Content-Lengthy: 5000\r\n|\r\n", 1000, 0},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    http__fetch_head h = {.announced = UINT64_MAX};
    const char *p = cases[i].lines;
    int got = 0;
    while (*p) {
      const char *bar = strchr(p, '|');
      size_t n = bar ? (size_t)(bar - p) : strlen(p);
      char line[256];
      memcpy(line, p, n); /* not NUL-terminated, as from libcurl */
      got = http__fetch_head_line(&h, line, n, cases[i].max);
      p += n + (bar != NULL);
    }
    if (got != cases[i].refuse) {
      fprintf(stderr, "# case %zu (%s): %d, expected %d\n", i, cases[i].lines, got,
              cases[i].refuse);
      TS_CHECK(0);
    }
  }
  return 0;
}
