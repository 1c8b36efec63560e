/* The metadata layer of a request's persistent user tables: what the ADQL
 * checker may resolve as user_<name>.table for this caller, and nothing
 * else. Built per request from tapserve.user_tables (jobs_utab_readable
 * decides which tables), so every instance sees a change at once. */
#include "tapserve/tap/tap.h"

#include <string.h>

ts_err tap_user_layer(PGconn *conn, ts_arena *a, const jobs_user *u, adql_layer *l, ts_error *err)
{
  jobs_utab *ut = NULL;
  size_t n = 0;
  adql_table_meta *t;
  ts_err rc = jobs_utab_readable(conn, a, u, &ut, &n, err);
  memset(l, 0, sizeof *l);
  l->name = "user tables";
  if (rc)
    return rc;
  t = ts_arena_calloc(a, n + 1, sizeof *t);
  if (!t)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  for (size_t i = 0; i < n; i++) {
    stream_column *cols = ts_arena_calloc(a, ut[i].ncols + 1, sizeof *cols);
    adql_column_meta *cm;
    for (size_t j = 0; cols && j < ut[i].ncols; j++)
      cols[j] = ut[i].cols[j].c;
    cm = cols ? tap_layer_table(a, &t[i], ut[i].schema, ut[i].table, ut[i].schema, ut[i].table,
                                ut[i].description, cols, ut[i].ncols)
              : NULL;
    if (!cm)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    for (size_t j = 0; j < ut[i].ncols; j++)
      cm[j].indexed = ut[i].cols[j].indexed;
  }
  l->ntables = n;
  l->tables = t;
  return TS_OK;
}
