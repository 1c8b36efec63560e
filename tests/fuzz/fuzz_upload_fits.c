/* libFuzzer target for the FITS upload reader: the input is the file (in
 * a memfd, as a spooled upload would be a regular file). The rows go to a
 * sink that only counts bytes. Every outcome is allowed but a crash, a
 * leak, a hang, or an error without a message. */
#define _GNU_SOURCE
#include "formats/upload_int.h"

#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static ts_err sink(void *ud, const char *p, size_t n)
{
  (void)p;
  *(uint64_t *)ud += n;
  return TS_OK;
}

static ts_err on_table(void *ud, const fmt_upload_table *t, ts_error *err)
{
  (void)ud;
  for (size_t i = 0; i < t->ncols; i++)
    if (!t->cols[i].copy_type || !t->cols[i].c.name)
      return ts_fail(err, TS_EINTERNAL, 0, "column without a type or a name");
  return TS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  int fd = memfd_create("fuzz-fits", MFD_CLOEXEC);
  if (fd < 0 || write(fd, data, size) != (ssize_t)size)
    abort();
  uint64_t total = 0, rows = 0;
  stream_out out;
  ts_error err;
  ts_arena *a = ts_arena_new(0, 64 << 20);
  fmt_upload_limits lim = {.max_rows = 100000, .max_value_bytes = 1 << 20};
  stream_out_init(&out, 4096, sink, &total);
  ts_err rc = fmt__upload_fits(fd, &lim, a, on_table, NULL, &out, &rows, &err);
  if (rc == TS_EINTERNAL || (rc && !err.msg[0]))
    abort();
  stream_out_free(&out);
  ts_arena_free(a);
  close(fd);
  return 0;
}
