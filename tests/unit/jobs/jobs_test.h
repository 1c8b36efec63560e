/* Helpers shared by the jobs unit tests (test_jobs.c). */
#ifndef TS_JOBS_TEST_H
#define TS_JOBS_TEST_H

#include <libpq-fe.h>

/* Runs sql; 1 when it succeeded, 0 (the error printed) when not. */
int jobs_test_exec_ok(PGconn *c, const char *sql);

#endif
