/* TAP_SCHEMA as live shared state: the current metadata snapshot, and how a
 * new one replaces it while the service runs.
 *
 * The rules (docs/internals/tapserve.md, "TAP_SCHEMA snapshots"):
 *   - a snapshot (meta) never changes once built;
 *   - `cur` is read and replaced under `mu` only: meta_acquire takes the
 *     pointer and its reference in one critical section, so a swap can
 *     never free a snapshot between the two;
 *   - a reader keeps its reference until it is done (a /sync request until
 *     its response ends, a job until its execution ends: meta_hold ties the
 *     reference to their arena), so a swap never changes what a running
 *     query sees; the last release frees the old snapshot, on whichever
 *     thread that is;
 *   - loads run on libuv's thread pool, swaps on the loop thread; one load
 *     at a time, and an event that arrives during a load makes another load
 *     after it (the running one may have read before the change committed);
 *   - a load that fails (a database error, rows meta_build refuses) swaps
 *     nothing: the previous snapshot stays and the reason is logged.
 *
 * Reloads are asked for by the TAP_SCHEMA_UPDATED event (a trigger on every
 * tap_schema table, installed by the cluster state migrations and by
 * schema_cache_watch), by the bus's re-check (a LISTEN connection lost or
 * made: events may have been missed), and by SIGHUP. */
#include "tapserve/tapserve.h"

#include "jobs/events.h"

#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Events closer together than this make one reload: a publishing
 * transaction gives one event, but several transactions in a row (or
 * several instances' tools) should not give one load each. */
enum { SCHEMA_DEBOUNCE_MS = 10 };
/* A load that the database failed (not one that found inconsistent rows:
 * those wait for the next change) is tried again after 1, 2, 4, 8, 16 s;
 * a longer outage ends with the bus's re-check, which reloads. */
enum { SCHEMA_RETRY_MS = 1000, SCHEMA_RETRIES = 5 };

struct schema_cache {
  ts_app *app;
  pthread_mutex_t mu;
  meta *cur;           /* under mu */
  uint64_t generation; /* under mu */
  /* Loop thread only. */
  uv_timer_t timer;
  uv_signal_t sighup;
  int started, stopping;
  int loading, again;
  int retries; /* database failures in a row */
  char why[64];
};

typedef struct load_work {
  uv_work_t work;
  struct schema_cache *sc;
  meta *built;
  ts_err rc;
  ts_error err;
  char why[64];
} load_work;

ts_err schema_cache_new(ts_app *app, meta *initial, ts_error *err)
{
  struct schema_cache *sc = calloc(1, sizeof *sc);
  if (!sc)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  sc->app = app;
  pthread_mutex_init(&sc->mu, NULL);
  sc->cur = initial;
  sc->generation = 1;
  app->schema = sc;
  return TS_OK;
}

void schema_cache_free(ts_app *app)
{
  struct schema_cache *sc = app->schema;
  if (!sc)
    return;
  meta_release(sc->cur);
  pthread_mutex_destroy(&sc->mu);
  free(sc);
  app->schema = NULL;
}

meta *meta_acquire(const ts_app *app)
{
  struct schema_cache *sc = app->schema;
  meta *m;
  if (!sc)
    return NULL;
  pthread_mutex_lock(&sc->mu);
  m = meta_retain(sc->cur);
  pthread_mutex_unlock(&sc->mu);
  return m;
}

static void release_deferred(void *m)
{
  meta_release(m);
}

const meta *meta_hold(const ts_app *app, ts_arena *a)
{
  meta *m = meta_acquire(app);
  if (m && ts_arena_defer(a, release_deferred, m) != TS_OK) {
    meta_release(m);
    return NULL;
  }
  return m;
}

void schema_cache_swap(ts_app *app, meta *m)
{
  struct schema_cache *sc = app->schema;
  meta *old;
  pthread_mutex_lock(&sc->mu);
  old = sc->cur;
  sc->cur = m;
  sc->generation++;
  pthread_mutex_unlock(&sc->mu);
  meta_release(old);
}

uint64_t schema_cache_generation(const ts_app *app)
{
  struct schema_cache *sc = app->schema;
  uint64_t g;
  if (!sc)
    return 0;
  pthread_mutex_lock(&sc->mu);
  g = sc->generation;
  pthread_mutex_unlock(&sc->mu);
  return g;
}

/* ---- loading ------------------------------------------------------------- */

/* Blocking: a new snapshot from the database, or an error. The load
 * borrows a connection from the pool the jobs' worker threads use
 * (app->db): a change makes every instance reload at once, and new
 * connections then would come all together. Without that pool (tests), a
 * connection of its own for the load. */
static ts_err load(struct schema_cache *sc, meta **out, ts_error *err)
{
  jobs_db *db = sc->app->db;
  PGconn *conn = db ? jobs_db_get(db, err) : stream_pg_connect_blocking(sc->app->cfg->dsn, err);
  ts_err rc;
  *out = NULL;
  if (!conn)
    return err->code ? err->code : TS_EDB;
  rc = meta_load(conn, sc->app->cfg, out, err);
  if (db)
    jobs_db_put(db, conn);
  else
    PQfinish(conn);
  return rc;
}

/* The outcome of a load: the new snapshot becomes current, or the old one
 * stays and the log says why. */
static ts_err apply(struct schema_cache *sc, ts_err rc, meta *m, const ts_error *err,
                    const char *why)
{
  if (rc) {
    ts_log(TS_LOG_WARN, NULL,
           "TAP_SCHEMA reload (%s) failed; the previous metadata stays in use: %s", why,
           err->msg[0] ? err->msg : ts_err_text(rc));
    return rc;
  }
  ts_log(TS_LOG_INFO, NULL, "TAP_SCHEMA reloaded (%s): %zu tables", why, meta_adql(m)->ntables);
  schema_cache_swap(sc->app, m);
  return TS_OK;
}

ts_err schema_cache_reload(ts_app *app, ts_error *err)
{
  struct schema_cache *sc = app->schema;
  meta *m;
  ts_err rc;
  if (!sc)
    return ts_fail(err, TS_EINTERNAL, 0, "no metadata cache");
  rc = load(sc, &m, err);
  return apply(sc, rc, m, err, "reload");
}

static void load_run(uv_work_t *w)
{
  load_work *lw = w->data;
  ts_error_clear(&lw->err);
  lw->rc = load(lw->sc, &lw->built, &lw->err);
}

static void on_timer(uv_timer_t *t);

static void load_done(uv_work_t *w, int status)
{
  load_work *lw = w->data;
  struct schema_cache *sc = lw->sc;
  int db_failed = 0;
  sc->loading = 0;
  if (sc->stopping || status != 0)
    meta_release(lw->built);
  else
    db_failed = apply(sc, lw->rc, lw->built, &lw->err, lw->why) != TS_OK && lw->rc != TS_EINVAL;
  free(lw);
  if (sc->stopping)
    return;
  if (sc->again) {
    sc->again = 0;
    sc->retries = 0;
    uv_timer_start(&sc->timer, on_timer, SCHEMA_DEBOUNCE_MS, 0);
  } else if (db_failed && sc->retries < SCHEMA_RETRIES) {
    snprintf(sc->why, sizeof sc->why, "retry");
    uv_timer_start(&sc->timer, on_timer, (uint64_t)SCHEMA_RETRY_MS << sc->retries++, 0);
  } else if (!db_failed) {
    sc->retries = 0;
  }
}

static void on_timer(uv_timer_t *t)
{
  struct schema_cache *sc = t->data;
  load_work *lw;
  if (sc->stopping)
    return;
  if (sc->loading) {
    sc->again = 1;
    return;
  }
  lw = calloc(1, sizeof *lw);
  if (!lw) {
    ts_log(TS_LOG_WARN, NULL, "TAP_SCHEMA reload: out of memory; the previous metadata stays");
    return;
  }
  lw->sc = sc;
  lw->work.data = lw;
  snprintf(lw->why, sizeof lw->why, "%s", sc->why[0] ? sc->why : "change");
  sc->why[0] = '\0';
  sc->loading = 1;
  if (uv_queue_work(sc->app->loop, &lw->work, load_run, load_done) != 0) {
    sc->loading = 0;
    free(lw);
    ts_log(TS_LOG_WARN, NULL, "TAP_SCHEMA reload: cannot queue the load");
  }
}

void schema_cache_changed(ts_app *app, const char *why)
{
  struct schema_cache *sc = app->schema;
  if (!sc || !sc->started || sc->stopping)
    return;
  if (!sc->why[0])
    snprintf(sc->why, sizeof sc->why, "%s", why);
  if (sc->loading) {
    sc->again = 1;
  } else if (sc->retries || !uv_is_active((uv_handle_t *)&sc->timer)) {
    sc->retries = 0; /* a change does not wait for a retry's delay */
    uv_timer_start(&sc->timer, on_timer, SCHEMA_DEBOUNCE_MS, 0);
  }
}

static void on_sighup(uv_signal_t *h, int signum)
{
  struct schema_cache *sc = h->data;
  (void)signum;
  ts_log(TS_LOG_INFO, NULL, "SIGHUP: reloading TAP_SCHEMA");
  schema_cache_changed(sc->app, "SIGHUP");
}

static void on_schema_event(void *ud, const jobs_event *ev)
{
  (void)ev; /* whatever the table, the whole TAP_SCHEMA is read again */
  schema_cache_changed(ud, "TAP_SCHEMA_UPDATED");
}

static void on_recheck(void *ud)
{
  schema_cache_changed(ud, "events re-check");
}

void schema_cache_start(ts_app *app)
{
  struct schema_cache *sc = app->schema;
  if (!sc || sc->started)
    return;
  if (app->bus && (jobs_bus_subscribe(app->bus, JOBS_EV_TAP_SCHEMA_UPDATED, on_schema_event, app) ||
                   jobs_bus_on_recheck(app->bus, on_recheck, app)))
    ts_log(TS_LOG_WARN, NULL, "out of memory: TAP_SCHEMA changes are picked up on SIGHUP only");
  uv_timer_init(app->loop, &sc->timer);
  uv_signal_init(app->loop, &sc->sighup);
  sc->timer.data = sc->sighup.data = sc;
  uv_signal_start(&sc->sighup, on_sighup, SIGHUP);
  sc->started = 1;
}

void schema_cache_stop(ts_app *app)
{
  struct schema_cache *sc = app->schema;
  if (!sc || !sc->started || sc->stopping)
    return;
  sc->stopping = 1;
  uv_close((uv_handle_t *)&sc->timer, NULL);
  uv_close((uv_handle_t *)&sc->sighup, NULL);
}

/* ---- the triggers ---------------------------------------------------------- */

void schema_cache_watch(ts_app *app)
{
  ts_error err;
  PGconn *conn;
  PGresult *r;
  ts_error_clear(&err);
  conn = stream_pg_connect_blocking(app->cfg->dsn, &err);
  if (!conn) {
    ts_log(TS_LOG_WARN, NULL, "cannot check the TAP_SCHEMA triggers: %s", err.msg);
    return;
  }
  r = PQexec(conn, "SELECT tapserve.watch_tap_schema()");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    const char *msg = PQresultErrorMessage(r);
    ts_log(TS_LOG_WARN, NULL,
           "cannot install the TAP_SCHEMA triggers (%.*s): changes to TAP_SCHEMA are picked up "
           "on SIGHUP only",
           (int)strcspn(msg, "\n"), msg);
  } else if (!PQgetisnull(r, 0, 0)) {
    ts_log(TS_LOG_WARN, NULL,
           "no trigger on %s (not their owner): changes to them are picked up on SIGHUP or "
           "with the next change to a watched table",
           PQgetvalue(r, 0, 0));
  }
  PQclear(r);
  PQfinish(conn);
}
