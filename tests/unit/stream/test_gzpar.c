/* The parallel gzip compressor (stream/gzpar.c): whatever the block size,
 * the input size, how the input is cut and how many threads compress, the
 * output is ONE gzip member that zlib's inflate (which stops at the end of
 * the first member) reads to the last byte. */
#include "stream/gz_int.h"
#include "test_list.h"
#include "ts_test.h"

#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <zlib.h>

#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define FOREIGN_MALLOC 1 /* mallinfo2 does not see the sanitizer's heap */
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) ||                         \
    __has_feature(memory_sanitizer)
#define FOREIGN_MALLOC 1
#endif
#endif

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

/* Compresses n bytes written in pieces of `step` (0: all at once) at a
 * zlib level and checks the result. */
static int roundtrip_at(int level, size_t n, size_t step, size_t block)
{
  unsigned char *in = make_input(n, (uint32_t)(n * 31 + step));
  TS_CHECK(in);
  collected c;
  memset(&c, 0, sizeof c);
  ts_buf_init(&c.buf, TS_TEST_BUF_MAX);
  c.writer = pthread_self();
  stream__gz *g = stream__gz_new(level, block, collect, &c);
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
    fprintf(stderr, "# level %d n %zu step %zu block %zu\n", level, n, step, block);
    return 1;
  }
  ts_buf_free(&c.buf);
  free(in);
  return 0;
}

static int roundtrip(size_t n, size_t step, size_t block)
{
  return roundtrip_at(1, n, step, block);
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
  if (roundtrip(5 * STREAM__GZ_BLOCK + 12345, 64 * 1024, STREAM__GZ_BLOCK))
    return 1;
  /* igzip's levels 2 and 3 (zlib's 5 and 9), whose level buffers are
   * larger than level 1's, on the same threads, then level 1 again. */
  return roundtrip_at(5, 3 * STREAM__GZ_BLOCK + 7, 100000, STREAM__GZ_BLOCK) ||
         roundtrip_at(9, 3 * STREAM__GZ_BLOCK + 7, 100000, STREAM__GZ_BLOCK) ||
         roundtrip_at(1, 3 * STREAM__GZ_BLOCK + 7, 100000, STREAM__GZ_BLOCK);
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
  unsigned char *in = make_input(65 * BLOCK, 3);
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

  /* Dropped mid-stream, never finished: blocks are in flight (a sink
   * keeps threads + 2 of them) and half of one is being filled, so at
   * most the 64 whole blocks went out.
   * What went out is a gzip member's start, from the writer's thread
   * only, and nothing goes out once the sink is freed, not even from a
   * pool thread that was compressing one of its blocks. */
  collected c;
  memset(&c, 0, sizeof c);
  ts_buf_init(&c.buf, TS_TEST_BUF_MAX);
  c.writer = pthread_self();
  g = stream__gz_new(1, BLOCK, collect, &c);
  TS_CHECK(g);
  TS_CHECK_EQ_INT(stream__gz_write(g, (const char *)in, 64 * BLOCK + BLOCK / 2), TS_OK);
  int before = c.calls;
  size_t bytes = c.buf.len;
  TS_CHECK(before >= 1 && before <= 64);
  stream__gz_free(g);
  stream_gzip_shutdown(); /* joins the threads: anything they did is done */
  TS_CHECK_EQ_INT(c.calls, before);
  TS_CHECK_EQ_INT(c.buf.len, bytes);
  TS_CHECK_EQ_INT(c.other_thread, 0);
  /* The start of one member: inflates without error to a prefix of the
   * input, the blocks handed out whole. */
  unsigned char *back = malloc(65 * BLOCK);
  TS_CHECK(back);
  z_stream zs;
  memset(&zs, 0, sizeof zs);
  TS_CHECK(inflateInit2(&zs, 15 + 16) == Z_OK);
  zs.next_in = (Bytef *)c.buf.data;
  zs.avail_in = (uInt)c.buf.len;
  zs.next_out = back;
  zs.avail_out = 65 * BLOCK;
  int zrc = inflate(&zs, Z_SYNC_FLUSH);
  size_t got = zs.total_out;
  inflateEnd(&zs);
  TS_CHECK_EQ_INT(zrc, Z_OK);
  TS_CHECK(got > 0 && got % BLOCK == 0 && got <= 64 * BLOCK);
  TS_CHECK(memcmp(back, in, got) == 0);
  free(back);
  ts_buf_free(&c.buf);
  free(in);
  return 0;
}

static ts_err count_bytes(void *ud, const char *buf, size_t len)
{
  (void)buf;
  *(size_t *)ud += len;
  return TS_OK;
}

static size_t heap_in_use(void)
{
  struct mallinfo2 m = mallinfo2();
  return m.uordblks + m.hblkhd;
}

/* A small gzip response (a /sync answer) holds memory for what it
 * writes, not for a whole block, and no compressor state of its own:
 * 200 of them at once, through the production sink, hold a few KiB each
 * (they held about 1 MiB each when every sink had full-size blocks, its
 * own igzip state and zstd's output buffer). */
int test_gzpar_small_memory(void)
{
  enum { SINKS = 200, LEN = 2000, PER_SINK_MAX = 24 * 1024 };
  if (use_threads(2))
    return 1;
  unsigned char *in = make_input(LEN, 11);
  TS_CHECK(in);
  size_t out = 0;
  /* The first sink makes what stays: the pool, the caller's scratch. */
  stream_zsink *z = stream_zsink_new(STREAM_Z_GZIP, 1, count_bytes, &out);
  TS_CHECK(z);
  TS_CHECK_EQ_INT(stream_zsink_write(z, (const char *)in, LEN), TS_OK);
  TS_CHECK_EQ_INT(stream_zsink_finish(z), TS_OK);
  stream_zsink_free(z);
  stream_zsink **zs = calloc(SINKS, sizeof *zs);
  TS_CHECK(zs);
  size_t before = heap_in_use();
  for (int i = 0; i < SINKS; i++) {
    zs[i] = stream_zsink_new(STREAM_Z_GZIP, 1, count_bytes, &out);
    TS_CHECK(zs[i]);
    TS_CHECK_EQ_INT(stream_zsink_write(zs[i], (const char *)in, LEN / 2), TS_OK);
    TS_CHECK_EQ_INT(stream_zsink_write(zs[i], (const char *)in + LEN / 2, LEN - LEN / 2), TS_OK);
    TS_CHECK_EQ_INT(stream_zsink_finish(zs[i]), TS_OK);
  }
  size_t held = heap_in_use() - before;
  fprintf(stderr, "# %d gzip responses of %d bytes hold %zu bytes each\n", SINKS, LEN,
          held / SINKS);
#ifndef FOREIGN_MALLOC
  TS_CHECK(held / SINKS <= PER_SINK_MAX);
#endif
  for (int i = 0; i < SINKS; i++)
    stream_zsink_free(zs[i]);
  free(zs);
  free(in);
  stream_gzip_shutdown();
  return 0;
}
