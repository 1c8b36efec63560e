/* The format registry, RESPONSEFORMAT lookup and the encoder life cycle. */
#include "formats/fmt_int.h"

#include <stdlib.h>

/* Order matters: the first VOTable entry is the default, and for a MIME
 * type without a serialization parameter the first type with that base
 * type wins. */
static const fmt_type *const fmt_all_types[] = {
    &fmt_votable_b2_type, &fmt_votable_td_type, &fmt_votable_b_type, &fmt_csv_type, &fmt_tsv_type,
};

const fmt_type *fmt_default(void)
{
  return fmt_all_types[0];
}

const fmt_type *const *fmt_all(size_t *n)
{
  if (n)
    *n = TS_ARRAY_LEN(fmt_all_types);
  return fmt_all_types;
}

static int fmt_blank(char c)
{
  return c == ' ' || c == '\t';
}

/* [*s, *e) trimmed of blanks and of one pair of surrounding quotes. */
static void fmt_trim(const char **s, const char **e, int unquote)
{
  while (*s < *e && fmt_blank(**s))
    (*s)++;
  while (*e > *s && fmt_blank((*e)[-1]))
    (*e)--;
  if (unquote && *e - *s >= 2 && **s == '"' && (*e)[-1] == '"') {
    (*s)++;
    (*e)--;
  }
}

static int fmt_span_eq(const char *s, const char *e, const char *lit)
{
  size_t n = strlen(lit);
  return (size_t)(e - s) == n && ts_strncaseeq(s, lit, n);
}

/* A MIME type split into its base type and the two parameters we act on.
 * Absent parameters are NULL spans. Other parameters (charset=...) are
 * ignored. */
typedef struct fmt_mime {
  const char *base, *base_end;
  const char *ser, *ser_end;       /* serialization=... */
  const char *header, *header_end; /* header=... */
} fmt_mime;

static void fmt_mime_parse(const char *s, fmt_mime *m)
{
  memset(m, 0, sizeof *m);
  const char *end = s + strlen(s);
  const char *semi = memchr(s, ';', (size_t)(end - s));
  m->base = s;
  m->base_end = semi ? semi : end;
  fmt_trim(&m->base, &m->base_end, 0);
  while (semi) {
    const char *p = semi + 1;
    semi = memchr(p, ';', (size_t)(end - p));
    const char *pe = semi ? semi : end;
    const char *eq = memchr(p, '=', (size_t)(pe - p));
    if (!eq)
      continue;
    const char *k = p, *ke = eq, *v = eq + 1, *ve = pe;
    fmt_trim(&k, &ke, 0);
    fmt_trim(&v, &ve, 1);
    if (fmt_span_eq(k, ke, "serialization")) {
      m->ser = v;
      m->ser_end = ve;
    } else if (fmt_span_eq(k, ke, "header")) {
      m->header = v;
      m->header_end = ve;
    }
  }
}

/* Base types that mean the same thing to a TAP client. */
static int fmt_base_eq(const fmt_mime *in, const fmt_mime *t)
{
  if ((size_t)(in->base_end - in->base) == (size_t)(t->base_end - t->base) &&
      ts_strncaseeq(in->base, t->base, (size_t)(in->base_end - in->base)))
    return 1;
  /* text/xml and the IANA-registered application/votable+xml are what
   * some clients send for a VOTable. */
  return fmt_span_eq(t->base, t->base_end, "application/x-votable+xml") &&
         (fmt_span_eq(in->base, in->base_end, "text/xml") ||
          fmt_span_eq(in->base, in->base_end, "application/votable+xml"));
}

const fmt_type *fmt_lookup(const char *rf)
{
  if (!rf)
    return NULL;
  const char *s = rf, *e = rf + strlen(rf);
  fmt_trim(&s, &e, 0);
  if (s == e)
    return NULL;
  /* Short names and aliases first: "votable/td" looks like a MIME type. */
  for (size_t i = 0; i < TS_ARRAY_LEN(fmt_all_types); i++) {
    const fmt_type *t = fmt_all_types[i];
    if (fmt_span_eq(s, e, t->name))
      return t;
    for (const char *const *a = t->aliases; a && *a; a++)
      if (fmt_span_eq(s, e, *a))
        return t;
  }
  if (!memchr(s, '/', (size_t)(e - s)))
    return NULL;
  fmt_mime in;
  fmt_mime_parse(rf, &in);
  for (size_t i = 0; i < TS_ARRAY_LEN(fmt_all_types); i++) {
    const fmt_type *t = fmt_all_types[i];
    fmt_mime tm;
    fmt_mime_parse(t->mime, &tm);
    if (!fmt_base_eq(&in, &tm))
      continue;
    /* We always write a CSV header: a client asking for none gets an
     * unknown-format error rather than a header line it does not expect. */
    if (in.header && tm.header &&
        ((size_t)(in.header_end - in.header) != (size_t)(tm.header_end - tm.header) ||
         !ts_strncaseeq(in.header, tm.header, (size_t)(in.header_end - in.header))))
      return NULL;
    if (!in.ser)
      return t;
    if (tm.ser && (size_t)(in.ser_end - in.ser) == (size_t)(tm.ser_end - tm.ser) &&
        ts_strncaseeq(in.ser, tm.ser, (size_t)(in.ser_end - in.ser)))
      return t;
  }
  return NULL;
}

fmt_encoder *fmt_encoder_new(const fmt_type *t, stream_out *out)
{
  if (!t || !out || t->size < sizeof(fmt_encoder))
    return NULL;
  fmt_encoder *e = calloc(1, t->size);
  if (!e)
    return NULL;
  e->type = t;
  e->out = out;
  return e;
}

ts_err fmt_encoder_begin(fmt_encoder *e, const stream_schema *s, const fmt_info *info)
{
  static const fmt_info none = {.maxrec = -1};
  e->schema = s;
  return e->type->begin(e, s, info ? info : &none);
}

ts_err fmt_encoder_rows(fmt_encoder *e, const stream_batch *b)
{
  if (!e->schema || b->ncols != e->schema->ncols)
    return TS_EINTERNAL;
  if (b->nrows == 0)
    return e->out->err;
  return e->type->rows(e, b);
}

ts_err fmt_encoder_end(fmt_encoder *e, const fmt_trailer *t)
{
  static const fmt_trailer ok = {FMT_OK, NULL};
  return e->type->end(e, t ? t : &ok);
}

void fmt_encoder_free(fmt_encoder *e)
{
  if (!e)
    return;
  if (e->type->destroy)
    e->type->destroy(e);
  free(e);
}
