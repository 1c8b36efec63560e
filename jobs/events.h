/* jobs/events.h: the event bus between tapserve instances.
 *
 * Events travel with PostgreSQL LISTEN/NOTIFY on one channel
 * (JOBS_CHANNEL). A payload names the event and its object:
 * "<KIND>_EVENT <id> [<phase>]", e.g. "JOB_UPDATED_EVENT 3f…9a COMPLETED".
 * Events are hints: the database rows are the truth, so a subscriber
 * re-reads what it needs, and after a lost LISTEN connection every
 * subscriber re-checks everything (docs/internals/events.md). */
#ifndef TS_JOBS_EVENTS_H
#define TS_JOBS_EVENTS_H

#include "jobs/jobs.h"

#include <uv.h>

/* The kinds, with what their id names and whether it may be left out
 * (TAP_SCHEMA_UPDATED may name a table or nothing). Only job events carry
 * a phase. The wire name is the kind's name followed by "_EVENT". */
#define JOBS_EVENT_KINDS(XX)                                                                       \
  XX(JOB_CREATED, "job", 1)                                                                        \
  XX(JOB_UPDATED, "job", 1)                                                                        \
  XX(JOB_REMOVED, "job", 1)                                                                        \
  XX(LOGIN_IN, "user", 1)                                                                          \
  XX(LOGIN_OUT, "user", 1)                                                                         \
  XX(QUOTA_DB_UPDATED, "user", 1)                                                                  \
  XX(QUOTA_FILE_UPDATED, "user", 1)                                                                \
  XX(NOTIFICATION_CREATED, "notification", 1)                                                      \
  XX(NOTIFICATION_REMOVED, "notification", 1)                                                      \
  XX(SHARE_ITEMS_CREATED, "share item", 1)                                                         \
  XX(SHARE_ITEMS_UPDATED, "share item", 1)                                                         \
  XX(SHARE_ITEMS_REMOVED, "share item", 1)                                                         \
  XX(SHARE_GROUPS_CREATED, "group", 1)                                                             \
  XX(SHARE_GROUPS_UPDATED, "group", 1)                                                             \
  XX(SHARE_GROUPS_REMOVED, "group", 1)                                                             \
  XX(SHARE_USERS_CREATED, "user", 1)                                                               \
  XX(SHARE_USERS_UPDATED, "user", 1)                                                               \
  XX(SHARE_USERS_REMOVED, "user", 1)                                                               \
  XX(TAP_SCHEMA_UPDATED, "table", 0)

typedef enum jobs_event_kind {
#define XX(name, obj, id_required) JOBS_EV_##name,
  JOBS_EVENT_KINDS(XX)
#undef XX
      JOBS_EV_NKINDS
} jobs_event_kind;

enum {
  JOBS_EVENT_ID_MAX = 63,       /* bytes of an object id */
  JOBS_EVENT_PAYLOAD_MAX = 128, /* bytes of an encoded payload, with its NUL */
};

typedef struct jobs_event {
  jobs_event_kind kind;
  char id[JOBS_EVENT_ID_MAX + 1]; /* printable ASCII without spaces; may be "" when optional */
  int has_phase;                  /* job events only */
  jobs_phase phase;
} jobs_event;

/* "JOB_UPDATED_EVENT"; NULL for a value outside the enum. */
const char *jobs_event_name(jobs_event_kind k);
/* What the kind's id names ("job", "user", …); NULL outside the enum. */
const char *jobs_event_object(jobs_event_kind k);

/* Writes the payload of `ev` into buf (cap bytes, NUL included; *len may
 * be NULL). TS_EINVAL for an event that could not be decoded back (unknown
 * kind, missing or malformed id, a phase on a kind without one), TS_ELIMIT
 * when cap is too small; buf is then "". */
ts_err jobs_event_encode(const jobs_event *ev, char *buf, size_t cap, size_t *len);
/* Parses a payload of len bytes (from the database: never trusted). Every
 * token is bounded; anything but "KIND_EVENT id [phase]" with single
 * spaces, a known kind and a known phase is TS_EINVAL and leaves *out
 * zeroed. */
ts_err jobs_event_decode(const char *payload, size_t len, jobs_event *out);

/* Publishes `ev` with pg_notify on JOBS_CHANNEL through a blocking
 * connection (for events no trigger raises). Delivered when the caller's
 * transaction commits, at once outside one. */
ts_err jobs_event_publish(PGconn *conn, const jobs_event *ev, ts_error *err);
/* Events this process has published (jobs_event_publish) and received on
 * its bus (well-formed ones) since it started. Any thread. */
void jobs_events_counts(uint64_t *sent, uint64_t *received);

/* ---- the bus: one LISTEN connection on the loop ---------------------------- */
typedef struct jobs_bus jobs_bus;
/* Called on the loop thread, for each event of the kind subscribed to. */
typedef void (*jobs_event_cb)(void *ud, const jobs_event *ev);
/* Called on the loop thread when events may have been missed: when the
 * LISTEN connection is lost and again once it is re-established (and on
 * the first connection). The subscriber looks at everything again. */
typedef void (*jobs_recheck_cb)(void *ud);

/* A bus on `loop` for the database at `dsn` (copied). Nothing connects
 * before jobs_bus_start. NULL when out of memory. */
jobs_bus *jobs_bus_new(uv_loop_t *loop, const char *dsn);
/* Registers cb for one kind (several per kind are called in the order of
 * subscription). TS_EINVAL for an unknown kind, TS_ENOMEM. */
ts_err jobs_bus_subscribe(jobs_bus *b, jobs_event_kind kind, jobs_event_cb cb, void *ud);
/* Registers a re-check callback (see jobs_recheck_cb). TS_ENOMEM. */
ts_err jobs_bus_on_recheck(jobs_bus *b, jobs_recheck_cb cb, void *ud);
/* Connects (on libuv's thread pool) and LISTENs; a failed or lost
 * connection is retried with a backoff of JOBS_BUS_RETRY_MIN_MS doubling
 * up to JOBS_BUS_RETRY_MAX_MS, until jobs_bus_stop. */
enum { JOBS_BUS_RETRY_MIN_MS = 100, JOBS_BUS_RETRY_MAX_MS = 1000 };
void jobs_bus_start(jobs_bus *b);
/* Decodes one payload and calls the kind's subscribers. TS_EINVAL (logged
 * at debug level, nobody called) for a malformed payload. */
ts_err jobs_bus_dispatch(jobs_bus *b, const char *payload, size_t len);
/* 1 while the LISTEN connection is up. */
int jobs_bus_connected(const jobs_bus *b);
/* Drops the connection and closes the bus's handles; no callback runs
 * afterwards. A connection attempt still on the thread pool is closed
 * when it comes back, so run the loop before jobs_bus_free. */
void jobs_bus_stop(jobs_bus *b);
/* After jobs_bus_stop and once the loop has run the close callbacks. */
void jobs_bus_free(jobs_bus *b);

#endif
