/* Fuzzes the multipart/form-data parser (http/multipart.c). The first byte
 * chooses how the rest is split into pieces (the server feeds whatever a
 * read gave), the second the header limit; the input is parsed once whole
 * and once in pieces, and both must agree on the outcome and on every
 * byte the callbacks saw. The boundary is "b"; a second run takes the
 * boundary from a Content-Type built from the input's first line. */
#include "http/http_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct sink {
  uint64_t hash, bytes, parts;
} sink;

static void mix(sink *s, const void *p, size_t n)
{
  const unsigned char *c = p;
  for (size_t i = 0; i < n; i++)
    s->hash = (s->hash ^ c[i]) * 1099511628211ULL;
  s->bytes += n;
}

static ts_err f_part(void *ud, const http__mp_part *p, ts_error *err)
{
  sink *s = ud;
  s->parts++;
  mix(s, p->name, strlen(p->name) + 1);
  if (p->filename)
    mix(s, p->filename, strlen(p->filename) + 1);
  if (p->content_type)
    mix(s, p->content_type, strlen(p->content_type) + 1);
  return TS_OK;
}

static ts_err f_data(void *ud, const char *p, size_t n, ts_error *err)
{
  if (n == 0)
    __builtin_trap(); /* never called empty */
  mix(ud, p, n);
  return TS_OK;
}

static ts_err f_end(void *ud, ts_error *err)
{
  mix(ud, "$", 1);
  return TS_OK;
}

static const http__mp_cbs cbs = {f_part, f_data, f_end};

static ts_err parse(const char *b, size_t blen, const char *d, size_t n, size_t piece, size_t hmax,
                    sink *s)
{
  http__mp m;
  ts_error err;
  ts_err rc = http__mp_init(&m, b, blen, hmax, &cbs, s);
  for (size_t i = 0; rc == TS_OK && i < n; i += piece)
    rc = http__mp_feed(&m, d + i, n - i < piece ? n - i : piece, &err);
  if (rc == TS_OK)
    rc = http__mp_finish(&m, &err);
  http__mp_free(&m);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  size_t piece = (size_t)data[0] % 17 + 1, hmax = 64 + (size_t)data[1] * 8;
  const char *d = (const char *)data + 2;
  size_t n = size - 2;
  sink whole = {14695981039346656037ULL, 0, 0}, split = whole;
  ts_err a = parse("b", 1, d, n, n ? n : 1, hmax, &whole);
  ts_err b = parse("b", 1, d, n, piece, hmax, &split);
  if (a != b || (a == TS_OK && (whole.hash != split.hash || whole.bytes != split.bytes)))
    __builtin_trap();
  if (whole.bytes > n * 2 + 64) /* what comes out is bounded by what went in */
    __builtin_trap();

  /* the Content-Type side: "multipart/form-data; " + the first line */
  const char *nl = memchr(d, '\n', n);
  size_t ll = nl ? (size_t)(nl - d) : n;
  char *ct = malloc(ll + 32), bnd[HTTP__MP_BOUNDARY_MAX + 1];
  size_t blen;
  ts_error err;
  if (!ct)
    return 0;
  memcpy(ct, "multipart/form-data; ", 21);
  memcpy(ct + 21, d, ll);
  ct[21 + ll] = '\0';
  if (strlen(ct) == 21 + ll && http__mp_boundary(ct, bnd, &blen, &err) == TS_OK) {
    if (blen == 0 || blen > HTTP__MP_BOUNDARY_MAX || strlen(bnd) != blen)
      __builtin_trap();
    sink s2 = {0, 0, 0};
    parse(bnd, blen, d, n, piece, hmax, &s2);
  }
  free(ct);
  return 0;
}
