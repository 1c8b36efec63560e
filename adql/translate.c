/* adql/translate.c: checked AST -> PostgreSQL SQL.
 *
 * Rules that keep the output safe and predictable:
 * - every identifier is emitted quoted, exactly once, from the db_* names
 *   (or the folded published name) -- never from user text directly, except
 *   aliases, which are quoted like any identifier;
 * - string literals are emitted with quotes doubled (the server runs with
 *   standard_conforming_strings on, so backslashes are plain characters);
 * - every compound expression is parenthesised, so PostgreSQL's operator
 *   precedence never has to agree with ADQL's;
 * - decimal literals become float8 (ADQL's approximate numbers; PostgreSQL
 *   would make them numeric), and the functions PostgreSQL only has for
 *   numeric (round/trunc with digits, mod on non-integers) go through a
 *   numeric cast and back, so result types match adql_result_col();
 * - integer division stays integer division (PostgreSQL's semantics);
 * - every select-list item gets AS "name" with the unique output name.
 *
 * This file holds the entry point, queries, set operations, WITH and FROM;
 * expressions are in translate_expr.c, geometry in translate_geom.c (state
 * and cross-file declarations in translate_int.h). */
#include "adql/translate_int.h"

#include <stdio.h>
#include <string.h>

#define ADQL_MAX_SQL_BYTES (8u * 1024 * 1024)

static void tr_from(tr *t, const adql_from *f);

/* ---- FROM ------------------------------------------------------------------ */

static void tr_from_inner(tr *t, const adql_from *f)
{
  static const char *const joins[] = {" JOIN ", " LEFT OUTER JOIN ", " RIGHT OUTER JOIN ",
                                      " FULL OUTER JOIN ", " CROSS JOIN "};
  switch (f->kind) {
  case ADQL_FROM_TABLE:
    put(t, f->rv->sqltable);
    if (f->alias.name) {
      put(t, " AS ");
      put(t, f->rv->sqlname);
    }
    break;
  case ADQL_FROM_SUBQUERY:
    adql__tr_subquery(t, f->sub);
    put(t, " AS ");
    put(t, f->rv->sqlname);
    break;
  case ADQL_FROM_JOIN:
    tr_from(t, f->left);
    if (f->natural)
      put(t, " NATURAL");
    put(t, joins[f->jointype]);
    if (f->right->kind == ADQL_FROM_JOIN) {
      put(t, "(");
      tr_from(t, f->right);
      put(t, ")");
    } else {
      tr_from(t, f->right);
    }
    if (f->on) {
      put(t, " ON ");
      adql__tr_expr(t, f->on);
    } else if (f->using_cols) {
      put(t, " USING (");
      for (size_t i = 0; i < f->using_cols->n; i++) {
        if (i)
          put(t, ", ");
        put_ident(t, f->using_db[i]);
      }
      put(t, ")");
    }
    break;
  }
}

static void tr_from(tr *t, const adql_from *f)
{
  if (enter(t, f->loc))
    return;
  tr_from_inner(t, f);
  t->depth--;
}

static void tr_core(tr *t, const adql_select *s, int top)
{
  put(t, "SELECT ");
  if (s->distinct)
    put(t, "DISTINCT ");
  for (size_t i = 0; i < s->nout; i++) {
    const adql_outcol *oc = &s->outcols[i];
    if (i)
      put(t, ", ");
    if (top && s->outtype[i] == ADQL_T_GEOMETRY) {
      if (oc->expr) {
        adql__tr_geom_array(t, oc->expr);
      } else {
        /* a geometry column from *: convert like a column reference */
        adql_node col;
        memset(&col, 0, sizeof col);
        col.kind = ADQL_N_COLUMN;
        col.type = ADQL_T_GEOMETRY;
        col.rv = oc->rv;
        col.rvcol = oc->rvcol;
        col.unqualified = oc->unqualified;
        col.gkind = adql__gkind_of_meta(oc->rv->cols[oc->rvcol].meta);
        adql__tr_geom_array(t, &col);
      }
    } else if (oc->expr)
      adql__tr_expr(t, oc->expr);
    else
      adql__tr_colref(t, oc->rv, oc->rvcol, oc->unqualified);
    put(t, " AS ");
    put_ident(t, oc->sql_alias);
  }
  put(t, " FROM ");
  for (size_t i = 0; i < s->from->n; i++) {
    if (i)
      put(t, ", ");
    tr_from(t, s->from->items[i]);
  }
  if (s->where) {
    put(t, " WHERE ");
    adql__tr_expr(t, s->where);
  }
  if (s->groupby) {
    put(t, " GROUP BY ");
    adql__tr_list(t, s->groupby);
  }
  if (s->having) {
    put(t, " HAVING ");
    adql__tr_expr(t, s->having);
  }
}

static void put_int(tr *t, int64_t v)
{
  char num[32];
  snprintf(num, sizeof num, "%lld", (long long)v);
  put(t, num);
}

/* `limit` >= 0 caps the rows of this query (max_rows at the top level). */
static void tr_select_inner(tr *t, const adql_select *s, int64_t limit, int top)
{
  static const char *const setops[] = {"", " UNION ", " EXCEPT ", " INTERSECT "};
  int64_t lim = s->setop == ADQL_SET_NONE && s->has_top ? s->top : -1;
  if (limit >= 0 && (lim < 0 || limit < lim))
    lim = limit;
  if (s->with) {
    put(t, "WITH ");
    for (size_t i = 0; i < s->with->n; i++) {
      const adql_cte *cte = s->with->items[i];
      if (i)
        put(t, ", ");
      put(t, cte->sqlname);
      put(t, " AS ");
      adql__tr_subquery(t, cte->query);
    }
    put(t, " ");
  }
  if (s->setop == ADQL_SET_NONE) {
    tr_core(t, s, top);
  } else {
    /* Each side in parentheses: a side's own TOP, ORDER BY and OFFSET stay
     * its own, and ADQL's grouping of set operations is kept whatever
     * PostgreSQL's precedence. */
    put(t, "(");
    adql__tr_select(t, s->larg, -1, top);
    put(t, ")");
    put(t, setops[s->setop]);
    if (s->setall)
      put(t, "ALL ");
    put(t, "(");
    adql__tr_select(t, s->rarg, -1, top);
    put(t, ")");
  }
  if (s->orderby) {
    put(t, " ORDER BY ");
    for (size_t i = 0; i < s->orderby->n; i++) {
      const adql_orderitem *oi = s->orderby->items[i];
      if (i)
        put(t, ", ");
      adql__tr_expr(t, oi->expr);
      if (oi->desc)
        put(t, " DESC");
    }
  }
  if (lim >= 0) {
    put(t, " LIMIT ");
    put_int(t, lim);
  }
  if (s->has_offset) {
    put(t, " OFFSET ");
    put_int(t, s->offset);
  }
}

void adql__tr_select(tr *t, const adql_select *s, int64_t limit, int top)
{
  if (enter(t, s->loc))
    return;
  tr_select_inner(t, s, limit, top);
  t->depth--;
}

ts_err adql_translate(adql_query *q, int64_t max_rows, ts_arena *a, char **sql, ts_error *err)
{
  tr t;
  *sql = NULL;
  if (!q || !q->checked)
    return ts_fail(err, TS_EINVAL, 0, "the query must pass adql_check before translation");
  memset(&t, 0, sizeof t);
  t.q = q;
  ts_buf_init(&t.b, ADQL_MAX_SQL_BYTES);
  adql__tr_select(&t, q->sel, max_rows < 0 ? -1 : max_rows, 1);
  if (t.rc == TS_OK) {
    *sql = ts_arena_strndup(a, t.b.data ? t.b.data : "", t.b.len);
    if (!*sql)
      t.rc = TS_ENOMEM;
  }
  ts_buf_free(&t.b);
  if (t.rc == TS_ENOMEM)
    return ts_fail(err, TS_ENOMEM, 0, "translated query needs more memory than a request may use");
  if (t.rc == TS_EADQL)
    return adql__failq(q, err, t.depth_loc, ADQL_DEPTH_FMT, ADQL_MAX_DEPTH);
  if (t.rc != TS_OK)
    return ts_fail(err, t.rc, 0, "query could not be translated");
  return TS_OK;
}
