/* tapserve/config.h: the configuration (config.c), prefix cfg_. */
#ifndef TS_TAPSERVE_CONFIG_H
#define TS_TAPSERVE_CONFIG_H

#include "adql/adql.h"

#include <stddef.h>
#include <stdint.h>

/* ---- configuration (config.c; every key documented in
 * docs/configuration.md) ------------------------------------------------- */
typedef struct cfg {
  /* [server] */
  char *listen;                   /* listen = 127.0.0.1 */
  int port;                       /* port = 8080 */
  char *base_url;                 /* base_url = http://127.0.0.1:8080/tap (no trailing slash) */
  char *path_prefix;              /* derived from base_url's path: "/tap" */
  int max_connections;            /* max_connections = 1024 */
  size_t max_header_bytes;        /* max_header_bytes = 16384 */
  size_t max_body_bytes;          /* max_body_bytes = 16777216 */
  int header_timeout_ms;          /* header_timeout = 10 (seconds in the file) */
  int body_timeout_ms;            /* body_timeout = 60 */
  int idle_timeout_ms;            /* idle_timeout = 60 */
  int write_timeout_ms;           /* write_timeout = 300 */
  int max_connections_per_client; /* max_connections_per_client = 64 (per peer address) */
  int first_byte_timeout_ms;      /* first_byte_timeout = 5 */
  size_t max_form_body_bytes;     /* max_form_body_bytes = 2097152 */
  size_t body_budget_bytes;       /* body_budget_bytes = 67108864 (all bodies together) */
  size_t max_upload_body_bytes;   /* max_upload_body_bytes = 1G (a multipart body) */
  int max_upload_parts;           /* max_upload_parts = 100 */
  size_t max_part_header_bytes;   /* max_part_header_bytes = 8192 */
  size_t spool_budget_bytes;      /* spool_budget_bytes = 4G (file parts, all requests) */
  char *spool_dir;                /* spool_dir = "" ($TMPDIR, else /tmp) */
  char *trusted_proxies; /* trusted_proxies = "" (addresses/CIDRs whose X-Forwarded-For counts) */
  char *pid_file;        /* pid_file = "" (none): written while serving (tapserve drain) */
  int drain_delay_ms;    /* drain_delay = 10: a drain keeps the listener this long (seconds) */
  int drain_grace_s; /* drain_grace = 300: jobs may finish this long, then go back to the queue */
  int gzip_threads;  /* gzip_threads = one per CPU (-1): threads compressing gzip responses */
  /* [metrics] */
  int metrics_enabled; /* enabled = yes: /metrics (Prometheus text format) */
  char *metrics_allow; /* allow = 127.0.0.1, ::1: client addresses that may read /metrics */
  /* [database] */
  char *dsn;                  /* dsn = libpq connection string (TAP_SCHEMA, service state) */
  char *query_dsn;            /* query_dsn = connection for user queries: a role that can only
                                 read the published schemas ("" = dsn) */
  int pool_size;              /* pool_size = 8 */
  int primary_pool_size;      /* primary_pool_size = 0 (pool_size / 4, at least 1) */
  int connect_timeout_ms;     /* connect_timeout = 10 */
  int pool_wait_timeout_ms;   /* pool_wait_timeout = 5 (a /sync request waits for a connection;
                                 503 after; 0 = no bound) */
  int query_backoff_ms;       /* query_server_backoff = 5 (a query_dsn server that refused a
                                 connection is skipped this long, doubling up to 8 times) */
  int allow_query_as_service; /* allow_query_as_service = no: yes lets the query role use
                                 schema tapserve (the service state) */
  /* [tap] */
  int64_t maxrec_default;    /* maxrec_default = 100000 */
  int64_t maxrec_limit;      /* maxrec_limit = 10000000 (hard limit) */
  int sync_timeout_s;        /* sync_timeout = 600 (execution duration of /sync) */
  int fetch_size;            /* fetch_size = 1000 (rows per batch) */
  int max_sync_per_client;   /* max_sync_per_client = 4 (/sync requests at once per address) */
  int sync_stall_timeout_ms; /* sync_stall_timeout = 10 (a stream not read for this long is cut
                                while others wait for a connection; 0 = never) */
  char *service_title;       /* title = tapserve demo */
  char *service_description;
  char *tap_examples; /* examples = XHTML file served at /examples ("" = built-in) */
  /* [log] */
  int log_level; /* level = info (debug|info|warn|error) */
  /* [adql] (operator control of the query language) */
  char *adql_geometry; /* geometry = comma-separated geometry functions ("" = all) */
  char *adql_coordsys; /* coordinate_systems = ICRS (comma-separated) */
  char *adql_udfs;     /* udfs = "name(a TYPE, ...) -> TYPE = SQL" declarations, ';'-separated */
  int adql_std_udfs;   /* std_udfs = 1: also offer ivo_hasword, ivo_healpix_index ... */
  /* [jobs] (UWS async jobs, uws.c; docs/async.md) */
  char *jobs_result_store;     /* result_store = fs:/var/tmp/tapserve-results | pg */
  int jobs_max_executing;      /* max_executing = 2 (jobs run at once by this instance) */
  int jobs_max_per_user;       /* max_per_user = 4 (EXECUTING per owner; 0 = no limit) */
  int jobs_duration_s;         /* execution_duration = 3600 (default, seconds) */
  int jobs_duration_max_s;     /* execution_duration_max = 86400 (0 = unlimited allowed) */
  int jobs_destruction_s;      /* destruction = 604800 (default lifetime, seconds) */
  int jobs_destruction_max_s;  /* destruction_max = 2592000 */
  char *jobs_on_restart;       /* on_restart = requeue | error */
  int jobs_wait_max_s;         /* wait_max = 600 (longest WAIT) */
  int jobs_sweep_interval_s;   /* sweep_interval = 60 */
  int jobs_heartbeat_s;        /* heartbeat = 5 */
  int jobs_instance_timeout_s; /* instance_timeout = 30 */
  int jobs_list_anonymous;     /* list_anonymous = 0 (1: anonymous job list shows anonymous jobs) */
  int jobs_download_threads;   /* download_threads = 2 (threads reading stored results) */
  int jobs_db_connections;     /* db_connections = 16 (jobs database connections at most) */
  int jobs_max_attempts;       /* max_attempts = 2: executions of a job whose instances die */
  int jobs_max_async; /* max_async_jobs = 0: EXECUTING in the whole cluster (0 = no limit) */
  /* [upload] (TAP UPLOAD; docs/uploads.md) */
  size_t upload_max_bytes;     /* max_bytes = 64M per upload (uploadLimit in /capabilities) */
  int64_t upload_max_rows;     /* max_rows = 10000000 per upload */
  int upload_max_columns;      /* max_columns = 500 per upload */
  int upload_max_uploads;      /* max_uploads = 10 per request (0: uploads refused) */
  int upload_allow_private;    /* allow_private_urls = no: refuse loopback/private URLs */
  int upload_fetch_timeout_ms; /* fetch_timeout = 60 (seconds, a whole URL fetch) */
  int upload_max_redirects;    /* max_redirects = 3 */
  /* [users] (TAP+ logins, plus/; docs/users.md) */
  int users_session_idle_s;          /* session_idle = 28800 (a session unused this long ends) */
  int users_session_max_s;           /* session_max = 604800 (and this long after login) */
  int users_login_max_failures;      /* login_max_failures = 5 (per user name) */
  int users_login_max_failures_addr; /* login_max_failures_per_address = 50 */
  int users_login_lockout_s;         /* login_lockout = 300 (refused this long after the last) */
  int users_basic_cache_s;  /* basic_cache = 60 (HTTP Basic credentials checked lately; 0: none) */
  size_t users_quota_db;    /* quota_db = 0 (bytes of a user's tables; 0: no limit) */
  size_t users_quota_files; /* quota_files = 0 (bytes of a user's stored job results) */
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
/* A byte count as the file takes it ("512", "10k", "2G": powers of 1024)
 * within [min, max]: NULL, or what is wrong with it. */
const char *cfg_parse_bytes(const char *v, int64_t min, int64_t max, int64_t *out);
/* Fills the operator-controlled parts of `am` (UDFs, allowed geometry
 * functions and coordinate systems) from the [adql] keys of `c`, parsed
 * into `a`. Errors name the offending declaration. */
ts_err cfg_adql_meta(const cfg *c, ts_arena *a, adql_meta *am, ts_error *err);

#endif
