/* tapserve/vosi/vosi.h: the VOSI resources (vosi.c), prefix vosi_:
 * /capabilities, /availability, /tables. */
#ifndef TS_TAPSERVE_VOSI_H
#define TS_TAPSERVE_VOSI_H

#include "tapserve/tap/tap.h"

/* ---- VOSI (vosi.c) ------------------------------------------------------ */
/* VOSI resources: each answers the request completely. */
void vosi_capabilities(ts_app *app, http_request *req);
void vosi_availability(ts_app *app, http_request *req);
/* Why this instance takes no new work (a note for /availability), or NULL
 * when it is available: it shuts down or drains, the database cannot be
 * reached, or there is no TAP_SCHEMA snapshot. Any thread. */
const char *vosi_unavailable(const ts_app *app);
/* TS_OK when available; else TS_EUNAVAIL (503, with Retry-After when sent
 * through tap_send_error) saying why. For the resources that start new
 * work: /sync and the creation of async jobs. */
ts_err vosi_refuse_new_work(const ts_app *app, ts_error *err);
/* path_rest: "" for /tables, "schema.table" for /tables/schema.table. */
void vosi_tables(ts_app *app, http_request *req, const char *path_rest);
/* The documents behind them, appended to `b` (no request needed; used by
 * the handlers and by tests). Each returns TS_OK, or TS_ENOMEM/TS_ELIMIT
 * from the buffer, leaving a partial document. */
ts_err vosi_capabilities_xml(const cfg *c, const adql_meta *am, const fmt_type *const *fmts,
                             size_t nfmts, ts_buf *b);
ts_err vosi_availability_xml(int available, int64_t up_since_ms, const char *note, ts_buf *b);
typedef struct vosi_tables_opts {
  int detail_min; /* tables without columns (detail=min, only_tables=true) */
  int esa_extras; /* esatapplus:flags on every column (astroquery TapPlus needs it) */
} vosi_tables_opts;
/* A vosi:tableset; sel (nsel tables) restricts it to those tables, NULL
 * means all. */
ts_err vosi_tables_xml(const meta *m, const vosi_tables_opts *o, const meta_table *const *sel,
                       size_t nsel, ts_buf *b);
/* A vosi:table root element (/tables/NAME), always with columns. */
ts_err vosi_table_xml(const meta_table *t, const vosi_tables_opts *o, ts_buf *b);

#endif
