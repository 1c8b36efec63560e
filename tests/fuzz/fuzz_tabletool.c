/* Fuzzes the parameters of POST {ctx}/TableTool (tabletool.c's parsers,
 * reached by including the file): lines "name=value" of the input become
 * the request's parameters, the first byte picks the action. Only TS_OK,
 * TS_EINVAL and TS_ENOMEM come back; what is accepted keeps its promises
 * (edits name their columns, flags are the five bits, renames pair a
 * non-empty old name with a non-empty new one). */
#include "tapserve/plus/tabletool.c"

#include <stdint.h>

enum { FUZZ_MAX_PARAMS = 256 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  http_param p[FUZZ_MAX_PARAMS];
  size_t np = 0;
  ts_arena *a;
  char *text;
  tt_req q;
  ts_error e;
  ts_err rc;

  if (size < 1)
    return 0;
  a = ts_arena_new(256, 1 << 20);
  text = a ? ts_arena_strndup(a, (const char *)data + 1, size - 1) : NULL;
  if (!text) {
    ts_arena_free(a);
    return 0;
  }
  for (char *line = text; line && np < FUZZ_MAX_PARAMS;) {
    char *nl = strchr(line, '\n'), *eq;
    if (nl)
      *nl = 0;
    eq = strchr(line, '=');
    if (eq) {
      *eq = 0;
      p[np].name = line;
      p[np].value = eq + 1;
      np++;
    }
    line = nl ? nl + 1 : NULL;
  }
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
