/* adql/parser.c: adql_parse(), the lookahead filter between the scanner and
 * the grammar (PostgreSQL's parser.c), keyword lookup and error helpers.
 *
 * Input is validated before scanning: length cap, no NUL bytes, valid UTF-8.
 * That keeps the scanner byte-oriented and every later message printable. */
#include "adql/adql_int.h"
#include "adql_gram.h"

#include <stdio.h>
#include <string.h>

int adql__core_lex(ADQL_YYSTYPE *lval, int *lloc, adql_pstate *ps);

/* ---- keywords -------------------------------------------------------------- */

enum { ADQL_KW_RESERVED, ADQL_KW_FUNCTION };

static const struct {
  const char *name;
  int token;
  int category;
} adql_keywords[] = {
#define ADQL_KEYWORD(name, token, cat) {name, token, cat},
#include "adql/kwlist.h"
#undef ADQL_KEYWORD
};

int adql__keyword_lookup(const char *s, size_t n)
{
  char low[16];
  size_t lo = 0, hi = TS_ARRAY_LEN(adql_keywords);
  if (n >= sizeof low)
    return -1;
  for (size_t i = 0; i < n; i++)
    low[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
  low[n] = '\0';
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(low, adql_keywords[mid].name);
    if (c == 0)
      return adql_keywords[mid].token;
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return -1;
}

const char *adql__keyword_name(size_t i)
{
  return i < TS_ARRAY_LEN(adql_keywords) ? adql_keywords[i].name : NULL;
}

size_t adql__keyword_count(void)
{
  return TS_ARRAY_LEN(adql_keywords);
}

/* ADQL 2.1's reserved function names (section 2.1.2) that are not grammar
 * keywords. They name functions only: as a table, column or alias they
 * must be delimited ("distance"). Sorted for bsearch. */
static const char *const adql_reserved_fns[] = {
    "abs",      "acos",     "area",     "asin",   "atan",    "atan2",      "box",      "ceiling",
    "centroid", "circle",   "contains", "coord1", "coord2",  "coordsys",   "cos",      "cot",
    "degrees",  "distance", "exp",      "floor",  "in_unit", "intersects", "log",      "log10",
    "lower",    "mod",      "nullif",   "pi",     "point",   "polygon",    "power",    "radians",
    "rand",     "region",   "round",    "sin",    "sqrt",    "tan",        "truncate", "upper",
};

const char *adql_word(size_t i, int *function)
{
  size_t nk = TS_ARRAY_LEN(adql_keywords);
  if (i < nk) {
    *function = adql_keywords[i].category == ADQL_KW_FUNCTION;
    return adql_keywords[i].name;
  }
  *function = 1;
  return i - nk < TS_ARRAY_LEN(adql_reserved_fns) ? adql_reserved_fns[i - nk] : NULL;
}

int adql__reserved_fn(const char *s)
{
  char low[16];
  size_t n = strlen(s);
  if (n >= sizeof low)
    return 0;
  for (size_t i = 0; i <= n; i++)
    low[i] = (s[i] >= 'A' && s[i] <= 'Z') ? (char)(s[i] + 32) : s[i];
  size_t lo = 0, hi = TS_ARRAY_LEN(adql_reserved_fns);
  while (lo < hi) {
    size_t mid = (lo + hi) / 2;
    int c = strcmp(low, adql_reserved_fns[mid]);
    if (c == 0)
      return 1;
    if (c < 0)
      hi = mid;
    else
      lo = mid + 1;
  }
  return 0;
}

/* ---- errors ------------------------------------------------------------------ */

static ts_err failv_at(ts_error *err, const char *text, size_t len, int loc, const char *fmt,
                       va_list ap) TS_PRINTF(5, 0);
static ts_err failv_at(ts_error *err, const char *text, size_t len, int loc, const char *fmt,
                       va_list ap)
{
  int pos = loc < 0 ? 0 : ts_charpos(text, len, loc);
  ts_failv(err, TS_EADQL, pos, fmt, ap);
  if (err) {
    err->line = err->col = 0;
    ts_error_set_linecol(err, text, len);
    /* The end of input is one past the last character. */
    if (pos > 0 && (size_t)loc >= len && err->line == 0) {
      err->line = 1;
      err->col = 1;
    }
  }
  return TS_EADQL;
}

ts_err adql__fail(adql_pstate *ps, int loc, const char *fmt, ...)
{
  va_list ap;
  if (ps->failed)
    return TS_EADQL; /* keep the first error: later ones are consequences */
  ps->failed = 1;
  ps->code = TS_EADQL;
  va_start(ap, fmt);
  failv_at(ps->err, ps->text, ps->len, loc, fmt, ap);
  va_end(ap);
  return TS_EADQL;
}

ts_err adql__oom(adql_pstate *ps, int loc)
{
  if (ps->failed)
    return ps->code;
  ps->failed = 1;
  ps->code = TS_ENOMEM;
  ts_fail(ps->err, TS_ENOMEM, loc < 0 ? 0 : ts_charpos(ps->text, ps->len, loc),
          "query needs more memory than a request may use");
  return TS_ENOMEM;
}

ts_err adql__failq(const adql_query *q, ts_error *err, int loc, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  failv_at(err, q->text, q->len, loc, fmt, ap);
  va_end(ap);
  return TS_EADQL;
}

/* ---- the lookahead filter -------------------------------------------------- */

static int next_token(ADQL_YYSTYPE *lval, int *lloc, int *end, adql_pstate *ps)
{
  int tok;
  if (ps->have_ahead) {
    ps->have_ahead = 0;
    lval->str = ps->ahead_val.str;
    *lloc = ps->ahead_loc;
    *end = ps->ahead_end;
    return ps->ahead_tok;
  }
  tok = adql__core_lex(lval, lloc, ps);
  *end = ps->tok_end;
  if (tok == 0)
    *lloc = (int)ps->len;
  return tok;
}

static void push_back(adql_pstate *ps, int tok, const ADQL_YYSTYPE *val, int loc, int end)
{
  ps->have_ahead = 1;
  ps->ahead_tok = tok;
  ps->ahead_val.str = val->str;
  ps->ahead_loc = loc;
  ps->ahead_end = end;
}

/* Adjacent string literals from *nval on: gathered in one buffer and
 * copied to the arena once, so n literals cost their length, not n times
 * it (the query is at most ADQL_MAX_QUERY_BYTES, so is the buffer). On
 * return *nval and *ntok hold the token after the last literal and *end the
 * end of that literal; -1 (error recorded) when memory runs out. */
static int merge_strings(ADQL_YYSTYPE *lval, ADQL_YYSTYPE *nval, int *ntok, int *nloc, int *nend,
                         int *end, adql_pstate *ps)
{
  ts_buf b;
  ts_err rc;
  ts_buf_init(&b, ADQL_MAX_QUERY_BYTES);
  rc = ts_buf_puts(&b, lval->str);
  while (rc == TS_OK && *ntok == STRING) {
    rc = ts_buf_puts(&b, nval->str);
    *end = *nend;
    *ntok = next_token(nval, nloc, nend, ps);
  }
  lval->str = rc == TS_OK ? ts_arena_strndup(ps->arena, b.data ? b.data : "", b.len) : NULL;
  ts_buf_free(&b);
  if (!lval->str) {
    adql__oom(ps, *nloc);
    return -1;
  }
  return 0;
}

/* Two-token cases become one token, so the grammar needs one lookahead:
 * NOT before BETWEEN/IN/LIKE/ILIKE is NOT_LA; adjacent string literals
 * ('abc' 'def', ADQL's continuation form) are one literal. Parentheses are
 * counted here to cap nesting before the parser stack grows. */
int adql_yylex(ADQL_YYSTYPE *lval, int *lloc, adql_pstate *ps)
{
  ADQL_YYSTYPE nval;
  int end, nloc, nend, ntok;
  int tok = next_token(lval, lloc, &end, ps);

  switch (tok) {
  case NOT:
    ntok = next_token(&nval, &nloc, &nend, ps);
    if (ntok == BETWEEN || ntok == IN_P || ntok == LIKE || ntok == ILIKE)
      tok = NOT_LA;
    push_back(ps, ntok, &nval, nloc, nend);
    break;
  case STRING:
    ntok = next_token(&nval, &nloc, &nend, ps);
    if (ntok == STRING && merge_strings(lval, &nval, &ntok, &nloc, &nend, &end, ps))
      return LEX_ERROR;
    push_back(ps, ntok, &nval, nloc, nend);
    break;
  case IDENT:
    if (adql__reserved_fn(lval->str)) {
      ntok = next_token(&nval, &nloc, &nend, ps);
      if (ntok != '(')
        tok = RESERVED_FN;
      push_back(ps, ntok, &nval, nloc, nend);
    }
    break;
  case '(':
    if (++ps->paren_depth > ADQL_MAX_PAREN_DEPTH) {
      adql__fail(ps, *lloc, "query is too deeply nested (more than %d levels of parentheses)",
                 ADQL_MAX_PAREN_DEPTH);
      return LEX_ERROR;
    }
    break;
  case ')':
    ps->paren_depth--;
    break;
  default:
    break;
  }
  ps->last_loc = *lloc;
  ps->last_end = end;
  return tok;
}

/* ---- input validation -------------------------------------------------------- */

/* Offset of the first NUL byte or invalid UTF-8 sequence, or -1. */
static long bad_byte(const char *p, size_t n, int *is_nul)
{
  const unsigned char *s = (const unsigned char *)p;
  size_t i = 0;
  while (i < n) {
    unsigned c = s[i];
    size_t k;
    uint32_t cp;
    if (c == 0) {
      *is_nul = 1;
      return (long)i;
    }
    if (c < 0x80) {
      i++;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      k = 1;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      k = 2;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      k = 3;
      cp = c & 0x07;
    } else {
      return (long)i;
    }
    for (size_t j = 1; j <= k; j++) {
      if (i + j >= n || (s[i + j] & 0xC0) != 0x80)
        return (long)i;
      cp = (cp << 6) | (s[i + j] & 0x3F);
    }
    /* overlong forms, surrogates, beyond U+10FFFF */
    if ((k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return (long)i;
    i += k + 1;
  }
  return -1;
}

int adql_yyparse(adql_pstate *ps);

ts_err adql_parse(const char *text, size_t len, ts_arena *a, adql_query **out, ts_error *err)
{
  adql_pstate ps;
  adql_query *q;
  long bad;
  int is_nul = 0, rc;

  *out = NULL;
  if (err)
    ts_error_clear(err);
  if (len > ADQL_MAX_QUERY_BYTES)
    return ts_fail(err, TS_EADQL, 0, "query is too long (%zu bytes; the limit is %d bytes)", len,
                   ADQL_MAX_QUERY_BYTES);
  memset(&ps, 0, sizeof ps);
  ps.text = text;
  ps.len = len;
  ps.arena = a;
  ps.err = err;
  bad = bad_byte(text, len, &is_nul);
  if (bad >= 0) {
    if (is_nul)
      return adql__fail(&ps, (int)bad, "query contains a NUL byte");
    return adql__fail(&ps, (int)bad, "query is not valid UTF-8 (byte 0x%02X)",
                      (unsigned char)text[bad]);
  }
  q = ts_arena_calloc(a, 1, sizeof *q);
  if (!q || adql__scanner_init(&ps) != 0)
    return ts_fail(err, TS_ENOMEM, 0, "query needs too much memory");
  rc = adql_yyparse(&ps);
  adql__scanner_destroy(&ps);
  if (ps.failed)
    return ps.code;
  if (rc != 0 || !ps.result)
    return adql__fail(&ps, -1, "query could not be parsed (out of memory)");
  q->text = text;
  q->len = len;
  q->arena = a;
  q->sel = ps.result;
  *out = q;
  return TS_OK;
}
