/* Fuzzes the ECSV upload reader (formats/upload_ecsv.c) through
 * fmt_upload_read: see fuzz_upload.h. */
#include "fuzz_upload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  return fuzz_upload(
      data, size, FMT_UPLOAD_ECSV,
      (fmt_upload_limits){.max_rows = 100000, .max_columns = 1600, .max_value_bytes = 1 << 20});
}
