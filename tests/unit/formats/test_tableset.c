/* Unit tests of formats/tableset.c: a tableset holding every TAP_SCHEMA
 * field written, validated against VODataService 1.2 and read back field
 * by field; tablesets as other services write them; hostile inputs, each
 * refused with a message naming the element and its line. */
#include "formats/tableset.h"

#include <stdlib.h>
#include <unistd.h>

#include "test_list.h"
#include "ts_test.h"

/* The repository's xsdcheck.sh (the tests run from the source directory;
 * the schemas come from Debian packages, cached in TS_XSD_DIR). */
static int ts_xsd_valid(const char *doc, size_t len)
{
  char path[] = "/tmp/ts_tableset_XXXXXX", cmd[512];
  int fd = mkstemp(path), rc;
  if (fd < 0)
    return 0;
  rc = write(fd, doc, len) == (ssize_t)len ? 0 : -1;
  close(fd);
  if (!rc) {
    snprintf(cmd, sizeof cmd, "scripts/xsdcheck.sh %s 1>&2", path);
    rc = system(cmd);
  }
  unlink(path);
  return rc == 0;
}

static fmt_tableset *sample(void)
{
  fmt_tableset *ts = fmt_tableset_new();
  fmt_ts_schema *s = fmt_ts_add_schema(ts);
  fmt_ts_table *t;
  fmt_ts_column *c;
  fmt_ts_key *k;
  fmt_ts_fkcol *fc;

  s->name = "cat";
  s->description = "A catalogue & its <tiles>";
  s->utype = "ivo://example/schema";
  s->has_meta = 1;
  s->index = (fmt_ts_int){1, 10};

  t = fmt_ts_add_table(ts, s);
  t->name = "cat.tiles";
  t->type = "table";
  t->description = "Tiles";
  t->has_meta = 1; /* index NULL: the instruction says so */
  c = fmt_ts_add_column(ts, t);
  c->name = "tile_id";
  c->datatype = "int";
  c->indexed = c->principal = 1;
  c->ucd = "meta.id;meta.main";
  c->has_meta = 1;
  c->index = (fmt_ts_int){1, 1};

  t = fmt_ts_add_table(ts, s);
  t->name = "cat.src";
  t->type = "view";
  t->description = "Sources, \"quoted\" and non-ASCII: Étoile ★";
  t->utype = "u:t";
  t->has_meta = 1;
  t->index = (fmt_ts_int){1, -3};
  c = fmt_ts_add_column(ts, t);
  c->name = "ra";
  c->datatype = "double";
  c->unit = "deg";
  c->ucd = "pos.eq.ra;meta.main";
  c->utype = "stc:AstroCoords.Position2D.Value2.C1";
  c->description = "Right ascension";
  c->indexed = 1;
  c->principal = 1;
  c->std = 1;
  c->has_meta = 1;
  c->index = (fmt_ts_int){1, 7};
  c = fmt_ts_add_column(ts, t);
  c->name = "\"Name\"";
  c->datatype = "unicodeChar";
  c->arraysize = "20*";
  c->has_meta = 1;
  c->index = (fmt_ts_int){1, 8};
  c->size = (fmt_ts_int){1, 20};
  c = fmt_ts_add_column(ts, t);
  c->name = "obs_time";
  c->datatype = "char";
  c->arraysize = "*";
  c->xtype = "timestamp";
  c->description = "";
  c = fmt_ts_add_column(ts, t);
  c->name = "tile_id";
  c->datatype = "int";
  c->has_meta = 1;
  c->index = (fmt_ts_int){1, 9};
  k = fmt_ts_add_key(ts, t);
  k->key_id = "cat.src_tile \"?>";
  k->target_table = "cat.tiles";
  k->description = "The tile";
  k->utype = "u:k";
  fc = fmt_ts_add_fkcol(ts, k);
  fc->from = "tile_id";
  fc->target = "tile_id";
  fc = fmt_ts_add_fkcol(ts, k);
  fc->from = "ra";
  fc->target = "tile_id";
  return ts;
}

static int streq0(const char *a, const char *b)
{
  return (!a && !b) || (a && b && !strcmp(a, b));
}

static int int_eq(fmt_ts_int a, fmt_ts_int b)
{
  return a.set == b.set && (!a.set || a.v == b.v);
}

/* Every field of every element equal. */
static int same(const fmt_tableset *a, const fmt_tableset *b)
{
  TS_CHECK_EQ_INT(a->nschemas, b->nschemas);
  for (size_t s = 0; s < a->nschemas; s++) {
    const fmt_ts_schema *x = &a->schemas[s], *y = &b->schemas[s];
    TS_CHECK(streq0(x->name, y->name) && streq0(x->description, y->description) &&
             streq0(x->utype, y->utype) && x->has_meta == y->has_meta &&
             int_eq(x->index, y->index));
    TS_CHECK_EQ_INT(x->ntables, y->ntables);
    for (size_t t = 0; t < x->ntables; t++) {
      const fmt_ts_table *p = &x->tables[t], *q = &y->tables[t];
      TS_CHECK(streq0(p->name, q->name) && streq0(p->type, q->type) &&
               streq0(p->description, q->description) && streq0(p->utype, q->utype) &&
               p->has_meta == q->has_meta && int_eq(p->index, q->index));
      TS_CHECK_EQ_INT(p->ncols, q->ncols);
      for (size_t i = 0; i < p->ncols; i++) {
        const fmt_ts_column *c = &p->cols[i], *d = &q->cols[i];
        TS_CHECK_STREQ(d->name, c->name);
        TS_CHECK(streq0(c->description, d->description) && streq0(c->unit, d->unit) &&
                 streq0(c->ucd, d->ucd) && streq0(c->utype, d->utype) &&
                 streq0(c->datatype, d->datatype) && streq0(c->arraysize, d->arraysize) &&
                 streq0(c->xtype, d->xtype));
        TS_CHECK(c->indexed == d->indexed && c->principal == d->principal && c->std == d->std);
        TS_CHECK(c->has_meta == d->has_meta && int_eq(c->index, d->index) &&
                 int_eq(c->size, d->size));
      }
      TS_CHECK_EQ_INT(p->nkeys, q->nkeys);
      for (size_t i = 0; i < p->nkeys; i++) {
        const fmt_ts_key *k = &p->keys[i], *l = &q->keys[i];
        TS_CHECK(streq0(k->key_id, l->key_id) && streq0(k->target_table, l->target_table) &&
                 streq0(k->description, l->description) && streq0(k->utype, l->utype));
        TS_CHECK_EQ_INT(k->ncols, l->ncols);
        for (size_t j = 0; j < k->ncols; j++)
          TS_CHECK(streq0(k->cols[j].from, l->cols[j].from) &&
                   streq0(k->cols[j].target, l->cols[j].target));
      }
    }
  }
  return 0;
}

int test_tableset_roundtrip(void)
{
  fmt_tableset *ts = sample(), *back = NULL;
  ts_buf b, b2;
  ts_error err;
  int rc = 1;
  ts_buf_init(&b, FMT_TABLESET_MAX);
  ts_buf_init(&b2, FMT_TABLESET_MAX);
  TS_CHECK(fmt_tableset_write(ts, &b) == TS_OK);
  TS_CHECK(ts_xsd_valid(b.data, b.len));
  if (fmt_tableset_read(b.data, b.len, "rt.xml", &back, &err)) {
    fprintf(stderr, "# %s\n", err.msg);
    return 1;
  }
  if (same(ts, back))
    goto out;
  /* Writing what was read gives the same bytes. */
  TS_CHECK(fmt_tableset_write(back, &b2) == TS_OK);
  TS_CHECK_EQ_INT(b2.len, b.len);
  TS_CHECK(!memcmp(b.data, b2.data, b.len));
  rc = 0;
out:
  fmt_tableset_free(ts);
  fmt_tableset_free(back);
  ts_buf_free(&b);
  ts_buf_free(&b2);
  return rc;
}

/* As other services write it: the VODataService namespace on the root,
 * pretty-printed text, "primary" for principal, elements and attributes we
 * keep no field for, extensions in other namespaces. */
int test_tableset_foreign(void)
{
  static const char doc[] =
      "<?xml version='1.0'?>\n"
      "<vod:tableset xmlns:vod='http://www.ivoa.net/xml/VODataService/v1.1'\n"
      "   xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' xmlns:x='urn:x'>\n"
      " <schema><name> demo </name><title>ignored</title>\n"
      "  <description>\n    Two\n    lines\n  </description>\n"
      "  <table type='base_table' x:extra='1'><name>demo.t</name><nrows>5</nrows>\n"
      "   <x:ext><name>not a column</name></x:ext>\n"
      "   <column><name>a</name><dataType xsi:type='vod:VOTableType' arraysize='3*'>char"
      "</dataType><flag>primary</flag><flag>nullable</flag><flag/></column>\n"
      "   <column std='1'><name>b</name><?other index='9'?></column>\n"
      "  </table>\n"
      " </schema>\n"
      "</vod:tableset>\n";
  fmt_tableset *ts = NULL;
  ts_error err;
  if (fmt_tableset_read(doc, sizeof doc - 1, "f.xml", &ts, &err)) {
    fprintf(stderr, "# %s\n", err.msg);
    return 1;
  }
  TS_CHECK_EQ_INT(ts->nschemas, 1);
  TS_CHECK_STREQ(ts->schemas[0].name, "demo");
  TS_CHECK_STREQ(ts->schemas[0].description, "Two lines");
  TS_CHECK(!ts->schemas[0].has_meta);
  TS_CHECK_EQ_INT(ts->schemas[0].ntables, 1);
  const fmt_ts_table *t = &ts->schemas[0].tables[0];
  TS_CHECK_STREQ(t->type, "table");
  TS_CHECK_EQ_INT(t->ncols, 2);
  TS_CHECK_STREQ(t->cols[0].datatype, "char");
  TS_CHECK_STREQ(t->cols[0].arraysize, "3*");
  TS_CHECK(t->cols[0].principal && !t->cols[0].indexed && !t->cols[0].std);
  TS_CHECK(t->cols[1].std && !t->cols[1].datatype && !t->cols[1].has_meta);
  TS_CHECK_EQ_INT(t->line, 9);
  TS_CHECK_EQ_INT(t->cols[0].line, 11);
  fmt_tableset_free(ts);
  return 0;
}

/* Each hostile document fails with TS_EINVAL (or TS_ELIMIT) and a message
 * that names what is wrong. */
int test_tableset_hostile(void)
{
  static const struct {
    const char *doc, *want;
  } cases[] = {
      {"this is not XML", "t.xml:1: not well-formed XML"},
      {"", "no XML element"},
      {"<tableset xmlns='urn:wrong'><schema><name>a</name></schema></tableset>",
       "t.xml:1: the root element <tableset> (namespace urn:wrong) is not a tableset"},
      {"<tableset><schema/></tableset>", "(namespace none) is not a tableset"},
      {"<vosi:table xmlns:vosi='http://www.ivoa.net/xml/VOSITables/v1.0'/>",
       "root element <vosi:table>"},
      {"<?xml version='1.0'?>\n<!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 "
       "'&lol;&lol;&lol;&lol;'>]>\n<vosi:tableset "
       "xmlns:vosi='http://www.ivoa.net/xml/VOSITables/v1.0'><schema><name>&lol2;</name>"
       "</schema></vosi:tableset>",
       "t.xml:3: a DOCTYPE is not allowed"},
      {"<?xml version='1.0'?>\n<!DOCTYPE x SYSTEM 'http://127.0.0.1:1/x.dtd'>\n<x/>",
       "DOCTYPE is not allowed"},
      {"<vosi:tableset xmlns:vosi='http://www.ivoa.net/xml/VOSITables/v1.0'/>",
       "<tableset> has no <schema>"},
      {"<vosi:tableset xmlns:vosi='http://www.ivoa.net/xml/VOSITables/v1.0'>\n"
       "<schema><name>s</name>\n<table><name>s.t</name>\n<column><unit>m</unit></column>"
       "</table></schema></vosi:tableset>",
       "t.xml:4: <column> in table s.t has no <name>"},
      {"<vosi:tableset xmlns:vosi='http://www.ivoa.net/xml/VOSITables/v1.0'>\n"
       "<schema><name>s</name>\n<table><name>s.t</name>\n<column><name>c</name>\n"
       "<dataType>varchar</dataType></column></table></schema></vosi:tableset>",
       "t.xml:5: <dataType> of column c: 'varchar' is not a VOTable datatype"},
      {"<vosi:tableset xmlns:vosi='http://www.ivoa.net/xml/VOSITables/v1.0' "
       "xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance'>"
       "<schema><name>s</name><table><name>s.t</name><column><name>c</name>"
       "<dataType xsi:type='vs:TAPType'>VARCHAR</dataType></column></table></schema>"
       "</vosi:tableset>",
       "vs:TAPType"},
      {"<vosi:tableset xmlns:vosi='http://www.ivoa.net/xml/VOSITables/v1.0'>"
       "<schema><name>s</name><name>t</name></schema></vosi:tableset>",
       "<schema> has two <name> elements"},
      {"<vosi:tableset xmlns:vosi='http://www.ivoa.net/xml/VOSITables/v1.0'>"
       "<schema><name>s</name><table><name>s.t</name><column><?tapserve index='x'?>"
       "<name>c</name></column></table></schema></vosi:tableset>",
       "index=\"x\" is not an integer"},
      {"<vosi:tableset xmlns:vosi='http://www.ivoa.net/xml/VOSITables/v1.0'>"
       "<schema><name>s</name><table><name>s.t</name><foreignKey><targetTable>s.u"
       "</targetTable></foreignKey></table></schema></vosi:tableset>",
       "<foreignKey> in table s.t has no <fkColumn>"},
      {"<vosi:tableset xmlns:vosi='http://www.ivoa.net/xml/VOSITables/v1.0'>"
       "<schema><name>s</name><table><name>s.t</name></table></schema>",
       "not well-formed XML"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    fmt_tableset *ts = NULL;
    ts_error err;
    ts_err rc = fmt_tableset_read(cases[i].doc, strlen(cases[i].doc), "t.xml", &ts, &err);
    if (rc != TS_EINVAL || ts || !strstr(err.msg, cases[i].want)) {
      fprintf(stderr, "# case %zu: rc %d, message \"%s\", expected \"%s\"\n", i, (int)rc,
              rc ? err.msg : "", cases[i].want);
      fmt_tableset_free(ts);
      return 1;
    }
  }
  return 0;
}

/* Larger than the cap: refused before a byte is parsed. */
int test_tableset_too_large(void)
{
  size_t n = FMT_TABLESET_MAX + 1;
  char *big = malloc(n);
  fmt_tableset *ts = NULL;
  ts_error err;
  TS_CHECK(big);
  memset(big, ' ', n);
  memcpy(big, "<vosi:tableset", 14);
  TS_CHECK(fmt_tableset_read(big, n, "big.xml", &ts, &err) == TS_ELIMIT);
  free(big);
  TS_CHECK(!ts);
  TS_CHECK(strstr(err.msg, "big.xml") && strstr(err.msg, "64 MiB"));
  return 0;
}
