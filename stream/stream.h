/* stream/stream.h: the row pipeline.
 *
 *   PostgreSQL COPY (FORMAT binary) --> copy decoder --> stream_batch
 *   --> encoder (formats/) --> stream_out --> sink (HTTP chunks, file, ...)
 *
 * Values are never copied out of the buffers they arrive in: a batch holds
 * pointers into libpq's row buffers (or into a decoder's input), in
 * PostgreSQL's binary send format (network byte order). The accessors below
 * turn them into C values. */
#ifndef TS_STREAM_H
#define TS_STREAM_H

#include "common/common.h"

#include <stdint.h>
#include <string.h>

/* ---- column model ---------------------------------------------------------
 * The base kind of a column, derived from its PostgreSQL type; is_array is
 * set for PostgreSQL arrays (one dimension is what VOTable can show; more
 * are flattened in row-major order). */
typedef enum stream_kind {
  STREAM_BOOL,
  STREAM_INT2,
  STREAM_INT4,
  STREAM_INT8,
  STREAM_FLOAT4,
  STREAM_FLOAT8,
  STREAM_NUMERIC,     /* shown as double */
  STREAM_TEXT,        /* text, varchar, bpchar, name (UTF-8) */
  STREAM_TIMESTAMP,   /* int64 microseconds since 2000-01-01, no zone */
  STREAM_TIMESTAMPTZ, /* same, UTC */
  STREAM_DATE,        /* int32 days since 2000-01-01 */
  STREAM_UNSUPPORTED  /* any other type: the query is refused */
} stream_kind;

typedef struct stream_column {
  /* From PostgreSQL (describe). */
  const char *name; /* output name */
  uint32_t type_oid;
  int32_t typmod;
  stream_kind kind;
  int is_array;
  /* VOTable/TAP metadata. datatype and arraysize are always set by
   * stream_column_set_type(); the rest may be NULL. arraysize: NULL for a
   * scalar, "*" for variable, "N" or "N*" per VOTable. */
  const char *datatype; /* boolean short int long float double char unicodeChar */
  const char *arraysize;
  const char *xtype; /* "timestamp", "point", ... */
  const char *unit;
  const char *ucd;
  const char *utype;
  const char *description;
  const char *id; /* optional XML ID */
} stream_column;

typedef struct stream_schema {
  size_t ncols;
  stream_column *cols;
} stream_schema;

/* Sets kind, is_array, datatype, arraysize and xtype of `c` from a
 * PostgreSQL type OID and typmod (as PQftype/PQfmod give them). Returns
 * TS_EINVAL (kind STREAM_UNSUPPORTED) for a type the pipeline cannot
 * carry. The strings set are static. */
ts_err stream_column_set_type(stream_column *c, uint32_t type_oid, int32_t typmod);
/* The binary length of a value of a fixed-size kind (bool 1, int2 2, int4,
 * float4 and date 4, int8, float8 and timestamps 8); 0 for variable-size
 * kinds (text, numeric). */
int32_t stream_kind_len(stream_kind k);

/* ---- values and batches ------------------------------------------------ */
typedef struct stream_value {
  const uint8_t *p; /* binary send format, network byte order */
  int32_t len;      /* -1: NULL */
} stream_value;

typedef struct stream_batch {
  size_t nrows;
  size_t ncols;
  const stream_value *vals; /* nrows * ncols, row-major */
} stream_batch;

static inline const stream_value *stream_batch_row(const stream_batch *b, size_t r)
{
  return b->vals + r * b->ncols;
}

static inline uint16_t stream_be16(const uint8_t *p)
{
  return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t stream_be32(const uint8_t *p)
{
  return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t stream_be64(const uint8_t *p)
{
  return (uint64_t)stream_be32(p) << 32 | stream_be32(p + 4);
}
static inline int stream_get_bool(const stream_value *v)
{
  return v->p[0] != 0;
}
static inline int16_t stream_get_int2(const stream_value *v)
{
  return (int16_t)stream_be16(v->p);
}
static inline int32_t stream_get_int4(const stream_value *v)
{
  return (int32_t)stream_be32(v->p);
}
static inline int64_t stream_get_int8(const stream_value *v)
{
  return (int64_t)stream_be64(v->p);
}
static inline float stream_get_float4(const stream_value *v)
{
  uint32_t u = stream_be32(v->p);
  float f;
  memcpy(&f, &u, 4);
  return f;
}
static inline double stream_get_float8(const stream_value *v)
{
  uint64_t u = stream_be64(v->p);
  double d;
  memcpy(&d, &u, 8);
  return d;
}
/* numeric binary -> double (NaN for NaN; ±Inf for the PG 14+ infinities). */
double stream_numeric_to_double(const uint8_t *p, int32_t len);
/* timestamp/timestamptz -> "YYYY-MM-DDTHH:MM:SS[.ffffff]" (no zone suffix;
 * DALI timestamps are UTC); "infinity"/"-infinity" for those. Returns the
 * length written (< 40). */
size_t stream_format_timestamp(char out[40], int64_t pg_usec);
/* date -> "YYYY-MM-DD". Returns the length written. */
size_t stream_format_date(char out[40], int32_t pg_days);

/* The PostgreSQL name of a type OID ("polygon") for messages; NULL when
 * not one of the built-in types it knows. */
const char *stream_pg_type_name(uint32_t oid);

/* Iterates over the elements of a PostgreSQL binary array value. */
typedef struct stream_array_iter {
  const uint8_t *p, *end;
  uint32_t elem_oid;
  int64_t count; /* total elements (product of dimensions) */
  int64_t index;
} stream_array_iter;
/* TS_EINVAL when the value is not a well-formed array. */
ts_err stream_array_begin(stream_array_iter *it, const stream_value *v);
/* Fills *elem with the next element (len -1 for NULL); 0 at the end. */
int stream_array_next(stream_array_iter *it, stream_value *elem);

/* Appends an array value as one string in PostgreSQL's array literal form,
 * flattened to one dimension: {1,2,NULL}, {a,"b c"}, {"2020-01-01T00:00:00"}.
 * This is how columns of string, timestamp and date arrays (datatype
 * "char", arraysize "*") are shown; `kind` is the column's element kind.
 * TS_EINVAL for a malformed value; TS_ENOMEM/TS_ELIMIT from the buffer. */
ts_err stream_format_array_literal(ts_buf *out, stream_kind kind, const stream_value *v);

/* ---- COPY BINARY framing ------------------------------------------------
 * The fixed parts of COPY ... (FORMAT binary): the canonical 19-byte header
 * (signature, no flags, no extension) and the trailer (field count -1).
 * Result files are written with these around PostgreSQL's tuples. */
enum { STREAM_COPY_HEADER_MIN = 19 };
extern const uint8_t stream_copy_header[STREAM_COPY_HEADER_MIN];
extern const uint8_t stream_copy_trailer[2];
/* Checks the header at the start of [p, p+n), the one check for every COPY
 * reader: TS_OK when it is complete and valid, *size = its length with the
 * extension area; TS_EAGAIN when at least *size bytes are needed (*size >
 * n); TS_EINVAL (message in err) for a wrong signature, OIDs, unknown
 * critical flags or an invalid extension length. */
ts_err stream_copy_header_check(const uint8_t *p, size_t n, size_t *size, ts_error *err);

/* The MAXREC rule, in one place: of `n` rows arriving after `delivered`
 * rows were delivered, how many to deliver when at most `maxrec` may be
 * (maxrec < 0: no limit). Sets *overflow to 1 when row maxrec+1 is among
 * the arrivals (it is not delivered: the query asks for maxrec+1 rows only
 * to learn that there are more); leaves *overflow alone otherwise. */
static inline size_t stream_maxrec_take(int64_t maxrec, uint64_t delivered, size_t n, int *overflow)
{
  if (maxrec < 0 || n == 0)
    return n;
  uint64_t room = delivered < (uint64_t)maxrec ? (uint64_t)maxrec - delivered : 0;
  if (n > room) {
    *overflow = 1;
    return (size_t)room;
  }
  return n;
}

/* ---- COPY BINARY decoder ------------------------------------------------
 * Decodes the byte stream of COPY ... TO STDOUT (FORMAT binary): the
 * 19-byte header (checked), tuples, and the -1 trailer. Input may be split
 * anywhere (libpq messages, zstd output blocks); a tuple split across feeds
 * is carried in the decoder's own buffer, everything else is referenced in
 * place, so values stay valid until the next feed or reset. */
typedef struct stream_copydec stream_copydec;
stream_copydec *stream_copydec_new(size_t ncols, size_t batch_rows);
/* Decodes as many complete tuples of [buf, buf+len) as fit in one batch;
 * *consumed says how much of the input was used (call again with the rest
 * after handling the batch). *b is valid until the next call. Returns
 * TS_EINVAL (with a message in err) on malformed input. */
ts_err stream_copydec_feed(stream_copydec *d, const uint8_t *buf, size_t len, size_t *consumed,
                           stream_batch *b, ts_error *err);
/* 1 once the trailer has been seen. */
int stream_copydec_done(const stream_copydec *d);
void stream_copydec_free(stream_copydec *d);
/* From now on a field of a fixed-width type in s (bool, int2/4/8, float4/8,
 * date, timestamps; scalars) must have exactly that type's binary width,
 * else the data is malformed: values are never read past their field, and
 * a column whose type changed since it was described is noticed.
 * TS_EINVAL when s has another number of columns, TS_ENOMEM. */
ts_err stream_copydec_expect(stream_copydec *d, const stream_schema *s);

/* Accumulating use (the PostgreSQL source feeds one CopyData message at a
 * time, usually one tuple each): stream_copydec_add decodes complete tuples
 * of the input into the pending batch until it holds batch_rows rows
 * (*consumed < len then); values point into the inputs given since the
 * batch began (the caller keeps them alive until it takes the batch) or
 * into buffers the decoder keeps for tuples split across inputs.
 * stream_copydec_take hands the pending batch out (valid until the next
 * add/feed/reset); the next add starts a new one. TS_EINVAL on malformed
 * input, TS_ENOMEM; both are sticky. */
ts_err stream_copydec_add(stream_copydec *d, const uint8_t *buf, size_t len, size_t *consumed,
                          ts_error *err);
size_t stream_copydec_pending(const stream_copydec *d);
void stream_copydec_take(stream_copydec *d, stream_batch *b);
/* At the end of the input: TS_OK when the trailer was seen, else TS_EINVAL
 * (stream cut inside a tuple, or no trailer) with a message. */
ts_err stream_copydec_finish(const stream_copydec *d, ts_error *err);
/* Back to the start (expects a header again); pending rows are dropped. */
void stream_copydec_reset(stream_copydec *d);

/* ---- buffered output --------------------------------------------------
 * Encoders write into a stream_out: a fixed buffer that is handed to the
 * flush callback when full and at flush points. Errors are sticky: after a
 * failed flush every put is a no-op and stream_out_flush returns the
 * error. */
typedef ts_err (*stream_flush_fn)(void *ud, const char *buf, size_t len);

typedef struct stream_out {
  char *buf;
  size_t len, cap;
  stream_flush_fn flush;
  void *ud;
  ts_err err;
  uint64_t total; /* bytes handed to flush so far */
} stream_out;

ts_err stream_out_init(stream_out *o, size_t cap, stream_flush_fn flush, void *ud);
void stream_out_free(stream_out *o);
/* Hands buffered bytes to the flush callback. */
ts_err stream_out_flush(stream_out *o);
ts_err stream_out__slow_put(stream_out *o, const void *p, size_t n);

static inline ts_err stream_out_put(stream_out *o, const void *p, size_t n)
{
  if (o->cap - o->len >= n && !o->err) {
    memcpy(o->buf + o->len, p, n);
    o->len += n;
    return TS_OK;
  }
  return stream_out__slow_put(o, p, n);
}
static inline ts_err stream_out_puts(stream_out *o, const char *s)
{
  return stream_out_put(o, s, strlen(s));
}
/* Makes room for n contiguous bytes (n <= cap) and returns where to write
 * them; commit with stream_out_commit(o, written). NULL on error. */
char *stream_out_reserve(stream_out *o, size_t n);
static inline void stream_out_commit(stream_out *o, size_t n)
{
  o->len += n;
}
ts_err stream_out_printf(stream_out *o, const char *fmt, ...) TS_PRINTF(2, 3);
/* XML-escaped text (see ts_buf_xml). */
ts_err stream_out_xml(stream_out *o, const char *s, size_t n);

/* ---- COPY BINARY encoder (copyenc.c) -----------------------------------
 * The mirror of the decoder: writes COPY ... FROM STDIN (FORMAT binary)
 * into a stream_out (header at init, trailer at finish). A row is
 * stream_copyenc_row() followed by exactly ncols fields; an array field is
 * array_begin(element type OID), its elements through the same put
 * functions (each must match the element type; NULL and raw fit any), then
 * array_end; arrays are one-dimensional with lower bound 1. Values are
 * given as C values and written in PostgreSQL's binary send format; _raw
 * writes bytes already in that format. TS_EINVAL for a misuse (a field
 * too many or too few, a wrong element type, NUL in text), TS_ELIMIT for
 * a value over PostgreSQL's limits, and the stream_out's own errors. */
typedef struct stream_copyenc {
  stream_out *out;
  uint16_t ncols;
  uint16_t field; /* fields written in the current row */
  uint64_t rows;
  int in_array;
  int arr_nulls;
  uint32_t elem_oid;
  uint64_t arr_count;
  ts_buf arr; /* the open array's elements */
} stream_copyenc;

ts_err stream_copyenc_init(stream_copyenc *e, stream_out *out, size_t ncols);
ts_err stream_copyenc_row(stream_copyenc *e);
ts_err stream_copyenc_null(stream_copyenc *e);
ts_err stream_copyenc_raw(stream_copyenc *e, const void *p, size_t len);
ts_err stream_copyenc_bool(stream_copyenc *e, int v);
ts_err stream_copyenc_int2(stream_copyenc *e, int16_t v);
ts_err stream_copyenc_int4(stream_copyenc *e, int32_t v);
ts_err stream_copyenc_int8(stream_copyenc *e, int64_t v);
ts_err stream_copyenc_float4(stream_copyenc *e, float v);
ts_err stream_copyenc_float8(stream_copyenc *e, double v);
ts_err stream_copyenc_text(stream_copyenc *e, const char *p, size_t len);
/* usec since 2000-01-01 00:00:00 (timestamp, or timestamptz in UTC). */
ts_err stream_copyenc_timestamp(stream_copyenc *e, int64_t usec, int with_zone);
/* days since 2000-01-01. */
ts_err stream_copyenc_date(stream_copyenc *e, int32_t days);
ts_err stream_copyenc_array_begin(stream_copyenc *e, uint32_t elem_oid);
ts_err stream_copyenc_array_end(stream_copyenc *e);
/* Trailer, then stream_out_flush. TS_EINVAL when a row is incomplete. */
ts_err stream_copyenc_finish(stream_copyenc *e);
void stream_copyenc_free(stream_copyenc *e);

/* ---- compressing sinks (compress.c, gzpar.c) ------------------------------
 * Bytes written are compressed and the compressed bytes handed to `flush`,
 * always on the caller's thread (zstd: whenever its 64 KiB output buffer
 * fills; gzip: as each 256 KiB block is compressed, by the gzip threads or
 * by the caller) and at finish. gzip output is one gzip member, whatever
 * the threads. Errors are sticky. */
typedef enum stream_zkind { STREAM_Z_NONE = 0, STREAM_Z_GZIP = 1, STREAM_Z_ZSTD = 2 } stream_zkind;
typedef struct stream_zsink stream_zsink;
/* level: zlib 1..9, zstd 1..19. NULL when out of memory. */
stream_zsink *stream_zsink_new(stream_zkind kind, int level, stream_flush_fn flush, void *ud);
ts_err stream_zsink_write(stream_zsink *z, const char *buf, size_t len);
/* Ends the stream (gzip trailer, zstd frame end) and flushes everything. */
ts_err stream_zsink_finish(stream_zsink *z);
/* A stream_flush_fn (ud = the zsink): lets a stream_out write into it. */
ts_err stream_zsink_flush_fn(void *z, const char *buf, size_t len);
void stream_zsink_free(stream_zsink *z); /* NULL-safe */
/* "gzip", "zstd"; NULL for STREAM_Z_NONE. */
const char *stream_zkind_name(stream_zkind kind);
/* The coding to use for an Accept-Encoding header value (NULL: none):
 * zstd when accepted (q > 0) at least as much as gzip, else gzip, else
 * none. */
stream_zkind stream_zkind_accept(const char *accept_encoding);
/* Threads the gzip sinks of this process share: n >= 1 of them, 0 for
 * none (each sink compresses on its caller's thread), -1 (the default)
 * one per CPU. The pool starts with the first gzip sink; TS_EINVAL once it
 * has, or for n out of -1..64. */
ts_err stream_gzip_threads(int n);
/* Stops the gzip threads (they finish what is queued). Only when no gzip
 * sink is left; a later sink starts them again. */
void stream_gzip_shutdown(void);

#endif
