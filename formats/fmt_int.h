/* formats/fmt_int.h: helpers shared by the encoders in formats/ (private).
 *
 * Everything here writes straight into a stream_out: no per-value malloc,
 * no printf for integers. */
#ifndef TS_FMT_INT_H
#define TS_FMT_INT_H

#include "formats/formats.h"

/* ---- the encoders (one const fmt_type each, registered in formats.c) ---- */
extern const fmt_type fmt_votable_b2_type;
extern const fmt_type fmt_votable_td_type;
extern const fmt_type fmt_votable_b_type;
extern const fmt_type fmt_csv_type;
extern const fmt_type fmt_tsv_type;
extern const fmt_type fmt_votable_gzip_type;
extern const fmt_type fmt_votable_b2_v15_type;
extern const fmt_type fmt_votable_td_v15_type;
extern const fmt_type fmt_votable_b_v15_type;
extern const fmt_type fmt_fits_type;
extern const fmt_type fmt_ecsv_type;
extern const fmt_type fmt_json_type;
extern const fmt_type fmt_text_type;
extern const fmt_type fmt_html_type;

/* JSON string literal (quotes included) with invalid UTF-8 as U+FFFD. */
void fmt__json_str(stream_out *o, const char *s, size_t n);
/* A non-NULL value as JSON: numbers, true/false, strings, arrays of them
 * (NULL elements null). NaN and infinities are null (JSON has none), or
 * with `literals` NaN/Infinity/-Infinity as Python's json reads them.
 * TS_EFORMAT for a malformed value. */
ts_err fmt__json_value(stream_out *o, const stream_column *col, const stream_value *v,
                       int literals);

/* ---- numbers -------------------------------------------------------------
 * Each writes at most FMT_NUM_MAX bytes (no NUL) and returns the length. */
enum { FMT_NUM_MAX = 40 };
size_t fmt__u64(char *out, uint64_t v);
size_t fmt__i64(char *out, int64_t v);
/* The shortest decimal that reads back (strtod) to exactly d, the closest
 * to d among those of its length (dtoa.c): plain notation from 1e-5 to
 * below 1e16, else d.ddde+XX; "-0" for negative zero; "NaN", "+Inf",
 * "-Inf" for the special values. At most 25 bytes. */
size_t fmt__double(char *out, double d);
/* The same for float (shortest that strtof reads back exactly). */
size_t fmt__float(char *out, float f);

/* ---- text -----------------------------------------------------------------
 * "Invalid UTF-8" below is what ts_utf8_seq (common/common.h) rejects, as
 * ts_buf_xml does: overlongs, surrogates, U+FFFE/U+FFFF, > U+10FFFF and
 * truncated sequences. */

/* XML character data with ts_buf_xml semantics: &<>"' as entities, control
 * characters XML 1.0 forbids and invalid UTF-8 as U+FFFD. With `attr` set,
 * TAB, LF and CR become character references so that attribute-value
 * normalisation does not turn them into spaces. */
void fmt__xml(stream_out *o, const char *s, size_t n, int attr);
/* UTF-8 with invalid sequences replaced by U+FFFD (CSV/TSV text). */
void fmt__utf8(stream_out *o, const char *s, size_t n);

/* Text restricted to ASCII, for formats that cannot carry anything else
 * (FITS character fields, VOTable 1.4 char): each character outside the
 * kept set becomes a \uXXXX escape (\UXXXXXXXX above U+FFFF), as in
 * Python or JSON, so nothing is lost and a reader can undo it; invalid
 * UTF-8 becomes \uFFFD. A backslash itself is kept as it is. */
typedef enum fmt_esc_keep {
  FMT_ESC_PRINTABLE, /* 0x20..0x7E (FITS) */
  FMT_ESC_XML        /* the same plus TAB, LF and CR (VOTable) */
} fmt_esc_keep;
/* The length of the escaped form of s (== n when nothing is escaped). */
size_t fmt__esc_len(const uint8_t *s, size_t n, fmt_esc_keep keep);
/* Writes the escaped form into q, at most `max` bytes and never part of
 * an escape; returns the bytes written. */
size_t fmt__esc_put(uint8_t *q, size_t max, const uint8_t *s, size_t n, fmt_esc_keep keep);
/* XML element text (fmt__xml) of the ASCII form of s: what fmt__esc_put
 * with FMT_ESC_XML then fmt__xml would write, in one pass. */
void fmt__xml_ascii(stream_out *o, const char *s, size_t n);

/* ---- values as text (TABLEDATA, CSV, TSV) ------------------------------- */
typedef enum fmt_textstyle { FMT_TEXT_XML, FMT_TEXT_CSV, FMT_TEXT_TSV } fmt_textstyle;
/* Writes the text form of one non-NULL value of `col` (scalar or array):
 * numbers round-trip, timestamps ISO 8601, arrays space-separated, text
 * escaped for the style (CSV: quoted when needed; numeric arrays always
 * quoted).
 * Returns TS_EFORMAT for a malformed value (array), else the sticky
 * stream_out error. */
/* Text of a non-NULL scalar of a non-text kind into buf (FMT_NUM_MAX bytes);
 * booleans are T/F for XML, true/false otherwise. Returns the length, 0 for
 * a kind without a scalar text form. The value length must have been
 * checked (stream_kind_len). */
size_t fmt__scalar_text(char *buf, stream_kind kind, const stream_value *v, fmt_textstyle style);
/* What stands for a NULL element inside an array (see fmt__value_text). */
const char *fmt__null_token(stream_kind kind, fmt_textstyle style);
ts_err fmt__value_text(stream_out *o, const stream_column *col, const stream_value *v,
                       fmt_textstyle style, ts_buf *scratch);
/* 1 for the kinds shown as text (text, timestamps, dates). Arrays of them
 * are one string: PostgreSQL's array literal (stream_format_array_literal),
 * built in the encoder's `scratch` buffer, which keeps its memory between
 * values (bounded by the largest value, not by the row count). */
int fmt__kind_is_text(stream_kind k);
enum { FMT_SCRATCH_MAX = 256 << 20 };

#endif
