/* The ECSV upload reader: every datatype and subtype, both header styles,
 * tapserve's own ECSV output read back to the same COPY bytes, a file
 * written by astropy, hostile headers and bodies, and (label pg) the rows
 * COPYed into PostgreSQL. */
#include "test_list.h"
#include "ts_test_pg.h"
#include "upload_test.h"

#include <math.h>

static void read_text(const char *doc, const fmt_upload_limits *lim, up_result *r)
{
  up_run(FMT_UPLOAD_ECSV, up_tmpfd(doc, strlen(doc)), lim, r);
  if (r->rc)
    fprintf(stderr, "# %s: %s\n", ts_err_name(r->rc), r->err.msg);
}

static const char types_doc[] =
    "# %ECSV 1.0\n"
    "# ---\n"
    "# delimiter: ','\n"
    "# datatype:\n"
    "# - {name: b, datatype: bool}\n"
    "# - {name: i8, datatype: int8}\n"
    "# - {name: i16, datatype: int16}\n"
    "# - {name: i32, datatype: int32, unit: m, meta: {ucd: 'meta.id', utype: \"x:y\"}}\n"
    "# - {name: i64, datatype: int64, description: 'it''s a long\n"
    "#     description, continued'}\n"
    "# - {name: u8, datatype: uint8}\n"
    "# - {name: u16, datatype: uint16}\n"
    "# - {name: u32, datatype: uint32}\n"
    "# - {name: u64, datatype: uint64}\n"
    "# - {name: f16, datatype: float16}\n"
    "# - {name: f32, datatype: float32}\n"
    "# - name: f64\n"
    "#   unit: deg\n"
    "#   datatype: float64\n"
    "#   description: right ascension\n"
    "#   meta: !!omap\n"
    "#   - {ucd: pos.eq.ra}\n"
    "#   - utype: stc:ra\n"
    "# - {name: s, datatype: string}\n"
    "# - {name: ts, datatype: string, meta: {xtype: timestamp}}\n"
    "# - {name: a3, datatype: string, subtype: 'int64[3]'}\n"
    "# - {name: m, datatype: string, subtype: 'float32[2,3]'}\n"
    "# - {name: v, datatype: string, subtype: 'float64[null]'}\n"
    "# - {name: vb, datatype: string, subtype: 'bool[null]'}\n"
    "# - {name: j, datatype: string, subtype: json}\n"
    "# meta: !!omap\n"
    "# - {name: ignored}\n"
    "# schema: astropy-2.0\n"
    "b,i8,i16,i32,i64,u8,u16,u32,u64,f16,f32,f64,s,ts,a3,m,v,vb,j\n"
    "True,-128,-32768,2147483647,-9223372036854775808,255,65535,4294967295,"
    "9223372036854775807,0.5,1.25,0.1,\"a, \"\"quoted\"\"\nline\","
    "2020-02-29T12:34:56.5,\"[1,2,3]\",\"[[1,2,3],[4,5,6]]\",\"[0.5,null,NaN,-Infinity]\","
    "\"[true,false]\",\"{\"\"k\"\": 1}\"\n"
    ",,,,,,,,,,,,,,,,,,\n"
    "\r\n"
    "false,1,2,3,4,5,6,7,8,nan,-inf,1e-300,\xc3\xa9t\xc3\xa9,2000-01-01,\"[]\",,\"[]\",,[]\r\n";

int test_upload_ecsv_types(void)
{
  up_result r;
  read_text(types_doc, NULL, &r);
  TS_CHECK_EQ_INT(r.rc, TS_OK);
  TS_CHECK_EQ_INT(r.rows, 3);
  TS_CHECK_EQ_INT(r.t.ncols, 19);
  static const char *const types[] = {"boolean",
                                      "smallint",
                                      "smallint",
                                      "integer",
                                      "bigint",
                                      "smallint",
                                      "integer",
                                      "bigint",
                                      "bigint",
                                      "real",
                                      "real",
                                      "double precision",
                                      "text",
                                      "timestamp",
                                      "bigint[]",
                                      "real[]",
                                      "double precision[]",
                                      "boolean[]",
                                      "text"};
  for (int c = 0; c < 19; c++)
    TS_CHECK_STREQ(r.t.cols[c].copy_type, types[c]);
  TS_CHECK_STREQ(r.t.cols[3].c.unit, "m");
  TS_CHECK_STREQ(r.t.cols[3].c.ucd, "meta.id");
  TS_CHECK_STREQ(r.t.cols[3].c.utype, "x:y");
  TS_CHECK_STREQ(r.t.cols[4].c.description, "it's a long description, continued");
  TS_CHECK_STREQ(r.t.cols[11].c.unit, "deg");
  TS_CHECK_STREQ(r.t.cols[11].c.ucd, "pos.eq.ra");
  TS_CHECK_STREQ(r.t.cols[11].c.utype, "stc:ra");
  TS_CHECK_STREQ(r.t.cols[11].c.description, "right ascension");
  TS_CHECK_STREQ(r.t.cols[15].c.arraysize, "3x2");
  TS_CHECK_STREQ(r.t.cols[16].c.arraysize, "*");
  /* row 1 */
  TS_CHECK(stream_get_bool(up_val(&r, 0, 0)));
  TS_CHECK_EQ_INT(stream_get_int2(up_val(&r, 0, 1)), -128);
  TS_CHECK_EQ_INT(stream_get_int2(up_val(&r, 0, 2)), -32768);
  TS_CHECK_EQ_INT(stream_get_int4(up_val(&r, 0, 3)), INT32_MAX);
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 0, 4)), INT64_MIN);
  TS_CHECK_EQ_INT(stream_get_int2(up_val(&r, 0, 5)), 255);
  TS_CHECK_EQ_INT(stream_get_int4(up_val(&r, 0, 6)), 65535);
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 0, 7)), 4294967295LL);
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 0, 8)), INT64_MAX);
  TS_CHECK(stream_get_float4(up_val(&r, 0, 9)) == 0.5f);
  TS_CHECK(stream_get_float8(up_val(&r, 0, 11)) == 0.1);
  const stream_value *s = up_val(&r, 0, 12);
  TS_CHECK(s->len == 16 && memcmp(s->p, "a, \"quoted\"\nline", 16) == 0);
  /* 2020-02-29T12:34:56.5: 7364 days after 2000-01-01 */
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 0, 13)),
                  7364LL * 86400000000LL + (12 * 3600 + 34 * 60 + 56) * 1000000LL + 500000);
  stream_value el;
  int64_t n;
  TS_CHECK(up_elem(up_val(&r, 0, 14), 2, &el, &n) && n == 3 && stream_get_int8(&el) == 3);
  TS_CHECK(up_elem(up_val(&r, 0, 15), 5, &el, &n) && n == 6 && stream_get_float4(&el) == 6);
  TS_CHECK(up_elem(up_val(&r, 0, 16), 1, &el, &n) && n == 4 && el.len == -1);
  TS_CHECK(up_elem(up_val(&r, 0, 16), 2, &el, &n) && isnan(stream_get_float8(&el)));
  TS_CHECK(up_elem(up_val(&r, 0, 16), 3, &el, &n) && stream_get_float8(&el) == -INFINITY);
  TS_CHECK(up_elem(up_val(&r, 0, 17), 1, &el, &n) && n == 2 && !stream_get_bool(&el));
  TS_CHECK(up_val(&r, 0, 18)->len == 8 && memcmp(up_val(&r, 0, 18)->p, "{\"k\": 1}", 8) == 0);
  /* row 2: all NULL; the blank line between rows 2 and 3 is skipped */
  for (size_t c = 0; c < 19; c++)
    TS_CHECK_EQ_INT(up_val(&r, 1, c)->len, -1);
  /* row 3 */
  TS_CHECK(!stream_get_bool(up_val(&r, 2, 0)));
  TS_CHECK(isnan(stream_get_float4(up_val(&r, 2, 9))));
  TS_CHECK(stream_get_float4(up_val(&r, 2, 10)) == -INFINITY);
  TS_CHECK_EQ_INT(up_val(&r, 2, 12)->len, 5);
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 2, 13)), 0);
  TS_CHECK(!up_elem(up_val(&r, 2, 14), 0, &el, &n) && n == 0);
  TS_CHECK_EQ_INT(up_val(&r, 2, 18)->len, 2);
  up_free(&r);
  return 0;
}

/* tapserve's ECSV output read back gives the COPY bytes it was made from. */
int test_upload_ecsv_roundtrip(void)
{
  return up_sample_roundtrip("ecsv", FMT_UPLOAD_ECSV, 3000, 1);
}

/* A file written by astropy (space delimited, block-style column with an
 * !!omap meta, masked values, unsigned and array columns). */
int test_upload_ecsv_astropy(void)
{
  up_result r;
  up_astropy("import numpy as np\n"
             "from astropy.table import Table, MaskedColumn\n"
             "t = Table()\n"
             "t['a'] = MaskedColumn([1, 2, 3], mask=[0, 1, 0], dtype='int64', unit='deg',\n"
             "                      description='a long description ' * 6)\n"
             "t['a'].meta['ucd'] = 'pos.eq.ra'\n"
             "t['s'] = ['x', 'y z', '\"q\"']\n"
             "t['v'] = np.array([[1., 2., 3.]] * 3)\n"
             "t['f'] = np.array([1.5, np.nan, 3], dtype='float32')\n"
             "t['b'] = [True, False, True]\n"
             "t['u'] = np.array([1, 2, 65535], dtype='uint16')\n"
             "t['w'] = np.array([[1, 2], [3, 4], [5, 2**63 - 1]], dtype='uint64')\n"
             "t.meta['name'] = 'tab'\n"
             "t.write(path, overwrite=True)\n",
             "ecsv", FMT_UPLOAD_ECSV, &r);
  TS_CHECK_EQ_INT(r.rc, TS_OK);
  TS_CHECK_EQ_INT(r.rows, 3);
  TS_CHECK_EQ_INT(r.t.ncols, 7);
  TS_CHECK_STREQ(r.t.cols[0].c.unit, "deg");
  TS_CHECK_STREQ(r.t.cols[0].c.ucd, "pos.eq.ra");
  TS_CHECK(r.t.cols[0].c.description && strncmp(r.t.cols[0].c.description, "a long", 6) == 0);
  TS_CHECK_EQ_INT(stream_get_int8(up_val(&r, 0, 0)), 1);
  TS_CHECK_EQ_INT(up_val(&r, 1, 0)->len, -1);
  TS_CHECK(up_val(&r, 1, 1)->len == 3 && memcmp(up_val(&r, 1, 1)->p, "y z", 3) == 0);
  TS_CHECK(up_val(&r, 2, 1)->len == 3 && memcmp(up_val(&r, 2, 1)->p, "\"q\"", 3) == 0);
  stream_value el;
  int64_t n;
  TS_CHECK_STREQ(r.t.cols[2].copy_type, "double precision[]");
  TS_CHECK(up_elem(up_val(&r, 1, 2), 2, &el, &n) && n == 3 && stream_get_float8(&el) == 3);
  TS_CHECK(isnan(stream_get_float4(up_val(&r, 1, 3))));
  TS_CHECK(!stream_get_bool(up_val(&r, 1, 4)));
  TS_CHECK_STREQ(r.t.cols[5].copy_type, "integer");
  TS_CHECK_EQ_INT(stream_get_int4(up_val(&r, 2, 5)), 65535);
  TS_CHECK_STREQ(r.t.cols[6].copy_type, "bigint[]");
  TS_CHECK(up_elem(up_val(&r, 2, 6), 1, &el, &n) && n == 2 && stream_get_int8(&el) == INT64_MAX);
  up_free(&r);
  return 0;
}

static int refused(const char *doc, const fmt_upload_limits *lim, ts_err want, const char *in_msg)
{
  return up_refused(FMT_UPLOAD_ECSV, doc, strlen(doc), lim, want, in_msg, 0);
}

#define HDR "# %ECSV 1.0\n# ---\n# datatype:\n# - {name: a, datatype: int32}\n"

int test_upload_ecsv_hostile(void)
{
  /* malformed headers */
  TS_CHECK(refused("a,b\n1,2\n", NULL, TS_EINVAL, "%ECSV"));
  TS_CHECK(refused("# %ECSV 9.0\n", NULL, TS_EINVAL, "version"));
  TS_CHECK(refused("# %ECSV 1.0\n# ---\n# schema: x\na\n1\n", NULL, TS_EINVAL, "no columns"));
  TS_CHECK(refused("# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: int32\na\n1\n", NULL,
                   TS_EINVAL, "not closed"));
  TS_CHECK(refused("# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: 'int32}\na\n", NULL,
                   TS_EINVAL, "not closed"));
  TS_CHECK(refused("# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: int32}}\na\n", NULL,
                   TS_EINVAL, "unbalanced"));
  TS_CHECK(refused("# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: quaternion}\na\n", NULL,
                   TS_EINVAL, "unknown datatype"));
  TS_CHECK(refused("# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: complex128}\na\n", NULL,
                   TS_EINVAL, "not supported"));
  TS_CHECK(refused("# %ECSV 1.0\n# datatype:\n# - {name: a}\na\n", NULL, TS_EINVAL, "no datatype"));
  TS_CHECK(refused("# %ECSV 1.0\n# delimiter: ';'\n# datatype:\n# - {name: a, datatype: int32}\n",
                   NULL, TS_EINVAL, "delimiter"));
  TS_CHECK(refused("# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: string, subtype: "
                   "'int8[2'}\na\n",
                   NULL, TS_EINVAL, "subtype"));
  TS_CHECK(refused("# %ECSV 1.0\n# datatype:\n# - {{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{{}}}}}}}}}}}}}}}}"
                   "}}}}}}}}}}}}}}}}}\na\n",
                   NULL, TS_EINVAL, "deep"));
  TS_CHECK(refused(HDR, NULL, TS_EINVAL, "column names"));
  TS_CHECK(refused(HDR "b\n1\n", NULL, TS_EINVAL, "named"));
  /* bodies: ragged rows, bad values, an open quote */
  TS_CHECK(refused(HDR "a\n1\n2 3\n", NULL, TS_EINVAL, "line 7: 2 fields"));
  TS_CHECK(refused("# %ECSV 1.0\n# delimiter: ','\n# datatype:\n# - {name: a, datatype: int32}\n"
                   "# - {name: b, datatype: int32}\na,b\n1,2\n3\n",
                   NULL, TS_EINVAL, "1 fields"));
  /* astropy's reader takes blanks after a closing quote; so does this one */
  up_result q;
  read_text("# %ECSV 1.0\n# delimiter: ','\n# datatype:\n# - {name: a, datatype: string}\n"
            "# - {name: b, datatype: int32}\na,b\n\"x\" ,2\n",
            NULL, &q);
  TS_CHECK_EQ_INT(q.rc, TS_OK);
  TS_CHECK_EQ_INT(q.rows, 1);
  up_free(&q);
  TS_CHECK(refused(HDR "a\n1\nx\n", NULL, TS_EINVAL, "line 7, column a: \"x\" is not"));
  TS_CHECK(refused(HDR "a\n2147483648\n", NULL, TS_EINVAL, "range"));
  TS_CHECK(refused(HDR "a\n\"1\n", NULL, TS_EINVAL, "ECSV: line 6: a quoted field is not closed"));
  TS_CHECK(refused("# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: uint64}\na\n"
                   "18446744073709551615\n",
                   NULL, TS_EINVAL, "64-bit"));
  TS_CHECK(refused("# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: string, subtype: "
                   "'int8[2]'}\na\n[1,[2\n",
                   NULL, TS_EINVAL, "array"));
  TS_CHECK(refused("# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: string}\na\n\xff\n", NULL,
                   TS_EINVAL, "line 5"));
  /* 10,000 columns: past PostgreSQL's 1600, refused while reading the header */
  ts_buf wide;
  ts_buf_init(&wide, 1 << 20);
  ts_buf_puts(&wide, "# %ECSV 1.0\n# datatype:\n");
  for (int i = 0; i < 10000; i++)
    ts_buf_printf(&wide, "# - {name: c%d, datatype: int8}\n", i);
  TS_CHECK(refused(wide.data, NULL, TS_ELIMIT, "1600"));
  ts_buf_free(&wide);
  /* limits */
  fmt_upload_limits rows = {.max_rows = 1}, cols = {.max_columns = 1}, val = {.max_value_bytes = 4};
  TS_CHECK(refused(HDR "a\n1\n2\n", &rows, TS_ELIMIT, "rows"));
  TS_CHECK(refused("# %ECSV 1.0\n# datatype:\n# - {name: a, datatype: int32}\n"
                   "# - {name: b, datatype: int32}\na b\n",
                   &cols, TS_ELIMIT, "columns"));
  TS_CHECK(
      refused(HDR "a\n1234\n123456789\n", &val, TS_ELIMIT, "line 7, column a: a value of 9 bytes"));
  return 0;
}

int test_pg_upload_ecsv(void)
{
  up_result r;
  read_text(types_doc, NULL, &r);
  TS_CHECK_EQ_INT(r.rc, TS_OK);
  PGconn *c = ts_test_pg();
  TS_CHECK(c);
  TS_CHECK(up_pg_load(c, "up_ecsv", &r));
  PGresult *res =
      PQexec(c, "SELECT count(*), max(u64), max(ts)::text, (SELECT m::text || v::text || s "
                "FROM up_ecsv WHERE b) FROM up_ecsv");
  TS_CHECK_EQ_INT(PQresultStatus(res), PGRES_TUPLES_OK);
  TS_CHECK_STREQ(PQgetvalue(res, 0, 0), "3");
  TS_CHECK_STREQ(PQgetvalue(res, 0, 1), "9223372036854775807");
  TS_CHECK_STREQ(PQgetvalue(res, 0, 2), "2020-02-29 12:34:56.5");
  TS_CHECK_STREQ(PQgetvalue(res, 0, 3), "{1,2,3,4,5,6}{0.5,NULL,NaN,-Infinity}a, \"quoted\"\nline");
  PQclear(res);
  PQfinish(c);
  up_free(&r);
  return 0;
}
