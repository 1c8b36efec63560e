/* adql/check_type.c: value types (PostgreSQL's parse_coerce.c).
 *
 * The type of a published column, how numeric types combine, which types
 * compare, and the checks that an operand has the type its operator or
 * function needs. */
#include "adql/check_int.h"

#include <string.h>

const char *adql__type_name(adql_type t)
{
  switch (t) {
  case ADQL_T_UNKNOWN:
    return "unknown";
  case ADQL_T_COND:
    return "condition";
  case ADQL_T_SHORT:
    return "short";
  case ADQL_T_INT:
    return "int";
  case ADQL_T_LONG:
    return "long";
  case ADQL_T_FLOAT:
    return "float";
  case ADQL_T_DOUBLE:
    return "double";
  case ADQL_T_STRING:
    return "char";
  case ADQL_T_BOOLEAN:
    return "boolean";
  case ADQL_T_GEOMETRY:
    return "geometry";
  case ADQL_T_OTHER:
    return "other";
  }
  return "unknown";
}

int adql__is_num(adql_type t)
{
  return t >= ADQL_T_SHORT && t <= ADQL_T_DOUBLE;
}

int adql__is_intclass(adql_type t)
{
  return t >= ADQL_T_SHORT && t <= ADQL_T_LONG;
}

adql_type adql__type_of_meta(const adql_column_meta *m)
{
  const char *dt = m->datatype ? m->datatype : "";
  const char *xt = m->xtype ? m->xtype : "";
  int array = m->arraysize && *m->arraysize && strcmp(m->arraysize, "1") != 0;
  if (ts_strcaseeq(xt, "point") || ts_strcaseeq(xt, "circle") || ts_strcaseeq(xt, "polygon") ||
      ts_strcaseeq(xt, "region") || ts_strcaseeq(xt, "moc"))
    return ADQL_T_GEOMETRY;
  if (ts_strcaseeq(dt, "char") || ts_strcaseeq(dt, "unicodeChar"))
    return ts_strcaseeq(xt, "timestamp") || ts_strcaseeq(xt, "interval") ? ADQL_T_OTHER
                                                                         : ADQL_T_STRING;
  if (array)
    return ADQL_T_OTHER;
  if (ts_strcaseeq(dt, "short") || ts_strcaseeq(dt, "unsignedByte"))
    return ADQL_T_SHORT;
  if (ts_strcaseeq(dt, "int"))
    return ADQL_T_INT;
  if (ts_strcaseeq(dt, "long"))
    return ADQL_T_LONG;
  if (ts_strcaseeq(dt, "float"))
    return ADQL_T_FLOAT;
  if (ts_strcaseeq(dt, "double"))
    return ADQL_T_DOUBLE;
  if (ts_strcaseeq(dt, "boolean"))
    return ADQL_T_BOOLEAN;
  return ADQL_T_OTHER;
}

const char *adql__datatype_of(adql_type t)
{
  switch (t) {
  case ADQL_T_SHORT:
    return "short";
  case ADQL_T_INT:
    return "int";
  case ADQL_T_LONG:
    return "long";
  case ADQL_T_FLOAT:
    return "float";
  case ADQL_T_DOUBLE:
    return "double";
  case ADQL_T_BOOLEAN:
    return "boolean";
  default:
    return "char";
  }
}

/* The type two numeric operands combine to: integers widen, anything
 * with a float is double unless both are float (PostgreSQL: real op real
 * is real). */
adql_type adql__num_join(adql_type x, adql_type y)
{
  if (x == ADQL_T_UNKNOWN)
    return y == ADQL_T_UNKNOWN ? ADQL_T_UNKNOWN : y;
  if (y == ADQL_T_UNKNOWN)
    return x;
  if (adql__is_intclass(x) && adql__is_intclass(y))
    return x > y ? x : y;
  if (x == ADQL_T_FLOAT && y == ADQL_T_FLOAT)
    return ADQL_T_FLOAT;
  return ADQL_T_DOUBLE;
}

/* Can values of these types be compared (=, <, IN, BETWEEN)? */
static int comparable(adql_type x, adql_type y)
{
  if (x == ADQL_T_UNKNOWN || y == ADQL_T_UNKNOWN)
    return 1;
  if (adql__is_num(x) && adql__is_num(y))
    return 1;
  return x == y;
}

adql_type adql__need_numeric(chk *c, adql_node *n, adql_type t, const char *what)
{
  if (t == BAD)
    return BAD;
  if ((c->syntax_only && t != ADQL_T_GEOMETRY) || t == ADQL_T_UNKNOWN || adql__is_num(t))
    return t;
  return fail(c, n->loc, "%s needs a numeric argument, not %s", what, adql__type_name(t)), BAD;
}

adql_type adql__need_integer(chk *c, adql_node *n, adql_type t, const char *what)
{
  if (t == BAD)
    return BAD;
  if ((c->syntax_only && t != ADQL_T_GEOMETRY && t != ADQL_T_STRING) || t == ADQL_T_UNKNOWN ||
      adql__is_intclass(t))
    return t;
  return fail(c, n->loc, "%s needs an integer argument, not %s", what, adql__type_name(t)), BAD;
}

adql_type adql__need_string(chk *c, adql_node *n, adql_type t, const char *what)
{
  if (t == BAD)
    return BAD;
  if ((c->syntax_only && t != ADQL_T_GEOMETRY) || t == ADQL_T_UNKNOWN || t == ADQL_T_STRING)
    return t;
  return fail(c, n->loc, "%s needs a string argument, not %s", what, adql__type_name(t)), BAD;
}

int adql__need_comparable(chk *c, adql_node *at, adql_type x, adql_type y, const char *what)
{
  /* pgSphere has no ordering of geometries, and ADQL's predicates are
   * CONTAINS and INTERSECTS. The grammar allows the comparison (the IVOA
   * suite has POINT(...) = x as valid), so only the full check refuses it. */
  if (!c->syntax_only && (x == ADQL_T_GEOMETRY || y == ADQL_T_GEOMETRY))
    return fail(c, at->loc, "%s: geometries cannot be compared (use CONTAINS or INTERSECTS)", what),
           -1;
  if (c->syntax_only || comparable(x, y))
    return 0;
  return fail(c, at->loc, "%s: cannot compare %s with %s", what, adql__type_name(x),
              adql__type_name(y)),
         -1;
}

adql_type adql__common_type(chk *c, int loc, adql_type x, adql_type y, const char *what)
{
  if (x == ADQL_T_UNKNOWN)
    return y;
  if (y == ADQL_T_UNKNOWN)
    return x;
  if (adql__is_num(x) && adql__is_num(y))
    return adql__num_join(x, y);
  if (x == y || c->syntax_only)
    return x;
  return fail(c, loc, "%s mixes %s and %s values", what, adql__type_name(x), adql__type_name(y)),
         BAD;
}
