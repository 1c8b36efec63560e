/* Upload readers against tapserve's own encoders: a table written as
 * VOTable (TABLEDATA, BINARY, BINARY2; 1.4 and 1.5) or CSV and read back
 * as an upload gives the same columns and values; the COPY it writes
 * loads into PostgreSQL; and a million-row BINARY2 file is read in flat
 * memory. */
#include "formats/formats.h"
#include "formats/upload.h"
#include "test_list.h"
#include "ts_test.h"
#include "ts_test_pg.h"
#include "upload_test.h"

#include <fcntl.h>
#include <sys/resource.h>

/* ---- a batch in PostgreSQL's send format ------------------------------------ */
static uint8_t pool[1 << 16];
static size_t pool_len;

static stream_value bytes(const void *p, size_t n)
{
  stream_value v = {pool + pool_len, (int32_t)n};
  memcpy(pool + pool_len, p, n);
  pool_len += n;
  return v;
}
static stream_value ube(uint64_t x, int n)
{
  uint8_t b[8];
  for (int i = n - 1; i >= 0; i--, x >>= 8)
    b[i] = (uint8_t)x;
  return bytes(b, (size_t)n);
}
static stream_value uf4(float f)
{
  uint32_t u;
  memcpy(&u, &f, 4);
  return ube(u, 4);
}
static stream_value uf8(double d)
{
  uint64_t u;
  memcpy(&u, &d, 8);
  return ube(u, 8);
}
static stream_value utext(const char *s)
{
  return bytes(s, strlen(s));
}
static stream_value uarr(uint32_t oid, int n, const stream_value *els)
{
  stream_value v = ube(1, 4);
  int nulls = 0;
  for (int i = 0; i < n; i++)
    nulls |= els[i].len < 0;
  ube((uint64_t)nulls, 4);
  ube(oid, 4);
  ube((uint64_t)n, 4);
  ube(1, 4);
  for (int i = 0; i < n; i++) {
    ube((uint32_t)els[i].len, 4);
    if (els[i].len > 0)
      bytes(els[i].p, (size_t)els[i].len);
  }
  v.len = (int32_t)(pool + pool_len - v.p);
  return v;
}
static const stream_value unull = {NULL, -1};

enum { NCOLS = 10, NROWS = 3, NCSV = 8 };
static const struct {
  const char *name;
  uint32_t oid;
} rt_cols[NCOLS] = {{"b", 16},  {"s", 21}, {"i", 23},    {"l", 20},    {"f", 700},
                    {"d", 701}, {"t", 25}, {"ts", 1114}, {"ia", 1007}, {"da", 1022}};
static stream_column cols[NCOLS];
static stream_value vals[NROWS * NCOLS];

/* utf8: text beyond ASCII (VOTable 1.4's char is ASCII: tapserve escapes
 * the rest as \\uXXXX there, which reads back as those characters). */
static int build(int utf8)
{
  pool_len = 0;
  for (size_t i = 0; i < NCOLS; i++) {
    memset(&cols[i], 0, sizeof cols[i]);
    if (stream_column_set_type(&cols[i], rt_cols[i].oid, -1))
      return -1;
    cols[i].name = rt_cols[i].name;
  }
  stream_value ia[3] = {ube(1, 4), unull, ube((uint32_t)-3, 4)}, da[2] = {uf8(0.5), uf8(-2)};
  stream_value ia2[1] = {ube(7, 4)}, da2[3] = {uf8(1), uf8(1e-300), uf8(3)};
  stream_value r0[NCOLS] = {ube(1, 1),
                            ube(1, 2),
                            ube(2, 4),
                            ube(3, 8),
                            uf4(1.5f),
                            uf8(0.1),
                            utext(utf8 ? "h\xC3\xA9llo <&> w\xC3\xB6rld" : "hello <&> world"),
                            ube(1234567, 8),
                            uarr(23, 3, ia),
                            uarr(701, 2, da)};
  stream_value r2[NCOLS] = {ube(0, 1),
                            ube((uint16_t)-32767, 2),
                            ube((uint32_t)-5, 4),
                            ube(1ULL << 50, 8),
                            uf4(-0.25f),
                            uf8(1e300),
                            utext(utf8 ? "a,b \"q\"\nline2\t\xE2\x82\xAC" : "a,b \"q\"\nline2\t"),
                            ube((uint64_t)-1, 8),
                            uarr(23, 1, ia2),
                            uarr(701, 3, da2)};
  for (size_t i = 0; i < NCOLS; i++) {
    vals[i] = r0[i];
    vals[NCOLS + i] = unull;
    vals[2 * NCOLS + i] = r2[i];
  }
  return 0;
}

/* The first ncols columns of the table, encoded as `format`. */
static char *encode(const char *format, size_t ncols, size_t *len)
{
  stream_schema s = {ncols, cols};
  stream_value v[NROWS * NCOLS];
  for (size_t r = 0; r < NROWS; r++)
    for (size_t c = 0; c < ncols; c++)
      v[r * ncols + c] = vals[r * NCOLS + c];
  stream_batch b = {NROWS, ncols, v};
  fmt_info info = {.table_name = "rt", .maxrec = -1};
  fmt_trailer tr = {0};
  ts_buf out;
  stream_out o;
  ts_buf_init(&out, 1 << 20);
  stream_out_init(&o, 512, up_to_buf, &out);
  fmt_encoder *e = fmt_encoder_new(fmt_lookup(format), &o);
  if (!e || fmt_encoder_begin(e, &s, &info) || fmt_encoder_rows(e, &b) || fmt_encoder_end(e, &tr) ||
      stream_out_flush(&o))
    return NULL;
  for (int done = 0; !done;) /* FITS spools until its end */
    if (fmt_encoder_drain(e, &done))
      return NULL;
  fmt_encoder_free(e);
  stream_out_free(&o);
  return ts_buf_steal(&out, len);
}

static int roundtrip(const char *format, size_t ncols)
{
  size_t len;
  up_result r;
  if (build(strstr(format, "1.5") || strncmp(format, "csv", 3) == 0))
    return 1;
  char *doc = encode(format, ncols, &len);
  TS_CHECK(doc);
  ts_err rc = up_read(&r, FMT_UPLOAD_AUTO, doc, len, NULL);
  free(doc);
  TS_CHECK_EQ_INT(rc, TS_OK);
  TS_CHECK_EQ_INT(r.rows, NROWS);
  TS_CHECK_EQ_INT(r.t.ncols, ncols);
  ts_buf want;
  ts_buf_init(&want, 1 << 20);
  ts_buf_append(&want, "", 0);
  stream_value v[NROWS * NCOLS];
  for (size_t i = 0; i < NROWS; i++)
    for (size_t c = 0; c < ncols; c++)
      v[i * ncols + c] = vals[i * NCOLS + c];
  stream_batch b = {NROWS, ncols, v};
  up_batch_text(&want, cols, &b);
  if (strcmp(format, "fits") == 0) {
    /* FITS has no NULL array: the all-NULL row's arrays come back empty. */
    static const char nulls[] = "|NULL|NULL\n";
    const char *at = strstr(want.data, nulls);
    TS_CHECK(at);
    ts_buf fixed;
    ts_buf_init(&fixed, 1 << 20);
    ts_buf_append(&fixed, want.data, (size_t)(at - want.data));
    ts_buf_puts(&fixed, "|{}|{}\n");
    ts_buf_puts(&fixed, at + strlen(nulls));
    ts_buf_free(&want);
    want = fixed;
  }
  for (size_t c = 0; c < ncols; c++) {
    TS_CHECK_STREQ(r.t.cols[c].c.name, cols[c].name);
    /* VOTable keeps the types; CSV's are inferred, and the values the same. */
    if (strncmp(format, "csv", 3) != 0)
      TS_CHECK_EQ_INT(r.t.cols[c].c.type_oid, cols[c].type_oid);
  }
  if (strcmp(r.text.data, want.data) != 0)
    fprintf(stderr, "# %s read back:\n%s# expected:\n%s", format, r.text.data, want.data);
  TS_CHECK_STREQ(r.text.data, want.data);
  ts_buf_free(&want);
  up_free(&r);
  return 0;
}

int test_upload_roundtrip(void)
{
  const char *vot[] = {"votable/td",
                       "votable/b",
                       "votable/b2",
                       "votable/td;version=1.5",
                       "votable/b;version=1.5",
                       "votable/b2;version=1.5"};
  for (size_t i = 0; i < TS_ARRAY_LEN(vot); i++) {
    fprintf(stderr, "# %s\n", vot[i]);
    if (roundtrip(vot[i], NCOLS))
      return 1;
  }
  /* FITS and ECSV through the same entry point: sniffed, dispatched. */
  const char *other[] = {"fits", "ecsv"};
  for (size_t i = 0; i < TS_ARRAY_LEN(other); i++) {
    fprintf(stderr, "# %s\n", other[i]);
    if (roundtrip(other[i], NCOLS))
      return 1;
  }
  /* CSV: no arrays (it writes them as text). */
  return roundtrip("csv", NCSV);
}

/* ---- the same table glue in every reader ----------------------------------- */
static ts_err refuse_silently(void *ud, const fmt_upload_table *t, ts_error *err)
{
  (void)ud, (void)t, (void)err;
  return TS_EDB;
}

static ts_err sink_fails(void *ud, const char *buf, size_t len)
{
  (void)ud, (void)buf, (void)len;
  return TS_EDB;
}

/* A refusal by on_table that says nothing gets a message, and a sink's
 * error comes back as it is, with one: in every format. */
int test_upload_table_glue(void)
{
  const char *formats[] = {"votable/b2", "fits", "ecsv", "csv"};
  for (size_t i = 0; i < TS_ARRAY_LEN(formats); i++) {
    fprintf(stderr, "# %s\n", formats[i]);
    TS_CHECK(build(1) == 0);
    size_t len;
    char *doc = encode(formats[i], i == 3 ? NCSV : NCOLS, &len);
    TS_CHECK(doc);
    for (int sink = 0; sink < 2; sink++) {
      int fd = up_tmpfd(doc, len);
      TS_CHECK(fd >= 0);
      stream_out o;
      ts_error err;
      uint64_t rows;
      up_result meta;
      memset(&meta, 0, sizeof meta);
      ts_arena *a = ts_arena_new(0, 0);
      stream_out_init(&o, 64, sink ? sink_fails : up_to_buf, NULL);
      ts_err rc = fmt_upload_read(fd, FMT_UPLOAD_AUTO, NULL, a,
                                  sink ? up_on_table : refuse_silently, &meta, &o, &rows, &err);
      stream_out_free(&o);
      ts_arena_free(a);
      close(fd);
      TS_CHECK_EQ_INT(rc, TS_EDB);
      if (!sink)
        TS_CHECK_STREQ(err.msg, "the upload table was refused");
      else
        TS_CHECK(err.msg[0]);
    }
    free(doc);
  }
  return 0;
}

/* ---- into PostgreSQL ------------------------------------------------------------- */
typedef struct pg_up {
  PGconn *c;
  int copying;
} pg_up;

static ts_err pg_on_table(void *ud, const fmt_upload_table *t, ts_error *err)
{
  pg_up *p = ud;
  if (!up_pg_create(p->c, "up", t))
    return ts_fail(err, TS_EDB, 0, "CREATE failed");
  PGresult *r = PQexec(p->c, "COPY up FROM STDIN (FORMAT binary)");
  int ok = PQresultStatus(r) == PGRES_COPY_IN;
  PQclear(r);
  p->copying = ok;
  return ok ? TS_OK : ts_fail(err, TS_EDB, 0, "COPY failed: %s", PQerrorMessage(p->c));
}

static ts_err pg_flush(void *ud, const char *buf, size_t len)
{
  pg_up *p = ud;
  return PQputCopyData(p->c, buf, (int)len) == 1 ? TS_OK : TS_EDB;
}

int test_pg_upload_copy(void)
{
  pg_up p = {ts_test_pg(), 0};
  TS_CHECK(p.c);
  TS_CHECK(build(1) == 0);
  size_t len;
  char *doc = encode("votable/b2;version=1.5", NCOLS, &len);
  TS_CHECK(doc);
  int fd = up_tmpfd(doc, len);
  free(doc);
  stream_out o;
  ts_error err;
  uint64_t rows;
  ts_arena *a = ts_arena_new(0, 0);
  stream_out_init(&o, 4096, pg_flush, &p);
  ts_err rc = fmt_upload_read(fd, FMT_UPLOAD_VOTABLE, NULL, a, pg_on_table, &p, &o, &rows, &err);
  close(fd);
  stream_out_free(&o);
  ts_arena_free(a);
  TS_CHECK_EQ_INT(rc, TS_OK);
  TS_CHECK(p.copying);
  TS_CHECK(PQputCopyEnd(p.c, NULL) == 1);
  PGresult *r = PQgetResult(p.c);
  if (PQresultStatus(r) != PGRES_COMMAND_OK)
    fprintf(stderr, "# COPY: %s", PQerrorMessage(p.c));
  TS_CHECK_EQ_INT(PQresultStatus(r), PGRES_COMMAND_OK);
  TS_CHECK_STREQ(PQcmdTuples(r), "3");
  PQclear(r);
  while ((r = PQgetResult(p.c)))
    PQclear(r);
  r = PQexec(p.c, "SELECT string_agg(concat_ws('|', b, s, i, l, f, d, t, ts, ia, da), E'\\n' "
                  "ORDER BY i NULLS FIRST) FROM up");
  TS_CHECK_EQ_INT(PQresultStatus(r), PGRES_TUPLES_OK);
  TS_CHECK_STREQ(
      PQgetvalue(r, 0, 0),
      "\n"
      "f|-32767|-5|1125899906842624|-0.25|1e+300|a,b \"q\"\nline2\t\xE2\x82\xAC|"
      "1999-12-31 23:59:59.999999|{7}|{1,1e-300,3}\n"
      "t|1|2|3|1.5|0.1|h\xC3\xA9llo <&> w\xC3\xB6rld|2000-01-01 00:00:01.234567|{1,NULL,-3}|"
      "{0.5,-2}");
  PQclear(r);
  PQfinish(p.c);
  return 0;
}

/* ---- a million rows in flat memory ---------------------------------------------- */
static ts_err count_flush(void *ud, const char *buf, size_t len)
{
  (void)buf;
  *(uint64_t *)ud += len;
  return TS_OK;
}

static long maxrss_kib(void)
{
  struct rusage u;
  getrusage(RUSAGE_SELF, &u);
  return u.ru_maxrss;
}

int test_upload_b2_rss(void)
{
  enum { ROWS = 1000000, BATCH = 999 }; /* rows per write: a multiple of 3 bytes each */
  char path[] = "/tmp/ts_upload_b2_XXXXXX";
  int fd = mkstemp(path);
  TS_CHECK(fd >= 0);
  unlink(path);
  static up_bin o;
  ts_buf b;
  ts_buf_init(&b, 1 << 20);
  ts_buf_puts(&b, "<?xml version=\"1.0\"?>\n<VOTABLE version=\"1.4\" "
                  "xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\"><RESOURCE><TABLE>"
                  "<FIELD name=\"id\" datatype=\"long\"/><FIELD name=\"ra\" datatype=\"double\"/>"
                  "<FIELD name=\"dec\" datatype=\"double\"/>"
                  "<FIELD name=\"name\" datatype=\"char\" arraysize=\"*\"/>"
                  "<FIELD name=\"mag\" datatype=\"float\"/>"
                  "<DATA><BINARY2><STREAM encoding=\"base64\">\n");
  uint64_t file = 0;
  for (int r = 0; r < ROWS;) {
    o.n = 0;
    for (int k = 0; k < BATCH && r < ROWS; k++, r++) {
      char name[16];
      up_raw(&o, r % 7 ? "\0" : "\x08", 1); /* every 7th mag is NULL */
      up_be(&o, (uint64_t)r, 8);
      up_f8(&o, r * 0.00036);
      up_f8(&o, -90 + r * 0.00018);
      snprintf(name, sizeof name, "src%07d", r);
      up_be(&o, 10, 4);
      up_raw(&o, name, 10);
      up_f4(&o, (float)(r % 2000) / 100);
    }
    up_b64(&b, o.b, o.n); /* 35 bytes a row, 999 rows: whole base64 groups */
    TS_CHECK(write(fd, b.data, b.len) == (ssize_t)b.len);
    file += b.len;
    ts_buf_reset(&b);
  }
  ts_buf_puts(&b, "\n</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>\n");
  TS_CHECK(write(fd, b.data, b.len) == (ssize_t)b.len);
  file += b.len;
  ts_buf_free(&b);
  long before = maxrss_kib();
  uint64_t copied = 0, rows = 0;
  stream_out out;
  ts_error err;
  ts_arena *a = ts_arena_new(0, 0);
  up_result meta;
  memset(&meta, 0, sizeof meta);
  stream_out_init(&out, 64 << 10, count_flush, &copied);
  ts_err rc = fmt_upload_read(fd, FMT_UPLOAD_AUTO, NULL, a, up_on_table, &meta, &out, &rows, &err);
  stream_out_free(&out);
  ts_arena_free(a);
  close(fd);
  long growth = maxrss_kib() - before;
  fprintf(stderr,
          "# %d rows, %llu bytes of VOTable, %llu bytes of COPY; peak RSS %ld KiB, grew %ld KiB\n",
          ROWS, (unsigned long long)file, (unsigned long long)copied, maxrss_kib(), growth);
  if (rc)
    fprintf(stderr, "# %s\n", err.msg);
  TS_CHECK_EQ_INT(rc, TS_OK);
  TS_CHECK_EQ_INT(rows, ROWS);
  /* header 19 + per row 2 + 5 length words + 8+8+8+10 (+4 for mag unless NULL) + trailer 2 */
  TS_CHECK_EQ_INT(copied, 19 + (uint64_t)ROWS * (2 + 20 + 34) + 4 * (ROWS - (ROWS + 6) / 7) + 2);
  TS_CHECK(growth < 64 * 1024);
  return 0;
}
