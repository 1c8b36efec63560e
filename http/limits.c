/* http/limits.c: admission of connections. Each counts against its peer
 * address (max_connections_per_addr) and the server (max_connections); a
 * full server evicts the connection that has waited longest without a
 * complete request head. The body budget is kept by parse.c. */
#include "http/http_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- counting: addresses, the wait list ------------------------------------ */

static size_t addr_bucket(const char *name)
{
  uint32_t h = 2166136261u; /* FNV-1a */
  for (; *name; name++)
    h = (h ^ (unsigned char)*name) * 16777619u;
  return h % HTTP__ADDR_BUCKETS;
}

/* The entry of `name`, created with count 0 when missing; NULL when out of
 * memory. */
static http__addr *addr_get(http_server *s, const char *name)
{
  http__addr **b = &s->addrs[addr_bucket(name)];
  for (http__addr *a = *b; a; a = a->next)
    if (!strcmp(a->name, name))
      return a;
  http__addr *a = calloc(1, sizeof *a);
  if (!a)
    return NULL;
  snprintf(a->name, sizeof a->name, "%s", name);
  a->next = *b;
  *b = a;
  return a;
}

static void addr_put(http_server *s, http__addr *a)
{
  if (--a->count > 0)
    return;
  for (http__addr **pp = &s->addrs[addr_bucket(a->name)]; *pp; pp = &(*pp)->next)
    if (*pp == a) {
      *pp = a->next;
      break;
    }
  free(a);
}

/* Stops counting c against max_connections and its address. */
void http__conn_uncount(http_conn *c)
{
  if (c->rejected)
    return;
  c->rejected = 1;
  c->srv->nactive--;
  if (c->addr)
    addr_put(c->srv, c->addr);
  c->addr = NULL;
}

/* Puts c on the wait list, or takes it off, as its state says: counted,
 * open, answering nothing, and no complete request head yet. A connection
 * joins at the tail, so the head has waited longest. */
void http__conn_update_waiting(http_conn *c)
{
  http_server *s = c->srv;
  int w = !c->closed && !c->graceful && !c->rejected && !c->req &&
          (c->rp.phase == HTTP__PH_IDLE || c->rp.phase == HTTP__PH_HEAD);
  if (w == c->waiting)
    return;
  c->waiting = w;
  if (w) {
    c->wnext = NULL;
    c->wprev = s->wait_tail;
    if (s->wait_tail)
      s->wait_tail->wnext = c;
    else
      s->wait_head = c;
    s->wait_tail = c;
    return;
  }
  if (c->wprev)
    c->wprev->wnext = c->wnext;
  else
    s->wait_head = c->wnext;
  if (c->wnext)
    c->wnext->wprev = c->wprev;
  else
    s->wait_tail = c->wprev;
  c->wprev = c->wnext = NULL;
}

/* Counts a new connection against its address and the server, making room
 * if need be, and starts reading; or refuses it. */
void http__srv_admit(http_server *s, http_conn *c)
{
  http__addr *a = addr_get(s, c->remote_addr);
  if (!a) {
    http__conn_close(c);
    return;
  }
  if (a->count >= s->opts.max_connections_per_addr &&
      !http_proxies_trust(s->opts.trusted_proxies, c->remote_addr)) {
    http__conn_error_reply(c, 429, "too many connections from your address");
    return;
  }
  a->count++;
  c->addr = a;
  c->rejected = 0;
  s->nactive++;
  if (s->nactive > s->opts.max_connections) {
    /* Full. A connection that has not sent a complete request head has
     * nothing in progress: the one that has waited longest makes room,
     * rather than the newcomer being refused (one client's idle
     * connections would otherwise lock everybody else out). */
    http_conn *old = s->wait_head;
    if (!old) {
      http__conn_uncount(c);
      http__conn_error_reply(c, 503, "too many connections");
      return;
    }
    ts_log(TS_LOG_INFO, NULL, "server full: closing a connection of %s that has no request",
           old->remote_addr);
    http__conn_uncount(old);
    http__conn_close(old);
  }
  /* A new connection has first_byte_timeout to begin its head and
   * header_timeout (from now) to complete it. */
  c->accepted_ms = uv_now(s->loop);
  uint64_t first = s->opts.first_byte_timeout_ms;
  http__conn_timer_set(c, TM_FIRST,
                       first < s->opts.header_timeout_ms ? first : s->opts.header_timeout_ms, 0);
  http__conn_read_start(c);
  http__conn_update_waiting(c);
}

void http__addrs_free(http_server *s)
{
  for (size_t i = 0; i < HTTP__ADDR_BUCKETS; i++) /* empty once every connection closed */
    while (s->addrs[i]) {
      http__addr *a = s->addrs[i];
      s->addrs[i] = a->next;
      free(a);
    }
}
