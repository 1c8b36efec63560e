/* Streaming one result to a client: schema and batches in, a formatted
 * HTTP response out. /sync feeds it from a running query; async result
 * downloads feed it from a stored result.
 *
 * The encoder writes into a stream_out whose first flush starts the HTTP
 * response: until then nothing has been sent, so an error that comes before
 * the first buffer is full (a failure at describe time or on the first
 * rows) still gets a DALI error document with a fitting status, and a
 * small result goes out whole with Content-Length. */
#include "tapserve/tapserve.h"

#include <stdio.h>
#include <string.h>

enum { RESULT_OUT_BYTES = 64 * 1024, DISPOSITION_BYTES = 128 };

struct tap_result {
  http_request *req;
  const fmt_type *fmt;
  fmt_encoder *enc;
  stream_out out;
  tap_result_hooks hooks;
  void *ud;
  int started; /* HTTP response begun (first flush happened) */
  int aborted; /* client went away */
  int blocked; /* producer told to pause; on_drain pending */
};

/* The file name clients save the result under. */
static const char *disposition(char out[DISPOSITION_BYTES], const tap_result *r)
{
  snprintf(out, DISPOSITION_BYTES,
           "Content-Disposition: inline; filename=\"result-%.16s.%.8s\"\r\n", r->req->reqid,
           r->fmt->ext);
  return out;
}

static ts_err result_flush(void *ud, const char *buf, size_t len)
{
  tap_result *r = ud;
  if (r->aborted)
    return TS_ECANCELED;
  if (!r->started) {
    char disp[DISPOSITION_BYTES];
    ts_err rc = http_begin_chunked(r->req, 200, r->fmt->mime, disposition(disp, r));
    if (rc)
      return rc;
    r->started = 1;
  }
  return http_write(r->req, buf, len);
}

static void result_on_drain(void *ud)
{
  tap_result *r = ud;
  if (r->blocked) {
    r->blocked = 0;
    if (r->hooks.on_drain)
      r->hooks.on_drain(r->ud);
  }
}

static void result_on_abort(void *ud)
{
  tap_result *r = ud;
  r->aborted = 1;
  ts_log(TS_LOG_INFO, r->req->reqid, "client went away");
  if (r->hooks.on_abort)
    r->hooks.on_abort(r->ud);
}

tap_result *tap_result_new(http_request *req, const fmt_type *fmt, const tap_result_hooks *hooks,
                           void *ud)
{
  tap_result *r = ts_arena_calloc(req->arena, 1, sizeof *r);
  if (!r)
    return NULL;
  r->req = req;
  r->fmt = fmt;
  r->ud = ud;
  if (hooks)
    r->hooks = *hooks;
  if (stream_out_init(&r->out, RESULT_OUT_BYTES, result_flush, r))
    return NULL;
  http_on_abort(req, result_on_abort, r);
  http_on_drain(req, result_on_drain, r);
  return r;
}

ts_err tap_result_begin(tap_result *r, const stream_schema *schema, const fmt_info *info,
                        ts_error *err)
{
  r->enc = fmt_encoder_new(r->fmt, &r->out);
  if (!r->enc)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  ts_err rc = fmt_encoder_begin(r->enc, schema, info);
  if (rc)
    return ts_fail(err, rc, 0, "cannot write this result as %s", r->fmt->name);
  return TS_OK;
}

ts_err tap_result_rows(tap_result *r, const stream_batch *b, ts_error *err)
{
  ts_err rc = fmt_encoder_rows(r->enc, b);
  if (rc)
    return ts_fail(err, rc, 0, "%s", rc == TS_ECANCELED ? "client went away" : "output failed");
  if (!r->blocked && r->started && http_write_blocked(r->req))
    r->blocked = 1;
  return TS_OK;
}

int tap_result_blocked(const tap_result *r)
{
  return r->blocked;
}

int tap_result_aborted(const tap_result *r)
{
  return r->aborted;
}

static void result_free(tap_result *r)
{
  fmt_encoder_free(r->enc);
  r->enc = NULL;
  stream_out_free(&r->out);
}

void tap_result_finish(tap_result *r, ts_err rc, const ts_error *err, int overflow)
{
  http_request *req = r->req;
  fmt_trailer t;

  if (r->aborted) {
    result_free(r);
    http_end(req, 0);
    return;
  }
  if (rc == TS_OK && r->enc) {
    t.status = overflow ? FMT_OVERFLOW : FMT_OK;
    t.message = overflow ? "the result was truncated at MAXREC rows" : NULL;
    rc = fmt_encoder_end(r->enc, &t);
    if (!rc && !r->started) {
      /* The whole result fits in the output buffer: one response with
       * Content-Length. */
      char disp[DISPOSITION_BYTES];
      http_respond(req, 200, r->fmt->mime, disposition(disp, r), r->out.buf, r->out.len);
      result_free(r);
      return;
    }
    if (!rc)
      rc = stream_out_flush(&r->out);
    result_free(r);
    http_end(req, rc == TS_OK);
    return;
  }

  if (!r->started) {
    ts_error e;
    if (err && err->code)
      e = *err;
    else
      ts_fail(&e, rc ? rc : TS_EINTERNAL, 0, "%s", ts_err_text(rc ? rc : TS_EINTERNAL));
    result_free(r);
    tap_send_error(req, &e);
    return;
  }
  /* Streaming already began: close the document with an error status if the
   * format can carry one, else break the transfer so that no client takes
   * a truncated result for a complete one. */
  int ok = 0;
  if (r->enc && r->fmt->can_report_error) {
    t.status = FMT_ERROR;
    t.message = err && err->msg[0] ? err->msg : ts_err_text(rc);
    ok = fmt_encoder_end(r->enc, &t) == TS_OK && stream_out_flush(&r->out) == TS_OK;
  }
  result_free(r);
  http_end(req, ok);
}
