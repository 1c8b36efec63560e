/* tapserve/uws/uws_int.h: what uws.c (resources, the op queue, start/stop),
 * uws_wait.c (WAIT), uws_exec.c (executor threads) and uws_dl.c (result
 * downloads) share; for those sources only. Prefix uws__. */
#ifndef TS_TAPSERVE_UWS_INT_H
#define TS_TAPSERVE_UWS_INT_H

#include "jobs/cluster.h"
#include "jobs/events.h"
#include "jobs/jobs.h"
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"
#include "tapserve/uws/uws.h"

#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>

/* The longest execution duration a job can have, in seconds: PostgreSQL's
 * statement_timeout counts milliseconds in an int (about 24.8 days). */
#define UWS_DURATION_MAX_S ((int64_t)INT_MAX / 1000)

typedef struct uws uws;

typedef struct uws_exec {
  uws *u;
  uv_thread_t th;
  int started;
  PGconn *state, *query;
  int query_server;  /* which of app->qservers `query` is on */
  int query_avoid;   /* the server the next query connection avoids (-1: none) */
  int query_standby; /* `query` is on a hot standby: its backend pid is not recorded */
  char job_id[40];   /* guarded by u->mu */
  atomic_int abort;
} uws_exec;

typedef struct uws_wait uws_wait;

struct uws {
  ts_app *app;
  cfg *cfg;
  jobs_store store;
  jobs_db *db;
  char instance[40];
  pthread_mutex_t mu;
  pthread_cond_t cv;
  unsigned kick;
  atomic_int stopping;  /* read by the executor threads without the mutex */
  atomic_int give_back; /* a drain's grace is over: running jobs go back to the queue */
  uws_exec *execs;
  int nexec;
  /* loop side */
  jobs_cluster *cluster; /* this instance's row, heartbeat, recovery, sweeper */
  uws_wait *waiters;
  ts_workq *dlq; /* result downloads: threads apart from libuv's pool */
};

/* ---- requests (uws.c) ---- */

typedef enum {
  OP_LIST,
  OP_CREATE,
  OP_GET,  /* job XML, or a sub-resource as text */
  OP_POST, /* POST on the job or a sub-resource */
  OP_DELETE
} uws_opkind;

typedef struct uws_op {
  uv_work_t work;
  uws *u;
  http_request *req;
  uws_opkind kind;
  char id[40];
  const char *sub; /* "" for the job itself, else "phase", "parameters", ... */
  http_param *params;
  size_t np;
  /* results */
  int status;
  const char *ctype;
  ts_buf body;
  char location[1200];
  ts_error err;
  int failed;
  jobs_phase phase; /* of the job, when fetched */
  /* The caller, found once per request (a WAIT fetches again and again). */
  int who_done;
  ts_who who;
  char set_cookie[512]; /* a creation's new owner cookie: its Set-Cookie line */
  /* WAIT */
  uws_wait *wait;
} uws_op;

struct uws_wait {
  uws_wait *next;
  uws_op *op;
  uv_timer_t timer;
  jobs_phase initial;
  int have_initial;
  int has_phase_param;
  jobs_phase phase_param;
  int in_flight, dirty, expired, aborted, done;
};

/* The value of parameter `name` (case-insensitive), or NULL. */
const char *uws__param(http_param *p, size_t n, const char *name);
/* Runs the request on libuv's pool; answers it (or hands it back to its
 * WAIT) when done. */
void uws__op_queue(uws_op *o);
/* Answers the request from the op's results. */
void uws__op_respond(uws_op *o);
void uws__op_free(uws_op *o);

/* ---- WAIT (uws_wait.c) ---- */

/* Blocks GET /async/{id}?WAIT=secs while the job stays in its phase. */
void uws__start_wait(uws *u, uws_op *o, int64_t secs);
/* A fetch queued by a WAIT finished (from the op's after callback). */
void uws__wait_after(uws_op *o);
/* A NOTIFY about job `id` (NULL: every job): its waiters look again. */
void uws__wait_wake(uws *u, const char *id);

/* ---- executors (uws_exec.c) ---- */

/* The body of an executor thread (arg: its uws_exec). */
void uws__exec_main(void *arg);
/* Wakes idle executors to look for queued jobs. */
void uws__kick_executors(uws *u);

/* ---- downloads (uws_dl.c) ---- */

/* GET /async/{id}/results/result in any RESPONSEFORMAT. */
void uws__start_download(uws *u, http_request *req, const char *id, size_t idlen);

#endif
