/* Fuzzes the Cookie header reader (a client's header): the first byte
 * picks the name looked up, the rest is the header value, not
 * NUL-terminated. A value found always lies inside the header, and what is
 * found can be written back as a Set-Cookie line or is refused cleanly. */
#include "http/http.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const names[] = {"SESSION", "JSESSIONID", "a", "TSOWNER"};
  const char *val = NULL, *hdr;
  size_t vlen = 0;
  if (size < 1)
    return 0;
  const char *name = names[data[0] % 4];
  hdr = (const char *)data + 1;
  size--;
  if (http_cookie_get(hdr, size, name, &val, &vlen)) {
    if (val < hdr || val + vlen > hdr + size || vlen > HTTP_COOKIE_VALUE_MAX)
      __builtin_trap();
    char *v = malloc(vlen + 1);
    if (!v)
      return 0;
    memcpy(v, val, vlen);
    v[vlen] = 0;
    ts_buf b;
    ts_error e;
    ts_buf_init(&b, 2 * HTTP_COOKIE_VALUE_MAX);
    http_cookie c = {name, v, "/ctx", -1, 1, 1, "Lax"};
    if (!http_set_cookie(&b, &c, &e) && (!b.data || !strstr(b.data, "\r\n")))
      __builtin_trap();
    ts_buf_free(&b);
    free(v);
  }
  return 0;
}
