/* The service's route table (routes.c) under the base paths base_url can
 * give: nested, one segment, the root. */
#include "http/route.h"
#include "tapserve/tapserve.h"
#include "test_list.h"
#include "ts_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static http_route_rc look(const http_router *r, const char *method, const char *path,
                          http_route_match *m)
{
  return http_route_lookup(r, method, path, m);
}

int test_routes_table(void)
{
  static const char *const bases[] = {"/ctx/tap", "/tap", ""};
  http_route_match *m = malloc(sizeof *m);
  char p[128], allow[HTTP_ROUTE_ALLOW_MAX];
  TS_CHECK(m);
  for (size_t i = 0; i < TS_ARRAY_LEN(bases); i++) {
    const char *b = bases[i];
    cfg c;
    http_router *r = NULL;
    ts_error err;
    cfg_defaults(&c);
    free(c.path_prefix);
    c.path_prefix = (char *)b;
    TS_CHECK_EQ_INT(ts_routes_new(&c, &r, &err), TS_OK);
    c.path_prefix = NULL;
    cfg_free(&c);

    snprintf(p, sizeof p, "%s/", b);
    TS_CHECK_EQ_INT(look(r, "GET", p, m), HTTP_ROUTE_FOUND);
    snprintf(p, sizeof p, "%s/async/0af9/phase", b);
    TS_CHECK_EQ_INT(look(r, "POST", p, m), HTTP_ROUTE_FOUND);
    TS_CHECK_STREQ(m->ud, "phase");
    TS_CHECK_STREQ(http_route_param_get(m, "id"), "0af9");
    TS_CHECK_EQ_INT(look(r, "DELETE", p, m), HTTP_ROUTE_NO_METHOD);
    http_route_allow(m->allow, allow);
    TS_CHECK_STREQ(allow, "GET, POST, HEAD");
    snprintf(p, sizeof p, "%s/async/0af9/runId", b);
    TS_CHECK_EQ_INT(look(r, "GET", p, m), HTTP_ROUTE_FOUND);
    TS_CHECK_STREQ(m->ud, "runid");
    snprintf(p, sizeof p, "%s/async/0AF9", b); /* ids are lower-case hex */
    TS_CHECK_EQ_INT(look(r, "DELETE", p, m), HTTP_ROUTE_NOT_FOUND);
    snprintf(p, sizeof p, "%s/async/0af9/results/result", b);
    TS_CHECK_EQ_INT(look(r, "HEAD", p, m), HTTP_ROUTE_FOUND);
    /* TAP+ jobs under the base */
    snprintf(p, sizeof p, "%s/jobs/async", b);
    TS_CHECK_EQ_INT(look(r, "GET", p, m), HTTP_ROUTE_FOUND);
    snprintf(p, sizeof p, "%s/deletejobs", b);
    TS_CHECK_EQ_INT(look(r, "POST", p, m), HTTP_ROUTE_FOUND);
    TS_CHECK_EQ_INT(look(r, "GET", p, m), HTTP_ROUTE_NO_METHOD);
    /* TAP+ sharing under the base: share by GET or POST, users by GET */
    snprintf(p, sizeof p, "%s/share", b);
    TS_CHECK_EQ_INT(look(r, "GET", p, m), HTTP_ROUTE_FOUND);
    TS_CHECK_EQ_INT(look(r, "POST", p, m), HTTP_ROUTE_FOUND);
    snprintf(p, sizeof p, "%s/users", b);
    TS_CHECK_EQ_INT(look(r, "GET", p, m), HTTP_ROUTE_FOUND);
    TS_CHECK_EQ_INT(look(r, "POST", p, m), HTTP_ROUTE_NO_METHOD);
    snprintf(p, sizeof p, "%s/tables/demo.sources", b);
    TS_CHECK_EQ_INT(look(r, "GET", p, m), HTTP_ROUTE_FOUND);
    TS_CHECK_STREQ(http_route_param_get(m, "name"), "demo.sources");
    /* TAP+ sessions beside the base: /ctx/login next to /ctx/tap, POST only */
    {
      const char *cut = strrchr(b, '/');
      int n = cut ? (int)(cut - b) : 0;
      snprintf(p, sizeof p, "%.*s/login", n, b);
      TS_CHECK_EQ_INT(look(r, "POST", p, m), HTTP_ROUTE_FOUND);
      TS_CHECK_EQ_INT(look(r, "GET", p, m), HTTP_ROUTE_NO_METHOD);
      snprintf(p, sizeof p, "%.*s/logout", n, b);
      TS_CHECK_EQ_INT(look(r, "POST", p, m), HTTP_ROUTE_FOUND);
      if (n > 0)
        TS_CHECK_EQ_INT(look(r, "POST", "/login", m), HTTP_ROUTE_NOT_FOUND);
    }
    /* the page: at the base, and at the root whatever the base */
    TS_CHECK_EQ_INT(look(r, "GET", b[0] ? b : "/", m), HTTP_ROUTE_FOUND);
    TS_CHECK_EQ_INT(look(r, "GET", "/", m), HTTP_ROUTE_FOUND);
    snprintf(p, sizeof p, "%s/web/app.js", b);
    TS_CHECK_EQ_INT(look(r, "GET", p, m), HTTP_ROUTE_FOUND);
    TS_CHECK_STREQ(http_route_param_get(m, "name"), "app.js");
    snprintf(p, sizeof p, "%s/web/check", b);
    TS_CHECK_EQ_INT(look(r, "POST", p, m), HTTP_ROUTE_FOUND);
    TS_CHECK_EQ_INT(look(r, "GET", p, m), HTTP_ROUTE_FOUND); /* an asset's name: 404 there */
    snprintf(p, sizeof p, "%s/web/session", b);
    TS_CHECK_EQ_INT(look(r, "GET", p, m), HTTP_ROUTE_FOUND);
    TS_CHECK(http_route_param_get(m, "name") == NULL);
    snprintf(p, sizeof p, "%s/web/rows", b);
    TS_CHECK_EQ_INT(look(r, "GET", p, m), HTTP_ROUTE_FOUND);
    http_router_free(r);
  }
  free(m);
  return 0;
}
