/* The parallel gzip compressor (stream/gzpar.c): whatever the block size,
 * the input size, how the input is cut and how many threads compress, the
 * output is ONE gzip member that zlib's inflate (which stops at the end of
 * the first member) reads to the last byte. */
#include "stream/gz_int.h"
#include "test_list.h"
#include "ts_test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

enum { BLOCK = 1000 };

typedef struct collected {
  ts_buf buf;
  int calls;
  int other_thread; /* flush ran on a thread other than the writer's */
  pthread_t writer;
} collected;

static ts_err collect(void *ud, const char *buf, size_t len)
{
  collected *c = ud;
  c->calls++;
  if (!pthread_equal(pthread_self(), c->writer))
    c->other_thread = 1;
  return ts_buf_append(&c->buf, buf, len);
}

/* Input that is partly text, partly noise (which ISA-L stores rather than
 * codes), so both kinds of deflate block appear. */
static unsigned char *make_input(size_t n, uint32_t seed)
{
  unsigned char *p = malloc(n ? n : 1);
  uint32_t x = seed;
  for (size_t i = 0; p && i < n; i++) {
    x = x * 1103515245u + 12345u;
    p[i] = (i / 3000) % 3 == 2 ? (unsigned char)(x >> 24) : (unsigned char)('a' + (i * 7) % 23);
  }
  return p;
}

/* Inflates one gzip member; the whole of [z, z+zn) must be that member. */
static int gunzip_one_member(const unsigned char *z, size_t zn, const unsigned char *want, size_t n)
{
  unsigned char *back = malloc(n + 1);
  TS_CHECK(back);
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  TS_CHECK(inflateInit2(&zs, 15 + 16) == Z_OK);
  zs.next_in = (Bytef *)(uintptr_t)z;
  zs.avail_in = (uInt)zn;
  zs.next_out = back;
  zs.avail_out = (uInt)(n + 1);
  int rc = inflate(&zs, Z_FINISH);
  size_t got = n + 1 - zs.avail_out;
  unsigned left = zs.avail_in;
  inflateEnd(&zs);
  TS_CHECK_EQ_INT(rc, Z_STREAM_END); /* complete, CRC and length checked */
  TS_CHECK_EQ_INT(left, 0);          /* nothing after the first member */
  TS_CHECK_EQ_INT(got, n);
  TS_CHECK(n == 0 || memcmp(back, want, n) == 0);
  free(back);
  return 0;
}

/* Compresses n bytes written in pieces of `step` (0: all at once) and
 * checks the result. */
static int roundtrip(size_t n, size_t step, size_t block)
{
  unsigned char *in = make_input(n, (uint32_t)(n * 31 + step));
  TS_CHECK(in);
  collected c;
  memset(&c, 0, sizeof c);
  ts_buf_init(&c.buf, TS_TEST_BUF_MAX);
  c.writer = pthread_self();
  stream__gz *g = stream__gz_new(1, block, collect, &c);
  TS_CHECK(g);
  for (size_t at = 0; at < n;) {
    size_t k = step && step < n - at ? step : n - at;
    TS_CHECK_EQ_INT(stream__gz_write(g, (const char *)in + at, k), TS_OK);
    at += k;
  }
  TS_CHECK_EQ_INT(stream__gz_finish(g), TS_OK);
  TS_CHECK(stream__gz_write(g, "x", 1) != TS_OK); /* nothing after the end */
  stream__gz_free(g);
  TS_CHECK_EQ_INT(c.other_thread, 0);
  TS_CHECK(c.calls >= 1);
  if (gunzip_one_member((const unsigned char *)c.buf.data, c.buf.len, in, n)) {
    fprintf(stderr, "# n %zu step %zu block %zu\n", n, step, block);
    return 1;
  }
  ts_buf_free(&c.buf);
  free(in);
  return 0;
}

/* Every edge of the block size: nothing, 1 byte, one block less a byte,
 * exactly one, one and a byte, exact multiples, and more blocks than a
 * sink keeps in flight, written whole, byte by byte and in odd pieces. */
static int edges(void)
{
  static const size_t sizes[] = {
      0,         1,         BLOCK - 1,     BLOCK,           BLOCK + 1,
      2 * BLOCK, 7 * BLOCK, 7 * BLOCK + 1, 25 * BLOCK + 17, 100 * BLOCK + 999};
  static const size_t steps[] = {0, 1, 333, BLOCK, 4 * BLOCK + 7};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
    for (size_t j = 0; j < sizeof steps / sizeof steps[0]; j++)
      if (roundtrip(sizes[i], steps[j], BLOCK))
        return 1;
  /* A block of one byte: every byte its own deflate run. */
  if (roundtrip(5000, 7, 1))
    return 1;
  /* The production block size, several megabytes. */
  return roundtrip(5 * STREAM__GZ_BLOCK + 12345, 64 * 1024, STREAM__GZ_BLOCK);
}

static int use_threads(int n)
{
  stream_gzip_shutdown();
  TS_CHECK_EQ_INT(stream_gzip_threads(n), TS_OK);
  TS_CHECK_EQ_INT(stream__gz_pool_threads(), n);
  TS_CHECK_EQ_INT(stream_gzip_threads(n), TS_EINVAL); /* started: fixed until shutdown */
  return 0;
}

/* The edges with this many pool threads (0: every block compressed by the
 * writer). */
static int edges_with(int threads)
{
  if (use_threads(threads))
    return 1;
  int rc = edges();
  stream_gzip_shutdown();
  return rc;
}

int test_gzpar_threads(void)
{
  return edges_with(2);
}

int test_gzpar_one_thread(void)
{
  return edges_with(1);
}

int test_gzpar_inline(void)
{
  return edges_with(0);
}

/* Many sinks at once on a shared pool, each filling blocks in turn: each
 * gets its own blocks back, in its own order. */
int test_gzpar_interleaved(void)
{
  enum { SINKS = 5, N = 40 * BLOCK + 3 };
  if (use_threads(3))
    return 1;
  unsigned char *in[SINKS];
  collected c[SINKS];
  stream__gz *g[SINKS];
  for (int s = 0; s < SINKS; s++) {
    in[s] = make_input(N, (uint32_t)s * 7919u);
    TS_CHECK(in[s]);
    memset(&c[s], 0, sizeof c[s]);
    ts_buf_init(&c[s].buf, TS_TEST_BUF_MAX);
    c[s].writer = pthread_self();
    g[s] = stream__gz_new(1, BLOCK, collect, &c[s]);
    TS_CHECK(g[s]);
  }
  for (size_t at = 0; at < N; at += 777)
    for (int s = 0; s < SINKS; s++)
      TS_CHECK_EQ_INT(stream__gz_write(g[s], (const char *)in[s] + at, N - at < 777 ? N - at : 777),
                      TS_OK);
  for (int s = 0; s < SINKS; s++) {
    TS_CHECK_EQ_INT(stream__gz_finish(g[s]), TS_OK);
    stream__gz_free(g[s]);
    TS_CHECK(!gunzip_one_member((const unsigned char *)c[s].buf.data, c[s].buf.len, in[s], N));
    ts_buf_free(&c[s].buf);
    free(in[s]);
  }
  stream_gzip_shutdown();
  return 0;
}

static ts_err fail_flush(void *ud, const char *buf, size_t len)
{
  (void)buf;
  (void)len;
  ++*(int *)ud;
  return TS_ECANCELED;
}

/* The consumer fails (client gone): the error sticks, flush is not called
 * again, and freeing the sink with blocks still queued or being
 * compressed waits for them and leaks nothing. */
int test_gzpar_abandon(void)
{
  if (use_threads(2))
    return 1;
  unsigned char *in = make_input(64 * BLOCK, 3);
  TS_CHECK(in);
  int calls = 0;
  stream__gz *g = stream__gz_new(1, BLOCK, fail_flush, &calls);
  TS_CHECK(g);
  ts_err rc = TS_OK;
  for (size_t at = 0; at < 64 * BLOCK && rc == TS_OK; at += BLOCK / 2)
    rc = stream__gz_write(g, (const char *)in + at, BLOCK / 2);
  if (rc == TS_OK)
    rc = stream__gz_finish(g);
  TS_CHECK_EQ_INT(rc, TS_ECANCELED);
  TS_CHECK_EQ_INT(stream__gz_write(g, "x", 1), TS_ECANCELED);
  TS_CHECK_EQ_INT(stream__gz_finish(g), TS_ECANCELED);
  TS_CHECK_EQ_INT(calls, 1);
  stream__gz_free(g);

  /* Dropped mid-stream, never finished: blocks are in flight. */
  collected c;
  memset(&c, 0, sizeof c);
  ts_buf_init(&c.buf, TS_TEST_BUF_MAX);
  c.writer = pthread_self();
  g = stream__gz_new(1, BLOCK, collect, &c);
  TS_CHECK(g);
  TS_CHECK_EQ_INT(stream__gz_write(g, (const char *)in, 64 * BLOCK), TS_OK);
  stream__gz_free(g);
  ts_buf_free(&c.buf);
  free(in);
  stream_gzip_shutdown();
  return 0;
}
