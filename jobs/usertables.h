/* jobs/usertables.h: persistent user tables (TAP+ "user tables"), prefix
 * jobs_utab_. A user's tables live in a PostgreSQL schema of its own,
 * user_<name>, created with its first table and dropped with the user;
 * tapserve.user_tables holds a row per table with its columns' metadata
 * (UCD, utype, unit, ESA flags, indexed), the source of truth for the ADQL
 * checker and /tables: user tables are never in TAP_SCHEMA.
 *
 * Tables are loaded by the upload loader (jobs_upload_write/finish/free
 * through jobs_utab_target), so a failed load leaves neither a table nor a
 * row. Every change to one user's tables takes a per-user advisory lock
 * for its transaction, so two instances cannot interleave them.
 * Blocking libpq on a service connection the caller owns; never on the
 * loop. docs/internals/usertables.md. */
#ifndef TS_JOBS_USERTABLES_H
#define TS_JOBS_USERTABLES_H

#include "jobs/jobs.h"
#include "jobs/users.h"

/* Schema names are "user_" and the user name: a PostgreSQL identifier
 * (63 bytes) leaves 58 for the name. */
#define JOBS_UTAB_PREFIX "user_"
enum { JOBS_UTAB_USER_MAX = 58, JOBS_UTAB_NAME_MAX = 63 };

/* The esatapplus:flags of a column, as TapPlus sets and reads them. */
enum {
  JOBS_UTAB_FLAG_RA = 1,
  JOBS_UTAB_FLAG_DEC = 2,
  JOBS_UTAB_FLAG_FLUX = 4,
  JOBS_UTAB_FLAG_MAG = 8,
  JOBS_UTAB_FLAG_PK = 16,
};

/* The schema name of user `user`: "user_" and the name in lower case,
 * each character other than a letter, digit or '_' made '_' (user names
 * may hold ".-@"; the schema must be an ADQL regular identifier).
 * TS_EINVAL for a name past JOBS_UTAB_USER_MAX bytes or one that
 * jobs_user_name_ok refuses. Two names may map to one schema name:
 * the first user to upload keeps it, the other is refused then. */
ts_err jobs_utab_schema_name(const char *user, char out[64], ts_error *err);
/* A table or column name as given by a client: an ADQL regular identifier
 * (a letter, then letters, digits or '_') of at most JOBS_UTAB_NAME_MAX
 * bytes, into out in lower case. TS_EINVAL naming it otherwise; `what` says
 * what it names ("table", "column"). */
ts_err jobs_utab_ident(const char *what, const char *name, char out[64], ts_error *err);
/* The table name of `given`, "t" or "user_x.t" (the caller's own schema,
 * compared case-insensitively), into out (lower case). TS_ENOTFOUND for
 * another schema: the caller has no such table. */
ts_err jobs_utab_own_name(const jobs_user *u, const char *given, char out[64], ts_error *err);

/* A new table of user `user`. */
typedef struct jobs_utab_new {
  const jobs_user *user;
  const char *table; /* as given; checked by jobs_utab_ident */
  const char *description;
  const char *query_role; /* granted USAGE on the schema and SELECT; "" or NULL: none */
  int64_t quota_db;       /* the default database quota ([users] quota_db; 0: none) */
} jobs_utab_new;
/* The load target of a new table (n is borrowed for as long as the target
 * is used). Its begin opens the transaction, creates the user's schema on
 * the first table, refuses a name the user has already (TS_EINVAL), and
 * starts the load; jobs_upload_finish records the row (size from
 * PostgreSQL, refused with TS_ELIMIT past the user's database quota,
 * jobs_quota_check_db; the position the loader indexed: a point column indexed, or
 * the main Ra/Dec pair flagged Ra and Dec and indexed) and commits. */
jobs_load_target jobs_utab_target(const jobs_utab_new *n);

typedef struct jobs_utab_column {
  stream_column c; /* as loaded, UCD and utype as edited since */
  int flags;       /* JOBS_UTAB_FLAG_* */
  int indexed;
} jobs_utab_column;

typedef struct jobs_utab {
  const char *owner;  /* the user's name */
  const char *schema; /* "user_x" */
  const char *table;  /* lower case */
  const char *description;
  int64_t rows, bytes;
  size_t ncols;
  jobs_utab_column *cols;
} jobs_utab;

/* The user tables user `u` may read, by schema and name, in `a`: its own
 * and those shared (jobs/shares.h) with a group it owns or is a member of
 * (none for anonymous, u NULL or id 0). The one place that decides. */
ts_err jobs_utab_readable(PGconn *conn, ts_arena *a, const jobs_user *u, jobs_utab **out, size_t *n,
                          ts_error *err);

/* Drops table `table` (jobs_utab_own_name) of `u` and its row.
 * TS_ENOTFOUND when the user has no such table. */
ts_err jobs_utab_delete(PGconn *conn, const jobs_user *u, const char *table, ts_error *err);

/* One column's new metadata (TableTool ACTION=edit). */
typedef struct jobs_utab_edit {
  const char *column;
  const char *ucd, *utype; /* "" or NULL: none */
  int flags;               /* JOBS_UTAB_FLAG_* */
  int indexed;             /* 1: a btree index on the column; 0: none */
} jobs_utab_edit;
/* Applies the edits in one transaction: metadata, btree indexes created or
 * dropped, and when the edits name a Ra and a Dec column, the position
 * index of jobs_utab_set_radec. TS_ENOTFOUND for no such table; TS_EINVAL
 * naming an unknown column, or two Ra (Dec) columns. */
ts_err jobs_utab_edit_columns(PGconn *conn, const jobs_user *u, const char *table,
                              const jobs_utab_edit *e, size_t n, ts_error *err);
/* Makes `ra` and `dec` the table's position: their flags Ra and Dec (the
 * flags leave any other column), both indexed, and a pgSphere GiST index
 * on spoint(radians(ra), radians(dec)) replacing an earlier one (kept
 * when it is on ra and dec already). TS_EINVAL when a column is unknown
 * or not a number, or ra and dec are one column. */
ts_err jobs_utab_set_radec(PGconn *conn, const jobs_user *u, const char *table, const char *ra,
                           const char *dec, ts_error *err);
/* Renames columns (from[i] to to[i]) and the table (new_table; NULL or the
 * same name: kept). TS_EINVAL for a bad or taken name or an unknown
 * column; TS_ENOTFOUND for no such table. */
ts_err jobs_utab_rename(PGconn *conn, const jobs_user *u, const char *table, const char *new_table,
                        const char *const *from, const char *const *to, size_t n, ts_error *err);

#endif
