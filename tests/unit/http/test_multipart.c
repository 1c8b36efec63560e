/* The multipart/form-data parser (http/multipart.c) without sockets: every
 * rule of RFC 7578 / RFC 2046 it applies, what real clients send, and the
 * same result whatever the split of the body into pieces. */
#include "http/http_int.h"
#include "test_list.h"
#include "ts_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* What the callbacks saw, as text: "[name|filename|type]content" per part,
 * "-" for an absent filename or type. */
typedef struct seen {
  ts_buf out;
  int fail_on_data; /* a callback refusing: its code comes back */
} seen;

static ts_err s_part(void *ud, const http__mp_part *p, ts_error *err)
{
  seen *s = ud;
  return ts_buf_printf(&s->out, "[%s|%s|%s]", p->name, p->filename ? p->filename : "-",
                       p->content_type ? p->content_type : "-");
}

static ts_err s_data(void *ud, const char *p, size_t n, ts_error *err)
{
  seen *s = ud;
  if (s->fail_on_data)
    return ts_fail(err, TS_EUNAVAIL, 0, "refused by the callback");
  return ts_buf_append(&s->out, p, n);
}

static ts_err s_end(void *ud, ts_error *err)
{
  seen *s = ud;
  return ts_buf_puts(&s->out, "$");
}

static const http__mp_cbs cbs = {s_part, s_data, s_end};

/* Parses body (boundary b) fed in pieces of `piece` bytes (0: whole), or
 * split once at `split` when piece is SIZE_MAX. Returns the status; *out
 * (malloc'd) what was seen, *msg the error. */
static ts_err run(const char *b, const char *body, size_t len, size_t piece, size_t split,
                  size_t hdr_max, char **out, char *msg, size_t msgsz)
{
  http__mp m;
  seen s = {0};
  ts_error err;
  ts_err rc;

  ts_buf_init(&s.out, 1 << 20);
  ts_error_clear(&err);
  rc = http__mp_init(&m, b, strlen(b), hdr_max ? hdr_max : 8192, &cbs, &s);
  if (rc == TS_OK) {
    if (piece == SIZE_MAX) {
      rc = http__mp_feed(&m, body, split, &err);
      if (rc == TS_OK)
        rc = http__mp_feed(&m, body + split, len - split, &err);
    } else {
      size_t step = piece ? piece : (len ? len : 1);
      for (size_t i = 0; rc == TS_OK && i < len; i += step)
        rc = http__mp_feed(&m, body + i, len - i < step ? len - i : step, &err);
    }
    if (rc == TS_OK)
      rc = http__mp_finish(&m, &err);
  }
  http__mp_free(&m);
  if (msg)
    snprintf(msg, msgsz, "%s", err.msg);
  *out = s.out.data ? s.out.data : strdup("");
  return rc;
}

static int expect_ok(const char *b, const char *body, const char *want)
{
  char *out;
  char msg[512];
  ts_err rc = run(b, body, strlen(body), 0, 0, 0, &out, msg, sizeof msg);
  if (rc != TS_OK)
    fprintf(stderr, "# error: %s\n", msg);
  TS_CHECK_EQ_INT(rc, TS_OK);
  TS_CHECK_STREQ(out, want);
  free(out);
  return 0;
}

static int expect_fail(const char *b, const char *body, ts_err code, const char *needle)
{
  char *out;
  char msg[512];
  ts_err rc = run(b, body, strlen(body), 0, 0, 0, &out, msg, sizeof msg);
  free(out);
  TS_CHECK_EQ_INT(rc, code);
  if (needle && !strstr(msg, needle))
    fprintf(stderr, "# message: %s\n", msg);
  TS_CHECK(!needle || strstr(msg, needle) != NULL);
  return 0;
}

/* curl -F LANG=ADQL -F QUERY=... -F t=@t.xml, with a preamble and an
 * epilogue, a CR and near-misses of the delimiter inside the content. */
static const char sample[] = "preamble to ignore\r\n"
                             "--XyZ\r\n"
                             "Content-Disposition: form-data; name=\"LANG\"\r\n"
                             "\r\n"
                             "ADQL\r\n"
                             "--XyZ\r\n"
                             "Content-Disposition: form-data; name=\"QUERY\"\r\n"
                             "\r\n"
                             "SELECT 1\r\n--XyaZ is not it\r\n-- nor\n--Xy\r\r\n\r\n"
                             "--XyZ \t\r\n"
                             "content-disposition: form-data; name=t; filename=\"t.xml\"\r\n"
                             "Content-Type: text/xml\r\n"
                             "X-Other: ignored\r\n"
                             "\r\n"
                             "<VOTABLE/>\r\r\n"
                             "--XyZ--\r\n"
                             "epilogue --XyZ garbage\r\n";
static const char sample_seen[] = "[LANG|-|-]ADQL$"
                                  "[QUERY|-|-]SELECT 1\r\n--XyaZ is not it\r\n-- nor\n--Xy\r\r\n$"
                                  "[t|t.xml|text/xml]<VOTABLE/>\r$";

int test_mp_basic(void)
{
  return expect_ok("XyZ", sample, sample_seen);
}

int test_mp_splits(void)
{
  size_t len = strlen(sample);
  char *out;
  /* one split at every byte */
  for (size_t i = 0; i <= len; i++) {
    TS_CHECK_EQ_INT(run("XyZ", sample, len, SIZE_MAX, i, 0, &out, NULL, 0), TS_OK);
    if (strcmp(out, sample_seen) != 0)
      fprintf(stderr, "# split at %zu: %s\n", i, out);
    TS_CHECK_STREQ(out, sample_seen);
    free(out);
  }
  /* pieces of every size up to the whole */
  for (size_t k = 1; k <= len; k++) {
    TS_CHECK_EQ_INT(run("XyZ", sample, len, k, 0, 0, &out, NULL, 0), TS_OK);
    TS_CHECK_STREQ(out, sample_seen);
    free(out);
  }
  return 0;
}

int test_mp_line_ends(void)
{
  /* bare LF everywhere (headers and delimiters) */
  TS_CHECK(expect_ok("b",
                     "--b\nContent-Disposition: form-data; name=a\n\n1\n--b\n"
                     "Content-Disposition: form-data; name=c\n\n\n--b--",
                     "[a|-|-]1$[c|-|-]$") == 0);
  /* the first delimiter at the very start; an empty part; no epilogue */
  TS_CHECK(expect_ok("b", "--b\r\nContent-Disposition: form-data; name=e\r\n\r\n\r\n--b--",
                     "[e|-|-]$") == 0);
  /* content that ends with CR LF keeps them, before the delimiter's */
  TS_CHECK(expect_ok("b", "--b\r\nContent-Disposition: form-data; name=e\r\n\r\nx\r\n\r\n--b--",
                     "[e|-|-]x\r\n$") == 0);
  /* a closing boundary only: no parts */
  TS_CHECK(expect_ok("b", "--b--\r\n", "") == 0);
  return 0;
}

int test_mp_disposition(void)
{
  /* quoted-string escapes, any case, blanks around '=' and ';' */
  TS_CHECK(expect_ok("b",
                     "--b\r\nCONTENT-DISPOSITION: Form-Data ; NAME = \"a \\\"q\\\" \\\\ ;x\" ; "
                     "FileName=\"c:\\\\d\\\\f.txt\";\r\n\r\nz\r\n--b--",
                     "[a \"q\" \\ ;x|c:\\d\\f.txt|-]z$") == 0);
  /* filename* (RFC 5987) wins over filename; UTF-8 and ISO-8859-1 */
  TS_CHECK(expect_ok("b",
                     "--b\r\nContent-Disposition: form-data; name=f; filename=\"plain.txt\"; "
                     "filename*=UTF-8''caf%C3%A9%20list.vot\r\n\r\nz\r\n--b--",
                     "[f|caf\xc3\xa9 list.vot|-]z$") == 0);
  TS_CHECK(expect_ok("b",
                     "--b\r\nContent-Disposition: form-data; name=f; "
                     "filename*=iso-8859-1'en'caf%E9\r\n\r\nz\r\n--b--",
                     "[f|caf\xc3\xa9|-]z$") == 0);
  /* an empty filename is a file part (a browser's empty file input) */
  TS_CHECK(expect_ok("b",
                     "--b\r\nContent-Disposition: form-data; name=f; filename=\"\"\r\n"
                     "Content-Type: application/octet-stream\r\n\r\n\r\n--b--",
                     "[f||application/octet-stream]$") == 0);
  /* astroquery's bogus part content type is recorded, not judged */
  TS_CHECK(expect_ok("b",
                     "--b\r\nContent-Disposition: form-data; name=\"t\"; filename=\"t\"\r\n"
                     "Content-Type: application/unknown\r\n\r\nz\r\n--b--",
                     "[t|t|application/unknown]z$") == 0);
  TS_CHECK(expect_fail("b", "--b\r\nContent-Disposition: form-data\r\n\r\nz\r\n--b--", TS_EINVAL,
                       "has no name") == 0);
  TS_CHECK(expect_fail("b", "--b\r\nContent-Disposition: attachment; name=a\r\n\r\nz\r\n--b--",
                       TS_EINVAL, "not \"form-data\"") == 0);
  TS_CHECK(expect_fail("b", "--b\r\nContent-Type: text/plain\r\n\r\nz\r\n--b--", TS_EINVAL,
                       "no Content-Disposition") == 0);
  TS_CHECK(expect_fail("b", "--b\r\nContent-Disposition: form-data; name=\"a\r\n\r\nz\r\n--b--",
                       TS_EINVAL, "malformed Content-Disposition parameter") == 0);
  TS_CHECK(expect_fail("b", "--b\r\nContent-Disposition: form-data; name=a x\r\n\r\nz\r\n--b--",
                       TS_EINVAL, "malformed Content-Disposition") == 0);
  TS_CHECK(expect_fail("b",
                       "--b\r\nContent-Disposition: form-data; name=a; filename*=UTF-8''%C3\r\n"
                       "\r\nz\r\n--b--",
                       TS_EINVAL, "filename*") == 0);
  TS_CHECK(expect_fail("b",
                       "--b\r\nContent-Disposition: form-data; name=a; filename*=koi8-r''x\r\n"
                       "\r\nz\r\n--b--",
                       TS_EINVAL, "filename*") == 0);
  TS_CHECK(expect_fail("b",
                       "--b\r\nContent-Disposition: form-data; name=a\r\n"
                       "Content-Disposition: form-data; name=b\r\n\r\nz\r\n--b--",
                       TS_EINVAL, "two Content-Disposition") == 0);
  return 0;
}

int test_mp_headers(void)
{
  /* folding is refused */
  TS_CHECK(expect_fail("b", "--b\r\nContent-Disposition: form-data;\r\n name=a\r\n\r\nz\r\n--b--",
                       TS_EINVAL, "folded") == 0);
  TS_CHECK(expect_fail("b", "--b\r\nno colon here\r\n\r\nz\r\n--b--", TS_EINVAL,
                       "malformed header line") == 0);
  TS_CHECK(expect_fail("b",
                       "--b\r\nContent-Disposition: form-data; name=a\r\n"
                       "Content-Transfer-Encoding: base64\r\n\r\neg==\r\n--b--",
                       TS_EINVAL, "Content-Transfer-Encoding") == 0);
  TS_CHECK(expect_ok("b",
                     "--b\r\nContent-Disposition: form-data; name=a\r\n"
                     "Content-Transfer-Encoding: binary\r\n\r\nz\r\n--b--",
                     "[a|-|-]z$") == 0);
  /* the header block limit */
  char body[600], *out, msg[512];
  int n =
      snprintf(body, sizeof body,
               "--b\r\nContent-Disposition: form-data; name=a\r\nX: %0200d\r\n\r\nz\r\n--b--", 0);
  TS_CHECK_EQ_INT(run("b", body, (size_t)n, 0, 0, 128, &out, msg, sizeof msg), TS_ELIMIT);
  free(out);
  TS_CHECK(strstr(msg, "longer than the limit of 128 bytes") != NULL);
  TS_CHECK_EQ_INT(run("b", body, (size_t)n, 0, 0, 300, &out, msg, sizeof msg), TS_OK);
  free(out);
  return 0;
}

int test_mp_structure(void)
{
  /* no closing boundary: an error, whether inside content or headers */
  TS_CHECK(expect_fail("b", "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nz\r\n", TS_EINVAL,
                       "closing boundary") == 0);
  TS_CHECK(expect_fail("b", "--b\r\nContent-Disposition: form-data; name=a\r\n", TS_EINVAL,
                       "closing boundary") == 0);
  TS_CHECK(expect_fail("b", "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nz\r\n--b",
                       TS_EINVAL, "closing boundary") == 0);
  TS_CHECK(expect_fail("b", "no delimiter at all", TS_EINVAL, "without any boundary") == 0);
  TS_CHECK(expect_fail("b", "", TS_EINVAL, "without any boundary") == 0);
  /* text after the boundary on its line */
  TS_CHECK(expect_fail("b", "--bx\r\n", TS_EINVAL, "followed by other text") == 0);
  TS_CHECK(expect_fail("b", "--b-x\r\n", TS_EINVAL, "followed by other text") == 0);
  TS_CHECK(expect_fail("b", "--b\rx", TS_EINVAL, "CR without LF") == 0);
  /* a callback's refusal comes back with its code */
  {
    http__mp m;
    seen s = {0};
    ts_error err;
    static const char body[] = "--b\r\nContent-Disposition: form-data; name=a\r\n\r\nzz\r\n--b--";
    ts_buf_init(&s.out, 4096);
    s.fail_on_data = 1;
    TS_CHECK_EQ_INT(http__mp_init(&m, "b", 1, 1024, &cbs, &s), TS_OK);
    TS_CHECK_EQ_INT(http__mp_feed(&m, body, sizeof body - 1, &err), TS_EUNAVAIL);
    TS_CHECK_STREQ(err.msg, "refused by the callback");
    http__mp_free(&m);
    ts_buf_free(&s.out);
  }
  return 0;
}

int test_mp_boundary(void)
{
  char b[HTTP__MP_BOUNDARY_MAX + 1], ct[256];
  size_t n;
  ts_error err;
  TS_CHECK_EQ_INT(http__mp_boundary("multipart/form-data; boundary=abc", b, &n, &err), TS_OK);
  TS_CHECK_STREQ(b, "abc");
  TS_CHECK_EQ_INT(
      http__mp_boundary("Multipart/Form-Data ; charset=utf-8; BOUNDARY=\"a b:c=?\"", b, &n, &err),
      TS_OK);
  TS_CHECK_STREQ(b, "a b:c=?");
  TS_CHECK_EQ_INT(n, 7);
  /* python requests / urllib3: a hex boundary; pyvo passes it through */
  TS_CHECK_EQ_INT(
      http__mp_boundary("multipart/form-data; boundary=6d1d0b3c4b0e4b9b9d2c7f0f0e8a1b2c", b, &n,
                        &err),
      TS_OK);
  /* STILTS (taplint UPL, tapquery, TOPCAT): '<' and '>' are outside RFC
   * 2046's bchars, but the boundary is matched literally */
  TS_CHECK_EQ_INT(http__mp_boundary("multipart/form-data; "
                                    "boundary=\"<<<--------------MULTIPART-BOUNDARY------->>>\"",
                                    b, &n, &err),
                  TS_OK);
  TS_CHECK_STREQ(b, "<<<--------------MULTIPART-BOUNDARY------->>>");
  /* 70 characters pass, 71 do not */
  snprintf(ct, sizeof ct, "multipart/form-data; boundary=%070d", 7);
  TS_CHECK_EQ_INT(http__mp_boundary(ct, b, &n, &err), TS_OK);
  TS_CHECK_EQ_INT(n, 70);
  snprintf(ct, sizeof ct, "multipart/form-data; boundary=%071d", 7);
  TS_CHECK_EQ_INT(http__mp_boundary(ct, b, &n, &err), TS_EINVAL);
  TS_CHECK(strstr(err.msg, "malformed multipart boundary") != NULL);
  TS_CHECK_EQ_INT(http__mp_boundary("multipart/form-data; boundary=\"a \"", b, &n, &err),
                  TS_EINVAL);
  TS_CHECK_EQ_INT(http__mp_boundary("multipart/form-data; boundary=a{b", b, &n, &err), TS_EINVAL);
  TS_CHECK_EQ_INT(http__mp_boundary("multipart/form-data; boundary=\"\"", b, &n, &err), TS_EINVAL);
  TS_CHECK_EQ_INT(http__mp_boundary("multipart/form-data", b, &n, &err), TS_EINVAL);
  TS_CHECK(strstr(err.msg, "without a boundary") != NULL);
  TS_CHECK_EQ_INT(http__mp_boundary("multipart/mixed; boundary=a", b, &n, &err), TS_EINVAL);
  TS_CHECK(http__is_multipart_type(" multipart/form-data;boundary=x"));
  TS_CHECK(!http__is_multipart_type("multipart/form-datax"));
  TS_CHECK(!http__is_multipart_type(NULL));
  return 0;
}

/* Content reaches the callback as it comes: after each piece fed, all
 * but the few bytes that might begin a delimiter have been handed on, so
 * the parser holds no more than its header buffers whatever the size. */
static size_t counted;
static ts_err c_part(void *ud, const http__mp_part *p, ts_error *err)
{
  return TS_OK;
}
static ts_err c_data(void *ud, const char *p, size_t n, ts_error *err)
{
  counted += n;
  return TS_OK;
}
static ts_err c_end(void *ud, ts_error *err)
{
  return TS_OK;
}

int test_mp_streaming(void)
{
  static const http__mp_cbs ccbs = {c_part, c_data, c_end};
  static const char head[] = "--q\r\nContent-Disposition: form-data; name=f; filename=x\r\n\r\n";
  static const char tail[] = "\r\n--q--\r\n";
  http__mp m;
  ts_error err;
  char piece[4096];
  size_t fed = 0;
  counted = 0;
  TS_CHECK_EQ_INT(http__mp_init(&m, "q", 1, 1024, &ccbs, NULL), TS_OK);
  TS_CHECK_EQ_INT(http__mp_feed(&m, head, sizeof head - 1, &err), TS_OK);
  /* line feeds, dashes and CRs that start delimiters and are not */
  memset(piece, '-', sizeof piece);
  for (size_t i = 0; i < sizeof piece; i += 64) {
    piece[i] = '\r';
    piece[i + 1] = '\n';
  }
  piece[sizeof piece - 2] = '\r';
  piece[sizeof piece - 1] = '\n';
  for (int i = 0; i < 16384; i++) { /* 64 MiB */
    TS_CHECK_EQ_INT(http__mp_feed(&m, piece, sizeof piece, &err), TS_OK);
    fed += sizeof piece;
    TS_CHECK(counted <= fed && fed - counted <= 2); /* "\r\n" might start "\r\n--q" */
  }
  TS_CHECK_EQ_INT(http__mp_feed(&m, tail, sizeof tail - 1, &err), TS_OK);
  TS_CHECK_EQ_INT(http__mp_finish(&m, &err), TS_OK);
  TS_CHECK_EQ_INT(counted, fed);
  http__mp_free(&m);
  return 0;
}
