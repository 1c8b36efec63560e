/* Status codes and the user-facing error struct. */
#include "common.h"

#include <stdio.h>
#include <string.h>

static const struct {
  const char *name;
  const char *text;
  int http;
} errtab[TS_ERR_COUNT] = {[TS_OK] = {"OK", "success", 200},
#define XX(n, h, t) [TS_##n] = {#n, t, h},
                          TS_ERRMAP(XX)
#undef XX
};

const char *ts_err_name(ts_err code)
{
  if ((int)code < 0 || code >= TS_ERR_COUNT)
    return "EUNKNOWN";
  return errtab[code].name;
}

const char *ts_err_text(ts_err code)
{
  if ((int)code < 0 || code >= TS_ERR_COUNT)
    return "unknown error";
  return errtab[code].text;
}

int ts_err_http(ts_err code)
{
  if ((int)code < 0 || code >= TS_ERR_COUNT || errtab[code].http == 0)
    return 500;
  return errtab[code].http;
}

ts_err ts_failv(ts_error *e, ts_err code, int pos, const char *fmt, va_list ap)
{
  if (!e)
    return code;
  e->code = code;
  e->pos = pos;
  e->line = 0;
  e->col = 0;
  if (fmt)
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
  else
    snprintf(e->msg, sizeof e->msg, "%s", ts_err_text(code));
  return code;
}

ts_err ts_fail(ts_error *e, ts_err code, int pos, const char *fmt, ...)
{
  va_list ap;
  va_start(ap, fmt);
  ts_failv(e, code, pos, fmt, ap);
  va_end(ap);
  return code;
}

void ts_error_clear(ts_error *e)
{
  if (!e)
    return;
  e->code = TS_OK;
  e->pos = e->line = e->col = 0;
  e->msg[0] = '\0';
}

int ts_charpos(const char *text, size_t len, long byteoff)
{
  int pos = 1;
  if (byteoff < 0)
    return 0;
  if ((size_t)byteoff > len)
    byteoff = (long)len;
  for (long i = 0; i < byteoff; i++)
    pos += ((unsigned char)text[i] & 0xC0) != 0x80;
  return pos;
}

void ts_error_set_linecol(ts_error *e, const char *text, size_t len)
{
  int chars = 0, line = 1, col = 1;
  if (!e || e->pos <= 0 || !text)
    return;
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)text[i];
    if ((c & 0xC0) == 0x80)
      continue;
    if (++chars == e->pos)
      break;
    if (c == '\n') {
      line++;
      col = 1;
    } else {
      col++;
    }
  }
  e->line = line;
  e->col = col;
}
