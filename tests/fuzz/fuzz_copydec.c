/* libFuzzer target for the COPY BINARY decoder. The first two bytes choose
 * the column count, batch size and piece size; the rest is the stream. It
 * is decoded twice, whole and in pieces (each piece in its own heap copy
 * freed as soon as allowed, so ASan sees stale references), and both runs
 * must agree on the outcome and on every value. Every value also goes
 * through the array and numeric helpers. */
#include "stream/stream.h"

#include <stdint.h>
#include <stdlib.h>

static uint64_t mix(uint64_t h, const stream_batch *b)
{
  for (size_t r = 0; r < b->nrows; r++) {
    const stream_value *row = stream_batch_row(b, r);
    for (size_t c = 0; c < b->ncols; c++) {
      const stream_value *v = &row[c];
      h = h * 1099511628211ULL ^ (uint64_t)(uint32_t)v->len;
      for (int32_t i = 0; i < v->len; i++)
        h = h * 1099511628211ULL ^ v->p[i];
      if (v->len >= 0) {
        stream_array_iter it;
        stream_value e;
        if (stream_array_begin(&it, v) == TS_OK)
          while (stream_array_next(&it, &e))
            h ^= (uint64_t)(uint32_t)e.len;
        volatile double d = stream_numeric_to_double(v->p, v->len);
        (void)d;
      }
    }
  }
  return h;
}

static ts_err run(const uint8_t *data, size_t size, size_t ncols, size_t batch, size_t piece,
                  uint64_t *hash)
{
  stream_copydec *d = stream_copydec_new(ncols, batch);
  ts_error err;
  ts_err rc = TS_OK;
  if (!d)
    return TS_ENOMEM;
  for (size_t start = 0; start < size && !rc; start += piece) {
    size_t len = size - start < piece ? size - start : piece, off = 0;
    uint8_t *copy = malloc(len);
    memcpy(copy, data + start, len);
    while (!rc && off < len) {
      stream_batch b;
      size_t used = 0;
      rc = stream_copydec_feed(d, copy + off, len - off, &used, &b, &err);
      if (!rc) {
        *hash = mix(*hash, &b);
        if (used == 0 && b.nrows == 0)
          abort(); /* no progress: would loop forever */
      }
      off += used;
    }
    free(copy);
  }
  if (!rc)
    rc = stream_copydec_finish(d, &err);
  stream_copydec_free(d);
  return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  if (size < 2)
    return 0;
  size_t ncols = data[0] & 7, batch = 1 + (data[0] >> 3 & 3);
  size_t piece = 1 + data[1];
  data += 2;
  size -= 2;
  uint64_t h1 = 14695981039346656037ULL, h2 = h1;
  ts_err a = run(data, size, ncols, batch, size ? size : 1, &h1);
  ts_err b = run(data, size, ncols, batch, piece, &h2);
  /* Malformed input may be noticed at different places, but the outcome
   * and the rows before it cannot differ for well-formed input. */
  if ((a == TS_OK) != (b == TS_OK) || (a == TS_OK && h1 != h2))
    abort();
  return 0;
}
