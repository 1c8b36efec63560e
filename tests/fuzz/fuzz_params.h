/* tests/fuzz/fuzz_params.h: the request parameters of the TAP+ parameter
 * fuzz targets (fuzz_tabletool.c, fuzz_share.c). The input after its first
 * byte (the target's switch) is copied into `a` and cut into lines
 * "name=value"; lines without '=' are skipped, at most `max` are kept. */
#ifndef TS_FUZZ_PARAMS_H
#define TS_FUZZ_PARAMS_H

#include "http/http.h"

#include <stdint.h>
#include <string.h>

/* The number of parameters into p; -1 when the copy cannot be had. */
static inline long fuzz_params(const uint8_t *data, size_t size, ts_arena *a, http_param *p,
                               size_t max)
{
  size_t np = 0;
  char *text = a && size ? ts_arena_strndup(a, (const char *)data + 1, size - 1) : NULL;
  if (!text)
    return -1;
  for (char *line = text; line && np < max;) {
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
  return (long)np;
}

#endif
