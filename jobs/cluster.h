/* jobs/cluster.h: this instance's place in the cluster.
 *
 * The instance registry (a row per running instance, kept alive by a
 * heartbeat), recovery of jobs whose instance is gone, and the sweeper of
 * expired jobs (DESIGN.md, "Instance life"). The blocking functions run on
 * a caller's connection; jobs_cluster runs them on a timer of the loop,
 * through libuv's thread pool. */
#ifndef TS_JOBS_CLUSTER_H
#define TS_JOBS_CLUSTER_H

#include "jobs/jobs.h"

#include <stdatomic.h>
#include <uv.h>

/* ---- blocking statements ------------------------------------------------ */
/* Registers this instance (a fresh uuid written into out_uuid), after
 * deleting instance rows whose heartbeat is older than timeout_s. */
ts_err jobs_instance_register(PGconn *conn, const char *host, int port, const char *version,
                              int timeout_s, char out_uuid[40], ts_error *err);
/* Keeps this instance's row alive and says whether it drains. */
ts_err jobs_instance_heartbeat(PGconn *conn, const char *uuid, int timeout_s, int draining,
                               ts_error *err);
ts_err jobs_instance_unregister(PGconn *conn, const char *uuid, ts_error *err);
/* Re-queues (requeue=1) or fails every job left EXECUTING by an instance
 * that is gone (no row, or a stale heartbeat), one job per transaction
 * that stamps `instance` (the recovering one) as its owner_instance;
 * *n recovered. A job that has already had max_attempts executions is not
 * queued again but goes to ERROR ("job abandoned after N attempts: the
 * instances running it stopped"). */
ts_err jobs_recover(PGconn *conn, const char *instance, int requeue, int max_attempts, int *n,
                    ts_error *err);

/* Re-queues (jobs_requeue) the jobs EXECUTING under `instance`, started
 * more than min_age_s ago, that none of its executors runs (`running`, n
 * ids): a claim whose reply the connection lost (the database went away
 * just after committing it) leaves such a job, which no other instance
 * recovers while this one lives. *n re-queued. */
ts_err jobs_requeue_strays(PGconn *conn, const char *instance, const char *const *running,
                           size_t nrunning, int min_age_s, int *n, ts_error *err);

/* ---- the maintenance loop ---------------------------------------------------- */
typedef struct jobs_cluster jobs_cluster;

typedef struct jobs_cluster_opts {
  uv_loop_t *loop;
  jobs_db *db;             /* borrowed: the maintenance statements' connections */
  const jobs_store *store; /* borrowed: the sweeper removes results from it */
  const char *host;        /* this instance, as registered */
  int port;
  const char *version;
  int heartbeat_s;        /* heartbeat (and recovery) period */
  int instance_timeout_s; /* a heartbeat older than this is a dead instance */
  int sweep_interval_s;   /* sweeper period */
  int requeue;            /* recovered jobs: 1 queued again, 0 ERROR */
  int max_attempts;       /* a job recovered this often goes to ERROR */
  int64_t tmp_age_s;      /* unfinished fs result files older than this are removed */
  int stray_age_s;        /* see jobs_requeue_strays */
  /* The application's "database unreachable" flag: set to 1 by the first
   * heartbeat that cannot reach the database, to 0 by the first that can
   * again (transitions are logged). While it is 1 the heartbeat probes
   * every second. Borrowed; read by the application. */
  atomic_int *unreachable;
  /* The application's "draining" flag (or NULL), written into this
   * instance's row by each heartbeat. Borrowed. */
  atomic_int *draining;
  /* The jobs this instance's executors run: fills up to cap ids, sets *n
   * and returns 1 when the list is complete (0: strays are not looked
   * for this time). Called on a thread of libuv's pool. */
  int (*running)(void *ud, char (*ids)[40], size_t cap, size_t *n);
  void *ud;
} jobs_cluster_opts;

/* Registers this instance, recovers orphaned jobs (*recovered may be
 * NULL) and starts the maintenance timer: heartbeat, recovery and strays
 * every heartbeat_s, the sweeper every sweep_interval_s. Blocking; before
 * serving. The options are copied (the strings and pointers in them are
 * borrowed). On failure *out may be non-NULL all the same: stop and free it. */
ts_err jobs_cluster_start(const jobs_cluster_opts *o, jobs_cluster **out, int *recovered,
                          ts_error *err);
/* This instance's uuid (owner_instance of the jobs it runs). */
const char *jobs_cluster_instance(const jobs_cluster *cl);
/* The next tick of the timer beats (a drain began: say so at once). Loop
 * thread. */
void jobs_cluster_beat_now(jobs_cluster *cl);
/* ts_now_ms() of the last heartbeat that reached the database (the start,
 * before the first). Any thread. */
int64_t jobs_cluster_last_beat_ms(jobs_cluster *cl);
/* Stops the timer and deletes this instance's row (blocking), once the
 * executors have given back their jobs. A maintenance round still on the
 * thread pool finishes; run the loop before jobs_cluster_free. */
void jobs_cluster_stop(jobs_cluster *cl);
void jobs_cluster_free(jobs_cluster *cl);

#endif
