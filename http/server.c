/* http/server.c: connections, timers and response framing on libuv.
 *
 * A connection reads, feeds parse.c, and as soon as a complete request is
 * there calls the handler. While the response is in progress it keeps
 * reading, but only to notice a client that goes away: bytes of pipelined
 * requests stay in its input buffer, unparsed, until the response is done
 * (all writes completed and the handler finished). One timer per connection
 * serves, one at a time, the head, body, idle, write-progress and linger
 * deadlines. Closing is counted per handle and the connection is freed in
 * the last close callback (docs/internals/http.md). */
#include "http/http_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  HTTP__INBUF = 16 * 1024,  /* read buffer per connection */
  HTTP__LINGER_MS = 2000,   /* read and discard after our FIN, at most this long */
  HTTP__RETRY_AFTER_S = 5,  /* Retry-After of our own 429 and 503 answers */
  HTTP__ADDR_BUCKETS = 1024 /* hash buckets of the per-address connection counts */
};

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
  int peer_eof; /* the client half-closed after the handler finished */
  char *in;     /* read buffer; [in_off, in_len) is not parsed yet */
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

static void conn_process(http_conn *c);
static void conn_close(http_conn *c);
static void conn_close_graceful(http_conn *c);

/* ---- options, ids, logging ---------------------------------------------- */

void http_server_opts_defaults(http_server_opts *o)
{
  if (!o->max_header_bytes)
    o->max_header_bytes = 16 * 1024;
  if (!o->max_body_bytes)
    o->max_body_bytes = 16 * 1024 * 1024;
  if (!o->header_timeout_ms)
    o->header_timeout_ms = 10000;
  if (!o->body_timeout_ms)
    o->body_timeout_ms = 60000;
  if (!o->idle_timeout_ms)
    o->idle_timeout_ms = 60000;
  if (!o->write_timeout_ms)
    o->write_timeout_ms = 300000;
  if (!o->high_watermark)
    o->high_watermark = 1024 * 1024;
  if (!o->low_watermark)
    o->low_watermark = 256 * 1024;
  if (o->low_watermark > o->high_watermark)
    o->low_watermark = o->high_watermark;
  if (!o->max_connections)
    o->max_connections = 1024;
  if (!o->max_connections_per_addr)
    o->max_connections_per_addr = 64;
  if (!o->first_byte_timeout_ms)
    o->first_byte_timeout_ms = 5000;
  if (!o->max_form_body_bytes)
    o->max_form_body_bytes = 2 * 1024 * 1024;
  if (o->max_form_body_bytes > o->max_body_bytes)
    o->max_form_body_bytes = o->max_body_bytes;
  if (!o->body_budget_bytes)
    o->body_budget_bytes = 64 * 1024 * 1024;
  if (!o->arena_cap)
    o->arena_cap = 64 * 1024 * 1024;
  if (!o->server_header)
    o->server_header = "tapserve/1.0";
}

static uint64_t splitmix64(uint64_t x)
{
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

/* splitmix64 is a bijection, so a counter under a random per-server seed
 * gives ids that never repeat within the server and are hard to guess
 * across servers, without a system call per request. */
static void srv_reqid(http_server *s, char out[17])
{
  uint64_t v = splitmix64(s->reqid_seed + ++s->reqid_count);
  snprintf(out, 17, "%016llx", (unsigned long long)v);
}

static void req_release(http__req *q)
{
  const http_request *r = &q->pub;
  const char *how = q->aborted ? " aborted" : (q->end_ok ? "" : " truncated");
  ts_log(TS_LOG_INFO, r->reqid, "%s %s %d %llu bytes %lld ms%s", r->method, r->path, q->status,
         (unsigned long long)q->body_bytes, (long long)(ts_now_ms() - r->start_ms), how);
  ts_arena_free(r->arena); /* q lives in it */
}

/* ---- timers --------------------------------------------------------------- */

static void conn_on_timer(uv_timer_t *t);

static void conn_timer_set(http_conn *c, int mode, uint64_t ms, uint64_t repeat)
{
  c->timer_mode = mode;
  uv_timer_start(&c->timer, conn_on_timer, ms, repeat);
}

static void conn_timer_stop(http_conn *c)
{
  c->timer_mode = TM_NONE;
  uv_timer_stop(&c->timer);
}

static size_t conn_queued(const http_conn *c)
{
  return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

/* Milliseconds since the kernel last took bytes of the queued output (0
 * when nothing is queued); moves the progress mark when it did. */
static uint64_t conn_stalled_ms(http_conn *c)
{
  size_t queued = conn_queued(c);
  uint64_t now = uv_now(c->srv->loop);
  uint64_t sent = c->bytes_submitted - queued;
  if (queued == 0 || sent != c->progress_mark) {
    c->progress_mark = sent;
    c->progress_ms = now;
    return 0;
  }
  return now - c->progress_ms;
}

/* Write progress is checked a few times per write timeout: a single large
 * write completes late but moves bytes all along, so its callback alone
 * would not tell progress from a stalled reader. */
static void conn_write_timer_start(http_conn *c)
{
  uint64_t iv = c->srv->opts.write_timeout_ms / 4;
  if (iv == 0)
    iv = 1;
  c->progress_mark = c->bytes_submitted - conn_queued(c);
  c->progress_ms = uv_now(c->srv->loop);
  conn_timer_set(c, TM_WRITE, iv, iv);
}

static void conn_error_reply(http_conn *c, int status, const char *msg);

static void conn_maybe_done(http_conn *c);

static void conn_on_timer(uv_timer_t *t)
{
  http_conn *c = t->data;
  int mode = c->timer_mode;

  if (c->closed)
    return;
  if (mode != TM_WRITE)
    conn_timer_stop(c);
  switch (mode) {
  case TM_HEAD:
    conn_error_reply(c, 408, "request head not received in time");
    break;
  case TM_BODY:
    conn_error_reply(c, 408, "request body not received in time");
    break;
  case TM_FIRST: /* connected and sent nothing: no answer is owed */
    ts_log(TS_LOG_DEBUG, NULL, "client %s sent nothing for %llu ms; closing", c->remote_addr,
           (unsigned long long)c->srv->opts.first_byte_timeout_ms);
    conn_close(c);
    break;
  case TM_IDLE:
  case TM_LINGER:
    conn_close(c);
    break;
  case TM_DONE:
    conn_maybe_done(c);
    break;
  case TM_WRITE:
    if (conn_queued(c) == 0) {
      conn_timer_stop(c);
    } else if (conn_stalled_ms(c) >= c->srv->opts.write_timeout_ms) {
      ts_log(TS_LOG_WARN, c->req ? c->req->pub.reqid : NULL,
             "client %s read nothing for %llu ms; closing", c->remote_addr,
             (unsigned long long)c->srv->opts.write_timeout_ms);
      conn_close(c);
    }
    break;
  default:
    break;
  }
}

/* ---- closing -------------------------------------------------------------- */

static void srv_maybe_done(http_server *s)
{
  if (s->shutting_down && !s->listener_open && s->nconns == 0 && !s->done_called) {
    s->done_called = 1;
    if (s->done)
      s->done(s->done_ud);
  }
}

/* ---- counting: addresses, the wait list ------------------------------------ */

static size_t addr_bucket(const char *name)
{
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *name; name++)
    h = (h ^ (unsigned char)*name) * 16777619u;
  return h % HTTP__ADDR_BUCKETS;
}

/* The entry of `name`, created with count 0 when missing; NULL when out of
 * memory. */
static http__addr *addr_get(http_server *s, const char *name)
{
  http__addr **b = &s->addrs[addr_bucket(name)];
  for (http__addr *a = *b; a; a = a->next)
    if (!strcmp(a->name, name))
      return a;
  http__addr *a = calloc(1, sizeof *a);
  if (!a)
    return NULL;
  snprintf(a->name, sizeof a->name, "%s", name);
  a->next = *b;
  *b = a;
  return a;
}

static void addr_put(http_server *s, http__addr *a)
{
  if (--a->count > 0)
    return;
  for (http__addr **pp = &s->addrs[addr_bucket(a->name)]; *pp; pp = &(*pp)->next)
    if (*pp == a) {
      *pp = a->next;
      break;
    }
  free(a);
}

/* Stops counting c against max_connections and its address. */
static void conn_uncount(http_conn *c)
{
  if (c->rejected)
    return;
  c->rejected = 1;
  c->srv->nactive--;
  if (c->addr)
    addr_put(c->srv, c->addr);
  c->addr = NULL;
}

/* Puts c on the wait list, or takes it off, as its state says: counted,
 * open, answering nothing, and no complete request head yet. A connection
 * joins at the tail, so the head has waited longest. */
static void conn_update_waiting(http_conn *c)
{
  http_server *s = c->srv;
  int w = !c->closed && !c->graceful && !c->rejected && !c->req &&
          (c->rp.phase == HTTP__PH_IDLE || c->rp.phase == HTTP__PH_HEAD);
  if (w == c->waiting)
    return;
  c->waiting = w;
  if (w) {
    c->wnext = NULL;
    c->wprev = s->wait_tail;
    if (s->wait_tail)
      s->wait_tail->wnext = c;
    else
      s->wait_head = c;
    s->wait_tail = c;
    return;
  }
  if (c->wprev)
    c->wprev->wnext = c->wnext;
  else
    s->wait_head = c->wnext;
  if (c->wnext)
    c->wnext->wprev = c->wprev;
  else
    s->wait_tail = c->wprev;
  c->wprev = c->wnext = NULL;
}

static void conn_on_close(uv_handle_t *h)
{
  http_conn *c = h->data;
  http_server *s = c->srv;
  http__req *q = c->req;

  if (--c->handles_open > 0)
    return;
  if (c->prev)
    c->prev->next = c->next;
  else
    s->conns = c->next;
  if (c->next)
    c->next->prev = c->prev;
  s->nconns--;
  conn_uncount(c);
  http__reqparser_free(&c->rp);
  free(c->in);
  free(c);
  /* The request outlives its connection when the handler has not finished
   * it: it is detached, told once, and released by its http_end. */
  if (q) {
    q->pub.conn = NULL;
    if (q->finished) {
      req_release(q);
    } else {
      q->aborted = 1;
      if (q->on_abort)
        q->on_abort(q->abort_ud);
    }
  }
  srv_maybe_done(s);
}

/* Closes at once: queued writes are cancelled (their callbacks run with
 * UV_ECANCELED before the close callbacks). */
static void conn_close(http_conn *c)
{
  if (c->closed)
    return;
  c->closed = 1;
  conn_update_waiting(c);
  if (c->reading)
    uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
  uv_close((uv_handle_t *)&c->tcp, conn_on_close);
  uv_close((uv_handle_t *)&c->timer, conn_on_close);
}

static void conn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf);

static void conn_on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
  http_conn *c = h->data;
  if (c->lingering) {
    *buf = uv_buf_init(c->in, HTTP__INBUF); /* discarded */
    return;
  }
  /* Only pipelined input read during a response is left unparsed; make
   * room after it (the parser keeps no pointer into the buffer). */
  if (c->in_off > 0) {
    memmove(c->in, c->in + c->in_off, c->in_len - c->in_off);
    c->in_len -= c->in_off;
    c->in_off = 0;
  }
  *buf = uv_buf_init(c->in + c->in_len, (unsigned)(HTTP__INBUF - c->in_len));
}

static void conn_read_start(http_conn *c)
{
  if (c->reading || c->closed || c->peer_eof)
    return;
  if (uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read) != 0) {
    conn_close(c);
    return;
  }
  c->reading = 1;
}

static void conn_read_stop(http_conn *c)
{
  if (!c->reading)
    return;
  uv_read_stop((uv_stream_t *)&c->tcp);
  c->reading = 0;
}

/* Unparsed input a connection holds at most while a response is in
 * progress. A client that pipelines more than a request head's worth is
 * not read further until the response is done; it is then noticed going
 * away only by a failed write or the write timeout, as before. */
static size_t conn_pending_max(const http_conn *c)
{
  size_t m = c->srv->opts.max_header_bytes;
  return m < HTTP__INBUF ? m : HTTP__INBUF;
}

/* During a response: read on while there is room for pipelined input, so
 * that EOF or a reset is seen at once (conn_on_read). */
static void conn_read_during_response(http_conn *c)
{
  if (c->in_len - c->in_off >= conn_pending_max(c))
    conn_read_stop(c);
  else
    conn_read_start(c);
}

/* Closing right after the last write would make the kernel answer the
 * client's unread bytes (say, the body we refused with 413) with a RST,
 * which can destroy our response before the client reads it. So: FIN
 * first, then read and discard until the client closes too, or a short
 * linger time has passed (nginx's lingering close). */
static void conn_on_shutdown(uv_shutdown_t *req, int status)
{
  http_conn *c = req->data;
  if (c->closed)
    return;
  if (status < 0 || c->peer_eof) { /* nothing left to linger for */
    conn_close(c);
    return;
  }
  c->lingering = 1;
  conn_read_start(c);
  conn_timer_set(c, TM_LINGER, HTTP__LINGER_MS, 0);
}

static void conn_shutdown(http_conn *c)
{
  if (c->shut || c->closed)
    return;
  c->shut = 1;
  conn_timer_stop(c);
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, conn_on_shutdown) != 0)
    conn_close(c);
}

static void conn_close_graceful(http_conn *c)
{
  if (c->closed || c->graceful)
    return;
  c->graceful = 1;
  conn_update_waiting(c);
  conn_read_stop(c);
  if (c->writes_pending == 0)
    conn_shutdown(c);
  else if (c->timer_mode != TM_WRITE)
    conn_write_timer_start(c);
}

/* ---- writing -------------------------------------------------------------- */

static http__wr *wr_new(size_t len)
{
  http__wr *wr = malloc(sizeof *wr + len);
  if (wr)
    wr->len = len;
  return wr;
}

static void conn_on_write(uv_write_t *w, int status)
{
  http__wr *wr = ts_container_of(w, http__wr, w);
  http_conn *c = wr->c;
  http__req *q;

  free(wr);
  c->writes_pending--;
  if (c->closed)
    return;
  if (status < 0) {
    ts_log(TS_LOG_INFO, c->req ? c->req->pub.reqid : NULL, "write to %s failed: %s", c->remote_addr,
           uv_strerror(status));
    conn_close(c);
    return;
  }
  q = c->req;
  if (q && !q->finished && q->blocked && conn_queued(c) < c->srv->opts.low_watermark) {
    q->blocked = 0;
    if (q->on_drain)
      q->on_drain(q->drain_ud); /* may write, end, or close */
    if (c->closed)
      return;
  }
  if (c->writes_pending == 0) {
    if (c->timer_mode == TM_WRITE)
      conn_timer_stop(c);
    if (c->req)
      conn_maybe_done(c);
    else if (c->graceful)
      conn_shutdown(c);
  }
}

/* Queues wr (bufs point into it). On failure the connection closes and
 * TS_ECANCELED is returned; wr is freed either way in due course. */
static ts_err conn_submit(http_conn *c, http__wr *wr, const uv_buf_t *bufs, unsigned nbufs)
{
  wr->c = c;
  if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs, nbufs, conn_on_write) != 0) {
    free(wr);
    conn_close(c);
    return TS_ECANCELED;
  }
  c->writes_pending++;
  c->bytes_submitted += wr->len;
  if (c->timer_mode == TM_NONE && conn_queued(c) > 0)
    conn_write_timer_start(c);
  return TS_OK;
}

/* Response head. clen < 0: no Content-Length. */
/* Caps of the buffers our own answers are built in: a response head (our
 * headers and the handler's extra ones, a Location URL at most), and the
 * one-line body of an error of our own. */
enum { HTTP__HEAD_MAX = 64 * 1024, HTTP__ERROR_BODY_MAX = 4 * 1024 };

static ts_err head_build(ts_buf *b, const http_server *s, int status, const char *ct,
                         const char *extra, long long clen, int chunked, int keep, int minor)
{
  char date[32];
  ts_err rc;
  http__date(date, ts_now_ms());
  rc = ts_buf_printf(b, "HTTP/1.1 %d %s\r\nDate: %s\r\nServer: %s\r\n", status,
                     http_status_text(status), date, s->opts.server_header);
  if (!rc && ct)
    rc = ts_buf_printf(b, "Content-Type: %s\r\n", ct);
  if (!rc && clen >= 0)
    rc = ts_buf_printf(b, "Content-Length: %lld\r\n", clen);
  if (!rc && chunked)
    rc = ts_buf_puts(b, "Transfer-Encoding: chunked\r\n");
  if (!rc && !keep)
    rc = ts_buf_puts(b, "Connection: close\r\n");
  else if (!rc && minor == 0)
    rc = ts_buf_puts(b, "Connection: keep-alive\r\n");
  if (!rc && extra)
    rc = ts_buf_puts(b, extra);
  if (!rc)
    rc = ts_buf_puts(b, "\r\n");
  return rc;
}

/* Head plus body as one write. */
static ts_err conn_send(http_conn *c, const ts_buf *head, const void *body, size_t len)
{
  http__wr *wr = wr_new(head->len + len);
  uv_buf_t bufs[1];
  if (!wr) {
    conn_close(c);
    return TS_ENOMEM;
  }
  memcpy(wr->data, head->data, head->len);
  if (len)
    memcpy(wr->data + head->len, body, len);
  bufs[0] = uv_buf_init(wr->data, (unsigned)wr->len);
  return conn_submit(c, wr, bufs, 1);
}

/* An answer of our own (limits, timeouts, malformed input), then close. */
static void conn_error_reply(http_conn *c, int status, const char *msg)
{
  http_server *s = c->srv;
  http_request *pr = c->rp.req;
  char reqid[17];
  ts_buf head, body;

  conn_read_stop(c);
  conn_timer_stop(c);
  ts_buf_init(&head, HTTP__HEAD_MAX);
  ts_buf_init(&body, HTTP__ERROR_BODY_MAX);
  srv_reqid(s, reqid);
  char extra[40] = "";
  if (status == 405)
    snprintf(extra, sizeof extra, "Allow: GET, HEAD, POST\r\n");
  else if (status == 429 || status == 503)
    snprintf(extra, sizeof extra, "Retry-After: %d\r\n", HTTP__RETRY_AFTER_S);
  if (ts_buf_printf(&body, "%s\n", msg) == TS_OK &&
      head_build(&head, s, status, "text/plain; charset=utf-8", extra[0] ? extra : NULL,
                 (long long)body.len, 0, 0, 1) == TS_OK)
    conn_send(c, &head, body.data, pr && pr->is_head ? 0 : body.len);
  else
    conn_close(c);
  ts_log(TS_LOG_INFO, reqid, "%s %s %d from %s: %s", pr && pr->method ? pr->method : "-",
         pr && pr->path ? pr->path : "-", status, c->remote_addr, msg);
  ts_buf_free(&head);
  ts_buf_free(&body);
  conn_close_graceful(c);
}

/* ---- the request cycle ---------------------------------------------------- */

static void conn_dispatch(http_conn *c)
{
  http_server *s = c->srv;
  http_request *r = c->rp.req;
  http__req *q = http__req_of(r);

  http__reqparser_next(&c->rp); /* we own r now */
  conn_timer_stop(c);
  r->conn = c;
  snprintf(r->remote_addr, sizeof r->remote_addr, "%s", c->remote_addr);
  srv_reqid(s, r->reqid);
  r->start_ms = ts_now_ms();
  q->end_ok = 1;
  if (s->shutting_down)
    q->keep_alive = 0;
  c->req = q;
  conn_update_waiting(c);
  conn_read_during_response(c);
  s->handler(r, s->ud);
}

static void conn_process(http_conn *c)
{
  static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
  const http_server_opts *o = &c->srv->opts;
  size_t used;
  http__feed_rc rc;

  if (c->closed || c->graceful || c->req)
    return;
  rc = http__conn_feed(&c->rp, c->in + c->in_off, c->in_len - c->in_off, &used);
  c->in_off += used;
  if (c->in_off == c->in_len)
    c->in_off = c->in_len = 0;
  if (rc == HTTP__FEED_REQUEST) {
    conn_dispatch(c);
    return;
  }
  if (rc == HTTP__FEED_ERROR) {
    conn_error_reply(c, c->rp.err_status, c->rp.err_msg);
    return;
  }
  if (c->peer_eof) { /* the client can send nothing more */
    conn_close(c);
    return;
  }
  if (c->rp.phase == HTTP__PH_HEAD && c->timer_mode != TM_HEAD) {
    /* The first head of a connection is due header_timeout after accept,
     * a later one header_timeout after its first byte. */
    uint64_t ms = o->header_timeout_ms;
    if (c->timer_mode == TM_FIRST) {
      uint64_t spent = uv_now(c->srv->loop) - c->accepted_ms;
      ms = spent < ms ? ms - spent : 1;
    }
    conn_timer_set(c, TM_HEAD, ms, 0);
  } else if (c->rp.phase == HTTP__PH_BODY && c->timer_mode != TM_BODY)
    conn_timer_set(c, TM_BODY, o->body_timeout_ms, 0);
  if (c->rp.expect_continue) {
    http__wr *wr = wr_new(sizeof cont - 1);
    c->rp.expect_continue = 0;
    if (!wr) {
      conn_close(c);
      return;
    }
    memcpy(wr->data, cont, sizeof cont - 1);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
    if (conn_submit(c, wr, &b, 1) != TS_OK)
      return;
  }
  conn_update_waiting(c);
  conn_read_start(c);
}

/* EOF or a read error. While the handler is still working on a response
 * the client is taken to be gone (a half-close after the request is rare
 * among TAP clients, and nginx treats it the same way): the connection
 * closes, which detaches the request and runs its on_abort, so that the
 * handler can cancel its database query at once. */
static void conn_on_read_end(http_conn *c, ssize_t nread)
{
  http__req *q = c->req;

  c->reading = 0; /* libuv stopped reading itself */
  if (q && !q->finished) {
    ts_log(TS_LOG_INFO, q->pub.reqid, "client %s went away (%s) before the response was complete",
           c->remote_addr, nread == UV_EOF ? "end of input" : uv_strerror((int)nread));
    conn_close(c);
    return;
  }
  if (q && nread == UV_EOF) {
    /* The handler is done and only writes are left: finish them, answer
     * what was pipelined before the FIN, then close (conn_process). */
    c->peer_eof = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    return;
  }
  conn_close(c);
}

static void conn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
  http_conn *c = st->data;
  if (nread < 0) {
    conn_on_read_end(c, nread);
    return;
  }
  if (nread == 0 || c->lingering)
    return;
  c->in_len += (size_t)nread;
  if (c->req) { /* pipelined: parsed once the response is done */
    conn_read_during_response(c);
    return;
  }
  conn_process(c);
}

/* The handler finished and every byte of the response was written. */
static void conn_response_done(http_conn *c)
{
  http__req *q = c->req;
  int keep = q->keep_alive && q->end_ok && !q->close_delim && !c->srv->shutting_down;

  c->req = NULL;
  req_release(q);
  conn_timer_stop(c);
  if (!keep) {
    conn_close_graceful(c);
    return;
  }
  conn_timer_set(c, TM_IDLE, c->srv->opts.idle_timeout_ms, 0);
  conn_process(c);
}

static void conn_maybe_done(http_conn *c)
{
  if (!c->closed && c->req && c->req->finished && c->writes_pending == 0)
    conn_response_done(c);
}

/* ---- accepting ------------------------------------------------------------ */

static void srv_admit(http_server *s, http_conn *c);

static void srv_on_conn(uv_stream_t *l, int status)
{
  http_server *s = l->data;
  http_conn *c;
  struct sockaddr_storage ss;
  int sl = sizeof ss;

  if (status < 0) {
    ts_log(TS_LOG_WARN, NULL, "accept failed: %s", uv_strerror(status));
    return;
  }
  c = calloc(1, sizeof *c);
  if (c)
    c->in = malloc(HTTP__INBUF);
  if (!c || !c->in) {
    /* libuv stops watching the listener until we accept; there is nothing
     * sensible to do without memory but to say so. */
    ts_log(TS_LOG_ERROR, NULL, "out of memory accepting a connection");
    if (c)
      free(c);
    return;
  }
  c->srv = s;
  c->rejected = 1; /* counted below, once accepted */
  http__reqparser_init(&c->rp, &s->opts);
  c->rp.budget = &s->body_budget;
  uv_tcp_init(s->loop, &c->tcp);
  uv_timer_init(s->loop, &c->timer);
  c->tcp.data = c;
  c->timer.data = c;
  c->handles_open = 2;
  c->next = s->conns;
  if (s->conns)
    s->conns->prev = c;
  s->conns = c;
  s->nconns++;
  snprintf(c->remote_addr, sizeof c->remote_addr, "-");
  if (uv_accept(l, (uv_stream_t *)&c->tcp) != 0) {
    conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)&ss, c->remote_addr, sizeof c->remote_addr);
    else if (ss.ss_family == AF_INET)
      uv_ip4_name((struct sockaddr_in *)&ss, c->remote_addr, sizeof c->remote_addr);
  }
  srv_admit(s, c);
}

/* Counts a new connection against its address and the server, making room
 * if need be, and starts reading; or refuses it. */
static void srv_admit(http_server *s, http_conn *c)
{
  http__addr *a = addr_get(s, c->remote_addr);
  if (!a) {
    conn_close(c);
    return;
  }
  if (a->count >= s->opts.max_connections_per_addr) {
    conn_error_reply(c, 429, "too many connections from your address");
    return;
  }
  a->count++;
  c->addr = a;
  c->rejected = 0;
  s->nactive++;
  if (s->nactive > s->opts.max_connections) {
    /* Full. A connection that has not sent a complete request head has
     * nothing in progress: the one that has waited longest makes room,
     * rather than the newcomer being refused (one client's idle
     * connections would otherwise lock everybody else out). */
    http_conn *old = s->wait_head;
    if (!old) {
      conn_uncount(c);
      conn_error_reply(c, 503, "too many connections");
      return;
    }
    ts_log(TS_LOG_INFO, NULL, "server full: closing a connection of %s that has no request",
           old->remote_addr);
    conn_uncount(old);
    conn_close(old);
  }
  /* A new connection has first_byte_timeout to begin its head and
   * header_timeout (from now) to complete it. */
  c->accepted_ms = uv_now(s->loop);
  uint64_t first = s->opts.first_byte_timeout_ms;
  conn_timer_set(c, TM_FIRST, first < s->opts.header_timeout_ms ? first : s->opts.header_timeout_ms,
                 0);
  conn_read_start(c);
  conn_update_waiting(c);
}

/* ---- server --------------------------------------------------------------- */

http_server *http_server_new(uv_loop_t *loop, const http_server_opts *o, http_handler_fn handler,
                             void *ud)
{
  http_server *s = calloc(1, sizeof *s);
  if (!s)
    return NULL;
  s->loop = loop;
  if (o)
    s->opts = *o;
  http_server_opts_defaults(&s->opts);
  s->handler = handler;
  s->ud = ud;
  s->body_budget.cap = s->opts.body_budget_bytes;
  /* libuv writes with write(2): without this a client that resets the
   * connection mid-response would kill the process instead of failing one
   * write. Process-wide, and what every libuv server does. */
  signal(SIGPIPE, SIG_IGN);
  if (ts_random(&s->reqid_seed, sizeof s->reqid_seed) != TS_OK)
    s->reqid_seed = splitmix64((uint64_t)ts_now_ms() ^ (uint64_t)(uintptr_t)s);
  /* http-parser's own head limit is process-wide (80 KiB by default); ours
   * is exact and per server, so only make sure theirs is not the smaller. */
  if (s->opts.max_header_bytes + 1024 > 80 * 1024)
    http_parser_set_max_header_size((uint32_t)(s->opts.max_header_bytes + 1024));
  return s;
}

static void srv_on_listener_close(uv_handle_t *h)
{
  http_server *s = h->data;
  s->listener_open = 0;
  srv_maybe_done(s);
}

ts_err http_server_listen(http_server *s, const char *host, int port, ts_error *err)
{
  struct sockaddr_storage ss;
  int e;

  if (s->listener_open)
    return ts_fail(err, TS_EINVAL, 0, "server is already listening");
  if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0 &&
      uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0)
    return ts_fail(err, TS_EINVAL, 0, "\"%s\" is not a numeric IPv4 or IPv6 address", host);
  e = uv_tcp_init(s->loop, &s->listener);
  if (e)
    return ts_fail(err, TS_EIO, 0, "cannot create a socket: %s", uv_strerror(e));
  s->listener.data = s;
  s->listener_open = 1;
  e = uv_tcp_bind(&s->listener, (const struct sockaddr *)&ss, 0);
  if (!e)
    e = uv_listen((uv_stream_t *)&s->listener, 511, srv_on_conn);
  if (e) {
    uv_close((uv_handle_t *)&s->listener, srv_on_listener_close);
    return ts_fail(err, TS_EIO, 0, "cannot listen on %s port %d: %s", host, port, uv_strerror(e));
  }
  s->listening = 1;
  int sl = sizeof ss;
  if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&ss, &sl) == 0)
    s->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
  return TS_OK;
}

int http_server_port(const http_server *s)
{
  return s->port;
}

void http_server_shutdown(http_server *s, void (*done)(void *ud), void *ud)
{
  if (s->shutting_down)
    return;
  s->shutting_down = 1;
  s->done = done;
  s->done_ud = ud;
  if (s->listening) {
    s->listening = 0;
    uv_close((uv_handle_t *)&s->listener, srv_on_listener_close);
  }
  /* Idle means no request handed to the handler: waiting for one, or
   * half-way through receiving one. Busy connections close after their
   * response (conn_response_done sees shutting_down). */
  for (http_conn *c = s->conns; c; c = c->next)
    if (!c->req && !c->graceful)
      conn_close(c);
  srv_maybe_done(s);
}

void http_server_free(http_server *s)
{
  if (!s)
    return;
  for (size_t i = 0; i < HTTP__ADDR_BUCKETS; i++) /* empty once every connection closed */
    while (s->addrs[i]) {
      http__addr *a = s->addrs[i];
      s->addrs[i] = a->next;
      free(a);
    }
  free(s);
}

/* ---- responses ------------------------------------------------------------ */

/* The connection of a request that can still be written to, else NULL. */
static http_conn *req_conn(const http__req *q)
{
  http_conn *c = q->pub.conn;
  if (q->aborted || !c || c->closed)
    return NULL;
  return c;
}

static int status_has_body(int status)
{
  return status >= 200 && status != 204 && status != 304;
}

ts_err http_respond(http_request *r, int status, const char *content_type,
                    const char *extra_headers, const void *body, size_t len)
{
  http__req *q = http__req_of(r);
  http_conn *c = r->conn;
  ts_buf head;
  ts_err rc;

  if (q->started || q->finished)
    return TS_EINVAL;
  q->started = 1;
  q->finished = 1;
  q->status = status;
  if (q->aborted) { /* detached: nobody else will release it */
    req_release(q);
    return TS_ECANCELED;
  }
  if (!req_conn(q))
    return TS_ECANCELED; /* closing: released by the close callback */
  if (c->srv->shutting_down)
    q->keep_alive = 0;
  if (!status_has_body(status))
    len = 0;
  ts_buf_init(&head, HTTP__HEAD_MAX);
  rc = head_build(&head, c->srv, status, content_type, extra_headers,
                  status_has_body(status) ? (long long)len : -1, 0, q->keep_alive, r->http_minor);
  if (rc == TS_OK) {
    size_t sent = r->is_head ? 0 : len;
    q->body_bytes = sent;
    rc = conn_send(c, &head, body, sent);
  } else {
    conn_close(c);
  }
  ts_buf_free(&head);
  return rc;
}

/* Sends the head of a streamed response: chunked (HTTP/1.1, length < 0),
 * close-delimited (HTTP/1.0, length < 0) or of a known length. */
static ts_err begin_streamed(http_request *r, int status, const char *content_type,
                             const char *extra_headers, long long length)
{
  http__req *q = http__req_of(r);
  http_conn *c = req_conn(q);
  ts_buf head;
  ts_err rc;

  if (q->started || q->finished)
    return TS_EINVAL;
  if (!c)
    return TS_ECANCELED;
  q->started = 1;
  q->status = status;
  if (length < 0 && r->http_minor == 0) {
    q->close_delim = 1; /* HTTP/1.0 knows no chunks: the end is our close */
    q->keep_alive = 0;
  } else if (length < 0) {
    q->chunked = 1;
  }
  if (c->srv->shutting_down)
    q->keep_alive = 0;
  ts_buf_init(&head, HTTP__HEAD_MAX);
  rc = head_build(&head, c->srv, status, content_type, extra_headers, length, q->chunked,
                  q->keep_alive, r->http_minor);
  if (rc == TS_OK)
    rc = conn_send(c, &head, NULL, 0);
  else
    conn_close(c);
  ts_buf_free(&head);
  return rc;
}

ts_err http_begin_chunked(http_request *r, int status, const char *content_type,
                          const char *extra_headers)
{
  return begin_streamed(r, status, content_type, extra_headers, -1);
}

ts_err http_begin_sized(http_request *r, int status, const char *content_type,
                        const char *extra_headers, uint64_t length)
{
  return begin_streamed(r, status, content_type, extra_headers, (long long)length);
}

ts_err http_write(http_request *r, const void *buf, size_t len)
{
  http__req *q = http__req_of(r);
  http_conn *c = req_conn(q);
  char hdr[24];
  size_t hl = 0;
  http__wr *wr;
  uv_buf_t bufs[3];
  unsigned nb = 0;
  ts_err rc;

  if (!q->started || q->finished)
    return TS_EINVAL;
  if (!c)
    return TS_ECANCELED;
  if (len == 0 || r->is_head)
    return TS_OK; /* an empty chunk would end the body */
  if (q->chunked)
    hl = (size_t)snprintf(hdr, sizeof hdr, "%zx\r\n", len);
  wr = wr_new(hl + len + (q->chunked ? 2 : 0));
  if (!wr) {
    conn_close(c);
    return TS_ENOMEM;
  }
  if (hl) {
    memcpy(wr->data, hdr, hl);
    bufs[nb++] = uv_buf_init(wr->data, (unsigned)hl);
  }
  memcpy(wr->data + hl, buf, len);
  bufs[nb++] = uv_buf_init(wr->data + hl, (unsigned)len);
  if (q->chunked) {
    memcpy(wr->data + hl + len, "\r\n", 2);
    bufs[nb++] = uv_buf_init(wr->data + hl + len, 2);
  }
  rc = conn_submit(c, wr, bufs, nb);
  if (rc != TS_OK)
    return rc;
  q->body_bytes += len;
  if (conn_queued(c) > c->srv->opts.high_watermark)
    q->blocked = 1;
  return TS_OK;
}

int http_write_blocked(const http_request *r)
{
  const http__req *q = http__req_of(r);
  return q->blocked && req_conn(q) != NULL;
}

size_t http_queued_bytes(const http_request *r)
{
  const http_conn *c = req_conn(http__req_of(r));
  return c ? conn_queued(c) : 0;
}

uint64_t http_write_stalled_ms(const http_request *r)
{
  http_conn *c = req_conn(http__req_of(r));
  return c ? conn_stalled_ms(c) : 0;
}

void http_abort(http_request *r)
{
  http_conn *c = req_conn(http__req_of(r));
  if (!c)
    return;
  ts_log(TS_LOG_WARN, r->reqid, "closing the connection of client %s", c->remote_addr);
  conn_close(c); /* on_abort runs from the close callback */
}

void http_on_drain(http_request *r, void (*on_drain)(void *ud), void *ud)
{
  http__req *q = http__req_of(r);
  q->on_drain = on_drain;
  q->drain_ud = ud;
}

void http_on_abort(http_request *r, void (*on_abort)(void *ud), void *ud)
{
  http__req *q = http__req_of(r);
  q->on_abort = on_abort;
  q->abort_ud = ud;
}

void http_end(http_request *r, int ok)
{
  http__req *q = http__req_of(r);
  http_conn *c;

  if (q->finished)
    return;
  if (q->aborted) {
    q->finished = 1;
    req_release(q);
    return;
  }
  c = req_conn(q);
  if (c && !q->started && ok) {
    /* The handler ended without answering: that is our failure. */
    static const char msg[] = "internal error: no response\n";
    http_respond(r, 500, "text/plain; charset=utf-8", NULL, msg, sizeof msg - 1);
    return;
  }
  q->finished = 1;
  q->end_ok = ok;
  if (!c)
    return; /* closing: the close callback releases it */
  if (!ok) {
    q->keep_alive = 0;
  } else if (q->chunked && !r->is_head) {
    http__wr *wr = wr_new(5);
    if (!wr) {
      conn_close(c);
      return;
    }
    memcpy(wr->data, "0\r\n\r\n", 5);
    uv_buf_t b = uv_buf_init(wr->data, 5);
    if (conn_submit(c, wr, &b, 1) != TS_OK)
      return;
  }
  /* Completion always comes from the loop, never from inside this call:
   * it may start the next pipelined request. */
  if (c->writes_pending == 0)
    conn_timer_set(c, TM_DONE, 0, 0);
}
