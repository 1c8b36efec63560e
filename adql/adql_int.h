/* adql/adql_int.h: private to adql/. The raw AST that gram.y builds, the
 * parser state shared by the scanner, the lookahead filter and the grammar,
 * and the internal entry points between the files.
 *
 * Locations are byte offsets into the query text everywhere (-1 = unknown);
 * they become 1-based character positions only when an error is reported
 * (adql__fail). */
#ifndef ADQL_INT_H
#define ADQL_INT_H

#include "adql/adql.h"

#include <stdint.h>

/* Limits that keep every pass bounded whatever the input. */
#define ADQL_MAX_QUERY_BYTES  (1024 * 1024) /* longer queries are refused */
#define ADQL_MAX_PAREN_DEPTH  200           /* nested parentheses */
#define ADQL_MAX_PARSER_STACK 10000         /* bison stack entries */

/* The one nesting budget of a whole query (PostgreSQL's check_stack_depth()):
 * expressions, subqueries, joins and set-operation chains count together,
 * because every pass recurses through all of them. The grammar gives each
 * node, FROM item and query its depth (1 + its deepest part) and refuses a
 * query deeper than this; the checker and the translator count the levels
 * they enter and stop at the same bound, so no pass, and no pass added
 * later, recurses deeper however the tree was built. A long UNION chain is
 * a left-deep tree: each operand costs one level. At this bound the
 * deepest accepted query uses 0.36 MiB of stack (gcc -O2; 0.45 MiB with
 * gcc's ASan): see the depth_budget unit test and docs/internals/adql.md. */
#define ADQL_MAX_DEPTH 1000
#define ADQL_DEPTH_FMT "query is too complex: nesting deeper than %d levels"

/* ---- identifiers and lists ------------------------------------------------ */

/* An identifier as written: `name` is unescaped and NUL-terminated;
 * delimited identifiers ("...") compare exactly, regular ones without
 * regard to case. */
typedef struct adql_ident {
  const char *name;
  int delimited;
  int loc;
} adql_ident;

/* TOP / OFFSET while parsing. */
typedef struct adql_count {
  int has;
  int64_t v;
} adql_count;

typedef struct adql_list {
  size_t n, cap;
  void **items;
} adql_list;

/* ---- expressions ------------------------------------------------------------ */

typedef enum adql_nodekind {
  ADQL_N_INT,      /* text: the digits as written (hex converted to decimal) */
  ADQL_N_REAL,     /* text: as written */
  ADQL_N_STRING,   /* text: the unescaped value */
  ADQL_N_NULL,     /* NULL (only where ADQL allows it: CASE/COALESCE results) */
  ADQL_N_COLUMN,   /* parts[0..nparts-1]: [[[catalog.]schema.]table.]column */
  ADQL_N_NEG,      /* -a (unary plus is dropped by the grammar) */
  ADQL_N_ARITH,    /* a op b, op one of + - * / */
  ADQL_N_CONCAT,   /* a || b */
  ADQL_N_FUNC,     /* name(args): math, string, geometry functions and UDFs */
  ADQL_N_AGG,      /* op = ADQL_AGG_*; flag ADQL_F_STAR / ADQL_F_DISTINCT; a */
  ADQL_N_CMP,      /* a op b, op = ADQL_CMP_* */
  ADQL_N_AND,      /* a AND b */
  ADQL_N_OR,       /* a OR b */
  ADQL_N_NOT,      /* NOT a */
  ADQL_N_BETWEEN,  /* a [NOT] BETWEEN b AND c */
  ADQL_N_LIKE,     /* a [NOT] LIKE|ILIKE b (flag ADQL_F_ILIKE) */
  ADQL_N_IN,       /* a [NOT] IN (args) | a [NOT] IN (sub) */
  ADQL_N_ISNULL,   /* a IS [NOT] NULL */
  ADQL_N_EXISTS,   /* EXISTS (sub) */
  ADQL_N_SUBQUERY, /* (sub) as a scalar value */
  ADQL_N_CASE,     /* CASE [a] WHEN..THEN.. [ELSE b] END: args = ADQL_N_WHEN list */
  ADQL_N_WHEN,     /* WHEN a THEN b */
  ADQL_N_CAST,     /* CAST(a AS typename) */
  ADQL_N_COALESCE, /* COALESCE(args) */
  ADQL_N_BITOP,    /* a op b, op one of & | ^ (integers) */
  ADQL_N_BITNOT    /* ~a */
} adql_nodekind;

enum { ADQL_CMP_EQ, ADQL_CMP_NE, ADQL_CMP_LT, ADQL_CMP_GT, ADQL_CMP_LE, ADQL_CMP_GE };
enum { ADQL_AGG_COUNT, ADQL_AGG_MIN, ADQL_AGG_MAX, ADQL_AGG_SUM, ADQL_AGG_AVG };
enum { ADQL_F_STAR = 1, ADQL_F_DISTINCT = 2, ADQL_F_ILIKE = 4, ADQL_F_SYS = 8 };

/* What a geometry value is (adql_node.gkind, checker): decides the
 * pgSphere type and the DALI xtype of a selected geometry. */
typedef enum {
  ADQL_G_NONE,
  ADQL_G_POINT,   /* spoint; DALI point double[2] */
  ADQL_G_CIRCLE,  /* scircle; DALI circle double[3] */
  ADQL_G_POLYGON, /* spoly; DALI polygon double[*] (BOX is a polygon too) */
  ADQL_G_REGION   /* anything else (a REGION column, a compound STC-S region) */
} adql_gkind;

/* Geometry functions (adql_func.geom). */
enum {
  ADQL_GF_NONE,
  ADQL_GF_POINT,
  ADQL_GF_CIRCLE,
  ADQL_GF_BOX,
  ADQL_GF_POLYGON,
  ADQL_GF_REGION,
  ADQL_GF_CONTAINS,
  ADQL_GF_INTERSECTS,
  ADQL_GF_DISTANCE,
  ADQL_GF_AREA,
  ADQL_GF_CENTROID,
  ADQL_GF_COORD1,
  ADQL_GF_COORD2,
  ADQL_GF_COORDSYS
};

/* An STC-S region (REGION('Circle ICRS 10 20 1')), parsed by the checker. */
typedef enum {
  ADQL_R_POSITION, /* v: lon lat */
  ADQL_R_CIRCLE,   /* v: lon lat radius */
  ADQL_R_BOX,      /* v: lon lat width height */
  ADQL_R_POLYGON,  /* v: lon1 lat1 lon2 lat2 ... (3 points at least) */
  ADQL_R_UNION,    /* sub: two or more regions */
  ADQL_R_INTERSECTION,
  ADQL_R_NOT /* sub: one region */
} adql_regkind;

typedef struct adql_region {
  adql_regkind kind;
  const char *frame; /* as written; NULL: none */
  size_t nv;
  double *v;
  size_t nsub;
  struct adql_region **sub;
} adql_region;

/* Value types the checker assigns. ADQL_T_COND is the type of conditions
 * (comparisons, AND/OR/NOT, LIKE ...), which ADQL keeps apart from values;
 * ADQL_T_UNKNOWN is a value of unknown type (UDF results in syntax-only
 * mode, NULL): it is accepted wherever a value is. */
typedef enum adql_type {
  ADQL_T_UNKNOWN,
  ADQL_T_COND,
  ADQL_T_SHORT,
  ADQL_T_INT,
  ADQL_T_LONG,
  ADQL_T_FLOAT,
  ADQL_T_DOUBLE,
  ADQL_T_STRING,
  ADQL_T_BOOLEAN, /* a boolean column value */
  ADQL_T_GEOMETRY,
  ADQL_T_OTHER /* timestamps, arrays ...: comparable, no arithmetic */
} adql_type;

struct adql_select;
struct adql_rangevar;
struct adql_func;

typedef struct adql_node {
  adql_nodekind kind;
  int loc;
  int op;
  int negated; /* NOT BETWEEN / NOT LIKE / NOT IN / IS NOT NULL */
  int flag;
  int depth; /* 1 + the deepest part, subqueries included: <= ADQL_MAX_DEPTH */
  const char *text;
  adql_ident name; /* FUNC name; CAST type name */
  adql_ident parts[4];
  int nparts;
  struct adql_node *a, *b, *c;
  adql_list *args;
  struct adql_select *sub;

  /* Filled by the checker. */
  adql_type type;
  const adql_column_meta *col;    /* COLUMN: the published column */
  const struct adql_rangevar *rv; /* COLUMN: where it was found */
  int rvcol;                      /* COLUMN: index of the column in rv */
  int unqualified;                /* COLUMN: a merged USING/NATURAL column */
  const char *target_sql;         /* COLUMN naming an output column (ORDER BY) */
  const struct adql_func *fn;     /* FUNC: a built-in */
  const adql_udf *udf;            /* FUNC: a user-defined function */
  int argtype_numeric;            /* FUNC: decided variant (e.g. MOD on doubles) */
  adql_gkind gkind;               /* type ADQL_T_GEOMETRY: which geometry */
  adql_region *region;            /* REGION('...') with a literal: the parsed STC-S */
  double unit_factor;             /* IN_UNIT: multiply by this */
} adql_node;

/* ---- FROM items, select lists, queries ----------------------------------- */

typedef enum { ADQL_FROM_TABLE, ADQL_FROM_JOIN, ADQL_FROM_SUBQUERY } adql_fromkind;
typedef enum {
  ADQL_JOIN_INNER,
  ADQL_JOIN_LEFT,
  ADQL_JOIN_RIGHT,
  ADQL_JOIN_FULL,
  ADQL_JOIN_CROSS
} adql_jointype;
#define ADQL_JOIN_EXPLICIT 0x100 /* grammar only: INNER was written */

typedef struct adql_from {
  adql_fromkind kind;
  int loc;
  int depth;           /* 1 + the deepest part: <= ADQL_MAX_DEPTH */
  adql_ident parts[3]; /* TABLE: [catalog.][schema.]table */
  int nparts;
  adql_ident alias; /* alias.name == NULL: none */
  adql_jointype jointype;
  int natural;
  int has_spec;       /* JOIN has ON or USING */
  int explicit_inner; /* INNER was written */
  struct adql_from *left, *right;
  adql_node *on;
  adql_list *using_cols; /* of adql_ident* */
  const char **using_db; /* checker: the db name of each USING column */
  struct adql_select *sub;

  /* Filled by the checker. */
  const adql_table_meta *table;
  struct adql_rangevar *rv;
} adql_from;

typedef struct adql_target {
  adql_node *expr; /* NULL for * and t.* */
  adql_ident alias;
  int star;           /* 1: * or qualifier.* */
  adql_ident qual[3]; /* the qualifier of qualifier.* */
  int nqual;
  int loc;
} adql_target;

typedef struct adql_orderitem {
  adql_node *expr;
  int desc;
  int loc;
} adql_orderitem;

typedef struct adql_cte {
  adql_ident name;
  const char *sqlname; /* checker: quoted canonical name */
  struct adql_select *query;
  int loc;
} adql_cte;

enum { ADQL_SET_NONE, ADQL_SET_UNION, ADQL_SET_EXCEPT, ADQL_SET_INTERSECT };

/* A query: either a SELECT core (setop == ADQL_SET_NONE) or a set operation
 * over larg and rarg. ORDER BY / OFFSET / WITH belong to the outermost one. */
typedef struct adql_select {
  int loc;
  int depth; /* 1 + the deepest part (operands, expressions, FROM, WITH) */
  int setop;
  int setall;
  struct adql_select *larg, *rarg;
  int distinct;
  int has_top;
  int64_t top;
  adql_list *targets; /* adql_target* */
  adql_list *from;    /* adql_from* (comma separated) */
  adql_node *where;
  adql_list *groupby; /* adql_node* */
  adql_node *having;
  adql_list *orderby; /* adql_orderitem* */
  int has_offset;
  int64_t offset;
  adql_list *with; /* adql_cte* */
  int parens;      /* written in parentheses (a set operation's operand) */

  /* Filled by the checker. */
  struct adql_scope *scope;
  size_t nout;
  adql_column_meta *out; /* output columns (names, metadata) */
  adql_type *outtype;
  struct adql_outcol *outcols; /* how to emit each output column */
} adql_select;

/* One output column after * expansion. */
typedef struct adql_outcol {
  adql_node *expr;                /* NULL for a column from * expansion */
  const struct adql_rangevar *rv; /* * expansion: source range variable */
  int rvcol;
  int unqualified;
  const char *sql_alias; /* unique output name emitted with AS */
} adql_outcol;

struct adql_query {
  const char *text;
  size_t len;
  ts_arena *arena;
  adql_select *sel;
  int checked;     /* adql_check succeeded */
  int syntax_only; /* adql_check_syntax succeeded */
  const adql_meta *meta;
};

/* ---- checker scopes (check_from.c builds them, translate.c reads them) ------- */

typedef struct adql_rvcol {
  const char *name; /* published or output name, unquoted */
  int exact;        /* name is delimited: match only exactly */
  const char *db;   /* SQL identifier (unquoted) */
  const adql_column_meta *meta;
  adql_type type;
  int hidden; /* merged into the left side by USING/NATURAL */
  int merged; /* the surviving merged column: referenced unqualified */
} adql_rvcol;

typedef struct adql_rangevar {
  adql_from *from;
  const adql_table_meta *table; /* NULL: subquery or CTE */
  const adql_cte *cte;
  const char *tname; /* table or CTE name, unquoted */
  int texact;
  const char *sname; /* schema name, unquoted (NULL: none) */
  int sexact;
  adql_ident alias;     /* alias.name NULL: none */
  const char *sqlname;  /* qualifier to emit, already quoted */
  const char *sqltable; /* the table (or CTE) to emit in FROM, quoted */
  size_t ncols;
  adql_rvcol *cols;
} adql_rangevar;

typedef struct adql_scope {
  struct adql_scope *parent;
  adql_rangevar **rvs;
  size_t nrv, caprv;
  size_t vis_lo, vis_hi; /* visible rvs while checking ON: [vis_lo, vis_hi) */
  int restricted;
  adql_list *ctes; /* visible CTEs (adql_cte*) */
  adql_select *sel;
} adql_scope;

/* ---- parser state ----------------------------------------------------------- */

typedef void *adql_scan_t;

typedef struct adql_pstate {
  const char *text;
  size_t len;
  ts_arena *arena;
  ts_error *err;
  int failed;  /* err holds the first error */
  ts_err code; /* its code: TS_EADQL, or TS_ENOMEM */
  adql_select *result;
  adql_scan_t scanner;
  /* lookahead filter */
  int have_ahead;
  int ahead_tok;
  int ahead_loc;
  int ahead_end;
  union adql_yyval_store {
    const char *str;
    void *ptr;
  } ahead_val;
  int last_loc; /* start and end of the token handed to the grammar last */
  int last_end;
  int tok_end; /* end offset of the token the scanner produced last */
  int paren_depth;
} adql_pstate;

/* ---- internal entry points -------------------------------------------------- */

/* Records the first error: code TS_EADQL, position from the byte offset
 * `loc`, line and column. Returns TS_EADQL. */
ts_err adql__fail(adql_pstate *ps, int loc, const char *fmt, ...) TS_PRINTF(3, 4);
/* Records TS_ENOMEM (the arena's cap was reached). */
ts_err adql__oom(adql_pstate *ps, int loc);
ts_err adql__failq(const adql_query *q, ts_error *err, int loc, const char *fmt, ...)
    TS_PRINTF(4, 5);

/* Keyword token for the identifier [s, s+n) (any case), or -1. */
int adql__keyword_lookup(const char *s, size_t n);
/* The lower-case spelling of the keyword with index i, for tests. */
const char *adql__keyword_name(size_t i);
size_t adql__keyword_count(void);

/* Scanner (scan.l). */
int adql__scanner_init(adql_pstate *ps);
void adql__scanner_destroy(adql_pstate *ps);

/* AST helpers (ast.c). All allocate in ps->arena; on arena exhaustion they
 * record an error in ps and return NULL. */
void *adql__alloc(adql_pstate *ps, size_t n);
adql_list *adql__list1(adql_pstate *ps, void *item);
adql_list *adql__list_add(adql_pstate *ps, adql_list *l, void *item);
adql_node *adql__node(adql_pstate *ps, adql_nodekind kind, int loc, adql_node *a, adql_node *b,
                      adql_node *c);
adql_ident *adql__ident_dup(adql_pstate *ps, adql_ident id);
/* Sets n->args and n->depth from them; -1 (error recorded) when too deep. */
int adql__set_args(adql_pstate *ps, adql_node *n, adql_list *args);
/* Sets n->sub and n->depth from it; -1 (error recorded) when too deep. */
int adql__set_sub(adql_pstate *ps, adql_node *n, adql_select *sub);
/* Sets s->depth from all its parts (call again after adding one) and
 * f->depth from its parts; -1, with the error at byte `loc` (the select) or
 * f->loc recorded, when the ADQL_MAX_DEPTH budget is exceeded. */
int adql__select_depth(adql_pstate *ps, adql_select *s, int loc);
int adql__from_depth(adql_pstate *ps, adql_from *f);

/* Checker helpers used by the translator (check_type.c). */
const char *adql__type_name(adql_type t);

/* The PostgreSQL identifier a published name maps to when no db_* name is
 * given: a delimited published name ("Mixed") keeps its case, a regular one
 * is folded to lower case. Result in the arena (NULL when it is full).
 * In ident.c, beside adql_quote and adql_unquote. */
const char *adql__db_ident(ts_arena *a, const char *db_name, const char *published);

/* Built-in functions (check_func.c) */
typedef enum {
  ADQL_FN_NUMERIC, /* numeric args, double result */
  ADQL_FN_SAME,    /* result has the type of the first argument (ABS) */
  ADQL_FN_STRING,  /* string args, string result */
  ADQL_FN_ROUNDLIKE,
  ADQL_FN_MOD,
  ADQL_FN_RAND,
  ADQL_FN_NULLIF, /* NULLIF(a, b): the type of a */
  ADQL_FN_INUNIT, /* IN_UNIT(value, 'unit') */
  ADQL_FN_GEOM    /* geometry: see adql_func.geom */
} adql_fnclass;

typedef struct adql_func {
  const char *name; /* ADQL name, lower case */
  const char *pg;   /* PostgreSQL function */
  int minargs, maxargs;
  adql_fnclass cls;
  int geom; /* ADQL_GF_*: a geometry function */
} adql_func;

/* The geometry kind a column's xtype announces (check_geom.c). */
adql_gkind adql__gkind_of_meta(const adql_column_meta *m);

/* Is `s` one of ADQL's reserved function names (POINT, DISTANCE ...)? */
int adql__reserved_fn(const char *s);

/* Parses an STC-S region (geom.c): Position, Circle, Box, Polygon, Union,
 * Intersection, Not, with optional frame, reference position and flavour
 * words. On failure returns -1 with a message in msg. */
int adql__stcs_parse(ts_arena *a, const char *text, adql_region **out, char *msg, size_t msgsize);

/* The factor that converts a value in unit `from` to unit `to` (VOUnits:
 * prefixes, products with '.', quotients with '/', powers with '**').
 * Returns -1 with a message when either unit is unknown or the two do not
 * measure the same quantity. */
int adql__unit_factor(const char *from, const char *to, double *factor, char *msg, size_t msgsize);

const adql_func *adql__func_lookup(const char *name);

#endif
