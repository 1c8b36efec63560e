/* Fuzzes the Range and If-Range parsers (a client's headers): the first
 * eight bytes are the representation's length, the rest the header value.
 * A served range always lies within the representation. */
#include "http/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  int64_t length = -1;
  uint64_t first = 0, last = 0;
  if (size >= 8) {
    memcpy(&length, data, 8);
    data += 8;
    size -= 8;
  }
  char *v = malloc(size + 1);
  if (!v)
    return 0;
  memcpy(v, data, size);
  v[size] = 0;
  http_range_result r = http_range_parse(v, length, &first, &last);
  if (r == HTTP_RANGE_PARTIAL && (length <= 0 || first > last || last >= (uint64_t)length))
    __builtin_trap();
  if (r != HTTP_RANGE_IGNORE && length < 0)
    __builtin_trap();
  (void)http_if_range_matches(v, "j-result-votable");
  free(v);
  return 0;
}
