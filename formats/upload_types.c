/* formats/upload_types.c: the one rule from a column's VOTable type to the
 * PostgreSQL type an upload table gives it (formats/upload.h), and the
 * element type of its arrays (formats/upload_int.h). */
#include "formats/upload_int.h"

#include <stdlib.h>
#include <strings.h>

typedef struct up_type {
  const char *datatype;
  const char *scalar, *array; /* SQL types */
  uint32_t oid, array_oid;
  stream_kind kind;
} up_type;

static const up_type types[] = {
    {"boolean", "boolean", "boolean[]", 16, 1000, STREAM_BOOL},
    {"bit", "boolean", "boolean[]", 16, 1000, STREAM_BOOL},
    {"unsignedByte", "smallint", "smallint[]", 21, 1005, STREAM_INT2},
    {"short", "smallint", "smallint[]", 21, 1005, STREAM_INT2},
    {"int", "integer", "integer[]", 23, 1007, STREAM_INT4},
    {"long", "bigint", "bigint[]", 20, 1016, STREAM_INT8},
    {"float", "real", "real[]", 700, 1021, STREAM_FLOAT4},
    {"double", "double precision", "double precision[]", 701, 1022, STREAM_FLOAT8},
};

uint32_t fmt__up_elem_oid(stream_kind k)
{
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
    if (types[i].kind == k)
      return types[i].oid;
  return k == STREAM_TIMESTAMP ? 1114 : 25; /* timestamp, text */
}

/* Geometry xtypes (DALI 1.1): arrays of degrees that become pgSphere
 * values once loaded. min: values at least; even: pairs. */
typedef struct up_geom {
  const char *xtype, *final;
  int min, max, even;
} up_geom;

static const up_geom geoms[] = {
    {"point", "spoint", 2, 2, 1},
    {"circle", "scircle", 3, 3, 0},
    {"polygon", "spoly", 6, 0, 1},
};

/* xtypes compare without the "adql:" prefix of older services. */
static const char *bare_xtype(const char *x)
{
  if (x && strncasecmp(x, "adql:", 5) == 0)
    x += 5;
  return x && *x ? x : NULL;
}

/* The number of values an arraysize promises (product of the fixed
 * dimensions), 0 for a variable one ("*", "10*", "2x*"), -1 when it is
 * not an arraysize. */
static long fixed_count(const char *as)
{
  long n = 1;
  const char *p = as;
  for (;;) {
    if (*p == '*')
      return p[1] ? -1 : 0;
    char *end;
    long d = strtol(p, &end, 10);
    if (end == p || d <= 0 || d > 1L << 30)
      return -1;
    n = n > (1L << 30) / d ? -1 : n * d;
    if (n < 0)
      return -1;
    if (*end == '*')
      return end[1] ? -1 : 0;
    if (*end == 0)
      return n;
    if (*end != 'x')
      return -1;
    p = end + 1;
  }
}

ts_err fmt_upload_set_type(fmt_upload_column *col, const char *datatype, const char *arraysize,
                           const char *xtype, ts_error *err)
{
  stream_column *c = &col->c;
  const char *name = c->name ? c->name : "?";
  const char *x = bare_xtype(xtype);
  if (arraysize && !*arraysize)
    arraysize = NULL;
  if (!datatype || !*datatype)
    return ts_fail(err, TS_EINVAL, 0, "column %s: no datatype", name);
  long count = arraysize ? fixed_count(arraysize) : 1;
  if (count < 0)
    return ts_fail(err, TS_EINVAL, 0, "column %s: arraysize \"%s\" is not a VOTable arraysize",
                   name, arraysize);
  col->final_type = NULL;
  c->typmod = -1;
  c->datatype = datatype;
  c->arraysize = arraysize;
  c->xtype = xtype;
  if (strcmp(datatype, "char") == 0 || strcmp(datatype, "unicodeChar") == 0) {
    c->is_array = 0;
    if (x && (strcasecmp(x, "timestamp") == 0)) {
      col->copy_type = "timestamp";
      c->type_oid = 1114;
      c->kind = STREAM_TIMESTAMP;
    } else {
      col->copy_type = "text";
      c->type_oid = 25;
      c->kind = STREAM_TEXT;
    }
    return TS_OK;
  }
  for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
    const up_type *t = &types[i];
    if (strcmp(datatype, t->datatype) != 0)
      continue;
    c->kind = t->kind;
    c->is_array = arraysize != NULL;
    col->copy_type = c->is_array ? t->array : t->scalar;
    c->type_oid = c->is_array ? t->array_oid : t->oid;
    for (size_t g = 0; x && g < sizeof geoms / sizeof geoms[0]; g++) {
      const up_geom *gm = &geoms[g];
      if (strcasecmp(x, gm->xtype) != 0)
        continue;
      int fits = t->kind == STREAM_FLOAT8 || t->kind == STREAM_FLOAT4;
      if (fits && count > 0)
        fits = count >= gm->min && (!gm->max || count <= gm->max) && (!gm->even || count % 2 == 0);
      if (!fits || !c->is_array)
        return ts_fail(err, TS_EINVAL, 0,
                       "column %s: xtype %s needs datatype double (or float) with arraysize %s",
                       name, gm->xtype,
                       gm->max ? (gm->min == 2 ? "2" : "3") : "an even number of values, or *");
      /* Degrees in double precision whatever the file's width. */
      col->copy_type = "double precision[]";
      c->type_oid = 1022;
      c->kind = STREAM_FLOAT8;
      col->final_type = gm->final;
    }
    return TS_OK;
  }
  if (strcmp(datatype, "floatComplex") == 0 || strcmp(datatype, "doubleComplex") == 0)
    return ts_fail(err, TS_EINVAL, 0,
                   "column %s: datatype %s is not supported in uploads (no complex type in ADQL)",
                   name, datatype);
  return ts_fail(err, TS_EINVAL, 0, "column %s: unknown datatype \"%s\"", name, datatype);
}
