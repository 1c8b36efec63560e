/* The result store: a job's COPY (FORMAT binary) stream, zstd-compressed,
 * in a directory (fs:DIR) or as chunks in tapserve.result_chunks (pg).
 *
 * Nothing half-written is ever visible: an fs result is written under a
 * temporary name, fsynced and renamed (and the directory fsynced) before
 * its row is committed; pg chunks are inserted in the same transaction
 * that commits the result row and the COMPLETED phase. */
#include "jobs/jobs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zstd.h>

ts_err jobs_store_init(jobs_store *s, const char *spec, ts_error *err)
{
  memset(s, 0, sizeof *s);
  /* zstd level 1: on the benchmark's table (2M rows, 197 MB of COPY) it
   * stores 0.498 of the bytes against 0.487 at level 3 for half the CPU
   * (0.9 s against 1.8 s), and the store's thread must keep up with COPY. */
  s->level = 1;
  if (!strcmp(spec, "pg")) {
    s->kind = JOBS_STORE_PG;
    return TS_OK;
  }
  if (strncmp(spec, "fs:", 3) != 0 || !spec[3])
    return ts_fail(err, TS_EINVAL, 0, "result_store must be fs:DIRECTORY or pg, not \"%s\"", spec);
  s->kind = JOBS_STORE_FS;
  if (strlen(spec + 3) >= sizeof s->dir)
    return ts_fail(err, TS_EINVAL, 0, "result_store directory name too long");
  snprintf(s->dir, sizeof s->dir, "%s", spec + 3);
  /* mkdir -p */
  for (char *p = s->dir + 1;; p++) {
    if (*p == '/' || !*p) {
      char c = *p;
      *p = '\0';
      if (mkdir(s->dir, 0755) != 0 && errno != EEXIST) {
        ts_fail(err, TS_EIO, 0, "cannot create the result directory %s: %s", s->dir,
                strerror(errno));
        *p = c;
        return TS_EIO;
      }
      *p = c;
      if (!c)
        break;
    }
  }
  if (access(s->dir, W_OK | X_OK) != 0)
    return ts_fail(err, TS_EIO, 0, "the result directory %s is not writable: %s", s->dir,
                   strerror(errno));
  return TS_OK;
}

/* ---- writer -------------------------------------------------------------
 *
 * The caller (an executor reading COPY) only copies bytes into raw
 * buffers; the writer's own thread compresses full buffers and stores the
 * output, so compression and storage overlap with the query. The buffers
 * are a ring of RAW_BUFS: the caller fills buffer `head % RAW_BUFS` and
 * hands it over (head++); the thread takes buffer `tail % RAW_BUFS` and
 * gives it back (tail++). When every buffer is handed over the caller
 * waits, so memory is fixed whatever the speed of the store. The first
 * error of the thread is sticky: the caller's next write returns it. */

enum {
  CHUNK_BYTES = 1 << 20, /* pg chunk and fs write unit */
  RAW_BYTES = 1 << 20,   /* raw COPY bytes per hand-over */
  RAW_BUFS = 4,          /* raw buffers: the caller's and up to 3 in the thread */
};

struct jobs_store_writer {
  const jobs_store *s;
  PGconn *conn;
  ZSTD_CCtx *cctx;
  char job_id[40], name[64];
  char tmp[1200], final[1200], location[128];
  int fd;
  int renamed, in_txn;
  int seq;
  uint8_t *out; /* compressed output, CHUNK_BYTES (the thread's) */
  size_t outlen;
  _Atomic int64_t raw, stored;
  /* the thread and the ring */
  pthread_t thread;
  int started;
  pthread_mutex_t mu;      /* head, tail, ending, stop, done, failed, terr */
  pthread_cond_t cv;       /* any of them changed */
  pthread_mutex_t conn_mu; /* conn, between the thread and jobs_store_writer_lock */
  uint8_t *raw_buf[RAW_BUFS];
  size_t raw_len[RAW_BUFS];
  uint64_t head, tail;
  size_t fill; /* bytes in the caller's buffer, raw_buf[head % RAW_BUFS] */
  int ending;  /* the caller handed over its last buffer */
  int stop;    /* abandoned: the thread ends without storing more */
  int done;    /* the thread has stored the end of the stream */
  int failed;  /* the thread failed: terr */
  ts_error terr;
};

static ts_err w_emit(jobs_store_writer *w, ts_error *err)
{
  if (w->outlen == 0)
    return TS_OK;
  if (w->s->kind == JOBS_STORE_FS) {
    size_t off = 0;
    while (off < w->outlen) {
      ssize_t n = write(w->fd, w->out + off, w->outlen - off);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return ts_fail(err, TS_EIO, 0, "cannot write the result file: %s", strerror(errno));
      off += (size_t)n;
    }
  } else {
    char seq[16];
    snprintf(seq, sizeof seq, "%d", w->seq);
    const char *v[] = {w->job_id, w->name, seq, (const char *)w->out};
    int lens[] = {0, 0, 0, (int)w->outlen};
    int fmts[] = {0, 0, 0, 1};
    pthread_mutex_lock(&w->conn_mu);
    PGresult *r = PQexecParams(w->conn,
                               "INSERT INTO tapserve.result_chunks (job_id, name, seq, data)"
                               " VALUES ($1, $2, $3, $4)",
                               4, NULL, v, lens, fmts, 0);
    ts_err rc = TS_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
      rc = ts_fail(err, TS_EIO, 0, "cannot store a result chunk in the database: %s",
                   PQerrorMessage(w->conn));
    PQclear(r);
    pthread_mutex_unlock(&w->conn_mu);
    if (rc)
      return rc;
    w->seq++;
  }
  atomic_fetch_add(&w->stored, (int64_t)w->outlen);
  w->outlen = 0;
  return TS_OK;
}

static ts_err w_compress(jobs_store_writer *w, const void *buf, size_t len, ZSTD_EndDirective end,
                         ts_error *err)
{
  ZSTD_inBuffer in = {buf, len, 0};
  for (;;) {
    ZSTD_outBuffer o = {w->out, CHUNK_BYTES, w->outlen};
    size_t left = ZSTD_compressStream2(w->cctx, &o, &in, end);
    if (ZSTD_isError(left))
      return ts_fail(err, TS_EIO, 0, "zstd: %s", ZSTD_getErrorName(left));
    w->outlen = o.pos;
    if (w->outlen == CHUNK_BYTES) {
      ts_err rc = w_emit(w, err);
      if (rc)
        return rc;
    }
    if (end == ZSTD_e_continue ? in.pos == in.size : left == 0)
      return TS_OK;
  }
}

/* The writer's thread: compresses and stores each buffer handed over, in
 * order; at the end, the end of the zstd frame. After a failure it stores
 * nothing more but still gives the buffers back. */
static void *w_main(void *arg)
{
  jobs_store_writer *w = arg;
  ts_error err;
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (w->tail == w->head && !w->ending && !w->stop)
      pthread_cond_wait(&w->cv, &w->mu);
    if (w->stop)
      break;
    int failed = w->failed;
    if (w->tail == w->head) { /* ending, everything stored */
      pthread_mutex_unlock(&w->mu);
      ts_err rc = failed ? TS_OK : w_compress(w, NULL, 0, ZSTD_e_end, &err);
      if (!rc && !failed)
        rc = w_emit(w, &err);
      pthread_mutex_lock(&w->mu);
      if (rc && !w->failed) {
        w->failed = 1;
        w->terr = err;
      }
      w->done = 1;
      pthread_cond_broadcast(&w->cv);
      break;
    }
    size_t i = (size_t)(w->tail % RAW_BUFS);
    pthread_mutex_unlock(&w->mu);
    ts_err rc = failed ? TS_OK : w_compress(w, w->raw_buf[i], w->raw_len[i], ZSTD_e_continue, &err);
    pthread_mutex_lock(&w->mu);
    if (rc && !w->failed) {
      w->failed = 1;
      w->terr = err;
    }
    w->tail++;
    pthread_cond_broadcast(&w->cv);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* Hands the caller's buffer to the thread and waits until the next one is
 * free. The thread's error, if any. */
static ts_err w_hand_over(jobs_store_writer *w, ts_error *err)
{
  ts_err rc = TS_OK;
  pthread_mutex_lock(&w->mu);
  if (w->fill > 0) {
    w->raw_len[w->head % RAW_BUFS] = w->fill;
    w->head++;
    w->fill = 0;
    pthread_cond_broadcast(&w->cv);
  }
  while (w->head - w->tail >= RAW_BUFS && !w->failed)
    pthread_cond_wait(&w->cv, &w->mu);
  if (w->failed) {
    *err = w->terr;
    rc = w->terr.code;
  }
  pthread_mutex_unlock(&w->mu);
  return rc;
}

/* Stops the thread (abandoned: stop; else it has ended) and waits for it. */
static void w_join(jobs_store_writer *w, int stop)
{
  if (!w->started)
    return;
  pthread_mutex_lock(&w->mu);
  w->stop |= stop;
  pthread_cond_broadcast(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  w->started = 0;
}

ts_err jobs_store_writer_open(const jobs_store *s, PGconn *conn, const char *job_id,
                              const char *name, jobs_store_writer **out, ts_error *err)
{
  jobs_store_writer *w = calloc(1, sizeof *w);
  char rnd[17];
  int nomem = 0;
  *out = NULL;
  if (!w)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  w->s = s;
  w->conn = conn;
  w->fd = -1;
  pthread_mutex_init(&w->mu, NULL);
  pthread_mutex_init(&w->conn_mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  snprintf(w->job_id, sizeof w->job_id, "%s", job_id);
  snprintf(w->name, sizeof w->name, "%s", name);
  w->out = malloc(CHUNK_BYTES);
  w->cctx = ZSTD_createCCtx();
  for (int i = 0; i < RAW_BUFS; i++)
    nomem |= !(w->raw_buf[i] = malloc(RAW_BYTES));
  if (!w->out || !w->cctx || nomem) {
    jobs_store_writer_free(w, 0);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, s->level);
  ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
  if (s->kind == JOBS_STORE_FS) {
    if (ts_random_hex(rnd, 8)) {
      jobs_store_writer_free(w, 0);
      return ts_fail(err, TS_EIO, 0, "no random bytes");
    }
    snprintf(w->location, sizeof w->location, "%s-%s.copy.zst", job_id, name);
    snprintf(w->final, sizeof w->final, "%s/%s", s->dir, w->location);
    snprintf(w->tmp, sizeof w->tmp, "%s/.tmp-%s-%s", s->dir, w->location, rnd);
    w->fd = open(w->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (w->fd < 0) {
      ts_fail(err, TS_EIO, 0, "cannot create a result file in %s: %s", s->dir, strerror(errno));
      jobs_store_writer_free(w, 0);
      return TS_EIO;
    }
  } else {
    PGresult *r = PQexec(conn, "BEGIN");
    int ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    PQclear(r);
    if (!ok) {
      ts_fail(err, TS_EIO, 0, "cannot begin storing the result: %s", PQerrorMessage(conn));
      jobs_store_writer_free(w, 0);
      return TS_EIO;
    }
    w->in_txn = 1;
    snprintf(w->location, sizeof w->location, "result_chunks");
  }
  if (pthread_create(&w->thread, NULL, w_main, w) != 0) {
    jobs_store_writer_free(w, 0);
    return ts_fail(err, TS_ENOMEM, 0, "cannot start the result writer's thread");
  }
  w->started = 1;
  *out = w;
  return TS_OK;
}

ts_err jobs_store_write(jobs_store_writer *w, const void *buf, size_t len, ts_error *err)
{
  const uint8_t *p = buf;
  atomic_fetch_add(&w->raw, (int64_t)len);
  while (len > 0) {
    size_t n = RAW_BYTES - w->fill;
    if (n > len)
      n = len;
    memcpy(w->raw_buf[w->head % RAW_BUFS] + w->fill, p, n);
    w->fill += n;
    p += n;
    len -= n;
    if (w->fill == RAW_BYTES) {
      ts_err rc = w_hand_over(w, err);
      if (rc)
        return rc;
    }
  }
  return TS_OK;
}

void jobs_store_writer_bytes(jobs_store_writer *w, int64_t *raw, int64_t *stored)
{
  if (raw)
    *raw = atomic_load(&w->raw);
  if (stored)
    *stored = atomic_load(&w->stored);
}

void jobs_store_writer_lock(jobs_store_writer *w)
{
  pthread_mutex_lock(&w->conn_mu);
}

void jobs_store_writer_unlock(jobs_store_writer *w)
{
  pthread_mutex_unlock(&w->conn_mu);
}

static void fsync_dir(const char *dir)
{
  int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    fsync(fd);
    close(fd);
  }
}

ts_err jobs_store_writer_finish(jobs_store_writer *w, jobs_result_info *r, ts_error *err)
{
  ts_err rc = w_hand_over(w, err);
  if (rc)
    return rc;
  pthread_mutex_lock(&w->mu);
  w->ending = 1;
  pthread_cond_broadcast(&w->cv);
  while (!w->done)
    pthread_cond_wait(&w->cv, &w->mu);
  if (w->failed) {
    *err = w->terr;
    rc = w->terr.code;
  }
  pthread_mutex_unlock(&w->mu);
  w_join(w, 0);
  if (rc)
    return rc;
  if (w->s->kind == JOBS_STORE_FS) {
    if (fsync(w->fd) != 0)
      return ts_fail(err, TS_EIO, 0, "cannot flush the result file: %s", strerror(errno));
    if (close(w->fd) != 0) {
      w->fd = -1;
      return ts_fail(err, TS_EIO, 0, "cannot close the result file: %s", strerror(errno));
    }
    w->fd = -1;
    if (rename(w->tmp, w->final) != 0)
      return ts_fail(err, TS_EIO, 0, "cannot rename the result file: %s", strerror(errno));
    w->renamed = 1;
    fsync_dir(w->s->dir);
  }
  memset(r, 0, sizeof *r);
  r->name = w->name;
  r->store = w->s->kind == JOBS_STORE_FS ? "fs" : "pg";
  r->location = w->location;
  r->bytes = atomic_load(&w->stored);
  r->raw_bytes = atomic_load(&w->raw);
  return TS_OK;
}

/* Removes the temporary files an earlier execution of the same result
 * left behind (an instance killed while writing it, before the job was
 * queued again): ".tmp-<location>-<random>" other than our own. */
static void remove_stale_tmp(const jobs_store_writer *w)
{
  char prefix[300];
  DIR *d;
  struct dirent *e;
  int n = snprintf(prefix, sizeof prefix, ".tmp-%s-", w->location);
  if (n <= 0 || (size_t)n >= sizeof prefix || !(d = opendir(w->s->dir)))
    return;
  while ((e = readdir(d)) != NULL) {
    char path[1400];
    if (strncmp(e->d_name, prefix, (size_t)n) != 0)
      continue;
    snprintf(path, sizeof path, "%s/%s", w->s->dir, e->d_name);
    if (strcmp(path, w->tmp) != 0 && unlink(path) != 0 && errno != ENOENT)
      ts_log(TS_LOG_WARN, NULL, "cannot remove %s: %s", path, strerror(errno));
  }
  closedir(d);
}

void jobs_store_writer_free(jobs_store_writer *w, int commit)
{
  if (!w)
    return;
  w_join(w, 1);
  if (w->fd >= 0)
    close(w->fd);
  if (commit && w->s->kind == JOBS_STORE_FS && w->renamed)
    remove_stale_tmp(w);
  if (!commit) {
    if (w->s->kind == JOBS_STORE_FS) {
      unlink(w->renamed ? w->final : w->tmp);
    } else if (w->in_txn && PQtransactionStatus(w->conn) != PQTRANS_IDLE) {
      PQclear(PQexec(w->conn, "ROLLBACK"));
    }
  }
  ZSTD_freeCCtx(w->cctx);
  free(w->out);
  for (int i = 0; i < RAW_BUFS; i++)
    free(w->raw_buf[i]);
  pthread_mutex_destroy(&w->mu);
  pthread_mutex_destroy(&w->conn_mu);
  pthread_cond_destroy(&w->cv);
  free(w);
}

void jobs_store_remove(const jobs_store *s, const char *store, const char *location)
{
  char path[1200];
  if (strcmp(store, "fs") != 0 || !s || s->kind != JOBS_STORE_FS)
    return;
  /* Locations are file names we made; never follow anything else. */
  if (strchr(location, '/') || location[0] == '.' || !location[0])
    return;
  snprintf(path, sizeof path, "%s/%s", s->dir, location);
  if (unlink(path) != 0 && errno != ENOENT)
    ts_log(TS_LOG_WARN, NULL, "cannot remove the result file %s: %s", path, strerror(errno));
}

int jobs_store_clean_tmp(const jobs_store *s, int64_t age_s)
{
  DIR *d;
  struct dirent *e;
  int n = 0;
  time_t limit = time(NULL) - (time_t)age_s;
  if (s->kind != JOBS_STORE_FS || !(d = opendir(s->dir)))
    return 0;
  while ((e = readdir(d)) != NULL) {
    char path[1400];
    struct stat st;
    if (strncmp(e->d_name, ".tmp-", 5) != 0)
      continue;
    snprintf(path, sizeof path, "%s/%s", s->dir, e->d_name);
    if (lstat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime < limit && unlink(path) == 0)
      n++;
  }
  closedir(d);
  return n;
}

/* ---- reader ------------------------------------------------------------- */

struct jobs_store_reader {
  const jobs_store *s;
  PGconn *conn;
  ZSTD_DCtx *dctx;
  char job_id[40], name[64];
  int fd, seq, eof, pg;
  uint8_t *in;
  size_t inlen, inpos, incap;
  size_t last_ret; /* 0 once a frame ended exactly */
};

ts_err jobs_store_reader_open(const jobs_store *s, PGconn *conn, const char *job_id,
                              const jobs_result_info *res, jobs_store_reader **out, ts_error *err)
{
  jobs_store_reader *r = calloc(1, sizeof *r);
  *out = NULL;
  if (!r)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  r->s = s;
  r->conn = conn;
  r->fd = -1;
  r->pg = !strcmp(res->store, "pg");
  r->last_ret = 1;
  snprintf(r->job_id, sizeof r->job_id, "%s", job_id);
  snprintf(r->name, sizeof r->name, "%s", res->name);
  r->incap = r->pg ? 0 : ZSTD_DStreamInSize();
  r->in = r->pg ? NULL : malloc(r->incap);
  r->dctx = ZSTD_createDCtx();
  if ((!r->pg && !r->in) || !r->dctx) {
    jobs_store_reader_free(r);
    return ts_fail(err, TS_ENOMEM, 0, "out of memory");
  }
  if (!r->pg) {
    char path[1200];
    if (s->kind != JOBS_STORE_FS || strchr(res->location, '/')) {
      jobs_store_reader_free(r);
      return ts_fail(err, TS_EIO, 0,
                     "the result is in a file store, but this instance has no result directory");
    }
    snprintf(path, sizeof path, "%s/%s", s->dir, res->location);
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0) {
      ts_fail(err, TS_EIO, 0, "cannot open the stored result: %s", strerror(errno));
      jobs_store_reader_free(r);
      return TS_EIO;
    }
  }
  *out = r;
  return TS_OK;
}

/* Refills r->in; sets eof at the end of the store. */
static ts_err r_fill(jobs_store_reader *r, ts_error *err)
{
  r->inpos = r->inlen = 0;
  if (!r->pg) {
    ssize_t n;
    do
      n = read(r->fd, r->in, r->incap);
    while (n < 0 && errno == EINTR);
    if (n < 0)
      return ts_fail(err, TS_EIO, 0, "cannot read the stored result: %s", strerror(errno));
    r->inlen = (size_t)n;
    r->eof = n == 0;
    return TS_OK;
  }
  char seq[16];
  snprintf(seq, sizeof seq, "%d", r->seq);
  const char *v[] = {r->job_id, r->name, seq};
  PGresult *res = PQexecParams(r->conn,
                               "SELECT data FROM tapserve.result_chunks"
                               " WHERE job_id = $1 AND name = $2 AND seq = $3",
                               3, NULL, v, NULL, NULL, 1);
  ts_err rc = TS_OK;
  if (PQresultStatus(res) != PGRES_TUPLES_OK) {
    rc = ts_fail(err, TS_EIO, 0, "cannot read the stored result: %s", PQerrorMessage(r->conn));
  } else if (PQntuples(res) == 0) {
    r->eof = 1;
  } else {
    size_t n = (size_t)PQgetlength(res, 0, 0);
    if (n > r->incap) {
      uint8_t *p = realloc(r->in, n);
      if (!p) {
        PQclear(res);
        return ts_fail(err, TS_ENOMEM, 0, "out of memory");
      }
      r->in = p;
      r->incap = n;
    }
    memcpy(r->in, PQgetvalue(res, 0, 0), n);
    r->inlen = n;
    r->seq++;
  }
  PQclear(res);
  return rc;
}

ts_err jobs_store_read(jobs_store_reader *r, uint8_t *buf, size_t cap, size_t *got, ts_error *err)
{
  ZSTD_outBuffer o = {buf, cap, 0};
  *got = 0;
  while (o.pos < o.size) {
    /* zstd may still hold output without new input, so it is asked first
     * and the store is read only when it makes no progress. */
    ZSTD_inBuffer in = {r->in, r->inlen, r->inpos};
    size_t before = o.pos;
    size_t ret = ZSTD_decompressStream(r->dctx, &o, &in);
    if (ZSTD_isError(ret))
      return ts_fail(err, TS_EIO, 0, "the stored result is damaged: %s", ZSTD_getErrorName(ret));
    if (in.pos != r->inpos || o.pos != before) {
      r->inpos = in.pos;
      r->last_ret = ret;
      continue;
    }
    if (r->eof) {
      if (r->last_ret != 0)
        return ts_fail(err, TS_EIO, 0, "the stored result is truncated");
      break;
    }
    ts_err rc = r_fill(r, err);
    if (rc)
      return rc;
  }
  *got = o.pos;
  return TS_OK;
}

void jobs_store_reader_use(jobs_store_reader *r, PGconn *conn)
{
  r->conn = conn;
}

void jobs_store_reader_free(jobs_store_reader *r)
{
  if (!r)
    return;
  if (r->fd >= 0)
    close(r->fd);
  ZSTD_freeDCtx(r->dctx);
  free(r->in);
  free(r);
}
