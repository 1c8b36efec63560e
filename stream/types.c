/* Column model and value helpers (see stream.h). */
#include "stream/stream.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

/* PostgreSQL's varlena header: a typmod of bpchar(n)/varchar(n) is n + 4. */
enum { PG_VARHDRSZ = 4, PG_MAXDIM = 6 };

typedef struct type_map {
  uint32_t oid;
  uint32_t array_oid;
  stream_kind kind;
  const char *datatype;
  const char *xtype;
} type_map;

/* Textual kinds carry datatype "char": the VOTable encoders write UTF-8 and
 * may switch to unicodeChar for non-ASCII content. */
static const type_map stream_types[] = {
    {16, 1000, STREAM_BOOL, "boolean", NULL},
    {21, 1005, STREAM_INT2, "short", NULL},
    {23, 1007, STREAM_INT4, "int", NULL},
    {20, 1016, STREAM_INT8, "long", NULL},
    {700, 1021, STREAM_FLOAT4, "float", NULL},
    {701, 1022, STREAM_FLOAT8, "double", NULL},
    {1700, 1231, STREAM_NUMERIC, "double", NULL},
    {25, 1009, STREAM_TEXT, "char", NULL},
    {1043, 1015, STREAM_TEXT, "char", NULL},
    {1042, 1014, STREAM_TEXT, "char", NULL},
    {19, 0, STREAM_TEXT, "char", NULL},
    {1114, 1115, STREAM_TIMESTAMP, "char", "timestamp"},
    {1184, 1185, STREAM_TIMESTAMPTZ, "char", "timestamp"},
    {1082, 1182, STREAM_DATE, "char", "timestamp"},
};

/* "N" or "N*" for bpchar(N) / varchar(N). The strings must be static
 * (stream.h), and lengths are few and repeat, so they are interned for the
 * life of the process: memory is bounded by the distinct lengths seen. */
typedef struct interned {
  struct interned *next;
  char s[16];
} interned;

static const char *intern_arraysize(int32_t n, int bounded)
{
  static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
  static interned *head;
  char tmp[16];
  snprintf(tmp, sizeof tmp, bounded ? "%d*" : "%d", (int)n);
  const char *found = NULL;
  pthread_mutex_lock(&mu);
  for (interned *i = head; i && !found; i = i->next)
    if (!strcmp(i->s, tmp))
      found = i->s;
  if (!found) {
    interned *i = malloc(sizeof *i);
    if (i) {
      memcpy(i->s, tmp, sizeof tmp);
      i->next = head;
      head = i;
      found = i->s;
    }
  }
  pthread_mutex_unlock(&mu);
  return found ? found : "*"; /* out of memory: the variable form is still valid */
}

static const char *typmod_arraysize(uint32_t oid, int32_t typmod)
{
  if (typmod < PG_VARHDRSZ) /* -1: no declared length */
    return "*";
  return intern_arraysize(typmod - PG_VARHDRSZ, oid != 1042);
}

ts_err stream_column_set_type(stream_column *c, uint32_t type_oid, int32_t typmod)
{
  c->type_oid = type_oid;
  c->typmod = typmod;
  c->is_array = 0;
  c->xtype = NULL;
  for (size_t i = 0; i < TS_ARRAY_LEN(stream_types); i++) {
    const type_map *t = &stream_types[i];
    if (t->oid == type_oid) {
      c->kind = t->kind;
      c->datatype = t->datatype;
      c->xtype = t->xtype;
      if (t->kind == STREAM_TEXT && type_oid != 19)
        c->arraysize = typmod_arraysize(type_oid, typmod);
      else if (!strcmp(t->datatype, "char"))
        c->arraysize = "*";
      else
        c->arraysize = NULL;
      return TS_OK;
    }
    if (t->array_oid && t->array_oid == type_oid) {
      c->kind = t->kind;
      c->is_array = 1;
      c->arraysize = "*";
      /* Arrays of strings and of timestamps/dates have no VOTable form
       * (char arrays of variable-length strings need a fixed width), so
       * they are one char string each: the PostgreSQL array literal
       * {a,"b c",NULL} (see stream_format_array_literal). */
      c->datatype = t->datatype;
      return TS_OK;
    }
  }
  c->kind = STREAM_UNSUPPORTED;
  c->datatype = NULL;
  c->arraysize = NULL;
  return TS_EINVAL;
}

int32_t stream_kind_len(stream_kind k)
{
  switch (k) {
  case STREAM_BOOL:
    return 1;
  case STREAM_INT2:
    return 2;
  case STREAM_INT4:
  case STREAM_FLOAT4:
  case STREAM_DATE:
    return 4;
  case STREAM_INT8:
  case STREAM_FLOAT8:
  case STREAM_TIMESTAMP:
  case STREAM_TIMESTAMPTZ:
    return 8;
  default:
    return 0;
  }
}

const char *stream_pg_type_name(uint32_t oid)
{
  static const struct {
    uint32_t oid;
    const char *name;
  } names[] = {
      {16, "boolean"},
      {17, "bytea"},
      {18, "\"char\""},
      {19, "name"},
      {20, "bigint"},
      {21, "smallint"},
      {23, "integer"},
      {25, "text"},
      {26, "oid"},
      {114, "json"},
      {142, "xml"},
      {600, "point"},
      {601, "lseg"},
      {602, "path"},
      {603, "box"},
      {604, "polygon"},
      {628, "line"},
      {650, "cidr"},
      {700, "real"},
      {701, "double precision"},
      {718, "circle"},
      {790, "money"},
      {829, "macaddr"},
      {869, "inet"},
      {1000, "boolean[]"},
      {1005, "smallint[]"},
      {1007, "integer[]"},
      {1009, "text[]"},
      {1014, "character[]"},
      {1015, "character varying[]"},
      {1016, "bigint[]"},
      {1021, "real[]"},
      {1022, "double precision[]"},
      {1042, "character"},
      {1043, "character varying"},
      {1082, "date"},
      {1083, "time without time zone"},
      {1114, "timestamp without time zone"},
      {1115, "timestamp without time zone[]"},
      {1182, "date[]"},
      {1184, "timestamp with time zone"},
      {1185, "timestamp with time zone[]"},
      {1186, "interval"},
      {1231, "numeric[]"},
      {1266, "time with time zone"},
      {1560, "bit"},
      {1562, "bit varying"},
      {1700, "numeric"},
      {2249, "record"},
      {2950, "uuid"},
      {3802, "jsonb"},
  };
  for (size_t i = 0; i < TS_ARRAY_LEN(names); i++)
    if (names[i].oid == oid)
      return names[i].name;
  return NULL;
}

/* ---- numeric -------------------------------------------------------------
 * Binary numeric: int16 ndigits, int16 weight, uint16 sign, int16 dscale,
 * then ndigits base-10000 digits; value = sum d[i] * 10000^(weight - i).
 * The digits are turned into a decimal string for strtod, which rounds
 * correctly (summing in double would not). */
enum {
  NUMERIC_POS = 0x0000,
  NUMERIC_NEG = 0x4000,
  NUMERIC_NAN = 0xC000,
  NUMERIC_PINF = 0xD000,
  NUMERIC_NINF = 0xF000,
  NUMERIC_MAX_GROUPS = 200 /* 800 significant digits: more than double needs */
};

double stream_numeric_to_double(const uint8_t *p, int32_t len)
{
  if (!p || len < 8)
    return NAN;
  int ndigits = (int16_t)stream_be16(p);
  int weight = (int16_t)stream_be16(p + 2);
  unsigned sign = stream_be16(p + 4);
  if (sign == NUMERIC_NAN)
    return NAN;
  if (sign == NUMERIC_PINF)
    return INFINITY;
  if (sign == NUMERIC_NINF)
    return -INFINITY;
  if ((sign != NUMERIC_POS && sign != NUMERIC_NEG) || ndigits < 0 || len < 8 + 2 * ndigits)
    return NAN;
  if (ndigits == 0)
    return sign == NUMERIC_NEG ? -0.0 : 0.0;
  int used = ndigits < NUMERIC_MAX_GROUPS ? ndigits : NUMERIC_MAX_GROUPS;
  char s[4 * NUMERIC_MAX_GROUPS + 32];
  size_t k = 0;
  if (sign == NUMERIC_NEG)
    s[k++] = '-';
  for (int i = 0; i < used; i++) {
    unsigned d = stream_be16(p + 8 + 2 * i);
    if (d > 9999)
      return NAN;
    s[k++] = (char)('0' + d / 1000);
    s[k++] = (char)('0' + d / 100 % 10);
    s[k++] = (char)('0' + d / 10 % 10);
    s[k++] = (char)('0' + d % 10);
  }
  /* The last group used has place value 10000^(weight - used + 1). */
  long exp10 = 4L * ((long)weight - used + 1);
  snprintf(s + k, sizeof s - k, "e%ld", exp10);
  return strtod(s, NULL);
}

/* ---- dates and timestamps ------------------------------------------------ */
static const int64_t PG_EPOCH_DAYS = 10957; /* 1970-01-01 -> 2000-01-01 */
static const int64_t USEC_PER_DAY = 86400LL * 1000000LL;

/* Days since 1970-01-01 -> proleptic Gregorian y/m/d (H. Hinnant's
 * civil_from_days; valid for negative values). */
static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
  z += 719468;
  int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  int64_t doe = z - era * 146097;
  int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  int64_t mp = (5 * doy + 2) / 153;
  *d = (int)(doy - (153 * mp + 2) / 5 + 1);
  *m = (int)(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

static size_t format_ymd(char *out, size_t cap, int64_t days_since_2000)
{
  int64_t y;
  int m, d;
  civil_from_days(days_since_2000 + PG_EPOCH_DAYS, &y, &m, &d);
  /* Astronomical year numbering: year 0 is 1 BC, as ISO 8601 expanded
   * years do. */
  int n = y < 0 ? snprintf(out, cap, "-%04lld-%02d-%02d", (long long)-y, m, d)
                : snprintf(out, cap, "%04lld-%02d-%02d", (long long)y, m, d);
  return n < 0 ? 0 : (size_t)n;
}

static size_t copy_lit(char out[40], const char *s)
{
  size_t n = strlen(s);
  memcpy(out, s, n + 1);
  return n;
}

size_t stream_format_timestamp(char out[40], int64_t pg_usec)
{
  if (pg_usec == INT64_MAX)
    return copy_lit(out, "infinity");
  if (pg_usec == INT64_MIN)
    return copy_lit(out, "-infinity");
  int64_t days = pg_usec / USEC_PER_DAY;
  int64_t rem = pg_usec % USEC_PER_DAY;
  if (rem < 0) { /* floor division: times before 2000 count back from midnight */
    rem += USEC_PER_DAY;
    days--;
  }
  size_t n = format_ymd(out, 40, days);
  int64_t secs = rem / 1000000, usec = rem % 1000000;
  int k = usec ? snprintf(out + n, 40 - n, "T%02d:%02d:%02d.%06d", (int)(secs / 3600),
                          (int)(secs / 60 % 60), (int)(secs % 60), (int)usec)
               : snprintf(out + n, 40 - n, "T%02d:%02d:%02d", (int)(secs / 3600),
                          (int)(secs / 60 % 60), (int)(secs % 60));
  return k < 0 ? n : n + (size_t)k;
}

size_t stream_format_date(char out[40], int32_t pg_days)
{
  if (pg_days == INT32_MAX)
    return copy_lit(out, "infinity");
  if (pg_days == INT32_MIN)
    return copy_lit(out, "-infinity");
  return format_ymd(out, 40, pg_days);
}

/* ---- arrays ---------------------------------------------------------------
 * Binary array: int32 ndim, int32 flags (has-nulls), uint32 element oid,
 * ndim x (int32 size, int32 lower bound), then per element int32 length
 * (-1 NULL) and bytes. The whole value is checked here once, so that
 * stream_array_next can trust it. */
ts_err stream_array_begin(stream_array_iter *it, const stream_value *v)
{
  memset(it, 0, sizeof *it);
  if (!v || v->len < 12 || !v->p)
    return TS_EINVAL;
  const uint8_t *p = v->p, *end = v->p + v->len;
  int32_t ndim = (int32_t)stream_be32(p);
  int32_t flags = (int32_t)stream_be32(p + 4);
  if (ndim < 0 || ndim > PG_MAXDIM || (flags != 0 && flags != 1))
    return TS_EINVAL;
  it->elem_oid = stream_be32(p + 8);
  p += 12;
  if (end - p < 8L * ndim)
    return TS_EINVAL;
  int64_t count = ndim ? 1 : 0;
  for (int32_t i = 0; i < ndim; i++) {
    int32_t dim = (int32_t)stream_be32(p + 8 * i);
    if (dim < 0)
      return TS_EINVAL;
    count *= dim;
    if (count > (end - p) / 4) /* each element takes at least 4 bytes */
      return TS_EINVAL;
  }
  p += 8 * ndim;
  const uint8_t *q = p;
  for (int64_t i = 0; i < count; i++) {
    if (end - q < 4)
      return TS_EINVAL;
    int32_t len = (int32_t)stream_be32(q);
    q += 4;
    if (len < -1 || (len > 0 && end - q < len))
      return TS_EINVAL;
    if (len == -1 && !flags)
      return TS_EINVAL;
    if (len > 0)
      q += len;
  }
  if (q != end)
    return TS_EINVAL;
  it->p = p;
  it->end = end;
  it->count = count;
  it->index = 0;
  return TS_OK;
}

int stream_array_next(stream_array_iter *it, stream_value *elem)
{
  if (it->index >= it->count)
    return 0;
  int32_t len = (int32_t)stream_be32(it->p);
  it->p += 4;
  elem->p = it->p;
  elem->len = len;
  if (len > 0)
    it->p += len;
  it->index++;
  return 1;
}

/* ---- array literal ------------------------------------------------------- */
static int literal_needs_quotes(const uint8_t *p, int32_t len)
{
  if (len == 0)
    return 1;
  if (len == 4 && ts_strncaseeq((const char *)p, "null", 4))
    return 1;
  for (int32_t i = 0; i < len; i++) {
    uint8_t ch = p[i];
    if (ch == '{' || ch == '}' || ch == ',' || ch == '"' || ch == '\\' || ch == ' ' || ch == '\t' ||
        ch == '\n' || ch == '\r' || ch == '\v' || ch == '\f')
      return 1;
  }
  return 0;
}

static ts_err literal_elem(ts_buf *out, stream_kind kind, const stream_value *e)
{
  char tmp[48];
  int n = 0;
  switch (kind) {
  case STREAM_TEXT:
    if (!literal_needs_quotes(e->p, e->len))
      return ts_buf_append(out, e->p, (size_t)e->len);
    ts_err rc = ts_buf_append(out, "\"", 1);
    for (int32_t i = 0; !rc && i < e->len; i++) {
      if (e->p[i] == '"' || e->p[i] == '\\')
        rc = ts_buf_append(out, "\\", 1);
      if (!rc)
        rc = ts_buf_append(out, e->p + i, 1);
    }
    return rc ? rc : ts_buf_append(out, "\"", 1);
  case STREAM_BOOL:
    return e->len == 1 ? ts_buf_puts(out, e->p[0] ? "t" : "f") : TS_EINVAL;
  case STREAM_INT2:
    if (e->len != 2)
      return TS_EINVAL;
    n = snprintf(tmp, sizeof tmp, "%d", stream_get_int2(e));
    break;
  case STREAM_INT4:
    if (e->len != 4)
      return TS_EINVAL;
    n = snprintf(tmp, sizeof tmp, "%d", (int)stream_get_int4(e));
    break;
  case STREAM_INT8:
    if (e->len != 8)
      return TS_EINVAL;
    n = snprintf(tmp, sizeof tmp, "%lld", (long long)stream_get_int8(e));
    break;
  case STREAM_FLOAT4:
    if (e->len != 4)
      return TS_EINVAL;
    n = snprintf(tmp, sizeof tmp, "%.9g", (double)stream_get_float4(e));
    break;
  case STREAM_FLOAT8:
    if (e->len != 8)
      return TS_EINVAL;
    n = snprintf(tmp, sizeof tmp, "%.17g", stream_get_float8(e));
    break;
  case STREAM_NUMERIC:
    n = snprintf(tmp, sizeof tmp, "%.17g", stream_numeric_to_double(e->p, e->len));
    break;
  case STREAM_TIMESTAMP:
  case STREAM_TIMESTAMPTZ:
    if (e->len != 8)
      return TS_EINVAL;
    n = (int)stream_format_timestamp(tmp, stream_get_int8(e));
    return ts_buf_printf(out, "\"%s\"", tmp);
  case STREAM_DATE:
    if (e->len != 4)
      return TS_EINVAL;
    n = (int)stream_format_date(tmp, stream_get_int4(e));
    break;
  default:
    return TS_EINVAL;
  }
  return n < 0 ? TS_EINTERNAL : ts_buf_append(out, tmp, (size_t)n);
}

ts_err stream_format_array_literal(ts_buf *out, stream_kind kind, const stream_value *v)
{
  stream_array_iter it;
  stream_value e;
  ts_err rc = stream_array_begin(&it, v);
  if (!rc)
    rc = ts_buf_append(out, "{", 1);
  for (int64_t i = 0; !rc && stream_array_next(&it, &e); i++) {
    if (i)
      rc = ts_buf_append(out, ",", 1);
    if (!rc)
      rc = e.len < 0 ? ts_buf_puts(out, "NULL") : literal_elem(out, kind, &e);
  }
  return rc ? rc : ts_buf_append(out, "}", 1);
}
