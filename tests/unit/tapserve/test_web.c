/* The page for people (tapserve/web/): the check endpoint's JSON and the
 * site as built for a configuration (rendered page, codings). */
#include "tapserve/tapserve.h"
#include "tapserve/web/web_int.h"
#include "test_list.h"
#include "ts_test.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>

int test_web_check_json(void)
{
  ts_buf b;
  ts_error e;
  char s[64];
  ts_buf_init(&b, 4096);
  TS_CHECK_EQ_INT(web__check_json(&b, "SELECT 1", NULL), TS_OK);
  TS_CHECK_STREQ(b.data, "{\"ok\":true}");

  /* Position 15 of the query is line 2, column 6 (the é is one character);
   * the checker's sentence (tap_prepare_query_plain keeps it) is the
   * message and its "did you mean" name the suggestion. */
  ts_buf_reset(&b);
  ts_fail(&e, TS_EADQL, 15, "column \"ra_\" does not exist (did you mean \"ra\"?)");
  TS_CHECK_EQ_INT(web__check_json(&b, "SELECT é\nFROM ra_ x", &e), TS_OK);
  TS_CHECK_STREQ(b.data,
                 "{\"ok\":false,\"line\":2,\"column\":6,\"message\":\"column \\\"ra_\\\" does "
                 "not exist (did you mean \\\"ra\\\"?)\",\"suggestion\":\"ra\"}");

  /* No position: line and column 0, no suggestion. */
  ts_buf_reset(&b);
  ts_fail(&e, TS_EINVAL, 0, "the QUERY parameter is required");
  TS_CHECK_EQ_INT(web__check_json(&b, NULL, &e), TS_OK);
  TS_CHECK_STREQ(b.data, "{\"ok\":false,\"line\":0,\"column\":0,\"message\":\"the QUERY parameter "
                         "is required\",\"suggestion\":null}");
  ts_buf_free(&b);

  TS_CHECK_EQ_INT(
      web__suggestion("table \"x\" does not exist (did you mean \"demo.x\"?)", s, sizeof s), 1);
  TS_CHECK_STREQ(s, "demo.x");
  /* The checker's own proposal is the last one, whatever the user's
   * names hold. */
  TS_CHECK_EQ_INT(web__suggestion("column \"(did you mean \"\"z\"?)\" does not exist (did you "
                                  "mean \"y\"?)",
                                  s, sizeof s),
                  1);
  TS_CHECK_STREQ(s, "y");
  TS_CHECK_EQ_INT(web__suggestion("(did you mean \"\"?)", s, sizeof s), 0);
  TS_CHECK_EQ_INT(web__suggestion("(did you mean \"unterminated", s, sizeof s), 0);
  TS_CHECK_STREQ(s, "");
  return 0;
}

int test_web_site(void)
{
  cfg c;
  ts_error e;
  web_site *s = NULL;
  size_t len, glen, zlen;
  const char *home, *js, *gz, *zs;
  cfg_defaults(&c);
  free(c.base_url);
  c.base_url = strdup("http://example.org/ctx/tap");
  free(c.service_title);
  c.service_title = strdup("Archive <A&B>");
  TS_CHECK_EQ_INT(cfg_finish(&c, &e), TS_OK);
  TS_CHECK_EQ_INT(web_site_new(&c, &s, &e), TS_OK);

  /* The page is rendered for the base path, the title is escaped, the
   * assets carry the version and the format list comes from the formats. */
  home = web__file(s, "index.html", 0, &len);
  TS_CHECK(home);
  char *page = strndup(home, len);
  TS_CHECK(strstr(page, "<title>Archive &lt;A&amp;B&gt;</title>"));
  TS_CHECK(strstr(page, "src=\"/ctx/tap/web/app.js?v="));
  TS_CHECK(strstr(page, "action=\"/ctx/tap/sync\""));
  TS_CHECK(strstr(page, "action=\"/ctx/login\""));
  TS_CHECK(strstr(page, "<option>csv</option>"));
  /* The editor's words are the parser's: a grammar keyword, an aggregate
   * and a reserved function name each in their list. */
  TS_CHECK(strstr(page, "data-keywords=\"ALL AND AS ASC BETWEEN"));
  TS_CHECK(strstr(page, "data-functions=\"AVG CAST COALESCE COUNT"));
  TS_CHECK(strstr(page, " CONTAINS ") && strstr(page, " SELECT "));
  /* Every placeholder filled: no @NAME@ is left. */
  for (const char *p = strchr(page, '@'); p; p = strchr(p + 1, '@')) {
    size_t n = strspn(p + 1, "ABCDEFGHIJKLMNOPQRSTUVWXYZ");
    TS_CHECK(!(n > 0 && p[1 + n] == '@'));
  }
  /* No inline script: the policy allows 'self' only, so every <script
   * names its source. */
  for (const char *p = strstr(page, "<script"); p; p = strstr(p + 1, "<script")) {
    const char *end = strchr(p, '>');
    TS_CHECK(end);
    const char *src = strstr(p, " src=\"");
    TS_CHECK(src && src < end);
  }
  free(page);

  /* Each coding decodes to the same bytes. */
  js = web__file(s, "app.js", 0, &len);
  gz = web__file(s, "app.js", 1, &glen);
  zs = web__file(s, "app.js", 2, &zlen);
  TS_CHECK(js && gz && zs && glen < len && zlen < len);
  char *out = malloc(len + 1);
  TS_CHECK(out);
  z_stream z;
  memset(&z, 0, sizeof z);
  TS_CHECK_EQ_INT(inflateInit2(&z, 15 + 16), Z_OK);
  z.next_in = (Bytef *)gz;
  z.avail_in = (uInt)glen;
  z.next_out = (Bytef *)out;
  z.avail_out = (uInt)len + 1;
  TS_CHECK_EQ_INT(inflate(&z, Z_FINISH), Z_STREAM_END);
  TS_CHECK_EQ_INT((int)z.total_out, (int)len);
  inflateEnd(&z);
  TS_CHECK(!memcmp(out, js, len));
  TS_CHECK_EQ_INT((int)ZSTD_decompress(out, len + 1, zs, zlen), (int)len);
  TS_CHECK(!memcmp(out, js, len));
  free(out);
  TS_CHECK(web__file(s, "nosuch.js", 0, &len) == NULL);
  web_site_free(s);
  cfg_free(&c);
  return 0;
}
