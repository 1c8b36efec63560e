/* Fuzzes the parameters of {tap}/share (share.c's parsers, reached by
 * including the file): lines "name=value" of the input become the
 * request's parameters, the first byte's low bit says POST. Only TS_OK,
 * TS_EINVAL, TS_EMETHOD and TS_ENOMEM come back; what is accepted keeps
 * its promises (a change is a POST, items name at least one positive group
 * id, members are user names, ids are positive). */
#include "tapserve/plus/share.c"
#include "fuzz_params.h"

#include <stdint.h>

enum { FUZZ_MAX_PARAMS = 256 };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  http_param p[FUZZ_MAX_PARAMS];
  size_t np = 0;
  ts_arena *a;
  long n;
  share_req q;
  ts_error e;
  ts_err rc;
  int post;

  a = ts_arena_new(256, 1 << 20);
  n = fuzz_params(data, size, a, p, FUZZ_MAX_PARAMS);
  if (n < 0) {
    ts_arena_free(a);
    return 0;
  }
  np = (size_t)n;
  post = data[0] & 1;
  rc = parse_share(p, np, post, a, &q, &e);
  if (rc != TS_OK && rc != TS_EINVAL && rc != TS_EMETHOD && rc != TS_ENOMEM)
    __builtin_trap();
  if (rc == TS_OK) {
    if (!post && q.action != SH_GET_GROUPS && q.action != SH_GET_ITEMS)
      __builtin_trap();
    if (q.action == SH_PUT_ITEM && (q.ngroups == 0 || q.ngroups > SHARE_ITEMS_MAX || !q.title))
      __builtin_trap();
    for (size_t i = 0; i < q.ngroups; i++)
      if (q.groups[i] <= 0)
        __builtin_trap();
    for (size_t i = 0; i < q.change.nmembers; i++)
      if (!jobs_user_name_ok(q.change.members[i]))
        __builtin_trap();
    if ((q.action == SH_REMOVE_GROUP && q.group_id <= 0) ||
        (q.action == SH_REMOVE_ITEM && q.item_id <= 0) ||
        (q.action == SH_PUT_GROUP && !q.group_id && !q.title))
      __builtin_trap();
  }
  ts_arena_free(a);
  return 0;
}
