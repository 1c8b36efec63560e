/* Fuzzes the route matcher: the first byte picks the method, the rest is
 * a raw path, looked up in the route unit tests' table (route_table.h,
 * shaped like the service's). Whatever the path, a lookup must answer one
 * of its three verdicts consistently. */
#include "http/route.h"
#include "../unit/http/route_table.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const methods[] = {"GET", "HEAD", "POST", "DELETE", "PUT", "BREW"};
  static http_router *r;
  static http_route_match m, mh;
  char *path;
  const char *method;
  http_route_rc rc;

  if (!r && !(r = route_test_table()))
    abort();
  if (size == 0)
    return 0;
  method = methods[data[0] % TS_ARRAY_LEN(methods)];
  path = malloc(size);
  if (!path)
    return 0;
  memcpy(path, data + 1, size - 1);
  path[size - 1] = '\0';
  rc = http_route_lookup(r, method, path, &m);
  if (rc == HTTP_ROUTE_FOUND) {
    if (!m.fn || !(m.allow & http_method_bit(method)) || m.nparams > HTTP_ROUTE_MAX_PARAMS)
      __builtin_trap();
    for (size_t i = 0; i < m.nparams; i++) {
      size_t n = strlen(m.params[i].value);
      /* captured values are one decoded segment: never empty, never a '/' */
      if (n == 0 || n > HTTP_ROUTE_SEG_MAX || strchr(m.params[i].value, '/'))
        __builtin_trap();
    }
    if (m.rest && (m.rest < path || m.rest > path + strlen(path)))
      __builtin_trap();
    /* HEAD goes wherever GET goes */
    if (!strcmp(method, "GET") &&
        (http_route_lookup(r, "HEAD", path, &mh) != HTTP_ROUTE_FOUND || mh.fn != m.fn))
      __builtin_trap();
  } else if (rc == HTTP_ROUTE_NO_METHOD) {
    if (!m.allow || (m.allow & http_method_bit(method)))
      __builtin_trap();
  } else if (rc != HTTP_ROUTE_NOT_FOUND || m.allow) {
    __builtin_trap();
  }
  free(path);
  return 0;
}
