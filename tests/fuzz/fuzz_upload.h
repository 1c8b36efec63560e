/* tests/fuzz/fuzz_upload.h: the one body of the upload reader fuzz targets
 * (fuzz_upload_<format>.c). The input is the file, in a memfd as a spooled
 * upload would be a regular file, read through fmt_upload_read as the
 * target's format into a sink that only counts bytes, with small limits so
 * that they are reached. A reader may refuse (TS_EINVAL, TS_ELIMIT,
 * TS_ENOMEM) but must not crash, leak, hang, answer with another code,
 * refuse without saying why, describe a column without a name or a type,
 * or pass its limits. */
#ifndef TS_FUZZ_UPLOAD_H
#define TS_FUZZ_UPLOAD_H

#define _GNU_SOURCE
#include "formats/upload.h"

#include <sys/mman.h>
#include <unistd.h>

static ts_err fuzz_upload_sink(void *ud, const char *p, size_t n)
{
  (void)p;
  *(uint64_t *)ud += n;
  return TS_OK;
}

static ts_err fuzz_upload_on_table(void *ud, const fmt_upload_table *t, ts_error *err)
{
  *(size_t *)ud = t->ncols;
  for (size_t i = 0; i < t->ncols; i++)
    if (!t->cols[i].copy_type || !t->cols[i].c.name)
      return ts_fail(err, TS_EINTERNAL, 0, "column without a type or a name");
  return TS_OK;
}

static int fuzz_upload(const uint8_t *data, size_t size, fmt_upload_format f, fmt_upload_limits lim)
{
  int fd = memfd_create("fuzz-upload", MFD_CLOEXEC);
  if (fd < 0 || write(fd, data, size) != (ssize_t)size)
    __builtin_trap();
  ts_arena *a = ts_arena_new(0, 64 << 20);
  stream_out o;
  ts_error err;
  uint64_t rows = 0, total = 0;
  size_t ncols = 0;
  stream_out_init(&o, 4096, fuzz_upload_sink, &total);
  ts_err rc = fmt_upload_read(fd, f, &lim, a, fuzz_upload_on_table, &ncols, &o, &rows, &err);
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

#endif
