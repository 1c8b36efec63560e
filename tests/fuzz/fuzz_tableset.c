/* Fuzzes the tableset reader (formats/tableset.c). What it accepts must
 * write out as a document it accepts again, and writing that second model
 * must give the same bytes: the writer and reader agree on every field. */
#include "formats/tableset.h"

#include <stdint.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fmt_tableset *ts = NULL, *again = NULL;
  ts_buf b1, b2;
  ts_error err;
  ts_err rc = fmt_tableset_read((const char *)data, size, "fuzz.xml", &ts, &err);

  if (rc != TS_OK && rc != TS_EINVAL && rc != TS_ENOMEM)
    __builtin_trap();
  if (rc)
    return 0;
  ts_buf_init(&b1, FMT_TABLESET_MAX);
  ts_buf_init(&b2, FMT_TABLESET_MAX);
  if (fmt_tableset_write(ts, &b1) == TS_OK) {
    if (fmt_tableset_read(b1.data, b1.len, "again.xml", &again, &err) != TS_OK)
      __builtin_trap();
    if (fmt_tableset_write(again, &b2) != TS_OK || b1.len != b2.len ||
        memcmp(b1.data, b2.data, b1.len) != 0)
      __builtin_trap();
  }
  fmt_tableset_free(again);
  fmt_tableset_free(ts);
  ts_buf_free(&b1);
  ts_buf_free(&b2);
  return 0;
}
