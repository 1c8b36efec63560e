/* tapserve/tap/qcache.c: /sync translations reused.
 *
 * Parsing, checking and translating an ADQL query is a fifth of what a
 * small /sync request costs this process, and clients repeat the same
 * text (a page polled, a script in a loop, a cone search benchmark). An
 * entry keeps a query's checked form and its SQL for one text, MAXREC and
 * TAP_SCHEMA generation, in an arena of its own that also holds the
 * snapshot the checked form points into. Requests borrow an entry (a
 * reference released when their arena goes), so an entry replaced in its
 * slot lives until its last request ends.
 *
 * Loop thread only (the /sync path); only requests without per-request
 * tables (uploads, user tables) use it. Slots are direct-mapped by a hash
 * of the text; a collision replaces the older entry. Bounded: QC_SLOTS
 * entries of at most QC_ADQL_MAX bytes of ADQL and QC_ARENA_MAX bytes of
 * translation each. Errors are never kept: a query that fails is
 * translated again each time and fails the same way. */
#include "tapserve/tapserve.h"

#include <stdlib.h>
#include <string.h>

enum { QC_SLOTS = 128, QC_ADQL_MAX = 4096, QC_ARENA_MAX = 256 << 10 };

typedef struct qc_entry {
  uint64_t hash, gen;
  int64_t maxrec;
  int refs;    /* 1 for the slot while it is there, 1 per request using it */
  ts_arena *a; /* everything below, and a hold on the TAP_SCHEMA snapshot */
  char *adql;
  adql_query *q;
  char *sql;
} qc_entry;

struct tap_qcache {
  qc_entry *slot[QC_SLOTS];
  uint64_t made, reused;
};

static void qc_unref(void *arg)
{
  qc_entry *e = arg;
  if (--e->refs > 0)
    return;
  ts_arena_free(e->a); /* releases the snapshot */
  free(e);
}

/* A new entry for out's text and MAXREC: translated in its own arena. */
static ts_err qc_make(const ts_app *app, tap_query *out, uint64_t h, uint64_t gen, qc_entry **ep,
                      ts_error *err)
{
  qc_entry *e = calloc(1, sizeof *e);
  tap_query t = *out;
  ts_err rc;
  if (!e || !(e->a = ts_arena_new(0, TS_QUERY_ARENA_CAP))) {
    free(e);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  e->refs = 1;
  e->hash = h;
  e->gen = gen;
  e->maxrec = out->maxrec;
  /* The entry outlives the request: its text is its own. */
  t.adql = e->adql = ts_arena_strdup(e->a, out->adql);
  rc = e->adql ? tap__prepare_translate(app, NULL, e->a, &t, err)
               : ts_fail(err, TS_ENOMEM, 0, "out of memory");
  if (rc) {
    qc_unref(e);
    return rc;
  }
  e->q = t.q;
  e->sql = t.sql;
  *ep = e;
  return TS_OK;
}

static ts_err prepare_cached(ts_app *app, tap_param_fn get, const void *src, ts_arena *a,
                             tap_query *out, ts_error *err)
{
  ts_err rc = tap__prepare_params(app, get, src, out, err);
  if (rc)
    return rc;
  size_t n = strlen(out->adql);
  if (n > QC_ADQL_MAX)
    return tap__prepare_translate(app, NULL, a, out, err);
  if (!app->qcache && !(app->qcache = calloc(1, sizeof *app->qcache)))
    return tap__prepare_translate(app, NULL, a, out, err);
  struct tap_qcache *c = app->qcache;
  /* The generation is read before the snapshot a new entry takes, so an
   * entry never claims a newer generation than what it was checked
   * against. */
  uint64_t gen = schema_cache_generation(app),
           h = ts_hash64(out->adql, n, TS_HASH64_INIT ^ (uint64_t)out->maxrec);
  qc_entry **slot = &c->slot[h % QC_SLOTS], *e = *slot;
  if (e &&
      (e->hash != h || e->gen != gen || e->maxrec != out->maxrec || strcmp(e->adql, out->adql)))
    e = NULL;
  if (e) {
    c->reused++;
    e->refs++; /* this request's */
  } else {
    rc = qc_make(app, out, h, gen, &e, err);
    if (rc)
      return rc;
    c->made++;
    if (ts_arena_used(e->a) <= QC_ARENA_MAX) {
      if (*slot)
        qc_unref(*slot);
      *slot = e;
      e->refs++; /* the slot's, beside this request's */
    }
  }
  /* This request's reference; without it (out of memory) it uses a
   * translation of its own. */
  if (ts_arena_defer(a, qc_unref, e) != TS_OK) {
    qc_unref(e);
    return tap__prepare_translate(app, NULL, a, out, err);
  }
  out->q = e->q;
  out->sql = e->sql;
  return TS_OK;
}

ts_err tap_prepare_query_cached(ts_app *app, tap_param_fn get, const void *src, ts_arena *a,
                                tap_query *out, ts_error *err)
{
  ts_err rc = prepare_cached(app, get, src, a, out, err);
  return tap_adql_error_for_client(rc, err, out->adql);
}

void tap_qcache_free(ts_app *app)
{
  struct tap_qcache *c = app->qcache;
  if (!c)
    return;
  for (size_t i = 0; i < QC_SLOTS; i++)
    if (c->slot[i])
      qc_unref(c->slot[i]);
  free(c);
  app->qcache = NULL;
}

void tap_qcache_counts(const ts_app *app, uint64_t *made, uint64_t *reused)
{
  *made = app->qcache ? app->qcache->made : 0;
  *reused = app->qcache ? app->qcache->reused : 0;
}
