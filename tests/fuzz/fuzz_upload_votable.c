/* Fuzzes the VOTABLE upload reader (formats/upload_votable.c) through
 * fmt_upload_read: the input is written to a memfd and read into a
 * discarding stream_out, with small limits so that they are reached. A
 * reader may refuse (TS_EINVAL, TS_ELIMIT) but must not crash, leak, or
 * answer with any other code. */
#define _GNU_SOURCE
#include "formats/upload.h"

#include <sys/mman.h>
#include <unistd.h>

static ts_err on_table(void *ud, const fmt_upload_table *t, ts_error *err)
{
  (void)err;
  *(size_t *)ud = t->ncols;
  return TS_OK;
}

static ts_err discard(void *ud, const char *buf, size_t len)
{
  (void)ud, (void)buf, (void)len;
  return TS_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  int fd = memfd_create("fuzz", 0);
  if (fd < 0 || write(fd, data, size) != (ssize_t)size)
    __builtin_trap();
  fmt_upload_limits lim = {.max_rows = 10000, .max_columns = 64, .max_value_bytes = 1 << 16};
  ts_arena *a = ts_arena_new(0, 0);
  stream_out o;
  ts_error err;
  uint64_t rows = 0;
  size_t ncols = 0;
  stream_out_init(&o, 4096, discard, NULL);
  ts_err rc = fmt_upload_read(fd, FMT_UPLOAD_VOTABLE, &lim, a, on_table, &ncols, &o, &rows, &err);
  if (rc != TS_OK && rc != TS_EINVAL && rc != TS_ELIMIT && rc != TS_ENOMEM)
    __builtin_trap();
  if (rc == TS_OK && (rows > lim.max_rows || ncols == 0 || ncols > lim.max_columns))
    __builtin_trap();
  if (rc != TS_OK && !err.msg[0])
    __builtin_trap(); /* every refusal says why */
  stream_out_free(&o);
  ts_arena_free(a);
  close(fd);
  return 0;
}
