/* The COPY BINARY encoder: its bytes read back by the decoder, misuse
 * refused, and (label pg) PostgreSQL's COPY FROM taking them. */
#include "stream/pg.h"
#include "stream/stream.h"
#include "test_list.h"
#include "ts_test.h"

#include <libpq-fe.h>
#include <stdlib.h>

static ts_err to_buf(void *ud, const char *p, size_t n)
{
  return ts_buf_append(ud, p, n);
}

/* Three rows of (int4, float8, text, timestamp, int8[], text[]): the
 * second all NULL, the third with an empty array and a NULL element. */
static ts_err encode_rows(ts_buf *bytes, int rows)
{
  stream_out out;
  stream_copyenc e;
  ts_err rc = stream_out_init(&out, 64, to_buf, bytes); /* tiny: many flushes */
  if (rc == TS_OK)
    rc = stream_copyenc_init(&e, &out, 6);
  for (int r = 0; r < rows && rc == TS_OK; r++) {
    rc = stream_copyenc_row(&e);
    if (r % 3 == 1) {
      for (int c = 0; c < 6 && rc == TS_OK; c++)
        rc = stream_copyenc_null(&e);
      continue;
    }
    if (!rc)
      rc = stream_copyenc_int4(&e, -7 * r);
    if (!rc)
      rc = stream_copyenc_float8(&e, 1.5 + r);
    if (!rc)
      rc = stream_copyenc_text(&e, "été \"x\"", 9);
    if (!rc)
      rc = stream_copyenc_timestamp(&e, 86400000000LL + r, 0);
    if (!rc)
      rc = stream_copyenc_array_begin(&e, 20);
    for (int k = 0; k < (r % 3 == 2 ? 0 : 3) && rc == TS_OK; k++)
      rc = stream_copyenc_int8(&e, (int64_t)k << 40);
    if (!rc)
      rc = stream_copyenc_array_end(&e);
    if (!rc)
      rc = stream_copyenc_array_begin(&e, 25);
    if (!rc)
      rc = stream_copyenc_text(&e, "a,b", 3);
    if (!rc && r % 3 == 2)
      rc = stream_copyenc_null(&e);
    if (!rc)
      rc = stream_copyenc_array_end(&e);
  }
  if (rc == TS_OK)
    rc = stream_copyenc_finish(&e);
  stream_copyenc_free(&e);
  stream_out_free(&out);
  return rc;
}

int test_copyenc_roundtrip(void)
{
  ts_buf bytes;
  ts_buf_init(&bytes, 1 << 20);
  TS_CHECK_EQ_INT(encode_rows(&bytes, 3), TS_OK);
  stream_copydec *d = stream_copydec_new(6, 100);
  stream_batch b;
  size_t used = 0;
  ts_error err;
  TS_CHECK_EQ_INT(stream_copydec_feed(d, (const uint8_t *)bytes.data, bytes.len, &used, &b, &err),
                  TS_OK);
  TS_CHECK_EQ_INT(b.nrows, 3);
  const stream_value *v = stream_batch_row(&b, 0);
  TS_CHECK_EQ_INT(stream_get_int4(&v[0]), 0);
  TS_CHECK(stream_get_float8(&v[1]) == 1.5);
  TS_CHECK_EQ_INT(v[2].len, 9);
  TS_CHECK(memcmp(v[2].p, "été \"x\"", 9) == 0);
  TS_CHECK_EQ_INT(stream_get_int8(&v[3]), 86400000000LL);
  stream_array_iter it;
  stream_value el;
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v[4]), TS_OK);
  TS_CHECK_EQ_INT(it.count, 3);
  for (int k = 0; k < 3; k++) {
    TS_CHECK(stream_array_next(&it, &el));
    TS_CHECK_EQ_INT(stream_get_int8(&el), (int64_t)k << 40);
  }
  TS_CHECK(!stream_array_next(&it, &el));
  v = stream_batch_row(&b, 1);
  for (int c = 0; c < 6; c++)
    TS_CHECK_EQ_INT(v[c].len, -1);
  v = stream_batch_row(&b, 2);
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v[4]), TS_OK);
  TS_CHECK_EQ_INT(it.count, 0);
  TS_CHECK_EQ_INT(stream_array_begin(&it, &v[5]), TS_OK);
  TS_CHECK_EQ_INT(it.count, 2);
  TS_CHECK(stream_array_next(&it, &el));
  TS_CHECK_EQ_INT(el.len, 3);
  TS_CHECK(stream_array_next(&it, &el));
  TS_CHECK_EQ_INT(el.len, -1);
  used = bytes.len; /* the decoder saw the trailer */
  TS_CHECK_EQ_INT(stream_copydec_finish(d, &err), TS_OK);
  stream_copydec_free(d);
  ts_buf_free(&bytes);
  return 0;
}

int test_copyenc_misuse(void)
{
  ts_buf bytes;
  ts_buf_init(&bytes, 1 << 16);
  stream_out out;
  stream_copyenc e;
  TS_CHECK_EQ_INT(stream_out_init(&out, 256, to_buf, &bytes), TS_OK);
  TS_CHECK_EQ_INT(stream_copyenc_init(&e, &out, 0), TS_EINVAL);
  stream_copyenc_free(&e);
  TS_CHECK_EQ_INT(stream_copyenc_init(&e, &out, 2), TS_OK);
  TS_CHECK_EQ_INT(stream_copyenc_int4(&e, 1), TS_EINVAL); /* no row open */
  TS_CHECK_EQ_INT(stream_copyenc_row(&e), TS_OK);
  TS_CHECK_EQ_INT(stream_copyenc_int4(&e, 1), TS_OK);
  TS_CHECK_EQ_INT(stream_copyenc_row(&e), TS_EINVAL);    /* one field short */
  TS_CHECK_EQ_INT(stream_copyenc_finish(&e), TS_EINVAL); /* same */
  TS_CHECK_EQ_INT(stream_copyenc_text(&e, "a\0b", 3), TS_EINVAL);
  TS_CHECK_EQ_INT(stream_copyenc_array_begin(&e, 701), TS_OK);
  TS_CHECK_EQ_INT(stream_copyenc_int4(&e, 1), TS_EINVAL); /* int4 in a float8[] */
  TS_CHECK_EQ_INT(stream_copyenc_float8(&e, 1), TS_OK);
  TS_CHECK_EQ_INT(stream_copyenc_array_begin(&e, 701), TS_EINVAL); /* nested */
  TS_CHECK_EQ_INT(stream_copyenc_array_end(&e), TS_OK);
  TS_CHECK_EQ_INT(stream_copyenc_null(&e), TS_EINVAL); /* a field too many */
  TS_CHECK_EQ_INT(stream_copyenc_finish(&e), TS_OK);
  stream_copyenc_free(&e);
  stream_out_free(&out);
  ts_buf_free(&bytes);
  return 0;
}

int test_pg_copyenc(void)
{
  const char *dsn = stream_test_dsn();
  TS_CHECK(dsn);
  ts_error err;
  PGconn *c = stream_pg_connect_blocking(dsn, &err);
  TS_CHECK(c);
  PGresult *res = PQexec(c, "CREATE TEMP TABLE enc (i int4, d float8, t text, ts timestamp, "
                            "a int8[], s text[])");
  TS_CHECK_EQ_INT(PQresultStatus(res), PGRES_COMMAND_OK);
  PQclear(res);
  ts_buf bytes;
  ts_buf_init(&bytes, 1 << 24);
  TS_CHECK_EQ_INT(encode_rows(&bytes, 3000), TS_OK);
  res = PQexec(c, "COPY enc FROM STDIN (FORMAT binary)");
  TS_CHECK_EQ_INT(PQresultStatus(res), PGRES_COPY_IN);
  PQclear(res);
  TS_CHECK_EQ_INT(PQputCopyData(c, bytes.data, (int)bytes.len), 1);
  TS_CHECK_EQ_INT(PQputCopyEnd(c, NULL), 1);
  res = PQgetResult(c);
  if (PQresultStatus(res) != PGRES_COMMAND_OK)
    fprintf(stderr, "# COPY: %s", PQerrorMessage(c));
  TS_CHECK_EQ_INT(PQresultStatus(res), PGRES_COMMAND_OK);
  PQclear(res);
  res = PQexec(c, "SELECT count(*), count(i), sum(i), max(ts)::text, "
                  "(SELECT a::text || s::text || t FROM enc WHERE i = -21), "
                  "(SELECT a::text || s::text FROM enc WHERE i = -14) FROM enc");
  TS_CHECK_EQ_INT(PQresultStatus(res), PGRES_TUPLES_OK);
  TS_CHECK_STREQ(PQgetvalue(res, 0, 0), "3000");
  TS_CHECK_STREQ(PQgetvalue(res, 0, 1), "2000");
  TS_CHECK_STREQ(PQgetvalue(res, 0, 4), "{0,1099511627776,2199023255552}{\"a,b\"}été \"x\"");
  TS_CHECK_STREQ(PQgetvalue(res, 0, 5), "{}{\"a,b\",NULL}");
  PQclear(res);
  PQfinish(c);
  ts_buf_free(&bytes);
  return 0;
}
