/* formats/tableset.h: VODataService tableset XML in and out (the /tables
 * document of a TAP service; the input of `tapserve publish --tableset`,
 * the output of `tapserve tableset`).
 *
 * The model holds every field of TAP_SCHEMA. VODataService has no element
 * for the *_index columns, TAP_SCHEMA.columns."size" and keys.key_id, so
 * the writer puts them into a processing instruction right after the start
 * tag of the element they belong to:
 *   <column><?tapserve index="3" size="8"?> ... </column>
 * A processing instruction does not take part in XSD validation, and other
 * readers ignore it. When an element has no such instruction (a tableset
 * from another service), has_meta is 0 and the caller decides (publish
 * numbers schemas, tables and columns in document order). */
#ifndef TS_FORMATS_TABLESET_H
#define TS_FORMATS_TABLESET_H

#include "common/common.h"

/* Tableset files larger than this are refused before parsing. */
#define FMT_TABLESET_MAX ((size_t)64 << 20)

/* The VODataService namespace (1.1 and 1.2 share it) and VOSI's. */
#define FMT_NS_VS          "http://www.ivoa.net/xml/VODataService/v1.1"
#define FMT_NS_VOSI_TABLES "http://www.ivoa.net/xml/VOSITables/v1.0"
/* ESA's TAP+ extension (esatapplus:flags on columns, astroquery's TapPlus). */
#define FMT_NS_ESA "http://esa.int/xml/EsaTapPlus"

/* An optional integer: set = 1 when present (value in v). */
typedef struct fmt_ts_int {
  int set;
  int v;
} fmt_ts_int;

typedef struct fmt_ts_column {
  const char *name, *description, *unit, *ucd, *utype; /* NULL when absent */
  const char *datatype;                                /* NULL: no <dataType> */
  const char *arraysize, *xtype;
  int indexed, principal, std; /* flags "indexed", "principal" (or "primary"); std="true" */
  int has_meta;                /* a <?tapserve?> instruction was given */
  fmt_ts_int index, size;      /* column_index, "size" */
  int esa_flags;               /* esatapplus:flags, written with fmt_ts_write_opts.esa_extras */
  int line;                    /* of the start tag, for messages (0 when built) */
} fmt_ts_column;

typedef struct fmt_ts_fkcol {
  const char *from, *target;
} fmt_ts_fkcol;

typedef struct fmt_ts_key {
  const char *key_id; /* from <?tapserve key_id?>; NULL when absent */
  const char *target_table, *description, *utype;
  size_t ncols, capcols;
  fmt_ts_fkcol *cols;
  int line;
} fmt_ts_key;

typedef struct fmt_ts_table {
  const char *name, *type, *description, *utype; /* type: "table" or "view" */
  int has_meta;
  fmt_ts_int index; /* table_index */
  size_t ncols, capcols, nkeys, capkeys;
  fmt_ts_column *cols;
  fmt_ts_key *keys;
  int line;
} fmt_ts_table;

typedef struct fmt_ts_schema {
  const char *name, *description, *utype;
  int has_meta;
  fmt_ts_int index; /* schema_index */
  size_t ntables, captables;
  fmt_ts_table *tables;
  int line;
} fmt_ts_schema;

typedef struct fmt_tableset {
  ts_arena *arena; /* owns everything below */
  size_t nschemas, capschemas;
  fmt_ts_schema *schemas;
} fmt_tableset;

/* An empty tableset (for building one); NULL when out of memory. */
fmt_tableset *fmt_tableset_new(void);
void fmt_tableset_free(fmt_tableset *ts); /* NULL-safe */
/* Appends a zeroed element and returns it (NULL when out of memory). The
 * pointer stays valid until the next append to the same list. */
fmt_ts_schema *fmt_ts_add_schema(fmt_tableset *ts);
fmt_ts_table *fmt_ts_add_table(fmt_tableset *ts, fmt_ts_schema *s);
fmt_ts_column *fmt_ts_add_column(fmt_tableset *ts, fmt_ts_table *t);
fmt_ts_key *fmt_ts_add_key(fmt_tableset *ts, fmt_ts_table *t);
fmt_ts_fkcol *fmt_ts_add_fkcol(fmt_tableset *ts, fmt_ts_key *k);

/* Parses a tableset document of `len` bytes (no NUL needed; `name` is the
 * file name for messages). Accepted roots: vosi:tableset (VOSI 1.1) and a
 * tableset element in the VODataService namespace. No network access, no
 * DTD: a DOCTYPE is refused, so are entity references. Inputs larger than
 * FMT_TABLESET_MAX are refused before parsing (TS_ELIMIT). Errors are
 * TS_EINVAL with "NAME:LINE: message naming the element". On success
 * *out is the caller's (fmt_tableset_free). */
ts_err fmt_tableset_read(const char *buf, size_t len, const char *name, fmt_tableset **out,
                         ts_error *err);

/* Appends the tableset as a VODataService 1.2 document (root vosi:tableset,
 * valid against VOSITables 1.1 / VODataService 1.2) to `b`. TS_ENOMEM or
 * TS_ELIMIT from the buffer leave a partial document. */
ts_err fmt_tableset_write(const fmt_tableset *ts, ts_buf *b);

/* What a document for a particular client adds (the /tables resource). */
typedef struct fmt_ts_write_opts {
  int esa_extras; /* esatapplus:flags on every column and its namespace on the root */
} fmt_ts_write_opts;
/* fmt_tableset_write with options (o NULL: none). */
ts_err fmt_tableset_write_opts(const fmt_tableset *ts, const fmt_ts_write_opts *o, ts_buf *b);
/* One table as a vosi:table document (VOSI-tables 1.1, /tables/NAME). */
ts_err fmt_ts_table_write(const fmt_ts_table *t, const fmt_ts_write_opts *o, ts_buf *b);

#endif
