/* formats/upload_rd.h: private to the FITS and ECSV upload readers, what
 * they need beyond formats/upload_int.h (the readers' declarations and
 * the text value parsers they share with the VOTable and CSV readers):
 * the FITS header check (upload_fits_hdr.c) and a line and record reader
 * over an fd (upload_lines.c). */
#ifndef TS_FMT_UPLOAD_RD_H
#define TS_FMT_UPLOAD_RD_H

#include "formats/upload_int.h"

/* max_value_bytes, or its default when the caller gives 0. */
static inline size_t fmt__up_value_max(const fmt_upload_limits *lim)
{
  return lim && lim->max_value_bytes ? lim->max_value_bytes : FMT_UP_VALUE_MAX_DEFAULT;
}

/* The headers of a FITS file up to its first BINTABLE, checked before
 * cfitsio reads them: printable ASCII only, END within 200 blocks, valid
 * BITPIX, NAXIS, NAXISn, PCOUNT, GCOUNT, and TFIELDS 1 to 999 for the
 * BINTABLE. *hdu: its 1-based number. TS_EINVAL naming the HDU and what is
 * wrong (a truncated header, no BINTABLE). */
ts_err fmt__fits_prescan(int fd, int64_t fsize, int *hdu, ts_error *err);

/* ---- lines and CSV records from an fd (upload_lines.c) -------------------
 * A buffered sequential reader (pread from offset 0: the fd's own offset
 * is not used). Lines and records are assembled in the reader's own
 * buffer, capped at `max` bytes (TS_ELIMIT beyond), so memory is bounded
 * by the longest record, not by the file. */
typedef struct fmt_field {
  const char *p; /* NUL-terminated (inside the record buffer) */
  size_t len;
  int quoted; /* the field was written in double quotes */
} fmt_field;

typedef struct fmt_textin {
  int fd;
  uint64_t off;
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
 * quotes) into t->fields. delim ',' separates fields exactly; ' '
 * separates them by runs of blanks, leading and trailing blanks ignored
 * (ECSV's and astropy's whitespace-delimited form). Blank lines are
 * skipped. *got = 0 at the end of the input. TS_EINVAL for a quote left
 * open or text after a closing quote, with the line in the message. */
ts_err fmt__textin_record(fmt_textin *t, char delim, int *got, ts_error *err);

#endif
