#include "common/common.h"
#include "common/metrics.h"
#include "test_list.h"
#define TS_TEST_MAIN
#include "ts_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int test_err_table(void)
{
  TS_CHECK_EQ_INT(ts_err_http(TS_OK), 200);
  TS_CHECK_EQ_INT(ts_err_http(TS_EADQL), 400);
  TS_CHECK_EQ_INT(ts_err_http(TS_ENOTFOUND), 404);
  TS_CHECK_EQ_INT(ts_err_http(TS_ECANCELED), 500);
  TS_CHECK_STREQ(ts_err_name(TS_ELIMIT), "ELIMIT");
  ts_error e;
  TS_CHECK_EQ_INT(ts_fail(&e, TS_EINVAL, 3, "bad %s", "thing"), TS_EINVAL);
  TS_CHECK_STREQ(e.msg, "bad thing");
  TS_CHECK_EQ_INT(e.pos, 3);
  return 0;
}

int test_charpos(void)
{
  const char *q = "SELECT\n  \xc3\xa9 FROM x";
  TS_CHECK_EQ_INT(ts_charpos(q, strlen(q), 0), 1);
  TS_CHECK_EQ_INT(ts_charpos(q, strlen(q), 11), 11); /* after the 2-byte é */
  TS_CHECK_EQ_INT(ts_charpos(q, strlen(q), -1), 0);
  ts_error e;
  ts_fail(&e, TS_EADQL, 11, "x");
  ts_error_set_linecol(&e, q, strlen(q));
  TS_CHECK_EQ_INT(e.line, 2);
  TS_CHECK_EQ_INT(e.col, 4);
  return 0;
}

int test_arena_cap(void)
{
  ts_arena *a = ts_arena_new(64, 1000);
  TS_CHECK(a);
  TS_CHECK(ts_arena_alloc(a, 500));
  TS_CHECK(ts_arena_alloc(a, 400));
  TS_CHECK(ts_arena_alloc(a, 400) == NULL);
  char *s = ts_arena_printf(a, "%d-%s", 42, "x");
  TS_CHECK_STREQ(s, "42-x");
  ts_arena_free(a);
  return 0;
}

static void bump(void *p)
{
  (*(int *)p) = (*(int *)p) * 10 + 1;
}
static void bump2(void *p)
{
  (*(int *)p) = (*(int *)p) * 10 + 2;
}

int test_arena_defer(void)
{
  int v = 0;
  ts_arena *a = ts_arena_new(0, 0);
  ts_arena_defer(a, bump, &v);
  ts_arena_defer(a, bump2, &v);
  ts_arena_free(a);
  TS_CHECK_EQ_INT(v, 21); /* LIFO */
  return 0;
}

int test_buf_limit(void)
{
  ts_buf b;
  ts_buf_init(&b, 10);
  TS_CHECK_EQ_INT(ts_buf_puts(&b, "0123456789"), TS_OK);
  TS_CHECK_EQ_INT(ts_buf_puts(&b, "x"), TS_ELIMIT);
  TS_CHECK_EQ_INT(b.len, 10);
  TS_CHECK_STREQ(b.data, "0123456789");
  ts_buf_free(&b);
  /* There is no unbounded buffer: a cap of 0 holds nothing. */
  ts_buf_init(&b, 0);
  TS_CHECK_EQ_INT(ts_buf_puts(&b, "x"), TS_ELIMIT);
  TS_CHECK_EQ_INT(ts_buf_append(&b, "", 0), TS_OK);
  TS_CHECK_EQ_INT(b.len, 0);
  ts_buf_free(&b);
  return 0;
}

int test_buf_xml(void)
{
  ts_buf b;
  ts_buf_init(&b, TS_TEST_BUF_MAX);
  const char in[] = "a<b>&\"c'\x01\xff\xc3\xa9";
  TS_CHECK_EQ_INT(ts_buf_xml(&b, in, sizeof in - 1), TS_OK);
  TS_CHECK_STREQ(b.data, "a&lt;b&gt;&amp;&quot;c&apos;\xEF\xBF\xBD\xEF\xBF\xBD\xc3\xa9");
  ts_buf_free(&b);
  TS_CHECK(ts_utf8_valid("\xc3\xa9", 2));
  TS_CHECK(!ts_utf8_valid("\xc3", 1));
  TS_CHECK(!ts_utf8_valid("a\0b", 3));
  return 0;
}

int test_parse_int(void)
{
  int64_t v;
  TS_CHECK_EQ_INT(ts_parse_int64(" 42 ", &v), TS_OK);
  TS_CHECK_EQ_INT(v, 42);
  TS_CHECK_EQ_INT(ts_parse_int64("4x", &v), TS_EINVAL);
  TS_CHECK_EQ_INT(ts_parse_int64("", &v), TS_EINVAL);
  TS_CHECK_EQ_INT(ts_parse_int64("99999999999999999999", &v), TS_EINVAL);
  return 0;
}

/* Runs ts_log with stderr sent to a temporary file; returns the line
 * written (static buffer), or NULL. */
static const char *log_capture(const char *msg)
{
  static char out[16384];
  FILE *f = tmpfile();
  int saved = dup(STDERR_FILENO);
  size_t n;
  if (!f || saved < 0)
    return NULL;
  fflush(stderr);
  dup2(fileno(f), STDERR_FILENO);
  ts_log(TS_LOG_ERROR, "r1", "%s", msg);
  dup2(saved, STDERR_FILENO);
  close(saved);
  rewind(f);
  n = fread(out, 1, sizeof out - 1, f);
  out[n] = '\0';
  fclose(f);
  return out;
}

int test_log_escape(void)
{
  /* ESC (a terminal sequence), TAB, DEL, NUL-free C0 bytes, C1 CSI in
   * UTF-8, an invalid byte, CR/LF, a backslash, and valid UTF-8. */
  const char *line = log_capture("a\x1b[31mred\tx\x7fy\x01\xc2\x9bz\xff\r\n\\n caf\xc3\xa9");
  const char *body;
  TS_CHECK(line != NULL);
  body = strstr(line, "[r1] ");
  TS_CHECK(body != NULL);
  TS_CHECK_STREQ(body,
                 "[r1] a\\x1b[31mred\\tx\\x7fy\\x01\\xc2\\x9bz\\xff\\r\\n\\\\n caf\xc3\xa9\n");
  /* One event is one line, and no control byte but its final newline. */
  for (const char *p = line; *p; p++)
    TS_CHECK((unsigned char)*p >= 0x20 && (unsigned char)*p != 0x7f ? 1 : (*p == '\n' && !p[1]));
  /* A message longer than the buffer is cut, still as one line. */
  char big[3000];
  memset(big, '\x1b', sizeof big - 1);
  big[sizeof big - 1] = '\0';
  line = log_capture(big);
  TS_CHECK(line != NULL && strlen(line) > 2048);
  TS_CHECK(strchr(line, '\n') == line + strlen(line) - 1);
  TS_CHECK(strchr(line, '\x1b') == NULL);
  return 0;
}

int test_log_instance(void)
{
  /* Before: "-"; after: the first 8 characters of the uuid, once. */
  const char *line = log_capture("before");
  TS_CHECK(line != NULL && strstr(line, " ERROR - [r1] before\n") != NULL);
  ts_log_set_instance("0123abcd-4567-89ef-0123-456789abcdef");
  ts_log_set_instance("ffffffff-0000-0000-0000-000000000000");
  line = log_capture("after");
  TS_CHECK(line != NULL && strstr(line, " ERROR 0123abcd [r1] after\n") != NULL);
  return 0;
}

int test_metrics_text(void)
{
  static const uint64_t le[] = {1000, 10000, 100000}; /* microseconds */
  ts_hist h;
  ts_counter c = {0};
  ts_buf b, l;
  ts_buf_init(&b, 4096);
  ts_buf_init(&l, 256);
  ts_hist_init(&h, le, 3, 1e6);
  ts_hist_observe(&h, 500);
  ts_hist_observe(&h, 1000); /* on a bound: in that bucket (le is <=) */
  ts_hist_observe(&h, 20000);
  ts_hist_observe(&h, 5000000);
  ts_counter_add(&c, 3);
  ts_counter_add(&c, 4);
  TS_CHECK_EQ_INT((int)ts_counter_get(&c), 7);
  TS_CHECK_EQ_INT(ts_metrics_label(&l, "resource", "sync"), TS_OK);
  TS_CHECK_EQ_INT(ts_metrics_label(&l, "x", "a\"b\\c\nd"), TS_OK);
  TS_CHECK_STREQ(l.data, "resource=\"sync\",x=\"a\\\"b\\\\c\\nd\"");
  TS_CHECK_EQ_INT(ts_metrics_head(&b, "t_seconds", "histogram", "Latency."), TS_OK);
  TS_CHECK_EQ_INT(ts_metrics_hist(&b, "t_seconds", "r=\"s\"", &h), TS_OK);
  TS_CHECK_EQ_INT(ts_metrics_sample(&b, "t_total", NULL, (double)ts_counter_get(&c)), TS_OK);
  TS_CHECK_EQ_INT(ts_metrics_sample(&b, "t_ratio", "", 0.25), TS_OK);
  TS_CHECK_STREQ(b.data, "# HELP t_seconds Latency.\n"
                         "# TYPE t_seconds histogram\n"
                         "t_seconds_bucket{r=\"s\",le=\"0.001\"} 2\n"
                         "t_seconds_bucket{r=\"s\",le=\"0.01\"} 2\n"
                         "t_seconds_bucket{r=\"s\",le=\"0.1\"} 3\n"
                         "t_seconds_bucket{r=\"s\",le=\"+Inf\"} 4\n"
                         "t_seconds_sum{r=\"s\"} 5.0215\n"
                         "t_seconds_count{r=\"s\"} 4\n"
                         "t_total 7\n"
                         "t_ratio 0.25\n");
  ts_buf_free(&b);
  ts_buf_free(&l);
  return 0;
}

/* FNV-1a 64 against the published vectors, and continuing a hash over two
 * pieces gives the hash of the whole. */
int test_hash64(void)
{
  TS_CHECK(ts_hash64("", 0, TS_HASH64_INIT) == 0xcbf29ce484222325ull);
  TS_CHECK(ts_hash64("a", 1, TS_HASH64_INIT) == 0xaf63dc4c8601ec8cull);
  TS_CHECK(ts_hash64("foobar", 6, TS_HASH64_INIT) == 0x85944171f73967e8ull);
  TS_CHECK(ts_hash64("bar", 3, ts_hash64("foo", 3, TS_HASH64_INIT)) ==
           ts_hash64("foobar", 6, TS_HASH64_INIT));
  return 0;
}
