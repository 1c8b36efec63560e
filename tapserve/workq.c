/* A worker set of its own: a fixed number of threads taking work items
 * from one FIFO, each item's completion delivered on the loop, as
 * uv_queue_work does. Result downloads run here rather than on libuv's
 * pool, so that however many downloads are in progress, the short UWS
 * statements (/phase polls, job creation) on libuv's pool never queue
 * behind them.
 *
 * Completions are handed back through one uv_async_t, at most
 * WORKQ_TURN of them per loop turn: what a completion starts on the loop
 * (decoding and encoding a block of a result) then cannot hold up the
 * other requests for longer than a few blocks. The handle is referenced
 * only while items are outstanding, so an idle queue does not keep the
 * loop alive and a busy one finishes its work before the loop ends (the
 * HTTP server's shutdown lets downloads in progress finish). */
#include "tapserve/tapserve.h"

#include <pthread.h>
#include <stdlib.h>

enum { WORKQ_TURN = 4 };

struct ts_workq {
  uv_loop_t *loop;
  uv_async_t async;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  ts_work *todo, *todo_tail; /* queued, guarded by mu */
  ts_work *done, *done_tail; /* finished, guarded by mu */
  int stopping;              /* guarded by mu */
  int nthreads;
  uv_thread_t *threads;
  size_t outstanding; /* loop thread only: submitted, done not yet called */
  int closed;
};

static void push(ts_work **head, ts_work **tail, ts_work *w)
{
  w->next = NULL;
  if (*tail)
    (*tail)->next = w;
  else
    *head = w;
  *tail = w;
}

static ts_work *pop(ts_work **head, ts_work **tail)
{
  ts_work *w = *head;
  if (w) {
    *head = w->next;
    if (!*head)
      *tail = NULL;
  }
  return w;
}

static void worker(void *arg)
{
  ts_workq *q = arg;
  pthread_mutex_lock(&q->mu);
  for (;;) {
    ts_work *w = pop(&q->todo, &q->todo_tail);
    if (!w) {
      if (q->stopping)
        break;
      pthread_cond_wait(&q->cv, &q->mu);
      continue;
    }
    pthread_mutex_unlock(&q->mu);
    w->work(w);
    pthread_mutex_lock(&q->mu);
    push(&q->done, &q->done_tail, w);
    uv_async_send(&q->async);
  }
  pthread_mutex_unlock(&q->mu);
}

static void stop_threads(ts_workq *q)
{
  pthread_mutex_lock(&q->mu);
  q->stopping = 1;
  pthread_cond_broadcast(&q->cv);
  pthread_mutex_unlock(&q->mu);
  for (int i = 0; i < q->nthreads; i++)
    uv_thread_join(&q->threads[i]);
  q->nthreads = 0;
}

static void on_closed(uv_handle_t *h)
{
  ts_workq *q = h->data;
  q->closed = 1;
}

static void on_async(uv_async_t *a)
{
  ts_workq *q = a->data;
  for (int n = 0; n < WORKQ_TURN; n++) {
    pthread_mutex_lock(&q->mu);
    ts_work *w = pop(&q->done, &q->done_tail);
    int more = q->done != NULL;
    pthread_mutex_unlock(&q->mu);
    if (!w)
      break;
    if (--q->outstanding == 0)
      uv_unref((uv_handle_t *)&q->async);
    w->done(w);
    if (more && n == WORKQ_TURN - 1)
      uv_async_send(&q->async); /* the rest on the next loop turn */
  }
}

ts_err ts_workq_new(uv_loop_t *loop, int nthreads, ts_workq **out)
{
  ts_workq *q = calloc(1, sizeof *q);
  ts_err rc = TS_ENOMEM;
  *out = NULL;
  if (!q || nthreads < 1)
    goto fail_alloc;
  q->threads = calloc((size_t)nthreads, sizeof *q->threads);
  if (!q->threads)
    goto fail_alloc;
  if (pthread_mutex_init(&q->mu, NULL) != 0)
    goto fail_alloc;
  if (pthread_cond_init(&q->cv, NULL) != 0)
    goto fail_mutex;
  /* The threads only wait on cv until the first submit, which comes
   * after the handle exists. */
  rc = TS_EINTERNAL;
  for (; q->nthreads < nthreads; q->nthreads++)
    if (uv_thread_create(&q->threads[q->nthreads], worker, q) != 0)
      goto fail_threads;
  if (uv_async_init(loop, &q->async, on_async) != 0)
    goto fail_threads;
  q->loop = loop;
  q->async.data = q;
  uv_unref((uv_handle_t *)&q->async);
  *out = q;
  return TS_OK;

fail_threads:
  stop_threads(q);
  pthread_cond_destroy(&q->cv);
fail_mutex:
  pthread_mutex_destroy(&q->mu);
fail_alloc:
  if (q)
    free(q->threads);
  free(q);
  return rc;
}

ts_err ts_workq_submit(ts_workq *q, ts_work *w, ts_work_fn work, ts_work_fn done)
{
  if (!q)
    return TS_EUNAVAIL;
  w->work = work;
  w->done = done;
  if (q->outstanding++ == 0)
    uv_ref((uv_handle_t *)&q->async);
  pthread_mutex_lock(&q->mu);
  push(&q->todo, &q->todo_tail, w);
  pthread_cond_signal(&q->cv);
  pthread_mutex_unlock(&q->mu);
  return TS_OK;
}

void ts_workq_free(ts_workq *q)
{
  if (!q)
    return;
  stop_threads(q);
  /* The loop has stopped; one more turn runs the close callback. */
  uv_close((uv_handle_t *)&q->async, on_closed);
  uv_run(q->loop, UV_RUN_NOWAIT);
  if (!q->closed)
    return; /* the loop still knows the handle: leave it be, we are exiting */
  pthread_cond_destroy(&q->cv);
  pthread_mutex_destroy(&q->mu);
  free(q->threads);
  free(q);
}
