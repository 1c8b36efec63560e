/* The one route table of the service: every resource, its methods and its
 * handler. Patterns are relative to the base path (cfg->path_prefix, the
 * path of base_url), or to its parent for resources that clients expect
 * beside it: TAP+ puts /ctx/login next to /ctx/tap. A sibling is one more
 * row with AT_SIBLING:
 *   {AT_SIBLING, HTTP_M_POST, "/login", r_login, NULL},
 * docs/internals/routes.md has the matching rules. */
#include "http/route.h"
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"
#include "tapserve/web/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* AT_ROOT: the server's root, whatever the base path (skipped when the
 * base is the root itself). */
typedef enum { AT_BASE, AT_SIBLING, AT_ROOT } route_at;

/* Each handler reaches its resource with the route's data (a UWS
 * sub-resource name: static text, it outlives the request). Resources that
 * take nothing from the path are reached through ROUTE_TO. */
#define ROUTE_TO(res)                                                                              \
  static void r_##res(void *app, http_request *req, const http_route_match *m)                     \
  {                                                                                                \
    (void)m;                                                                                       \
    res(app, req);                                                                                 \
  }
ROUTE_TO(web_home)
ROUTE_TO(web_check)
ROUTE_TO(web_session)
ROUTE_TO(web_rows)
ROUTE_TO(tap_sync)
ROUTE_TO(tap_examples)
ROUTE_TO(vosi_capabilities)
ROUTE_TO(vosi_availability)
ROUTE_TO(uws_jobs_get)
ROUTE_TO(uws_jobs_post)
ROUTE_TO(ts_stats_serve)
ROUTE_TO(plus_login)
ROUTE_TO(plus_logout)
ROUTE_TO(plus_jobs_list)
ROUTE_TO(plus_jobs_delete)
ROUTE_TO(plus_notification)
ROUTE_TO(plus_upload)
ROUTE_TO(plus_tabletool)
ROUTE_TO(plus_share)
ROUTE_TO(plus_users)
#undef ROUTE_TO

static void r_tables(void *app, http_request *req, const http_route_match *m)
{
  const char *name = http_route_param_get(m, "name");
  vosi_tables(app, req, name ? name : "");
}

static void r_web_asset(void *app, http_request *req, const http_route_match *m)
{
  web_asset(app, req, http_route_param_get(m, "name"));
}

static void r_job_get(void *app, http_request *req, const http_route_match *m)
{
  uws_job_get(app, req, http_route_param_get(m, "id"), m->ud);
}

static void r_job_post(void *app, http_request *req, const http_route_match *m)
{
  uws_job_post(app, req, http_route_param_get(m, "id"), m->ud);
}

static void r_job_delete(void *app, http_request *req, const http_route_match *m)
{
  uws_job_delete(app, req, http_route_param_get(m, "id"));
}

static void r_job_result(void *app, http_request *req, const http_route_match *m)
{
  uws_job_result(app, req, http_route_param_get(m, "id"));
}

enum { GET = HTTP_M_GET, POST = HTTP_M_POST, DELETE = HTTP_M_DELETE }; /* HEAD comes with GET */

/* Trailing slashes are answered where they were before the table existed:
 * the home page, the job list, a job and /tables; nowhere else. */
static const struct {
  route_at at;
  unsigned methods;
  const char *pattern;
  http_route_fn fn;
  const char *ud;
} routes[] = {
    /* the page for people: at the base and at the server's root */
    {AT_BASE, GET, "", r_web_home, NULL},
    {AT_BASE, GET, "/", r_web_home, NULL},
    {AT_ROOT, GET, "/", r_web_home, NULL},
    {AT_BASE, GET, "/web/{name}", r_web_asset, NULL},
    {AT_BASE, POST, "/web/check", r_web_check, NULL},
    {AT_BASE, GET, "/web/session", r_web_session, NULL},
    {AT_BASE, GET, "/web/rows", r_web_rows, NULL},
    {AT_BASE, GET | POST, "/sync", r_tap_sync, NULL},
    {AT_BASE, GET, "/capabilities", r_vosi_capabilities, NULL},
    {AT_BASE, GET, "/availability", r_vosi_availability, NULL},
    {AT_BASE, GET, "/examples", r_tap_examples, NULL},
    {AT_BASE, GET, "/tables", r_tables, NULL},
    {AT_BASE, GET, "/tables/", r_tables, NULL},
    {AT_BASE, GET, "/tables/{name}", r_tables, NULL},
    /* UWS 1.1: the job list, a job and its sub-resources */
    {AT_BASE, GET, "/async", r_uws_jobs_get, NULL},
    {AT_BASE, GET, "/async/", r_uws_jobs_get, NULL},
    {AT_BASE, POST, "/async", r_uws_jobs_post, NULL},
    {AT_BASE, POST, "/async/", r_uws_jobs_post, NULL},
    {AT_BASE, GET, "/async/{id}", r_job_get, ""},
    {AT_BASE, GET, "/async/{id}/", r_job_get, ""},
    {AT_BASE, POST, "/async/{id}", r_job_post, ""},
    {AT_BASE, POST, "/async/{id}/", r_job_post, ""},
    {AT_BASE, DELETE, "/async/{id}", r_job_delete, NULL},
    {AT_BASE, DELETE, "/async/{id}/", r_job_delete, NULL},
    {AT_BASE, GET, "/async/{id}/phase", r_job_get, "phase"},
    {AT_BASE, POST, "/async/{id}/phase", r_job_post, "phase"},
    {AT_BASE, GET, "/async/{id}/executionduration", r_job_get, "executionduration"},
    {AT_BASE, POST, "/async/{id}/executionduration", r_job_post, "executionduration"},
    {AT_BASE, GET, "/async/{id}/destruction", r_job_get, "destruction"},
    {AT_BASE, POST, "/async/{id}/destruction", r_job_post, "destruction"},
    {AT_BASE, GET, "/async/{id}/parameters", r_job_get, "parameters"},
    {AT_BASE, POST, "/async/{id}/parameters", r_job_post, "parameters"},
    {AT_BASE, GET, "/async/{id}/quote", r_job_get, "quote"},
    {AT_BASE, GET, "/async/{id}/error", r_job_get, "error"},
    {AT_BASE, GET, "/async/{id}/results", r_job_get, "results"},
    {AT_BASE, GET, "/async/{id}/owner", r_job_get, "owner"},
    {AT_BASE, GET, "/async/{id}/runId", r_job_get, "runid"}, /* as the element is spelled */
    {AT_BASE, GET, "/async/{id}/runid", r_job_get, "runid"},
    {AT_BASE, GET, "/async/{id}/results/result", r_job_result, NULL},
    /* Prometheus: beside the service, like the TAP+ siblings (/metrics for
     * a base path of /tap) */
    {AT_SIBLING, GET, "/metrics", r_ts_stats_serve, NULL},
    /* TAP+ sessions, beside /tap as TapPlus expects */
    {AT_SIBLING, POST, "/login", r_plus_login, NULL},
    {AT_SIBLING, POST, "/logout", r_plus_logout, NULL},
    /* TAP+ jobs: search_async_jobs and remove_jobs */
    {AT_BASE, GET, "/jobs/async", r_plus_jobs_list, NULL},
    {AT_BASE, POST, "/deletejobs", r_plus_jobs_delete, NULL},
    /* TAP+ notifications, under /tap */
    {AT_BASE, GET | POST, "/notification", r_plus_notification, NULL},
    /* TAP+ user tables, beside /tap too */
    {AT_SIBLING, POST, "/Upload", r_plus_upload, NULL},
    {AT_SIBLING, POST, "/TableTool", r_plus_tabletool, NULL},
    /* TAP+ sharing, under /tap */
    {AT_BASE, GET | POST, "/share", r_plus_share, NULL},
    {AT_BASE, GET, "/users", r_plus_users, NULL},
};

/* The resource family of a route's handler: the label of its request
 * metrics. */
static ts_resource route_family(http_route_fn fn)
{
  if (fn == r_tap_sync)
    return TS_RES_SYNC;
  if (fn == r_job_result)
    return TS_RES_RESULTS;
  if (fn == r_uws_jobs_get || fn == r_uws_jobs_post || fn == r_job_get || fn == r_job_post ||
      fn == r_job_delete || fn == r_plus_jobs_list || fn == r_plus_jobs_delete)
    return TS_RES_ASYNC;
  if (fn == r_vosi_capabilities || fn == r_vosi_availability || fn == r_tables)
    return TS_RES_VOSI;
  if (fn == r_ts_stats_serve)
    return TS_RES_METRICS;
  return TS_RES_OTHER;
}

ts_err ts_routes_new(const cfg *c, http_router **out, ts_error *err)
{
  const char *base = c->path_prefix, *cut = strrchr(base, '/');
  /* The parent of "/ctx/tap" is "/ctx"; of "/tap" and of the root, the root. */
  char *parent = strndup(base, cut ? (size_t)(cut - base) : 0);
  http_router *r = http_router_new();
  ts_err rc = TS_OK;

  *out = NULL;
  if (!r || !parent) {
    free(parent);
    http_router_free(r);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  for (size_t i = 0; !rc && i < TS_ARRAY_LEN(routes); i++) {
    if (routes[i].at == AT_ROOT && !base[0])
      continue; /* the base's own row answers there */
    rc = http_router_add(r, routes[i].methods,
                         routes[i].at == AT_BASE   ? base
                         : routes[i].at == AT_ROOT ? ""
                                                   : parent,
                         routes[i].pattern, routes[i].fn, (void *)routes[i].ud, err);
  }
  if (!rc)
    rc = http_router_param_check(r, "id", uws_job_id_ok, err);
  free(parent);
  if (rc) {
    http_router_free(r);
    return rc;
  }
  *out = r;
  return TS_OK;
}

void ts_routes_handle(http_request *req, void *ud)
{
  ts_app *app = ud;
  http_route_match *m = ts_arena_alloc(req->arena, sizeof *m);
  char allow[HTTP_ROUTE_ALLOW_MAX], hdr[HTTP_ROUTE_ALLOW_MAX + 16];
  ts_error e;

  if (!m) {
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &e);
    return;
  }
  switch (http_route_lookup(app->routes, req->method, req->raw_path, m)) {
  case HTTP_ROUTE_FOUND:
    req->tag = (int)route_family(m->fn);
    m->fn(app, req, m);
    return;
  case HTTP_ROUTE_NO_METHOD:
    http_route_allow(m->allow, allow);
    snprintf(hdr, sizeof hdr, "Allow: %s\r\n", allow);
    ts_fail(&e, TS_EMETHOD, 0, "method %s is not allowed on %s", req->method, req->path);
    tap_send_error_headers(req, &e, hdr);
    return;
  default:
    ts_fail(&e, TS_ENOTFOUND, 0, "no resource at %s", req->path);
    tap_send_error(req, &e);
  }
}
