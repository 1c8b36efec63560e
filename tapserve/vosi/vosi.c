/* VOSI resources: /capabilities (VOSI-capabilities 1.0 with TAPRegExt 1.0),
 * /availability (VOSI-availability 1.0) and /tables (VOSI-tables 1.1 with
 * VODataService 1.2 tablesets, plus the TAP+ extras astroquery's TapPlus
 * relies on).
 *
 * Each document is built whole in a ts_buf by a *_xml function that needs
 * no request (so tests can check and validate it) and sent with
 * http_respond, which also answers HEAD. URLs come from cfg->base_url only,
 * never from the Host header: behind a load balancer the Host an instance
 * sees is not the one clients use. */
#include "tapserve/tapserve.h"
#include "tapserve/vosi/vosi.h"
#include "formats/tableset.h"
#include "tapserve/plus/plus.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define NS_XSI "http://www.w3.org/2001/XMLSchema-instance"
#define NS_VR  "http://www.ivoa.net/xml/VOResource/v1.0"
#define NS_VS  "http://www.ivoa.net/xml/VODataService/v1.1"
#define NS_TR  "http://www.ivoa.net/xml/TAPRegExt/v1.0"

/* The largest VOSI document: the tableset of a large archive is a few MB. */
enum { VOSI_DOC_MAX = 256 << 20 };

/* Appends text escaped for XML; the whole document is built with these. */
static ts_err put(ts_buf *b, const char *s)
{
  return ts_buf_puts(b, s);
}

static ts_err esc(ts_buf *b, const char *s)
{
  return ts_buf_xml(b, s, strlen(s));
}

/* <tag>text</tag>, nothing when text is NULL or empty (every optional
 * element in these schemas is a token, where empty means absent). */
static ts_err elem(ts_buf *b, const char *indent, const char *tag, const char *text)
{
  ts_err rc = TS_OK;
  if (!text || !text[0])
    return TS_OK;
  rc = ts_buf_printf(b, "%s<%s>", indent, tag);
  if (!rc)
    rc = esc(b, text);
  if (!rc)
    rc = ts_buf_printf(b, "</%s>\n", tag);
  return rc;
}

/* ---- /capabilities --------------------------------------------------------- */

/* What the ADQL implementation offers beyond the core, as TAPRegExt feature
 * lists. Kept here as data: when adql/ gains or drops a function, this is
 * the one place to change. */
typedef struct vosi_feature {
  const char *type; /* TAPRegExt feature list id */
  const char *form;
  const char *description;
} vosi_feature;

/* Geometry (features-adqlgeo) comes from adql/ itself, filtered by the
 * operator's [adql] geometry list (put_features). */
static const vosi_feature adql_features[] = {
    {"ivo://ivoa.net/std/TAPRegExt#features-adql-string", "LOWER", "ADQL 2.1 lower case"},
    {"ivo://ivoa.net/std/TAPRegExt#features-adql-string", "UPPER", "ADQL 2.1 upper case"},
    {"ivo://ivoa.net/std/TAPRegExt#features-adql-string", "ILIKE",
     "ADQL 2.1 case-insensitive LIKE"},
    {"ivo://ivoa.net/std/TAPRegExt#features-adql-sets", "UNION", "ADQL 2.1 set union"},
    {"ivo://ivoa.net/std/TAPRegExt#features-adql-sets", "EXCEPT", "ADQL 2.1 set difference"},
    {"ivo://ivoa.net/std/TAPRegExt#features-adql-sets", "INTERSECT", "ADQL 2.1 set intersection"},
    {"ivo://ivoa.net/std/TAPRegExt#features-adql-common-table", "WITH",
     "ADQL 2.1 common table expressions"},
    {"ivo://ivoa.net/std/TAPRegExt#features-adql-offset", "OFFSET", "ADQL 2.1 OFFSET"},
    {"ivo://ivoa.net/std/TAPRegExt#features-adql-type", "CAST", "ADQL 2.1 CAST"},
    {"ivo://ivoa.net/std/TAPRegExt#features-adql-unit", "IN_UNIT",
     "ADQL 2.1 unit conversion of a column with a known unit"},
};

static ts_err put_features(ts_buf *b, const adql_meta *am)
{
  ts_err rc = TS_OK;
  const char *open = NULL;
  for (size_t i = 0; i < TS_ARRAY_LEN(adql_features) && !rc; i++) {
    const vosi_feature *f = &adql_features[i];
    if (!open || strcmp(open, f->type) != 0) {
      if (open)
        rc = put(b, "      </languageFeatures>\n");
      if (!rc)
        rc = ts_buf_printf(b, "      <languageFeatures type=\"%s\">\n", f->type);
      open = f->type;
    }
    if (!rc)
      rc = put(b, "        <feature>\n");
    if (!rc)
      rc = elem(b, "          ", "form", f->form);
    if (!rc)
      rc = elem(b, "          ", "description", f->description);
    if (!rc)
      rc = put(b, "        </feature>\n");
  }
  if (open && !rc)
    rc = put(b, "      </languageFeatures>\n");
  if (!rc) {
    /* ADQL geometry on pgSphere: every function unless the operator
     * enabled only some. */
    size_t ng;
    const char *const *g = adql_geometry_functions(&ng);
    rc = put(b, "      <languageFeatures "
                "type=\"ivo://ivoa.net/std/TAPRegExt#features-adqlgeo\">\n");
    for (size_t i = 0; i < ng && !rc; i++) {
      int on = !am || am->ngeom == 0;
      for (size_t k = 0; am && k < am->ngeom && !on; k++)
        on = ts_strcaseeq(am->geom[k], g[i]);
      if (!on)
        continue;
      rc = put(b, "        <feature>\n");
      if (!rc)
        rc = elem(b, "          ", "form", g[i]);
      if (!rc)
        rc = put(b, "        </feature>\n");
    }
    if (!rc)
      rc = put(b, "      </languageFeatures>\n");
  }
  if (am && am->nudfs && !rc) {
    rc = put(b, "      <languageFeatures type=\"ivo://ivoa.net/std/TAPRegExt#features-udf\">\n");
    for (size_t i = 0; i < am->nudfs && !rc; i++) {
      rc = put(b, "        <feature>\n");
      if (!rc)
        rc = elem(b, "          ", "form", am->udfs[i].signature);
      if (!rc)
        rc = put(b, "        </feature>\n");
    }
    if (!rc)
      rc = put(b, "      </languageFeatures>\n");
  }
  return rc;
}

/* TAPRegExt's standard ids for the VOTable serialisations. */
static const char *format_ivo_id(const char *mime)
{
  if (!mime || !strstr(mime, "votable"))
    return NULL;
  if (strstr(mime, "BINARY2") || strstr(mime, "binary2"))
    return "ivo://ivoa.net/std/TAPRegExt#output-votable-binary2";
  if (strstr(mime, "BINARY") || strstr(mime, "binary"))
    return "ivo://ivoa.net/std/TAPRegExt#output-votable-binary";
  if (strstr(mime, "TABLEDATA") || strstr(mime, "tabledata"))
    return "ivo://ivoa.net/std/TAPRegExt#output-votable-td";
  return NULL;
}

static ts_err put_vosi_cap(ts_buf *b, const char *base, const char *std_id, const char *rest)
{
  ts_err rc = ts_buf_printf(b,
                            "  <capability standardID=\"%s\">\n"
                            "    <interface xsi:type=\"vs:ParamHTTP\" role=\"std\">\n"
                            "      <accessURL use=\"full\">",
                            std_id);
  if (!rc)
    rc = esc(b, base);
  if (!rc)
    rc = ts_buf_printf(b, "/%s</accessURL>\n    </interface>\n  </capability>\n", rest);
  return rc;
}

/* A TAPRegExt TimeLimits element in seconds; 0 means "no limit" in the
 * configuration (and in UWS), which TAPRegExt says by leaving the value
 * out. */
static ts_err put_time_limits(ts_buf *b, const char *tag, int64_t dflt, int64_t hard)
{
  ts_err rc = ts_buf_printf(b, "    <%s>\n", tag);
  if (!rc && dflt > 0)
    rc = ts_buf_printf(b, "      <default>%lld</default>\n", (long long)dflt);
  if (!rc && hard > 0)
    rc = ts_buf_printf(b, "      <hard>%lld</hard>\n", (long long)hard);
  if (!rc)
    rc = ts_buf_printf(b, "    </%s>\n", tag);
  return rc;
}

ts_err vosi_capabilities_xml(const cfg *c, const adql_meta *am, const fmt_type *const *fmts,
                             size_t nfmts, ts_buf *b)
{
  ts_err rc = put(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                     "<vosi:capabilities"
                     " xmlns:vosi=\"http://www.ivoa.net/xml/VOSICapabilities/v1.0\""
                     " xmlns:xsi=\"" NS_XSI "\" xmlns:vr=\"" NS_VR "\" xmlns:vs=\"" NS_VS "\""
                     " xmlns:tr=\"" NS_TR "\">\n"
                     "  <capability standardID=\"ivo://ivoa.net/std/TAP\""
                     " xsi:type=\"tr:TableAccess\">\n"
                     "    <interface xsi:type=\"vs:ParamHTTP\" role=\"std\" version=\"1.1\">\n"
                     "      <accessURL use=\"base\">");
  if (!rc)
    rc = esc(b, c->base_url);
  if (!rc)
    rc = put(b, "</accessURL>\n"
                "    </interface>\n"
                "    <language>\n"
                "      <name>ADQL</name>\n"
                "      <version ivo-id=\"ivo://ivoa.net/std/ADQL#v2.0\">2.0</version>\n"
                "      <version ivo-id=\"ivo://ivoa.net/std/ADQL#v2.1\">2.1</version>\n"
                "      <description>ADQL 2.1, translated to PostgreSQL with pgSphere"
                "</description>\n");
  if (!rc)
    rc = put_features(b, am);
  if (!rc)
    rc = put(b, "    </language>\n");
  for (size_t i = 0; i < nfmts && !rc; i++) {
    const fmt_type *f = fmts[i];
    const char *id = format_ivo_id(f->mime);
    rc = id ? ts_buf_printf(b, "    <outputFormat ivo-id=\"%s\">\n", id)
            : put(b, "    <outputFormat>\n");
    if (!rc)
      rc = elem(b, "      ", "mime", f->mime);
    /* The short name first: it is what TOPCAT and pyvo show in menus. */
    if (!rc && f->name && (!f->mime || strcmp(f->name, f->mime) != 0))
      rc = elem(b, "      ", "alias", f->name);
    for (const char *const *a = f->aliases; a && *a && !rc; a++)
      if (strcmp(*a, f->name) != 0 && (!f->mime || strcmp(*a, f->mime) != 0))
        rc = elem(b, "      ", "alias", *a);
    if (!rc)
      rc = put(b, "    </outputFormat>\n");
  }
  for (const char *const *m = tap_upload_methods; *m && !rc && c->upload_max_uploads > 0; m++)
    rc = ts_buf_printf(b, "    <uploadMethod ivo-id=\"%s\"/>\n", *m);
  /* Retention and execution limits are the async job's ([jobs]): TAPRegExt
   * describes UWS jobs, and the sync timeout is a limit of /sync only. */
  if (!rc)
    rc = put_time_limits(b, "retentionPeriod", c->jobs_destruction_s, c->jobs_destruction_max_s);
  if (!rc)
    rc = put_time_limits(b, "executionDuration", c->jobs_duration_s, c->jobs_duration_max_s);
  if (!rc)
    rc = ts_buf_printf(b,
                       "    <outputLimit>\n"
                       "      <default unit=\"row\">%lld</default>\n"
                       "      <hard unit=\"row\">%lld</hard>\n"
                       "    </outputLimit>\n",
                       (long long)c->maxrec_default, (long long)c->maxrec_limit);
  if (!rc && c->upload_max_uploads > 0)
    rc = ts_buf_printf(b,
                       "    <uploadLimit>\n"
                       "      <hard unit=\"byte\">%llu</hard>\n"
                       "    </uploadLimit>\n",
                       (unsigned long long)c->upload_max_bytes);
  if (!rc)
    rc = put(b, "  </capability>\n");
  if (!rc)
    rc = put_vosi_cap(b, c->base_url, "ivo://ivoa.net/std/VOSI#capabilities", "capabilities");
  if (!rc)
    rc = put_vosi_cap(b, c->base_url, "ivo://ivoa.net/std/VOSI#availability", "availability");
  if (!rc)
    rc = put_vosi_cap(b, c->base_url, "ivo://ivoa.net/std/VOSI#tables-1.1", "tables");
  /* DALI examples: a page for browsers (and pyvo, TOPCAT), tapserve/tap/examples.c. */
  if (!rc)
    rc = ts_buf_printf(b, "  <capability standardID=\"ivo://ivoa.net/std/DALI#examples\">\n"
                          "    <interface xsi:type=\"vr:WebBrowser\">\n"
                          "      <accessURL use=\"full\">");
  if (!rc)
    rc = esc(b, c->base_url);
  if (!rc)
    rc = put(b, "/examples</accessURL>\n    </interface>\n  </capability>\n");
  if (!rc)
    rc = put(b, "</vosi:capabilities>\n");
  return rc;
}

/* ---- /availability ---------------------------------------------------------- */

ts_err vosi_availability_xml(int available, int64_t up_since_ms, const char *note, ts_buf *b)
{
  char when[32];
  ts_err rc = ts_buf_printf(b,
                            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                            "<vosi:availability"
                            " xmlns:vosi=\"http://www.ivoa.net/xml/VOSIAvailability/v1.0\">\n"
                            "  <vosi:available>%s</vosi:available>\n",
                            available ? "true" : "false");
  if (!rc && available && up_since_ms > 0) {
    ts_iso8601(when, up_since_ms, 0);
    rc = ts_buf_printf(b, "  <vosi:upSince>%s</vosi:upSince>\n", when);
  }
  if (!rc)
    rc = elem(b, "  ", "vosi:note", note);
  if (!rc)
    rc = put(b, "</vosi:availability>\n");
  return rc;
}

/* ---- /tables ------------------------------------------------------------------ */

/* The documents are written by formats/tableset.c from a tableset model of
 * the snapshot; the model points into the snapshot's strings. In
 * TAP_SCHEMA an empty optional value means absent. */
static const char *nz(const char *s)
{
  return s && s[0] ? s : NULL;
}

/* Appends `t` to `s`, with its columns and foreign keys unless `bare`
 * (detail=min). */
static ts_err add_table(fmt_tableset *ts, fmt_ts_schema *s, const meta_table *t, int bare,
                        fmt_ts_table **out)
{
  fmt_ts_table *ft = fmt_ts_add_table(ts, s);
  if (!ft)
    return TS_ENOMEM;
  ft->name = nz(t->qualified_name);
  ft->type = t->table_type;
  ft->description = nz(t->description);
  ft->utype = nz(t->utype);
  for (size_t i = 0; !bare && i < t->adql->ncols; i++) {
    const adql_column_meta *c = &t->adql->cols[i];
    fmt_ts_column *fc = fmt_ts_add_column(ts, ft);
    if (!fc)
      return TS_ENOMEM;
    fc->name = nz(c->name);
    fc->description = nz(c->description);
    fc->unit = nz(c->unit);
    fc->ucd = nz(c->ucd);
    fc->utype = nz(c->utype);
    fc->datatype = c->datatype;
    fc->arraysize = nz(c->arraysize);
    fc->xtype = nz(c->xtype);
    fc->indexed = c->indexed;
    fc->std = c->std;
    fc->esa_flags = meta_column_esa_flags(c);
    /* principal is left out: /tables has never listed it. */
  }
  for (size_t i = 0; !bare && i < t->nkeys; i++) {
    const meta_key *k = t->keys[i];
    fmt_ts_key *fk = fmt_ts_add_key(ts, ft);
    if (!fk)
      return TS_ENOMEM;
    fk->target_table = nz(k->target_table);
    fk->description = nz(k->description);
    fk->utype = nz(k->utype);
    for (size_t j = 0; j < k->ncols; j++) {
      fmt_ts_fkcol *fc = fmt_ts_add_fkcol(ts, fk);
      if (!fc)
        return TS_ENOMEM;
      fc->from = nz(k->cols[j].from_column);
      fc->target = nz(k->cols[j].target_column);
    }
  }
  if (out)
    *out = ft;
  return TS_OK;
}

ts_err vosi_table_xml(const meta_table *t, const vosi_tables_opts *o, ts_buf *b)
{
  fmt_ts_write_opts wo = {.esa_extras = o->esa_extras};
  fmt_tableset *ts = fmt_tableset_new();
  fmt_ts_schema *s = ts ? fmt_ts_add_schema(ts) : NULL;
  fmt_ts_table *ft = NULL;
  ts_err rc = s ? add_table(ts, s, t, 0, &ft) : TS_ENOMEM;
  if (!rc)
    rc = fmt_ts_table_write(ft, &wo, b);
  fmt_tableset_free(ts);
  return rc;
}

/* 1 when `t` is among the selected tables (or no selection was made). */
static int selected(const meta_table *t, const meta_table *const *sel, size_t nsel)
{
  if (!sel)
    return 1;
  for (size_t i = 0; i < nsel; i++)
    if (sel[i] == t)
      return 1;
  return 0;
}

static ts_err build_tableset(fmt_tableset *ts, const meta *m, const vosi_tables_opts *o,
                             const meta_table *const *sel, size_t nsel)
{
  for (size_t s = 0; s < meta_nschemas(m); s++) {
    const meta_schema *sc = meta_schema_at(m, s);
    fmt_ts_schema *fs;
    size_t n = 0;
    for (size_t i = 0; i < sc->ntables; i++)
      n += selected(&sc->tables[i], sel, nsel);
    /* A selection leaves out schemas it does not touch; the full listing
     * shows every schema, even one without tables. */
    if (sel && n == 0)
      continue;
    fs = fmt_ts_add_schema(ts);
    if (!fs)
      return TS_ENOMEM;
    fs->name = nz(sc->name);
    fs->description = nz(sc->description);
    fs->utype = nz(sc->utype);
    for (size_t i = 0; i < sc->ntables; i++)
      if (selected(&sc->tables[i], sel, nsel)) {
        ts_err rc = add_table(ts, fs, &sc->tables[i], o->detail_min, NULL);
        if (rc)
          return rc;
      }
  }
  return TS_OK;
}

ts_err vosi_tables_xml(const meta *m, const vosi_tables_opts *o, const meta_table *const *sel,
                       size_t nsel, ts_buf *b)
{
  fmt_ts_write_opts wo = {.esa_extras = o->esa_extras};
  fmt_tableset *ts = fmt_tableset_new();
  ts_err rc = ts ? build_tableset(ts, m, o, sel, nsel) : TS_ENOMEM;
  if (!rc)
    rc = fmt_tableset_write_opts(ts, &wo, b);
  fmt_tableset_free(ts);
  return rc;
}

/* ---- the handlers ----------------------------------------------------------- */

static void send_xml(http_request *req, ts_buf *b, ts_err rc)
{
  if (rc) {
    ts_error e;
    /* Past the cap is the server's limit, not the client's fault. */
    ts_fail(&e, rc == TS_ENOMEM ? TS_ENOMEM : TS_EINTERNAL, 0, "cannot build the document: %s",
            ts_err_text(rc));
    tap_send_error(req, &e);
  } else {
    http_respond(req, 200, "text/xml; charset=utf-8", NULL, b->data, b->len);
  }
  ts_buf_free(b);
}

/* VOSI resources are read-only: GET (and HEAD, which http answers from the
 * same response). */
static int method_ok(http_request *req)
{
  ts_error e;
  if (!strcmp(req->method, "GET") || req->is_head)
    return 1;
  ts_fail(&e, TS_EMETHOD, 0, "%s is not allowed here; use GET", req->method);
  tap_send_error(req, &e);
  return 0;
}

void vosi_capabilities(ts_app *app, http_request *req)
{
  ts_buf b;
  size_t n = 0;
  const fmt_type *const *fmts;
  const meta *m;
  if (!method_ok(req))
    return;
  fmts = fmt_all(&n);
  m = meta_hold(app, req->arena);
  ts_buf_init(&b, VOSI_DOC_MAX);
  send_xml(req, &b, vosi_capabilities_xml(app->cfg, m ? meta_adql(m) : NULL, fmts, n, &b));
}

const char *vosi_unavailable(const ts_app *app)
{
  if (app->shutting_down)
    return "shutting down; other instances of this service may still answer";
  if (atomic_load(&app->draining))
    return "draining: finishing the work in progress before stopping; other instances of this "
           "service may still answer";
  if (atomic_load(&app->db_unreachable))
    return "the database cannot be reached";
  if (!app->schema)
    return "TAP_SCHEMA has not been loaded yet";
  return NULL;
}

void vosi_availability(ts_app *app, http_request *req)
{
  ts_buf b;
  const char *note;
  if (!method_ok(req))
    return;
  note = vosi_unavailable(app);
  ts_buf_init(&b, VOSI_DOC_MAX);
  send_xml(req, &b,
           vosi_availability_xml(!note, app->started_ms,
                                 note ? note : "service is accepting queries", &b));
}

ts_err vosi_refuse_new_work(const ts_app *app, ts_error *err)
{
  const char *note = vosi_unavailable(app);
  if (!note)
    return TS_OK;
  return ts_fail(err, TS_EUNAVAIL, 0, "this instance takes no new queries now (%s); try again",
                 note);
}

static int truthy(const char *v)
{
  return v && (ts_strcaseeq(v, "true") || !strcmp(v, "1") || ts_strcaseeq(v, "yes"));
}

/* ---- user tables in /tables ----------------------------------------------------
 * A caller with credentials also sees the user tables it may read
 * (jobs_utab_readable), one schema per owner, with their recorded
 * esatapplus:flags. They are found on libuv's pool, then the document is
 * written on the loop as for anyone. */

typedef struct tables_req {
  uv_work_t work;
  ts_app *app;
  http_request *req;
  const meta *m;
  vosi_tables_opts o;
  const char *path_rest; /* "" or "schema.table" */
  const char *tables;    /* ?tables=, or NULL */
  ts_arena *a;           /* the user tables; freed with the request */
  jobs_utab *ut;
  size_t nut;
  ts_err rc;
  ts_error err;
} tables_req;

static ts_err add_user_table(fmt_tableset *ts, fmt_ts_schema *s, const jobs_utab *t, int bare,
                             ts_arena *a, fmt_ts_table **out)
{
  fmt_ts_table *ft = fmt_ts_add_table(ts, s);
  if (!ft)
    return TS_ENOMEM;
  ft->name = ts_arena_printf(a, "%s.%s", t->schema, t->table);
  ft->type = "table";
  ft->description = nz(t->description);
  if (!ft->name)
    return TS_ENOMEM;
  for (size_t i = 0; !bare && i < t->ncols; i++) {
    const jobs_utab_column *c = &t->cols[i];
    fmt_ts_column *fc = fmt_ts_add_column(ts, ft);
    if (!fc)
      return TS_ENOMEM;
    fc->name = c->c.name;
    fc->description = nz(c->c.description);
    fc->unit = nz(c->c.unit);
    fc->ucd = nz(c->c.ucd);
    fc->utype = nz(c->c.utype);
    fc->datatype = c->c.datatype;
    fc->arraysize = nz(c->c.arraysize);
    fc->xtype = nz(c->c.xtype);
    fc->indexed = c->indexed;
    fc->esa_flags = c->flags;
  }
  if (out)
    *out = ft;
  return TS_OK;
}

/* The user table called `name` ("user_x.t", case-insensitively), or NULL. */
static const jobs_utab *find_user_table(const tables_req *t, const char *name)
{
  const char *dot = strchr(name, '.');
  for (size_t i = 0; dot && i < t->nut; i++)
    if (strlen(t->ut[i].schema) == (size_t)(dot - name) &&
        !strncasecmp(t->ut[i].schema, name, (size_t)(dot - name)) &&
        ts_strcaseeq(t->ut[i].table, dot + 1))
      return &t->ut[i];
  return NULL;
}

/* The selected (usel NULL: all) user tables, a schema per owner, after
 * the published ones. */
static ts_err add_user_tables(fmt_tableset *ts, const tables_req *t, const unsigned char *usel)
{
  fmt_ts_schema *fs = NULL;
  const char *cur = NULL;
  for (size_t i = 0; i < t->nut; i++) {
    ts_err rc;
    if (usel && !usel[i])
      continue;
    if (!cur || strcmp(cur, t->ut[i].schema)) {
      fs = fmt_ts_add_schema(ts);
      if (!fs)
        return TS_ENOMEM;
      cur = fs->name = t->ut[i].schema;
      fs->description = ts_arena_printf(t->a, "tables of user %s", t->ut[i].owner);
    }
    rc = add_user_table(ts, fs, &t->ut[i], t->o.detail_min, t->a, NULL);
    if (rc)
      return rc;
  }
  return TS_OK;
}

/* 404 for `name`, or out of memory (name NULL). */
static void tables_fail(http_request *req, const char *name)
{
  ts_error e;
  if (name)
    ts_fail(&e, TS_ENOTFOUND, 0, "no table named %s in this service", name);
  else
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
  tap_send_error(req, &e);
}

/* The document, once the caller's user tables (if any) are known. */
static void tables_answer(tables_req *t)
{
  http_request *req = t->req;
  const meta *m = t->m;
  const char *tables = t->tables;
  const meta_table **sel = NULL;
  unsigned char *usel = NULL;
  size_t nsel = 0;
  fmt_ts_write_opts wo = {.esa_extras = t->o.esa_extras};
  fmt_tableset *ts;
  ts_buf b;
  ts_err rc;

  ts_buf_init(&b, VOSI_DOC_MAX);
  if (t->path_rest && t->path_rest[0]) {
    const meta_table *mt = meta_find_table(m, t->path_rest);
    const jobs_utab *ut = mt ? NULL : find_user_table(t, t->path_rest);
    fmt_ts_table *ft = NULL;
    if (!mt && !ut) {
      ts_buf_free(&b);
      tables_fail(req, t->path_rest);
      return;
    }
    if (mt) {
      send_xml(req, &b, vosi_table_xml(mt, &t->o, &b));
      return;
    }
    ts = fmt_tableset_new();
    fmt_ts_schema *s = ts ? fmt_ts_add_schema(ts) : NULL;
    rc = s ? add_user_table(ts, s, ut, 0, t->a, &ft) : TS_ENOMEM;
    if (!rc)
      rc = fmt_ts_table_write(ft, &wo, &b);
    fmt_tableset_free(ts);
    send_xml(req, &b, rc);
    return;
  }

  if (tables) {
    /* TapPlus: ?tables=schema.table[,schema.table...] */
    size_t cap = 1;
    for (const char *p = tables; *p; p++)
      cap += *p == ',';
    sel = ts_arena_calloc(req->arena, cap, sizeof *sel);
    usel = ts_arena_calloc(req->arena, t->nut + 1, 1);
    if (!sel || !usel) {
      ts_buf_free(&b);
      tables_fail(req, NULL);
      return;
    }
    for (const char *p = tables; *p;) {
      const char *end = strchr(p, ',');
      size_t len = end ? (size_t)(end - p) : strlen(p);
      char *name = ts_arena_strndup(req->arena, p, len);
      const meta_table *mt;
      const jobs_utab *ut;
      p += len + (end != NULL);
      if (!name) {
        ts_buf_free(&b);
        tables_fail(req, NULL);
        return;
      }
      /* Blanks around names are a typing slip, not part of a name. */
      while (*name == ' ')
        name++;
      for (size_t k = strlen(name); k > 0 && name[k - 1] == ' '; k--)
        name[k - 1] = '\0';
      if (!name[0])
        continue;
      mt = meta_find_table(m, name);
      ut = mt ? NULL : find_user_table(t, name);
      if (!mt && !ut) {
        ts_buf_free(&b);
        tables_fail(req, name);
        return;
      }
      if (mt)
        sel[nsel++] = mt;
      else
        usel[ut - t->ut] = 1;
    }
  }
  ts = fmt_tableset_new();
  rc = ts ? build_tableset(ts, m, &t->o, tables ? sel : NULL, nsel) : TS_ENOMEM;
  if (!rc && t->nut)
    rc = add_user_tables(ts, t, tables ? usel : NULL);
  if (!rc)
    rc = fmt_tableset_write_opts(ts, &wo, &b);
  fmt_tableset_free(ts);
  send_xml(req, &b, rc);
}

static void arena_free_cb(void *a)
{
  ts_arena_free(a);
}

static void tables_work(uv_work_t *w)
{
  tables_req *t = w->data;
  ts_who who;
  PGconn *conn;
  t->rc = ts_auth_request(t->app, t->req, &who, &t->err);
  if (t->rc || who.user.id == 0)
    return;
  conn = jobs_db_get(t->app->db, &t->err);
  if (!conn) {
    t->rc = t->err.code;
    return;
  }
  t->rc = jobs_utab_readable(conn, t->a, &who.user, &t->ut, &t->nut, &t->err);
  jobs_db_put(t->app->db, conn);
}

static void tables_after(uv_work_t *w, int status)
{
  tables_req *t = w->data;
  (void)status;
  if (t->rc)
    tap_send_error(t->req, &t->err);
  else
    tables_answer(t);
}

void vosi_tables(ts_app *app, http_request *req, const char *path_rest)
{
  /* ESA's esatapplus:flags attribute is not allowed by VODataService, so
   * schema-validating clients must not get it; astroquery's TapPlus cannot
   * parse a tableset without it. TapPlus sends no User-Agent (Python's
   * http.client) and uses ESA's parameters; every other common client
   * (browsers, curl, pyvo, STILTS/TOPCAT) names itself. */
  vosi_tables_opts o = {.detail_min = 0, .esa_extras = !http_header_get(req, "user-agent")};
  http_param *ps = NULL;
  size_t np = 0;
  ts_error e;
  const char *tables = NULL;
  const meta *m;
  tables_req *t;

  if (!method_ok(req))
    return;
  /* One snapshot for the whole document, held until the request ends. */
  m = meta_hold(app, req->arena);
  if (!m) {
    ts_fail(&e, TS_EUNAVAIL, 0, "TAP_SCHEMA has not been loaded yet");
    tap_send_error(req, &e);
    return;
  }
  if (http_request_params(req, &ps, &np, &e) != TS_OK) {
    tap_send_error(req, &e);
    return;
  }
  /* Parameter names are case-insensitive (DALI); the first value counts. */
  for (size_t i = np; i-- > 0;) {
    if (ts_strcaseeq(ps[i].name, "detail")) {
      if (ts_strcaseeq(ps[i].value, "min"))
        o.detail_min = 1;
      else if (ts_strcaseeq(ps[i].value, "max"))
        o.detail_min = 0;
      else {
        ts_fail(&e, TS_EINVAL, 0, "detail must be min or max, not '%s'", ps[i].value);
        tap_send_error(req, &e);
        return;
      }
    } else if (ts_strcaseeq(ps[i].name, "only_tables")) {
      o.detail_min = truthy(ps[i].value) ? 1 : o.detail_min;
      o.esa_extras = 1;
    } else if (ts_strcaseeq(ps[i].name, "tables")) {
      tables = ps[i].value;
      o.esa_extras = 1;
    } else if (ts_strcaseeq(ps[i].name, "share_accessible") ||
               ts_strcaseeq(ps[i].name, "share_info")) {
      o.esa_extras = 1;
    }
  }
  t = ts_arena_calloc(req->arena, 1, sizeof *t);
  if (!t) {
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &e);
    return;
  }
  t->app = app;
  t->req = req;
  t->m = m;
  t->o = o;
  t->path_rest = path_rest;
  t->tables = tables;
  t->a = ts_arena_new(0, VOSI_DOC_MAX);
  if (!t->a || ts_arena_defer(req->arena, arena_free_cb, t->a)) {
    ts_arena_free(t->a);
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &e);
    return;
  }
  if (!plus_has_credentials(req) || !app->db) {
    tables_answer(t);
    return;
  }
  t->work.data = t;
  if (uv_queue_work(app->loop, &t->work, tables_work, tables_after) != 0) {
    t->rc = ts_fail(&t->err, TS_EINTERNAL, 0, "cannot queue the request");
    tables_after(&t->work, 0);
  }
}
