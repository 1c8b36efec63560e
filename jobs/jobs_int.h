/* jobs/jobs_int.h: shared by jobs/'s own sources only. */
#ifndef TS_JOBS_INT_H
#define TS_JOBS_INT_H

#include "jobs/jobs.h"

/* Runs a statement with text parameters; *res (may be NULL to discard) is
 * the result when it succeeded. A failure of the connection rather than of
 * the statement is TS_EUNAVAIL (stream_pg_conn_lost), any other TS_EDB. */
ts_err jobs__run(PGconn *conn, const char *sql, int n, const char *const *vals, PGresult **res,
                 ts_error *err);
/* ROLLBACK when a transaction is open (after a failed step). */
void jobs__rollback(PGconn *conn);
/* A column's text copied into a, NULL for SQL NULL. */
const char *jobs__opt(ts_arena *a, const PGresult *r, int row, int col);
/* A column's integer, 0 for SQL NULL. */
int64_t jobs__i64(const PGresult *r, int row, int col);
/* pg_cancel_backend(pid), best effort (logged when refused); pid <= 0 is
 * ignored. */
void jobs__cancel_backend(PGconn *conn, int pid);

/* One column of row `row` of r, from its JSON record read as the ten
 * columns from `col` on that jobs__columns_schema describes; strings in
 * a. -1 for a type stream/ cannot carry. */
int jobs__column_row(ts_arena *a, const PGresult *r, int row, int col, stream_column *c);
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

/* ---- uploads.c's loader, shared with usertables.c ---------------------------
 * What a finished load records (before its COMMIT). */
typedef struct jobs__load_info {
  const char *db_schema, *table; /* where it is */
  const char *label;             /* the name the client gave */
  const stream_schema *schema;   /* its columns as loaded */
  const char *columns_json;      /* the same, as jobs_schema_json writes them */
  uint64_t rows, bytes;
  /* The position the loader indexed (NULL: none): a point column, or
   * else the main Ra/Dec pair by their UCDs. */
  const char *index_point, *index_ra, *index_dec;
} jobs__load_info;
typedef ts_err (*jobs__load_record_fn)(void *ud, PGconn *conn, const jobs__load_info *li,
                                       ts_error *err);
/* jobs_upload_begin for table db_schema.table: joins the caller's open
 * transaction, or begins one. `record` writes the table's row before the
 * COMMIT of jobs_upload_finish; `ud_free` (may be NULL) frees `ud` with the
 * load, also when this fails. */
ts_err jobs__load_begin(PGconn *conn, const char *db_schema, const char *table, const char *label,
                        const jobs_upload_col *cols, size_t ncols, uint64_t max_bytes,
                        jobs__load_record_fn record, void *ud, void (*ud_free)(void *),
                        jobs_upload_load **out, ts_error *err);
/* Appends s as a delimited identifier. */
ts_err jobs__put_ident(ts_buf *b, const char *s);
/* Appends "schema"."table". */
ts_err jobs__put_qualified(ts_buf *b, const char *schema, const char *table);
/* Runs the statement in b (no parameters), then empties b. */
ts_err jobs__exec_buf(PGconn *conn, ts_buf *b, ts_error *err);
/* CREATE INDEX ON schema.table USING gist (spoint(radians(ra),
 * radians(dec))): the expression the translator writes for POINT('ICRS',
 * ra, dec). */
ts_err jobs__put_radec_index(ts_buf *b, const char *schema, const char *table, const char *ra,
                             const char *dec);

#endif
