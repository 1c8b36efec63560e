/* tapserve/web/web.c: the home page and its assets. The files of
 * tapserve/web/assets/ are compiled in (web_assets.c, generated); at start
 * the page is rendered for the configuration and every file is compressed
 * once with gzip and zstd, so a request only picks the coding the client
 * accepts and compares entity tags: nothing is built per request. */
#include "adql/adql.h"
#include "stream/stream.h"
#include "tapserve/tapserve.h"
#include "tapserve/web/web_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  WEB_PAGE_MAX = 1 << 20,  /* the rendered home page */
  WEB_CODED_MAX = 4 << 20, /* one compressed asset */
  WEB_HDR_MAX = 1024,      /* the header lines of one answer */
  WEB_LEVEL_GZIP = 9,
  WEB_LEVEL_ZSTD = 3 /* higher levels' tables (tens of MB) would set the peak memory */
};

/* One coding of a file: identity, gzip, zstd. */
typedef struct web_coded {
  char *data;
  size_t len;
  char etag[40]; /* with its quotes */
} web_coded;

typedef struct web_file {
  const char *name, *ctype, *cache;
  web_coded coded[3]; /* by stream_zkind; len 0: not kept (no smaller) */
} web_file;

struct web_site {
  size_t n;
  web_file *files;
  web_file home;
};

static const char *content_type(const char *name)
{
  static const struct {
    const char *ext, *type;
  } types[] = {{".html", "text/html; charset=utf-8"},
               {".css", "text/css; charset=utf-8"},
               {".js", "text/javascript; charset=utf-8"},
               {".svg", "image/svg+xml"}};
  const char *dot = strrchr(name, '.');
  for (size_t i = 0; dot && i < TS_ARRAY_LEN(types); i++)
    if (!strcmp(dot, types[i].ext))
      return types[i].type;
  return "application/octet-stream";
}

static ts_err buf_flush(void *ud, const char *buf, size_t len)
{
  return ts_buf_append(ud, buf, len);
}

/* Fills f->coded from the identity bytes (already in coded[0]). */
static ts_err code_file(web_file *f)
{
  static const char *const suffix[] = {"", "-gz", "-zst"};
  web_coded *id = &f->coded[STREAM_Z_NONE];
  uint64_t h = ts_hash64(id->data, id->len, TS_HASH64_INIT);
  for (int k = STREAM_Z_NONE; k <= STREAM_Z_ZSTD; k++) {
    web_coded *c = &f->coded[k];
    snprintf(c->etag, sizeof c->etag, "\"%016llx%s\"", (unsigned long long)h, suffix[k]);
    if (k == STREAM_Z_NONE)
      continue;
    ts_buf b;
    ts_buf_init(&b, WEB_CODED_MAX);
    stream_zsink *z = stream_zsink_new(
        (stream_zkind)k, k == STREAM_Z_GZIP ? WEB_LEVEL_GZIP : WEB_LEVEL_ZSTD, buf_flush, &b);
    ts_err rc = z ? stream_zsink_write(z, id->data, id->len) : TS_ENOMEM;
    if (!rc)
      rc = stream_zsink_finish(z);
    stream_zsink_free(z);
    if (!rc && b.len < id->len) {
      c->data = ts_buf_steal(&b, &c->len);
    } else {
      ts_buf_free(&b);
      if (rc)
        return rc;
    }
  }
  return TS_OK;
}

static ts_err format_options(ts_buf *b)
{
  size_t n;
  const fmt_type *const *all = fmt_all(&n);
  ts_err rc = TS_OK;
  for (size_t i = 0; !rc && i < n; i++) {
    rc = ts_buf_puts(b, "<option>");
    if (!rc)
      rc = ts_buf_xml(b, all[i]->name, strlen(all[i]->name));
    if (!rc)
      rc = ts_buf_puts(b, "</option>");
  }
  return rc;
}

/* The ADQL words that are (function 1) or are not function names, upper
 * case, separated by spaces. */
static ts_err adql_words(ts_buf *b, int function)
{
  const char *w;
  int f, first = 1;
  ts_err rc = TS_OK;
  for (size_t i = 0; !rc && (w = adql_word(i, &f)) != NULL; i++) {
    if (f != function)
      continue;
    if (!first)
      rc = ts_buf_append(b, " ", 1);
    first = 0;
    for (const char *p = w; !rc && *p; p++) {
      char u = (*p >= 'a' && *p <= 'z') ? (char)(*p - 32) : *p;
      rc = ts_buf_append(b, &u, 1);
    }
  }
  return rc;
}

/* The page template with its placeholders filled: @BASE@ the service's
 * path, @CTX@ its parent (where /login lives), @TITLE@, @V@ the version
 * of the assets (their URLs carry it, so they can be cached for good),
 * @FORMATS@ the <option>s of the output formats, from the one registry,
 * @KEYWORDS@ and @FUNCTIONS@ the words the editor highlights, from the
 * parser's own lists. */
static ts_err render_home(const cfg *c, const char *tpl, size_t len, uint64_t version, ts_buf *b)
{
  const char *cut = strrchr(c->path_prefix, '/');
  size_t ctx_len = cut ? (size_t)(cut - c->path_prefix) : 0;
  char v[24];
  ts_err rc = TS_OK;
  snprintf(v, sizeof v, "%016llx", (unsigned long long)version);
  for (size_t i = 0; !rc && i < len;) {
    const char *at = memchr(tpl + i, '@', len - i);
    size_t lit = at ? (size_t)(at - (tpl + i)) : len - i;
    rc = ts_buf_append(b, tpl + i, lit);
    i += lit;
    if (rc || !at)
      break;
#define PLACE(name) (len - i >= sizeof name - 1 && !memcmp(tpl + i, name, sizeof name - 1))
    if (PLACE("@BASE@")) {
      rc = ts_buf_xml(b, c->path_prefix, strlen(c->path_prefix));
      i += 6;
    } else if (PLACE("@CTX@")) {
      rc = ts_buf_xml(b, c->path_prefix, ctx_len);
      i += 5;
    } else if (PLACE("@TITLE@")) {
      rc = ts_buf_xml(b, c->service_title, strlen(c->service_title));
      i += 7;
    } else if (PLACE("@FORMATS@")) {
      rc = format_options(b);
      i += 9;
    } else if (PLACE("@KEYWORDS@")) {
      rc = adql_words(b, 0);
      i += 10;
    } else if (PLACE("@FUNCTIONS@")) {
      rc = adql_words(b, 1);
      i += 11;
    } else if (PLACE("@V@")) {
      rc = ts_buf_puts(b, v);
      i += 3;
    } else {
      rc = ts_buf_append(b, "@", 1);
      i++;
    }
#undef PLACE
  }
  return rc;
}

static void file_free(web_file *f)
{
  for (int k = 0; k < 3; k++)
    free(f->coded[k].data);
}

void web_site_free(web_site *s)
{
  if (!s)
    return;
  for (size_t i = 0; i < s->n; i++)
    file_free(&s->files[i]);
  file_free(&s->home);
  free(s->files);
  free(s);
}

ts_err web_site_new(const cfg *c, web_site **out, ts_error *err)
{
  web_site *s = calloc(1, sizeof *s);
  const web_embedded *tpl = NULL;
  uint64_t version = TS_HASH64_INIT;
  ts_err rc = TS_OK;
  ts_buf b;

  *out = NULL;
  if (!s || !(s->files = calloc(web_nassets, sizeof *s->files))) {
    free(s);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory building the web page");
  }
  for (size_t i = 0; !rc && i < web_nassets; i++) {
    const web_embedded *e = &web_assets[i];
    if (!strcmp(e->name, "index.html")) {
      tpl = e;
      continue;
    }
    web_file *f = &s->files[s->n++];
    f->name = e->name;
    f->ctype = content_type(e->name);
    /* The page names each asset with ?v=@V@: a new build is a new URL. */
    f->cache = "Cache-Control: public, max-age=31536000, immutable\r\n";
    f->coded[0].data = malloc(e->len ? e->len : 1);
    if (!f->coded[0].data) {
      rc = TS_ENOMEM;
      break;
    }
    memcpy(f->coded[0].data, e->data, e->len);
    f->coded[0].len = e->len;
    version = ts_hash64(e->data, e->len, version);
    rc = code_file(f);
  }
  if (!rc && !tpl)
    rc = TS_EINTERNAL;
  if (!rc) {
    ts_buf_init(&b, WEB_PAGE_MAX);
    rc = render_home(c, (const char *)tpl->data, tpl->len, version, &b);
    if (rc) {
      ts_buf_free(&b);
    } else {
      s->home.name = "index.html";
      s->home.ctype = content_type("index.html");
      s->home.cache = "Cache-Control: no-cache\r\n";
      s->home.coded[0].data = ts_buf_steal(&b, &s->home.coded[0].len);
      rc = code_file(&s->home);
    }
  }
  if (rc) {
    web_site_free(s);
    return ts_fail(err, rc, 0, "cannot build the web page: %s", ts_err_text(rc));
  }
  *out = s;
  return TS_OK;
}

/* The page (index.html) or the asset of that name; NULL when none. */
static const web_file *find_file(const web_site *s, const char *name)
{
  if (!strcmp(name, "index.html"))
    return &s->home;
  for (size_t i = 0; i < s->n; i++)
    if (!strcmp(s->files[i].name, name))
      return &s->files[i];
  return NULL;
}

const char *web__file(const web_site *s, const char *name, int zkind, size_t *len)
{
  const web_file *f = find_file(s, name);
  if (!f || zkind < 0 || zkind > STREAM_Z_ZSTD || !f->coded[zkind].len)
    return NULL;
  *len = f->coded[zkind].len;
  return f->coded[zkind].data;
}

/* 1 when If-None-Match (a list of tags, or "*") names etag. */
static int not_modified(const char *inm, const char *etag)
{
  size_t n = strlen(etag);
  if (!inm)
    return 0;
  for (const char *p = inm; *p;) {
    while (*p == ' ' || *p == '\t' || *p == ',')
      p++;
    if (*p == '*')
      return 1;
    if (!strncmp(p, "W/", 2))
      p += 2;
    if (!strncmp(p, etag, n) && (p[n] == 0 || p[n] == ',' || p[n] == ' ' || p[n] == '\t'))
      return 1;
    while (*p && *p != ',')
      p++;
  }
  return 0;
}

static void send_file(http_request *req, const web_file *f)
{
  /* zstd when the client prefers it, else gzip, else identity; a coding
   * that made the file no smaller was not kept. */
  stream_zkind k = stream_zkind_accept(http_header_get(req, "accept-encoding"));
  char hdr[WEB_HDR_MAX];
  const web_coded *c;
  if (!f->coded[k].len)
    k = STREAM_Z_NONE;
  c = &f->coded[k];
  snprintf(hdr, sizeof hdr, "ETag: %s\r\n%sVary: Accept-Encoding\r\n%s%s%s" WEB_SECURITY_HEADERS,
           c->etag, f->cache, k ? "Content-Encoding: " : "", k ? stream_zkind_name(k) : "",
           k ? "\r\n" : "");
  if (not_modified(http_header_get(req, "if-none-match"), c->etag))
    http_respond(req, 304, NULL, hdr, "", 0);
  else
    http_respond(req, 200, f->ctype, hdr, c->data, c->len);
}

void web_home(ts_app *app, http_request *req)
{
  send_file(req, &app->web->home);
}

void web_asset(ts_app *app, http_request *req, const char *name)
{
  const web_file *f = find_file(app->web, name);
  ts_error e;
  if (f) {
    send_file(req, f);
    return;
  }
  ts_fail(&e, TS_ENOTFOUND, 0, "no resource at %s", req->path);
  tap_send_error(req, &e);
}

void web__send_json(http_request *req, int status, const ts_buf *b)
{
  http_respond(req, status, "application/json; charset=utf-8",
               "Cache-Control: no-store\r\n" WEB_SECURITY_HEADERS, b->data, b->len);
}
