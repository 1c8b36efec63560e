/* adql/check.c: the semantic pass (PostgreSQL's analyze.c + parse_*.c).
 *
 * Resolves every table and column of a raw AST against adql_meta, builds
 * one scope per SELECT (with a parent link, for correlated subqueries),
 * assigns a type to every expression, checks that conditions and values
 * stay apart and that operands fit, and computes the result columns.
 *
 * Name rules. A published name written in double quotes in TAP_SCHEMA
 * ("Mixed") is a delimited identifier and matches only exactly; any other
 * published name matches a regular identifier of the query without regard
 * to case and a delimited one exactly. Aliases compare by their canonical
 * form: regular ones folded to lower case, delimited ones as written.
 *
 * Syntax-only mode (adql_check_syntax) runs the same walk without metadata:
 * tables and columns are accepted as written and have unknown types, so
 * only structural errors (aggregates in WHERE, function arity, unknown
 * functions when UDFs are declared) are reported.
 *
 * This file holds the entry points and the walk over queries, set
 * operations and WITH; the rest of the pass is split the way PostgreSQL
 * splits parse_*.c: check_names.c, check_from.c, check_type.c,
 * check_expr.c, check_func.c, check_geom.c, check_target.c (state and
 * cross-file declarations in check_int.h). */
#include "adql/check_int.h"

/* ---- queries ----------------------------------------------------------------- */

static int check_core(chk *c, adql_select *s, adql_scope *parent, adql_list *ctes)
{
  adql_scope *sc = alloc(c, sizeof *sc);
  if (!sc)
    return -1;
  sc->parent = parent;
  sc->ctes = ctes;
  sc->sel = s;
  s->scope = sc;
  for (size_t i = 0; i < s->from->n; i++)
    if (adql__add_from(c, sc, s->from->items[i]))
      return -1;
  if (s->where && adql__check_cond(c, sc, s->where, CTX_NOAGG, "WHERE"))
    return -1;
  for (size_t i = 0; i < s->targets->n; i++) {
    adql_target *tg = s->targets->items[i];
    if (tg->star) {
      if (tg->nqual == 3 && !c->syntax_only)
        return fail(c, tg->qual[0].loc, "catalog names are not supported (\"%s\")",
                    tg->qual[0].name),
               -1;
      continue;
    }
    if (want_value(c, tg->expr, adql__check_expr(c, sc, tg->expr, 0)) == BAD)
      return -1;
  }
  if (adql__build_outputs(c, s))
    return -1;
  if (adql__check_group(c, s))
    return -1;
  if (s->having && adql__check_cond(c, sc, s->having, 0, "HAVING"))
    return -1;
  return 0;
}

static int check_select_inner(chk *c, adql_select *s, adql_scope *parent, adql_list *ctes)
{
  if (s->with) {
    /* Each CTE sees the ones before it. */
    adql_list *visible = NULL;
    for (size_t i = 0; i < s->with->n; i++) {
      adql_cte *cte = s->with->items[i];
      if (adql__find_cte(visible, &cte->name))
        return fail(c, cte->loc, "WITH query name \"%s\" is used more than once", cte->name.name),
               -1;
      if (adql__check_select(c, cte->query, parent, visible ? visible : ctes))
        return -1;
      const char *canon = adql__canon_alias(c, &cte->name);
      cte->sqlname = canon ? adql__quote_ident(c, canon) : NULL;
      if (!cte->sqlname)
        return -1;
      adql_list *nl = alloc(c, sizeof *nl);
      if (!nl)
        return -1;
      size_t base = ctes ? ctes->n : 0, have = visible ? visible->n : base;
      nl->items = alloc(c, (have + 1) * sizeof *nl->items);
      if (!nl->items)
        return -1;
      adql_list *from = visible ? visible : ctes;
      for (size_t k = 0; from && k < from->n; k++)
        nl->items[k] = from->items[k];
      nl->n = (from ? from->n : 0);
      nl->items[nl->n++] = cte;
      nl->cap = nl->n;
      visible = nl;
    }
    ctes = visible;
  }
  if (s->setop == ADQL_SET_NONE) {
    if (check_core(c, s, parent, ctes))
      return -1;
    return adql__check_order(c, s, s);
  }
  if (adql__check_select(c, s->larg, parent, ctes) || adql__check_select(c, s->rarg, parent, ctes))
    return -1;
  if (!c->syntax_only && s->larg->nout != s->rarg->nout)
    return fail(c, s->rarg->loc,
                "each side of %s must return the same number of columns (%zu "
                "and %zu)",
                s->setop == ADQL_SET_UNION    ? "UNION"
                : s->setop == ADQL_SET_EXCEPT ? "EXCEPT"
                                              : "INTERSECT",
                s->larg->nout, s->rarg->nout),
           -1;
  /* The output is the left side's, types widened over both. */
  s->nout = s->larg->nout;
  s->out = s->larg->out;
  s->outcols = alloc(c, (s->nout ? s->nout : 1) * sizeof *s->outcols);
  s->outtype = alloc(c, (s->nout ? s->nout : 1) * sizeof *s->outtype);
  if (!s->outcols || !s->outtype)
    return -1;
  for (size_t i = 0; i < s->nout; i++) {
    /* Syntax-only mode does not expand *, so the sides may differ. */
    adql_type rt = i < s->rarg->nout ? s->rarg->outtype[i] : ADQL_T_UNKNOWN;
    adql_type t = adql__common_type(c, s->rarg->loc, s->larg->outtype[i], rt, "a set operation");
    if (t == BAD)
      return -1;
    s->outtype[i] = t;
    s->outcols[i].sql_alias = s->larg->outcols[i].sql_alias;
  }
  return adql__check_order(c, s, NULL);
}

int adql__check_select(chk *c, adql_select *s, adql_scope *parent, adql_list *ctes)
{
  int rc;
  if (enter(c, s->loc))
    return -1;
  rc = check_select_inner(c, s, parent, ctes);
  c->depth--;
  return rc;
}

static ts_err run_check(adql_query *q, chk *c)
{
  if (!q || !q->sel)
    return ts_fail(c->err, TS_EINVAL, 0, "no parsed query");
  if (c->err)
    ts_error_clear(c->err);
  if (adql__check_select(c, q->sel, NULL, NULL)) {
    if (!c->failed)
      oom(c);
    return c->err ? c->err->code : TS_EADQL;
  }
  return TS_OK;
}

ts_err adql_check(adql_query *q, const adql_meta *meta, ts_error *err)
{
  chk c = {q, meta, NULL, 0, 0, err, q ? q->arena : NULL, 0, 0};
  ts_err rc;
  if (!meta)
    return ts_fail(err, TS_EINVAL, 0, "no metadata to check the query against");
  rc = run_check(q, &c);
  if (c.failed && err && err->code == TS_OK)
    return TS_ENOMEM;
  if (rc == TS_OK) {
    q->checked = 1;
    q->meta = meta;
  }
  return rc;
}

ts_err adql_check_syntax(adql_query *q, const adql_udf *udfs, size_t nudfs, ts_error *err)
{
  chk c = {q, NULL, udfs, nudfs, 1, err, q ? q->arena : NULL, 0, 0};
  ts_err rc = run_check(q, &c);
  if (rc == TS_OK)
    q->syntax_only = 1;
  return rc;
}

size_t adql_result_ncols(const adql_query *q)
{
  return q && q->checked ? q->sel->nout : 0;
}

const adql_column_meta *adql_result_col(const adql_query *q, size_t i)
{
  if (!q || !q->checked || i >= q->sel->nout)
    return NULL;
  return &q->sel->out[i];
}
