/* The upload fetcher against a real server: tests/unit/http/fetch_server.py
 * on 127.0.0.1 (http and https, with a certificate made for the run) and
 * [::1]. The time limits below only bound the transfers the fetcher must
 * cut; nothing asserts on timing. */
#define _GNU_SOURCE /* strcasestr */
#include "http/fetch_int.h"
#include "test_list.h"
#include "ts_test.h"

#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* ---- fixture: the test server and a temporary file ------------------------ */

static struct {
  pid_t pid;
  int to_child; /* the server's stdin: closing it stops the server */
  int http, https, v6;
  char dir[64], ca[96];
} S;

static void srv_stop(void)
{
  char path[128];
  if (S.pid > 0) {
    close(S.to_child);
    waitpid(S.pid, NULL, 0);
    S.pid = 0;
  }
  if (!S.dir[0])
    return;
  snprintf(path, sizeof path, "%s/cert.pem", S.dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/key.pem", S.dir);
  unlink(path);
  snprintf(path, sizeof path, "%s/.netrc", S.dir);
  unlink(path);
  rmdir(S.dir);
  S.dir[0] = '\0';
}

/* Starts the server and waits for its READY line. A test that fails
 * before srv_stop still stops it and removes its files at exit. */
static int srv_start(void)
{
  int in[2], out[2];
  char line[128] = "";
  signal(SIGPIPE, SIG_IGN); /* as tapserve does; libcurl runs with NOSIGNAL */
  atexit(srv_stop);
  snprintf(S.dir, sizeof S.dir, "/tmp/tsfetch.XXXXXX");
  if (!mkdtemp(S.dir)) {
    S.dir[0] = '\0';
    return -1;
  }
  if (pipe(in) || pipe(out))
    return -1;
  snprintf(S.ca, sizeof S.ca, "%s/cert.pem", S.dir);
  S.pid = fork();
  if (S.pid == 0) {
    dup2(in[0], 0);
    dup2(out[1], 1);
    close(in[1]);
    close(out[0]);
    execl("/usr/bin/python3", "python3", "tests/unit/http/fetch_server.py", S.dir, (char *)NULL);
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  S.to_child = in[1];
  FILE *f = fdopen(out[0], "r");
  if (S.pid < 0 || !f || !fgets(line, sizeof line, f) ||
      sscanf(line, "READY http=%d https=%d v6=%d", &S.http, &S.https, &S.v6) != 3) {
    fprintf(stderr, "# fetch_server.py did not start: %s\n", line);
    if (f)
      fclose(f);
    srv_stop();
    return -1;
  }
  fclose(f);
  return 0;
}

static int tmp_fd(void)
{
  char path[] = "/tmp/tsfetch-body.XXXXXX";
  int fd = mkstemp(path);
  if (fd >= 0)
    unlink(path);
  return fd;
}

static off_t fd_size(int fd)
{
  struct stat st;
  return fstat(fd, &st) == 0 ? st.st_size : -1;
}

/* One fetch into a fresh file: the code, the message in *err, the body (up
 * to cap-1 bytes, NUL-terminated) in body. */
typedef struct fetch_out {
  ts_err rc;
  ts_error err;
  char body[4096];
  uint64_t size;
  off_t file_size;
  const char *ct;
} fetch_out;

static fetch_out R;

/* `refuse` for fetch(): through http_fetch, refusing per o->allow_private */
#define PUBLIC UINT32_MAX

static ts_err fetch(const char *url, const http_fetch_opts *o, uint32_t refuse)
{
  ts_arena *a = ts_arena_new(0, 1 << 20);
  int fd = tmp_fd();
  static char ct[256];
  memset(&R, 0, sizeof R);
  if (refuse == PUBLIC)
    R.rc = http_fetch(url, o, fd, a, &R.ct, &R.size, &R.err);
  else
    R.rc = http__fetch(url, o, refuse, fd, a, &R.ct, &R.size, &R.err);
  R.file_size = fd_size(fd);
  ssize_t n = pread(fd, R.body, sizeof R.body - 1, 0);
  R.body[n > 0 ? n : 0] = '\0';
  snprintf(ct, sizeof ct, "%s", R.ct ? R.ct : "");
  R.ct = R.ct ? ct : NULL;
  close(fd);
  ts_arena_free(a);
  if (R.rc)
    fprintf(stderr, "# %s -> %s: %s\n", url, ts_err_name(R.rc), R.err.msg);
  return R.rc;
}

static http_fetch_opts opts(void)
{
  http_fetch_opts o = {.max_bytes = 1 << 20, .timeout_ms = 20000, .max_redirects = 5};
  return o;
}

static int contains(const char *s, const char *sub)
{
  return strstr(s, sub) != NULL;
}

/* The bit of the row `cidr` in a refusal mask. */
static uint32_t bit_of(const char *cidr)
{
  for (int i = 0; i < http__addr_class_count(); i++)
    if (!strcmp(http__addr_class_range(i), cidr))
      return 1u << i;
  return 0;
}

#define URL(buf, port, path) snprintf(buf, sizeof buf, "http://127.0.0.1:%d%s", port, path)

/* ---- tests ------------------------------------------------------------------ */

int test_fetch_http(void)
{
  char u[256];
  http_fetch_opts o = opts();
  o.allow_private = 1;
  TS_CHECK(srv_start() == 0);
  URL(u, S.http, "/ok");
  TS_CHECK_EQ_INT(fetch(u, &o, PUBLIC), TS_OK);
  TS_CHECK_STREQ(R.body, "hello, upload\n");
  TS_CHECK_EQ_INT(R.size, 14);
  TS_CHECK_EQ_INT(R.file_size, 14);
  TS_CHECK_STREQ(R.ct, "text/csv; charset=utf-8");
  /* a body without Content-Type */
  URL(u, S.http, "/bare");
  TS_CHECK_EQ_INT(fetch(u, &o, PUBLIC), TS_OK);
  TS_CHECK_STREQ(R.body, "abc");
  TS_CHECK(R.ct == NULL);
  /* an empty body */
  URL(u, S.http, "/bytes?n=0");
  TS_CHECK_EQ_INT(fetch(u, &o, PUBLIC), TS_OK);
  TS_CHECK_EQ_INT(R.size, 0);
  if (S.v6) {
    snprintf(u, sizeof u, "http://[::1]:%d/ok", S.v6);
    TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
    TS_CHECK_STREQ(R.body, "hello, upload\n");
  }
  srv_stop();
  return 0;
}

int test_fetch_https(void)
{
  char u[256];
  http_fetch_opts o = opts();
  o.allow_private = 1;
  TS_CHECK(srv_start() == 0);
  snprintf(u, sizeof u, "https://127.0.0.1:%d/ok", S.https);
  o.ca_file = S.ca;
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
  TS_CHECK_STREQ(R.body, "hello, upload\n");
  snprintf(u, sizeof u, "https://localhost:%d/chain?n=1", S.https);
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
  TS_CHECK_STREQ(R.body, "end of chain\n");
  /* the system's CAs do not know the test's certificate */
  o.ca_file = NULL;
  snprintf(u, sizeof u, "https://127.0.0.1:%d/ok", S.https);
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_EIO);
  TS_CHECK(contains(R.err.msg, "certificate"));
  TS_CHECK_EQ_INT(R.file_size, 0);
  srv_stop();
  return 0;
}

/* allow_private = 0: every loopback form is refused when connecting. */
int test_fetch_refuse_private(void)
{
  char u[256];
  http_fetch_opts o = opts();
  TS_CHECK(srv_start() == 0);
  URL(u, S.http, "/ok");
  TS_CHECK_EQ_INT(fetch(u, &o, PUBLIC), TS_EINVAL);
  char want[600];
  snprintf(want, sizeof want, "upload URL %s: address 127.0.0.1 is loopback; refused", u);
  TS_CHECK_STREQ(R.err.msg, want);
  TS_CHECK_EQ_INT(R.file_size, 0);
  /* a name is checked on the address it resolves to, when connecting */
  snprintf(u, sizeof u, "http://localhost:%d/ok", S.http);
  TS_CHECK_EQ_INT(fetch(u, &o, HTTP__ADDR_REFUSE_ALL), TS_EINVAL);
  TS_CHECK(contains(R.err.msg, "is loopback; refused"));
  /* 0.0.0.0 reaches local listeners on Linux */
  snprintf(u, sizeof u, "http://0.0.0.0:%d/ok", S.http);
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
  TS_CHECK_EQ_INT(fetch(u, &o, HTTP__ADDR_REFUSE_ALL), TS_EINVAL);
  TS_CHECK(contains(R.err.msg, "address 0.0.0.0 is unspecified; refused"));
  /* an URL that libcurl normalises is still the first hop */
  snprintf(u, sizeof u, "HTTP://127.0.0.1:%d/./ok", S.http);
  TS_CHECK_EQ_INT(fetch(u, &o, PUBLIC), TS_EINVAL);
  snprintf(want, sizeof want,
           "upload URL http://127.0.0.1:%d/ok: address 127.0.0.1 is loopback; refused", S.http);
  TS_CHECK_STREQ(R.err.msg, want);
  /* the IPv4-mapped form of 127.0.0.1 */
  snprintf(u, sizeof u, "http://[::ffff:127.0.0.1]:%d/ok", S.http);
  TS_CHECK_EQ_INT(fetch(u, &o, HTTP__ADDR_REFUSE_ALL), TS_EINVAL);
  TS_CHECK(contains(R.err.msg, "is loopback; refused"));
  if (S.v6) {
    snprintf(u, sizeof u, "http://[::1]:%d/ok", S.v6);
    TS_CHECK_EQ_INT(fetch(u, &o, HTTP__ADDR_REFUSE_ALL), TS_EINVAL);
    TS_CHECK(contains(R.err.msg, "address ::1 is loopback; refused"));
  }
  srv_stop();
  return 0;
}

/* Every hop is checked: with 127.0.0.0/8 allowed and every other range
 * refused, a redirect from 127.0.0.1 to 0.0.0.0 or [::1] (both of which
 * would answer) is refused, and one to 127.0.0.1 is followed. */
int test_fetch_redirect_refused(void)
{
  char u[512], to[256];
  http_fetch_opts o = opts();
  uint32_t only_v4_loopback = HTTP__ADDR_REFUSE_ALL & ~bit_of("127.0.0.0/8");
  TS_CHECK(bit_of("127.0.0.0/8") != 0);
  TS_CHECK(srv_start() == 0);
  snprintf(to, sizeof to, "http://127.0.0.1:%d/ok", S.http);
  snprintf(u, sizeof u, "http://127.0.0.1:%d/redirect?to=%s", S.http, to);
  TS_CHECK_EQ_INT(fetch(u, &o, only_v4_loopback), TS_OK);
  TS_CHECK_STREQ(R.body, "hello, upload\n");

  snprintf(to, sizeof to, "http://0.0.0.0:%d/ok", S.http);
  snprintf(u, sizeof u, "http://127.0.0.1:%d/redirect?to=%s", S.http, to);
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK); /* it would answer */
  TS_CHECK_EQ_INT(fetch(u, &o, only_v4_loopback), TS_EINVAL);
  char want[1200];
  snprintf(want, sizeof want,
           "upload URL %s: redirected to %s: address 0.0.0.0 is unspecified; refused", u, to);
  TS_CHECK_STREQ(R.err.msg, want);
  TS_CHECK_EQ_INT(R.file_size, 0);
  if (S.v6) {
    snprintf(to, sizeof to, "http://[::1]:%d/ok", S.v6);
    snprintf(u, sizeof u, "http://127.0.0.1:%d/redirect?code=307&to=%s", S.http, to);
    TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
    TS_CHECK_STREQ(R.body, "hello, upload\n");
    TS_CHECK_EQ_INT(fetch(u, &o, only_v4_loopback), TS_EINVAL);
    TS_CHECK(contains(R.err.msg, "address ::1 is loopback; refused"));
  }
  srv_stop();
  return 0;
}

int test_fetch_redirects(void)
{
  char u[256];
  http_fetch_opts o = opts();
  o.allow_private = 1;
  TS_CHECK(srv_start() == 0);
  URL(u, S.http, "/chain?n=3");
  o.max_redirects = 3;
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
  TS_CHECK_STREQ(R.body, "end of chain\n");
  o.max_redirects = 2;
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_EINVAL);
  TS_CHECK(contains(R.err.msg, "more than 2 redirects"));
  o.max_redirects = 0;
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_EINVAL);
  o.max_redirects = 5;
  URL(u, S.http, "/loop");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_EINVAL);
  TS_CHECK(contains(R.err.msg, "more than 5 redirects"));
  TS_CHECK_EQ_INT(R.file_size, 0);
  srv_stop();
  return 0;
}

int test_fetch_size_limit(void)
{
  char u[256];
  http_fetch_opts o = opts();
  o.allow_private = 1;
  o.max_bytes = 1000;
  TS_CHECK(srv_start() == 0);
  /* announced with Content-Length */
  URL(u, S.http, "/bytes?n=1000");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
  TS_CHECK_EQ_INT(R.size, 1000);
  URL(u, S.http, "/bytes?n=1001");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_ELIMIT);
  TS_CHECK(contains(R.err.msg, "upload limit of 1000 bytes"));
  /* chunked: stopped while writing, nothing left in the file */
  URL(u, S.http, "/stream?n=1000");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
  TS_CHECK_EQ_INT(R.file_size, 1000);
  URL(u, S.http, "/stream?n=300000");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_ELIMIT);
  TS_CHECK(contains(R.err.msg, "the body is larger than the upload limit of 1000 bytes"));
  TS_CHECK_EQ_INT(R.file_size, 0);
  TS_CHECK_EQ_INT(R.size, 0);
  /* a huge Content-Length is refused before the body: this server sends
   * 10 bytes and then waits, so only the announced length can end it */
  URL(u, S.http, "/liar?len=10000000000");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_ELIMIT);
  TS_CHECK(contains(R.err.msg, "announces 10000000000 bytes, more than the upload limit"));
  srv_stop();
  return 0;
}

int test_fetch_timeout(void)
{
  char u[256];
  http_fetch_opts o = opts();
  o.allow_private = 1;
  o.timeout_ms = 300;
  TS_CHECK(srv_start() == 0);
  URL(u, S.http, "/slow");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_ETIMEOUT);
  TS_CHECK(contains(R.err.msg, "not fetched within 300 ms"));
  TS_CHECK_EQ_INT(R.file_size, 0);
  srv_stop();
  return 0;
}

int test_fetch_http_status(void)
{
  char u[256];
  http_fetch_opts o = opts();
  o.allow_private = 1;
  TS_CHECK(srv_start() == 0);
  URL(u, S.http, "/status?code=404");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_EIO);
  TS_CHECK(contains(R.err.msg, "HTTP status 404"));
  TS_CHECK_EQ_INT(R.file_size, 0);
  URL(u, S.http, "/status?code=500");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_EIO);
  TS_CHECK(contains(R.err.msg, "HTTP status 500"));
  TS_CHECK_EQ_INT(R.file_size, 0);
  /* nobody listening: a connection failure */
  URL(u, 1, "/ok");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_EIO);
  srv_stop();
  return 0;
}

int test_fetch_encodings(void)
{
  char u[256];
  http_fetch_opts o = opts();
  o.allow_private = 1;
  o.max_bytes = 3000;
  TS_CHECK(srv_start() == 0);
  URL(u, S.http, "/gzip?n=3000");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
  TS_CHECK_EQ_INT(R.size, 3000);
  TS_CHECK(R.body[0] == 'a' && R.body[2999] == 'a' && R.body[3000] == '\0');
  URL(u, S.http, "/deflate?n=3000");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
  TS_CHECK_EQ_INT(R.size, 3000);
  TS_CHECK(R.body[0] == 'a' && R.body[2999] == 'a');
  /* random bytes grow when compressed: the announced (encoded) length
   * passes the limit, the decoded body does not */
  URL(u, S.http, "/gzip-random?n=3000");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
  TS_CHECK_EQ_INT(R.size, 3000);
  /* the limit applies to the decoded body (30 bytes on the wire) */
  URL(u, S.http, "/gzip?n=3001");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_ELIMIT);
  TS_CHECK_EQ_INT(R.file_size, 0);
  srv_stop();
  return 0;
}

/* 10 GiB of zeros, gzip on the wire: stopped at the limit; memory stays
 * bounded (the body goes to the file, never to memory). */
int test_fetch_gzip_bomb(void)
{
  char u[256];
  struct rusage before, after;
  http_fetch_opts o = opts();
  o.allow_private = 1;
  o.max_bytes = 16 << 20;
  TS_CHECK(srv_start() == 0);
  URL(u, S.http, "/bomb");
  getrusage(RUSAGE_SELF, &before);
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_ELIMIT);
  getrusage(RUSAGE_SELF, &after);
  TS_CHECK(contains(R.err.msg, "larger than the upload limit of 16777216 bytes"));
  TS_CHECK_EQ_INT(R.file_size, 0);
  printf("# gzip bomb: peak RSS %ld KiB before, %ld KiB after the fetch\n", before.ru_maxrss,
         after.ru_maxrss);
  TS_CHECK(after.ru_maxrss - before.ru_maxrss < 8 * 1024);
  srv_stop();
  return 0;
}

int test_fetch_schemes(void)
{
  char u[256];
  http_fetch_opts o = opts();
  o.allow_private = 1;
  static const char *refused[] = {
      "ftp://127.0.0.1/x", "file:///etc/passwd", "gopher://127.0.0.1/",
      "dict://127.0.0.1/", "127.0.0.1/ok",       "",
      "http://",           "https://[::1/x",     "HTTP\x01://x/",
      "/relative/path",
  };
  for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
    TS_CHECK_EQ_INT(fetch(refused[i], &o, 0), TS_EINVAL);
    TS_CHECK(contains(R.err.msg, "upload URL"));
  }
  TS_CHECK_EQ_INT(fetch("file:///etc/passwd", &o, PUBLIC), TS_EINVAL);
  TS_CHECK(contains(R.err.msg, "scheme file is not allowed (http or https only)"));
  TS_CHECK_EQ_INT(fetch("ftp://127.0.0.1/x", &o, PUBLIC), TS_EINVAL);
  TS_CHECK(contains(R.err.msg, "scheme ftp is not allowed"));
  /* control characters are not echoed */
  TS_CHECK_EQ_INT(fetch("http://x/\x01\x7f", &o, PUBLIC), TS_EINVAL);
  TS_CHECK(!strchr(R.err.msg, 1) && !strchr(R.err.msg, 0x7f));
  TS_CHECK(srv_start() == 0);
  /* an upper-case scheme is the same scheme */
  snprintf(u, sizeof u, "HTTP://127.0.0.1:%d/ok", S.http);
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
  /* redirects to other schemes are not followed */
  URL(u, S.http, "/redirect?to=file:///etc/passwd");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_EINVAL);
  TS_CHECK(contains(R.err.msg, "scheme other than http or https"));
  TS_CHECK_EQ_INT(R.file_size, 0);
  URL(u, S.http, "/redirect?to=ftp://127.0.0.1/x");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_EINVAL);
  srv_stop();
  return 0;
}

/* Credentials in the URL are refused, and not echoed. */
int test_fetch_credentials(void)
{
  char u[256];
  http_fetch_opts o = opts();
  o.allow_private = 1;
  TS_CHECK(srv_start() == 0);
  snprintf(u, sizeof u, "http://alice:s3cret@127.0.0.1:%d/ok", S.http);
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_EINVAL);
  TS_CHECK(contains(R.err.msg, "credentials in the URL"));
  TS_CHECK(!contains(R.err.msg, "s3cret"));
  TS_CHECK(!contains(R.err.msg, "alice"));
  snprintf(u, sizeof u, "http://alice@127.0.0.1:%d/ok", S.http);
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_EINVAL);
  srv_stop();
  return 0;
}

/* What the fetcher sends: its own User-Agent, gzip and deflate; no cookie
 * (even one the server set on the previous hop), no .netrc login, no proxy
 * from the environment. */
int test_fetch_request_headers(void)
{
  char u[256], netrc[128];
  http_fetch_opts o = opts();
  o.allow_private = 1;
  TS_CHECK(srv_start() == 0);
  snprintf(netrc, sizeof netrc, "%s/.netrc", S.dir);
  FILE *f = fopen(netrc, "w");
  TS_CHECK(f != NULL);
  fprintf(f, "machine 127.0.0.1 login bob password hunter2\n");
  fclose(f);
  setenv("HOME", S.dir, 1);
  setenv("http_proxy", "http://127.0.0.1:1", 1);
  setenv("HTTP_PROXY", "http://127.0.0.1:1", 1);
  setenv("ALL_PROXY", "http://127.0.0.1:1", 1);
  URL(u, S.http, "/cookie");
  TS_CHECK_EQ_INT(fetch(u, &o, 0), TS_OK);
  TS_CHECK(contains(R.body, "user-agent: tapserve/"));
  TS_CHECK(contains(R.body, "accept-encoding: gzip, deflate\n"));
  TS_CHECK(!strcasestr(R.body, "cookie"));
  TS_CHECK(!strcasestr(R.body, "authorization"));
  srv_stop();
  return 0;
}

/* Fetches from several worker threads at once, the first of them
 * initialising libcurl: each gets its own body. */
enum { THREADS = 4, PER_THREAD = 5 };
static void *fetch_thread(void *arg)
{
  long k = (long)(intptr_t)arg, ok = 0;
  char u[128];
  http_fetch_opts o = opts();
  o.allow_private = 1;
  for (int i = 0; i < PER_THREAD; i++) {
    ts_arena *a = ts_arena_new(0, 1 << 16);
    ts_error err;
    const char *ct;
    uint64_t size = 0, want = (uint64_t)(1000 * k + 100000 + i);
    int fd = tmp_fd();
    snprintf(u, sizeof u, "http://127.0.0.1:%d/bytes?n=%llu", S.http, (unsigned long long)want);
    ok += http_fetch(u, &o, fd, a, &ct, &size, &err) == TS_OK && size == want &&
          fd_size(fd) == (off_t)want;
    close(fd);
    ts_arena_free(a);
  }
  return (void *)(intptr_t)ok;
}

int test_fetch_threads(void)
{
  pthread_t th[THREADS];
  long ok = 0;
  TS_CHECK(srv_start() == 0);
  for (long k = 0; k < THREADS; k++)
    TS_CHECK(pthread_create(&th[k], NULL, fetch_thread, (void *)(intptr_t)k) == 0);
  for (int k = 0; k < THREADS; k++) {
    void *r;
    pthread_join(th[k], &r);
    ok += (long)(intptr_t)r;
  }
  TS_CHECK_EQ_INT(ok, THREADS * PER_THREAD);
  srv_stop();
  return 0;
}
