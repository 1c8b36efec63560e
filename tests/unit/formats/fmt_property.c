/* Property test driver: random schemas and random values (NULLs, NaN,
 * infinities, extreme integers, subnormals, unicode text, arrays with NULL
 * elements, empty tables) through every encoder. For each table it writes
 * DIR/tNNN.<format> for every format and DIR/tNNN.truth.json with the
 * exact values (floats as C99 hex strings so nothing is lost), which
 * check_property.py decodes back with astropy, csv and json and compares.
 *
 * usage: fmt_property DIR [SEED [NTABLES]] */
#include "formats/formats.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

static uint64_t rng;
static uint64_t next(void)
{
  rng ^= rng << 13;
  rng ^= rng >> 7;
  rng ^= rng << 17;
  return rng;
}
static int pick(int n)
{
  return (int)(next() % (uint64_t)n);
}

enum { K_BOOL, K_I2, K_I4, K_I8, K_F4, K_F8, K_TEXT, K_F8ARR, K_I4ARR, K_NKINDS };
static const uint32_t kind_oid[K_NKINDS] = {16, 21, 23, 20, 700, 701, 25, 1022, 1007};
static const char *const kind_name[K_NKINDS] = {"bool",   "int2", "int4",     "int8",  "float4",
                                                "float8", "text", "float8[]", "int4[]"};

/* ---- values in PostgreSQL's binary send format ------------------------ */
static uint8_t *pool;
static size_t pool_len, pool_cap;

static uint8_t *pool_alloc(size_t n)
{
  if (pool_len + n > pool_cap) {
    fprintf(stderr, "fmt_property: value pool exhausted\n");
    exit(2);
  }
  uint8_t *p = pool + pool_len;
  pool_len += n;
  return p;
}
static void be(uint8_t *q, uint64_t x, int n)
{
  for (int i = n - 1; i >= 0; i--, x >>= 8)
    q[i] = (uint8_t)x;
}

static double rand_double(void)
{
  switch (pick(10)) {
  case 0:
    return NAN;
  case 1:
    return pick(2) ? INFINITY : -INFINITY;
  case 2: {
    uint64_t u = next();
    double d;
    memcpy(&d, &u, 8);
    return isfinite(d) ? d : 0.5;
  }
  case 3:
    return pick(2) ? 5e-324 : -0.0;
  case 4:
    return pick(2) ? 1.7976931348623157e308 : 2.2250738585072014e-308;
  default:
    return (double)(int64_t)(next() % 2000000000001ULL - 1000000000000LL) / pow(10, pick(12));
  }
}

static float rand_float(void)
{
  if (pick(6) == 0) {
    uint32_t u = (uint32_t)next();
    float f;
    memcpy(&f, &u, 4);
    return isfinite(f) ? f : 0.25f;
  }
  return (float)rand_double();
}

/* Integers avoid the type's minimum: VOTable BINARY and FITS use it as
 * their NULL stand-in. */
static int64_t rand_int(int bits)
{
  int64_t max = bits == 64 ? INT64_MAX : ((int64_t)1 << (bits - 1)) - 1;
  switch (pick(5)) {
  case 0:
    return max;
  case 1:
    return -max;
  case 2:
    return 0;
  default: {
    uint64_t u = next();
    int64_t v = (int64_t)(u >> (65 - bits));
    return pick(2) ? v : -v;
  }
  }
}

static const char *const pieces[] = {"a",
                                     "Z",
                                     "0",
                                     "9",
                                     "x y",
                                     "<",
                                     ">",
                                     "&",
                                     "\"",
                                     "'",
                                     ",",
                                     ";",
                                     "\xc3\xa9",
                                     "\xce\xa9",
                                     "\xe6\x97\xa5",
                                     "\xf0\x9f\x98\x80",
                                     "_",
                                     "-",
                                     "."};

/* 1..12 pieces; never blank at either end (readers trim) and never
 * empty (an empty string is NULL in CSV-like formats). */
static size_t rand_text(char *out)
{
  size_t n = 0;
  int k = 1 + pick(12);
  for (int i = 0; i < k; i++) {
    const char *p = pieces[pick((int)TS_ARRAY_LEN(pieces))];
    if ((i == 0 || i == k - 1) && strchr(p, ' '))
      p = "q";
    size_t l = strlen(p);
    memcpy(out + n, p, l);
    n += l;
  }
  return n;
}

static stream_value make_array(int f8, FILE *truth)
{
  int n = pick(6);
  size_t cap = 20 + (size_t)n * 12;
  uint8_t *p = pool_alloc(cap), *q = p;
  int hasnull = 0;
  be(q, 1, 4);
  be(q + 8, f8 ? 701 : 23, 4);
  be(q + 12, (uint32_t)n, 4);
  be(q + 16, 1, 4);
  q += 20;
  fputc('[', truth);
  for (int i = 0; i < n; i++) {
    if (i)
      fputc(',', truth);
    if (pick(6) == 0) {
      be(q, UINT32_MAX, 4);
      q += 4;
      hasnull = 1;
      fputs("null", truth);
      continue;
    }
    if (f8) {
      double d = rand_double();
      uint64_t u;
      memcpy(&u, &d, 8);
      be(q, 8, 4);
      be(q + 4, u, 8);
      q += 12;
      fprintf(truth, "\"%a\"", d);
    } else {
      int32_t v = (int32_t)rand_int(32);
      be(q, 4, 4);
      be(q + 4, (uint32_t)v, 4);
      q += 8;
      fprintf(truth, "\"%d\"", (int)v);
    }
  }
  fputc(']', truth);
  be(p + 4, (uint32_t)hasnull, 4);
  stream_value v = {p, (int32_t)(q - p)};
  return v;
}

static void json_str(FILE *f, const char *s, size_t n)
{
  fputc('"', f);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '"' || c == '\\')
      fprintf(f, "\\%c", c);
    else if (c < 0x20)
      fprintf(f, "\\u%04x", c);
    else
      fputc(c, f);
  }
  fputc('"', f);
}

static stream_value make_value(int kind, FILE *truth)
{
  stream_value v = {NULL, -1};
  if (pick(8) == 0) {
    fputs("null", truth);
    return v;
  }
  uint8_t *p;
  switch (kind) {
  case K_BOOL: {
    int b = pick(2);
    p = pool_alloc(1);
    p[0] = (uint8_t)b;
    fputs(b ? "true" : "false", truth);
    v.len = 1;
    break;
  }
  case K_I2:
  case K_I4:
  case K_I8: {
    int bits = kind == K_I2 ? 16 : kind == K_I4 ? 32 : 64;
    int64_t x = rand_int(bits);
    p = pool_alloc((size_t)bits / 8);
    be(p, (uint64_t)x, bits / 8);
    fprintf(truth, "\"%lld\"", (long long)x);
    v.len = bits / 8;
    break;
  }
  case K_F4: {
    float f = rand_float();
    uint32_t u;
    memcpy(&u, &f, 4);
    p = pool_alloc(4);
    be(p, u, 4);
    fprintf(truth, "\"%a\"", (double)f);
    v.len = 4;
    break;
  }
  case K_F8: {
    double d = rand_double();
    uint64_t u;
    memcpy(&u, &d, 8);
    p = pool_alloc(8);
    be(p, u, 8);
    fprintf(truth, "\"%a\"", d);
    v.len = 8;
    break;
  }
  case K_TEXT: {
    char tmp[128];
    size_t n = rand_text(tmp);
    p = pool_alloc(n);
    memcpy(p, tmp, n);
    json_str(truth, tmp, n);
    v.len = (int32_t)n;
    break;
  }
  default:
    return make_array(kind == K_F8ARR, truth);
  }
  v.p = p;
  return v;
}

typedef struct sink {
  FILE *f;
} sink;
static ts_err sink_flush(void *ud, const char *buf, size_t len)
{
  return fwrite(buf, 1, len, ((sink *)ud)->f) == len ? TS_OK : TS_EIO;
}

static const char *const formats[] = {"votable/td", "votable", "votable/b", "fits",
                                      "csv",        "tsv",     "ecsv",      "json"};
static const char *const format_ext[] = {"td.vot", "b2.vot", "b.vot", "fits",
                                         "csv",    "tsv",    "ecsv",  "json"};

static int encode_file(const char *path, const fmt_type *t, const stream_schema *s,
                       const stream_batch *batches, size_t nb)
{
  sink sk = {fopen(path, "wb")};
  stream_out out;
  if (!sk.f || stream_out_init(&out, 4096 + (size_t)pick(60000), sink_flush, &sk)) {
    fprintf(stderr, "fmt_property: cannot write %s: %s\n", path, strerror(errno));
    return -1;
  }
  fmt_encoder *e = fmt_encoder_new(t, &out);
  fmt_trailer tr = {FMT_OK, NULL};
  ts_err rc = fmt_encoder_begin(e, s, NULL);
  for (size_t i = 0; i < nb && !rc; i++)
    rc = fmt_encoder_rows(e, &batches[i]);
  if (!rc)
    rc = fmt_encoder_end(e, &tr);
  for (int done = 0; !rc && !done;)
    rc = fmt_encoder_drain(e, &done);
  if (!rc)
    rc = stream_out_flush(&out);
  fmt_encoder_free(e);
  stream_out_free(&out);
  fclose(sk.f);
  if (rc) {
    fprintf(stderr, "fmt_property: %s failed: %s\n", path, ts_err_name(rc));
    return -1;
  }
  return 0;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    fprintf(stderr, "usage: fmt_property DIR [SEED [NTABLES]]\n");
    return 2;
  }
  const char *dir = argv[1];
  rng = argc > 2 ? strtoull(argv[2], NULL, 10) * 2654435761ULL + 88172645463325252ULL
                 : 88172645463325252ULL;
  int ntables = argc > 3 ? (int)strtol(argv[3], NULL, 10) : 40;
  mkdir(dir, 0755);
  pool_cap = 64 << 20;
  pool = malloc(pool_cap);
  if (!pool)
    return 2;
  for (int t = 0; t < ntables; t++) {
    pool_len = 0;
    size_t ncols = 1 + (size_t)pick(12);
    size_t nrows = pick(5) == 0 ? (size_t)pick(2) : (size_t)pick(400);
    stream_column cols[16];
    int kinds[16];
    char names[16][48];
    stream_schema s = {ncols, cols};
    char path[512];
    snprintf(path, sizeof path, "%s/t%03d.truth.json", dir, t);
    FILE *truth = fopen(path, "w");
    if (!truth)
      return 2;
    fputs("{\"columns\":[", truth);
    for (size_t i = 0; i < ncols; i++) {
      memset(&cols[i], 0, sizeof cols[i]);
      kinds[i] = pick(K_NKINDS);
      snprintf(names[i], sizeof names[i], "c%zu_%s", i, kind_name[kinds[i]]);
      names[i][strcspn(names[i], "[")] = '\0'; /* c3_float8[] -> c3_float8 */
      if (kinds[i] == K_F8ARR || kinds[i] == K_I4ARR) {
        size_t l = strlen(names[i]);
        snprintf(names[i] + l, sizeof names[i] - l, "a");
      }
      cols[i].name = names[i];
      if (stream_column_set_type(&cols[i], kind_oid[kinds[i]], -1))
        return 2;
      if (kinds[i] == K_TEXT)
        cols[i].datatype = "unicodeChar"; /* as TAP_SCHEMA would publish it */
      cols[i].unit = pick(3) == 0 ? "deg" : NULL;
      cols[i].ucd = pick(3) == 0 ? "meta.id" : NULL;
      fprintf(truth, "%s{\"name\":\"%s\",\"kind\":\"%s\",\"unit\":%s%s%s}", i ? "," : "", names[i],
              kind_name[kinds[i]], cols[i].unit ? "\"" : "", cols[i].unit ? cols[i].unit : "null",
              cols[i].unit ? "\"" : "");
    }
    fputs("],\n\"rows\":[", truth);
    stream_value *vals = calloc(nrows * ncols + 1, sizeof *vals);
    for (size_t r = 0; r < nrows; r++) {
      fputs(r ? ",\n[" : "\n[", truth);
      for (size_t i = 0; i < ncols; i++) {
        if (i)
          fputc(',', truth);
        vals[r * ncols + i] = make_value(kinds[i], truth);
      }
      fputc(']', truth);
    }
    fputs("]}\n", truth);
    fclose(truth);
    /* The rows in a few batches of random sizes. */
    stream_batch batches[8];
    size_t nb = 0, at = 0;
    while (at < nrows && nb < 7) {
      size_t k = 1 + (size_t)pick((int)(nrows - at));
      batches[nb++] = (stream_batch){k, ncols, vals + at * ncols};
      at += k;
    }
    if (at < nrows)
      batches[nb++] = (stream_batch){nrows - at, ncols, vals + at * ncols};
    for (size_t f = 0; f < TS_ARRAY_LEN(formats); f++) {
      snprintf(path, sizeof path, "%s/t%03d.%s", dir, t, format_ext[f]);
      if (encode_file(path, fmt_lookup(formats[f]), &s, batches, nb))
        return 1;
    }
    free(vals);
  }
  free(pool);
  printf("fmt_property: %d tables in %s\n", ntables, dir);
  return 0;
}
