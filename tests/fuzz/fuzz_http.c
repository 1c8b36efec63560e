/* Fuzzes HTTP request framing through http__conn_feed, the code path the
 * server runs on every byte it reads. The first input byte picks how the
 * rest is split into reads, since http-parser's callbacks see partial
 * tokens at read boundaries. Every request handed out is inspected the
 * way a handler would (headers, parameters, multipart file parts) and
 * released. */
#include "http/http_int.h"

#include <stdint.h>
#include <string.h>
#include <sys/stat.h>

static void inspect(http_request *r)
{
  http_param *p;
  size_t n;
  ts_error err;
  /* Everything a handler reads must be a terminated string. */
  volatile size_t sink =
      strlen(r->method) + strlen(r->target) + strlen(r->path) + strlen(r->query) + r->body_len;
  for (size_t i = 0; i < r->nheaders; i++)
    sink += strlen(r->headers[i].name) + strlen(r->headers[i].value);
  if (http_request_params(r, &p, &n, &err) == TS_OK)
    for (size_t i = 0; i < n; i++)
      sink += strlen(p[i].name) + strlen(p[i].value);
  /* file parts of a multipart body: spooled whole */
  const http_part *pt;
  size_t np;
  if (http_request_parts(r, &pt, &np) == TS_OK)
    for (size_t i = 0; i < np; i++) {
      struct stat st;
      if (fstat(pt[i].fd, &st) != 0 || (uint64_t)st.st_size != pt[i].size)
        __builtin_trap();
      sink += strlen(pt[i].name) + strlen(pt[i].filename);
    }
  (void)http_header_get(r, "content-type");
  (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  http_server_opts o = {0};
  http__reqparser p;
  size_t step, off = 1;

  if (size < 1)
    return 0;
  step = data[0] ? data[0] : size; /* 0: everything in one read */
  o.max_header_bytes = 2048;
  o.max_body_bytes = 4096;
  o.arena_cap = 1 << 20;
  http_server_opts_defaults(&o);
  http__reqparser_init(&p, &o);
  while (off < size) {
    size_t n = size - off < step ? size - off : step, used;
    http__feed_rc rc = http__conn_feed(&p, (const char *)data + off, n, &used);
    if (used > n)
      __builtin_trap();
    off += used;
    if (rc == HTTP__FEED_ERROR) {
      if (p.err_status < 400 || p.err_status > 599)
        __builtin_trap();
      break;
    }
    if (rc == HTTP__FEED_REQUEST) {
      http_request *r = p.req;
      http__reqparser_next(&p);
      inspect(r);
      ts_arena_free(r->arena);
    } else if (used != n) {
      __builtin_trap(); /* MORE means every byte was taken */
    }
  }
  http__reqparser_free(&p);
  return 0;
}
