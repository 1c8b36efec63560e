/* Compressing sinks: bytes in, gzip or zstd frames out through a
 * stream_flush_fn. Used for HTTP Content-Encoding and gzip-file formats.
 * gzip is gzpar.c's: blocks compressed with ISA-L on a pool of threads
 * into one gzip member. zstd runs here, on the caller's thread.
 * Memory: zstd's state (level 1-3 ~1-2 MiB) plus one 64 KiB output
 * buffer; gzip's blocks in flight (see gzpar.c), with nothing of zstd's;
 * nothing grows with the input. */
#include "stream/gz_int.h"

#include <stdlib.h>
#include <zstd.h>

enum { ZSINK_OUT = 64 * 1024 };

struct stream_zsink {
  stream_zkind kind;
  stream__gz *gz; /* gzip: the compressor, which keeps its own error and end */
  /* zstd: */
  ZSTD_CCtx *zc;
  unsigned char *out; /* ZSINK_OUT bytes */
  stream_flush_fn flush;
  void *ud;
  ts_err err;
  int finished;
};

stream_zsink *stream_zsink_new(stream_zkind kind, int level, stream_flush_fn flush, void *ud)
{
  stream_zsink *z = calloc(1, sizeof *z);
  if (!z)
    return NULL;
  z->kind = kind;
  if (kind == STREAM_Z_GZIP) {
    z->gz = stream__gz_new(level, STREAM__GZ_BLOCK, flush, ud);
    if (!z->gz) {
      free(z);
      return NULL;
    }
    return z;
  }
  z->flush = flush;
  z->ud = ud;
  z->zc = ZSTD_createCCtx();
  z->out = malloc(ZSINK_OUT);
  if (!z->zc || !z->out ||
      ZSTD_isError(ZSTD_CCtx_setParameter(z->zc, ZSTD_c_compressionLevel, level))) {
    stream_zsink_free(z);
    return NULL;
  }
  return z;
}

static ts_err zsink_emit(stream_zsink *z, size_t n)
{
  if (n && !z->err)
    z->err = z->flush(z->ud, (const char *)z->out, n);
  return z->err;
}

/* Runs zstd over the input (end: finish the frame). */
static ts_err zsink_run(stream_zsink *z, const char *buf, size_t len, int end)
{
  if (z->err)
    return z->err;
  if (z->finished)
    return TS_EINTERNAL;
  ZSTD_inBuffer in = {buf, len, 0};
  for (;;) {
    ZSTD_outBuffer out = {z->out, ZSINK_OUT, 0};
    size_t left = ZSTD_compressStream2(z->zc, &out, &in, end ? ZSTD_e_end : ZSTD_e_continue);
    if (ZSTD_isError(left))
      return z->err = TS_EINTERNAL;
    if (zsink_emit(z, out.pos))
      return z->err;
    if (end ? left == 0 : in.pos == in.size && out.pos < out.size)
      break;
  }
  if (end)
    z->finished = 1;
  return TS_OK;
}

ts_err stream_zsink_write(stream_zsink *z, const char *buf, size_t len)
{
  if (z->kind == STREAM_Z_GZIP)
    return stream__gz_write(z->gz, buf, len);
  if (!len)
    return z->err;
  return zsink_run(z, buf, len, 0);
}

ts_err stream_zsink_finish(stream_zsink *z)
{
  if (z->kind == STREAM_Z_GZIP)
    return stream__gz_finish(z->gz);
  return zsink_run(z, "", 0, 1);
}

ts_err stream_zsink_flush_fn(void *z, const char *buf, size_t len)
{
  return stream_zsink_write(z, buf, len);
}

void stream_zsink_free(stream_zsink *z)
{
  if (!z)
    return;
  stream__gz_free(z->gz);
  ZSTD_freeCCtx(z->zc);
  free(z->out);
  free(z);
}

const char *stream_zkind_name(stream_zkind kind)
{
  return kind == STREAM_Z_GZIP ? "gzip" : kind == STREAM_Z_ZSTD ? "zstd" : NULL;
}

/* Accept-Encoding: codings with optional ;q=, "*" for any. A coding with
 * q=0 is refused. zstd is preferred (faster at a better ratio), then gzip;
 * "identity" or no acceptable coding gives STREAM_Z_NONE. */
static double zsink_q(const char *hdr, const char *coding)
{
  size_t cl = strlen(coding);
  double star = -1;
  const char *p = hdr;
  while (*p) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    const char *t = p;
    while (*p && *p != ',' && *p != ';' && *p != ' ' && *p != '\t')
      p++;
    size_t tl = (size_t)(p - t);
    double q = 1;
    while (*p && *p != ',') {
      if (*p == ';') {
        p++;
        while (*p == ' ' || *p == '\t')
          p++;
        if ((*p == 'q' || *p == 'Q') && p[1] == '=')
          q = strtod(p + 2, NULL);
      } else {
        p++;
      }
    }
    if (tl == cl && ts_strncaseeq(t, coding, cl))
      return q;
    if (tl == 1 && *t == '*')
      star = q;
    if (!tl && !*p)
      break;
  }
  return star;
}

stream_zkind stream_zkind_accept(const char *accept_encoding)
{
  if (!accept_encoding)
    return STREAM_Z_NONE;
  double zq = zsink_q(accept_encoding, "zstd"), gq = zsink_q(accept_encoding, "gzip");
  if (zq > 0 && zq >= gq)
    return STREAM_Z_ZSTD;
  if (gq > 0)
    return STREAM_Z_GZIP;
  return STREAM_Z_NONE;
}
