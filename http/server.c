/* http/server.c: connections and timers on libuv.
 *
 * A connection reads, feeds parse.c, and as soon as a complete request is
 * there calls the handler. While the response is in progress it keeps
 * reading, but only to notice a client that goes away: bytes of pipelined
 * requests stay in its input buffer, unparsed, until the response is done
 * (all writes completed and the handler finished). One timer per connection
 * serves, one at a time, the head, body, idle, write-progress and linger
 * deadlines. Closing is counted per handle and the connection is freed in
 * the last close callback (docs/internals/http.md). What is written to the
 * client is framed in respond.c; admission (connection counts, eviction)
 * is limits.c. */
#include "http/http_int.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
  HTTP__INBUF = 16 * 1024, /* read buffer per connection */
  HTTP__LINGER_MS = 2000,  /* read and discard after our FIN, at most this long */
};

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
  if (!o->max_upload_body_bytes)
    o->max_upload_body_bytes = (size_t)1 << 30;
  if (!o->max_upload_parts)
    o->max_upload_parts = 100;
  if (!o->max_part_header_bytes)
    o->max_part_header_bytes = 8 * 1024;
  if (!o->spool_budget_bytes)
    o->spool_budget_bytes = (size_t)4 << 30;
  if (!o->spool_dir || !o->spool_dir[0]) {
    const char *t = getenv("TMPDIR");
    o->spool_dir = t && t[0] ? t : "/tmp";
  }
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
void http__srv_reqid(http_server *s, char out[17])
{
  uint64_t v = splitmix64(s->reqid_seed + ++s->reqid_count);
  snprintf(out, 17, "%016llx", (unsigned long long)v);
}

void http__req_release(http__req *q)
{
  const http_request *r = &q->pub;
  const char *how = q->aborted ? " aborted" : (q->end_ok ? "" : " truncated");
  ts_log(TS_LOG_INFO, r->reqid, "%s %s %d %llu bytes %lld ms%s", r->method, r->path, q->status,
         (unsigned long long)q->body_bytes, (long long)(ts_now_ms() - r->start_ms), how);
  if (q->srv && q->srv->opts.on_complete)
    q->srv->opts.on_complete(r, q->status, q->body_bytes, !q->aborted && q->end_ok, q->srv->ud);
  ts_arena_free(r->arena); /* q lives in it */
}

/* ---- timers --------------------------------------------------------------- */

static void conn_on_timer(uv_timer_t *t);

void http__conn_timer_set(http_conn *c, int mode, uint64_t ms, uint64_t repeat)
{
  c->timer_mode = mode;
  uv_timer_start(&c->timer, conn_on_timer, ms, repeat);
}

void http__conn_timer_stop(http_conn *c)
{
  c->timer_mode = TM_NONE;
  uv_timer_stop(&c->timer);
}

size_t http__conn_queued(const http_conn *c)
{
  return uv_stream_get_write_queue_size((const uv_stream_t *)&c->tcp);
}

/* Milliseconds since the kernel last took bytes of the queued output (0
 * when nothing is queued); moves the progress mark when it did. */
uint64_t http__conn_stalled_ms(http_conn *c)
{
  size_t queued = http__conn_queued(c);
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
void http__conn_write_timer_start(http_conn *c)
{
  uint64_t iv = c->srv->opts.write_timeout_ms / 4;
  if (iv == 0)
    iv = 1;
  c->progress_mark = c->bytes_submitted - http__conn_queued(c);
  c->progress_ms = uv_now(c->srv->loop);
  http__conn_timer_set(c, TM_WRITE, iv, iv);
}

static void conn_on_timer(uv_timer_t *t)
{
  http_conn *c = t->data;
  int mode = c->timer_mode;

  if (c->closed)
    return;
  if (mode != TM_WRITE)
    http__conn_timer_stop(c);
  switch (mode) {
  case TM_HEAD:
    http__conn_error_reply(c, 408, "request head not received in time");
    break;
  case TM_BODY:
    http__conn_error_reply(c, 408, "request body not received in time");
    break;
  case TM_FIRST: /* connected and sent nothing: no answer is owed */
    ts_log(TS_LOG_DEBUG, NULL, "client %s sent nothing for %llu ms; closing", c->remote_addr,
           (unsigned long long)c->srv->opts.first_byte_timeout_ms);
    http__conn_close(c);
    break;
  case TM_IDLE:
  case TM_LINGER:
    http__conn_close(c);
    break;
  case TM_DONE:
    http__conn_maybe_done(c);
    break;
  case TM_WRITE:
    if (http__conn_queued(c) == 0) {
      http__conn_timer_stop(c);
    } else if (http__conn_stalled_ms(c) >= c->srv->opts.write_timeout_ms) {
      ts_log(TS_LOG_WARN, c->req ? c->req->pub.reqid : NULL,
             "client %s read nothing for %llu ms; closing", c->remote_addr,
             (unsigned long long)c->srv->opts.write_timeout_ms);
      http__conn_close(c);
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
  http__conn_uncount(c);
  http__reqparser_free(&c->rp);
  free(c->in);
  free(c);
  /* The request outlives its connection when the handler has not finished
   * it: it is detached, told once, and released by its http_end. */
  if (q) {
    q->pub.conn = NULL;
    if (q->finished) {
      http__req_release(q);
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
void http__conn_close(http_conn *c)
{
  if (c->closed)
    return;
  c->closed = 1;
  http__conn_update_waiting(c);
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

void http__conn_read_start(http_conn *c)
{
  if (c->reading || c->closed || c->peer_eof)
    return;
  if (uv_read_start((uv_stream_t *)&c->tcp, conn_on_alloc, conn_on_read) != 0) {
    http__conn_close(c);
    return;
  }
  c->reading = 1;
}

void http__conn_read_stop(http_conn *c)
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
    http__conn_read_stop(c);
  else
    http__conn_read_start(c);
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
    http__conn_close(c);
    return;
  }
  c->lingering = 1;
  http__conn_read_start(c);
  http__conn_timer_set(c, TM_LINGER, HTTP__LINGER_MS, 0);
}

void http__conn_shutdown(http_conn *c)
{
  if (c->shut || c->closed)
    return;
  c->shut = 1;
  http__conn_timer_stop(c);
  c->shutdown_req.data = c;
  if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, conn_on_shutdown) != 0)
    http__conn_close(c);
}

void http__conn_close_graceful(http_conn *c)
{
  if (c->closed || c->graceful)
    return;
  c->graceful = 1;
  http__conn_update_waiting(c);
  http__conn_read_stop(c);
  if (c->writes_pending == 0)
    http__conn_shutdown(c);
  else if (c->timer_mode != TM_WRITE)
    http__conn_write_timer_start(c);
}

/* ---- the request cycle ---------------------------------------------------- */

/* remote_addr of a request: the peer, or the client behind trusted
 * proxies. */
static void client_addr(http_server *s, http_conn *c, http_request *r)
{
  enum { XFF_LINES = 16 }; /* more lines than this: the last ones count */
  const char *xff[XFF_LINES];
  size_t n = 0;
  for (size_t i = 0; i < r->nheaders; i++)
    if (!strcmp(r->headers[i].name, "x-forwarded-for")) {
      if (n == XFF_LINES) {
        memmove(xff, xff + 1, (XFF_LINES - 1) * sizeof *xff);
        n--;
      }
      xff[n++] = r->headers[i].value;
    }
  http_client_addr(s->opts.trusted_proxies, c->remote_addr, xff, n, r->remote_addr,
                   sizeof r->remote_addr);
}

static void conn_dispatch(http_conn *c)
{
  http_server *s = c->srv;
  http_request *r = c->rp.req;
  http__req *q = http__req_of(r);

  http__reqparser_next(&c->rp); /* we own r now */
  c->served++;
  c->partial = 0;
  http__conn_timer_stop(c);
  r->conn = c;
  client_addr(s, c, r);
  http__srv_reqid(s, r->reqid);
  r->start_ms = ts_now_ms();
  q->srv = s;
  q->end_ok = 1;
  if (s->shutting_down)
    q->keep_alive = 0;
  c->req = q;
  http__conn_update_waiting(c);
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
    http__conn_error_reply(c, c->rp.err_status, c->rp.err_msg);
    return;
  }
  if (c->peer_eof) { /* the client can send nothing more */
    http__conn_close(c);
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
    http__conn_timer_set(c, TM_HEAD, ms, 0);
  } else if (c->rp.phase == HTTP__PH_BODY && (c->timer_mode != TM_BODY || (c->rp.mp && used > 0)))
    /* A streamed (multipart) body may be large: its deadline counts from
     * its last byte, not from its first. */
    http__conn_timer_set(c, TM_BODY, o->body_timeout_ms, 0);
  if (c->rp.expect_continue) {
    http__wr *wr = http__wr_new(sizeof cont - 1);
    c->rp.expect_continue = 0;
    if (!wr) {
      http__conn_close(c);
      return;
    }
    memcpy(wr->data, cont, sizeof cont - 1);
    uv_buf_t b = uv_buf_init(wr->data, (unsigned)wr->len);
    if (http__conn_submit(c, wr, &b, 1) != TS_OK)
      return;
  }
  http__conn_update_waiting(c);
  http__conn_read_start(c);
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
    http__conn_close(c);
    return;
  }
  if (q && nread == UV_EOF) {
    /* The handler is done and only writes are left: finish them, answer
     * what was pipelined before the FIN, then close (conn_process). */
    c->peer_eof = 1;
    uv_read_stop((uv_stream_t *)&c->tcp);
    return;
  }
  http__conn_close(c);
}

static void conn_on_read(uv_stream_t *st, ssize_t nread, const uv_buf_t *buf)
{
  http_conn *c = st->data;
  if (nread < 0) {
    conn_on_read_end(c, nread);
    return;
  }
  if (nread > 0)
    c->partial = 1;
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
  http__req_release(q);
  http__conn_timer_stop(c);
  if (!keep) {
    http__conn_close_graceful(c);
    return;
  }
  http__conn_timer_set(c, TM_IDLE, c->srv->opts.idle_timeout_ms, 0);
  conn_process(c);
}

void http__conn_maybe_done(http_conn *c)
{
  if (!c->closed && c->req && c->req->finished && c->writes_pending == 0)
    conn_response_done(c);
}

/* ---- accepting ------------------------------------------------------------ */

/* Takes one connection: the one libuv accepted (fd < 0; none is not an
 * error), or an accepted socket fd. */
static void srv_take(http_server *s, int fd)
{
  http_conn *c;
  struct sockaddr_storage ss;
  int sl = sizeof ss;

  c = calloc(1, sizeof *c);
  if (c)
    c->in = malloc(HTTP__INBUF);
  if (!c || !c->in) {
    /* libuv stops watching the listener until we accept; there is nothing
     * sensible to do without memory but to say so. */
    ts_log(TS_LOG_ERROR, NULL, "out of memory accepting a connection");
    if (c)
      free(c);
    if (fd >= 0)
      close(fd);
    return;
  }
  c->srv = s;
  c->rejected = 1; /* counted below, once accepted */
  http__reqparser_init(&c->rp, &s->opts);
  c->rp.budget = &s->body_budget;
  c->rp.spool = &s->spool_budget;
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
  if (fd < 0 ? uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)&c->tcp) != 0
             : uv_tcp_open(&c->tcp, fd) != 0) {
    if (fd >= 0)
      close(fd);
    http__conn_close(c);
    return;
  }
  uv_tcp_nodelay(&c->tcp, 1);
  if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
    if (ss.ss_family == AF_INET6)
      uv_ip6_name((struct sockaddr_in6 *)&ss, c->remote_addr, sizeof c->remote_addr);
    else if (ss.ss_family == AF_INET)
      uv_ip4_name((struct sockaddr_in *)&ss, c->remote_addr, sizeof c->remote_addr);
  }
  http__srv_admit(s, c);
}

static void srv_on_conn(uv_stream_t *l, int status)
{
  http_server *s = l->data;
  if (status < 0) {
    ts_log(TS_LOG_WARN, NULL, "accept failed: %s", uv_strerror(status));
    return;
  }
  srv_take(s, -1);
}

/* At shutdown: the connections the kernel has completed but nobody has
 * accepted yet would be reset when the listener closes, and a load
 * balancer that has already sent a request on one cannot tell that from
 * a crash. They are taken now, to be answered with the others. */
static void srv_take_backlog(http_server *s)
{
  uv_os_fd_t lfd;
  srv_take(s, -1); /* the one libuv may hold */
  if (uv_fileno((uv_handle_t *)&s->listener, &lfd) != 0)
    return;
  for (int i = 0; i < HTTP__BACKLOG; i++) {
    int fd = accept(lfd, NULL, NULL); /* the listener is non-blocking */
    if (fd < 0)
      return;
    fcntl(fd, F_SETFD, FD_CLOEXEC); /* uv_tcp_open makes it non-blocking */
    srv_take(s, fd);
  }
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
  s->spool_budget.cap = s->opts.spool_budget_bytes;
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
    e = uv_listen((uv_stream_t *)&s->listener, HTTP__BACKLOG, srv_on_conn);
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
    srv_take_backlog(s);
    s->listening = 0;
    uv_close((uv_handle_t *)&s->listener, srv_on_listener_close);
  }
  /* Busy connections close after their response (conn_response_done
   * sees shutting_down). Of the others, a keep-alive connection waiting
   * for its next request closes at once; one that is new, or half-way
   * through a request, may carry a request a load balancer has just sent
   * (it cannot tell a close from a crash, and will not resend a POST): it
   * gets a 503 with Retry-After, which says plainly that nothing was
   * done and the request may go elsewhere. */
  for (http_conn *c = s->conns, *next; c; c = next) {
    next = c->next;
    if (c->req || c->graceful || c->closed)
      continue;
    if (c->served == 0 || c->partial || c->in_len > c->in_off)
      http__conn_error_reply(c, 503, "the service is restarting: send the request again");
    else
      http__conn_close(c);
  }
  srv_maybe_done(s);
}

void http_server_free(http_server *s)
{
  if (!s)
    return;
  http__addrs_free(s);
  free(s);
}
