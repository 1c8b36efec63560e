/* tests/unit/adql/test_adql.c: the ADQL parser, checker and translator.
 *
 * `golden` runs every tests/golden/adql/<name>.adql through parse, check
 * (against adql_test_meta) and translate, and compares with <name>.sql (the
 * translation) or <name>.err ("CODE POS message", one line). With
 * ADQL_GOLDEN_UPDATE=1 in the environment it writes missing expectation
 * files instead of failing, for review before they are committed. */
#include "test_list.h"
#define TS_TEST_MAIN
#include "ts_test.h"

#include "adql_int.h"
#include "adql_testmeta.h"

#include <dirent.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define GOLDEN_DIR "tests/golden/adql"

/* Runs the whole pipeline; fills *sql or *err. */
static ts_err run(ts_arena *a, const char *text, size_t len, int64_t max_rows, char **sql,
                  ts_error *err)
{
  adql_query *q = NULL;
  ts_err rc = adql_parse(text, len, a, &q, err);
  *sql = NULL;
  if (!rc)
    rc = adql_check(q, &adql_test_meta, err);
  if (!rc)
    rc = adql_translate(q, max_rows, a, sql, err);
  return rc;
}

static ts_err run_s(ts_arena *a, const char *text, char **sql, ts_error *err)
{
  return run(a, text, strlen(text), -1, sql, err);
}

static char *slurp(const char *path, size_t *len)
{
  FILE *f = fopen(path, "rb");
  char *buf;
  long n;
  if (!f)
    return NULL;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  buf = malloc((size_t)n + 1);
  if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
    free(buf);
    buf = NULL;
  }
  fclose(f);
  if (buf) {
    buf[n] = '\0';
    *len = (size_t)n;
  }
  return buf;
}

static void chomp(char *s)
{
  size_t n = strlen(s);
  while (n && (s[n - 1] == '\n' || s[n - 1] == '\r'))
    s[--n] = '\0';
}

static int cmp_names(const void *x, const void *y)
{
  return strcmp(*(char *const *)x, *(char *const *)y);
}

int test_keywords_sorted(void)
{
  for (size_t i = 1; i < adql__keyword_count(); i++)
    TS_CHECK(strcmp(adql__keyword_name(i - 1), adql__keyword_name(i)) < 0);
  TS_CHECK(adql__keyword_lookup("SeLeCt", 6) >= 0);
  TS_CHECK(adql__keyword_lookup("selects", 7) < 0);
  TS_CHECK(adql__keyword_lookup("abs", 3) < 0); /* functions are identifiers */
  return 0;
}

int test_golden(void)
{
  DIR *d = opendir(GOLDEN_DIR);
  struct dirent *de;
  char *names[1024];
  size_t n = 0, failed = 0;
  int update = getenv("ADQL_GOLDEN_UPDATE") != NULL;
  TS_CHECK(d != NULL);
  while ((de = readdir(d)) != NULL && n < TS_ARRAY_LEN(names)) {
    size_t l = strlen(de->d_name);
    if (l > 5 && strcmp(de->d_name + l - 5, ".adql") == 0)
      names[n++] = strndup(de->d_name, l - 5);
  }
  closedir(d);
  qsort(names, n, sizeof names[0], cmp_names);
  TS_CHECK(n >= 60);
  for (size_t i = 0; i < n; i++) {
    char path[512], got[2048 + 600], *text, *want = NULL, *sql;
    size_t len, wlen;
    ts_arena *a = ts_arena_new(0, 0);
    ts_error err;
    int is_err;
    snprintf(path, sizeof path, GOLDEN_DIR "/%s.adql", names[i]);
    text = slurp(path, &len);
    if (!text || !a) {
      fprintf(stderr, "# %s: cannot read\n", path);
      failed++;
      free(text);
      ts_arena_free(a);
      continue;
    }
    ts_err rc = run(a, text, len, -1, &sql, &err);
    if (rc)
      snprintf(got, sizeof got, "%s %d %s", ts_err_name(rc), err.pos, err.msg);
    else
      snprintf(got, sizeof got, "%s", sql);
    snprintf(path, sizeof path, GOLDEN_DIR "/%s.sql", names[i]);
    want = slurp(path, &wlen);
    is_err = 0;
    if (!want) {
      snprintf(path, sizeof path, GOLDEN_DIR "/%s.err", names[i]);
      want = slurp(path, &wlen);
      is_err = 1;
    }
    if (!want && update) {
      snprintf(path, sizeof path, GOLDEN_DIR "/%s.%s", names[i], rc ? "err" : "sql");
      FILE *f = fopen(path, "w");
      if (f) {
        fprintf(f, "%s\n", got);
        fclose(f);
      }
      fprintf(stderr, "# wrote %s\n", path);
    } else if (!want) {
      fprintf(stderr, "# %s: no .sql or .err file\n", names[i]);
      failed++;
    } else {
      chomp(want);
      if (strcmp(want, got) != 0 || is_err != (rc != TS_OK)) {
        fprintf(stderr, "# %s:\n#   want: %s\n#   got:  %s\n", names[i], want, got);
        failed++;
      }
    }
    free(want);
    free(text);
    ts_arena_free(a);
    free(names[i]);
  }
  TS_CHECK_EQ_INT(failed, 0);
  return 0;
}

static int expect_err(const char *text, int pos, const char *msg_prefix)
{
  ts_arena *a = ts_arena_new(0, 0);
  ts_error err;
  char *sql;
  ts_err rc = run_s(a, text, &sql, &err);
  ts_arena_free(a);
  if (rc != TS_EADQL || err.pos != pos || strncmp(err.msg, msg_prefix, strlen(msg_prefix)) != 0) {
    fprintf(stderr, "# query %s\n#   got %s pos %d: %s\n#   want pos %d: %s...\n", text,
            ts_err_name(rc), err.pos, err.msg, pos, msg_prefix);
    return 1;
  }
  return 0;
}

int test_error_positions(void)
{
  /* positions are 1-based characters, not bytes: é is two bytes */
  TS_CHECK(!expect_err("SELECT 'é', raa FROM demo.sources", 13, "column \"raa\" does not exist"));
  TS_CHECK(!expect_err("SELECT ra FROM demo.sources WHERE ra >", 39, "syntax error at end"));
  TS_CHECK(!expect_err("SELECT ra FROM demo.sources WHERE ra > > 1", 40,
                       "syntax error at or near \">\""));
  TS_CHECK(!expect_err("SELECT ra FROM demo.sources WHERE name = 'open", 42,
                       "unterminated string literal"));
  TS_CHECK(!expect_err("SELECT ra FROM demo.srcs", 16, "table \"demo.srcs\" does not exist"));
  TS_CHECK(!expect_err("SELECT ra FROM demo.sources WHERE ra = 1 ORDER BY 3", 51,
                       "ORDER BY position 3"));
  TS_CHECK(
      !expect_err("SELECT ra FROM demo.sources WHERE ra # 1", 38, "unexpected character \"#\""));
  TS_CHECK(!expect_err("SELECT ra FROM demo.sources WHERE ra = 1 ;;", 43,
                       "syntax error at or near \";\""));
  return 0;
}

int test_linecol(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  ts_error err;
  char *sql;
  ts_err rc = run_s(a, "SELECT ra,\n  -- a comment\n  bogus\nFROM demo.sources", &sql, &err);
  ts_arena_free(a);
  TS_CHECK_EQ_INT(rc, TS_EADQL);
  TS_CHECK_EQ_INT(err.line, 3);
  TS_CHECK_EQ_INT(err.col, 3);
  TS_CHECK_EQ_INT(err.pos, 29);
  return 0;
}

int test_nul_and_utf8(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  ts_error err;
  char *sql;
  static const char nul[] = "SELECT ra FROM demo.sources WHERE name = 'a\0b'";
  static const char bad[] = "SELECT ra FROM demo.sources WHERE name = '\xc3\x28'";
  static const char overlong[] = "SELECT '\xc0\xaf' FROM demo.sources";
  static const char surrogate[] = "SELECT '\xed\xa0\x80' FROM demo.sources";
  static const char truncated[] = "SELECT ra FROM demo.sources -- \xe2\x82";
  TS_CHECK_EQ_INT(run(a, nul, sizeof nul - 1, -1, &sql, &err), TS_EADQL);
  TS_CHECK_EQ_INT(err.pos, 44);
  TS_CHECK(strstr(err.msg, "NUL") != NULL);
  TS_CHECK_EQ_INT(run(a, bad, sizeof bad - 1, -1, &sql, &err), TS_EADQL);
  TS_CHECK_EQ_INT(err.pos, 43);
  TS_CHECK(strstr(err.msg, "UTF-8") != NULL);
  TS_CHECK_EQ_INT(run(a, overlong, sizeof overlong - 1, -1, &sql, &err), TS_EADQL);
  TS_CHECK_EQ_INT(err.pos, 9);
  TS_CHECK_EQ_INT(run(a, surrogate, sizeof surrogate - 1, -1, &sql, &err), TS_EADQL);
  TS_CHECK_EQ_INT(run(a, truncated, sizeof truncated - 1, -1, &sql, &err), TS_EADQL);
  TS_CHECK_EQ_INT(err.pos, 32);
  /* valid multi-byte text passes and is kept byte for byte */
  TS_CHECK_EQ_INT(run_s(a, "SELECT ra FROM demo.sources WHERE name = 'Ω Cen ☆'", &sql, &err),
                  TS_OK);
  TS_CHECK(strstr(sql, "'Ω Cen ☆'") != NULL);
  ts_arena_free(a);
  return 0;
}

int test_length_limit(void)
{
  size_t n = ADQL_MAX_QUERY_BYTES + 1;
  char *big = malloc(n);
  ts_arena *a = ts_arena_new(0, 0);
  ts_error err;
  adql_query *q;
  TS_CHECK(big && a);
  memset(big, ' ', n);
  memcpy(big, "SELECT ra FROM demo.sources", 27);
  TS_CHECK_EQ_INT(adql_parse(big, n, a, &q, &err), TS_EADQL);
  TS_CHECK(strstr(err.msg, "too long") != NULL);
  /* exactly at the limit is fine */
  TS_CHECK_EQ_INT(adql_parse(big, n - 1, a, &q, &err), TS_OK);
  free(big);
  ts_arena_free(a);
  return 0;
}

int test_depth_limit(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  ts_error err;
  char *sql, *q = malloc(400000);
  size_t k = 0;
  TS_CHECK(q && a);
  /* 201 nested parentheses: refused at the 201st */
  k = (size_t)snprintf(q, 400000, "SELECT ");
  for (int i = 0; i < 201; i++)
    q[k++] = '(';
  q[k++] = '1';
  for (int i = 0; i < 201; i++)
    q[k++] = ')';
  k += (size_t)snprintf(q + k, 400000 - k, " FROM demo.sources");
  TS_CHECK_EQ_INT(run(a, q, k, -1, &sql, &err), TS_EADQL);
  TS_CHECK_EQ_INT(err.pos, 8 + 200);
  TS_CHECK(strstr(err.msg, "nested") != NULL);
  /* 200 are accepted */
  k = (size_t)snprintf(q, 400000, "SELECT ");
  for (int i = 0; i < 200; i++)
    q[k++] = '(';
  q[k++] = '1';
  for (int i = 0; i < 200; i++)
    q[k++] = ')';
  k += (size_t)snprintf(q + k, 400000 - k, " FROM demo.sources");
  TS_CHECK_EQ_INT(run(a, q, k, -1, &sql, &err), TS_OK);
  /* a long flat chain builds a deep tree without parentheses */
  k = (size_t)snprintf(q, 400000, "SELECT 1");
  for (int i = 0; i < 50000; i++)
    k += (size_t)snprintf(q + k, 400000 - k, "+1");
  k += (size_t)snprintf(q + k, 400000 - k, " FROM demo.sources");
  TS_CHECK_EQ_INT(run(a, q, k, -1, &sql, &err), TS_EADQL);
  TS_CHECK(strstr(err.msg, "query is too complex: nesting deeper than 1000 levels") != NULL);
  /* and so does a long run of prefix operators (right recursion) */
  k = (size_t)snprintf(q, 400000, "SELECT ra FROM demo.sources WHERE ");
  for (int i = 0; i < 50000; i++)
    k += (size_t)snprintf(q + k, 400000 - k, "NOT ");
  k += (size_t)snprintf(q + k, 400000 - k, "ra = 1");
  TS_CHECK_EQ_INT(run(a, q, k, -1, &sql, &err), TS_EADQL);
  TS_CHECK(strstr(err.msg, "too deeply nested") != NULL);
  free(q);
  ts_arena_free(a);
  return 0;
}

int test_injection(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  ts_error err;
  char *sql;
  /* a delimited identifier with an embedded quote is one identifier */
  TS_CHECK_EQ_INT(run_s(a, "SELECT \"a\"\"; DROP TABLE x; --\" FROM demo.sources", &sql, &err),
                  TS_EADQL);
  TS_CHECK_STREQ(err.msg, "column \"a\"; DROP TABLE x; --\" does not exist");
  /* as an alias it comes out quoted once, quotes doubled */
  TS_CHECK_EQ_INT(
      run_s(a, "SELECT ra AS \"x\"\"; DROP TABLE t; --\" FROM demo.sources", &sql, &err), TS_OK);
  TS_CHECK_STREQ(sql, "SELECT \"demo\".\"sources\".\"ra\" AS \"x\"\"; DROP TABLE t; --\" FROM "
                      "\"demo\".\"sources\"");
  /* a string literal: quotes doubled, backslashes plain */
  TS_CHECK_EQ_INT(
      run_s(a, "SELECT ra FROM demo.sources WHERE name = 'x''; DROP TABLE t; --\\'", &sql, &err),
      TS_OK);
  TS_CHECK(strstr(sql, "= 'x''; DROP TABLE t; --\\')") != NULL);
  /* a table alias too */
  TS_CHECK_EQ_INT(run_s(a, "SELECT \"s\"\"x\".ra FROM demo.sources AS \"s\"\"x\"", &sql, &err),
                  TS_OK);
  TS_CHECK(strstr(sql, "AS \"s\"\"x\"") != NULL);
  /* comments cannot hide the rest of a translated query */
  TS_CHECK_EQ_INT(run_s(a, "SELECT ra FROM demo.sources -- WHERE 1=1", &sql, &err), TS_OK);
  TS_CHECK(strstr(sql, "--") == NULL);
  ts_arena_free(a);
  return 0;
}

/* adql_db_ident: the published -> PostgreSQL name rule TAP_SCHEMA loading,
 * the checker and `tapserve publish` share. */
int test_db_ident(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  TS_CHECK_STREQ(adql_db_ident(a, "Demo", 4), "demo");
  TS_CHECK_STREQ(adql_db_ident(a, "\"Mi\"\"xed\"", 9), "Mi\"xed");
  TS_CHECK_STREQ(adql_db_ident(a, "\"Demo\".x", 6), "Demo");     /* only n bytes */
  TS_CHECK_STREQ(adql_db_ident(a, "\"", 1), "\"");               /* a lone quote is no delimiter */
  TS_CHECK_STREQ(adql_db_ident(a, "\xc3\x84X", 3), "\xc3\x84x"); /* ASCII letters only */
  TS_CHECK_STREQ(adql_db_ident(a, "", 0), "");
  ts_arena_free(a);
  return 0;
}

/* adql_quote and adql_unquote: the one pair every quoted name and literal
 * goes through (scanner, checker, translator). */
int test_quoting(void)
{
  static const struct {
    const char *plain, *ident, *literal;
  } cases[] = {
      {"", "\"\"", "''"},
      {"Mixed", "\"Mixed\"", "'Mixed'"},
      {"a\"b", "\"a\"\"b\"", "'a\"b'"},
      {"it's", "\"it's\"", "'it''s'"},
      {"\"\"", "\"\"\"\"\"\"", "'\"\"'"},
      {"x\\'", "\"x\\'\"", "'x\\'''"},
  };
  ts_arena *a = ts_arena_new(0, 0);
  ts_buf b;
  char *out;
  ts_buf_init(&b, 1024);
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    ts_buf_reset(&b);
    TS_CHECK_EQ_INT(adql_quote(&b, cases[i].plain, '"'), TS_OK);
    TS_CHECK_STREQ(b.data, cases[i].ident);
    TS_CHECK_EQ_INT(adql_unquote(a, b.data, b.len, '"', &out), TS_OK);
    TS_CHECK_STREQ(out, cases[i].plain);
    ts_buf_reset(&b);
    TS_CHECK_EQ_INT(adql_quote(&b, cases[i].plain, '\''), TS_OK);
    TS_CHECK_STREQ(b.data, cases[i].literal);
    TS_CHECK_EQ_INT(adql_unquote(a, b.data, b.len, '\'', &out), TS_OK);
    TS_CHECK_STREQ(out, cases[i].plain);
  }
  ts_buf_free(&b);
  /* not quoted (or quoted with the other character): nothing to strip */
  TS_CHECK_EQ_INT(adql_unquote(a, "Mixed", 5, '"', &out), TS_OK);
  TS_CHECK(out == NULL);
  TS_CHECK_EQ_INT(adql_unquote(a, "\"", 1, '"', &out), TS_OK);
  TS_CHECK(out == NULL);
  TS_CHECK_EQ_INT(adql_unquote(a, "'x'", 3, '"', &out), TS_OK);
  TS_CHECK(out == NULL);
  /* only the n bytes given are read */
  TS_CHECK_EQ_INT(adql_unquote(a, "\"ab\"cd", 4, '"', &out), TS_OK);
  TS_CHECK_STREQ(out, "ab");
  /* the buffer's maximum is an error, not a truncated identifier */
  ts_buf_init(&b, 4);
  TS_CHECK(adql_quote(&b, "abcdef", '"') != TS_OK);
  ts_buf_free(&b);
  /* a full arena is TS_ENOMEM */
  {
    ts_arena *small = ts_arena_new(64, 64);
    char big[200];
    memset(big, 'x', sizeof big);
    big[0] = big[sizeof big - 1] = '"';
    TS_CHECK_EQ_INT(adql_unquote(small, big, sizeof big, '"', &out), TS_ENOMEM);
    TS_CHECK(out == NULL);
    ts_arena_free(small);
  }
  ts_arena_free(a);
  return 0;
}

int test_result_columns(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  ts_error err;
  adql_query *q;
  const char *text =
      "SELECT ra, ra, dec AS \"Dec\", COUNT(*), MAX(phot_g_mean_mag), name || 'x',"
      " ABS(flags), 1.5 * parallax, \"Quoted Col\", mag_g FROM demo.sources, demo.weird"
      " GROUP BY ra, dec, name, flags, parallax, \"Quoted Col\", mag_g";
  TS_CHECK_EQ_INT(adql_parse(text, strlen(text), a, &q, &err), TS_OK);
  TS_CHECK_EQ_INT(adql_result_ncols(q), 0); /* not checked yet */
  TS_CHECK_EQ_INT(adql_check(q, &adql_test_meta, &err), TS_OK);
  TS_CHECK_EQ_INT(adql_result_ncols(q), 10);
  const adql_column_meta *c = adql_result_col(q, 0);
  TS_CHECK_STREQ(c->name, "ra");
  TS_CHECK_STREQ(c->unit, "deg");
  TS_CHECK_STREQ(c->ucd, "pos.eq.ra;meta.main");
  TS_CHECK_STREQ(c->datatype, "double");
  TS_CHECK_STREQ(adql_result_col(q, 1)->name, "ra_2");
  TS_CHECK_STREQ(adql_result_col(q, 2)->name, "Dec");
  TS_CHECK_STREQ(adql_result_col(q, 2)->description, "Declination");
  TS_CHECK_STREQ(adql_result_col(q, 3)->name, "count");
  TS_CHECK_STREQ(adql_result_col(q, 3)->datatype, "long");
  TS_CHECK_STREQ(adql_result_col(q, 4)->name, "max");
  TS_CHECK_STREQ(adql_result_col(q, 4)->datatype, "float");
  TS_CHECK_STREQ(adql_result_col(q, 4)->unit, "mag");
  TS_CHECK_STREQ(adql_result_col(q, 5)->datatype, "char");
  TS_CHECK_STREQ(adql_result_col(q, 5)->arraysize, "*");
  TS_CHECK_STREQ(adql_result_col(q, 5)->name, "expr");
  TS_CHECK_STREQ(adql_result_col(q, 6)->name, "abs");
  TS_CHECK_STREQ(adql_result_col(q, 6)->datatype, "int");
  TS_CHECK_STREQ(adql_result_col(q, 7)->datatype, "double");
  TS_CHECK_STREQ(adql_result_col(q, 7)->name, "expr_2");
  TS_CHECK_STREQ(adql_result_col(q, 8)->name, "Quoted Col");
  TS_CHECK_STREQ(adql_result_col(q, 9)->name, "mag_g");
  TS_CHECK(adql_result_col(q, 9)->db_name == NULL);
  TS_CHECK(adql_result_col(q, 10) == NULL);
  ts_arena_free(a);
  return 0;
}

/* TAP_UPLOAD through per-request layers: visible only to a request whose
 * metadata carries the layer, result metadata from the upload, a second
 * layer chained after the first, and a bare name found in two places
 * ambiguous. */
int test_upload_layer(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  ts_error err;
  adql_query *q;
  char *sql;
  adql_meta published = adql_test_meta, mine, both;
  const char *text = "SELECT u.flux, pos FROM TAP_UPLOAD.mylist AS u";
  published.layers = NULL;

  /* Without the layer (another request), the upload does not exist. */
  TS_CHECK_EQ_INT(adql_parse(text, strlen(text), a, &q, &err), TS_OK);
  TS_CHECK_EQ_INT(adql_check(q, &published, &err), TS_EADQL);
  TS_CHECK(strstr(err.msg, "table \"TAP_UPLOAD.mylist\" does not exist") != NULL);

  /* With it: the upload's own units, UCDs and xtypes. */
  static const adql_column_meta cols[] = {
      {"name", NULL, "char", "*", NULL, NULL, "meta.id", NULL, NULL, 0, 0, 0},
      {"mag", NULL, "float", NULL, NULL, "mag", "phot.mag", NULL, NULL, 0, 0, 0},
  };
  static const adql_table_meta other[] = {
      {"TAP_UPLOAD", "second", "tap_upload", "up_req2_second", NULL, 2, cols},
      {"TAP_UPLOAD", "sources", "tap_upload", "up_req2_sources", NULL, 2, cols},
  };
  adql_layer l1 = {"uploads", 1, adql_test_meta.layers->tables, NULL};
  adql_layer l2 = {"user tables", 2, other, NULL};
  adql_meta_push(&published, &l1, &mine);
  TS_CHECK(published.layers == NULL); /* the base is not changed */
  TS_CHECK_EQ_INT(adql_parse(text, strlen(text), a, &q, &err), TS_OK);
  TS_CHECK_EQ_INT(adql_check(q, &mine, &err), TS_OK);
  TS_CHECK_STREQ(adql_result_col(q, 0)->unit, "mJy");
  TS_CHECK_STREQ(adql_result_col(q, 0)->ucd, "phot.flux");
  TS_CHECK_STREQ(adql_result_col(q, 0)->description, "My flux");
  TS_CHECK_STREQ(adql_result_col(q, 1)->xtype, "point");
  TS_CHECK_EQ_INT(adql_translate(q, -1, a, &sql, &err), TS_OK);
  TS_CHECK(strstr(sql, "FROM \"tap_upload\".\"up_req1_mylist\" AS \"u\"") != NULL);

  /* A second layer after the first: both visible, in one query. */
  adql_meta_push(&mine, &l2, &both);
  text = "SELECT m.id, s.mag FROM TAP_UPLOAD.mylist AS m, TAP_UPLOAD.second AS s";
  TS_CHECK_EQ_INT(adql_parse(text, strlen(text), a, &q, &err), TS_OK);
  TS_CHECK_EQ_INT(adql_check(q, &both, &err), TS_OK);
  TS_CHECK_STREQ(adql_result_col(q, 1)->unit, "mag");
  TS_CHECK_EQ_INT(adql_translate(q, -1, a, &sql, &err), TS_OK);
  TS_CHECK(strstr(sql, "\"tap_upload\".\"up_req2_second\"") != NULL);

  /* "sources" is demo.sources and TAP_UPLOAD.sources: a bare name is
   * ambiguous, a qualified one is not. */
  text = "SELECT mag FROM sources";
  TS_CHECK_EQ_INT(adql_parse(text, strlen(text), a, &q, &err), TS_OK);
  TS_CHECK_EQ_INT(adql_check(q, &both, &err), TS_EADQL);
  TS_CHECK(strstr(err.msg, "ambiguous") != NULL);
  text = "SELECT mag FROM tap_upload.sources";
  TS_CHECK_EQ_INT(adql_parse(text, strlen(text), a, &q, &err), TS_OK);
  TS_CHECK_EQ_INT(adql_check(q, &both, &err), TS_OK);
  ts_arena_free(a);
  return 0;
}

int test_max_rows(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  ts_error err;
  char *sql;
  const char *top = "SELECT TOP 5 ra FROM demo.sources";
  const char *plain = "SELECT ra FROM demo.sources ORDER BY ra OFFSET 3";
  TS_CHECK_EQ_INT(run(a, top, strlen(top), 100, &sql, &err), TS_OK);
  TS_CHECK(strstr(sql, " LIMIT 5") != NULL);
  TS_CHECK_EQ_INT(run(a, top, strlen(top), 2, &sql, &err), TS_OK);
  TS_CHECK(strstr(sql, " LIMIT 2") != NULL && strstr(sql, "LIMIT 5") == NULL);
  TS_CHECK_EQ_INT(run(a, top, strlen(top), -1, &sql, &err), TS_OK);
  TS_CHECK(strstr(sql, " LIMIT 5") != NULL);
  TS_CHECK_EQ_INT(run(a, plain, strlen(plain), 0, &sql, &err), TS_OK);
  TS_CHECK(strstr(sql, "ORDER BY \"ra\" LIMIT 0 OFFSET 3") != NULL);
  TS_CHECK_EQ_INT(run(a, plain, strlen(plain), -1, &sql, &err), TS_OK);
  TS_CHECK(strstr(sql, "LIMIT") == NULL);
  ts_arena_free(a);
  return 0;
}

int test_syntax_only(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  ts_error err;
  adql_query *q;
  char *sql;
  static const adql_udf u[] = {{"ivo_hasword", "ivo_hasword(a TEXT, b TEXT) -> INTEGER", NULL}};
  const char *t1 = "SELECT x.y, foo(1), COUNT(*) FROM nowhere AS x WHERE ABS(y) > 1 GROUP BY y";
  const char *t2 = "SELECT ivo_hasword(a, 'b'), foo(1) FROM t";
  const char *t3 = "SELECT a FROM t WHERE COUNT(*) > 1";
  const char *t4 = "SELECT SQRT(1, 2) FROM t";
  TS_CHECK_EQ_INT(adql_parse(t1, strlen(t1), a, &q, &err), TS_OK);
  TS_CHECK_EQ_INT(adql_check_syntax(q, NULL, 0, &err), TS_OK);
  /* checked for syntax only: no translation */
  TS_CHECK_EQ_INT(adql_translate(q, -1, a, &sql, &err), TS_EINVAL);
  TS_CHECK_EQ_INT(adql_parse(t2, strlen(t2), a, &q, &err), TS_OK);
  TS_CHECK_EQ_INT(adql_check_syntax(q, u, 1, &err), TS_EADQL);
  TS_CHECK_STREQ(err.msg, "function foo does not exist");
  TS_CHECK_EQ_INT(err.pos, 29);
  TS_CHECK_EQ_INT(adql_parse(t3, strlen(t3), a, &q, &err), TS_OK);
  TS_CHECK_EQ_INT(adql_check_syntax(q, NULL, 0, &err), TS_EADQL);
  TS_CHECK_EQ_INT(adql_parse(t4, strlen(t4), a, &q, &err), TS_OK);
  TS_CHECK_EQ_INT(adql_check_syntax(q, NULL, 0, &err), TS_EADQL);
  TS_CHECK_STREQ(err.msg, "function sqrt takes 1 argument, not 2");
  ts_arena_free(a);
  return 0;
}

int test_arena_cap(void)
{
  /* a capped arena turns into TS_ENOMEM, never a crash */
  ts_arena *a = ts_arena_new(1024, 4096);
  ts_error err;
  char *sql;
  char q[8192];
  size_t k = (size_t)snprintf(q, sizeof q, "SELECT ra");
  for (int i = 0; i < 400; i++)
    k += (size_t)snprintf(q + k, sizeof q - k, ", ra");
  snprintf(q + k, sizeof q - k, " FROM demo.sources");
  TS_CHECK(a != NULL);
  TS_CHECK_EQ_INT(run_s(a, q, &sql, &err), TS_ENOMEM);
  ts_arena_free(a);
  return 0;
}

typedef struct qbuf {
  char *p;
  size_t n, cap;
} qbuf;

static void qb_put(qbuf *b, const char *s)
{
  size_t l = strlen(s);
  if (b->n + l + 1 > b->cap) {
    b->cap = (b->n + l + 1) * 2;
    b->p = realloc(b->p, b->cap);
    if (!b->p)
      abort();
  }
  memcpy(b->p + b->n, s, l + 1);
  b->n += l;
}

static void qb_rep(qbuf *b, const char *s, int times)
{
  for (int i = 0; i < times; i++)
    qb_put(b, s);
}

int test_string_continuation(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  ts_error err;
  char *sql;
  TS_CHECK_EQ_INT(
      run_s(a, "SELECT ra FROM demo.sources WHERE name = 'ab'\n  -- c\n 'cd'", &sql, &err), TS_OK);
  TS_CHECK(strstr(sql, "= 'abcd')") != NULL);
  ts_arena_free(a);
  /* 200,000 adjacent literals (800 KB) cost their length, not its square:
   * they fit an arena of 16 MiB */
  a = ts_arena_new(0, 16u << 20);
  qbuf q = {0};
  qb_put(&q, "SELECT ra FROM demo.sources WHERE name = ");
  qb_rep(&q, "'a' ", 200000);
  TS_CHECK_EQ_INT(run(a, q.p, q.n, -1, &sql, &err), TS_OK);
  free(q.p);
  TS_CHECK(strstr(sql, "= 'aaaaaaaaaa") != NULL);
  TS_CHECK_EQ_INT(strlen(strchr(sql, '\'')), 200000 + 3);
  ts_arena_free(a);
  return 0;
}

/* ---- the one depth budget (ADQL_MAX_DEPTH) --------------------------------
 *
 * Every pass recurses over the tree, so the whole query -- expressions,
 * subqueries, joins and set-operation chains together -- must stay within
 * one nesting budget. The shapes below are built in memory: the hostile
 * ones are about 1 MiB, too big for golden files. Each runs in a thread
 * with a 1 MiB stack (an eighth of what tapserve's threads get), so an
 * unbounded recursion crashes the test instead of passing by luck, and the
 * test prints how much of it the deepest accepted queries used. */

/* `branches` SELECTs joined by UNION (a left-deep chain): depth branches + 1. */
#define UNION_FIRST "SELECT ra FROM demo.sources"
#define UNION_NEXT  " UNION SELECT ra FROM demo.sources"
static qbuf union_chain(int branches)
{
  qbuf b = {0};
  qb_put(&b, UNION_FIRST);
  qb_rep(&b, UNION_NEXT, branches - 1);
  return b;
}

/* `levels` scalar subqueries nested at the bottom of a `+1` chain of `k`
 * terms each, around an innermost `SELECT ra+1+...` of `k0` terms:
 * depth k0 + 2 + levels * (k + 2). */
static qbuf nested_chains(int levels, int k, int k0)
{
  qbuf b = {0};
  qb_rep(&b, "SELECT (", levels);
  qb_put(&b, "SELECT ra");
  qb_rep(&b, "+1", k0);
  qb_put(&b, " FROM demo.sources");
  for (int i = 0; i < levels; i++) {
    qb_put(&b, ")");
    qb_rep(&b, "+1", k);
    qb_put(&b, " AS v FROM demo.sources");
  }
  return b;
}

/* `joins` JOINs, each with an ON condition: depth joins + 3. */
static qbuf join_chain(int joins)
{
  qbuf b = {0};
  char item[96];
  qb_put(&b, "SELECT t0.ra FROM demo.sources AS t0");
  for (int i = 1; i <= joins; i++) {
    snprintf(item, sizeof item, " JOIN demo.sources AS t%d ON t%d.ra = t0.ra", i, i);
    qb_put(&b, item);
  }
  return b;
}

/* `levels` CASEs nested in their ELSE (no parentheses): depth levels + 4. */
static qbuf case_chain(int levels)
{
  qbuf b = {0};
  qb_put(&b, "SELECT ");
  qb_rep(&b, "CASE WHEN ra > 1 THEN 1 ELSE ", levels);
  qb_put(&b, "ra");
  qb_rep(&b, " END", levels);
  qb_put(&b, " FROM demo.sources");
  return b;
}

/* `levels` nested function calls around a `ra+1+...` chain of `k0` terms,
 * as the first coordinate of a POINT when `point` (the outermost select
 * list turns it into a DALI array): depth k0 + 2 + levels (+ 1 for POINT). */
static qbuf fn_chain(int levels, int k0, int point)
{
  qbuf b = {0};
  qb_put(&b, point ? "SELECT POINT(" : "SELECT ");
  qb_rep(&b, "ABS(", levels);
  qb_put(&b, "ra");
  qb_rep(&b, "+1", k0);
  qb_rep(&b, ")", levels);
  qb_put(&b, point ? ", dec) FROM demo.sources" : " FROM demo.sources");
  return b;
}

/* A query run in a thread with a small stack of its own. */
typedef struct deep_run {
  const char *text;
  size_t len;
  int syntax_only;
  ts_err rc;
  ts_error err;
} deep_run;

#if defined(__clang__) && defined(__has_feature)
#if __has_feature(address_sanitizer) && !defined(__OPTIMIZE__)
#define DEEP_CLANG_ASAN_O0 1
#endif
#endif
#ifdef DEEP_CLANG_ASAN_O0
/* clang's ASan without optimisation gives every local of every branch its
 * own slot and redzones: about 3 KiB per level of check_expr. That build
 * runs only as tests and fuzzers, on 8 MiB stacks. */
#define DEEP_STACK (4 * 1024 * 1024)
#else
#define DEEP_STACK (1024 * 1024)
#endif
#define DEEP_FILL 0xA5

static size_t deep_max_used; /* the most stack any run below used */

static void *deep_main(void *arg)
{
  deep_run *r = arg;
  ts_arena *a = ts_arena_new(0, 0); /* uncapped, as an async executor's */
  adql_query *q = NULL;
  char *sql = NULL;
  if (!a) {
    r->rc = TS_ENOMEM;
    return NULL;
  }
  r->rc = adql_parse(r->text, r->len, a, &q, &r->err);
  if (!r->rc && r->syntax_only)
    r->rc = adql_check_syntax(q, NULL, 0, &r->err);
  else if (!r->rc)
    r->rc = adql_check(q, &adql_test_meta, &r->err);
  if (!r->rc && !r->syntax_only)
    r->rc = adql_translate(q, 1000, a, &sql, &r->err);
  ts_arena_free(a);
  return NULL;
}

/* Bytes of the painted stack that were written to (the stack grows down). */
__attribute__((no_sanitize_address)) static size_t stack_used(const unsigned char *base)
{
  size_t i = 0;
  while (i < DEEP_STACK && base[i] == DEEP_FILL)
    i++;
  return DEEP_STACK - i;
}

static ts_err deep(const qbuf *b, int syntax_only, ts_error *err)
{
  deep_run r = {b->p, b->n, syntax_only, TS_EINTERNAL, {0}};
  pthread_attr_t at;
  pthread_t th;
  unsigned char *stack =
      mmap(NULL, DEEP_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (stack == MAP_FAILED)
    return TS_ENOMEM;
  memset(stack, DEEP_FILL, DEEP_STACK);
  if (pthread_attr_init(&at) || pthread_attr_setstack(&at, stack, DEEP_STACK) ||
      pthread_create(&th, &at, deep_main, &r) || pthread_join(th, NULL))
    abort();
  pthread_attr_destroy(&at);
  size_t used = stack_used(stack);
  if (r.rc == TS_OK && used > deep_max_used)
    deep_max_used = used;
  printf("# %s of %.30s... (%zu bytes): %zu bytes of stack\n", syntax_only ? "syntax" : "check",
         b->p, b->n, used);
  munmap(stack, DEEP_STACK);
  *err = r.err;
  return r.rc;
}

/* Refused with the depth message, at character `pos` (0: any). */
static int refused(const qbuf *b, int pos)
{
  ts_error err;
  for (int so = 0; so <= 1; so++) {
    TS_CHECK_EQ_INT(deep(b, so, &err), TS_EADQL);
    TS_CHECK(strstr(err.msg, "query is too complex: nesting deeper than") != NULL);
    if (pos)
      TS_CHECK_EQ_INT(err.pos, pos);
  }
  return 0;
}

static int accepted(const qbuf *b)
{
  ts_error err;
  for (int so = 0; so <= 1; so++) {
    ts_err rc = deep(b, so, &err);
    if (rc)
      fprintf(stderr, "# %s %d %s\n", ts_err_name(rc), err.pos, err.msg);
    TS_CHECK_EQ_INT(rc, TS_OK);
  }
  return 0;
}

/* Each shape at the depth budget plus `extra` levels. */
#define N_ ADQL_MAX_DEPTH
#define P_ (ADQL_MAX_PAREN_DEPTH - 1)
static qbuf deep_union(int extra)
{
  return union_chain(N_ - 1 + extra);
}
static qbuf deep_nested(int extra)
{
  return nested_chains(190, 3, N_ - 2 - 190 * 5 + extra);
}
static qbuf deep_flat(int extra)
{
  return nested_chains(0, 0, N_ - 2 + extra);
}
static qbuf deep_joins(int extra)
{
  return join_chain(N_ - 3 + extra);
}
static qbuf deep_case(int extra)
{
  return case_chain(N_ - 4 + extra);
}
/* function calls, the costliest level per frame, as deep as parentheses
 * allow; and geometry in the outermost select list */
static qbuf deep_calls(int extra)
{
  return fn_chain(P_, N_ - 2 - P_ + extra, 0);
}
static qbuf deep_point(int extra)
{
  return fn_chain(P_ - 1, N_ - 3 - (P_ - 1) + extra, 1);
}

int test_depth_budget(void)
{
  static qbuf (*const at_limit[])(int) = {deep_union, deep_nested, deep_flat, deep_joins,
                                          deep_case,  deep_calls,  deep_point};
  qbuf b;
  int rc;
  /* 30,000 UNIONed SELECTs (1 MB): refused at the UNION that goes one level
   * too deep, whose keyword starts one byte after its branch does. */
  b = union_chain(30000);
  rc = refused(&b, (int)strlen(UNION_FIRST) + (N_ - 2) * (int)strlen(UNION_NEXT) + 2);
  free(b.p);
  TS_CHECK_EQ_INT(rc, 0);
  /* 190 nested subqueries, each at the bottom of a 999-term +1 chain (the
   * longest the old per-expression limit allowed) */
  b = nested_chains(190, 999, 0);
  rc = refused(&b, 0);
  free(b.p);
  TS_CHECK_EQ_INT(rc, 0);
  /* every shape is accepted at the budget and refused one level beyond */
  for (size_t i = 0; i < TS_ARRAY_LEN(at_limit); i++) {
    b = at_limit[i](0);
    rc = accepted(&b);
    free(b.p);
    TS_CHECK_EQ_INT(rc, 0);
    b = at_limit[i](1);
    rc = refused(&b, 0);
    free(b.p);
    TS_CHECK_EQ_INT(rc, 0);
  }
  printf("# the deepest accepted queries used at most %zu bytes of stack\n", deep_max_used);
  return 0;
}
