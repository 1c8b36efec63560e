/* Time, randomness and one-line logging. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

int64_t ts_now_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ts_iso8601(char out[32], int64_t unix_ms, int with_ms)
{
  time_t t = (time_t)(unix_ms / 1000);
  struct tm tm;
  gmtime_r(&t, &tm);
  size_t n = strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
  if (with_ms)
    snprintf(out + n, 32 - n, ".%03dZ", (int)(unix_ms % 1000));
  else
    snprintf(out + n, 32 - n, "Z");
}

ts_err ts_random(void *buf, size_t n)
{
  unsigned char *p = buf;
  while (n > 0) {
    ssize_t r = getrandom(p, n, 0);
    if (r < 0) {
      if (errno == EINTR)
        continue;
      return TS_EIO;
    }
    p += r;
    n -= (size_t)r;
  }
  return TS_OK;
}

ts_err ts_random_hex(char *out, size_t nbytes)
{
  unsigned char raw[64];
  static const char hex[] = "0123456789abcdef";
  if (nbytes > sizeof raw)
    return TS_EINVAL;
  ts_err rc = ts_random(raw, nbytes);
  if (rc)
    return rc;
  for (size_t i = 0; i < nbytes; i++) {
    out[2 * i] = hex[raw[i] >> 4];
    out[2 * i + 1] = hex[raw[i] & 15];
  }
  out[2 * nbytes] = '\0';
  return TS_OK;
}

static ts_log_level log_level = TS_LOG_INFO;

void ts_log_set_level(ts_log_level lvl) { log_level = lvl; }
ts_log_level ts_log_get_level(void) { return log_level; }

void ts_log(ts_log_level lvl, const char *reqid, const char *fmt, ...)
{
  static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  char msg[2048], line[4200], ts[32];
  size_t n = 0;
  va_list ap;
  if (lvl < log_level)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ts_iso8601(ts, ts_now_ms(), 1);
  n = (size_t)snprintf(line, sizeof line, "%s %s [%s] ", ts, names[lvl], reqid ? reqid : "-");
  for (const char *p = msg; *p && n + 3 < sizeof line; p++) {
    if (*p == '\n' || *p == '\r') {
      line[n++] = '\\';
      line[n++] = *p == '\n' ? 'n' : 'r';
    } else {
      line[n++] = *p;
    }
  }
  line[n++] = '\n';
  /* One write(2) per event keeps lines whole when several threads log. */
  ssize_t w = write(STDERR_FILENO, line, n);
  (void)w;
}
