/* The descriptions of queries already run (see pg_int.h): a small table
 * in the pool, on the loop thread only, so that a query seen again skips
 * the describe round trip and goes straight to its COPY.
 *
 * An entry is keyed by the SQL text and the caller's generation (the
 * TAP_SCHEMA snapshot of /sync), and lives STREAM__DESC_TTL_MS at most: a
 * column whose type an operator changes without publishing again is
 * described afresh within that time (and at once when its COPY data does
 * not decode: stream__desc_forget). Slots are direct-mapped by a hash of
 * the text; a collision replaces the older entry. Bounded: DESC_SLOTS
 * entries of SQL up to DESC_SQL_MAX bytes and DESC_COLS_MAX columns. */
#include "stream/pg_int.h"

#include <stdlib.h>
#include <string.h>

enum { DESC_SLOTS = 256, DESC_SQL_MAX = 8192, DESC_COLS_MAX = 256 };

typedef struct desc_col {
  char *name;
  uint32_t oid;
  int32_t typmod;
} desc_col;

struct stream__desc_entry {
  uint64_t hash, gen, at_ms;
  char *sql;
  size_t ncols;
  desc_col cols[]; /* names and sql follow in the same allocation */
};

static stream__desc_entry **desc_slot(stream_pg_pool *p, uint64_t h)
{
  if (!p->desc) {
    p->desc = calloc(DESC_SLOTS, sizeof *p->desc);
    if (!p->desc)
      return NULL;
  }
  return &p->desc[h % DESC_SLOTS];
}

int stream__desc_lookup(stream_query *q)
{
  stream_pg_pool *p = q->pool;
  size_t n = q->sql_len;
  if (!q->desc_gen || n > DESC_SQL_MAX)
    return 0;
  uint64_t h = q->sql_hash;
  stream__desc_entry **slot = desc_slot(p, h), *e = slot ? *slot : NULL;
  if (!e || e->hash != h || e->gen != q->desc_gen || strcmp(e->sql, q->sql) != 0)
    return 0;
  if (uv_now(p->loop) - e->at_ms > STREAM__DESC_TTL_MS) {
    free(e);
    *slot = NULL;
    return 0;
  }
  stream_schema *s = &q->schema;
  s->cols = ts_arena_calloc(q->arena, e->ncols + 1, sizeof(stream_column));
  if (!s->cols)
    return 0;
  s->ncols = e->ncols;
  for (size_t i = 0; i < e->ncols; i++) {
    stream_column *col = &s->cols[i];
    col->name = ts_arena_strdup(q->arena, e->cols[i].name);
    /* Every entry came from a description that stream_pg_schema took. */
    if (!col->name || stream_column_set_type(col, e->cols[i].oid, e->cols[i].typmod) != TS_OK) {
      memset(s, 0, sizeof *s);
      return 0;
    }
  }
  q->desc_hit = 1;
  p->desc_reused++;
  return 1;
}

void stream__desc_store(stream_query *q, const PGresult *res)
{
  stream_pg_pool *p = q->pool;
  size_t n = q->sql_len, ncols = (size_t)PQnfields(res), bytes;
  if (!q->desc_gen || n > DESC_SQL_MAX || ncols > DESC_COLS_MAX)
    return;
  bytes = sizeof(stream__desc_entry) + ncols * sizeof(desc_col) + n + 1;
  for (size_t i = 0; i < ncols; i++)
    bytes += strlen(PQfname(res, (int)i)) + 1;
  uint64_t h = q->sql_hash;
  stream__desc_entry **slot = desc_slot(p, h), *e;
  if (!slot || !(e = malloc(bytes)))
    return;
  char *at = (char *)&e->cols[ncols];
  e->hash = h;
  e->gen = q->desc_gen;
  e->at_ms = uv_now(p->loop);
  e->ncols = ncols;
  e->sql = memcpy(at, q->sql, n + 1);
  at += n + 1;
  for (size_t i = 0; i < ncols; i++) {
    const char *name = PQfname(res, (int)i);
    size_t len = strlen(name) + 1;
    e->cols[i].name = memcpy(at, name, len);
    at += len;
    e->cols[i].oid = (uint32_t)PQftype(res, (int)i);
    e->cols[i].typmod = PQfmod(res, (int)i);
  }
  free(*slot);
  *slot = e;
}

void stream__desc_forget(stream_query *q)
{
  stream_pg_pool *p = q->pool;
  if (!p->desc || !q->desc_gen)
    return;
  uint64_t h = q->sql_hash;
  stream__desc_entry **slot = &p->desc[h % DESC_SLOTS];
  if (*slot && (*slot)->hash == h && !strcmp((*slot)->sql, q->sql)) {
    free(*slot);
    *slot = NULL;
  }
}

void stream__desc_free(stream_pg_pool *p)
{
  if (!p->desc)
    return;
  for (size_t i = 0; i < DESC_SLOTS; i++)
    free(p->desc[i]);
  free(p->desc);
  p->desc = NULL;
}
