/* adql/translate_int.h: private to the translator's files (translate.c,
 * translate_*.c).
 *
 * The state of one translation (tr: the SQL buffer, the first error, the
 * nesting budget) and the small helpers every file of the pass writes with,
 * inline here. Functions that one file of the translator calls in another
 * carry the adql__ prefix; the rest stay static in their file. */
#ifndef ADQL_TRANSLATE_INT_H
#define ADQL_TRANSLATE_INT_H

#include "adql/adql_int.h"

typedef struct tr {
  ts_buf b;
  ts_err rc;
  const adql_query *q;
  int depth;     /* levels entered (tr_select, tr_from, tr_expr) */
  int depth_loc; /* rc == TS_EADQL: where the depth budget ran out */
} tr;

/* The checker's enter(): the same budget, counted on the same levels, so a
 * checked query never reaches it; it keeps every recursion here bounded
 * whatever the tree. */
static inline int enter(tr *t, int loc)
{
  if (t->rc != TS_OK)
    return -1;
  if (++t->depth <= ADQL_MAX_DEPTH)
    return 0;
  t->depth--;
  t->rc = TS_EADQL;
  t->depth_loc = loc;
  return -1;
}

static inline void put(tr *t, const char *s)
{
  if (t->rc == TS_OK && ts_buf_puts(&t->b, s) != TS_OK)
    t->rc = TS_ENOMEM;
}

static inline void putn(tr *t, const char *s, size_t n)
{
  if (t->rc == TS_OK && ts_buf_append(&t->b, s, n) != TS_OK)
    t->rc = TS_ENOMEM;
}

/* s as a delimited identifier (") or a string literal ('). */
static inline void put_quoted(tr *t, const char *s, char quote)
{
  if (t->rc == TS_OK && adql_quote(&t->b, s, quote) != TS_OK)
    t->rc = TS_ENOMEM;
}

static inline void put_ident(tr *t, const char *s)
{
  put_quoted(t, s, '"');
}

static inline void put_string(tr *t, const char *s)
{
  put_quoted(t, s, '\'');
}

static inline const adql_node *garg(const adql_node *n, size_t i)
{
  return n->args->items[i];
}

/* ---- between the translator's files ------------------------------------------ */

/* translate.c */
void adql__tr_select(tr *t, const adql_select *s, int64_t limit, int top);

/* translate_expr.c */
void adql__tr_list(tr *t, const adql_list *l);
void adql__tr_colref(tr *t, const adql_rangevar *rv, int col, int unqualified);
void adql__tr_subquery(tr *t, const adql_select *s);
void adql__tr_expr(tr *t, const adql_node *n);

/* translate_geom.c */
void adql__put_double(tr *t, double v);
void adql__tr_cast_geom(tr *t, const adql_node *n);
void adql__tr_geomfn(tr *t, const adql_node *n);
int adql__tr_geom_cmp(tr *t, const adql_node *n);
int adql__tr_distance_cmp(tr *t, const adql_node *n);
void adql__tr_geom_array(tr *t, const adql_node *n);

#endif
