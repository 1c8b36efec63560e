/* Metadata built from TAP_SCHEMA rows, and the VOSI documents made from it,
 * validated against the IVOA schemas with xsdcheck.sh. */
#include "tapserve/vosi/vosi.h"
#include "test_list.h"
#include "ts_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/* Tests run from the repository root (see tests/CMakeLists.txt). The
 * schemas come from Debian packages, cached by xsdcheck.sh in TS_XSD_DIR
 * (set by CMake to a directory of the build tree). */
#define XSDCHECK        "scripts/xsdcheck.sh"
#define XSD_DIR_DEFAULT "build/ivoa-xsd"

/* ---- a small TAP_SCHEMA: itself in part, plus a user schema ---------------- */

static const char *const schemas[] = {
    "gaia",      NULL,         "Gaia & friends <data>",
    "1",         "TAP_SCHEMA", NULL,
    "Metadata",  "100000",     "\"Mixed\"",
    "ivo://x/y", NULL,         NULL,
};
static const char *const tables[] = {
    "gaia",       "gaia.source",
    "table",      NULL,
    "Sources",    "1",
    "TAP_SCHEMA", "TAP_SCHEMA.columns",
    "table",      NULL,
    "Columns",    "3",
    "gaia",       "GAIA.Epoch",
    "view",       "ivo://u/t",
    NULL,         "2",
    "TAP_SCHEMA", "TAP_SCHEMA.tables",
    "table",      NULL,
    "Tables",     "2",
    "\"Mixed\"",  "\"Mixed\".\"Odd Table\"",
    NULL,         NULL,
    NULL,         NULL,
};
/* table column datatype arraysize xtype size description utype unit ucd
 * indexed principal std column_index */
static const char *const columns[] = {
    "gaia.source",
    "source_id",
    "long",
    NULL,
    NULL,
    NULL,
    "Id",
    NULL,
    NULL,
    "meta.id;meta.main",
    "1",
    "1",
    "0",
    "1",
    "gaia.source",
    "ra",
    "double",
    NULL,
    NULL,
    NULL,
    "RA",
    NULL,
    "deg",
    "pos.eq.ra;meta.main",
    "1",
    "1",
    "0",
    "2",
    "gaia.source",
    "dec",
    "double",
    NULL,
    NULL,
    NULL,
    "Dec",
    NULL,
    "deg",
    "pos.eq.dec;meta.main",
    "0",
    "1",
    "0",
    "3",
    "gaia.source",
    "pos",
    "POINT",
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    "gaia.source",
    "name",
    "CHAR",
    NULL,
    NULL,
    "12",
    NULL,
    NULL,
    NULL,
    NULL,
    "0",
    "0",
    "0",
    "4",
    "gaia.source",
    "g_mag",
    "float",
    NULL,
    NULL,
    NULL,
    "G",
    NULL,
    "mag",
    "phot.mag;em.opt.G",
    "0",
    "0",
    "0",
    "5",
    "TAP_SCHEMA.columns",
    "column_name",
    "char",
    "*",
    NULL,
    NULL,
    "x",
    NULL,
    NULL,
    NULL,
    "1",
    "1",
    "1",
    "2",
    "TAP_SCHEMA.columns",
    "\"size\"",
    "int",
    NULL,
    NULL,
    NULL,
    "y",
    NULL,
    NULL,
    NULL,
    "0",
    "0",
    "1",
    "6",
    "TAP_SCHEMA.columns",
    "table_name",
    "char",
    "*",
    NULL,
    NULL,
    "z",
    NULL,
    NULL,
    NULL,
    "1",
    "1",
    "1",
    "1",
    "TAP_SCHEMA.tables",
    "table_name",
    "char",
    "*",
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    "1",
    "1",
    "1",
    "1",
    "GAIA.Epoch",
    "source_id",
    "long",
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    "0",
    "0",
    "0",
    "1",
    "GAIA.Epoch",
    "obs_time",
    "char",
    "*",
    "timestamp",
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    "0",
    "0",
    "0",
    "2",
    "\"Mixed\".\"Odd Table\"",
    "\"Col A\"",
    "unicodeChar",
    "16*",
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
    NULL,
};
static const char *const keys[] = {
    "k1", "GAIA.Epoch",         "gaia.source",       NULL, "Epochs of a source",
    "tc", "TAP_SCHEMA.columns", "TAP_SCHEMA.tables", NULL, NULL,
};
static const char *const key_columns[] = {
    "k1", "source_id", "source_id", "tc", "table_name", "table_name",
};

static meta_rows sample_rows(void)
{
  meta_rows r = {
      .nschemas = TS_ARRAY_LEN(schemas) / META_SCHEMA_W,
      .ntables = TS_ARRAY_LEN(tables) / META_TABLE_W,
      .ncolumns = TS_ARRAY_LEN(columns) / META_COLUMN_W,
      .nkeys = TS_ARRAY_LEN(keys) / META_KEY_W,
      .nkey_columns = TS_ARRAY_LEN(key_columns) / META_KEYCOL_W,
      .schemas = schemas,
      .tables = tables,
      .columns = columns,
      .keys = keys,
      .key_columns = key_columns,
  };
  return r;
}

static const adql_table_meta *adql_table(const adql_meta *am, const char *schema, const char *name)
{
  for (size_t i = 0; i < am->ntables; i++)
    if (!strcmp(am->tables[i].schema, schema) && !strcmp(am->tables[i].name, name))
      return &am->tables[i];
  return NULL;
}

int test_meta_build_ok(void)
{
  meta_rows rows = sample_rows();
  meta *m = NULL;
  ts_error e;
  const adql_meta *am;
  const adql_table_meta *t;
  const meta_table *mt;

  TS_CHECK_EQ_INT(meta_build(&rows, NULL, &m, &e), TS_OK);
  am = meta_adql(m);
  TS_CHECK_EQ_INT(am->ntables, 5);
  TS_CHECK_EQ_INT(meta_nschemas(m), 3);

  /* Tables are grouped by schema in schema order, each in its own order. */
  TS_CHECK_STREQ(meta_schema_at(m, 0)->name, "gaia");
  TS_CHECK_EQ_INT(meta_schema_at(m, 0)->ntables, 2);
  TS_CHECK_STREQ(meta_schema_at(m, 0)->tables[0].qualified_name, "gaia.source");
  TS_CHECK_STREQ(meta_schema_at(m, 0)->tables[1].qualified_name, "GAIA.Epoch");
  TS_CHECK_STREQ(meta_schema_at(m, 1)->tables[0].qualified_name, "TAP_SCHEMA.columns");
  TS_CHECK(meta_schema_at(m, 3) == NULL);

  /* Name mapping: TAP_SCHEMA -> tap_schema, regular names folded,
   * delimited ones kept exactly without quotes. */
  t = adql_table(am, "TAP_SCHEMA", "columns");
  TS_CHECK(t != NULL);
  TS_CHECK_STREQ(t->db_schema, "tap_schema");
  TS_CHECK_STREQ(t->db_name, "columns");
  TS_CHECK_EQ_INT(t->ncols, 3);
  TS_CHECK_STREQ(t->cols[1].name, "\"size\"");
  TS_CHECK_STREQ(t->cols[1].db_name, "size");
  t = adql_table(am, "gaia", "Epoch");
  TS_CHECK(t != NULL);
  TS_CHECK_STREQ(t->db_schema, "gaia");
  TS_CHECK_STREQ(t->db_name, "epoch");
  TS_CHECK_STREQ(t->cols[1].xtype, "timestamp");
  t = adql_table(am, "\"Mixed\"", "\"Odd Table\"");
  TS_CHECK(t != NULL);
  TS_CHECK_STREQ(t->db_schema, "Mixed");
  TS_CHECK_STREQ(t->db_name, "Odd Table");
  TS_CHECK_STREQ(t->cols[0].db_name, "Col A");
  TS_CHECK_STREQ(t->cols[0].arraysize, "16*");

  /* Columns keep their order; TAP 1.0 ADQL types become VOTable types. */
  t = adql_table(am, "gaia", "source");
  TS_CHECK_EQ_INT(t->ncols, 6);
  TS_CHECK_STREQ(t->cols[0].name, "source_id");
  TS_CHECK_EQ_INT(t->cols[0].indexed, 1);
  TS_CHECK_EQ_INT(t->cols[0].principal, 1);
  TS_CHECK_EQ_INT(t->cols[0].std, 0);
  TS_CHECK_STREQ(t->cols[3].datatype, "double");
  TS_CHECK_STREQ(t->cols[3].arraysize, "2");
  TS_CHECK_STREQ(t->cols[3].xtype, "point");
  TS_CHECK_STREQ(t->cols[4].datatype, "char");
  TS_CHECK_STREQ(t->cols[4].arraysize, "12");
  TS_CHECK_STREQ(t->cols[1].unit, "deg");

  /* Lookup: exact, then case-insensitive for regular names only. */
  mt = meta_find_table(m, "gaia.epoch");
  TS_CHECK(mt != NULL);
  TS_CHECK_STREQ(mt->qualified_name, "GAIA.Epoch");
  TS_CHECK(meta_find_table(m, "tap_schema.TABLES") != NULL);
  TS_CHECK(meta_find_table(m, "\"Mixed\".\"Odd Table\"") != NULL);
  TS_CHECK(meta_find_table(m, "\"mixed\".\"odd table\"") == NULL);
  TS_CHECK(meta_find_table(m, "gaia.nosuch") == NULL);

  /* Keys hang on their from-table. */
  TS_CHECK_EQ_INT(mt->nkeys, 1);
  TS_CHECK_STREQ(mt->keys[0]->target_table, "gaia.source");
  TS_CHECK_EQ_INT(mt->keys[0]->ncols, 1);
  TS_CHECK_STREQ(mt->keys[0]->cols[0].from_column, "source_id");
  TS_CHECK_EQ_INT(meta_find_table(m, "gaia.source")->nkeys, 0);
  meta_release(m);
  return 0;
}

int test_meta_build_errors(void)
{
  static const struct {
    int what; /* 0 table row, 1 column row, 2 key row, 3 key_column row */
    const char *row[14];
    const char *msg;
  } cases[] = {
      {0, {"nosuch", "nosuch.t", "table", NULL, NULL, NULL}, "which is not in TAP_SCHEMA.schemas"},
      {0, {"gaia", "other.t", "table", NULL, NULL, NULL}, "does not start with its schema_name"},
      {0, {"gaia", "gaia.source", "table", NULL, NULL, NULL}, "appears twice"},
      {1, {"gaia.nosuch", "x", "int"}, "which is not in TAP_SCHEMA.tables"},
      {1, {"gaia.source", "RA", "double"}, "two columns named RA"},
      {1, {"gaia.source", "y", "quaternion"}, "unknown datatype 'quaternion'"},
      {2, {"k2", "gaia.source", "gaia.nosuch"}, "refers to gaia.nosuch"},
      {2, {"k1", "gaia.source", "GAIA.Epoch"}, "key_id k1 appears twice"},
      {3, {"k9", "a", "b"}, "key_id k9 is not in TAP_SCHEMA.keys"},
  };
  for (size_t i = 0; i < TS_ARRAY_LEN(cases); i++) {
    static const size_t width[] = {META_TABLE_W, META_COLUMN_W, META_KEY_W, META_KEYCOL_W};
    const char *const *orig[] = {tables, columns, keys, key_columns};
    size_t norig[] = {TS_ARRAY_LEN(tables), TS_ARRAY_LEN(columns), TS_ARRAY_LEN(keys),
                      TS_ARRAY_LEN(key_columns)};
    int w = cases[i].what;
    const char **grown = calloc(norig[w] + width[w], sizeof *grown);
    meta_rows rows = sample_rows();
    meta *m = NULL;
    ts_error e;
    ts_err rc;
    TS_CHECK(grown != NULL);
    memcpy(grown, orig[w], norig[w] * sizeof *grown);
    memcpy(grown + norig[w], cases[i].row, width[w] * sizeof *grown);
    switch (w) {
    case 0:
      rows.tables = grown, rows.ntables++;
      break;
    case 1:
      rows.columns = grown, rows.ncolumns++;
      break;
    case 2:
      rows.keys = grown, rows.nkeys++;
      break;
    default:
      rows.key_columns = grown, rows.nkey_columns++;
      break;
    }
    rc = meta_build(&rows, NULL, &m, &e);
    free(grown);
    if (rc != TS_EINVAL || m != NULL || !strstr(e.msg, cases[i].msg)) {
      fprintf(stderr, "# case %zu: rc %s, msg \"%s\"\n", i, ts_err_name(rc), e.msg);
      meta_release(m);
      TS_CHECK(0);
    }
  }
  return 0;
}

int test_meta_esa_flags(void)
{
  adql_column_meta c = {.name = "x"};
  TS_CHECK_EQ_INT(meta_column_esa_flags(&c), 0);
  c.ucd = "pos.eq.ra;meta.main";
  TS_CHECK_EQ_INT(meta_column_esa_flags(&c), 1);
  c.ucd = "POS.EQ.DEC; meta.main";
  TS_CHECK_EQ_INT(meta_column_esa_flags(&c), 2);
  c.ucd = "pos.eq.ra"; /* not the main position: no flag */
  TS_CHECK_EQ_INT(meta_column_esa_flags(&c), 0);
  c.ucd = "phot.flux;em.radio";
  TS_CHECK_EQ_INT(meta_column_esa_flags(&c), 4);
  c.ucd = "phot.mag;em.opt.V";
  TS_CHECK_EQ_INT(meta_column_esa_flags(&c), 8);
  return 0;
}

/* ---- validation helpers -------------------------------------------------------- */

/* Writes the document to a file and runs `tool` (a shell command prefix)
 * on it. Returns the tool's exit status. */
static int run_on_file(const ts_buf *b, const char *tool)
{
  char path[64], cmd[512];
  int fd, rc;
  snprintf(path, sizeof path, "/tmp/tapserve-vosi-XXXXXX");
  fd = mkstemp(path);
  if (fd < 0)
    return -1;
  if (write(fd, b->data, b->len) != (ssize_t)b->len) {
    close(fd);
    unlink(path);
    return -1;
  }
  close(fd);
  snprintf(cmd, sizeof cmd, "%s %s >&2", tool, path);
  rc = system(cmd);
  unlink(path);
  if (rc != 0)
    fprintf(stderr, "# document:\n%s\n", b->data);
  return rc == -1 ? -1 : WEXITSTATUS(rc);
}

/* xsdcheck.sh on the document (with XSD=`schema` when given). */
static int validate(const ts_buf *b, const char *schema)
{
  char tool[256];
  snprintf(tool, sizeof tool, "%s%s %s", schema ? "XSD=" : "", schema ? schema : "", XSDCHECK);
  return run_on_file(b, tool);
}

static const char *const csv_aliases[] = {"text/csv", "csv", NULL};
static const char *const vot_aliases[] = {"votable", "votable/td", NULL};
static const fmt_type fake_csv = {
    .name = "csv", .mime = "text/csv;header=present", .aliases = csv_aliases};
static const fmt_type fake_vot = {.name = "votable/td",
                                  .mime = "application/x-votable+xml;serialization=TABLEDATA",
                                  .aliases = vot_aliases};

int test_vosi_capabilities(void)
{
  cfg c;
  ts_error e;
  ts_buf b;
  const fmt_type *fmts[] = {&fake_vot, &fake_csv};
  adql_udf udf = {.name = "ivo_hasword",
                  .signature = "ivo_hasword(haystack TEXT, needle TEXT) -> INTEGER"};
  adql_meta am = {.nudfs = 1, .udfs = &udf};
  cfg_defaults(&c);
  c.base_url = strdup("http://lb.example.org/x&y/tap");
  TS_CHECK_EQ_INT(cfg_finish(&c, &e), TS_OK);
  ts_buf_init(&b, TS_TEST_BUF_MAX);
  TS_CHECK_EQ_INT(vosi_capabilities_xml(&c, &am, fmts, 2, &b), TS_OK);
  TS_CHECK_EQ_INT(validate(&b, NULL), 0);
  TS_CHECK(strstr(b.data, "<accessURL use=\"base\">http://lb.example.org/x&amp;y/tap</accessURL>"));
  TS_CHECK(strstr(b.data, "http://lb.example.org/x&amp;y/tap/availability</accessURL>"));
  TS_CHECK(strstr(b.data, "ivo://ivoa.net/std/ADQL#v2.1"));
  TS_CHECK(strstr(b.data, "<default unit=\"row\">100000</default>"));
  TS_CHECK(strstr(b.data, "<hard unit=\"row\">10000000</hard>"));
  /* uploads: the limit in bytes, after outputLimit as TAPRegExt orders it */
  TS_CHECK(strstr(b.data, "</outputLimit>\n    <uploadLimit>\n      <hard unit=\"byte\">67108864"
                          "</hard>"));
  /* Async job limits from [jobs], not the sync timeout. */
  TS_CHECK(strstr(b.data, "<retentionPeriod>\n      <default>604800</default>\n"
                          "      <hard>2592000</hard>\n    </retentionPeriod>"));
  TS_CHECK(strstr(b.data, "<executionDuration>\n      <default>3600</default>\n"
                          "      <hard>86400</hard>\n    </executionDuration>"));
  TS_CHECK(strstr(b.data, "output-votable-td"));
  TS_CHECK(strstr(b.data,
                  "<capability standardID=\"ivo://ivoa.net/std/DALI#examples\">\n"
                  "    <interface xsi:type=\"vr:WebBrowser\">\n"
                  "      <accessURL use=\"full\">http://lb.example.org/x&amp;y/tap/examples"));
  TS_CHECK(strstr(b.data, "<alias>votable</alias>"));
  TS_CHECK(strstr(b.data, "<form>ivo_hasword(haystack TEXT, needle TEXT) -&gt; INTEGER</form>"));
  /* The short name once, even when the alias list repeats it. */
  TS_CHECK(strstr(strstr(b.data, "<alias>csv</alias>") + 1, "<alias>csv</alias>") == NULL);
  ts_buf_free(&b);
  cfg_free(&c);
  return 0;
}

int test_vosi_availability(void)
{
  ts_buf b;
  ts_buf_init(&b, TS_TEST_BUF_MAX);
  TS_CHECK_EQ_INT(vosi_availability_xml(1, 1763800000000, "fine", &b), TS_OK);
  TS_CHECK_EQ_INT(validate(&b, NULL), 0);
  TS_CHECK(strstr(b.data, "<vosi:available>true</vosi:available>"));
  TS_CHECK(strstr(b.data, "<vosi:upSince>2025-11-22T08:26:40Z</vosi:upSince>"));
  ts_buf_reset(&b);
  TS_CHECK_EQ_INT(vosi_availability_xml(0, 1763800000000, "shutting <down>", &b), TS_OK);
  TS_CHECK_EQ_INT(validate(&b, NULL), 0);
  TS_CHECK(strstr(b.data, "<vosi:available>false</vosi:available>"));
  TS_CHECK(strstr(b.data, "shutting &lt;down&gt;"));
  TS_CHECK(!strstr(b.data, "upSince"));
  ts_buf_free(&b);
  return 0;
}

int test_vosi_tables(void)
{
  meta_rows rows = sample_rows();
  meta *m = NULL;
  ts_error e;
  ts_buf b;
  vosi_tables_opts o = {.detail_min = 0, .esa_extras = 0};
  const meta_table *sel[1];

  TS_CHECK_EQ_INT(meta_build(&rows, NULL, &m, &e), TS_OK);
  ts_buf_init(&b, TS_TEST_BUF_MAX);
  /* Without the TAP+ extras the document is plain VOSI-tables 1.1. */
  TS_CHECK_EQ_INT(vosi_tables_xml(m, &o, NULL, 0, &b), TS_OK);
  TS_CHECK_EQ_INT(validate(&b, NULL), 0);
  TS_CHECK(strstr(b.data, "<name>TAP_SCHEMA.columns</name>"));
  TS_CHECK(strstr(b.data, "<name>&quot;size&quot;</name>"));
  TS_CHECK(strstr(b.data, "<description>Gaia &amp; friends &lt;data&gt;</description>"));
  TS_CHECK(strstr(b.data, "<dataType xsi:type=\"vs:VOTableType\" arraysize=\"2\" "
                          "extendedType=\"point\">double</dataType>"));
  TS_CHECK(strstr(b.data, "<table type=\"view\">"));
  TS_CHECK(strstr(b.data, "<targetTable>gaia.source</targetTable>"));
  TS_CHECK(strstr(b.data, "<flag>indexed</flag>"));
  TS_CHECK(!strstr(b.data, "esatapplus"));
  /* Schema order: gaia first, TAP_SCHEMA (index 100000) after it. */
  TS_CHECK(strstr(b.data, "<name>gaia</name>") < strstr(b.data, "<name>TAP_SCHEMA</name>"));

  /* detail=min: tables, no columns. */
  ts_buf_reset(&b);
  o.detail_min = 1;
  TS_CHECK_EQ_INT(vosi_tables_xml(m, &o, NULL, 0, &b), TS_OK);
  TS_CHECK_EQ_INT(validate(&b, NULL), 0);
  TS_CHECK(strstr(b.data, "<name>gaia.source</name>"));
  TS_CHECK(!strstr(b.data, "<column"));

  /* A selection keeps only the schemas it touches. */
  ts_buf_reset(&b);
  o.detail_min = 0;
  sel[0] = meta_find_table(m, "gaia.epoch");
  TS_CHECK_EQ_INT(vosi_tables_xml(m, &o, sel, 1, &b), TS_OK);
  TS_CHECK_EQ_INT(validate(&b, NULL), 0);
  TS_CHECK(strstr(b.data, "<name>GAIA.Epoch</name>"));
  TS_CHECK(!strstr(b.data, "gaia.source</name>"));
  TS_CHECK(!strstr(b.data, "TAP_SCHEMA"));
  ts_buf_free(&b);
  meta_release(m);
  return 0;
}

/* The driver schema with the esatapplus declaration, paths filled in. */
static int esa_schema(char out[64])
{
  char cwd[512], line[1024];
  FILE *in = fopen("tests/unit/tapserve/esa-all.xsd", "r"), *o;
  int fd;
  if (!in || !getcwd(cwd, sizeof cwd))
    return -1;
  snprintf(out, 64, "/tmp/tapserve-esa-XXXXXX");
  fd = mkstemp(out);
  o = fd >= 0 ? fdopen(fd, "w") : NULL;
  if (!o) {
    fclose(in);
    return -1;
  }
  const char *xsd_dir = getenv("TS_XSD_DIR") ? getenv("TS_XSD_DIR") : XSD_DIR_DEFAULT;
  while (fgets(line, sizeof line, in)) {
    for (char *p = line; *p; p++) {
      if (!strncmp(p, "@XSD_DIR@", 9)) {
        if (xsd_dir[0] == '/')
          fputs(xsd_dir, o);
        else
          fprintf(o, "%s/%s", cwd, xsd_dir);
        p += 8;
      } else if (!strncmp(p, "@ESA_XSD@", 9)) {
        fprintf(o, "%s/tests/unit/tapserve/esatapplus.xsd", cwd);
        p += 8;
      } else {
        fputc(*p, o);
      }
    }
  }
  fclose(in);
  fclose(o);
  return 0;
}

int test_vosi_tables_esa(void)
{
  meta_rows rows = sample_rows();
  meta *m = NULL;
  ts_error e;
  ts_buf b;
  char schema[64];
  vosi_tables_opts o = {.detail_min = 0, .esa_extras = 1};
  int rc;

  TS_CHECK_EQ_INT(meta_build(&rows, NULL, &m, &e), TS_OK);
  TS_CHECK_EQ_INT(esa_schema(schema), 0);
  ts_buf_init(&b, TS_TEST_BUF_MAX);
  TS_CHECK_EQ_INT(vosi_tables_xml(m, &o, NULL, 0, &b), TS_OK);
  rc = validate(&b, schema);
  unlink(schema);
  TS_CHECK_EQ_INT(rc, 0);
  TS_CHECK(strstr(b.data, "xmlns:esatapplus=\"http://esa.int/xml/EsaTapPlus\""));
  /* Every column carries the attribute, with the literal prefix TapPlus's
   * SAX parser looks up. */
  {
    size_t ncol = 0, nflags = 0;
    for (const char *p = b.data; (p = strstr(p, "<column")) != NULL; p++)
      ncol++;
    for (const char *p = b.data; (p = strstr(p, "<column esatapplus:flags=\"")) != NULL; p++)
      nflags++;
    TS_CHECK(ncol > 0);
    TS_CHECK_EQ_INT(nflags, ncol);
  }
  TS_CHECK(strstr(b.data, "<column esatapplus:flags=\"1\">\n        <name>ra</name>"));
  TS_CHECK(strstr(b.data, "<column esatapplus:flags=\"2\">\n        <name>dec</name>"));
  TS_CHECK(strstr(b.data, "<column esatapplus:flags=\"0\" std=\"true\">"));
  ts_buf_free(&b);
  meta_release(m);
  return 0;
}

int test_vosi_table_one(void)
{
  meta_rows rows = sample_rows();
  meta *m = NULL;
  ts_error e;
  ts_buf b;
  vosi_tables_opts o = {.detail_min = 1, .esa_extras = 0};
  TS_CHECK_EQ_INT(meta_build(&rows, NULL, &m, &e), TS_OK);
  ts_buf_init(&b, TS_TEST_BUF_MAX);
  /* One table is always complete, whatever detail says. */
  TS_CHECK_EQ_INT(vosi_table_xml(meta_find_table(m, "TAP_SCHEMA.columns"), &o, &b), TS_OK);
  TS_CHECK_EQ_INT(validate(&b, NULL), 0);
  TS_CHECK(strstr(b.data, "<vosi:table xmlns:vosi="));
  TS_CHECK(strstr(b.data, "<name>column_name</name>"));
  TS_CHECK(strstr(b.data, "<targetTable>TAP_SCHEMA.tables</targetTable>"));
  ts_buf_free(&b);
  meta_release(m);
  return 0;
}

/* The built-in /examples lists only the examples whose queries check
 * against the published metadata: here TAP_SCHEMA.tables alone, so neither
 * the TAP_SCHEMA.columns example nor any of the demo's. */
int test_examples_builtin(void)
{
  static const char *const sch[] = {"TAP_SCHEMA", NULL, NULL, "1"};
  static const char *const tab[] = {"TAP_SCHEMA", "TAP_SCHEMA.tables", "table", NULL, NULL, "1"};
#define EXCOL(name, i)                                                                             \
  "TAP_SCHEMA.tables", name, "char", "*", NULL, NULL, NULL, NULL, NULL, NULL, "0", "1", "1", i
  static const char *const col[] = {EXCOL("schema_name", "1"), EXCOL("table_name", "2"),
                                    EXCOL("table_type", "3"), EXCOL("description", "4")};
#undef EXCOL
  meta_rows rows = {
      .nschemas = 1, .ntables = 1, .ncolumns = 4, .schemas = sch, .tables = tab, .columns = col};
  meta *m = NULL;
  ts_error e;
  cfg c;
  ts_buf b;
  cfg_defaults(&c);
  free(c.service_title);
  c.service_title = strdup("A & B");
  TS_CHECK_EQ_INT(cfg_finish(&c, &e), TS_OK);
  TS_CHECK_EQ_INT(meta_build(&rows, NULL, &m, &e), TS_OK);
  ts_buf_init(&b, TAP_EXAMPLES_DOC_MAX);
  TS_CHECK_EQ_INT(tap_examples_xml(&c, meta_adql(m), &b), TS_OK);
  TS_CHECK_EQ_INT(run_on_file(&b, "xmllint --noout --nonet"), 0); /* XHTML: well-formed */
  TS_CHECK(strstr(b.data, "<body vocab=\"http://www.ivoa.net/rdf/examples#\">"));
  TS_CHECK(strstr(b.data, "<title>A &amp; B: query examples</title>"));
  TS_CHECK(strstr(b.data, "<div typeof=\"example\" id=\"tap_schema_tables\" "
                          "resource=\"#tap_schema_tables\">\n<h2 property=\"name\">"));
  TS_CHECK(strstr(b.data, "<span property=\"table\">TAP_SCHEMA.tables</span>"));
  /* One example only: the others name tables or columns not published. */
  const char *first = strstr(b.data, "typeof=\"example\"");
  TS_CHECK(first && !strstr(first + 1, "typeof=\"example\""));
  TS_CHECK(!strstr(b.data, "demo."));
  /* Without metadata (none loaded yet): no example at all. */
  ts_buf_reset(&b);
  TS_CHECK_EQ_INT(tap_examples_xml(&c, NULL, &b), TS_OK);
  TS_CHECK(!strstr(b.data, "typeof=\"example\""));
  ts_buf_free(&b);
  meta_release(m);
  cfg_free(&c);
  return 0;
}
