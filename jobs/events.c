/* The event bus: payload encoding, publishing, and the LISTEN connection
 * on the loop that hands events to subscribers.
 *
 * The connection is opened with blocking libpq on libuv's thread pool
 * (PQconnectdb, LISTEN), then watched on the loop with one uv_poll_t on
 * libpq's socket. When it fails (the database restarts, a failover, the
 * backend is terminated) the poll handle is closed, then the connection,
 * every re-check callback runs, and a timer retries with a backoff. */
#include "jobs/events.h"
#include "common/metrics.h"
#include "stream/pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
  const char *name, *object;
  int id_required;
} kinds[JOBS_EV_NKINDS] = {
#define XX(name, obj, id_required) {#name "_EVENT", obj, id_required},
    JOBS_EVENT_KINDS(XX)
#undef XX
};

const char *jobs_event_name(jobs_event_kind k)
{
  return (unsigned)k < JOBS_EV_NKINDS ? kinds[k].name : NULL;
}

const char *jobs_event_object(jobs_event_kind k)
{
  return (unsigned)k < JOBS_EV_NKINDS ? kinds[k].object : NULL;
}

static int is_job_kind(jobs_event_kind k)
{
  return k == JOBS_EV_JOB_CREATED || k == JOBS_EV_JOB_UPDATED || k == JOBS_EV_JOB_REMOVED;
}

/* Printable ASCII without the space: what an id may hold on the wire. */
static int valid_id(const char *s, size_t n)
{
  if (n > JOBS_EVENT_ID_MAX)
    return 0;
  for (size_t i = 0; i < n; i++)
    if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
      return 0;
  return 1;
}

static int valid_event(const jobs_event *ev)
{
  size_t n;
  if ((unsigned)ev->kind >= JOBS_EV_NKINDS)
    return 0;
  n = strnlen(ev->id, sizeof ev->id);
  if (n == sizeof ev->id || !valid_id(ev->id, n) || (!n && kinds[ev->kind].id_required))
    return 0;
  if (ev->has_phase && (!is_job_kind(ev->kind) || (unsigned)ev->phase >= JOBS_NPHASES || !n))
    return 0;
  return 1;
}

ts_err jobs_event_encode(const jobs_event *ev, char *buf, size_t cap, size_t *len)
{
  int n;
  if (cap)
    buf[0] = '\0';
  if (len)
    *len = 0;
  if (!valid_event(ev))
    return TS_EINVAL;
  if (!ev->id[0])
    n = snprintf(buf, cap, "%s", kinds[ev->kind].name);
  else if (!ev->has_phase)
    n = snprintf(buf, cap, "%s %s", kinds[ev->kind].name, ev->id);
  else
    n = snprintf(buf, cap, "%s %s %s", kinds[ev->kind].name, ev->id, jobs_phase_name(ev->phase));
  if (n < 0 || (size_t)n >= cap) {
    if (cap)
      buf[0] = '\0';
    return TS_ELIMIT;
  }
  if (len)
    *len = (size_t)n;
  return TS_OK;
}

ts_err jobs_event_decode(const char *payload, size_t len, jobs_event *out)
{
  const char *tok[3];
  size_t tlen[3], ntok = 0, i = 0;
  char phase[16];
  memset(out, 0, sizeof *out);
  if (!payload || !len || len >= JOBS_EVENT_PAYLOAD_MAX)
    return TS_EINVAL;
  /* Tokens separated by exactly one space; no empty token, no fourth. */
  while (i < len) {
    size_t start = i;
    while (i < len && payload[i] != ' ')
      i++;
    if (i == start || ntok == 3)
      return TS_EINVAL;
    tok[ntok] = payload + start;
    tlen[ntok++] = i - start;
    if (i < len && ++i == len)
      return TS_EINVAL; /* a trailing space */
  }
  int kind = -1;
  for (int k = 0; k < JOBS_EV_NKINDS; k++)
    if (strlen(kinds[k].name) == tlen[0] && !memcmp(kinds[k].name, tok[0], tlen[0]))
      kind = k;
  if (kind < 0)
    return TS_EINVAL;
  if (ntok < 2 ? kinds[kind].id_required : !valid_id(tok[1], tlen[1]))
    return TS_EINVAL;
  if (ntok == 3) {
    /* printable like an id: a NUL would cut the name short */
    if (!is_job_kind((jobs_event_kind)kind) || tlen[2] >= sizeof phase ||
        !valid_id(tok[2], tlen[2]))
      return TS_EINVAL;
    memcpy(phase, tok[2], tlen[2]);
    phase[tlen[2]] = '\0';
    if (jobs_phase_parse(phase, &out->phase)) {
      out->phase = 0;
      return TS_EINVAL;
    }
    out->has_phase = 1;
  }
  out->kind = (jobs_event_kind)kind;
  if (ntok >= 2) {
    memcpy(out->id, tok[1], tlen[1]);
    out->id[tlen[1]] = '\0';
  }
  return TS_OK;
}

/* Events this process published, and received on its bus (metrics). */
static ts_counter ev_sent, ev_received;

void jobs_events_counts(uint64_t *sent, uint64_t *received)
{
  *sent = ts_counter_get(&ev_sent);
  *received = ts_counter_get(&ev_received);
}

ts_err jobs_event_publish(PGconn *conn, const jobs_event *ev, ts_error *err)
{
  char payload[JOBS_EVENT_PAYLOAD_MAX];
  const char *v[] = {JOBS_CHANNEL, payload};
  PGresult *r;
  if (jobs_event_encode(ev, payload, sizeof payload, NULL))
    return ts_fail(err, TS_EINVAL, 0, "not a valid event");
  r = PQexecParams(conn, "SELECT pg_notify($1, $2)", 2, NULL, v, NULL, NULL, 0);
  if (PQresultStatus(r) == PGRES_TUPLES_OK)
    ts_counter_add(&ev_sent, 1);
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    ts_err code = stream_pg_conn_lost(conn, r) ? TS_EUNAVAIL : TS_EDB;
    ts_fail(err, code, 0, "cannot publish %s: %s", payload, PQerrorMessage(conn));
    PQclear(r);
    return code;
  }
  PQclear(r);
  return TS_OK;
}

/* ---- the bus ------------------------------------------------------------- */

typedef struct bus_sub {
  jobs_event_kind kind; /* JOBS_EV_NKINDS: a re-check callback */
  jobs_event_cb cb;
  jobs_recheck_cb recheck;
  void *ud;
} bus_sub;

typedef struct bus_connect {
  uv_work_t work;
  jobs_bus *b;
  PGconn *conn;
} bus_connect;

struct jobs_bus {
  uv_loop_t *loop;
  char *dsn;
  bus_sub *subs;
  size_t nsubs, cap;
  PGconn *conn;
  uv_poll_t poll;
  uv_timer_t retry;
  int poll_open, retry_open;
  int connecting, stopped;
  uint64_t backoff_ms;
};

jobs_bus *jobs_bus_new(uv_loop_t *loop, const char *dsn)
{
  jobs_bus *b = calloc(1, sizeof *b);
  if (!b)
    return NULL;
  b->dsn = strdup(dsn);
  if (!b->dsn) {
    free(b);
    return NULL;
  }
  b->loop = loop;
  b->backoff_ms = JOBS_BUS_RETRY_MIN_MS;
  return b;
}

static ts_err add_sub(jobs_bus *b, const bus_sub *s)
{
  if (b->nsubs == b->cap) {
    size_t cap = b->cap ? b->cap * 2 : 8;
    bus_sub *n = realloc(b->subs, cap * sizeof *n);
    if (!n)
      return TS_ENOMEM;
    b->subs = n;
    b->cap = cap;
  }
  b->subs[b->nsubs++] = *s;
  return TS_OK;
}

ts_err jobs_bus_subscribe(jobs_bus *b, jobs_event_kind kind, jobs_event_cb cb, void *ud)
{
  bus_sub s = {kind, cb, NULL, ud};
  if ((unsigned)kind >= JOBS_EV_NKINDS || !cb)
    return TS_EINVAL;
  return add_sub(b, &s);
}

ts_err jobs_bus_on_recheck(jobs_bus *b, jobs_recheck_cb cb, void *ud)
{
  bus_sub s = {JOBS_EV_NKINDS, NULL, cb, ud};
  if (!cb)
    return TS_EINVAL;
  return add_sub(b, &s);
}

/* By index: a callback may subscribe (and so move the array). */
static void recheck_all(jobs_bus *b)
{
  for (size_t i = 0; i < b->nsubs && !b->stopped; i++)
    if (b->subs[i].recheck)
      b->subs[i].recheck(b->subs[i].ud);
}

ts_err jobs_bus_dispatch(jobs_bus *b, const char *payload, size_t len)
{
  jobs_event ev;
  if (jobs_event_decode(payload, len, &ev)) {
    ts_log(TS_LOG_DEBUG, NULL, "event bus: ignored a malformed payload of %zu byte(s)", len);
    return TS_EINVAL;
  }
  ts_counter_add(&ev_received, 1);
  for (size_t i = 0; i < b->nsubs && !b->stopped; i++)
    if (b->subs[i].cb && b->subs[i].kind == ev.kind)
      b->subs[i].cb(b->subs[i].ud, &ev);
  return TS_OK;
}

int jobs_bus_connected(const jobs_bus *b)
{
  return b->conn != NULL;
}

static void connect_start(jobs_bus *b);

static void poll_closed(uv_handle_t *h)
{
  jobs_bus *b = h->data;
  b->poll_open = 0;
}

/* The poll handle goes before PQfinish closes the socket it watches. */
static void drop(jobs_bus *b)
{
  if (b->poll_open && !uv_is_closing((uv_handle_t *)&b->poll)) {
    uv_poll_stop(&b->poll);
    uv_close((uv_handle_t *)&b->poll, poll_closed);
  }
  if (b->conn) {
    PQfinish(b->conn);
    b->conn = NULL;
  }
}

static void on_retry(uv_timer_t *t)
{
  connect_start(t->data);
}

static void schedule_retry(jobs_bus *b)
{
  if (b->stopped)
    return;
  if (!b->retry_open) {
    uv_timer_init(b->loop, &b->retry);
    b->retry.data = b;
    b->retry_open = 1;
  }
  uv_timer_start(&b->retry, on_retry, b->backoff_ms, 0);
  b->backoff_ms *= 2;
  if (b->backoff_ms > JOBS_BUS_RETRY_MAX_MS)
    b->backoff_ms = JOBS_BUS_RETRY_MAX_MS;
}

static void on_poll(uv_poll_t *h, int status, int events)
{
  jobs_bus *b = h->data;
  PGnotify *n;
  (void)events;
  if (status < 0 || !PQconsumeInput(b->conn) || PQstatus(b->conn) != CONNECTION_OK) {
    ts_log(TS_LOG_WARN, NULL, "LISTEN connection lost: %s; reconnecting",
           b->conn ? PQerrorMessage(b->conn) : "");
    drop(b);
    /* Changes may have been missed: every subscriber looks again. */
    recheck_all(b);
    schedule_retry(b);
    return;
  }
  while (!b->stopped && (n = PQnotifies(b->conn)) != NULL) {
    jobs_bus_dispatch(b, n->extra, strnlen(n->extra, JOBS_EVENT_PAYLOAD_MAX));
    PQfreemem(n);
  }
}

static void connect_work(uv_work_t *w)
{
  bus_connect *bc = w->data;
  PGconn *c = PQconnectdb(bc->b->dsn); /* immutable while the bus lives */
  PGresult *r;
  if (PQstatus(c) != CONNECTION_OK) {
    PQfinish(c);
    return;
  }
  r = PQexec(c, "LISTEN " JOBS_CHANNEL);
  if (PQresultStatus(r) != PGRES_COMMAND_OK) {
    PQclear(r);
    PQfinish(c);
    return;
  }
  PQclear(r);
  PQsetnonblocking(c, 1);
  bc->conn = c;
}

static void connect_after(uv_work_t *w, int status)
{
  bus_connect *bc = w->data;
  jobs_bus *b = bc->b;
  (void)status;
  b->connecting = 0;
  if (bc->conn && (b->stopped || b->conn || b->poll_open)) {
    /* Stopped meanwhile, or the old poll handle is still closing. */
    PQfinish(bc->conn);
    if (!b->stopped && !b->conn)
      schedule_retry(b);
  } else if (!bc->conn) {
    schedule_retry(b);
  } else if (uv_poll_init_socket(b->loop, &b->poll, PQsocket(bc->conn)) != 0) {
    PQfinish(bc->conn);
    schedule_retry(b);
  } else {
    b->conn = bc->conn;
    b->poll.data = b;
    b->poll_open = 1;
    b->backoff_ms = JOBS_BUS_RETRY_MIN_MS;
    uv_poll_start(&b->poll, UV_READABLE, on_poll);
    /* Whatever happened while we were not listening. */
    recheck_all(b);
  }
  free(bc);
}

static void connect_start(jobs_bus *b)
{
  bus_connect *bc;
  if (b->conn || b->connecting || b->stopped)
    return;
  bc = calloc(1, sizeof *bc);
  if (!bc) {
    schedule_retry(b);
    return;
  }
  bc->b = b;
  bc->work.data = bc;
  b->connecting = 1;
  if (uv_queue_work(b->loop, &bc->work, connect_work, connect_after) != 0) {
    b->connecting = 0;
    free(bc);
    schedule_retry(b);
  }
}

void jobs_bus_start(jobs_bus *b)
{
  connect_start(b);
}

static void retry_closed(uv_handle_t *h)
{
  jobs_bus *b = h->data;
  b->retry_open = 0;
}

void jobs_bus_stop(jobs_bus *b)
{
  if (!b || b->stopped)
    return;
  b->stopped = 1;
  drop(b);
  if (b->retry_open && !uv_is_closing((uv_handle_t *)&b->retry))
    uv_close((uv_handle_t *)&b->retry, retry_closed);
}

void jobs_bus_free(jobs_bus *b)
{
  if (!b)
    return;
  free(b->subs);
  free(b->dsn);
  free(b);
}
