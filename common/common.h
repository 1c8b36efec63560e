/* common/common.h: the lowest layer of tapserve. Status codes, the
 * user-facing error struct, per-request arenas, bounded buffers and
 * one-line logging. Depends on libc only. */
#ifndef TS_COMMON_H
#define TS_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#if defined(__GNUC__)
#define TS_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define TS_PRINTF(a, b)
#endif

#define TS_ARRAY_LEN(a)                    (sizeof(a) / sizeof((a)[0]))
#define ts_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* One table gives every status code its HTTP status and its generic text,
 * so the mappings cannot drift apart. An HTTP status of 0 means the code
 * never reaches a client (flow control). */
#define TS_ERRMAP(XX)                                                                              \
  XX(ENOMEM, 503, "server out of memory")                                                          \
  XX(EAGAIN, 0, "would block")                                                                     \
  XX(EINVAL, 400, "invalid parameter")                                                             \
  XX(EADQL, 400, "ADQL error")                                                                     \
  XX(EQUERY, 400, "query rejected by the database")                                                \
  XX(ENOTFOUND, 404, "not found")                                                                  \
  XX(EMETHOD, 405, "method not allowed")                                                           \
  XX(ELIMIT, 413, "limit exceeded")                                                                \
  XX(ETIMEOUT, 408, "timeout")                                                                     \
  XX(EQUERYTIMEOUT, 500, "query execution time limit reached")                                     \
  XX(ECANCELED, 0, "canceled")                                                                     \
  XX(EUNAVAIL, 503, "service unavailable")                                                         \
  XX(EDB, 500, "database error")                                                                   \
  XX(EIO, 500, "input/output error")                                                               \
  XX(EFORMAT, 500, "output format error")                                                          \
  XX(EINTERNAL, 500, "internal error")                                                             \
  XX(ETOOMANY, 429, "too many requests")                                                           \
  XX(EAUTH, 401, "authentication required")                                                        \
  XX(EFORBIDDEN, 403, "forbidden")

typedef enum ts_err {
  TS_OK = 0,
#define XX(n, http, txt) TS_##n,
  TS_ERRMAP(XX)
#undef XX
      TS_ERR_COUNT
} ts_err;

/* "EADQL" for TS_EADQL; "OK" for TS_OK. */
const char *ts_err_name(ts_err code);
/* The generic text of a code ("ADQL error"). */
const char *ts_err_text(ts_err code);
/* The HTTP status that fits a code (200 for TS_OK, 500 for unknown codes). */
int ts_err_http(ts_err code);

/* A user-facing error: (code, message, position). pos is the 1-based
 * character offset in the ADQL text (0 = none); line and col are 1-based
 * (0 = none). msg is one sentence without a trailing period. */
typedef struct ts_error {
  ts_err code;
  int pos;
  int line;
  int col;
  char msg[512];
} ts_error;

/* Fills `e` (if not NULL) and returns `code`, so callers can write
 * `return ts_fail(err, TS_EINVAL, 0, "MAXREC must be a number")`. */
ts_err ts_fail(ts_error *e, ts_err code, int pos, const char *fmt, ...) TS_PRINTF(4, 5);
ts_err ts_failv(ts_error *e, ts_err code, int pos, const char *fmt, va_list ap) TS_PRINTF(4, 0);
/* Sets line and col in `e` from its `pos` and the text the position refers to. */
void ts_error_set_linecol(ts_error *e, const char *text, size_t len);
/* Resets `e` to TS_OK with an empty message. */
void ts_error_clear(ts_error *e);

/* Byte offset -> 1-based character position (UTF-8 continuation bytes are
 * not counted). A negative offset gives 0 (unknown). */
int ts_charpos(const char *text, size_t len, long byteoff);

/* ---- arena ----------------------------------------------------------------
 * A per-request arena with a hard cap: hitting the cap makes allocation
 * return NULL (TS_ENOMEM for this request), it never aborts. Destructors
 * registered with ts_arena_defer run LIFO in ts_arena_free, before the
 * memory is released. */
typedef struct ts_arena ts_arena;

/* chunk: size of each block (0 = 16 KiB); cap: total bytes (0 = unlimited).
 * Returns NULL when out of memory. */
ts_arena *ts_arena_new(size_t chunk, size_t cap);
/* Memory aligned for any type; NULL when the cap is reached. */
void *ts_arena_alloc(ts_arena *a, size_t n);
void *ts_arena_calloc(ts_arena *a, size_t n, size_t size);
char *ts_arena_strdup(ts_arena *a, const char *s);
char *ts_arena_strndup(ts_arena *a, const char *s, size_t n);
char *ts_arena_printf(ts_arena *a, const char *fmt, ...) TS_PRINTF(2, 3);
/* Registers fn(arg) to run when the arena is freed. Returns TS_ENOMEM (and
 * runs nothing) when the registration itself cannot be allocated. */
ts_err ts_arena_defer(ts_arena *a, void (*fn)(void *), void *arg);
/* Bytes handed out so far. */
size_t ts_arena_used(const ts_arena *a);
/* Runs destructors LIFO, then frees every block. NULL-safe. */
void ts_arena_free(ts_arena *a);

/* ---- growable buffer with a mandatory maximum (curl's dynbuf idea) -------- */
typedef struct ts_buf {
  char *data; /* always NUL-terminated when len > 0 or after any append */
  size_t len;
  size_t cap;
  size_t max; /* appending past max fails with TS_ELIMIT */
} ts_buf;

/* `max` is the mandatory cap on the content, in bytes: give every buffer a
 * named one. There is no unbounded mode: a cap of 0 holds nothing. */
void ts_buf_init(ts_buf *b, size_t max);
/* On failure (TS_ENOMEM or TS_ELIMIT) the buffer keeps its old contents. */
ts_err ts_buf_append(ts_buf *b, const void *p, size_t n);
ts_err ts_buf_puts(ts_buf *b, const char *s);
ts_err ts_buf_printf(ts_buf *b, const char *fmt, ...) TS_PRINTF(2, 3);
ts_err ts_buf_vprintf(ts_buf *b, const char *fmt, va_list ap) TS_PRINTF(2, 0);
/* Appends `s` escaped for XML text and attribute values (&<>"' and control
 * characters that XML 1.0 forbids are replaced by U+FFFD's UTF-8 form;
 * invalid UTF-8 bytes likewise). */
ts_err ts_buf_xml(ts_buf *b, const char *s, size_t n);
ts_err ts_buf_reserve(ts_buf *b, size_t extra);
void ts_buf_reset(ts_buf *b); /* len = 0, memory kept */
void ts_buf_free(ts_buf *b);  /* releases memory; the buffer may be reused */
/* Hands the data to the caller (free() it); the buffer becomes empty. */
char *ts_buf_steal(ts_buf *b, size_t *len);

/* ---- small helpers ------------------------------------------------------ */
int ts_strcaseeq(const char *a, const char *b);            /* ASCII */
int ts_strncaseeq(const char *a, const char *b, size_t n); /* ASCII */
/* Strict decimal parse of the whole string (leading/trailing blanks allowed);
 * returns TS_EINVAL for anything else, including overflow. */
ts_err ts_parse_int64(const char *s, int64_t *out);
/* Length (1..4) of the valid UTF-8 sequence starting at p (n bytes
 * available), or 0 when it is not one (overlong forms, surrogates, U+FFFE,
 * U+FFFF and truncated sequences included). */
size_t ts_utf8_seq(const unsigned char *p, size_t n);
/* 1 when [p, p+n) is valid UTF-8 without NUL bytes. */
int ts_utf8_valid(const char *p, size_t n);
/* ISO 8601 UTC time "2026-11-22T10:00:00Z" (or with .mmm when ms != 0). */
void ts_iso8601(char out[32], int64_t unix_ms, int with_ms);
int64_t ts_now_ms(void);
/* FNV-1a over [p, p+n), continuing from h (TS_HASH64_INIT to start): a
 * fast non-cryptographic hash for cache slots and fingerprints, never
 * for anything an attacker must not steer. */
#define TS_HASH64_INIT 14695981039346656037ull
uint64_t ts_hash64(const void *p, size_t n, uint64_t h);
/* Random bytes from the OS; TS_EIO when none can be had. */
ts_err ts_random(void *buf, size_t n);
/* 2n lower-case hex digits + NUL of n random bytes. */
ts_err ts_random_hex(char *out, size_t nbytes);

/* ---- logging: one line per event ---------------------------------------- */
typedef enum { TS_LOG_DEBUG, TS_LOG_INFO, TS_LOG_WARN, TS_LOG_ERROR } ts_log_level;
void ts_log_set_level(ts_log_level lvl);
ts_log_level ts_log_get_level(void);
/* Every line from now on names this instance: the first 8 characters of
 * `id` (its uuid), after the level ("-" before). Once per process. */
void ts_log_set_instance(const char *id);
/* Writes "2026-11-22T10:00:00.123Z INFO 1a2b3c4d [reqid] message" (the
 * instance tag, see ts_log_set_instance) to stderr; reqid
 * may be NULL. Control characters (C0 with CR and LF, DEL, C1), invalid
 * UTF-8 and backslashes in reqid and message are escaped (\n \r \t \\ or
 * \xHH), so one event stays one line without terminal sequences, whatever
 * text a client got into it. */
void ts_log(ts_log_level lvl, const char *reqid, const char *fmt, ...) TS_PRINTF(3, 4);

#endif
