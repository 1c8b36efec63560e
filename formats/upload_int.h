/* formats/upload_int.h: private to the upload readers of formats/.
 *
 * The readers proper (one per format), and what they share: turning a
 * value written as text (VOTable TD, CSV, ECSV) into a COPY BINARY field
 * of the column's type, the FITS header check (upload_fits_hdr.c), and
 * the line and record reader of the text formats (upload_lines.c). */
#ifndef TS_FORMATS_UPLOAD_INT_H
#define TS_FORMATS_UPLOAD_INT_H

#include "formats/upload.h"

enum {
  FMT_UP_VALUE_MAX_DEFAULT = 64 << 20, /* max_value_bytes when the caller gives 0 */
  FMT_UP_COLUMNS_MAX = 1600,           /* PostgreSQL's MaxTupleAttributeNumber */
};

/* One reader per format. Same contract as fmt_upload_read, with `lim`
 * already completed (no 0 for max_value_bytes and max_columns). */
typedef ts_err fmt_up_reader(int fd, const fmt_upload_limits *lim, ts_arena *a,
                             fmt_upload_table_fn on_table, void *ud, stream_out *out,
                             uint64_t *rows, ts_error *err);
fmt_up_reader fmt__upload_votable, fmt__upload_csv, fmt__upload_fits, fmt__upload_ecsv;

/* ---- the table and its rows (upload.c) ------------------------------------
 * What every reader does around its rows. fmt__up_begin gives the table
 * to on_table (a refusal without a message gets one) and, when it is
 * taken, starts the COPY in e; e is zeroed first, so stream_copyenc_free
 * is safe on it whatever happened. fmt__up_end finishes the COPY when rc
 * (the rows' outcome) is TS_OK, sets *rows to the rows written, and gives
 * an encoder's or a sink's error that left err empty a message. */
ts_err fmt__up_begin(fmt_upload_table_fn on_table, void *ud, const fmt_upload_table *t,
                     stream_copyenc *e, stream_out *out, ts_error *err);
ts_err fmt__up_end(stream_copyenc *e, ts_err rc, uint64_t *rows, ts_error *err);

/* The binary numbers of FITS and VOTable BINARY/BINARY2, big-endian: an
 * integer of 1 (unsigned), 2, 4 or 8 bytes, an IEEE float of 4 or 8. */
int64_t fmt__up_be_int(const uint8_t *p, int size);
double fmt__up_be_float(const uint8_t *p, int size);

/* ---- values from text ------------------------------------------------------
 * Each parser takes [s, s+n) (not NUL-terminated), ignores blanks around
 * the value, and returns TS_EINVAL with a short reason in err (no
 * location: the reader adds row and column) for text that is not one. */

/* Decimal integers with an optional sign, and 0x hexadecimal (VOTable
 * allows it in TABLEDATA); TS_EINVAL on overflow. */
ts_err fmt__up_parse_i64(const char *s, size_t n, int64_t *v, ts_error *err);
/* Decimal and exponent forms, NaN and the infinities in any case
 * ("NaN", "nan", "Inf", "+Inf", "-inf", "Infinity"); no hexadecimal. */
ts_err fmt__up_parse_f64(const char *s, size_t n, double *v, ts_error *err);
/* 1 when fmt__up_parse_f64 would accept the text, without converting it
 * (CSV type inference looks at every value). */
int fmt__up_is_f64(const char *s, size_t n);
/* T F t f true false (any case) 1 0; "?" and "" give *v = -1 (NULL). */
ts_err fmt__up_parse_bool(const char *s, size_t n, int *v, ts_error *err);
/* ISO 8601 "YYYY-MM-DD", optionally followed by "T" or a blank and
 * "hh:mm[:ss[.f...]]", optionally by "Z" or "+hh:mm"/"-hh:mm" (converted
 * to UTC) -> microseconds since 2000-01-01T00:00:00. Fractions past the
 * microsecond are rounded. */
ts_err fmt__up_parse_timestamp(const char *s, size_t n, int64_t *usec, ts_error *err);

/* The NULL conventions a text value is read with. */
typedef struct fmt_up_null {
  int has_int; /* integers equal to int_null are NULL (VOTable VALUES null) */
  int64_t int_null;
} fmt_up_null;

/* Writes one field of `col` from its text: an empty (or all blank) text
 * is NULL; numbers, booleans and timestamps as parsed above; text must be
 * UTF-8 without NUL. An array is a list of elements separated by blanks
 * or commas, optionally inside [] or {} (VOTable TD, ECSV's JSON lists,
 * PostgreSQL literals); "null" or an empty element between commas is a
 * NULL element, and a datatype bit array may also be written "0110".
 * Geometry columns (final_type set) must hold the count their xtype asks
 * for. `scratch` is working space. TS_EINVAL with a reason in err; the
 * encoder's and the stream's errors as they are. */
ts_err fmt__up_put_text(stream_copyenc *e, const fmt_upload_column *col, const fmt_up_null *nul,
                        const char *s, size_t n, ts_error *err);

/* Scalar number writers: v into a field (or array element) of `kind`,
 * TS_EINVAL with a reason when it does not fit the type. */
ts_err fmt__up_put_i64(stream_copyenc *e, const fmt_upload_column *col, int64_t v, ts_error *err);
ts_err fmt__up_put_f64(stream_copyenc *e, const fmt_upload_column *col, double v, ts_error *err);
/* The element type OID of an array column (its scalar type), from the
 * table of upload_types.c. */
uint32_t fmt__up_elem_oid(stream_kind k);
/* TS_EINVAL with a reason unless n values fit a geometry column (any n
 * for other columns). */
ts_err fmt__up_geom_count(const fmt_upload_column *col, uint64_t n, ts_error *err);

/* err = "<where>: <err's own message>", keeping err's code: readers use it
 * to put the location in front of a value's reason. */
ts_err fmt__up_locate(ts_error *err, const char *fmt, ...) TS_PRINTF(2, 3);

/* The headers of a FITS file up to its first BINTABLE, checked before
 * cfitsio reads them: printable ASCII only, END within 200 blocks, valid
 * BITPIX, NAXIS, NAXISn, PCOUNT, GCOUNT, and TFIELDS 1 to 999 for the
 * BINTABLE. *hdu: its 1-based number. TS_EINVAL naming the HDU and what is
 * wrong (a truncated header, no BINTABLE). */
ts_err fmt__fits_prescan(int fd, int64_t fsize, int *hdu, ts_error *err);

/* ---- lines and CSV records from an fd (upload_lines.c) -------------------
 * The one record reader of the text formats (CSV and ECSV). A buffered
 * sequential reader (pread from offset 0: the fd's own offset is not
 * used). Lines and records are assembled in the reader's own buffer,
 * capped at `max` bytes (TS_ELIMIT beyond), so memory is bounded by the
 * longest record, not by the file. */
typedef struct fmt_field {
  const char *p; /* NUL-terminated (in the record buffer, or in the read
                  * buffer for a record read in place) */
  size_t len;
  int quoted; /* the field was written in double quotes */
} fmt_field;

typedef struct fmt_textin {
  int fd;
  uint64_t off;
  uint8_t *buf;
  size_t len, pos, cap;
  int eof;
  uint64_t line;     /* 1-based number of the line last started */
  uint64_t rec_line; /* the line the current record began on */
  ts_buf rec;        /* the current line or record, fields NUL-separated */
  size_t fstart;     /* where the field being read began in rec */
  fmt_field *fields;
  size_t nfields, fields_cap, max_fields;
  /* How records are read; the caller sets them after fmt__textin_init. */
  int cr_ends;      /* a lone CR ends a line too (CSV); else only LF, CRLF */
  int strict_quote; /* nothing but a separator or a line end after a
                     * closing quote (CSV); else blanks may follow it */
  size_t max_value; /* bytes of one field of a record, TS_ELIMIT naming
                     * max_value_bytes beyond; 0 (for a reader that
                     * also reads lines): only the record's cap */
} fmt_textin;

/* max: bytes of one line/record; max_fields: fields of one record (0:
 * 1600), TS_ELIMIT naming max_columns beyond. */
ts_err fmt__textin_init(fmt_textin *t, int fd, size_t max, size_t max_fields);
void fmt__textin_free(fmt_textin *t);
/* Back to offset 0, to read the file again (CSV's second pass). */
void fmt__textin_rewind(fmt_textin *t);
/* Skips a UTF-8 byte order mark at the start of the file. */
void fmt__textin_skip_bom(fmt_textin *t);
/* The next line without its end (LF or CRLF), NUL-terminated, in *line
 * (valid until the next call); *got = 0 at the end of the input. */
ts_err fmt__textin_line(fmt_textin *t, const char **line, size_t *len, int *got, ts_error *err);
/* 1 when the next line starts with byte c (nothing consumed). */
int fmt__textin_peek(fmt_textin *t, int c);
/* The next CSV record (RFC 4180 quoting, fields may span lines inside
 * quotes) into t->fields. delim ',' separates fields exactly; ' '
 * separates them by runs of blanks, leading and trailing blanks ignored
 * (ECSV's and astropy's whitespace-delimited form). Blank lines are
 * skipped. *got = 0 at the end of the input. TS_EINVAL for a quote left
 * open or text after a closing quote, with the line in the message. */
ts_err fmt__textin_record(fmt_textin *t, char delim, int *got, ts_error *err);

#endif
