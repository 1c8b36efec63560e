/* The CSV upload reader: RFC 4180 framing, types inferred from the whole
 * file, and what it refuses. */
#include "formats/upload.h"
#include "formats/upload_int.h"
#include "test_list.h"
#include "ts_test.h"
#include "upload_test.h"

static const char *type_of(const up_result *r, const char *name)
{
  const fmt_upload_column *c = up_col(r, name);
  return c ? c->copy_type : "(none)";
}

int test_upload_csv_read(void)
{
  up_result r;
  const char doc[] = "\xEF\xBB\xBFi,l,d,b,ts,txt,,none\r\n"
                     "1,5000000000,1.5,true,2020-01-01T00:00:00,\"a,b\",x,\r\n"
                     "\r\n"
                     "-2,,NaN,F,2020-01-02,\"say \"\"hi\"\"\nnext line\",\"\",\r\n"
                     ",7,3,,,plain,  y ,\n"
                     "3,8,-Inf,T,1999-12-31 23:59:59.5,7,z,";
  TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_CSV, doc, sizeof doc - 1, NULL), TS_OK);
  TS_CHECK_EQ_INT(r.rows, 4);
  TS_CHECK_EQ_INT(r.t.ncols, 8);
  TS_CHECK(!r.t.name);
  TS_CHECK_STREQ(type_of(&r, "i"), "integer");
  TS_CHECK_STREQ(type_of(&r, "l"), "bigint");
  TS_CHECK_STREQ(type_of(&r, "d"), "double precision");
  TS_CHECK_STREQ(type_of(&r, "b"), "boolean");
  TS_CHECK_STREQ(type_of(&r, "ts"), "timestamp");
  TS_CHECK_STREQ(type_of(&r, "txt"), "text");
  TS_CHECK_STREQ(type_of(&r, "col7"), "text"); /* an empty name */
  TS_CHECK_STREQ(type_of(&r, "none"), "text"); /* no value at all */
  TS_CHECK_STREQ(r.text.data, "1|5000000000|1.5|t|2020-01-01T00:00:00|a,b|x|NULL\n"
                              "-2|NULL|nan|f|2020-01-02T00:00:00|say \"hi\"\nnext line|NULL|NULL\n"
                              "NULL|7|3|NULL|NULL|plain|  y |NULL\n"
                              "3|8|-inf|t|1999-12-31T23:59:59.500000|7|z|NULL\n");
  up_free(&r);
  /* Lone CRs end lines too (old Mac files), inside quotes they are text. */
  TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_CSV, "a,b\r1,\"x\ry\"\r\r2,z", 16, NULL), TS_OK);
  TS_CHECK_EQ_INT(r.rows, 2);
  TS_CHECK_STREQ(r.text.data, "1|x\ry\n2|z\n");
  up_free(&r);
  /* A header alone: no rows, every column text. */
  TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_CSV, "a,b\n", 4, NULL), TS_OK);
  TS_CHECK_EQ_INT(r.rows, 0);
  TS_CHECK_EQ_INT(r.t.ncols, 2);
  up_free(&r);
  return 0;
}

/* Which way the record reader took each record of the file: fields in
 * its read buffer (read in place) or in its record buffer (byte by
 * byte). *quoted_in_place counts quoted records read in place (none
 * should be). */
static int count_in_place(const ts_buf *doc, int *in_place, int *copied, int *quoted_in_place)
{
  fmt_textin t;
  ts_error err;
  int fd = up_tmpfd(doc->data, doc->len), got = 1;
  TS_CHECK(fd >= 0);
  TS_CHECK_EQ_INT(fmt__textin_init(&t, fd, 1 << 20, 0), TS_OK);
  t.cr_ends = 1;
  t.strict_quote = 1;
  *in_place = *copied = *quoted_in_place = 0;
  for (;;) {
    TS_CHECK_EQ_INT(fmt__textin_record(&t, ',', &got, &err), TS_OK);
    if (!got)
      break;
    TS_CHECK_EQ_INT(t.nfields, 3);
    const char *p = t.fields[1].p;
    int here = p >= (const char *)t.buf && p < (const char *)t.buf + t.len;
    TS_CHECK(here || (p >= t.rec.data && p < t.rec.data + t.rec.len + 1));
    *in_place += here;
    *copied += !here;
    *quoted_in_place += here && t.fields[1].p[0] == 'q'; /* q,"k" was quoted */
  }
  fmt__textin_free(&t);
  close(fd);
  return 0;
}

/* Records read in place (within one read of the file, no quote) and
 * records read byte by byte (quoted, or across two reads of 64 KiB)
 * alternate through a 300 KB file: every value as written, LF and CRLF
 * ends, blank lines skipped; and each record went the way it should. */
int test_upload_csv_in_place(void)
{
  up_result r;
  ts_buf doc, want;
  ts_buf_init(&doc, 1 << 20);
  ts_buf_init(&want, 1 << 20);
  ts_buf_puts(&doc, "id,txt,x\n");
  for (int k = 0; k < 12000; k++) {
    char txt[64];
    int pad = k % 50;
    if (k % 7 == 0) {
      ts_buf_printf(&doc, "%d,\"q,\"\"%d\"\"\",%d.25", k, k, k);
      ts_buf_printf(&want, "%d|q,\"%d\"|%d.25\n", k, k, k);
    } else if (k % 11 == 0) {
      ts_buf_printf(&doc, "%d,,%d.25", k, k);
      ts_buf_printf(&want, "%d|NULL|%d.25\n", k, k);
    } else {
      snprintf(txt, sizeof txt, "t%.*s", pad, "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
      ts_buf_printf(&doc, "%d,%s,%d.25", k, txt, k);
      ts_buf_printf(&want, "%d|%s|%d.25\n", k, txt, k);
    }
    ts_buf_puts(&doc, k % 3 == 0 ? "\r\n" : "\n");
    if (k % 13 == 0)
      ts_buf_puts(&doc, "\n");
  }
  TS_CHECK(doc.len > 4 * 65536);
  TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_CSV, doc.data, doc.len, NULL), TS_OK);
  TS_CHECK_EQ_INT(r.rows, 12000);
  TS_CHECK_STREQ(type_of(&r, "id"), "integer");
  TS_CHECK_STREQ(type_of(&r, "x"), "double precision");
  TS_CHECK(r.text.len == want.len && memcmp(r.text.data, want.data, want.len) == 0);
  up_free(&r);
  /* The header and the 10285 unquoted records are read in place, but
   * for those cut by the end of a 64 KiB read (one per read at most);
   * the 1715 quoted ones byte by byte. */
  int in_place, copied, quoted_in_place, reads = (int)(doc.len / 65536 + 1);
  TS_CHECK(!count_in_place(&doc, &in_place, &copied, &quoted_in_place));
  TS_CHECK_EQ_INT(in_place + copied, 12001);
  TS_CHECK_EQ_INT(quoted_in_place, 0);
  TS_CHECK(in_place >= 10286 - reads && in_place <= 10286);
  TS_CHECK(copied >= 1715 && copied <= 1715 + reads);
  ts_buf_free(&doc);
  ts_buf_free(&want);
  return 0;
}

/* Types come from every row, not from a sample of the first ones: a
 * column of integers with one decimal in row 3000 is double. */
int test_upload_csv_infer_whole(void)
{
  up_result r;
  ts_buf b;
  ts_buf_init(&b, 1 << 20);
  ts_buf_puts(&b, "n,flag\n");
  for (int i = 1; i <= 5000; i++)
    ts_buf_printf(&b, "%d,%s\n", i, i == 4999 ? "maybe" : (i % 2 ? "T" : "F"));
  ts_buf_puts(&b, "2.5,T\n");
  TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_AUTO, b.data, b.len, NULL), TS_OK);
  TS_CHECK_STREQ(type_of(&r, "n"), "double precision");
  TS_CHECK_STREQ(type_of(&r, "flag"), "text");
  TS_CHECK_EQ_INT(r.rows, 5001);
  TS_CHECK(strstr(r.text.data, "\n4999|maybe\n5000|F\n2.5|T\n"));
  up_free(&r);
  ts_buf_free(&b);
  /* hexadecimal is an integer, not a number of a double column */
  TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_CSV, "x\n0x1F\n1.5\n", 11, NULL), TS_OK);
  TS_CHECK_STREQ(type_of(&r, "x"), "text");
  up_free(&r);
  /* 0 and 1 alone are integers, not booleans */
  TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_CSV, "x\n0\n1\n", 6, NULL), TS_OK);
  TS_CHECK_STREQ(type_of(&r, "x"), "integer");
  up_free(&r);
  return 0;
}

/* Every CSV refusal comes before the table is described. */
static int refused_n(const char *doc, size_t len, const fmt_upload_limits *lim, ts_err code,
                     const char *words)
{
  return up_refused(FMT_UPLOAD_CSV, doc, len, lim, code, words, 1);
}

static int refused(const char *doc, const fmt_upload_limits *lim, ts_err code, const char *words)
{
  return refused_n(doc, strlen(doc), lim, code, words);
}

/* Every refusal comes before the table is described: on_table is never
 * called, so nothing is created to be dropped. */
int test_upload_csv_hostile(void)
{
  TS_CHECK(refused("a,b\n1,2\n3\n", NULL, TS_EINVAL, "row 2 (line 3) has 1 fields, the header 2"));
  TS_CHECK(refused("a,b\n1,2\n3,4,5\n", NULL, TS_EINVAL, "row 2 (line 3) has 3 fields"));
  TS_CHECK(refused("a,b\n\"1,2\n", NULL, TS_EINVAL, "line 2: a quoted field is not closed"));
  TS_CHECK(
      refused("a,b\n\"1\"x,2\n", NULL, TS_EINVAL, "line 2, column 1: 'x' after a closing quote"));
  TS_CHECK(
      refused("a,b\n\"1\" ,2\n", NULL, TS_EINVAL, "line 2, column 1: ' ' after a closing quote"));
  TS_CHECK(
      refused("a\n\xff\n", NULL, TS_EINVAL, "row 1 (line 2), column 1: the text is not UTF-8"));
  TS_CHECK(refused_n("a\nx\0y\n", 6, NULL, TS_EINVAL, "holds a NUL"));
  TS_CHECK(refused("", NULL, TS_EINVAL, "empty"));
  TS_CHECK(refused("\n\n", NULL, TS_EINVAL, "empty"));
  fmt_upload_limits lim = {.max_rows = 2};
  TS_CHECK(refused("a\n1\n2\n3\n", &lim, TS_ELIMIT, "more than 2 rows (limit max_rows)"));
  lim = (fmt_upload_limits){.max_columns = 2};
  TS_CHECK(refused("a,b,c\n1,2,3\n", &lim, TS_ELIMIT,
                   "line 1: more than 2 columns (limit max_columns)"));
  lim = (fmt_upload_limits){.max_value_bytes = 3};
  TS_CHECK(refused("a,b\n1,1234\n", &lim, TS_ELIMIT,
                   "line 2, column 2: a value is longer than the limit max_value_bytes (3)"));
  TS_CHECK(refused("a,b\n1,\"1234\"\n", &lim, TS_ELIMIT, "max_value_bytes (3)"));
  return 0;
}
