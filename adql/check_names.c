/* adql/check_names.c: names (PostgreSQL's parse_relation.c, the name part).
 *
 * Published names (delimited ones, "Mixed", match only exactly), how an
 * identifier of the query matches them, aliases in canonical form, the SQL
 * qualifiers the translator emits, "did you mean" suggestions, and the
 * resolution of a column reference through the scopes, innermost first. */
#include "adql/check_int.h"

#include <ctype.h>
#include <string.h>

/* "Mixed" (with the quotes) -> Mixed, exact; anything else as is. */
const char *adql__unquote_pub(chk *c, const char *pub, int *exact)
{
  char *out = NULL;
  if (pub && adql_unquote(c->a, pub, strlen(pub), '"', &out) != TS_OK) {
    *exact = 0;
    oom(c);
    return NULL;
  }
  *exact = out != NULL;
  return out ? out : pub;
}

int adql__name_match(const adql_ident *id, const char *name, int exact)
{
  if (!name)
    return 0;
  if (exact || id->delimited)
    return strcmp(id->name, name) == 0;
  return ts_strcaseeq(id->name, name);
}

/* Canonical form: regular identifiers fold to lower case. */
int adql__ident_eq(const adql_ident *x, const adql_ident *y)
{
  if (!x->delimited && !y->delimited)
    return ts_strcaseeq(x->name, y->name);
  if (x->delimited && y->delimited)
    return strcmp(x->name, y->name) == 0;
  const adql_ident *d = x->delimited ? x : y, *r = x->delimited ? y : x;
  for (const char *p = d->name, *s = r->name;; p++, s++) {
    if (*p != (char)tolower((unsigned char)*s))
      return 0;
    if (!*p)
      return 1;
  }
}

/* s as a delimited identifier for the SQL, in the arena. */
char *adql__quote_ident(chk *c, const char *s)
{
  ts_buf b;
  char *out = NULL;
  ts_buf_init(&b, 2 * strlen(s) + 2); /* every character a quote, and two more */
  if (adql_quote(&b, s, '"') == TS_OK)
    out = ts_arena_strndup(c->a, b.data, b.len);
  ts_buf_free(&b);
  if (!out)
    oom(c);
  return out;
}

const char *adql__canon_alias(chk *c, const adql_ident *id)
{
  if (id->delimited)
    return id->name;
  char *s = ts_arena_strdup(c->a, id->name);
  if (!s) {
    oom(c);
    return NULL;
  }
  for (char *p = s; *p; p++)
    *p = (char)tolower((unsigned char)*p);
  return s;
}

/* Levenshtein distance, case-insensitive, capped at 64 characters. */
static int edit_distance(const char *x, const char *y)
{
  int d[65][65];
  size_t n = strlen(x), m = strlen(y);
  if (n > 64 || m > 64)
    return 1000;
  for (size_t i = 0; i <= n; i++)
    d[i][0] = (int)i;
  for (size_t j = 0; j <= m; j++)
    d[0][j] = (int)j;
  for (size_t i = 1; i <= n; i++)
    for (size_t j = 1; j <= m; j++) {
      int cost = tolower((unsigned char)x[i - 1]) != tolower((unsigned char)y[j - 1]);
      int v = d[i - 1][j] + 1;
      if (d[i][j - 1] + 1 < v)
        v = d[i][j - 1] + 1;
      if (d[i - 1][j - 1] + cost < v)
        v = d[i - 1][j - 1] + cost;
      d[i][j] = v;
    }
  return d[n][m];
}

void adql__suggest_try(suggest *sg, const char *want, const char *prefix, const char *cand)
{
  int dist = edit_distance(want, cand);
  int limit = (int)strlen(want) / 3 + 1;
  if (limit > 3)
    limit = 3;
  if (dist <= limit && (!sg->best || dist < sg->dist)) {
    sg->best = cand;
    sg->best_prefix = prefix;
    sg->dist = dist;
  }
}

int adql__rv_match_qual(const adql_rangevar *rv, const adql_ident *qual, int nqual)
{
  if (nqual == 1) {
    if (rv->alias.name)
      return adql__ident_eq(&rv->alias, qual);
    return adql__name_match(&qual[0], rv->tname, rv->texact);
  }
  if (nqual == 2) {
    if (rv->alias.name || !rv->sname)
      return 0;
    return adql__name_match(&qual[0], rv->sname, rv->sexact) &&
           adql__name_match(&qual[1], rv->tname, rv->texact);
  }
  return 0;
}

/* Finds column `id` in rvs [lo, hi) of s: returns the number of matches
 * (merged USING columns count once), the first in *rv_out / *col_out. */
int adql__find_col_in(adql_scope *s, size_t lo, size_t hi, const adql_ident *id,
                      adql_rangevar **rv_out, int *col_out)
{
  int found = 0;
  for (size_t i = lo; i < hi; i++) {
    adql_rangevar *rv = s->rvs[i];
    for (size_t j = 0; j < rv->ncols; j++) {
      if (rv->cols[j].hidden || !adql__name_match(id, rv->cols[j].name, rv->cols[j].exact))
        continue;
      if (!found) {
        *rv_out = rv;
        *col_out = (int)j;
      }
      found++;
    }
  }
  return found;
}

int adql__resolve_column(chk *c, adql_scope *s0, adql_node *n)
{
  const adql_ident *col = &n->parts[n->nparts - 1];
  int nqual = n->nparts - 1;
  if (nqual == 3 && !c->syntax_only)
    return fail(c, n->parts[0].loc, "catalog names are not supported (\"%s\")", n->parts[0].name),
           -1;
  if (c->syntax_only) {
    n->type = ADQL_T_UNKNOWN;
    return 0;
  }
  for (adql_scope *s = s0; s; s = s->parent) {
    size_t lo = s == s0 && s->restricted ? s->vis_lo : 0;
    size_t hi = s == s0 && s->restricted ? s->vis_hi : s->nrv;
    adql_rangevar *hit = NULL;
    int hitcol = -1, nhits = 0, qual_seen = 0;
    for (size_t i = lo; i < hi; i++) {
      adql_rangevar *rv = s->rvs[i];
      if (nqual && !adql__rv_match_qual(rv, n->parts, nqual))
        continue;
      qual_seen = 1;
      for (size_t j = 0; j < rv->ncols; j++) {
        if ((!nqual && rv->cols[j].hidden) ||
            !adql__name_match(col, rv->cols[j].name, rv->cols[j].exact))
          continue;
        if (!hit) {
          hit = rv;
          hitcol = (int)j;
        }
        nhits++;
      }
    }
    if (nhits > 1)
      return fail(c, n->loc,
                  "column reference \"%s\" is ambiguous: qualify it with a table name "
                  "or alias",
                  col->name),
             -1;
    if (hit) {
      n->rv = hit;
      n->rvcol = hitcol;
      n->col = hit->cols[hitcol].meta;
      n->type = hit->cols[hitcol].type;
      if (n->type == ADQL_T_GEOMETRY)
        n->gkind = adql__gkind_of_meta(n->col);
      n->unqualified = !nqual && hit->cols[hitcol].merged;
      return 0;
    }
    if (nqual && qual_seen) {
      suggest sg = {0};
      for (size_t i = lo; i < hi; i++)
        if (adql__rv_match_qual(s->rvs[i], n->parts, nqual))
          for (size_t j = 0; j < s->rvs[i]->ncols; j++)
            adql__suggest_try(&sg, col->name, NULL, s->rvs[i]->cols[j].name);
      if (sg.best)
        return fail(c, col->loc,
                    "column \"%s\" does not exist in table \"%s\" (did you mean "
                    "\"%s\"?)",
                    col->name, n->parts[nqual - 1].name, sg.best),
               -1;
      return fail(c, col->loc, "column \"%s\" does not exist in table \"%s\"", col->name,
                  n->parts[nqual - 1].name),
             -1;
    }
  }
  if (nqual) {
    return fail(c, n->loc, "table or alias \"%s\" is not in the FROM clause",
                n->parts[nqual - 1].name),
           -1;
  }
  {
    suggest sg = {0};
    for (adql_scope *s = s0; s; s = s->parent)
      for (size_t i = 0; i < s->nrv; i++)
        for (size_t j = 0; j < s->rvs[i]->ncols; j++)
          adql__suggest_try(&sg, col->name, NULL, s->rvs[i]->cols[j].name);
    if (sg.best)
      return fail(c, n->loc, "column \"%s\" does not exist (did you mean \"%s\"?)", col->name,
                  sg.best),
             -1;
    return fail(c, n->loc, "column \"%s\" does not exist", col->name), -1;
  }
}
