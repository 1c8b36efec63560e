/* Column model, value helpers and the COPY BINARY decoder, on hand-built
 * byte streams. */
#include "stream/stream.h"
#include "test_list.h"
#define TS_TEST_MAIN
#include "ts_test.h"

#include <math.h>
#include <stdlib.h>

/* ---- byte builders -------------------------------------------------------- */
typedef struct bytes {
  uint8_t b[4096];
  size_t n;
} bytes;

static void put(bytes *s, const void *p, size_t n)
{
  memcpy(s->b + s->n, p, n);
  s->n += n;
}
static void put16(bytes *s, uint16_t v)
{
  uint8_t t[2] = {(uint8_t)(v >> 8), (uint8_t)v};
  put(s, t, 2);
}
static void put32(bytes *s, uint32_t v)
{
  put16(s, (uint16_t)(v >> 16));
  put16(s, (uint16_t)v);
}
static void put64(bytes *s, uint64_t v)
{
  put32(s, (uint32_t)(v >> 32));
  put32(s, (uint32_t)v);
}
static void put_header(bytes *s, uint32_t flags, uint32_t ext)
{
  put(s, "PGCOPY\n\377\r\n\0", 11);
  put32(s, flags);
  put32(s, ext);
  for (uint32_t i = 0; i < ext; i++)
    put(s, "x", 1);
}
/* A field: length then bytes. */
static void field(bytes *s, const void *p, int32_t len)
{
  put32(s, (uint32_t)len);
  if (len > 0)
    put(s, p, (size_t)len);
}
static void field_be(bytes *s, uint64_t v, int size)
{
  put32(s, (uint32_t)size);
  if (size == 1)
    put(s, &(uint8_t){(uint8_t)v}, 1);
  else if (size == 2)
    put16(s, (uint16_t)v);
  else if (size == 4)
    put32(s, (uint32_t)v);
  else
    put64(s, v);
}

/* ---- numeric -------------------------------------------------------------- */
static double numeric(int weight, uint16_t sign, int n, const uint16_t *digits)
{
  bytes s = {.n = 0};
  put16(&s, (uint16_t)n);
  put16(&s, (uint16_t)(int16_t)weight);
  put16(&s, sign);
  put16(&s, 0);
  for (int i = 0; i < n; i++)
    put16(&s, digits[i]);
  return stream_numeric_to_double(s.b, (int32_t)s.n);
}

int test_numeric(void)
{
  TS_CHECK(numeric(1, 0, 3, (uint16_t[]){1, 2345, 6780}) == 12345.678);
  TS_CHECK(numeric(1, 0x4000, 3, (uint16_t[]){1, 2345, 6780}) == -12345.678);
  TS_CHECK(numeric(0, 0, 0, NULL) == 0.0);
  TS_CHECK(numeric(-1, 0, 1, (uint16_t[]){1}) == 0.0001);
  TS_CHECK(numeric(5, 0, 1, (uint16_t[]){1}) == 1e20);
  TS_CHECK(numeric(-2, 0, 1, (uint16_t[]){1234}) == 1.234e-5);
  TS_CHECK(numeric(0, 0, 1, (uint16_t[]){42}) == 42.0);
  TS_CHECK(isnan(numeric(0, 0xC000, 0, NULL)));
  TS_CHECK(isinf(numeric(0, 0xD000, 0, NULL)) && numeric(0, 0xD000, 0, NULL) > 0);
  TS_CHECK(isinf(numeric(0, 0xF000, 0, NULL)) && numeric(0, 0xF000, 0, NULL) < 0);
  TS_CHECK(isnan(numeric(0, 0x1234, 1, (uint16_t[]){1}))); /* bad sign */
  TS_CHECK(isnan(numeric(0, 0, 1, (uint16_t[]){10000})));  /* digit out of range */
  /* 0.1 + 0.2 style rounding: strtod of the exact decimal, not a sum. */
  TS_CHECK(numeric(-1, 0, 1, (uint16_t[]){1000}) == 0.1);
  uint8_t short_buf[8] = {0, 2, 0, 0, 0, 0, 0, 0}; /* claims 2 digits, has none */
  TS_CHECK(isnan(stream_numeric_to_double(short_buf, 8)));
  TS_CHECK(isnan(stream_numeric_to_double(short_buf, 4)));
  return 0;
}

/* ---- dates and timestamps ------------------------------------------------- */
int test_timestamp(void)
{
  char out[40];
  TS_CHECK_EQ_INT(stream_format_timestamp(out, 0), 19);
  TS_CHECK_STREQ(out, "2000-01-01T00:00:00");
  stream_format_timestamp(out, -1);
  TS_CHECK_STREQ(out, "1999-12-31T23:59:59.999999");
  stream_format_timestamp(out, 762525296789000LL);
  TS_CHECK_STREQ(out, "2024-02-29T12:34:56.789000");
  stream_format_timestamp(out, -3150572276999996LL);
  TS_CHECK_STREQ(out, "1900-03-01T01:02:03.000004");
  stream_format_timestamp(out, 86400LL * 1000000 + 1500000);
  TS_CHECK_STREQ(out, "2000-01-02T00:00:01.500000");
  TS_CHECK_EQ_INT(stream_format_timestamp(out, INT64_MAX), 8);
  TS_CHECK_STREQ(out, "infinity");
  stream_format_timestamp(out, INT64_MIN);
  TS_CHECK_STREQ(out, "-infinity");
  /* PostgreSQL's lowest timestamp, 4714-11-24 BC = astronomical -4713. */
  stream_format_timestamp(out, -211813488000000000LL);
  TS_CHECK_STREQ(out, "-4713-11-24T00:00:00");
  TS_CHECK(strlen(out) < 40);
  return 0;
}

int test_date(void)
{
  char out[40];
  TS_CHECK_EQ_INT(stream_format_date(out, 0), 10);
  TS_CHECK_STREQ(out, "2000-01-01");
  stream_format_date(out, -1);
  TS_CHECK_STREQ(out, "1999-12-31");
  stream_format_date(out, 8825);
  TS_CHECK_STREQ(out, "2024-02-29");
  stream_format_date(out, -10957);
  TS_CHECK_STREQ(out, "1970-01-01");
  stream_format_date(out, -730119);
  TS_CHECK_STREQ(out, "0001-01-01");
  stream_format_date(out, -730120);
  TS_CHECK_STREQ(out, "0000-12-31");
  stream_format_date(out, INT32_MAX);
  TS_CHECK_STREQ(out, "infinity");
  stream_format_date(out, INT32_MIN);
  TS_CHECK_STREQ(out, "-infinity");
  return 0;
}

/* ---- arrays --------------------------------------------------------------- */
static void array_header(bytes *s, int ndim, int flags, uint32_t oid, const int *dims)
{
  put32(s, (uint32_t)ndim);
  put32(s, (uint32_t)flags);
  put32(s, oid);
  for (int i = 0; i < ndim; i++) {
    put32(s, (uint32_t)dims[i]);
    put32(s, 1);
  }
}

int test_array(void)
{
  bytes s = {.n = 0};
  array_header(&s, 1, 1, 23, (int[]){3});
  field_be(&s, 7, 4);
  put32(&s, (uint32_t)-1);
  field_be(&s, (uint32_t)-9, 4);
  stream_value v = {s.b, (int32_t)s.n}, e;
  stream_array_iter it;
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v), TS_OK);
  TS_CHECK_EQ_INT(it.count, 3);
  TS_CHECK_EQ_INT(it.elem_oid, 23);
  TS_CHECK(stream_array_next(&it, &e) && e.len == 4 && stream_get_int4(&e) == 7);
  TS_CHECK(stream_array_next(&it, &e) && e.len == -1);
  TS_CHECK(stream_array_next(&it, &e) && stream_get_int4(&e) == -9);
  TS_CHECK(!stream_array_next(&it, &e));

  /* Two dimensions flatten in row-major order. */
  s.n = 0;
  array_header(&s, 2, 0, 701, (int[]){2, 2});
  for (int i = 1; i <= 4; i++) {
    double d = i * 0.5;
    uint64_t u;
    memcpy(&u, &d, 8);
    field_be(&s, u, 8);
  }
  v = (stream_value){s.b, (int32_t)s.n};
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v), TS_OK);
  TS_CHECK_EQ_INT(it.count, 4);
  for (int i = 1; i <= 4; i++)
    TS_CHECK(stream_array_next(&it, &e) && stream_get_float8(&e) == i * 0.5);

  /* ndim 0: the empty array. */
  s.n = 0;
  array_header(&s, 0, 0, 25, NULL);
  v = (stream_value){s.b, (int32_t)s.n};
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v), TS_OK);
  TS_CHECK_EQ_INT(it.count, 0);
  TS_CHECK(!stream_array_next(&it, &e));

  /* Malformed: more elements claimed than present. */
  s.n = 0;
  array_header(&s, 1, 0, 23, (int[]){5});
  field_be(&s, 1, 4);
  v = (stream_value){s.b, (int32_t)s.n};
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v), TS_EINVAL);
  /* Malformed: an element longer than the value. */
  s.n = 0;
  array_header(&s, 1, 0, 23, (int[]){1});
  put32(&s, 100);
  put32(&s, 0);
  v = (stream_value){s.b, (int32_t)s.n};
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v), TS_EINVAL);
  /* Malformed: trailing bytes, negative dimension, NULL without the flag,
   * huge dimensions whose product overflows, too many dimensions. */
  s.n = 0;
  array_header(&s, 1, 0, 23, (int[]){1});
  field_be(&s, 1, 4);
  put(&s, "zz", 2);
  v = (stream_value){s.b, (int32_t)s.n};
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v), TS_EINVAL);
  s.n = 0;
  array_header(&s, 1, 0, 23, (int[]){-1});
  v = (stream_value){s.b, (int32_t)s.n};
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v), TS_EINVAL);
  s.n = 0;
  array_header(&s, 1, 0, 23, (int[]){1});
  put32(&s, (uint32_t)-1);
  v = (stream_value){s.b, (int32_t)s.n};
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v), TS_EINVAL);
  s.n = 0;
  array_header(&s, 3, 0, 23, (int[]){0x7fffffff, 0x7fffffff, 0x7fffffff});
  v = (stream_value){s.b, (int32_t)s.n};
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v), TS_EINVAL);
  s.n = 0;
  array_header(&s, 7, 0, 23, (int[]){1, 1, 1, 1, 1, 1, 1});
  v = (stream_value){s.b, (int32_t)s.n};
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v), TS_EINVAL);
  v = (stream_value){s.b, 8};
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v), TS_EINVAL);
  return 0;
}

int test_array_literal(void)
{
  bytes s = {.n = 0};
  array_header(&s, 1, 1, 25, (int[]){5});
  field(&s, "a", 1);
  field(&s, "b c", 3);
  put32(&s, (uint32_t)-1);
  field(&s, "", 0);
  field(&s, "q\"\\", 3);
  stream_value v = {s.b, (int32_t)s.n};
  ts_buf out;
  ts_buf_init(&out, 1000);
  TS_CHECK_EQ_INT(stream_format_array_literal(&out, STREAM_TEXT, &v), TS_OK);
  TS_CHECK_STREQ(out.data, "{a,\"b c\",NULL,\"\",\"q\\\"\\\\\"}");
  ts_buf_reset(&out);
  s.n = 0;
  array_header(&s, 1, 0, 1082, (int[]){2});
  field_be(&s, 0, 4);
  field_be(&s, 8825, 4);
  v = (stream_value){s.b, (int32_t)s.n};
  TS_CHECK_EQ_INT(stream_format_array_literal(&out, STREAM_DATE, &v), TS_OK);
  TS_CHECK_STREQ(out.data, "{2000-01-01,2024-02-29}");
  ts_buf_reset(&out);
  s.n = 0;
  array_header(&s, 0, 0, 23, NULL);
  v = (stream_value){s.b, (int32_t)s.n};
  TS_CHECK_EQ_INT(stream_format_array_literal(&out, STREAM_INT4, &v), TS_OK);
  TS_CHECK_STREQ(out.data, "{}");
  ts_buf_free(&out);
  return 0;
}

/* ---- column mapping ------------------------------------------------------- */
int test_column_types(void)
{
  static const struct {
    uint32_t oid;
    int32_t typmod;
    stream_kind kind;
    int is_array;
    const char *datatype, *arraysize, *xtype;
  } cases[] = {
      {16, -1, STREAM_BOOL, 0, "boolean", NULL, NULL},
      {21, -1, STREAM_INT2, 0, "short", NULL, NULL},
      {23, -1, STREAM_INT4, 0, "int", NULL, NULL},
      {20, -1, STREAM_INT8, 0, "long", NULL, NULL},
      {700, -1, STREAM_FLOAT4, 0, "float", NULL, NULL},
      {701, -1, STREAM_FLOAT8, 0, "double", NULL, NULL},
      {1700, -1, STREAM_NUMERIC, 0, "double", NULL, NULL},
      {1700, (10 << 16 | 2) + 4, STREAM_NUMERIC, 0, "double", NULL, NULL},
      {25, -1, STREAM_TEXT, 0, "char", "*", NULL},
      {1043, -1, STREAM_TEXT, 0, "char", "*", NULL},
      {1043, 24, STREAM_TEXT, 0, "char", "20*", NULL},
      {1042, 12, STREAM_TEXT, 0, "char", "8", NULL},
      {1042, 1004, STREAM_TEXT, 0, "char", "1000", NULL},
      {1042, -1, STREAM_TEXT, 0, "char", "*", NULL},
      {19, -1, STREAM_TEXT, 0, "char", "*", NULL},
      {1114, 6, STREAM_TIMESTAMP, 0, "char", "*", "timestamp"},
      {1184, -1, STREAM_TIMESTAMPTZ, 0, "char", "*", "timestamp"},
      {1082, -1, STREAM_DATE, 0, "char", "*", "timestamp"},
      {1000, -1, STREAM_BOOL, 1, "boolean", "*", NULL},
      {1005, -1, STREAM_INT2, 1, "short", "*", NULL},
      {1007, -1, STREAM_INT4, 1, "int", "*", NULL},
      {1016, -1, STREAM_INT8, 1, "long", "*", NULL},
      {1021, -1, STREAM_FLOAT4, 1, "float", "*", NULL},
      {1022, -1, STREAM_FLOAT8, 1, "double", "*", NULL},
      {1231, -1, STREAM_NUMERIC, 1, "double", "*", NULL},
      {1009, -1, STREAM_TEXT, 1, "char", "*", NULL},
      {1015, 14, STREAM_TEXT, 1, "char", "*", NULL},
      {1014, -1, STREAM_TEXT, 1, "char", "*", NULL},
      {1115, -1, STREAM_TIMESTAMP, 1, "char", "*", NULL},
      {1185, -1, STREAM_TIMESTAMPTZ, 1, "char", "*", NULL},
      {1182, -1, STREAM_DATE, 1, "char", "*", NULL},
  };
  for (size_t i = 0; i < TS_ARRAY_LEN(cases); i++) {
    stream_column c;
    memset(&c, 0, sizeof c);
    TS_CHECK_EQ_INT(stream_column_set_type(&c, cases[i].oid, cases[i].typmod), TS_OK);
    TS_CHECK_EQ_INT(c.kind, cases[i].kind);
    TS_CHECK_EQ_INT(c.is_array, cases[i].is_array);
    TS_CHECK_EQ_INT(c.type_oid, cases[i].oid);
    TS_CHECK_STREQ(c.datatype, cases[i].datatype);
    if (cases[i].arraysize)
      TS_CHECK_STREQ(c.arraysize, cases[i].arraysize);
    else
      TS_CHECK(c.arraysize == NULL);
    if (cases[i].xtype)
      TS_CHECK_STREQ(c.xtype, cases[i].xtype);
    else
      TS_CHECK(c.xtype == NULL);
  }
  /* Interned lengths are the same string each time. */
  stream_column a, b;
  stream_column_set_type(&a, 1043, 104);
  stream_column_set_type(&b, 1043, 104);
  TS_CHECK(a.arraysize == b.arraysize);
  TS_CHECK_STREQ(a.arraysize, "100*");
  static const uint32_t unsupported[] = {600, 604, 718, 17, 114, 3802, 2950, 1186, 1083, 0, 99999};
  for (size_t i = 0; i < TS_ARRAY_LEN(unsupported); i++) {
    stream_column c;
    memset(&c, 0, sizeof c);
    TS_CHECK_EQ_INT(stream_column_set_type(&c, unsupported[i], -1), TS_EINVAL);
    TS_CHECK_EQ_INT(c.kind, STREAM_UNSUPPORTED);
  }
  TS_CHECK_STREQ(stream_pg_type_name(604), "polygon");
  TS_CHECK(stream_pg_type_name(99999) == NULL);
  return 0;
}

/* ---- COPY decoder ------------------------------------------------------------
 * The reference stream: 11 columns of every kind, 5 tuples (one all NULL,
 * one with an empty string), then the trailer. Decoded rows are rendered
 * as text so that any split of the input can be compared with the whole. */
enum { NC = 11 };

static void ref_tuple(bytes *s, int i)
{
  put16(s, NC);
  if (i == 3) {
    for (int k = 0; k < NC; k++)
      put32(s, (uint32_t)-1);
    return;
  }
  field_be(s, (uint64_t)(i & 1), 1);
  field_be(s, (uint64_t)(uint16_t)(int16_t)(-i), 2);
  field_be(s, (uint64_t)(uint32_t)(i * 100000), 4);
  field_be(s, (uint64_t)(int64_t)i * 10000000000LL, 8);
  float f = (float)i / 4;
  uint32_t fu;
  memcpy(&fu, &f, 4);
  field_be(s, fu, 4);
  double d = i / 3.0;
  uint64_t du;
  memcpy(&du, &d, 8);
  field_be(s, du, 8);
  bytes n = {.n = 0}; /* numeric i.5 */
  put16(&n, 2);
  put16(&n, 0);
  put16(&n, 0);
  put16(&n, 1);
  put16(&n, (uint16_t)i);
  put16(&n, 5000);
  field(s, n.b, (int32_t)n.n);
  if (i == 2)
    field(s, "", 0);
  else
    field(s, "h\xc3\xa9llo", 6);
  field_be(s, (uint64_t)((int64_t)i * 86400000000LL + 1), 8);
  field_be(s, (uint64_t)(uint32_t)(i - 5), 4);
  bytes a = {.n = 0};
  array_header(&a, 1, 0, 23, (int[]){2});
  field_be(&a, (uint64_t)i, 4);
  field_be(&a, (uint64_t)(i * 2), 4);
  field(s, a.b, (int32_t)a.n);
}

static void ref_stream(bytes *s, int ntuples)
{
  s->n = 0;
  put_header(s, 0, 0);
  for (int i = 0; i < ntuples; i++)
    ref_tuple(s, i);
  put16(s, 0xFFFF);
}

static const stream_kind ref_kinds[NC] = {
    STREAM_BOOL,    STREAM_INT2, STREAM_INT4,      STREAM_INT8, STREAM_FLOAT4, STREAM_FLOAT8,
    STREAM_NUMERIC, STREAM_TEXT, STREAM_TIMESTAMP, STREAM_DATE, STREAM_INT4};

static int render_batch(ts_buf *out, const stream_batch *b)
{
  char tmp[64];
  for (size_t r = 0; r < b->nrows; r++) {
    const stream_value *row = stream_batch_row(b, r);
    for (size_t c = 0; c < NC; c++) {
      const stream_value *v = &row[c];
      if (v->len < 0) {
        ts_buf_puts(out, "NULL|");
        continue;
      }
      switch (ref_kinds[c]) {
      case STREAM_BOOL:
        ts_buf_printf(out, "%d|", stream_get_bool(v));
        break;
      case STREAM_INT2:
        ts_buf_printf(out, "%d|", stream_get_int2(v));
        break;
      case STREAM_INT4:
        if (c == 10) {
          if (stream_format_array_literal(out, STREAM_INT4, v) != TS_OK)
            return -1;
          ts_buf_puts(out, "|");
        } else {
          ts_buf_printf(out, "%d|", (int)stream_get_int4(v));
        }
        break;
      case STREAM_INT8:
        ts_buf_printf(out, "%lld|", (long long)stream_get_int8(v));
        break;
      case STREAM_FLOAT4:
        ts_buf_printf(out, "%g|", (double)stream_get_float4(v));
        break;
      case STREAM_FLOAT8:
        ts_buf_printf(out, "%.17g|", stream_get_float8(v));
        break;
      case STREAM_NUMERIC:
        ts_buf_printf(out, "%g|", stream_numeric_to_double(v->p, v->len));
        break;
      case STREAM_TEXT:
        ts_buf_append(out, v->p, (size_t)v->len);
        ts_buf_puts(out, "|");
        break;
      case STREAM_TIMESTAMP:
        stream_format_timestamp(tmp, stream_get_int8(v));
        ts_buf_printf(out, "%s|", tmp);
        break;
      case STREAM_DATE:
        stream_format_date(tmp, stream_get_int4(v));
        ts_buf_printf(out, "%s|", tmp);
        break;
      default:
        return -1;
      }
    }
    ts_buf_puts(out, "\n");
  }
  return 0;
}

static const char ref_text[] =
    "0|0|0|0|0|0|0.5|h\xc3\xa9llo|2000-01-01T00:00:00.000001|1999-12-27|{0,0}|\n"
    "1|-1|100000|10000000000|0.25|0.33333333333333331|1.5|h\xc3\xa9llo|2000-01-02T00:00:00."
    "000001|1999-12-28|{1,2}|\n"
    "0|-2|200000|20000000000|0.5|0.66666666666666663|2.5||2000-01-03T00:00:00.000001|1999-12-"
    "29|{2,4}|\n"
    "NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|\n"
    "0|-4|400000|40000000000|1|1.3333333333333333|4.5|h\xc3\xa9llo|2000-01-05T00:00:00.000001|"
    "1999-12-31|{4,8}|\n";

/* Feeds [s, s+n) in pieces ending at cuts[] (each piece in its own heap
 * copy, freed as soon as the decoder may no longer point into it, so ASan
 * sees any stale reference). */
static ts_err feed_pieces(const uint8_t *s, size_t n, const size_t *cuts, size_t ncuts,
                          size_t batch_rows, ts_buf *out, ts_error *err, size_t *maxbatch)
{
  stream_copydec *d = stream_copydec_new(NC, batch_rows);
  ts_err rc = TS_OK;
  size_t start = 0;
  for (size_t k = 0; k <= ncuts && !rc; k++) {
    size_t end = k < ncuts ? cuts[k] : n;
    size_t len = end - start, off = 0;
    uint8_t *piece = malloc(len ? len : 1);
    memcpy(piece, s + start, len);
    do {
      stream_batch b;
      size_t used = 0;
      rc = stream_copydec_feed(d, piece + off, len - off, &used, &b, err);
      if (rc)
        break;
      if (b.nrows > *maxbatch)
        *maxbatch = b.nrows;
      if (render_batch(out, &b) != 0)
        rc = TS_EINTERNAL;
      off += used;
    } while (!rc && off < len);
    free(piece);
    start = end;
  }
  if (!rc)
    rc = stream_copydec_finish(d, err);
  stream_copydec_free(d);
  return rc;
}

int test_copydec_whole(void)
{
  bytes s;
  ref_stream(&s, 5);
  ts_buf out;
  ts_error err;
  size_t maxb = 0;
  ts_buf_init(&out, 1 << 20);
  TS_CHECK_EQ_INT(feed_pieces(s.b, s.n, NULL, 0, 1000, &out, &err, &maxb), TS_OK);
  TS_CHECK_STREQ(out.data, ref_text);
  TS_CHECK_EQ_INT(maxb, 5);
  ts_buf_free(&out);
  return 0;
}

int test_copydec_splits(void)
{
  bytes s;
  ref_stream(&s, 5);
  ts_buf out;
  ts_error err;
  ts_buf_init(&out, 1 << 20);
  /* Every single split point, with batches of 1, 2 and 1000 rows. */
  size_t batches[] = {1, 2, 1000};
  for (size_t bi = 0; bi < 3; bi++) {
    for (size_t cut = 0; cut <= s.n; cut++) {
      size_t maxb = 0;
      ts_buf_reset(&out);
      ts_err rc = feed_pieces(s.b, s.n, &cut, 1, batches[bi], &out, &err, &maxb);
      if (rc)
        fprintf(stderr, "# cut %zu: %s\n", cut, err.msg);
      TS_CHECK_EQ_INT(rc, TS_OK);
      TS_CHECK_STREQ(out.data, ref_text);
      TS_CHECK(maxb <= batches[bi]);
    }
  }
  /* Every pair of split points (three pieces). */
  for (size_t a = 0; a <= s.n; a += 1) {
    for (size_t b = a; b <= s.n; b += 3) {
      size_t cuts[2] = {a, b}, maxb = 0;
      ts_buf_reset(&out);
      TS_CHECK_EQ_INT(feed_pieces(s.b, s.n, cuts, 2, 2, &out, &err, &maxb), TS_OK);
      TS_CHECK_STREQ(out.data, ref_text);
    }
  }
  /* One byte at a time. */
  size_t *cuts = malloc(s.n * sizeof *cuts), maxb = 0;
  for (size_t i = 0; i < s.n; i++)
    cuts[i] = i + 1;
  ts_buf_reset(&out);
  TS_CHECK_EQ_INT(feed_pieces(s.b, s.n, cuts, s.n - 1, 3, &out, &err, &maxb), TS_OK);
  TS_CHECK_STREQ(out.data, ref_text);
  free(cuts);
  ts_buf_free(&out);
  return 0;
}

/* The accumulating API as the PostgreSQL source uses it: one message per
 * tuple (the first with the header), batches spanning several inputs. */
int test_copydec_accumulate(void)
{
  bytes s;
  ref_stream(&s, 5);
  ts_buf out;
  ts_error err;
  ts_buf_init(&out, 1 << 20);
  stream_copydec *d = stream_copydec_new(NC, 2);
  TS_CHECK(d);
  /* Message boundaries: header+tuple0, tuple1, ... found by decoding
   * tuple sizes; here simply split into 7-byte inputs to mix things up. */
  uint8_t *inputs[256];
  size_t ninputs = 0;
  size_t pos = 0;
  while (pos < s.n) {
    size_t len = s.n - pos < 7 ? s.n - pos : 7, off = 0;
    uint8_t *in = malloc(len);
    memcpy(in, s.b + pos, len);
    inputs[ninputs++] = in;
    while (off < len) {
      size_t used;
      TS_CHECK_EQ_INT(stream_copydec_add(d, in + off, len - off, &used, &err), TS_OK);
      off += used;
      if (off < len || stream_copydec_pending(d) == 2) {
        stream_batch b;
        stream_copydec_take(d, &b);
        TS_CHECK(b.nrows == 2);
        TS_CHECK_EQ_INT(render_batch(&out, &b), 0);
        /* The batch is handed over: earlier inputs may go, the current
         * one stays (its rest is still to decode). */
        for (size_t i = 0; i + 1 < ninputs; i++)
          free(inputs[i]);
        inputs[0] = inputs[ninputs - 1];
        ninputs = 1;
      }
    }
    pos += len;
  }
  stream_batch b;
  TS_CHECK_EQ_INT(stream_copydec_pending(d), 1);
  stream_copydec_take(d, &b);
  TS_CHECK_EQ_INT(render_batch(&out, &b), 0);
  TS_CHECK_EQ_INT(stream_copydec_finish(d, &err), TS_OK);
  TS_CHECK(stream_copydec_done(d));
  TS_CHECK_STREQ(out.data, ref_text);
  for (size_t i = 0; i < ninputs; i++)
    free(inputs[i]);
  /* Reset: the same decoder reads the stream again. */
  stream_copydec_reset(d);
  TS_CHECK(!stream_copydec_done(d));
  size_t used;
  TS_CHECK_EQ_INT(stream_copydec_feed(d, s.b, s.n, &used, &b, &err), TS_OK);
  TS_CHECK_EQ_INT(b.nrows, 2);
  stream_copydec_free(d);
  ts_buf_free(&out);
  return 0;
}

int test_copydec_empty(void)
{
  /* Zero rows: header and trailer in one message; header extension skipped. */
  bytes s = {.n = 0};
  put_header(&s, 1u << 17, 5); /* a non-critical flag bit is fine */
  put16(&s, 0xFFFF);
  stream_copydec *d = stream_copydec_new(3, 10);
  stream_batch b;
  size_t used;
  ts_error err;
  TS_CHECK_EQ_INT(stream_copydec_feed(d, s.b, s.n, &used, &b, &err), TS_OK);
  TS_CHECK_EQ_INT(used, s.n);
  TS_CHECK_EQ_INT(b.nrows, 0);
  TS_CHECK(stream_copydec_done(d));
  TS_CHECK_EQ_INT(stream_copydec_finish(d, &err), TS_OK);
  stream_copydec_free(d);
  /* Zero columns: tuples are just their field count. */
  s.n = 0;
  put_header(&s, 0, 0);
  put16(&s, 0);
  put16(&s, 0);
  put16(&s, 0xFFFF);
  d = stream_copydec_new(0, 10);
  TS_CHECK_EQ_INT(stream_copydec_feed(d, s.b, s.n, &used, &b, &err), TS_OK);
  TS_CHECK_EQ_INT(b.nrows, 2);
  TS_CHECK(stream_copydec_done(d));
  stream_copydec_free(d);
  return 0;
}

static ts_err decode_all(const bytes *s, size_t ncols, ts_error *err)
{
  stream_copydec *d = stream_copydec_new(ncols, 4);
  size_t off = 0, used;
  stream_batch b;
  ts_err rc = TS_OK;
  while (!rc && off < s->n) {
    rc = stream_copydec_feed(d, s->b + off, s->n - off, &used, &b, err);
    off += used;
  }
  if (!rc)
    rc = stream_copydec_finish(d, err);
  stream_copydec_free(d);
  return rc;
}

int test_copydec_malformed(void)
{
  bytes s;
  ts_error err;
  /* Wrong signature, detected from the first byte. */
  s.n = 0;
  put(&s, "PGCOPZ", 6);
  TS_CHECK_EQ_INT(decode_all(&s, 1, &err), TS_EINVAL);
  TS_CHECK(strstr(err.msg, "signature"));
  /* OIDs. */
  s.n = 0;
  put_header(&s, 1u << 16, 0);
  TS_CHECK_EQ_INT(decode_all(&s, 1, &err), TS_EINVAL);
  TS_CHECK(strstr(err.msg, "OIDs"));
  /* Unknown critical flag. */
  s.n = 0;
  put_header(&s, 1, 0);
  TS_CHECK_EQ_INT(decode_all(&s, 1, &err), TS_EINVAL);
  /* Negative header extension. */
  s.n = 0;
  put(&s, "PGCOPY\n\377\r\n\0", 11);
  put32(&s, 0);
  put32(&s, 0x80000000u);
  TS_CHECK_EQ_INT(decode_all(&s, 1, &err), TS_EINVAL);
  /* Field count differs from the column count. */
  s.n = 0;
  put_header(&s, 0, 0);
  put16(&s, 2);
  field_be(&s, 1, 4);
  field_be(&s, 1, 4);
  TS_CHECK_EQ_INT(decode_all(&s, 1, &err), TS_EINVAL);
  TS_CHECK(strstr(err.msg, "2 fields, expected 1"));
  /* Negative field count other than the trailer. */
  s.n = 0;
  put_header(&s, 0, 0);
  put16(&s, 0xFFFE);
  TS_CHECK_EQ_INT(decode_all(&s, 1, &err), TS_EINVAL);
  /* Negative length other than -1. */
  s.n = 0;
  put_header(&s, 0, 0);
  put16(&s, 1);
  put32(&s, (uint32_t)-2);
  TS_CHECK_EQ_INT(decode_all(&s, 1, &err), TS_EINVAL);
  TS_CHECK(strstr(err.msg, "length -2"));
  /* A length beyond the data: the stream ends inside the tuple. */
  s.n = 0;
  put_header(&s, 0, 0);
  put16(&s, 1);
  put32(&s, 100);
  put(&s, "abc", 3);
  TS_CHECK_EQ_INT(decode_all(&s, 1, &err), TS_EINVAL);
  TS_CHECK(strstr(err.msg, "inside a tuple"));
  /* No trailer. */
  s.n = 0;
  put_header(&s, 0, 0);
  put16(&s, 1);
  field_be(&s, 1, 4);
  TS_CHECK_EQ_INT(decode_all(&s, 1, &err), TS_EINVAL);
  TS_CHECK(strstr(err.msg, "trailer"));
  /* Data after the trailer. */
  s.n = 0;
  put_header(&s, 0, 0);
  put16(&s, 0xFFFF);
  put16(&s, 1);
  TS_CHECK_EQ_INT(decode_all(&s, 1, &err), TS_EINVAL);
  TS_CHECK(strstr(err.msg, "after its trailer"));
  /* Errors are sticky. */
  stream_copydec *d = stream_copydec_new(1, 4);
  size_t used;
  stream_batch b;
  TS_CHECK_EQ_INT(stream_copydec_feed(d, (const uint8_t *)"XX", 2, &used, &b, &err), TS_EINVAL);
  ref_stream(&s, 0);
  TS_CHECK_EQ_INT(stream_copydec_feed(d, s.b, s.n, &used, &b, &err), TS_EINVAL);
  stream_copydec_free(d);
  return 0;
}
