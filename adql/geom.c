/* adql/geom.c: the two small languages that ADQL embeds in strings:
 * STC-S regions (REGION('Circle ICRS 10 20 1')) and VOUnits (IN_UNIT(x,
 * 'arcsec')). Both are parsed at check time, so the translation never
 * contains text the user wrote inside these strings: a region becomes
 * numbers, a unit becomes a factor. */
#include "adql/adql_int.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- STC-S --------------------------------------------------------------- */

typedef struct stcs {
  ts_arena *a;
  const char *p;
  char *msg;
  size_t msgsize;
  int depth;
} stcs;

static int stcs_fail(stcs *s, const char *fmt, ...) TS_PRINTF(2, 3);
static int stcs_fail(stcs *s, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(s->msg, s->msgsize, fmt, ap);
  va_end(ap);
  return -1;
}

static void skip_space(stcs *s)
{
  while (*s->p && isspace((unsigned char)*s->p))
    s->p++;
}

/* The next word (letters, digits, '_', '-', '+', '.'), or a single
 * parenthesis. Not consumed. */
static size_t peek_word(stcs *s, const char **start)
{
  const char *q;
  skip_space(s);
  *start = s->p;
  if (*s->p == '(' || *s->p == ')')
    return 1;
  for (q = s->p; *q && !isspace((unsigned char)*q) && *q != '(' && *q != ')'; q++)
    ;
  return (size_t)(q - s->p);
}

static int word_is(const char *w, size_t n, const char *kw)
{
  return strlen(kw) == n && ts_strncaseeq(w, kw, n);
}

/* Frames, reference positions and flavours STC-S allows before the
 * coordinates; this service does not convert between frames, so they are
 * accepted and recorded (the checker decides what to allow). */
static const char *const stcs_frames[] = {"ICRS",           "FK4",      "FK5",      "J2000",
                                          "B1950",          "ECLIPTIC", "GALACTIC", "GALACTIC_II",
                                          "SUPER_GALACTIC", "GEO_C",    "GEO_D",    "UNKNOWNFrame"};
static const char *const stcs_refpos[] = {"BARYCENTER", "GEOCENTER",   "HELIOCENTER",  "LSR",
                                          "TOPOCENTER", "RELOCATABLE", "UNKNOWNRefPos"};
static const char *const stcs_flavors[] = {"SPHERICAL2", "CARTESIAN2", "UNITSPHERE", "CARTESIAN3"};

static int in_list(const char *w, size_t n, const char *const *list, size_t count)
{
  for (size_t i = 0; i < count; i++)
    if (word_is(w, n, list[i]))
      return 1;
  return 0;
}

static int parse_frame(stcs *s, const char **frame)
{
  const char *w;
  size_t n = peek_word(s, &w);
  *frame = NULL;
  if (n && in_list(w, n, stcs_frames, TS_ARRAY_LEN(stcs_frames))) {
    *frame = ts_arena_strndup(s->a, w, n);
    if (!*frame)
      return stcs_fail(s, "%s", "out of memory");
    s->p += n;
    n = peek_word(s, &w);
  }
  if (n && in_list(w, n, stcs_refpos, TS_ARRAY_LEN(stcs_refpos))) {
    s->p += n;
    n = peek_word(s, &w);
  }
  if (n && in_list(w, n, stcs_flavors, TS_ARRAY_LEN(stcs_flavors)))
    s->p += n;
  return 0;
}

/* Reads numbers until something else comes. */
static int parse_numbers(stcs *s, adql_region *r)
{
  double buf[2048];
  size_t n = 0;
  for (;;) {
    const char *w;
    size_t len = peek_word(s, &w);
    char tmp[64], *end;
    if (!len || len >= sizeof tmp ||
        !(isdigit((unsigned char)w[0]) || w[0] == '-' || w[0] == '+' || w[0] == '.'))
      break;
    memcpy(tmp, w, len);
    tmp[len] = '\0';
    double v = strtod(tmp, &end);
    if (*end || !isfinite(v))
      return stcs_fail(s, "malformed number \"%s\" in the region", tmp);
    if (n == TS_ARRAY_LEN(buf))
      return stcs_fail(s, "%s", "too many numbers in the region");
    buf[n++] = v;
    s->p += len;
  }
  r->nv = n;
  r->v = ts_arena_alloc(s->a, (n ? n : 1) * sizeof *r->v);
  if (!r->v)
    return stcs_fail(s, "%s", "out of memory");
  memcpy(r->v, buf, n * sizeof *buf);
  return 0;
}

static int parse_region(stcs *s, adql_region **out);

static int parse_compound(stcs *s, adql_region *r)
{
  const char *w;
  size_t n = peek_word(s, &w);
  adql_region *subs[64];
  if (n != 1 || *w != '(')
    return stcs_fail(s, "%s", "expected \"(\" after Union, Intersection or Not");
  s->p++;
  r->nsub = 0;
  for (;;) {
    n = peek_word(s, &w);
    if (n == 1 && *w == ')') {
      s->p++;
      break;
    }
    if (!n)
      return stcs_fail(s, "%s", "missing \")\" in the region");
    if (r->nsub == TS_ARRAY_LEN(subs))
      return stcs_fail(s, "%s", "too many sub-regions");
    if (parse_region(s, &subs[r->nsub]))
      return -1;
    r->nsub++;
  }
  if (r->kind == ADQL_R_NOT ? r->nsub != 1 : r->nsub < 2)
    return stcs_fail(s, "%s",
                     r->kind == ADQL_R_NOT ? "Not takes exactly one region"
                                           : "Union and Intersection take two regions or more");
  r->sub = ts_arena_alloc(s->a, r->nsub * sizeof *r->sub);
  if (!r->sub)
    return stcs_fail(s, "%s", "out of memory");
  memcpy(r->sub, subs, r->nsub * sizeof *subs);
  return 0;
}

static int parse_region(stcs *s, adql_region **out)
{
  static const struct {
    const char *name;
    adql_regkind kind;
  } kinds[] = {{"Position", ADQL_R_POSITION},
               {"Circle", ADQL_R_CIRCLE},
               {"Box", ADQL_R_BOX},
               {"Polygon", ADQL_R_POLYGON},
               {"Union", ADQL_R_UNION},
               {"Intersection", ADQL_R_INTERSECTION},
               {"Not", ADQL_R_NOT}};
  const char *w;
  size_t n = peek_word(s, &w);
  adql_region *r;
  size_t k;
  char word[40];
  if (++s->depth > 32)
    return stcs_fail(s, "%s", "region is nested too deeply");
  for (k = 0; k < TS_ARRAY_LEN(kinds); k++)
    if (word_is(w, n, kinds[k].name))
      break;
  if (k == TS_ARRAY_LEN(kinds)) {
    snprintf(word, sizeof word, "%.*s", n > 30 ? 30 : (int)n, w);
    return stcs_fail(s,
                     n ? "unknown region type \"%s\" (expected Position, Circle, Box, Polygon, "
                         "Union, Intersection or Not)"
                       : "%sempty region",
                     word);
  }
  s->p += n;
  r = ts_arena_calloc(s->a, 1, sizeof *r);
  if (!r)
    return stcs_fail(s, "%s", "out of memory");
  r->kind = kinds[k].kind;
  if (parse_frame(s, &r->frame))
    return -1;
  if (r->kind == ADQL_R_UNION || r->kind == ADQL_R_INTERSECTION || r->kind == ADQL_R_NOT) {
    if (parse_compound(s, r))
      return -1;
  } else {
    if (parse_numbers(s, r))
      return -1;
    size_t want = r->kind == ADQL_R_POSITION ? 2 : r->kind == ADQL_R_CIRCLE ? 3 : 4;
    if (r->kind == ADQL_R_POLYGON ? (r->nv < 6 || r->nv % 2) : r->nv != want) {
      if (r->kind == ADQL_R_POLYGON)
        return stcs_fail(s, "%s", "Polygon needs 3 or more longitude/latitude pairs");
      snprintf(word, sizeof word, "%s needs %zu numbers", kinds[k].name, want);
      return stcs_fail(s, "%s", word);
    }
    if (r->kind == ADQL_R_CIRCLE && r->v[2] < 0)
      return stcs_fail(s, "%s", "a circle's radius cannot be negative");
  }
  s->depth--;
  *out = r;
  return 0;
}

int adql__stcs_parse(ts_arena *a, const char *text, adql_region **out, char *msg, size_t msgsize)
{
  stcs s = {a, text, msg, msgsize, 0};
  const char *w;
  if (parse_region(&s, out))
    return -1;
  if (peek_word(&s, &w))
    return stcs_fail(&s, "unexpected \"%.20s\" after the region", w);
  return 0;
}

/* ---- VOUnits ------------------------------------------------------------- */

/* A quantity: a factor to SI and the exponents of the base dimensions
 * (m, kg, s, A, K, mol, cd, rad). Angles count as a dimension of their
 * own so that deg never converts to m. */
enum { U_M, U_KG, U_S, U_A, U_K, U_MOL, U_CD, U_RAD, U_NDIM };

typedef struct uq {
  double f;
  int d[U_NDIM];
} uq;

static const struct {
  const char *name;
  double f;
  int d[U_NDIM];
  int prefixable;
} units[] = {
    {"m", 1, {1}, 1},
    {"g", 1e-3, {0, 1}, 1},
    {"s", 1, {0, 0, 1}, 1},
    {"A", 1, {0, 0, 0, 1}, 1},
    {"K", 1, {0, 0, 0, 0, 1}, 1},
    {"mol", 1, {0, 0, 0, 0, 0, 1}, 1},
    {"cd", 1, {0, 0, 0, 0, 0, 0, 1}, 1},
    {"rad", 1, {0, 0, 0, 0, 0, 0, 0, 1}, 1},
    {"deg", M_PI / 180, {0, 0, 0, 0, 0, 0, 0, 1}, 0},
    {"arcmin", M_PI / 180 / 60, {0, 0, 0, 0, 0, 0, 0, 1}, 0},
    {"arcsec", M_PI / 180 / 3600, {0, 0, 0, 0, 0, 0, 0, 1}, 1},
    {"mas", M_PI / 180 / 3600e3, {0, 0, 0, 0, 0, 0, 0, 1}, 0},
    {"sr", 1, {0, 0, 0, 0, 0, 0, 0, 2}, 1},
    {"min", 60, {0, 0, 1}, 0},
    {"h", 3600, {0, 0, 1}, 0},
    {"d", 86400, {0, 0, 1}, 0},
    {"a", 31557600, {0, 0, 1}, 1},
    {"yr", 31557600, {0, 0, 1}, 1},
    {"Hz", 1, {0, 0, -1}, 1},
    {"N", 1, {1, 1, -2}, 1},
    {"J", 1, {2, 1, -2}, 1},
    {"W", 1, {2, 1, -3}, 1},
    {"eV", 1.602176634e-19, {2, 1, -2}, 1},
    {"erg", 1e-7, {2, 1, -2}, 0},
    {"Jy", 1e-26, {0, 1, -2}, 1},
    {"Angstrom", 1e-10, {1}, 0},
    {"AU", 1.495978707e11, {1}, 0},
    {"au", 1.495978707e11, {1}, 0},
    {"pc", 3.0856775814913673e16, {1}, 1},
    {"lyr", 9.4607304725808e15, {1}, 0},
    {"solRad", 6.957e8, {1}, 0},
    {"solMass", 1.98840987e30, {0, 1}, 0},
    {"solLum", 3.828e26, {2, 1, -3}, 0},
    {"mag", 1, {0}, 0},
    {"%", 0.01, {0}, 0},
};

static const struct {
  const char *p;
  double f;
} prefixes[] = {{"da", 1e1},  {"y", 1e-24}, {"z", 1e-21}, {"a", 1e-18}, {"f", 1e-15},
                {"p", 1e-12}, {"n", 1e-9},  {"u", 1e-6},  {"m", 1e-3},  {"c", 1e-2},
                {"d", 1e-1},  {"h", 1e2},   {"k", 1e3},   {"M", 1e6},   {"G", 1e9},
                {"T", 1e12},  {"P", 1e15},  {"E", 1e18},  {"Z", 1e21},  {"Y", 1e24}};

static int unit_atom(const char *w, size_t n, uq *q)
{
  for (size_t i = 0; i < TS_ARRAY_LEN(units); i++)
    if (strlen(units[i].name) == n && !memcmp(units[i].name, w, n)) {
      q->f = units[i].f;
      memcpy(q->d, units[i].d, sizeof q->d);
      return 0;
    }
  for (size_t k = 0; k < TS_ARRAY_LEN(prefixes); k++) {
    size_t pl = strlen(prefixes[k].p);
    if (n <= pl || memcmp(w, prefixes[k].p, pl))
      continue;
    for (size_t i = 0; i < TS_ARRAY_LEN(units); i++)
      if (units[i].prefixable && strlen(units[i].name) == n - pl &&
          !memcmp(units[i].name, w + pl, n - pl)) {
        q->f = units[i].f * prefixes[k].f;
        memcpy(q->d, units[i].d, sizeof q->d);
        return 0;
      }
  }
  return -1;
}

static int unit_parse(const char *u, uq *out, char *msg, size_t msgsize)
{
  const char *p = u;
  int sign = 1;
  out->f = 1;
  memset(out->d, 0, sizeof out->d);
  while (*p == ' ')
    p++;
  if (!*p) {
    snprintf(msg, msgsize, "empty unit");
    return -1;
  }
  for (;;) {
    const char *w = p;
    uq a;
    long e = 1;
    while (*p && *p != '.' && *p != '/' && *p != '*' && *p != ' ')
      p++;
    if (unit_atom(w, (size_t)(p - w), &a)) {
      snprintf(msg, msgsize, "unknown unit \"%.*s\"", (int)(p - w > 30 ? 30 : p - w), w);
      return -1;
    }
    if (p[0] == '*' && p[1] == '*') {
      char *end;
      p += 2;
      if (*p == '(')
        p++;
      e = strtol(p, &end, 10);
      if (end == p || e < -9 || e > 9) {
        snprintf(msg, msgsize, "malformed power in unit \"%s\"", u);
        return -1;
      }
      p = end;
      if (*p == ')')
        p++;
    }
    out->f *= pow(a.f, (double)(sign * e));
    for (int i = 0; i < U_NDIM; i++)
      out->d[i] += sign * (int)e * a.d[i];
    while (*p == ' ')
      p++;
    if (!*p)
      return 0;
    /* '/' divides by the next factor only (VOUnits: km/s, kg.m/s**2). */
    if (*p == '/')
      sign = -1;
    else if (*p == '.')
      sign = 1;
    else {
      snprintf(msg, msgsize, "malformed unit \"%s\"", u);
      return -1;
    }
    p++;
  }
}

int adql__unit_factor(const char *from, const char *to, double *factor, char *msg, size_t msgsize)
{
  uq a, b;
  if (unit_parse(from, &a, msg, msgsize) || unit_parse(to, &b, msg, msgsize))
    return -1;
  if (memcmp(a.d, b.d, sizeof a.d)) {
    snprintf(msg, msgsize, "cannot convert \"%s\" to \"%s\"", from, to);
    return -1;
  }
  *factor = a.f / b.f;
  return 0;
}
