/* VODataService tableset XML in and out (see tableset.h).
 *
 * Reading is libxml2's streaming xmlTextReader over a memory buffer whose
 * size was checked first: no network (XML_PARSE_NONET), no entity
 * substitution and no DTD loading (neither XML_PARSE_NOENT nor
 * XML_PARSE_DTDLOAD), and a DOCTYPE is refused outright, so the document
 * is exactly the bytes given. The reader keeps a stack of the containers it
 * is in (tableset, schema, table, column, foreignKey, fkColumn); a leaf
 * element (name, description, ...) is read whole with
 * xmlTextReaderReadString and skipped, and so is any element the model has
 * no place for (title, nrows, foreign extensions). Every message names the
 * element and its line, because an operator fixes the file in an editor.
 *
 * Text is whitespace-normalised as xs:token says (runs of blanks become one
 * space, leading and trailing blanks go), so a pretty-printed tableset from
 * another service gives the same values as a compact one. */
#include "formats/tableset.h"

#include <libxml/xmlreader.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_XSI    "http://www.w3.org/2001/XMLSchema-instance"
#define PI_TARGET "tapserve"

/* ---- the model ------------------------------------------------------------ */

fmt_tableset *fmt_tableset_new(void)
{
  /* The cap bounds what a hostile document can make us allocate: the
   * model is never larger than a few times the (capped) input. */
  ts_arena *a = ts_arena_new(64 * 1024, 8 * FMT_TABLESET_MAX);
  fmt_tableset *ts = a ? ts_arena_calloc(a, 1, sizeof *ts) : NULL;
  if (!ts) {
    ts_arena_free(a);
    return NULL;
  }
  ts->arena = a;
  return ts;
}

void fmt_tableset_free(fmt_tableset *ts)
{
  if (ts)
    ts_arena_free(ts->arena);
}

/* Appends one zeroed element of `size` bytes to an arena array. */
static void *push(ts_arena *a, void **items, size_t *n, size_t *cap, size_t size)
{
  if (*n == *cap) {
    size_t ncap = *cap ? *cap * 2 : 4;
    void *p = ts_arena_calloc(a, ncap, size);
    if (!p)
      return NULL;
    if (*n)
      memcpy(p, *items, *n * size);
    *items = p;
    *cap = ncap;
  }
  char *e = (char *)*items + (*n)++ * size;
  memset(e, 0, size);
  return e;
}

fmt_ts_schema *fmt_ts_add_schema(fmt_tableset *ts)
{
  return push(ts->arena, (void **)&ts->schemas, &ts->nschemas, &ts->capschemas,
              sizeof *ts->schemas);
}

fmt_ts_table *fmt_ts_add_table(fmt_tableset *ts, fmt_ts_schema *s)
{
  return push(ts->arena, (void **)&s->tables, &s->ntables, &s->captables, sizeof *s->tables);
}

fmt_ts_column *fmt_ts_add_column(fmt_tableset *ts, fmt_ts_table *t)
{
  return push(ts->arena, (void **)&t->cols, &t->ncols, &t->capcols, sizeof *t->cols);
}

fmt_ts_key *fmt_ts_add_key(fmt_tableset *ts, fmt_ts_table *t)
{
  return push(ts->arena, (void **)&t->keys, &t->nkeys, &t->capkeys, sizeof *t->keys);
}

fmt_ts_fkcol *fmt_ts_add_fkcol(fmt_tableset *ts, fmt_ts_key *k)
{
  return push(ts->arena, (void **)&k->cols, &k->ncols, &k->capcols, sizeof *k->cols);
}

/* ---- reading -------------------------------------------------------------- */

typedef enum kind { K_TABLESET, K_SCHEMA, K_TABLE, K_COLUMN, K_FK, K_FKCOL } kind;
static const char *const kind_names[] = {"tableset", "schema",     "table",
                                         "column",   "foreignKey", "fkColumn"};

enum { MAX_DEPTH = 8 };

typedef struct rd {
  xmlTextReaderPtr r;
  const char *name; /* file name for messages */
  fmt_tableset *ts;
  ts_error *err;
  int failed;
  /* the open containers, outermost first */
  int depth;
  kind stack[MAX_DEPTH];
  fmt_ts_schema *schema;
  fmt_ts_table *table;
  fmt_ts_column *col;
  fmt_ts_key *key;
  fmt_ts_fkcol *fkcol;
  /* the first libxml2 error */
  char xmlmsg[256];
  int xmlline;
} rd;

/* The line of the current node's start tag (the parser itself may have
 * read ahead). */
static int line_of(rd *d)
{
  xmlNodePtr n = xmlTextReaderCurrentNode(d->r);
  long l = n ? xmlGetLineNo(n) : -1;
  return l > 0 && l < INT32_MAX ? (int)l : xmlTextReaderGetParserLineNumber(d->r);
}

static ts_err rfail(rd *d, int line, const char *fmt, ...) TS_PRINTF(3, 4);
static ts_err rfail(rd *d, int line, const char *fmt, ...)
{
  char msg[400];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  d->failed = 1;
  ts_fail(d->err, TS_EINVAL, 0, "%s:%d: %s", d->name, line, msg);
  d->err->line = line;
  return TS_EINVAL;
}

static void on_xml_error(void *ud, xmlErrorPtr e)
{
  rd *d = ud;
  size_t n;
  if (!e || d->xmlmsg[0])
    return;
  snprintf(d->xmlmsg, sizeof d->xmlmsg, "%s", e->message ? e->message : "XML error");
  n = strlen(d->xmlmsg);
  while (n && (d->xmlmsg[n - 1] == '\n' || d->xmlmsg[n - 1] == ' '))
    d->xmlmsg[--n] = '\0';
  d->xmlline = e->line;
}

static int is_blank(unsigned char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* xs:token normalisation into the arena; NULL only when out of memory. */
static const char *token(rd *d, const char *s)
{
  size_t n = s ? strlen(s) : 0, o = 0;
  char *t = ts_arena_alloc(d->ts->arena, n + 1);
  int space = 0;
  if (!t)
    return NULL;
  for (size_t i = 0; i < n; i++) {
    if (is_blank((unsigned char)s[i])) {
      space = o > 0;
      continue;
    }
    if (space)
      t[o++] = ' ';
    space = 0;
    t[o++] = s[i];
  }
  t[o] = '\0';
  return t;
}

static const char *cur_name(rd *d)
{
  const char *n = (const char *)xmlTextReaderConstName(d->r);
  return n ? n : "?";
}

/* The normalised text of the current (leaf) element, which is then skipped.
 * Returns NULL after a failure (reported). */
static const char *leaf_text(rd *d, int *ret)
{
  xmlChar *s = xmlTextReaderReadString(d->r);
  const char *t = token(d, (const char *)s);
  xmlFree(s);
  if (!t) {
    ts_fail(d->err, TS_ENOMEM, 0, "out of memory reading %s", d->name);
    d->failed = 1;
    return NULL;
  }
  *ret = xmlTextReaderNext(d->r);
  return t;
}

static int parse_int(rd *d, const char *v, int line, const char *what, int *out)
{
  int64_t x;
  if (ts_parse_int64(v, &x) || x < INT32_MIN || x > INT32_MAX) {
    rfail(d, line, "<?tapserve?> instruction: %s=\"%s\" is not an integer", what, v);
    return -1;
  }
  *out = (int)x;
  return 0;
}

/* Decodes the five predefined entities of a pseudo-attribute value (the
 * parser leaves a processing instruction's content as it is). */
static char *pi_value(rd *d, const char *s, size_t n)
{
  static const struct {
    const char *ent;
    char c;
  } ents[] = {{"&quot;", '"'}, {"&apos;", '\''}, {"&amp;", '&'}, {"&lt;", '<'}, {"&gt;", '>'}};
  char *v = ts_arena_alloc(d->ts->arena, n + 1), *o = v;
  if (!v)
    return NULL;
  for (size_t i = 0; i < n;) {
    size_t k = 0;
    for (size_t e = 0; e < TS_ARRAY_LEN(ents) && !k; e++) {
      size_t l = strlen(ents[e].ent);
      if (n - i >= l && !memcmp(s + i, ents[e].ent, l)) {
        *o++ = ents[e].c;
        k = l;
      }
    }
    if (!k)
      *o++ = s[i], k = 1;
    i += k;
  }
  *o = '\0';
  return v;
}

/* <?tapserve index="N" size="N" key_id="..."?> on the innermost container. */
static ts_err on_pi(rd *d)
{
  const char *target = (const char *)xmlTextReaderConstName(d->r);
  const char *p = (const char *)xmlTextReaderConstValue(d->r);
  int line = line_of(d);
  kind k;
  if (!target || strcmp(target, PI_TARGET) != 0 || d->depth == 0)
    return TS_OK; /* someone else's instruction */
  k = d->stack[d->depth - 1];
  if (k == K_SCHEMA)
    d->schema->has_meta = 1;
  else if (k == K_TABLE)
    d->table->has_meta = 1;
  else if (k == K_COLUMN)
    d->col->has_meta = 1;
  while (p && *p) {
    const char *name, *val;
    size_t nl, vl;
    char q, *v;
    fmt_ts_int *slot = NULL;
    while (is_blank((unsigned char)*p))
      p++;
    if (!*p)
      break;
    name = p;
    while ((*p >= 'a' && *p <= 'z') || *p == '_')
      p++;
    nl = (size_t)(p - name);
    if (!nl || *p != '=' || (p[1] != '"' && p[1] != '\''))
      return rfail(d, line, "<?tapserve?> in <%s>: expected name=\"value\" pairs", kind_names[k]);
    q = p[1];
    val = p + 2;
    p = strchr(val, q);
    if (!p)
      return rfail(d, line, "<?tapserve?> in <%s>: unterminated value", kind_names[k]);
    vl = (size_t)(p - val);
    p++;
    v = pi_value(d, val, vl);
    if (!v) {
      d->failed = 1;
      return ts_fail(d->err, TS_ENOMEM, 0, "out of memory reading %s", d->name);
    }
    if (nl == 5 && !memcmp(name, "index", 5))
      slot = k == K_SCHEMA   ? &d->schema->index
             : k == K_TABLE  ? &d->table->index
             : k == K_COLUMN ? &d->col->index
                             : NULL;
    else if (nl == 4 && !memcmp(name, "size", 4) && k == K_COLUMN)
      slot = &d->col->size;
    else if (nl == 6 && !memcmp(name, "key_id", 6) && k == K_FK)
      d->key->key_id = v;
    if (slot) {
      if (parse_int(d, v, line, nl == 4 ? "size" : "index", &slot->v))
        return TS_EINVAL;
      slot->set = 1;
    }
  }
  return TS_OK;
}

static const char *const votable_types[] = {
    "boolean", "bit",   "unsignedByte", "short",       "int",          "long",
    "char",    "float", "double",       "unicodeChar", "floatComplex", "doubleComplex",
};

static const char *attr(rd *d, const char *name)
{
  xmlChar *v = xmlTextReaderGetAttribute(d->r, (const xmlChar *)name);
  const char *t = v ? token(d, (const char *)v) : NULL;
  xmlFree(v);
  return t;
}

/* <dataType xsi:type="vs:VOTableType" arraysize=".." extendedType="..">T</dataType> */
static ts_err on_datatype(rd *d, int *ret)
{
  int line = line_of(d);
  xmlChar *xt = xmlTextReaderGetAttributeNs(d->r, (const xmlChar *)"type", (const xmlChar *)NS_XSI);
  const char *local = xt ? strchr((const char *)xt, ':') : NULL;
  int tap = local ? !strcmp(local + 1, "TAPType") : xt && !strcmp((const char *)xt, "TAPType");
  const char *dt;
  xmlFree(xt);
  if (tap)
    return rfail(d, line,
                 "<dataType> of column %s is a vs:TAPType (TAP 1.0 type names); "
                 "declare it as vs:VOTableType",
                 d->col->name ? d->col->name : "(unnamed)");
  d->col->arraysize = attr(d, "arraysize");
  d->col->xtype = attr(d, "extendedType");
  dt = leaf_text(d, ret);
  if (!dt)
    return TS_ENOMEM;
  for (size_t i = 0; i < TS_ARRAY_LEN(votable_types); i++)
    if (!strcmp(dt, votable_types[i]))
      d->col->datatype = votable_types[i];
  if (!d->col->datatype)
    return rfail(d, line, "<dataType> of column %s: '%s' is not a VOTable datatype",
                 d->col->name ? d->col->name : "(unnamed)", dt);
  return TS_OK;
}

static int bool_attr(rd *d, const char *name)
{
  const char *v = attr(d, name);
  return v && (!strcmp(v, "true") || !strcmp(v, "1"));
}

/* A start tag inside a container: opens a child container, reads a leaf,
 * or skips an element the model has no place for. *advanced is set when
 * the reader has already moved past the element. */
static ts_err on_child(rd *d, const char *local, int empty, int *ret, int *advanced)
{
  kind parent = d->stack[d->depth - 1];
  int line = line_of(d);
  const char **slot = NULL;
  kind open = K_TABLESET;
  int opens = 0;

  switch (parent) {
  case K_TABLESET:
    if (!strcmp(local, "schema")) {
      d->schema = fmt_ts_add_schema(d->ts);
      if (!d->schema)
        goto oom;
      d->schema->line = line;
      open = K_SCHEMA, opens = 1;
    }
    break;
  case K_SCHEMA:
    if (!strcmp(local, "table")) {
      const char *type = attr(d, "type");
      d->table = fmt_ts_add_table(d->ts, d->schema);
      if (!d->table)
        goto oom;
      d->table->line = line;
      d->table->type = type && !strcmp(type, "view") ? "view" : "table";
      open = K_TABLE, opens = 1;
    } else if (!strcmp(local, "name"))
      slot = &d->schema->name;
    else if (!strcmp(local, "description"))
      slot = &d->schema->description;
    else if (!strcmp(local, "utype"))
      slot = &d->schema->utype;
    break;
  case K_TABLE:
    if (!strcmp(local, "column")) {
      d->col = fmt_ts_add_column(d->ts, d->table);
      if (!d->col)
        goto oom;
      d->col->line = line;
      d->col->std = bool_attr(d, "std");
      open = K_COLUMN, opens = 1;
    } else if (!strcmp(local, "foreignKey")) {
      d->key = fmt_ts_add_key(d->ts, d->table);
      if (!d->key)
        goto oom;
      d->key->line = line;
      open = K_FK, opens = 1;
    } else if (!strcmp(local, "name"))
      slot = &d->table->name;
    else if (!strcmp(local, "description"))
      slot = &d->table->description;
    else if (!strcmp(local, "utype"))
      slot = &d->table->utype;
    break;
  case K_COLUMN:
    if (!strcmp(local, "dataType")) {
      if (d->col->datatype)
        return rfail(d, line, "<column> %s has two <dataType> elements",
                     d->col->name ? d->col->name : "(unnamed)");
      *advanced = 1;
      return on_datatype(d, ret);
    }
    if (!strcmp(local, "flag")) {
      const char *f = leaf_text(d, ret);
      *advanced = 1;
      if (!f)
        return TS_ENOMEM;
      if (!strcmp(f, "indexed"))
        d->col->indexed = 1;
      else if (!strcmp(f, "principal") || !strcmp(f, "primary"))
        d->col->principal = 1; /* "primary" is how taplib and others write principal */
      return TS_OK;
    }
    if (!strcmp(local, "name"))
      slot = &d->col->name;
    else if (!strcmp(local, "description"))
      slot = &d->col->description;
    else if (!strcmp(local, "unit"))
      slot = &d->col->unit;
    else if (!strcmp(local, "ucd"))
      slot = &d->col->ucd;
    else if (!strcmp(local, "utype"))
      slot = &d->col->utype;
    break;
  case K_FK:
    if (!strcmp(local, "fkColumn")) {
      d->fkcol = fmt_ts_add_fkcol(d->ts, d->key);
      if (!d->fkcol)
        goto oom;
      open = K_FKCOL, opens = 1;
    } else if (!strcmp(local, "targetTable"))
      slot = &d->key->target_table;
    else if (!strcmp(local, "description"))
      slot = &d->key->description;
    else if (!strcmp(local, "utype"))
      slot = &d->key->utype;
    break;
  case K_FKCOL:
    if (!strcmp(local, "fromColumn"))
      slot = &d->fkcol->from;
    else if (!strcmp(local, "targetColumn"))
      slot = &d->fkcol->target;
    break;
  }
  if (slot) {
    if (*slot)
      return rfail(d, line, "<%s> has two <%s> elements", kind_names[parent], local);
    *advanced = 1;
    *slot = leaf_text(d, ret);
    return *slot ? TS_OK : TS_ENOMEM;
  }
  if (!opens) { /* title, nrows, ...: nothing TAP_SCHEMA keeps */
    *advanced = 1;
    *ret = xmlTextReaderNext(d->r);
    return TS_OK;
  }
  if (d->depth >= MAX_DEPTH)
    return rfail(d, line, "elements nested too deeply");
  d->stack[d->depth++] = open;
  (void)empty;
  return TS_OK;
oom:
  d->failed = 1;
  return ts_fail(d->err, TS_ENOMEM, 0, "out of memory reading %s", d->name);
}

/* The end of a container: what it must have. */
static ts_err on_close(rd *d, int line)
{
  kind k = d->stack[--d->depth];
  switch (k) {
  case K_TABLESET:
    if (!d->ts->nschemas)
      return rfail(d, line, "<tableset> has no <schema>");
    break;
  case K_SCHEMA:
    if (!d->schema->name || !d->schema->name[0])
      return rfail(d, d->schema->line, "<schema> has no <name>");
    break;
  case K_TABLE:
    if (!d->table->name || !d->table->name[0])
      return rfail(d, d->table->line, "<table> in schema %s has no <name>", d->schema->name);
    break;
  case K_COLUMN:
    if (!d->col->name || !d->col->name[0])
      return rfail(d, d->col->line, "<column> in table %s has no <name>",
                   d->table->name ? d->table->name : "(unnamed)");
    break;
  case K_FK:
    if (!d->key->target_table || !d->key->target_table[0])
      return rfail(d, d->key->line, "<foreignKey> in table %s has no <targetTable>",
                   d->table->name ? d->table->name : "(unnamed)");
    if (!d->key->ncols)
      return rfail(d, d->key->line, "<foreignKey> in table %s has no <fkColumn>",
                   d->table->name ? d->table->name : "(unnamed)");
    break;
  case K_FKCOL:
    if (!d->fkcol->from || !d->fkcol->target || !d->fkcol->from[0] || !d->fkcol->target[0])
      return rfail(d, line, "<fkColumn> in table %s needs <fromColumn> and <targetColumn>",
                   d->table->name ? d->table->name : "(unnamed)");
    break;
  }
  return TS_OK;
}

static ts_err on_root(rd *d, const char *local, const char *ns)
{
  int line = line_of(d);
  if (strcmp(local, "tableset") != 0 || !ns ||
      (strcmp(ns, FMT_NS_VOSI_TABLES) != 0 && strcmp(ns, FMT_NS_VS) != 0))
    return rfail(d, line,
                 "the root element <%s> (namespace %s) is not a tableset: expected "
                 "<vosi:tableset> (" FMT_NS_VOSI_TABLES ") or a VODataService "
                 "tableset (" FMT_NS_VS ")",
                 cur_name(d), ns ? ns : "none");
  d->stack[d->depth++] = K_TABLESET;
  return TS_OK;
}

static ts_err read_nodes(rd *d)
{
  int ret = xmlTextReaderRead(d->r), seen_root = 0;
  ts_err rc = TS_OK;
  while (ret == 1 && !rc) {
    int type = xmlTextReaderNodeType(d->r), advanced = 0;
    if (type == XML_READER_TYPE_DOCUMENT_TYPE) {
      rc = rfail(d, line_of(d), "a DOCTYPE is not allowed in a tableset");
    } else if (type == XML_READER_TYPE_ENTITY_REFERENCE || type == XML_READER_TYPE_ENTITY) {
      rc = rfail(d, line_of(d), "entity references are not allowed in a tableset");
    } else if (type == XML_READER_TYPE_PROCESSING_INSTRUCTION) {
      rc = on_pi(d);
    } else if (type == XML_READER_TYPE_ELEMENT) {
      const char *local = (const char *)xmlTextReaderConstLocalName(d->r);
      const char *ns = (const char *)xmlTextReaderConstNamespaceUri(d->r);
      int empty = xmlTextReaderIsEmptyElement(d->r);
      if (!seen_root) {
        seen_root = 1;
        rc = on_root(d, local ? local : "", ns);
        if (!rc && empty)
          rc = on_close(d, line_of(d));
      } else if (ns && strcmp(ns, FMT_NS_VS) != 0) {
        advanced = 1; /* another namespace's extension: not ours to read */
        ret = xmlTextReaderNext(d->r);
      } else {
        int before = d->depth;
        rc = on_child(d, local ? local : "", empty, &ret, &advanced);
        if (!rc && empty && d->depth > before)
          rc = on_close(d, line_of(d));
      }
    } else if (type == XML_READER_TYPE_END_ELEMENT && d->depth > 0) {
      rc = on_close(d, line_of(d));
    }
    if (!rc && !advanced)
      ret = xmlTextReaderRead(d->r);
  }
  if (rc)
    return rc;
  if (ret < 0 || d->xmlmsg[0])
    return rfail(d, d->xmlline ? d->xmlline : line_of(d), "not well-formed XML: %s",
                 d->xmlmsg[0] ? d->xmlmsg : "parse error");
  if (!seen_root)
    return rfail(d, 1, "no XML element (an empty document)");
  return TS_OK;
}

ts_err fmt_tableset_read(const char *buf, size_t len, const char *name, fmt_tableset **out,
                         ts_error *err)
{
  rd d;
  ts_err rc;
  *out = NULL;
  if (len > FMT_TABLESET_MAX)
    return ts_fail(err, TS_ELIMIT, 0,
                   "%s: %zu bytes is larger than the %zu MiB a tableset may have; nothing "
                   "was read",
                   name, len, FMT_TABLESET_MAX >> 20);
  if (len == 0)
    return ts_fail(err, TS_EINVAL, 0, "%s: the file is empty: no XML element", name);
  memset(&d, 0, sizeof d);
  d.name = name;
  d.err = err;
  d.ts = fmt_tableset_new();
  if (!d.ts)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  /* NONET; no NOENT, DTDLOAD, DTDATTR or XINCLUDE: nothing outside buf is
   * read and no entity is expanded. */
  d.r = xmlReaderForMemory(buf, (int)len, name, NULL, XML_PARSE_NONET | XML_PARSE_NOWARNING);
  if (!d.r) {
    fmt_tableset_free(d.ts);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  xmlTextReaderSetStructuredErrorHandler(d.r, on_xml_error, &d);
  rc = read_nodes(&d);
  xmlFreeTextReader(d.r);
  if (rc) {
    fmt_tableset_free(d.ts);
    return rc;
  }
  *out = d.ts;
  return TS_OK;
}

/* ---- writing -------------------------------------------------------------- */

static ts_err put(ts_buf *b, const char *s)
{
  return ts_buf_puts(b, s);
}

static ts_err esc(ts_buf *b, const char *s)
{
  return ts_buf_xml(b, s, strlen(s));
}

/* <tag>text</tag> at `indent`; nothing for NULL. */
static ts_err elem(ts_buf *b, const char *indent, const char *tag, const char *text)
{
  ts_err rc;
  if (!text)
    return TS_OK;
  rc = ts_buf_printf(b, "%s<%s>", indent, tag);
  if (!rc)
    rc = esc(b, text);
  if (!rc)
    rc = ts_buf_printf(b, "</%s>\n", tag);
  return rc;
}

static ts_err pi_int(ts_buf *b, const char *name, const fmt_ts_int *v)
{
  return v->set ? ts_buf_printf(b, " %s=\"%d\"", name, v->v) : TS_OK;
}

/* <?tapserve ...?> with the fields VODataService has no element for. */
static ts_err put_pi(ts_buf *b, const fmt_ts_int *index, const fmt_ts_int *size)
{
  ts_err rc = put(b, "<?" PI_TARGET);
  if (!rc)
    rc = pi_int(b, "index", index);
  if (!rc && size)
    rc = pi_int(b, "size", size);
  if (!rc)
    rc = put(b, "?>");
  return rc;
}

static ts_err put_attr(ts_buf *b, const char *name, const char *v)
{
  ts_err rc;
  if (!v)
    return TS_OK;
  rc = ts_buf_printf(b, " %s=\"", name);
  if (!rc)
    rc = esc(b, v);
  if (!rc)
    rc = put(b, "\"");
  return rc;
}

static ts_err put_column(ts_buf *b, const fmt_ts_column *c, const fmt_ts_write_opts *o)
{
  ts_err rc = put(b, "      <column");
  if (!rc && o->esa_extras)
    rc = ts_buf_printf(b, " esatapplus:flags=\"%d\"", c->esa_flags);
  if (!rc && c->std)
    rc = put(b, " std=\"true\"");
  if (!rc)
    rc = put(b, ">");
  if (!rc && c->has_meta)
    rc = put_pi(b, &c->index, &c->size);
  if (!rc)
    rc = put(b, "\n");
  if (!rc)
    rc = elem(b, "        ", "name", c->name);
  if (!rc)
    rc = elem(b, "        ", "description", c->description);
  if (!rc)
    rc = elem(b, "        ", "unit", c->unit);
  if (!rc)
    rc = elem(b, "        ", "ucd", c->ucd);
  if (!rc)
    rc = elem(b, "        ", "utype", c->utype);
  if (!rc && c->datatype) {
    rc = put(b, "        <dataType xsi:type=\"vs:VOTableType\"");
    if (!rc && c->arraysize)
      rc = put_attr(b, "arraysize", c->arraysize);
    if (!rc && c->xtype)
      rc = put_attr(b, "extendedType", c->xtype);
    if (!rc)
      rc = put(b, ">");
    if (!rc)
      rc = esc(b, c->datatype);
    if (!rc)
      rc = put(b, "</dataType>\n");
  }
  if (!rc && c->indexed)
    rc = put(b, "        <flag>indexed</flag>\n");
  if (!rc && c->principal)
    rc = put(b, "        <flag>principal</flag>\n");
  if (!rc)
    rc = put(b, "      </column>\n");
  return rc;
}

static ts_err put_key(ts_buf *b, const fmt_ts_key *k)
{
  ts_err rc = put(b, "      <foreignKey>");
  if (!rc && k->key_id) {
    rc = put(b, "<?" PI_TARGET " key_id=\"");
    if (!rc)
      rc = esc(b, k->key_id); /* escapes '>', so no "?>" can end it early */
    if (!rc)
      rc = put(b, "\"?>");
  }
  if (!rc)
    rc = put(b, "\n");
  if (!rc)
    rc = elem(b, "        ", "targetTable", k->target_table);
  for (size_t i = 0; i < k->ncols && !rc; i++) {
    rc = put(b, "        <fkColumn>\n");
    if (!rc)
      rc = elem(b, "          ", "fromColumn", k->cols[i].from);
    if (!rc)
      rc = elem(b, "          ", "targetColumn", k->cols[i].target);
    if (!rc)
      rc = put(b, "        </fkColumn>\n");
  }
  if (!rc)
    rc = elem(b, "        ", "description", k->description);
  if (!rc)
    rc = elem(b, "        ", "utype", k->utype);
  if (!rc)
    rc = put(b, "      </foreignKey>\n");
  return rc;
}

/* The namespaces of a root element; esatapplus only with the ESA extras. */
static ts_err put_ns(ts_buf *b, const fmt_ts_write_opts *o)
{
  ts_err rc = put(b, " xmlns:vosi=\"" FMT_NS_VOSI_TABLES "\""
                     " xmlns:xsi=\"" NS_XSI "\" xmlns:vs=\"" FMT_NS_VS "\"");
  if (!rc && o->esa_extras)
    rc = put(b, " xmlns:esatapplus=\"" FMT_NS_ESA "\"");
  return rc;
}

/* A <table> inside a <schema>, or with `root` a vosi:table document
 * element (the caller writes the XML declaration). */
static ts_err put_table(ts_buf *b, const fmt_ts_table *t, const fmt_ts_write_opts *o, int root)
{
  ts_err rc = put(b, root ? "<vosi:table" : "    <table");
  if (!rc && root)
    rc = put_ns(b, o);
  if (!rc)
    rc = ts_buf_printf(b, " type=\"%s\">", t->type && !strcmp(t->type, "view") ? "view" : "table");
  if (!rc && t->has_meta)
    rc = put_pi(b, &t->index, NULL);
  if (!rc)
    rc = put(b, "\n");
  if (!rc)
    rc = elem(b, "      ", "name", t->name);
  if (!rc)
    rc = elem(b, "      ", "description", t->description);
  if (!rc)
    rc = elem(b, "      ", "utype", t->utype);
  for (size_t i = 0; i < t->ncols && !rc; i++)
    rc = put_column(b, &t->cols[i], o);
  for (size_t i = 0; i < t->nkeys && !rc; i++)
    rc = put_key(b, &t->keys[i]);
  if (!rc)
    rc = put(b, root ? "</vosi:table>\n" : "    </table>\n");
  return rc;
}

static const fmt_ts_write_opts no_opts;

ts_err fmt_tableset_write(const fmt_tableset *ts, ts_buf *b)
{
  return fmt_tableset_write_opts(ts, &no_opts, b);
}

ts_err fmt_ts_table_write(const fmt_ts_table *t, const fmt_ts_write_opts *o, ts_buf *b)
{
  ts_err rc = put(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
  if (!rc)
    rc = put_table(b, t, o ? o : &no_opts, 1);
  return rc;
}

ts_err fmt_tableset_write_opts(const fmt_tableset *ts, const fmt_ts_write_opts *o, ts_buf *b)
{
  ts_err rc = put(b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<vosi:tableset");
  if (!o)
    o = &no_opts;
  if (!rc)
    rc = put_ns(b, o);
  if (!rc)
    rc = put(b, ">\n");
  for (size_t s = 0; s < ts->nschemas && !rc; s++) {
    const fmt_ts_schema *sc = &ts->schemas[s];
    rc = put(b, "  <schema>");
    if (!rc && sc->has_meta)
      rc = put_pi(b, &sc->index, NULL);
    if (!rc)
      rc = put(b, "\n");
    if (!rc)
      rc = elem(b, "    ", "name", sc->name);
    if (!rc)
      rc = elem(b, "    ", "description", sc->description);
    if (!rc)
      rc = elem(b, "    ", "utype", sc->utype);
    for (size_t i = 0; i < sc->ntables && !rc; i++)
      rc = put_table(b, &sc->tables[i], o, 0);
    if (!rc)
      rc = put(b, "  </schema>\n");
  }
  if (!rc)
    rc = put(b, "</vosi:tableset>\n");
  return rc;
}
