/* The address classifier of the upload fetcher: which ranges an upload URL
 * may not reach unless the operator allows private addresses. */
#include "http/fetch_int.h"

#include <netinet/in.h>
#include <string.h>

typedef struct addr_range {
  int family; /* AF_INET or AF_INET6 */
  uint8_t net[16];
  int prefix; /* bits */
  const char *cidr;
  const char *name;
} addr_range;

/* Non-public ranges, one class per row (IANA special-purpose registries,
 * RFC 6890). Order matters only where rows overlap: the first match wins. */
static const addr_range ranges[] = {
    {AF_INET, {0}, 8, "0.0.0.0/8", "unspecified"},
    {AF_INET, {10}, 8, "10.0.0.0/8", "private"},
    {AF_INET, {100, 64}, 10, "100.64.0.0/10", "shared (carrier-grade NAT)"},
    {AF_INET, {127}, 8, "127.0.0.0/8", "loopback"},
    {AF_INET, {169, 254}, 16, "169.254.0.0/16", "link-local"},
    {AF_INET, {172, 16}, 12, "172.16.0.0/12", "private"},
    {AF_INET, {192, 168}, 16, "192.168.0.0/16", "private"},
    {AF_INET, {224}, 4, "224.0.0.0/4", "multicast"},
    {AF_INET, {240}, 4, "240.0.0.0/4", "reserved"}, /* with 255.255.255.255 */
    {AF_INET6, {0}, 128, "::/128", "unspecified"},
    {AF_INET6, {[15] = 1}, 128, "::1/128", "loopback"},
    {AF_INET6, {0xfe, 0x80}, 10, "fe80::/10", "link-local"},
    {AF_INET6, {0xfe, 0xc0}, 10, "fec0::/10", "site-local"},
    {AF_INET6, {0xfc}, 7, "fc00::/7", "unique-local"},
    {AF_INET6, {0xff}, 8, "ff00::/8", "multicast"},
};
enum { NRANGES = (int)(sizeof ranges / sizeof ranges[0]) };

int http__addr_class_count(void)
{
  return NRANGES;
}
const char *http__addr_class_name(int row)
{
  return row >= 0 && row < NRANGES ? ranges[row].name : "public";
}
const char *http__addr_class_range(int row)
{
  return row >= 0 && row < NRANGES ? ranges[row].cidr : "";
}

static int in_prefix(const uint8_t *a, const uint8_t *net, int prefix)
{
  int full = prefix / 8, rest = prefix % 8;
  if (memcmp(a, net, (size_t)full) != 0)
    return 0;
  if (!rest)
    return 1;
  uint8_t mask = (uint8_t)(0xff << (8 - rest));
  return (a[full] & mask) == (net[full] & mask);
}

static int classify(int family, const uint8_t *a)
{
  for (int i = 0; i < NRANGES; i++)
    if (ranges[i].family == family && in_prefix(a, ranges[i].net, ranges[i].prefix))
      return i;
  return -1;
}

/* IPv6 forms that carry an IPv4 address a router or the host itself would
 * reach: the embedded address in *v4. */
static int embedded_v4(const uint8_t *a, uint8_t *v4)
{
  static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
  static const uint8_t compat[12] = {0};
  static const uint8_t nat64[12] = {0x00, 0x64, 0xff, 0x9b};
  if (!memcmp(a, mapped, 12) || !memcmp(a, compat, 12) || !memcmp(a, nat64, 12)) {
    memcpy(v4, a + 12, 4);
    return 1;
  }
  if (a[0] == 0x20 && a[1] == 0x02) { /* 6to4: 2002:AABB:CCDD::/48 */
    memcpy(v4, a + 2, 4);
    return 1;
  }
  return 0;
}

int http__addr_class(const struct sockaddr *sa, socklen_t len)
{
  if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
    struct sockaddr_in in;
    memcpy(&in, sa, sizeof in);
    return classify(AF_INET, (const uint8_t *)&in.sin_addr);
  }
  if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
    struct sockaddr_in6 in6;
    uint8_t v4[4];
    memcpy(&in6, sa, sizeof in6);
    const uint8_t *a = in6.sin6_addr.s6_addr;
    int row = classify(AF_INET6, a); /* :: and ::1 before the ::/96 form */
    if (row >= 0)
      return row;
    return embedded_v4(a, v4) ? classify(AF_INET, v4) : -1;
  }
  return -1;
}
