/* tapserve/cmd/publish_int.h: what the files of `tapserve publish` and
 * `tapserve unpublish` share (cmd/ only): the model of one publication,
 * the catalogue reader (catalog.c) and the SQL helpers (db.c). */
#ifndef TS_CMD_PUBLISH_INT_H
#define TS_CMD_PUBLISH_INT_H

#include "formats/tableset.h"
#include "tapserve/tapserve.h"

typedef struct pub pub;

/* ---- the model of one publication ------------------------------------------ */

typedef struct pcol {
  const char *db_name, *name; /* PostgreSQL and published names */
  uint32_t oid;
  int32_t typmod;
  const char *pgtype; /* format_type(), for messages */
  int attnum, notnull, supported, textual, pk, pos;
  const char *comment;
  /* TAP_SCHEMA.columns */
  const char *datatype, *arraysize, *xtype, *unit, *ucd, *utype, *description;
  int indexed, principal, std;
  fmt_ts_int index, size;
  int publish;
  const char *note; /* what was decided and why, printed */
  /* the mapped type (what /sync delivers) */
  const char *m_datatype, *m_arraysize, *m_xtype;
  int float8_array;
} pcol;

typedef struct pkey {
  const char *key_id, *target_table, *description, *utype;
  size_t n;
  const char **from, **target;
  int line; /* of a tableset's <foreignKey>, 0 otherwise */
} pkey;

typedef struct ptable {
  const char *db_schema, *db_table, *oid, *relkind;
  const char *schema_name, *table_name; /* published */
  const fmt_ts_schema *tss;             /* from a tableset, or NULL */
  const fmt_ts_table *tst;
  size_t ts_schema_pos, ts_table_pos; /* 1-based document positions */
  size_t ncols;
  pcol *cols;
  size_t nkeys, capkeys;
  pkey *keys;
  const char *description, *utype, *type, *schema_comment;
  fmt_ts_int index; /* table_index */
  int index_known;  /* index decided (may be NULL); else: last in the schema */
} ptable;

struct pub {
  PGconn *conn;
  ts_arena *a;
  ts_error *err;
  const char *tableset_name;
  int skip_unsupported;
  int utf8; /* server_encoding is UTF8: octet_length <> char_length finds non-ASCII */
  size_t ntables, captables;
  ptable *tables;
  ts_buf report; /* what was published, printed after COMMIT only */
};

/* ---- db.c: SQL helpers and the query role -------------------------------- */
/* The result, or NULL (message in err) unless its status is `want`. */
PGresult *cmd__sql(PGconn *conn, ExecStatusType want, ts_error *err, const char *q, int n,
                   const char *const *params);
/* A statement that returns no rows. */
ts_err cmd__exec(PGconn *conn, ts_error *err, const char *q, int n, const char *const *params);
/* An integer column's text as an int (0 for NULL or junk, clamped). */
int cmd__int(const char *s);
/* A value, NULL for SQL NULL. */
const char *cmd__val(const PGresult *r, int row, int col);

/* Connects (cmd_db_connect) and gives p its arena, connection and error
 * record; -1 when either fails (the caller frees what p holds). */
int pub__open(pub *p, const char *prog, cmd_db *o, ts_error *err);
/* The role to grant SELECT to: grant_role, else the user of query_dsn in
 * the configuration, else the query role the instances serving the
 * database recorded last (tapserve.query_roles); NULL when there is none.
 * Call before BEGIN. */
const char *pub__query_role(pub *p, const cmd_db *o, const char *grant_role);

/* ---- catalog.c: what the database says, and the rows decided from it ---- */
const char *pub__dup(pub *p, const char *s);
/* The offset of the dot between schema and table outside quotes, or -1. */
long pub__split_qualified(const char *s);
/* Adds db_schema.db_table to the publication (once); TS_ENOTFOUND naming
 * `what` when the database has no such table or view. */
ts_err pub__find_table(pub *p, const char *db_schema, const char *db_table, const char *what,
                       ptable **out);
/* Every table and view of a schema, in name order. */
ts_err pub__add_schema_tables(pub *p, const char *db_schema, const char *what);
/* Columns, types, primary key, indexes and positions of a table. */
ts_err pub__read_columns(pub *p, ptable *t);
/* The columns' rows: guessed (and what TAP_SCHEMA had), or as the table's
 * tableset element declares them, checked against the database. */
ts_err pub__decide_guessed(pub *p, ptable *t);
ts_err pub__decide_tableset(pub *p, ptable *t);
/* Foreign keys: those TAP_SCHEMA has, the database's constraints, or the
 * tableset's (keeping ids of keys TAP_SCHEMA had). */
ts_err pub__old_keys(pub *p, ptable *t);
ts_err pub__pg_keys(pub *p, ptable *t);
ts_err pub__tableset_keys(pub *p, ptable *t);

#endif
