/* adql/check_target.c: the select list, ORDER BY and GROUP BY
 * (PostgreSQL's parse_target.c and the sort/group part of parse_clause.c).
 *
 * Expands *, names every output column uniquely, infers its metadata, and
 * resolves ORDER BY / GROUP BY names against the output columns. */
#include "adql/check_int.h"

#include <string.h>

static const char *gen_name(const adql_node *n)
{
  static const char *const aggs[] = {"count", "min", "max", "sum", "avg"};
  switch (n->kind) {
  case ADQL_N_FUNC:
    return n->fn ? n->fn->name : n->name.name;
  case ADQL_N_AGG:
    return aggs[n->op];
  case ADQL_N_CAST:
    return "cast";
  case ADQL_N_COALESCE:
    return "coalesce";
  case ADQL_N_CASE:
    return "case";
  default:
    return "expr";
  }
}

static int add_out(chk *c, adql_select *s, size_t *cap, const char *name,
                   const adql_column_meta *src, adql_type t, adql_outcol oc)
{
  if (s->nout == *cap) {
    size_t ncap = *cap ? 2 * *cap : 8;
    adql_column_meta *o = alloc(c, ncap * sizeof *o);
    adql_type *ot = alloc(c, ncap * sizeof *ot);
    adql_outcol *oo = alloc(c, ncap * sizeof *oo);
    if (!o || !ot || !oo)
      return -1;
    if (s->nout) {
      memcpy(o, s->out, s->nout * sizeof *o);
      memcpy(ot, s->outtype, s->nout * sizeof *ot);
      memcpy(oo, s->outcols, s->nout * sizeof *oo);
    }
    s->out = o;
    s->outtype = ot;
    s->outcols = oo;
    *cap = ncap;
  }
  adql_column_meta *m = &s->out[s->nout];
  if (src) {
    *m = *src;
    m->db_name = NULL;
  } else {
    memset(m, 0, sizeof *m);
    m->datatype = adql__datatype_of(t);
    if (t == ADQL_T_STRING || t == ADQL_T_UNKNOWN || t == ADQL_T_OTHER || t == ADQL_T_GEOMETRY)
      m->arraysize = "*";
  }
  if (t == ADQL_T_GEOMETRY) {
    /* Geometries leave the database as DALI arrays of degrees. */
    adql_gkind gk = oc.expr ? oc.expr->gkind : adql__gkind_of_meta(src);
    m->datatype = "double";
    m->arraysize = gk == ADQL_G_POINT ? "2" : gk == ADQL_G_CIRCLE ? "3" : "*";
    m->xtype = gk == ADQL_G_POINT ? "point" : gk == ADQL_G_CIRCLE ? "circle" : "polygon";
    if (!src || !src->unit)
      m->unit = "deg";
  }
  /* Unique output names (case-insensitively, as clients may fold them). */
  const char *base = name, *nm = name;
  for (int k = 2;; k++) {
    size_t i;
    for (i = 0; i < s->nout; i++)
      if (ts_strcaseeq(s->out[i].name, nm))
        break;
    if (i == s->nout)
      break;
    nm = ts_arena_printf(c->a, "%s_%d", base, k);
    if (!nm)
      return oom(c), -1;
  }
  m->name = nm;
  oc.sql_alias = nm;
  s->outtype[s->nout] = t;
  s->outcols[s->nout] = oc;
  s->nout++;
  return 0;
}

static int expand_star(chk *c, adql_select *s, adql_scope *sc, adql_target *tg, size_t *cap)
{
  int any = 0;
  if (c->syntax_only)
    return 0;
  for (size_t i = 0; i < sc->nrv; i++) {
    adql_rangevar *rv = sc->rvs[i];
    if (tg->nqual && !adql__rv_match_qual(rv, tg->qual, tg->nqual))
      continue;
    any = 1;
    for (size_t j = 0; j < rv->ncols; j++) {
      adql_outcol oc = {NULL, rv, (int)j, 0, NULL};
      if (!tg->nqual && rv->cols[j].hidden)
        continue;
      oc.unqualified = !tg->nqual && rv->cols[j].merged;
      if (add_out(c, s, cap, rv->cols[j].name, rv->cols[j].meta, rv->cols[j].type, oc))
        return -1;
    }
  }
  if (!any)
    return fail(c, tg->loc, "table or alias \"%s\" is not in the FROM clause",
                tg->qual[tg->nqual - 1].name),
           -1;
  return 0;
}

/* Metadata worth keeping through an expression: MIN(mag) has mag's unit. */
static const adql_column_meta *carried_meta(const adql_node *e)
{
  static const adql_column_meta deg = {.unit = "deg"};
  static const adql_column_meta dist = {.unit = "deg", .ucd = "pos.angDistance"};
  static const adql_column_meta area = {.unit = "deg**2", .ucd = "phys.angArea"};
  static const adql_column_meta ra = {.unit = "deg", .ucd = "pos.eq.ra"};
  static const adql_column_meta dec = {.unit = "deg", .ucd = "pos.eq.dec"};
  if (e->kind == ADQL_N_FUNC && e->fn && e->fn->geom) {
    switch (e->fn->geom) {
    case ADQL_GF_DISTANCE:
      return &dist;
    case ADQL_GF_AREA:
      return &area;
    case ADQL_GF_COORD1:
      return &ra;
    case ADQL_GF_COORD2:
      return &dec;
    default:
      return e->type == ADQL_T_GEOMETRY ? &deg : NULL;
    }
  }
  if (e->kind == ADQL_N_COLUMN)
    return e->col;
  if (e->kind == ADQL_N_AGG && e->a && e->a->kind == ADQL_N_COLUMN &&
      (e->op == ADQL_AGG_MIN || e->op == ADQL_AGG_MAX))
    return e->a->col;
  return NULL;
}

int adql__build_outputs(chk *c, adql_select *s)
{
  size_t cap = 0;
  for (size_t i = 0; i < s->targets->n; i++) {
    adql_target *tg = s->targets->items[i];
    if (tg->star) {
      if (expand_star(c, s, s->scope, tg, &cap))
        return -1;
      continue;
    }
    adql_node *e = tg->expr;
    const adql_column_meta *src = carried_meta(e);
    if (e->type == ADQL_T_GEOMETRY && e->region &&
        (e->region->kind == ADQL_R_UNION || e->region->kind == ADQL_R_INTERSECTION ||
         e->region->kind == ADQL_R_NOT) &&
        !c->syntax_only)
      return fail(c, e->loc,
                  "a Union, Intersection or Not region cannot be selected (it has no DALI "
                  "type)"),
             -1;
    const char *name = tg->alias.name;
    adql_outcol oc = {e, NULL, 0, 0, NULL};
    if (!name)
      name = e->kind == ADQL_N_COLUMN
                 ? (e->rv ? e->rv->cols[e->rvcol].name : e->parts[e->nparts - 1].name)
                 : gen_name(e);
    if (src && e->kind != ADQL_N_COLUMN) {
      /* an aggregate over a column: unit and UCD stay, the rest is new */
      adql_column_meta *m = alloc(c, sizeof *m);
      if (!m)
        return -1;
      m->datatype = adql__datatype_of(e->type);
      m->arraysize = e->type == ADQL_T_STRING ? "*" : NULL;
      m->unit = src->unit;
      m->ucd = src->ucd;
      src = m;
    }
    if (add_out(c, s, &cap, name, src, e->type, oc))
      return -1;
  }
  return 0;
}

static int find_output(adql_select *s, const adql_ident *id)
{
  int hit = -1;
  /* A set operation's columns are named by its leftmost SELECT. */
  const adql_select *core = s;
  while (core->setop != ADQL_SET_NONE)
    core = core->larg;
  for (size_t i = 0; i < s->nout; i++) {
    const adql_target *tg = NULL;
    /* the alias as written (delimited or not), else the column name */
    for (size_t k = 0; core->targets && k < core->targets->n; k++) {
      const adql_target *t = core->targets->items[k];
      if (!t->star && t->expr == core->outcols[i].expr) {
        tg = t;
        break;
      }
    }
    int ok = tg && tg->alias.name ? adql__ident_eq(&tg->alias, id)
                                  : adql__name_match(id, s->out[i].name, 0);
    if (ok) {
      if (hit >= 0)
        return -2;
      hit = (int)i;
    }
  }
  return hit;
}

int adql__check_order(chk *c, adql_select *top, adql_select *core)
{
  for (size_t i = 0; top->orderby && i < top->orderby->n; i++) {
    adql_orderitem *oi = top->orderby->items[i];
    adql_node *e = oi->expr;
    if (e->kind == ADQL_N_INT) {
      int64_t v;
      if (ts_parse_int64(e->text, &v) != TS_OK || v < 1 ||
          (!c->syntax_only && (size_t)v > top->nout))
        return fail(c, e->loc, "ORDER BY position %s is not in the select list (1 to %zu)", e->text,
                    top->nout),
               -1;
      e->type = ADQL_T_INT;
      continue;
    }
    if (e->kind == ADQL_N_COLUMN && e->nparts == 1 && !c->syntax_only) {
      int k = find_output(top, &e->parts[0]);
      if (k == -2)
        return fail(c, e->loc,
                    "ORDER BY \"%s\" is ambiguous: several output columns have that "
                    "name",
                    e->parts[0].name),
               -1;
      if (k >= 0) {
        e->target_sql = top->outcols[k].sql_alias;
        e->type = top->outtype[k];
        continue;
      }
    }
    if (!core && c->syntax_only && e->kind == ADQL_N_COLUMN && e->nparts == 1)
      continue; /* an output column of the set operation: names are unknown */
    if (!core)
      return fail(c, e->loc,
                  "ORDER BY of a UNION, INTERSECT or EXCEPT must name an output "
                  "column or give its position"),
             -1;
    if (want_value(c, e, adql__check_expr(c, core->scope, e, 0)) == BAD)
      return -1;
  }
  return 0;
}

int adql__check_group(chk *c, adql_select *s)
{
  for (size_t i = 0; s->groupby && i < s->groupby->n; i++) {
    adql_node *e = s->groupby->items[i];
    if (e->kind == ADQL_N_COLUMN && e->nparts == 1 && !c->syntax_only) {
      /* Input columns first, then output aliases (PostgreSQL's rule). */
      adql_rangevar *rv;
      int col;
      if (adql__find_col_in(s->scope, 0, s->scope->nrv, &e->parts[0], &rv, &col) == 0) {
        int k = find_output(s, &e->parts[0]);
        if (k >= 0) {
          e->target_sql = s->outcols[k].sql_alias;
          e->type = s->outtype[k];
          continue;
        }
      }
    }
    if (want_value(c, e, adql__check_expr(c, s->scope, e, CTX_NOAGG)) == BAD)
      return -1;
  }
  return 0;
}
