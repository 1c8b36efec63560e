/* Streaming one result to a client: schema and batches in, a formatted
 * HTTP response out. /sync feeds it from a running query; async result
 * downloads feed it from a stored result.
 *
 * The encoder writes into a stream_out whose first flush starts the HTTP
 * response: until then nothing has been sent, so an error that comes before
 * the first buffer is full (a failure at describe time or on the first
 * rows) still gets a DALI error document with a fitting status, and a
 * small result goes out whole with Content-Length.
 *
 * Between the encoder and the client sits an optional compressor: the
 * Content-Encoding the client's Accept-Encoding asks for (zstd, else
 * gzip), or the gzip file a format is defined as (votable_gzip).
 *
 * A stored result whose encoded size is known (async downloads after the
 * first complete one) goes out sized: uncompressed, with Content-Length
 * and Accept-Ranges, or ranged: only the requested bytes, as 206 with
 * Content-Range, the producer stopping once they are out. Everything else
 * (the coding, the ETag, spooled formats, error trailers, the end) is the
 * same for every mode.
 *
 * Formats that spool (FITS) produce their whole document after the last
 * row; it is copied out by result_pump one piece per event-loop turn and
 * only while the client keeps up, so that neither the write queue nor the
 * already-written buffers (released by libuv's write callbacks, which run
 * on the next loop turn) pile up in memory. */
#include "tapserve/tap/tap.h"
#include "tapserve/tapserve.h"

#include <stdio.h>
#include <string.h>

enum { RESULT_OUT_BYTES = 64 * 1024, DISPOSITION_BYTES = 640, ETAG_BYTES = 128, NAME_BYTES = 48 };
/* A result small enough to answer with Content-Length is kept whole. */
enum { RESULT_SMALL_MAX = RESULT_OUT_BYTES * 4 };
/* Fast levels: the compressor must keep up with the database. */
enum { RESULT_GZIP_LEVEL = 1, RESULT_ZSTD_LEVEL = 1 };

/* How the response ends (result_finalize). */
enum { FIN_END_OK = 1, FIN_BREAK, FIN_RESPOND, FIN_ERROR_DOC };
/* What a pumping result waits for. */
enum { WAIT_NONE, WAIT_DRAIN, WAIT_IDLE };

struct tap_result {
  http_request *req;
  const fmt_type *fmt;
  fmt_encoder *enc;
  stream_out out;
  tap_result_hooks hooks;
  void *ud;
  stream_zsink *z;      /* compressor between out and the client, or NULL */
  stream_zkind zkind;   /* what z does */
  int content_encoding; /* z is an HTTP Content-Encoding (not a .gz body) */
  int started;          /* HTTP response begun (first flush happened) */
  int aborted;          /* client went away */
  int blocked;          /* producer told to pause; on_drain pending */
  int finishing;        /* everything produced: a result not yet started is collected
                         * in `small` and sent with Content-Length */
  int producer_done;    /* tap_result_finish was called */
  int waiting;          /* WAIT_*: result_pump resumes from a callback */
  ts_buf small;         /* the bytes of a result that never started */
  uv_idle_t idle;       /* yields between pieces of a spooled document */
  int idle_inited;
  int fin;               /* FIN_* once finalizing */
  ts_error fin_err;      /* for FIN_ERROR_DOC */
  uint64_t encoded;      /* bytes the encoder wrote (before any compression) */
  char etag[ETAG_BYTES]; /* tap_result_set_etag, "" for none */
  char name[NAME_BYTES]; /* tap_result_set_name, "" for result-REQID */
  /* sized and ranged answers (tap_result_set_size) */
  int sized, ranged, range_done, size_wrong;
  uint64_t size, first, last; /* first..last inclusive */
  uint64_t pos;               /* bytes of the document passed on so far */
};

/* The file name clients save the result under, the coding headers and the
 * ETag. The ETag names the coding too: the bytes of a zstd or gzip answer
 * differ from the identity ones, and a compressor's output may differ
 * between library versions, so such an answer gets a weak ETag (which
 * If-Range never matches) of its own. */
static const char *extra_headers(char out[DISPOSITION_BYTES], const tap_result *r)
{
  size_t n = (size_t)snprintf(out, DISPOSITION_BYTES,
                              "Content-Disposition: inline; filename=\"%s%.40s.%.8s\"\r\n"
                              "Vary: Accept-Encoding\r\n%s%s%s",
                              r->name[0] ? "" : "result-", r->name[0] ? r->name : r->req->reqid,
                              r->fmt->ext, r->content_encoding ? "Content-Encoding: " : "",
                              r->content_encoding ? stream_zkind_name(r->zkind) : "",
                              r->content_encoding ? "\r\n" : "");
  if (r->etag[0] && n < DISPOSITION_BYTES) {
    if (r->zkind == STREAM_Z_NONE)
      n += (size_t)snprintf(out + n, DISPOSITION_BYTES - n, "ETag: \"%s\"\r\n", r->etag);
    else
      n += (size_t)snprintf(out + n, DISPOSITION_BYTES - n, "ETag: W/\"%s-%s\"\r\n", r->etag,
                            stream_zkind_name(r->zkind));
  }
  if (r->sized && n < DISPOSITION_BYTES)
    n += (size_t)snprintf(out + n, DISPOSITION_BYTES - n, "Accept-Ranges: bytes\r\n");
  if (r->ranged && n < DISPOSITION_BYTES)
    snprintf(out + n, DISPOSITION_BYTES - n, "Content-Range: bytes %llu-%llu/%llu\r\n",
             (unsigned long long)r->first, (unsigned long long)r->last,
             (unsigned long long)r->size);
  return out;
}

/* Starts the response: sized, ranged or chunked. */
static ts_err result_begin_http(tap_result *r)
{
  char hdr[DISPOSITION_BYTES];
  ts_err rc;
  extra_headers(hdr, r);
  if (r->ranged)
    rc = http_begin_sized(r->req, 206, r->fmt->mime, hdr, r->last - r->first + 1);
  else if (r->sized)
    rc = http_begin_sized(r->req, 200, r->fmt->mime, hdr, r->size);
  else
    rc = http_begin_chunked(r->req, 200, r->fmt->mime, hdr);
  if (!rc)
    r->started = 1;
  return rc;
}

/* The part of [buf, buf+len) within the range goes out. */
static ts_err result_send_range(tap_result *r, const char *buf, size_t len)
{
  uint64_t s = r->pos, e = r->pos + len;
  uint64_t lo = s > r->first ? s : r->first, hi = e < r->last + 1 ? e : r->last + 1;
  r->pos = e;
  if (e >= r->last + 1)
    r->range_done = 1;
  return lo < hi ? http_write(r->req, buf + (lo - s), (size_t)(hi - lo)) : TS_OK;
}

/* Bytes for the client (after compression, if any). */
static ts_err result_send(void *ud, const char *buf, size_t len)
{
  tap_result *r = ud;
  if (r->aborted)
    return TS_ECANCELED;
  if (!r->started && r->finishing && !r->sized && r->small.len + len <= RESULT_SMALL_MAX)
    return ts_buf_append(&r->small, buf, len); /* the whole result fits: Content-Length */
  if (!r->started) {
    /* A compressor may hold back several blocks until the end (gzip's in
     * flight): what does not fit in `small` goes out chunked after all. */
    ts_err rc = result_begin_http(r);
    if (!rc && r->small.len) {
      r->pos += r->small.len;
      rc = http_write(r->req, r->small.data, r->small.len);
      ts_buf_free(&r->small);
    }
    if (rc)
      return rc;
  }
  if (r->ranged)
    return result_send_range(r, buf, len);
  r->pos += len;
  return http_write(r->req, buf, len);
}

/* The encoder's stream_out flushes here. */
static ts_err result_flush(void *ud, const char *buf, size_t len)
{
  tap_result *r = ud;
  if (r->aborted)
    return TS_ECANCELED;
  r->encoded += len;
  if (r->z)
    return stream_zsink_write(r->z, buf, len);
  return result_send(r, buf, len);
}

static void result_free(tap_result *r)
{
  fmt_encoder_free(r->enc);
  r->enc = NULL;
  stream_out_free(&r->out);
  stream_zsink_free(r->z);
  r->z = NULL;
  ts_buf_free(&r->small);
}

/* Ends the response as r->fin says and releases everything; r (in the
 * request's arena) is gone afterwards. */
static void result_complete(tap_result *r)
{
  http_request *req = r->req;
  if (r->hooks.on_done) {
    tap_result_end e = {(r->fin == FIN_END_OK || r->fin == FIN_RESPOND) && !r->aborted,
                        r->size_wrong, r->encoded};
    r->hooks.on_done(r->ud, &e);
  }
  switch (r->fin) {
  case FIN_RESPOND: {
    char hdr[DISPOSITION_BYTES];
    extra_headers(hdr, r);
    ts_buf body = r->small;
    ts_buf_init(&r->small, RESULT_SMALL_MAX);
    result_free(r);
    http_respond(req, 200, r->fmt->mime, hdr, body.data ? body.data : "", body.len);
    ts_buf_free(&body);
    return;
  }
  case FIN_ERROR_DOC: {
    ts_error e = r->fin_err;
    result_free(r);
    tap_send_error(req, &e);
    return;
  }
  default: {
    int ok = r->fin == FIN_END_OK;
    result_free(r);
    http_end(req, ok);
  }
  }
}

static void result_idle_closed(uv_handle_t *h)
{
  result_complete(h->data);
}

static void result_finalize(tap_result *r, int fin, const ts_error *err)
{
  r->fin = fin;
  if (err)
    r->fin_err = *err;
  if (r->idle_inited) {
    /* The handle lives in r: finish the request only once it is closed. */
    uv_idle_stop(&r->idle);
    uv_close((uv_handle_t *)&r->idle, result_idle_closed);
    return;
  }
  result_complete(r);
}

static void result_fail_late(tap_result *r, ts_err rc)
{
  if (!r->started && !r->aborted) {
    ts_error e;
    ts_fail(&e, rc, 0, "writing the %s result failed: %s", r->fmt->name, ts_err_text(rc));
    result_finalize(r, FIN_ERROR_DOC, &e);
    return;
  }
  result_finalize(r, FIN_BREAK, NULL);
}

static void result_pump(tap_result *r);

static void result_on_idle(uv_idle_t *h)
{
  tap_result *r = h->data;
  uv_idle_stop(h);
  r->waiting = WAIT_NONE;
  result_pump(r);
}

/* The encoder has ended: copy out what it spooled at the client's pace,
 * end the compressor, and finish the response. */
static void result_pump(tap_result *r)
{
  ts_err rc = TS_OK;
  int done = 0;
  for (int pieces = 0; !done; pieces++) {
    if (r->aborted) {
      result_finalize(r, FIN_BREAK, NULL);
      return;
    }
    if (r->range_done) {
      result_finalize(r, FIN_END_OK, NULL);
      return;
    }
    if (r->started && http_write_blocked(r->req)) {
      r->waiting = WAIT_DRAIN; /* result_on_drain comes back here */
      return;
    }
    if (pieces > 0) {
      /* Let the loop run the write callbacks that free what was sent: an
       * idle callback runs once per loop turn, after them (a zero timer
       * would fire again within the same turn). The loop is the default
       * one, which ts_serve runs. */
      if (!r->idle_inited) {
        uv_idle_init(uv_default_loop(), &r->idle);
        r->idle.data = r;
        r->idle_inited = 1;
      }
      r->waiting = WAIT_IDLE;
      uv_idle_start(&r->idle, result_on_idle);
      return;
    }
    rc = fmt_encoder_drain(r->enc, &done);
    if (rc) {
      result_fail_late(r, rc);
      return;
    }
  }
  r->finishing = 1;
  rc = stream_out_flush(&r->out);
  if (!rc && r->z)
    rc = stream_zsink_finish(r->z);
  if (rc) {
    result_fail_late(r, rc);
    return;
  }
  if (!rc && r->sized && !r->started)
    rc = result_begin_http(r); /* an empty document */
  if (rc) {
    result_fail_late(r, rc);
    return;
  }
  if (r->sized && !r->ranged && r->pos != r->size) {
    /* The promised length was wrong (an encoder changed): break the
     * transfer, so that no client takes the document for a whole one. */
    ts_log(TS_LOG_ERROR, r->req->reqid, "%s output is %llu bytes, %llu promised", r->fmt->name,
           (unsigned long long)r->pos, (unsigned long long)r->size);
    r->size_wrong = 1;
    result_finalize(r, FIN_BREAK, NULL);
    return;
  }
  result_finalize(r, r->started || r->sized ? FIN_END_OK : FIN_RESPOND, NULL);
}

static void result_on_drain(void *ud)
{
  tap_result *r = ud;
  if (r->waiting == WAIT_DRAIN) {
    r->waiting = WAIT_NONE;
    result_pump(r);
    return;
  }
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
  if (r->producer_done) {
    /* Nobody else will end the request: the pump does, now or when its
     * idle callback runs. */
    if (r->waiting == WAIT_DRAIN) {
      r->waiting = WAIT_NONE;
      result_pump(r);
    }
    return;
  }
  if (r->hooks.on_abort)
    r->hooks.on_abort(r->ud);
}

/* Compression: the format's own (votable_gzip), else what the client's
 * Accept-Encoding allows. */
static ts_err result_setup_coding(tap_result *r)
{
  if (r->fmt->body_encoding && !strcmp(r->fmt->body_encoding, "gzip")) {
    r->zkind = STREAM_Z_GZIP;
  } else {
    r->zkind = stream_zkind_accept(http_header_get(r->req, "accept-encoding"));
    r->content_encoding = r->zkind != STREAM_Z_NONE;
  }
  if (r->zkind == STREAM_Z_NONE)
    return TS_OK;
  r->z = stream_zsink_new(
      r->zkind, r->zkind == STREAM_Z_GZIP ? RESULT_GZIP_LEVEL : RESULT_ZSTD_LEVEL, result_send, r);
  return r->z ? TS_OK : TS_ENOMEM;
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
  /* A result that has not started when it ends is at most one output
   * buffer (plus what a compressor held back). */
  ts_buf_init(&r->small, RESULT_SMALL_MAX);
  if (stream_out_init(&r->out, RESULT_OUT_BYTES, result_flush, r))
    return NULL;
  if (result_setup_coding(r)) {
    stream_out_free(&r->out);
    return NULL;
  }
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
  if (!rc)
    ts_stats_rows(b->nrows);
  if (rc)
    return ts_fail(err, rc, 0, "%s",
                   rc == TS_ECANCELED ? "client went away"
                   : rc == TS_EFORMAT ? "a value cannot be written in this format"
                                      : "output failed");
  if (!r->blocked && r->started && http_write_blocked(r->req))
    r->blocked = 1;
  return TS_OK;
}

void tap_result_set_name(tap_result *r, const char *name)
{
  snprintf(r->name, sizeof r->name, "%s", name ? name : "");
}

void tap_result_set_size(tap_result *r, uint64_t size, int ranged, uint64_t first, uint64_t last)
{
  r->sized = 1;
  r->size = size;
  r->ranged = ranged;
  r->first = first;
  r->last = last;
  /* The recorded size is the identity one: no Content-Encoding. */
  stream_zsink_free(r->z);
  r->z = NULL;
  r->zkind = STREAM_Z_NONE;
  r->content_encoding = 0;
}

int tap_result_range_done(const tap_result *r)
{
  return r->range_done;
}

void tap_result_set_etag(tap_result *r, const char *etag)
{
  snprintf(r->etag, sizeof r->etag, "%s", etag ? etag : "");
}

int tap_result_blocked(const tap_result *r)
{
  return r->blocked;
}

int tap_result_aborted(const tap_result *r)
{
  return r->aborted;
}

void tap_result_finish(tap_result *r, ts_err rc, const ts_error *err, int overflow)
{
  fmt_trailer t;

  r->producer_done = 1;
  if (r->aborted) {
    result_finalize(r, FIN_BREAK, NULL);
    return;
  }
  if (rc == TS_OK && (r->range_done || (r->req->is_head && !r->enc))) {
    /* The range went out (the rest of the document is not needed), or a
     * HEAD that encoded nothing: the headers say everything. */
    rc = r->started ? TS_OK : result_begin_http(r);
    result_finalize(r, rc ? FIN_BREAK : FIN_END_OK, NULL);
    return;
  }
  if (rc == TS_OK && r->enc) {
    t.status = overflow ? FMT_OVERFLOW : FMT_OK;
    t.message = overflow ? "the result was truncated at MAXREC rows" : NULL;
    /* A result that has not started by now is small: what end() flushes
     * is collected and sent with Content-Length. A spooling format
     * (FITS) writes its document only in drain, in chunks. */
    r->finishing = !r->fmt->drain;
    rc = fmt_encoder_end(r->enc, &t);
    if (rc) {
      result_fail_late(r, rc);
      return;
    }
    result_pump(r);
    return;
  }

  if (!r->started) {
    ts_error e;
    if (err && err->code)
      e = *err;
    else
      ts_fail(&e, rc ? rc : TS_EINTERNAL, 0, "%s", ts_err_text(rc ? rc : TS_EINTERNAL));
    result_finalize(r, FIN_ERROR_DOC, &e);
    return;
  }
  /* Streaming already began: close the document with an error status if the
   * format can carry one, else break the transfer (no terminating chunk) so
   * that no client takes a truncated result for a complete one. */
  int ok = 0;
  if (r->enc && r->fmt->can_report_error) {
    t.status = FMT_ERROR;
    t.message = err && err->msg[0] ? err->msg : ts_err_text(rc);
    ok = fmt_encoder_end(r->enc, &t) == TS_OK && stream_out_flush(&r->out) == TS_OK &&
         (!r->z || stream_zsink_finish(r->z) == TS_OK);
  }
  result_finalize(r, ok ? FIN_END_OK : FIN_BREAK, NULL);
}
