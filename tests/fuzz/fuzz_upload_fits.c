/* Fuzzes the FITS upload reader (formats/upload_fits.c, upload_fits_hdr.c) through
 * fmt_upload_read: see fuzz_upload.h. */
#include "fuzz_upload.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  return fuzz_upload(
      data, size, FMT_UPLOAD_FITS,
      (fmt_upload_limits){.max_rows = 100000, .max_columns = 999, .max_value_bytes = 1 << 20});
}
