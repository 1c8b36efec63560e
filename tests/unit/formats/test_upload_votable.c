/* The VOTable upload reader: every datatype and arraysize in TABLEDATA,
 * BINARY and BINARY2, their NULL conventions, metadata, and hostile
 * documents. */
#include "formats/upload.h"
#include "test_list.h"
#include "ts_test.h"
#include "upload_test.h"

#include <math.h>
#include <sys/resource.h>

#define VOT_HEAD                                                                                   \
  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"                                                   \
  "<VOTABLE version=\"1.3\" xmlns=\"http://www.ivoa.net/xml/VOTable/v1.3\">\n"

static const char td_doc[] = VOT_HEAD
    "<RESOURCE><INFO name=\"QUERY_STATUS\" value=\"OK\"/><COOSYS ID=\"c\" system=\"ICRS\"/>\n"
    "<TIMESYS ID=\"t\" timescale=\"UTC\" refposition=\"TOPOCENTER\"/>\n"
    "<RESOURCE type=\"results\"><TABLE name=\"mine\">\n"
    "<DESCRIPTION>my &amp; table</DESCRIPTION>\n"
    "<PARAM name=\"p\" datatype=\"int\" value=\"1\"/>\n"
    "<GROUP name=\"g\"><FIELDref ref=\"a\"/><PARAM name=\"q\" datatype=\"int\" "
    "value=\"2\"/></GROUP>\n"
    "<FIELD name=\"b\" datatype=\"boolean\"/>\n"
    "<FIELD name=\"bits\" datatype=\"bit\" arraysize=\"4\"/>\n"
    "<FIELD name=\"ub\" datatype=\"unsignedByte\"/>\n"
    "<FIELD name=\"s\" datatype=\"short\"><VALUES null=\"-1\"/></FIELD>\n"
    "<FIELD name=\"i\" ID=\"a\" datatype=\"int\" unit=\"deg\" ucd=\"pos.eq.ra\" "
    "utype=\"u:t&amp;x\">"
    "<DESCRIPTION>an &lt;int&gt;</DESCRIPTION><VALUES null=\"-2147483648\"><MIN "
    "value=\"0\"/></VALUES>"
    "<LINK href=\"http://example.org\"/></FIELD>\n"
    "<FIELD name=\"l\" datatype=\"long\"/>\n"
    "<FIELD name=\"f\" datatype=\"float\"/>\n"
    "<FIELD name=\"d\" datatype=\"double\"/>\n"
    "<FIELD name=\"c\" datatype=\"char\" arraysize=\"*\"/>\n"
    "<FIELD name=\"c1\" datatype=\"char\"/>\n"
    "<FIELD name=\"u\" datatype=\"unicodeChar\" arraysize=\"10*\"/>\n"
    "<FIELD name=\"ts\" datatype=\"char\" arraysize=\"*\" xtype=\"timestamp\" ref=\"t\"/>\n"
    "<FIELD name=\"ia\" datatype=\"int\" arraysize=\"2x*\"><VALUES null=\"0\"/></FIELD>\n"
    "<FIELD name=\"fa\" datatype=\"float\" arraysize=\"3\"/>\n"
    "<FIELD name=\"pt\" datatype=\"double\" arraysize=\"2\" xtype=\"point\"/>\n"
    "<FIELD name=\"ci\" datatype=\"float\" arraysize=\"3\" xtype=\"circle\"/>\n"
    "<DATA><TABLEDATA>\n"
    "<TR><TD>T</TD><TD>1 0 1 1</TD><TD>255</TD><TD>-1</TD><TD>0x10</TD><TD>-9000000000</TD>"
    "<TD>1.5</TD><TD>NaN</TD><TD>a&amp;b &lt;c&gt;</TD><TD>x</TD><TD>\xC3\xA9\xE2\x82\xAC</TD>"
    "<TD>2020-01-02T03:04:05</TD><TD>1 0 3 4</TD><TD>0.5 -Inf 2</TD><TD>10 20</TD>"
    "<TD>1 2 0.5</TD></TR>\n"
    "<TR><TD/><TD></TD><TD/><TD/><TD>-2147483648</TD><TD/><TD/><TD/><TD/><TD/><TD/><TD/>"
    "<TD/><TD/><TD/><TD/></TR>\n"
    "<TR><TD>false</TD><TD>0110</TD><TD>0</TD><TD>32767</TD><TD>-5</TD><TD>1</TD>"
    "<TD>-Inf</TD><TD>1e300</TD><TD><![CDATA[<raw> & ]]></TD><TD> </TD><TD>z</TD>"
    "<TD>1999-12-31</TD><TD>5</TD><TD>1 2 3</TD><TD>0 -90</TD><TD>359 0 1</TD></TR>\n"
    "</TABLEDATA></DATA>\n"
    "<INFO name=\"QUERY_STATUS\" value=\"OVERFLOW\"/></TABLE>\n"
    "<TABLE name=\"second\"><FIELD name=\"z\" datatype=\"int\"/></TABLE>"
    "</RESOURCE></RESOURCE></VOTABLE>\n";

int test_upload_vot_td(void)
{
  up_result r;
  TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_AUTO, td_doc, sizeof td_doc - 1, NULL), TS_OK);
  TS_CHECK_EQ_INT(r.tables, 1);
  TS_CHECK_EQ_INT(r.rows, 3);
  TS_CHECK_EQ_INT(r.t.ncols, 16);
  TS_CHECK_STREQ(r.t.name, "mine");
  TS_CHECK_STREQ(r.t.description, "my & table");
  const fmt_upload_column *i = up_col(&r, "i");
  TS_CHECK(i);
  TS_CHECK_STREQ(i->c.id, "a");
  TS_CHECK_STREQ(i->c.unit, "deg");
  TS_CHECK_STREQ(i->c.ucd, "pos.eq.ra");
  TS_CHECK_STREQ(i->c.utype, "u:t&x");
  TS_CHECK_STREQ(i->c.description, "an <int>");
  TS_CHECK_STREQ(i->copy_type, "integer");
  TS_CHECK_STREQ(up_col(&r, "bits")->copy_type, "boolean[]");
  TS_CHECK_STREQ(up_col(&r, "ub")->copy_type, "smallint");
  TS_CHECK_STREQ(up_col(&r, "ts")->copy_type, "timestamp");
  TS_CHECK_STREQ(up_col(&r, "u")->copy_type, "text");
  TS_CHECK_STREQ(up_col(&r, "ia")->copy_type, "integer[]");
  TS_CHECK_STREQ(up_col(&r, "pt")->final_type, "spoint");
  TS_CHECK_STREQ(up_col(&r, "ci")->copy_type, "double precision[]");
  TS_CHECK_STREQ(r.text.data,
                 "t|{t,f,t,t}|255|NULL|16|-9000000000|1.5|nan|a&b <c>|x|\xC3\xA9\xE2\x82\xAC|"
                 "2020-01-02T03:04:05|{1,NULL,3,4}|{0.5,-inf,2}|{10,20}|{1,2,0.5}\n"
                 "NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL|NULL\n"
                 "f|{f,t,t,f}|0|32767|-5|1|-inf|1.0000000000000001e+300|<raw> & | |z|"
                 "1999-12-31T00:00:00|{5}|{1,2,3}|{0,-90}|{359,0,1}\n");
  up_free(&r);
  return 0;
}

/* The fields of the BINARY and BINARY2 documents below. */
static const char bin_fields[] =
    "<FIELD name=\"b\" datatype=\"boolean\"/>"
    "<FIELD name=\"s\" datatype=\"short\"><VALUES null=\"-1\"/></FIELD>"
    "<FIELD name=\"i\" datatype=\"int\"/>"
    "<FIELD name=\"l\" datatype=\"long\"/>"
    "<FIELD name=\"f\" datatype=\"float\"/>"
    "<FIELD name=\"d\" datatype=\"double\"/>"
    "<FIELD name=\"c3\" datatype=\"char\" arraysize=\"3\"/>"
    "<FIELD name=\"cv\" datatype=\"char\" arraysize=\"*\"/>"
    "<FIELD name=\"u\" datatype=\"unicodeChar\" arraysize=\"*\"/>"
    "<FIELD name=\"ia\" datatype=\"int\" arraysize=\"*\"/>"
    "<FIELD name=\"bit\" datatype=\"bit\" arraysize=\"3\"/>"
    "<FIELD name=\"pt\" datatype=\"double\" arraysize=\"2\" xtype=\"point\"/>"
    "<FIELD name=\"ts\" datatype=\"char\" arraysize=\"*\" xtype=\"timestamp\"/>"
    "<FIELD name=\"ub\" datatype=\"unsignedByte\" arraysize=\"2\"/>";

static void bin_row1(up_bin *o)
{
  up_raw(o, "T", 1);
  up_be(o, 5, 2);
  up_be(o, (uint32_t)-7, 4);
  up_be(o, 1ULL << 40, 8);
  up_f4(o, 1.5f);
  up_f8(o, 2.25);
  up_raw(o, "ab\0", 3);
  up_be(o, 3, 4);
  up_raw(o, "xyz", 3);
  up_be(o, 4, 4);
  up_raw(o, "\x00\xE9\x20\xAC\xD8\x3D\xDE\x00", 8); /* é € U+1F600 (a surrogate pair) */
  up_be(o, 2, 4);
  up_be(o, 1, 4);
  up_be(o, 2, 4);
  up_raw(o, "\xA0", 1); /* 101 */
  up_f8(o, 1.0);
  up_f8(o, 2.0);
  up_be(o, 10, 4);
  up_raw(o, "2001-01-01", 10);
  up_raw(o, "\xFF\x01", 2);
}

static void bin_row2(up_bin *o)
{
  up_raw(o, "?", 1);
  up_be(o, (uint16_t)-1, 2);
  up_be(o, 0, 4);
  up_be(o, 0, 8);
  up_f4(o, NAN);
  up_f8(o, NAN);
  up_raw(o, "\0\0\0", 3);
  up_be(o, 0, 4);
  up_be(o, 0, 4);
  up_be(o, 0, 4);
  up_raw(o, "\0", 1);
  up_f8(o, NAN);
  up_f8(o, NAN);
  up_be(o, 0, 4);
  up_raw(o, "\0\0", 2);
}

static char *bin_doc(const char *ser, const up_bin *o, size_t *len)
{
  ts_buf b;
  ts_buf_init(&b, 1 << 20);
  ts_buf_printf(&b, VOT_HEAD "<RESOURCE><TABLE>%s<DATA><%s><STREAM encoding=\"base64\">\n",
                bin_fields, ser);
  up_b64(&b, o->b, o->n);
  ts_buf_printf(&b, "\n</STREAM></%s></DATA></TABLE></RESOURCE></VOTABLE>\n", ser);
  return ts_buf_steal(&b, len);
}

int test_upload_vot_binary(void)
{
  static up_bin o;
  up_result r;
  size_t len;
  o.n = 0;
  bin_row1(&o);
  bin_row2(&o);
  char *doc = bin_doc("BINARY", &o, &len);
  TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_VOTABLE, doc, len, NULL), TS_OK);
  free(doc);
  TS_CHECK_EQ_INT(r.rows, 2);
  /* BINARY's NULLs: '?', the VALUES null, NaN scalars, empty strings and
   * empty variable arrays. */
  TS_CHECK_STREQ(r.text.data,
                 "t|5|-7|1099511627776|1.5|2.25|ab|xyz|\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80|{1,2}|"
                 "{t,f,t}|{1,2}|2001-01-01T00:00:00|{255,1}\n"
                 "NULL|NULL|0|0|NULL|NULL|NULL|NULL|NULL|NULL|{f,f,f}|{nan,nan}|NULL|{0,0}\n");
  up_free(&r);
  return 0;
}

int test_upload_vot_binary2(void)
{
  static up_bin o;
  up_result r;
  size_t len;
  o.n = 0;
  up_raw(&o, "\0\0", 2); /* 14 columns: two flag bytes */
  bin_row1(&o);
  up_raw(&o, "\x20\x40", 2); /* i (column 2) and ia (column 9) are NULL */
  bin_row2(&o);
  char *doc = bin_doc("BINARY2", &o, &len);
  TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_VOTABLE, doc, len, NULL), TS_OK);
  free(doc);
  /* BINARY2: the flags say NULL; NaN stays NaN, an empty string is one. */
  TS_CHECK_STREQ(r.text.data,
                 "t|5|-7|1099511627776|1.5|2.25|ab|xyz|\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80|{1,2}|"
                 "{t,f,t}|{1,2}|2001-01-01T00:00:00|{255,1}\n"
                 "NULL|NULL|NULL|0|nan|nan||||NULL|{f,f,f}|{nan,nan}|NULL|{0,0}\n");
  up_free(&r);
  return 0;
}

/* A document that must fail: the code, and words of the message. */
static int refused(const char *doc, size_t len, const fmt_upload_limits *lim, ts_err code,
                   const char *words)
{
  return up_refused(FMT_UPLOAD_VOTABLE, doc, len, lim, code, words, 0);
}
#define REFUSED(doc, lim, code, words) TS_CHECK(refused(doc, strlen(doc), lim, code, words))

#define TD_TABLE(fields, rows)                                                                     \
  VOT_HEAD "<RESOURCE><TABLE>" fields "<DATA><TABLEDATA>" rows                                     \
           "</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>"

int test_upload_vot_hostile(void)
{
  const char *f2 =
      "<FIELD name=\"a\" datatype=\"int\"/><FIELD name=\"b\" datatype=\"char\" arraysize=\"*\"/>";
  char doc[4096];
  /* malformed XML */
  REFUSED(VOT_HEAD "<RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"></TABLE>", NULL, TS_EINVAL,
          "malformed XML: line 3");
  REFUSED(VOT_HEAD "<RESOURCE><TABLE", NULL, TS_EINVAL, "malformed XML");
  /* after the table too: a wrong end tag, a document cut short, junk */
  REFUSED(VOT_HEAD "<RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/><DATA><TABLEDATA><TR><TD>1"
                   "</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLEX>",
          NULL, TS_EINVAL, "malformed XML: line 3: Opening and ending tag mismatch");
  REFUSED(VOT_HEAD "<RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/></TABLE><INFO name=\"x\"",
          NULL, TS_EINVAL, "malformed XML");
  REFUSED(VOT_HEAD "<RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/></TABLE></RESOURCE>"
                   "</VOTABLE><junk/>",
          NULL, TS_EINVAL, "malformed XML: line 3: Extra content at the end of the document");
  REFUSED("", NULL, TS_EINVAL, "");
  REFUSED("<?xml version=\"1.0\"?><html/>", NULL, TS_EINVAL, "not a VOTable");
  {
    up_result r; /* sniffed as XML, refused as what it is */
    TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_AUTO, "<html><body>502</body></html>", 29, NULL),
                    TS_EINVAL);
    TS_CHECK_STREQ(r.err.msg, "line 1: the document is not a VOTable (its root is html)");
    up_free(&r);
  }
  REFUSED(VOT_HEAD "<RESOURCE/></VOTABLE>", NULL, TS_EINVAL, "no TABLE");
  REFUSED(VOT_HEAD "<RESOURCE><TABLE><DATA/></TABLE></RESOURCE></VOTABLE>", NULL, TS_EINVAL,
          "no FIELD");
  /* entities: billion laughs, XXE, an undeclared one */
  REFUSED(
      "<?xml version=\"1.0\"?>\n<!DOCTYPE VOTABLE [\n"
      "<!ENTITY a \"aaaaaaaaaa\"><!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\">"
      "<!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\"><!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\">"
      "<!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\"><!ENTITY f \"&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;\">"
      "<!ENTITY g \"&f;&f;&f;&f;&f;&f;&f;&f;&f;&f;\"><!ENTITY h \"&g;&g;&g;&g;&g;&g;&g;&g;&g;&g;\">"
      "]>\n<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" datatype=\"char\" arraysize=\"*\"/>"
      "<DATA><TABLEDATA><TR><TD>&h;</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
      NULL, TS_EINVAL, "line 2: a DOCTYPE is not accepted");
  REFUSED("<?xml version=\"1.0\"?><!DOCTYPE VOTABLE [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>"
          "<VOTABLE><RESOURCE><TABLE><FIELD name=\"a\" datatype=\"char\" arraysize=\"*\"/>"
          "<DATA><TABLEDATA><TR><TD>&x;</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>",
          NULL, TS_EINVAL, "DOCTYPE");
  REFUSED(
      TD_TABLE("<FIELD name=\"a\" datatype=\"char\" arraysize=\"*\"/>", "<TR><TD>&x;</TD></TR>"),
      NULL, TS_EINVAL, "malformed XML: line 3: Entity 'x' not defined");
  /* 5000 nested elements */
  {
    ts_buf b;
    ts_buf_init(&b, 1 << 20);
    ts_buf_puts(&b, VOT_HEAD);
    for (int i = 0; i < 5000; i++)
      ts_buf_puts(&b, "<RESOURCE>");
    TS_CHECK(refused(b.data, b.len, NULL, TS_EINVAL, "nest deeper than 64"));
    ts_buf_free(&b);
  }
  /* rows against FIELDs; values against types */
  snprintf(doc, sizeof doc, TD_TABLE("%s", "<TR><TD>1</TD><TD>x</TD></TR><TR><TD>2</TD></TR>"), f2);
  REFUSED(doc, NULL, TS_EINVAL, "line 3, row 2: 1 TD where the table has 2 FIELDs");
  snprintf(doc, sizeof doc, TD_TABLE("%s", "<TR><TD>1</TD><TD>x</TD><TD>y</TD></TR>"), f2);
  REFUSED(doc, NULL, TS_EINVAL, "row 1: more TD than the 2 FIELDs");
  snprintf(doc, sizeof doc,
           TD_TABLE("%s", "<TR><TD>1</TD><TD>x</TD></TR><TR><TD>z</TD><TD>x</TD></TR>"), f2);
  REFUSED(doc, NULL, TS_EINVAL, "line 3, row 2, column a: \"z\" is not an integer");
  REFUSED(TD_TABLE("<FIELD name=\"a\" datatype=\"doubleComplex\"/>", ""), NULL, TS_EINVAL,
          "column a: datatype doubleComplex is not supported");
  REFUSED(TD_TABLE("<FIELD name=\"a\" datatype=\"int\"><VALUES null=\"x\"/></FIELD>", ""), NULL,
          TS_EINVAL, "FIELD a: VALUES null");
  REFUSED(VOT_HEAD "<RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/><DATA><FITS/></DATA>"
                   "</TABLE></RESOURCE></VOTABLE>",
          NULL, TS_EINVAL, "DATA as FITS is not supported");
  /* limits */
  fmt_upload_limits lim = {.max_rows = 1};
  snprintf(doc, sizeof doc,
           TD_TABLE("%s", "<TR><TD>1</TD><TD>x</TD></TR><TR><TD>2</TD><TD>y</TD></TR>"), f2);
  REFUSED(doc, &lim, TS_ELIMIT, "more than 1 rows (limit max_rows)");
  lim = (fmt_upload_limits){.max_columns = 1};
  REFUSED(doc, &lim, TS_ELIMIT, "more than 1 columns (limit max_columns)");
  lim = (fmt_upload_limits){.max_value_bytes = 4};
  snprintf(doc, sizeof doc, TD_TABLE("%s", "<TR><TD>1</TD><TD>xxxxx</TD></TR>"), f2);
  REFUSED(doc, &lim, TS_ELIMIT,
          "row 1, column b: a value is longer than the limit max_value_bytes (4)");
  /* STREAMs: external, not base64, truncated, characters after the padding */
  REFUSED(VOT_HEAD
          "<RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/><DATA><BINARY>"
          "<STREAM href=\"http://127.0.0.1/x\"/></BINARY></DATA></TABLE></RESOURCE></VOTABLE>",
          NULL, TS_EINVAL, "STREAM with href");
  REFUSED(VOT_HEAD
          "<RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/><DATA><BINARY>"
          "<STREAM encoding=\"gzip\">AAAA</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>",
          NULL, TS_EINVAL, "encoding \"gzip\" is not supported");
  REFUSED(
      VOT_HEAD
      "<RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/><DATA><BINARY>"
      "<STREAM encoding=\"base64\">AAAAAAA</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>",
      NULL, TS_EINVAL, "line 3: the STREAM ends inside row 2 (column a): truncated");
  REFUSED(VOT_HEAD
          "<RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/><DATA><BINARY>"
          "<STREAM encoding=\"base64\">AAAAA</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>",
          NULL, TS_EINVAL, "base64 of the STREAM is truncated");
  REFUSED(VOT_HEAD
          "<RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/><DATA><BINARY>"
          "<STREAM "
          "encoding=\"base64\">AAAAAQ==AAAA</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>",
          NULL, TS_EINVAL, "base64 after its '=' padding");
  REFUSED(VOT_HEAD
          "<RESOURCE><TABLE><FIELD name=\"a\" datatype=\"int\"/><DATA><BINARY>"
          "<STREAM encoding=\"base64\">AA*A</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>",
          NULL, TS_EINVAL, "not base64");
  /* BINARY2 rows written without their flag bytes: misaligned, then cut */
  {
    static up_bin o;
    ts_buf b;
    o.n = 0;
    for (int i = 0; i < 2; i++) {
      up_raw(&o, "T", 1);
      up_be(&o, 5, 4);
    }
    ts_buf_init(&b, 1 << 20);
    ts_buf_puts(&b, VOT_HEAD
                "<RESOURCE><TABLE><FIELD name=\"b\" datatype=\"boolean\"/>"
                "<FIELD name=\"i\" datatype=\"int\"/><DATA><BINARY2><STREAM encoding=\"base64\">");
    up_b64(&b, o.b, o.n);
    ts_buf_puts(&b, "</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>");
    TS_CHECK(refused(b.data, b.len, NULL, TS_EINVAL, "ends inside row 2 (column i)"));
    ts_buf_free(&b);
  }
  /* a variable-length value over max_value_bytes: refused from its count */
  {
    static up_bin o;
    ts_buf b;
    o.n = 0;
    up_be(&o, 1000000000, 4);
    ts_buf_init(&b, 1 << 20);
    ts_buf_puts(&b,
                VOT_HEAD "<RESOURCE><TABLE><FIELD name=\"s\" datatype=\"char\" arraysize=\"*\"/>"
                         "<DATA><BINARY><STREAM encoding=\"base64\">");
    up_b64(&b, o.b, o.n);
    ts_buf_puts(&b, "</STREAM></BINARY></DATA></TABLE></RESOURCE></VOTABLE>");
    TS_CHECK(
        refused(b.data, b.len, NULL, TS_ELIMIT,
                "row 1, column s: a value of 1000000000 bytes is over the limit max_value_bytes"));
    ts_buf_free(&b);
  }
  return 0;
}

/* A table without DATA has no rows; the second TABLE is not read. */
int test_upload_vot_nodata(void)
{
  up_result r;
  const char *doc = VOT_HEAD
      "<RESOURCE><TABLE name=\"t\"><DESCRIPTION/><FIELD ID=\"x\" datatype=\"long\"/></TABLE>"
      "<TABLE><FIELD name=\"y\" datatype=\"int\"/></TABLE></RESOURCE></VOTABLE>";
  TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_VOTABLE, doc, strlen(doc), NULL), TS_OK);
  TS_CHECK_EQ_INT(r.rows, 0);
  TS_CHECK_EQ_INT(r.t.ncols, 1);
  TS_CHECK_STREQ(r.t.cols[0].c.name, "x"); /* no name: the ID */
  TS_CHECK(!r.t.description);              /* an empty DESCRIPTION is none */
  TS_CHECK_STREQ(r.text.data, "");
  up_free(&r);
  return 0;
}

/* The document's declared encoding is honoured: Latin-1 text and a
 * UTF-16 document come out as UTF-8. */
int test_upload_vot_encoding(void)
{
  up_result r;
  const char l1[] = "<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>\n<VOTABLE><RESOURCE><TABLE>"
                    "<FIELD name=\"s\" datatype=\"char\" arraysize=\"*\"/><DATA><TABLEDATA>"
                    "<TR><TD>caf\xe9</TD></TR></TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>";
  TS_CHECK_EQ_INT(up_read(&r, FMT_UPLOAD_AUTO, l1, sizeof l1 - 1, NULL), TS_OK);
  TS_CHECK_STREQ(r.text.data, "caf\xC3\xA9\n");
  up_free(&r);
  const char *s = "<?xml version=\"1.0\" encoding=\"UTF-16\"?><VOTABLE><RESOURCE><TABLE>"
                  "<FIELD name=\"n\" datatype=\"int\"/><DATA><TABLEDATA><TR><TD>5</TD></TR>"
                  "</TABLEDATA></DATA></TABLE></RESOURCE></VOTABLE>";
  size_t n = strlen(s);
  char *u = malloc(2 * n + 2);
  TS_CHECK(u);
  u[0] = (char)0xFF, u[1] = (char)0xFE; /* little-endian BOM */
  for (size_t i = 0; i < n; i++)
    u[2 + 2 * i] = s[i], u[3 + 2 * i] = 0;
  ts_err rc = up_read(&r, FMT_UPLOAD_VOTABLE, u, 2 * n + 2, NULL);
  free(u);
  TS_CHECK_EQ_INT(rc, TS_OK);
  TS_CHECK_STREQ(r.text.data, "5\n");
  up_free(&r);
  return 0;
}

/* Multidimensional and variable arraysizes in BINARY2: fixed dimensions
 * multiply, a variable one counts rows of the fixed part, bits pack, and
 * fixed char arrays are one string. */
int test_upload_vot_arraysizes(void)
{
  static up_bin o;
  up_result r;
  ts_buf b;
  o.n = 0;
  up_raw(&o, "\0", 1);
  for (int i = 1; i <= 4; i++)
    up_be(&o, (uint64_t)i, 2);
  up_raw(&o, "abcdef", 6);
  up_be(&o, 5, 4);
  up_raw(&o, "\xA8", 1);
  up_be(&o, 2, 4);
  for (int i = 1; i <= 4; i++)
    up_f8(&o, i);
  up_raw(&o, "\0A\0\0", 4);
  ts_buf_init(&b, 1 << 20);
  ts_buf_puts(&b, VOT_HEAD "<RESOURCE><TABLE>"
                           "<FIELD name=\"m\" datatype=\"short\" arraysize=\"2x2\"/>"
                           "<FIELD name=\"c\" datatype=\"char\" arraysize=\"3x2\"/>"
                           "<FIELD name=\"bits\" datatype=\"bit\" arraysize=\"*\"/>"
                           "<FIELD name=\"v\" datatype=\"double\" arraysize=\"2x*\"/>"
                           "<FIELD name=\"u\" datatype=\"unicodeChar\" arraysize=\"2\"/>"
                           "<DATA><BINARY2><STREAM encoding=\"base64\">");
  up_b64(&b, o.b, o.n);
  ts_buf_puts(&b, "</STREAM></BINARY2></DATA></TABLE></RESOURCE></VOTABLE>");
  ts_err rc = up_read(&r, FMT_UPLOAD_VOTABLE, b.data, b.len, NULL);
  ts_buf_free(&b);
  TS_CHECK_EQ_INT(rc, TS_OK);
  TS_CHECK_STREQ(r.text.data, "{1,2,3,4}|abcdef|{t,f,t,f,t}|{1,2,3,4}|A\n");
  up_free(&r);
  return 0;
}

/* VOTables as astropy (and so pyvo and astroquery) writes them, in its
 * three serialisations: masked values, bit for booleans (0x08 for true),
 * unicodeChar, fixed char, fixed arrays. */
int test_upload_vot_astropy(void)
{
  static const char py[] =
      "import sys, warnings, numpy as np\n"
      "warnings.simplefilter('ignore')\n"
      "from astropy.table import Table, MaskedColumn\n"
      "from astropy.io.votable import from_table\n"
      "t = Table()\n"
      "t['i'] = MaskedColumn(np.array([1, -2, 3], dtype=np.int32), mask=[False, True, False])\n"
      "t['s'] = np.array([1, 2, -3], dtype=np.int16)\n"
      "t['l'] = np.array([1 << 40, 0, -5], dtype=np.int64)\n"
      "t['d'] = MaskedColumn([1.5, np.nan, 0.1], mask=[False, False, True])\n"
      "t['f'] = np.array([0.5, -1, 2], dtype=np.float32)\n"
      "t['b'] = MaskedColumn([True, False, True], mask=[False, False, True])\n"
      "t['u'] = ['h\\u00e9', 'w\\u20ac', '']\n"
      "t['c'] = np.array([b'ab', b'', b'xyz'])\n"
      "t['a'] = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])\n"
      "t['ra'] = [10.0, 20.0, 30.0]\n"
      "t['ra'].unit = 'deg'\n"
      "t['ra'].description = 'Right ascension'\n"
      "for fmt in ('tabledata', 'binary', 'binary2'):\n"
      "    v = from_table(t)\n"
      "    v.get_first_table().get_field_by_id('i').values.null = -999\n"
      "    v.to_xml(sys.argv[1] + '.' + fmt, tabledata_format=fmt)\n";
  static const char *const want[3][2] = {
      {"tabledata", "1|1|1099511627776|1.5|0.5|t|h\xC3\xA9|ab|{1,2}|10\n"
                    "NULL|2|0|nan|-1|f|w\xE2\x82\xAC|NULL|{3,4}|20\n"
                    "3|-3|-5|NULL|2|NULL|NULL|xyz|{5,6}|30\n"},
      /* BINARY: NaN is NULL; bit has no NULL (astropy writes the masked value) */
      {"binary", "1|1|1099511627776|1.5|0.5|t|h\xC3\xA9|ab|{1,2}|10\n"
                 "NULL|2|0|NULL|-1|f|w\xE2\x82\xAC|NULL|{3,4}|20\n"
                 "3|-3|-5|NULL|2|t|NULL|xyz|{5,6}|30\n"},
      /* BINARY2: the flags say NULL; NaN and empty strings are values */
      {"binary2", "1|1|1099511627776|1.5|0.5|t|h\xC3\xA9|ab|{1,2}|10\n"
                  "NULL|2|0|nan|-1|f|w\xE2\x82\xAC||{3,4}|20\n"
                  "3|-3|-5|NULL|2|NULL||xyz|{5,6}|30\n"},
  };
  char dir[] = "/tmp/ts_upload_astropy_XXXXXX", cmd[1400], path[600];
  TS_CHECK(mkdtemp(dir));
  snprintf(path, sizeof path, "%s/gen.py", dir);
  FILE *f = fopen(path, "w");
  TS_CHECK(f);
  fputs(py, f);
  fclose(f);
  snprintf(cmd, sizeof cmd, "/usr/bin/python3 %s %s/t 1>&2", path, dir);
  int ok = system(cmd) == 0;
  unlink(path);
  for (size_t i = 0; i < 3; i++) {
    up_result r;
    ts_buf doc;
    char buf[4096];
    snprintf(path, sizeof path, "%s/t.%s", dir, want[i][0]);
    f = fopen(path, "rb");
    ts_buf_init(&doc, 1 << 20);
    for (size_t n; f && (n = fread(buf, 1, sizeof buf, f)) > 0;)
      ts_buf_append(&doc, buf, n);
    if (f)
      fclose(f);
    unlink(path);
    TS_CHECK(ok && doc.len);
    ts_err rc = up_read(&r, FMT_UPLOAD_AUTO, doc.data, doc.len, NULL);
    ts_buf_free(&doc);
    TS_CHECK_EQ_INT(rc, TS_OK);
    TS_CHECK_STREQ(up_col(&r, "ra")->c.unit, "deg");
    TS_CHECK_STREQ(up_col(&r, "ra")->c.description, "Right ascension");
    TS_CHECK_STREQ(up_col(&r, "b")->copy_type, "boolean");
    TS_CHECK_STREQ(up_col(&r, "a")->copy_type, "double precision[]");
    if (strcmp(r.text.data, want[i][1]) != 0)
      fprintf(stderr, "# %s\n", want[i][0]);
    TS_CHECK_STREQ(r.text.data, want[i][1]);
    up_free(&r);
  }
  rmdir(dir);
  return 0;
}
