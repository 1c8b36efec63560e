/* Fuzzes the parameters of POST {ctx}/TableTool (tabletool.c's parsers,
 * reached by including the file): lines "name=value" of the input become
 * the request's parameters, the first byte picks the action. Only TS_OK,
 * TS_EINVAL and TS_ENOMEM come back; what is accepted keeps its promises
 * (edits name their columns, flags are the five bits, renames pair a
 * non-empty old name with a non-empty new one). */
#include "tapserve/plus/tabletool.c"
#include "fuzz_params.h"

#include <stdint.h>

enum { FUZZ_MAX_PARAMS = 256 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  http_param p[FUZZ_MAX_PARAMS];
  size_t np = 0;
  ts_arena *a;
  long n;
  tt_req q;
  ts_error e;
  ts_err rc;

  a = ts_arena_new(256, 1 << 20);
  n = fuzz_params(data, size, a, p, FUZZ_MAX_PARAMS);
  if (n < 0) {
    ts_arena_free(a);
    return 0;
  }
  np = (size_t)n;
  memset(&q, 0, sizeof q);
  rc = data[0] & 1 ? parse_edit(p, np, a, &q, &e) : parse_rename(p, np, a, &q, &e);
  if (rc != TS_OK && rc != TS_EINVAL && rc != TS_ENOMEM)
    __builtin_trap();
  if (rc == TS_OK && (data[0] & 1)) {
    for (size_t i = 0; i < q.nedits; i++)
      if (!q.edits[i].column || (q.edits[i].flags & ~31))
        __builtin_trap();
  } else if (rc == TS_OK) {
    if (!q.table || !*q.table)
      __builtin_trap();
    for (size_t i = 0; i < q.nrename; i++)
      if (!*q.from[i] || !*q.to[i] || strchr(q.from[i], ',') || strchr(q.to[i], ','))
        __builtin_trap();
  }
  ts_arena_free(a);
  return 0;
}
