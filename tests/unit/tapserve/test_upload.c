/* tapserve/tap/upload.c: the UPLOAD parameter (DALI 1.1 section 3.4). */
#include "test_list.h"
#include "ts_test.h"

#include "tapserve/tapserve.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static cfg c;

static ts_err parse(const char *v, tap_upload_ref **r, size_t *n, ts_error *err, ts_arena *a)
{
  cfg_defaults(&c);
  free(c.base_url);
  c.base_url = strdup("https://archive.example.org/tap");
  ts_err rc = tap_upload_parse(&c, v, a, r, n, err);
  cfg_free(&c);
  return rc;
}

int test_upload_parse(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  tap_upload_ref *r;
  size_t n;
  ts_error err;
  const char *id = "0123456789abcdef0123456789abcdef";
  char v[512];
  snprintf(v, sizeof v,
           " first , job:%s ;;second,https://archive.example.org/tap/async/%s/results/result", id,
           id);
  TS_CHECK_EQ_INT(parse(v, &r, &n, &err, a), TS_OK);
  TS_CHECK_EQ_INT(n, 2);
  TS_CHECK_STREQ(r[0].name, "first");
  TS_CHECK_EQ_INT(r[0].kind, TAP_UPLOAD_JOB);
  TS_CHECK_STREQ(r[0].ref, id);
  TS_CHECK_STREQ(r[1].name, "second");
  TS_CHECK_EQ_INT(r[1].kind, TAP_UPLOAD_JOB); /* our own result URL: no HTTP */
  TS_CHECK_STREQ(r[1].ref, id);
  /* inline and URL; a URL of this service that is no job result is a URL */
  TS_CHECK_EQ_INT(parse("a,param:part1;b,http://example.org/t.vot;"
                        "c,https://archive.example.org/tap/async/XYZ/results/result",
                        &r, &n, &err, a),
                  TS_OK);
  TS_CHECK_EQ_INT(n, 3);
  TS_CHECK_EQ_INT(r[0].kind, TAP_UPLOAD_INLINE);
  TS_CHECK_STREQ(r[0].ref, "part1");
  TS_CHECK_EQ_INT(r[1].kind, TAP_UPLOAD_URL);
  TS_CHECK_STREQ(r[1].ref, "http://example.org/t.vot");
  TS_CHECK_EQ_INT(r[2].kind, TAP_UPLOAD_URL);
  TS_CHECK_EQ_INT(parse("", &r, &n, &err, a), TS_OK);
  TS_CHECK_EQ_INT(n, 0);
  ts_arena_free(a);
  return 0;
}

int test_upload_parse_errors(void)
{
  static const struct {
    const char *v;
    ts_err rc;
    const char *msg;
  } bad[] = {
      {"noseparator", TS_EINVAL, "is not name,URI"},
      {"1abc,job:0123456789abcdef0123456789abcdef", TS_EINVAL, "regular identifier"},
      {"a-b,job:0123456789abcdef0123456789abcdef", TS_EINVAL, "regular identifier"},
      {"abcdefghijklmnopqrstuvwxyz01,job:0123456789abcdef0123456789abcdef", TS_EINVAL,
       "at most 27"},
      {"t,job:0123456789abcdef0123456789abcdef;T,job:0123456789abcdef0123456789abcdef", TS_EINVAL,
       "\"T\" is given twice"},
      {"t,ftp://example.org/x.vot", TS_EINVAL, "UPLOAD \"t\": unsupported URI"},
      {"t,job:../../etc", TS_EINVAL, "unsupported URI"},
      {"t,file:///etc/passwd", TS_EINVAL, "unsupported URI"},
      {"t,param:", TS_EINVAL, "unsupported URI"},
      {"a,job:0a;b,job:0b;c,job:0c;d,job:0d;e,job:0e;f,job:0f;g,job:1a;h,job:1b;i,job:1c;"
       "j,job:1d;k,job:1e",
       TS_ELIMIT, "max_uploads"},
  };
  for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
    ts_arena *a = ts_arena_new(0, 0);
    tap_upload_ref *r;
    size_t n;
    ts_error err;
    ts_error_clear(&err);
    ts_err rc = parse(bad[i].v, &r, &n, &err, a);
    if (rc != bad[i].rc || !strstr(err.msg, bad[i].msg)) {
      fprintf(stderr, "# %s: got %s %s\n", bad[i].v, ts_err_name(rc), err.msg);
      TS_CHECK(0);
    }
    ts_arena_free(a);
  }
  return 0;
}

int test_upload_join(void)
{
  ts_arena *a = ts_arena_new(0, 0);
  http_param p[] = {{"upload", "a,job:0a"}, {"QUERY", "x"}, {"UPLOAD", "b,job:0b"}};
  TS_CHECK_STREQ(tap_upload_join(p, 3, a), "a,job:0a;b,job:0b");
  TS_CHECK(tap_upload_join(p + 1, 1, a) == NULL);
  ts_arena_free(a);
  return 0;
}
