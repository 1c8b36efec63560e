/* tapserve/web/web_int.h: for tapserve/web/'s own sources and their unit
 * tests only. */
#ifndef TS_TAPSERVE_WEB_INT_H
#define TS_TAPSERVE_WEB_INT_H

#include "common/common.h"
#include "tapserve/web/web.h"

/* One file of tapserve/web/assets, as the build embedded it (the
 * generated web_assets.c, cmake/embed_assets.cmake). */
typedef struct web_embedded {
  const char *name; /* "app.js" */
  const unsigned char *data;
  size_t len;
} web_embedded;
extern const web_embedded web_assets[];
extern const size_t web_nassets;

/* The JSON answer of a check (web.h, web_check) into b: ok when err is
 * NULL, else err's message, with its position turned into a line and a
 * column of `query` and a "did you mean" name as the suggestion. */
ts_err web__check_json(ts_buf *b, const char *query, const ts_error *err);
/* The name a checker message proposes ("... (did you mean \"x\"?)") into
 * out (cap bytes): 1 when there is one, else 0 and out = "". */
int web__suggestion(const char *msg, char *out, size_t cap);
/* The bytes of a file of the site in a coding (index.html: the rendered
 * home page), NULL when there is no such file or coding; for tests. */
const char *web__file(const web_site *s, const char *name, int zkind, size_t *len);
/* Sends a JSON document with the page's headers, no-store. */
void web__send_json(http_request *req, int status, const ts_buf *b);

#endif
