/* formats/upload_int.h: private to the upload readers of formats/.
 *
 * The readers proper (one per format), and what they share: turning a
 * value written as text (VOTable TD, CSV, ECSV) into a COPY BINARY field
 * of the column's type. */
#ifndef TS_FORMATS_UPLOAD_INT_H
#define TS_FORMATS_UPLOAD_INT_H

#include "formats/upload.h"

enum {
  FMT_UP_VALUE_MAX_DEFAULT = 64 << 20, /* max_value_bytes when the caller gives 0 */
  FMT_UP_COLUMNS_MAX = 1600,           /* PostgreSQL's MaxTupleAttributeNumber */
};

/* One reader per format. Same contract as fmt_upload_read, with `lim`
 * already completed (fmt__upload_limits). */
ts_err fmt__upload_votable(int fd, const fmt_upload_limits *lim, ts_arena *a,
                           fmt_upload_table_fn on_table, void *ud, stream_out *out, uint64_t *rows,
                           ts_error *err);
ts_err fmt__upload_csv(int fd, const fmt_upload_limits *lim, ts_arena *a,
                       fmt_upload_table_fn on_table, void *ud, stream_out *out, uint64_t *rows,
                       ts_error *err);
ts_err fmt__upload_fits(int fd, const fmt_upload_limits *lim, ts_arena *a,
                        fmt_upload_table_fn on_table, void *ud, stream_out *out, uint64_t *rows,
                        ts_error *err);
ts_err fmt__upload_ecsv(int fd, const fmt_upload_limits *lim, ts_arena *a,
                        fmt_upload_table_fn on_table, void *ud, stream_out *out, uint64_t *rows,
                        ts_error *err);

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
/* The element type OID of an array column (its scalar type). */
uint32_t fmt__up_elem_oid(stream_kind k);
/* TS_EINVAL with a reason unless n values fit a geometry column (any n
 * for other columns). */
ts_err fmt__up_geom_count(const fmt_upload_column *col, uint64_t n, ts_error *err);

/* err = "<where>: <err's own message>", keeping err's code: readers use it
 * to put the location in front of a value's reason. */
ts_err fmt__up_locate(ts_error *err, const char *fmt, ...) TS_PRINTF(2, 3);

#endif
