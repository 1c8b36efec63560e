/* The format registry, RESPONSEFORMAT lookup and the encoder life cycle. */
#include "formats/fmt_int.h"

#include <stdlib.h>

/* Order matters: the first VOTable entry is the default, and for a MIME
 * type without a serialization parameter the first type with that base
 * type wins. */
static const fmt_type *const fmt_all_types[] = {
    &fmt_votable_b2_type, &fmt_votable_td_type, &fmt_votable_b_type, &fmt_votable_gzip_type,
    &fmt_fits_type,       &fmt_csv_type,        &fmt_tsv_type,       &fmt_ecsv_type,
    &fmt_json_type,       &fmt_text_type,       &fmt_html_type,
};

/* VOTable 1.5 variants of the VOTable types (not listed in fmt_all). */
static const struct {
  const fmt_type *v14, *v15;
} fmt_v15[] = {
    {&fmt_votable_b2_type, &fmt_votable_b2_v15_type},
    {&fmt_votable_td_type, &fmt_votable_td_v15_type},
    {&fmt_votable_b_type, &fmt_votable_b_v15_type},
};

const char *fmt_column_coosys(const stream_column *c)
{
  if (!c->ucd || c->is_array)
    return NULL;
  /* pos.eq.ra / pos.eq.dec as the primary word (possibly ;meta.main) */
  if (ts_strncaseeq(c->ucd, "pos.eq.ra", 9) || ts_strncaseeq(c->ucd, "pos.eq.dec", 10)) {
    char e = c->ucd[c->ucd[7] == 'r' || c->ucd[7] == 'R' ? 9 : 10];
    if (e == '\0' || e == ';')
      return "ICRS";
  }
  return NULL;
}

const char *fmt_column_timescale(const stream_column *c)
{
  if (c->kind != STREAM_TIMESTAMP && c->kind != STREAM_TIMESTAMPTZ)
    return NULL;
  return "UTC";
}

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
  const char *ver, *ver_end;       /* version=... (VOTable) */
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
    } else if (fmt_span_eq(k, ke, "version")) {
      m->ver = v;
      m->ver_end = ve;
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

/* The type, or its VOTable 1.5 variant when version=1.5 was asked for.
 * Versions 1.3 and 1.4 get the 1.4 document (a 1.3 reader reads it:
 * same namespace, 1.4 only adds elements we write where metadata says so). */
static const fmt_type *fmt_versioned(const fmt_type *t, const fmt_mime *m)
{
  if (!m->ver)
    return t;
  int is_vot = 0;
  for (size_t i = 0; i < TS_ARRAY_LEN(fmt_v15); i++) {
    if (fmt_v15[i].v14 != t)
      continue;
    is_vot = 1;
    if (fmt_span_eq(m->ver, m->ver_end, "1.5"))
      return fmt_v15[i].v15;
  }
  if (is_vot && (fmt_span_eq(m->ver, m->ver_end, "1.4") || fmt_span_eq(m->ver, m->ver_end, "1.3")))
    return t;
  return NULL;
}

const fmt_type *fmt_lookup(const char *rf)
{
  if (!rf)
    return NULL;
  fmt_mime in;
  fmt_mime_parse(rf, &in);
  const char *s = in.base, *e = in.base_end;
  if (s == e)
    return NULL;
  /* Short names and aliases first: "votable/td" looks like a MIME type. */
  for (size_t i = 0; i < TS_ARRAY_LEN(fmt_all_types); i++) {
    const fmt_type *t = fmt_all_types[i];
    int hit = fmt_span_eq(s, e, t->name);
    for (const char *const *a = t->aliases; !hit && a && *a; a++)
      hit = fmt_span_eq(s, e, *a);
    /* A MIME type among the aliases with a serialization or header parameter is
     * decided by the MIME matching below. */
    if (hit && !in.ser && !in.header)
      return fmt_versioned(t, &in);
  }
  if (!memchr(s, '/', (size_t)(e - s)))
    return NULL;
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
      return fmt_versioned(t, &in);
    if (tm.ser && (size_t)(in.ser_end - in.ser) == (size_t)(tm.ser_end - tm.ser) &&
        ts_strncaseeq(in.ser, tm.ser, (size_t)(in.ser_end - in.ser)))
      return fmt_versioned(t, &in);
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

ts_err fmt_encoder_drain(fmt_encoder *e, int *done)
{
  if (!e->type->drain) {
    *done = 1;
    return TS_OK;
  }
  return e->type->drain(e, done);
}

void fmt_encoder_free(fmt_encoder *e)
{
  if (!e)
    return;
  if (e->type->destroy)
    e->type->destroy(e);
  free(e);
}
