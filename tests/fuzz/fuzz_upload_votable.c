/* Fuzzes the VOTABLE upload reader (formats/upload_votable.c, upload_vot_bin.c) through
 * fmt_upload_read: see fuzz_upload.h. */
#include "fuzz_upload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  return fuzz_upload(
      data, size, FMT_UPLOAD_VOTABLE,
      (fmt_upload_limits){.max_rows = 10000, .max_columns = 64, .max_value_bytes = 1 << 16});
}
