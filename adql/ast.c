/* adql/ast.c: constructors for the raw AST (used by gram.y). Everything
 * lives in the query's arena; a NULL return means the arena's cap was
 * reached, and the error is already recorded in the parser state. Depth is
 * tracked here, for nodes, FROM items and queries alike, so that no later
 * pass (checker, translator), all of them recursive, can be driven deeper
 * than ADQL_MAX_DEPTH by any part of the query: a subquery, a join or a
 * set operation adds to the depth of what contains it. */
#include "adql/adql_int.h"

#include <string.h>

void *adql__alloc(adql_pstate *ps, size_t n)
{
  void *p = ts_arena_calloc(ps->arena, 1, n);
  if (!p)
    adql__oom(ps, -1);
  return p;
}

adql_list *adql__list1(adql_pstate *ps, void *item)
{
  adql_list *l = adql__alloc(ps, sizeof *l);
  if (!l)
    return NULL;
  return adql__list_add(ps, l, item);
}

/* Arrays double, so a list of n items costs O(n) arena bytes in total. */
adql_list *adql__list_add(adql_pstate *ps, adql_list *l, void *item)
{
  if (l->n == l->cap) {
    size_t cap = l->cap ? 2 * l->cap : 4;
    void **items = adql__alloc(ps, cap * sizeof *items);
    if (!items)
      return NULL;
    if (l->n)
      memcpy(items, l->items, l->n * sizeof *items);
    l->items = items;
    l->cap = cap;
  }
  l->items[l->n++] = item;
  return l;
}

/* *depth = max(*depth, 1 + child); -1 with the error at `loc` beyond the
 * budget. */
static int deepen(adql_pstate *ps, int *depth, int child, int loc)
{
  if (child + 1 > *depth)
    *depth = child + 1;
  if (*depth > ADQL_MAX_DEPTH) {
    adql__fail(ps, loc, ADQL_DEPTH_FMT, ADQL_MAX_DEPTH);
    return -1;
  }
  return 0;
}

static int depth_check(adql_pstate *ps, adql_node *n, int child_depth)
{
  return deepen(ps, &n->depth, child_depth, n->loc);
}

adql_node *adql__node(adql_pstate *ps, adql_nodekind kind, int loc, adql_node *a, adql_node *b,
                      adql_node *c)
{
  adql_node *n = adql__alloc(ps, sizeof *n);
  if (!n)
    return NULL;
  n->kind = kind;
  n->loc = loc;
  n->a = a;
  n->b = b;
  n->c = c;
  n->depth = 1;
  if ((a && depth_check(ps, n, a->depth)) || (b && depth_check(ps, n, b->depth)) ||
      (c && depth_check(ps, n, c->depth)))
    return NULL;
  return n;
}

int adql__set_args(adql_pstate *ps, adql_node *n, adql_list *args)
{
  n->args = args;
  for (size_t i = 0; args && i < args->n; i++)
    if (depth_check(ps, n, ((adql_node *)args->items[i])->depth))
      return -1;
  return 0;
}

int adql__set_sub(adql_pstate *ps, adql_node *n, adql_select *sub)
{
  n->sub = sub;
  return depth_check(ps, n, sub->depth);
}

static int deepen_expr(adql_pstate *ps, int *depth, const adql_node *e, int loc)
{
  return e ? deepen(ps, depth, e->depth, loc) : 0;
}

static int deepen_exprs(adql_pstate *ps, int *depth, const adql_list *l, int loc)
{
  for (size_t i = 0; l && i < l->n; i++)
    if (deepen(ps, depth, ((const adql_node *)l->items[i])->depth, loc))
      return -1;
  return 0;
}

int adql__select_depth(adql_pstate *ps, adql_select *s, int loc)
{
  int *d = &s->depth;
  *d = 1;
  if ((s->larg && deepen(ps, d, s->larg->depth, loc)) ||
      (s->rarg && deepen(ps, d, s->rarg->depth, loc)) || deepen_expr(ps, d, s->where, loc) ||
      deepen_expr(ps, d, s->having, loc) || deepen_exprs(ps, d, s->groupby, loc))
    return -1;
  for (size_t i = 0; s->targets && i < s->targets->n; i++)
    if (deepen_expr(ps, d, ((const adql_target *)s->targets->items[i])->expr, loc))
      return -1;
  for (size_t i = 0; s->from && i < s->from->n; i++)
    if (deepen(ps, d, ((const adql_from *)s->from->items[i])->depth, loc))
      return -1;
  for (size_t i = 0; s->orderby && i < s->orderby->n; i++)
    if (deepen_expr(ps, d, ((const adql_orderitem *)s->orderby->items[i])->expr, loc))
      return -1;
  for (size_t i = 0; s->with && i < s->with->n; i++)
    if (deepen(ps, d, ((const adql_cte *)s->with->items[i])->query->depth, loc))
      return -1;
  return 0;
}

int adql__from_depth(adql_pstate *ps, adql_from *f)
{
  f->depth = 1;
  if (f->kind == ADQL_FROM_SUBQUERY)
    return deepen(ps, &f->depth, f->sub->depth, f->loc);
  if (f->kind == ADQL_FROM_JOIN)
    return deepen(ps, &f->depth, f->left->depth, f->loc) ||
                   deepen(ps, &f->depth, f->right->depth, f->loc) ||
                   deepen_expr(ps, &f->depth, f->on, f->loc)
               ? -1
               : 0;
  return 0;
}

adql_ident *adql__ident_dup(adql_pstate *ps, adql_ident id)
{
  adql_ident *p = adql__alloc(ps, sizeof *p);
  if (p)
    *p = id;
  return p;
}
