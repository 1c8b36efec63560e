/* Counters and histograms (relaxed atomics) and the Prometheus text
 * exposition format 0.0.4. */
#include "common/metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ts_hist_init(ts_hist *h, const uint64_t *le, size_t nb, double per)
{
  if (nb > TS_HIST_BUCKETS_MAX)
    nb = TS_HIST_BUCKETS_MAX;
  h->nb = nb;
  memcpy(h->le, le, nb * sizeof *le);
  h->per = per;
  for (size_t i = 0; i <= TS_HIST_BUCKETS_MAX; i++)
    atomic_init(&h->count[i], 0);
  atomic_init(&h->sum, 0);
}

void ts_hist_observe(ts_hist *h, uint64_t v)
{
  size_t i = 0;
  while (i < h->nb && v > h->le[i])
    i++;
  atomic_fetch_add_explicit(&h->count[i], 1, memory_order_relaxed);
  atomic_fetch_add_explicit(&h->sum, v, memory_order_relaxed);
}

/* The shortest %g form of v that reads back as v, in out (32 bytes). */
static const char *shortest(double v, char *out)
{
  for (int p = 15; p <= 17; p++) {
    snprintf(out, 32, "%.*g", p, v);
    if (strtod(out, NULL) == v)
      break;
  }
  return out;
}

/* A sample value as the format wants it: integers without a fraction,
 * others with enough digits to read back, NaN and the infinities by name. */
static ts_err put_value(ts_buf *b, double v)
{
  if (isnan(v))
    return ts_buf_puts(b, "NaN");
  if (isinf(v))
    return ts_buf_puts(b, v > 0 ? "+Inf" : "-Inf");
  if (v == floor(v) && fabs(v) < 9.007199254740992e15)
    return ts_buf_printf(b, "%.0f", v);
  return ts_buf_puts(b, shortest(v, (char[32]){0}));
}

ts_err ts_metrics_head(ts_buf *b, const char *name, const char *type, const char *help)
{
  /* HELP text escapes backslash and newline; ours are literals without. */
  return ts_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static ts_err sample_labels(ts_buf *b, const char *name, const char *suffix, const char *labels,
                            const char *extra, double v)
{
  int any = (labels && *labels) || extra;
  ts_err rc =
      ts_buf_printf(b, "%s%s%s%s%s%s%s ", name, suffix, any ? "{" : "", labels ? labels : "",
                    labels && *labels && extra ? "," : "", extra ? extra : "", any ? "}" : "");
  if (!rc)
    rc = put_value(b, v);
  if (!rc)
    rc = ts_buf_puts(b, "\n");
  return rc;
}

ts_err ts_metrics_sample(ts_buf *b, const char *name, const char *labels, double v)
{
  return sample_labels(b, name, "", labels, NULL, v);
}

ts_err ts_metrics_hist(ts_buf *b, const char *name, const char *labels, const ts_hist *h)
{
  ts_hist *m = (ts_hist *)h; /* atomic loads take a non-const pointer */
  uint64_t cum = 0;
  char le[64];
  ts_err rc = TS_OK;
  for (size_t i = 0; !rc && i <= h->nb; i++) {
    cum += atomic_load_explicit(&m->count[i], memory_order_relaxed);
    if (i < h->nb)
      snprintf(le, sizeof le, "le=\"%s\"", shortest((double)h->le[i] / h->per, (char[32]){0}));
    else
      snprintf(le, sizeof le, "le=\"+Inf\"");
    rc = sample_labels(b, name, "_bucket", labels, le, (double)cum);
  }
  if (!rc)
    rc = sample_labels(b, name, "_sum", labels, NULL,
                       (double)atomic_load_explicit(&m->sum, memory_order_relaxed) / h->per);
  if (!rc)
    rc = sample_labels(b, name, "_count", labels, NULL, (double)cum);
  return rc;
}

ts_err ts_metrics_label(ts_buf *b, const char *name, const char *value)
{
  ts_err rc = ts_buf_printf(b, "%s%s=\"", b->len ? "," : "", name);
  for (const char *p = value; !rc && *p; p++) {
    if (*p == '\\')
      rc = ts_buf_puts(b, "\\\\");
    else if (*p == '"')
      rc = ts_buf_puts(b, "\\\"");
    else if (*p == '\n')
      rc = ts_buf_puts(b, "\\n");
    else
      rc = ts_buf_append(b, p, 1);
  }
  if (!rc)
    rc = ts_buf_puts(b, "\"");
  return rc;
}
