/* formats/upload_vot_int.h: what the VOTable upload reader's two files
 * share: upload_votable.c (the document, FIELDs, TABLEDATA) and
 * upload_vot_bin.c (the STREAM: base64 and BINARY/BINARY2 rows). */
#ifndef TS_FORMATS_UPLOAD_VOT_INT_H
#define TS_FORMATS_UPLOAD_VOT_INT_H

#include "formats/upload_int.h"

#include <libxml/parser.h>

enum {
  UV_DEPTH_MAX = 64,    /* VOTable nests RESOURCEs, GROUPs; 64 is plenty */
  UV_CHUNK = 64 << 10,  /* bytes read and pushed at a time */
  UV_FIELDS_GROW = 16,  /* initial FIELD slots */
  UV_DECODED = 4 << 10, /* base64 decoded per step */
};

typedef enum fmt_uv_dt {
  UV_DT_BOOL,
  UV_DT_BIT,
  UV_DT_UBYTE,
  UV_DT_SHORT,
  UV_DT_INT,
  UV_DT_LONG,
  UV_DT_CHAR,
  UV_DT_UCHAR,
  UV_DT_FLOAT,
  UV_DT_DOUBLE,
  UV_DT_OTHER,
} fmt_uv_dt;

typedef struct fmt_uv_dtinfo {
  const char *name;
  int size; /* bytes per element; 0 for bit */
} fmt_uv_dtinfo;
extern const fmt_uv_dtinfo fmt__uv_dts[UV_DT_OTHER];

typedef struct fmt_uv_field {
  const char *name, *id, *datatype, *arraysize, *xtype, *unit, *ucd, *utype, *desc;
  fmt_up_null nul;
  fmt_uv_dt dt;
  uint64_t fixed; /* elements in the fixed dimensions (1 for a scalar) */
  int variable;   /* arraysize ends in '*': a 4-byte count precedes the value */
} fmt_uv_field;

typedef enum { UV_S_SEEK, UV_S_TABLE, UV_S_DATA, UV_S_DONE } fmt_uv_state;
typedef enum { UV_T_NONE, UV_T_TABLE_DESC, UV_T_FIELD_DESC, UV_T_TD, UV_T_STREAM } fmt_uv_text;
typedef enum { UV_SER_NONE, UV_SER_TD, UV_SER_B, UV_SER_B2 } fmt_uv_ser;
typedef enum { UV_B_IDLE, UV_B_FLAGS, UV_B_LEN, UV_B_DATA } fmt_uv_bstate;

typedef struct fmt_uv_rd {
  xmlParserCtxtPtr ctx;
  const fmt_upload_limits *lim;
  ts_arena *a;
  fmt_upload_table_fn on_table;
  void *ud;
  stream_out *out;
  ts_error *err;
  ts_err rc;
  int finished; /* the table is read: the rest is only checked to be well-formed */
  int depth, seen_root, tdepth;
  fmt_uv_state st;
  fmt_uv_text text_to;
  int in_field, in_tr;
  ts_buf text; /* a TD or a DESCRIPTION */
  const char *tname, *tdesc;
  fmt_uv_field *f;
  size_t nf, fcap;
  fmt_upload_column *cols;
  stream_copyenc enc; /* zeroed until the table is taken (fmt__up_begin) */
  fmt_uv_ser ser;
  uint64_t row; /* rows begun */
  size_t col;   /* the TD or binary field being read */
  /* STREAM: base64 and the binary rows */
  int in_stream;
  uint32_t b64;
  int b64n, b64end;
  fmt_uv_bstate bs;
  size_t need;
  uint64_t count; /* elements of the current field */
  ts_buf gb;      /* bytes of a field or flags split across pieces */
  uint8_t flags[FMT_UP_COLUMNS_MAX / 8];
  size_t nflag;
  ts_buf conv; /* unicodeChar as UTF-8 */
  /* the first libxml2 error */
  int xml_line;
  char xml_msg[200];
} fmt_uv_rd;

/* The line the parser is at (for messages). */
int fmt__uv_line(fmt_uv_rd *r);
/* Records the first error (message from fmt) and stops the parser. */
void fmt__uv_fail(fmt_uv_rd *r, ts_err code, const char *fmt, ...) TS_PRINTF(3, 4);
/* A value's error: the reason already in r->err gets the row and column. */
void fmt__uv_fail_at(fmt_uv_rd *r, ts_err rc);
/* Begins a row (checks max_rows); -1 after an error. */
int fmt__uv_row_begin(fmt_uv_rd *r);
/* Characters of a STREAM, and its end (upload_vot_bin.c). */
void fmt__uv_stream_text(fmt_uv_rd *r, const uint8_t *s, size_t n);
void fmt__uv_stream_end(fmt_uv_rd *r);

#endif
