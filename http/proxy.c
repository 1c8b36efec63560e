/* http/proxy.c: the client address behind trusted proxies.
 *
 * A load balancer in front of tapserve makes every connection come from
 * the balancer's address; the client's own is in X-Forwarded-For, which
 * any client can also write. Only the proxies the operator lists are
 * believed: walking X-Forwarded-For from its right end (the entry the
 * nearest proxy appended), each trusted address passes the question one
 * hop further; the first untrusted one is the client. */
#include "http/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <string.h>

/* An address in 16 bytes: IPv4 as the IPv4-mapped IPv6 form, so a v4
 * peer seen through a dual-stack socket matches a v4 network. */
static int addr_parse(const char *s, size_t len, uint8_t out[16])
{
  char buf[INET6_ADDRSTRLEN + 1];
  struct in_addr v4;
  if (len == 0 || len >= sizeof buf)
    return 0;
  memcpy(buf, s, len);
  buf[len] = '\0';
  if (inet_pton(AF_INET, buf, &v4) == 1) {
    memset(out, 0, 10);
    out[10] = out[11] = 0xff;
    memcpy(out + 12, &v4, 4);
    return 1;
  }
  return inet_pton(AF_INET6, buf, out) == 1;
}

static int is_v4(const uint8_t a[16])
{
  static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return !memcmp(a, mapped, sizeof mapped);
}

/* The canonical text of an address (IPv4 dotted, IPv6 as inet_ntop
 * writes it), so that one client is one string for the per-address
 * counters. */
static void addr_text(const uint8_t a[16], char *out, size_t cap)
{
  char buf[INET6_ADDRSTRLEN];
  if (!inet_ntop(is_v4(a) ? AF_INET : AF_INET6, is_v4(a) ? a + 12 : a, buf, sizeof buf))
    buf[0] = '\0';
  snprintf(out, cap, "%s", buf);
}

static int net_match(const http_net *n, const uint8_t a[16])
{
  int full = n->bits / 8, rest = n->bits % 8;
  if (memcmp(n->addr, a, (size_t)full) != 0)
    return 0;
  if (rest == 0)
    return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (n->addr[full] & mask) == (a[full] & mask);
}

static int trusted(const http_proxies *p, const uint8_t a[16])
{
  for (size_t i = 0; i < p->n; i++)
    if (net_match(&p->net[i], a))
      return 1;
  return 0;
}

/* One "ADDRESS" or "ADDRESS/BITS" of the list. */
static ts_err net_parse(const char *s, size_t len, http_net *out, ts_error *err)
{
  const char *slash = memchr(s, '/', len);
  size_t alen = slash ? (size_t)(slash - s) : len;
  if (!addr_parse(s, alen, out->addr))
    return ts_fail(err, TS_EINVAL, 0, "'%.*s' is not an IPv4 or IPv6 address", (int)alen, s);
  int v4 = is_v4(out->addr), max = v4 ? 32 : 128, bits = max;
  if (slash) {
    const char *b = slash + 1, *end = s + len;
    if (b == end || end - b > 3)
      return ts_fail(err, TS_EINVAL, 0, "'%.*s': bad prefix length", (int)len, s);
    bits = 0;
    for (; b < end; b++) {
      if (!isdigit((unsigned char)*b))
        return ts_fail(err, TS_EINVAL, 0, "'%.*s': bad prefix length", (int)len, s);
      bits = bits * 10 + (*b - '0');
    }
    if (bits > max)
      return ts_fail(err, TS_EINVAL, 0, "'%.*s': prefix longer than %d bits", (int)len, s, max);
  }
  out->bits = v4 ? bits + 96 : bits;
  return TS_OK;
}

ts_err http_proxies_parse(const char *list, http_proxies *out, ts_error *err)
{
  const char *p = list ? list : "";
  memset(out, 0, sizeof *out);
  for (;;) {
    while (*p == ',' || isspace((unsigned char)*p))
      p++;
    if (!*p)
      return TS_OK;
    const char *e = p;
    while (*e && *e != ',' && !isspace((unsigned char)*e))
      e++;
    if (out->n == HTTP_PROXIES_MAX)
      return ts_fail(err, TS_EINVAL, 0, "more than %d trusted proxy networks", HTTP_PROXIES_MAX);
    ts_err rc = net_parse(p, (size_t)(e - p), &out->net[out->n], err);
    if (rc)
      return rc;
    out->n++;
    p = e;
  }
}

int http_proxies_trust(const http_proxies *p, const char *addr)
{
  uint8_t a[16];
  return p && p->n && addr_parse(addr, strlen(addr), a) && trusted(p, a);
}

/* Walks one X-Forwarded-For value right to left; 1 when the client was
 * found (or the walk must end), 0 when every entry was trusted. */
static int walk(const http_proxies *p, const char *xff, char *out, size_t cap)
{
  const char *end = xff + strlen(xff);
  uint8_t a[16];
  while (end > xff) {
    const char *s = end;
    while (s > xff && s[-1] != ',')
      s--;
    const char *b = s, *e = end;
    while (b < e && isspace((unsigned char)*b))
      b++;
    while (e > b && isspace((unsigned char)e[-1]))
      e--;
    if (!addr_parse(b, (size_t)(e - b), a))
      return 1;
    addr_text(a, out, cap);
    if (!trusted(p, a))
      return 1;
    end = s > xff ? s - 1 : xff;
  }
  return 0;
}

void http_client_addr(const http_proxies *p, const char *peer, const char *const *xff, size_t n,
                      char *out, size_t cap)
{
  uint8_t a[16];
  snprintf(out, cap, "%s", peer);
  if (!p || !p->n || !addr_parse(peer, strlen(peer), a) || !trusted(p, a))
    return;
  /* Right to left across the header lines too (a proxy may add a line of
   * its own rather than extend the last). A malformed entry ends the
   * walk: nothing left of it can be believed, and the last address taken
   * (a trusted proxy) stays. */
  for (size_t i = n; i-- > 0;)
    if (walk(p, xff[i], out, cap))
      return;
}
