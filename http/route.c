/* The route table (route.h): patterns compiled into segments once, at
 * startup; a lookup walks every route (a service has a few dozen), decodes
 * each path segment it compares into a stack buffer and allocates
 * nothing, so it is safe on any path the parser let through. */
#include "http/route.h"
#include "http/http_int.h"

#include <stdlib.h>
#include <string.h>

enum { SEG_LIT = 0, SEG_PARAM = 1, SEG_REST = 2 }; /* also the order of precedence */

enum {
  ROUTE_MAX_CHECKS = 16,
  SEG_RAW_MAX = 3 * HTTP_ROUTE_SEG_MAX /* every byte percent-encoded */
};

typedef struct route_seg {
  int kind;
  const char *text; /* SEG_LIT: the literal; SEG_PARAM: the name; into route.store */
  size_t len;
} route_seg;

typedef struct route {
  unsigned methods;
  char *pattern; /* base + pattern, for logs and messages */
  char *store;   /* the segments' text, NUL-separated */
  size_t nseg;
  route_seg segs[HTTP_ROUTE_MAX_SEGMENTS];
  http_route_fn fn;
  void *ud;
} route;

typedef struct route_check {
  char name[HTTP_ROUTE_NAME_MAX + 1];
  int (*ok)(const char *value, size_t len);
} route_check;

struct http_router {
  route *routes;
  size_t n;
  route_check checks[ROUTE_MAX_CHECKS];
  size_t nchecks;
};

static const struct {
  const char *name;
  unsigned bit;
} methods[] = {{"GET", HTTP_M_GET},     {"POST", HTTP_M_POST},     {"PUT", HTTP_M_PUT},
               {"PATCH", HTTP_M_PATCH}, {"DELETE", HTTP_M_DELETE}, {"OPTIONS", HTTP_M_OPTIONS},
               {"HEAD", HTTP_M_HEAD}};

unsigned http_method_bit(const char *method)
{
  for (size_t i = 0; method && i < TS_ARRAY_LEN(methods); i++)
    if (!strcmp(method, methods[i].name))
      return methods[i].bit;
  return 0;
}

void http_route_allow(unsigned mask, char out[HTTP_ROUTE_ALLOW_MAX])
{
  size_t len = 0;
  out[0] = '\0';
  for (size_t i = 0; i < TS_ARRAY_LEN(methods); i++) {
    size_t n = strlen(methods[i].name);
    if (!(mask & methods[i].bit))
      continue;
    if (len) {
      memcpy(out + len, ", ", 2);
      len += 2;
    }
    memcpy(out + len, methods[i].name, n + 1);
    len += n;
  }
}

http_router *http_router_new(void)
{
  return calloc(1, sizeof(http_router));
}

void http_router_free(http_router *r)
{
  if (!r)
    return;
  for (size_t i = 0; i < r->n; i++) {
    free(r->routes[i].pattern);
    free(r->routes[i].store);
  }
  free(r->routes);
  free(r);
}

static int name_char(char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Splits rt->store (a copy of base + pattern; the first base_len bytes
 * are the base, all literal) into segments, in place. */
static ts_err compile(route *rt, size_t base_len, ts_error *err)
{
  char *s = rt->store;
  size_t off = 0;

  while (s[off] == '/') {
    size_t start = off + 1, n = strcspn(s + start, "/");
    route_seg *g;
    char *t = s + start;
    if (rt->nseg == HTTP_ROUTE_MAX_SEGMENTS)
      return ts_fail(err, TS_EINVAL, 0, "route %s has more than %d segments", rt->pattern,
                     HTTP_ROUTE_MAX_SEGMENTS);
    g = &rt->segs[rt->nseg++];
    off = start + n;
    g->text = t;
    g->len = n;
    g->kind = SEG_LIT;
    if (n > HTTP_ROUTE_SEG_MAX) {
      return ts_fail(err, TS_EINVAL, 0, "route %s has a segment over %d bytes", rt->pattern,
                     HTTP_ROUTE_SEG_MAX);
    } else if (start < base_len) {
      if (n == 0)
        return ts_fail(err, TS_EINVAL, 0, "route base of %s has an empty segment", rt->pattern);
    } else if (n == 1 && t[0] == '*') {
      if (s[off])
        return ts_fail(err, TS_EINVAL, 0, "route %s: '*' must be the last segment", rt->pattern);
      g->kind = SEG_REST;
    } else if (n > 0 && t[0] == '{') {
      if (n < 3 || t[n - 1] != '}' || n - 2 > HTTP_ROUTE_NAME_MAX)
        return ts_fail(err, TS_EINVAL, 0, "route %s: a parameter is one whole segment {name}",
                       rt->pattern);
      for (size_t i = 1; i + 1 < n; i++)
        if (!name_char(t[i]))
          return ts_fail(err, TS_EINVAL, 0, "route %s: bad parameter name", rt->pattern);
      g->kind = SEG_PARAM;
      g->text = t + 1;
      g->len = n - 2;
      for (size_t k = 0; k + 1 < rt->nseg; k++)
        if (rt->segs[k].kind == SEG_PARAM && rt->segs[k].len == g->len &&
            !memcmp(rt->segs[k].text, g->text, g->len))
          return ts_fail(err, TS_EINVAL, 0, "route %s names a parameter twice", rt->pattern);
    } else if (memchr(t, '{', n) || memchr(t, '}', n) || memchr(t, '*', n)) {
      return ts_fail(err, TS_EINVAL, 0, "route %s: '{', '}' and '*' only as whole segments",
                     rt->pattern);
    }
  }
  if (s[off])
    return ts_fail(err, TS_EINVAL, 0, "route %s must start with '/'", rt->pattern);
  /* Cut the text into NUL-terminated pieces (names lose their braces). */
  for (size_t i = 0; i < rt->nseg; i++)
    ((char *)rt->segs[i].text)[rt->segs[i].len] = '\0';
  return TS_OK;
}

static int same_shape(const route *a, const route *b)
{
  if (a->nseg != b->nseg)
    return 0;
  for (size_t i = 0; i < a->nseg; i++) {
    if (a->segs[i].kind != b->segs[i].kind)
      return 0;
    if (a->segs[i].kind == SEG_LIT && (a->segs[i].len != b->segs[i].len ||
                                       memcmp(a->segs[i].text, b->segs[i].text, a->segs[i].len)))
      return 0;
  }
  return 1;
}

ts_err http_router_add(http_router *r, unsigned methods_mask, const char *base, const char *pattern,
                       http_route_fn fn, void *ud, ts_error *err)
{
  size_t blen = strlen(base), plen = strlen(pattern);
  route rt;
  ts_err rc;

  if (!fn || !methods_mask)
    return ts_fail(err, TS_EINVAL, 0, "route %s%s has no handler or no method", base, pattern);
  if (r->n == HTTP_ROUTE_MAX)
    return ts_fail(err, TS_EINVAL, 0, "more than %d routes", HTTP_ROUTE_MAX);
  if ((blen && (base[0] != '/' || base[blen - 1] == '/')) || (plen && pattern[0] != '/'))
    return ts_fail(err, TS_EINVAL, 0, "route %s%s: base and pattern start with '/'", base, pattern);
  memset(&rt, 0, sizeof rt);
  rt.methods = methods_mask & HTTP_M_GET ? methods_mask | HTTP_M_HEAD : methods_mask;
  rt.fn = fn;
  rt.ud = ud;
  rt.pattern = malloc(blen + plen + 1);
  rt.store = malloc(blen + plen + 1);
  if (!rt.pattern || !rt.store) {
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    goto out;
  }
  memcpy(rt.pattern, base, blen);
  memcpy(rt.pattern + blen, pattern, plen + 1);
  memcpy(rt.store, rt.pattern, blen + plen + 1);
  rc = compile(&rt, blen, err);
  for (size_t i = 0; !rc && i < r->n; i++)
    if ((r->routes[i].methods & rt.methods) && same_shape(&r->routes[i], &rt))
      rc = ts_fail(err, TS_EINVAL, 0, "route %s conflicts with %s", rt.pattern,
                   r->routes[i].pattern);
  if (!rc) {
    route *grown = realloc(r->routes, (r->n + 1) * sizeof *grown);
    if (!grown) {
      rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
      goto out;
    }
    r->routes = grown;
    r->routes[r->n++] = rt;
    return TS_OK;
  }
out:
  free(rt.pattern);
  free(rt.store);
  return rc;
}

ts_err http_router_param_check(http_router *r, const char *name,
                               int (*ok)(const char *value, size_t len), ts_error *err)
{
  size_t i;
  if (strlen(name) > HTTP_ROUTE_NAME_MAX)
    return ts_fail(err, TS_EINVAL, 0, "parameter name %s is too long", name);
  for (i = 0; i < r->nchecks; i++)
    if (!strcmp(r->checks[i].name, name))
      break;
  if (i == ROUTE_MAX_CHECKS)
    return ts_fail(err, TS_EINVAL, 0, "more than %d parameter checks", ROUTE_MAX_CHECKS);
  if (i == r->nchecks) {
    r->nchecks++;
    memcpy(r->checks[i].name, name, strlen(name) + 1);
  }
  r->checks[i].ok = ok;
  return TS_OK;
}

/* Percent-decodes one raw segment of at most SEG_RAW_MAX bytes into out
 * (SEG_RAW_MAX + 1 bytes). 0 when it cannot match anything: malformed, NUL
 * or '/' inside, or longer than HTTP_ROUTE_SEG_MAX decoded. */
static int seg_decode(const char *s, size_t n, char *out, size_t *outlen)
{
  size_t at;
  if (n > SEG_RAW_MAX || http__pct_decode(s, n, 0, out, outlen, &at) != HTTP__PCT_OK)
    return 0;
  return *outlen <= HTTP_ROUTE_SEG_MAX && !memchr(out, '/', *outlen);
}

static int (*check_of(const http_router *r, const route_seg *g))(const char *, size_t)
{
  for (size_t i = 0; i < r->nchecks; i++)
    if (!strcmp(r->checks[i].name, g->text))
      return r->checks[i].ok;
  return NULL;
}

/* 1 when rt matches path; with m, also captures the parameters. */
static int route_matches(const http_router *r, const route *rt, const char *path,
                         http_route_match *m)
{
  const char *p = path;
  char seg[SEG_RAW_MAX + 1];
  size_t used = 0;

  for (size_t k = 0; k < rt->nseg; k++) {
    const route_seg *g = &rt->segs[k];
    size_t n, dlen;
    if (*p != '/')
      return 0; /* the path ends before the pattern */
    p++;
    if (g->kind == SEG_REST) {
      if (m)
        m->rest = p;
      return 1;
    }
    n = strcspn(p, "/");
    if (!seg_decode(p, n, seg, &dlen))
      return 0;
    p += n;
    if (g->kind == SEG_LIT) {
      if (dlen != g->len || memcmp(seg, g->text, dlen) != 0)
        return 0;
      continue;
    }
    int (*ok)(const char *, size_t) = check_of(r, g);
    if (dlen == 0 || (ok && !ok(seg, dlen)))
      return 0;
    if (m) {
      memcpy(m->buf + used, seg, dlen + 1);
      m->params[m->nparams].name = g->text;
      m->params[m->nparams].value = m->buf + used;
      m->nparams++;
      used += dlen + 1;
    }
  }
  return *p == '\0';
}

/* 1 when a is more specific than b (both match the same path): at the
 * first segment where their kinds differ, the lower kind wins. */
static int more_specific(const route *a, const route *b)
{
  size_t n = a->nseg < b->nseg ? a->nseg : b->nseg;
  for (size_t i = 0; i < n; i++)
    if (a->segs[i].kind != b->segs[i].kind)
      return a->segs[i].kind < b->segs[i].kind;
  return 0;
}

http_route_rc http_route_lookup(const http_router *r, const char *method, const char *raw_path,
                                http_route_match *m)
{
  unsigned bit = http_method_bit(method);
  const route *best = NULL;

  m->fn = NULL;
  m->ud = NULL;
  m->pattern = NULL;
  m->nparams = 0;
  m->rest = NULL;
  m->allow = 0;
  if (!raw_path || raw_path[0] != '/')
    return HTTP_ROUTE_NOT_FOUND;
  for (size_t i = 0; i < r->n; i++) {
    const route *rt = &r->routes[i];
    if (!route_matches(r, rt, raw_path, NULL))
      continue;
    m->allow |= rt->methods;
    if ((rt->methods & bit) && (!best || more_specific(rt, best)))
      best = rt;
  }
  if (!best)
    return m->allow ? HTTP_ROUTE_NO_METHOD : HTTP_ROUTE_NOT_FOUND;
  route_matches(r, best, raw_path, m);
  m->fn = best->fn;
  m->ud = best->ud;
  m->pattern = best->pattern;
  return HTTP_ROUTE_FOUND;
}

const char *http_route_param_get(const http_route_match *m, const char *name)
{
  for (size_t i = 0; i < m->nparams; i++)
    if (!strcmp(m->params[i].name, name))
      return m->params[i].value;
  return NULL;
}
