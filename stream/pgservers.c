/* The servers of a connection string, one at a time (see pg.h and
 * docs/internals/stream.md "Several servers").
 *
 * libpq's multi-host syntax (host=a,b port=1,2, or postgresql://a:1,b:2/db)
 * makes libpq try the hosts in order and stay on the first that answers:
 * every connection would land on the first server. Here the string is
 * parsed once (PQconninfoParse), its host, hostaddr and port lists are
 * split, and each new connection names one server: round-robin over the
 * servers that are up. A server that refused a connection is down for a
 * back-off (down_ms, doubling up to 8 times that while it keeps refusing)
 * and tried again after it. target_session_attrs is dropped: with one
 * server per connection it could only refuse the standbys.
 *
 * Shared by the loop's pool and the executor threads: the up/down state
 * and the round-robin position are under a mutex. */
#include "stream/pg_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
  SERVERS_DOWN_MS = 5000,  /* default back-off of a server that refused a connection */
  SERVERS_DOWN_GROWTH = 8, /* the back-off grows up to this many times down_ms */
};

typedef struct pg_server {
  char *host, *hostaddr, *port; /* NULL: libpq's default */
  char name[STREAM_PG_SERVER_NAME_MAX];
  int64_t down_until; /* monotonic ms; 0: up */
  int64_t backoff;    /* the next back-off, ms */
} pg_server;

struct stream_pg_servers {
  pthread_mutex_t mu;
  int n, next; /* next: where round-robin starts */
  int64_t down_ms;
  pg_server srv[STREAM_PG_SERVERS_MAX];
  /* the other options of the string, the same for every server */
  int nopt;
  char **kw, **val;
};

static int64_t mono_ms(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Splits a comma-separated list into its items (empty items stay, as
 * libpq's defaults). Returns the count, or -1 past STREAM_PG_SERVERS_MAX. */
static int split_list(char *s, char *items[STREAM_PG_SERVERS_MAX])
{
  int n = 0;
  if (!s)
    return 0;
  for (;;) {
    if (n == STREAM_PG_SERVERS_MAX)
      return -1;
    items[n++] = s;
    char *comma = strchr(s, ',');
    if (!comma)
      return n;
    *comma = '\0';
    s = comma + 1;
  }
}

static char *dup_item(char *items[], int n, int i, int *oom)
{
  char *v;
  if (n == 0)
    return NULL;
  v = items[n == 1 ? 0 : i];
  if (!v[0])
    return NULL;
  v = strdup(v);
  if (!v)
    *oom = 1;
  return v;
}

void stream_pg_servers_free(stream_pg_servers *s)
{
  if (!s)
    return;
  for (int i = 0; i < s->n; i++) {
    free(s->srv[i].host);
    free(s->srv[i].hostaddr);
    free(s->srv[i].port);
  }
  for (int i = 0; i < s->nopt; i++) {
    free(s->kw[i]);
    free(s->val[i]);
  }
  free(s->kw);
  free(s->val);
  pthread_mutex_destroy(&s->mu);
  free(s);
}

/* Fills the servers from the host, hostaddr and port lists. */
static ts_err servers_split(stream_pg_servers *s, char *host, char *hostaddr, char *port,
                            ts_error *err)
{
  char *h[STREAM_PG_SERVERS_MAX], *a[STREAM_PG_SERVERS_MAX], *p[STREAM_PG_SERVERS_MAX];
  int nh = split_list(host, h), na = split_list(hostaddr, a), np = split_list(port, p);
  int oom = 0;
  if (nh < 0 || na < 0 || np < 0)
    return ts_fail(err, TS_EINVAL, 0, "the connection string names more than %d servers",
                   STREAM_PG_SERVERS_MAX);
  s->n = nh > na ? nh : na;
  if (s->n == 0)
    s->n = 1;
  if (nh && na && nh != na)
    return ts_fail(err, TS_EINVAL, 0, "the connection string names %d hosts but %d host addresses",
                   nh, na);
  if (np > 1 && np != s->n)
    return ts_fail(err, TS_EINVAL, 0, "the connection string names %d servers but %d ports", s->n,
                   np);
  for (int i = 0; i < s->n; i++) {
    pg_server *v = &s->srv[i];
    v->host = dup_item(h, nh, i, &oom);
    v->hostaddr = dup_item(a, na, i, &oom);
    v->port = dup_item(p, np, i, &oom);
    v->backoff = s->down_ms;
    snprintf(v->name, sizeof v->name, "%.100s:%.20s",
             v->host       ? v->host
             : v->hostaddr ? v->hostaddr
                           : "(default)",
             v->port ? v->port : "(default)");
  }
  return oom ? ts_fail(err, TS_ENOMEM, 0, "out of memory") : TS_OK;
}

/* The options of a connection string into *opts; an error (and *opts
 * NULL) when it is malformed. */
static ts_err parse_dsn(const char *dsn, PQconninfoOption **opts, ts_error *err)
{
  char *perr = NULL;
  ts_err rc = TS_OK;
  *opts = PQconninfoParse(dsn ? dsn : "", &perr);
  if (!*opts) {
    char msg[300];
    stream__trim_pq_message(msg, sizeof msg, perr ? perr : "out of memory");
    rc = ts_fail(err, perr ? TS_EINVAL : TS_ENOMEM, 0, "malformed connection string: %s", msg);
  }
  PQfreemem(perr);
  return rc;
}

/* The value of a server keyword (host, hostaddr, port) in opts, or NULL. */
static char *server_opt(PQconninfoOption *opts, const char *kw)
{
  for (PQconninfoOption *o = opts; o && o->keyword; o++)
    if (!strcmp(o->keyword, kw))
      return o->val && o->val[0] ? o->val : NULL;
  return NULL;
}

ts_err stream_pg_servers_new(const char *dsn, int down_ms, stream_pg_servers **out, ts_error *err)
{
  return stream_pg_servers_new_at(dsn, NULL, down_ms, out, err);
}

ts_err stream_pg_servers_new_at(const char *dsn, const char *at_dsn, int down_ms,
                                stream_pg_servers **out, ts_error *err)
{
  PQconninfoOption *opts = NULL, *at = NULL;
  stream_pg_servers *s = NULL;
  char *host = NULL, *hostaddr = NULL, *port = NULL;
  int nopt = 0;

  *out = NULL;
  ts_err rc = parse_dsn(dsn, &opts, err);
  if (!rc && at_dsn)
    rc = parse_dsn(at_dsn, &at, err);
  if (rc)
    goto out;
  s = calloc(1, sizeof *s);
  for (PQconninfoOption *o = opts; o->keyword; o++)
    nopt++;
  if (!s || !(s->kw = calloc((size_t)nopt, sizeof *s->kw)) ||
      !(s->val = calloc((size_t)nopt, sizeof *s->val))) {
    rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
    goto out;
  }
  pthread_mutex_init(&s->mu, NULL);
  s->down_ms = down_ms > 0 ? down_ms : SERVERS_DOWN_MS;
  for (PQconninfoOption *o = opts; o->keyword; o++) {
    if (!o->val || !o->val[0])
      continue;
    if (!strcmp(o->keyword, "host"))
      host = o->val;
    else if (!strcmp(o->keyword, "hostaddr"))
      hostaddr = o->val;
    else if (!strcmp(o->keyword, "port"))
      port = o->val;
    else if (strcmp(o->keyword, "target_session_attrs") != 0) {
      s->kw[s->nopt] = strdup(o->keyword);
      s->val[s->nopt] = strdup(o->val);
      if (!s->kw[s->nopt++] || !s->val[s->nopt - 1]) {
        rc = ts_fail(err, TS_ENOMEM, 0, "out of memory");
        goto out;
      }
    }
  }
  if (at) {
    host = server_opt(at, "host");
    hostaddr = server_opt(at, "hostaddr");
    port = server_opt(at, "port");
  }
  rc = servers_split(s, host, hostaddr, port, err);
out:
  PQconninfoFree(opts);
  PQconninfoFree(at);
  if (rc)
    stream_pg_servers_free(s);
  else
    *out = s;
  return rc;
}

static int same_opt(const char *a, const char *b)
{
  return a == b || (a && b && !strcmp(a, b));
}

int stream_pg_servers_same(const stream_pg_servers *a, const stream_pg_servers *b)
{
  if (a->n != b->n)
    return 0;
  for (int i = 0; i < a->n; i++)
    if (!same_opt(a->srv[i].host, b->srv[i].host) ||
        !same_opt(a->srv[i].hostaddr, b->srv[i].hostaddr) ||
        !same_opt(a->srv[i].port, b->srv[i].port))
      return 0;
  return 1;
}

int stream_pg_servers_count(const stream_pg_servers *s)
{
  return s->n;
}

const char *stream_pg_servers_name(const stream_pg_servers *s, int i)
{
  return i >= 0 && i < s->n ? s->srv[i].name : "(none)";
}

int stream_pg_servers_pick(stream_pg_servers *s, int avoid)
{
  int64_t now = mono_ms();
  int best = -1, soonest = -1;
  pthread_mutex_lock(&s->mu);
  for (int k = 0; k < s->n; k++) {
    int i = (s->next + k) % s->n;
    pg_server *v = &s->srv[i];
    if (v->down_until <= now && (best < 0 || best == avoid))
      best = i;
    if (soonest < 0 || v->down_until < s->srv[soonest].down_until)
      soonest = i;
  }
  if (best < 0)
    best = soonest; /* every server is down: the first to come back */
  s->next = (best + 1) % s->n;
  pthread_mutex_unlock(&s->mu);
  return best;
}

int stream_pg_servers_is_up(stream_pg_servers *s, int i)
{
  int64_t now = mono_ms();
  pthread_mutex_lock(&s->mu);
  int up = i >= 0 && i < s->n && s->srv[i].down_until <= now;
  pthread_mutex_unlock(&s->mu);
  return up;
}

int stream_pg_servers_up(stream_pg_servers *s)
{
  int64_t now = mono_ms();
  int up = 0;
  pthread_mutex_lock(&s->mu);
  for (int i = 0; i < s->n; i++)
    up += s->srv[i].down_until <= now;
  pthread_mutex_unlock(&s->mu);
  return up;
}

void stream_pg_servers_mark(stream_pg_servers *s, int i, int ok)
{
  if (i < 0 || i >= s->n)
    return;
  pg_server *v = &s->srv[i];
  int was_down, log_down = 0;
  pthread_mutex_lock(&s->mu);
  was_down = v->down_until != 0;
  if (ok) {
    v->down_until = 0;
    v->backoff = s->down_ms;
  } else {
    log_down = !was_down || v->down_until <= mono_ms();
    if (log_down) {
      v->down_until = mono_ms() + v->backoff;
      if (v->backoff < s->down_ms * SERVERS_DOWN_GROWTH)
        v->backoff *= 2;
    }
  }
  int64_t ms = v->down_until ? v->down_until - mono_ms() : 0;
  pthread_mutex_unlock(&s->mu);
  if (s->n < 2)
    return; /* one server: the callers' own messages say it all */
  if (ok && was_down)
    ts_log(TS_LOG_INFO, NULL, "database server %s answers again", v->name);
  else if (log_down)
    ts_log(TS_LOG_WARN, NULL, "database server %s is down; not tried for %lld ms", v->name,
           (long long)ms);
}

int stream_pg_servers_params(const stream_pg_servers *s, int i, const char *app_name,
                             const char *kw[STREAM_PG_PARAMS_MAX],
                             const char *val[STREAM_PG_PARAMS_MAX])
{
  int n = 0;
  const pg_server *v = &s->srv[i];
  for (int k = 0; k < s->nopt && n < STREAM_PG_PARAMS_MAX - 5; k++) {
    if (app_name && !strcmp(s->kw[k], "application_name"))
      continue;
    kw[n] = s->kw[k];
    val[n++] = s->val[k];
  }
#define PARAM(k, v)                                                                                \
  if (v) {                                                                                         \
    kw[n] = k;                                                                                     \
    val[n++] = v;                                                                                  \
  }
  PARAM("host", v->host)
  PARAM("hostaddr", v->hostaddr)
  PARAM("port", v->port)
  PARAM("application_name", app_name)
#undef PARAM
  kw[n] = val[n] = NULL;
  return n;
}

PGconn *stream_pg_servers_connect(stream_pg_servers *s, const char *app_name, int first,
                                  int *server, ts_error *err)
{
  const char *kw[STREAM_PG_PARAMS_MAX], *val[STREAM_PG_PARAMS_MAX];
  char msg[400] = "";
  int i = -1;
  /* Each server at most once: `first`, then round-robin over those up. */
  for (int tries = 0; tries < s->n; tries++) {
    i = tries == 0 && first >= 0 && first < s->n ? first : stream_pg_servers_pick(s, -1);
    stream_pg_servers_params(s, i, app_name, kw, val);
    PGconn *conn = PQconnectdbParams(kw, val, 0);
    if (!conn) {
      ts_fail(err, TS_ENOMEM, 0, "out of memory connecting to the database");
      return NULL;
    }
    if (PQstatus(conn) == CONNECTION_OK) {
      stream_pg_servers_mark(s, i, 1);
      PQsetNoticeProcessor(conn, stream__notice_to_log, NULL);
      if (server)
        *server = i;
      return conn;
    }
    stream__trim_pq_message(msg, sizeof msg, PQerrorMessage(conn));
    PQfinish(conn);
    stream_pg_servers_mark(s, i, 0);
    if (!stream_pg_servers_up(s))
      break;
  }
  ts_fail(err, TS_EUNAVAIL, 0, "cannot connect to the database: %s", msg);
  return NULL;
}

int stream_pg_recovery_conflict(const PGresult *res)
{
  const char *st = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
  const char *m = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
  /* PostgreSQL's recovery conflicts: "canceling statement due to conflict
   * with recovery" (40001, or 57014 from older servers) and "terminating
   * connection due to conflict with recovery" (57P04 when the database
   * was dropped). The message is the only mark PostgreSQL gives them. */
  return st && m && (!strcmp(st, "40001") || !strcmp(st, "57014") || !strcmp(st, "57P04")) &&
         strstr(m, "conflict with recovery") != NULL;
}
