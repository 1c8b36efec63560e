/* adql/check_int.h: private to the checker's files (check.c, check_*.c).
 *
 * The state of one check (chk) and the small helpers every file of the pass
 * uses on it, inline here: recording the first error, the nesting budget,
 * allocation. Functions that one file of the checker calls in another carry
 * the adql__ prefix; the rest stay static in their file. */
#ifndef ADQL_CHECK_INT_H
#define ADQL_CHECK_INT_H

#include "adql/adql_int.h"

#include <stdarg.h>
#include <stdio.h>

typedef struct chk {
  adql_query *q;
  const adql_meta *meta; /* NULL in syntax-only mode */
  const adql_udf *udfs;
  size_t nudfs;
  int syntax_only;
  ts_error *err;
  ts_arena *a;
  int failed;
  int depth; /* levels entered (check_select, add_from, check_expr) */
} chk;

enum { CTX_NOAGG = 1, CTX_INAGG = 2 };

static inline ts_err fail(chk *c, int loc, const char *fmt, ...) TS_PRINTF(3, 4);

static inline ts_err fail(chk *c, int loc, const char *fmt, ...)
{
  va_list ap;
  char msg[sizeof c->err->msg];
  if (c->failed)
    return TS_EADQL;
  c->failed = 1;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  return adql__failq(c->q, c->err, loc, "%s", msg);
}

static inline ts_err oom(chk *c)
{
  if (!c->failed) {
    c->failed = 1;
    ts_fail(c->err, TS_ENOMEM, 0, "query needs more memory than a request may use");
  }
  return TS_ENOMEM;
}

/* PostgreSQL's check_stack_depth(): every recursive entry point counts the
 * level it enters and gives it back on the way out. The grammar already
 * refused trees deeper than ADQL_MAX_DEPTH and counts the same levels, so
 * this never fires for a parsed query; it keeps the bound true for any
 * tree and any new recursion. */
static inline int enter(chk *c, int loc)
{
  if (++c->depth <= ADQL_MAX_DEPTH)
    return 0;
  c->depth--;
  fail(c, loc, ADQL_DEPTH_FMT, ADQL_MAX_DEPTH);
  return -1;
}

static inline void *alloc(chk *c, size_t n)
{
  void *p = ts_arena_calloc(c->a, 1, n);
  if (!p)
    oom(c);
  return p;
}

typedef struct suggest {
  const char *best;
  const char *best_prefix; /* "s." for qualified suggestions */
  int dist;
} suggest;

#define BAD ((adql_type)-1)

static inline adql_type want_value(chk *c, adql_node *n, adql_type t)
{
  if (t == ADQL_T_COND)
    return fail(c, n->loc, "a condition cannot be used as a value here"), BAD;
  return t;
}

static inline adql_node *arg(const adql_node *n, size_t i)
{
  return n->args->items[i];
}

/* ---- between the checker's files ------------------------------------------ */

/* check.c */
int adql__check_select(chk *c, adql_select *s, adql_scope *parent, adql_list *ctes);

/* check_names.c */
const char *adql__unquote_pub(chk *c, const char *pub, int *exact);
int adql__name_match(const adql_ident *id, const char *name, int exact);
int adql__ident_eq(const adql_ident *x, const adql_ident *y);
char *adql__quote_ident(chk *c, const char *s);
const char *adql__canon_alias(chk *c, const adql_ident *id);
void adql__suggest_try(suggest *sg, const char *want, const char *prefix, const char *cand);
int adql__rv_match_qual(const adql_rangevar *rv, const adql_ident *qual, int nqual);
int adql__find_col_in(adql_scope *s, size_t lo, size_t hi, const adql_ident *id,
                      adql_rangevar **rv_out, int *col_out);
int adql__resolve_column(chk *c, adql_scope *s0, adql_node *n);

/* check_type.c */
int adql__is_num(adql_type t);
int adql__is_intclass(adql_type t);
adql_type adql__type_of_meta(const adql_column_meta *m);
const char *adql__datatype_of(adql_type t);
adql_type adql__num_join(adql_type x, adql_type y);
adql_type adql__need_numeric(chk *c, adql_node *n, adql_type t, const char *what);
adql_type adql__need_integer(chk *c, adql_node *n, adql_type t, const char *what);
adql_type adql__need_string(chk *c, adql_node *n, adql_type t, const char *what);
int adql__need_comparable(chk *c, adql_node *at, adql_type x, adql_type y, const char *what);
adql_type adql__common_type(chk *c, int loc, adql_type x, adql_type y, const char *what);

/* check_from.c */
const adql_cte *adql__find_cte(adql_list *ctes, const adql_ident *id);
int adql__add_from(chk *c, adql_scope *s, adql_from *f);

/* check_expr.c */
adql_type adql__check_expr(chk *c, adql_scope *s, adql_node *n, int ctx);
int adql__check_cond(chk *c, adql_scope *s, adql_node *n, int ctx, const char *clause);

/* check_func.c */
adql_type adql__check_func(chk *c, adql_scope *s, adql_node *n, int ctx);
adql_type adql__check_agg(chk *c, adql_scope *s, adql_node *n, int ctx);

/* check_geom.c */
adql_type adql__check_geom(chk *c, adql_node *n, const adql_func *fn);

/* check_target.c */
int adql__build_outputs(chk *c, adql_select *s);
int adql__check_order(chk *c, adql_select *top, adql_select *core);
int adql__check_group(chk *c, adql_select *s);

#endif
