/* adql/adql.h: ADQL 2.1 (accepting 2.0): parser, checker, translator to
 * PostgreSQL (+ pgSphere) SQL. Depends on common/ only.
 *
 *   adql_parse   text -> raw AST (syntax only)
 *   adql_check   resolves tables/columns against metadata, types expressions,
 *                infers result column metadata
 *   adql_translate  checked AST -> SQL text (identifiers quoted, literals
 *                escaped), with an optional row limit
 *
 * Everything is allocated in the caller's arena; errors carry a code
 * (TS_EADQL), a message and a 1-based character position. */
#ifndef TS_ADQL_H
#define TS_ADQL_H

#include "common/common.h"

typedef struct adql_query adql_query;

/* Metadata as TAP_SCHEMA publishes it. Names are the published ones
 * (matched case-insensitively for regular identifiers, exactly for delimited
 * ones); db_* are the PostgreSQL identifiers to emit (NULL = same as the
 * published name). */
typedef struct adql_column_meta {
  const char *name;
  const char *db_name;
  const char *datatype;  /* VOTable datatype: "double", "long", "char", ... */
  const char *arraysize; /* NULL or "*", "N", "N*" */
  const char *xtype;
  const char *unit;
  const char *ucd;
  const char *utype;
  const char *description;
  int indexed;
  int principal;
  int std;
} adql_column_meta;

typedef struct adql_table_meta {
  const char *schema;    /* published schema name ("TAP_SCHEMA") */
  const char *name;      /* published table name without schema ("tables") */
  const char *db_schema; /* PostgreSQL schema ("tap_schema") */
  const char *db_name;   /* PostgreSQL table ("tables") */
  const char *description;
  size_t ncols;
  const adql_column_meta *cols;
} adql_table_meta;

/* A user-defined function: signature and SQL translation template. */
typedef struct adql_udf {
  const char *name;      /* ADQL name, e.g. "ivo_hasword" */
  const char *signature; /* "ivo_hasword(haystack TEXT, needle TEXT) -> INTEGER" */
  const char *sql;       /* template: $1, $2 ... replaced by the translated args */
} adql_udf;

/* A per-request metadata layer: tables one request (or one user) may name
 * on top of the published ones. TAP_UPLOAD is one (schema "TAP_UPLOAD",
 * db_schema "tap_upload", db_name the request's own table); a user's own
 * and shared tables are others. Layers form a chain, consulted in order
 * after the published tables; a bare table name found in two places is
 * ambiguous, as it is between two published schemas. */
typedef struct adql_layer {
  const char *name; /* what the layer holds ("uploads"), for messages */
  size_t ntables;
  const adql_table_meta *tables;
  const struct adql_layer *next;
} adql_layer;

typedef struct adql_meta {
  size_t ntables; /* the published tables (the TAP_SCHEMA snapshot) */
  const adql_table_meta *tables;
  const adql_layer *layers; /* per request; NULL: none */
  size_t nudfs;
  const adql_udf *udfs;
  /* Operator control (added with geometry). ngeom == 0: every geometry
   * function is allowed; else only those named in geom (any case: "POINT",
   * "CONTAINS" ...). ncoordsys == 0: the coordinate system argument must be
   * empty or ICRS (the frame of the data: pgSphere converts nothing); else
   * one of coordsys (compared with the first word of the argument, any
   * case). */
  size_t ngeom;
  const char *const *geom;
  size_t ncoordsys;
  const char *const *coordsys;
} adql_meta;

/* The metadata one request checks against: *out becomes a shallow copy of
 * `base` with layer l in front of base's own layers (l->next is set; l and
 * base are borrowed and must outlive every check against *out). */
void adql_meta_push(const adql_meta *base, adql_layer *l, adql_meta *out);

/* The UDFs every service offers unless the operator says otherwise
 * (ivo_hasword, ivo_nocasematch, ivo_healpix_index, gaia_healpix_index ...),
 * with their pgSphere/PostgreSQL translations. Static storage. */
const adql_udf *adql_std_udfs(size_t *n);

/* The words of ADQL an editor highlights: the grammar's keywords, then
 * ADQL 2.1's reserved function names; lower case. i runs from 0 until the
 * answer is NULL; *function is 1 for a function name (COUNT, CAST, SIN,
 * POINT ...). */
const char *adql_word(size_t i, int *function);

/* The geometry functions this implementation translates (upper case, for
 * TAPRegExt features-adqlgeo). Static storage. */
const char *const *adql_geometry_functions(size_t *n);

/* Parses `len` bytes of `text` (not necessarily NUL-terminated). Rejects
 * NUL bytes and invalid UTF-8 with a positioned error. */
ts_err adql_parse(const char *text, size_t len, ts_arena *a, adql_query **out, ts_error *err);

/* Resolves names and types against `meta` (borrowed; must outlive q). */
ts_err adql_check(adql_query *q, const adql_meta *meta, ts_error *err);

/* Checks the grammar only: any table and column names are accepted;
 * undeclared function names are accepted as UDF calls unless udfs are given
 * (nudfs > 0), then only those. */
ts_err adql_check_syntax(adql_query *q, const adql_udf *udfs, size_t nudfs, ts_error *err);

/* PostgreSQL SQL for a checked query. max_rows >= 0 adds/reduces the LIMIT
 * so that at most max_rows rows come back (the smaller of TOP and max_rows
 * wins); -1 leaves the query's own TOP only. Result in the arena. */
ts_err adql_translate(adql_query *q, int64_t max_rows, ts_arena *a, char **sql, ts_error *err);

/* Appends `s` to `b` between two `q` characters, each `q` inside doubled:
 * q = '"' gives a PostgreSQL delimited identifier ("Mi""xed"), q = '\''
 * a string literal ('it''s'; standard_conforming_strings on, so
 * backslashes are plain characters). Returns TS_ENOMEM or TS_ELIMIT from
 * the buffer, which then may hold part of the quoted form. */
ts_err adql_quote(ts_buf *b, const char *s, char q);

/* The reverse of adql_quote for the `n` bytes at `s`: when they start and
 * end with `q`, *out is the text between, each doubled `q` made single
 * ("Mi""xed" -> Mi"xed), NUL-terminated in the arena; otherwise *out is
 * NULL (not quoted: nothing to strip). Returns TS_ENOMEM, *out NULL, when
 * the arena is full. */
ts_err adql_unquote(ts_arena *a, const char *s, size_t n, char q, char **out);

/* The PostgreSQL identifier of the published name of `n` bytes at `s`
 * (one part: "schema" or "table", not both): a delimited name ("Mi""xed")
 * without its quotes and with its case (Mi"xed), any other folded to lower
 * case (ASCII letters only). NUL-terminated in the arena; NULL when it is
 * full. TAP_SCHEMA loading, the checker and `tapserve publish` all map
 * names with it. */
char *adql_db_ident(ts_arena *a, const char *s, size_t n);

/* Result columns of a checked query, in select-list order: name is the
 * output name (alias, column name, or a generated one); metadata is copied
 * from the source column where the expression is a plain column reference,
 * inferred (datatype at least) otherwise. */
size_t adql_result_ncols(const adql_query *q);
const adql_column_meta *adql_result_col(const adql_query *q, size_t i);

#endif
