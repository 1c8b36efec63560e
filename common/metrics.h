/* common/metrics.h: counters, gauges and histograms with fixed buckets,
 * lock-free (relaxed atomics: any thread may add, a scrape reads), and
 * their Prometheus text exposition (format 0.0.4). Prefix ts_.
 *
 * A metric here has no name and no labels: the code that exposes it
 * names it and writes its label set, which therefore stays bounded by
 * what that code enumerates (never a raw path or a client's value). */
#ifndef TS_COMMON_METRICS_H
#define TS_COMMON_METRICS_H

#include "common/common.h"

#include <stdatomic.h>
#include <stdint.h>

/* A monotonic count. Zero-initialised memory is a counter at 0. */
typedef struct ts_counter {
  atomic_uint_fast64_t v;
} ts_counter;

static inline void ts_counter_add(ts_counter *c, uint64_t n)
{
  atomic_fetch_add_explicit(&c->v, n, memory_order_relaxed);
}
static inline uint64_t ts_counter_get(const ts_counter *c)
{
  return atomic_load_explicit(&((ts_counter *)c)->v, memory_order_relaxed);
}

enum { TS_HIST_BUCKETS_MAX = 16 };

/* A histogram of integer observations (microseconds, bytes, rows) in
 * fixed buckets, exposed in a unit worth `per` observation units (1e6
 * for microseconds shown as seconds). */
typedef struct ts_hist {
  size_t nb;                                           /* finite buckets */
  uint64_t le[TS_HIST_BUCKETS_MAX];                    /* upper bounds, ascending */
  double per;                                          /* observation units per exposed unit */
  atomic_uint_fast64_t count[TS_HIST_BUCKETS_MAX + 1]; /* per bucket; [nb] is +Inf */
  atomic_uint_fast64_t sum;
} ts_hist;

/* nb (at most TS_HIST_BUCKETS_MAX) ascending upper bounds. */
void ts_hist_init(ts_hist *h, const uint64_t *le, size_t nb, double per);
void ts_hist_observe(ts_hist *h, uint64_t v);

/* ---- exposition ----------------------------------------------------------
 * Each appends to `b`; TS_ENOMEM or TS_ELIMIT from the buffer. `labels`
 * is NULL or a label list without braces, as ts_metrics_label writes it
 * ("a=\"x\",b=\"y\""). */
/* "# HELP name help" and "# TYPE name type" (counter, gauge, histogram). */
ts_err ts_metrics_head(ts_buf *b, const char *name, const char *type, const char *help);
/* One sample line: name{labels} value. */
ts_err ts_metrics_sample(ts_buf *b, const char *name, const char *labels, double v);
/* name_bucket{labels,le="..."} (cumulative, up to +Inf), name_sum and
 * name_count. */
ts_err ts_metrics_hist(ts_buf *b, const char *name, const char *labels, const ts_hist *h);
/* Appends name="value" (value escaped: backslash, double quote, newline),
 * preceded by a comma unless b is empty. */
ts_err ts_metrics_label(ts_buf *b, const char *name, const char *value);

#endif
