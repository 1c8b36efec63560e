/* formats/upload.h: readers of uploaded tables (TAP UPLOAD, DALI 1.1).
 *
 * A reader takes a file (a spooled multipart part, a fetched URL, a stored
 * result) and gives
 *   1. the table's description: per column the VOTable metadata as read
 *      and the PostgreSQL type chosen for it (fmt_upload_set_type, one rule
 *      for every format), through on_table, once, before any row;
 *   2. its rows as COPY ... FROM STDIN (FORMAT binary), written with a
 *      stream_copyenc into the caller's stream_out (header, tuples,
 *      trailer, then stream_out_flush).
 * The caller creates the table in on_table and feeds the flushes of the
 * stream_out to COPY FROM STDIN. Readers stream: memory stays bounded
 * whatever the file's size (libxml2's SAX2 push parser for VOTable, base64
 * decoded as it comes, a row at a time for CSV/ECSV, row blocks for FITS). */
#ifndef TS_FORMATS_UPLOAD_H
#define TS_FORMATS_UPLOAD_H

#include "stream/stream.h"

typedef enum fmt_upload_format {
  FMT_UPLOAD_AUTO = 0, /* sniffed */
  FMT_UPLOAD_VOTABLE,  /* 1.1 to 1.5; TABLEDATA, BINARY, BINARY2 */
  FMT_UPLOAD_FITS,     /* the first BINTABLE extension */
  FMT_UPLOAD_CSV,      /* RFC 4180 with a header row */
  FMT_UPLOAD_ECSV,     /* astropy's ECSV 1.0: types from its YAML header */
} fmt_upload_format;

typedef struct fmt_upload_limits {
  uint64_t max_rows;      /* 0: no limit; beyond: TS_ELIMIT naming the limit */
  size_t max_columns;     /* 0: no limit (PostgreSQL's 1600 still holds) */
  size_t max_value_bytes; /* one value (a string, an array); 0: 64 MiB */
} fmt_upload_limits;

typedef struct fmt_upload_column {
  /* name as in the file (the caller checks it as an ADQL name);
   * datatype, arraysize, xtype, unit, ucd, utype, description as the file
   * declares them (normalised by fmt_upload_set_type); type_oid, kind and
   * is_array describe what COPY writes. */
  stream_column c;
  const char *copy_type;  /* SQL type as COPY writes it: "double precision[]" */
  const char *final_type; /* NULL, or the pgSphere type the column becomes
                           * after loading ("spoint", "scircle", "spoly"),
                           * made from copy_type's array of degrees */
} fmt_upload_column;

typedef struct fmt_upload_table {
  const char *name; /* TABLE/@name, EXTNAME; NULL when the file has none */
  const char *description;
  size_t ncols;
  fmt_upload_column *cols;
} fmt_upload_table;

typedef ts_err (*fmt_upload_table_fn)(void *ud, const fmt_upload_table *t, ts_error *err);

/* Chooses the PostgreSQL type of a column from its VOTable datatype,
 * arraysize and xtype (FITS TFORMs, CSV and ECSV types are first expressed
 * in VOTable terms): sets copy_type, final_type and c.type_oid, kind,
 * is_array. boolean/bit -> boolean; unsignedByte, short -> smallint; int ->
 * integer; long -> bigint; float -> real; double -> double precision;
 * char/unicodeChar -> text (timestamp xtype: timestamp); numeric
 * arraysize -> one-dimensional array of the element type; xtype point
 * (double[2]), circle (double[3]), polygon (double[2n]) -> double
 * precision[] that becomes spoint/scircle/spoly. TS_EINVAL with a message
 * naming the column for what cannot be carried (complex numbers, an
 * unknown datatype). */
ts_err fmt_upload_set_type(fmt_upload_column *col, const char *datatype, const char *arraysize,
                           const char *xtype, ts_error *err);

/* The format of a file from its first bytes (at least 512 when the file
 * is that long): FITS ("SIMPLE  ="), VOTable (XML whose root is VOTABLE,
 * after an optional declaration, comments, a DOCTYPE and a BOM), ECSV
 * ("# %ECSV"); any other XML also goes to the VOTable reader, which names
 * its root in its refusal. content_type and filename decide only when the
 * bytes do not; else CSV. */
fmt_upload_format fmt_upload_sniff(const uint8_t *head, size_t n, const char *content_type,
                                   const char *filename);

/* Reads the table in fd from offset 0 (with pread: a regular file; CSV
 * is read twice, to infer its types) and writes its rows into `out`. Strings of the
 * table description are allocated in `a`. Errors: TS_EINVAL for malformed
 * input, with a message naming where (line, row, element, HDU, column);
 * TS_ELIMIT naming the limit; the stream_out's own error (the sink's,
 * e.g. COPY refused) as it is. *rows: rows written. */
ts_err fmt_upload_read(int fd, fmt_upload_format f, const fmt_upload_limits *lim, ts_arena *a,
                       fmt_upload_table_fn on_table, void *ud, stream_out *out, uint64_t *rows,
                       ts_error *err);

#endif
