/* http/respond.c: everything written to a client: the write queue and its
 * watermarks, response heads, whole, chunked, sized and close-delimited
 * bodies, our own error answers, and the end or abort of a response. The
 * connection's life (reading, timers, closing) is server.c. */
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { HTTP__RETRY_AFTER_S = 5 }; /* Retry-After of our own 429 and 503 answers */

/* ---- writing -------------------------------------------------------------- */

http__wr *http__wr_new(size_t len)
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
    http__conn_close(c);
    return;
  }
  q = c->req;
  if (q && !q->finished && q->blocked && http__conn_queued(c) < c->srv->opts.low_watermark) {
    q->blocked = 0;
    if (q->on_drain)
      q->on_drain(q->drain_ud); /* may write, end, or close */
    if (c->closed)
      return;
  }
  if (c->writes_pending == 0) {
    if (c->timer_mode == TM_WRITE)
      http__conn_timer_stop(c);
    if (c->req)
      http__conn_maybe_done(c);
    else if (c->graceful)
      http__conn_shutdown(c);
  }
}

/* Queues wr (bufs point into it). On failure the connection closes and
 * TS_ECANCELED is returned; wr is freed either way in due course. */
ts_err http__conn_submit(http_conn *c, http__wr *wr, const uv_buf_t *bufs, unsigned nbufs)
{
  wr->c = c;
  if (uv_write(&wr->w, (uv_stream_t *)&c->tcp, bufs, nbufs, conn_on_write) != 0) {
    free(wr);
    http__conn_close(c);
    return TS_ECANCELED;
  }
  c->writes_pending++;
  c->bytes_submitted += wr->len;
  if (c->timer_mode == TM_NONE && http__conn_queued(c) > 0)
    http__conn_write_timer_start(c);
  return TS_OK;
}

/* Response head. clen < 0: no Content-Length. */
/* Caps of the buffers our own answers are built in: a response head (our
 * headers and the handler's extra ones, a Location URL at most), and the
 * one-line body of an error of our own. */
enum { HTTP__HEAD_MAX = 64 * 1024, HTTP__ERROR_BODY_MAX = 16 * 1024 };

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
  http__wr *wr = http__wr_new(head->len + len);
  uv_buf_t bufs[1];
  if (!wr) {
    http__conn_close(c);
    return TS_ENOMEM;
  }
  memcpy(wr->data, head->data, head->len);
  if (len)
    memcpy(wr->data + head->len, body, len);
  bufs[0] = uv_buf_init(wr->data, (unsigned)wr->len);
  return http__conn_submit(c, wr, bufs, 1);
}

/* An answer of our own (limits, timeouts, malformed input), then close. */
void http__conn_error_reply(http_conn *c, int status, const char *msg)
{
  http_server *s = c->srv;
  http_request *pr = c->rp.req;
  char reqid[17];
  ts_buf head, body;

  http__conn_read_stop(c);
  http__conn_timer_stop(c);
  ts_buf_init(&head, HTTP__HEAD_MAX);
  ts_buf_init(&body, HTTP__ERROR_BODY_MAX);
  http__srv_reqid(s, reqid);
  char extra[40] = "";
  if (status == 405)
    snprintf(extra, sizeof extra, "Allow: GET, HEAD, POST\r\n");
  else if (status == 429 || status == 503)
    snprintf(extra, sizeof extra, "Retry-After: %d\r\n", HTTP__RETRY_AFTER_S);
  const char *ctype = s->opts.error_doc ? s->opts.error_doc(&body, status, msg) : NULL;
  if (!ctype) {
    ts_buf_reset(&body);
    ctype = "text/plain; charset=utf-8";
    if (ts_buf_printf(&body, "%s\n", msg) != TS_OK)
      ctype = NULL;
  }
  if (ctype && head_build(&head, s, status, ctype, extra[0] ? extra : NULL, (long long)body.len, 0,
                          0, 1) == TS_OK)
    conn_send(c, &head, body.data, pr && pr->is_head ? 0 : body.len);
  else
    http__conn_close(c);
  ts_log(TS_LOG_INFO, reqid, "%s %s %d from %s: %s", pr && pr->method ? pr->method : "-",
         pr && pr->path ? pr->path : "-", status, c->remote_addr, msg);
  ts_buf_free(&head);
  ts_buf_free(&body);
  http__conn_close_graceful(c);
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
    http__req_release(q);
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
    http__conn_close(c);
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
    http__conn_close(c);
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
  wr = http__wr_new(hl + len + (q->chunked ? 2 : 0));
  if (!wr) {
    http__conn_close(c);
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
  rc = http__conn_submit(c, wr, bufs, nb);
  if (rc != TS_OK)
    return rc;
  q->body_bytes += len;
  if (http__conn_queued(c) > c->srv->opts.high_watermark)
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
  return c ? http__conn_queued(c) : 0;
}

uint64_t http_write_stalled_ms(const http_request *r)
{
  http_conn *c = req_conn(http__req_of(r));
  return c ? http__conn_stalled_ms(c) : 0;
}

void http_abort(http_request *r)
{
  http_conn *c = req_conn(http__req_of(r));
  if (!c)
    return;
  ts_log(TS_LOG_WARN, r->reqid, "closing the connection of client %s", c->remote_addr);
  http__conn_close(c); /* on_abort runs from the close callback */
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
    http__req_release(q);
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
    http__wr *wr = http__wr_new(5);
    if (!wr) {
      http__conn_close(c);
      return;
    }
    memcpy(wr->data, "0\r\n\r\n", 5);
    uv_buf_t b = uv_buf_init(wr->data, 5);
    if (http__conn_submit(c, wr, &b, 1) != TS_OK)
      return;
  }
  /* Completion always comes from the loop, never from inside this call:
   * it may start the next pipelined request. */
  if (c->writes_pending == 0)
    http__conn_timer_set(c, TM_DONE, 0, 0);
}
