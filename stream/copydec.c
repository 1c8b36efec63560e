/* COPY ... TO STDOUT (FORMAT binary) decoder (see stream.h).
 *
 * The stream is a sequence of units: the header, tuples, the trailer. A
 * unit that lies wholly in the caller's input is decoded in place (values
 * point into the input); a unit split across inputs is assembled in
 * `carry`. A carried tuple's buffer then belongs to the pending batch
 * (`retained`) and is freed when the next batch starts, so values of every
 * row stay valid until the batch has been handed over. */
#include "stream/stream.h"

#include <stdint.h>
#include <stdlib.h>

const uint8_t stream_copy_header[STREAM_COPY_HEADER_MIN] = {'P',  'G',  'C',  'O',  'P', 'Y',
                                                            '\n', 0xFF, '\r', '\n', 0};
const uint8_t stream_copy_trailer[2] = {0xFF, 0xFF};

enum {
  COPYDEC_HEADER,
  COPYDEC_TUPLES,
  COPYDEC_DONE,
  COPY_SIGNATURE_LEN = 11,
  COPY_FLAG_OIDS = 1 << 16,
  COPY_MAX_HEADER_EXT = 1 << 20
};

struct stream_copydec {
  size_t ncols, batch_rows;
  int state;
  int failed;
  int taken;       /* the pending batch was handed out: the next add starts anew */
  uint64_t offset; /* stream bytes consumed, for messages */
  stream_value *vals;
  size_t nrows;
  uint8_t *carry;
  size_t carry_len, carry_cap;
  uint8_t **retained;
  size_t nretained, retained_cap;
  uint8_t *widths; /* stream_copydec_expect: bytes of each fixed-width field, 0 any */
};

typedef enum { UNIT_HEADER, UNIT_TUPLE, UNIT_TRAILER } unit_kind;

stream_copydec *stream_copydec_new(size_t ncols, size_t batch_rows)
{
  if (batch_rows == 0)
    batch_rows = 1000;
  if (ncols > 1600 || batch_rows > SIZE_MAX / sizeof(stream_value) / (ncols + 1))
    return NULL; /* 1600: PostgreSQL's MaxTupleAttributeNumber */
  stream_copydec *d = calloc(1, sizeof *d);
  if (!d)
    return NULL;
  d->ncols = ncols;
  d->batch_rows = batch_rows;
  d->vals = malloc(sizeof(stream_value) * (batch_rows * ncols + 1));
  if (!d->vals) {
    free(d);
    return NULL;
  }
  return d;
}

static void copydec_release_retained(stream_copydec *d)
{
  for (size_t i = 0; i < d->nretained; i++)
    free(d->retained[i]);
  d->nretained = 0;
}

void stream_copydec_free(stream_copydec *d)
{
  if (!d)
    return;
  copydec_release_retained(d);
  free(d->retained);
  free(d->carry);
  free(d->vals);
  free(d->widths);
  free(d);
}

ts_err stream_copydec_expect(stream_copydec *d, const stream_schema *s)
{
  if (s->ncols != d->ncols)
    return TS_EINVAL;
  free(d->widths);
  d->widths = calloc(d->ncols + 1, 1);
  if (!d->widths)
    return TS_ENOMEM;
  for (size_t i = 0; i < d->ncols; i++)
    d->widths[i] = s->cols[i].is_array ? 0 : (uint8_t)stream_kind_len(s->cols[i].kind);
  return TS_OK;
}

void stream_copydec_reset(stream_copydec *d)
{
  copydec_release_retained(d);
  d->state = COPYDEC_HEADER;
  d->failed = 0;
  d->taken = 0;
  d->offset = 0;
  d->nrows = 0;
  d->carry_len = 0;
}

int stream_copydec_done(const stream_copydec *d)
{
  return d->state == COPYDEC_DONE;
}

size_t stream_copydec_pending(const stream_copydec *d)
{
  return d->taken ? 0 : d->nrows;
}

void stream_copydec_take(stream_copydec *d, stream_batch *b)
{
  b->ncols = d->ncols;
  b->nrows = d->taken ? 0 : d->nrows;
  b->vals = d->vals;
  d->taken = 1;
}

ts_err stream_copydec_finish(const stream_copydec *d, ts_error *err)
{
  if (d->failed)
    return ts_fail(err, TS_EINVAL, 0, "COPY data is malformed");
  if (d->state == COPYDEC_DONE)
    return TS_OK;
  if (d->carry_len)
    return ts_fail(err, TS_EINVAL, 0, "COPY data ends inside a %s at byte %llu",
                   d->state == COPYDEC_HEADER ? "header" : "tuple",
                   (unsigned long long)(d->offset - d->carry_len));
  return ts_fail(err, TS_EINVAL, 0, "COPY data ends without its trailer at byte %llu",
                 (unsigned long long)d->offset);
}

ts_err stream_copy_header_check(const uint8_t *p, size_t n, size_t *size, ts_error *err)
{
  size_t k = n < COPY_SIGNATURE_LEN ? n : COPY_SIGNATURE_LEN;
  if (memcmp(p, stream_copy_header, k) != 0)
    return ts_fail(err, TS_EINVAL, 0, "COPY data does not start with the PGCOPY signature");
  if (n < STREAM_COPY_HEADER_MIN) {
    *size = STREAM_COPY_HEADER_MIN;
    return TS_EAGAIN;
  }
  uint32_t flags = stream_be32(p + 11);
  int32_t ext = (int32_t)stream_be32(p + 15);
  if (flags & COPY_FLAG_OIDS)
    return ts_fail(err, TS_EINVAL, 0, "COPY data with OIDs is not supported");
  if (flags & 0xFFFFu)
    return ts_fail(err, TS_EINVAL, 0, "COPY header has unknown critical flags 0x%04x",
                   (unsigned)(flags & 0xFFFFu));
  if (ext < 0 || ext > COPY_MAX_HEADER_EXT)
    return ts_fail(err, TS_EINVAL, 0, "COPY header extension length %d is invalid", (int)ext);
  *size = STREAM_COPY_HEADER_MIN + (size_t)ext;
  return *size <= n ? TS_OK : TS_EAGAIN;
}

/* Measures the unit at [p, p+n). TS_OK: it is complete and *size bytes
 * long (tuple values written into `row`). TS_EAGAIN: at least *size bytes
 * are needed (*size > n). TS_EINVAL: malformed. `at` is the unit's stream
 * offset, for messages. */
static ts_err copydec_measure(const stream_copydec *d, const uint8_t *p, size_t n, size_t *size,
                              unit_kind *kind, stream_value *row, uint64_t at, ts_error *err)
{
  if (d->state == COPYDEC_HEADER) {
    *kind = UNIT_HEADER;
    return stream_copy_header_check(p, n, size, err);
  }
  if (n < 2) {
    *size = 2;
    return TS_EAGAIN;
  }
  int16_t nf = (int16_t)stream_be16(p);
  if (nf == -1) {
    *kind = UNIT_TRAILER;
    *size = 2;
    return TS_OK;
  }
  *kind = UNIT_TUPLE;
  if (nf < 0 || (size_t)nf != d->ncols)
    return ts_fail(err, TS_EINVAL, 0, "COPY tuple at byte %llu has %d fields, expected %zu",
                   (unsigned long long)at, (int)nf, d->ncols);
  size_t pos = 2;
  for (size_t i = 0; i < d->ncols; i++) {
    if (n - pos < 4) {
      *size = pos + 4;
      return TS_EAGAIN;
    }
    int32_t len = (int32_t)stream_be32(p + pos);
    pos += 4;
    if (len < -1)
      return ts_fail(err, TS_EINVAL, 0, "COPY field %zu at byte %llu has length %d", i + 1,
                     (unsigned long long)(at + pos - 4), (int)len);
    if (d->widths && d->widths[i] && len >= 0 && len != d->widths[i])
      return ts_fail(err, TS_EINVAL, 0,
                     "COPY field %zu at byte %llu has %d bytes where its type has %d "
                     "(did the column's type change?)",
                     i + 1, (unsigned long long)(at + pos - 4), (int)len, (int)d->widths[i]);
    row[i].p = p + pos;
    row[i].len = len;
    if (len > 0) {
      if (n - pos < (size_t)len) {
        *size = pos + (size_t)len;
        return TS_EAGAIN;
      }
      pos += (size_t)len;
    }
  }
  *size = pos;
  return TS_OK;
}

static ts_err copydec_carry(stream_copydec *d, const uint8_t *p, size_t n)
{
  if (d->carry_cap - d->carry_len < n) {
    size_t cap = d->carry_cap ? d->carry_cap : 256;
    while (cap - d->carry_len < n) {
      if (cap > SIZE_MAX / 2)
        return TS_ENOMEM;
      cap *= 2;
    }
    uint8_t *c = realloc(d->carry, cap);
    if (!c)
      return TS_ENOMEM;
    d->carry = c;
    d->carry_cap = cap;
  }
  memcpy(d->carry + d->carry_len, p, n);
  d->carry_len += n;
  return TS_OK;
}

/* A tuple completed in `carry`: its row points into it, so the buffer goes
 * to the pending batch and a fresh one starts. */
static ts_err copydec_retain_carry(stream_copydec *d)
{
  if (d->nretained == d->retained_cap) {
    size_t cap = d->retained_cap ? d->retained_cap * 2 : 4;
    uint8_t **r = realloc(d->retained, cap * sizeof *r);
    if (!r)
      return TS_ENOMEM;
    d->retained = r;
    d->retained_cap = cap;
  }
  d->retained[d->nretained++] = d->carry;
  d->carry = NULL;
  d->carry_len = d->carry_cap = 0;
  return TS_OK;
}

static ts_err copydec_apply(stream_copydec *d, unit_kind kind)
{
  if (kind == UNIT_HEADER)
    d->state = COPYDEC_TUPLES;
  else if (kind == UNIT_TRAILER)
    d->state = COPYDEC_DONE;
  else
    d->nrows++;
  return TS_OK;
}

static ts_err copydec_fail(stream_copydec *d, ts_err rc, ts_error *err)
{
  d->failed = 1;
  if (rc == TS_ENOMEM)
    ts_fail(err, TS_ENOMEM, 0, "out of memory decoding COPY data");
  return rc;
}

ts_err stream_copydec_add(stream_copydec *d, const uint8_t *buf, size_t len, size_t *consumed,
                          ts_error *err)
{
  size_t used = 0;
  ts_err rc = TS_OK;
  *consumed = 0;
  if (d->failed)
    return ts_fail(err, TS_EINVAL, 0, "COPY data is malformed");
  if (d->taken) {
    d->taken = 0;
    d->nrows = 0;
    copydec_release_retained(d);
  }
  while (d->nrows < d->batch_rows) {
    stream_value *row = d->vals + d->nrows * d->ncols;
    unit_kind kind = UNIT_TUPLE;
    size_t size = 0;
    if (d->state == COPYDEC_DONE) {
      if (used < len || d->carry_len) {
        ts_fail(err, TS_EINVAL, 0, "COPY data continues after its trailer at byte %llu",
                (unsigned long long)d->offset);
        return copydec_fail(d, TS_EINVAL, err);
      }
      break;
    }
    if (d->carry_len) {
      rc = copydec_measure(d, d->carry, d->carry_len, &size, &kind, row, d->offset - d->carry_len,
                           err);
      if (rc == TS_EAGAIN) {
        size_t want = size - d->carry_len, avail = len - used;
        if (avail == 0)
          break;
        size_t k = want < avail ? want : avail;
        rc = copydec_carry(d, buf + used, k);
        if (rc)
          return copydec_fail(d, rc, err);
        used += k;
        d->offset += k;
        continue; /* re-measure: the unit may reveal more of its size */
      }
      if (rc)
        return copydec_fail(d, rc, err);
      if (kind == UNIT_TUPLE) {
        rc = copydec_retain_carry(d);
        if (rc)
          return copydec_fail(d, rc, err);
      } else {
        d->carry_len = 0;
      }
      copydec_apply(d, kind);
      continue;
    }
    if (used == len)
      break;
    rc = copydec_measure(d, buf + used, len - used, &size, &kind, row, d->offset, err);
    if (rc == TS_EAGAIN) {
      /* The unit continues in a later input: assemble it in carry. */
      rc = copydec_carry(d, buf + used, len - used);
      if (rc)
        return copydec_fail(d, rc, err);
      d->offset += len - used;
      used = len;
      break;
    }
    if (rc)
      return copydec_fail(d, rc, err);
    used += size;
    d->offset += size;
    copydec_apply(d, kind);
  }
  *consumed = used;
  return TS_OK;
}

ts_err stream_copydec_feed(stream_copydec *d, const uint8_t *buf, size_t len, size_t *consumed,
                           stream_batch *b, ts_error *err)
{
  if (!d->failed)
    d->taken = 1; /* every feed starts a new batch */
  ts_err rc = stream_copydec_add(d, buf, len, consumed, err);
  if (rc) {
    b->nrows = 0;
    b->ncols = d->ncols;
    b->vals = d->vals;
    return rc;
  }
  stream_copydec_take(d, b);
  return TS_OK;
}
