/* tapserve: subcommands and the serving loop. */
#include "http/route.h"
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(FILE *f)
{
  fputs("usage: tapserve COMMAND [OPTIONS]\n"
        "\n"
        "commands:\n"
        "  serve -c FILE      serve TAP with the configuration in FILE (docs/configuration.md)\n"
        "  demo [OPTIONS]     start an embedded PostgreSQL cluster with the demo catalogue\n"
        "                     and serve it (tapserve demo --help for its options)\n"
        "  adql [OPTIONS]     check or translate an ADQL query read from standard input\n"
        "                     (tapserve adql --help for its options)\n"
        "  publish -c FILE schema.table...\n"
        "                     publish tables of the database in TAP_SCHEMA (--help)\n"
        "  unpublish -c FILE schema.table...\n"
        "                     remove published tables from TAP_SCHEMA (--help)\n"
        "  tableset -c FILE [schema...]\n"
        "                     write TAP_SCHEMA as a VODataService tableset (--help)\n"
        "  drain (--pid PID | --pid-file FILE | -c FILE)\n"
        "                     drain a running instance and wait for its exit (--help)\n"
        "  cluster status -c FILE | --dsn CONNINFO [--json]\n"
        "                     the instances sharing the database and their jobs\n"
        "  user add|passwd|del|list [NAME] (-c FILE | --dsn CONNINFO)\n"
        "                     TAP+ users; passwords on standard input (--help)\n"
        "  token add|list|revoke ... (-c FILE | --dsn CONNINFO)\n"
        "                     bearer tokens for scripts (--help)\n"
        "  notify add|list|del ... (-c FILE | --dsn CONNINFO)\n"
        "                     messages to users, read by TAP+ clients (--help)\n"
        "  quota show|set USER [--db BYTES] [--files BYTES] (-c FILE | --dsn CONNINFO)\n"
        "                     a user's space for tables and job results (--help)\n"
        "  --help             this text\n"
        "  --version          the version\n",
        f);
}

typedef struct serve_state {
  ts_app app;
  http_proxies proxies; /* [server] trusted_proxies, checked by cfg_finish */
  uv_signal_t sigterm, sigint, sigusr1;
  uv_timer_t drain_timer;
  int drain_timer_open;
  int64_t drain_t0;  /* ts_now_ms() when the drain began */
  int http_closing;  /* http_server_shutdown called */
  int http_closed;   /* ... and every connection closed */
  int pool_closing;  /* the last step of the shutdown began */
  int jobs_released; /* a drain's grace is over (uws_give_back) */
} serve_state;

static void on_handle_closed(uv_handle_t *h)
{
  (void)h;
}

static void on_pool_closed(void *ud)
{
  serve_state *s = ud;
  uv_close((uv_handle_t *)&s->sigterm, on_handle_closed);
  uv_close((uv_handle_t *)&s->sigint, on_handle_closed);
  uv_close((uv_handle_t *)&s->sigusr1, on_handle_closed);
}

static void on_upool_closed(void *ud)
{
  serve_state *s = ud;
  stream_pg_pool_close(s->app.pool, on_pool_closed, s);
}

/* The last step, once no connection is left and (when draining) no job
 * runs here: the executors stop, the instance row goes, the pool closes,
 * and with the last handles the loop ends. */
static void finish_if_done(serve_state *s)
{
  if (!s->http_closed || s->pool_closing)
    return;
  if (!s->app.shutting_down && uws_executing(&s->app) > 0)
    return; /* draining: the drain timer comes back */
  s->pool_closing = 1;
  uws_stop(&s->app); /* a no-op after SIGTERM */
  if (s->drain_timer_open)
    uv_close((uv_handle_t *)&s->drain_timer, on_handle_closed);
  s->drain_timer_open = 0;
  ts_log(TS_LOG_INFO, NULL, "connections closed; closing the database pool");
  if (s->app.upool != s->app.pool)
    stream_pg_pool_close(s->app.upool, on_upool_closed, s);
  else
    stream_pg_pool_close(s->app.pool, on_pool_closed, s);
}

static void on_http_closed(void *ud)
{
  serve_state *s = ud;
  s->http_closed = 1;
  finish_if_done(s);
}

/* No new connections; responses in progress (sync streams, downloads)
 * finish; WAIT requests answer now. */
static void stop_accepting(serve_state *s)
{
  if (s->http_closing)
    return;
  s->http_closing = 1;
  schema_cache_stop(&s->app);
  tap_stop(&s->app);
  uws_end_waits(&s->app);
  http_server_shutdown(s->app.http, on_http_closed, s);
}

static void on_signal(uv_signal_t *h, int signum)
{
  serve_state *s = h->data;
  if (s->app.shutting_down) {
    ts_log(TS_LOG_WARN, NULL, "second signal %d: exiting at once", signum);
    exit(1);
  }
  ts_log(TS_LOG_INFO, NULL, "signal %d: shutting down (finishing responses in progress)", signum);
  s->app.shutting_down = 1;
  uws_stop(&s->app); /* running jobs go back to the queue (or fail, per on_restart) */
  stop_accepting(s);
  finish_if_done(s); /* a drain may have closed the connections already */
}

/* ---- drain ---------------------------------------------------------------
 * SIGUSR1 (tapserve drain): /availability false and no new work at once
 * (503 on /sync and job creation, the executors claim nothing); the
 * listener keeps answering for drain_delay, so that the load balancer
 * sees the instance down before connections are refused; then it closes,
 * and responses in progress finish. Jobs running here may finish until
 * drain_grace after the start of the drain; then they go back to the
 * queue, their attempt not counted. The process exits 0 once both are
 * done. */

enum { DRAIN_TICK_MS = 100 };

static void on_drain_tick(uv_timer_t *t)
{
  serve_state *s = t->data;
  const cfg *c = s->app.cfg;
  int64_t since = ts_now_ms() - s->drain_t0;
  if (s->app.shutting_down || s->pool_closing)
    return;
  if (!s->http_closing && since >= c->drain_delay_ms) {
    ts_log(TS_LOG_INFO, NULL, "drain: no new connections now; finishing responses in progress");
    stop_accepting(s);
  }
  if (!s->jobs_released && since >= (int64_t)c->drain_grace_s * 1000) {
    int n = uws_executing(&s->app);
    s->jobs_released = 1;
    if (n > 0) {
      ts_log(TS_LOG_INFO, NULL, "drain: grace over; giving %d running job(s) back to the queue", n);
      uws_give_back(&s->app);
    }
  }
  finish_if_done(s);
}

static void on_drain_signal(uv_signal_t *h, int signum)
{
  serve_state *s = h->data;
  (void)signum;
  if (s->app.shutting_down || atomic_exchange(&s->app.draining, 1))
    return;
  ts_log(TS_LOG_INFO, NULL,
         "drain: unavailable now; closing the listener in %d ms, jobs running here have %d s",
         s->app.cfg->drain_delay_ms, s->app.cfg->drain_grace_s);
  s->drain_t0 = ts_now_ms();
  uws_draining(&s->app);
  uv_timer_init(s->app.loop, &s->drain_timer);
  s->drain_timer.data = s;
  s->drain_timer_open = 1;
  uv_timer_start(&s->drain_timer, on_drain_tick, 0, DRAIN_TICK_MS);
}

/* The pid file of [server] pid_file: written once serving, removed at the
 * end; tapserve drain reads it. */
static int write_pid_file(const char *path)
{
  FILE *f;
  if (!path[0])
    return 0;
  f = fopen(path, "w");
  if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
    fprintf(stderr, "tapserve: cannot write the pid file %s: %s\n", path, strerror(errno));
    return -1;
  }
  return 0;
}

/* Makes sure TAP_SCHEMA exists and loads its first snapshot; blocking,
 * before serving. */
static ts_err load_metadata(ts_app *app, ts_error *err)
{
  PGconn *conn = stream_pg_connect_blocking(app->cfg->dsn, err);
  meta *m = NULL;
  ts_err rc;
  if (!conn)
    return err->code ? err->code : TS_EDB;
  rc = meta_ensure_tap_schema(conn, err);
  if (!rc)
    rc = meta_load(conn, app->cfg, &m, err);
  PQfinish(conn);
  if (!rc)
    rc = schema_cache_new(app, m, err);
  if (rc)
    meta_release(m);
  return rc;
}

/* Users' queries must not run as a role that can use schema tapserve: it
 * holds the service state (every job with its query and owner, stored
 * results, and soon user accounts). The query role may use it when it
 * holds USAGE or CREATE on the schema, or, before the schema exists, when
 * it has the privileges of the service role (the same role, a member of
 * it, or a superuser). allow_query_as_service = yes skips the check. */
static ts_err check_query_role(const cfg *c, char *role, size_t role_size, ts_error *err)
{
  static const char sql[] =
      "SELECT current_user, CASE WHEN n.oid IS NULL THEN pg_has_role($1, 'USAGE')"
      " ELSE has_schema_privilege(n.oid, 'USAGE') OR has_schema_privilege(n.oid, 'CREATE') END"
      " FROM (VALUES (1)) AS one LEFT JOIN pg_namespace n ON n.nspname = 'tapserve'";
  const char *qdsn = c->query_dsn[0] ? c->query_dsn : c->dsn;
  PGconn *svc = NULL, *q = NULL;
  PGresult *r = NULL;
  const char *svc_user;
  char who[200];
  ts_err rc = TS_OK;

  if (c->allow_query_as_service) {
    ts_log(TS_LOG_WARN, NULL,
           "allow_query_as_service = yes: user queries may run as a role that can use schema "
           "tapserve (the service state)");
    return TS_OK;
  }
  svc = stream_pg_connect_blocking(c->dsn, err);
  q = svc ? stream_pg_connect_blocking(qdsn, err) : NULL;
  if (!q) {
    rc = err->code ? err->code : TS_EDB;
    goto out;
  }
  svc_user = PQuser(svc);
  r = PQexecParams(q, sql, 1, NULL, &svc_user, NULL, NULL, 0);
  if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) != 1) {
    rc = ts_fail(err, TS_EDB, 0, "cannot check the privileges of the query role: %s",
                 PQerrorMessage(q));
    goto out;
  }
  snprintf(role, role_size, "%s", PQgetvalue(r, 0, 0));
  if (strcmp(PQgetvalue(r, 0, 1), "t") != 0)
    goto out;
  role[0] = '\0';
  if (c->query_dsn[0])
    snprintf(who, sizeof who, "the query role \"%.60s\" of [database] query_dsn",
             PQgetvalue(r, 0, 0));
  else
    snprintf(who, sizeof who,
             "[database] query_dsn is empty, so user queries would run as the service role "
             "\"%.60s\", which",
             PQgetvalue(r, 0, 0));
  rc = ts_fail(err, TS_EINVAL, 0,
               "%s can use schema tapserve (jobs, their queries and results): set query_dsn to a "
               "role that can only read the published schemas (see docs/deployment.md), or set "
               "allow_query_as_service = yes to accept that",
               who);
out:
  PQclear(r);
  if (q)
    PQfinish(q);
  if (svc)
    PQfinish(svc);
  return rc;
}

static void free_servers(ts_app *app)
{
  if (app->pservers != app->qservers)
    stream_pg_servers_free(app->pservers);
  stream_pg_servers_free(app->qservers);
}

int ts_serve(cfg *c)
{
  serve_state s;
  ts_error err;
  http_server_opts ho;
  stream_pg_pool_opts po;
  int rc = 1;

  memset(&s, 0, sizeof s);
  ts_error_clear(&err);
  ts_log_set_level((ts_log_level)c->log_level);
  signal(SIGPIPE, SIG_IGN);
  s.app.cfg = c;
  s.app.loop = uv_default_loop();
  s.app.started_ms = ts_now_ms();

  if (stream_pg_servers_new(c->query_dsn[0] ? c->query_dsn : c->dsn, c->query_backoff_ms,
                            &s.app.qservers, &err)) {
    fprintf(stderr, "tapserve: [database] %s: %s\n", c->query_dsn[0] ? "query_dsn" : "dsn",
            err.msg);
    return 1;
  }
  if (stream_pg_servers_new_at(c->query_dsn[0] ? c->query_dsn : c->dsn, c->dsn, c->query_backoff_ms,
                               &s.app.pservers, &err)) {
    fprintf(stderr, "tapserve: [database] dsn: %s\n", err.msg);
    stream_pg_servers_free(s.app.qservers);
    return 1;
  }
  if (stream_pg_servers_same(s.app.pservers, s.app.qservers)) {
    stream_pg_servers_free(s.app.pservers);
    s.app.pservers = s.app.qservers;
  }
  if (stream_pg_servers_count(s.app.qservers) > 1)
    ts_log(TS_LOG_INFO, NULL, "user queries spread over %d database servers",
           stream_pg_servers_count(s.app.qservers));
  if (ts_stats_init(c, &err) || load_metadata(&s.app, &err) ||
      check_query_role(c, s.app.query_role, sizeof s.app.query_role, &err)) {
    free_servers(&s.app);
    fprintf(stderr, "tapserve: %s\n", err.msg);
    return 1;
  }
  if (c->tap_examples[0] &&
      tap_examples_load(c->tap_examples, &s.app.examples_doc, &s.app.examples_len, &err)) {
    fprintf(stderr, "tapserve: %s\n", err.msg);
    schema_cache_free(&s.app);
    free_servers(&s.app);
    return 1;
  }

  if (uws_start(&s.app, &err)) {
    fprintf(stderr, "tapserve: async jobs: %s\n", err.msg);
    uws_stop(&s.app);
    uws_free(&s.app);
    schema_cache_free(&s.app);
    free(s.app.examples_doc);
    free_servers(&s.app);
    return 1;
  }
  /* The migrations have run: TAP_SCHEMA changes are announced from now,
   * and schema tap_upload exists. */
  schema_cache_watch(&s.app);
  if (tap_upload_start(&s.app, &err)) {
    fprintf(stderr, "tapserve: uploads: %s\n", err.msg);
    goto out;
  }
  if (plus_start(&s.app, &err)) {
    fprintf(stderr, "tapserve: logins: %s\n", err.msg);
    goto out;
  }
  /* Before any gzip sink (the page's) starts the pool. */
  if (stream_gzip_threads(c->gzip_threads) != TS_OK) {
    fprintf(stderr, "tapserve: gzip_threads = %d: the gzip threads cannot be set\n",
            c->gzip_threads);
    goto out;
  }
  if (web_site_new(c, &s.app.web, &err)) {
    fprintf(stderr, "tapserve: %s\n", err.msg);
    goto out;
  }

  memset(&po, 0, sizeof po);
  po.dsn = c->query_dsn[0] ? c->query_dsn : c->dsn;
  po.size = c->pool_size;
  po.connect_timeout_ms = c->connect_timeout_ms;
  po.wait_timeout_ms = c->pool_wait_timeout_ms;
  po.app_name = "tapserve";
  po.servers = s.app.qservers;
  s.app.pool = stream_pg_pool_new(s.app.loop, &po);
  s.app.upool = s.app.pool;
  if (s.app.pservers != s.app.qservers) {
    /* Only queries over upload and user tables come here: a share of the
     * connections, not as many again. */
    po.servers = s.app.pservers;
    po.size = c->primary_pool_size > 0 ? c->primary_pool_size
                                       : (c->pool_size / 4 > 1 ? c->pool_size / 4 : 1);
    s.app.upool = stream_pg_pool_new(s.app.loop, &po);
  }

  memset(&ho, 0, sizeof ho);
  ho.max_header_bytes = c->max_header_bytes;
  ho.max_body_bytes = c->max_body_bytes;
  ho.header_timeout_ms = (uint64_t)c->header_timeout_ms;
  ho.body_timeout_ms = (uint64_t)c->body_timeout_ms;
  ho.idle_timeout_ms = (uint64_t)c->idle_timeout_ms;
  ho.write_timeout_ms = (uint64_t)c->write_timeout_ms;
  ho.max_connections = c->max_connections;
  ho.max_connections_per_addr = c->max_connections_per_client;
  ho.first_byte_timeout_ms = (uint64_t)c->first_byte_timeout_ms;
  ho.max_form_body_bytes = c->max_form_body_bytes;
  ho.body_budget_bytes = c->body_budget_bytes;
  ho.max_upload_body_bytes = c->max_upload_body_bytes;
  ho.max_upload_parts = (size_t)c->max_upload_parts;
  ho.max_part_header_bytes = c->max_part_header_bytes;
  ho.spool_budget_bytes = c->spool_budget_bytes;
  ho.spool_dir = c->spool_dir;
  ho.error_doc = tap_error_doc;
  ho.arena_cap = TS_QUERY_ARENA_CAP;
  ho.server_header = "tapserve/" TAPSERVE_VERSION;
  if (http_proxies_parse(c->trusted_proxies, &s.proxies, &err) == TS_OK)
    ho.trusted_proxies = &s.proxies;
  ho.on_complete = ts_stats_request;
  http_server_opts_defaults(&ho);
  if (ts_routes_new(c, &s.app.routes, &err)) {
    fprintf(stderr, "tapserve: routes: %s\n", err.msg);
    goto out;
  }
  s.app.http = http_server_new(s.app.loop, &ho, ts_routes_handle, &s.app);
  if (!s.app.pool || !s.app.upool || !s.app.http) {
    fprintf(stderr, "tapserve: out of memory\n");
    goto out;
  }
  if (http_server_listen(s.app.http, c->listen, c->port, &err)) {
    fprintf(stderr, "tapserve: cannot listen on %s port %d: %s\n", c->listen, c->port, err.msg);
    goto out;
  }

  if (write_pid_file(c->pid_file))
    goto out;
  tap_start(&s.app);
  schema_cache_start(&s.app);
  uv_signal_init(s.app.loop, &s.sigterm);
  uv_signal_init(s.app.loop, &s.sigint);
  uv_signal_init(s.app.loop, &s.sigusr1);
  s.sigterm.data = s.sigint.data = s.sigusr1.data = &s;
  uv_signal_start(&s.sigterm, on_signal, SIGTERM);
  uv_signal_start(&s.sigint, on_signal, SIGINT);
  uv_signal_start(&s.sigusr1, on_drain_signal, SIGUSR1);

  ts_log(TS_LOG_INFO, NULL, "tapserve %s serving %s (listening on %s:%d)", TAPSERVE_VERSION,
         c->base_url, c->listen, http_server_port(s.app.http));
  uv_run(s.app.loop, UV_RUN_DEFAULT);
  ts_log(TS_LOG_INFO, NULL, "stopped");
  if (c->pid_file[0])
    unlink(c->pid_file);
  rc = 0;
out:
  if (s.app.http)
    http_server_free(s.app.http);
  uws_stop(&s.app); /* a no-op after a signal; stops the executors on a failed start */
  plus_free(&s.app);
  uws_free(&s.app);
  http_router_free(s.app.routes);
  schema_cache_free(&s.app);
  free(s.app.examples_doc);
  web_site_free(s.app.web);
  tap_qcache_free(&s.app);
  uv_loop_close(s.app.loop);
  free_servers(&s.app);   /* after the pools and the executors */
  stream_gzip_shutdown(); /* every response is gone */
  return rc;
}

int cmd_serve(int argc, char **argv)
{
  const char *path = NULL;
  cfg c;
  ts_error err;
  int rc;

  for (int i = 1; i < argc; i++) {
    if ((!strcmp(argv[i], "-c") || !strcmp(argv[i], "--config")) && i + 1 < argc) {
      path = argv[++i];
    } else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs("usage: tapserve serve -c FILE\n"
            "Serves TAP with the configuration in FILE (an INI file; every key is\n"
            "described in docs/configuration.md).\n",
            stdout);
      return 0;
    } else {
      fprintf(stderr, "tapserve serve: unexpected argument %s (try --help)\n", argv[i]);
      return 2;
    }
  }
  if (!path) {
    fputs("tapserve serve: a configuration file is required (-c FILE)\n", stderr);
    return 2;
  }
  cfg_defaults(&c);
  if (cfg_load(&c, path, &err) || cfg_finish(&c, &err)) {
    fprintf(stderr, "tapserve: %s\n", err.msg);
    cfg_free(&c);
    return 2;
  }
  rc = ts_serve(&c);
  cfg_free(&c);
  return rc;
}

int main(int argc, char **argv)
{
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
    usage(stdout);
    return 0;
  }
  if (!strcmp(argv[1], "--version")) {
    printf("tapserve %s\n", TAPSERVE_VERSION);
    return 0;
  }
  if (!strcmp(argv[1], "serve"))
    return cmd_serve(argc - 1, argv + 1);
  if (!strcmp(argv[1], "demo"))
    return cmd_demo(argc - 1, argv + 1);
  if (!strcmp(argv[1], "adql"))
    return cmd_adql(argc - 1, argv + 1);
  if (!strcmp(argv[1], "publish"))
    return cmd_publish(argc - 1, argv + 1);
  if (!strcmp(argv[1], "unpublish"))
    return cmd_unpublish(argc - 1, argv + 1);
  if (!strcmp(argv[1], "tableset"))
    return cmd_tableset(argc - 1, argv + 1);
  if (!strcmp(argv[1], "drain"))
    return cmd_drain(argc - 1, argv + 1);
  if (!strcmp(argv[1], "cluster"))
    return cmd_cluster(argc - 1, argv + 1);
  if (!strcmp(argv[1], "user"))
    return cmd_user(argc - 1, argv + 1);
  if (!strcmp(argv[1], "token"))
    return cmd_token(argc - 1, argv + 1);
  if (!strcmp(argv[1], "notify"))
    return cmd_notify(argc - 1, argv + 1);
  if (!strcmp(argv[1], "quota"))
    return cmd_quota(argc - 1, argv + 1);
  fprintf(stderr, "tapserve: unknown command %s\n", argv[1]);
  usage(stderr);
  return 2;
}
