/* tapserve/cmd/adql.c: `tapserve adql`, the ADQL parser/checker/translator
 * on the command line. Reads one query from stdin; no database needed:
 * metadata for the checker comes from a small text file (--meta). Used by
 * the golden tests and handy for trying queries out. */
#include "tapserve/tapserve.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void adql_usage(FILE *f)
{
  fputs("usage: tapserve adql [options] < query.adql\n"
        "\n"
        "Reads an ADQL query from stdin. Exit status: 0 valid (prints OK, or the\n"
        "SQL with --translate), 1 invalid (prints \"line L, column C: message\" on\n"
        "stderr), 2 usage or I/O error.\n"
        "\n"
        "  --syntax          grammar only: any table and column is accepted\n"
        "  --meta FILE       check names and types against FILE (see below)\n"
        "  --translate       print the PostgreSQL translation (needs --meta)\n"
        "  --max-rows N      with --translate: return at most N rows\n"
        "  --udf 'SIG'       declare a user-defined function (repeatable), e.g.\n"
        "                    --udf 'ivo_hasword(a TEXT, b TEXT) -> INTEGER'\n"
        "\n"
        "FILE has one column per line, blank lines and # comments ignored:\n"
        "  schema.table column datatype[arraysize] [unit]\n"
        "e.g.\n"
        "  demo.sources source_id long\n"
        "  demo.sources ra double deg\n"
        "  demo.sources name char[*]\n"
        "datatype is a VOTable datatype (short int long float double char\n"
        "boolean ...). Names are published names; a name in double quotes is a\n"
        "delimited identifier. Database names are the published ones, folded to\n"
        "lower case unless delimited.\n",
        f);
}

typedef struct cmd_meta {
  adql_table_meta *tables;
  size_t ntables, captables;
  adql_udf *udfs;
  size_t nudfs, capudfs;
} cmd_meta;

static int grow(void **p, size_t *cap, size_t n, size_t size)
{
  if (n < *cap)
    return 0;
  size_t ncap = *cap ? *cap * 2 : 8;
  void *np = realloc(*p, ncap * size);
  if (!np)
    return -1;
  *p = np;
  *cap = ncap;
  return 0;
}

static adql_table_meta *cmdmeta_table(cmd_meta *m, ts_arena *a, const char *schema,
                                      const char *name)
{
  for (size_t i = 0; i < m->ntables; i++)
    if (strcmp(m->tables[i].schema, schema) == 0 && strcmp(m->tables[i].name, name) == 0)
      return &m->tables[i];
  if (grow((void **)&m->tables, &m->captables, m->ntables, sizeof *m->tables))
    return NULL;
  adql_table_meta *t = &m->tables[m->ntables++];
  memset(t, 0, sizeof *t);
  t->schema = ts_arena_strdup(a, schema);
  t->name = ts_arena_strdup(a, name);
  return t;
}

/* Reads the --meta file. Columns are collected per table in file order. */
static int load_meta(const char *path, cmd_meta *m, ts_arena *a)
{
  FILE *f = fopen(path, "r");
  char line[1024];
  int lineno = 0;
  if (!f) {
    fprintf(stderr, "tapserve adql: %s: %s\n", path, strerror(errno));
    return -1;
  }
  while (fgets(line, sizeof line, f)) {
    char *save = NULL, *tab, *col, *type, *unit, *dot, *br;
    lineno++;
    tab = strtok_r(line, " \t\r\n", &save);
    if (!tab || tab[0] == '#')
      continue;
    col = strtok_r(NULL, " \t\r\n", &save);
    type = strtok_r(NULL, " \t\r\n", &save);
    unit = strtok_r(NULL, " \t\r\n", &save);
    dot = strchr(tab, '.');
    if (!col || !type || !dot || dot == tab || !dot[1]) {
      fprintf(stderr, "tapserve adql: %s:%d: expected \"schema.table column datatype [unit]\"\n",
              path, lineno);
      fclose(f);
      return -1;
    }
    *dot = '\0';
    adql_table_meta *t = cmdmeta_table(m, a, tab, dot + 1);
    /* Copy-on-append keeps the code short; test files are small. */
    adql_column_meta *cols = t ? ts_arena_calloc(a, t->ncols + 1, sizeof *cols) : NULL;
    if (!cols) {
      fclose(f);
      return -1;
    }
    if (t->ncols)
      memcpy(cols, t->cols, t->ncols * sizeof *cols);
    adql_column_meta *c = &cols[t->ncols];
    br = strchr(type, '[');
    if (br) {
      char *end = strchr(br, ']');
      if (end)
        *end = '\0';
      *br = '\0';
      c->arraysize = ts_arena_strdup(a, br + 1);
    }
    c->name = ts_arena_strdup(a, col);
    c->datatype = ts_arena_strdup(a, type);
    c->unit = unit ? ts_arena_strdup(a, unit) : NULL;
    t->cols = cols;
    t->ncols++;
  }
  fclose(f);
  return 0;
}

static int add_udf(cmd_meta *m, ts_arena *a, const char *sig)
{
  const char *paren = strchr(sig, '(');
  if (!paren || paren == sig) {
    fprintf(stderr, "tapserve adql: --udf needs a signature like 'name(a TEXT) -> INTEGER'\n");
    return -1;
  }
  if (grow((void **)&m->udfs, &m->capudfs, m->nudfs, sizeof *m->udfs))
    return -1;
  adql_udf *u = &m->udfs[m->nudfs++];
  size_t n = (size_t)(paren - sig);
  while (n > 0 && sig[n - 1] == ' ')
    n--;
  u->name = ts_arena_strndup(a, sig, n);
  u->signature = sig;
  u->sql = NULL;
  return u->name ? 0 : -1;
}

static char *read_stdin(size_t *len)
{
  /* One byte past the parser's limit, so that adql_parse reports it. */
  size_t cap = 4096, n = 0, limit = (size_t)2 * 1024 * 1024;
  char *buf = malloc(cap);
  while (buf) {
    if (n == cap) {
      char *nb = cap >= limit ? NULL : realloc(buf, cap * 2);
      if (!nb)
        break;
      buf = nb;
      cap *= 2;
    }
    size_t got = fread(buf + n, 1, cap - n, stdin);
    n += got;
    if (got == 0) {
      if (ferror(stdin))
        break;
      *len = n;
      return buf;
    }
  }
  free(buf);
  return NULL;
}

int cmd_adql(int argc, char **argv)
{
  int syntax = 0, translate = 0, rc = 2;
  const char *meta_path = NULL;
  int64_t max_rows = -1;
  cmd_meta m;
  ts_arena *a = ts_arena_new(0, 0);
  ts_error err;
  char *text = NULL, *sql = NULL;
  size_t len = 0;
  adql_query *q = NULL;
  ts_err e;

  memset(&m, 0, sizeof m);
  ts_error_clear(&err);
  if (!a)
    return 2;
  for (int i = 1; i < argc; i++) {
    const char *o = argv[i];
    if (strcmp(o, "--syntax") == 0) {
      syntax = 1;
    } else if (strcmp(o, "--translate") == 0) {
      translate = 1;
    } else if (strcmp(o, "--meta") == 0 && i + 1 < argc) {
      meta_path = argv[++i];
    } else if (strcmp(o, "--udf") == 0 && i + 1 < argc) {
      if (add_udf(&m, a, argv[++i]))
        goto out;
    } else if (strcmp(o, "--max-rows") == 0 && i + 1 < argc) {
      if (ts_parse_int64(argv[++i], &max_rows) != TS_OK || max_rows < 0) {
        fprintf(stderr, "tapserve adql: --max-rows needs a non-negative number\n");
        goto out;
      }
    } else if (strcmp(o, "-h") == 0 || strcmp(o, "--help") == 0) {
      adql_usage(stdout);
      rc = 0;
      goto out;
    } else {
      fprintf(stderr, "tapserve adql: unknown or incomplete option \"%s\"\n", o);
      adql_usage(stderr);
      goto out;
    }
  }
  if (!syntax && !meta_path) {
    fprintf(stderr, "tapserve adql: give --syntax or --meta FILE\n");
    adql_usage(stderr);
    goto out;
  }
  if (translate && (syntax || !meta_path)) {
    fprintf(stderr, "tapserve adql: --translate needs --meta FILE (and not --syntax)\n");
    goto out;
  }
  if (meta_path && load_meta(meta_path, &m, a))
    goto out;
  text = read_stdin(&len);
  if (!text) {
    fprintf(stderr, "tapserve adql: cannot read the query from stdin\n");
    goto out;
  }
  e = adql_parse(text, len, a, &q, &err);
  if (!e) {
    if (syntax) {
      e = adql_check_syntax(q, m.udfs, m.nudfs, &err);
    } else {
      /* Without --udf, the service's default UDFs. */
      size_t nstd;
      const adql_udf *std = adql_std_udfs(&nstd);
      adql_meta am = {.ntables = m.ntables,
                      .tables = m.tables,
                      .nudfs = m.nudfs ? m.nudfs : nstd,
                      .udfs = m.nudfs ? m.udfs : std};
      e = adql_check(q, &am, &err);
      if (!e && translate)
        e = adql_translate(q, max_rows, a, &sql, &err);
    }
  }
  if (e) {
    fprintf(stderr, "line %d, column %d: %s\n", err.line, err.col, err.msg);
    rc = 1;
    goto out;
  }
  puts(sql ? sql : "OK");
  rc = 0;
out:
  free(text);
  free(m.tables);
  free(m.udfs);
  ts_arena_free(a);
  return rc;
}
