/* Time, randomness and one-line logging. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
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

uint64_t ts_hash64(const void *p, size_t n, uint64_t h)
{
  const unsigned char *s = p;
  for (size_t i = 0; i < n; i++)
    h = (h ^ s[i]) * 1099511628211ull;
  return h;
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
/* The instance tag of every line: written once into log_tag_buf, then
 * published through the pointer (threads may be logging meanwhile). */
static char log_tag_buf[16];
static _Atomic(const char *) log_tag;

void ts_log_set_instance(const char *id)
{
  if (atomic_load(&log_tag) || !id || !id[0])
    return;
  snprintf(log_tag_buf, sizeof log_tag_buf, "%.8s", id);
  atomic_store(&log_tag, log_tag_buf);
}

void ts_log_set_level(ts_log_level lvl)
{
  log_level = lvl;
}
ts_log_level ts_log_get_level(void)
{
  return log_level;
}

/* Appends the escaped form of msg to line[n..cap): control characters
 * (C0, DEL, C1), invalid UTF-8 and the backslash itself are escaped (\n,
 * \r, \t, \\, else \xHH per byte), so a log line never carries terminal
 * sequences or fake line breaks and reads back unambiguously. Stops when a
 * further escape would not fit; returns the new length. */
static size_t log_escape(char *line, size_t n, size_t cap, const char *msg)
{
  static const char hex[] = "0123456789abcdef";
  const unsigned char *p = (const unsigned char *)msg;
  size_t len = strlen(msg);
  for (size_t i = 0; i < len;) {
    unsigned c = p[i];
    size_t k = ts_utf8_seq(p + i, len - i);
    int c1 = k == 2 && c == 0xC2 && p[i + 1] < 0xA0; /* U+0080..U+009F */
    if (k && c >= 0x20 && c != 0x7f && c != '\\' && !c1) {
      if (n + k >= cap)
        break;
      memcpy(line + n, p + i, k);
      n += k;
      i += k;
      continue;
    }
    k = c1 ? 2 : 1;
    if (n + 4 * k >= cap)
      break;
    for (size_t j = 0; j < k; j++, i++) {
      unsigned b = p[i];
      char letter = b == '\n' ? 'n' : b == '\r' ? 'r' : b == '\t' ? 't' : b == '\\' ? '\\' : 0;
      line[n++] = '\\';
      if (letter) {
        line[n++] = letter;
      } else {
        line[n++] = 'x';
        line[n++] = hex[b >> 4];
        line[n++] = hex[b & 15];
      }
    }
  }
  return n;
}

void ts_log(ts_log_level lvl, const char *reqid, const char *fmt, ...)
{
  static const char *names[] = {"DEBUG", "INFO", "WARN", "ERROR"};
  char msg[2048], line[4 * sizeof msg + 160], ts[32];
  size_t n = 0;
  va_list ap;
  if (lvl < log_level)
    return;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  ts_iso8601(ts, ts_now_ms(), 1);
  const char *tag = atomic_load(&log_tag);
  n = (size_t)snprintf(line, 160, "%s %s %s [", ts, names[lvl], tag ? tag : "-");
  n = log_escape(line, n, 160, reqid ? reqid : "-");
  line[n++] = ']';
  line[n++] = ' ';
  n = log_escape(line, n, sizeof line - 1, msg);
  line[n++] = '\n';
  /* One write(2) per event keeps lines whole when several threads log. */
  ssize_t w = write(STDERR_FILENO, line, n);
  (void)w;
}
