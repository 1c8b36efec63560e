/* adql/ast.c: constructors for the raw AST (used by gram.y). Everything
 * lives in the query's arena; a NULL return means the arena's cap was
 * reached, and the error is already recorded in the parser state. Node
 * depth is tracked here so that no later pass (checker, translator), all of
 * them recursive, can be driven deeper than ADQL_MAX_EXPR_DEPTH. */
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

static int depth_check(adql_pstate *ps, adql_node *n, int child_depth)
{
  if (child_depth + 1 > n->depth)
    n->depth = child_depth + 1;
  if (n->depth > ADQL_MAX_EXPR_DEPTH) {
    adql__fail(ps, n->loc, "expression is too deeply nested (more than %d levels)",
               ADQL_MAX_EXPR_DEPTH);
    return -1;
  }
  return 0;
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

adql_ident *adql__ident_dup(adql_pstate *ps, adql_ident id)
{
  adql_ident *p = adql__alloc(ps, sizeof *p);
  if (p)
    *p = id;
  return p;
}
