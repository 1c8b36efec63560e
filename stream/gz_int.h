/* stream/gz_int.h: the parallel gzip compressor (gzpar.c) behind the gzip
 * zsink (compress.c); for stream/'s own sources and unit tests only.
 * Prefix stream__gz. */
#ifndef TS_STREAM_GZ_INT_H
#define TS_STREAM_GZ_INT_H

#include "stream/stream.h"

/* Input bytes per block: a block is compressed as a unit, by a pool thread
 * or by the caller. */
enum { STREAM__GZ_BLOCK = 256 * 1024 };

typedef struct stream__gz stream__gz;

/* A gzip compressor writing one gzip member to `flush` (always called on
 * the caller's thread, from write, finish or not at all). level: zlib's
 * scale 1..9 (1 the fastest). block: input bytes per block (>= 1);
 * STREAM__GZ_BLOCK in production, small ones in tests. NULL when out of
 * memory. */
stream__gz *stream__gz_new(int level, size_t block, stream_flush_fn flush, void *ud);
/* Copies the bytes into the current block; full blocks go to the pool (or
 * are compressed here when it has no threads), finished ones are handed to
 * flush in order. Waits, or compresses a queued block itself, when the
 * sink's blocks in flight reach their bound (on the caller's thread, the
 * event loop's). Errors are sticky; writing nothing returns the sticky
 * error, even after finish. */
ts_err stream__gz_write(stream__gz *g, const char *buf, size_t len);
/* Compresses what is left, waits for the blocks in flight and hands out
 * everything up to the gzip trailer. After it, writes fail. */
ts_err stream__gz_finish(stream__gz *g);
/* NULL-safe; waits for this sink's blocks a pool thread is compressing
 * and drops the queued ones. */
void stream__gz_free(stream__gz *g);

/* Starts the pool if it has not started (as the first sink does) and
 * returns how many threads it has; for stream__gz_new and the tests. */
int stream__gz_pool_threads(void);

#endif
