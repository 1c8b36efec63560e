/* Shortest round-trip decimal text of doubles and floats (fmt__double,
 * fmt__float), in the manner of Giulietti's Schubfach algorithm.
 *
 * A finite v = c * 2^q (c integer) has a rounding interval R of the reals
 * that read back as v: (c -/+ 1/2) * 2^q, or (c - 1/4, c + 1/2) * 2^q at the
 * bottom of a binade, closed when c is even (round-half-even in strtod).
 * Choosing k = floor(log10(width of R)) makes R span between 1 and 10 units
 * of 10^k, so the shortest decimal in R is either s*10^k or (s+1)*10^k with
 * s = floor(v / 10^k), or a multiple of 10 of those: two candidates to test,
 * no loop, no printf. v / 10^k and the bounds of R are computed in fixed
 * point from a 126-bit approximation g of 10^-k, rounded to odd, which is
 * enough for the comparisons to be exact.
 *
 * The 631 values of g are computed once at startup with exact big-integer
 * arithmetic (powers of ten multiplied and divided by 10, then the top 126
 * bits taken), so no table is copied in from anywhere. */
#include "formats/fmt_int.h"

#include <math.h>

typedef unsigned __int128 dt_u128;

enum {
  DT_EMIN = -300, /* range of e in g(e) ~ 10^e; Schubfach needs -292..324 */
  DT_EMAX = 330,
  DT_QMIN = -1080, /* range of binary exponents q looked up */
  DT_QMAX = 980,
  DT_LIMBS = 40, /* 1280-bit integers: 10^330 and 2^1150 fit */
  DT_L = 1150    /* 10^-m is computed as floor(2^DT_L / 10^m) */
};

typedef struct dt_g128 {
  uint64_t hi, lo;
} dt_g128;

static dt_g128 dt_g[DT_EMAX - DT_EMIN + 1];   /* g(e) in [2^125, 2^126] */
static int16_t dt_r[DT_EMAX - DT_EMIN + 1];   /* floor(e * log2(10)) */
static int16_t dt_kq[DT_QMAX - DT_QMIN + 1];  /* floor(q * log10(2)) */
static int16_t dt_k34[DT_QMAX - DT_QMIN + 1]; /* floor(log10(3/4 * 2^q)) */

/* ---- exact big integers, only for the tables ---------------------------- */
typedef struct dt_big {
  uint32_t l[DT_LIMBS]; /* little-endian limbs */
} dt_big;

static void dt_big_mul10(dt_big *a)
{
  uint64_t carry = 0;
  for (int i = 0; i < DT_LIMBS; i++) {
    uint64_t x = (uint64_t)a->l[i] * 10 + carry;
    a->l[i] = (uint32_t)x;
    carry = x >> 32;
  }
}

static void dt_big_div10(dt_big *a)
{
  uint64_t rem = 0;
  for (int i = DT_LIMBS - 1; i >= 0; i--) {
    uint64_t x = rem << 32 | a->l[i];
    a->l[i] = (uint32_t)(x / 10);
    rem = x % 10;
  }
}

static int dt_big_bitlen(const dt_big *a)
{
  for (int i = DT_LIMBS - 1; i >= 0; i--)
    if (a->l[i])
      return 32 * i + 32 - __builtin_clz(a->l[i]);
  return 0;
}

static int dt_big_bit(const dt_big *a, int p)
{
  if (p < 0 || p >= 32 * DT_LIMBS)
    return 0;
  return (int)(a->l[p / 32] >> (p % 32)) & 1;
}

/* floor(a / 2^s), for any sign of s, keeping the low 128 bits. */
static dt_u128 dt_big_shr(const dt_big *a, int s)
{
  dt_u128 x = 0;
  for (int p = s + 127; p >= s; p--)
    x = x << 1 | (dt_u128)dt_big_bit(a, p);
  return x;
}

static void dt_set_g(int e, dt_u128 g)
{
  dt_g[e - DT_EMIN].hi = (uint64_t)(g >> 64);
  dt_g[e - DT_EMIN].lo = (uint64_t)g;
}

/* g(e) = floor(10^e * 2^(125 - r(e))) + 1 with r(e) = floor(e * log2(10)):
 * the 126 leading bits of 10^e, rounded up. */
__attribute__((constructor)) static void dt_init(void)
{
  dt_big p;
  memset(&p, 0, sizeof p);
  p.l[0] = 1;
  int bitlen_pos[DT_EMAX + 1 > -DT_EMIN + 1 ? DT_EMAX + 1 : -DT_EMIN + 1];
  for (int e = 0; e <= DT_EMAX || e <= -DT_EMIN; e++) {
    int bl = dt_big_bitlen(&p);
    bitlen_pos[e] = bl;
    if (e <= DT_EMAX) {
      dt_r[e - DT_EMIN] = (int16_t)(bl - 1);
      dt_set_g(e, dt_big_shr(&p, bl - 126) + 1);
    }
    dt_big_mul10(&p);
  }
  /* 10^-m: q = floor(2^L / 10^m) by repeated exact division; then
   * floor(2^(125 + b) / 10^m) = q >> (L - 125 - b), b = bitlen(10^m), and
   * r(-m) = -b since 10^m is never a power of two for m > 0. */
  memset(&p, 0, sizeof p);
  p.l[DT_L / 32] = 1u << (DT_L % 32);
  for (int m = 1; m <= -DT_EMIN; m++) {
    dt_big_div10(&p);
    int b = bitlen_pos[m];
    dt_r[-m - DT_EMIN] = (int16_t)-b;
    dt_set_g(-m, dt_big_shr(&p, DT_L - 125 - b) + 1);
  }
  /* floor(q log10 2) and floor(q log10 2 + log10 3/4): over q in
   * [DT_QMIN, DT_QMAX] both numbers stay at least 8e-5 away from the next
   * integer (checked once with 80-digit decimal arithmetic), while the
   * long double products below are off by less than 1e-15, so the floors
   * are exact. */
  for (int q = DT_QMIN; q <= DT_QMAX; q++) {
    long double x = (long double)q * 0.301029995663981195213738894724493027L;
    dt_kq[q - DT_QMIN] = (int16_t)floorl(x);
    dt_k34[q - DT_QMIN] = (int16_t)floorl(x - 0.124938736608299953132449886193870744L);
  }
}

/* ---- the algorithm ------------------------------------------------------ */

/* floor(g * cp / 2^127), with the lowest bit set when bits of weight
 * 2^64 .. 2^126 of the product are not all zero (round to odd). The bits
 * below 2^64 are left out on purpose: they hold little more than the +1
 * that makes g an upper bound, and counting them would turn the exact
 * products of small powers of ten (k near 0) into falsely inexact ones. */
static inline uint64_t dt_rop(const dt_g128 *g, uint64_t cp)
{
  dt_u128 p0 = (dt_u128)g->lo * cp;
  dt_u128 p1 = (dt_u128)g->hi * cp;
  dt_u128 mid = p1 + (uint64_t)(p0 >> 64);
  uint64_t sticky = ((uint64_t)mid & (UINT64_MAX >> 1)) != 0;
  return (uint64_t)(mid >> 63) | sticky;
}

/* The shortest f * 10^*k in the rounding interval of c * 2^q (c > 0),
 * the closest to it among those of that length. `irregular`: c is the
 * first significand of a binade above the subnormals, whose lower neighbour
 * is half as far away. */
static uint64_t dt_shortest(uint64_t c, int q, int irregular, int *k10)
{
  uint64_t out = c & 1; /* odd: the interval's bounds do not read back as v */
  uint64_t cb = c << 2, cbr = cb + 2, cbl;
  int k;
  if (!irregular) {
    cbl = cb - 2;
    k = dt_kq[q - DT_QMIN];
  } else {
    cbl = cb - 1;
    k = dt_k34[q - DT_QMIN];
  }
  int h = q + dt_r[-k - DT_EMIN] + 2;
  const dt_g128 *g = &dt_g[-k - DT_EMIN];
  uint64_t vb = dt_rop(g, cb << h), vbl = dt_rop(g, cbl << h), vbr = dt_rop(g, cbr << h);
  uint64_t s = vb >> 2;
  *k10 = k;
  {
    /* One digit fewer: a multiple of 10 in the interval (at most one fits,
     * the interval being narrower than 10 units). Small subnormals need
     * this too, so there is no lower bound on s (sp10 = 0 is never in). */
    uint64_t sp10 = s / 10 * 10, tp10 = sp10 + 10;
    int upin = vbl + out <= sp10 << 2;
    int wpin = (tp10 << 2) + out <= vbr;
    if (upin != wpin)
      return upin ? sp10 : tp10;
  }
  uint64_t t = s + 1;
  int uin = vbl + out <= s << 2;
  int win = (t << 2) + out <= vbr;
  if (uin != win)
    return uin ? s : t;
  /* Both in: the closer one, ties to even. */
  int64_t cmp = (int64_t)(vb - ((s + t) << 1));
  return cmp < 0 || (cmp == 0 && (s & 1) == 0) ? s : t;
}

/* f * 10^k as text: plain decimal for magnitudes 1e-5 .. < 1e16, else
 * d.ddde+XX like printf's %g (at least two exponent digits). */
static size_t dt_text(char *out, int neg, uint64_t f, int k)
{
  char dig[24];
  int n = (int)fmt__u64(dig, f);
  while (dig[n - 1] == '0') { /* f > 0: a non-zero digit stops this */
    n--;
    k++;
  }
  int x = k + n - 1; /* exponent of the first digit */
  char *p = out;
  if (neg)
    *p++ = '-';
  if (x >= -5 && x <= 15) {
    if (k >= 0) {
      memcpy(p, dig, (size_t)n);
      p += n;
      memset(p, '0', (size_t)k);
      p += k;
    } else if (x >= 0) {
      memcpy(p, dig, (size_t)x + 1);
      p += x + 1;
      *p++ = '.';
      memcpy(p, dig + x + 1, (size_t)(n - x - 1));
      p += n - x - 1;
    } else {
      *p++ = '0';
      *p++ = '.';
      memset(p, '0', (size_t)(-x - 1));
      p += -x - 1;
      memcpy(p, dig, (size_t)n);
      p += n;
    }
    return (size_t)(p - out);
  }
  *p++ = dig[0];
  if (n > 1) {
    *p++ = '.';
    memcpy(p, dig + 1, (size_t)n - 1);
    p += n - 1;
  }
  *p++ = 'e';
  *p++ = x < 0 ? '-' : '+';
  unsigned ax = (unsigned)(x < 0 ? -x : x);
  if (ax < 10)
    *p++ = '0';
  p += fmt__u64(p, ax);
  return (size_t)(p - out);
}

static size_t dt_special(char *out, int nan, int neg)
{
  if (nan) {
    memcpy(out, "NaN", 3);
    return 3;
  }
  memcpy(out, neg ? "-Inf" : "+Inf", 4);
  return 4;
}

size_t fmt__double(char *out, double d)
{
  uint64_t bits;
  memcpy(&bits, &d, 8);
  int neg = (int)(bits >> 63);
  uint64_t frac = bits & ((UINT64_C(1) << 52) - 1);
  int be = (int)(bits >> 52) & 0x7ff;
  if (be == 0x7ff)
    return dt_special(out, frac != 0, neg);
  /* Integers are common (counts, ids kept as float8): below 2^53 every one
   * is exact and its plain digits are the shortest form. */
  if (d == (double)(int64_t)d && fabs(d) < 9007199254740992.0 && d != 0)
    return fmt__i64(out, (int64_t)d);
  if (be == 0 && frac == 0) {
    if (neg) {
      memcpy(out, "-0", 2);
      return 2;
    }
    out[0] = '0';
    return 1;
  }
  uint64_t c;
  int q, k;
  if (be) {
    c = frac | UINT64_C(1) << 52;
    q = be - 1075;
  } else {
    c = frac;
    q = -1074;
  }
  uint64_t f = dt_shortest(c, q, be > 1 && frac == 0, &k);
  return dt_text(out, neg, f, k);
}

size_t fmt__float(char *out, float fl)
{
  uint32_t bits;
  memcpy(&bits, &fl, 4);
  int neg = (int)(bits >> 31);
  uint32_t frac = bits & ((1u << 23) - 1);
  int be = (int)(bits >> 23) & 0xff;
  if (be == 0xff)
    return dt_special(out, frac != 0, neg);
  if (fl == (float)(int32_t)fl && fabsf(fl) < 16777216.0f && fl != 0)
    return fmt__i64(out, (int32_t)fl);
  if (be == 0 && frac == 0) {
    if (neg) {
      memcpy(out, "-0", 2);
      return 2;
    }
    out[0] = '0';
    return 1;
  }
  uint64_t c;
  int q, k;
  if (be) {
    c = frac | 1u << 23;
    q = be - 150;
  } else {
    c = frac;
    q = -149;
  }
  uint64_t f = dt_shortest(c, q, be > 1 && frac == 0, &k);
  return dt_text(out, neg, f, k);
}
