/* Fetching uploads by URL with libcurl (see fetch.h and
 * docs/internals/http.md, "Fetching uploads"). One easy handle per fetch,
 * blocking, on the caller's thread. */
#include "http/fetch_int.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

enum {
  FETCH_CONNECT_TIMEOUT_MS = 10000, /* the connect phase, within timeout_ms */
  FETCH_URL_MAX = 8192,             /* longer URLs are refused */
  FETCH_URL_SHOWN = 160,            /* bytes of a URL quoted in a message */
  FETCH_CT_MAX = 256,               /* longer Content-Types are cut */
};
#define FETCH_USER_AGENT "tapserve/1.0 (TAP upload fetch)"
#define FETCH_PROTOCOLS  "http,https"

typedef struct fetch_ctx {
  CURL *curl;
  uint64_t max_bytes;
  uint32_t refuse;
  int fd;
  uint64_t written;
  http__fetch_head head; /* the response whose headers are arriving */
  /* set by a callback that stopped the transfer */
  ts_err fail;
  char why[200];
  /* the last address refused at connect time, and the URL of that hop */
  char refused[160];
  char hop[FETCH_URL_SHOWN + 8]; /* "" on the first hop */
} fetch_ctx;

static pthread_once_t init_once = PTHREAD_ONCE_INIT;
static CURLcode init_rc = CURLE_FAILED_INIT;

static void init_curl(void)
{
  init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

ts_err http_fetch_init(void)
{
  pthread_once(&init_once, init_curl);
  return init_rc == CURLE_OK ? TS_OK : TS_EINTERNAL;
}

/* `url` for a message: without user and password, at most FETCH_URL_SHOWN
 * bytes ("..." marks a cut). */
static void show_url(const char *url, char *out, size_t n)
{
  CURLU *u = curl_url();
  char *clean = NULL;
  if (u && !curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME)) {
    curl_url_set(u, CURLUPART_USER, NULL, 0);
    curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
    if (curl_url_get(u, CURLUPART_URL, &clean, 0))
      clean = NULL;
  }
  const char *s = clean ? clean : url;
  size_t len = strlen(s), cut = n - 4 < FETCH_URL_SHOWN ? n - 4 : FETCH_URL_SHOWN;
  if (len > cut)
    snprintf(out, n, "%.*s...", (int)cut, s);
  else
    snprintf(out, n, "%s", s);
  for (char *p = out; *p; p++)
    if ((unsigned char)*p < 0x20 || *p == 0x7f)
      *p = '?';
  curl_free(clean);
  curl_url_cleanup(u);
}

static void stop(fetch_ctx *c, ts_err code, const char *why)
{
  if (c->fail)
    return;
  c->fail = code;
  snprintf(c->why, sizeof c->why, "%s", why);
}

/* Connect-time check of every address of every hop: the address checked is
 * the one connected to, so a name that resolves differently between a check
 * and the connection (DNS rebinding) cannot get past it. */
static curl_socket_t fetch_opensocket(void *ud, curlsocktype purpose, struct curl_sockaddr *addr)
{
  fetch_ctx *c = ud;
  char ip[INET6_ADDRSTRLEN] = "?";
  const char *name = NULL;
  socklen_t need = addr->family == AF_INET    ? (socklen_t)sizeof(struct sockaddr_in)
                   : addr->family == AF_INET6 ? (socklen_t)sizeof(struct sockaddr_in6)
                                              : 0;
  if (need && addr->addrlen >= need) {
    int row = http__addr_class(&addr->addr, addr->addrlen);
    if (row >= 0 && (c->refuse & (1u << row)))
      name = http__addr_class_name(row);
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    memcpy(&ss, &addr->addr, addr->addrlen < sizeof ss ? addr->addrlen : sizeof ss);
    const void *bytes = addr->family == AF_INET
                            ? (const void *)&((struct sockaddr_in *)&ss)->sin_addr
                            : (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr;
    inet_ntop(addr->family, bytes, ip, sizeof ip);
  } else {
    name = "not an internet address";
  }
  if (purpose != CURLSOCKTYPE_IPCXN)
    name = "not an outgoing connection";
  if (name) {
    char *url = NULL;
    snprintf(c->refused, sizeof c->refused, "address %s is %s", ip, name);
    long redirects = 0;
    c->hop[0] = '\0';
    if (curl_easy_getinfo(c->curl, CURLINFO_REDIRECT_COUNT, &redirects) == CURLE_OK &&
        redirects > 0 && curl_easy_getinfo(c->curl, CURLINFO_EFFECTIVE_URL, &url) == CURLE_OK &&
        url)
      show_url(url, c->hop, sizeof c->hop);
    return CURL_SOCKET_BAD;
  }
  c->refused[0] = '\0'; /* an earlier refusal does not explain what follows */
  return socket(addr->family, addr->socktype | SOCK_CLOEXEC, addr->protocol);
}

static int header_is(const char *line, size_t n, const char *name)
{
  size_t k = strlen(name);
  return n > k && line[k] == ':' && strncasecmp(line, name, k) == 0;
}

/* The value of a header line, without blanks around it and the line end.
 * 0 (and "") when it does not fit in cap. */
static int header_value(const char *line, size_t n, size_t name_len, char *out, size_t cap)
{
  size_t i = name_len + 1, j = n;
  while (i < n && (line[i] == ' ' || line[i] == '\t'))
    i++;
  while (j > i &&
         (line[j - 1] == '\r' || line[j - 1] == '\n' || line[j - 1] == ' ' || line[j - 1] == '\t'))
    j--;
  out[0] = '\0';
  if (j - i >= cap)
    return 0;
  memcpy(out, line + i, j - i);
  out[j - i] = '\0';
  return 1;
}

/* 1*DIGIT, the whole string, into *v; 0 when it is not one or overflows. */
static int parse_count(const char *s, uint64_t *v)
{
  uint64_t x = 0;
  if (!*s)
    return 0;
  for (; *s; s++) {
    uint64_t d = (uint64_t)(*s - '0');
    if (*s < '0' || *s > '9' || x > (UINT64_MAX - d) / 10)
      return 0;
    x = x * 10 + d;
  }
  *v = x;
  return 1;
}

int http__fetch_head_line(http__fetch_head *h, const char *line, size_t n, uint64_t max_bytes)
{
  char v[64];
  uint64_t x;
  if (n >= 5 && !memcmp(line, "HTTP/", 5)) {
    const char *sp = memchr(line, ' ', n);
    size_t at = sp ? (size_t)(sp - line) + 1 : n;
    h->status = 0;
    for (size_t i = at; i < n && i < at + 3 && line[i] >= '0' && line[i] <= '9'; i++)
      h->status = h->status * 10 + (line[i] - '0');
    h->identity = 1;
    h->announced = UINT64_MAX;
  } else if (header_is(line, n, "content-length")) {
    if (header_value(line, n, 14, v, sizeof v) && parse_count(v, &x))
      h->announced = x;
  } else if (header_is(line, n, "content-encoding")) {
    h->identity = header_value(line, n, 16, v, sizeof v) && (!*v || !strcasecmp(v, "identity"));
  } else if ((n == 2 && line[0] == '\r' && line[1] == '\n') || (n == 1 && line[0] == '\n')) {
    return h->status >= 200 && h->status < 300 && h->identity && h->announced != UINT64_MAX &&
           h->announced > max_bytes;
  }
  return 0;
}

/* Headers, one line per call, for every response of the transfer. A body
 * announced larger than the limit (without Content-Encoding: the announced
 * length is then the decoded one) is refused before any of it is read. */
static size_t fetch_header(char *line, size_t size, size_t nitems, void *ud)
{
  fetch_ctx *c = ud;
  size_t n = size * nitems;
  if (http__fetch_head_line(&c->head, line, n, c->max_bytes)) {
    char why[160];
    snprintf(why, sizeof why,
             "the server announces %" PRIu64 " bytes, more than the upload limit of %" PRIu64
             " bytes",
             c->head.announced, c->max_bytes);
    stop(c, TS_ELIMIT, why);
    return 0;
  }
  return n;
}

/* The decoded body: counted against the limit, written at its offset. */
static size_t fetch_write(char *p, size_t size, size_t nmemb, void *ud)
{
  fetch_ctx *c = ud;
  size_t n = size * nmemb, done = 0;
  if (n > c->max_bytes - c->written) {
    char why[160];
    snprintf(why, sizeof why, "the body is larger than the upload limit of %" PRIu64 " bytes",
             c->max_bytes);
    stop(c, TS_ELIMIT, why);
    return 0;
  }
  while (done < n) {
    ssize_t w = pwrite(c->fd, p + done, n - done, (off_t)(c->written + done));
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0) {
      char why[160];
      snprintf(why, sizeof why, "cannot write the upload to its temporary file: %s",
               w < 0 ? strerror(errno) : "no space");
      stop(c, TS_EIO, why);
      return 0;
    }
    done += (size_t)w;
  }
  c->written += n;
  return n;
}

/* Parses and vets the URL the client gave; on success *out is the parsed
 * URL for CURLOPT_CURLU. */
static ts_err vet_url(const char *url, const char *shown, CURLU **out, ts_error *err)
{
  CURLU *u = NULL;
  char *scheme = NULL, *user = NULL, *password = NULL, *host = NULL;
  ts_err rc = TS_OK;
  if (strlen(url) > FETCH_URL_MAX) {
    rc = ts_fail(err, TS_EINVAL, 0, "upload URL %s: longer than %d bytes", shown, FETCH_URL_MAX);
    goto out;
  }
  u = curl_url();
  if (!u) {
    rc = ts_fail(err, TS_ENOMEM, 0, "upload URL %s: out of memory", shown);
    goto out;
  }
  if (curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME) ||
      curl_url_get(u, CURLUPART_SCHEME, &scheme, 0)) {
    rc = ts_fail(err, TS_EINVAL, 0, "upload URL %s: not a valid absolute URL", shown);
    goto out;
  }
  if (strcmp(scheme, "http") != 0 && strcmp(scheme, "https") != 0) {
    rc = ts_fail(err, TS_EINVAL, 0, "upload URL %s: scheme %s is not allowed (http or https only)",
                 shown, scheme);
    goto out;
  }
  if (curl_url_get(u, CURLUPART_HOST, &host, 0)) {
    rc = ts_fail(err, TS_EINVAL, 0, "upload URL %s: no host", shown);
    goto out;
  }
  if (!curl_url_get(u, CURLUPART_USER, &user, 0) ||
      !curl_url_get(u, CURLUPART_PASSWORD, &password, 0)) {
    rc = ts_fail(err, TS_EINVAL, 0,
                 "upload URL %s: credentials in the URL (user:password@%s) are refused", shown,
                 host);
    goto out;
  }
  *out = u;
  u = NULL;
out:
  curl_free(scheme);
  curl_free(user);
  curl_free(password);
  curl_free(host);
  curl_url_cleanup(u);
  return rc;
}

/* The outcome of curl_easy_perform as a ts_err with its message. */
static ts_err fetch_result(fetch_ctx *c, CURLcode cc, const char *shown, const char *errbuf,
                           int max_redirects, uint64_t timeout_ms, ts_error *err)
{
  long status = 0;
  if (c->fail)
    return ts_fail(err, c->fail, 0, "upload URL %s: %s", shown, c->why);
  switch (cc) {
  case CURLE_OK:
    return TS_OK;
  case CURLE_COULDNT_CONNECT:
    if (!c->refused[0])
      break;
    if (c->hop[0])
      return ts_fail(err, TS_EINVAL, 0, "upload URL %s: redirected to %s: %s; refused", shown,
                     c->hop, c->refused);
    return ts_fail(err, TS_EINVAL, 0, "upload URL %s: %s; refused", shown, c->refused);
  case CURLE_OPERATION_TIMEDOUT: /* the whole transfer, or one connection (libcurl says which) */
    return ts_fail(err, TS_ETIMEOUT, 0, "upload URL %s: not fetched within %" PRIu64 " ms (%s)",
                   shown, timeout_ms, errbuf[0] ? errbuf : "timeout");
  case CURLE_TOO_MANY_REDIRECTS:
    return ts_fail(err, TS_EINVAL, 0, "upload URL %s: more than %d redirects", shown,
                   max_redirects);
  case CURLE_UNSUPPORTED_PROTOCOL:
    return ts_fail(err, TS_EINVAL, 0,
                   "upload URL %s: redirected to a scheme other than http or https", shown);
  case CURLE_URL_MALFORMAT:
    return ts_fail(err, TS_EINVAL, 0, "upload URL %s: malformed URL (%s)", shown, errbuf);
  case CURLE_HTTP_RETURNED_ERROR:
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &status);
    return ts_fail(err, TS_EIO, 0, "upload URL %s: the server answered HTTP status %ld", shown,
                   status);
  case CURLE_OUT_OF_MEMORY:
    return ts_fail(err, TS_ENOMEM, 0, "upload URL %s: out of memory", shown);
  default:
    break;
  }
  return ts_fail(err, TS_EIO, 0, "upload URL %s: %s", shown,
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
}

static ts_err fetch_setopts(CURL *h, CURLU *u, fetch_ctx *c, const http_fetch_opts *o, char *errbuf)
{
  uint64_t connect_ms =
      o->timeout_ms < FETCH_CONNECT_TIMEOUT_MS ? o->timeout_ms : FETCH_CONNECT_TIMEOUT_MS;
  long redirs = o->max_redirects < 0 ? 0 : o->max_redirects;
  CURLcode cc = CURLE_OK;
#define SET(opt, val)                                                                              \
  do {                                                                                             \
    if (!cc)                                                                                       \
      cc = curl_easy_setopt(h, opt, val);                                                          \
  } while (0)
  SET(CURLOPT_CURLU, u);
  SET(CURLOPT_PROTOCOLS_STR, FETCH_PROTOCOLS);
  SET(CURLOPT_REDIR_PROTOCOLS_STR, FETCH_PROTOCOLS);
  SET(CURLOPT_FOLLOWLOCATION, 1L);
  SET(CURLOPT_MAXREDIRS, redirs);
  SET(CURLOPT_NOSIGNAL, 1L);
  SET(CURLOPT_PROXY, "");                       /* no proxy from the environment */
  SET(CURLOPT_NETRC, (long)CURL_NETRC_IGNORED); /* no ~/.netrc */
  SET(CURLOPT_USERAGENT, FETCH_USER_AGENT);
  SET(CURLOPT_ACCEPT_ENCODING, "gzip, deflate");
  SET(CURLOPT_FAILONERROR, 1L);
  SET(CURLOPT_TIMEOUT_MS, (long)(o->timeout_ms > LONG_MAX ? LONG_MAX : o->timeout_ms));
  SET(CURLOPT_CONNECTTIMEOUT_MS, (long)connect_ms);
  SET(CURLOPT_OPENSOCKETFUNCTION, fetch_opensocket);
  SET(CURLOPT_OPENSOCKETDATA, c);
  SET(CURLOPT_HEADERFUNCTION, fetch_header);
  SET(CURLOPT_HEADERDATA, c);
  SET(CURLOPT_WRITEFUNCTION, fetch_write);
  SET(CURLOPT_WRITEDATA, c);
  SET(CURLOPT_ERRORBUFFER, errbuf);
  if (o->ca_file)
    SET(CURLOPT_CAINFO, o->ca_file);
#undef SET
  return cc ? TS_EINTERNAL : TS_OK;
}

ts_err http__fetch(const char *url, const http_fetch_opts *o, uint32_t refuse, int fd, ts_arena *a,
                   const char **content_type, uint64_t *size, ts_error *err)
{
  char shown[FETCH_URL_SHOWN + 8], errbuf[CURL_ERROR_SIZE] = "";
  fetch_ctx c;
  CURLU *u = NULL;
  CURL *h = NULL;
  char *ct = NULL;
  ts_err rc;
  *content_type = NULL;
  *size = 0;
  memset(&c, 0, sizeof c);
  show_url(url, shown, sizeof shown);
  if (!o->max_bytes || !o->timeout_ms) {
    rc = ts_fail(err, TS_EINTERNAL, 0, "upload URL %s: no size or time limit set", shown);
    goto out;
  }
  rc = http_fetch_init();
  if (rc) {
    ts_fail(err, rc, 0, "upload URL %s: libcurl failed to initialise", shown);
    goto out;
  }
  rc = vet_url(url, shown, &u, err);
  if (rc)
    goto out;
  if (ftruncate(fd, 0) != 0) {
    rc = ts_fail(err, TS_EIO, 0, "upload URL %s: cannot truncate the temporary file: %s", shown,
                 strerror(errno));
    goto out;
  }
  h = curl_easy_init();
  if (!h) {
    rc = ts_fail(err, TS_ENOMEM, 0, "upload URL %s: out of memory", shown);
    goto out;
  }
  c.curl = h;
  c.max_bytes = o->max_bytes;
  c.refuse = refuse;
  c.fd = fd;
  c.head.announced = UINT64_MAX;
  rc = fetch_setopts(h, u, &c, o, errbuf);
  if (rc) {
    ts_fail(err, rc, 0, "upload URL %s: libcurl refused an option", shown);
    goto out;
  }
  rc = fetch_result(&c, curl_easy_perform(h), shown, errbuf, o->max_redirects, o->timeout_ms, err);
  if (rc)
    goto out;
  if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct) {
    *content_type = ts_arena_strndup(a, ct, strnlen(ct, FETCH_CT_MAX));
    if (!*content_type) {
      rc = ts_fail(err, TS_ENOMEM, 0, "upload URL %s: out of memory", shown);
      goto out;
    }
  }
  *size = c.written;
out:
  /* nothing half-written: a failed fetch leaves an empty file (a truncation
   * that fails too keeps the first error, which says what went wrong) */
  if (rc && c.written && ftruncate(fd, 0) != 0)
    c.written = 0;
  curl_easy_cleanup(h);
  curl_url_cleanup(u);
  return rc;
}

ts_err http_fetch(const char *url, const http_fetch_opts *o, int fd, ts_arena *a,
                  const char **content_type, uint64_t *size, ts_error *err)
{
  return http__fetch(url, o, o->allow_private ? 0 : HTTP__ADDR_REFUSE_ALL, fd, a, content_type,
                     size, err);
}
