/* formats/formats.h: one encoder per output format.
 *
 * An encoder turns a stream_schema and stream_batches into bytes written to
 * a stream_out. The calls are begin, rows (any number of times), end. end
 * takes the trailer: OK, OVERFLOW or ERROR. A VOTable that is already
 * streaming closes with INFO QUERY_STATUS ERROR in the same document; a
 * format that cannot carry an error says so (can_report_error = 0) and the
 * caller then breaks the transfer (no terminating chunk). */
#ifndef TS_FORMATS_H
#define TS_FORMATS_H

#include "stream/stream.h"

typedef enum fmt_status { FMT_OK, FMT_OVERFLOW, FMT_ERROR } fmt_status;

typedef struct fmt_trailer {
  fmt_status status;
  const char *message; /* for FMT_ERROR (and optionally OVERFLOW) */
} fmt_trailer;

/* Document-level information (all optional except where noted). */
typedef struct fmt_info {
  const char *query;        /* the ADQL query, for INFO name="QUERY" */
  const char *request_date; /* ISO 8601, for INFO name="REQUEST_DATE"  */
  const char *service;      /* service name/version, for INFO name="SERVICE" */
  const char *table_name;   /* TABLE name; default "result" */
  int64_t maxrec;           /* for INFO/keywords; -1 unknown */
} fmt_info;

/* Coordinate and time systems the encoders declare (VOTable COOSYS and
 * TIMESYS, FITS keywords): columns whose UCD is pos.eq.ra/pos.eq.dec are
 * ICRS (ADQL's default frame), timestamp columns are UTC (DALI). */
const char *fmt_column_coosys(const stream_column *c);    /* "ICRS" or NULL */
const char *fmt_column_timescale(const stream_column *c); /* "UTC" or NULL */

typedef struct fmt_encoder fmt_encoder;

typedef struct fmt_type {
  const char *name;           /* canonical short name: "votable", "votable/td", "csv" */
  const char *mime;           /* Content-Type sent, parameters included */
  const char *ext;            /* file name extension: "vot", "csv" */
  const char *const *aliases; /* further RESPONSEFORMAT values (NULL-terminated) */
  int can_report_error;
  size_t size; /* sizeof the concrete encoder struct */
  ts_err (*begin)(fmt_encoder *e, const stream_schema *s, const fmt_info *info);
  ts_err (*rows)(fmt_encoder *e, const stream_batch *b);
  ts_err (*end)(fmt_encoder *e, const fmt_trailer *t);
  void (*destroy)(fmt_encoder *e); /* may be NULL */
  /* Added fields (zero in the older initialisers). */
  /* Formats that cannot stream (FITS needs NAXIS2 before the data) spool
   * to a temporary file and write nothing to `out` before end; drain then
   * copies the spooled document to `out` one piece (<= 256 KiB) per call
   * and flushes, setting *done after the last piece. NULL: nothing spooled. */
  ts_err (*drain)(fmt_encoder *e, int *done);
  /* "gzip": the document is sent gzip-compressed as a whole (a .gz file,
   * not a Content-Encoding), as ESA's votable_gzip. NULL otherwise. */
  const char *body_encoding;
  /* VOTable version written: NULL for 1.4, "1.5" when the client asked
   * for it (";version=1.5"). Such variants are found by fmt_lookup but not
   * listed by fmt_all. */
  const char *votable_version;
} fmt_type;

/* The base of every concrete encoder. */
struct fmt_encoder {
  const fmt_type *type;
  stream_out *out;
  const stream_schema *schema; /* set by fmt_encoder_begin */
};

/* Looks up a RESPONSEFORMAT/FORMAT value: short names and MIME types, case
 * insensitive, MIME parameters (serialization=..., header=present,
 * version=1.4|1.5 for VOTables, also after a short name:
 * "votable/td;version=1.5") taken into account. NULL when unknown. */
const fmt_type *fmt_lookup(const char *responseformat);
/* The default format (VOTable). */
const fmt_type *fmt_default(void);
/* Every registered format, for /capabilities. */
const fmt_type *const *fmt_all(size_t *n);

/* Allocates the encoder (type->size bytes, zeroed) writing to `out` (borrowed;
 * must outlive the encoder). NULL when out of memory. */
fmt_encoder *fmt_encoder_new(const fmt_type *t, stream_out *out);
ts_err fmt_encoder_begin(fmt_encoder *e, const stream_schema *s, const fmt_info *info);
ts_err fmt_encoder_rows(fmt_encoder *e, const stream_batch *b);
ts_err fmt_encoder_end(fmt_encoder *e, const fmt_trailer *t);
/* After a successful end: copies the next piece of a spooled document to
 * `out` (see fmt_type.drain); *done is set once everything is out. For
 * formats that do not spool, *done is set at once. Call until done, at
 * whatever pace the transport allows. */
ts_err fmt_encoder_drain(fmt_encoder *e, int *done);
void fmt_encoder_free(fmt_encoder *e); /* NULL-safe */

/* A complete DALI error document (VOTable 1.4, RESOURCE type="results",
 * INFO name="QUERY_STATUS" value="ERROR" with the message) into `b`. */
ts_err fmt_votable_error_doc(ts_buf *b, const char *message);

#endif
