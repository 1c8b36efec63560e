/* The download worker set (ts_workq): work runs on its own threads and
 * completions on the loop, the loop ends by itself once nothing is
 * outstanding, and completions are spread over loop turns (a few per
 * turn) so that other events interleave with them. */
#include "tapserve/tapserve.h"
#include "ts_test.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <unistd.h>

enum { ITEMS = 40, TURN_MAX = 4 };

typedef struct {
  ts_work w;
  uv_thread_t loop_thread;
  int ran_elsewhere; /* work did not run on the loop's thread */
  int done_on_loop;
  long turn; /* loop turn of done */
} item;

static atomic_int worked;
static long turns, dones;
static uv_thread_t loop_self;

static void work_cb(ts_work *w)
{
  item *it = w->data;
  uv_thread_t me = uv_thread_self();
  it->ran_elsewhere = !uv_thread_equal(&me, &it->loop_thread);
  atomic_fetch_add(&worked, 1);
}

static void done_cb(ts_work *w)
{
  item *it = w->data;
  uv_thread_t me = uv_thread_self();
  it->done_on_loop = uv_thread_equal(&me, &loop_self);
  it->turn = turns;
  dones++;
}

static void on_prepare(uv_prepare_t *p)
{
  (void)p;
  turns++;
}

static int run_items(int wait_first)
{
  uv_loop_t loop;
  uv_prepare_t prep;
  ts_workq *q = NULL;
  item *items = calloc(ITEMS, sizeof *items);
  int per_turn[ITEMS + 1] = {0};
  TS_CHECK(items != NULL);
  TS_CHECK(uv_loop_init(&loop) == 0);
  loop_self = uv_thread_self();
  atomic_store(&worked, 0);
  turns = dones = 0;
  TS_CHECK_EQ_INT(ts_workq_new(&loop, 2, &q), TS_OK);
  uv_prepare_init(&loop, &prep);
  uv_prepare_start(&prep, on_prepare);
  uv_unref((uv_handle_t *)&prep);
  for (int i = 0; i < ITEMS; i++) {
    items[i].w.data = &items[i];
    items[i].loop_thread = loop_self;
    TS_CHECK_EQ_INT(ts_workq_submit(q, &items[i].w, work_cb, done_cb), TS_OK);
  }
  /* Every item finished before the loop looks: all completions are ready
   * in the first turn. */
  while (wait_first && atomic_load(&worked) < ITEMS)
    usleep(1000);
  /* Returns only when nothing is outstanding (the queue's handle is
   * referenced while items are). */
  uv_run(&loop, UV_RUN_DEFAULT);
  TS_CHECK_EQ_INT(dones, ITEMS);
  for (int i = 0; i < ITEMS; i++) {
    TS_CHECK(items[i].ran_elsewhere);
    TS_CHECK(items[i].done_on_loop);
    TS_CHECK(items[i].turn >= 0 && items[i].turn <= ITEMS);
    per_turn[items[i].turn]++;
  }
  for (int t = 0; t <= ITEMS; t++)
    TS_CHECK(per_turn[t] <= TURN_MAX);
  uv_close((uv_handle_t *)&prep, NULL);
  ts_workq_free(q); /* runs the loop once more to close its handle */
  TS_CHECK_EQ_INT(uv_loop_close(&loop), 0);
  free(items);
  return 0;
}

int test_workq_runs_all(void)
{
  return run_items(0);
}

int test_workq_few_per_turn(void)
{
  return run_items(1);
}

/* An idle queue does not keep the loop running. */
int test_workq_idle_loop_ends(void)
{
  uv_loop_t loop;
  ts_workq *q = NULL;
  TS_CHECK(uv_loop_init(&loop) == 0);
  TS_CHECK_EQ_INT(ts_workq_new(&loop, 1, &q), TS_OK);
  TS_CHECK_EQ_INT(uv_run(&loop, UV_RUN_DEFAULT), 0);
  ts_workq_free(q);
  TS_CHECK_EQ_INT(uv_loop_close(&loop), 0);
  return 0;
}
