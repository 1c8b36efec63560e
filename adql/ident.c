/* adql/ident.c: quoted names and literals, the one place that writes and
 * reads them.
 *
 * SQL quotes a delimited identifier in double quotes and a string literal
 * in single quotes, and doubles the quote character inside either
 * ("Mi""xed", 'it''s'). The scanner reads both forms from the query, the
 * checker reads delimited names from TAP_SCHEMA ("Mixed" published with its
 * quotes) and the translator writes both forms into the SQL: they all go
 * through adql_unquote and adql_quote, so the rules cannot drift apart. */
#include "adql/adql_int.h"

#include <string.h>

ts_err adql_quote(ts_buf *b, const char *s, char q)
{
  ts_err rc = ts_buf_append(b, &q, 1);
  const char *run = s;
  for (const char *p = s; !rc && *p; p++) {
    if (*p != q)
      continue;
    rc = ts_buf_append(b, run, (size_t)(p + 1 - run)); /* up to and with the quote */
    run = p;                                           /* ... which goes out twice */
  }
  if (!rc)
    rc = ts_buf_append(b, run, strlen(run));
  return rc ? rc : ts_buf_append(b, &q, 1);
}

ts_err adql_unquote(ts_arena *a, const char *s, size_t n, char q, char **out)
{
  char *o;
  size_t j = 0;
  *out = NULL;
  if (n < 2 || s[0] != q || s[n - 1] != q)
    return TS_OK;
  o = ts_arena_alloc(a, n);
  if (!o)
    return TS_ENOMEM;
  for (size_t i = 1; i + 1 < n; i++) {
    o[j++] = s[i];
    if (s[i] == q && s[i + 1] == q)
      i++; /* the second quote of a pair */
  }
  o[j] = '\0';
  *out = o;
  return TS_OK;
}

char *adql_db_ident(ts_arena *a, const char *s, size_t n)
{
  char *out;
  if (adql_unquote(a, s, n, '"', &out) != TS_OK)
    return NULL;
  if (out)
    return out;
  out = ts_arena_strndup(a, s, n);
  /* ASCII only, as PostgreSQL folds unquoted names in multibyte encodings. */
  for (size_t i = 0; out && i < n; i++)
    if (out[i] >= 'A' && out[i] <= 'Z')
      out[i] = (char)(out[i] - 'A' + 'a');
  return out;
}

const char *adql__db_ident(ts_arena *a, const char *db_name, const char *published)
{
  if (db_name && *db_name)
    return db_name;
  return adql_db_ident(a, published ? published : "", published ? strlen(published) : 0);
}
