/* http/fetch.h: fetching uploads by URL (TAP UPLOAD=name,http(s)://...)
 * with libcurl, guarded against server-side request forgery. */
#ifndef HTTP_FETCH_H
#define HTTP_FETCH_H

#include "common/common.h"

#include <stdint.h>

typedef struct http_fetch_opts {
  uint64_t max_bytes;  /* decoded body; beyond: TS_ELIMIT naming the limit */
  uint64_t timeout_ms; /* whole transfer: TS_ETIMEOUT */
  int max_redirects;   /* each hop is checked like the first */
  int allow_private;   /* 0: loopback, private, link-local, unique-local, CGNAT,
                        * unspecified, multicast addresses refused at connect time */
  const char *ca_file; /* NULL: the system's CAs */
} http_fetch_opts;

/* Initialises libcurl (curl_global_init) once for the process. Call it at
 * start, before threads run; http_fetch calls it too (under pthread_once),
 * so a late first call is still safe. TS_EINTERNAL when libcurl cannot
 * start. Never undone: libcurl stays initialised until exit. */
ts_err http_fetch_init(void);

/* Blocking (call from a worker thread): fetches an http(s) URL into fd
 * (a regular file, from offset 0). *content_type in arena a (NULL when
 * absent). TS_EINVAL: bad URL, other scheme, refused address (message names
 * host and reason); TS_ELIMIT; TS_ETIMEOUT; TS_EIO: connection failure or
 * HTTP status >= 400 (message names it).
 * Also TS_EINVAL: a URL carrying credentials (user:password@), more than
 * max_redirects redirects, a redirect to another scheme. No proxy, no
 * cookies, no .netrc; Content-Encoding gzip and deflate are decoded and
 * max_bytes applies to the decoded body. On failure fd is truncated to 0
 * bytes and *size is 0. max_bytes and timeout_ms must be > 0. */
ts_err http_fetch(const char *url, const http_fetch_opts *o, int fd, ts_arena *a,
                  const char **content_type, uint64_t *size, ts_error *err);

#endif
