/* adql/check_func.c: function calls (PostgreSQL's parse_func.c and
 * parse_agg.c).
 *
 * The built-in functions (math, string, geometry, IN_UNIT), user-defined
 * functions from their signatures, and aggregates. */
#include "adql/check_int.h"

#include <ctype.h>
#include <string.h>

static const adql_func adql_funcs[] = {
    {"abs", "abs", 1, 1, ADQL_FN_SAME, ADQL_GF_NONE},
    {"acos", "acos", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"asin", "asin", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"atan", "atan", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"atan2", "atan2", 2, 2, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"ceiling", "ceil", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"cos", "cos", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"cot", "cot", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"degrees", "degrees", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"exp", "exp", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"floor", "floor", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"log", "ln", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"log10", "log", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"lower", "lower", 1, 1, ADQL_FN_STRING, ADQL_GF_NONE},
    {"mod", "mod", 2, 2, ADQL_FN_MOD, ADQL_GF_NONE},
    {"pi", "pi", 0, 0, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"power", "power", 2, 2, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"radians", "radians", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"rand", "random", 0, 1, ADQL_FN_RAND, ADQL_GF_NONE},
    {"round", "round", 1, 2, ADQL_FN_ROUNDLIKE, ADQL_GF_NONE},
    {"sin", "sin", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"sqrt", "sqrt", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"tan", "tan", 1, 1, ADQL_FN_NUMERIC, ADQL_GF_NONE},
    {"truncate", "trunc", 1, 2, ADQL_FN_ROUNDLIKE, ADQL_GF_NONE},
    {"upper", "upper", 1, 1, ADQL_FN_STRING, ADQL_GF_NONE},
    {"area", NULL, 1, 1, ADQL_FN_GEOM, ADQL_GF_AREA},
    {"box", NULL, 3, 5, ADQL_FN_GEOM, ADQL_GF_BOX},
    {"centroid", NULL, 1, 1, ADQL_FN_GEOM, ADQL_GF_CENTROID},
    {"circle", NULL, 2, 4, ADQL_FN_GEOM, ADQL_GF_CIRCLE},
    {"contains", NULL, 2, 2, ADQL_FN_GEOM, ADQL_GF_CONTAINS},
    {"coord1", NULL, 1, 1, ADQL_FN_GEOM, ADQL_GF_COORD1},
    {"coord2", NULL, 1, 1, ADQL_FN_GEOM, ADQL_GF_COORD2},
    {"coordsys", NULL, 1, 1, ADQL_FN_GEOM, ADQL_GF_COORDSYS},
    {"distance", NULL, 2, 4, ADQL_FN_GEOM, ADQL_GF_DISTANCE},
    {"in_unit", NULL, 2, 2, ADQL_FN_INUNIT, ADQL_GF_NONE},
    {"intersects", NULL, 2, 2, ADQL_FN_GEOM, ADQL_GF_INTERSECTS},
    {"nullif", "nullif", 2, 2, ADQL_FN_NULLIF, ADQL_GF_NONE},
    {"point", NULL, 2, 3, ADQL_FN_GEOM, ADQL_GF_POINT},
    {"polygon", NULL, 3, 2001, ADQL_FN_GEOM, ADQL_GF_POLYGON},
    {"region", NULL, 1, 1, ADQL_FN_GEOM, ADQL_GF_REGION},
};

const adql_func *adql__func_lookup(const char *name)
{
  for (size_t i = 0; i < TS_ARRAY_LEN(adql_funcs); i++)
    if (ts_strcaseeq(name, adql_funcs[i].name))
      return &adql_funcs[i];
  return NULL;
}

/* "name(a TEXT, b TEXT) -> INTEGER": the argument count (-1 when the
 * signature cannot be read) and the result type. */
static int udf_signature(const char *sig, adql_type *ret, adql_gkind *gk)
{
  const char *p = sig ? strchr(sig, '(') : NULL, *q, *arrow;
  int nargs = 0, any = 0;
  *ret = ADQL_T_UNKNOWN;
  *gk = ADQL_G_NONE;
  if (!p)
    return -1;
  q = strchr(p, ')');
  if (!q)
    return -1;
  for (const char *s = p + 1; s < q; s++) {
    if (*s == ',')
      nargs++;
    else if (!isspace((unsigned char)*s))
      any = 1;
  }
  nargs += any;
  arrow = strstr(q, "->");
  if (arrow) {
    const char *t = arrow + 2;
    while (isspace((unsigned char)*t))
      t++;
    if (ts_strncaseeq(t, "smallint", 8))
      *ret = ADQL_T_SHORT;
    else if (ts_strncaseeq(t, "integer", 7) || ts_strncaseeq(t, "int", 3))
      *ret = ADQL_T_INT;
    else if (ts_strncaseeq(t, "bigint", 6))
      *ret = ADQL_T_LONG;
    else if (ts_strncaseeq(t, "real", 4))
      *ret = ADQL_T_FLOAT;
    else if (ts_strncaseeq(t, "double", 6))
      *ret = ADQL_T_DOUBLE;
    else if (ts_strncaseeq(t, "text", 4) || ts_strncaseeq(t, "char", 4) ||
             ts_strncaseeq(t, "varchar", 7))
      *ret = ADQL_T_STRING;
    else if (ts_strncaseeq(t, "point", 5) || ts_strncaseeq(t, "circle", 6) ||
             ts_strncaseeq(t, "polygon", 7) || ts_strncaseeq(t, "region", 6)) {
      *ret = ADQL_T_GEOMETRY;
      *gk = ts_strncaseeq(t, "point", 5)     ? ADQL_G_POINT
            : ts_strncaseeq(t, "circle", 6)  ? ADQL_G_CIRCLE
            : ts_strncaseeq(t, "polygon", 7) ? ADQL_G_POLYGON
                                             : ADQL_G_REGION;
    }
  }
  return nargs;
}

/* IN_UNIT(value, 'unit'): the value's unit comes from its column; the
 * conversion is a factor computed here, never a string passed on. */
static adql_type check_in_unit(chk *c, adql_node *n)
{
  adql_node *v = arg(n, 0), *u = arg(n, 1);
  const adql_column_meta *src = v->kind == ADQL_N_COLUMN ? v->col : NULL;
  char msg[160];
  if (adql__need_numeric(c, v, v->type, "IN_UNIT") == BAD)
    return BAD;
  if (u->kind != ADQL_N_STRING)
    return fail(c, u->loc, "the second argument of IN_UNIT must be a unit string literal"), BAD;
  if (c->syntax_only)
    return ADQL_T_DOUBLE;
  if (!src || !src->unit || !*src->unit)
    return fail(c, v->loc, "IN_UNIT needs a value whose unit is known (a column with a unit)"), BAD;
  if (adql__unit_factor(src->unit, u->text, &n->unit_factor, msg, sizeof msg))
    return fail(c, u->loc, "IN_UNIT: %s", msg), BAD;
  return ADQL_T_DOUBLE;
}

adql_type adql__check_func(chk *c, adql_scope *s, adql_node *n, int ctx)
{
  size_t nargs = n->args ? n->args->n : 0;
  adql_type at[2] = {ADQL_T_UNKNOWN, ADQL_T_UNKNOWN};
  const adql_func *fn = adql__func_lookup(n->name.name);
  for (size_t i = 0; i < nargs; i++) {
    adql_type t = want_value(c, n->args->items[i], adql__check_expr(c, s, n->args->items[i], ctx));
    if (t == BAD)
      return BAD;
    if (i < 2)
      at[i] = t;
  }
  if (fn) {
    n->fn = fn;
    if ((int)nargs < fn->minargs || (int)nargs > fn->maxargs) {
      if (fn->minargs == fn->maxargs)
        return fail(c, n->loc, "function %s takes %d argument%s, not %zu", fn->name, fn->minargs,
                    fn->minargs == 1 ? "" : "s", nargs),
               BAD;
      return fail(c, n->loc, "function %s takes %d or %d arguments, not %zu", fn->name, fn->minargs,
                  fn->maxargs, nargs),
             BAD;
    }
    if (fn->cls == ADQL_FN_GEOM)
      return adql__check_geom(c, n, fn);
    if (fn->cls == ADQL_FN_NULLIF) {
      if (adql__need_comparable(c, n, at[0], at[1], "NULLIF"))
        return BAD;
      return at[0];
    }
    if (fn->cls == ADQL_FN_INUNIT)
      return check_in_unit(c, n);
    if (fn->cls == ADQL_FN_STRING)
      return adql__need_string(c, n->args->items[0], at[0], fn->name) == BAD ? BAD : ADQL_T_STRING;
    for (size_t i = 0; i < nargs && i < 2; i++)
      if (adql__need_numeric(c, n->args->items[i], at[i], fn->name) == BAD)
        return BAD;
    switch (fn->cls) {
    case ADQL_FN_SAME:
      return at[0] == ADQL_T_UNKNOWN ? ADQL_T_DOUBLE : at[0];
    case ADQL_FN_MOD:
      if (adql__is_intclass(at[0]) && adql__is_intclass(at[1]))
        return adql__num_join(at[0], at[1]);
      n->argtype_numeric = 1;
      return ADQL_T_DOUBLE;
    case ADQL_FN_ROUNDLIKE:
      if (nargs == 2 && !c->syntax_only && !adql__is_intclass(at[1]) && at[1] != ADQL_T_UNKNOWN)
        return fail(c, ((adql_node *)n->args->items[1])->loc,
                    "the second argument of %s must be an integer", fn->name),
               BAD;
      return ADQL_T_DOUBLE;
    case ADQL_FN_RAND:
      /* ADQL allows a seed; PostgreSQL has no seeded random() per call,
       * so only the full check (which precedes translation) refuses it. */
      if (nargs == 1 && !c->syntax_only)
        return fail(c, n->loc, "RAND with a seed is not supported; use RAND()"), BAD;
      return ADQL_T_DOUBLE;
    default:
      return ADQL_T_DOUBLE;
    }
  }
  /* A user-defined function. */
  {
    const adql_udf *udfs = c->syntax_only ? c->udfs : (c->meta ? c->meta->udfs : NULL);
    size_t nudfs = c->syntax_only ? c->nudfs : (c->meta ? c->meta->nudfs : 0);
    for (size_t i = 0; i < nudfs; i++) {
      adql_type ret;
      int want;
      if (!udfs[i].name || !ts_strcaseeq(udfs[i].name, n->name.name))
        continue;
      want = udf_signature(udfs[i].signature, &ret, &n->gkind);
      if (want >= 0 && (size_t)want != nargs)
        return fail(c, n->loc, "function %s takes %d argument%s, not %zu", udfs[i].name, want,
                    want == 1 ? "" : "s", nargs),
               BAD;
      n->udf = &udfs[i];
      return ret;
    }
    if (c->syntax_only && nudfs == 0)
      return ADQL_T_UNKNOWN;
    return fail(c, n->loc, "function %s does not exist", n->name.name), BAD;
  }
}

adql_type adql__check_agg(chk *c, adql_scope *s, adql_node *n, int ctx)
{
  static const char *const names[] = {"COUNT", "MIN", "MAX", "SUM", "AVG"};
  adql_type t = ADQL_T_UNKNOWN;
  if (ctx & CTX_INAGG)
    return fail(c, n->loc, "aggregate functions cannot be nested"), BAD;
  if (ctx & CTX_NOAGG)
    return fail(c, n->loc, "aggregate function %s is not allowed here", names[n->op]), BAD;
  if (n->a) {
    t = want_value(c, n->a, adql__check_expr(c, s, n->a, ctx | CTX_INAGG));
    if (t == BAD)
      return BAD;
  }
  switch (n->op) {
  case ADQL_AGG_COUNT:
    return ADQL_T_LONG;
  case ADQL_AGG_MIN:
  case ADQL_AGG_MAX:
    return t;
  case ADQL_AGG_SUM:
    if (adql__need_numeric(c, n->a, t, names[n->op]) == BAD)
      return BAD;
    if (t == ADQL_T_SHORT || t == ADQL_T_INT)
      return ADQL_T_LONG;
    return t == ADQL_T_FLOAT ? ADQL_T_FLOAT : ADQL_T_DOUBLE;
  default:
    if (adql__need_numeric(c, n->a, t, names[n->op]) == BAD)
      return BAD;
    return ADQL_T_DOUBLE;
  }
}
