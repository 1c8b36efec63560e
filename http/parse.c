/* http/parse.c: request framing over http-parser, without sockets.
 *
 * The server feeds whatever it read; this file collects the request line,
 * headers and body, enforces the head and body limits and hands out one
 * complete request at a time. It pauses http-parser at the end of each
 * message, so bytes of a pipelined request stay with the caller until the
 * current response is done. The fuzzer drives http__conn_feed directly. */
#include "http/http_int.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static http__reqparser *rp_of(http_parser *hp)
{
  return ts_container_of(hp, http__reqparser, parser);
}

static int rp_fail(http__reqparser *p, int status, const char *msg)
{
  p->err_status = status;
  p->err_msg = msg;
  return -1; /* makes http-parser stop with HPE_CB_* */
}

static int is_tchar(unsigned char c)
{
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
         (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* 1 when [p, p+n) holds a complete request line that is not
 * "token SP target SP HTTP/d.d" (CR)LF; 0 when it is well-formed or not yet
 * complete. */
static int request_line_malformed(const char *p, size_t n)
{
  size_t i = 0, t;
  const char *nl = memchr(p, '\n', n);
  if (!nl)
    return 0;
  n = (size_t)(nl - p);
  if (n > 0 && p[n - 1] == '\r')
    n--;
  while (i < n && is_tchar((unsigned char)p[i]))
    i++;
  if (i == 0 || i >= n || p[i] != ' ')
    return 1;
  t = ++i;
  while (i < n && p[i] != ' ' && (unsigned char)p[i] > 0x20)
    i++;
  if (i == t || i >= n || p[i] != ' ')
    return 1;
  i++;
  return !(n - i == 8 && !memcmp(p + i, "HTTP/", 5) && p[i + 5] >= '0' && p[i + 5] <= '9' &&
           p[i + 6] == '.' && p[i + 7] >= '0' && p[i + 7] <= '9');
}

static int on_message_begin(http_parser *hp)
{
  http__reqparser *p = rp_of(hp);
  p->phase = HTTP__PH_HEAD;
  return 0;
}

static int on_url(http_parser *hp, const char *at, size_t len)
{
  http__reqparser *p = rp_of(hp);
  if (ts_buf_append(&p->head, at, len))
    return rp_fail(p, 431, "request header fields too large");
  p->url_len += len;
  return 0;
}

static int on_header_field(http_parser *hp, const char *at, size_t len)
{
  http__reqparser *p = rp_of(hp);
  if (p->phase != HTTP__PH_HEAD)
    return 0; /* trailer fields of a chunked body: ignored */
  if (p->last_cb != 1) {
    if (p->nhdrs == p->hdrs_cap) {
      size_t ncap = p->hdrs_cap ? 2 * p->hdrs_cap : 16;
      http__hdr *h = realloc(p->hdrs, ncap * sizeof *h);
      if (!h)
        return rp_fail(p, 503, "server out of memory");
      p->hdrs = h;
      p->hdrs_cap = ncap;
    }
    p->hdrs[p->nhdrs++] = (http__hdr){p->head.len, 0, p->head.len, 0};
    p->last_cb = 1;
  }
  if (ts_buf_append(&p->head, at, len))
    return rp_fail(p, 431, "request header fields too large");
  p->hdrs[p->nhdrs - 1].name_len += len;
  p->hdrs[p->nhdrs - 1].val_off = p->head.len;
  return 0;
}

static int on_header_value(http_parser *hp, const char *at, size_t len)
{
  http__reqparser *p = rp_of(hp);
  if (p->phase != HTTP__PH_HEAD || p->nhdrs == 0)
    return 0;
  if (p->last_cb != 2) {
    p->hdrs[p->nhdrs - 1].val_off = p->head.len;
    p->last_cb = 2;
  }
  if (ts_buf_append(&p->head, at, len))
    return rp_fail(p, 431, "request header fields too large");
  p->hdrs[p->nhdrs - 1].val_len += len;
  return 0;
}

/* Makes the budget cover a body of `total` bytes (its first HTTP_BODY_FREE
 * bytes are free); 0 when the budget cannot, leaving it unchanged. */
static int body_reserve(http__reqparser *p, size_t total)
{
  size_t want = total > HTTP_BODY_FREE ? total - HTTP_BODY_FREE : 0;
  if (want <= p->body_reserved)
    return 1;
  size_t more = want - p->body_reserved;
  if (p->budget) {
    if (more > p->budget->cap - p->budget->used)
      return 0;
    p->budget->used += more;
  }
  p->body_reserved = want;
  return 1;
}

static void body_unreserve(http__budget *b, size_t n)
{
  if (b)
    b->used -= n;
}

/* Builds the request from the head, so that a bad target or a body that
 * cannot fit is answered before any body byte is read. */
static int on_headers_complete(http_parser *hp)
{
  http__reqparser *p = rp_of(hp);
  const char *m = http_method_str((enum http_method)hp->method);
  ts_arena *a = NULL;
  http__req *q;
  struct http_parser_url u;
  ts_error err;

  p->phase = HTTP__PH_BODY;
  if (hp->http_major != 1)
    return rp_fail(p, 505, "only HTTP/1.0 and HTTP/1.1 are supported");
  /* DELETE is UWS's way to destroy a job; handlers answer 405 for it
   * everywhere else. */
  if (hp->method != HTTP_GET && hp->method != HTTP_POST && hp->method != HTTP_HEAD &&
      hp->method != HTTP_DELETE)
    return rp_fail(p, 405, "method not allowed");
  a = ts_arena_new(0, p->opts->arena_cap);
  if (!a)
    return rp_fail(p, 503, "server out of memory");
  q = ts_arena_calloc(a, 1, sizeof *q);
  if (!q) {
    ts_arena_free(a);
    return rp_fail(p, 503, "server out of memory");
  }
  q->pub.arena = a;
  p->req = &q->pub; /* from here on freed by http__reqparser_free/next */
  q->pub.method = m;
  q->pub.is_head = hp->method == HTTP_HEAD;
  q->pub.http_minor = hp->http_minor;
  q->keep_alive = http_should_keep_alive(hp);
  q->pub.body = "";

  q->pub.target = ts_arena_strndup(a, p->head.data ? p->head.data : "", p->url_len);
  q->pub.headers = ts_arena_calloc(a, p->nhdrs ? p->nhdrs : 1, sizeof(http_header));
  if (!q->pub.target || !q->pub.headers)
    return rp_fail(p, 503, "server out of memory");
  if (p->url_len == 0 || http_parser_parse_url(q->pub.target, p->url_len, 0, &u) != 0)
    return rp_fail(p, 400, "malformed request target");
  if (u.field_set & (1 << UF_PATH)) {
    const char *ps = q->pub.target + u.field_data[UF_PATH].off;
    if (ps[0] != '/')
      return rp_fail(p, 400, "malformed request target");
    if (http__decode(a, ps, u.field_data[UF_PATH].len, 0, (char **)&q->pub.path, &err) != TS_OK)
      return rp_fail(p, err.code == TS_ENOMEM ? 503 : 400, "malformed percent-encoding in path");
    q->pub.raw_path = ts_arena_strndup(a, ps, u.field_data[UF_PATH].len);
    if (!q->pub.raw_path)
      return rp_fail(p, 503, "server out of memory");
  } else {
    q->pub.path = "/"; /* absolute-form without a path: "http://host" */
    q->pub.raw_path = "/";
  }
  if (u.field_set & (1 << UF_QUERY))
    q->pub.query =
        ts_arena_strndup(a, q->pub.target + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
  else
    q->pub.query = "";
  if (!q->pub.query)
    return rp_fail(p, 503, "server out of memory");

  for (size_t i = 0; i < p->nhdrs; i++) {
    const http__hdr *h = &p->hdrs[i];
    /* http-parser lets spaces and other separators into field names; a
     * name such as "Transfer-Encoding " is how requests get smuggled past
     * proxies that read it differently, so only RFC 9110 tokens pass. */
    if (h->name_len == 0)
      return rp_fail(p, 400, "malformed header field name");
    for (size_t k = 0; k < h->name_len; k++)
      if (!is_tchar((unsigned char)p->head.data[h->name_off + k]))
        return rp_fail(p, 400, "malformed header field name");
    size_t vl = h->val_len;
    char *name = ts_arena_strndup(a, p->head.data + h->name_off, h->name_len);
    while (vl > 0 &&
           (p->head.data[h->val_off + vl - 1] == ' ' || p->head.data[h->val_off + vl - 1] == '\t'))
      vl--;
    char *val = ts_arena_strndup(a, p->head.data + h->val_off, vl);
    if (!name || !val)
      return rp_fail(p, 503, "server out of memory");
    for (char *c = name; *c; c++)
      if (*c >= 'A' && *c <= 'Z')
        *c = (char)(*c - 'A' + 'a');
    q->pub.headers[i] = (http_header){name, val};
  }
  q->pub.nheaders = p->nhdrs;

  const char *ct = http_header_get(&q->pub, "content-type");
  const char *ce = http_header_get(&q->pub, "content-encoding");
  int has_body =
      (hp->flags & F_CHUNKED) || (hp->content_length != ULLONG_MAX && hp->content_length > 0);
  int known = (hp->flags & F_CHUNKED) == 0 && hp->content_length != ULLONG_MAX;
  /* We decode no request body: a compressed one would reach the handler
   * (or the spool) as bytes it cannot read, and unbounded once inflated. */
  if (has_body && ce && *ce && !ts_strcaseeq(ce, "identity")) {
    snprintf(p->err_text, sizeof p->err_text,
             "request bodies with Content-Encoding \"%.40s\" are not accepted; send the body "
             "uncompressed",
             ce);
    return rp_fail(p, 415, p->err_text);
  }
  /* A multipart body streams to its parts (body.c): limited on its own
   * and not held in memory, so not counted against the body budget. */
  if (hp->method == HTTP_POST && http__is_multipart_type(ct)) {
    p->body_limit = p->opts->max_upload_body_bytes;
    if (known && hp->content_length > p->body_limit) {
      snprintf(p->err_text, sizeof p->err_text, "multipart request body larger than %zu bytes",
               p->body_limit);
      return rp_fail(p, 413, p->err_text);
    }
    if (known && p->spool && hp->content_length > p->spool->cap - p->spool->used)
      return rp_fail(p, 503, "uploads in progress fill the server's spool space; try again later");
    if (http__body_mp_begin(p, q, ct) != 0)
      return -1;
  } else {
    /* Form parameters (an ADQL query is at most 1 MiB) have a lower limit
     * than other bodies; every body counts against the budget, reserved
     * here at once when its length is announced. */
    p->body_limit = p->opts->max_body_bytes;
    if (http__is_form_type(ct) && p->opts->max_form_body_bytes < p->body_limit)
      p->body_limit = p->opts->max_form_body_bytes;
  }
  if (!p->mp && known) {
    if (hp->content_length > p->body_limit)
      return rp_fail(p, 413, "request body too large");
    if (!body_reserve(p, (size_t)hp->content_length))
      return rp_fail(p, 503, "too many request bodies in progress; try again later");
  }

  /* 100 Continue only makes sense when a body is still to come; a body
   * that cannot fit was refused above, which is the answer to the
   * expectation as well. */
  const char *expect = http_header_get(&q->pub, "expect");
  if (expect && hp->http_minor >= 1 && ts_strcaseeq(expect, "100-continue") &&
      ((hp->flags & F_CHUNKED) || (hp->content_length != ULLONG_MAX && hp->content_length > 0)))
    p->expect_continue = 1;
  if (!p->mp && hp->content_length != ULLONG_MAX && hp->content_length > 0 &&
      ts_buf_reserve(&p->body, (size_t)hp->content_length) != TS_OK)
    return rp_fail(p, 503, "server out of memory");
  return 0;
}

static int on_body(http_parser *hp, const char *at, size_t len)
{
  http__reqparser *p = rp_of(hp);
  if (p->mp)
    return http__body_mp_feed(p, at, len);
  if (len > p->body_limit - p->body.len)
    return rp_fail(p, 413, "request body too large");
  if (!body_reserve(p, p->body.len + len)) /* chunked: counted as it arrives */
    return rp_fail(p, 503, "too many request bodies in progress; try again later");
  ts_err rc = ts_buf_append(&p->body, at, len);
  if (rc == TS_ELIMIT)
    return rp_fail(p, 413, "request body too large");
  if (rc)
    return rp_fail(p, 503, "server out of memory");
  return 0;
}

/* A body handed to a request, with its share of the budget: both are
 * returned when the request's arena is freed. */
typedef struct body_hold {
  void *data;
  http__budget *budget;
  size_t reserved;
} body_hold;

static void body_release(void *arg)
{
  body_hold *h = arg;
  free(h->data);
  body_unreserve(h->budget, h->reserved);
}

static int on_message_complete(http_parser *hp)
{
  http__reqparser *p = rp_of(hp);
  http_request *r = p->req;

  if (!r)
    return rp_fail(p, 500, "internal error"); /* cannot happen: head built it */
  if (p->mp && http__body_mp_end(p) != 0)
    return -1;
  if (p->body.len > 0) {
    body_hold *h = ts_arena_alloc(r->arena, sizeof *h);
    if (!h || ts_arena_defer(r->arena, body_release, h) != TS_OK)
      return rp_fail(p, 503, "server out of memory"); /* rp_clear returns the budget */
    h->budget = p->budget;
    h->reserved = p->body_reserved;
    p->body_reserved = 0;
    h->data = ts_buf_steal(&p->body, &r->body_len);
    r->body = h->data;
  }
  p->phase = HTTP__PH_DONE;
  http_parser_pause(hp, 1); /* the next pipelined request waits for us */
  return 0;
}

void http__reqparser_init(http__reqparser *p, const http_server_opts *o)
{
  memset(p, 0, sizeof *p);
  p->opts = o;
  http_parser_init(&p->parser, HTTP_REQUEST);
  p->settings.on_message_begin = on_message_begin;
  p->settings.on_url = on_url;
  p->settings.on_header_field = on_header_field;
  p->settings.on_header_value = on_header_value;
  p->settings.on_headers_complete = on_headers_complete;
  p->settings.on_body = on_body;
  p->settings.on_message_complete = on_message_complete;
  /* Headers are text collected from raw bytes already bounded by
   * max_header_bytes; the slack covers nothing but rounding. */
  ts_buf_init(&p->head, o->max_header_bytes + 16);
  ts_buf_init(&p->body, o->max_body_bytes);
  p->body_limit = o->max_body_bytes;
}

static void rp_clear(http__reqparser *p)
{
  if (p->req && p->phase != HTTP__PH_DONE)
    ts_arena_free(p->req->arena);
  p->req = NULL;
  ts_buf_reset(&p->head);
  ts_buf_free(&p->body); /* a large body must not stay allocated while idle */
  body_unreserve(p->budget, p->body_reserved);
  p->body_reserved = 0;
  p->body_limit = p->opts->max_body_bytes;
  p->mp = NULL; /* lives in the request's arena */
  p->body_seen = 0;
  p->url_len = 0;
  p->nhdrs = 0;
  p->last_cb = 0;
  p->head_bytes = 0;
  p->expect_continue = 0;
}

void http__reqparser_free(http__reqparser *p)
{
  rp_clear(p);
  ts_buf_free(&p->head);
  free(p->hdrs);
  p->hdrs = NULL;
  p->hdrs_cap = 0;
}

void http__reqparser_next(http__reqparser *p)
{
  p->req = NULL; /* handed out with HTTP__FEED_REQUEST */
  p->phase = HTTP__PH_IDLE;
  rp_clear(p);
  http_parser_pause(&p->parser, 0);
}

http__feed_rc http__conn_feed(http__reqparser *p, const char *data, size_t len, size_t *consumed)
{
  size_t off = 0;

  *consumed = 0;
  if (p->phase == HTTP__PH_ERROR)
    return HTTP__FEED_ERROR;
  if (p->phase == HTTP__PH_DONE)
    return HTTP__FEED_REQUEST;
  while (off < len) {
    int in_head = p->phase == HTTP__PH_IDLE || p->phase == HTTP__PH_HEAD;
    size_t chunk = len - off;
    /* The head limit counts raw bytes: never give http-parser more head
     * bytes than the limit allows, so an endless header line stops at the
     * limit instead of growing our buffers. */
    if (in_head) {
      size_t allow = p->opts->max_header_bytes - p->head_bytes;
      if (allow == 0) {
        rp_fail(p, 431, "request header fields too large");
        break;
      }
      if (chunk > allow)
        chunk = allow;
    }
    size_t start = off;
    size_t n = http_parser_execute(&p->parser, &p->settings, data + off, chunk);
    enum http_errno e = HTTP_PARSER_ERRNO(&p->parser);
    off += n;
    if (in_head && p->phase != HTTP__PH_BODY && p->phase != HTTP__PH_DONE)
      p->head_bytes += n;
    if (e == HPE_PAUSED) {
      *consumed = off;
      return HTTP__FEED_REQUEST;
    }
    if (e != HPE_OK) {
      if (!p->err_status) {
        if (e == HPE_HEADER_OVERFLOW)
          rp_fail(p, 431, "request header fields too large");
        else if (e == HPE_INVALID_METHOD && off < len && is_tchar((unsigned char)data[off]) &&
                 !request_line_malformed(data + start, len - start))
          /* http-parser stops at the first byte that no method it knows
           * continues with; a token byte there in an otherwise well-formed
           * request line means a method we do not serve (BREW, get), not a
           * malformed request. */
          rp_fail(p, 405, "method not allowed");
        else
          rp_fail(p, 400, http_errno_description(e));
      }
      break;
    }
    if (n != chunk) { /* http-parser stopped without saying why */
      rp_fail(p, 400, "malformed request");
      break;
    }
  }
  if (p->err_status) {
    p->phase = HTTP__PH_ERROR;
    *consumed = off;
    return HTTP__FEED_ERROR;
  }
  *consumed = off;
  return HTTP__FEED_MORE;
}
