/* The route table (http/route.h): matching by segments, parameters, 404
 * against 405 with Allow, precedence, trailing slashes, sibling bases and
 * hostile paths. */
#include "http/route.h"
#include "route_table.h"
#include "test_list.h"
#include "ts_test.h"

#include <stdlib.h>
#include <string.h>

/* The name of the route that answers, "404", or "405 <Allow>". */
static const char *look(const http_router *r, const char *method, const char *path,
                        http_route_match *m)
{
  static char out[128];
  char allow[HTTP_ROUTE_ALLOW_MAX];
  switch (http_route_lookup(r, method, path, m)) {
  case HTTP_ROUTE_FOUND:
    return m->ud;
  case HTTP_ROUTE_NO_METHOD:
    http_route_allow(m->allow, allow);
    snprintf(out, sizeof out, "405 %s", allow);
    return out;
  default:
    return "404";
  }
}

int test_route_match(void)
{
  http_router *r = route_test_table();
  http_route_match *m = malloc(sizeof *m);
  TS_CHECK(r && m);
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap", m), "home");
  TS_CHECK_STREQ(look(r, "HEAD", "/ctx/tap/", m), "home");
  TS_CHECK_STREQ(look(r, "POST", "/ctx/tap/sync", m), "sync");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/sync", m), "sync");
  TS_CHECK_EQ_INT(m->nparams, 0);
  TS_CHECK(m->rest == NULL);
  TS_CHECK_STREQ(m->pattern, "/ctx/tap/sync");
  /* exact and case-sensitive */
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/SYNC", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/syncx", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tapx/sync", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "ctx/tap", m), "404");
  /* percent-encoded letters are the letters */
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/%73ync", m), "sync");
  http_router_free(r);
  free(m);
  return 0;
}

int test_route_params(void)
{
  http_router *r = route_test_table();
  http_route_match *m = malloc(sizeof *m);
  TS_CHECK(r && m);
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/async/0af9", m), "job");
  TS_CHECK_EQ_INT(m->nparams, 1);
  TS_CHECK_STREQ(m->params[0].name, "id");
  TS_CHECK_STREQ(http_route_param_get(m, "id"), "0af9");
  TS_CHECK(http_route_param_get(m, "name") == NULL);
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/async/0af9/results/result", m), "result");
  TS_CHECK_STREQ(http_route_param_get(m, "id"), "0af9");
  /* the check refuses: unknown path, not a wrong method */
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/async/XYZ", m), "404");
  TS_CHECK_STREQ(look(r, "PUT", "/ctx/tap/async/XYZ/phase", m), "404");
  /* a parameter is one non-empty segment */
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/async//phase", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/async/0af9/x/phase", m), "404");
  /* values are decoded */
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/tables/demo.%22My%20Table%22", m), "table");
  TS_CHECK_STREQ(http_route_param_get(m, "name"), "demo.\"My Table\"");
  /* two parameters in one path; '*' keeps the rest as sent */
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/files/a%20b/meta", m), "filemeta");
  TS_CHECK_STREQ(http_route_param_get(m, "f"), "a b");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/files/a%20b/c/", m), "files");
  TS_CHECK_STREQ(m->rest, "a%20b/c/");
  TS_CHECK_EQ_INT(m->nparams, 0);
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/files/", m), "files");
  TS_CHECK_STREQ(m->rest, "");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/files", m), "404");
  http_router_free(r);
  free(m);
  return 0;
}

int test_route_405(void)
{
  http_router *r = route_test_table();
  http_route_match *m = malloc(sizeof *m);
  TS_CHECK(r && m);
  TS_CHECK_STREQ(look(r, "DELETE", "/ctx/tap/sync", m), "405 GET, POST, HEAD");
  TS_CHECK_STREQ(look(r, "POST", "/ctx/tap", m), "405 GET, HEAD");
  TS_CHECK_STREQ(look(r, "PUT", "/ctx/tap/async/0af9", m), "405 GET, POST, DELETE, HEAD");
  TS_CHECK_STREQ(look(r, "DELETE", "/ctx/tap/async/0af9/phase", m), "405 GET, POST, HEAD");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/login", m), "405 POST");
  /* unknown methods match no route */
  TS_CHECK_STREQ(look(r, "BREW", "/ctx/tap/sync", m), "405 GET, POST, HEAD");
  TS_CHECK_STREQ(look(r, "get", "/ctx/tap/sync", m), "405 GET, POST, HEAD");
  /* the Allow of a path gathers every route that matches it */
  TS_CHECK_STREQ(look(r, "POST", "/ctx/tap/tables/special", m), "405 GET, HEAD");
  TS_CHECK_EQ_INT(http_method_bit("HEAD"), HTTP_M_HEAD);
  TS_CHECK_EQ_INT(http_method_bit("head"), 0);
  char all[HTTP_ROUTE_ALLOW_MAX];
  http_route_allow(~0u, all);
  TS_CHECK_STREQ(all, "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD");
  http_route_allow(0, all);
  TS_CHECK_STREQ(all, "");
  http_router_free(r);
  free(m);
  return 0;
}

int test_route_precedence(void)
{
  http_router *r = route_test_table();
  http_route_match *m = malloc(sizeof *m);
  ts_error err;
  TS_CHECK(r && m);
  /* literal over parameter, whatever the order of registration */
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/tables/special", m), "special");
  TS_CHECK_EQ_INT(m->nparams, 0);
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/tables/other", m), "table");
  /* parameter over rest */
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/files/x/meta", m), "filemeta");
  /* a literal added after a parameter still wins */
  TS_CHECK(!http_router_add(r, HTTP_M_GET, "/ctx/tap", "/async/{id}/special", h_any, "late", &err));
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/async/0af9/special", m), "late");
  /* same shape, a method in common: refused */
  TS_CHECK_EQ_INT(http_router_add(r, HTTP_M_GET, "/ctx/tap", "/tables/{other}", h_any, "dup", &err),
                  TS_EINVAL);
  TS_CHECK(strstr(err.msg, "conflicts"));
  TS_CHECK_EQ_INT(http_router_add(r, HTTP_M_GET, "/ctx/tap", "/sync", h_any, "dup", &err),
                  TS_EINVAL);
  /* same shape, other methods: fine, and the path gathers both */
  TS_CHECK(!http_router_add(r, HTTP_M_DELETE, "/ctx/tap", "/tables/{other}", h_any, "del", &err));
  TS_CHECK_STREQ(look(r, "DELETE", "/ctx/tap/tables/x", m), "del");
  TS_CHECK_STREQ(http_route_param_get(m, "other"), "x");
  TS_CHECK_STREQ(look(r, "PUT", "/ctx/tap/tables/x", m), "405 GET, DELETE, HEAD");
  /* a literal that matches the path but not the method leaves the
   * request to the parameter route that takes the method */
  TS_CHECK_STREQ(look(r, "DELETE", "/ctx/tap/tables/special", m), "del");
  http_router_free(r);
  free(m);
  return 0;
}

int test_route_trailing_slash(void)
{
  http_router *r = route_test_table();
  http_route_match *m = malloc(sizeof *m);
  TS_CHECK(r && m);
  /* "" and "/" are two patterns; only the registered one answers */
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/", m), "home");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/sync/", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/async/", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/async/0af9/", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap//sync", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/tables//", m), "404");
  http_router_free(r);
  free(m);
  return 0;
}

int test_route_sibling(void)
{
  http_router *r = route_test_table();
  http_route_match *m = malloc(sizeof *m);
  TS_CHECK(r && m);
  /* resources beside the base path and under it, in one table */
  TS_CHECK_STREQ(look(r, "POST", "/ctx/login", m), "login");
  TS_CHECK_STREQ(look(r, "POST", "/ctx/Upload", m), "upload");
  TS_CHECK_STREQ(look(r, "POST", "/ctx/upload", m), "404");
  TS_CHECK_STREQ(look(r, "POST", "/ctx/tap/login", m), "404");
  TS_CHECK_STREQ(look(r, "POST", "/login", m), "404");
  http_router_free(r);

  /* a base at the root: "" names nothing, "/" the root */
  ts_error err;
  r = http_router_new();
  TS_CHECK(r);
  TS_CHECK(!http_router_add(r, HTTP_M_GET, "", "", h_any, "none", &err));
  TS_CHECK(!http_router_add(r, HTTP_M_GET, "", "/", h_any, "root", &err));
  TS_CHECK(!http_router_add(r, HTTP_M_GET, "", "/sync", h_any, "sync", &err));
  TS_CHECK_STREQ(look(r, "GET", "/", m), "root");
  TS_CHECK_STREQ(look(r, "GET", "/sync", m), "sync");
  /* braces in a base are text */
  TS_CHECK(!http_router_add(r, HTTP_M_GET, "/{a}/*", "/x", h_any, "odd", &err));
  TS_CHECK_STREQ(look(r, "GET", "/%7Ba%7D/*/x", m), "odd");
  TS_CHECK_STREQ(look(r, "GET", "/b/c/x", m), "404");
  http_router_free(r);
  free(m);
  return 0;
}

int test_route_bad_patterns(void)
{
  static const struct {
    const char *base, *pattern;
  } bad[] = {
      {"/tap", "sync"},
      {"tap", "/sync"},
      {"/tap/", "/sync"},
      {"/a//b", "/x"},
      {"/tap", "/{id"},
      {"/tap", "/{}"},
      {"/tap", "/x{id}"},
      {"/tap", "/{i-d}"},
      {"/tap", "/{a}/{a}"},
      {"/tap", "/*/x"},
      {"/tap", "/a*"},
      {"/tap", "/}"},
      {"/tap", "/{abcdefghijklmnopqrstuvwxyz0123456}"},
  };
  http_router *r = http_router_new();
  ts_error err;
  char big[600];
  TS_CHECK(r);
  for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
    ts_err rc = http_router_add(r, HTTP_M_GET, bad[i].base, bad[i].pattern, h_any, NULL, &err);
    if (rc != TS_EINVAL)
      fprintf(stderr, "# %s%s accepted\n", bad[i].base, bad[i].pattern);
    TS_CHECK_EQ_INT(rc, TS_EINVAL);
  }
  TS_CHECK_EQ_INT(http_router_add(r, 0, "/tap", "/x", h_any, NULL, &err), TS_EINVAL);
  TS_CHECK_EQ_INT(http_router_add(r, HTTP_M_GET, "/tap", "/x", NULL, NULL, &err), TS_EINVAL);
  /* too many segments, too long a literal */
  for (int i = 0; i < HTTP_ROUTE_MAX_SEGMENTS; i++)
    memcpy(big + 2 * i, "/a", 3);
  TS_CHECK_EQ_INT(http_router_add(r, HTTP_M_GET, "/tap", big, h_any, NULL, &err), TS_EINVAL);
  big[0] = '/';
  memset(big + 1, 'a', HTTP_ROUTE_SEG_MAX + 1);
  big[HTTP_ROUTE_SEG_MAX + 2] = '\0';
  TS_CHECK_EQ_INT(http_router_add(r, HTTP_M_GET, "", big, h_any, NULL, &err), TS_EINVAL);
  big[HTTP_ROUTE_SEG_MAX + 1] = '\0';
  TS_CHECK_EQ_INT(http_router_add(r, HTTP_M_GET, "", big, h_any, NULL, &err), TS_OK);
  /* the table's own cap */
  for (int i = 1; i < HTTP_ROUTE_MAX; i++) {
    char p[32];
    snprintf(p, sizeof p, "/r%d", i);
    TS_CHECK_EQ_INT(http_router_add(r, HTTP_M_GET, "", p, h_any, NULL, &err), TS_OK);
  }
  TS_CHECK_EQ_INT(http_router_add(r, HTTP_M_GET, "", "/one-more", h_any, NULL, &err), TS_EINVAL);
  http_router_free(r);
  return 0;
}

int test_route_hostile(void)
{
  http_router *r = route_test_table();
  http_route_match *m = malloc(sizeof *m);
  size_t big = 64 * 1024;
  char *p = malloc(big + 64);
  TS_CHECK(r && m && p);
  /* no normalisation: "." and ".." are segments like any other */
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/../tap/sync", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/./sync", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/tables/..", m), "table");
  TS_CHECK_STREQ(http_route_param_get(m, "name"), "..");
  TS_CHECK_STREQ(look(r, "POST", "/ctx/tap/../login", m), "404");
  /* %2F is data inside a segment, never a separator, never captured */
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/async%2F0af9", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx%2Ftap/sync", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/tables/a%2Fb", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/tables/a%2fb", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/async/0af9%2Fphase", m), "404");
  /* NUL, malformed escapes */
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/tables/a%00b", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/tables/a%zz", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/tables/a%4", m), "404");
  TS_CHECK_STREQ(look(r, "GET", "/ctx/tap/tables/%", m), "404");
  /* a very long segment: too long to capture */
  memcpy(p, "/ctx/tap/tables/", 17);
  memset(p + 16, 'x', big);
  p[16 + big] = '\0';
  TS_CHECK_STREQ(look(r, "GET", p, m), "404");
  /* the longest capturable one, even fully percent-encoded */
  for (int i = 0; i < HTTP_ROUTE_SEG_MAX; i++)
    memcpy(p + 16 + 3 * i, "%41", 3);
  p[16 + 3 * HTTP_ROUTE_SEG_MAX] = '\0';
  TS_CHECK_STREQ(look(r, "GET", p, m), "table");
  TS_CHECK_EQ_INT(strlen(http_route_param_get(m, "name")), HTTP_ROUTE_SEG_MAX);
  memcpy(p + 16 + 3 * HTTP_ROUTE_SEG_MAX, "A", 2);
  TS_CHECK_STREQ(look(r, "GET", p, m), "404");
  /* many segments: past every pattern, except under '*' */
  memcpy(p, "/ctx/tap/files", 15);
  for (size_t n = strlen(p); n + 2 < big; n += 2)
    memcpy(p + n, "/a", 3);
  TS_CHECK_STREQ(look(r, "GET", p, m), "files");
  TS_CHECK_EQ_INT(strlen(m->rest), strlen(p) - strlen("/ctx/tap/files/"));
  memcpy(p, "/ctx/tap/async", 14);
  TS_CHECK_STREQ(look(r, "GET", p, m), "404");
  p[0] = 'x';
  TS_CHECK_STREQ(look(r, "GET", p, m), "404");
  TS_CHECK_EQ_INT(http_route_lookup(r, "GET", NULL, m), HTTP_ROUTE_NOT_FOUND);
  http_router_free(r);
  free(m);
  free(p);
  return 0;
}
