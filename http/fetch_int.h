/* http/fetch_int.h: internals of the upload fetcher, for http/ and its
 * unit tests: the address classifier and a fetch with a per-range refusal
 * mask. */
#ifndef HTTP_FETCH_INT_H
#define HTTP_FETCH_INT_H

#include "http/fetch.h"

#include <stdint.h>
#include <sys/socket.h>

/* Row index in the table of non-public address ranges (fetch_addr.c) of the
 * range `sa` lies in, or -1 for a public address. IPv6 forms that embed an
 * IPv4 address (IPv4-mapped ::ffff:0:0/96, IPv4-compatible ::/96, NAT64
 * 64:ff9b::/96, 6to4 2002::/16) give the row of the embedded address. -1
 * also for families other than AF_INET and AF_INET6 and short lengths. */
int http__addr_class(const struct sockaddr *sa, socklen_t len);
/* The row's class, for messages: "loopback", "private", ... */
const char *http__addr_class_name(int row);
/* The row's range in CIDR notation ("127.0.0.0/8"). */
const char *http__addr_class_range(int row);
/* Number of rows; every row has bit (1u << row) in a refusal mask. */
int http__addr_class_count(void);
/* The mask that refuses every row. */
#define HTTP__ADDR_REFUSE_ALL ((uint32_t)((1ull << http__addr_class_count()) - 1))

/* What the header lines of the response being received said. */
typedef struct http__fetch_head {
  int status;         /* from the status line; 0 when unreadable */
  int identity;       /* no Content-Encoding (or "identity") */
  uint64_t announced; /* Content-Length; UINT64_MAX when absent (start with it) */
} http__fetch_head;
/* Feeds one header line as libcurl hands them (the status line of each
 * response, its fields, the blank line that ends them; `line` is not
 * NUL-terminated). Returns 1 at the blank line ending a 2xx response that
 * announces an unencoded body longer than max_bytes, 0 otherwise. */
int http__fetch_head_line(http__fetch_head *h, const char *line, size_t n, uint64_t max_bytes);

/* http_fetch with the refusal decided per row: an address whose row's bit
 * is set in `refuse` is refused at connect time. http_fetch passes 0 when
 * o->allow_private, HTTP__ADDR_REFUSE_ALL otherwise (o->allow_private is
 * not read here). */
ts_err http__fetch(const char *url, const http_fetch_opts *o, uint32_t refuse, int fd, ts_arena *a,
                   const char **content_type, uint64_t *size, ts_error *err);

#endif
