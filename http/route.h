/* http/route.h: a route table, method + path pattern -> handler. No TAP
 * code here: the application builds the table and answers 404/405 in its
 * own form. docs/internals/routes.md has the rules with examples.
 *
 * A pattern is a sequence of '/'-separated segments:
 *   literal   "tap", "sync": matches that decoded segment exactly
 *             (case-sensitive, no normalisation of "." or "..");
 *   {name}    one whole segment, non-empty, captured as parameter `name`;
 *   *         last segment only: the rest of the path, one or more
 *             segments (possibly empty), captured as sent.
 * "/a" and "/a/" are different patterns (the trailing slash is an empty
 * last segment), as "" (the base itself) and "/" are.
 *
 * Paths are matched as sent (the raw path of the request target), split
 * at '/' first and percent-decoded per segment after, so "%2F" is data
 * inside a segment, never a separator. A segment whose decoding contains
 * '/' or NUL, is malformed, or is longer than HTTP_ROUTE_SEG_MAX bytes
 * matches no literal and no parameter: such a path is unknown (404).
 *
 * When several patterns match a path, the most specific wins: at the first
 * segment where they differ, a literal beats a parameter, which beats the
 * rest. Registering two patterns of the same shape with a method in common
 * is an error. */
#ifndef TS_HTTP_ROUTE_H
#define TS_HTTP_ROUTE_H

#include "http/http.h"

/* Method bits. A route with GET also answers HEAD. */
enum {
  HTTP_M_GET = 1 << 0,
  HTTP_M_POST = 1 << 1,
  HTTP_M_PUT = 1 << 2,
  HTTP_M_PATCH = 1 << 3,
  HTTP_M_DELETE = 1 << 4,
  HTTP_M_OPTIONS = 1 << 5,
  HTTP_M_HEAD = 1 << 6 /* last: the Allow header lists it last */
};

enum {
  HTTP_ROUTE_MAX = 256,         /* routes in one table */
  HTTP_ROUTE_MAX_SEGMENTS = 32, /* segments of one pattern, base included */
  HTTP_ROUTE_MAX_PARAMS = 8,    /* {name} segments of one pattern */
  HTTP_ROUTE_NAME_MAX = 32,     /* bytes of a parameter's name */
  HTTP_ROUTE_SEG_MAX = 255,     /* decoded bytes of a segment that can match */
  HTTP_ROUTE_ALLOW_MAX = 64     /* "GET, POST, PUT, PATCH, DELETE, OPTIONS, HEAD" + NUL */
};

typedef struct http_route_match http_route_match;

/* ctx: what the application passed to its lookup (the app); m: the route's
 * data and the captured parameters, valid during the call only. */
typedef void (*http_route_fn)(void *ctx, http_request *req, const http_route_match *m);

typedef struct http_route_param {
  const char *name;
  const char *value; /* decoded, NUL-terminated, 1 to HTTP_ROUTE_SEG_MAX bytes */
} http_route_param;

struct http_route_match {
  http_route_fn fn;    /* HTTP_ROUTE_FOUND: the handler */
  void *ud;            /* and its data, as registered */
  const char *pattern; /* the pattern as registered (base included), for logs */
  size_t nparams;
  http_route_param params[HTTP_ROUTE_MAX_PARAMS];
  const char *rest; /* what '*' matched, raw (percent-encoded); NULL without '*' */
  /* The methods of every route whose pattern matches the path: the Allow
   * header of a 405 (HTTP_ROUTE_NO_METHOD). */
  unsigned allow;
  char buf[HTTP_ROUTE_MAX_PARAMS * (HTTP_ROUTE_SEG_MAX + 1)]; /* parameter values */
};

typedef enum http_route_rc {
  HTTP_ROUTE_FOUND = 0, /* m->fn is the handler */
  HTTP_ROUTE_NO_METHOD, /* the path is known but not with this method: 405, m->allow */
  HTTP_ROUTE_NOT_FOUND  /* no pattern matches the path: 404 */
} http_route_rc;

typedef struct http_router http_router;

/* An empty table; NULL when out of memory. */
http_router *http_router_new(void);
void http_router_free(http_router *r);

/* Adds a route: `methods` (HTTP_M_* bits; GET brings HEAD), at `base`
 * followed by `pattern`. `base` is a literal path ("" or "/ctx/tap", no
 * trailing slash; braces in it are plain text), so an application can
 * register patterns relative to a configured base path and others beside
 * it. `pattern` is "" (the base itself) or starts with '/'. The strings
 * are copied; `ud` is borrowed. TS_EINVAL with a message for a malformed
 * pattern, a pattern past the limits above, a full table, or a pattern
 * that conflicts with one registered before; TS_ENOMEM. */
ts_err http_router_add(http_router *r, unsigned methods, const char *base, const char *pattern,
                       http_route_fn fn, void *ud, ts_error *err);

/* Parameters called `name` (in every pattern) match only the segments
 * `ok` accepts (decoded value, its length): a segment it refuses makes the
 * path unknown (404), not a known path with the wrong method (405). One
 * check per name; a later call replaces it. TS_EINVAL, TS_ENOMEM. */
ts_err http_router_param_check(http_router *r, const char *name,
                               int (*ok)(const char *value, size_t len), ts_error *err);

/* Looks `raw_path` (http_request.raw_path: as sent, starting with '/')
 * up for `method` (a method name; unknown methods match no route). Fills
 * m; never allocates. */
http_route_rc http_route_lookup(const http_router *r, const char *method, const char *raw_path,
                                http_route_match *m);

/* The value of parameter `name` in m, NULL when the pattern has none. */
const char *http_route_param_get(const http_route_match *m, const char *name);

/* The HTTP_M_* bit of a method name ("GET"), 0 for any other. */
unsigned http_method_bit(const char *method);

/* Writes the methods of `mask` as an Allow value ("GET, POST, HEAD"). */
void http_route_allow(unsigned mask, char out[HTTP_ROUTE_ALLOW_MAX]);

#endif
