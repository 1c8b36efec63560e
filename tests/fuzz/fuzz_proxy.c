/* Fuzzes X-Forwarded-For (a client's header) and the trusted_proxies list
 * (the operator's): input is "LIST\nLINE\nLINE...". The client address
 * found is always a canonical address (it parses back as one and comes
 * out unchanged) or the peer itself. */
#include "http/http.h"

#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { LINES_MAX = 8 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  http_proxies p;
  ts_error err;
  const char *lines[LINES_MAX];
  size_t n = 0;
  char out[64], again[64];
  char *v = malloc(size + 1);
  if (!v)
    return 0;
  memcpy(v, data, size);
  v[size] = 0;
  char *rest = strchr(v, '\n');
  if (rest)
    *rest++ = 0;
  if (http_proxies_parse(v, &p, &err) != TS_OK)
    http_proxies_parse("127.0.0.1 10.0.0.0/8 ::1", &p, &err);
  while (rest && n < LINES_MAX) {
    lines[n++] = rest;
    rest = strchr(rest, '\n');
    if (rest)
      *rest++ = 0;
  }
  http_client_addr(&p, "127.0.0.1", lines, n, out, sizeof out);
  if (strcmp(out, "127.0.0.1") != 0) {
    const char *one = out;
    http_proxies all;
    /* a canonical address: trusting everything, it maps to itself */
    if (http_proxies_parse("0.0.0.0/0 ::/0", &all, &err) != TS_OK)
      __builtin_trap();
    if (!http_proxies_trust(&all, out))
      __builtin_trap();
    http_client_addr(NULL, out, &one, 1, again, sizeof again);
    if (strcmp(again, out) != 0)
      __builtin_trap();
  }
  free(v);
  return 0;
}
