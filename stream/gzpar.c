/* Parallel gzip: one standard gzip member (RFC 1952), compressed in blocks
 * on a pool of threads, the way pigz does it.
 *
 * The input is cut into blocks of `block` bytes. Each block is compressed
 * on its own by ISA-L's igzip (isal_deflate_stateless, FULL_FLUSH, not the
 * end of the stream): the result is a run of non-final deflate blocks that
 * ends byte-aligned with an empty stored block, so blocks compressed apart
 * can be laid end to end and still form one deflate stream. The gzip
 * header goes before the first block; after the last come an empty final
 * block (fixed Huffman, 0x03 0x00) and the trailer: the CRC-32 of all the
 * input, combined from the blocks' CRCs with zlib's crc32_combine, and the
 * input length modulo 2^32. A block starts with an empty window (no preset
 * dictionary), which costs some ratio against one long stream: little at
 * 256 KiB blocks.
 *
 * Threads: one pool per process (stream_gzip_threads), shared by every
 * sink. A sink has at most `nslots` blocks in flight (filled, queued,
 * being compressed or waiting to be handed out); when it would need one
 * more, the caller compresses the oldest itself if no thread has taken it
 * yet, or waits for the thread that has (retire_oldest). So write and
 * finish can block the caller's thread, the event loop: for the time of
 * one block's compression at most, and only once the sink has filled
 * every slot, i.e. when the loop produces faster than the pool
 * compresses. Output is handed to `flush` only on the caller's thread
 * and in order, from write (the blocks that are done) and finish (all of
 * them), so the caller's own flow control (the HTTP write queue, checked
 * after each batch of rows) works as before.
 *
 * Memory: a sink's first block grows with what is written (from
 * GZ_IN_MIN, doubling, up to `block`), and its output buffer is sized
 * for the input it holds when it is compressed, so a small response
 * costs a few KiB; the later blocks of a large one take `block` and its
 * compressed bound each, nslots of them at most, allocated as first
 * used. One compressor state (gz_scratch, its level buffer sized for the
 * level used) per pool thread and one per thread that compresses blocks
 * itself (the event loop): not one per sink. Nothing grows with the
 * input. */
#include "stream/gz_int.h"

#include <isa-l/crc.h>
#include <isa-l/igzip_lib.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>
#include <zlib.h>

enum {
  GZ_HDR = 10,           /* gzip header */
  GZ_TAIL = 2 + 8,       /* final empty block, CRC-32 and ISIZE */
  GZ_SLOTS_MAX = 8,      /* blocks in flight per sink, at most */
  GZ_THREADS_MAX = 64,   /* pool threads, at most */
  GZ_STORED_MAX = 65535, /* input bytes of one stored block */
  GZ_IN_MIN = 4096,      /* the first block's first input buffer */
};

enum { SLOT_IDLE, SLOT_QUEUED, SLOT_RUNNING, SLOT_DONE };

typedef struct gz_slot gz_slot;
struct gz_slot {
  gz_slot *qnext; /* in the pool's queue */
  int level;      /* ISA-L's level */
  int state;      /* SLOT_*, under pool.mu once the slot was queued */
  ts_err err;     /* of the compression */
  unsigned char *in, *out;
  size_t in_len, in_cap, out_cap;
  size_t out_len; /* deflate bytes at out + GZ_HDR */
  uint32_t crc;   /* of the input */
};

/* A compressor's working memory: ISA-L's stream state and level buffer
 * (sized for the largest level it compressed at). */
typedef struct gz_scratch {
  struct isal_zstream z;
  uint8_t *lvl;
  uint32_t lvl_size;
} gz_scratch;

struct stream__gz {
  int level; /* ISA-L's */
  size_t block;
  stream_flush_fn flush;
  void *ud;
  ts_err err;
  int finished, started, filling;
  int ended; /* the member's end went out */
  int nslots;
  uint64_t next_emit, next_fill; /* sequence numbers; slot = seq % nslots */
  uint32_t crc;
  uint32_t isize;
  gz_slot slots[GZ_SLOTS_MAX];
};

static struct {
  pthread_mutex_t mu;
  pthread_cond_t work; /* a block was queued, or stop */
  pthread_cond_t done; /* a block a thread took is done */
  gz_slot *qhead, *qtail;
  int want; /* threads to start; -1: one per CPU */
  int started, stop, nthreads;
  pthread_t th[GZ_THREADS_MAX];
} pool = {PTHREAD_MUTEX_INITIALIZER,
          PTHREAD_COND_INITIALIZER,
          PTHREAD_COND_INITIALIZER,
          NULL,
          NULL,
          -1,
          0,
          0,
          0,
          {0}};

/* The output buffer of a block of n input bytes: the gzip header, the
 * deflate bytes (at most ISA-L's stored-block fallback) and the tail. */
static size_t out_bound(size_t n)
{
  return GZ_HDR + n + 5 * (n / GZ_STORED_MAX + 1) + GZ_TAIL;
}

static void scratch_free(gz_scratch *s)
{
  if (!s)
    return;
  free(s->lvl);
  free(s);
}

/* The level buffer ISA-L's level 1..3 wants. */
static uint32_t level_buf_size(int level)
{
  return level <= 1   ? ISAL_DEF_LVL1_DEFAULT
         : level == 2 ? ISAL_DEF_LVL2_DEFAULT
                      : ISAL_DEF_LVL3_DEFAULT;
}

/* The level buffer for the slot's level and the slot's output buffer for
 * its input, on the thread that compresses it; TS_ENOMEM when either
 * cannot be had. */
static ts_err compress_room(gz_scratch *sc, gz_slot *s)
{
  uint32_t want = level_buf_size(s->level);
  if (sc->lvl_size < want) {
    free(sc->lvl);
    sc->lvl = malloc(want);
    sc->lvl_size = sc->lvl ? want : 0;
  }
  size_t out = out_bound(s->in_len);
  if (s->out_cap < out) {
    free(s->out);
    s->out = malloc(out);
    s->out_cap = s->out ? out : 0;
  }
  return sc->lvl && s->out ? TS_OK : TS_ENOMEM;
}

/* Compresses one block into slot->out + GZ_HDR. The output bound leaves
 * room for ISA-L's stored-block fallback, so it cannot overflow. */
static void compress_slot(gz_scratch *sc, gz_slot *s)
{
  if ((s->err = compress_room(sc, s)))
    return;
  struct isal_zstream *z = &sc->z;
  isal_deflate_stateless_init(z);
  z->level = (uint32_t)s->level;
  z->level_buf = sc->lvl;
  z->level_buf_size = level_buf_size(s->level);
  z->end_of_stream = 0;
  z->flush = FULL_FLUSH;
  z->gzip_flag = IGZIP_DEFLATE;
  z->next_in = s->in;
  z->avail_in = (uint32_t)s->in_len;
  z->next_out = s->out + GZ_HDR;
  z->avail_out = (uint32_t)(s->out_cap - GZ_HDR - GZ_TAIL);
  int rc = isal_deflate_stateless(z);
  s->err = rc == COMP_OK && z->avail_in == 0 ? TS_OK : TS_EINTERNAL;
  s->out_len = z->total_out;
  s->crc = crc32_gzip_refl(0, s->in, s->in_len);
}

static void *gz_worker(void *arg)
{
  gz_scratch *sc = arg; /* its level buffer comes with the first block */
  pthread_mutex_lock(&pool.mu);
  for (;;) {
    while (!pool.qhead && !pool.stop)
      pthread_cond_wait(&pool.work, &pool.mu);
    if (!pool.qhead)
      break; /* stop, and nothing left */
    gz_slot *s = pool.qhead;
    pool.qhead = s->qnext;
    if (!pool.qhead)
      pool.qtail = NULL;
    s->state = SLOT_RUNNING;
    pthread_mutex_unlock(&pool.mu);
    compress_slot(sc, s);
    pthread_mutex_lock(&pool.mu);
    s->state = SLOT_DONE;
    pthread_cond_broadcast(&pool.done);
  }
  pthread_mutex_unlock(&pool.mu);
  scratch_free(sc);
  return NULL;
}

/* Starts the pool on first use (pool.mu held). Threads that cannot be
 * started are done without: with none, every block is compressed by its
 * sink's caller. The threads block every signal: the loop handles them. */
static void pool_start_locked(void)
{
  if (pool.started)
    return;
  pool.started = 1;
  pool.stop = 0;
  long n = pool.want;
  if (n < 0)
    n = sysconf(_SC_NPROCESSORS_ONLN);
  if (n > GZ_THREADS_MAX)
    n = GZ_THREADS_MAX;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  for (long i = 0; i < n; i++) {
    gz_scratch *sc = calloc(1, sizeof *sc);
    if (!sc)
      break;
    if (pthread_create(&pool.th[pool.nthreads], NULL, gz_worker, sc)) {
      scratch_free(sc);
      break;
    }
    pool.nthreads++;
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
}

ts_err stream_gzip_threads(int n)
{
  if (n < -1 || n > GZ_THREADS_MAX)
    return TS_EINVAL;
  pthread_mutex_lock(&pool.mu);
  ts_err rc = pool.started ? TS_EINVAL : TS_OK;
  if (!rc)
    pool.want = n;
  pthread_mutex_unlock(&pool.mu);
  return rc;
}

/* The scratch of a thread that compresses blocks itself (the event
 * loop's), made on its first block; freed when the thread exits, or by
 * stream_gzip_shutdown for the thread that calls it. */
static pthread_key_t here_key;
static pthread_once_t here_once = PTHREAD_ONCE_INIT;
static int here_key_ok;

static void here_free(void *sc)
{
  scratch_free(sc);
}

static void here_key_make(void)
{
  here_key_ok = pthread_key_create(&here_key, here_free) == 0;
}

static gz_scratch *here_scratch(void)
{
  pthread_once(&here_once, here_key_make);
  if (!here_key_ok)
    return NULL;
  gz_scratch *sc = pthread_getspecific(here_key);
  if (!sc && (sc = calloc(1, sizeof *sc)) && pthread_setspecific(here_key, sc)) {
    free(sc);
    sc = NULL;
  }
  return sc;
}

void stream_gzip_shutdown(void)
{
  pthread_once(&here_once, here_key_make);
  if (here_key_ok) {
    scratch_free(pthread_getspecific(here_key));
    pthread_setspecific(here_key, NULL);
  }
  pthread_mutex_lock(&pool.mu);
  pool.stop = 1;
  pthread_cond_broadcast(&pool.work);
  int n = pool.nthreads;
  pthread_mutex_unlock(&pool.mu);
  for (int i = 0; i < n; i++)
    pthread_join(pool.th[i], NULL);
  pthread_mutex_lock(&pool.mu);
  pool.nthreads = 0;
  pool.started = 0;
  pthread_mutex_unlock(&pool.mu);
}

int stream__gz_pool_threads(void)
{
  pthread_mutex_lock(&pool.mu);
  pool_start_locked();
  int n = pool.nthreads;
  pthread_mutex_unlock(&pool.mu);
  return n;
}

stream__gz *stream__gz_new(int level, size_t block, stream_flush_fn flush, void *ud)
{
  if (!block || block > UINT32_MAX / 2)
    return NULL;
  stream__gz *g = calloc(1, sizeof *g);
  if (!g)
    return NULL;
  /* zlib's 1..9 onto igzip's 1..3: 1 is the fast one we use. */
  g->level = level <= 1 ? 1 : level <= 5 ? 2 : 3;
  g->block = block;
  g->flush = flush;
  g->ud = ud;
  int threads = stream__gz_pool_threads();
  /* Enough blocks to keep every thread busy while the caller fills the
   * next one and hands out the oldest. */
  g->nslots = threads ? threads + 2 : 1;
  if (g->nslots > GZ_SLOTS_MAX)
    g->nslots = GZ_SLOTS_MAX;
  return g;
}

static gz_slot *slot_at(stream__gz *g, uint64_t seq)
{
  return &g->slots[seq % (uint64_t)g->nslots];
}

/* Compresses a block on the caller's thread: one no pool thread has seen,
 * or one taken back from the queue. */
static void compress_here(gz_slot *s)
{
  gz_scratch *sc = here_scratch();
  if (sc)
    compress_slot(sc, s);
  else
    s->err = TS_ENOMEM;
  pthread_mutex_lock(&pool.mu);
  s->state = SLOT_DONE;
  pthread_mutex_unlock(&pool.mu);
}

static const unsigned char member_header[GZ_HDR] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 3};

/* The end of the member at t: an empty final block (BFINAL, fixed Huffman,
 * end of block), the CRC-32 and the length of the input. */
static void put_tail(stream__gz *g, unsigned char *t)
{
  t[0] = 0x03;
  t[1] = 0x00;
  for (int i = 0; i < 4; i++) {
    t[2 + i] = (unsigned char)(g->crc >> (8 * i));
    t[6 + i] = (unsigned char)(g->isize >> (8 * i));
  }
  g->ended = 1;
}

/* Hands the oldest block (done) to flush: the gzip header before the first
 * one, the end of the member after the last. */
static ts_err emit_slot(stream__gz *g, gz_slot *s, int last)
{
  unsigned char *p = s->out + GZ_HDR;
  size_t n = s->out_len;
  g->next_emit++;
  s->state = SLOT_IDLE;
  if (s->err)
    return g->err = s->err;
  if (!g->started) {
    memcpy(s->out, member_header, GZ_HDR);
    p = s->out;
    n += GZ_HDR;
    g->started = 1;
  }
  g->crc = (uint32_t)crc32_combine(g->crc, s->crc, (z_off_t)s->in_len);
  g->isize += (uint32_t)s->in_len;
  if (last) {
    put_tail(g, p + n);
    n += GZ_TAIL;
  }
  return g->err = g->flush(g->ud, (const char *)p, n);
}

/* Unlinks a queued slot from the pool's queue (pool.mu held). */
static void unqueue_locked(gz_slot *s)
{
  gz_slot **pp = &pool.qhead, *prev = NULL;
  while (*pp && *pp != s) {
    prev = *pp;
    pp = &(*pp)->qnext;
  }
  if (!*pp)
    return;
  *pp = s->qnext;
  if (pool.qtail == s)
    pool.qtail = prev;
  s->qnext = NULL;
}

/* Hands out the oldest block in flight, compressing it here if no thread
 * has taken it yet, else waiting for the one that has. */
static ts_err retire_oldest(stream__gz *g)
{
  gz_slot *s = slot_at(g, g->next_emit);
  int last = g->finished && g->next_emit + 1 == g->next_fill;
  pthread_mutex_lock(&pool.mu);
  if (s->state == SLOT_QUEUED) {
    unqueue_locked(s);
    s->state = SLOT_RUNNING;
    pthread_mutex_unlock(&pool.mu);
    compress_here(s);
    pthread_mutex_lock(&pool.mu);
  }
  while (s->state != SLOT_DONE)
    pthread_cond_wait(&pool.done, &pool.mu);
  pthread_mutex_unlock(&pool.mu);
  return emit_slot(g, s, last);
}

/* Hands out the blocks at the head that are done, without waiting. */
static ts_err retire_done(stream__gz *g)
{
  uint64_t ready = g->next_emit;
  pthread_mutex_lock(&pool.mu);
  while (ready < g->next_fill && slot_at(g, ready)->state == SLOT_DONE)
    ready++;
  pthread_mutex_unlock(&pool.mu);
  while (!g->err && g->next_emit < ready)
    emit_slot(g, slot_at(g, g->next_emit), 0);
  return g->err;
}

/* The block being filled is complete: to the pool, or compressed here. */
static void submit(stream__gz *g)
{
  gz_slot *s = slot_at(g, g->next_fill);
  g->filling = 0;
  g->next_fill++;
  s->level = g->level;
  if (g->nslots == 1) {
    compress_here(s); /* no pool */
    return;
  }
  pthread_mutex_lock(&pool.mu);
  s->state = SLOT_QUEUED;
  s->qnext = NULL;
  if (pool.qtail)
    pool.qtail->qnext = s;
  else
    pool.qhead = s;
  pool.qtail = s;
  pthread_cond_signal(&pool.work);
  pthread_mutex_unlock(&pool.mu);
}

/* A slot to fill: the next one in the ring, once the block it held is out. */
static ts_err open_slot(stream__gz *g)
{
  while (g->next_fill - g->next_emit >= (uint64_t)g->nslots) {
    ts_err rc = retire_oldest(g);
    if (rc)
      return rc;
  }
  gz_slot *s = slot_at(g, g->next_fill);
  s->in_len = 0;
  s->err = TS_OK;
  s->state = SLOT_IDLE;
  g->filling = 1;
  return TS_OK;
}

/* Input room for `need` bytes in the block being filled: the first block
 * grows with what is written (doubling, from GZ_IN_MIN), so a small
 * response holds little; a later one takes the whole block at once. */
static ts_err in_room(stream__gz *g, gz_slot *s, size_t need)
{
  size_t cap = g->block;
  if (g->next_fill == 0) {
    cap = s->in_cap ? 2 * s->in_cap : GZ_IN_MIN;
    if (cap < need)
      cap = need;
    if (cap > g->block)
      cap = g->block;
  }
  unsigned char *in = realloc(s->in, cap);
  if (!in)
    return g->err = TS_ENOMEM; /* the old buffer is freed with the sink */
  s->in = in;
  s->in_cap = cap;
  return TS_OK;
}

ts_err stream__gz_write(stream__gz *g, const char *buf, size_t len)
{
  if (g->err || !len)
    return g->err; /* nothing to write is no error, even after the end */
  if (g->finished)
    return TS_EINTERNAL;
  while (len) {
    if (!g->filling && open_slot(g))
      return g->err;
    gz_slot *s = slot_at(g, g->next_fill);
    size_t k = g->block - s->in_len;
    if (k > len)
      k = len;
    if (s->in_len + k > s->in_cap && in_room(g, s, s->in_len + k))
      return g->err;
    memcpy(s->in + s->in_len, buf, k);
    s->in_len += k;
    buf += k;
    len -= k;
    if (s->in_len == g->block)
      submit(g);
  }
  return retire_done(g);
}

ts_err stream__gz_finish(stream__gz *g)
{
  if (g->err)
    return g->err;
  if (g->finished)
    return TS_EINTERNAL;
  g->finished = 1;
  if (g->filling) {
    /* The last, partial block: compressed here while the threads finish
     * the ones before it. */
    gz_slot *s = slot_at(g, g->next_fill);
    g->filling = 0;
    if (s->in_len) {
      g->next_fill++;
      s->level = g->level;
      compress_here(s);
    }
  }
  while (g->next_emit < g->next_fill)
    if (retire_oldest(g))
      return g->err;
  if (!g->ended) {
    /* The last block went out before finish (or there was no input): the
     * end of the member on its own, after the header if nothing went. */
    unsigned char b[GZ_HDR + GZ_TAIL];
    size_t n = 0;
    if (!g->started) {
      memcpy(b, member_header, GZ_HDR);
      n = GZ_HDR;
      g->started = 1;
    }
    put_tail(g, b + n);
    return g->err = g->flush(g->ud, (const char *)b, n + GZ_TAIL);
  }
  return TS_OK;
}

void stream__gz_free(stream__gz *g)
{
  if (!g)
    return;
  pthread_mutex_lock(&pool.mu);
  for (int i = 0; i < g->nslots; i++) {
    gz_slot *s = &g->slots[i];
    if (s->state == SLOT_QUEUED) {
      unqueue_locked(s);
      s->state = SLOT_IDLE;
    }
    while (s->state == SLOT_RUNNING)
      pthread_cond_wait(&pool.done, &pool.mu);
  }
  pthread_mutex_unlock(&pool.mu);
  for (int i = 0; i < g->nslots; i++) {
    free(g->slots[i].in);
    free(g->slots[i].out);
  }
  free(g);
}
