/* adql/translate_expr.c: expressions to SQL.
 *
 * Every compound expression in parentheses, column references from the
 * checker's range variables, function calls (built-ins, their numeric
 * variants, UDF templates), aggregates with the casts that keep their
 * result types, and subqueries. */
#include "adql/translate_int.h"

#include <string.h>

void adql__tr_list(tr *t, const adql_list *l)
{
  for (size_t i = 0; l && i < l->n; i++) {
    if (i)
      put(t, ", ");
    adql__tr_expr(t, l->items[i]);
  }
}

void adql__tr_colref(tr *t, const adql_rangevar *rv, int col, int unqualified)
{
  if (!unqualified) {
    put(t, rv->sqlname);
    put(t, ".");
  }
  put_ident(t, rv->cols[col].db);
}

static void tr_func(tr *t, const adql_node *n)
{
  const adql_func *fn = n->fn;
  size_t nargs = n->args ? n->args->n : 0;
  if (n->udf) {
    const char *tpl = n->udf->sql;
    if (!tpl || !*tpl) {
      put(t, n->udf->name);
      put(t, "(");
      adql__tr_list(t, n->args);
      put(t, ")");
      return;
    }
    /* $1..$9 are the translated arguments; anything else is copied. */
    for (const char *p = tpl; *p; p++) {
      if (p[0] == '$' && p[1] >= '1' && p[1] <= '9' && (size_t)(p[1] - '0') <= nargs) {
        put(t, "(");
        adql__tr_expr(t, n->args->items[p[1] - '1']);
        put(t, ")");
        p++;
      } else {
        putn(t, p, 1);
      }
    }
    return;
  }
  if (!fn) {
    /* syntax-only mode never reaches the translator; keep it total anyway */
    t->rc = TS_EINTERNAL;
    return;
  }
  switch (fn->cls) {
  case ADQL_FN_GEOM:
    adql__tr_geomfn(t, n);
    return;
  case ADQL_FN_INUNIT:
    put(t, "(CAST(");
    adql__tr_expr(t, n->args->items[0]);
    put(t, " AS double precision) * ");
    adql__put_double(t, n->unit_factor);
    put(t, ")");
    return;
  case ADQL_FN_ROUNDLIKE:
    if (nargs == 2) {
      /* PostgreSQL has round/trunc(numeric, int) only. */
      put(t, "CAST(");
      put(t, fn->pg);
      put(t, "(CAST(");
      adql__tr_expr(t, n->args->items[0]);
      put(t, " AS numeric), ");
      adql__tr_expr(t, n->args->items[1]);
      put(t, ") AS double precision)");
      return;
    }
    break;
  case ADQL_FN_MOD:
    if (n->argtype_numeric) {
      put(t, "CAST(mod(CAST(");
      adql__tr_expr(t, n->args->items[0]);
      put(t, " AS numeric), CAST(");
      adql__tr_expr(t, n->args->items[1]);
      put(t, " AS numeric)) AS double precision)");
      return;
    }
    break;
  default:
    break;
  }
  put(t, fn->pg);
  put(t, "(");
  adql__tr_list(t, n->args);
  put(t, ")");
}

static void tr_agg(tr *t, const adql_node *n)
{
  static const char *const names[] = {"count", "min", "max", "sum", "avg"};
  adql_type at = n->a ? n->a->type : ADQL_T_UNKNOWN;
  /* avg of integers and sum of bigints are numeric in PostgreSQL: cast to
   * the double that adql_result_col() announces. */
  int cast = (n->op == ADQL_AGG_AVG && at != ADQL_T_DOUBLE && at != ADQL_T_FLOAT) ||
             (n->op == ADQL_AGG_SUM && at == ADQL_T_LONG);
  if (cast)
    put(t, "CAST(");
  put(t, names[n->op]);
  put(t, "(");
  if (n->flag & ADQL_F_STAR)
    put(t, "*");
  else {
    if (n->flag & ADQL_F_DISTINCT)
      put(t, "DISTINCT ");
    adql__tr_expr(t, n->a);
  }
  put(t, ")");
  if (cast)
    put(t, " AS double precision)");
}

void adql__tr_subquery(tr *t, const adql_select *s)
{
  put(t, "(");
  adql__tr_select(t, s, -1, 0);
  put(t, ")");
}

/* "(a op b)" for a binary node: the parentheses keep ADQL's grouping
 * whatever PostgreSQL's precedence for the operator is. */
static void tr_binop(tr *t, const adql_node *n, const char *op)
{
  put(t, "(");
  adql__tr_expr(t, n->a);
  put(t, op);
  adql__tr_expr(t, n->b);
  put(t, ")");
}

static void tr_expr_inner(tr *t, const adql_node *n)
{
  static const char *const cmp[] = {" = ", " <> ", " < ", " > ", " <= ", " >= "};
  switch (n->kind) {
  case ADQL_N_INT:
    put(t, n->text);
    if (n->type == ADQL_T_DOUBLE)
      put(t, "::float8"); /* beyond bigint */
    break;
  case ADQL_N_REAL:
    put(t, n->text);
    put(t, "::float8");
    break;
  case ADQL_N_STRING:
    put_string(t, n->text);
    break;
  case ADQL_N_NULL:
    put(t, "NULL");
    break;
  case ADQL_N_COLUMN:
    if (n->target_sql)
      put_ident(t, n->target_sql);
    else
      adql__tr_colref(t, n->rv, n->rvcol, n->unqualified);
    break;
  case ADQL_N_NEG:
    put(t, "(-");
    adql__tr_expr(t, n->a);
    put(t, ")");
    break;
  case ADQL_N_ARITH: {
    char op[4] = {' ', (char)n->op, ' ', 0};
    tr_binop(t, n, op);
    break;
  }
  case ADQL_N_BITOP: {
    /* PostgreSQL's xor is #; ^ is its power operator */
    const char *op = n->op == '&' ? " & " : n->op == '|' ? " | " : " # ";
    tr_binop(t, n, op);
    break;
  }
  case ADQL_N_BITNOT:
    put(t, "(~");
    adql__tr_expr(t, n->a);
    put(t, ")");
    break;
  case ADQL_N_CONCAT:
    tr_binop(t, n, " || ");
    break;
  case ADQL_N_FUNC:
    tr_func(t, n);
    break;
  case ADQL_N_AGG:
    tr_agg(t, n);
    break;
  case ADQL_N_CMP:
    if (adql__tr_geom_cmp(t, n) || adql__tr_distance_cmp(t, n))
      break;
    tr_binop(t, n, cmp[n->op]);
    break;
  case ADQL_N_AND:
  case ADQL_N_OR:
    tr_binop(t, n, n->kind == ADQL_N_AND ? " AND " : " OR ");
    break;
  case ADQL_N_NOT:
    put(t, "(NOT ");
    adql__tr_expr(t, n->a);
    put(t, ")");
    break;
  case ADQL_N_BETWEEN:
    put(t, "(");
    adql__tr_expr(t, n->a);
    put(t, n->negated ? " NOT BETWEEN " : " BETWEEN ");
    adql__tr_expr(t, n->b);
    put(t, " AND ");
    adql__tr_expr(t, n->c);
    put(t, ")");
    break;
  case ADQL_N_LIKE:
    put(t, "(");
    adql__tr_expr(t, n->a);
    if (n->negated)
      put(t, " NOT");
    put(t, n->flag & ADQL_F_ILIKE ? " ILIKE " : " LIKE ");
    adql__tr_expr(t, n->b);
    put(t, ")");
    break;
  case ADQL_N_IN:
    put(t, "(");
    adql__tr_expr(t, n->a);
    put(t, n->negated ? " NOT IN " : " IN ");
    if (n->sub) {
      adql__tr_subquery(t, n->sub);
    } else {
      put(t, "(");
      adql__tr_list(t, n->args);
      put(t, ")");
    }
    put(t, ")");
    break;
  case ADQL_N_ISNULL:
    put(t, "(");
    adql__tr_expr(t, n->a);
    put(t, n->negated ? " IS NOT NULL)" : " IS NULL)");
    break;
  case ADQL_N_EXISTS:
    put(t, "EXISTS ");
    adql__tr_subquery(t, n->sub);
    break;
  case ADQL_N_SUBQUERY:
    adql__tr_subquery(t, n->sub);
    break;
  case ADQL_N_CASE:
    put(t, "CASE");
    if (n->a) {
      put(t, " ");
      adql__tr_expr(t, n->a);
    }
    for (size_t i = 0; i < n->args->n; i++) {
      const adql_node *w = n->args->items[i];
      put(t, " WHEN ");
      adql__tr_expr(t, w->a);
      put(t, " THEN ");
      adql__tr_expr(t, w->b);
    }
    if (n->b) {
      put(t, " ELSE ");
      adql__tr_expr(t, n->b);
    }
    put(t, " END");
    break;
  case ADQL_N_WHEN:
    t->rc = TS_EINTERNAL;
    break;
  case ADQL_N_CAST: {
    if (n->type == ADQL_T_GEOMETRY) {
      adql__tr_cast_geom(t, n);
      break;
    }
    const char *paren = strchr(n->name.name, '(');
    put(t, "CAST(");
    adql__tr_expr(t, n->a);
    put(t, " AS ");
    put(t, n->text);
    if (paren)
      put(t, paren); /* "(n)": digits only, from the grammar */
    put(t, ")");
    break;
  }
  case ADQL_N_COALESCE:
    put(t, "COALESCE(");
    adql__tr_list(t, n->args);
    put(t, ")");
    break;
  }
}

void adql__tr_expr(tr *t, const adql_node *n)
{
  if (enter(t, n->loc))
    return;
  tr_expr_inner(t, n);
  t->depth--;
}
