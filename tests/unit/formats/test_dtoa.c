/* The shortest round-trip float formatter (formats/dtoa.c) against the C
 * library: every output reads back exactly (strtod/strtof) and never has
 * more significant digits than the shortest %.<p>g that reads back. */
#include "formats/fmt_int.h"
#include "ts_test.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t dt_rng = 0x9E3779B97F4A7C15ULL;
static uint64_t next_u64(void)
{
  dt_rng ^= dt_rng << 13;
  dt_rng ^= dt_rng >> 7;
  dt_rng ^= dt_rng << 17;
  return dt_rng;
}

/* Significant digits of a printed number (leading and trailing zeros of
 * the mantissa excluded). */
static int sig_digits(const char *s)
{
  int n = 0, lead = 1, zeros = 0;
  for (; *s && *s != 'e' && *s != 'E'; s++) {
    if (*s < '0' || *s > '9')
      continue;
    if (*s == '0' && lead)
      continue;
    lead = 0;
    if (*s == '0') {
      zeros++;
    } else {
      n += zeros + 1;
      zeros = 0;
    }
  }
  return n;
}

/* The fewest digits p for which printf's correctly rounded %.<p>g reads
 * back (monotone in p, so a binary search). */
static int printf_shortest(double d, int is_float)
{
  int lo = 1, hi = is_float ? 9 : 17;
  char tmp[512]; /* %g of a double never needs this much; gcc cannot tell */
  while (lo < hi) {
    int mid = (lo + hi) / 2;
    snprintf(tmp, sizeof tmp, "%.*g", mid, d);
    int ok = is_float ? strtof(tmp, NULL) == (float)d : strtod(tmp, NULL) == d;
    if (ok)
      hi = mid;
    else
      lo = mid + 1;
  }
  return lo;
}

static int check_double(double d, long *shorter)
{
  char b[64];
  size_t n = fmt__double(b, d);
  TS_CHECK(n < 32);
  b[n] = 0;
  double back = strtod(b, NULL);
  if (memcmp(&back, &d, 8) != 0) {
    fprintf(stderr, "# %a printed as %s reads back as %a\n", d, b, back);
    TS_CHECK(0);
  }
  int ours = sig_digits(b), theirs = printf_shortest(d, 0);
  if (ours > theirs) {
    fprintf(stderr, "# %a printed as %s (%d digits), %%.%dg reads back\n", d, b, ours, theirs);
    TS_CHECK(0);
  }
  *shorter += ours < theirs;
  return 0;
}

static int check_float(float f, long *shorter)
{
  char b[64];
  size_t n = fmt__float(b, f);
  TS_CHECK(n < 32);
  b[n] = 0;
  float back = strtof(b, NULL);
  if (memcmp(&back, &f, 4) != 0) {
    fprintf(stderr, "# %a (float) printed as %s reads back as %a\n", (double)f, b, (double)back);
    TS_CHECK(0);
  }
  int ours = sig_digits(b), theirs = printf_shortest(f, 1);
  if (ours > theirs) {
    fprintf(stderr, "# %a (float) printed as %s (%d digits), %%.%dg reads back\n", (double)f, b,
            ours, theirs);
    TS_CHECK(0);
  }
  *shorter += ours < theirs;
  return 0;
}

/* Random bit patterns: every exponent and significand equally likely. */
int test_dtoa_random(void)
{
  long shorter = 0, tested = 0;
  for (long i = 0; i < 2000000; i++) {
    uint64_t x = next_u64();
    double d;
    memcpy(&d, &x, 8);
    if (!isfinite(d))
      continue;
    if (check_double(d, &shorter))
      return 1;
    tested++;
  }
  fprintf(stderr, "# %ld doubles, %ld shorter than printf's shortest\n", tested, shorter);
  shorter = tested = 0;
  for (long i = 0; i < 2000000; i++) {
    uint32_t x = (uint32_t)next_u64();
    float f;
    memcpy(&f, &x, 4);
    if (!isfinite(f))
      continue;
    if (check_float(f, &shorter))
      return 1;
    tested++;
  }
  fprintf(stderr, "# %ld floats, %ld shorter than printf's shortest\n", tested, shorter);
  return 0;
}

/* The edges: both ends of every binade (where the lower neighbour is
 * closer), the smallest subnormals, decimal-looking values (catalogue
 * data), and the neighbours of powers of ten. */
int test_dtoa_edges(void)
{
  long shorter = 0;
  for (int e = 1; e < 2047; e++) {
    for (int64_t dm = -2; dm <= 2; dm++) {
      uint64_t bits = (uint64_t)e << 52;
      if (dm < 0 && e > 1)
        bits = (uint64_t)(e - 1) << 52 | ((UINT64_C(1) << 52) + (uint64_t)dm);
      else if (dm > 0)
        bits += (uint64_t)dm;
      double d;
      memcpy(&d, &bits, 8);
      if (check_double(d, &shorter) || check_double(-d, &shorter))
        return 1;
    }
  }
  for (uint64_t c = 1; c < 100000; c++) {
    double d;
    memcpy(&d, &c, 8);
    if (check_double(d, &shorter))
      return 1;
    uint64_t top = (UINT64_C(1) << 52) - c;
    memcpy(&d, &top, 8);
    if (check_double(d, &shorter))
      return 1;
  }
  for (int e = 1; e < 255; e++) {
    for (int dm = -2; dm <= 2; dm++) {
      uint32_t bits = (uint32_t)e << 23;
      if (dm < 0 && e > 1)
        bits = (uint32_t)(e - 1) << 23 | ((1u << 23) + (uint32_t)dm);
      else if (dm > 0)
        bits += (uint32_t)dm;
      float f;
      memcpy(&f, &bits, 4);
      if (check_float(f, &shorter) || check_float(-f, &shorter))
        return 1;
    }
  }
  for (uint32_t c = 1; c < 100000; c++) {
    float f;
    memcpy(&f, &c, 4);
    if (check_float(f, &shorter))
      return 1;
  }
  for (int i = 0; i < 500000; i++) {
    /* ra/dec-like values with 1..12 decimals */
    int64_t m = (int64_t)(next_u64() % 4000000000000ULL) - 2000000000000LL;
    double d = (double)m / pow(10, (double)(i % 12 + 1));
    if (check_double(d, &shorter) || check_float((float)d, &shorter))
      return 1;
  }
  for (int p = -320; p <= 308; p++) {
    char lit[16];
    snprintf(lit, sizeof lit, "1e%d", p);
    double d = strtod(lit, NULL);
    if (d == 0 || !isfinite(d))
      continue;
    if (check_double(d, &shorter) || check_double(nextafter(d, 0), &shorter) ||
        check_double(nextafter(d, INFINITY), &shorter))
      return 1;
    char b[64];
    b[fmt__double(b, d)] = 0;
    /* a power of ten prints as one digit */
    TS_CHECK_EQ_INT(sig_digits(b), 1);
  }
  return 0;
}

/* The exact text for values whose form the encoders' tests and readers
 * rely on. */
int test_dtoa_text(void)
{
  static const struct {
    double d;
    const char *s;
  } cases[] = {
      {0.1, "0.1"},
      {0.1 + 0.2, "0.30000000000000004"},
      {-0.0, "-0"},
      {0.0, "0"},
      {1e300, "1e+300"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {2.2250738585072014e-308, "2.2250738585072014e-308"},
      {1e-7, "1e-07"},
      {1e-5, "0.00001"},
      {1.5e-5, "0.000015"},
      {123456.789, "123456.789"},
      {1e15, "1000000000000000"},
      {1e16, "1e+16"},
      {1.25e16, "1.25e+16"},
      {9007199254740993.0, "9007199254740992"},
      {-45.123456789012, "-45.123456789012"},
      {4.35, "4.35"},
      {2.0 / 3, "0.6666666666666666"},
  };
  char b[64];
  for (size_t i = 0; i < TS_ARRAY_LEN(cases); i++) {
    b[fmt__double(b, cases[i].d)] = 0;
    TS_CHECK_STREQ(b, cases[i].s);
  }
  b[fmt__float(b, 0.1f)] = 0;
  TS_CHECK_STREQ(b, "0.1");
  b[fmt__float(b, 3.4028235e38f)] = 0;
  TS_CHECK_STREQ(b, "3.4028235e+38");
  b[fmt__float(b, 1.0e-45f)] = 0;
  TS_CHECK_STREQ(b, "1e-45");
  b[fmt__float(b, 16777216.0f * 2)] = 0;
  TS_CHECK_STREQ(b, "33554432");
  b[fmt__float(b, 18.1f)] = 0;
  TS_CHECK_STREQ(b, "18.1");
  return 0;
}
