/* tapserve/tapserve.h: shared declarations of the executable's own files
 * (config, CLI subcommands, metadata, TAP/VOSI resources, wiring).
 * Prefixes: cfg_ (configuration), meta_ (TAP_SCHEMA), tap_ (TAP
 * resources), vosi_ (VOSI resources), pgc_ (embedded cluster), cmd_
 * (subcommands). */
#ifndef TS_TAPSERVE_H
#define TS_TAPSERVE_H

#include "adql/adql.h"
#include "formats/formats.h"
#include "http/http.h"
#include "stream/pg.h"

#define TAPSERVE_VERSION "0.1.0"

/* ---- configuration (config.c; every key documented in
 * docs/configuration.md) ------------------------------------------------- */
typedef struct cfg {
  /* [server] */
  char *listen;            /* listen = 127.0.0.1 */
  int port;                /* port = 8080 */
  char *base_url;          /* base_url = http://127.0.0.1:8080/tap (no trailing slash) */
  char *path_prefix;       /* derived from base_url's path: "/tap" */
  int max_connections;     /* max_connections = 1024 */
  size_t max_header_bytes; /* max_header_bytes = 16384 */
  size_t max_body_bytes;   /* max_body_bytes = 16777216 */
  int header_timeout_ms;   /* header_timeout = 10 (seconds in the file) */
  int body_timeout_ms;     /* body_timeout = 60 */
  int idle_timeout_ms;     /* idle_timeout = 60 */
  int write_timeout_ms;    /* write_timeout = 300 */
  /* [database] */
  char *dsn;               /* dsn = libpq connection string */
  int pool_size;           /* pool_size = 8 */
  int connect_timeout_ms;  /* connect_timeout = 10 */
  /* [tap] */
  int64_t maxrec_default;  /* maxrec_default = 100000 */
  int64_t maxrec_limit;    /* maxrec_limit = 10000000 (hard limit) */
  int sync_timeout_s;      /* sync_timeout = 600 (execution duration of /sync) */
  int fetch_size;          /* fetch_size = 1000 (rows per batch) */
  char *service_title;     /* title = tapserve demo */
  char *service_description;
  /* [log] */
  int log_level;           /* level = info (debug|info|warn|error) */
} cfg;

/* Sets every field to its default. */
void cfg_defaults(cfg *c);
/* Reads an INI file over the defaults; unknown keys and bad values are
 * errors (message with file:line). */
ts_err cfg_load(cfg *c, const char *path, ts_error *err);
/* Fills derived fields (path_prefix, base_url when empty) and checks
 * consistency. */
ts_err cfg_finish(cfg *c, ts_error *err);
void cfg_free(cfg *c);

/* ---- TAP_SCHEMA (meta.c) ---------------------------------------------- */
typedef struct meta meta;
/* Creates schema tap_schema (TAP 1.1 tables, describing themselves) when
 * missing; blocking, for startup. */
ts_err meta_ensure_tap_schema(PGconn *conn, ts_error *err);
/* Loads TAP_SCHEMA into memory (blocking, startup or reload). */
ts_err meta_load(PGconn *conn, meta **out, ts_error *err);
void meta_free(meta *m);
/* The adql view of it (tables, columns, UDFs). */
const adql_meta *meta_adql(const meta *m);

/* ---- the running service (main.c / tap.c / vosi.c) --------------------- */
typedef struct ts_app {
  cfg *cfg;
  uv_loop_t *loop;
  http_server *http;
  stream_pg_pool *pool;
  meta *meta;
  int64_t started_ms;
  int shutting_down;
} ts_app;

/* The HTTP handler: routes under cfg->path_prefix. */
void tap_handle(http_request *req, void *app);
/* VOSI resources: each answers the request completely. */
void vosi_capabilities(ts_app *app, http_request *req);
void vosi_availability(ts_app *app, http_request *req);
/* path_rest: "" for /tables, "schema.table" for /tables/schema.table. */
void vosi_tables(ts_app *app, http_request *req, const char *path_rest);
/* A DALI error document with the HTTP status of err->code. */
void tap_send_error(http_request *req, const ts_error *err);

/* Runs the service until SIGTERM/SIGINT. */
int ts_serve(cfg *c);

/* ---- embedded PostgreSQL cluster (pgcluster.c) ------------------------- */
typedef struct pgc_opts {
  const char *data_dir; /* private cluster directory (created) */
  int port;             /* loopback port */
} pgc_opts;
/* Creates (initdb, as an unprivileged user when run as root) and starts the
 * cluster if needed, with pg_sphere available; writes a libpq DSN for
 * database "tapserve" into dsn. */
ts_err pgc_ensure(const pgc_opts *o, char *dsn, size_t dsnlen, ts_error *err);
ts_err pgc_stop(const pgc_opts *o, ts_error *err);

/* SQL scripts compiled in from tapserve/sql/ (NUL-terminated). */
extern const char sql_tap_schema[];
extern const char sql_demo[];

/* ---- subcommands -------------------------------------------------------- */
int cmd_serve(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_adql(int argc, char **argv);

#endif
