/* Fuzzes the decoding of event payloads (NOTIFY payloads come from the
 * database): whatever is accepted must encode back to the same bytes, and
 * decode must never read past the length it is given (ASan checks that:
 * the input is not NUL-terminated). */
#include "jobs/events.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  jobs_event ev, back;
  char buf[JOBS_EVENT_PAYLOAD_MAX];
  size_t len;
  ts_err rc = jobs_event_decode((const char *)data, size, &ev);
  if (rc != TS_OK && rc != TS_EINVAL)
    __builtin_trap();
  if (rc != TS_OK)
    return 0;
  if (jobs_event_encode(&ev, buf, sizeof buf, &len) != TS_OK)
    __builtin_trap();
  if (len != size || memcmp(buf, data, size) != 0)
    __builtin_trap();
  if (jobs_event_decode(buf, len, &back) != TS_OK || back.kind != ev.kind ||
      strcmp(back.id, ev.id) != 0 || back.has_phase != ev.has_phase ||
      (ev.has_phase && back.phase != ev.phase))
    __builtin_trap();
  return 0;
}
