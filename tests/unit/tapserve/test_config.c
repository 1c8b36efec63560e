/* Configuration: defaults, a complete file, every kind of error with its
 * file:line, and base_url/path_prefix derivation. */
#include "tapserve/config.h"
#include "test_list.h"
#define TS_TEST_MAIN
#include "ts_test.h"

#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* Writes `text` to a fresh temporary file; the name goes to `path`. */
static int write_tmp(char path[64], const char *text)
{
  int fd;
  FILE *f;
  snprintf(path, 64, "/tmp/tapserve-cfg-XXXXXX");
  fd = mkstemp(path);
  if (fd < 0)
    return -1;
  f = fdopen(fd, "w");
  if (!f)
    return -1;
  fputs(text, f);
  fclose(f);
  return 0;
}

/* Loads `text` over the defaults; returns the status, error in *e. */
static ts_err load_text(const char *text, cfg *c, ts_error *e, char path[64])
{
  ts_err rc;
  cfg_defaults(c);
  ts_error_clear(e);
  if (write_tmp(path, text) != 0)
    return TS_EIO;
  rc = cfg_load(c, path, e);
  unlink(path);
  return rc;
}

int test_cfg_defaults(void)
{
  cfg c;
  ts_error e;
  cfg_defaults(&c);
  TS_CHECK_EQ_INT(cfg_finish(&c, &e), TS_OK);
  TS_CHECK_STREQ(c.listen, "127.0.0.1");
  TS_CHECK_EQ_INT(c.port, 8080);
  TS_CHECK_STREQ(c.base_url, "http://127.0.0.1:8080/tap");
  TS_CHECK_STREQ(c.path_prefix, "/tap");
  TS_CHECK_EQ_INT(c.max_connections, 1024);
  TS_CHECK_EQ_INT(c.max_header_bytes, 16384);
  TS_CHECK_EQ_INT(c.max_body_bytes, 16777216);
  TS_CHECK_EQ_INT(c.header_timeout_ms, 10000);
  TS_CHECK_EQ_INT(c.body_timeout_ms, 60000);
  TS_CHECK_EQ_INT(c.idle_timeout_ms, 60000);
  TS_CHECK_EQ_INT(c.write_timeout_ms, 300000);
  TS_CHECK_EQ_INT(c.max_connections_per_client, 64);
  TS_CHECK_EQ_INT(c.first_byte_timeout_ms, 5000);
  TS_CHECK_EQ_INT(c.max_form_body_bytes, 2 * 1024 * 1024);
  TS_CHECK_EQ_INT(c.body_budget_bytes, 64 * 1024 * 1024);
  TS_CHECK_EQ_INT(c.max_upload_body_bytes, 1024 * 1024 * 1024);
  TS_CHECK_EQ_INT(c.max_upload_parts, 100);
  TS_CHECK_EQ_INT(c.max_part_header_bytes, 8192);
  TS_CHECK_EQ_INT(c.spool_budget_bytes, (int64_t)4 << 30);
  TS_CHECK_STREQ(c.spool_dir, "");
  TS_CHECK_EQ_INT(c.pool_size, 8);
  TS_CHECK_EQ_INT(c.connect_timeout_ms, 10000);
  TS_CHECK_EQ_INT(c.pool_wait_timeout_ms, 5000);
  TS_CHECK_EQ_INT(c.max_sync_per_client, 4);
  TS_CHECK_EQ_INT(c.sync_stall_timeout_ms, 10000);
  TS_CHECK_EQ_INT(c.allow_query_as_service, 0);
  TS_CHECK_EQ_INT(c.maxrec_default, 100000);
  TS_CHECK_EQ_INT(c.maxrec_limit, 10000000);
  TS_CHECK_EQ_INT(c.sync_timeout_s, 600);
  TS_CHECK_EQ_INT(c.fetch_size, 1000);
  TS_CHECK_STREQ(c.service_title, "tapserve demo");
  TS_CHECK_EQ_INT(c.log_level, TS_LOG_INFO);
  cfg_free(&c);
  return 0;
}

int test_cfg_good_file(void)
{
  cfg c;
  ts_error e;
  char path[64];
  const char *text = "; a comment\n"
                     "# another comment\n"
                     "[server]\n"
                     "listen = ::1\n"
                     "port = 9000\n"
                     "base_url = https://archive.example.org/gaia/tap/\n"
                     "max_connections = 50\n"
                     "max_header_bytes = 32k\n"
                     "max_body_bytes = 2M\n"
                     "header_timeout = 2.5\n"
                     "body_timeout = 30\n"
                     "idle_timeout = 0.25\n"
                     "write_timeout = 120\n"
                     "max_connections_per_client = 8\n"
                     "first_byte_timeout = 1.5\n"
                     "max_form_body_bytes = 512k\n"
                     "body_budget_bytes = 1G\n"
                     "max_upload_body_bytes = 2G\n"
                     "max_upload_parts = 7\n"
                     "max_part_header_bytes = 4k\n"
                     "spool_budget_bytes = 10G\n"
                     "spool_dir = /tmp\n"
                     "\n"
                     "[database]\n"
                     "dsn = host=db.example.org dbname=archive user=tap\n"
                     "pool_size = 16\n"
                     "connect_timeout = 3\n"
                     "pool_wait_timeout = 2\n"
                     "allow_query_as_service = Yes\n"
                     "[tap]\n"
                     "maxrec_default = 2000\n"
                     "maxrec_limit = 3000000\n"
                     "sync_timeout = 900\n"
                     "fetch_size = 5000\n"
                     "max_sync_per_client = 2\n"
                     "sync_stall_timeout = 30\n"
                     "title = Gaia \xc3\xa9 archive\n"
                     "description = Gaia DR3 catalogues\n"
                     "examples = /etc/tapserve/examples.xhtml\n"
                     "[log]\n"
                     "level = DEBUG\n"
                     "[upload]\n"
                     "max_bytes = 10M\n"
                     "max_rows = 5000\n"
                     "max_columns = 20\n"
                     "max_uploads = 2\n"
                     "allow_private_urls = yes\n"
                     "fetch_timeout = 2.5\n"
                     "max_redirects = 0\n";
  TS_CHECK_EQ_INT(load_text(text, &c, &e, path), TS_OK);
  TS_CHECK_EQ_INT(cfg_finish(&c, &e), TS_OK);
  TS_CHECK_STREQ(c.listen, "::1");
  TS_CHECK_EQ_INT(c.port, 9000);
  TS_CHECK_STREQ(c.base_url, "https://archive.example.org/gaia/tap");
  TS_CHECK_STREQ(c.path_prefix, "/gaia/tap");
  TS_CHECK_EQ_INT(c.max_connections, 50);
  TS_CHECK_EQ_INT(c.max_header_bytes, 32768);
  TS_CHECK_EQ_INT(c.max_body_bytes, 2 * 1024 * 1024);
  TS_CHECK_EQ_INT(c.header_timeout_ms, 2500);
  TS_CHECK_EQ_INT(c.body_timeout_ms, 30000);
  TS_CHECK_EQ_INT(c.idle_timeout_ms, 250);
  TS_CHECK_EQ_INT(c.write_timeout_ms, 120000);
  TS_CHECK_EQ_INT(c.max_connections_per_client, 8);
  TS_CHECK_EQ_INT(c.first_byte_timeout_ms, 1500);
  TS_CHECK_EQ_INT(c.max_form_body_bytes, 512 * 1024);
  TS_CHECK_EQ_INT(c.body_budget_bytes, 1024 * 1024 * 1024);
  TS_CHECK_EQ_INT(c.max_upload_body_bytes, (int64_t)2 << 30);
  TS_CHECK_EQ_INT(c.max_upload_parts, 7);
  TS_CHECK_EQ_INT(c.max_part_header_bytes, 4096);
  TS_CHECK_EQ_INT(c.spool_budget_bytes, (int64_t)10 << 30);
  TS_CHECK_STREQ(c.spool_dir, "/tmp");
  TS_CHECK_EQ_INT(c.pool_wait_timeout_ms, 2000);
  TS_CHECK_EQ_INT(c.max_sync_per_client, 2);
  TS_CHECK_EQ_INT(c.sync_stall_timeout_ms, 30000);
  TS_CHECK_STREQ(c.dsn, "host=db.example.org dbname=archive user=tap");
  TS_CHECK_EQ_INT(c.pool_size, 16);
  TS_CHECK_EQ_INT(c.connect_timeout_ms, 3000);
  TS_CHECK_EQ_INT(c.allow_query_as_service, 1);
  TS_CHECK_EQ_INT(c.maxrec_default, 2000);
  TS_CHECK_EQ_INT(c.maxrec_limit, 3000000);
  TS_CHECK_EQ_INT(c.sync_timeout_s, 900);
  TS_CHECK_EQ_INT(c.fetch_size, 5000);
  TS_CHECK_STREQ(c.service_title, "Gaia \xc3\xa9 archive");
  TS_CHECK_STREQ(c.service_description, "Gaia DR3 catalogues");
  TS_CHECK_STREQ(c.tap_examples, "/etc/tapserve/examples.xhtml");
  TS_CHECK_EQ_INT(c.log_level, TS_LOG_DEBUG);
  TS_CHECK_EQ_INT(c.upload_max_bytes, 10 * 1024 * 1024);
  TS_CHECK_EQ_INT(c.upload_max_rows, 5000);
  TS_CHECK_EQ_INT(c.upload_max_columns, 20);
  TS_CHECK_EQ_INT(c.upload_max_uploads, 2);
  TS_CHECK_EQ_INT(c.upload_allow_private, 1);
  TS_CHECK_EQ_INT(c.upload_fetch_timeout_ms, 2500);
  TS_CHECK_EQ_INT(c.upload_max_redirects, 0);
  cfg_free(&c);
  return 0;
}

/* Each case: file text, expected line, and a fragment of the message. */
static const struct {
  const char *text;
  int line;
  const char *msg;
} bad[] = {
    {"[server]\nport = 80\n[nosuch]\nx = 1\n", 4, "unknown section [nosuch]"},
    {"[server]\nportt = 80\n", 2, "unknown key 'portt' in section [server]"},
    {"port = 80\n", 1, "outside any section"},
    {"[server]\nport = eighty\n", 2, "server.port = 'eighty': not an integer"},
    {"[server]\n\nport = 70000\n", 3, "out of range (0 to 65535)"},
    {"[server]\nheader_timeout = 10s\n", 2, "not a duration in seconds"},
    {"[server]\nheader_timeout = 0.0001\n", 2, "more than millisecond precision"},
    {"[server]\nmax_body_bytes = 12X\n", 2, "not a byte count"},
    {"[server]\nlisten = localhost\n", 2, "not a numeric IPv4 or IPv6 address"},
    {"[log]\nlevel = verbose\n", 2, "not a log level"},
    {"[database]\nallow_query_as_service = maybe\n", 2, "not yes or no"},
    {"[tap]\nfetch_size = 0\n", 2, "out of range"},
    {"[upload]\nmax_columns = 2000\n", 2, "out of range"},
    {"[database]\npool_size = 4\npool_size = 5\n", 3, "given twice"},
    {"[database]\ndsn = host=a\n  dbname=b\n", 3, "given twice"}, /* continuation line */
    {"[server]\nport 80\n", 2, "syntax error"},
    {"[server\nport = 80\n", 1, "syntax error"},
    {"[tap]\ndescription = "
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "x"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "x"
     "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
     "x"
     "\nfetch_size = 10\n",
     2, "line longer than"},
    {"[tap]\ntitle = caf\xe9\n", 2, "not valid UTF-8"},
};

int test_cfg_errors(void)
{
  cfg c;
  ts_error e;
  char path[64], want[128];
  for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
    ts_err rc = load_text(bad[i].text, &c, &e, path);
    if (rc != TS_EINVAL || !strstr(e.msg, bad[i].msg) || e.line != bad[i].line) {
      fprintf(stderr, "# case %zu: rc %s, line %d, msg \"%s\"\n", i, ts_err_name(rc), e.line,
              e.msg);
      TS_CHECK(0);
    }
    /* The message starts with FILE:LINE: so editors can jump to it. */
    snprintf(want, sizeof want, "%s:%d: ", path, bad[i].line);
    TS_CHECK(strncmp(e.msg, want, strlen(want)) == 0);
    cfg_free(&c);
  }
  /* A spool directory that cannot be written stops the start. */
  TS_CHECK_EQ_INT(load_text("[server]\nspool_dir = /nonexistent/spool\n", &c, &e, path), TS_OK);
  TS_CHECK_EQ_INT(cfg_finish(&c, &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "spool_dir '/nonexistent/spool' is not a writable directory") != NULL);
  cfg_free(&c);
  /* A file that cannot be opened names itself. */
  cfg_defaults(&c);
  TS_CHECK_EQ_INT(cfg_load(&c, "/nonexistent/tapserve.ini", &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "/nonexistent/tapserve.ini: cannot open") == e.msg);
  cfg_free(&c);
  return 0;
}

static ts_err finish_with(const char *listen, int port, const char *base_url, cfg *c, ts_error *e)
{
  cfg_defaults(c);
  free(c->listen);
  c->listen = strdup(listen);
  c->port = port;
  if (base_url)
    c->base_url = strdup(base_url);
  return cfg_finish(c, e);
}

int test_cfg_base_url(void)
{
  cfg c;
  ts_error e;
  TS_CHECK_EQ_INT(finish_with("::1", 8081, NULL, &c, &e), TS_OK);
  TS_CHECK_STREQ(c.base_url, "http://[::1]:8081/tap");
  TS_CHECK_STREQ(c.path_prefix, "/tap");
  cfg_free(&c);
  /* Wildcard listen addresses are not addresses clients can use. */
  TS_CHECK_EQ_INT(finish_with("0.0.0.0", 80, NULL, &c, &e), TS_OK);
  TS_CHECK_STREQ(c.base_url, "http://127.0.0.1:80/tap");
  cfg_free(&c);
  TS_CHECK_EQ_INT(finish_with("::", 80, NULL, &c, &e), TS_OK);
  TS_CHECK_STREQ(c.base_url, "http://[::1]:80/tap");
  cfg_free(&c);
  /* A service at the root: "/" becomes the empty prefix. */
  TS_CHECK_EQ_INT(finish_with("127.0.0.1", 80, "http://tap.example.org/", &c, &e), TS_OK);
  TS_CHECK_STREQ(c.base_url, "http://tap.example.org");
  TS_CHECK_STREQ(c.path_prefix, "");
  cfg_free(&c);
  TS_CHECK_EQ_INT(finish_with("127.0.0.1", 80, "https://h:8443/a/b//", &c, &e), TS_OK);
  TS_CHECK_STREQ(c.base_url, "https://h:8443/a/b");
  TS_CHECK_STREQ(c.path_prefix, "/a/b");
  cfg_free(&c);
  TS_CHECK_EQ_INT(finish_with("127.0.0.1", 80, "ftp://h/tap", &c, &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "http:// or https://") != NULL);
  cfg_free(&c);
  TS_CHECK_EQ_INT(finish_with("127.0.0.1", 80, "http:///tap", &c, &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "no host") != NULL);
  cfg_free(&c);
  TS_CHECK_EQ_INT(finish_with("127.0.0.1", 80, "http://h/tap?x=1", &c, &e), TS_EINVAL);
  cfg_free(&c);
  TS_CHECK_EQ_INT(finish_with("127.0.0.1", 80, "http://h/a//b", &c, &e), TS_EINVAL);
  cfg_free(&c);
  TS_CHECK_EQ_INT(finish_with("127.0.0.1", 0, NULL, &c, &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "base_url") != NULL);
  cfg_free(&c);
  TS_CHECK_EQ_INT(finish_with("127.0.0.1", 0, "http://127.0.0.1:5555/tap", &c, &e), TS_OK);
  cfg_free(&c);
  /* Consistency between keys. */
  cfg_defaults(&c);
  c.maxrec_default = c.maxrec_limit + 1;
  TS_CHECK_EQ_INT(cfg_finish(&c, &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "maxrec_default") != NULL);
  cfg_free(&c);
  cfg_defaults(&c);
  c.pool_size = 0;
  TS_CHECK_EQ_INT(cfg_finish(&c, &e), TS_EINVAL);
  cfg_free(&c);
  return 0;
}

/* [server] trusted_proxies is checked when the configuration is finished,
 * so a typo stops the start with the entry named. */
int test_cfg_trusted_proxies(void)
{
  cfg c;
  ts_error e;
  cfg_defaults(&c);
  free(c.trusted_proxies);
  c.trusted_proxies = strdup("127.0.0.1, 10.0.0.0/8 ::1");
  TS_CHECK_EQ_INT(cfg_finish(&c, &e), TS_OK);
  cfg_free(&c);
  cfg_defaults(&c);
  free(c.trusted_proxies);
  c.trusted_proxies = strdup("127.0.0.1, 10.0.0.0/99");
  TS_CHECK_EQ_INT(cfg_finish(&c, &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "[server] trusted_proxies: '10.0.0.0/99'") != NULL);
  cfg_free(&c);
  return 0;
}
