/* Fuzzes the JOB_IDS list of TAP+ POST {tap}/deletejobs (a client's form
 * value): the ids accepted are job ids, no more than the maximum, and a
 * refusal carries a message. */
#include "tapserve/plus/plus.h"
#include "tapserve/tapserve.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  enum { MAX = 8 };
  char *list = malloc(size + 1);
  ts_arena *a = ts_arena_new(0, 1 << 20);
  const char **ids = NULL;
  size_t n = 0;
  ts_error e;
  if (!list || !a) {
    free(list);
    ts_arena_free(a);
    return 0;
  }
  memcpy(list, data, size);
  list[size] = 0;
  ts_error_clear(&e);
  if (plus_job_ids_parse(list, MAX, a, &ids, &n, &e) == TS_OK) {
    if (n == 0 || n > MAX)
      __builtin_trap();
    for (size_t i = 0; i < n; i++)
      if (!uws_job_id_ok(ids[i], strlen(ids[i])) || !strstr(list, ids[i]))
        __builtin_trap();
  } else if (!e.msg[0]) {
    __builtin_trap();
  }
  ts_arena_free(a);
  free(list);
  return 0;
}
