/* Unit tests of the event bus (jobs/events.h): payload encoding and
 * decoding of every kind, hostile payloads, dispatch to subscribers, and
 * (label pg) a real LISTEN connection that delivers published events and
 * calls the re-check callbacks when it is lost and back. */
#include "test_list.h"
#include "ts_test.h"
#include "ts_test_pg.h"

#include "jobs/events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const ids[] = {
    "0123456789abcdef0123456789abcdef", "alice", "x", "tap_schema.columns",
    /* 63 bytes, the longest id */
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!"};

static int roundtrip(const jobs_event *ev, const char *want)
{
  char buf[JOBS_EVENT_PAYLOAD_MAX];
  size_t len;
  jobs_event back;
  TS_CHECK_EQ_INT(jobs_event_encode(ev, buf, sizeof buf, &len), TS_OK);
  TS_CHECK_EQ_INT(len, strlen(buf));
  if (want)
    TS_CHECK_STREQ(buf, want);
  TS_CHECK_EQ_INT(jobs_event_decode(buf, len, &back), TS_OK);
  TS_CHECK_EQ_INT(back.kind, ev->kind);
  TS_CHECK_STREQ(back.id, ev->id);
  TS_CHECK_EQ_INT(back.has_phase, ev->has_phase);
  if (ev->has_phase)
    TS_CHECK_EQ_INT(back.phase, ev->phase);
  return 0;
}

int test_event_roundtrip(void)
{
  jobs_event ev;
  char want[JOBS_EVENT_PAYLOAD_MAX];
  int njob = 0;
  for (int k = 0; k < JOBS_EV_NKINDS; k++) {
    const char *name = jobs_event_name((jobs_event_kind)k);
    size_t nl = strlen(name);
    TS_CHECK(nl > 6 && !strcmp(name + nl - 6, "_EVENT"));
    TS_CHECK(jobs_event_object((jobs_event_kind)k) != NULL);
    for (size_t i = 0; i < TS_ARRAY_LEN(ids); i++) {
      memset(&ev, 0, sizeof ev);
      ev.kind = (jobs_event_kind)k;
      snprintf(ev.id, sizeof ev.id, "%s", ids[i]);
      snprintf(want, sizeof want, "%s %s", name, ids[i]);
      TS_CHECK(roundtrip(&ev, want) == 0);
      if (strncmp(name, "JOB_", 4))
        continue;
      njob++;
      for (int p = 0; p < JOBS_NPHASES; p++) {
        ev.has_phase = 1;
        ev.phase = (jobs_phase)p;
        snprintf(want, sizeof want, "%s %s %s", name, ids[i], jobs_phase_name(ev.phase));
        TS_CHECK(roundtrip(&ev, want) == 0);
      }
    }
  }
  TS_CHECK_EQ_INT(njob, 3 * (int)TS_ARRAY_LEN(ids));
  TS_CHECK_EQ_INT(JOBS_EV_NKINDS, 19);
  /* the names the jobs trigger sends */
  TS_CHECK_STREQ(jobs_event_name(JOBS_EV_JOB_CREATED), "JOB_CREATED_EVENT");
  TS_CHECK_STREQ(jobs_event_name(JOBS_EV_JOB_UPDATED), "JOB_UPDATED_EVENT");
  TS_CHECK_STREQ(jobs_event_name(JOBS_EV_JOB_REMOVED), "JOB_REMOVED_EVENT");
  TS_CHECK_STREQ(jobs_event_name(JOBS_EV_SHARE_USERS_REMOVED), "SHARE_USERS_REMOVED_EVENT");
  TS_CHECK(jobs_event_name(JOBS_EV_NKINDS) == NULL);
  TS_CHECK(jobs_event_name((jobs_event_kind)-1) == NULL);
  /* TAP_SCHEMA_UPDATED may name nothing */
  memset(&ev, 0, sizeof ev);
  ev.kind = JOBS_EV_TAP_SCHEMA_UPDATED;
  TS_CHECK(roundtrip(&ev, "TAP_SCHEMA_UPDATED_EVENT") == 0);
  return 0;
}

int test_event_encode_invalid(void)
{
  jobs_event ev;
  char buf[JOBS_EVENT_PAYLOAD_MAX];
  memset(&ev, 0, sizeof ev);
  ev.kind = JOBS_EV_NKINDS;
  snprintf(ev.id, sizeof ev.id, "x");
  TS_CHECK_EQ_INT(jobs_event_encode(&ev, buf, sizeof buf, NULL), TS_EINVAL);
  TS_CHECK_STREQ(buf, "");
  ev.kind = JOBS_EV_JOB_UPDATED;
  snprintf(ev.id, sizeof ev.id, "a b"); /* a space would split the id */
  TS_CHECK_EQ_INT(jobs_event_encode(&ev, buf, sizeof buf, NULL), TS_EINVAL);
  ev.id[0] = '\0'; /* a job event names its job */
  TS_CHECK_EQ_INT(jobs_event_encode(&ev, buf, sizeof buf, NULL), TS_EINVAL);
  ev.kind = JOBS_EV_LOGIN_IN; /* only job events have a phase */
  snprintf(ev.id, sizeof ev.id, "alice");
  ev.has_phase = 1;
  TS_CHECK_EQ_INT(jobs_event_encode(&ev, buf, sizeof buf, NULL), TS_EINVAL);
  ev.kind = JOBS_EV_JOB_UPDATED;
  ev.phase = JOBS_NPHASES;
  TS_CHECK_EQ_INT(jobs_event_encode(&ev, buf, sizeof buf, NULL), TS_EINVAL);
  memset(ev.id, 'a', sizeof ev.id); /* no NUL within the id */
  ev.phase = JOBS_QUEUED;
  TS_CHECK_EQ_INT(jobs_event_encode(&ev, buf, sizeof buf, NULL), TS_EINVAL);
  snprintf(ev.id, sizeof ev.id, "abc");
  TS_CHECK_EQ_INT(jobs_event_encode(&ev, buf, 10, NULL), TS_ELIMIT); /* too small */
  TS_CHECK_STREQ(buf, "");
  TS_CHECK_EQ_INT(jobs_event_encode(&ev, buf, sizeof buf, NULL), TS_OK);
  return 0;
}

int test_event_decode_malformed(void)
{
  static const char *const bad[] = {
      "",
      " ",
      "JOB_UPDATED_EVENT",  /* job events name their job */
      "JOB_UPDATED_EVENT ", /* trailing space */
      "JOB_UPDATED_EVENT  abc",
      " JOB_UPDATED_EVENT abc",
      "JOB_UPDATED_EVENT abc ",
      "JOB_UPDATED_EVENT\tabc",
      "job_updated_event abc", /* kinds are upper case */
      "JOB_UPDATED abc",       /* without _EVENT */
      "JOB_UPDATED_EVENTS abc",
      "JOB_UPDATED_EVEN abc",
      "NO_SUCH_EVENT abc",
      "JOB_UPDATED_EVENT abc BOGUS",
      "JOB_UPDATED_EVENT abc completed",
      "JOB_UPDATED_EVENT abc COMPLETEDCOMPLETEDCOMPLETED",
      "JOB_UPDATED_EVENT abc COMPLETED extra",
      "LOGIN_IN_EVENT alice COMPLETED", /* no phase outside jobs */
      "TAP_SCHEMA_UPDATED_EVENT t QUEUED",
      "JOB_UPDATED_EVENT abc\x7f",
      "JOB_UPDATED_EVENT ab\xc3\xa9",
      /* 64-byte id */
      "JOB_UPDATED_EVENT abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!!",
  };
  jobs_event ev;
  char big[4096];
  for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
    ev.kind = JOBS_EV_LOGIN_OUT;
    if (jobs_event_decode(bad[i], strlen(bad[i]), &ev) != TS_EINVAL) {
      fprintf(stderr, "# accepted \"%s\"\n", bad[i]);
      return 1;
    }
    TS_CHECK_EQ_INT(ev.kind, 0); /* zeroed */
    TS_CHECK_STREQ(ev.id, "");
  }
  TS_CHECK_EQ_INT(jobs_event_decode(NULL, 5, &ev), TS_EINVAL);
  /* an embedded NUL is a byte like any other: not a space, not printable */
  TS_CHECK_EQ_INT(jobs_event_decode("JOB_UPDATED_EVENT a\0b", 21, &ev), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_event_decode("JOB_UPDATED_EVENT a COMPLETED\0\0", 31, &ev), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_event_decode("JOB_UPDATED_EVENT a QUEUED\0X", 28, &ev), TS_EINVAL);
  /* long payloads are refused whole, without reading past len */
  memset(big, 'A', sizeof big);
  memcpy(big, "JOB_UPDATED_EVENT ", 18);
  TS_CHECK_EQ_INT(jobs_event_decode(big, sizeof big, &ev), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_event_decode(big, JOBS_EVENT_PAYLOAD_MAX, &ev), TS_EINVAL);
  /* len bounds the reading: a valid prefix is decoded alone */
  TS_CHECK_EQ_INT(jobs_event_decode("JOB_REMOVED_EVENT abc QUEUED", 21, &ev), TS_OK);
  TS_CHECK_EQ_INT(ev.kind, JOBS_EV_JOB_REMOVED);
  TS_CHECK_STREQ(ev.id, "abc");
  TS_CHECK_EQ_INT(ev.has_phase, 0);
  /* and the trigger's payloads are accepted */
  TS_CHECK_EQ_INT(jobs_event_decode("JOB_UPDATED_EVENT 0a1b ABORTED", 30, &ev), TS_OK);
  TS_CHECK_EQ_INT(ev.phase, JOBS_ABORTED);
  TS_CHECK_EQ_INT(ev.has_phase, 1);
  return 0;
}

/* ---- dispatch ---------------------------------------------------------------- */

typedef struct counter {
  int events, rechecks;
  jobs_event last;
  jobs_bus *bus; /* set: subscribes once more from inside a callback */
} counter;

static void count_event(void *ud, const jobs_event *ev)
{
  counter *c = ud;
  c->events++;
  c->last = *ev;
}

/* Only the test's own ids: other tests' jobs raise events too. */
static void count_mine(void *ud, const jobs_event *ev)
{
  if (!strcmp(ev->id, "feedface") || !strcmp(ev->id, "second"))
    count_event(ud, ev);
}

static void count_recheck(void *ud)
{
  counter *c = ud;
  c->rechecks++;
}

static void subscribe_more(void *ud, const jobs_event *ev)
{
  counter *c = ud;
  count_event(ud, ev);
  /* the array of subscribers may move under the dispatch loop */
  for (int i = 0; c->bus && i < 32; i++)
    jobs_bus_subscribe(c->bus, JOBS_EV_QUOTA_DB_UPDATED, count_event, c);
  c->bus = NULL;
}

int test_bus_dispatch(void)
{
  uv_loop_t loop;
  counter a = {0}, b = {0}, login = {0}, more = {0};
  jobs_bus *bus;
  TS_CHECK(uv_loop_init(&loop) == 0);
  bus = jobs_bus_new(&loop, "dbname=none");
  TS_CHECK(bus);
  TS_CHECK_EQ_INT(jobs_bus_subscribe(bus, JOBS_EV_JOB_UPDATED, count_event, &a), TS_OK);
  TS_CHECK_EQ_INT(jobs_bus_subscribe(bus, JOBS_EV_JOB_UPDATED, count_event, &b), TS_OK);
  TS_CHECK_EQ_INT(jobs_bus_subscribe(bus, JOBS_EV_LOGIN_IN, count_event, &login), TS_OK);
  TS_CHECK_EQ_INT(jobs_bus_subscribe(bus, JOBS_EV_NKINDS, count_event, &a), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_bus_on_recheck(bus, count_recheck, &a), TS_OK);

  TS_CHECK_EQ_INT(jobs_bus_dispatch(bus, "JOB_UPDATED_EVENT j1 COMPLETED", 30), TS_OK);
  TS_CHECK_EQ_INT(a.events, 1);
  TS_CHECK_EQ_INT(b.events, 1);
  TS_CHECK_EQ_INT(login.events, 0);
  TS_CHECK_STREQ(b.last.id, "j1");
  TS_CHECK_EQ_INT(b.last.phase, JOBS_COMPLETED);
  TS_CHECK_EQ_INT(jobs_bus_dispatch(bus, "LOGIN_IN_EVENT alice", 20), TS_OK);
  TS_CHECK_EQ_INT(login.events, 1);
  TS_CHECK_EQ_INT(a.events, 1);
  /* a kind nobody subscribed to reaches nobody; malformed ones neither */
  TS_CHECK_EQ_INT(jobs_bus_dispatch(bus, "JOB_CREATED_EVENT j2 PENDING", 28), TS_OK);
  TS_CHECK_EQ_INT(jobs_bus_dispatch(bus, "JOB_UPDATED_EVENT", 17), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_bus_dispatch(bus, "JOB_UPDATED_EVENT j1 NOPE", 25), TS_EINVAL);
  TS_CHECK_EQ_INT(a.events + b.events + login.events, 3);
  TS_CHECK_EQ_INT(a.rechecks, 0); /* only the connection calls it */

  more.bus = bus;
  TS_CHECK_EQ_INT(jobs_bus_subscribe(bus, JOBS_EV_QUOTA_DB_UPDATED, subscribe_more, &more), TS_OK);
  TS_CHECK_EQ_INT(jobs_bus_dispatch(bus, "QUOTA_DB_UPDATED_EVENT bob", 26), TS_OK);
  TS_CHECK_EQ_INT(more.events, 33); /* itself, then the 32 added meanwhile */
  TS_CHECK_EQ_INT(jobs_bus_dispatch(bus, "QUOTA_DB_UPDATED_EVENT bob", 26), TS_OK);
  TS_CHECK_EQ_INT(more.events, 66);

  jobs_bus_stop(bus);
  TS_CHECK_EQ_INT(jobs_bus_dispatch(bus, "JOB_UPDATED_EVENT j1 COMPLETED", 30), TS_OK);
  TS_CHECK_EQ_INT(a.events, 1); /* nothing after stop */
  uv_run(&loop, UV_RUN_DEFAULT);
  jobs_bus_free(bus);
  TS_CHECK(uv_loop_close(&loop) == 0);
  return 0;
}

/* ---- against PostgreSQL ---------------------------------------------------------- */

typedef struct bus_run {
  uv_timer_t guard;
  int expired;
  int (*done)(void *);
  void *arg;
  uv_idle_t idle;
} bus_run;

static void on_guard(uv_timer_t *t)
{
  bus_run *r = t->data;
  r->expired = 1;
  uv_stop(t->loop);
}

static void on_idle(uv_idle_t *h)
{
  bus_run *r = h->data;
  if (r->done(r->arg))
    uv_stop(h->loop);
}

/* Runs the loop until done(arg) says so; 0, or 1 when 30 s went by (a
 * guard against hanging, not a measurement). */
static int run_until(uv_loop_t *loop, int (*done)(void *), void *arg)
{
  bus_run r = {.done = done, .arg = arg};
  uv_timer_init(loop, &r.guard);
  uv_idle_init(loop, &r.idle);
  r.guard.data = r.idle.data = &r;
  uv_timer_start(&r.guard, on_guard, 30000, 0);
  uv_idle_start(&r.idle, on_idle);
  if (!done(arg))
    uv_run(loop, UV_RUN_DEFAULT);
  uv_close((uv_handle_t *)&r.guard, NULL);
  uv_close((uv_handle_t *)&r.idle, NULL);
  uv_run(loop, UV_RUN_NOWAIT);
  return r.expired;
}

typedef struct pg_state {
  jobs_bus *bus;
  counter c;
  int want_events, want_rechecks;
} pg_state;

static int reached(void *p)
{
  pg_state *s = p;
  return s->c.events >= s->want_events && s->c.rechecks >= s->want_rechecks &&
         jobs_bus_connected(s->bus);
}

int test_pg_bus_listen(void)
{
  const char *dsn = getenv("TAPSERVE_TEST_DSN");
  uv_loop_t loop;
  pg_state s;
  jobs_event ev;
  ts_error err;
  PGconn *c;
  if (!dsn || !*dsn) {
    fprintf(stderr, "# TAPSERVE_TEST_DSN is not set\n");
    return 1;
  }
  c = PQconnectdb(dsn);
  TS_CHECK(PQstatus(c) == CONNECTION_OK);
  TS_CHECK(uv_loop_init(&loop) == 0);
  memset(&s, 0, sizeof s);
  s.bus = jobs_bus_new(&loop, dsn);
  TS_CHECK(s.bus);
  TS_CHECK_EQ_INT(jobs_bus_subscribe(s.bus, JOBS_EV_JOB_UPDATED, count_mine, &s.c), TS_OK);
  TS_CHECK_EQ_INT(jobs_bus_on_recheck(s.bus, count_recheck, &s.c), TS_OK);
  jobs_bus_start(s.bus);
  /* connected: the first connection re-checks too */
  s.want_rechecks = 1;
  TS_CHECK_EQ_INT(run_until(&loop, reached, &s), 0);
  TS_CHECK_EQ_INT(s.c.rechecks, 1);

  /* an event published from another connection arrives, decoded */
  memset(&ev, 0, sizeof ev);
  ev.kind = JOBS_EV_JOB_UPDATED;
  snprintf(ev.id, sizeof ev.id, "feedface");
  ev.has_phase = 1;
  ev.phase = JOBS_COMPLETED;
  TS_CHECK_EQ_INT(jobs_event_publish(c, &ev, &err), TS_OK);
  /* hostile payloads on the channel are dropped, the connection stays */
  TS_CHECK(ts_test_exec_ok(c, "SELECT pg_notify('" JOBS_CHANNEL "', 'JOB_UPDATED_EVENT'),"
                              " pg_notify('" JOBS_CHANNEL "', repeat('x', 7000)),"
                              " pg_notify('" JOBS_CHANNEL "', 'JOB_UPDATED_EVENT a b c d')"));
  s.want_events = 1;
  TS_CHECK_EQ_INT(run_until(&loop, reached, &s), 0);
  TS_CHECK_EQ_INT(s.c.events, 1);
  TS_CHECK_STREQ(s.c.last.id, "feedface");
  TS_CHECK_EQ_INT(s.c.last.phase, JOBS_COMPLETED);
  /* events of other kinds reach nobody here */
  ev.kind = JOBS_EV_JOB_CREATED;
  TS_CHECK_EQ_INT(jobs_event_publish(c, &ev, &err), TS_OK);
  ev.kind = JOBS_EV_LOGIN_IN;
  TS_CHECK_EQ_INT(jobs_event_publish(c, &ev, &err), TS_EINVAL); /* a phase outside jobs */

  /* the LISTEN connection dies: one re-check at the loss, one when back */
  TS_CHECK(ts_test_exec_ok(c,
                           "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                           " WHERE query = 'LISTEN " JOBS_CHANNEL "' AND pid <> pg_backend_pid()"));
  s.want_rechecks = 3;
  TS_CHECK_EQ_INT(run_until(&loop, reached, &s), 0);
  TS_CHECK_EQ_INT(s.c.rechecks, 3);
  /* and events flow again on the new connection */
  ev.kind = JOBS_EV_JOB_UPDATED;
  snprintf(ev.id, sizeof ev.id, "second");
  TS_CHECK_EQ_INT(jobs_event_publish(c, &ev, &err), TS_OK);
  s.want_events = 2;
  TS_CHECK_EQ_INT(run_until(&loop, reached, &s), 0);
  TS_CHECK_STREQ(s.c.last.id, "second");
  TS_CHECK_EQ_INT(s.c.events, 2);

  jobs_bus_stop(s.bus);
  uv_run(&loop, UV_RUN_DEFAULT);
  jobs_bus_free(s.bus);
  TS_CHECK(uv_loop_close(&loop) == 0);
  PQfinish(c);
  return 0;
}
