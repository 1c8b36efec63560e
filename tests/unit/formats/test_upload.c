/* The upload type rule (fmt_upload_set_type). */
#include "formats/upload.h"
#include "test_list.h"
#include "ts_test.h"

static ts_err set(fmt_upload_column *col, const char *dt, const char *as, const char *xt)
{
  ts_error err;
  memset(col, 0, sizeof *col);
  col->c.name = "c";
  return fmt_upload_set_type(col, dt, as, xt, &err);
}

int test_upload_types(void)
{
  fmt_upload_column col;
  TS_CHECK_EQ_INT(set(&col, "double", NULL, NULL), TS_OK);
  TS_CHECK_STREQ(col.copy_type, "double precision");
  TS_CHECK_EQ_INT(col.c.type_oid, 701);
  TS_CHECK(!col.final_type);
  TS_CHECK_EQ_INT(set(&col, "unsignedByte", NULL, NULL), TS_OK);
  TS_CHECK_STREQ(col.copy_type, "smallint");
  TS_CHECK_EQ_INT(set(&col, "long", "3x*", NULL), TS_OK);
  TS_CHECK_STREQ(col.copy_type, "bigint[]");
  TS_CHECK_EQ_INT(col.c.type_oid, 1016);
  TS_CHECK_EQ_INT(set(&col, "char", "*", NULL), TS_OK);
  TS_CHECK_STREQ(col.copy_type, "text");
  TS_CHECK_EQ_INT(set(&col, "unicodeChar", "12", NULL), TS_OK);
  TS_CHECK_STREQ(col.copy_type, "text");
  TS_CHECK_EQ_INT(set(&col, "char", "*", "timestamp"), TS_OK);
  TS_CHECK_STREQ(col.copy_type, "timestamp");
  TS_CHECK_EQ_INT(set(&col, "char", "23", "adql:TIMESTAMP"), TS_OK);
  TS_CHECK_STREQ(col.copy_type, "timestamp");
  TS_CHECK_EQ_INT(set(&col, "double", "2", "point"), TS_OK);
  TS_CHECK_STREQ(col.copy_type, "double precision[]");
  TS_CHECK_STREQ(col.final_type, "spoint");
  TS_CHECK_EQ_INT(set(&col, "float", "3", "circle"), TS_OK);
  TS_CHECK_STREQ(col.copy_type, "double precision[]");
  TS_CHECK_STREQ(col.final_type, "scircle");
  TS_CHECK_EQ_INT(set(&col, "double", "*", "polygon"), TS_OK);
  TS_CHECK_STREQ(col.final_type, "spoly");
  TS_CHECK_EQ_INT(set(&col, "double", "8", "polygon"), TS_OK);
  /* Refused, each with a message. */
  TS_CHECK_EQ_INT(set(&col, "double", "3", "point"), TS_EINVAL);
  TS_CHECK_EQ_INT(set(&col, "double", "5", "polygon"), TS_EINVAL);
  TS_CHECK_EQ_INT(set(&col, "int", "2", "point"), TS_EINVAL);
  TS_CHECK_EQ_INT(set(&col, "double", NULL, "point"), TS_EINVAL);
  TS_CHECK_EQ_INT(set(&col, "doubleComplex", NULL, NULL), TS_EINVAL);
  TS_CHECK_EQ_INT(set(&col, "string", NULL, NULL), TS_EINVAL);
  TS_CHECK_EQ_INT(set(&col, "double", "x2", NULL), TS_EINVAL);
  TS_CHECK_EQ_INT(set(&col, "double", "2*3", NULL), TS_EINVAL);
  TS_CHECK_EQ_INT(set(&col, NULL, NULL, NULL), TS_EINVAL);
  return 0;
}
