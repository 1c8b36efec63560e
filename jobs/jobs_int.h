/* jobs/jobs_int.h: shared by jobs/'s own sources only. */
#ifndef TS_JOBS_INT_H
#define TS_JOBS_INT_H

#include "jobs/jobs.h"

/* Runs a statement with text parameters; *res (may be NULL to discard) is
 * the result when it succeeded. A failure of the connection rather than of
 * the statement is TS_EUNAVAIL (stream_pg_conn_lost), any other TS_EDB. */
ts_err jobs__run(PGconn *conn, const char *sql, int n, const char *const *vals, PGresult **res,
                 ts_error *err);
/* pg_cancel_backend(pid), best effort (logged when refused); pid <= 0 is
 * ignored. */
void jobs__cancel_backend(PGconn *conn, int pid);

/* Columns from their JSON record (jobs_schema_json), read by `sql` whose
 * rows are: name, oid, typmod, datatype, xtype, unit, ucd, utype,
 * description, arraysize, in column order. Allocated in `a`. */
ts_err jobs__columns_schema(PGconn *conn, ts_arena *a, const char *sql, int n, const char *const *v,
                            stream_schema *out, ts_error *err);
/* users.c, shared with sessions.c: fills *u from columns col (id),
 * col + 1 (name) and col + 2 (is_admin) of row `row`. */
typedef struct jobs_user jobs_user;
void jobs__user_row(const PGresult *r, int row, int col, jobs_user *u);
/* Publishes LOGIN_IN/LOGIN_OUT_EVENT for user `name`. */
ts_err jobs__user_event(PGconn *conn, int kind, const char *name, ts_error *err);

#endif
