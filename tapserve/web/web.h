/* tapserve/web/web.h: the page for people (prefix web_): the home page at
 * {tap} and /, its assets (embedded at build time from
 * tapserve/web/assets/), and the small JSON resources the page calls
 * beside the protocol's own (POST {tap}/web/check). Everything else the
 * page does goes through the TAP, UWS, VOSI and TAP+ resources, as any
 * client's would. docs/internals/web.md has the picture. */
#ifndef TS_TAPSERVE_WEB_H
#define TS_TAPSERVE_WEB_H

#include "http/http.h"
#include "tapserve/config.h"

/* Defined in tapserve/tapserve.h: the running service. */
typedef struct ts_app ts_app;

/* The headers of every page the service serves to browsers (the home page,
 * its assets and JSON, /examples): one policy, no inline script or style,
 * nothing from another origin. Complete header lines. */
#define WEB_SECURITY_HEADERS                                                                       \
  "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; "             \
  "img-src 'self'; connect-src 'self'; form-action 'self'; base-uri 'none'; "                      \
  "frame-ancestors 'none'\r\n"                                                                     \
  "X-Content-Type-Options: nosniff\r\n"                                                            \
  "Referrer-Policy: same-origin\r\n"

/* The assets as served: the home page rendered for this configuration
 * (base path, service title), every file with its gzip and zstd codings
 * and their entity tags. Immutable once built. */
typedef struct web_site web_site;
/* Builds the site for c (blocking, before serving; a few milliseconds).
 * TS_ENOMEM, or TS_EINTERNAL when an asset cannot be compressed. */
ts_err web_site_new(const cfg *c, web_site **out, ts_error *err);
void web_site_free(web_site *s); /* NULL-safe */

/* GET {tap}, {tap}/ and / : the page. */
void web_home(ts_app *app, http_request *req);
/* GET {tap}/web/{name}: an asset (404 for an unknown name). */
void web_asset(ts_app *app, http_request *req, const char *name);
/* POST {tap}/web/check (QUERY, and LANG as /sync takes it): the query
 * checked exactly as /sync would check it, answered in JSON:
 *   {"ok":true}
 *   {"ok":false,"line":L,"column":C,"message":"...","suggestion":"..."|null}
 * line and column are 1-based (0 when the error has no position). 200 for
 * both; 4xx in the same JSON form when the request itself is wrong. */
void web_check(ts_app *app, http_request *req);

/* GET {tap}/web/session: who the request's credentials (the session
 * cookie) name: {"user":"name","via":"session"}, or {"user":null} (with
 * "expired":true for a session that has ended). */
void web_session(ts_app *app, http_request *req);
/* GET {tap}/web/rows: PostgreSQL's row estimate of each published table,
 * {"schema.table": n, ...}, null for a table never analysed. */
void web_rows(ts_app *app, http_request *req);

#endif
