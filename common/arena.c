/* Per-request arena with a hard cap and LIFO destructors (see common.h). */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct block {
  struct block *next;
  size_t size, used;
  _Alignas(max_align_t) unsigned char data[];
} block;

typedef struct defer {
  struct defer *next;
  void (*fn)(void *);
  void *arg;
} defer;

struct ts_arena {
  block *head;
  defer *defers;
  size_t chunk, cap, total;
};

enum { ALIGN = _Alignof(max_align_t) };

ts_arena *ts_arena_new(size_t chunk, size_t cap)
{
  ts_arena *a = calloc(1, sizeof *a);
  if (!a)
    return NULL;
  a->chunk = chunk ? chunk : 16384;
  a->cap = cap;
  return a;
}

void *ts_arena_alloc(ts_arena *a, size_t n)
{
  size_t need = (n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
  block *b = a->head;
  if (need < n)
    return NULL;
  if (a->cap && (need > a->cap || a->total > a->cap - need))
    return NULL;
  if (!b || b->size - b->used < need) {
    size_t sz = need > a->chunk ? need : a->chunk;
    b = malloc(sizeof *b + sz);
    if (!b)
      return NULL;
    b->size = sz;
    b->used = 0;
    /* A large one-off block goes behind the current one so the current
     * block's free tail stays usable. */
    if (a->head && need > a->chunk) {
      b->next = a->head->next;
      a->head->next = b;
    } else {
      b->next = a->head;
      a->head = b;
    }
  }
  void *p = b->data + b->used;
  b->used += need;
  a->total += need;
  return p;
}

void *ts_arena_calloc(ts_arena *a, size_t n, size_t size)
{
  if (size && n > SIZE_MAX / size)
    return NULL;
  void *p = ts_arena_alloc(a, n * size);
  if (p)
    memset(p, 0, n * size);
  return p;
}

char *ts_arena_strndup(ts_arena *a, const char *s, size_t n)
{
  char *p = ts_arena_alloc(a, n + 1);
  if (!p)
    return NULL;
  memcpy(p, s, n);
  p[n] = '\0';
  return p;
}

char *ts_arena_strdup(ts_arena *a, const char *s)
{
  return s ? ts_arena_strndup(a, s, strlen(s)) : NULL;
}

char *ts_arena_printf(ts_arena *a, const char *fmt, ...)
{
  va_list ap, ap2;
  va_start(ap, fmt);
  va_copy(ap2, ap);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  char *p = n < 0 ? NULL : ts_arena_alloc(a, (size_t)n + 1);
  if (p)
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
  va_end(ap2);
  return p;
}

ts_err ts_arena_defer(ts_arena *a, void (*fn)(void *), void *arg)
{
  defer *d = malloc(sizeof *d);
  if (!d)
    return TS_ENOMEM;
  d->fn = fn;
  d->arg = arg;
  d->next = a->defers;
  a->defers = d;
  return TS_OK;
}

size_t ts_arena_used(const ts_arena *a)
{
  return a->total;
}

void ts_arena_free(ts_arena *a)
{
  if (!a)
    return;
  while (a->defers) {
    defer *d = a->defers;
    a->defers = d->next;
    d->fn(d->arg);
    free(d);
  }
  while (a->head) {
    block *b = a->head;
    a->head = b->next;
    free(b);
  }
  free(a);
}
