/* http/http.h: HTTP/1.1 over libuv and http-parser. No TAP code here.
 *
 * One request at a time per connection (pipelined requests wait; reading
 * pauses while a response is being written). The handler gets a request
 * whose body has been read completely (bounded by max_body; a multipart
 * body was streamed to parameters and spooled file parts, see
 * http_request_parts, and is not in `body`) and answers
 * either with http_respond() (whole body, Content-Length) or with
 * http_begin_chunked() + http_write() + http_end() (streamed).
 *
 * Lifetime: the request and its arena live until the response is finished
 * (http_respond, or http_end) AND the connection no longer needs it. If the
 * client goes away first, on_abort runs (once); the handler must still
 * finish with http_end() (writes are then discarded) so that it releases
 * the request at a moment of its choosing. */
#ifndef TS_HTTP_H
#define TS_HTTP_H

#include "common/common.h"

#include <uv.h>

typedef struct http_server http_server;
typedef struct http_conn http_conn;

typedef struct http_header {
  const char *name; /* lower-cased */
  const char *value;
} http_header;

typedef struct http_param {
  const char *name; /* as sent (decoded); compare case-insensitively in TAP */
  const char *value;
} http_param;

typedef struct http_request {
  const char *method; /* "GET", "POST", "HEAD", ... */
  int is_head;
  const char *target; /* raw request target */
  const char *path;   /* percent-decoded path, no query */
  const char *query;  /* raw query string after '?', "" when none */
  const char *body;   /* NUL-terminated for convenience; may contain NULs */
  size_t body_len;
  /* The path as sent (percent-encoded), no query: what routes match. */
  const char *raw_path;
  http_header *headers;
  size_t nheaders;
  int http_minor; /* 0 or 1 */
  char remote_addr[64];
  char reqid[17]; /* 16 hex digits, unique per request */
  int64_t start_ms;
  int tag;         /* the application's own label (metrics); 0 unless its handler sets one */
  ts_arena *arena; /* freed with the request */
  http_conn *conn; /* private */
} http_request;

/* Bytes of each request body that the body budget does not count: no more
 * than a connection's read buffer, so that small bodies (form parameters)
 * are never refused while large ones fill the budget. */
enum { HTTP_BODY_FREE = 16 * 1024 };

typedef void (*http_handler_fn)(http_request *req, void *ud);

/* The body of the server's own error answers (limits, malformed requests,
 * timeouts): writes it into b and returns its content type, or NULL to
 * leave the plain-text line. Called on the loop thread. */
typedef const char *(*http_error_doc_fn)(ts_buf *b, int status, const char *msg);
/* Trusted proxies: networks whose X-Forwarded-For is believed (proxy.c). */
enum { HTTP_PROXIES_MAX = 64 };
typedef struct http_net {
  uint8_t addr[16]; /* IPv4 as IPv4-mapped IPv6 */
  int bits;         /* prefix length in the 128-bit form */
} http_net;
typedef struct http_proxies {
  size_t n;
  http_net net[HTTP_PROXIES_MAX];
} http_proxies;
/* Parses a list of addresses and CIDR networks ("10.0.0.0/8, ::1")
 * separated by commas or blanks; TS_EINVAL naming the bad entry. */
ts_err http_proxies_parse(const char *list, http_proxies *out, ts_error *err);
/* 1 when the numeric address is in one of the networks. */
int http_proxies_trust(const http_proxies *p, const char *addr);
/* The client's address for a connection from `peer` carrying the n
 * X-Forwarded-For header lines xff (in order): peer itself unless peer is
 * trusted; else the right-most address of the lines that is not trusted
 * (the left-most when all are), a malformed entry ending the walk.
 * Canonical text into out (cap bytes). */
void http_client_addr(const http_proxies *p, const char *peer, const char *const *xff, size_t n,
                      char *out, size_t cap);

typedef struct http_server_opts {
  size_t max_header_bytes;      /* whole header block; 431 beyond (default 16 KiB) */
  size_t max_body_bytes;        /* 413 beyond (default 16 MiB) */
  uint64_t header_timeout_ms;   /* to receive a full request head (default 10 s) -> 408 */
  uint64_t body_timeout_ms;     /* to receive the body (default 60 s) -> 408 */
  uint64_t idle_timeout_ms;     /* keep-alive idle (default 60 s) -> close */
  uint64_t write_timeout_ms;    /* no write progress (default 300 s) -> abort */
  size_t high_watermark;        /* queued output bytes that make http_write_blocked true (1 MiB) */
  size_t low_watermark;         /* drain callback below this (256 KiB) */
  int max_connections;          /* beyond: evict the oldest connection still waiting for a
                                 * request head, else 503 and close (default 1024) */
  int max_connections_per_addr; /* from one peer address; beyond: 429 and close (default 64) */
  uint64_t first_byte_timeout_ms; /* a new connection that sends nothing for this long is
                                   * closed (default 5 s) */
  size_t max_form_body_bytes;     /* application/x-www-form-urlencoded bodies: 413 beyond
                                   * (default 2 MiB; never above max_body_bytes) */
  size_t body_budget_bytes;       /* request bodies held by all connections together: 503 beyond
                                   * (default 64 MiB; the first HTTP_BODY_FREE bytes of each body
                                   * are not counted) */
  size_t arena_cap;               /* per-request arena cap (default 64 MiB) */
  /* multipart/form-data POST bodies are streamed, never held whole: */
  size_t max_upload_body_bytes; /* the whole multipart body: 413 beyond (default 1 GiB) */
  size_t max_upload_parts;      /* parts of one body: 413 beyond (default 100) */
  size_t max_part_header_bytes; /* header block of one part: 413 beyond (default 8 KiB) */
  size_t spool_budget_bytes;    /* file parts spooled by all requests together: 503
                                 * beyond (default 4 GiB) */
  const char *spool_dir;        /* where file parts are spooled (default $TMPDIR, else /tmp) */
  http_error_doc_fn error_doc;  /* NULL: our errors are one line of text/plain */
  const char *server_header;    /* "tapserve/1.0" */
  /* Borrowed; NULL or empty: X-Forwarded-For is ignored. A request from a
   * trusted proxy gets its client's address (http_client_addr) as
   * remote_addr, and connections from trusted proxies are not counted
   * against max_connections_per_addr (they carry many clients). */
  const http_proxies *trusted_proxies;
  /* Called (loop thread) as each request handed to the handler is
   * released: its final status (0 when no response was begun), the body
   * bytes queued and whether it ended whole; ud is the handler's. NULL:
   * none. */
  void (*on_complete)(const http_request *r, int status, uint64_t body_bytes, int whole, void *ud);
} http_server_opts;

/* Fills defaults for every zero field. */
void http_server_opts_defaults(http_server_opts *o);

http_server *http_server_new(uv_loop_t *loop, const http_server_opts *o, http_handler_fn handler,
                             void *ud);
/* Binds and listens (host: numeric IPv4/IPv6 address). */
ts_err http_server_listen(http_server *s, const char *host, int port, ts_error *err);
/* The port actually bound (useful with port 0). */
int http_server_port(const http_server *s);
/* Stops accepting; idle connections close at once, busy ones after their
 * current response. done(ud) runs once everything is closed; then the
 * server may be freed with http_server_free. */
void http_server_shutdown(http_server *s, void (*done)(void *ud), void *ud);
void http_server_free(http_server *s);

/* Header lookup (name lower-case), NULL when absent. */
const char *http_header_get(const http_request *r, const char *name);

/* Parameters of the query string and, for POST
 * application/x-www-form-urlencoded, of the body (for POST
 * multipart/form-data: its parts without a filename), in order (query
 * string first). Decoded into the request arena. TS_EINVAL on malformed
 * percent-encoding. */
ts_err http_request_params(http_request *r, http_param **out, size_t *n, ts_error *err);
/* One file part of a multipart/form-data request. */
typedef struct http_part {
  const char *name;         /* the part's form field name */
  const char *filename;     /* NULL when the part has none */
  const char *content_type; /* NULL when the part has none */
  int fd;                   /* content spooled to an unlinked temporary file; read with pread
                             * from offset 0; closed when the request is freed */
  uint64_t size;
} http_part;
/* The file parts (parts with a filename) of a multipart/form-data request,
 * in order; none for other requests. Parts without a filename are
 * parameters: http_request_params returns them with the query string's,
 * exactly as for application/x-www-form-urlencoded. */
ts_err http_request_parts(http_request *r, const http_part **parts, size_t *n);
/* An unlinked temporary file in dir, as file parts are spooled: O_TMPFILE,
 * or where the file system has none, a named file unlinked at once. -1
 * with errno set on failure; the caller closes it. */
int http_spool_open(const char *dir);

/* Decodes application/x-www-form-urlencoded text; appends to the array. */
ts_err http_parse_form(ts_arena *a, const char *s, size_t len, http_param **params, size_t *n,
                       size_t *cap, ts_error *err);

/* Whole response with Content-Length. extra_headers: NULL or complete
 * "Name: value\r\n" lines. The body is copied. For HEAD the body is not
 * sent but Content-Length is. Finishes the request. */
ts_err http_respond(http_request *r, int status, const char *content_type,
                    const char *extra_headers, const void *body, size_t len);
/* Starts a chunked response (HTTP/1.0 clients: close-delimited). */
ts_err http_begin_chunked(http_request *r, int status, const char *content_type,
                          const char *extra_headers);
/* Starts a response whose body is exactly `length` bytes, sent with
 * http_write (no chunk framing) and finished with http_end: the caller
 * promises the length (a result whose encoded size is known, a byte
 * range). http_end(r, 0) before all bytes were written closes the
 * connection, so a client never takes a short body for a whole one. */
ts_err http_begin_sized(http_request *r, int status, const char *content_type,
                        const char *extra_headers, uint64_t length);
/* Queues len bytes as one chunk (copied). Returns TS_ECANCELED when the
 * client is gone. Never blocks; check http_write_blocked afterwards. */
ts_err http_write(http_request *r, const void *buf, size_t len);
/* 1 while queued output is above the high watermark. */
int http_write_blocked(const http_request *r);
size_t http_queued_bytes(const http_request *r);
/* on_drain(ud) runs (from the loop, never inside http_write) once queued
 * output falls below the low watermark after having been blocked. */
void http_on_drain(http_request *r, void (*on_drain)(void *ud), void *ud);
/* on_abort(ud) runs once if the client disconnects (or a write fails or
 * times out) before the response is finished. */
void http_on_abort(http_request *r, void (*on_abort)(void *ud), void *ud);
/* Milliseconds the client has taken none of the response's queued bytes
 * (0 when nothing is queued, or the client read since the last call; the
 * resolution is the interval between calls). */
uint64_t http_write_stalled_ms(const http_request *r);
/* Closes the connection at once, dropping queued output: for a client that
 * holds something others need. on_abort follows from the loop (never
 * inside this call), and the handler ends the request as after any abort. */
void http_abort(http_request *r);
/* Finishes a chunked response: ok=1 sends the terminating chunk (keep-alive
 * continues); ok=0 closes the connection without it, so the client sees a
 * truncated transfer rather than a complete one. Releases the request. */
void http_end(http_request *r, int ok);

/* ---- Range (range.c) ------------------------------------------------------
 * One byte range of RFC 9110 14.2: "bytes=a-b", "bytes=a-" or "bytes=-n".
 * A header with several ranges, another unit, or anything malformed is
 * ignored (the whole representation is sent, as RFC 9110 lets a server
 * do); so is any range when the length is unknown. */
typedef enum http_range_result {
  HTTP_RANGE_IGNORE = 0,    /* send the whole representation (200) */
  HTTP_RANGE_PARTIAL,       /* send [*first, *last] (206, Content-Range) */
  HTTP_RANGE_UNSATISFIABLE, /* 416, whose Content-Range gives the length alone */
} http_range_result;
/* value: the Range header (NULL: none); length: the representation's size
 * in bytes, < 0 when unknown. On HTTP_RANGE_PARTIAL, *first and *last are
 * inclusive and within [0, length). */
http_range_result http_range_parse(const char *value, int64_t length, uint64_t *first,
                                   uint64_t *last);
/* If-Range (RFC 9110 13.1.5): 1 when a range may be served, that is when
 * there is no If-Range (NULL) or it is exactly the strong entity tag
 * "etag" (etag given without its quotes); a weak tag, a date or another
 * tag means the whole representation. */
int http_if_range_matches(const char *if_range, const char *etag);

/* ---- cookies (cookie.c) ---------------------------------------------------
 * The Cookie request header read as RFC 6265 5.4 and browsers write it:
 * "a=1; b=2", whitespace around pairs tolerated, values optionally in
 * double quotes, pairs without '=' skipped. At most HTTP_COOKIES_MAX pairs
 * are looked at and a value over HTTP_COOKIE_VALUE_MAX bytes is ignored. */
enum { HTTP_COOKIES_MAX = 64, HTTP_COOKIE_VALUE_MAX = 4096 };
/* The value of the first cookie called `name` (compared exactly) in the
 * `len` bytes of `header` (may be NULL): 1 with *val (pointing into header,
 * not NUL-terminated) and *vlen set, else 0. */
int http_cookie_get(const char *header, size_t len, const char *name, const char **val,
                    size_t *vlen);
typedef struct http_cookie {
  const char *name, *value; /* a token; cookie-octets (RFC 6265 4.1.1) */
  const char *path;         /* NULL or "": "/" */
  int64_t max_age;          /* seconds; 0 deletes the cookie; < 0: a session cookie */
  int secure, http_only;
  const char *same_site; /* "Lax", "Strict", "None" or NULL */
} http_cookie;
/* Appends one "Set-Cookie: ...\r\n" line to b. TS_EINVAL (nothing
 * appended) for a name, value or path that the header cannot carry;
 * TS_ELIMIT/TS_ENOMEM when b is full. */
ts_err http_set_cookie(ts_buf *b, const http_cookie *c, ts_error *err);

/* "Not Found" for 404 etc. */
const char *http_status_text(int status);

#endif
