/* Fuzzes the route matcher: the first byte picks the method, the rest is
 * a raw path, looked up in a table shaped like the service's (a base,
 * parameters with and without a check, a rest, a sibling). Whatever the
 * path, a lookup must answer one of its three verdicts consistently. */
#include "http/route.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void h_any(void *ctx, http_request *req, const http_route_match *m)
{
  (void)ctx;
  (void)req;
  (void)m;
}

static int hex_id(const char *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!((v[i] >= '0' && v[i] <= '9') || (v[i] >= 'a' && v[i] <= 'f')))
      return 0;
  return n < 40;
}

static http_router *table(void)
{
  static const struct {
    unsigned m;
    const char *base, *pattern;
  } rows[] = {
      {HTTP_M_GET, "/ctx/tap", ""},
      {HTTP_M_GET, "/ctx/tap", "/"},
      {HTTP_M_GET | HTTP_M_POST, "/ctx/tap", "/sync"},
      {HTTP_M_GET | HTTP_M_POST, "/ctx/tap", "/async"},
      {HTTP_M_GET | HTTP_M_POST | HTTP_M_DELETE, "/ctx/tap", "/async/{id}"},
      {HTTP_M_GET | HTTP_M_POST, "/ctx/tap", "/async/{id}/phase"},
      {HTTP_M_GET, "/ctx/tap", "/async/{id}/results/result"},
      {HTTP_M_GET, "/ctx/tap", "/tables/{name}"},
      {HTTP_M_GET, "/ctx/tap", "/tables/special"},
      {HTTP_M_GET, "/ctx/tap", "/files/*"},
      {HTTP_M_GET, "/ctx/tap", "/files/{a}/{b}/x"},
      {HTTP_M_POST, "/ctx", "/login"},
  };
  http_router *r = http_router_new();
  ts_error err;
  if (!r)
    abort();
  for (size_t i = 0; i < TS_ARRAY_LEN(rows); i++)
    if (http_router_add(r, rows[i].m, rows[i].base, rows[i].pattern, h_any, NULL, &err))
      abort();
  if (http_router_param_check(r, "id", hex_id, &err))
    abort();
  return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const methods[] = {"GET", "HEAD", "POST", "DELETE", "PUT", "BREW"};
  static http_router *r;
  static http_route_match m, mh;
  char *path;
  const char *method;
  http_route_rc rc;

  if (!r)
    r = table();
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
