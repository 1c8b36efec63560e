/* formats/upload_int.h: what the upload readers share (private to
 * formats/): the readers themselves, called by fmt_upload_read, and the
 * text helpers of the line-oriented readers (upload_text.c). */
#ifndef TS_FMT_UPLOAD_INT_H
#define TS_FMT_UPLOAD_INT_H

#include "formats/upload.h"

/* The readers, one per format; arguments and errors as fmt_upload_read. */
ts_err fmt__upload_fits(int fd, const fmt_upload_limits *lim, ts_arena *a,
                        fmt_upload_table_fn on_table, void *ud, stream_out *out, uint64_t *rows,
                        ts_error *err);
ts_err fmt__upload_ecsv(int fd, const fmt_upload_limits *lim, ts_arena *a,
                        fmt_upload_table_fn on_table, void *ud, stream_out *out, uint64_t *rows,
                        ts_error *err);

/* The headers of a FITS file up to its first BINTABLE, checked before
 * cfitsio reads them (upload_fits_hdr.c): printable ASCII only, END within
 * 200 blocks, valid BITPIX, NAXIS, NAXISn, PCOUNT, GCOUNT, and TFIELDS 1 to
 * 999 for the BINTABLE. *hdu: its 1-based number. TS_EINVAL naming the HDU
 * and what is wrong (a truncated header, no BINTABLE). */
ts_err fmt__fits_prescan(int fd, int64_t fsize, int *hdu, ts_error *err);

/* The value cap when the limits say 0 (fmt_upload_limits.max_value_bytes). */
enum { FMT_UPLOAD_VALUE_MAX = 64 << 20 };
size_t fmt__upload_value_max(const fmt_upload_limits *lim);
/* The element type OID of an array column of numeric or boolean kind k
 * (FLOAT8 for any other kind). */
uint32_t fmt__upload_elem_oid(stream_kind k);

/* ---- text input: lines and CSV records from an fd (upload_text.c) -------
 * A buffered sequential reader. Lines and records are assembled in the
 * reader's own buffer, capped at `max` bytes (TS_ELIMIT beyond), so memory
 * is bounded by the longest record, not by the file. */
typedef struct fmt_field {
  const char *p; /* NUL-terminated (inside the record buffer) */
  size_t len;
  int quoted; /* the field was written in double quotes */
} fmt_field;

typedef struct fmt_textin {
  int fd;
  uint64_t off; /* read with pread from offset 0: the fd's own offset is not used */
  uint8_t *buf;
  size_t len, pos, cap;
  int eof;
  uint64_t line; /* 1-based number of the line last started */
  ts_buf rec;    /* the current line or record, fields NUL-separated */
  fmt_field *fields;
  size_t nfields, fields_cap, max_fields;
} fmt_textin;

/* max: bytes of one line/record; max_fields: fields of one record. */
ts_err fmt__textin_init(fmt_textin *t, int fd, size_t max, size_t max_fields);
void fmt__textin_free(fmt_textin *t);
/* The next line without its end (LF or CRLF), NUL-terminated, in *line
 * (valid until the next call); *got = 0 at the end of the input. */
ts_err fmt__textin_line(fmt_textin *t, const char **line, size_t *len, int *got, ts_error *err);
/* 1 when the next line starts with byte c (nothing consumed). */
int fmt__textin_peek(fmt_textin *t, int c);
/* The next CSV record (RFC 4180 quoting, fields may span lines inside
 * quotes). delim ',' separates fields exactly; ' ' separates them by runs
 * of blanks, leading and trailing blanks ignored (ECSV's and astropy's
 * whitespace-delimited form). Blank lines are skipped. *got = 0 at the
 * end of the input. TS_EINVAL for a quote left open or text after a
 * closing quote, with the line in the message. */
ts_err fmt__textin_record(fmt_textin *t, char delim, int *got, ts_error *err);

/* ---- values from text (NUL-terminated field text) ------------------------
 * Each returns TS_EINVAL (no message) when the text is not such a value;
 * the caller names the row and column. */
/* true/false, True/False, TRUE/FALSE, t/f, T/F, 1/0, yes/no. */
ts_err fmt__text_bool(const char *s, int *v);
/* A decimal integer (blanks around allowed) within [min, max]. */
ts_err fmt__text_int(const char *s, int64_t min, int64_t max, int64_t *v);
/* An unsigned decimal up to UINT64_MAX. */
ts_err fmt__text_uint(const char *s, uint64_t *v);
/* A decimal number, or nan/NaN, inf/Inf/Infinity with a sign. */
ts_err fmt__text_double(const char *s, double *v);
/* ISO 8601 "YYYY-MM-DD[(T| )hh:mm[:ss[.ffffff]]][Z]" (MJD/JD not taken)
 * -> microseconds since 2000-01-01T00:00:00 (PostgreSQL's epoch). */
ts_err fmt__text_timestamp(const char *s, int64_t *usec);
/* One value of a scalar column of kind k (BOOL, INT2/4/8, FLOAT4/8, TEXT,
 * TIMESTAMP) written into e; TS_EINVAL when the text is not one, TS_ELIMIT
 * and the encoder's errors as they are. Text must be valid UTF-8. */
ts_err fmt__text_put(stream_copyenc *e, stream_kind k, const char *s, size_t n);

#endif
