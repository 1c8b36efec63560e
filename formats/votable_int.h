/* formats/votable_int.h: what votable.c (the document, TABLEDATA) and
 * votable_bin.c (BINARY and BINARY2 rows) share; for those two only. */
#ifndef TS_FMT_VOTABLE_INT_H
#define TS_FMT_VOTABLE_INT_H

#include "formats/fmt_int.h"

enum { VT_TD, VT_B2, VT_B };
enum { VT_BEGUN = 1, VT_ENDED = 2 };

/* VOTable primitive datatypes we write (binary element size in brackets). */
typedef enum vt_dt {
  DT_BOOLEAN, /* [1] 'T' 'F' '?' */
  DT_UBYTE,   /* [1] */
  DT_SHORT,   /* [2] */
  DT_INT,     /* [4] */
  DT_LONG,    /* [8] */
  DT_FLOAT,   /* [4] */
  DT_DOUBLE,  /* [8] */
  DT_CHAR,    /* [1] bytes of UTF-8 */
  DT_UNICODE  /* [2] UTF-16BE code units */
} vt_dt;

/* Name and binary element size of each vt_dt. */
struct fmt__vt_dt_info {
  const char *name;
  uint8_t size;
};
extern const struct fmt__vt_dt_info fmt__vt_dts[DT_UNICODE + 1];

/* How one column is encoded, fixed in begin. */
typedef struct vt_col {
  vt_dt dt;
  int scalar;            /* a single value, no count, no array */
  int32_t fixed;         /* >= 0: exactly this many elements (chars for strings) */
  int32_t bound;         /* variable length: at most this many, -1 unlimited */
  const char *arraysize; /* the arraysize written in FIELD (NULL: none) */
  int values_null;       /* write <VALUES null=...> */
  int ascii;             /* VOTable 1.4 char from text: non-ASCII as \uXXXX escapes */
} vt_col;

/* Binary bytes are collected here, then base64-encoded in bulk. Only the
 * 0..2 bytes that do not fill a base64 group stay between flushes. */
enum { VT_STAGE = 48 * 1024 };

typedef struct fmt_votable {
  fmt_encoder base;
  int ser;
  int state;
  vt_col *cols;
  size_t nflag;     /* null-flag bytes per row (BINARY2), 0 otherwise */
  size_t stage_len; /* bytes in stage */
  size_t row_start; /* stage offset where the current row began */
  int row_spilled;  /* the current row has been partly base64-encoded */
  unsigned linepos; /* base64 characters on the current output line */
  ts_buf scratch;   /* array literals of text/time arrays */
  ts_buf esc;       /* the ASCII form of a value of an `ascii` column */
  uint8_t stage[VT_STAGE];
} fmt_votable;

static inline int vt_is_int(vt_dt dt)
{
  return dt == DT_UBYTE || dt == DT_SHORT || dt == DT_INT || dt == DT_LONG;
}
static inline int vt_is_str(vt_dt dt)
{
  return dt == DT_CHAR || dt == DT_UNICODE;
}

/* The NULL stand-in of an integer datatype, declared as VALUES null. */
static inline int64_t vt_int_null(vt_dt dt)
{
  switch (dt) {
  case DT_UBYTE:
    return 255;
  case DT_SHORT:
    return INT16_MIN;
  case DT_INT:
    return INT32_MIN;
  default:
    return INT64_MIN;
  }
}

/* votable.c */
/* Text columns' values as strings, and their ASCII form (VOTable 1.4 char),
 * for TABLEDATA and the binary serialisations alike. */
ts_err fmt__vt_text_of(fmt_votable *v, const stream_column *c, const stream_value *val,
                       const uint8_t **s, size_t *n);
ts_err fmt__vt_ascii(fmt_votable *v, const uint8_t **s, size_t *n, size_t max);

/* votable_bin.c */
/* Base64 of the staged bytes; with `final` the last group, padded. */
void fmt__vt_b64_emit(fmt_votable *v, int final);
/* The `rows` callback of BINARY and BINARY2. */
ts_err fmt__vt_bin_rows(fmt_encoder *e, const stream_batch *b);

#endif
