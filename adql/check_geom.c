/* adql/check_geom.c: ADQL 2.1 geometry functions.
 *
 * Argument forms of the constructors and predicates, coordinate systems the
 * operator allows, STC-S regions, and the geometry kind of every value,
 * which decides its pgSphere type and its DALI xtype. */
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
