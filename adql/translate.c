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
 * - every select-list item gets AS "name" with the unique output name. */
#include "adql/adql_int.h"

#include <stdio.h>
#include <string.h>

#define ADQL_MAX_SQL_BYTES (8u * 1024 * 1024)

typedef struct tr {
  ts_buf b;
  ts_err rc;
  const adql_query *q;
} tr;

static void put(tr *t, const char *s)
{
  if (t->rc == TS_OK && ts_buf_puts(&t->b, s) != TS_OK)
    t->rc = TS_ENOMEM;
}

static void putn(tr *t, const char *s, size_t n)
{
  if (t->rc == TS_OK && ts_buf_append(&t->b, s, n) != TS_OK)
    t->rc = TS_ENOMEM;
}

static void put_ident(tr *t, const char *s)
{
  put(t, "\"");
  for (const char *p = s; *p; p++) {
    if (*p == '"')
      putn(t, "\"\"", 2);
    else
      putn(t, p, 1);
  }
  put(t, "\"");
}

static void put_string(tr *t, const char *s)
{
  put(t, "'");
  for (const char *p = s; *p; p++) {
    if (*p == '\'')
      putn(t, "''", 2);
    else
      putn(t, p, 1);
  }
  put(t, "'");
}

static void tr_select(tr *t, const adql_select *s, int64_t limit);
static void tr_expr(tr *t, const adql_node *n);

static void tr_list(tr *t, const adql_list *l)
{
  for (size_t i = 0; l && i < l->n; i++) {
    if (i)
      put(t, ", ");
    tr_expr(t, l->items[i]);
  }
}

static void tr_colref(tr *t, const adql_rangevar *rv, int col, int unqualified)
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
      tr_list(t, n->args);
      put(t, ")");
      return;
    }
    /* $1..$9 are the translated arguments; anything else is copied. */
    for (const char *p = tpl; *p; p++) {
      if (p[0] == '$' && p[1] >= '1' && p[1] <= '9' && (size_t)(p[1] - '0') <= nargs) {
        put(t, "(");
        tr_expr(t, n->args->items[p[1] - '1']);
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
  case ADQL_FN_ROUNDLIKE:
    if (nargs == 2) {
      /* PostgreSQL has round/trunc(numeric, int) only. */
      put(t, "CAST(");
      put(t, fn->pg);
      put(t, "(CAST(");
      tr_expr(t, n->args->items[0]);
      put(t, " AS numeric), ");
      tr_expr(t, n->args->items[1]);
      put(t, ") AS double precision)");
      return;
    }
    break;
  case ADQL_FN_MOD:
    if (n->argtype_numeric) {
      put(t, "CAST(mod(CAST(");
      tr_expr(t, n->args->items[0]);
      put(t, " AS numeric), CAST(");
      tr_expr(t, n->args->items[1]);
      put(t, " AS numeric)) AS double precision)");
      return;
    }
    break;
  default:
    break;
  }
  put(t, fn->pg);
  put(t, "(");
  tr_list(t, n->args);
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
    tr_expr(t, n->a);
  }
  put(t, ")");
  if (cast)
    put(t, " AS double precision)");
}

static void tr_subquery(tr *t, const adql_select *s)
{
  put(t, "(");
  tr_select(t, s, -1);
  put(t, ")");
}

static void tr_expr(tr *t, const adql_node *n)
{
  static const char *const cmp[] = {" = ", " <> ", " < ", " > ", " <= ", " >= "};
  if (t->rc != TS_OK)
    return;
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
      tr_colref(t, n->rv, n->rvcol, n->unqualified);
    break;
  case ADQL_N_NEG:
    put(t, "(-");
    tr_expr(t, n->a);
    put(t, ")");
    break;
  case ADQL_N_ARITH: {
    char op[4] = {' ', (char)n->op, ' ', 0};
    put(t, "(");
    tr_expr(t, n->a);
    put(t, op);
    tr_expr(t, n->b);
    put(t, ")");
    break;
  }
  case ADQL_N_CONCAT:
    put(t, "(");
    tr_expr(t, n->a);
    put(t, " || ");
    tr_expr(t, n->b);
    put(t, ")");
    break;
  case ADQL_N_FUNC:
    tr_func(t, n);
    break;
  case ADQL_N_AGG:
    tr_agg(t, n);
    break;
  case ADQL_N_CMP:
    put(t, "(");
    tr_expr(t, n->a);
    put(t, cmp[n->op]);
    tr_expr(t, n->b);
    put(t, ")");
    break;
  case ADQL_N_AND:
  case ADQL_N_OR:
    put(t, "(");
    tr_expr(t, n->a);
    put(t, n->kind == ADQL_N_AND ? " AND " : " OR ");
    tr_expr(t, n->b);
    put(t, ")");
    break;
  case ADQL_N_NOT:
    put(t, "(NOT ");
    tr_expr(t, n->a);
    put(t, ")");
    break;
  case ADQL_N_BETWEEN:
    put(t, "(");
    tr_expr(t, n->a);
    put(t, n->negated ? " NOT BETWEEN " : " BETWEEN ");
    tr_expr(t, n->b);
    put(t, " AND ");
    tr_expr(t, n->c);
    put(t, ")");
    break;
  case ADQL_N_LIKE:
    put(t, "(");
    tr_expr(t, n->a);
    if (n->negated)
      put(t, " NOT");
    put(t, n->flag & ADQL_F_ILIKE ? " ILIKE " : " LIKE ");
    tr_expr(t, n->b);
    put(t, ")");
    break;
  case ADQL_N_IN:
    put(t, "(");
    tr_expr(t, n->a);
    put(t, n->negated ? " NOT IN " : " IN ");
    if (n->sub) {
      tr_subquery(t, n->sub);
    } else {
      put(t, "(");
      tr_list(t, n->args);
      put(t, ")");
    }
    put(t, ")");
    break;
  case ADQL_N_ISNULL:
    put(t, "(");
    tr_expr(t, n->a);
    put(t, n->negated ? " IS NOT NULL)" : " IS NULL)");
    break;
  case ADQL_N_EXISTS:
    put(t, "EXISTS ");
    tr_subquery(t, n->sub);
    break;
  case ADQL_N_SUBQUERY:
    tr_subquery(t, n->sub);
    break;
  case ADQL_N_CASE:
    put(t, "CASE");
    if (n->a) {
      put(t, " ");
      tr_expr(t, n->a);
    }
    for (size_t i = 0; i < n->args->n; i++) {
      const adql_node *w = n->args->items[i];
      put(t, " WHEN ");
      tr_expr(t, w->a);
      put(t, " THEN ");
      tr_expr(t, w->b);
    }
    if (n->b) {
      put(t, " ELSE ");
      tr_expr(t, n->b);
    }
    put(t, " END");
    break;
  case ADQL_N_WHEN:
    t->rc = TS_EINTERNAL;
    break;
  case ADQL_N_CAST: {
    const char *paren = strchr(n->name.name, '(');
    put(t, "CAST(");
    tr_expr(t, n->a);
    put(t, " AS ");
    put(t, n->text);
    if (paren)
      put(t, paren); /* "(n)": digits only, from the grammar */
    put(t, ")");
    break;
  }
  case ADQL_N_COALESCE:
    put(t, "COALESCE(");
    tr_list(t, n->args);
    put(t, ")");
    break;
  }
}

/* ---- FROM ------------------------------------------------------------------ */

static void tr_from(tr *t, const adql_from *f)
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
    tr_subquery(t, f->sub);
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
      tr_expr(t, f->on);
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

static void tr_core(tr *t, const adql_select *s)
{
  put(t, "SELECT ");
  if (s->distinct)
    put(t, "DISTINCT ");
  for (size_t i = 0; i < s->nout; i++) {
    const adql_outcol *oc = &s->outcols[i];
    if (i)
      put(t, ", ");
    if (oc->expr)
      tr_expr(t, oc->expr);
    else
      tr_colref(t, oc->rv, oc->rvcol, oc->unqualified);
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
    tr_expr(t, s->where);
  }
  if (s->groupby) {
    put(t, " GROUP BY ");
    tr_list(t, s->groupby);
  }
  if (s->having) {
    put(t, " HAVING ");
    tr_expr(t, s->having);
  }
}

static void put_int(tr *t, int64_t v)
{
  char num[32];
  snprintf(num, sizeof num, "%lld", (long long)v);
  put(t, num);
}

/* `limit` >= 0 caps the rows of this query (max_rows at the top level). */
static void tr_select(tr *t, const adql_select *s, int64_t limit)
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
      tr_subquery(t, cte->query);
    }
    put(t, " ");
  }
  if (s->setop == ADQL_SET_NONE) {
    tr_core(t, s);
  } else {
    /* Each side in parentheses: a side's own TOP (LIMIT) stays its own. */
    int lparen = s->larg->setop == ADQL_SET_NONE;
    if (lparen)
      put(t, "(");
    tr_select(t, s->larg, -1);
    if (lparen)
      put(t, ")");
    put(t, setops[s->setop]);
    if (s->setall)
      put(t, "ALL ");
    put(t, "(");
    tr_select(t, s->rarg, -1);
    put(t, ")");
  }
  if (s->orderby) {
    put(t, " ORDER BY ");
    for (size_t i = 0; i < s->orderby->n; i++) {
      const adql_orderitem *oi = s->orderby->items[i];
      if (i)
        put(t, ", ");
      tr_expr(t, oi->expr);
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

ts_err adql_translate(adql_query *q, int64_t max_rows, ts_arena *a, char **sql, ts_error *err)
{
  tr t;
  *sql = NULL;
  if (!q || !q->checked)
    return ts_fail(err, TS_EINVAL, 0, "the query must pass adql_check before translation");
  memset(&t, 0, sizeof t);
  t.q = q;
  ts_buf_init(&t.b, ADQL_MAX_SQL_BYTES);
  tr_select(&t, q->sel, max_rows < 0 ? -1 : max_rows);
  if (t.rc == TS_OK) {
    *sql = ts_arena_strndup(a, t.b.data ? t.b.data : "", t.b.len);
    if (!*sql)
      t.rc = TS_ENOMEM;
  }
  ts_buf_free(&t.b);
  if (t.rc == TS_ENOMEM)
    return ts_fail(err, TS_ENOMEM, 0, "translated query needs more memory than a request may use");
  if (t.rc != TS_OK)
    return ts_fail(err, t.rc, 0, "query could not be translated");
  return TS_OK;
}
