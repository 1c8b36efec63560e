/* Uploads that are files: inline ones (param:X, a spooled part or a
 * parameter of the request) and URL ones (fetched into a temporary file
 * first), read by the format readers (formats/upload.h) straight into
 * COPY FROM STDIN of their table (jobs/uploads.c). */
#include "formats/upload.h"
#include "http/fetch.h"
#include "tapserve/tap/tap.h"
#include "tapserve/tapserve.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

enum {
  UPLOAD_OUT_BUF = 64 * 1024, /* COPY bytes handed to libpq at a time */
  UPLOAD_SNIFF = 512,         /* bytes the format is told from */
};

static void close_fd(void *p)
{
  close((int)(intptr_t)p);
}

/* An unlinked temporary file in dir, closed with the arena. */
static ts_err temp_file(const char *dir, ts_arena *a, int *fd, ts_error *err)
{
  *fd = http_spool_open(dir && *dir ? dir : "/tmp");
  if (*fd < 0)
    return ts_fail(err, TS_EIO, 0, "cannot create a temporary file for an upload: %s",
                   strerror(errno));
  if (ts_arena_defer(a, close_fd, (void *)(intptr_t)*fd)) {
    close(*fd);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  return TS_OK;
}

ts_err tap_upload_resolve(http_request *req, const http_param *params, size_t np,
                          const tap_upload_ref *refs, size_t n, const char *spool_dir,
                          tap_upload_file **out, ts_error *err)
{
  const http_part *parts = NULL;
  size_t nparts = 0;
  tap_upload_file *f = ts_arena_calloc(req->arena, n + 1, sizeof *f);
  ts_err rc =
      f ? http_request_parts(req, &parts, &nparts) : ts_fail(err, TS_ENOMEM, 0, "out of memory");
  *out = f;
  for (size_t i = 0; i < n && !rc; i++) {
    f[i].ref = &refs[i];
    f[i].fd = -1;
    if (refs[i].kind != TAP_UPLOAD_INLINE)
      continue;
    for (size_t j = 0; j < nparts && f[i].fd < 0; j++)
      if (parts[j].name && !strcmp(parts[j].name, refs[i].ref)) {
        f[i].fd = parts[j].fd;
        f[i].content_type = parts[j].content_type;
        f[i].filename = parts[j].filename;
      }
    /* curl -F 'x=<file.csv' sends the table as a parameter's value */
    for (size_t j = 0; j < np && f[i].fd < 0; j++)
      if (!strcmp(params[j].name, refs[i].ref)) {
        size_t len = strlen(params[j].value), done = 0;
        rc = temp_file(spool_dir, req->arena, &f[i].fd, err);
        while (!rc && done < len) {
          ssize_t w = write(f[i].fd, params[j].value + done, len - done);
          if (w < 0 && errno == EINTR)
            continue;
          if (w <= 0)
            rc = ts_fail(err, TS_EIO, 0, "cannot spool upload \"%s\": %s", refs[i].name,
                         strerror(errno));
          else
            done += (size_t)w;
        }
      }
    if (!rc && f[i].fd < 0)
      rc = ts_fail(err, TS_EINVAL, 0,
                   "UPLOAD \"%s\": the request has no part or parameter named \"%s\"", refs[i].name,
                   refs[i].ref);
  }
  return rc;
}

/* Errors say which upload they are about, once. */
static void name_upload(ts_error *err, ts_err rc, const char *name)
{
  char quoted[JOBS_UPLOAD_NAME_MAX + 4];
  snprintf(quoted, sizeof quoted, "\"%s\"", name);
  if (!strstr(err->msg, quoted)) {
    ts_error in = *err;
    ts_fail(err, rc, 0, "UPLOAD \"%s\": %.400s", name, in.msg);
  }
}

/* A fetch stopped by an [upload] limit says which key (the fetcher knows
 * the value, not the configuration). */
static void name_fetch_limit(ts_error *err, ts_err rc)
{
  const char *key = rc == TS_ELIMIT ? "max_bytes" : rc == TS_ETIMEOUT ? "fetch_timeout" : NULL;
  if (key && !strstr(err->msg, key)) {
    ts_error in = *err;
    ts_fail(err, rc, 0, "%.400s ([upload] %s)", in.msg, key);
  }
}

/* ---- one file into one table ---------------------------------------------- */

typedef struct file_load {
  ts_arena *a;
  const tap_upload_env *env;
  PGconn *conn;
  const jobs_load_target *target;
  const char *name;
  jobs_upload_load *l;
  ts_error *err;
} file_load;

static ts_err on_table(void *ud, const fmt_upload_table *t, ts_error *err)
{
  file_load *fl = ud;
  jobs_upload_col *cols;
  if (t->ncols > (size_t)fl->env->c->upload_max_columns)
    return ts_fail(err, TS_ELIMIT, 0,
                   "upload \"%s\" has %zu columns, more than the limit of %d ([upload] "
                   "max_columns)",
                   fl->name, t->ncols, fl->env->c->upload_max_columns);
  cols = ts_arena_calloc(fl->a, t->ncols + 1, sizeof *cols);
  if (!cols)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  for (size_t i = 0; i < t->ncols; i++) {
    cols[i].c = t->cols[i].c;
    cols[i].copy_type = t->cols[i].copy_type;
    cols[i].final_type = t->cols[i].final_type;
  }
  return fl->target->begin(fl->target, fl->conn, cols, t->ncols, fl->env->c->upload_max_bytes,
                           &fl->l, err);
}

static ts_err on_flush(void *ud, const char *buf, size_t len)
{
  file_load *fl = ud;
  return fl->l
             ? jobs_upload_write(fl->l, buf, len, fl->err)
             : ts_fail(fl->err, TS_EINTERNAL, 0, "upload \"%s\": rows before the table", fl->name);
}

ts_err tap_load_file(const tap_upload_env *env, PGconn *conn, const jobs_load_target *t, int fd,
                     fmt_upload_format format, const char *ctype, const char *filename,
                     ts_error *err)
{
  fmt_upload_limits lim = {(uint64_t)env->c->upload_max_rows, (size_t)env->c->upload_max_columns,
                           0};
  file_load fl = {NULL, env, conn, t, t->name, NULL, err};
  uint8_t head[UPLOAD_SNIFF];
  ssize_t got = pread(fd, head, sizeof head, 0);
  stream_out out = {0};
  uint64_t rows = 0;
  ts_arena *a = ts_arena_new(0, TS_QUERY_ARENA_CAP);
  ts_err rc;
  if (!a)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  fl.a = a;
  rc = stream_out_init(&out, UPLOAD_OUT_BUF, on_flush, &fl);
  if (!rc)
    rc = fmt_upload_read(
        fd, format ? format : fmt_upload_sniff(head, got > 0 ? (size_t)got : 0, ctype, filename),
        &lim, a, on_table, &fl, &out, &rows, err);
  if (!rc)
    rc = stream_out_flush(&out);
  if (!rc && !fl.l)
    rc = ts_fail(err, TS_EINVAL, 0, "upload \"%s\" holds no table", t->name);
  if (!rc)
    rc = jobs_upload_finish(fl.l, rows, env->query_role, err);
  jobs_upload_free(fl.l);
  stream_out_free(&out);
  ts_arena_free(a);
  return rc;
}

ts_err tap_upload_fetch(const tap_upload_env *env, const char *url, ts_arena *a, int *fd,
                        const char **ctype, ts_error *err)
{
  http_fetch_opts o = {env->c->upload_max_bytes, (uint64_t)env->c->upload_fetch_timeout_ms,
                       env->c->upload_max_redirects, env->c->upload_allow_private, NULL};
  uint64_t size = 0;
  ts_err rc = temp_file(env->c->spool_dir, a, fd, err);
  if (!rc) {
    rc = http_fetch(url, &o, *fd, a, ctype, &size, err);
    name_fetch_limit(err, rc);
    /* the client's URL failed (no such host, 404): the client's error */
    if (rc == TS_EIO) {
      ts_error in = *err;
      rc = ts_fail(err, TS_EINVAL, 0, "%s", in.msg);
    }
  }
  return rc;
}

ts_err tap_upload_load_files(const tap_upload_env *env, PGconn *conn, const tap_upload_file *f,
                             size_t n, ts_error *err)
{
  ts_err rc = TS_OK;
  for (size_t i = 0; i < n && !rc; i++) {
    ts_arena *a;
    const char *ctype = f[i].content_type;
    int fd = f[i].fd;
    if (f[i].ref->kind == TAP_UPLOAD_JOB)
      continue;
    a = ts_arena_new(0, 0);
    if (!a)
      return ts_fail(err, TS_ENOMEM, 0, "out of memory");
    if (f[i].ref->kind == TAP_UPLOAD_URL) {
      rc = tap_upload_fetch(env, f[i].ref->ref, a, &fd, &ctype, err);
      if (rc)
        name_upload(err, rc, f[i].ref->name);
    }
    if (!rc) {
      jobs_load_target t = jobs_upload_target(&env->owner, f[i].ref->name);
      rc = tap_load_file(env, conn, &t, fd, FMT_UPLOAD_AUTO, ctype, f[i].filename, err);
      if (rc)
        name_upload(err, rc, f[i].ref->name);
    }
    ts_arena_free(a);
  }
  return rc;
}
