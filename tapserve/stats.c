/* What an instance measures about itself, and /metrics, which shows it in
 * the Prometheus text exposition format 0.0.4 (common/metrics.h).
 *
 * Requests are counted by resource family and status class (the only
 * labels: bounded, never a raw path), from the HTTP server's completion
 * hook; rows streamed by the result writer; the rest is read when
 * scraped: the /sync pool, events, heartbeat, and the jobs per phase of
 * the whole cluster, from the database at most every STATS_JOBS_TTL_MS,
 * on libuv's pool. */
#include "common/metrics.h"
#include "jobs/events.h"
#include "jobs/jobs.h"
#include "tapserve/tapserve.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
  STATS_JOBS_TTL_MS = 5000, /* jobs per phase are read this often at most */
  STATS_DOC_MAX = 1 << 20,  /* the whole /metrics document */
  STATS_CLASSES = 6,        /* no response, 1xx .. 5xx */
  STATS_ALLOW_MAX = 64,     /* addresses in [metrics] allow */
  STATS_PHASES_MAX = 16,
};

static const char *const res_names[TS_RES_N] = {"other",   "sync", "async",
                                                "results", "vosi", "metrics"};
static const char *const class_names[STATS_CLASSES] = {"none", "1xx", "2xx", "3xx", "4xx", "5xx"};

/* Request latency in milliseconds: from 1 ms (a phase poll) to 10 min (a
 * long download). */
static const uint64_t latency_ms[] = {1,   5,    10,   25,   50,    100,   250,
                                      500, 1000, 2500, 5000, 10000, 60000, 600000};

static struct {
  ts_counter requests[TS_RES_N][STATS_CLASSES];
  ts_hist latency[TS_RES_N][STATS_CLASSES];
  ts_counter bytes[TS_RES_N];
  ts_counter cut[TS_RES_N]; /* responses that did not end whole */
  ts_counter rows;
  /* [metrics] allow */
  struct in6_addr allow[STATS_ALLOW_MAX];
  int nallow, allow_any;
  /* jobs per phase in the database, and when they were read */
  pthread_mutex_t mu;
  int64_t jobs_ms;
  int njobs;
  char phase[STATS_PHASES_MAX][16];
  int64_t count[STATS_PHASES_MAX];
} st = {.mu = PTHREAD_MUTEX_INITIALIZER};

/* An address as IPv6 (IPv4 as ::ffff:a.b.c.d); 0 when it is none. */
static int addr_parse(const char *s, struct in6_addr *out)
{
  struct in_addr v4;
  if (inet_pton(AF_INET6, s, out) == 1)
    return 1;
  if (inet_pton(AF_INET, s, &v4) != 1)
    return 0;
  memset(out, 0, sizeof *out);
  out->s6_addr[10] = out->s6_addr[11] = 0xff;
  memcpy(out->s6_addr + 12, &v4, 4);
  return 1;
}

ts_err ts_stats_init(const cfg *c, ts_error *err)
{
  char list[1024], *save = NULL;
  for (int r = 0; r < TS_RES_N; r++)
    for (int k = 0; k < STATS_CLASSES; k++)
      ts_hist_init(&st.latency[r][k], latency_ms, TS_ARRAY_LEN(latency_ms), 1e3);
  if (strlen(c->metrics_allow) >= sizeof list)
    return ts_fail(err, TS_EINVAL, 0, "[metrics] allow is too long");
  snprintf(list, sizeof list, "%s", c->metrics_allow);
  st.nallow = st.allow_any = 0;
  for (char *t = strtok_r(list, ", \t", &save); t; t = strtok_r(NULL, ", \t", &save)) {
    if (!strcmp(t, "*")) {
      st.allow_any = 1;
      continue;
    }
    if (st.nallow == STATS_ALLOW_MAX)
      return ts_fail(err, TS_EINVAL, 0, "[metrics] allow names more than %d addresses",
                     STATS_ALLOW_MAX);
    if (!addr_parse(t, &st.allow[st.nallow]))
      return ts_fail(err, TS_EINVAL, 0,
                     "[metrics] allow: \"%s\" is not a numeric IPv4 or IPv6 address (or *)", t);
    st.nallow++;
  }
  return TS_OK;
}

void ts_stats_request(const http_request *r, int status, uint64_t body_bytes, int whole, void *ud)
{
  int res = r->tag > 0 && r->tag < TS_RES_N ? r->tag : TS_RES_OTHER;
  int k = status >= 100 && status < 600 ? status / 100 : 0;
  int64_t ms = ts_now_ms() - r->start_ms;
  (void)ud;
  ts_counter_add(&st.requests[res][k], 1);
  ts_hist_observe(&st.latency[res][k], ms > 0 ? (uint64_t)ms : 0);
  ts_counter_add(&st.bytes[res], body_bytes);
  if (!whole)
    ts_counter_add(&st.cut[res], 1);
}

void ts_stats_rows(uint64_t n)
{
  ts_counter_add(&st.rows, n);
}

/* ---- /metrics --------------------------------------------------------------- */

typedef struct scrape {
  uv_work_t work;
  ts_app *app;
  http_request *req;
} scrape;

/* On libuv's pool: the jobs per phase, when the cached ones are stale. A
 * failure keeps the old figures (the scrape shows their age). */
static void scrape_work(uv_work_t *w)
{
  scrape *s = w->data;
  ts_error err;
  PGconn *conn;
  PGresult *r;
  pthread_mutex_lock(&st.mu);
  int fresh = st.jobs_ms && ts_now_ms() - st.jobs_ms < STATS_JOBS_TTL_MS;
  pthread_mutex_unlock(&st.mu);
  if (fresh || !s->app->db || !(conn = jobs_db_get(s->app->db, &err)))
    return;
  r = PQexec(conn, "SELECT phase, count(*) FROM tapserve.jobs GROUP BY phase ORDER BY phase");
  if (PQresultStatus(r) == PGRES_TUPLES_OK) {
    pthread_mutex_lock(&st.mu);
    st.njobs = 0;
    for (int i = 0; i < PQntuples(r) && st.njobs < STATS_PHASES_MAX; i++, st.njobs++) {
      snprintf(st.phase[st.njobs], sizeof st.phase[0], "%s", PQgetvalue(r, i, 0));
      st.count[st.njobs] = strtoll(PQgetvalue(r, i, 1), NULL, 10);
    }
    st.jobs_ms = ts_now_ms();
    pthread_mutex_unlock(&st.mu);
  }
  PQclear(r);
  jobs_db_put(s->app->db, conn);
}

/* One family without labels. */
static ts_err one(ts_buf *b, const char *name, const char *type, const char *help, double v)
{
  ts_err rc = ts_metrics_head(b, name, type, help);
  return rc ? rc : ts_metrics_sample(b, name, NULL, v);
}

/* l := the labels of resource family r and status class k (none when
 * k < 0). */
static ts_err res_labels(ts_buf *l, int r, int k)
{
  ts_buf_reset(l);
  ts_err rc = ts_metrics_label(l, "resource", res_names[r]);
  if (!rc && k >= 0)
    rc = ts_metrics_label(l, "code", class_names[k]);
  return rc;
}

/* A counter family with one sample per resource family. */
static ts_err per_resource(ts_buf *b, ts_buf *l, const char *name, const char *help,
                           const ts_counter *c)
{
  ts_err rc = ts_metrics_head(b, name, "counter", help);
  for (int r = 0; !rc && r < TS_RES_N; r++) {
    rc = res_labels(l, r, -1);
    if (!rc)
      rc = ts_metrics_sample(b, name, l->data, (double)ts_counter_get(&c[r]));
  }
  return rc;
}

static ts_err write_requests(ts_buf *b)
{
  static const char req[] = "tapserve_http_requests_total",
                    lat[] = "tapserve_http_request_duration_seconds";
  ts_buf l;
  ts_err rc = ts_metrics_head(b, req, "counter",
                              "HTTP requests answered, by resource family and status class.");
  ts_buf_init(&l, 128);
  for (int r = 0; !rc && r < TS_RES_N; r++)
    for (int k = 0; !rc && k < STATS_CLASSES; k++) {
      rc = res_labels(&l, r, k);
      if (!rc)
        rc = ts_metrics_sample(b, req, l.data, (double)ts_counter_get(&st.requests[r][k]));
    }
  if (!rc)
    rc = ts_metrics_head(b, lat, "histogram",
                         "Time from a request's arrival to the end of its response.");
  for (int r = 0; !rc && r < TS_RES_N; r++)
    for (int k = 0; !rc && k < STATS_CLASSES; k++) {
      rc = res_labels(&l, r, k);
      if (!rc)
        rc = ts_metrics_hist(b, lat, l.data, &st.latency[r][k]);
    }
  if (!rc)
    rc = per_resource(b, &l, "tapserve_http_response_bytes_total",
                      "Response body bytes sent, by resource family.", st.bytes);
  if (!rc)
    rc = per_resource(b, &l, "tapserve_http_responses_cut_total",
                      "Responses that did not end whole (client gone, error mid-stream).", st.cut);
  ts_buf_free(&l);
  return rc;
}

static ts_err write_state(ts_buf *b, ts_app *app)
{
  int open = 0, busy = 0, waiting = 0, size = 0, popen = 0, pbusy = 0, pwaiting = 0, psize = 0;
  uint64_t pwaits = 0, ptimeouts = 0;
  int primary = app->upool && app->upool != app->pool;
  uint64_t waits = 0, timeouts = 0, described = 0, reused = 0, sent, received;
  uint64_t translated, translations_reused;
  int64_t now = ts_now_ms(), beat = uws_last_heartbeat_ms(app);
  ts_buf l;
  ts_err rc;
  if (app->pool) {
    stream_pg_pool_stats(app->pool, &open, &busy, &waiting);
    stream_pg_pool_counts(app->pool, &size, &waits, &timeouts);
    stream_pg_pool_describes(app->pool, &described, &reused);
  }
  if (primary) {
    stream_pg_pool_stats(app->upool, &popen, &pbusy, &pwaiting);
    stream_pg_pool_counts(app->upool, &psize, &pwaits, &ptimeouts);
  }
  tap_qcache_counts(app, &translated, &translations_reused);
  jobs_events_counts(&sent, &received);
  ts_buf_init(&l, 256);
  rc = ts_metrics_label(&l, "version", TAPSERVE_VERSION);
  if (!rc)
    rc = ts_metrics_label(&l, "instance", uws_instance(app));
  if (!rc)
    rc = ts_metrics_head(b, "tapserve_build_info", "gauge", "The version and instance uuid.");
  if (!rc)
    rc = ts_metrics_sample(b, "tapserve_build_info", l.data, 1);
  ts_buf_free(&l);
#define ONE(name, type, help, v)                                                                   \
  if (!rc)                                                                                         \
  rc = one(b, name, type, help, (double)(v))
  ONE("tapserve_start_time_seconds", "gauge", "When this instance started (Unix time).",
      (double)app->started_ms / 1e3);
  ONE("tapserve_uptime_seconds", "gauge", "Seconds since this instance started.",
      (double)(now - app->started_ms) / 1e3);
  ONE("tapserve_available", "gauge", "1 while /availability says true.", !vosi_unavailable(app));
  ONE("tapserve_draining", "gauge", "1 while this instance drains.", atomic_load(&app->draining));
  ONE("tapserve_database_unreachable", "gauge", "1 while the database cannot be reached.",
      atomic_load(&app->db_unreachable));
  ONE("tapserve_heartbeat_age_seconds", "gauge",
      "Seconds since this instance's last heartbeat reached the database.",
      beat ? (double)(now - beat) / 1e3 : 0);
  ONE("tapserve_rows_streamed_total", "counter", "Result rows written to clients (any format).",
      ts_counter_get(&st.rows));
  ONE("tapserve_db_pool_size", "gauge", "Connections the /sync pool may open.", size);
  ONE("tapserve_db_pool_open", "gauge", "Connections of the /sync pool now open.", open);
  ONE("tapserve_db_pool_in_use", "gauge", "Connections of the /sync pool running a query.", busy);
  ONE("tapserve_db_pool_waiting", "gauge", "Queries waiting for a /sync pool connection.", waiting);
  ONE("tapserve_db_pool_waits_total", "counter",
      "Queries that found no idle /sync pool connection and waited.", waits);
  ONE("tapserve_db_pool_wait_timeouts_total", "counter",
      "Queries that gave up waiting for a /sync pool connection.", timeouts);
  if (primary) { /* query_dsn names standbys: the pool to the primary (upload and user tables) */
    ONE("tapserve_db_primary_pool_size", "gauge",
        "Connections the pool to the primary (queries over upload and user tables) may open.",
        psize);
    ONE("tapserve_db_primary_pool_open", "gauge", "Connections of the primary pool now open.",
        popen);
    ONE("tapserve_db_primary_pool_in_use", "gauge",
        "Connections of the primary pool running a query.", pbusy);
    ONE("tapserve_db_primary_pool_waiting", "gauge",
        "Queries waiting for a primary pool connection.", pwaiting);
    ONE("tapserve_db_primary_pool_waits_total", "counter",
        "Queries that found no idle primary pool connection and waited.", pwaits);
    ONE("tapserve_db_primary_pool_wait_timeouts_total", "counter",
        "Queries that gave up waiting for a primary pool connection.", ptimeouts);
  }
  ONE("tapserve_sync_described_total", "counter",
      "/sync queries whose columns the database described (one round trip more).", described);
  ONE("tapserve_sync_description_reused_total", "counter",
      "/sync queries that reused the description of the same SQL run earlier.", reused);
  ONE("tapserve_sync_translated_total", "counter",
      "/sync queries parsed, checked and translated (no per-request tables).", translated);
  ONE("tapserve_sync_translation_reused_total", "counter",
      "/sync queries that reused the translation of the same text run earlier.",
      translations_reused);
  ONE("tapserve_events_sent_total", "counter", "Events this instance published.", sent);
  ONE("tapserve_events_received_total", "counter", "Events this instance received.", received);
  ONE("tapserve_jobs_executing_here", "gauge", "Async jobs this instance's executors run.",
      uws_executing(app));
#undef ONE
  return rc;
}

static ts_err write_jobs(ts_buf *b)
{
  ts_buf l;
  ts_err rc = ts_metrics_head(b, "tapserve_jobs", "gauge",
                              "Async jobs in the database (all instances), by phase; read at "
                              "most every 5 s.");
  ts_buf_init(&l, 128);
  pthread_mutex_lock(&st.mu);
  for (int i = 0; !rc && i < st.njobs; i++) {
    ts_buf_reset(&l);
    rc = ts_metrics_label(&l, "phase", st.phase[i]);
    if (!rc)
      rc = ts_metrics_sample(b, "tapserve_jobs", l.data, (double)st.count[i]);
  }
  pthread_mutex_unlock(&st.mu);
  ts_buf_free(&l);
  return rc;
}

static void scrape_after(uv_work_t *w, int status)
{
  scrape *s = w->data;
  ts_buf b;
  ts_err rc;
  (void)status;
  ts_buf_init(&b, STATS_DOC_MAX);
  rc = write_state(&b, s->app);
  if (!rc)
    rc = write_requests(&b);
  if (!rc)
    rc = write_jobs(&b);
  if (rc) {
    ts_error e;
    ts_fail(&e, TS_EINTERNAL, 0, "cannot write the metrics: %s", ts_err_text(rc));
    tap_send_error(s->req, &e);
  } else {
    http_respond(s->req, 200, "text/plain; version=0.0.4; charset=utf-8", NULL, b.data, b.len);
  }
  ts_buf_free(&b);
  free(s);
}

static int allowed(const char *addr)
{
  struct in6_addr a;
  if (st.allow_any)
    return 1;
  if (!addr_parse(addr, &a))
    return 0;
  for (int i = 0; i < st.nallow; i++)
    if (!memcmp(&a, &st.allow[i], sizeof a))
      return 1;
  return 0;
}

void ts_stats_serve(ts_app *app, http_request *req)
{
  scrape *s;
  ts_error e;
  if (!app->cfg->metrics_enabled) {
    ts_fail(&e, TS_ENOTFOUND, 0, "no resource at %s", req->path);
    tap_send_error(req, &e);
    return;
  }
  if (!allowed(req->remote_addr)) {
    char msg[160];
    int n = snprintf(msg, sizeof msg, "%s may not read the metrics ([metrics] allow)\n",
                     req->remote_addr);
    http_respond(req, 403, "text/plain; charset=utf-8", NULL, msg, (size_t)n);
    return;
  }
  s = calloc(1, sizeof *s);
  if (!s) {
    ts_fail(&e, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &e);
    return;
  }
  s->app = app;
  s->req = req;
  s->work.data = s;
  if (uv_queue_work(app->loop, &s->work, scrape_work, scrape_after) != 0)
    scrape_after(&s->work, 0); /* without fresh job counts */
}
