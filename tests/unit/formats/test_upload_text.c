/* The value parsers the text readers share (formats/upload_int.h), and
 * format sniffing. */
#include "formats/upload_int.h"
#include "test_list.h"
#include "ts_test.h"
#include "upload_test.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t i64(const char *s, ts_err *rc)
{
  int64_t v = 0;
  ts_error e;
  *rc = fmt__up_parse_i64(s, strlen(s), &v, &e);
  return v;
}

static double f64(const char *s, ts_err *rc)
{
  double v = 0;
  ts_error e;
  *rc = fmt__up_parse_f64(s, strlen(s), &v, &e);
  return v;
}

static int64_t ts(const char *s, ts_err *rc)
{
  int64_t v = 0;
  ts_error e;
  *rc = fmt__up_parse_timestamp(s, strlen(s), &v, &e);
  return v;
}

static int bl(const char *s, ts_err *rc)
{
  int v = 9;
  ts_error e;
  *rc = fmt__up_parse_bool(s, strlen(s), &v, &e);
  return v;
}

int test_upload_parse_numbers(void)
{
  ts_err rc;
  TS_CHECK_EQ_INT(i64(" 42 ", &rc), 42);
  TS_CHECK_EQ_INT(rc, TS_OK);
  TS_CHECK_EQ_INT(i64("-9223372036854775808", &rc), INT64_MIN);
  TS_CHECK_EQ_INT(rc, TS_OK);
  TS_CHECK_EQ_INT(i64("+9223372036854775807", &rc), INT64_MAX);
  TS_CHECK_EQ_INT(rc, TS_OK);
  TS_CHECK_EQ_INT(i64("0x1F", &rc), 31);
  TS_CHECK_EQ_INT(rc, TS_OK);
  i64("9223372036854775808", &rc);
  TS_CHECK_EQ_INT(rc, TS_EINVAL);
  i64("1.5", &rc);
  TS_CHECK_EQ_INT(rc, TS_EINVAL);
  i64("", &rc);
  TS_CHECK_EQ_INT(rc, TS_EINVAL);
  i64("-", &rc);
  TS_CHECK_EQ_INT(rc, TS_EINVAL);
  TS_CHECK(f64("1.5e3", &rc) == 1500.0 && rc == TS_OK);
  TS_CHECK(f64(" -0.25 ", &rc) == -0.25 && rc == TS_OK);
  const char *nans[] = {"NaN", "nan", "NAN"};
  for (size_t i = 0; i < 3; i++)
    TS_CHECK(isnan(f64(nans[i], &rc)) && rc == TS_OK);
  const char *infs[] = {"Inf", "+Inf", "inf", "Infinity", "+infinity", "INF"};
  for (size_t i = 0; i < 6; i++)
    TS_CHECK(f64(infs[i], &rc) == INFINITY && rc == TS_OK);
  TS_CHECK(f64("-Inf", &rc) == -INFINITY && rc == TS_OK);
  TS_CHECK(f64("-infinity", &rc) == -INFINITY && rc == TS_OK);
  f64("0x10", &rc);
  TS_CHECK_EQ_INT(rc, TS_EINVAL);
  f64("nan(1)", &rc);
  TS_CHECK_EQ_INT(rc, TS_EINVAL);
  f64("1,5", &rc);
  TS_CHECK_EQ_INT(rc, TS_EINVAL);
  f64("", &rc);
  TS_CHECK_EQ_INT(rc, TS_EINVAL);
  /* the syntax check CSV inference uses agrees with the parser */
  const char *nums[] = {"1",     "-1.5",     "+.5",     "5.",  "1e3", "1E-3", " 2 ", "NaN",
                        "-inf",  "Infinity", "0x10",    "1e",  "e3",  ".",    "-",   "",
                        "1.5.2", "nan(1)",   "infinit", "1,5", "1e+", "++1",  "1 2"};
  for (size_t i = 0; i < TS_ARRAY_LEN(nums); i++) {
    f64(nums[i], &rc);
    TS_CHECK_EQ_INT(fmt__up_is_f64(nums[i], strlen(nums[i])), rc == TS_OK);
  }
  /* booleans: -1 is NULL */
  const char *t[] = {"T", "t", "true", "TRUE", "True", "1"},
             *f[] = {"F", "f", "false", "FALSE", "0"};
  for (size_t i = 0; i < 6; i++)
    TS_CHECK(bl(t[i], &rc) == 1 && rc == TS_OK);
  for (size_t i = 0; i < 5; i++)
    TS_CHECK(bl(f[i], &rc) == 0 && rc == TS_OK);
  TS_CHECK(bl("?", &rc) == -1 && rc == TS_OK);
  TS_CHECK(bl(" ", &rc) == -1 && rc == TS_OK);
  bl("yes", &rc);
  TS_CHECK_EQ_INT(rc, TS_EINVAL);
  return 0;
}

/* Decimal text of every shape (digit counts around 15 to 20, leading
 * zeros, points anywhere, exponents around +-22, signs) parses to the
 * very double strtod gives, bit for bit, whichever path reads it. */
static int same_as_strtod(const char *s)
{
  ts_err rc;
  double got = f64(s, &rc), want = strtod(s, NULL);
  if (rc == TS_OK && memcmp(&got, &want, sizeof got) == 0)
    return 1;
  fprintf(stderr, "# %s: %.17g, strtod %.17g\n", s, got, want);
  return 0;
}

int test_upload_parse_f64_as_strtod(void)
{
  static const char *edges[] = {"0",
                                "-0",
                                "-0.0e5",
                                "0.000",
                                "9007199254740992",
                                "9007199254740993",
                                "-9007199254740993",
                                "1e22",
                                "1e23",
                                "1e-22",
                                "1e-23",
                                "123456789012345678e-22",
                                "0.1",
                                "0.3",
                                "2.2250738585072014e-308",
                                "1.7976931348623157e308",
                                "4.9e-324",
                                "12345678901234567890",
                                "1234567890123456789",
                                "00000000000000000000001.5",
                                "1.",
                                ".5",
                                "-.5e-3",
                                "3.14159265358979323846",
                                "89.99999999999999"};
  for (size_t i = 0; i < TS_ARRAY_LEN(edges); i++)
    TS_CHECK(same_as_strtod(edges[i]));
  uint64_t x = 0x9E3779B97F4A7C15u;
  for (int k = 0; k < 200000; k++) {
    char s[64];
    size_t n = 0;
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    int digits = 1 + (int)(x % 21), point = (int)((x >> 8) % (unsigned)(digits + 2)) - 1;
    if ((x >> 16) & 1)
      s[n++] = '-';
    for (int d = 0; d < digits; d++) {
      if (d == point)
        s[n++] = '.';
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      s[n++] = (char)('0' + (d == 0 && (x >> 40) % 4 == 0 ? 0 : x % 10));
    }
    if ((x >> 20) % 3 == 0)
      n += (size_t)snprintf(s + n, sizeof s - n, "e%d", (int)((x >> 24) % 61) - 30);
    s[n] = 0;
    if (!same_as_strtod(s))
      return 1;
  }
  return 0;
}

int test_upload_parse_timestamps(void)
{
  ts_err rc;
  TS_CHECK(ts("2000-01-01", &rc) == 0 && rc == TS_OK);
  TS_CHECK(ts("2000-01-01T00:00:01", &rc) == 1000000 && rc == TS_OK);
  TS_CHECK(ts("1999-12-31T23:59:59.5", &rc) == -500000 && rc == TS_OK);
  TS_CHECK(ts("2000-01-02 00:00:00Z", &rc) == 86400000000LL && rc == TS_OK);
  TS_CHECK(ts("2000-01-01T01:00:00+01:00", &rc) == 0 && rc == TS_OK);
  TS_CHECK(ts("2000-01-01T00:00:00-0130", &rc) == 5400000000LL && rc == TS_OK);
  TS_CHECK(ts("2000-01-01T00:00:00.0000015", &rc) == 2 && rc == TS_OK); /* rounded */
  TS_CHECK(ts("2000-01-01T00:00:00.123456", &rc) == 123456 && rc == TS_OK);
  TS_CHECK(ts("2024-02-29T12:30", &rc) == 762525000000000LL && rc == TS_OK);
  TS_CHECK(ts("1970-01-01", &rc) == -946684800000000LL && rc == TS_OK);
  const char *bad[] = {"2023-02-29", "2000-13-01",      "2000-01-32",           "2000-01-01T24:00",
                       "2000-1-1",   "20000101",        "2000-01-01T00:00:00.", "2000-01-01x",
                       "",           "2000-01-01T00:60"};
  for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
    ts(bad[i], &rc);
    if (rc != TS_EINVAL)
      fprintf(stderr, "# accepted %s\n", bad[i]);
    TS_CHECK_EQ_INT(rc, TS_EINVAL);
  }
  return 0;
}

/* fmt__up_put_text into a one-column COPY, read back as text. */
static ts_err put_one(const char *dt, const char *as, const char *xt, const char *text,
                      const fmt_up_null *nul, char *out, size_t outsz)
{
  fmt_upload_column col;
  ts_error err;
  ts_buf b;
  stream_out o;
  stream_copyenc e;
  memset(&col, 0, sizeof col);
  col.c.name = "c";
  ts_err rc = fmt_upload_set_type(&col, dt, as, xt, &err);
  if (rc)
    return rc;
  ts_buf_init(&b, 1 << 20);
  stream_out_init(&o, 256, up_to_buf, &b);
  stream_copyenc_init(&e, &o, 1);
  stream_copyenc_row(&e);
  ts_error_clear(&err);
  rc = fmt__up_put_text(&e, &col, nul, text, strlen(text), &err);
  if (!rc)
    rc = stream_copyenc_finish(&e);
  stream_copyenc_free(&e);
  stream_out_free(&o);
  if (!rc) {
    /* header 19, field count 2, then the one field */
    const uint8_t *p = (const uint8_t *)b.data + 21;
    stream_value v = {p + 4, (int32_t)stream_be32(p)};
    ts_buf t;
    ts_buf_init(&t, 1 << 20);
    ts_buf_append(&t, "", 0);
    up_value(&t, &col.c, &v);
    snprintf(out, outsz, "%.500s", t.data);
    ts_buf_free(&t);
  } else {
    snprintf(out, outsz, "%.500s", err.msg);
  }
  ts_buf_free(&b);
  return rc;
}

int test_upload_text_values(void)
{
  char s[600];
  fmt_up_null nul = {1, -99};
  TS_CHECK(put_one("int", NULL, NULL, " 7 ", NULL, s, sizeof s) == TS_OK && !strcmp(s, "7"));
  TS_CHECK(put_one("int", NULL, NULL, "", NULL, s, sizeof s) == TS_OK && !strcmp(s, "NULL"));
  TS_CHECK(put_one("int", NULL, NULL, "-99", &nul, s, sizeof s) == TS_OK && !strcmp(s, "NULL"));
  TS_CHECK(put_one("short", NULL, NULL, "40000", NULL, s, sizeof s) == TS_EINVAL);
  TS_CHECK(strstr(s, "range of a short"));
  TS_CHECK(put_one("unsignedByte", NULL, NULL, "256", NULL, s, sizeof s) == TS_EINVAL);
  TS_CHECK(put_one("unsignedByte", NULL, NULL, "255", NULL, s, sizeof s) == TS_OK);
  TS_CHECK(put_one("int", NULL, NULL, "abc", NULL, s, sizeof s) == TS_EINVAL);
  TS_CHECK_STREQ(s, "\"abc\" is not an integer");
  TS_CHECK(put_one("double", NULL, NULL, "NaN", NULL, s, sizeof s) == TS_OK && !strcmp(s, "nan"));
  TS_CHECK(put_one("boolean", NULL, NULL, "?", NULL, s, sizeof s) == TS_OK && !strcmp(s, "NULL"));
  TS_CHECK(put_one("char", "*", NULL, "  a b ", NULL, s, sizeof s) == TS_OK);
  TS_CHECK_STREQ(s, "  a b "); /* text keeps its blanks */
  TS_CHECK(put_one("char", "*", NULL, "\xff", NULL, s, sizeof s) == TS_EINVAL);
  TS_CHECK(put_one("char", "*", "timestamp", "2000-01-01T00:00:01.5", NULL, s, sizeof s) == TS_OK);
  TS_CHECK_STREQ(s, "2000-01-01T00:00:01.500000");
  /* arrays: blanks, commas, brackets, NULL elements, bit strings */
  TS_CHECK(put_one("int", "*", NULL, "1 2  3", NULL, s, sizeof s) == TS_OK);
  TS_CHECK_STREQ(s, "{1,2,3}");
  TS_CHECK(put_one("int", "*", NULL, "[1, 2, null]", NULL, s, sizeof s) == TS_OK);
  TS_CHECK_STREQ(s, "{1,2,NULL}");
  TS_CHECK(put_one("long", "3", NULL, "{4,,-99}", &nul, s, sizeof s) == TS_OK);
  TS_CHECK_STREQ(s, "{4,NULL,NULL}");
  TS_CHECK(put_one("double", "*", NULL, "1.5 NaN -Inf", NULL, s, sizeof s) == TS_OK);
  TS_CHECK_STREQ(s, "{1.5,nan,-inf}");
  TS_CHECK(put_one("bit", "5", NULL, "10110", NULL, s, sizeof s) == TS_OK);
  TS_CHECK_STREQ(s, "{t,f,t,t,f}");
  TS_CHECK(put_one("boolean", "*", NULL, "T F ?", NULL, s, sizeof s) == TS_OK);
  TS_CHECK_STREQ(s, "{t,f,NULL}");
  TS_CHECK(put_one("double", "2", "point", "10.5 -20", NULL, s, sizeof s) == TS_OK);
  TS_CHECK_STREQ(s, "{10.5,-20}");
  TS_CHECK(put_one("double", "*", "polygon", "1 2 3 4 5", NULL, s, sizeof s) == TS_EINVAL);
  TS_CHECK(strstr(s, "polygon"));
  TS_CHECK(put_one("int", "*", NULL, "1 x", NULL, s, sizeof s) == TS_EINVAL);
  return 0;
}

int test_upload_sniff(void)
{
  const char *vot =
      "\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- a > b -->\n<VOTABLE version=\"1.4\">";
  TS_CHECK_EQ_INT(fmt_upload_sniff((const uint8_t *)vot, strlen(vot), NULL, NULL),
                  FMT_UPLOAD_VOTABLE);
  const char *pre = "<v:VOTABLE xmlns:v=\"x\">";
  TS_CHECK_EQ_INT(fmt_upload_sniff((const uint8_t *)pre, strlen(pre), NULL, NULL),
                  FMT_UPLOAD_VOTABLE);
  /* a DOCTYPE (with '>' in its internal subset) names the root */
  const char *dt = "<?xml version=\"1.0\"?>\n<!DOCTYPE VOTABLE [<!ENTITY a \"x\">]>\n<VOTABLE>";
  TS_CHECK_EQ_INT(fmt_upload_sniff((const uint8_t *)dt, strlen(dt), NULL, NULL),
                  FMT_UPLOAD_VOTABLE);
  /* other XML goes to the VOTable reader, which says what it is */
  const char *html = " <html>";
  TS_CHECK_EQ_INT(fmt_upload_sniff((const uint8_t *)html, strlen(html), "text/csv", "a.csv"),
                  FMT_UPLOAD_VOTABLE);
  const char *fits = "SIMPLE  =                    T";
  TS_CHECK_EQ_INT(fmt_upload_sniff((const uint8_t *)fits, strlen(fits), NULL, NULL),
                  FMT_UPLOAD_FITS);
  const char *ecsv = "# %ECSV 1.0\n";
  TS_CHECK_EQ_INT(fmt_upload_sniff((const uint8_t *)ecsv, strlen(ecsv), NULL, NULL),
                  FMT_UPLOAD_ECSV);
  const char *csv = "a,b\n1,2\n";
  TS_CHECK_EQ_INT(fmt_upload_sniff((const uint8_t *)csv, strlen(csv), NULL, NULL), FMT_UPLOAD_CSV);
  /* Labels decide only when the bytes do not. */
  TS_CHECK_EQ_INT(fmt_upload_sniff((const uint8_t *)"", 0, "application/x-votable+xml", NULL),
                  FMT_UPLOAD_VOTABLE);
  TS_CHECK_EQ_INT(fmt_upload_sniff((const uint8_t *)"", 0, NULL, "t.fits"), FMT_UPLOAD_FITS);
  TS_CHECK_EQ_INT(fmt_upload_sniff((const uint8_t *)csv, strlen(csv), "text/csv", "t.ecsv"),
                  FMT_UPLOAD_ECSV);
  TS_CHECK_EQ_INT(fmt_upload_sniff((const uint8_t *)vot, strlen(vot), "text/csv", "t.csv"),
                  FMT_UPLOAD_VOTABLE);
  return 0;
}
