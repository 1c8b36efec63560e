/* Configuration: an INI file read with inih over built-in defaults.
 *
 * Every key is described once, in the table `keys` below (section, name,
 * kind, bounds, field offset); parsing, duplicate detection and the error
 * messages all come from it, so docs/configuration.md and this table are
 * the only two places a key lives. Errors name the file and line
 * ("tapserve.ini:12: ...") because an operator fixes them in an editor. */
#include "tapserve/config.h"

#include "http/http.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef enum {
  K_STR,     /* char *, any text (may be empty) */
  K_ADDR,    /* char *, numeric IPv4 or IPv6 address */
  K_INT,     /* int within [min, max] */
  K_INT64,   /* int64_t within [min, max] */
  K_BYTES,   /* size_t: integer with optional k/M/G suffix (powers of 1024) */
  K_SECS_MS, /* int milliseconds; the file gives seconds (fraction allowed) */
  K_SECS,    /* int seconds; the file gives whole seconds */
  K_LEVEL,   /* int ts_log_level from debug|info|warn|error */
  K_BOOL     /* int 0 or 1 from yes|no, true|false, on|off, 1|0 */
} key_kind;

typedef struct key_def {
  const char *section;
  const char *name;
  key_kind kind;
  size_t off;
  int64_t min, max; /* in the unit of the file (seconds, bytes, count) */
} key_def;

#define F(field) offsetof(cfg, field)
static const key_def keys[] = {
    {"server", "listen", K_ADDR, F(listen), 0, 0},
    {"server", "port", K_INT, F(port), 0, 65535},
    {"server", "base_url", K_STR, F(base_url), 0, 0},
    {"server", "max_connections", K_INT, F(max_connections), 1, 1000000},
    {"server", "max_header_bytes", K_BYTES, F(max_header_bytes), 1024, (int64_t)1 << 30},
    {"server", "max_body_bytes", K_BYTES, F(max_body_bytes), 0, (int64_t)1 << 40},
    {"server", "header_timeout", K_SECS_MS, F(header_timeout_ms), 0, 86400},
    {"server", "body_timeout", K_SECS_MS, F(body_timeout_ms), 0, 86400},
    {"server", "idle_timeout", K_SECS_MS, F(idle_timeout_ms), 0, 86400},
    {"server", "write_timeout", K_SECS_MS, F(write_timeout_ms), 0, 86400},
    {"server", "max_connections_per_client", K_INT, F(max_connections_per_client), 1, 1000000},
    {"server", "first_byte_timeout", K_SECS_MS, F(first_byte_timeout_ms), 0, 86400},
    {"server", "max_form_body_bytes", K_BYTES, F(max_form_body_bytes), 0, (int64_t)1 << 40},
    {"server", "body_budget_bytes", K_BYTES, F(body_budget_bytes), 0, (int64_t)1 << 40},
    {"server", "max_upload_body_bytes", K_BYTES, F(max_upload_body_bytes), 1024, (int64_t)1 << 40},
    {"server", "max_upload_parts", K_INT, F(max_upload_parts), 1, 100000},
    {"server", "max_part_header_bytes", K_BYTES, F(max_part_header_bytes), 256, 1 << 20},
    {"server", "spool_budget_bytes", K_BYTES, F(spool_budget_bytes), 1024, (int64_t)1 << 50},
    {"server", "spool_dir", K_STR, F(spool_dir), 0, 0},
    {"server", "trusted_proxies", K_STR, F(trusted_proxies), 0, 0},
    {"server", "pid_file", K_STR, F(pid_file), 0, 0},
    {"server", "drain_delay", K_SECS_MS, F(drain_delay_ms), 0, 3600},
    {"server", "drain_grace", K_SECS, F(drain_grace_s), 0, 365 * 86400},
    {"server", "gzip_threads", K_INT, F(gzip_threads), 0, 64},
    {"metrics", "enabled", K_BOOL, F(metrics_enabled), 0, 1},
    {"metrics", "allow", K_STR, F(metrics_allow), 0, 0},
    {"database", "dsn", K_STR, F(dsn), 0, 0},
    {"database", "query_dsn", K_STR, F(query_dsn), 0, 0},
    {"database", "pool_size", K_INT, F(pool_size), 1, 10000},
    {"database", "primary_pool_size", K_INT, F(primary_pool_size), 0, 10000},
    {"database", "connect_timeout", K_SECS_MS, F(connect_timeout_ms), 0, 3600},
    {"database", "pool_wait_timeout", K_SECS_MS, F(pool_wait_timeout_ms), 0, 3600},
    {"database", "query_server_backoff", K_SECS_MS, F(query_backoff_ms), 0, 3600},
    {"database", "allow_query_as_service", K_BOOL, F(allow_query_as_service), 0, 1},
    {"tap", "maxrec_default", K_INT64, F(maxrec_default), 0, INT64_MAX / 2},
    {"tap", "maxrec_limit", K_INT64, F(maxrec_limit), 0, INT64_MAX / 2},
    {"tap", "sync_timeout", K_SECS, F(sync_timeout_s), 0, 30 * 86400},
    {"tap", "fetch_size", K_INT, F(fetch_size), 1, 1000000},
    {"tap", "max_sync_per_client", K_INT, F(max_sync_per_client), 1, 1000000},
    {"tap", "sync_stall_timeout", K_SECS_MS, F(sync_stall_timeout_ms), 0, 86400},
    {"tap", "title", K_STR, F(service_title), 0, 0},
    {"tap", "description", K_STR, F(service_description), 0, 0},
    {"tap", "examples", K_STR, F(tap_examples), 0, 0},
    {"log", "level", K_LEVEL, F(log_level), 0, 0},
    {"adql", "geometry", K_STR, F(adql_geometry), 0, 0},
    {"adql", "coordinate_systems", K_STR, F(adql_coordsys), 0, 0},
    {"adql", "udfs", K_STR, F(adql_udfs), 0, 0},
    {"adql", "std_udfs", K_INT, F(adql_std_udfs), 0, 1},
    {"jobs", "result_store", K_STR, F(jobs_result_store), 0, 0},
    {"jobs", "max_executing", K_INT, F(jobs_max_executing), 0, 1000},
    {"jobs", "max_per_user", K_INT, F(jobs_max_per_user), 0, 1000000},
    {"jobs", "execution_duration", K_SECS, F(jobs_duration_s), 0, 365 * 86400},
    {"jobs", "execution_duration_max", K_SECS, F(jobs_duration_max_s), 0, 365 * 86400},
    {"jobs", "destruction", K_SECS, F(jobs_destruction_s), 1, 3650 * 86400},
    {"jobs", "destruction_max", K_SECS, F(jobs_destruction_max_s), 1, 3650 * 86400},
    {"jobs", "on_restart", K_STR, F(jobs_on_restart), 0, 0},
    {"jobs", "wait_max", K_SECS, F(jobs_wait_max_s), 0, 86400},
    {"jobs", "sweep_interval", K_SECS, F(jobs_sweep_interval_s), 1, 86400},
    {"jobs", "heartbeat", K_SECS, F(jobs_heartbeat_s), 1, 3600},
    {"jobs", "instance_timeout", K_SECS, F(jobs_instance_timeout_s), 2, 86400},
    {"jobs", "list_anonymous", K_INT, F(jobs_list_anonymous), 0, 1},
    {"jobs", "download_threads", K_INT, F(jobs_download_threads), 1, 64},
    {"jobs", "db_connections", K_INT, F(jobs_db_connections), 1, 1000},
    {"jobs", "max_attempts", K_INT, F(jobs_max_attempts), 1, 1000},
    {"jobs", "max_async_jobs", K_INT, F(jobs_max_async), 0, 1000000},
    {"upload", "max_bytes", K_BYTES, F(upload_max_bytes), 1024, (int64_t)1 << 40},
    {"upload", "max_rows", K_INT64, F(upload_max_rows), 1, INT64_MAX / 2},
    {"upload", "max_columns", K_INT, F(upload_max_columns), 1, 1600},
    {"upload", "max_uploads", K_INT, F(upload_max_uploads), 0, 100},
    {"upload", "allow_private_urls", K_BOOL, F(upload_allow_private), 0, 1},
    {"upload", "fetch_timeout", K_SECS_MS, F(upload_fetch_timeout_ms), 1, 3600},
    {"upload", "max_redirects", K_INT, F(upload_max_redirects), 0, 20},
    {"users", "session_idle", K_SECS, F(users_session_idle_s), 1, 365 * 86400},
    {"users", "session_max", K_SECS, F(users_session_max_s), 1, 3650 * 86400},
    {"users", "login_max_failures", K_INT, F(users_login_max_failures), 1, 1000000},
    {"users", "login_max_failures_per_address", K_INT, F(users_login_max_failures_addr), 1,
     1000000},
    {"users", "login_lockout", K_SECS, F(users_login_lockout_s), 1, 86400},
    {"users", "basic_cache", K_SECS, F(users_basic_cache_s), 0, 3600},
    {"users", "quota_db", K_BYTES, F(users_quota_db), 0, (int64_t)1 << 50},
    {"users", "quota_files", K_BYTES, F(users_quota_files), 0, (int64_t)1 << 50},
};
#undef F

static char **str_field(cfg *c, const key_def *k)
{
  return (char **)((char *)c + k->off);
}

/* Replaces an owned string field; 0 when out of memory (field unchanged). */
static int set_str(char **field, const char *v)
{
  char *d = strdup(v);
  if (!d)
    return 0;
  free(*field);
  *field = d;
  return 1;
}

void cfg_defaults(cfg *c)
{
  memset(c, 0, sizeof *c);
  /* A failed strdup leaves NULL; cfg_finish reports it as TS_ENOMEM. */
  c->listen = strdup("127.0.0.1");
  c->port = 8080;
  c->base_url = NULL; /* derived in cfg_finish */
  c->max_connections = 1024;
  c->max_header_bytes = 16384;
  c->max_body_bytes = 16777216;
  c->header_timeout_ms = 10 * 1000;
  c->body_timeout_ms = 60 * 1000;
  c->idle_timeout_ms = 60 * 1000;
  c->write_timeout_ms = 300 * 1000;
  c->max_connections_per_client = 64;
  c->first_byte_timeout_ms = 5 * 1000;
  c->max_form_body_bytes = 2 * 1024 * 1024;
  c->body_budget_bytes = 64 * 1024 * 1024;
  c->max_upload_body_bytes = (size_t)1 << 30;
  c->max_upload_parts = 100;
  c->max_part_header_bytes = 8 * 1024;
  c->spool_budget_bytes = (size_t)4 << 30;
  c->spool_dir = strdup(""); /* empty: $TMPDIR, else /tmp */
  c->trusted_proxies = strdup("");
  c->pid_file = strdup("");
  c->drain_delay_ms = 10 * 1000;
  c->drain_grace_s = 300;
  c->metrics_enabled = 1;
  c->metrics_allow = strdup("127.0.0.1, ::1");
  c->dsn = strdup("");
  c->query_dsn = strdup(""); /* empty: queries use dsn */
  c->upload_max_bytes = 64 * 1024 * 1024;
  c->upload_max_rows = 10000000;
  c->upload_max_columns = 500;
  c->upload_max_uploads = 10;
  c->upload_allow_private = 0;
  c->upload_fetch_timeout_ms = 60 * 1000;
  c->upload_max_redirects = 3;
  c->pool_size = 8;
  c->connect_timeout_ms = 10 * 1000;
  c->pool_wait_timeout_ms = 5 * 1000;
  c->query_backoff_ms = 5 * 1000;
  c->gzip_threads = -1;
  c->maxrec_default = 100000;
  c->maxrec_limit = 10000000;
  c->sync_timeout_s = 600;
  c->fetch_size = 1000;
  c->max_sync_per_client = 4;
  c->sync_stall_timeout_ms = 10 * 1000;
  c->service_title = strdup("tapserve demo");
  c->service_description =
      strdup("A TAP service answering ADQL queries over catalogues kept in PostgreSQL");
  c->tap_examples = strdup("");
  c->log_level = TS_LOG_INFO;
  c->adql_geometry = strdup("");
  c->adql_coordsys = strdup("ICRS");
  c->adql_udfs = strdup("");
  c->adql_std_udfs = 1;
  c->jobs_result_store = strdup("fs:/var/tmp/tapserve-results");
  c->jobs_max_executing = 2;
  c->jobs_download_threads = 2;
  c->jobs_db_connections = 16;
  c->jobs_max_per_user = 4;
  c->jobs_duration_s = 3600;
  c->jobs_duration_max_s = 86400;
  c->jobs_destruction_s = 7 * 86400;
  c->jobs_destruction_max_s = 30 * 86400;
  c->jobs_on_restart = strdup("requeue");
  c->jobs_wait_max_s = 600;
  c->jobs_sweep_interval_s = 60;
  c->jobs_heartbeat_s = 5;
  c->jobs_instance_timeout_s = 30;
  c->jobs_list_anonymous = 0;
  c->jobs_max_attempts = 2;
  c->users_session_idle_s = 8 * 3600;
  c->users_session_max_s = 7 * 86400;
  c->users_login_max_failures = 5;
  c->users_login_max_failures_addr = 50;
  c->users_login_lockout_s = 300;
  c->users_basic_cache_s = 60;
}

void cfg_free(cfg *c)
{
  if (!c)
    return;
  free(c->listen);
  free(c->trusted_proxies);
  free(c->base_url);
  free(c->spool_dir);
  free(c->path_prefix);
  free(c->dsn);
  free(c->pid_file);
  free(c->metrics_allow);
  free(c->query_dsn);
  free(c->service_title);
  free(c->service_description);
  free(c->tap_examples);
  free(c->adql_geometry);
  free(c->adql_coordsys);
  free(c->adql_udfs);
  free(c->jobs_result_store);
  free(c->jobs_on_restart);
  memset(c, 0, sizeof *c);
}

/* ---- value parsers: each returns NULL on success or the reason ---------- */

static const char *parse_int_range(const char *v, int64_t min, int64_t max, int64_t *out)
{
  if (ts_parse_int64(v, out) != TS_OK)
    return "not an integer";
  if (*out < min || *out > max)
    return "out of range";
  return NULL;
}

static const char *parse_bytes(const char *v, int64_t min, int64_t max, int64_t *out)
{
  char num[32];
  size_t n = strlen(v);
  int shift = 0;
  while (n > 0 && (v[n - 1] == ' ' || v[n - 1] == '\t'))
    n--;
  if (n > 0) {
    switch (v[n - 1]) {
    case 'k':
    case 'K':
      shift = 10;
      break;
    case 'm':
    case 'M':
      shift = 20;
      break;
    case 'g':
    case 'G':
      shift = 30;
      break;
    default:
      break;
    }
  }
  if (shift)
    n--;
  if (n == 0 || n >= sizeof num)
    return "not a byte count (an integer with an optional k, M or G suffix)";
  memcpy(num, v, n);
  num[n] = '\0';
  if (ts_parse_int64(num, out) != TS_OK || *out < 0)
    return "not a byte count (an integer with an optional k, M or G suffix)";
  if (*out > (INT64_MAX >> shift))
    return "out of range";
  *out <<= shift;
  if (*out < min || *out > max)
    return "out of range";
  return NULL;
}

/* Seconds with up to three decimals ("2.5") -> milliseconds. */
const char *cfg_parse_bytes(const char *v, int64_t min, int64_t max, int64_t *out)
{
  return parse_bytes(v, min, max, out);
}

static const char *parse_secs_ms(const char *v, int64_t min_s, int64_t max_s, int64_t *out_ms)
{
  const char *p = v;
  int64_t whole = 0, frac = 0;
  int ndig = 0, nfrac = 0;
  while (*p == ' ' || *p == '\t')
    p++;
  for (; *p >= '0' && *p <= '9'; p++, ndig++) {
    if (whole > 1000000000)
      return "out of range";
    whole = whole * 10 + (*p - '0');
  }
  if (*p == '.') {
    for (p++; *p >= '0' && *p <= '9'; p++, nfrac++) {
      if (nfrac >= 3)
        return "more than millisecond precision";
      frac = frac * 10 + (*p - '0');
    }
  }
  while (*p == ' ' || *p == '\t')
    p++;
  if (ndig == 0 || *p)
    return "not a duration in seconds (e.g. 10 or 2.5)";
  for (int i = nfrac; i < 3; i++)
    frac *= 10;
  *out_ms = whole * 1000 + frac;
  if (*out_ms < min_s * 1000 || *out_ms > max_s * 1000)
    return "out of range";
  return NULL;
}

static const char *parse_level(const char *v, int64_t *out)
{
  static const char *const names[] = {"debug", "info", "warn", "error"};
  for (size_t i = 0; i < TS_ARRAY_LEN(names); i++) {
    if (ts_strcaseeq(v, names[i])) {
      *out = (int64_t)i;
      return NULL;
    }
  }
  return "not a log level (debug, info, warn or error)";
}

static const char *parse_bool(const char *v, int64_t *out)
{
  static const char *const names[] = {"no", "yes", "false", "true", "off", "on", "0", "1"};
  for (size_t i = 0; i < TS_ARRAY_LEN(names); i++) {
    if (ts_strcaseeq(v, names[i])) {
      *out = (int64_t)(i % 2);
      return NULL;
    }
  }
  return "not yes or no";
}

/* ---- the inih glue -------------------------------------------------------- */

typedef struct load_ctx {
  cfg *c;
  FILE *f;
  const char *path;
  int line; /* line currently being parsed (1-based) */
  int at_line_start;
  int long_line; /* a line did not fit inih's buffer */
  int err_line;  /* first error found by the handler (0 = none) */
  ts_err err_code;
  char err_msg[400];
  unsigned char seen[TS_ARRAY_LEN(keys)];
} load_ctx;

static void ctx_fail(load_ctx *x, ts_err code, const char *fmt, ...) TS_PRINTF(3, 4);
static void ctx_fail(load_ctx *x, ts_err code, const char *fmt, ...)
{
  va_list ap;
  if (x->err_line)
    return; /* the first error is the one reported */
  x->err_line = x->line;
  x->err_code = code;
  va_start(ap, fmt);
  vsnprintf(x->err_msg, sizeof x->err_msg, fmt, ap);
  va_end(ap);
}

/* An fgets-style reader that counts lines, because the inih handler is not
 * told the line number. A chunk without a newline that is not the file's
 * last one means the line was longer than inih's buffer: inih would parse
 * its rest as a line of its own, so that is an error here. */
static char *ctx_reader(char *str, int num, void *stream)
{
  load_ctx *x = stream;
  char *r;
  size_t n;
  if (x->at_line_start)
    x->line++;
  r = fgets(str, num, x->f);
  if (!r)
    return NULL;
  n = strlen(r);
  x->at_line_start = n > 0 && r[n - 1] == '\n';
  if (!x->at_line_start && !feof(x->f) && !x->long_line) {
    x->long_line = 1;
    ctx_fail(x, TS_EINVAL, "line longer than %d bytes", num - 2);
  }
  return r;
}

static int valid_addr(const char *s)
{
  unsigned char tmp[16];
  return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

static int ctx_handler(void *user, const char *section, const char *name, const char *value)
{
  load_ctx *x = user;
  const key_def *k = NULL;
  size_t i;
  int64_t v = 0;
  const char *why = NULL;
  int section_known = 0;

  if (x->long_line && x->err_line == x->line)
    return 1; /* the rest of an over-long line: already reported */
  for (i = 0; i < TS_ARRAY_LEN(keys); i++) {
    if (strcmp(keys[i].section, section) != 0)
      continue;
    section_known = 1;
    if (strcmp(keys[i].name, name) == 0) {
      k = &keys[i];
      break;
    }
  }
  if (!section_known) {
    if (!section[0])
      ctx_fail(x, TS_EINVAL, "key '%s' outside any section", name);
    else
      ctx_fail(x, TS_EINVAL, "unknown section [%s]", section);
    return 0;
  }
  if (!k) {
    ctx_fail(x, TS_EINVAL, "unknown key '%s' in section [%s]", name, section);
    return 0;
  }
  /* A second assignment (or an indented continuation line, which inih
   * reports as the same key again) is almost always a mistake. */
  if (x->seen[i]) {
    ctx_fail(x, TS_EINVAL, "key '%s' in section [%s] given twice", name, section);
    return 0;
  }
  x->seen[i] = 1;

  switch (k->kind) {
  case K_ADDR:
  case K_STR:
    if (!ts_utf8_valid(value, strlen(value))) {
      why = "not valid UTF-8";
      break;
    }
    if (k->kind == K_ADDR && !valid_addr(value)) {
      why = "not a numeric IPv4 or IPv6 address";
      break;
    }
    if (!set_str(str_field(x->c, k), value)) {
      ctx_fail(x, TS_ENOMEM, "out of memory");
      return 0;
    }
    return 1;
  case K_INT:
  case K_INT64:
  case K_SECS:
    why = parse_int_range(value, k->min, k->max, &v);
    break;
  case K_BYTES:
    why = parse_bytes(value, k->min, k->max, &v);
    break;
  case K_SECS_MS:
    why = parse_secs_ms(value, k->min, k->max, &v);
    break;
  case K_LEVEL:
    why = parse_level(value, &v);
    break;
  case K_BOOL:
    why = parse_bool(value, &v);
    break;
  }
  if (why) {
    if (!strcmp(why, "out of range"))
      ctx_fail(x, TS_EINVAL, "%s.%s = '%s': out of range (%lld to %lld)", section, name, value,
               (long long)k->min, (long long)k->max);
    else
      ctx_fail(x, TS_EINVAL, "%s.%s = '%s': %s", section, name, value, why);
    return 0;
  }
  switch (k->kind) {
  case K_INT64:
    *(int64_t *)((char *)x->c + k->off) = v;
    break;
  case K_BYTES:
    *(size_t *)((char *)x->c + k->off) = (size_t)v;
    break;
  default: /* K_INT, K_SECS, K_SECS_MS, K_LEVEL, K_BOOL: bounded well inside int */
    *(int *)((char *)x->c + k->off) = (int)v;
    break;
  }
  return 1;
}

ts_err cfg_load(cfg *c, const char *path, ts_error *err)
{
  load_ctx x;
  int rc;
  memset(&x, 0, sizeof x);
  x.c = c;
  x.path = path;
  x.at_line_start = 1;
  x.f = fopen(path, "r");
  if (!x.f)
    return ts_fail(err, TS_EINVAL, 0, "%s: cannot open: %s", path, strerror(errno));
  rc = ini_parse_stream(ctx_reader, &x, ctx_handler, &x);
  fclose(x.f);
  if (rc == 0 && !x.err_line)
    return TS_OK;
  if (rc == -2)
    return ts_fail(err, TS_ENOMEM, 0, "%s: out of memory", path);
  /* inih returns the first line that failed, whether the handler refused it
   * or the line itself is malformed (no '=', unclosed '['). Our message
   * belongs to that line only if the handler set it there. */
  if (x.err_line && (rc <= 0 || x.err_line <= rc)) {
    ts_fail(err, x.err_code, 0, "%s:%d: %s", path, x.err_line, x.err_msg);
    if (err)
      err->line = x.err_line;
    return x.err_code;
  }
  ts_fail(err, TS_EINVAL, 0, "%s:%d: syntax error (expected [section], key = value or a comment)",
          path, rc);
  if (err)
    err->line = rc;
  return TS_EINVAL;
}

/* ---- derived fields and consistency ---------------------------------------- */

static int is_wildcard(const char *addr)
{
  return !strcmp(addr, "0.0.0.0") || !strcmp(addr, "::") || !strcmp(addr, "0:0:0:0:0:0:0:0");
}

/* Splits base_url into its checked form (no trailing slash) and the path
 * prefix the router matches ("" for a service at the root). */
static ts_err derive_prefix(cfg *c, ts_error *err)
{
  const char *u = c->base_url, *host, *path;
  size_t n = strlen(u);
  char *p;

  while (n > 0 && u[n - 1] == '/')
    n--;
  if (!strncmp(u, "http://", 7))
    host = u + 7;
  else if (!strncmp(u, "https://", 8))
    host = u + 8;
  else
    return ts_fail(err, TS_EINVAL, 0, "base_url '%s' must start with http:// or https://", u);
  if (strpbrk(u, "?# \t\r\n"))
    return ts_fail(err, TS_EINVAL, 0,
                   "base_url '%s' must not contain a query, a fragment or blanks", u);
  path = strchr(host, '/');
  if (path == host || host >= u + n)
    return ts_fail(err, TS_EINVAL, 0, "base_url '%s' has no host", u);
  u = c->base_url;
  if (!path || path >= u + n)
    path = u + n; /* no path, or only slashes: the service is at the root */
  p = strndup(path, (size_t)(u + n - path));
  if (!p)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  if (strstr(p, "//")) {
    free(p);
    return ts_fail(err, TS_EINVAL, 0, "base_url '%s' has an empty path segment", c->base_url);
  }
  c->base_url[n] = '\0';
  free(c->path_prefix);
  c->path_prefix = p;
  return TS_OK;
}

/* ---- [adql] ------------------------------------------------------------ */

/* Splits `s` at `sep` into trimmed, non-empty pieces in the arena. */
static const char **split_list(ts_arena *a, const char *s, char sep, size_t *n)
{
  size_t cap = 1;
  for (const char *p = s; *p; p++)
    cap += *p == sep;
  const char **out = ts_arena_calloc(a, cap, sizeof *out);
  *n = 0;
  if (!out)
    return NULL;
  for (const char *p = s;;) {
    const char *e = strchr(p, sep);
    const char *end = e ? e : p + strlen(p);
    while (p < end && isspace((unsigned char)*p))
      p++;
    const char *q = end;
    while (q > p && isspace((unsigned char)q[-1]))
      q--;
    if (q > p)
      out[(*n)++] = ts_arena_strndup(a, p, (size_t)(q - p));
    if (!e)
      break;
    p = e + 1;
  }
  return out;
}

ts_err cfg_adql_meta(const cfg *c, ts_arena *a, adql_meta *am, ts_error *err)
{
  size_t ngeom = 0, ncs = 0, nu = 0, nstd = 0, ngf = 0;
  const char **geom = split_list(a, c->adql_geometry ? c->adql_geometry : "", ',', &ngeom);
  const char **cs = split_list(a, c->adql_coordsys ? c->adql_coordsys : "", ',', &ncs);
  const char **decl = split_list(a, c->adql_udfs ? c->adql_udfs : "", ';', &nu);
  const adql_udf *std = c->adql_std_udfs ? adql_std_udfs(&nstd) : NULL;
  const char *const *gf = adql_geometry_functions(&ngf);
  adql_udf *udfs = ts_arena_calloc(a, nu + nstd + 1, sizeof *udfs);
  if (!geom || !cs || !decl || !udfs)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  for (size_t i = 0; i < ngeom; i++) {
    size_t k = 0;
    while (k < ngf && !ts_strcaseeq(gf[k], geom[i]))
      k++;
    if (k == ngf)
      return ts_fail(err, TS_EINVAL, 0, "[adql] geometry: unknown geometry function '%s'", geom[i]);
  }
  /* Configured UDFs first: they may replace a default of the same name. */
  size_t n = 0;
  for (size_t i = 0; i < nu; i++) {
    const char *d = decl[i], *paren = strchr(d, '('), *arrow = strstr(d, "->");
    const char *eq = arrow ? strchr(arrow, '=') : NULL;
    size_t nl = paren ? (size_t)(paren - d) : 0;
    while (nl > 0 && isspace((unsigned char)d[nl - 1]))
      nl--;
    if (!paren || !arrow || !eq || nl == 0)
      return ts_fail(err, TS_EINVAL, 0,
                     "[adql] udfs: '%.80s' is not 'name(arg TYPE, ...) -> TYPE = SQL'", d);
    for (size_t k = 0; k < nl; k++)
      if (!isalnum((unsigned char)d[k]) && d[k] != '_')
        return ts_fail(err, TS_EINVAL, 0, "[adql] udfs: bad function name in '%.80s'", d);
    const char *sig_end = eq;
    while (sig_end > d && isspace((unsigned char)sig_end[-1]))
      sig_end--;
    const char *sql = eq + 1;
    while (isspace((unsigned char)*sql))
      sql++;
    if (!*sql)
      return ts_fail(err, TS_EINVAL, 0, "[adql] udfs: '%.80s' has no SQL translation", d);
    udfs[n].name = ts_arena_strndup(a, d, nl);
    udfs[n].signature = ts_arena_strndup(a, d, (size_t)(sig_end - d));
    udfs[n].sql = ts_arena_strdup(a, sql);
    if (!udfs[n].name || !udfs[n].signature || !udfs[n].sql)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    n++;
  }
  for (size_t i = 0; i < nstd; i++) {
    size_t k = 0;
    while (k < n && !ts_strcaseeq(udfs[k].name, std[i].name))
      k++;
    if (k == n)
      udfs[n++] = std[i];
  }
  am->nudfs = n;
  am->udfs = udfs;
  am->ngeom = ngeom;
  am->geom = geom;
  am->ncoordsys = ncs;
  am->coordsys = cs;
  return TS_OK;
}

ts_err cfg_finish(cfg *c, ts_error *err)
{
  if (!c->listen || !c->dsn || !c->query_dsn || !c->service_title || !c->service_description ||
      !c->jobs_result_store || !c->jobs_on_restart || !c->spool_dir || !c->trusted_proxies ||
      !c->pid_file || !c->metrics_allow)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  /* Uploads are spooled there: a typo should stop the start, not the
   * first upload. */
  if (c->spool_dir[0] && access(c->spool_dir, W_OK | X_OK) != 0)
    return ts_fail(err, TS_EINVAL, 0, "[server] spool_dir '%s' is not a writable directory: %s",
                   c->spool_dir, strerror(errno));
  {
    http_proxies px;
    ts_error e;
    if (http_proxies_parse(c->trusted_proxies, &px, &e))
      return ts_fail(err, TS_EINVAL, 0, "[server] trusted_proxies: %s", e.msg);
  }
  if (strcmp(c->jobs_on_restart, "requeue") != 0 && strcmp(c->jobs_on_restart, "error") != 0)
    return ts_fail(err, TS_EINVAL, 0, "[jobs] on_restart must be requeue or error, not '%s'",
                   c->jobs_on_restart);
  if (strcmp(c->jobs_result_store, "pg") != 0 &&
      (strncmp(c->jobs_result_store, "fs:", 3) != 0 || !c->jobs_result_store[3]))
    return ts_fail(err, TS_EINVAL, 0, "[jobs] result_store must be fs:DIRECTORY or pg, not '%s'",
                   c->jobs_result_store);
  if (c->jobs_duration_max_s && c->jobs_duration_s > c->jobs_duration_max_s)
    return ts_fail(err, TS_EINVAL, 0,
                   "[jobs] execution_duration is larger than execution_duration_max");
  if (c->jobs_destruction_s > c->jobs_destruction_max_s)
    return ts_fail(err, TS_EINVAL, 0, "[jobs] destruction is larger than destruction_max");

  if (!c->adql_geometry || !c->adql_coordsys || !c->adql_udfs)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  {
    /* Check the [adql] declarations now, so a typo stops the start. */
    ts_arena *a = ts_arena_new(0, 1u << 20);
    adql_meta am = {0};
    ts_err rc = a ? cfg_adql_meta(c, a, &am, err) : ts_fail(err, TS_ENOMEM, 0, "out of memory");
    ts_arena_free(a);
    if (rc)
      return rc;
  }
  if (!c->base_url || !c->base_url[0]) {
    char url[128];
    const char *host = c->listen;
    if (c->port == 0)
      return ts_fail(err, TS_EINVAL, 0,
                     "port = 0 (any free port) needs an explicit base_url in [server]");
    /* A wildcard address is where we listen, not where clients connect:
     * fall back to loopback, which at least works on this host. */
    if (is_wildcard(host))
      host = strchr(host, ':') ? "::1" : "127.0.0.1";
    snprintf(url, sizeof url, strchr(host, ':') ? "http://[%s]:%d/tap" : "http://%s:%d/tap", host,
             c->port);
    if (!set_str(&c->base_url, url))
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  if (derive_prefix(c, err) != TS_OK)
    return err ? err->code : TS_EINVAL;

  if (c->maxrec_default > c->maxrec_limit)
    return ts_fail(err, TS_EINVAL, 0, "maxrec_default (%lld) is larger than maxrec_limit (%lld)",
                   (long long)c->maxrec_default, (long long)c->maxrec_limit);
  if (c->pool_size < 1)
    return ts_fail(err, TS_EINVAL, 0, "pool_size must be at least 1");
  if (c->fetch_size < 1)
    return ts_fail(err, TS_EINVAL, 0, "fetch_size must be at least 1");
  if (c->max_connections < 1)
    return ts_fail(err, TS_EINVAL, 0, "max_connections must be at least 1");
  if (c->port < 0 || c->port > 65535)
    return ts_fail(err, TS_EINVAL, 0, "port %d is not a TCP port", c->port);
  if (c->log_level < TS_LOG_DEBUG || c->log_level > TS_LOG_ERROR)
    return ts_fail(err, TS_EINVAL, 0, "log level out of range");
  return TS_OK;
}
