/* adql/translate_geom.c: geometry to pgSphere.
 *
 * Geometry values are pgSphere values inside the query (spoint, scircle,
 * spoly; radians) and become DALI arrays of degrees only in the select list
 * of the outermost query (tr_geom_array). Positions are always written
 * spoint(radians(lon), radians(lat)) with the coordinates exactly as the
 * query gives them, which is the expression catalogues index
 * (CREATE INDEX ... USING gist (spoint(radians(ra), radians(dec)))). The
 * common predicates become indexable operators:
 *   CONTAINS(p, c) = 1    ->  p <@ c
 *   INTERSECTS(a, b) = 1  ->  a && b (a point: p <@ b)
 *   DISTANCE(p, q) < r    ->  p <@ scircle(q, radians(r)) AND degrees(p <-> q) < r
 * (the second term keeps the exact comparison; the first lets the planner
 * use the index). */
#include "adql/translate_int.h"

#include <stdio.h>
#include <string.h>

static void tr_geom_pred(tr *t, const adql_node *n);

static int is_geomfn(const adql_node *n, int which)
{
  return n->kind == ADQL_N_FUNC && n->fn && n->fn->geom == which;
}

void adql__put_double(tr *t, double v)
{
  char num[40];
  snprintf(num, sizeof num, "%.17g", v);
  put(t, num);
}

static void put_radians(tr *t, const adql_node *e)
{
  put(t, "radians(");
  adql__tr_expr(t, e);
  put(t, ")");
}

/* A point constructor's coordinates: POINT([sys,] x, y). */
static int point_args(const adql_node *p, const adql_node **x, const adql_node **y)
{
  if (!is_geomfn(p, ADQL_GF_POINT))
    return 0;
  size_t f = (p->flag & ADQL_F_SYS) ? 1 : 0;
  *x = garg(p, f);
  *y = garg(p, f + 1);
  return 1;
}

/* The longitude (which 0) or latitude (1) of a point value, in degrees. */
static void put_coord(tr *t, const adql_node *p, int which)
{
  const adql_node *x, *y;
  if (point_args(p, &x, &y)) {
    put(t, "CAST(");
    adql__tr_expr(t, which ? y : x);
    put(t, " AS double precision)");
    return;
  }
  put(t, which ? "degrees(lat(" : "degrees(long(");
  adql__tr_expr(t, p);
  put(t, "))");
}

static void put_spoint(tr *t, const adql_node *x, const adql_node *y)
{
  put(t, "spoint(");
  put_radians(t, x);
  put(t, ", ");
  put_radians(t, y);
  put(t, ")");
}

/* Box corners as polygon vertices: centre +- half the sizes. `i` 0..3. */
static void put_box_corner(tr *t, const adql_node *b, int i, int which, int degrees_out)
{
  size_t na = b->args->n, f = (b->flag & ADQL_F_SYS) ? 1 : 0;
  int centre_point = na - f == 3;
  const adql_node *size = garg(b, na - 2 + (size_t)which);
  static const int sx[4] = {-1, 1, 1, -1}, sy[4] = {-1, -1, 1, 1};
  int sign = which ? sy[i] : sx[i];
  if (!degrees_out)
    put(t, "radians(");
  put(t, "(");
  if (centre_point)
    put_coord(t, garg(b, f), which);
  else
    adql__tr_expr(t, garg(b, f + (size_t)which));
  put(t, sign < 0 ? " - " : " + ");
  adql__tr_expr(t, size);
  put(t, " / 2.0)");
  if (!degrees_out)
    put(t, ")");
}

/* spoly from vertex expressions: the aggregate's own state functions,
 * called in a chain, build it without a subquery. */
static void put_spoly_open(tr *t, size_t nv)
{
  put(t, "spoly_add_points_fin_aggr(");
  for (size_t i = 0; i < nv; i++)
    put(t, "spoly_add_point_aggr(");
  put(t, "NULL::spoly");
}

static void put_region_literal(tr *t, const adql_region *r)
{
  switch (r->kind) {
  case ADQL_R_POSITION:
    put(t, "spoint '(");
    adql__put_double(t, r->v[0]);
    put(t, "d, ");
    adql__put_double(t, r->v[1]);
    put(t, "d)'");
    break;
  case ADQL_R_CIRCLE:
    put(t, "scircle '<(");
    adql__put_double(t, r->v[0]);
    put(t, "d, ");
    adql__put_double(t, r->v[1]);
    put(t, "d), ");
    adql__put_double(t, r->v[2]);
    put(t, "d>'");
    break;
  case ADQL_R_BOX: {
    static const int sx[4] = {-1, 1, 1, -1}, sy[4] = {-1, -1, 1, 1};
    put(t, "spoly '{");
    for (int i = 0; i < 4; i++) {
      put(t, i ? ", (" : "(");
      adql__put_double(t, r->v[0] + sx[i] * r->v[2] / 2);
      put(t, "d, ");
      adql__put_double(t, r->v[1] + sy[i] * r->v[3] / 2);
      put(t, "d)");
    }
    put(t, "}'");
    break;
  }
  case ADQL_R_POLYGON:
    put(t, "spoly '{");
    for (size_t i = 0; i + 1 < r->nv; i += 2) {
      put(t, i ? ", (" : "(");
      adql__put_double(t, r->v[i]);
      put(t, "d, ");
      adql__put_double(t, r->v[i + 1]);
      put(t, "d)");
    }
    put(t, "}'");
    break;
  default:
    t->rc = TS_EINTERNAL; /* compound regions: the checker allows them in predicates only */
    break;
  }
}

/* DALI text to a float8 array: '12.3 45.6' -> {12.3,45.6}. */
static void put_dali_array(tr *t, const adql_node *s)
{
  put(t, "CAST(regexp_split_to_array(btrim(");
  adql__tr_expr(t, s);
  put(t, "), '\\s+') AS double precision[])");
}

void adql__tr_cast_geom(tr *t, const adql_node *n)
{
  switch (n->gkind) {
  case ADQL_G_POINT:
  case ADQL_G_CIRCLE:
    if (n->gkind == ADQL_G_CIRCLE)
      put(t, "scircle(");
    put(t, "spoint(radians((");
    put_dali_array(t, n->a);
    put(t, ")[1]), radians((");
    put_dali_array(t, n->a);
    put(t, ")[2]))");
    if (n->gkind == ADQL_G_CIRCLE) {
      put(t, ", radians((");
      put_dali_array(t, n->a);
      put(t, ")[3]))");
    }
    break;
  default:
    put(t, "(SELECT spoly(spoint(radians(adql_cast_v.a[2 * adql_cast_g.i - 1]), "
           "radians(adql_cast_v.a[2 * adql_cast_g.i])) ORDER BY adql_cast_g.i) FROM (SELECT ");
    put_dali_array(t, n->a);
    put(t, " AS a) AS adql_cast_v, generate_series(1, array_length(adql_cast_v.a, 1) / 2) AS "
           "adql_cast_g(i))");
    break;
  }
}

/* One component of the summed vertex vectors of a polygon constructor:
 * "(" tmpl(v0) " + " tmpl(v1) ... ")", where %X and %Y in tmpl stand for
 * the vertex's longitude and latitude. The nv vertices start at argument
 * f and are points, or pairs of coordinates. */
static void put_vertex_sum(tr *t, const adql_node *p, size_t f, size_t nv, int points,
                           const char *tmpl)
{
  put(t, "(");
  for (size_t v = 0; v < nv; v++) {
    if (v)
      put(t, " + ");
    for (const char *q = tmpl; *q; q++) {
      if (q[0] == '%' && (q[1] == 'X' || q[1] == 'Y')) {
        int which = q[1] == 'Y';
        if (points)
          put_coord(t, garg(p, f + v), which);
        else
          adql__tr_expr(t, garg(p, f + 2 * v + (size_t)which));
        q++;
      } else {
        putn(t, q, 1);
      }
    }
  }
  put(t, ")");
}

/* The centroid of a polygon constructor: the normalised mean of its
 * vertices' unit vectors (exact for symmetric shapes, close for small
 * ones). */
static void put_centroid_poly(tr *t, const adql_node *p)
{
  size_t na = p->args->n, f = (p->flag & ADQL_F_SYS) ? 1 : 0;
  int points = is_geomfn(p, ADQL_GF_POLYGON) && na - f >= 1 && garg(p, f)->type == ADQL_T_GEOMETRY;
  size_t nv = points ? na - f : (na - f) / 2;
  static const char *const comp[3] = {"cos(radians(%Y)) * cos(radians(%X))",
                                      "cos(radians(%Y)) * sin(radians(%X))", "sin(radians(%Y))"};
  put(t, "spoint(atan2(");
  for (int k = 0; k < 3; k++) {
    int order[3] = {1, 0, 2}; /* atan2(y, x), then atan2(z, hypot) */
    int cmp = k < 2 ? order[k] : 2;
    if (k == 2)
      put(t, "), atan2(");
    else if (k == 1)
      put(t, ", ");
    put_vertex_sum(t, p, f, nv, points, comp[cmp]);
    if (k == 2) {
      /* the horizontal length: sqrt(x^2 + y^2) of the summed vector */
      put(t, ", sqrt(power(");
      for (int h = 0; h < 2; h++) {
        if (h)
          put(t, ", 2) + power(");
        put_vertex_sum(t, p, f, nv, points, comp[h]);
      }
      put(t, ", 2))");
    }
  }
  put(t, "))");
}

/* The pgSphere value of a geometry function call. */
void adql__tr_geomfn(tr *t, const adql_node *n)
{
  size_t na = n->args ? n->args->n : 0, f = (n->flag & ADQL_F_SYS) ? 1 : 0;
  switch (n->fn->geom) {
  case ADQL_GF_POINT:
    put_spoint(t, garg(n, f), garg(n, f + 1));
    break;
  case ADQL_GF_CIRCLE:
    put(t, "scircle(");
    if (na - f == 2) {
      adql__tr_expr(t, garg(n, f));
    } else {
      put_spoint(t, garg(n, f), garg(n, f + 1));
    }
    put(t, ", ");
    put_radians(t, garg(n, na - 1));
    put(t, ")");
    break;
  case ADQL_GF_BOX:
    put_spoly_open(t, 4);
    for (int i = 0; i < 4; i++) {
      put(t, ", spoint(");
      put_box_corner(t, n, i, 0, 0);
      put(t, ", ");
      put_box_corner(t, n, i, 1, 0);
      put(t, "))");
    }
    put(t, ")");
    break;
  case ADQL_GF_POLYGON: {
    int points = garg(n, f)->type == ADQL_T_GEOMETRY;
    size_t nv = points ? na - f : (na - f) / 2;
    put_spoly_open(t, nv);
    for (size_t v = 0; v < nv; v++) {
      put(t, ", ");
      if (points)
        adql__tr_expr(t, garg(n, f + v));
      else
        put_spoint(t, garg(n, f + 2 * v), garg(n, f + 2 * v + 1));
      put(t, ")");
    }
    put(t, ")");
    break;
  }
  case ADQL_GF_REGION:
    if (n->region)
      put_region_literal(t, n->region);
    else
      t->rc = TS_EINTERNAL;
    break;
  case ADQL_GF_CONTAINS:
  case ADQL_GF_INTERSECTS:
    put(t, "CAST(");
    tr_geom_pred(t, n);
    put(t, " AS integer)");
    break;
  case ADQL_GF_DISTANCE:
    put(t, "degrees(");
    if (na == 4) {
      put_spoint(t, garg(n, 0), garg(n, 1));
      put(t, " <-> ");
      put_spoint(t, garg(n, 2), garg(n, 3));
    } else {
      adql__tr_expr(t, garg(n, 0));
      put(t, " <-> ");
      adql__tr_expr(t, garg(n, 1));
    }
    put(t, ")");
    break;
  case ADQL_GF_AREA:
    if (garg(n, 0)->gkind == ADQL_G_POINT) {
      put(t, "CAST(0 AS double precision)");
    } else {
      put(t, "degrees(degrees(area(");
      adql__tr_expr(t, garg(n, 0));
      put(t, ")))");
    }
    break;
  case ADQL_GF_CENTROID: {
    const adql_node *g = garg(n, 0);
    if (g->gkind == ADQL_G_POINT)
      adql__tr_expr(t, g);
    else if (g->gkind == ADQL_G_CIRCLE) {
      put(t, "center(");
      adql__tr_expr(t, g);
      put(t, ")");
    } else {
      put_centroid_poly(t, g);
    }
    break;
  }
  case ADQL_GF_COORD1:
  case ADQL_GF_COORD2:
    put_coord(t, garg(n, 0), n->fn->geom == ADQL_GF_COORD2);
    break;
  case ADQL_GF_COORDSYS: {
    const adql_node *g = garg(n, 0);
    if (g->kind == ADQL_N_FUNC && (g->flag & ADQL_F_SYS) && garg(g, 0)->kind == ADQL_N_STRING)
      put_string(t, garg(g, 0)->text);
    else
      put(t, "'ICRS'");
    break;
  }
  default:
    t->rc = TS_EINTERNAL;
    break;
  }
}

/* A point tested against an STC-S region, member by member. */
static void tr_region_pred(tr *t, const adql_node *p, const adql_region *r)
{
  const char *join = r->kind == ADQL_R_UNION ? " OR " : " AND ";
  switch (r->kind) {
  case ADQL_R_UNION:
  case ADQL_R_INTERSECTION:
    put(t, "(");
    for (size_t i = 0; i < r->nsub; i++) {
      if (i)
        put(t, join);
      tr_region_pred(t, p, r->sub[i]);
    }
    put(t, ")");
    break;
  case ADQL_R_NOT:
    put(t, "(NOT ");
    tr_region_pred(t, p, r->sub[0]);
    put(t, ")");
    break;
  default:
    put(t, "(");
    adql__tr_expr(t, p);
    put(t, r->kind == ADQL_R_POSITION ? " = " : " <@ ");
    put_region_literal(t, r);
    put(t, ")");
    break;
  }
}

static int is_compound(const adql_node *g)
{
  return g->region && g->gkind == ADQL_G_REGION;
}

/* CONTAINS / INTERSECTS as a boolean. */
static void tr_geom_pred(tr *t, const adql_node *n)
{
  const adql_node *x = garg(n, 0), *y = garg(n, 1);
  if (n->fn->geom == ADQL_GF_INTERSECTS && x->gkind != ADQL_G_POINT && y->gkind == ADQL_G_POINT) {
    const adql_node *tmp = x; /* INTERSECTS is symmetric; a point goes first */
    x = y;
    y = tmp;
  }
  if (is_compound(y)) {
    tr_region_pred(t, x, y->region);
    return;
  }
  put(t, "(");
  adql__tr_expr(t, x);
  if (x->gkind == ADQL_G_POINT)
    put(t, y->gkind == ADQL_G_POINT ? " = " : " <@ ");
  else
    put(t, n->fn->geom == ADQL_GF_CONTAINS ? " <@ " : " && ");
  adql__tr_expr(t, y);
  put(t, ")");
}

static int is_int_lit(const adql_node *n, const char *v)
{
  return n->kind == ADQL_N_INT && !strcmp(n->text, v);
}

/* Does the expression depend on no column (a constant the planner folds)? */
static int is_const(const adql_node *n)
{
  if (!n)
    return 1;
  if (n->kind == ADQL_N_COLUMN || n->kind == ADQL_N_SUBQUERY || n->kind == ADQL_N_AGG)
    return 0;
  if (!is_const(n->a) || !is_const(n->b) || !is_const(n->c))
    return 0;
  for (size_t i = 0; n->args && i < n->args->n; i++)
    if (!is_const(n->args->items[i]))
      return 0;
  return 1;
}

/* CONTAINS(...) = 1, 0 = INTERSECTS(...), ... as an indexable boolean.
 * Returns 0 when n is not of that shape. */
int adql__tr_geom_cmp(tr *t, const adql_node *n)
{
  const adql_node *fn = NULL, *lit = NULL;
  if (n->op != ADQL_CMP_EQ && n->op != ADQL_CMP_NE)
    return 0;
  if (is_geomfn(n->a, ADQL_GF_CONTAINS) || is_geomfn(n->a, ADQL_GF_INTERSECTS))
    fn = n->a, lit = n->b;
  else if (is_geomfn(n->b, ADQL_GF_CONTAINS) || is_geomfn(n->b, ADQL_GF_INTERSECTS))
    fn = n->b, lit = n->a;
  if (!fn || !(is_int_lit(lit, "1") || is_int_lit(lit, "0")))
    return 0;
  int positive = (n->op == ADQL_CMP_EQ) == is_int_lit(lit, "1");
  if (!positive)
    put(t, "(NOT ");
  tr_geom_pred(t, fn);
  if (!positive)
    put(t, ")");
  return 1;
}

/* DISTANCE(p, q) < r (or <=, or r > DISTANCE(p, q) ...). */
int adql__tr_distance_cmp(tr *t, const adql_node *n)
{
  static const char *const ops[] = {" = ", " <> ", " < ", " > ", " <= ", " >= "};
  const adql_node *d, *r;
  int op = n->op;
  if ((op == ADQL_CMP_LT || op == ADQL_CMP_LE) && is_geomfn(n->a, ADQL_GF_DISTANCE))
    d = n->a, r = n->b;
  else if ((op == ADQL_CMP_GT || op == ADQL_CMP_GE) && is_geomfn(n->b, ADQL_GF_DISTANCE)) {
    d = n->b, r = n->a;
    op = op == ADQL_CMP_GT ? ADQL_CMP_LT : ADQL_CMP_LE;
  } else
    return 0;
  for (int pass = 0; pass < 2; pass++) {
    /* pass 0: the indexable containment; pass 1: the exact distance */
    const adql_node *p1 = NULL, *p2 = NULL;
    int four = d->args->n == 4, swap;
    if (!four) {
      p1 = garg(d, 0);
      p2 = garg(d, 1);
      swap = is_const(p1) && !is_const(p2);
    } else {
      swap = is_const(garg(d, 0)) && is_const(garg(d, 1)) &&
             !(is_const(garg(d, 2)) && is_const(garg(d, 3)));
    }
    put(t, pass ? " AND degrees(" : "((");
    for (int side = 0; side < 2; side++) {
      int which = side ^ swap;
      if (side)
        put(t, pass ? " <-> " : " <@ scircle(");
      if (four)
        put_spoint(t, garg(d, 2 * (size_t)which), garg(d, 2 * (size_t)which + 1));
      else
        adql__tr_expr(t, which ? p2 : p1);
    }
    if (!pass) {
      put(t, ", radians(GREATEST(");
      adql__tr_expr(t, r);
      put(t, ", 0))))");
    } else {
      put(t, ")");
      put(t, ops[op]);
      adql__tr_expr(t, r);
      put(t, ")");
    }
  }
  return 1;
}

/* A geometry in the outermost select list: a DALI array of degrees. */
void adql__tr_geom_array(tr *t, const adql_node *n)
{
  const adql_node *x, *y;
  if (point_args(n, &x, &y)) {
    put(t, "CASE WHEN ");
    adql__tr_expr(t, x);
    put(t, " IS NULL OR ");
    adql__tr_expr(t, y);
    put(t, " IS NULL THEN NULL ELSE ARRAY[");
    put_coord(t, n, 0);
    put(t, ", ");
    put_coord(t, n, 1);
    put(t, "] END");
    return;
  }
  if (is_geomfn(n, ADQL_GF_CIRCLE) && n->args->n - ((n->flag & ADQL_F_SYS) ? 1 : 0) == 3) {
    size_t f = (n->flag & ADQL_F_SYS) ? 1 : 0;
    put(t, "ARRAY[");
    for (size_t i = 0; i < 3; i++) {
      put(t, i ? ", CAST(" : "CAST(");
      adql__tr_expr(t, garg(n, f + i));
      put(t, " AS double precision)");
    }
    put(t, "]");
    return;
  }
  if (is_geomfn(n, ADQL_GF_BOX)) {
    put(t, "ARRAY[");
    for (int i = 0; i < 4; i++) {
      put(t, i ? ", " : "");
      put_box_corner(t, n, i, 0, 1);
      put(t, ", ");
      put_box_corner(t, n, i, 1, 1);
    }
    put(t, "]");
    return;
  }
  if (is_geomfn(n, ADQL_GF_POLYGON)) {
    size_t na = n->args->n, f = (n->flag & ADQL_F_SYS) ? 1 : 0;
    int points = garg(n, f)->type == ADQL_T_GEOMETRY;
    put(t, "ARRAY[");
    for (size_t i = f; i < na; i++) {
      if (i > f)
        put(t, ", ");
      if (points) {
        put_coord(t, garg(n, i), 0);
        put(t, ", ");
        put_coord(t, garg(n, i), 1);
      } else {
        put(t, "CAST(");
        adql__tr_expr(t, garg(n, i));
        put(t, " AS double precision)");
      }
    }
    put(t, "]");
    return;
  }
  if (is_geomfn(n, ADQL_GF_REGION) && n->region && n->gkind != ADQL_G_REGION) {
    const adql_region *r = n->region;
    put(t, "CAST(ARRAY[");
    if (r->kind == ADQL_R_BOX) {
      static const int sx[4] = {-1, 1, 1, -1}, sy[4] = {-1, -1, 1, 1};
      for (int i = 0; i < 4; i++) {
        put(t, i ? ", " : "");
        adql__put_double(t, r->v[0] + sx[i] * r->v[2] / 2);
        put(t, ", ");
        adql__put_double(t, r->v[1] + sy[i] * r->v[3] / 2);
      }
    } else {
      for (size_t i = 0; i < r->nv; i++) {
        put(t, i ? ", " : "");
        adql__put_double(t, r->v[i]);
      }
    }
    put(t, "] AS double precision[])");
    return;
  }
  if (n->kind == ADQL_N_CAST) {
    put_dali_array(t, n->a);
    return;
  }
  /* Any other geometry value: from its pgSphere form. */
  put(t, "CASE WHEN ");
  adql__tr_expr(t, n);
  put(t, " IS NULL THEN NULL ELSE ");
  switch (n->gkind) {
  case ADQL_G_POINT:
    put(t, "ARRAY[degrees(long(");
    adql__tr_expr(t, n);
    put(t, ")), degrees(lat(");
    adql__tr_expr(t, n);
    put(t, "))]");
    break;
  case ADQL_G_CIRCLE:
    put(t, "ARRAY[degrees(long(center(");
    adql__tr_expr(t, n);
    put(t, "))), degrees(lat(center(");
    adql__tr_expr(t, n);
    put(t, "))), degrees(radius(");
    adql__tr_expr(t, n);
    put(t, "))]");
    break;
  default:
    /* pgSphere prints polygons in radians unless a session changes it with
     * set_sphere_output(), which ADQL cannot call. */
    put(t, "ARRAY(SELECT degrees(CAST(adql_m.v[1] AS double precision)) FROM "
           "regexp_matches(CAST(");
    adql__tr_expr(t, n);
    put(t, " AS text), '[-+]?[0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?', 'g') AS adql_m(v))");
    break;
  }
  put(t, " END");
}
