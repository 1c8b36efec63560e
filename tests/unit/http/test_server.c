/* The server on a real loop: it runs in a second thread on 127.0.0.1 port
 * 0, the tests talk to it over plain blocking sockets. Receive timeouts
 * only keep a broken server from hanging the suite; nothing asserts on
 * timing. */
#define _GNU_SOURCE /* memmem */
#include "http/http.h"
#include "test_list.h"
#include "ts_test.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

/* ---- server fixture -------------------------------------------------------- */

static struct {
  uv_loop_t loop;
  uv_async_t stop, go;
  uv_thread_t th;
  http_server *srv;
  int port;
  atomic_int done_called;
  /* what the handler saw */
  atomic_int blocked_seen, drains, drain_in_write, aborts, canceled_after_abort;
  atomic_int in_flight, overlap, dispatched;
  atomic_int wait_fired, abort_before_timer;
  atomic_size_t max_queued;
  int in_write;
  http_request *parked;    /* /slow waits here for the go signal */
  uv_async_t cut;          /* checks the /forever stream for a stall, aborts it */
  http_request *streaming; /* the /forever request in progress */
  atomic_ullong stalled_ms;
  uint64_t cut_after_ms;
  uint64_t last_sum; /* checksum of the last file part /parts read */
} F;

static void on_done(void *ud)
{
  F.done_called++;
  uv_close((uv_handle_t *)&F.go, NULL);
}

static void on_stop(uv_async_t *a)
{
  http_server_shutdown(F.srv, on_done, NULL);
  uv_close((uv_handle_t *)a, NULL);
  uv_close((uv_handle_t *)&F.cut, NULL);
}

static void on_cut(uv_async_t *a)
{
  if (!F.streaming)
    return;
  F.stalled_ms = http_write_stalled_ms(F.streaming);
  if (F.stalled_ms >= F.cut_after_ms)
    http_abort(F.streaming);
}

static void on_go(uv_async_t *a)
{
  if (F.parked) {
    http_request *r = F.parked;
    F.parked = NULL;
    http_write(r, "second", 6);
    F.in_flight--;
    http_end(r, 1);
  }
}

static void loop_thread(void *arg)
{
  uv_run(&F.loop, UV_RUN_DEFAULT);
}

static void handler(http_request *r, void *ud);

static int fx_start(http_server_opts *o)
{
  ts_error err;
  memset(&F, 0, sizeof F);
  ts_log_set_level(TS_LOG_WARN);
  if (uv_loop_init(&F.loop) != 0)
    return -1;
  F.srv = http_server_new(&F.loop, o, handler, NULL);
  if (!F.srv || http_server_listen(F.srv, "127.0.0.1", 0, &err) != TS_OK)
    return -1;
  F.port = http_server_port(F.srv);
  uv_async_init(&F.loop, &F.stop, on_stop);
  uv_async_init(&F.loop, &F.go, on_go);
  uv_async_init(&F.loop, &F.cut, on_cut);
  return uv_thread_create(&F.th, loop_thread, NULL) == 0 && F.port > 0 ? 0 : -1;
}

static int fx_join(void)
{
  uv_thread_join(&F.th);
  http_server_free(F.srv);
  return uv_loop_close(&F.loop); /* UV_EBUSY would mean a handle leaked */
}

static int fx_stop(void)
{
  uv_async_send(&F.stop);
  return fx_join();
}

/* ---- handler ------------------------------------------------------------- */

typedef struct stream_state {
  http_request *r;
  size_t left, size, off;
  int forever;
} stream_state;

static void stream_pump(stream_state *s)
{
  char buf[65536];
  while (s->forever || s->left > 0) {
    if (http_write_blocked(s->r)) {
      F.blocked_seen++;
      return; /* on_drain resumes */
    }
    size_t n = s->forever || s->left > s->size ? s->size : s->left;
    for (size_t i = 0; i < n; i++)
      buf[i] = (char)('a' + (s->off + i) % 26);
    F.in_write = 1;
    ts_err rc = http_write(s->r, buf, n);
    F.in_write = 0;
    if (rc != TS_OK)
      return; /* the connection is going; on_abort will come */
    size_t q = http_queued_bytes(s->r);
    if (q > F.max_queued)
      F.max_queued = q;
    s->off += n;
    s->left -= s->forever ? 0 : n;
  }
  F.in_flight--;
  http_end(s->r, 1);
}

static void stream_drain(void *ud)
{
  if (F.in_write)
    F.drain_in_write++;
  F.drains++;
  stream_pump(ud);
}

static void stream_abort(void *ud)
{
  stream_state *s = ud;
  F.aborts++;
  if (F.streaming == s->r)
    F.streaming = NULL;
  if (http_write(s->r, "x", 1) == TS_ECANCELED && !http_write_blocked(s->r))
    F.canceled_after_abort++;
  F.in_flight--;
  http_end(s->r, 0); /* releases the request; s lives in its arena */
}

typedef struct delay_state {
  uv_timer_t t;
  http_request *r;
} delay_state;

static void delay_closed(uv_handle_t *h)
{
  free(h->data);
}

static void delay_fire(uv_timer_t *t)
{
  delay_state *d = t->data;
  char body[256];
  int n = snprintf(body, sizeof body, "%s?%s", d->r->path, d->r->query);
  F.in_flight--;
  http_respond(d->r, 200, "text/plain", NULL, body, (size_t)n);
  uv_close((uv_handle_t *)t, delay_closed);
}

/* /wait: a handler waiting for something slow (a database query that sorts
 * before its first row) and writing nothing meanwhile. */
typedef struct wait_state {
  uv_timer_t t;
  http_request *r;
  int aborted;
} wait_state;

static void wait_fire(uv_timer_t *t)
{
  wait_state *w = t->data;
  if (w->aborted) {
    /* the request is detached: answering it only releases it */
    if (http_respond(w->r, 200, "text/plain", NULL, "late", 4) == TS_ECANCELED)
      F.canceled_after_abort++;
  } else {
    F.wait_fired++;
    http_respond(w->r, 200, "text/plain", NULL, "waited", 6);
  }
  F.in_flight--;
  uv_close((uv_handle_t *)t, delay_closed);
}

static void wait_abort(void *ud)
{
  wait_state *w = ud;
  F.aborts++;
  if (!F.wait_fired)
    F.abort_before_timer++;
  w->aborted = 1;
  uv_timer_start(&w->t, wait_fire, 0, 0); /* give up waiting now */
}

static size_t query_num(http_request *r, const char *name, size_t dflt)
{
  http_param *p;
  size_t n;
  ts_error err;
  if (http_request_params(r, &p, &n, &err) != TS_OK)
    return dflt;
  for (size_t i = 0; i < n; i++)
    if (strcmp(p[i].name, name) == 0)
      return (size_t)strtoull(p[i].value, NULL, 10);
  return dflt;
}

/* /parts: the parameters, then each file part as
 * "name|filename|type|size|content" with its content read back from the
 * spool file. */
static void parts_handler(http_request *r)
{
  http_param *p;
  const http_part *pt;
  size_t n, np;
  ts_error err;
  ts_buf b;
  char data[256];
  ts_buf_init(&b, TS_TEST_BUF_MAX);
  F.in_flight--;
  if (http_request_params(r, &p, &n, &err) != TS_OK || http_request_parts(r, &pt, &np) != TS_OK) {
    http_respond(r, 400, "text/plain", NULL, err.msg, strlen(err.msg));
    return;
  }
  for (size_t i = 0; i < n; i++)
    ts_buf_printf(&b, "%s=%s\n", p[i].name, p[i].value);
  for (size_t i = 0; i < np; i++) {
    ssize_t k = pread(pt[i].fd, data, sizeof data, 0);
    /* the whole file: its length and a checksum */
    char all[8192];
    ssize_t got;
    uint64_t off = 0, sum = 0;
    while ((got = pread(pt[i].fd, all, sizeof all, (off_t)off)) > 0) {
      for (ssize_t j = 0; j < got; j++)
        sum = sum * 31 + (unsigned char)all[j];
      off += (uint64_t)got;
    }
    ts_buf_printf(&b, "%s|%s|%s|%llu|%.*s\n", pt[i].name, pt[i].filename,
                  pt[i].content_type ? pt[i].content_type : "-", (unsigned long long)pt[i].size,
                  (int)(k > 0 ? k : 0), data);
    if (off != pt[i].size)
      ts_buf_printf(&b, "file holds %llu bytes\n", (unsigned long long)off);
    F.last_sum = sum;
  }
  http_respond(r, 200, "text/plain", NULL, b.data ? b.data : "", b.len);
  ts_buf_free(&b);
}

static void handler(http_request *r, void *ud)
{
  F.dispatched++;
  if (F.in_flight++ > 0)
    F.overlap++;
  if (strcmp(r->path, "/hello") == 0) {
    F.in_flight--;
    http_respond(r, 200, "text/plain", "X-Test: 1\r\n", "hello", 5);
  } else if (strcmp(r->path, "/echo") == 0) {
    char body[256];
    int n = snprintf(body, sizeof body, "%s %s ?%s %zu:%.*s", r->method, r->path, r->query,
                     r->body_len, (int)(r->body_len < 64 ? r->body_len : 64), r->body);
    F.in_flight--;
    http_respond(r, 200, "text/plain", NULL, body, (size_t)n);
  } else if (strcmp(r->path, "/params") == 0) {
    http_param *p;
    size_t n;
    ts_error err;
    ts_buf b;
    ts_buf_init(&b, TS_TEST_BUF_MAX);
    F.in_flight--;
    if (http_request_params(r, &p, &n, &err) != TS_OK) {
      http_respond(r, 400, "text/plain", NULL, err.msg, strlen(err.msg));
    } else {
      for (size_t i = 0; i < n; i++)
        ts_buf_printf(&b, "%s=%s\n", p[i].name, p[i].value);
      http_respond(r, 200, "text/plain", NULL, b.data ? b.data : "", b.len);
    }
    ts_buf_free(&b);
  } else if (strcmp(r->path, "/parts") == 0) {
    parts_handler(r);
  } else if (strcmp(r->path, "/stream") == 0 || strcmp(r->path, "/forever") == 0) {
    stream_state *s = ts_arena_calloc(r->arena, 1, sizeof *s);
    s->r = r;
    s->size = query_num(r, "size", 1000);
    if (s->size > 65536)
      s->size = 65536;
    s->left = query_num(r, "n", 10) * s->size;
    s->forever = r->path[1] == 'f';
    if (s->forever)
      F.streaming = r;
    http_on_drain(r, stream_drain, s);
    http_on_abort(r, stream_abort, s);
    http_begin_chunked(r, 200, "text/plain", NULL);
    stream_pump(s);
  } else if (strcmp(r->path, "/whoami") == 0) {
    char body[128];
    int n = snprintf(body, sizeof body, "%s %s", r->reqid, r->remote_addr);
    F.in_flight--;
    http_respond(r, 200, "text/plain", NULL, body, (size_t)n);
  } else if (strcmp(r->path, "/noresp") == 0) {
    F.in_flight--;
    http_end(r, 1); /* a handler bug: the server answers 500 for it */
  } else if (strcmp(r->path, "/trunc") == 0) {
    http_begin_chunked(r, 200, "text/plain", NULL);
    http_write(r, "partial", 7);
    F.in_flight--;
    http_end(r, 0);
  } else if (strcmp(r->path, "/slow") == 0) {
    http_begin_chunked(r, 200, "text/plain", NULL);
    http_write(r, "first", 5);
    F.parked = r;
  } else if (strcmp(r->path, "/delay") == 0) {
    delay_state *d = malloc(sizeof *d);
    d->r = r;
    uv_timer_init(&F.loop, &d->t);
    d->t.data = d;
    uv_timer_start(&d->t, delay_fire, 50, 0);
  } else if (strcmp(r->path, "/wait") == 0) {
    wait_state *w = calloc(1, sizeof *w);
    w->r = r;
    uv_timer_init(&F.loop, &w->t);
    w->t.data = w;
    http_on_abort(r, wait_abort, w);
    uv_timer_start(&w->t, wait_fire, 10000, 0);
  } else {
    static const char nf[] = "no such resource\n";
    F.in_flight--;
    http_respond(r, 404, "text/plain", NULL, nf, sizeof nf - 1);
  }
}

/* ---- client -------------------------------------------------------------- */

typedef struct cl {
  int fd;
  char buf[1 << 18]; /* holds a whole 64 KiB chunk and more */
  size_t len;
} cl;

/* Connects from source address src (any 127.0.0.0/8 address is loopback
 * on Linux, so tests can play several clients), NULL: the kernel's choice. */
static int cl_open_src(cl *c, int port, int rcvbuf, const char *src)
{
  struct sockaddr_in a = {0};
  struct timeval tv = {10, 0}; /* only against hanging forever */
  memset(c, 0, sizeof *c);
  c->fd = socket(AF_INET, SOCK_STREAM, 0);
  if (c->fd < 0)
    return -1;
  setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  if (rcvbuf)
    setsockopt(c->fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
  if (src) {
    struct sockaddr_in b = {0};
    b.sin_family = AF_INET;
    if (inet_pton(AF_INET, src, &b.sin_addr) != 1 ||
        bind(c->fd, (struct sockaddr *)&b, sizeof b) != 0)
      return -1;
  }
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return connect(c->fd, (struct sockaddr *)&a, sizeof a);
}

static int cl_open(cl *c, int port, int rcvbuf)
{
  return cl_open_src(c, port, rcvbuf, NULL);
}

static int cl_send(cl *c, const char *s, size_t n)
{
  while (n > 0) {
    ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
    if (w <= 0)
      return -1;
    s += w;
    n -= (size_t)w;
  }
  return 0;
}
#define CL_SEND(c, s) cl_send(c, s, strlen(s))

/* Reads more into the buffer: >0 bytes, 0 EOF, <0 error (or timeout). */
static ssize_t cl_fill(cl *c)
{
  if (c->len == sizeof c->buf)
    return -1;
  ssize_t n = recv(c->fd, c->buf + c->len, sizeof c->buf - c->len, 0);
  if (n > 0)
    c->len += (size_t)n;
  return n;
}

static void cl_consume(cl *c, size_t n)
{
  memmove(c->buf, c->buf + n, c->len - n);
  c->len -= n;
}

/* 1 when the server closes (EOF or reset) with no further bytes. */
static int cl_closed(cl *c)
{
  if (c->len)
    return 0;
  ssize_t n = cl_fill(c);
  return n == 0 || (n < 0 && errno == ECONNRESET);
}

typedef struct resp {
  int status;
  char head[4096];
  ts_buf body;
  int truncated; /* EOF inside a chunked body */
} resp;

static const char *resp_header(resp *r, const char *name)
{
  static char val[256];
  size_t nl = strlen(name);
  for (const char *p = strstr(r->head, "\r\n"); p && p[2] != '\r'; p = strstr(p + 2, "\r\n")) {
    if (ts_strncaseeq(p + 2, name, nl) && p[2 + nl] == ':') {
      const char *v = p + 3 + nl, *e;
      while (*v == ' ')
        v++;
      e = strstr(v, "\r\n");
      snprintf(val, sizeof val, "%.*s", (int)(e - v), v);
      return val;
    }
  }
  return NULL;
}

/* Reads one response. no_body: the answer to HEAD. Returns 0 or -1. */
static int cl_read(cl *c, resp *r, int no_body)
{
  char *end;
  memset(r->head, 0, sizeof r->head);
  ts_buf_init(&r->body, TS_TEST_BUF_MAX);
  ts_buf_puts(&r->body, "");
  r->truncated = 0;
  while (!(end = memmem(c->buf, c->len, "\r\n\r\n", 4)))
    if (cl_fill(c) <= 0)
      return -1;
  size_t hl = (size_t)(end - c->buf) + 4;
  if (hl >= sizeof r->head)
    return -1;
  memcpy(r->head, c->buf, hl);
  cl_consume(c, hl);
  if (sscanf(r->head, "HTTP/1.1 %d", &r->status) != 1)
    return -1;
  const char *v = resp_header(r, "content-length");
  long long clen = v ? strtoll(v, NULL, 10) : -1;
  v = resp_header(r, "transfer-encoding"); /* same static buffer: read in turn */
  int chunked = v && strcmp(v, "chunked") == 0;
  if (no_body || r->status == 100 || r->status == 204 || r->status == 304)
    return 0;
  if (clen >= 0) {
    size_t n = (size_t)clen;
    while (c->len < n)
      if (cl_fill(c) <= 0)
        return -1;
    ts_buf_append(&r->body, c->buf, n);
    cl_consume(c, n);
    return 0;
  }
  if (chunked) {
    for (;;) {
      char *nl;
      while (!(nl = memmem(c->buf, c->len, "\r\n", 2)))
        if (cl_fill(c) <= 0) {
          r->truncated = 1;
          return 0;
        }
      size_t n = (size_t)strtoull(c->buf, NULL, 16);
      size_t ll = (size_t)(nl - c->buf) + 2;
      while (c->len < ll + n + 2)
        if (cl_fill(c) <= 0) {
          r->truncated = 1;
          return 0;
        }
      if (memcmp(c->buf + ll + n, "\r\n", 2) != 0)
        return -1;
      ts_buf_append(&r->body, c->buf + ll, n);
      cl_consume(c, ll + n + 2);
      if (n == 0)
        return 0;
    }
  }
  for (;;) { /* close-delimited */
    ssize_t n;
    ts_buf_append(&r->body, c->buf, c->len);
    c->len = 0;
    n = cl_fill(c);
    if (n == 0)
      return 0;
    if (n < 0)
      return -1;
  }
}

static void cl_close(cl *c)
{
  close(c->fd);
}

/* Sends req and reads the response into r (no_body: the answer to HEAD). */
static int cl_ask(cl *c, const char *req, resp *r, int no_body)
{
  TS_CHECK(CL_SEND(c, req) == 0);
  TS_CHECK(cl_read(c, r, no_body) == 0);
  return 0;
}

/* Starts the server with o and connects c to it (rcvbuf as for cl_open). */
static int fx_start_client(http_server_opts *o, cl *c, int rcvbuf)
{
  TS_CHECK(fx_start(o) == 0);
  TS_CHECK(cl_open(c, F.port, rcvbuf) == 0);
  return 0;
}

/* Closes c, then stops the server. */
static int fx_stop_client(cl *c)
{
  cl_close(c);
  TS_CHECK(fx_stop() == 0);
  return 0;
}

static http_server_opts topts(void)
{
  http_server_opts o = {0};
  http_server_opts_defaults(&o);
  return o;
}

/* ---- tests ------------------------------------------------------------- */

int test_keepalive(void)
{
  http_server_opts o = topts();
  cl c;
  resp r;
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  for (int i = 0; i < 2; i++) {
    TS_CHECK(cl_ask(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
    TS_CHECK_EQ_INT(r.status, 200);
    TS_CHECK_STREQ(r.body.data, "hello");
    TS_CHECK_STREQ(resp_header(&r, "content-length"), "5");
    TS_CHECK_STREQ(resp_header(&r, "server"), "tapserve/1.0");
    TS_CHECK_STREQ(resp_header(&r, "x-test"), "1");
    TS_CHECK(resp_header(&r, "date") && strstr(resp_header(&r, "date"), " GMT"));
    TS_CHECK(resp_header(&r, "connection") == NULL);
    ts_buf_free(&r.body);
  }
  /* request ids: 16 hex digits, different per request; the peer address */
  char ids[2][17];
  for (int i = 0; i < 2; i++) {
    TS_CHECK(cl_ask(&c, "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
    TS_CHECK_EQ_INT(r.body.len, 16 + 1 + 9);
    TS_CHECK_EQ_INT(strspn(r.body.data, "0123456789abcdef"), 16);
    TS_CHECK_STREQ(r.body.data + 16, " 127.0.0.1");
    memcpy(ids[i], r.body.data, 16);
    ids[i][16] = '\0';
    ts_buf_free(&r.body);
  }
  TS_CHECK(strcmp(ids[0], ids[1]) != 0);
  /* a handler that ends without answering gets a 500 for it */
  TS_CHECK(cl_ask(&c, "GET /noresp HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 500);
  ts_buf_free(&r.body);
  /* Connection: close is honoured and announced */
  TS_CHECK(cl_ask(&c, "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", &r, 0) == 0);
  TS_CHECK_STREQ(resp_header(&r, "connection"), "close");
  ts_buf_free(&r.body);
  TS_CHECK(cl_closed(&c));
  cl_close(&c);
  TS_CHECK_EQ_INT(F.dispatched, 6);
  TS_CHECK(fx_stop() == 0);
  TS_CHECK_EQ_INT(F.done_called, 1);
  return 0;
}

int test_http10(void)
{
  http_server_opts o = topts();
  cl c;
  resp r;
  TS_CHECK(fx_start(&o) == 0);
  /* plain 1.0: one request, then close */
  TS_CHECK(cl_open(&c, F.port, 0) == 0);
  TS_CHECK(cl_ask(&c, "GET /hello HTTP/1.0\r\n\r\n", &r, 0) == 0);
  TS_CHECK_STREQ(resp_header(&r, "connection"), "close");
  TS_CHECK_STREQ(r.body.data, "hello");
  ts_buf_free(&r.body);
  TS_CHECK(cl_closed(&c));
  cl_close(&c);
  /* 1.0 keep-alive for a Content-Length response, then a stream that must
   * be close-delimited */
  TS_CHECK(cl_open(&c, F.port, 0) == 0);
  TS_CHECK(cl_ask(&c, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r, 0) == 0);
  TS_CHECK_STREQ(resp_header(&r, "connection"), "keep-alive");
  ts_buf_free(&r.body);
  TS_CHECK(
      cl_ask(&c, "GET /stream?n=3&size=10 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", &r, 0) == 0);
  TS_CHECK(resp_header(&r, "transfer-encoding") == NULL);
  TS_CHECK(resp_header(&r, "content-length") == NULL);
  TS_CHECK_STREQ(resp_header(&r, "connection"), "close");
  TS_CHECK_STREQ(r.body.data, "abcdefghijklmnopqrstuvwxyzabcd");
  ts_buf_free(&r.body);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

int test_params(void)
{
  http_server_opts o = topts();
  cl c;
  resp r;
  const char *body = "c=%41%42&d=&e&name+with+space=caf%C3%A9";
  char req[512];
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  snprintf(req, sizeof req,
           "POST /params?a=1&b=x+y%%2B HTTP/1.1\r\nHost: x\r\n"
           "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
           "Content-Length: %zu\r\n\r\n%s",
           strlen(body), body);
  TS_CHECK(cl_ask(&c, req, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  TS_CHECK_STREQ(r.body.data, "a=1\nb=x y+\nc=AB\nd=\ne=\nname with space=caf\xc3\xa9\n");
  ts_buf_free(&r.body);
  /* another content type contributes no parameters */
  TS_CHECK(cl_ask(&c,
                  "POST /params?q=1 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
                  "Content-Length: 3\r\n\r\nz=1",
                  &r, 0) == 0);
  TS_CHECK_STREQ(r.body.data, "q=1\n");
  ts_buf_free(&r.body);
  /* malformed encoding is the handler's 400 with a message */
  TS_CHECK(cl_ask(&c, "GET /params?ok=1&x=%G1 HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 400);
  TS_CHECK(strstr(r.body.data, "malformed parameter \"x\"") != NULL);
  ts_buf_free(&r.body);
  TS_CHECK(cl_ask(&c,
                  "POST /params HTTP/1.1\r\nHost: x\r\n"
                  "Content-Type: application/x-www-form-urlencoded\r\n"
                  "Content-Length: 5\r\n\r\nv=%0z",
                  &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 400);
  ts_buf_free(&r.body);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

int test_head(void)
{
  http_server_opts o = topts();
  cl c;
  resp r;
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  TS_CHECK(cl_ask(&c, "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r, 1) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  TS_CHECK_STREQ(resp_header(&r, "content-length"), "5");
  TS_CHECK_STREQ(resp_header(&r, "content-type"), "text/plain");
  ts_buf_free(&r.body);
  /* no body bytes followed: the next response starts right here */
  TS_CHECK(cl_ask(&c, "HEAD /stream?n=2 HTTP/1.1\r\nHost: x\r\n\r\n", &r, 1) == 0);
  TS_CHECK_STREQ(resp_header(&r, "transfer-encoding"), "chunked");
  ts_buf_free(&r.body);
  TS_CHECK(cl_ask(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  TS_CHECK_STREQ(r.body.data, "hello");
  ts_buf_free(&r.body);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

int test_not_found(void)
{
  http_server_opts o = topts();
  cl c;
  resp r;
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  TS_CHECK(cl_ask(&c, "GET /nothing/here%2Fx HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 404);
  TS_CHECK(strstr(r.head, "HTTP/1.1 404 Not Found\r\n") == r.head);
  TS_CHECK_STREQ(r.body.data, "no such resource\n");
  ts_buf_free(&r.body);
  /* the connection stays usable after a 404 */
  TS_CHECK(cl_ask(&c, "GET /echo?k=v HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  TS_CHECK_STREQ(r.body.data, "GET /echo ?k=v 0:");
  ts_buf_free(&r.body);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

int test_chunked_backpressure(void)
{
  http_server_opts o = topts();
  enum { N = 256, SIZE = 65536 };
  cl c;
  resp r;
  o.high_watermark = 256 * 1024;
  o.low_watermark = 64 * 1024;
  TS_CHECK(fx_start_client(&o, &c, 16 * 1024) == 0);
  TS_CHECK(CL_SEND(&c, "GET /stream?n=256&size=65536 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  usleep(200 * 1000); /* a slow reader: let the server run into the watermark */
  TS_CHECK(cl_read(&c, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  TS_CHECK_EQ_INT(r.truncated, 0);
  TS_CHECK_EQ_INT(r.body.len, (size_t)N * SIZE);
  for (size_t i = 0; i < r.body.len; i++)
    if (r.body.data[i] != (char)('a' + i % 26)) {
      fprintf(stderr, "# byte %zu differs\n", i);
      TS_CHECK(0);
    }
  ts_buf_free(&r.body);
  TS_CHECK(F.blocked_seen > 0);
  TS_CHECK(F.drains > 0);
  TS_CHECK_EQ_INT(F.drain_in_write, 0);
  /* the writer stops at the watermark: at most one chunk beyond it */
  TS_CHECK(F.max_queued <= o.high_watermark + SIZE + 64);
  /* and the connection is still good */
  TS_CHECK(cl_ask(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  TS_CHECK_STREQ(r.body.data, "hello");
  ts_buf_free(&r.body);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

int test_client_disconnect(void)
{
  http_server_opts o = topts();
  cl c;
  o.high_watermark = 128 * 1024;
  o.low_watermark = 32 * 1024;
  TS_CHECK(fx_start_client(&o, &c, 16 * 1024) == 0);
  TS_CHECK(CL_SEND(&c, "GET /forever?size=8192 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  TS_CHECK(cl_fill(&c) > 0); /* the stream has started */
  cl_close(&c);              /* unread data: the kernel resets the connection */
  for (int i = 0; i < 1000 && F.aborts == 0; i++)
    usleep(10 * 1000);
  TS_CHECK_EQ_INT(F.aborts, 1);
  TS_CHECK_EQ_INT(F.canceled_after_abort, 1);
  TS_CHECK(fx_stop() == 0);
  TS_CHECK_EQ_INT(F.aborts, 1);
  TS_CHECK_EQ_INT(F.done_called, 1);
  return 0;
}

/* A client that closes while the handler has not written anything yet:
 * the server is reading, sees the FIN and aborts at once, long before the
 * handler would have written (and failed). */
int test_disconnect_waiting(void)
{
  http_server_opts o = topts();
  cl c;
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  TS_CHECK(CL_SEND(&c, "GET /wait HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  cl_close(&c);
  for (int i = 0; i < 2000 && F.aborts == 0 && F.wait_fired == 0; i++)
    usleep(10 * 1000);
  TS_CHECK_EQ_INT(F.aborts, 1);
  TS_CHECK_EQ_INT(F.abort_before_timer, 1);
  TS_CHECK(fx_stop() == 0);
  TS_CHECK_EQ_INT(F.aborts, 1);
  TS_CHECK_EQ_INT(F.wait_fired, 0);
  TS_CHECK_EQ_INT(F.canceled_after_abort, 1); /* and the handler ended it */
  TS_CHECK_EQ_INT(F.done_called, 1);
  return 0;
}

/* A client that half-closes after requests whose handlers answer at once
 * still gets every answer, then the server closes. */
int test_half_close(void)
{
  http_server_opts o = topts();
  cl c;
  resp r;
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  TS_CHECK(CL_SEND(&c, "GET /echo?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /stream?n=3&size=10 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  TS_CHECK(shutdown(c.fd, SHUT_WR) == 0);
  TS_CHECK(cl_read(&c, &r, 0) == 0);
  TS_CHECK_STREQ(r.body.data, "GET /echo ?n=1 0:");
  ts_buf_free(&r.body);
  TS_CHECK(cl_read(&c, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.truncated, 0);
  TS_CHECK_STREQ(r.body.data, "abcdefghijklmnopqrstuvwxyzabcd");
  ts_buf_free(&r.body);
  TS_CHECK(cl_closed(&c));
  TS_CHECK_EQ_INT(F.aborts, 0);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

int test_end_not_ok(void)
{
  http_server_opts o = topts();
  cl c;
  resp r;
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  TS_CHECK(cl_ask(&c, "GET /trunc HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  TS_CHECK_STREQ(resp_header(&r, "transfer-encoding"), "chunked");
  TS_CHECK_EQ_INT(r.truncated, 1); /* EOF without "0\r\n\r\n" */
  TS_CHECK_STREQ(r.body.data, "partial");
  TS_CHECK(memmem(c.buf, c.len, "0\r\n\r\n", 5) == NULL);
  ts_buf_free(&r.body);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

/* Sends req, expects `status`, then the server closing the connection. */
/* An error of our own on a new connection: the status, Connection: close
 * and the close, plus a header (NULL: none) and text in the body (NULL:
 * any). */
static int expect_error_in(const char *req, size_t len, int status, const char *header,
                           const char *needle)
{
  cl c;
  resp r;
  TS_CHECK(cl_open(&c, F.port, 0) == 0);
  TS_CHECK(cl_send(&c, req, len) == 0);
  TS_CHECK(cl_read(&c, &r, 0) == 0);
  if (r.status != status || (needle && !strstr(r.body.data, needle)))
    fprintf(stderr, "# got %d %s for %.60s\n", r.status, r.body.data, req);
  TS_CHECK_EQ_INT(r.status, status);
  TS_CHECK(!needle || strstr(r.body.data, needle) != NULL);
  TS_CHECK_STREQ(resp_header(&r, "connection"), "close");
  if (header)
    TS_CHECK(resp_header(&r, header) != NULL);
  ts_buf_free(&r.body);
  TS_CHECK(cl_closed(&c));
  cl_close(&c);
  return 0;
}

static int expect_error(const char *req, size_t len, int status, const char *header)
{
  return expect_error_in(req, len, status, header, NULL);
}

int test_header_too_large(void)
{
  http_server_opts o = topts();
  char req[8192];
  o.max_header_bytes = 1024;
  TS_CHECK(fx_start(&o) == 0);
  int n = snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nX-Big: %04000d\r\n\r\n", 1);
  TS_CHECK(expect_error(req, (size_t)n, 431, NULL) == 0);
  /* many small headers add up the same way */
  size_t len = (size_t)snprintf(req, sizeof req, "GET / HTTP/1.1\r\n");
  for (int i = 0; i < 200; i++)
    len += (size_t)snprintf(req + len, sizeof req - len, "H%d: v\r\n", i);
  len += (size_t)snprintf(req + len, sizeof req - len, "\r\n");
  TS_CHECK(expect_error(req, len, 431, NULL) == 0);
  TS_CHECK(fx_stop() == 0);
  return 0;
}

int test_body_too_large(void)
{
  http_server_opts o = topts();
  char req[8192];
  o.max_body_bytes = 1000;
  TS_CHECK(fx_start(&o) == 0);
  /* announced: answered at once, without the body ever being sent */
  const char *ann = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n";
  TS_CHECK(expect_error(ann, strlen(ann), 413, NULL) == 0);
  /* announced and sent anyway: the lingering close keeps the answer intact */
  int n = snprintf(req, sizeof req,
                   "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n%05000d", 0);
  TS_CHECK(expect_error(req, (size_t)n, 413, NULL) == 0);
  /* chunked: counted as it arrives */
  n = snprintf(req, sizeof req,
               "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
               "320\r\n%0800d\r\n320\r\n%0800d\r\n0\r\n\r\n",
               0, 0);
  TS_CHECK(expect_error(req, (size_t)n, 413, NULL) == 0);
  /* within the limit the body arrives whole */
  cl c;
  resp r;
  TS_CHECK(cl_open(&c, F.port, 0) == 0);
  n = snprintf(req, sizeof req,
               "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n%01000d", 0);
  TS_CHECK(cl_send(&c, req, (size_t)n) == 0);
  TS_CHECK(cl_read(&c, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  TS_CHECK(strncmp(r.body.data, "POST /echo ? 1000:0000", 22) == 0);
  ts_buf_free(&r.body);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

int test_malformed(void)
{
  http_server_opts o = topts();
  TS_CHECK(fx_start(&o) == 0);
  static const char *const reqs[] = {
      "\x16\x03\x01\x02\x05 hello", /* a TLS record: not a method token */
      "GET\r\n\r\n",
      "GET /a%zz HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET /a%00 HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.1\r\nContent-Length: nope\r\n\r\n",
      "GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
  };
  for (size_t i = 0; i < TS_ARRAY_LEN(reqs); i++)
    TS_CHECK(expect_error(reqs[i], strlen(reqs[i]), 400, NULL) == 0);
  TS_CHECK_EQ_INT(F.dispatched, 0);
  TS_CHECK(fx_stop() == 0);
  return 0;
}

int test_bad_method(void)
{
  http_server_opts o = topts();
  TS_CHECK(fx_start(&o) == 0);
  const char *del = "PATCH /x HTTP/1.1\r\nHost: x\r\n\r\n";
  TS_CHECK(expect_error(del, strlen(del), 405, "allow") == 0);
  const char *put = "PUT /x HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc";
  TS_CHECK(expect_error(put, strlen(put), 405, "allow") == 0);
  const char *brew = "BREW /pot HTTP/1.1\r\nHost: x\r\n\r\n"; /* unknown to http-parser too */
  TS_CHECK(expect_error(brew, strlen(brew), 405, "allow") == 0);
  TS_CHECK_EQ_INT(F.dispatched, 0);
  TS_CHECK(fx_stop() == 0);
  return 0;
}

int test_header_timeout(void)
{
  http_server_opts o = topts();
  const char *part = "GET /hello HTTP/1.1\r\nHost: x\r\n";
  o.header_timeout_ms = 200;
  o.body_timeout_ms = 200;
  TS_CHECK(fx_start(&o) == 0);
  TS_CHECK(expect_error(part, strlen(part), 408, NULL) == 0);
  /* a body that stops short runs into the body timeout */
  const char *body = "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc";
  TS_CHECK(expect_error(body, strlen(body), 408, NULL) == 0);
  TS_CHECK_EQ_INT(F.dispatched, 0);
  TS_CHECK(fx_stop() == 0);
  return 0;
}

int test_expect_continue(void)
{
  http_server_opts o = topts();
  cl c;
  resp r;
  o.max_body_bytes = 100;
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  TS_CHECK(cl_ask(&c,
                  "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  "Content-Length: 5\r\n\r\n",
                  &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 100);
  ts_buf_free(&r.body);
  TS_CHECK(cl_ask(&c, "hello", &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  TS_CHECK_STREQ(r.body.data, "POST /echo ? 5:hello");
  ts_buf_free(&r.body);
  cl_close(&c);
  /* too large: 413 instead of 100 */
  const char *big = "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                    "Content-Length: 101\r\n\r\n";
  TS_CHECK(expect_error(big, strlen(big), 413, NULL) == 0);
  TS_CHECK(fx_stop() == 0);
  return 0;
}

int test_pipelined(void)
{
  http_server_opts o = topts();
  cl c;
  resp r;
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  TS_CHECK(CL_SEND(&c, "GET /delay?n=1 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "POST /echo?n=2 HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                       "GET /delay?n=3 HTTP/1.1\r\nHost: x\r\n\r\n"
                       "GET /hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == 0);
  static const char *const want[] = {"/delay?n=1", "POST /echo ?n=2 3:abc", "/delay?n=3", "hello"};
  for (int i = 0; i < 4; i++) {
    TS_CHECK(cl_read(&c, &r, 0) == 0);
    TS_CHECK_EQ_INT(r.status, 200);
    TS_CHECK_STREQ(r.body.data, want[i]);
    ts_buf_free(&r.body);
  }
  TS_CHECK(cl_closed(&c));
  cl_close(&c);
  TS_CHECK_EQ_INT(F.dispatched, 4);
  TS_CHECK_EQ_INT(F.overlap, 0); /* one request at a time */
  /* a request sent while a response is in progress is read then, kept
   * unparsed, and answered after it */
  TS_CHECK(cl_open(&c, F.port, 0) == 0);
  TS_CHECK(CL_SEND(&c, "GET /delay?n=5 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  for (int i = 0; i < 1000 && F.dispatched < 5; i++)
    usleep(1000);
  TS_CHECK_EQ_INT(F.dispatched, 5);
  TS_CHECK(CL_SEND(&c, "GET /echo?n=6 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n") == 0);
  TS_CHECK(cl_read(&c, &r, 0) == 0);
  TS_CHECK_STREQ(r.body.data, "/delay?n=5");
  ts_buf_free(&r.body);
  TS_CHECK(cl_read(&c, &r, 0) == 0);
  TS_CHECK_STREQ(r.body.data, "GET /echo ?n=6 0:");
  ts_buf_free(&r.body);
  TS_CHECK(cl_closed(&c));
  cl_close(&c);
  TS_CHECK_EQ_INT(F.overlap, 0);
  TS_CHECK(fx_stop() == 0);
  return 0;
}

/* More pipelined input than a request head may hold, behind a slow
 * response: the server stops reading it until the response is done, then
 * answers every request in order. */
int test_pipelined_flood(void)
{
  http_server_opts o = topts();
  enum { N = 100 };
  cl c;
  resp r;
  char req[128], want[64];
  ts_buf all;
  o.max_header_bytes = 1024;
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  ts_buf_init(&all, TS_TEST_BUF_MAX);
  ts_buf_puts(&all, "GET /delay?n=0 HTTP/1.1\r\nHost: x\r\n\r\n");
  for (int i = 1; i <= N; i++) {
    snprintf(req, sizeof req, "GET /echo?n=%d HTTP/1.1\r\nHost: x\r\n%s\r\n", i,
             i == N ? "Connection: close\r\n" : "");
    ts_buf_puts(&all, req);
  }
  TS_CHECK(all.len > 3 * o.max_header_bytes);
  TS_CHECK(cl_send(&c, all.data, all.len) == 0);
  ts_buf_free(&all);
  TS_CHECK(cl_read(&c, &r, 0) == 0);
  TS_CHECK_STREQ(r.body.data, "/delay?n=0");
  ts_buf_free(&r.body);
  for (int i = 1; i <= N; i++) {
    TS_CHECK(cl_read(&c, &r, 0) == 0);
    snprintf(want, sizeof want, "GET /echo ?n=%d 0:", i);
    TS_CHECK_STREQ(r.body.data, want);
    ts_buf_free(&r.body);
  }
  TS_CHECK(cl_closed(&c));
  cl_close(&c);
  TS_CHECK_EQ_INT(F.dispatched, N + 1);
  TS_CHECK_EQ_INT(F.overlap, 0);
  TS_CHECK(fx_stop() == 0);
  return 0;
}

/* The server frees a connection's slot, and a body's share of the budget,
 * asynchronously: asks on new connections from src until req is answered
 * 200 (at most two seconds). 0 when it was. */
static int ask_until_ok(const char *src, const char *req, size_t len)
{
  for (int i = 0; i < 200; i++) {
    cl c;
    resp r;
    TS_CHECK(cl_open_src(&c, F.port, 0, src) == 0);
    TS_CHECK(cl_send(&c, req, len) == 0);
    TS_CHECK(cl_read(&c, &r, 0) == 0);
    int ok = r.status == 200;
    ts_buf_free(&r.body);
    cl_close(&c);
    if (ok)
      return 0;
    usleep(10 * 1000);
  }
  return -1;
}

/* Full, and the only other connection is answering a request: nothing can
 * be evicted, so the newcomer gets 503 with Retry-After. */
int test_max_connections(void)
{
  http_server_opts o = topts();
  cl a;
  resp r;
  o.max_connections = 1;
  TS_CHECK(fx_start(&o) == 0);
  TS_CHECK(cl_open(&a, F.port, 0) == 0);
  TS_CHECK(CL_SEND(&a, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  while (!memmem(a.buf, a.len, "first", 5))
    TS_CHECK(cl_fill(&a) > 0);
  const char *req = "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n";
  TS_CHECK(expect_error(req, strlen(req), 503, "retry-after") == 0);
  /* the first connection is unaffected; once it is gone there is room */
  uv_async_send(&F.go);
  TS_CHECK(cl_read(&a, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  TS_CHECK_STREQ(r.body.data, "firstsecond");
  ts_buf_free(&r.body);
  cl_close(&a);
  TS_CHECK(ask_until_ok(NULL, req, strlen(req)) == 0);
  TS_CHECK(fx_stop() == 0);
  return 0;
}

/* Full: a newcomer evicts the connection that has waited longest for a
 * request head (here an idle keep-alive one) instead of being refused; a
 * connection half-way through its head is younger and stays. */
int test_evict_waiting(void)
{
  http_server_opts o = topts();
  cl a, b, c;
  resp r;
  o.max_connections = 2;
  TS_CHECK(fx_start(&o) == 0);
  TS_CHECK(cl_open(&a, F.port, 0) == 0);
  TS_CHECK(cl_ask(&a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  ts_buf_free(&r.body);
  TS_CHECK(cl_open(&b, F.port, 0) == 0);
  TS_CHECK(CL_SEND(&b, "GET /echo?who=b HTTP/1.1\r\n") == 0);
  usleep(100 * 1000); /* b accepted (and so younger than a) before c comes */
  TS_CHECK(cl_open(&c, F.port, 0) == 0);
  TS_CHECK(cl_ask(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  ts_buf_free(&r.body);
  TS_CHECK(cl_closed(&a));
  TS_CHECK(cl_ask(&b, "Host: x\r\n\r\n", &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  TS_CHECK_STREQ(r.body.data, "GET /echo ?who=b 0:");
  ts_buf_free(&r.body);
  cl_close(&a);
  cl_close(&b);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

/* One peer address may hold max_connections_per_addr connections; the
 * next one from it gets 429, other addresses are served. */
int test_addr_limit(void)
{
  http_server_opts o = topts();
  cl a, b, d;
  resp r;
  const char *req = "GET /whoami HTTP/1.1\r\nHost: x\r\n\r\n";
  o.max_connections_per_addr = 2;
  TS_CHECK(fx_start(&o) == 0);
  TS_CHECK(cl_open_src(&a, F.port, 0, "127.0.0.1") == 0);
  TS_CHECK(cl_ask(&a, req, &r, 0) == 0);
  ts_buf_free(&r.body);
  TS_CHECK(cl_open_src(&b, F.port, 0, "127.0.0.1") == 0);
  TS_CHECK(cl_ask(&b, req, &r, 0) == 0);
  ts_buf_free(&r.body);
  TS_CHECK(expect_error(req, strlen(req), 429, "retry-after") == 0);
  TS_CHECK(cl_open_src(&d, F.port, 0, "127.0.0.2") == 0);
  TS_CHECK(cl_ask(&d, req, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  TS_CHECK(strstr(r.body.data, " 127.0.0.2") != NULL);
  ts_buf_free(&r.body);
  /* the count follows closes */
  cl_close(&a);
  TS_CHECK(ask_until_ok("127.0.0.1", req, strlen(req)) == 0);
  cl_close(&b);
  TS_CHECK(fx_stop_client(&d) == 0);
  return 0;
}

/* A new connection that sends nothing is closed after first_byte_timeout,
 * silently; one that has begun its head has the header timeout. */
int test_first_byte_timeout(void)
{
  http_server_opts o = topts();
  cl a, b;
  resp r;
  o.first_byte_timeout_ms = 200;
  o.header_timeout_ms = 5000;
  TS_CHECK(fx_start(&o) == 0);
  TS_CHECK(cl_open(&a, F.port, 0) == 0);
  TS_CHECK(cl_open(&b, F.port, 0) == 0);
  TS_CHECK(CL_SEND(&b, "GET /hello HTTP/1.1\r\n") == 0);
  TS_CHECK(cl_closed(&a));
  usleep(300 * 1000);
  TS_CHECK(cl_ask(&b, "Host: x\r\n\r\n", &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  ts_buf_free(&r.body);
  cl_close(&a);
  TS_CHECK(fx_stop_client(&b) == 0);
  return 0;
}

/* Bodies held in memory by all connections share body_budget_bytes; the
 * first HTTP_BODY_FREE bytes of each are not counted. */
int test_body_budget(void)
{
  http_server_opts o = topts();
  enum { BIG = 60000, SMALL = 10000 };
  static char req[BIG + 512];
  cl a;
  resp r;
  int n;
  o.body_budget_bytes = 64 * 1024;
  o.max_body_bytes = 1024 * 1024;
  TS_CHECK(fx_start(&o) == 0);
  /* a reserves BIG - HTTP_BODY_FREE when its head arrives (the 100
   * Continue says it has) and sends its body slowly */
  TS_CHECK(cl_open(&a, F.port, 0) == 0);
  n = snprintf(req, sizeof req,
               "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
               "Content-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n",
               BIG);
  TS_CHECK(cl_ask(&a, req, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 100);
  ts_buf_free(&r.body);
  TS_CHECK(cl_send(&a, req, 1000) == 0);
  /* a second large body does not fit beside it: 503 at once */
  n = snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
               BIG);
  memset(req + n, 'b', BIG);
  TS_CHECK(expect_error(req, (size_t)n + BIG, 503, "retry-after") == 0);
  /* nor one that comes chunked: counted as it arrives */
  n = snprintf(req, sizeof req,
               "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
  for (int i = 0; i < 6; i++)
    n += snprintf(req + n, sizeof req - (size_t)n, "2710\r\n%010000d\r\n", i);
  n += snprintf(req + n, sizeof req - (size_t)n, "0\r\n\r\n");
  TS_CHECK(expect_error(req, (size_t)n, 503, "retry-after") == 0);
  /* a small body is served whatever the budget holds */
  cl c;
  TS_CHECK(cl_open(&c, F.port, 0) == 0);
  n = snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
               SMALL);
  memset(req + n, 's', SMALL);
  TS_CHECK(cl_send(&c, req, (size_t)n + SMALL) == 0);
  TS_CHECK(cl_read(&c, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  ts_buf_free(&r.body);
  cl_close(&c);
  /* a completes; its reservation returns with the request */
  memset(req, 'a', BIG - 1000);
  TS_CHECK(cl_send(&a, req, BIG - 1000) == 0);
  TS_CHECK(cl_read(&a, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  TS_CHECK(strstr(r.body.data, " 60000:") != NULL);
  ts_buf_free(&r.body);
  n = snprintf(req, sizeof req, "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n",
               BIG);
  memset(req + n, 'b', BIG);
  TS_CHECK(ask_until_ok(NULL, req, (size_t)n + BIG) == 0);
  TS_CHECK(fx_stop_client(&a) == 0);
  return 0;
}

/* Form bodies (application/x-www-form-urlencoded) have their own, lower
 * limit; other bodies keep max_body_bytes. */
int test_form_body_limit(void)
{
  http_server_opts o = topts();
  char req[8192];
  cl c;
  resp r;
  int n;
  o.max_form_body_bytes = 1000;
  o.max_body_bytes = 4000;
  TS_CHECK(fx_start(&o) == 0);
  n = snprintf(req, sizeof req,
               "POST /echo HTTP/1.1\r\nHost: x\r\n"
               "Content-Type: application/x-www-form-urlencoded; charset=utf-8\r\n"
               "Content-Length: 2000\r\n\r\nq=%01998d",
               0);
  TS_CHECK(expect_error(req, (size_t)n, 413, NULL) == 0);
  n = snprintf(
      req, sizeof req,
      "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: Application/X-WWW-Form-Urlencoded\r\n"
      "Transfer-Encoding: chunked\r\n\r\n320\r\n%0800d\r\n320\r\n%0800d\r\n0\r\n\r\n",
      0, 0);
  TS_CHECK(expect_error(req, (size_t)n, 413, NULL) == 0);
  TS_CHECK(cl_open(&c, F.port, 0) == 0);
  n = snprintf(req, sizeof req,
               "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
               "Content-Length: 2000\r\n\r\n%02000d",
               0);
  TS_CHECK(cl_ask(&c, req, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  ts_buf_free(&r.body);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

/* http_write_stalled_ms sees a client that stopped reading; http_abort
 * closes its connection at once (no write timeout) and runs on_abort. */
int test_abort_stalled(void)
{
  http_server_opts o = topts();
  cl c;
  o.high_watermark = 64 * 1024;
  o.low_watermark = 16 * 1024;
  TS_CHECK(fx_start_client(&o, &c, 16 * 1024) == 0);
  F.cut_after_ms = 200;
  TS_CHECK(CL_SEND(&c, "GET /forever?size=8192 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  for (int i = 0; i < 1000 && F.aborts == 0; i++) {
    uv_async_send(&F.cut);
    usleep(10 * 1000);
  }
  TS_CHECK_EQ_INT(F.aborts, 1);
  TS_CHECK(F.stalled_ms >= 200);
  TS_CHECK_EQ_INT(F.canceled_after_abort, 1);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

int test_shutdown(void)
{
  http_server_opts o = topts();
  cl idle, busy, fresh, half;
  resp r;
  TS_CHECK(fx_start(&o) == 0);
  TS_CHECK(cl_open(&idle, F.port, 0) == 0);
  TS_CHECK(cl_ask(&idle, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  ts_buf_free(&r.body);
  TS_CHECK(cl_open(&fresh, F.port, 0) == 0); /* connected, nothing sent */
  TS_CHECK(cl_open(&half, F.port, 0) == 0);
  TS_CHECK(CL_SEND(&half, "POST /hello HTTP/1.1\r\nHost: x\r\n") == 0);
  TS_CHECK(cl_open(&busy, F.port, 0) == 0);
  TS_CHECK(CL_SEND(&busy, "GET /slow HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  while (!memmem(busy.buf, busy.len, "first", 5))
    TS_CHECK(cl_fill(&busy) > 0);

  uv_async_send(&F.stop);
  /* The idle keep-alive connection closes at once; the new one and the
   * one half-way through a request (what a load balancer has just sent)
   * are told 503 with Retry-After, never dropped without an answer; the
   * busy one is left alone. */
  TS_CHECK(cl_closed(&idle));
  cl_close(&idle);
  TS_CHECK(cl_read(&fresh, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 503);
  TS_CHECK(resp_header(&r, "Retry-After") != NULL);
  ts_buf_free(&r.body);
  TS_CHECK(cl_closed(&fresh));
  cl_close(&fresh);
  TS_CHECK(cl_read(&half, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 503);
  ts_buf_free(&r.body);
  TS_CHECK(cl_closed(&half));
  cl_close(&half);
  TS_CHECK_EQ_INT(F.done_called, 0);
  uv_async_send(&F.go); /* now let the busy response finish */
  TS_CHECK(cl_read(&busy, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.truncated, 0);
  TS_CHECK_STREQ(r.body.data, "firstsecond");
  ts_buf_free(&r.body);
  TS_CHECK(cl_closed(&busy));
  cl_close(&busy);
  TS_CHECK(fx_join() == 0);
  TS_CHECK_EQ_INT(F.done_called, 1);
  /* nobody listens any more */
  TS_CHECK(cl_open(&fresh, F.port, 0) != 0);
  cl_close(&fresh);
  return 0;
}

int test_idle_timeout(void)
{
  http_server_opts o = topts();
  cl c;
  resp r;
  o.idle_timeout_ms = 200;
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  TS_CHECK(cl_ask(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  ts_buf_free(&r.body);
  TS_CHECK(cl_closed(&c)); /* silently: no 408 on an idle keep-alive connection */
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

int test_write_timeout(void)
{
  http_server_opts o = topts();
  cl c;
  o.write_timeout_ms = 300;
  o.high_watermark = 64 * 1024;
  o.low_watermark = 16 * 1024;
  TS_CHECK(fx_start_client(&o, &c, 16 * 1024) == 0);
  TS_CHECK(CL_SEND(&c, "GET /forever?size=8192 HTTP/1.1\r\nHost: x\r\n\r\n") == 0);
  /* never read: the server must give up on its own */
  for (int i = 0; i < 1000 && F.aborts == 0; i++)
    usleep(10 * 1000);
  TS_CHECK_EQ_INT(F.aborts, 1);
  TS_CHECK_EQ_INT(F.canceled_after_abort, 1);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

/* ---- multipart bodies ------------------------------------------------------ */

/* Open descriptors of this process. */
static int count_fds(void)
{
  char path[64];
  int n = 0;
  for (int fd = 0; fd < 4096; fd++) {
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    n += access(path, F_OK) == 0;
  }
  return n;
}

/* A POST of `body` to /parts?query (multipart, boundary "BB") on c. */
static int mp_ask(cl *c, const char *query, const char *body, resp *r)
{
  char head[512];
  snprintf(head, sizeof head,
           "POST /parts%s HTTP/1.1\r\nHost: x\r\n"
           "Content-Type: multipart/form-data; boundary=BB\r\nContent-Length: %zu\r\n\r\n",
           query, strlen(body));
  TS_CHECK(CL_SEND(c, head) == 0);
  TS_CHECK(CL_SEND(c, body) == 0);
  TS_CHECK(cl_read(c, r, 0) == 0);
  return 0;
}

static const char mp_body[] =
    "--BB\r\n"
    "Content-Disposition: form-data; name=\"LANG\"\r\n\r\n"
    "ADQL\r\n"
    "--BB\r\n"
    "Content-Disposition: form-data; name=\"t1\"; filename=\"a.xml\"\r\n"
    "Content-Type: text/xml\r\n\r\n"
    "<VOTABLE>\r\n</VOTABLE>\r\n"
    "--BB\r\n"
    "Content-Disposition: form-data; name=\"QUERY\"\r\n\r\n"
    "SELECT *\r\nFROM t\r\n"
    "--BB\r\n"
    "Content-Disposition: form-data; name=\"t2\"; filename=\"b.csv\"\r\n\r\n"
    "a,b\n1,2\n\r\n"
    "--BB--\r\n";

int test_mp_params_parts(void)
{
  http_server_opts o = topts();
  cl c;
  resp r;
  int fds_before;
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  /* the baseline once the server holds the connection */
  TS_CHECK(cl_ask(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  ts_buf_free(&r.body);
  fds_before = count_fds();
  TS_CHECK(mp_ask(&c, "?REQUEST=doQuery&LANG=x", mp_body, &r) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  /* parameters in order, the query string's first; file parts apart */
  TS_CHECK_STREQ(r.body.data, "REQUEST=doQuery\nLANG=x\nLANG=ADQL\nQUERY=SELECT *\r\nFROM t\n"
                              "t1|a.xml|text/xml|21|<VOTABLE>\r\n</VOTABLE>\n"
                              "t2|b.csv|-|8|a,b\n1,2\n\n");
  ts_buf_free(&r.body);
  /* the spool files close with the request: by the time the next request
   * on the connection is answered, the first one was released */
  TS_CHECK(cl_ask(&c, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n", &r, 0) == 0);
  ts_buf_free(&r.body);
  TS_CHECK_EQ_INT(count_fds(), fds_before);
  /* the body is not kept as a whole */
  TS_CHECK(mp_ask(&c, "", mp_body, &r) == 0);
  ts_buf_free(&r.body);
  TS_CHECK(cl_ask(&c,
                  "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: multipart/form-data; "
                  "boundary=BB\r\nContent-Length: 8\r\n\r\n--BB--\r\n",
                  &r, 0) == 0);
  TS_CHECK_STREQ(r.body.data, "POST /echo ? 0:");
  ts_buf_free(&r.body);
  /* a chunked multipart body, in pieces that split the delimiters */
  {
    char req[4096];
    size_t len = strlen(mp_body), n;
    n = (size_t)snprintf(req, sizeof req,
                         "POST /parts HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
                         "Content-Type: multipart/form-data; boundary=\"BB\"\r\n\r\n");
    for (size_t i = 0; i < len; i += 7) {
      size_t k = len - i < 7 ? len - i : 7;
      n += (size_t)snprintf(req + n, sizeof req - n, "%zx\r\n%.*s\r\n", k, (int)k, mp_body + i);
    }
    n += (size_t)snprintf(req + n, sizeof req - n, "0\r\n\r\n");
    TS_CHECK(cl_send(&c, req, n) == 0);
    TS_CHECK(cl_read(&c, &r, 0) == 0);
    TS_CHECK_EQ_INT(r.status, 200);
    TS_CHECK(strstr(r.body.data, "t2|b.csv|-|8|a,b\n1,2\n\n") != NULL);
    ts_buf_free(&r.body);
  }
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}

static int expect_error_msg(const char *req, size_t len, int status, const char *needle)
{
  return expect_error_in(req, len, status, NULL, needle);
}

static int mp_expect(const char *extra_head, const char *body, int status, const char *needle)
{
  static char req[1 << 16];
  int n = snprintf(req, sizeof req,
                   "POST /parts HTTP/1.1\r\nHost: x\r\n%sContent-Length: %zu\r\n\r\n%s", extra_head,
                   strlen(body), body);
  TS_CHECK(n > 0 && (size_t)n < sizeof req);
  return expect_error_msg(req, (size_t)n, status, needle);
}

#define MP_CT "Content-Type: multipart/form-data; boundary=BB\r\n"

int test_mp_limits(void)
{
  http_server_opts o = topts();
  static char body[1 << 15];
  size_t n = 0;
  o.max_upload_body_bytes = 4000;
  o.max_upload_parts = 3;
  o.max_part_header_bytes = 200;
  o.max_form_body_bytes = 100;
  o.spool_budget_bytes = 1000;
  TS_CHECK(fx_start(&o) == 0);
  /* the whole body: announced, or counted as it comes */
  TS_CHECK(mp_expect(MP_CT, "", 400, "without any boundary") == 0);
  memset(body, 'x', 5000);
  body[5000] = '\0';
  TS_CHECK(mp_expect(MP_CT, body, 413, "multipart request body larger than 4000 bytes") == 0);
  {
    static char req[8192];
    int k =
        snprintf(req, sizeof req,
                 "POST /parts HTTP/1.1\r\nHost: x\r\n" MP_CT "Transfer-Encoding: chunked\r\n\r\n");
    for (int i = 0; i < 5; i++)
      k += snprintf(req + k, sizeof req - (size_t)k, "3e8\r\n%01000d\r\n", i);
    TS_CHECK(expect_error_msg(req, (size_t)k, 413, "larger than 4000 bytes") == 0);
  }
  /* parts */
  n = 0;
  for (int i = 0; i < 4; i++)
    n += (size_t)snprintf(body + n, sizeof body - n,
                          "--BB\r\nContent-Disposition: form-data; name=p%d\r\n\r\nv\r\n", i);
  snprintf(body + n, sizeof body - n, "--BB--\r\n");
  TS_CHECK(mp_expect(MP_CT, body, 413, "more than 3 parts") == 0);
  /* one part's headers */
  snprintf(body, sizeof body,
           "--BB\r\nContent-Disposition: form-data; name=a\r\nX-Pad: %0300d\r\n\r\nv\r\n--BB--\r\n",
           0);
  TS_CHECK(mp_expect(MP_CT, body, 413, "headers longer than the limit of 200 bytes") == 0);
  /* parameters together, like a url-encoded form */
  snprintf(body, sizeof body,
           "--BB\r\nContent-Disposition: form-data; name=a\r\n\r\n%060d\r\n"
           "--BB\r\nContent-Disposition: form-data; name=b\r\n\r\n%060d\r\n--BB--\r\n",
           0, 0);
  TS_CHECK(mp_expect(MP_CT, body, 413, "multipart parameters larger than 100 bytes") == 0);
  /* a NUL in a parameter */
  {
    static const char nul[] = "--BB\r\nContent-Disposition: form-data; name=a\r\n\r\n\0\r\n--BB--";
    static char req[512];
    int k = snprintf(req, sizeof req,
                     "POST /parts HTTP/1.1\r\nHost: x\r\n" MP_CT "Content-Length: %zu\r\n\r\n",
                     sizeof nul - 1);
    memcpy(req + k, nul, sizeof nul - 1);
    TS_CHECK(expect_error_msg(req, (size_t)k + sizeof nul - 1, 400, "NUL byte") == 0);
  }
  /* the spool budget: announced, or reached while streaming */
  snprintf(body, sizeof body,
           "--BB\r\nContent-Disposition: form-data; name=f; filename=f\r\n\r\n%01100d\r\n"
           "--BB--\r\n",
           0);
  TS_CHECK(mp_expect(MP_CT, body, 503, "spool space") == 0);
  {
    static char req[8192];
    int k = snprintf(req, sizeof req,
                     "POST /parts HTTP/1.1\r\nHost: x\r\n" MP_CT
                     "Transfer-Encoding: chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
                     strlen(body), body);
    TS_CHECK(expect_error_msg(req, (size_t)k, 503, "spool space") == 0);
  }
  /* and it was all given back: a body within the budget passes */
  snprintf(body, sizeof body,
           "--BB\r\nContent-Disposition: form-data; name=f; filename=f\r\n\r\n%0900d\r\n"
           "--BB--\r\n",
           0);
  {
    cl c;
    resp r;
    TS_CHECK(cl_open(&c, F.port, 0) == 0);
    TS_CHECK(mp_ask(&c, "", body, &r) == 0);
    TS_CHECK_EQ_INT(r.status, 200);
    TS_CHECK(strstr(r.body.data, "f|f|-|900|000") != NULL);
    ts_buf_free(&r.body);
    cl_close(&c);
  }
  /* malformed bodies and boundaries */
  TS_CHECK(mp_expect(MP_CT, "--BB\r\nContent-Disposition: form-data; name=a\r\n\r\nv\r\n", 400,
                     "closing boundary") == 0);
  TS_CHECK(
      mp_expect("Content-Type: multipart/form-data\r\n", "--BB--", 400, "without a boundary") == 0);
  /* a compressed body: 415, whatever its type */
  TS_CHECK(mp_expect(MP_CT "Content-Encoding: gzip\r\n", "--BB--", 415,
                     "Content-Encoding \"gzip\"") == 0);
  TS_CHECK(mp_expect("Content-Type: application/x-www-form-urlencoded\r\n"
                     "Content-Encoding: deflate\r\n",
                     "a=1", 415, "uncompressed") == 0);
  TS_CHECK(fx_stop() == 0);
  return 0;
}

static const char *test_error_doc(ts_buf *b, int status, const char *msg)
{
  return ts_buf_printf(b, "<error status=\"%d\">%s</error>", status, msg) == TS_OK
             ? "application/x-test+xml"
             : NULL;
}

int test_error_doc_hook(void)
{
  http_server_opts o = topts();
  cl c;
  resp r;
  o.error_doc = test_error_doc;
  o.max_upload_body_bytes = 100;
  TS_CHECK(fx_start(&o) == 0);
  TS_CHECK(cl_open(&c, F.port, 0) == 0);
  TS_CHECK(cl_ask(&c, "POST /parts HTTP/1.1\r\nHost: x\r\n" MP_CT "Content-Length: 1000\r\n\r\n",
                  &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 413);
  TS_CHECK_STREQ(resp_header(&r, "content-type"), "application/x-test+xml");
  TS_CHECK_STREQ(r.body.data,
                 "<error status=\"413\">multipart request body larger than 100 bytes</error>");
  ts_buf_free(&r.body);
  cl_close(&c);
  TS_CHECK(fx_stop() == 0);
  return 0;
}

/* A file part larger than the spool's write buffer, in lines (the parser
 * hands on content a line at a time), arrives whole and in order, also
 * when the body comes slower than body_timeout in total: the timeout
 * counts from the body's last byte. */
int test_mp_large_slow(void)
{
  http_server_opts o = topts();
  enum { LINES = 20000, PIECES = 8 };
  static char content[LINES * 12 + 1], req[LINES * 12 + 1024];
  static const char head[] =
      "--BB\r\nContent-Disposition: form-data; name=f; filename=big.csv\r\n\r\n";
  static const char tail[] = "\r\n--BB--\r\n";
  size_t clen = 0, n;
  uint64_t sum = 0;
  cl c;
  resp r;
  char want[64];
  for (int i = 0; i < LINES; i++)
    clen += (size_t)snprintf(content + clen, sizeof content - clen, "%05d,-%03d\r\n", i, i % 1000);
  for (size_t j = 0; j < clen; j++)
    sum = sum * 31 + (unsigned char)content[j];
  n = (size_t)snprintf(req, sizeof req,
                       "POST /parts HTTP/1.1\r\nHost: x\r\n" MP_CT "Content-Length: %zu\r\n\r\n%s",
                       sizeof head - 1 + clen + sizeof tail - 1, head);
  memcpy(req + n, content, clen);
  n += clen;
  memcpy(req + n, tail, sizeof tail - 1);
  n += sizeof tail - 1;
  o.body_timeout_ms = 400;
  TS_CHECK(fx_start_client(&o, &c, 0) == 0);
  /* PIECES pieces 100 ms apart: longer than body_timeout in all, never
   * that long without a byte */
  for (int i = 0; i < PIECES; i++) {
    size_t a = n * (size_t)i / PIECES, e = n * (size_t)(i + 1) / PIECES;
    TS_CHECK(cl_send(&c, req + a, e - a) == 0);
    if (i + 1 < PIECES)
      usleep(100 * 1000);
  }
  TS_CHECK(cl_read(&c, &r, 0) == 0);
  TS_CHECK_EQ_INT(r.status, 200);
  snprintf(want, sizeof want, "f|big.csv|-|%zu|00000,-000", clen);
  TS_CHECK(strstr(r.body.data, want) == r.body.data);
  TS_CHECK(strstr(r.body.data, "file holds") == NULL);
  TS_CHECK(F.last_sum == sum);
  ts_buf_free(&r.body);
  TS_CHECK(fx_stop_client(&c) == 0);
  return 0;
}
