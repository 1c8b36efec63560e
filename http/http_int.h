/* http/http_int.h: private to http/. The request parser (parse.c) is kept
 * apart from the sockets (server.c) so that the fuzzer and the unit tests
 * drive exactly the code path the server uses, without a loop. The socket
 * side is three files: server.c (connections, reading, timers, closing),
 * respond.c (writing and response framing) and limits.c (admission). */
#ifndef TS_HTTP_INT_H
#define TS_HTTP_INT_H

#include "http/http.h"

#include <http_parser.h>

/* Where the parser is in the current message. */
enum {
  HTTP__PH_IDLE = 0, /* no byte of the next message yet */
  HTTP__PH_HEAD,     /* receiving the request line and headers */
  HTTP__PH_BODY,     /* head complete, receiving the body */
  HTTP__PH_DONE,     /* a complete request was handed out; paused */
  HTTP__PH_ERROR     /* err_status says how to answer; then close */
};

typedef enum http__feed_rc {
  HTTP__FEED_MORE = 0, /* every byte consumed; feed more */
  HTTP__FEED_REQUEST,  /* p->req holds a complete request; the rest waits */
  HTTP__FEED_ERROR     /* answer p->err_status (p->err_msg) and close */
} http__feed_rc;

typedef struct http__hdr {
  size_t name_off, name_len, val_off, val_len; /* into http__reqparser.head */
} http__hdr;

/* Private part of a request; the public struct comes first so that
 * ts_container_of turns one into the other. Lives in the request arena. */
typedef struct http__req {
  http_request pub;
  http_server *srv; /* its server (the connection may be gone) */
  int keep_alive;   /* the client allows another request after this one */
  int started;      /* the response head was queued */
  int finished;     /* the handler called http_respond or http_end */
  int chunked;      /* chunk framing on the wire */
  int close_delim;  /* HTTP/1.0 stream: the body ends when we close */
  int aborted;      /* the connection went away before finished */
  int end_ok;       /* 0 after http_end(r, 0): close without "0\r\n\r\n" */
  int blocked;      /* above the high watermark, waiting for drain */
  int status;
  uint64_t body_bytes; /* body bytes queued (for the log line) */
  void (*on_drain)(void *ud);
  void *drain_ud;
  void (*on_abort)(void *ud);
  void *abort_ud;
  struct http__mpbody *mp; /* a multipart body's parts and parameters (body.c) */
  http_param *params;      /* cached result of http_request_params */
  size_t nparams;
  int params_done;
} http__req;

static inline http__req *http__req_of(const http_request *r)
{
  return ts_container_of(r, http__req, pub);
}

/* Request body bytes held in memory by all connections of a server, and
 * the most they may hold (http_server_opts.body_budget_bytes). */
typedef struct http__budget {
  size_t used, cap;
} http__budget;

/* The request parser: http-parser plus what we collect around it. */
typedef struct http__reqparser {
  http_parser parser;
  http_parser_settings settings;
  const http_server_opts *opts;
  int phase;
  size_t head_bytes; /* raw bytes of the current head so far */
  ts_buf head;       /* target, then header names and values, unterminated */
  size_t url_len;
  http__hdr *hdrs;
  size_t nhdrs, hdrs_cap;
  int last_cb; /* 0 none, 1 header field, 2 header value */
  ts_buf body;
  size_t body_limit;    /* max_body_bytes, or max_form_body_bytes for a form */
  http__budget *budget; /* NULL: bodies are not budgeted (tests, fuzzer) */
  size_t body_reserved; /* of budget, for the body being received */
  int expect_continue;  /* set at head end when 100 Continue should be sent */
  int err_status;       /* with HTTP__FEED_ERROR: 400, 405, 413, 415, 431, 500, 503 */
  const char *err_msg;
  char err_text[512];      /* err_msg when it has to be composed */
  struct http__mpbody *mp; /* the multipart body being streamed (in the request's arena) */
  size_t body_seen;        /* bytes of the streamed body so far */
  http__budget *spool;     /* NULL: spooled bytes are not budgeted (tests, fuzzer) */
  http_request *req;       /* with HTTP__FEED_REQUEST: owned by the caller */
} http__reqparser;

void http__reqparser_init(http__reqparser *p, const http_server_opts *o);
/* Releases buffers and any request not taken. */
void http__reqparser_free(http__reqparser *p);
/* After HTTP__FEED_REQUEST (and taking p->req): get ready for the next
 * message of the same connection. */
void http__reqparser_next(http__reqparser *p);

/* Feeds bytes of one connection. *consumed says how many were used; with
 * HTTP__FEED_REQUEST the unused rest belongs to the next request and must
 * be fed again after http__reqparser_next. Never called again after
 * HTTP__FEED_ERROR. */
http__feed_rc http__conn_feed(http__reqparser *p, const char *data, size_t len, size_t *consumed);

/* 1 when a Content-Type value is application/x-www-form-urlencoded
 * (parameters after ';' allowed, any case). */
int http__is_form_type(const char *ct);

/* Percent-decodes [s, s+n) into out (n + 1 bytes, NUL-terminated), *outlen
 * bytes. plus_space turns '+' into ' '. On a problem, *at is the 1-based
 * byte offset where it is. */
enum { HTTP__PCT_OK = 0, HTTP__PCT_MALFORMED, HTTP__PCT_NUL_ENCODED, HTTP__PCT_NUL };
int http__pct_decode(const char *s, size_t n, int plus_space, char *out, size_t *outlen,
                     size_t *at);

/* Percent-decodes [s, s+n) into the arena. plus_space turns '+' into ' '.
 * NUL bytes (%00) and malformed escapes are TS_EINVAL. */
ts_err http__decode(ts_arena *a, const char *s, size_t n, int plus_space, char **out,
                    ts_error *err);

/* ---- multipart/form-data (multipart.c) ------------------------------------ */

enum { HTTP__MP_BOUNDARY_MAX = 70 }; /* RFC 2046 */

/* What a part's headers said; the strings live only during on_part. */
typedef struct http__mp_part {
  const char *name;         /* Content-Disposition name (quoted-string decoded) */
  const char *filename;     /* filename* (RFC 5987, as UTF-8) or filename; NULL: none */
  const char *content_type; /* as sent, never trusted; NULL: none */
  unsigned index;           /* 1-based */
} http__mp_part;

/* Each callback returns TS_OK, or a code having filled err: the parser then
 * fails with it. on_data gets the part's content in pieces. */
typedef struct http__mp_cbs {
  ts_err (*on_part)(void *ud, const http__mp_part *part, ts_error *err);
  ts_err (*on_data)(void *ud, const char *p, size_t n, ts_error *err);
  ts_err (*on_part_end)(void *ud, ts_error *err);
} http__mp_cbs;

typedef struct http__mp {
  char delim[3 + HTTP__MP_BOUNDARY_MAX]; /* "\n--" boundary */
  size_t dlen;
  const char *boundary; /* into delim */
  size_t blen;
  size_t matched; /* bytes of delim matched so far, held back */
  int pending_cr; /* a CR held back: the delimiter's, or content */
  int state;
  int in_part;     /* on_part ran, on_part_end not yet */
  unsigned nparts; /* parts begun */
  ts_buf hb;       /* the current part's header block, capped */
  size_t max_header;
  size_t line_start; /* of the header line being collected, in hb */
  int have_cd, have_ct;
  size_t cd_off, cd_len, ct_off, ct_len; /* header values in hb */
  char *dec;                             /* decoded header values */
  const http__mp_cbs *cbs;
  void *ud;
} http__mp;

/* 1 when a Content-Type value is multipart/form-data (any case, parameters
 * after ';'). */
int http__is_multipart_type(const char *ct);
/* The boundary parameter of a multipart/form-data Content-Type (quoted or
 * not), NUL-terminated. TS_EINVAL (message for the client) when the type is
 * another, the boundary is missing or breaks RFC 2046 (1..70 bchars, no
 * trailing space). */
ts_err http__mp_boundary(const char *content_type, char out[HTTP__MP_BOUNDARY_MAX + 1], size_t *len,
                         ts_error *err);
/* max_header_bytes bounds one part's header block (TS_ELIMIT beyond).
 * TS_ENOMEM when the buffers cannot be had; free with http__mp_free in any
 * case. */
ts_err http__mp_init(http__mp *m, const char *boundary, size_t blen, size_t max_header_bytes,
                     const http__mp_cbs *cbs, void *ud);
/* Feeds the next piece of the body (any split). TS_EINVAL on a malformed
 * body, TS_ELIMIT on a part header block too long, or a callback's code;
 * err says what. Not to be called again after a failure. */
ts_err http__mp_feed(http__mp *m, const char *data, size_t len, ts_error *err);
/* The body is complete: TS_EINVAL unless the close delimiter was seen. */
ts_err http__mp_finish(http__mp *m, ts_error *err);
void http__mp_free(http__mp *m);

/* ---- a multipart body on its way in (body.c) ------------------------------ */

/* After the head of a POST multipart/form-data request: the body goes to
 * the parts from now on. Each returns 0, or -1 having set p->err_status
 * and p->err_msg. */
int http__body_mp_begin(http__reqparser *p, http__req *q, const char *content_type);
int http__body_mp_feed(http__reqparser *p, const char *at, size_t len);
/* The whole body is in: -1 unless it was complete. */
int http__body_mp_end(http__reqparser *p);
/* The parameters (parts without a filename) of a multipart request. */
void http__body_mp_params(const http__req *q, const http_param **params, size_t *n);

/* "Sun, 06 Nov 1994 08:49:37 GMT" */
void http__date(char out[32], int64_t unix_ms);

/* ---- the server and its connections (server.c, respond.c, limits.c) ---- */

enum { HTTP__ADDR_BUCKETS = 1024 }; /* hash buckets of the per-address connection counts */
enum { HTTP__BACKLOG = 511 };       /* listen(2) backlog; what shutdown takes from it at most */

/* What a connection's one timer is counting down. */
enum { TM_NONE, TM_FIRST, TM_HEAD, TM_BODY, TM_IDLE, TM_WRITE, TM_LINGER, TM_DONE };

/* Connections counted against max_connections_per_addr, per peer
 * address. An entry exists while its count is above zero. */
typedef struct http__addr {
  struct http__addr *next;
  int count;
  char name[64];
} http__addr;

struct http_server {
  uv_loop_t *loop;
  uv_tcp_t listener;
  int listener_open; /* initialised and its close callback not yet run */
  int listening;     /* accepting connections */
  http_server_opts opts;
  http_handler_fn handler;
  void *ud;
  http_conn *conns; /* every connection whose handles are not all closed */
  int nconns;
  int nactive; /* connections counted against max_connections */
  /* Counted connections waiting for a request head (new, receiving one, or
   * kept alive between requests), longest waiting first: the ones a full
   * server evicts. */
  http_conn *wait_head, *wait_tail;
  http__addr *addrs[HTTP__ADDR_BUCKETS];
  http__budget body_budget;
  http__budget spool_budget; /* bytes of file parts spooled (body.c) */
  int shutting_down;
  void (*done)(void *ud);
  void *done_ud;
  int done_called;
  int port;
  uint64_t reqid_seed, reqid_count;
};

struct http_conn {
  http_server *srv;
  http_conn *prev, *next;
  uv_tcp_t tcp;
  uv_timer_t timer;
  uv_shutdown_t shutdown_req;
  int handles_open;
  int timer_mode;
  int reading;
  int closed;    /* uv_close called on every handle */
  int graceful;  /* closing once the queued output is written */
  int shut;      /* uv_shutdown issued */
  int lingering; /* FIN sent: input is discarded until EOF or the timer */
  int rejected;  /* refused or evicted: not counted in nactive nor its address */
  int waiting;   /* on the server's wait list */
  http_conn *wprev, *wnext;
  http__addr *addr; /* its address's count, while counted */
  uint64_t accepted_ms;
  int peer_eof;    /* the client half-closed after the handler finished */
  unsigned served; /* requests handed to the handler */
  int partial;     /* bytes arrived since the last request was handed over */
  char *in;        /* read buffer; [in_off, in_len) is not parsed yet */
  size_t in_len, in_off;
  http__reqparser rp;
  http__req *req; /* the request being answered, NULL between requests */
  size_t writes_pending;
  uint64_t bytes_submitted;
  uint64_t progress_mark; /* bytes handed to the kernel at the last check */
  uint64_t progress_ms;
  char remote_addr[64];
};

/* One uv_write and the bytes it sends, in one allocation. */
typedef struct http__wr {
  uv_write_t w;
  http_conn *c;
  size_t len;
  char data[];
} http__wr;

/* server.c */
void http__srv_reqid(http_server *s, char out[17]);
/* Logs the request's line and frees its arena (q lives in it). */
void http__req_release(http__req *q);
void http__conn_timer_set(http_conn *c, int mode, uint64_t ms, uint64_t repeat);
void http__conn_timer_stop(http_conn *c);
/* Bytes queued in libuv for the connection. */
size_t http__conn_queued(const http_conn *c);
uint64_t http__conn_stalled_ms(http_conn *c);
void http__conn_write_timer_start(http_conn *c);
void http__conn_close(http_conn *c);
void http__conn_close_graceful(http_conn *c);
void http__conn_shutdown(http_conn *c);
void http__conn_read_start(http_conn *c);
void http__conn_read_stop(http_conn *c);
/* Ends the response when the handler finished and every write completed. */
void http__conn_maybe_done(http_conn *c);

/* respond.c */
http__wr *http__wr_new(size_t len);
ts_err http__conn_submit(http_conn *c, http__wr *wr, const uv_buf_t *bufs, unsigned nbufs);
void http__conn_error_reply(http_conn *c, int status, const char *msg);

/* limits.c */
void http__conn_uncount(http_conn *c);
void http__conn_update_waiting(http_conn *c);
void http__srv_admit(http_server *s, http_conn *c);
/* Frees the per-address counts (all zero once every connection closed). */
void http__addrs_free(http_server *s);

#endif
