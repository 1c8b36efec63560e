%{
/* adql/gram.y: the ADQL 2.1 grammar. Builds the raw AST only (adql_int.h);
 * names, types and functions are resolved later by check.c, as PostgreSQL's
 * gram.y leaves them to analyze.c.
 *
 * Value expressions and conditions are separate nonterminals, as in the
 * ADQL BNF: `SELECT a > 1` and `WHERE a` are syntax errors. Tokens come
 * through adql_yylex() (parser.c), which merges NOT LIKE / NOT ILIKE /
 * NOT BETWEEN / NOT IN into NOT_LA + keyword, so the grammar stays LALR(1)
 * without conflicts (%expect 0). */
#include "adql/adql_int.h"

#include <stdlib.h>
#include <string.h>
%}

%code requires {
#include "adql/adql_int.h"
}

%code provides {
int adql_yylex(ADQL_YYSTYPE *lval, int *lloc, adql_pstate *ps);
void adql_yyerror(int *lloc, adql_pstate *ps, const char *msg);
}

%code {
/* Memory for the parser stack comes from the query's arena, so a failed
 * parse leaks nothing; YYFREE is a no-op for the same reason. */
#define YYMALLOC(n) adql__alloc(ps, (n))
#define YYFREE(p) ((void)(p))
#define YYMAXDEPTH ADQL_MAX_PARSER_STACK

/* The location of a rule is the first known location of its parts; an
 * empty rule has none (-1). */
#define YYLLOC_DEFAULT(Cur, Rhs, N)                                                               \
  do {                                                                                             \
    (Cur) = -1;                                                                                    \
    for (int i_ = 1; i_ <= (N); i_++) {                                                            \
      if ((Rhs)[i_] >= 0) {                                                                        \
        (Cur) = (Rhs)[i_];                                                                         \
        break;                                                                                     \
      }                                                                                            \
    }                                                                                              \
  } while (0)

#define NODE(k, loc, a, b, c)                                                                      \
  ({                                                                                               \
    adql_node *n_ = adql__node(ps, (k), (loc), (a), (b), (c));                                     \
    if (!n_)                                                                                       \
      YYABORT;                                                                                     \
    n_;                                                                                            \
  })
#define CHECK(p)                                                                                   \
  do {                                                                                             \
    if (!(p))                                                                                      \
      YYABORT;                                                                                     \
  } while (0)

static adql_ident mkident(const char *s, int delimited, int loc)
{
  adql_ident id = {s, delimited, loc};
  return id;
}

/* A set operation over l and r. Chains (a UNION b UNION c ...) are
 * left-deep trees, one level per operand, so the depth budget bounds them:
 * the error points at the operator that goes one level too deep. */
static adql_select *setop(adql_pstate *ps, int op, int all, adql_select *l, adql_select *r, int loc,
                          int oploc)
{
  adql_select *s = adql__alloc(ps, sizeof(adql_select));
  if (!s)
    return NULL;
  s->loc = loc;
  s->setop = op;
  s->setall = all;
  s->larg = l;
  s->rarg = r;
  return adql__select_depth(ps, s, oploc) ? NULL : s;
}

/* Attaches WITH / ORDER BY / OFFSET to a query body. A parenthesised body
 * that already has its own ORDER BY or OFFSET gets no second one. */
static adql_select *finish_query(adql_pstate *ps, adql_select *s, adql_list *with, adql_list *order,
                                 adql_count off, int loc)
{
  if ((order && s->orderby) || (off.has && s->has_offset)) {
    adql__fail(ps, loc, "a query can have only one %s", order && s->orderby ? "ORDER BY" : "OFFSET");
    return NULL;
  }
  if (with)
    s->with = with;
  if (order)
    s->orderby = order;
  if (off.has) {
    s->has_offset = 1;
    s->offset = off.v;
  }
  return adql__select_depth(ps, s, loc) ? NULL : s;
}

static int parse_count(adql_pstate *ps, const char *text, int loc, const char *what, int64_t *out)
{
  if (ts_parse_int64(text, out) != TS_OK) {
    adql__fail(ps, loc, "%s value %s is out of range", what, text);
    return -1;
  }
  return 0;
}
}

%define api.pure full
%define api.prefix {adql_yy}
%define api.location.type {int}
%define parse.error custom
%locations
%expect 0
%param {adql_pstate *ps}

%union {
  const char *str;
  int ival;
  adql_ident ident;
  adql_node *node;
  adql_list *list;
  adql_from *from;
  adql_select *sel;
  adql_target *target;
  adql_orderitem *order;
  adql_cte *cte;
  adql_count cnt;
}

%token <str> IDENT DELIM_IDENT STRING INTEGER_LIT DECIMAL_LIT
%token NE LE GE CONCAT NOT_LA LEX_ERROR
/* A reserved ADQL function name (POINT, DISTANCE ...) not followed by '(':
 * only a CAST type name may be one (CAST(x AS POINT)); anywhere else it is
 * a syntax error that says the name is reserved (parser.c). */
%token <str> RESERVED_FN

/* Keywords (kwlist.h holds their spellings). */
%token ALL AND AS ASC AVG BETWEEN BY CASE CAST COALESCE COUNT CROSS DESC DISTINCT
%token ELSE END_P EXCEPT EXISTS FROM FULL GROUP HAVING ILIKE IN_P INNER INTERSECT IS
%token JOIN LEFT LIKE MAX MIN NATURAL NOT NULL_P OFFSET ON OR ORDER OUTER_P RIGHT
%token SELECT SUM THEN TOP UNION USING WHEN WHERE WITH

%type <sel> query top_query body_lp term_lp body_np term_np operand select_core subquery
%type <list> opt_with cte_list select_list from_list opt_group_by value_list
%type <list> order_list opt_order_by column_name_list when_list opt_from
%type <cte> cte
%type <ival> opt_distinct opt_all opt_asc_desc join_type opt_outer comp_op
%type <target> select_item
%type <from> table_ref table_primary joined_table join_cond
%type <ident> ident opt_alias
%type <node> value_expr value_primary literal column_ref function_call aggregate
%type <node> condition predicate opt_where opt_having opt_else case_expr
%type <order> order_item
%type <str> type_name
%type <cnt> opt_top opt_offset

%left OR
%left AND
%precedence NOT
%left CONCAT
%left '|'
%left '^'
%left '&'
%left '+' '-'
%left '*' '/'
%precedence UMINUS

%start stmt

%%

stmt:
    top_query opt_semicolon { ps->result = $1; }
  ;

opt_semicolon:
    %empty
  | ';'
  ;

/* The whole query: a set operation's first operand may be parenthesised
 * here. In a subquery it may not, because "((" would be ambiguous with a
 * parenthesised value; later operands may always be (UNION (SELECT ...)). */
top_query:
    opt_with body_lp opt_order_by opt_offset
      {
        CHECK($$ = finish_query(ps, $2, $1, $3, $4, @2));
      }
  ;

query:
    opt_with body_np opt_order_by opt_offset
      {
        CHECK($$ = finish_query(ps, $2, $1, $3, $4, @2));
      }
  ;

opt_offset:
    %empty                  { $$.has = 0; $$.v = 0; }
  | OFFSET INTEGER_LIT
      {
        CHECK(parse_count(ps, $2, @2, "OFFSET", &$$.v) == 0);
        $$.has = 1;
      }
  ;

opt_with:
    %empty                  { $$ = NULL; }
  | WITH cte_list           { $$ = $2; }
  ;

cte_list:
    cte                     { CHECK($$ = adql__list1(ps, $1)); }
  | cte_list ',' cte        { CHECK($$ = adql__list_add(ps, $1, $3)); }
  ;

cte:
    ident AS subquery
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_cte)));
        $$->name = $1;
        $$->query = $3;
        $$->loc = @1;
      }
  ;

/* INTERSECT binds tighter than UNION and EXCEPT (SQL). */
body_lp:
    term_lp                 { $$ = $1; }
  | body_lp UNION opt_all term_lp  { CHECK($$ = setop(ps, ADQL_SET_UNION, $3, $1, $4, @1, @2)); }
  | body_lp EXCEPT opt_all term_lp { CHECK($$ = setop(ps, ADQL_SET_EXCEPT, $3, $1, $4, @1, @2)); }
  ;

term_lp:
    operand                 { $$ = $1; }
  | term_lp INTERSECT opt_all operand { CHECK($$ = setop(ps, ADQL_SET_INTERSECT, $3, $1, $4, @1, @2)); }
  ;

body_np:
    term_np                 { $$ = $1; }
  | body_np UNION opt_all term_lp  { CHECK($$ = setop(ps, ADQL_SET_UNION, $3, $1, $4, @1, @2)); }
  | body_np EXCEPT opt_all term_lp { CHECK($$ = setop(ps, ADQL_SET_EXCEPT, $3, $1, $4, @1, @2)); }
  ;

term_np:
    select_core             { $$ = $1; }
  | term_np INTERSECT opt_all operand { CHECK($$ = setop(ps, ADQL_SET_INTERSECT, $3, $1, $4, @1, @2)); }
  ;

operand:
    select_core             { $$ = $1; }
  | '(' body_lp opt_order_by opt_offset ')'
      {
        CHECK($$ = finish_query(ps, $2, NULL, $3, $4, @2));
        $$->parens = 1;
      }
  ;

opt_all:
    %empty                  { $$ = 0; }
  | ALL                     { $$ = 1; }
  ;

select_core:
    SELECT opt_distinct opt_top select_list opt_from opt_where opt_group_by opt_having
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_select)));
        $$->loc = @1;
        $$->distinct = $2;
        $$->has_top = $3.has;
        $$->top = $3.v;
        $$->targets = $4;
        $$->from = $5;
        $$->where = $6;
        $$->groupby = $7;
        $$->having = $8;
        CHECK(adql__select_depth(ps, $$, @1) == 0);
      }
  ;

opt_distinct:
    %empty                  { $$ = 0; }
  | ALL                     { $$ = 0; }
  | DISTINCT                { $$ = 1; }
  ;

opt_top:
    %empty                  { $$.has = 0; $$.v = 0; }
  | TOP INTEGER_LIT
      {
        CHECK(parse_count(ps, $2, @2, "TOP", &$$.v) == 0);
        $$.has = 1;
      }
  ;

select_list:
    select_item             { CHECK($$ = adql__list1(ps, $1)); }
  | select_list ',' select_item { CHECK($$ = adql__list_add(ps, $1, $3)); }
  ;

select_item:
    '*'
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_target)));
        $$->star = 1; $$->loc = @1;
      }
  | ident '.' '*'
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_target)));
        $$->star = 1; $$->loc = @1; $$->qual[0] = $1; $$->nqual = 1;
      }
  | ident '.' ident '.' '*'
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_target)));
        $$->star = 1; $$->loc = @1; $$->qual[0] = $1; $$->qual[1] = $3; $$->nqual = 2;
      }
  | ident '.' ident '.' ident '.' '*'
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_target)));
        $$->star = 1; $$->loc = @1;
        $$->qual[0] = $1; $$->qual[1] = $3; $$->qual[2] = $5; $$->nqual = 3;
      }
  | value_expr opt_alias
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_target)));
        $$->expr = $1; $$->alias = $2; $$->loc = @1;
      }
  ;

opt_alias:
    %empty                  { $$ = mkident(NULL, 0, -1); }
  | ident                   { $$ = $1; }
  | AS ident                { $$ = $2; }
  ;

ident:
    IDENT                   { $$ = mkident($1, 0, @1); }
  | DELIM_IDENT             { $$ = mkident($1, 1, @1); }
  ;

/* ADQL requires FROM (unlike PostgreSQL). */
opt_from:
    FROM from_list          { $$ = $2; }
  ;

from_list:
    table_ref               { CHECK($$ = adql__list1(ps, $1)); }
  | from_list ',' table_ref { CHECK($$ = adql__list_add(ps, $1, $3)); }
  ;

table_ref:
    table_primary           { $$ = $1; }
  | joined_table            { $$ = $1; }
  ;

table_primary:
    ident opt_alias
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_from)));
        $$->kind = ADQL_FROM_TABLE; $$->loc = @1;
        $$->parts[0] = $1; $$->nparts = 1; $$->alias = $2;
        CHECK(adql__from_depth(ps, $$) == 0);
      }
  | ident '.' ident opt_alias
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_from)));
        $$->kind = ADQL_FROM_TABLE; $$->loc = @1;
        $$->parts[0] = $1; $$->parts[1] = $3; $$->nparts = 2; $$->alias = $4;
        CHECK(adql__from_depth(ps, $$) == 0);
      }
  | ident '.' ident '.' ident opt_alias
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_from)));
        $$->kind = ADQL_FROM_TABLE; $$->loc = @1;
        $$->parts[0] = $1; $$->parts[1] = $3; $$->parts[2] = $5; $$->nparts = 3; $$->alias = $6;
        CHECK(adql__from_depth(ps, $$) == 0);
      }
  | subquery opt_as ident
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_from)));
        $$->kind = ADQL_FROM_SUBQUERY; $$->loc = @1; $$->sub = $1; $$->alias = $3;
        CHECK(adql__from_depth(ps, $$) == 0);
      }
  | '(' joined_table ')'    { $$ = $2; }
  ;

opt_as:
    %empty
  | AS
  ;

joined_table:
    table_ref join_type JOIN table_primary join_cond
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_from)));
        $$->kind = ADQL_FROM_JOIN; $$->loc = @1; $$->jointype = $2 & ~ADQL_JOIN_EXPLICIT;
        $$->explicit_inner = ($2 & ADQL_JOIN_EXPLICIT) != 0;
        $$->left = $1; $$->right = $4;
        if ($5) {
          $$->has_spec = 1;
          $$->on = $5->on;
          $$->using_cols = $5->using_cols;
        }
        CHECK(adql__from_depth(ps, $$) == 0);
      }
  | table_ref NATURAL join_type JOIN table_primary
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_from)));
        $$->kind = ADQL_FROM_JOIN; $$->loc = @1; $$->jointype = $3 & ~ADQL_JOIN_EXPLICIT;
        $$->natural = 1;
        $$->left = $1; $$->right = $5; $$->has_spec = 1;
        CHECK(adql__from_depth(ps, $$) == 0);
      }
  | table_ref CROSS JOIN table_primary
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_from)));
        $$->kind = ADQL_FROM_JOIN; $$->loc = @1; $$->jointype = ADQL_JOIN_CROSS;
        $$->left = $1; $$->right = $4; $$->has_spec = 1;
        CHECK(adql__from_depth(ps, $$) == 0);
      }
  ;

join_type:
    %empty                  { $$ = ADQL_JOIN_INNER; }
  | INNER                   { $$ = ADQL_JOIN_INNER | ADQL_JOIN_EXPLICIT; }
  | LEFT opt_outer          { $$ = ADQL_JOIN_LEFT; }
  | RIGHT opt_outer         { $$ = ADQL_JOIN_RIGHT; }
  | FULL opt_outer          { $$ = ADQL_JOIN_FULL; }
  ;

opt_outer:
    %empty                  { $$ = 0; }
  | OUTER_P                 { $$ = 1; }
  ;

/* A scratch adql_from carries ON or USING up to joined_table. */
join_cond:
    %empty                  { $$ = NULL; }
  | ON condition
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_from)));
        $$->on = $2;
      }
  | USING '(' column_name_list ')'
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_from)));
        $$->using_cols = $3;
      }
  ;

column_name_list:
    ident
      {
        adql_ident *id;
        CHECK(id = adql__ident_dup(ps, $1));
        CHECK($$ = adql__list1(ps, id));
      }
  | column_name_list ',' ident
      {
        adql_ident *id;
        CHECK(id = adql__ident_dup(ps, $3));
        CHECK($$ = adql__list_add(ps, $1, id));
      }
  ;

opt_where:
    %empty                  { $$ = NULL; }
  | WHERE condition         { $$ = $2; }
  ;

opt_group_by:
    %empty                  { $$ = NULL; }
  | GROUP BY value_list     { $$ = $3; }
  ;

opt_having:
    %empty                  { $$ = NULL; }
  | HAVING condition        { $$ = $2; }
  ;

opt_order_by:
    %empty                  { $$ = NULL; }
  | ORDER BY order_list     { $$ = $3; }
  ;

order_list:
    order_item              { CHECK($$ = adql__list1(ps, $1)); }
  | order_list ',' order_item { CHECK($$ = adql__list_add(ps, $1, $3)); }
  ;

order_item:
    value_expr opt_asc_desc
      {
        CHECK($$ = adql__alloc(ps, sizeof(adql_orderitem)));
        $$->expr = $1; $$->desc = $2; $$->loc = @1;
      }
  ;

opt_asc_desc:
    %empty                  { $$ = 0; }
  | ASC                     { $$ = 0; }
  | DESC                    { $$ = 1; }
  ;

/* ---- conditions ---------------------------------------------------------- */

condition:
    predicate               { $$ = $1; }
  | condition OR condition  { $$ = NODE(ADQL_N_OR, @2, $1, $3, NULL); }
  | condition AND condition { $$ = NODE(ADQL_N_AND, @2, $1, $3, NULL); }
  | NOT condition           { $$ = NODE(ADQL_N_NOT, @1, $2, NULL, NULL); }
  | '(' condition ')'       { $$ = $2; }
  ;

predicate:
    value_expr comp_op value_expr
      {
        $$ = NODE(ADQL_N_CMP, @2, $1, $3, NULL);
        $$->op = $2;
      }
  | value_expr BETWEEN value_expr AND value_expr
      { $$ = NODE(ADQL_N_BETWEEN, @2, $1, $3, $5); }
  | value_expr NOT_LA BETWEEN value_expr AND value_expr
      {
        $$ = NODE(ADQL_N_BETWEEN, @2, $1, $4, $6);
        $$->negated = 1;
      }
  | value_expr LIKE value_expr  { $$ = NODE(ADQL_N_LIKE, @2, $1, $3, NULL); }
  | value_expr NOT_LA LIKE value_expr
      {
        $$ = NODE(ADQL_N_LIKE, @2, $1, $4, NULL);
        $$->negated = 1;
      }
  | value_expr ILIKE value_expr
      {
        $$ = NODE(ADQL_N_LIKE, @2, $1, $3, NULL);
        $$->flag = ADQL_F_ILIKE;
      }
  | value_expr NOT_LA ILIKE value_expr
      {
        $$ = NODE(ADQL_N_LIKE, @2, $1, $4, NULL);
        $$->flag = ADQL_F_ILIKE;
        $$->negated = 1;
      }
  | value_expr IN_P '(' value_list ')'
      {
        $$ = NODE(ADQL_N_IN, @2, $1, NULL, NULL);
        CHECK(adql__set_args(ps, $$, $4) == 0);
      }
  | value_expr NOT_LA IN_P '(' value_list ')'
      {
        $$ = NODE(ADQL_N_IN, @2, $1, NULL, NULL);
        CHECK(adql__set_args(ps, $$, $5) == 0);
        $$->negated = 1;
      }
  | value_expr IN_P subquery
      {
        $$ = NODE(ADQL_N_IN, @2, $1, NULL, NULL);
        CHECK(adql__set_sub(ps, $$, $3) == 0);
      }
  | value_expr NOT_LA IN_P subquery
      {
        $$ = NODE(ADQL_N_IN, @2, $1, NULL, NULL);
        CHECK(adql__set_sub(ps, $$, $4) == 0);
        $$->negated = 1;
      }
  | value_expr IS NULL_P    { $$ = NODE(ADQL_N_ISNULL, @2, $1, NULL, NULL); }
  | value_expr IS NOT NULL_P
      {
        $$ = NODE(ADQL_N_ISNULL, @2, $1, NULL, NULL);
        $$->negated = 1;
      }
  | EXISTS subquery
      {
        $$ = NODE(ADQL_N_EXISTS, @1, NULL, NULL, NULL);
        CHECK(adql__set_sub(ps, $$, $2) == 0);
      }
  ;

comp_op:
    '='                     { $$ = ADQL_CMP_EQ; }
  | NE                      { $$ = ADQL_CMP_NE; }
  | '<'                     { $$ = ADQL_CMP_LT; }
  | '>'                     { $$ = ADQL_CMP_GT; }
  | LE                      { $$ = ADQL_CMP_LE; }
  | GE                      { $$ = ADQL_CMP_GE; }
  ;

subquery:
    '(' query ')'
      {
        if ($2->with) {
          adql__fail(ps, @2, "WITH is only allowed at the start of the whole query");
          YYABORT;
        }
        $$ = $2;
      }
  ;

/* ---- value expressions --------------------------------------------------- */

value_list:
    value_expr              { CHECK($$ = adql__list1(ps, $1)); }
  | value_list ',' value_expr { CHECK($$ = adql__list_add(ps, $1, $3)); }
  ;

value_expr:
    value_primary           { $$ = $1; }
  | value_expr '+' value_expr
      {
        $$ = NODE(ADQL_N_ARITH, @2, $1, $3, NULL);
        $$->op = '+';
      }
  | value_expr '-' value_expr
      {
        $$ = NODE(ADQL_N_ARITH, @2, $1, $3, NULL);
        $$->op = '-';
      }
  | value_expr '*' value_expr
      {
        $$ = NODE(ADQL_N_ARITH, @2, $1, $3, NULL);
        $$->op = '*';
      }
  | value_expr '/' value_expr
      {
        $$ = NODE(ADQL_N_ARITH, @2, $1, $3, NULL);
        $$->op = '/';
      }
  | value_expr CONCAT value_expr { $$ = NODE(ADQL_N_CONCAT, @2, $1, $3, NULL); }
  | value_expr '&' value_expr
      {
        $$ = NODE(ADQL_N_BITOP, @2, $1, $3, NULL);
        $$->op = '&';
      }
  | value_expr '|' value_expr
      {
        $$ = NODE(ADQL_N_BITOP, @2, $1, $3, NULL);
        $$->op = '|';
      }
  | value_expr '^' value_expr
      {
        $$ = NODE(ADQL_N_BITOP, @2, $1, $3, NULL);
        $$->op = '^';
      }
  | '~' value_expr %prec UMINUS { $$ = NODE(ADQL_N_BITNOT, @1, $2, NULL, NULL); }
  | '-' value_expr %prec UMINUS  { $$ = NODE(ADQL_N_NEG, @1, $2, NULL, NULL); }
  | '+' value_expr %prec UMINUS
      {
        $$ = $2;
        $$->loc = @1;
      }
  ;

value_primary:
    literal                 { $$ = $1; }
  | column_ref              { $$ = $1; }
  | function_call           { $$ = $1; }
  | aggregate               { $$ = $1; }
  | case_expr               { $$ = $1; }
  | '(' value_expr ')'      { $$ = $2; }
  | subquery
      {
        $$ = NODE(ADQL_N_SUBQUERY, @1, NULL, NULL, NULL);
        CHECK(adql__set_sub(ps, $$, $1) == 0);
      }
  | CAST '(' value_expr AS type_name ')'
      {
        $$ = NODE(ADQL_N_CAST, @1, $3, NULL, NULL);
        $$->name = mkident($5, 0, @5);
      }
  | COALESCE '(' value_list ')'
      {
        $$ = NODE(ADQL_N_COALESCE, @1, NULL, NULL, NULL);
        CHECK(adql__set_args(ps, $$, $3) == 0);
      }
  ;

type_name:
    IDENT                   { $$ = $1; }
  | RESERVED_FN             { $$ = $1; }
  | IDENT '(' INTEGER_LIT ')'
      {
        CHECK($$ = ts_arena_printf(ps->arena, "%s(%s)", $1, $3));
      }
  | IDENT IDENT
      {
        /* DOUBLE PRECISION, CHARACTER VARYING */
        CHECK($$ = ts_arena_printf(ps->arena, "%s %s", $1, $2));
      }
  | IDENT IDENT '(' INTEGER_LIT ')'
      {
        CHECK($$ = ts_arena_printf(ps->arena, "%s %s(%s)", $1, $2, $4));
      }
  ;

literal:
    INTEGER_LIT
      {
        $$ = NODE(ADQL_N_INT, @1, NULL, NULL, NULL);
        $$->text = $1;
      }
  | DECIMAL_LIT
      {
        $$ = NODE(ADQL_N_REAL, @1, NULL, NULL, NULL);
        $$->text = $1;
      }
  | STRING
      {
        $$ = NODE(ADQL_N_STRING, @1, NULL, NULL, NULL);
        $$->text = $1;
      }
  | NULL_P                  { $$ = NODE(ADQL_N_NULL, @1, NULL, NULL, NULL); }
  ;

column_ref:
    ident
      {
        $$ = NODE(ADQL_N_COLUMN, @1, NULL, NULL, NULL);
        $$->parts[0] = $1; $$->nparts = 1;
      }
  | ident '.' ident
      {
        $$ = NODE(ADQL_N_COLUMN, @1, NULL, NULL, NULL);
        $$->parts[0] = $1; $$->parts[1] = $3; $$->nparts = 2;
      }
  | ident '.' ident '.' ident
      {
        $$ = NODE(ADQL_N_COLUMN, @1, NULL, NULL, NULL);
        $$->parts[0] = $1; $$->parts[1] = $3; $$->parts[2] = $5; $$->nparts = 3;
      }
  | ident '.' ident '.' ident '.' ident
      {
        $$ = NODE(ADQL_N_COLUMN, @1, NULL, NULL, NULL);
        $$->parts[0] = $1; $$->parts[1] = $3; $$->parts[2] = $5; $$->parts[3] = $7;
        $$->nparts = 4;
      }
  ;

function_call:
    IDENT '(' ')'
      {
        $$ = NODE(ADQL_N_FUNC, @1, NULL, NULL, NULL);
        $$->name = mkident($1, 0, @1);
      }
  | IDENT '(' value_list ')'
      {
        $$ = NODE(ADQL_N_FUNC, @1, NULL, NULL, NULL);
        $$->name = mkident($1, 0, @1);
        CHECK(adql__set_args(ps, $$, $3) == 0);
      }
  ;

aggregate:
    COUNT '(' '*' ')'
      {
        $$ = NODE(ADQL_N_AGG, @1, NULL, NULL, NULL);
        $$->op = ADQL_AGG_COUNT; $$->flag = ADQL_F_STAR;
      }
  | COUNT '(' opt_distinct value_expr ')'
      {
        $$ = NODE(ADQL_N_AGG, @1, $4, NULL, NULL);
        $$->op = ADQL_AGG_COUNT; $$->flag = $3 ? ADQL_F_DISTINCT : 0;
      }
  | MIN '(' opt_distinct value_expr ')'
      {
        $$ = NODE(ADQL_N_AGG, @1, $4, NULL, NULL);
        $$->op = ADQL_AGG_MIN; $$->flag = $3 ? ADQL_F_DISTINCT : 0;
      }
  | MAX '(' opt_distinct value_expr ')'
      {
        $$ = NODE(ADQL_N_AGG, @1, $4, NULL, NULL);
        $$->op = ADQL_AGG_MAX; $$->flag = $3 ? ADQL_F_DISTINCT : 0;
      }
  | SUM '(' opt_distinct value_expr ')'
      {
        $$ = NODE(ADQL_N_AGG, @1, $4, NULL, NULL);
        $$->op = ADQL_AGG_SUM; $$->flag = $3 ? ADQL_F_DISTINCT : 0;
      }
  | AVG '(' opt_distinct value_expr ')'
      {
        $$ = NODE(ADQL_N_AGG, @1, $4, NULL, NULL);
        $$->op = ADQL_AGG_AVG; $$->flag = $3 ? ADQL_F_DISTINCT : 0;
      }
  ;

case_expr:
    CASE when_list opt_else END_P
      {
        $$ = NODE(ADQL_N_CASE, @1, NULL, $3, NULL);
        CHECK(adql__set_args(ps, $$, $2) == 0);
      }
  | CASE value_expr when_list opt_else END_P
      {
        $$ = NODE(ADQL_N_CASE, @1, $2, $4, NULL);
        CHECK(adql__set_args(ps, $$, $3) == 0);
      }
  ;

/* A WHEN holds a condition (searched CASE) or a value (simple CASE); the
 * checker tells them apart by the CASE's operand. */
when_list:
    WHEN condition THEN value_expr
      {
        adql_node *w = NODE(ADQL_N_WHEN, @1, $2, $4, NULL);
        CHECK($$ = adql__list1(ps, w));
      }
  | WHEN value_expr THEN value_expr
      {
        adql_node *w = NODE(ADQL_N_WHEN, @1, $2, $4, NULL);
        CHECK($$ = adql__list1(ps, w));
      }
  | when_list WHEN condition THEN value_expr
      {
        adql_node *w = NODE(ADQL_N_WHEN, @2, $3, $5, NULL);
        CHECK($$ = adql__list_add(ps, $1, w));
      }
  | when_list WHEN value_expr THEN value_expr
      {
        adql_node *w = NODE(ADQL_N_WHEN, @2, $3, $5, NULL);
        CHECK($$ = adql__list_add(ps, $1, w));
      }
  ;

opt_else:
    %empty                  { $$ = NULL; }
  | ELSE value_expr         { $$ = $2; }
  ;

%%

/* PostgreSQL's message shape: the offending token, or "end of input". The
 * filter remembers where the lookahead token starts and ends. */
static int yyreport_syntax_error(const yypcontext_t *ctx, adql_pstate *ps)
{
  int loc = *yypcontext_location(ctx);
  if (ps->failed)
    return 0; /* the scanner already said what is wrong */
  if (yypcontext_token(ctx) == YYSYMBOL_YYEOF || loc < 0 || (size_t)loc >= ps->len) {
    adql__fail(ps, (int)ps->len, "syntax error at end of input");
    return 0;
  }
  int end = ps->last_loc == loc ? ps->last_end : loc + 1;
  if (end - loc > 60)
    end = loc + 60; /* a long string literal: enough to find it */
  if (yypcontext_token(ctx) == YYSYMBOL_RESERVED_FN)
    adql__fail(ps, loc,
               "syntax error at or near \"%.*s\": %.*s is a reserved ADQL function name (write it "
               "in double quotes to use it as a name)",
               end - loc, ps->text + loc, end - loc, ps->text + loc);
  else
    adql__fail(ps, loc, "syntax error at or near \"%.*s\"", end - loc, ps->text + loc);
  return 0;
}

void adql_yyerror(int *lloc, adql_pstate *ps, const char *msg)
{
  /* Reached for "memory exhausted" only (parse.error custom reports
   * syntax errors above): the parser stack hit YYMAXDEPTH. */
  adql__fail(ps, lloc ? *lloc : -1, "query is too deeply nested (%s)", msg);
}
