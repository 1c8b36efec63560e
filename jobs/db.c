/* The blocking connection pool of schema tapserve's users on worker
 * threads: at most `max` connections open, a caller waits up to `wait_ms`
 * for one to come back (then TS_EUNAVAIL); an idle connection is checked
 * before it is handed out again. */
#include "jobs/jobs.h"
#include "stream/pg.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct jobs_db {
  pthread_mutex_t mu;
  pthread_cond_t freed; /* a connection was closed or given back */
  char *dsn;
  int max, nidle, nopen; /* nopen: idle + handed out + being opened */
  int wait_ms;
  PGconn **idle;
};

jobs_db *jobs_db_new(const char *dsn, int max, int wait_ms)
{
  jobs_db *db = calloc(1, sizeof *db);
  pthread_condattr_t ca;
  if (!db)
    return NULL;
  db->dsn = strdup(dsn);
  db->max = max > 0 ? max : 1;
  db->wait_ms = wait_ms > 0 ? wait_ms : 0;
  db->idle = calloc((size_t)db->max, sizeof *db->idle);
  if (!db->dsn || !db->idle) {
    free(db->dsn);
    free(db->idle);
    free(db);
    return NULL;
  }
  pthread_mutex_init(&db->mu, NULL);
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&db->freed, &ca);
  pthread_condattr_destroy(&ca);
  return db;
}

/* One fewer connection open (closed, or never opened). */
static void db_forget(jobs_db *db)
{
  pthread_mutex_lock(&db->mu);
  db->nopen--;
  pthread_cond_signal(&db->freed);
  pthread_mutex_unlock(&db->mu);
}

static void quiet_notice(void *arg, const char *msg)
{
  (void)arg;
  ts_log(TS_LOG_DEBUG, NULL, "postgres: %s", msg);
}

PGconn *jobs_db_get(jobs_db *db, ts_error *err)
{
  PGconn *c = NULL;
  struct timespec until;
  int timed_out = 0;
  clock_gettime(CLOCK_MONOTONIC, &until);
  until.tv_sec += db->wait_ms / 1000;
  until.tv_nsec += (long)(db->wait_ms % 1000) * 1000000L;
  if (until.tv_nsec >= 1000000000L) {
    until.tv_sec++;
    until.tv_nsec -= 1000000000L;
  }
  pthread_mutex_lock(&db->mu);
  while (db->nidle == 0 && db->nopen >= db->max && !timed_out)
    timed_out = pthread_cond_timedwait(&db->freed, &db->mu, &until) == ETIMEDOUT;
  if (db->nidle > 0)
    c = db->idle[--db->nidle];
  else if (db->nopen < db->max)
    db->nopen++; /* ours to open */
  else
    timed_out = 1;
  pthread_mutex_unlock(&db->mu);
  if (!c && timed_out) {
    ts_fail(err, TS_EUNAVAIL, 0, "all %d connections to the jobs database are busy", db->max);
    return NULL;
  }
  /* CONNECTION_OK alone says nothing of a server that has restarted since:
   * its last words wait unread on the socket. */
  if (c && stream_pg_idle_usable(c))
    return c;
  if (c)
    PQfinish(c); /* its place in nopen goes to the new one */
  c = stream_pg_connect_blocking(db->dsn, err);
  if (!c) {
    db_forget(db);
    return NULL;
  }
  PQsetNoticeProcessor(c, quiet_notice, NULL);
  PQclear(PQexec(c, "SET application_name = 'tapserve jobs'"));
  return c;
}

void jobs_db_put(jobs_db *db, PGconn *c)
{
  if (!c)
    return;
  if (PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE) {
    pthread_mutex_lock(&db->mu);
    if (db->nidle < db->max) {
      db->idle[db->nidle++] = c;
      c = NULL;
      pthread_cond_signal(&db->freed);
    }
    pthread_mutex_unlock(&db->mu);
  }
  if (c) {
    PQfinish(c);
    db_forget(db);
  }
}

void jobs_db_free(jobs_db *db)
{
  if (!db)
    return;
  for (int i = 0; i < db->nidle; i++)
    PQfinish(db->idle[i]);
  pthread_cond_destroy(&db->freed);
  pthread_mutex_destroy(&db->mu);
  free(db->idle);
  free(db->dsn);
  free(db);
}
