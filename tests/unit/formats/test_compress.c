/* stream/compress.c (the compressing sinks tap_result puts between an
 * encoder and the client): Accept-Encoding negotiation, and gzip/zstd
 * output that zlib and libzstd decode back to the input, fed in pieces of
 * every size. Lives in the formats suite, whose encoders feed it. */
#include "stream/stream.h"
#include "ts_test.h"

#include <stdlib.h>
#include <zlib.h>
#include <zstd.h>

int test_accept_encoding(void)
{
  TS_CHECK_EQ_INT(stream_zkind_accept(NULL), STREAM_Z_NONE);
  TS_CHECK_EQ_INT(stream_zkind_accept(""), STREAM_Z_NONE);
  TS_CHECK_EQ_INT(stream_zkind_accept("identity"), STREAM_Z_NONE);
  TS_CHECK_EQ_INT(stream_zkind_accept("gzip"), STREAM_Z_GZIP);
  TS_CHECK_EQ_INT(stream_zkind_accept("GZIP, deflate"), STREAM_Z_GZIP);
  TS_CHECK_EQ_INT(stream_zkind_accept("gzip, deflate, br, zstd"), STREAM_Z_ZSTD);
  TS_CHECK_EQ_INT(stream_zkind_accept("zstd;q=0.5, gzip;q=0.9"), STREAM_Z_GZIP);
  TS_CHECK_EQ_INT(stream_zkind_accept("zstd;q=0, gzip"), STREAM_Z_GZIP);
  TS_CHECK_EQ_INT(stream_zkind_accept("gzip;q=0"), STREAM_Z_NONE);
  TS_CHECK_EQ_INT(stream_zkind_accept("gzip ; q=0 , zstd ; q=0"), STREAM_Z_NONE);
  TS_CHECK_EQ_INT(stream_zkind_accept("*"), STREAM_Z_ZSTD);
  TS_CHECK_EQ_INT(stream_zkind_accept("*;q=0"), STREAM_Z_NONE);
  TS_CHECK_EQ_INT(stream_zkind_accept("br"), STREAM_Z_NONE);
  TS_CHECK_EQ_INT(stream_zkind_accept("xgzip, gzipx"), STREAM_Z_NONE);
  TS_CHECK_STREQ(stream_zkind_name(STREAM_Z_GZIP), "gzip");
  TS_CHECK_STREQ(stream_zkind_name(STREAM_Z_ZSTD), "zstd");
  TS_CHECK(stream_zkind_name(STREAM_Z_NONE) == NULL);
  return 0;
}

static ts_err collect(void *ud, const char *buf, size_t len)
{
  return ts_buf_append(ud, buf, len);
}

static int roundtrip(stream_zkind kind)
{
  enum { N = 3 << 20 };
  char *in = malloc(N);
  TS_CHECK(in);
  /* compressible text with some noise */
  uint32_t x = 12345;
  for (size_t i = 0; i < N; i++) {
    x = x * 1103515245u + 12345u;
    in[i] = (i % 97 < 80) ? (char)('a' + i % 26) : (char)(x >> 24);
  }
  ts_buf out;
  ts_buf_init(&out, TS_TEST_BUF_MAX);
  stream_zsink *z = stream_zsink_new(kind, 1, collect, &out);
  TS_CHECK(z);
  size_t at = 0, step = 1;
  while (at < N) {
    size_t k = step < N - at ? step : N - at;
    TS_CHECK_EQ_INT(stream_zsink_write(z, in + at, k), TS_OK);
    at += k;
    step = step * 3 + 1; /* 1, 4, 13, ... bytes up to megabytes */
  }
  TS_CHECK_EQ_INT(stream_zsink_finish(z), TS_OK);
  TS_CHECK(stream_zsink_write(z, "x", 1) != TS_OK); /* nothing after the end */
  stream_zsink_free(z);
  TS_CHECK(out.len > 0 && out.len < N / 2);
  char *back = malloc(N + 1);
  TS_CHECK(back);
  size_t blen = 0;
  if (kind == STREAM_Z_GZIP) {
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    TS_CHECK(inflateInit2(&zs, 15 + 16) == Z_OK);
    zs.next_in = (Bytef *)out.data;
    zs.avail_in = (uInt)out.len;
    zs.next_out = (Bytef *)back;
    zs.avail_out = N + 1;
    TS_CHECK(inflate(&zs, Z_FINISH) == Z_STREAM_END);
    blen = N + 1 - zs.avail_out;
    inflateEnd(&zs);
  } else {
    size_t r = ZSTD_decompress(back, N + 1, out.data, out.len);
    TS_CHECK(!ZSTD_isError(r));
    blen = r;
  }
  TS_CHECK_EQ_INT(blen, N);
  TS_CHECK(memcmp(back, in, N) == 0);
  free(back);
  free(in);
  ts_buf_free(&out);
  return 0;
}

int test_gzip_roundtrip(void)
{
  return roundtrip(STREAM_Z_GZIP);
}

int test_zstd_roundtrip(void)
{
  return roundtrip(STREAM_Z_ZSTD);
}

static ts_err fail_flush(void *ud, const char *buf, size_t len)
{
  (void)buf;
  (void)len;
  ++*(int *)ud;
  return TS_ECANCELED;
}

/* A failing consumer (client gone) makes the sink fail, once and for all. */
int test_zsink_sticky_error(void)
{
  int calls = 0;
  stream_zsink *z = stream_zsink_new(STREAM_Z_ZSTD, 1, fail_flush, &calls);
  TS_CHECK(z);
  static char big[1 << 20];
  for (size_t i = 0; i < sizeof big; i++)
    big[i] = (char)(i * 2654435761u >> 13);
  ts_err rc = TS_OK;
  for (int i = 0; i < 4 && rc == TS_OK; i++)
    rc = stream_zsink_write(z, big, sizeof big);
  if (rc == TS_OK)
    rc = stream_zsink_finish(z);
  TS_CHECK_EQ_INT(rc, TS_ECANCELED);
  TS_CHECK_EQ_INT(stream_zsink_write(z, "x", 1), TS_ECANCELED);
  TS_CHECK_EQ_INT(calls, 1);
  stream_zsink_free(z);
  return 0;
}
