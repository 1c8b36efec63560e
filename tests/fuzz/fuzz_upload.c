/* Fuzzes the UPLOAD parameter (tap_upload_parse) under a small arena cap:
 * only the documented codes come back, and what is accepted keeps its
 * promises (regular identifiers, unique names, at most max_uploads, job
 * ids that are ids). */
#include "tapserve/tapserve.h"

#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static cfg c;
static int ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  ts_arena *a;
  tap_upload_ref *r = NULL;
  size_t n = 0;
  ts_error err;
  ts_err rc;
  char *v;

  if (!ready) {
    cfg_defaults(&c);
    free(c.base_url);
    c.base_url = strdup("http://127.0.0.1:8080/tap");
    ready = 1;
  }
  a = ts_arena_new(256, 16384);
  v = a ? ts_arena_strndup(a, (const char *)data, size) : NULL; /* stops at a NUL, as HTTP does */
  if (!v) {
    ts_arena_free(a);
    return 0;
  }
  rc = tap_upload_parse(&c, v, a, &r, &n, &err);
  if (rc != TS_OK && rc != TS_EINVAL && rc != TS_ELIMIT && rc != TS_ENOMEM)
    __builtin_trap();
  if (rc == TS_OK) {
    if ((int)n > c.upload_max_uploads)
      __builtin_trap();
    for (size_t i = 0; i < n; i++) {
      const char *s = r[i].name;
      if (!isalpha((unsigned char)s[0]) || strlen(s) > JOBS_UPLOAD_NAME_MAX)
        __builtin_trap();
      for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_')
          __builtin_trap();
      for (size_t j = 0; j < i; j++)
        if (ts_strcaseeq(r[i].name, r[j].name))
          __builtin_trap();
      if (r[i].kind == TAP_UPLOAD_JOB && !uws_job_id_ok(r[i].ref, strlen(r[i].ref)))
        __builtin_trap();
    }
  }
  ts_arena_free(a);
  return 0;
}
