/* Fuzzes application/x-www-form-urlencoded decoding (query strings and
 * form bodies) under a small arena cap, so the out-of-memory paths run
 * too. */
#include "http/http.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  ts_arena *a = ts_arena_new(256, 8192);
  http_param *p = NULL;
  size_t n = 0, cap = 0;
  ts_error err;
  ts_err rc;

  if (!a)
    return 0;
  rc = http_parse_form(a, (const char *)data, size, &p, &n, &cap, &err);
  if (rc != TS_OK && rc != TS_EINVAL && rc != TS_ENOMEM)
    __builtin_trap();
  if (rc == TS_OK) {
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
      /* decoding never grows: name and value fit in the input */
      size_t ln = strlen(p[i].name), lv = strlen(p[i].value);
      if (ln > size || lv > size)
        __builtin_trap();
      total += ln + lv;
    }
    if (total > size)
      __builtin_trap();
  }
  ts_arena_free(a);
  return 0;
}
