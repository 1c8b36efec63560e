/* adql/check_from.c: the FROM clause (PostgreSQL's parse_clause.c, FROM).
 *
 * Turns each FROM item into range variables in the SELECT's scope: published
 * tables (found by schema and table name), WITH queries, derived tables and
 * joins, with USING and NATURAL merging their columns. */
#include "adql/check_int.h"

#include <string.h>

static int scope_add(chk *c, adql_scope *s, adql_rangevar *rv)
{
  if (s->nrv == s->caprv) {
    size_t cap = s->caprv ? 2 * s->caprv : 8;
    adql_rangevar **n = alloc(c, cap * sizeof *n);
    if (!n)
      return -1;
    if (s->nrv)
      memcpy(n, s->rvs, s->nrv * sizeof *n);
    s->rvs = n;
    s->caprv = cap;
  }
  s->rvs[s->nrv++] = rv;
  return 0;
}

static const char *rv_label(const adql_rangevar *rv)
{
  return rv->alias.name ? rv->alias.name : rv->tname;
}

static adql_rangevar *rv_from_select(chk *c, adql_from *f, adql_select *sub, const char *tname,
                                     int texact)
{
  adql_rangevar *rv = alloc(c, sizeof *rv);
  if (!rv)
    return NULL;
  rv->from = f;
  rv->tname = tname;
  rv->texact = texact;
  rv->ncols = sub->nout;
  rv->cols = alloc(c, (sub->nout ? sub->nout : 1) * sizeof *rv->cols);
  if (!rv->cols)
    return NULL;
  for (size_t i = 0; i < sub->nout; i++) {
    rv->cols[i].name = sub->out[i].name;
    rv->cols[i].exact = 0;
    rv->cols[i].db = sub->outcols[i].sql_alias;
    rv->cols[i].meta = &sub->out[i];
    rv->cols[i].type = sub->outtype[i];
  }
  return rv;
}

const adql_cte *adql__find_cte(adql_list *ctes, const adql_ident *id)
{
  for (size_t i = 0; ctes && i < ctes->n; i++) {
    const adql_cte *cte = ctes->items[i];
    if (adql__ident_eq(&cte->name, id))
      return cte;
  }
  return NULL;
}

/* The tables a query may name: the published ones, then each per-request
 * layer in chain order. */
typedef struct meta_iter {
  const adql_layer *layer; /* NULL: still in the published tables */
  size_t i;
  int in_layers;
} meta_iter;

static const adql_table_meta *meta_next(const adql_meta *m, meta_iter *it)
{
  if (!it->in_layers) {
    if (it->i < m->ntables)
      return &m->tables[it->i++];
    it->in_layers = 1;
    it->layer = m->layers;
    it->i = 0;
  }
  while (it->layer && it->i >= it->layer->ntables) {
    it->layer = it->layer->next;
    it->i = 0;
  }
  return it->layer ? &it->layer->tables[it->i++] : NULL;
}

void adql_meta_push(const adql_meta *base, adql_layer *l, adql_meta *out)
{
  *out = *base;
  l->next = base->layers;
  out->layers = l;
}

static adql_rangevar *rv_from_table(chk *c, adql_from *f, adql_list *ctes)
{
  const adql_ident *tid = &f->parts[f->nparts - 1];
  const adql_ident *sid = f->nparts >= 2 ? &f->parts[f->nparts - 2] : NULL;
  const adql_table_meta *found = NULL, *t;
  int nfound = 0;
  adql_rangevar *rv;

  if (f->nparts == 3 && !c->syntax_only) {
    fail(c, f->parts[0].loc, "catalog names are not supported (\"%s\")", f->parts[0].name);
    return NULL;
  }
  if (!sid) {
    const adql_cte *cte = adql__find_cte(ctes, tid);
    if (cte) {
      rv = rv_from_select(c, f, cte->query, cte->name.name, cte->name.delimited);
      if (!rv)
        return NULL;
      rv->cte = cte;
      rv->texact = 0;
      rv->sqlname = rv->sqltable = cte->sqlname;
      return rv;
    }
  }
  if (c->syntax_only) {
    rv = alloc(c, sizeof *rv);
    if (rv) {
      rv->from = f;
      rv->tname = tid->name;
      rv->texact = tid->delimited;
      rv->sname = sid ? sid->name : NULL;
      rv->sexact = sid ? sid->delimited : 0;
    }
    return rv;
  }
  for (meta_iter it = {0}; (t = meta_next(c->meta, &it));) {
    int ex;
    const char *tn = adql__unquote_pub(c, t->name, &ex);
    if (!tn)
      return NULL;
    if (!adql__name_match(tid, tn, ex))
      continue;
    if (sid) {
      const char *sn = adql__unquote_pub(c, t->schema, &ex);
      if (!sn || !adql__name_match(sid, sn, ex))
        continue;
    }
    found = t;
    nfound++;
  }
  if (nfound > 1) {
    fail(c, f->loc,
         "table name \"%s\" is ambiguous: several schemas have it; qualify it with "
         "its schema",
         tid->name);
    return NULL;
  }
  if (!found) {
    suggest sg = {0};
    for (meta_iter it = {0}; (t = meta_next(c->meta, &it));)
      adql__suggest_try(&sg, tid->name, t->schema, t->name);
    if (sg.best)
      fail(c, f->loc, "table \"%s%s%s\" does not exist (did you mean \"%s%s%s\"?)",
           sid ? sid->name : "", sid ? "." : "", tid->name, sg.best_prefix ? sg.best_prefix : "",
           sg.best_prefix ? "." : "", sg.best);
    else
      fail(c, f->loc, "table \"%s%s%s\" does not exist", sid ? sid->name : "", sid ? "." : "",
           tid->name);
    return NULL;
  }
  rv = alloc(c, sizeof *rv);
  if (!rv)
    return NULL;
  rv->from = f;
  rv->table = found;
  rv->tname = adql__unquote_pub(c, found->name, &rv->texact);
  rv->sname =
      found->schema && *found->schema ? adql__unquote_pub(c, found->schema, &rv->sexact) : NULL;
  rv->ncols = found->ncols;
  rv->cols = alloc(c, (found->ncols ? found->ncols : 1) * sizeof *rv->cols);
  if (!rv->cols || !rv->tname)
    return NULL;
  for (size_t i = 0; i < found->ncols; i++) {
    const adql_column_meta *m = &found->cols[i];
    rv->cols[i].name = adql__unquote_pub(c, m->name, &rv->cols[i].exact);
    rv->cols[i].db = adql__db_ident(c->a, m->db_name, m->name);
    rv->cols[i].meta = m;
    rv->cols[i].type = adql__type_of_meta(m);
    if (!rv->cols[i].name || !rv->cols[i].db)
      return NULL;
  }
  {
    const char *dbt = adql__db_ident(c->a, found->db_name, found->name);
    const char *dbs = found->db_schema || (found->schema && *found->schema)
                          ? adql__db_ident(c->a, found->db_schema, found->schema)
                          : NULL;
    const char *qt = dbt ? adql__quote_ident(c, dbt) : NULL;
    const char *qs = dbs ? adql__quote_ident(c, dbs) : NULL;
    if (!qt)
      return NULL;
    rv->sqlname = rv->sqltable = qs ? ts_arena_printf(c->a, "%s.%s", qs, qt) : qt;
    if (!rv->sqlname)
      return oom(c), NULL;
  }
  return rv;
}

static int rv_same_name(const adql_rangevar *x, const adql_rangevar *y)
{
  if (x->alias.name && y->alias.name)
    return adql__ident_eq(&x->alias, &y->alias);
  if (x->alias.name)
    return adql__name_match(&x->alias, y->tname, 0) && !y->sname;
  if (y->alias.name)
    return adql__name_match(&y->alias, x->tname, 0) && !x->sname;
  if (x->table && y->table)
    return x->table == y->table;
  return x->tname && y->tname && ts_strcaseeq(x->tname, y->tname) &&
         ((!x->sname && !y->sname) || (x->sname && y->sname && ts_strcaseeq(x->sname, y->sname)));
}

static int mark_merge(chk *c, adql_scope *s, size_t lo, size_t mid, size_t hi, const adql_ident *id,
                      int loc, const char **db)
{
  adql_rangevar *lrv = NULL, *rrv = NULL;
  int lcol = 0, rcol = 0;
  int nl = adql__find_col_in(s, lo, mid, id, &lrv, &lcol);
  int nr = adql__find_col_in(s, mid, hi, id, &rrv, &rcol);
  if (nl == 0 || nr == 0)
    return fail(c, loc, "column \"%s\" named in USING does not exist in the %s side of the join",
                id->name, nl == 0 ? "left" : "right"),
           -1;
  if (nl > 1 || nr > 1)
    return fail(c, loc, "column \"%s\" named in USING is ambiguous in the %s side of the join",
                id->name, nl > 1 ? "left" : "right"),
           -1;
  lrv->cols[lcol].merged = 1;
  rrv->cols[rcol].hidden = 1;
  *db = lrv->cols[lcol].db;
  return 0;
}

static int add_join(chk *c, adql_scope *s, adql_from *f)
{
  size_t lo = s->nrv, mid, hi;
  if (adql__add_from(c, s, f->left))
    return -1;
  mid = s->nrv;
  if (adql__add_from(c, s, f->right))
    return -1;
  hi = s->nrv;
  /* SQL requires a join condition; the ADQL BNF leaves it optional and
   * DaCHS accepts JOIN without one, so the syntax-only check does too,
   * except after an explicit INNER, which the IVOA suite tests as invalid.
   * The full check (what runs) always asks for one. */
  if (!f->has_spec && (!c->syntax_only || f->explicit_inner))
    return fail(c, f->loc,
                "JOIN needs an ON or USING clause (or write NATURAL JOIN or CROSS "
                "JOIN)"),
           -1;
  if (c->syntax_only) {
    if (f->on) {
      size_t ol = s->vis_lo, oh = s->vis_hi;
      int orr = s->restricted;
      s->vis_lo = lo, s->vis_hi = hi, s->restricted = 1;
      int rc = adql__check_cond(c, s, f->on, CTX_NOAGG, "ON");
      s->vis_lo = ol, s->vis_hi = oh, s->restricted = orr;
      return rc;
    }
    return 0;
  }
  if (f->using_cols) {
    f->using_db = alloc(c, f->using_cols->n * sizeof *f->using_db);
    if (!f->using_db)
      return -1;
    for (size_t i = 0; i < f->using_cols->n; i++) {
      const adql_ident *id = f->using_cols->items[i];
      if (mark_merge(c, s, lo, mid, hi, id, id->loc, &f->using_db[i]))
        return -1;
    }
  } else if (f->natural) {
    for (size_t i = lo; i < mid; i++) {
      adql_rangevar *rv = s->rvs[i];
      for (size_t j = 0; j < rv->ncols; j++) {
        adql_rangevar *rrv = NULL;
        int rcol = 0;
        adql_ident id = {rv->cols[j].name, rv->cols[j].exact, f->loc};
        if (rv->cols[j].hidden)
          continue;
        if (adql__find_col_in(s, mid, hi, &id, &rrv, &rcol) == 1) {
          rv->cols[j].merged = 1;
          rrv->cols[rcol].hidden = 1;
        }
      }
    }
  } else if (f->on) {
    size_t ol = s->vis_lo, oh = s->vis_hi;
    int orr = s->restricted;
    s->vis_lo = lo, s->vis_hi = hi, s->restricted = 1;
    int rc = adql__check_cond(c, s, f->on, CTX_NOAGG, "ON");
    s->vis_lo = ol, s->vis_hi = oh, s->restricted = orr;
    return rc;
  }
  return 0;
}

static int add_from_inner(chk *c, adql_scope *s, adql_from *f)
{
  adql_rangevar *rv;
  if (f->kind == ADQL_FROM_JOIN)
    return add_join(c, s, f);
  if (f->kind == ADQL_FROM_SUBQUERY) {
    /* A derived table sees the enclosing queries, not its siblings. */
    if (adql__check_select(c, f->sub, s->parent, s->ctes))
      return -1;
    rv = rv_from_select(c, f, f->sub, f->alias.name, f->alias.delimited);
    if (!rv)
      return -1;
  } else {
    rv = rv_from_table(c, f, s->ctes);
    if (!rv)
      return -1;
  }
  rv->alias = f->alias;
  if (rv->alias.name) {
    const char *ca = adql__canon_alias(c, &rv->alias);
    rv->sqlname = ca ? adql__quote_ident(c, ca) : NULL;
    if (!rv->sqlname)
      return -1;
  }
  for (size_t i = 0; i < s->nrv && !c->syntax_only; i++)
    if (rv_same_name(s->rvs[i], rv))
      return fail(c, f->loc, "table name \"%s\" appears more than once in FROM; give each an alias",
                  rv_label(rv)),
             -1;
  f->rv = rv;
  f->table = rv->table;
  return scope_add(c, s, rv);
}

int adql__add_from(chk *c, adql_scope *s, adql_from *f)
{
  int rc;
  if (enter(c, f->loc))
    return -1;
  rc = add_from_inner(c, s, f);
  c->depth--;
  return rc;
}
