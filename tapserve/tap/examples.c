/* DALI examples (/examples, DALI 1.1 section 2.3; TAP 1.1 section 2.4):
 * an XHTML document whose RDFa attributes mark each example query, which
 * pyvo (TAPService.examples), TOPCAT and taplint's EXA stage read.
 *
 * The operator may name an XHTML file ([tap] examples): it is read once at
 * start and served as it is. Otherwise the document is built per request
 * from the current TAP_SCHEMA snapshot: every built-in example below is
 * parsed and checked against the published metadata, and only those that
 * check are listed, so the page never offers a query on a table or column
 * the service does not publish (the demo's examples appear when the demo
 * catalogue is published, the TAP_SCHEMA ones always). */
#include "tapserve/tap/tap.h"
#include "tapserve/tapserve.h"
#include "tapserve/web/web.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The vocabulary DALI 1.1 names for the example properties. */
#define EX_VOCAB "http://www.ivoa.net/rdf/examples#"

/* Largest operator document we read (a page of examples is a few KiB). */
enum { EX_FILE_MAX = 4 << 20, EX_ARENA_MAX = 4 << 20 };

typedef struct example {
  const char *id; /* the fragment: an XML Name, unique */
  const char *name;
  const char *text;      /* one paragraph, XML-escaped on output */
  const char *tables[3]; /* published tables the query reads */
  const char *query;     /* ADQL; shown and run as it is */
} example;

static const example builtin[] = {
    {"tap_schema_tables",
     "Tables of this service",
     "Every table the service publishes, with its description, from TAP_SCHEMA.",
     {"TAP_SCHEMA.tables"},
     "SELECT schema_name, table_name, table_type, description\n"
     "FROM TAP_SCHEMA.tables\n"
     "ORDER BY schema_name, table_name"},
    {"tap_schema_columns",
     "Columns of a table",
     "The columns of one table (here TAP_SCHEMA.columns itself) with their types, units and "
     "UCDs.",
     {"TAP_SCHEMA.columns"},
     "SELECT column_name, datatype, arraysize, unit, ucd, description\n"
     "FROM TAP_SCHEMA.columns\n"
     "WHERE table_name = 'TAP_SCHEMA.columns'\n"
     "ORDER BY column_index"},
    {"cone_search",
     "Cone search",
     "Sources within one degree of a position, brightest first. The position index makes "
     "this fast whatever the size of the table.",
     {"demo.sources"},
     "SELECT source_id, ra, dec, phot_g_mean_mag,\n"
     "       DISTANCE(POINT('ICRS', ra, dec), POINT('ICRS', 180.0, 30.0)) AS dist\n"
     "FROM demo.sources\n"
     "WHERE 1 = CONTAINS(POINT('ICRS', ra, dec), CIRCLE('ICRS', 180.0, 30.0, 1.0))\n"
     "ORDER BY phot_g_mean_mag"},
    {"join_fields",
     "Sources with their survey tile",
     "A join along the foreign key from demo.sources to demo.fields: the brightest sources "
     "with the name and survey of the tile they lie in.",
     {"demo.sources", "demo.fields"},
     "SELECT TOP 20 s.source_id, s.ra, s.dec, s.phot_g_mean_mag AS g_mag, f.name AS field_name,\n"
     "       f.survey\n"
     "FROM demo.sources AS s\n"
     "JOIN demo.fields AS f ON s.field_id = f.field_id\n"
     "ORDER BY g_mag"},
    {"aggregate_per_survey",
     "Counts and mean magnitude per survey",
     "GROUP BY with aggregates over a join: how many sources each survey's tiles hold, and "
     "their mean G magnitude and colour.",
     {"demo.sources", "demo.fields"},
     "SELECT f.survey, COUNT(*) AS n_sources, AVG(s.phot_g_mean_mag) AS mean_g,\n"
     "       AVG(s.bp_rp) AS mean_bp_rp\n"
     "FROM demo.sources AS s\n"
     "JOIN demo.fields AS f ON s.field_id = f.field_id\n"
     "GROUP BY f.survey\n"
     "ORDER BY survey"},
};

/* 1 when the example's query checks against the published metadata. */
static int example_applies(const example *ex, const adql_meta *am)
{
  ts_arena *a = ts_arena_new(16 * 1024, EX_ARENA_MAX);
  adql_query *q = NULL;
  ts_error err;
  int ok;
  if (!a)
    return 0;
  ok = !adql_parse(ex->query, strlen(ex->query), a, &q, &err) && !adql_check(q, am, &err);
  ts_arena_free(a);
  return ok;
}

static ts_err esc(ts_buf *b, const char *s)
{
  return ts_buf_xml(b, s, strlen(s));
}

static ts_err put_example(ts_buf *b, const example *ex)
{
  ts_err rc = ts_buf_printf(b,
                            "<div typeof=\"example\" id=\"%s\" resource=\"#%s\">\n"
                            "<h2 property=\"name\">",
                            ex->id, ex->id);
  if (!rc)
    rc = esc(b, ex->name);
  if (!rc)
    rc = ts_buf_puts(b, "</h2>\n<p>");
  if (!rc)
    rc = esc(b, ex->text);
  if (!rc)
    rc = ts_buf_puts(b, "</p>\n<pre property=\"query\">");
  if (!rc)
    rc = esc(b, ex->query);
  if (!rc)
    rc = ts_buf_puts(b, "</pre>\n<p>Tables:");
  for (size_t i = 0; i < TS_ARRAY_LEN(ex->tables) && ex->tables[i] && !rc; i++) {
    rc = ts_buf_puts(b, i ? ", <span property=\"table\">" : " <span property=\"table\">");
    if (!rc)
      rc = esc(b, ex->tables[i]);
    if (!rc)
      rc = ts_buf_puts(b, "</span>");
  }
  if (!rc)
    rc = ts_buf_puts(b, "</p>\n</div>\n");
  return rc;
}

ts_err tap_examples_xml(const cfg *c, const adql_meta *am, ts_buf *b)
{
  ts_err rc = ts_buf_puts(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                             "<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n"
                             "<head>\n<meta charset=\"utf-8\"/>\n<title>");
  if (!rc)
    rc = esc(b, c->service_title);
  if (!rc)
    rc = ts_buf_puts(b, ": query examples</title>\n</head>\n"
                        "<body vocab=\"" EX_VOCAB "\">\n<h1>");
  if (!rc)
    rc = esc(b, c->service_title);
  if (!rc)
    rc = ts_buf_puts(b, ": query examples</h1>\n"
                        "<p>ADQL queries on the tables of this service. Run them at <a href=\"");
  if (!rc)
    rc = esc(b, c->base_url);
  if (!rc)
    rc = ts_buf_puts(b, "/sync\">/sync</a> (LANG=ADQL, QUERY=the text) or with any TAP "
                        "client.</p>\n");
  for (size_t i = 0; i < TS_ARRAY_LEN(builtin) && !rc; i++)
    if (am && example_applies(&builtin[i], am))
      rc = put_example(b, &builtin[i]);
  if (!rc)
    rc = ts_buf_puts(b, "</body>\n</html>\n");
  return rc;
}

ts_err tap_examples_load(const char *path, char **doc, size_t *len, ts_error *err)
{
  FILE *f = fopen(path, "rb");
  ts_buf b;
  char chunk[8192];
  size_t n;
  ts_err rc = TS_OK;
  *doc = NULL;
  *len = 0;
  if (!f)
    return ts_fail(err, TS_EINVAL, 0, "[tap] examples: cannot open %s", path);
  ts_buf_init(&b, EX_FILE_MAX);
  while (!rc && (n = fread(chunk, 1, sizeof chunk, f)) > 0)
    rc = ts_buf_append(&b, chunk, n);
  if (!rc && ferror(f))
    rc = ts_fail(err, TS_EIO, 0, "[tap] examples: cannot read %s", path);
  else if (rc)
    rc = ts_fail(err, rc, 0, "[tap] examples: %s is larger than %d bytes", path, EX_FILE_MAX);
  else if (b.len == 0)
    rc = ts_fail(err, TS_EINVAL, 0, "[tap] examples: %s is empty", path);
  fclose(f);
  if (rc) {
    ts_buf_free(&b);
    return rc;
  }
  *doc = ts_buf_steal(&b, len);
  return TS_OK;
}

void tap_examples(ts_app *app, http_request *req)
{
  static const char ctype[] = "application/xhtml+xml; charset=utf-8";
  ts_buf b;
  ts_err rc;
  if (app->examples_doc) {
    http_respond(req, 200, ctype, WEB_SECURITY_HEADERS, app->examples_doc, app->examples_len);
    return;
  }
  const meta *m = meta_hold(app, req->arena);
  ts_buf_init(&b, TAP_EXAMPLES_DOC_MAX);
  rc = tap_examples_xml(app->cfg, m ? meta_adql(m) : NULL, &b);
  if (rc) {
    ts_error e;
    ts_fail(&e, rc, 0, "cannot build the examples document: %s", ts_err_text(rc));
    tap_send_error(req, &e);
  } else {
    http_respond(req, 200, ctype, WEB_SECURITY_HEADERS, b.data, b.len);
  }
  ts_buf_free(&b);
}
