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
 * functions when UDFs are declared) are reported. */
#include "adql/check_int.h"

#include <string.h>

static int is_geom(const adql_node *e)
{
  return e->type == ADQL_T_GEOMETRY;
}

/* A value that can only be a coordinate system: a string. In syntax mode an
 * untyped column could be either, so only known types decide. */
static int is_stringish(const adql_node *e)
{
  return e->type == ADQL_T_STRING;
}

adql_gkind adql__gkind_of_meta(const adql_column_meta *m)
{
  const char *xt = m && m->xtype ? m->xtype : "";
  if (!strncmp(xt, "adql:", 5))
    xt += 5;
  if (ts_strcaseeq(xt, "point"))
    return ADQL_G_POINT;
  if (ts_strcaseeq(xt, "circle"))
    return ADQL_G_CIRCLE;
  if (ts_strcaseeq(xt, "polygon"))
    return ADQL_G_POLYGON;
  return ADQL_G_REGION;
}

static int need_coord(chk *c, adql_node *e, const char *fname)
{
  if (is_geom(e) || e->type == ADQL_T_STRING || e->type == ADQL_T_BOOLEAN ||
      (!c->syntax_only && e->type != ADQL_T_UNKNOWN && !adql__is_num(e->type)))
    return fail(c, e->loc, "%s needs a numeric coordinate here, not %s", fname,
                adql__type_name(e->type)),
           -1;
  return 0;
}

static int need_geom(chk *c, adql_node *e, const char *fname, adql_gkind want)
{
  if (e->type == ADQL_T_UNKNOWN && c->syntax_only)
    return 0;
  if (!is_geom(e))
    return fail(c, e->loc, "%s needs a %s argument, not %s", fname,
                want == ADQL_G_POINT ? "point" : "geometry", adql__type_name(e->type)),
           -1;
  if (want == ADQL_G_POINT && e->gkind != ADQL_G_POINT && !c->syntax_only)
    return fail(c, e->loc, "%s needs a point argument", fname), -1;
  return 0;
}

/* The coordinate system argument: a string; in the full check, one the
 * operator allows (the data are ICRS and pgSphere converts nothing). */
static int check_coordsys(chk *c, adql_node *e, const char *fname)
{
  if (!c->syntax_only && e->type != ADQL_T_STRING && e->type != ADQL_T_UNKNOWN)
    return fail(c, e->loc, "the coordinate system of %s must be a string, not %s", fname,
                adql__type_name(e->type)),
           -1;
  if (c->syntax_only && (is_geom(e) || adql__is_num(e->type)))
    return fail(c, e->loc, "the coordinate system of %s must be a string", fname), -1;
  if (c->syntax_only || e->kind != ADQL_N_STRING)
    return 0;
  const char *v = e->text;
  while (*v == ' ')
    v++;
  size_t w = strcspn(v, " ");
  if (w == 0)
    return 0; /* '' : the service's own frame */
  if (c->meta->ncoordsys == 0) {
    if (w == 4 && ts_strncaseeq(v, "ICRS", 4))
      return 0;
  } else {
    for (size_t i = 0; i < c->meta->ncoordsys; i++)
      if (strlen(c->meta->coordsys[i]) == w && ts_strncaseeq(v, c->meta->coordsys[i], w))
        return 0;
  }
  return fail(c, e->loc, "coordinate system '%.*s' is not supported by this service (use %s)",
              (int)(w > 40 ? 40 : w), v,
              c->meta->ncoordsys ? "one of those listed in its capabilities" : "'ICRS' or ''"),
         -1;
}

static int region_frames_ok(chk *c, const adql_node *e, const adql_region *r)
{
  if (r->frame && !c->syntax_only) {
    adql_node tmp = *e;
    tmp.kind = ADQL_N_STRING;
    tmp.text = r->frame;
    if (check_coordsys(c, &tmp, "REGION"))
      return -1;
  }
  for (size_t i = 0; i < r->nsub; i++)
    if (region_frames_ok(c, e, r->sub[i]))
      return -1;
  return 0;
}

static adql_gkind region_gkind(const adql_region *r)
{
  switch (r->kind) {
  case ADQL_R_POSITION:
    return ADQL_G_POINT;
  case ADQL_R_CIRCLE:
    return ADQL_G_CIRCLE;
  case ADQL_R_BOX:
  case ADQL_R_POLYGON:
    return ADQL_G_POLYGON;
  default:
    return ADQL_G_REGION;
  }
}

static int geom_allowed(chk *c, const adql_node *n, const adql_func *fn)
{
  if (c->syntax_only || c->meta->ngeom == 0)
    return 0;
  for (size_t i = 0; i < c->meta->ngeom; i++)
    if (ts_strcaseeq(c->meta->geom[i], fn->name))
      return 0;
  return fail(c, n->loc, "geometry function %s is not enabled on this service", fn->name), -1;
}

/* Geometry constructors and predicates. The argument forms are ADQL 2.1's:
 * an optional coordinate system string first, then coordinates or points. */
adql_type adql__check_geom(chk *c, adql_node *n, const adql_func *fn)
{
  size_t na = n->args ? n->args->n : 0, first = 0;
  const char *name = fn->name;
  if (geom_allowed(c, n, fn))
    return BAD;
  switch (fn->geom) {
  case ADQL_GF_POINT:
    if (na == 3) {
      if (check_coordsys(c, arg(n, 0), name))
        return BAD;
      n->flag |= ADQL_F_SYS;
      first = 1;
    }
    for (size_t i = first; i < na; i++)
      if (need_coord(c, arg(n, i), name))
        return BAD;
    n->gkind = ADQL_G_POINT;
    return ADQL_T_GEOMETRY;
  case ADQL_GF_CIRCLE:
  case ADQL_GF_BOX: {
    /* CIRCLE([sys,] x, y, r) | CIRCLE([sys,] point, r); BOX likewise with
     * width and height. */
    size_t extra = fn->geom == ADQL_GF_BOX ? 2 : 1; /* sizes after the centre */
    int centre_point;
    if (na == 3 + extra)
      first = 1;
    else if (na == 2 + extra && (is_geom(arg(n, 1)) || is_stringish(arg(n, 0))))
      first = 1; /* (sys, point, sizes) rather than (x, y, sizes) */
    if (first) {
      if (check_coordsys(c, arg(n, 0), name))
        return BAD;
      n->flag |= ADQL_F_SYS;
    }
    centre_point = na - first == 1 + extra;
    if (!centre_point && na - first != 2 + extra)
      return fail(c, n->loc, "function %s takes %s arguments, not %zu", name,
                  fn->geom == ADQL_GF_BOX ? "3, 4 or 5" : "2, 3 or 4", na),
             BAD;
    if (centre_point) {
      if (need_geom(c, arg(n, first), name, ADQL_G_POINT))
        return BAD;
    } else {
      for (size_t i = first; i < first + 2; i++)
        if (need_coord(c, arg(n, i), name))
          return BAD;
    }
    for (size_t i = na - extra; i < na; i++)
      if (need_coord(c, arg(n, i), name))
        return BAD;
    n->gkind = fn->geom == ADQL_GF_BOX ? ADQL_G_POLYGON : ADQL_G_CIRCLE;
    return ADQL_T_GEOMETRY;
  }
  case ADQL_GF_POLYGON: {
    /* POLYGON([sys,] x1, y1, x2, y2, x3, y3, ...) | POLYGON([sys,] p1, p2, p3, ...) */
    int points = 0;
    for (size_t i = 0; i < na; i++)
      points += is_geom(arg(n, i));
    if (points) {
      first = is_geom(arg(n, 0)) ? 0 : 1;
      if (na - first < 3)
        return fail(c, n->loc, "POLYGON needs 3 points or more"), BAD;
      for (size_t i = first; i < na; i++)
        if (need_geom(c, arg(n, i), name, ADQL_G_POINT))
          return BAD;
    } else {
      first = na % 2;
      if (na - first < 6)
        return fail(c, n->loc, "POLYGON needs 3 vertices or more (6 coordinates)"), BAD;
      for (size_t i = first; i < na; i++)
        if (need_coord(c, arg(n, i), name))
          return BAD;
    }
    if (first) {
      if (check_coordsys(c, arg(n, 0), name))
        return BAD;
      n->flag |= ADQL_F_SYS;
    }
    n->gkind = ADQL_G_POLYGON;
    return ADQL_T_GEOMETRY;
  }
  case ADQL_GF_REGION: {
    adql_node *e = arg(n, 0);
    char msg[160];
    if (e->kind != ADQL_N_STRING) {
      if (c->syntax_only && !is_geom(e) && !adql__is_num(e->type)) {
        n->gkind = ADQL_G_REGION;
        return ADQL_T_GEOMETRY;
      }
      return fail(c, e->loc, "REGION needs an STC-S string literal"), BAD;
    }
    if (adql__stcs_parse(c->a, e->text, &n->region, msg, sizeof msg))
      return fail(c, e->loc, "invalid STC-S region: %s", msg), BAD;
    if (region_frames_ok(c, e, n->region))
      return BAD;
    n->gkind = region_gkind(n->region);
    return ADQL_T_GEOMETRY;
  }
  case ADQL_GF_CONTAINS:
  case ADQL_GF_INTERSECTS:
    if (need_geom(c, arg(n, 0), name, ADQL_G_NONE) || need_geom(c, arg(n, 1), name, ADQL_G_NONE))
      return BAD;
    if (!c->syntax_only) {
      /* Compound regions have no pgSphere type: only a point can be tested
       * against them, member by member. */
      adql_node *x = arg(n, 0), *y = arg(n, 1);
      if ((x->gkind == ADQL_G_REGION && x->region) ||
          (y->gkind == ADQL_G_REGION && y->region &&
           (x->gkind != ADQL_G_POINT ||
            (fn->geom == ADQL_GF_INTERSECTS && y->region->kind != ADQL_R_UNION))))
        return fail(c, n->loc,
                    "%s with a Union, Intersection or Not region is supported for a point in "
                    "that region only (CONTAINS(POINT(...), REGION(...)))",
                    name),
               BAD;
    }
    return ADQL_T_INT;
  case ADQL_GF_DISTANCE:
    if (na == 2) {
      if (need_geom(c, arg(n, 0), name, ADQL_G_POINT) ||
          need_geom(c, arg(n, 1), name, ADQL_G_POINT))
        return BAD;
    } else if (na == 4) {
      for (size_t i = 0; i < 4; i++)
        if (need_coord(c, arg(n, i), name))
          return BAD;
    } else {
      return fail(c, n->loc, "function distance takes 2 points or 4 coordinates, not %zu arguments",
                  na),
             BAD;
    }
    return ADQL_T_DOUBLE;
  case ADQL_GF_AREA:
    if (need_geom(c, arg(n, 0), name, ADQL_G_NONE))
      return BAD;
    if (!c->syntax_only && arg(n, 0)->gkind == ADQL_G_REGION)
      return fail(c, n->loc, "AREA of this region is not supported"), BAD;
    return ADQL_T_DOUBLE;
  case ADQL_GF_CENTROID: {
    adql_node *e = arg(n, 0);
    if (need_geom(c, e, name, ADQL_G_NONE))
      return BAD;
    if (!c->syntax_only && e->gkind != ADQL_G_POINT && e->gkind != ADQL_G_CIRCLE &&
        !(e->gkind == ADQL_G_POLYGON && e->kind == ADQL_N_FUNC && e->fn &&
          e->fn->geom == ADQL_GF_POLYGON))
      return fail(c, n->loc,
                  "CENTROID is supported for points, circles and POLYGON(...) constructors"),
             BAD;
    n->gkind = ADQL_G_POINT;
    return ADQL_T_GEOMETRY;
  }
  case ADQL_GF_COORD1:
  case ADQL_GF_COORD2:
    if (need_geom(c, arg(n, 0), name, ADQL_G_POINT))
      return BAD;
    return ADQL_T_DOUBLE;
  case ADQL_GF_COORDSYS:
    if (need_geom(c, arg(n, 0), name, ADQL_G_NONE))
      return BAD;
    return ADQL_T_STRING;
  default:
    break;
  }
  return fail(c, n->loc, "unsupported geometry function %s", name), BAD;
}

/* ---- result columns -------------------------------------------------------- */

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

static int build_outputs(chk *c, adql_select *s)
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

/* ---- ORDER BY / GROUP BY ----------------------------------------------------- */

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

static int check_order(chk *c, adql_select *top, adql_select *core)
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

static int check_group(chk *c, adql_select *s)
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
  if (build_outputs(c, s))
    return -1;
  if (check_group(c, s))
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
    return check_order(c, s, s);
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
  return check_order(c, s, NULL);
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
