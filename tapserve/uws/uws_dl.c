/* UWS result downloads (GET /async/{id}/results/result) in any format:
 * the stored COPY stream is read on the download threads (u->dlq) and
 * encoded through tap_result (sized, ranged or chunked).
 * docs/internals/results.md has the picture. */
#include "tapserve/uws/uws_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { DL_BLOCK = 256 * 1024 }; /* decompressed bytes handed to the decoder per read */

/* ---- downloads --------------------------------------------------------------- */

/* Where the end of a streamed download stands (tap_result's on_done may
 * come from within tap_result_finish or later). */
enum { DL_TR_NONE, DL_TR_FINISHING, DL_TR_WAITING, DL_TR_DONE };

typedef struct uws_dl {
  ts_work work; /* on u->dlq */
  uws *u;
  http_request *req;
  ts_arena *a;
  char id[40];
  char reqid[17]; /* for the log once req is gone */
  char key[48];   /* the format's key in encoded_sizes (name;version=V) */
  const char *rf; /* RESPONSEFORMAT of the download URL */
  const char *range, *if_range;
  /* from prep */
  int64_t caller; /* the caller's user id (0: anonymous) */
  jobs_job *job;
  jobs_result_info res;
  stream_schema schema;
  const fmt_type *fmt;
  fmt_info info;
  char date[32];
  int64_t size;   /* encoded size in fmt, -1 unknown */
  int size_wrong; /* the encoder wrote another size than the recorded one */
  PGconn *conn;
  jobs_store_reader *rd;
  ts_error err;
  ts_err rc;
  /* range */
  int ranged, unsatisfiable;
  uint64_t start, end; /* inclusive */
  char etag[112];      /* without the quotes */
  /* streaming: every download goes through tap_result (sized, ranged or
   * chunked; Content-Encoding, the gzip file of votable_gzip, spooled
   * formats, error trailers), which counts the bytes the encoder wrote:
   * they become the recorded size when a download of unknown size
   * completes. */
  /* Read-ahead: while the loop encodes one block, the download threads
   * read and decompress the next into the other buffer. */
  uint8_t *buf[2];
  size_t len;      /* of the block read into buf[rbuf] */
  int rbuf;        /* the buffer being read, or read and not yet encoded */
  int ready;       /* a block was read while the response was blocked */
  int end_pending; /* 1 + ok of a dl_end waiting for the read in flight */
  ts_err rrc;      /* the read's result, and its error (d->err is the loop's) */
  ts_error rerr;
  stream_copydec *dec;
  int started, aborted, in_flight, blocked, ok, ended, head;
  tap_result *tr;
  int tr_end, tr_complete; /* tr_end: DL_TR_* */
  uint64_t encoded;        /* from tap_result's on_done */
} uws_dl;

/* Decodes a block of the stored COPY stream into the response; stops
 * early once a range has gone out. */
static ts_err feed_block(stream_copydec *dec, tap_result *tr, const uint8_t *buf, size_t len,
                         ts_error *err)
{
  size_t off = 0;
  while (off < len && !tap_result_range_done(tr)) {
    size_t used = 0;
    stream_batch b;
    memset(&b, 0, sizeof b);
    ts_err rc = stream_copydec_feed(dec, buf + off, len - off, &used, &b, err);
    if (rc)
      return rc;
    off += used;
    if (b.nrows) {
      rc = tap_result_rows(tr, &b, err);
      if (rc)
        return rc;
    } else if (used == 0) {
      break;
    }
  }
  return TS_OK;
}

/* The key of a format in tapserve.results.encoded_sizes, and its ETag
 * (without quotes): the serialisation and the VOTable version written are
 * part of both, so "votable", "votable/td" and their version=1.5 variants
 * never share a size or an ETag. */
static void dl_keys(uws_dl *d)
{
  const fmt_type *f = d->fmt;
  snprintf(d->key, sizeof d->key, "%s%s%s", f->name, f->votable_version ? ";version=" : "",
           f->votable_version ? f->votable_version : "");
  snprintf(d->etag, sizeof d->etag, "%s-%s-%s%s%s", d->id, d->res.name, f->name,
           f->votable_version ? "-v" : "", f->votable_version ? f->votable_version : "");
  for (char *p = d->etag; *p; p++)
    if (*p == '/' || *p == '"' || *p == '\\' || (unsigned char)*p <= ' ')
      *p = '_';
}

static void dl_prep(uws_dl *d)
{
  const char *rf;
  d->rc = jobs_get(d->conn, d->a, d->id, &d->job, &d->err);
  if (d->rc)
    return;
  /* A user's result is that user's alone (jobs_access's rule, on the row
   * just read). */
  if (!jobs_may_access(d->job->owner_id, d->caller)) {
    d->rc = ts_fail(&d->err, TS_EFORBIDDEN, 0, "job %s belongs to another user", d->id);
    return;
  }
  if (d->job->phase != JOBS_COMPLETED || d->job->nresults == 0) {
    d->rc = ts_fail(&d->err, TS_ENOTFOUND, 0, "job %s has no result (it is %s)", d->id,
                    jobs_phase_name(d->job->phase));
    return;
  }
  d->res = d->job->results[0];
  rf = d->rf;
  if (!rf || !*rf)
    rf = jobs_param_get(d->job, "responseformat");
  if (!rf || !*rf)
    rf = jobs_param_get(d->job, "format");
  d->fmt = rf && *rf ? fmt_lookup(rf) : fmt_default();
  if (!d->fmt) {
    d->rc = ts_fail(&d->err, TS_EINVAL, 0,
                    "unknown RESPONSEFORMAT \"%s\" (see /capabilities for the formats)", rf);
    return;
  }
  d->rc = jobs_result_schema(d->conn, d->a, d->id, d->res.name, &d->schema, &d->err);
  if (d->rc)
    return;
  /* Everything the encoder sees comes from the stored job, so the bytes of
   * one format are the same on every download and every instance. */
  memset(&d->info, 0, sizeof d->info);
  d->info.query = jobs_param_get(d->job, "query");
  ts_iso8601(d->date, d->job->creation_ms, 0);
  d->info.request_date = d->date;
  d->info.service = "tapserve " TAPSERVE_VERSION;
  d->info.table_name = "result";
  d->info.maxrec = -1;
  const char *mr = jobs_param_get(d->job, "maxrec");
  if (mr && ts_parse_int64(mr, &d->info.maxrec))
    d->info.maxrec = -1;
  dl_keys(d);
  d->rc = jobs_result_size_get(d->conn, d->id, d->res.name, d->key, &d->size, &d->err);
  if (d->rc)
    return;
  if (d->fmt->body_encoding)
    d->range = NULL; /* compressed as a whole: served through tap_result only */
  /* A range in a format whose size is not known yet is not served: the
   * whole result goes out (RFC 9110 lets a server ignore Range), and its
   * bytes counted on the way become the size. No encoding pass ever runs
   * only to count. */
  d->rc = jobs_store_reader_open(&d->u->store, d->conn, d->id, &d->res, &d->rd, &d->err);
}

/* A download holds a jobs connection only while it works on the download
 * threads, never while it waits for its client: N stalled clients must not
 * hold N of the pool's connections. */
static void dl_prep_work(ts_work *w)
{
  uws_dl *d = w->data;
  ts_who who;
  /* Before a connection of ours is taken: ts_auth_request takes its own. */
  d->rc = ts_auth_request(d->u->app, d->req, &who, &d->err);
  if (d->rc)
    return;
  d->caller = who.user.id;
  d->conn = jobs_db_get(d->u->db, &d->err);
  if (!d->conn) {
    d->rc = d->err.code;
    return;
  }
  dl_prep(d);
  if (d->rd)
    jobs_store_reader_use(d->rd, NULL);
  jobs_db_put(d->u->db, d->conn);
  d->conn = NULL;
}

/* Records what the download learnt: the size of a format whose whole
 * document went out (counted on the way, so later downloads are sized and
 * ranges served), or that a recorded size was wrong. A download that was
 * aborted or failed changes nothing. */
static void dl_close_work(ts_work *w)
{
  uws_dl *d = w->data;
  ts_error e;
  int learnt = d->ok && d->tr_complete && !d->head && d->size < 0 && !d->fmt->body_encoding;
  jobs_store_reader_free(d->rd);
  d->rd = NULL;
  if (!learnt && !d->size_wrong)
    return;
  d->conn = jobs_db_get(d->u->db, &e);
  if (!d->conn)
    ts_log(TS_LOG_WARN, d->reqid, "job %s: cannot record the %s size: %s", d->id, d->key, e.msg);
  if (d->conn && learnt &&
      jobs_result_size_set(d->conn, d->id, d->res.name, d->key, (int64_t)d->encoded, &e))
    ts_log(TS_LOG_WARN, d->reqid, "job %s: cannot record the %s size: %s", d->id, d->key, e.msg);
  if (d->conn && d->size_wrong && jobs_result_size_set(d->conn, d->id, d->res.name, d->key, -1, &e))
    ts_log(TS_LOG_WARN, d->reqid, "job %s: cannot forget the %s size: %s", d->id, d->key, e.msg);
  jobs_db_put(d->u->db, d->conn);
  d->conn = NULL;
}

static void dl_free(uws_dl *d)
{
  stream_copydec_free(d->dec);
  free(d->buf[0]);
  free(d->buf[1]);
  ts_arena_free(d->a);
  free(d);
}

static void dl_close_after(ts_work *w)
{
  uws_dl *d = w->data;
  ts_log(TS_LOG_DEBUG, d->reqid, "job %s: download of %s ended: %s, %s%lld bytes%s", d->id, d->key,
         d->ok && (!d->tr_end || d->tr_complete) ? "complete"
         : d->aborted                            ? "aborted"
                                                 : "failed",
         d->size < 0 ? "streamed " : "sized ", (long long)d->encoded,
         d->ok && d->tr_complete && !d->head && d->size < 0 && !d->fmt->body_encoding
             ? " (size recorded)"
             : "");
  dl_free(d);
}

/* Queues the next step of a download on the download threads. */
static ts_err dl_submit(uws_dl *d, ts_work_fn work, ts_work_fn done)
{
  d->work.data = d;
  return ts_workq_submit(d->u->dlq, &d->work, work, done);
}

/* The response has ended and the request is done with: record what was
 * learnt, then release everything. */
static void dl_release(uws_dl *d)
{
  if (dl_submit(d, dl_close_work, dl_close_after)) {
    dl_close_work(&d->work);
    dl_free(d);
  }
}

/* tap_result's on_done: a download has really ended. */
static void dl_on_done(void *ud, const tap_result_end *end)
{
  uws_dl *d = ud;
  d->tr_complete = end->complete;
  d->size_wrong = end->size_wrong;
  d->encoded = end->encoded;
  if (d->tr_end == DL_TR_WAITING)
    dl_release(d);
  else
    d->tr_end = DL_TR_DONE; /* within tap_result_finish: dl_end releases */
}

/* Ends the response (ok: complete) and releases everything. */
static void dl_end(uws_dl *d, int ok)
{
  if (d->ended)
    return;
  d->ended = 1;
  d->ok = ok;
  if (d->tr) {
    ts_err rc = ok ? TS_OK : d->err.code ? d->err.code : TS_EIO;
    tap_result *tr = d->tr;
    d->tr = NULL;
    /* The document may still be going out (a spooled format, a slow
     * client): on_done says when it has ended, and how long it was. */
    d->tr_end = DL_TR_FINISHING;
    tap_result_finish(tr, rc, &d->err, d->res.overflow);
    if (d->tr_end == DL_TR_FINISHING) {
      d->tr_end = DL_TR_WAITING; /* on_done releases */
      return;
    }
  } else if (!d->started && !d->aborted) {
    ts_error e = d->err;
    if (!e.code)
      ts_fail(&e, TS_EINTERNAL, 0, "the download failed");
    tap_send_error(d->req, &e);
  } else {
    http_end(d->req, ok);
  }
  dl_release(d);
}

static void dl_read(uws_dl *d);

/* The stored stream has ended: tap_result writes the trailer. */
static void dl_finish_stream(uws_dl *d)
{
  ts_err rc = stream_copydec_finish(d->dec, &d->err);
  if (rc)
    ts_log(TS_LOG_WARN, d->req->reqid, "download of job %s failed: %s", d->id, d->err.msg);
  dl_end(d, rc == TS_OK);
}

static void dl_read_work(ts_work *w)
{
  uws_dl *d = w->data;
  PGconn *conn = NULL;
  if (d->res.store && !strcmp(d->res.store, "pg")) { /* chunks come through a jobs connection */
    conn = jobs_db_get(d->u->db, &d->rerr);
    if (!conn) {
      d->rrc = d->rerr.code;
      return;
    }
    jobs_store_reader_use(d->rd, conn);
  }
  d->rrc = jobs_store_read(d->rd, d->buf[d->rbuf], DL_BLOCK, &d->len, &d->rerr);
  jobs_store_reader_use(d->rd, NULL);
  jobs_db_put(d->u->db, conn);
}

/* Ends the download once no read is in flight (the read's completion
 * ends it otherwise). */
static void dl_stop(uws_dl *d, int ok)
{
  if (d->in_flight)
    d->end_pending = 1 + ok;
  else
    dl_end(d, ok);
}

/* Encodes the block just read, with the read of the next one running
 * meanwhile on the download threads. */
static void dl_consume(uws_dl *d)
{
  int cur = d->rbuf;
  size_t len = d->len;
  d->ready = 0;
  if (len == 0) {
    dl_finish_stream(d);
    return;
  }
  d->rbuf ^= 1;
  dl_read(d);
  if (d->ended)
    return; /* the read could not be queued */
  d->rc = feed_block(d->dec, d->tr, d->buf[cur], len, &d->err);
  if (d->rc || d->aborted) {
    dl_stop(d, 0);
    return;
  }
  if (tap_result_range_done(d->tr)) {
    dl_stop(d, 1); /* the rest of the document is not needed */
    return;
  }
  if (tap_result_blocked(d->tr))
    d->blocked = 1; /* on_drain goes on */
}

static void dl_read_after(ts_work *w)
{
  uws_dl *d = w->data;
  d->in_flight = 0;
  if (d->end_pending) {
    dl_end(d, d->end_pending - 1);
    return;
  }
  if (d->aborted || d->rrc) {
    if (d->rrc)
      d->err = d->rerr;
    dl_end(d, 0);
    return;
  }
  if (d->blocked) {
    d->ready = 1; /* encoded once the client has taken what it has */
    return;
  }
  dl_consume(d);
}

static void dl_read(uws_dl *d)
{
  d->in_flight = 1;
  if (dl_submit(d, dl_read_work, dl_read_after)) {
    d->in_flight = 0;
    dl_end(d, 0);
  }
}

static void dl_on_drain(void *ud)
{
  uws_dl *d = ud;
  if (d->blocked && !d->ended) {
    d->blocked = 0;
    if (d->ready)
      dl_consume(d);
  }
}

static void dl_on_abort(void *ud)
{
  uws_dl *d = ud;
  d->aborted = 1;
  if (!d->in_flight && !d->ended)
    dl_end(d, 0);
}

static const tap_result_hooks dl_hooks = {dl_on_drain, dl_on_abort, dl_on_done};

static void dl_prep_after(ts_work *w)
{
  uws_dl *d = w->data;
  d->in_flight = 0;
  if (d->rc || d->aborted) {
    dl_end(d, 0);
    return;
  }
  if (http_if_range_matches(d->if_range, d->etag)) {
    http_range_result rr = http_range_parse(d->range, d->size, &d->start, &d->end);
    d->ranged = rr == HTTP_RANGE_PARTIAL;
    d->unsatisfiable = rr == HTTP_RANGE_UNSATISFIABLE;
  }
  if (d->unsatisfiable) {
    char hdr[96];
    snprintf(hdr, sizeof hdr, "Content-Range: bytes */%lld\r\n", (long long)d->size);
    http_respond(d->req, 416, "text/plain; charset=utf-8", hdr, "range not satisfiable\n", 22);
    d->started = 1;
    d->ended = 1;
    dl_release(d);
    return;
  }
  d->tr = tap_result_new(d->req, d->fmt, &dl_hooks, d);
  if (!d->tr) {
    ts_fail(&d->err, TS_ENOMEM, 0, "out of memory");
    dl_end(d, 0);
    return;
  }
  tap_result_set_etag(d->tr, d->etag);
  tap_result_set_name(d->tr, d->id);
  if (d->size >= 0)
    tap_result_set_size(d->tr, (uint64_t)d->size, d->ranged, d->start, d->end);
  if (d->req->is_head) {
    /* The head says everything (Content-Length once the size is known);
     * nothing to encode. */
    d->head = 1;
    dl_end(d, 1);
    return;
  }
  d->buf[0] = malloc(DL_BLOCK);
  d->buf[1] = malloc(DL_BLOCK);
  d->dec = stream_copydec_new(d->schema.ncols, (size_t)d->u->cfg->fetch_size);
  if (!d->buf[0] || !d->buf[1] || !d->dec) {
    ts_fail(&d->err, TS_ENOMEM, 0, "out of memory");
    dl_end(d, 0);
    return;
  }
  if (tap_result_begin(d->tr, &d->schema, &d->info, &d->err)) {
    dl_end(d, 0);
    return;
  }
  dl_read(d);
}

void uws__start_download(uws *u, http_request *req, const char *id, size_t idlen)
{
  uws_dl *d = calloc(1, sizeof *d);
  http_param *ps = NULL;
  size_t np = 0;
  ts_error err;
  if (!d || !(d->a = ts_arena_new(0, 0))) {
    free(d);
    ts_fail(&err, TS_ENOMEM, 0, "out of memory");
    tap_send_error(req, &err);
    return;
  }
  if (http_request_params(req, &ps, &np, &err)) {
    ts_arena_free(d->a);
    free(d);
    tap_send_error(req, &err);
    return;
  }
  d->u = u;
  d->req = req;
  d->size = -1;
  snprintf(d->id, sizeof d->id, "%.*s", (int)idlen, id);
  snprintf(d->reqid, sizeof d->reqid, "%s", req->reqid);
  d->rf = uws__param(ps, np, "RESPONSEFORMAT");
  if (!d->rf)
    d->rf = uws__param(ps, np, "FORMAT");
  d->range = http_header_get(req, "range");
  d->if_range = http_header_get(req, "if-range");
  ts_error_clear(&d->err);
  http_on_abort(req, dl_on_abort, d);
  http_on_drain(req, dl_on_drain, d);
  d->in_flight = 1;
  if (dl_submit(d, dl_prep_work, dl_prep_after)) {
    ts_fail(&d->err, TS_EINTERNAL, 0, "cannot queue the request");
    d->in_flight = 0;
    dl_end(d, 0);
  }
}
