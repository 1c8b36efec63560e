/* UWS 1.1 blocking WAIT on GET /async/{id}: the request stays open while
 * the job remains in its (active) phase, until the job changes, the time
 * runs out, the client goes away or the service stops. Job events
 * (uws__wait_wake) make a waiter fetch its job again; the fetch is an
 * ordinary op on libuv's pool (uws.c). Everything here runs on the loop. */
#include "tapserve/uws/uws_int.h"

#include <stdlib.h>
#include <string.h>

/* ---- WAIT ------------------------------------------------------------------ */

static int wait_active(jobs_phase p)
{
  return p == JOBS_PENDING || p == JOBS_QUEUED || p == JOBS_EXECUTING || p == JOBS_HELD ||
         p == JOBS_SUSPENDED;
}

static void wait_unlink(uws *u, uws_wait *w)
{
  for (uws_wait **pp = &u->waiters; *pp; pp = &(*pp)->next)
    if (*pp == w) {
      *pp = w->next;
      return;
    }
}

static void wait_timer_closed(uv_handle_t *h)
{
  uws_wait *w = h->data;
  uws__op_free(w->op);
  free(w);
}

static void wait_finish(uws_wait *w, int respond)
{
  uws *u = w->op->u;
  w->done = 1;
  wait_unlink(u, w);
  uv_timer_stop(&w->timer);
  if (respond)
    uws__op_respond(w->op);
  else
    http_end(w->op->req, 0);
  uv_close((uv_handle_t *)&w->timer, wait_timer_closed);
}

static void wait_fetch(uws_wait *w)
{
  w->in_flight = 1;
  w->dirty = 0;
  uws__op_queue(w->op);
}

void uws__wait_after(uws_op *o)
{
  uws_wait *w = o->wait;
  w->in_flight = 0;
  if (w->aborted) {
    wait_finish(w, 0);
    return;
  }
  if (o->failed || w->expired || atomic_load(&o->u->stopping)) {
    wait_finish(w, 1);
    return;
  }
  if (!w->have_initial) {
    w->have_initial = 1;
    w->initial = w->has_phase_param ? w->phase_param : o->phase;
    /* UWS 1.1: block only while the job is in an active phase (and in the
     * phase the client named, if it named one). */
    if (!wait_active(o->phase) || o->phase != w->initial) {
      wait_finish(w, 1);
      return;
    }
  } else if (o->phase != w->initial) {
    wait_finish(w, 1);
    return;
  }
  if (w->dirty)
    wait_fetch(w);
}

static void wait_on_timer(uv_timer_t *t)
{
  uws_wait *w = t->data;
  w->expired = 1;
  if (!w->in_flight)
    wait_fetch(w);
}

static void wait_on_abort(void *ud)
{
  uws_wait *w = ud;
  if (w->done)
    return;
  w->aborted = 1;
  if (!w->in_flight)
    wait_finish(w, 0);
}

/* A NOTIFY about job `id`: every waiter on it looks again. */
void uws__wait_wake(uws *u, const char *id)
{
  for (uws_wait *w = u->waiters; w; w = w->next) {
    if (!id || !strcmp(w->op->id, id)) {
      if (w->in_flight)
        w->dirty = 1;
      else if (w->have_initial)
        wait_fetch(w);
    }
  }
}

void uws__start_wait(uws *u, uws_op *o, int64_t secs)
{
  uws_wait *w = calloc(1, sizeof *w);
  const char *pp = uws__param(o->params, o->np, "PHASE");
  if (!w) {
    uws__op_queue(o);
    return;
  }
  if (pp) {
    if (jobs_phase_parse(pp, &w->phase_param)) {
      ts_error e;
      free(w);
      ts_fail(&e, TS_EINVAL, 0, "PHASE must be a UWS phase name, not \"%s\"", pp);
      tap_send_error(o->req, &e);
      uws__op_free(o);
      return;
    }
    w->has_phase_param = 1;
  }
  w->op = o;
  o->wait = w;
  /* Registered before the first fetch: a change committed after that
   * fetch's snapshot always finds the waiter. */
  w->next = u->waiters;
  u->waiters = w;
  uv_timer_init(u->app->loop, &w->timer);
  w->timer.data = w;
  uv_timer_start(&w->timer, wait_on_timer, (uint64_t)secs * 1000, 0);
  http_on_abort(o->req, wait_on_abort, w);
  wait_fetch(w);
}
