/* tests/unit/ts_test_pg.h: the PostgreSQL side of the unit tests labelled
 * "pg", which run against TAPSERVE_TEST_DSN (scripts/test-pgcluster.sh
 * starts a throwaway cluster and sets it). */
#ifndef TS_TEST_PG_H
#define TS_TEST_PG_H

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A connection to TAPSERVE_TEST_DSN with notices below WARNING off; NULL,
 * the reason on stderr, when it is not set or the server cannot be
 * reached. */
static inline PGconn *ts_test_pg(void)
{
  const char *dsn = getenv("TAPSERVE_TEST_DSN");
  PGconn *c;
  if (!dsn || !*dsn) {
    fprintf(stderr, "# TAPSERVE_TEST_DSN is not set\n");
    return NULL;
  }
  c = PQconnectdb(dsn);
  if (PQstatus(c) != CONNECTION_OK) {
    fprintf(stderr, "# %s", PQerrorMessage(c));
    PQfinish(c);
    return NULL;
  }
  PQclear(PQexec(c, "SET client_min_messages = warning"));
  return c;
}

/* The first value of a query as an integer; -1 when it failed. */
static inline int ts_test_count(PGconn *c, const char *sql)
{
  PGresult *r = PQexec(c, sql);
  int n = PQresultStatus(r) == PGRES_TUPLES_OK ? (int)strtol(PQgetvalue(r, 0, 0), NULL, 10) : -1;
  PQclear(r);
  return n;
}

/* Runs sql; 1 when it succeeded, 0 (the error printed) when not. */
static inline int ts_test_exec_ok(PGconn *c, const char *sql)
{
  PGresult *r = PQexec(c, sql);
  int ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
  if (!ok)
    fprintf(stderr, "# %s: %s", sql, PQerrorMessage(c));
  PQclear(r);
  return ok;
}

/* 1 when the notification `want` (its payload) is among those that have
 * arrived on c, which LISTENs: those its own statements raised have
 * arrived by the time they return. The others are dropped. */
static inline int ts_test_pg_notified(PGconn *c, const char *want)
{
  PGnotify *n;
  int found = 0;
  PQconsumeInput(c);
  while ((n = PQnotifies(c)) != NULL) {
    found |= !strcmp(n->extra, want);
    PQfreemem(n);
  }
  if (!found)
    fprintf(stderr, "# no notification %s\n", want);
  return found;
}

#endif
