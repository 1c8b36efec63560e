/* tests/unit/http/route_table.h: the route table the route unit tests
 * (test_route.c) and the route fuzzer (tests/fuzz/fuzz_route.c) look paths
 * up in. */
#ifndef TS_TEST_ROUTE_TABLE_H
#define TS_TEST_ROUTE_TABLE_H

#include "http/route.h"

#include <stdio.h>

/* Handlers are told apart by their route data. */
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

/* A table like the service's: base /ctx/tap, parameters with and without
 * a check ({id} is lower-case hex), a rest, a sibling base /ctx. Each
 * route's data is its name. NULL (the reason on stderr) when it cannot be
 * built. */
static http_router *route_test_table(void)
{
  static const struct {
    unsigned m;
    const char *base, *pattern, *name;
  } rows[] = {
      {HTTP_M_GET, "/ctx/tap", "", "home"},
      {HTTP_M_GET, "/ctx/tap", "/", "home"},
      {HTTP_M_GET | HTTP_M_POST, "/ctx/tap", "/sync", "sync"},
      {HTTP_M_GET | HTTP_M_POST, "/ctx/tap", "/async", "list"},
      {HTTP_M_GET | HTTP_M_POST | HTTP_M_DELETE, "/ctx/tap", "/async/{id}", "job"},
      {HTTP_M_GET | HTTP_M_POST, "/ctx/tap", "/async/{id}/phase", "phase"},
      {HTTP_M_GET, "/ctx/tap", "/async/{id}/results/result", "result"},
      {HTTP_M_GET, "/ctx/tap", "/tables", "tables"},
      {HTTP_M_GET, "/ctx/tap", "/tables/{name}", "table"},
      {HTTP_M_GET, "/ctx/tap", "/tables/special", "special"},
      {HTTP_M_GET, "/ctx/tap", "/files/*", "files"},
      {HTTP_M_GET, "/ctx/tap", "/files/{f}/meta", "filemeta"},
      {HTTP_M_GET, "/ctx/tap", "/files/{a}/{b}/x", "filex"},
      {HTTP_M_POST, "/ctx", "/login", "login"},
      {HTTP_M_POST, "/ctx", "/Upload", "upload"},
  };
  http_router *r = http_router_new();
  ts_error err;
  if (!r)
    return NULL;
  for (size_t i = 0; i < TS_ARRAY_LEN(rows); i++)
    if (http_router_add(r, rows[i].m, rows[i].base, rows[i].pattern, h_any, (void *)rows[i].name,
                        &err)) {
      fprintf(stderr, "# add %s%s: %s\n", rows[i].base, rows[i].pattern, err.msg);
      http_router_free(r);
      return NULL;
    }
  if (http_router_param_check(r, "id", hex_id, &err)) {
    http_router_free(r);
    return NULL;
  }
  return r;
}

#endif
