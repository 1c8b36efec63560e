/* http/body.c: a multipart/form-data request body, streamed as it arrives.
 *
 * parse.c hands every body byte of a multipart POST to this file instead
 * of buffering the body. multipart.c finds the parts; here a part with a
 * filename goes to an unlinked temporary file (O_TMPFILE in the spool
 * directory) and a part without one becomes a parameter held in the
 * request's arena, all parameters together bounded by max_form_body_bytes
 * like a url-encoded body. Bytes spooled by all requests of the server
 * count against spool_budget_bytes (503 beyond), so one client cannot fill
 * the disk. Everything belongs to the request's arena: its destructors
 * close the files (which disappear with their last descriptor) and return
 * the spool bytes, whether the request is answered or its body fails half
 * way. Writes to the spool are plain write(2) calls on the loop thread: the
 * page cache takes them at memory speed. A disk that cannot keep up (page
 * cache full of dirty pages) stalls the whole loop for as long as a write
 * waits, not only this upload: spool_dir belongs on local storage, and
 * moving the writes to the thread pool (pausing reads meanwhile) is the
 * next step if that ever shows. */
#define _GNU_SOURCE /* O_TMPFILE */
#include "http/http_int.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

enum { HTTP__SPOOL_BUF = 64 * 1024 }; /* file content gathered per write(2) */

struct http__mpbody {
  http__mp mp;
  ts_arena *arena;
  const http_server_opts *o;
  http__budget *spool;
  size_t spooled; /* of spool, for this request */
  /* the part being received */
  http_part *cur; /* a file part, or NULL */
  const char *cur_name;
  ts_buf val; /* a parameter's value; capped by what the form limit leaves */
  char *wbuf; /* file content not yet written, HTTP__SPOOL_BUF bytes */
  size_t wlen;
  size_t form_bytes; /* names and values of the parameters so far */
  /* what the handler sees */
  http_part *parts;
  size_t nparts, parts_cap;
  http_param *params;
  size_t nparams, params_cap;
};

static ts_err grow(ts_arena *a, void **arr, size_t *cap, size_t n, size_t size, ts_error *err)
{
  if (n < *cap)
    return TS_OK;
  size_t ncap = *cap ? 2 * *cap : 8;
  void *na = ts_arena_alloc(a, ncap * size);
  if (!na)
    return ts_fail(err, TS_ENOMEM, 0, "too many parts for the request's memory limit");
  if (n)
    memcpy(na, *arr, n * size);
  *arr = na;
  *cap = ncap;
  return TS_OK;
}

static void close_part(void *arg)
{
  http_part *pt = arg;
  if (pt->fd >= 0)
    close(pt->fd);
  pt->fd = -1;
}

static void mpbody_release(void *arg)
{
  struct http__mpbody *b = arg;
  http__mp_free(&b->mp);
  ts_buf_free(&b->val);
  free(b->wbuf);
  b->wbuf = NULL;
  if (b->spool)
    b->spool->used -= b->spooled;
  b->spooled = 0;
}

int http_spool_open(const char *dir)
{
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
    return fd;
  char path[PATH_MAX];
  if (snprintf(path, sizeof path, "%s/tapserve-upload-XXXXXX", dir) >= (int)sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  fd = mkostemp(path, O_CLOEXEC);
  if (fd >= 0)
    unlink(path);
  return fd;
}

static ts_err on_part(void *ud, const http__mp_part *mp, ts_error *err)
{
  struct http__mpbody *b = ud;
  size_t nlen = strlen(mp->name);
  ts_err rc;

  if (b->nparts + b->nparams >= b->o->max_upload_parts)
    return ts_fail(err, TS_ELIMIT, 0, "multipart body with more than %zu parts",
                   b->o->max_upload_parts);
  if (!mp->filename) {
    /* The name counts against the form limit as in a url-encoded body. */
    if (nlen > b->o->max_form_body_bytes - b->form_bytes)
      return ts_fail(err, TS_ELIMIT, 0, "multipart parameters larger than %zu bytes",
                     b->o->max_form_body_bytes);
    b->form_bytes += nlen;
    b->cur_name = ts_arena_strdup(b->arena, mp->name);
    if (!b->cur_name)
      return ts_fail(err, TS_ENOMEM, 0, "request too large for its memory limit");
    ts_buf_free(&b->val);
    ts_buf_init(&b->val, b->o->max_form_body_bytes - b->form_bytes);
    b->cur = NULL;
    return TS_OK;
  }
  if ((rc = grow(b->arena, (void **)&b->parts, &b->parts_cap, b->nparts, sizeof *b->parts, err)))
    return rc;
  http_part *pt = &b->parts[b->nparts];
  memset(pt, 0, sizeof *pt);
  pt->fd = -1;
  pt->name = ts_arena_strdup(b->arena, mp->name);
  pt->filename = ts_arena_strdup(b->arena, mp->filename);
  pt->content_type = mp->content_type ? ts_arena_strdup(b->arena, mp->content_type) : NULL;
  if (!pt->name || !pt->filename || (mp->content_type && !pt->content_type) ||
      ts_arena_defer(b->arena, close_part, pt) != TS_OK)
    return ts_fail(err, TS_ENOMEM, 0, "request too large for its memory limit");
  if (!b->wbuf && !(b->wbuf = malloc(HTTP__SPOOL_BUF)))
    return ts_fail(err, TS_ENOMEM, 0, "server out of memory");
  b->nparts++; /* from here on closed by the arena */
  pt->fd = http_spool_open(b->o->spool_dir);
  if (pt->fd < 0) {
    ts_log(TS_LOG_ERROR, NULL, "cannot create a temporary file in %s: %s", b->o->spool_dir,
           strerror(errno));
    return ts_fail(err, TS_EUNAVAIL, 0, "the server cannot store uploads at the moment");
  }
  b->cur = pt;
  return TS_OK;
}

/* Writes [p, p+n) to the current file part. */
static ts_err spool_write(struct http__mpbody *b, const char *p, size_t n, ts_error *err)
{
  http_part *pt = b->cur;
  while (n > 0) {
    ssize_t w = write(pt->fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w < 0) {
      int e = errno;
      int full = e == ENOSPC || e == EDQUOT;
      ts_log(TS_LOG_ERROR, NULL, "writing an upload to %s: %s", b->o->spool_dir, strerror(e));
      return ts_fail(err, full ? TS_EUNAVAIL : TS_EIO, 0, "the server cannot store the upload: %s",
                     full ? "no space left; try again later" : "write error");
    }
    p += w;
    n -= (size_t)w;
    pt->size += (uint64_t)w;
  }
  return TS_OK;
}

static ts_err spool_flush(struct http__mpbody *b, ts_error *err)
{
  ts_err rc = spool_write(b, b->wbuf, b->wlen, err);
  b->wlen = 0;
  return rc;
}

/* Content comes in pieces as small as a line of text (the parser hands on
 * what lies between line feeds): they are gathered into HTTP__SPOOL_BUF
 * bytes per write(2). */
static ts_err on_data(void *ud, const char *p, size_t n, ts_error *err)
{
  struct http__mpbody *b = ud;
  ts_err rc;

  if (!b->cur) {
    rc = ts_buf_append(&b->val, p, n);
    if (rc == TS_ELIMIT)
      return ts_fail(err, TS_ELIMIT, 0,
                     "multipart parameters larger than %zu bytes (send tables as file parts)",
                     b->o->max_form_body_bytes);
    if (rc != TS_OK)
      return ts_fail(err, TS_ENOMEM, 0, "server out of memory");
    return TS_OK;
  }
  if (b->spool && n > b->spool->cap - b->spool->used)
    return ts_fail(err, TS_EUNAVAIL, 0,
                   "uploads in progress fill the server's spool space; try again later");
  if (b->spool)
    b->spool->used += n;
  b->spooled += n;
  if (n > HTTP__SPOOL_BUF - b->wlen && (rc = spool_flush(b, err)) != TS_OK)
    return rc;
  if (n >= HTTP__SPOOL_BUF)
    return spool_write(b, p, n, err);
  memcpy(b->wbuf + b->wlen, p, n);
  b->wlen += n;
  return TS_OK;
}

static ts_err on_part_end(void *ud, ts_error *err)
{
  struct http__mpbody *b = ud;
  ts_err rc;
  size_t len;

  if (b->cur) {
    rc = spool_flush(b, err);
    b->cur = NULL;
    return rc;
  }
  if (b->val.len && memchr(b->val.data, '\0', b->val.len))
    return ts_fail(err, TS_EINVAL, 0,
                   "multipart parameter \"%.64s\" holds a NUL byte (send binary content as a "
                   "file part, with a filename)",
                   b->cur_name);
  if ((rc =
           grow(b->arena, (void **)&b->params, &b->params_cap, b->nparams, sizeof *b->params, err)))
    return rc;
  len = b->val.len;
  char *v = ts_arena_strndup(b->arena, b->val.data ? b->val.data : "", len);
  if (!v)
    return ts_fail(err, TS_ENOMEM, 0, "request too large for its memory limit");
  b->form_bytes += len;
  b->params[b->nparams++] = (http_param){b->cur_name, v};
  ts_buf_free(&b->val);
  return TS_OK;
}

static const http__mp_cbs mp_cbs = {on_part, on_data, on_part_end};

static int body_fail(http__reqparser *p, const ts_error *e)
{
  int st = ts_err_http(e->code);
  p->err_status = st >= 400 ? st : 500;
  snprintf(p->err_text, sizeof p->err_text, "%s", e->msg);
  p->err_msg = p->err_text;
  return -1;
}

int http__body_mp_begin(http__reqparser *p, http__req *q, const char *content_type)
{
  char bnd[HTTP__MP_BOUNDARY_MAX + 1];
  size_t blen;
  ts_error err;
  ts_arena *a = q->pub.arena;
  struct http__mpbody *b;

  ts_error_clear(&err);
  if (http__mp_boundary(content_type, bnd, &blen, &err) != TS_OK)
    return body_fail(p, &err);
  b = ts_arena_calloc(a, 1, sizeof *b);
  if (!b || ts_arena_defer(a, mpbody_release, b) != TS_OK) {
    ts_fail(&err, TS_ENOMEM, 0, "server out of memory");
    return body_fail(p, &err);
  }
  b->arena = a;
  b->o = p->opts;
  b->spool = p->spool;
  ts_buf_init(&b->val, p->opts->max_form_body_bytes); /* re-capped per parameter */
  if (http__mp_init(&b->mp, bnd, blen, p->opts->max_part_header_bytes, &mp_cbs, b) != TS_OK) {
    ts_fail(&err, TS_ENOMEM, 0, "server out of memory");
    return body_fail(p, &err);
  }
  q->mp = b;
  p->mp = b;
  p->body_seen = 0;
  return 0;
}

int http__body_mp_feed(http__reqparser *p, const char *at, size_t len)
{
  ts_error err;
  if (len > p->body_limit - p->body_seen) {
    ts_fail(&err, TS_ELIMIT, 0, "multipart request body larger than %zu bytes", p->body_limit);
    return body_fail(p, &err);
  }
  p->body_seen += len;
  ts_error_clear(&err);
  if (http__mp_feed(&p->mp->mp, at, len, &err) != TS_OK)
    return body_fail(p, &err);
  return 0;
}

int http__body_mp_end(http__reqparser *p)
{
  struct http__mpbody *b = p->mp;
  ts_error err;
  ts_error_clear(&err);
  if (http__mp_finish(&b->mp, &err) != TS_OK)
    return body_fail(p, &err);
  /* The header buffers are of no more use; the parts and parameters are
   * in the arena. */
  http__mp_free(&b->mp);
  p->mp = NULL;
  return 0;
}

void http__body_mp_params(const http__req *q, const http_param **params, size_t *n)
{
  *params = q->mp ? q->mp->params : NULL;
  *n = q->mp ? q->mp->nparams : 0;
}

ts_err http_request_parts(http_request *r, const http_part **parts, size_t *n)
{
  const http__req *q = http__req_of(r);
  *parts = q->mp ? q->mp->parts : NULL;
  *n = q->mp ? q->mp->nparts : 0;
  return TS_OK;
}
