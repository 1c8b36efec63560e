/* Fuzzes the upload fetcher's reading of response headers (a remote
 * server's bytes): the first eight bytes are the size limit, the rest header
 * lines, each ending at '\n'. The fetcher may only refuse a body at the end
 * of a 2xx response's headers that announced an unencoded length beyond the
 * limit. */
#include "http/fetch_int.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  uint64_t max = 1000;
  http__fetch_head h = {.announced = UINT64_MAX};
  if (size >= 8) {
    memcpy(&max, data, 8);
    data += 8;
    size -= 8;
  }
  const char *p = (const char *)data, *end = p + size;
  while (p < end) {
    const char *nl = memchr(p, '\n', (size_t)(end - p));
    size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
    if (http__fetch_head_line(&h, p, n, max) &&
        (h.status < 200 || h.status > 299 || !h.identity || h.announced <= max ||
         h.announced == UINT64_MAX || !(n == 1 || (n == 2 && p[0] == '\r'))))
      __builtin_trap();
    p += n;
  }
  return 0;
}
