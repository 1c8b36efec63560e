/* Buffered output for encoders (see stream.h). */
#include "stream/stream.h"

#include <stdio.h>
#include <stdlib.h>

/* ts_buf_xml writes at most six bytes per input byte ("&quot;"). */
enum { OUT_XML_GROWTH = 6 };

ts_err stream_out_init(stream_out *o, size_t cap, stream_flush_fn flush, void *ud)
{
  memset(o, 0, sizeof *o);
  o->cap = cap ? cap : 64 * 1024;
  o->buf = malloc(o->cap);
  o->flush = flush;
  o->ud = ud;
  if (!o->buf)
    return o->err = TS_ENOMEM;
  return TS_OK;
}

void stream_out_free(stream_out *o)
{
  free(o->buf);
  o->buf = NULL;
  o->len = o->cap = 0;
}

ts_err stream_out_flush(stream_out *o)
{
  if (o->err)
    return o->err;
  if (o->len == 0)
    return TS_OK;
  ts_err rc = o->flush(o->ud, o->buf, o->len);
  o->total += o->len;
  o->len = 0;
  if (rc)
    o->err = rc;
  return rc;
}

ts_err stream_out__slow_put(stream_out *o, const void *p, size_t n)
{
  const char *s = p;
  if (o->err)
    return o->err;
  while (n > 0) {
    size_t room = o->cap - o->len;
    if (room == 0) {
      ts_err rc = stream_out_flush(o);
      if (rc)
        return rc;
      room = o->cap;
    }
    size_t k = n < room ? n : room;
    memcpy(o->buf + o->len, s, k);
    o->len += k;
    s += k;
    n -= k;
  }
  return TS_OK;
}

char *stream_out_reserve(stream_out *o, size_t n)
{
  if (o->err || n > o->cap)
    return NULL;
  if (o->cap - o->len < n && stream_out_flush(o))
    return NULL;
  return o->buf + o->len;
}

ts_err stream_out_printf(stream_out *o, const char *fmt, ...)
{
  char tmp[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  va_end(ap);
  if (n < 0)
    return TS_EINTERNAL;
  if ((size_t)n < sizeof tmp)
    return stream_out_put(o, tmp, (size_t)n);
  char *big = malloc((size_t)n + 1);
  if (!big)
    return o->err = TS_ENOMEM;
  va_start(ap, fmt);
  vsnprintf(big, (size_t)n + 1, fmt, ap);
  va_end(ap);
  ts_err rc = stream_out_put(o, big, (size_t)n);
  free(big);
  return rc;
}

ts_err stream_out_xml(stream_out *o, const char *s, size_t n)
{
  /* Fast path: nothing to escape. */
  size_t i = 0;
  for (; i < n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == '&' || c == '<' || c == '>' || c == '"' || c == '\'' || c < 0x20 || c >= 0x80)
      break;
  }
  if (i == n)
    return stream_out_put(o, s, n);
  ts_buf b;
  ts_buf_init(&b, n * OUT_XML_GROWTH);
  ts_err rc = ts_buf_xml(&b, s, n);
  if (!rc)
    rc = stream_out_put(o, b.data, b.len);
  ts_buf_free(&b);
  return rc;
}
