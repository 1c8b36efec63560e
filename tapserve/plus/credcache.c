/* tapserve/plus/credcache.c: HTTP Basic credentials checked lately, so a
 * script sending them with every request pays one argon2id check per
 * TTL, not one per request.
 *
 * An entry is found by a keyed BLAKE2b hash of the name and the password
 * (the key is random per process), and holds the user and an expiry:
 * never the password nor anything from which it could be guessed offline
 * without the key. The table is direct-mapped: a new entry takes its
 * slot whatever was there, so memory stays at `cap` entries. Every drop
 * (LOGIN_OUT_EVENT: logout, password change, user deleted) bumps a
 * generation; a check that began before a drop does not store its
 * answer, so a password changed while it ran is not remembered. */
#include "tapserve/plus/plus.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

typedef struct cred_entry {
  unsigned char key[crypto_generichash_BYTES];
  int64_t expires_ms; /* 0: empty */
  jobs_user user;
} cred_entry;

struct plus_creds {
  pthread_mutex_t mu;
  unsigned char secret[crypto_generichash_KEYBYTES];
  size_t cap;
  int64_t ttl_ms;
  uint64_t generation;
  cred_entry *e;
};

plus_creds *plus_creds_new(size_t cap, int64_t ttl_ms)
{
  plus_creds *c;
  if (cap == 0 || ttl_ms <= 0 || sodium_init() < 0)
    return NULL;
  c = calloc(1, sizeof *c);
  if (!c)
    return NULL;
  c->e = calloc(cap, sizeof *c->e);
  if (!c->e) {
    free(c);
    return NULL;
  }
  c->cap = cap;
  c->ttl_ms = ttl_ms;
  randombytes_buf(c->secret, sizeof c->secret);
  pthread_mutex_init(&c->mu, NULL);
  return c;
}

void plus_creds_free(plus_creds *c)
{
  if (!c)
    return;
  sodium_memzero(c->secret, sizeof c->secret);
  sodium_memzero(c->e, c->cap * sizeof *c->e);
  pthread_mutex_destroy(&c->mu);
  free(c->e);
  free(c);
}

/* The keyed hash of name NUL password; its first bytes pick the slot. */
static size_t cred_key(const plus_creds *c, const char *name, const char *pw,
                       unsigned char key[crypto_generichash_BYTES])
{
  crypto_generichash_state st;
  uint64_t slot;
  crypto_generichash_init(&st, c->secret, sizeof c->secret, crypto_generichash_BYTES);
  crypto_generichash_update(&st, (const unsigned char *)name, strlen(name) + 1);
  crypto_generichash_update(&st, (const unsigned char *)pw, strlen(pw));
  crypto_generichash_final(&st, key, crypto_generichash_BYTES);
  sodium_memzero(&st, sizeof st);
  memcpy(&slot, key, sizeof slot);
  return (size_t)(slot % c->cap);
}

uint64_t plus_creds_generation(plus_creds *c)
{
  uint64_t g;
  pthread_mutex_lock(&c->mu);
  g = c->generation;
  pthread_mutex_unlock(&c->mu);
  return g;
}

int plus_creds_get(plus_creds *c, const char *name, const char *pw, int64_t now_ms, jobs_user *u)
{
  unsigned char key[crypto_generichash_BYTES];
  size_t i = cred_key(c, name, pw, key);
  int hit;
  pthread_mutex_lock(&c->mu);
  hit = c->e[i].expires_ms > now_ms && sodium_memcmp(c->e[i].key, key, sizeof key) == 0;
  if (hit)
    *u = c->e[i].user;
  pthread_mutex_unlock(&c->mu);
  sodium_memzero(key, sizeof key);
  return hit;
}

void plus_creds_put(plus_creds *c, const char *name, const char *pw, const jobs_user *u,
                    uint64_t generation, int64_t now_ms)
{
  unsigned char key[crypto_generichash_BYTES];
  size_t i = cred_key(c, name, pw, key);
  pthread_mutex_lock(&c->mu);
  if (generation == c->generation) {
    memcpy(c->e[i].key, key, sizeof key);
    c->e[i].user = *u;
    c->e[i].expires_ms = now_ms + c->ttl_ms;
  }
  pthread_mutex_unlock(&c->mu);
  sodium_memzero(key, sizeof key);
}

void plus_creds_drop(plus_creds *c, const char *name)
{
  pthread_mutex_lock(&c->mu);
  c->generation++;
  for (size_t i = 0; i < c->cap; i++)
    if (c->e[i].expires_ms && (!name || !strcmp(c->e[i].user.name, name)))
      memset(&c->e[i], 0, sizeof c->e[i]);
  pthread_mutex_unlock(&c->mu);
}
