/* adql/check_expr.c: expressions (PostgreSQL's parse_expr.c).
 *
 * Gives every expression node a type, keeps conditions and values apart,
 * and hands functions, aggregates and column references to their files. */
#include "adql/check_int.h"

#include <string.h>

static adql_type check_subquery_value(chk *c, adql_scope *s, adql_node *n)
{
  if (adql__check_select(c, n->sub, s, s->ctes))
    return BAD;
  if (n->sub->nout != 1 && !c->syntax_only)
    return fail(c, n->loc, "subquery must return exactly one column (it returns %zu)",
                n->sub->nout),
           BAD;
  return n->sub->nout == 1 ? n->sub->outtype[0] : ADQL_T_UNKNOWN;
}

static const char *cmp_name(int op)
{
  static const char *const names[] = {"operator =", "operator <>", "operator <",
                                      "operator >", "operator <=", "operator >="};
  return names[op];
}

/* "operator +" ... for a message: static strings, not a buffer in every
 * recursive frame of check_expr_inner. */
static const char *op_name(int op)
{
  switch (op) {
  case '+':
    return "operator +";
  case '-':
    return "operator -";
  case '*':
    return "operator *";
  case '/':
    return "operator /";
  case '&':
    return "operator &";
  case '|':
    return "operator |";
  case '^':
    return "operator ^";
  default:
    return "operator ~";
  }
}

static const struct {
  const char *adql;
  const char *pg;
  adql_type type;
} adql_cast_types[] = {
    {"smallint", "smallint", ADQL_T_SHORT},
    {"integer", "integer", ADQL_T_INT},
    {"int", "integer", ADQL_T_INT},
    {"bigint", "bigint", ADQL_T_LONG},
    {"real", "real", ADQL_T_FLOAT},
    {"double precision", "double precision", ADQL_T_DOUBLE},
    {"char", "char", ADQL_T_STRING},
    {"varchar", "varchar", ADQL_T_STRING},
    {"character", "char", ADQL_T_STRING},
    {"character varying", "varchar", ADQL_T_STRING},
    {"timestamp", "timestamp", ADQL_T_OTHER},
    {"point", "point", ADQL_T_GEOMETRY},
    {"circle", "circle", ADQL_T_GEOMETRY},
    {"polygon", "polygon", ADQL_T_GEOMETRY},
};

static adql_type check_cast(chk *c, adql_scope *s, adql_node *n, int ctx)
{
  adql_type t = want_value(c, n->a, adql__check_expr(c, s, n->a, ctx));
  const char *tn = n->name.name;
  size_t base = strcspn(tn, "(");
  if (t == BAD)
    return BAD;
  while (base > 0 && tn[base - 1] == ' ')
    base--;
  for (size_t i = 0; i < TS_ARRAY_LEN(adql_cast_types); i++) {
    if (strlen(adql_cast_types[i].adql) != base ||
        !ts_strncaseeq(tn, adql_cast_types[i].adql, base))
      continue;
    if (tn[strcspn(tn, "(")] == '(' && adql_cast_types[i].type != ADQL_T_STRING)
      return fail(c, n->name.loc, "type %s takes no length", adql_cast_types[i].adql), BAD;
    n->text = adql_cast_types[i].pg;
    if (adql_cast_types[i].type == ADQL_T_GEOMETRY) {
      /* DALI text ("12.3 45.6") to a geometry */
      if (adql__need_string(c, n->a, t, "CAST to a geometry") == BAD)
        return BAD;
      n->gkind = !strcmp(n->text, "point")    ? ADQL_G_POINT
                 : !strcmp(n->text, "circle") ? ADQL_G_CIRCLE
                                              : ADQL_G_POLYGON;
      return ADQL_T_GEOMETRY;
    }
    if (!c->syntax_only && adql_cast_types[i].type != ADQL_T_STRING && t == ADQL_T_GEOMETRY)
      return fail(c, n->loc, "cannot cast a geometry to %s", adql_cast_types[i].adql), BAD;
    return adql_cast_types[i].type;
  }
  return fail(c, n->name.loc, "unknown type \"%s\" in CAST", tn), BAD;
}

static adql_type check_expr_inner(chk *c, adql_scope *s, adql_node *n, int ctx)
{
  adql_type x, y, z;
  switch (n->kind) {
  case ADQL_N_INT: {
    int64_t v;
    if (ts_parse_int64(n->text, &v) != TS_OK)
      return ADQL_T_DOUBLE; /* beyond 64 bits: emitted as a double */
    return v <= INT32_MAX ? ADQL_T_INT : ADQL_T_LONG;
  }
  case ADQL_N_REAL:
    return ADQL_T_DOUBLE;
  case ADQL_N_STRING:
    return ADQL_T_STRING;
  case ADQL_N_NULL:
    return ADQL_T_UNKNOWN;
  case ADQL_N_COLUMN:
    return adql__resolve_column(c, s, n) ? BAD : n->type;
  case ADQL_N_NEG:
    x = want_value(c, n->a, adql__check_expr(c, s, n->a, ctx));
    return adql__need_numeric(c, n->a, x, "unary minus");
  case ADQL_N_ARITH: {
    const char *what = op_name(n->op);
    x = want_value(c, n->a, adql__check_expr(c, s, n->a, ctx));
    if (adql__need_numeric(c, n->a, x, what) == BAD)
      return BAD;
    y = want_value(c, n->b, adql__check_expr(c, s, n->b, ctx));
    if (adql__need_numeric(c, n->b, y, what) == BAD)
      return BAD;
    return adql__num_join(x, y) == ADQL_T_UNKNOWN ? ADQL_T_UNKNOWN : adql__num_join(x, y);
  }
  case ADQL_N_BITOP:
  case ADQL_N_BITNOT: {
    const char *what = op_name(n->kind == ADQL_N_BITNOT ? '~' : n->op);
    x = want_value(c, n->a, adql__check_expr(c, s, n->a, ctx));
    if (adql__need_integer(c, n->a, x, what) == BAD)
      return BAD;
    if (n->kind == ADQL_N_BITNOT)
      return x;
    y = want_value(c, n->b, adql__check_expr(c, s, n->b, ctx));
    if (adql__need_integer(c, n->b, y, what) == BAD)
      return BAD;
    return adql__num_join(x, y);
  }
  case ADQL_N_CONCAT:
    x = want_value(c, n->a, adql__check_expr(c, s, n->a, ctx));
    if (adql__need_string(c, n->a, x, "operator ||") == BAD)
      return BAD;
    y = want_value(c, n->b, adql__check_expr(c, s, n->b, ctx));
    if (adql__need_string(c, n->b, y, "operator ||") == BAD)
      return BAD;
    return ADQL_T_STRING;
  case ADQL_N_FUNC:
    return adql__check_func(c, s, n, ctx);
  case ADQL_N_AGG:
    return adql__check_agg(c, s, n, ctx);
  case ADQL_N_CMP: {
    const char *what = cmp_name(n->op);
    x = want_value(c, n->a, adql__check_expr(c, s, n->a, ctx));
    if (x == BAD)
      return BAD;
    y = want_value(c, n->b, adql__check_expr(c, s, n->b, ctx));
    if (y == BAD || adql__need_comparable(c, n, x, y, what))
      return BAD;
    return ADQL_T_COND;
  }
  case ADQL_N_AND:
  case ADQL_N_OR:
    if (adql__check_cond(c, s, n->a, ctx, n->kind == ADQL_N_AND ? "AND" : "OR") ||
        adql__check_cond(c, s, n->b, ctx, n->kind == ADQL_N_AND ? "AND" : "OR"))
      return BAD;
    return ADQL_T_COND;
  case ADQL_N_NOT:
    return adql__check_cond(c, s, n->a, ctx, "NOT") ? BAD : ADQL_T_COND;
  case ADQL_N_BETWEEN:
    x = want_value(c, n->a, adql__check_expr(c, s, n->a, ctx));
    if (x == BAD)
      return BAD;
    y = want_value(c, n->b, adql__check_expr(c, s, n->b, ctx));
    if (y == BAD || adql__need_comparable(c, n, x, y, "BETWEEN"))
      return BAD;
    z = want_value(c, n->c, adql__check_expr(c, s, n->c, ctx));
    if (z == BAD || adql__need_comparable(c, n, x, z, "BETWEEN"))
      return BAD;
    return ADQL_T_COND;
  case ADQL_N_LIKE: {
    const char *what = n->flag & ADQL_F_ILIKE ? "ILIKE" : "LIKE";
    x = want_value(c, n->a, adql__check_expr(c, s, n->a, ctx));
    if (adql__need_string(c, n->a, x, what) == BAD)
      return BAD;
    y = want_value(c, n->b, adql__check_expr(c, s, n->b, ctx));
    if (adql__need_string(c, n->b, y, what) == BAD)
      return BAD;
    return ADQL_T_COND;
  }
  case ADQL_N_IN:
    x = want_value(c, n->a, adql__check_expr(c, s, n->a, ctx));
    if (x == BAD)
      return BAD;
    if (n->sub) {
      if (adql__check_select(c, n->sub, s, s->ctes))
        return BAD;
      if (!c->syntax_only && n->sub->nout != 1)
        return fail(c, n->loc, "subquery in IN must return exactly one column (it returns %zu)",
                    n->sub->nout),
               BAD;
      if (n->sub->nout == 1 && adql__need_comparable(c, n, x, n->sub->outtype[0], "IN"))
        return BAD;
      return ADQL_T_COND;
    }
    for (size_t i = 0; i < n->args->n; i++) {
      adql_node *e = n->args->items[i];
      y = want_value(c, e, adql__check_expr(c, s, e, ctx));
      if (y == BAD || adql__need_comparable(c, e, x, y, "IN"))
        return BAD;
    }
    return ADQL_T_COND;
  case ADQL_N_ISNULL:
    x = want_value(c, n->a, adql__check_expr(c, s, n->a, ctx));
    return x == BAD ? BAD : ADQL_T_COND;
  case ADQL_N_EXISTS:
    return adql__check_select(c, n->sub, s, s->ctes) ? BAD : ADQL_T_COND;
  case ADQL_N_SUBQUERY:
    return check_subquery_value(c, s, n);
  case ADQL_N_CASE: {
    adql_type res = ADQL_T_UNKNOWN;
    x = ADQL_T_UNKNOWN; /* the operand's type; only read when there is one */
    if (n->a) {
      x = want_value(c, n->a, adql__check_expr(c, s, n->a, ctx));
      if (x == BAD)
        return BAD;
    }
    for (size_t i = 0; i < n->args->n; i++) {
      adql_node *w = n->args->items[i];
      y = adql__check_expr(c, s, w->a, ctx);
      if (y == BAD)
        return BAD;
      if (n->a) {
        if (want_value(c, w->a, y) == BAD || adql__need_comparable(c, w->a, x, y, "CASE"))
          return BAD;
      } else if (y != ADQL_T_COND) {
        return fail(c, w->a->loc, "WHEN needs a condition in a CASE without an operand"), BAD;
      }
      z = want_value(c, w->b, adql__check_expr(c, s, w->b, ctx));
      if (z == BAD || (res = adql__common_type(c, w->b->loc, res, z, "CASE")) == BAD)
        return BAD;
    }
    if (n->b) {
      z = want_value(c, n->b, adql__check_expr(c, s, n->b, ctx));
      if (z == BAD || (res = adql__common_type(c, n->b->loc, res, z, "CASE")) == BAD)
        return BAD;
    }
    return res;
  }
  case ADQL_N_WHEN:
    return fail(c, n->loc, "WHEN outside CASE"), BAD;
  case ADQL_N_CAST:
    return check_cast(c, s, n, ctx);
  case ADQL_N_COALESCE: {
    adql_type res = ADQL_T_UNKNOWN;
    for (size_t i = 0; i < n->args->n; i++) {
      adql_node *e = n->args->items[i];
      y = want_value(c, e, adql__check_expr(c, s, e, ctx));
      if (y == BAD || (res = adql__common_type(c, e->loc, res, y, "COALESCE")) == BAD)
        return BAD;
    }
    return res;
  }
  }
  return fail(c, n->loc, "unsupported expression"), BAD;
}

adql_type adql__check_expr(chk *c, adql_scope *s, adql_node *n, int ctx)
{
  adql_type t;
  if (enter(c, n->loc))
    return BAD;
  t = check_expr_inner(c, s, n, ctx);
  c->depth--;
  if (t != BAD)
    n->type = t;
  return t;
}

int adql__check_cond(chk *c, adql_scope *s, adql_node *n, int ctx, const char *clause)
{
  adql_type t = adql__check_expr(c, s, n, ctx);
  if (t == BAD)
    return -1;
  if (t != ADQL_T_COND)
    return fail(c, n->loc, "%s needs a condition, not a %s value", clause, adql__type_name(t)), -1;
  return 0;
}
