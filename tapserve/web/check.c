/* tapserve/web/check.c: POST {tap}/web/check, the page's "check" button.
 * The query goes through tap_prepare_query, the one path /sync and async
 * jobs take (parser, checker against the current TAP_SCHEMA snapshot,
 * translation), so the page can never accept what /sync refuses or the
 * other way round; nothing runs in the database. */
#include "tapserve/tapserve.h"
#include "tapserve/web/web_int.h"

#include <stdio.h>
#include <string.h>

enum { WEB_CHECK_DOC_MAX = 4096 }; /* a message of at most 512 bytes, escaped */

int web__suggestion(const char *msg, char *out, size_t cap)
{
  static const char intro[] = "(did you mean \"";
  const char *p = NULL, *end;
  /* The last one: the checker's own comes at the end of the message, and
   * a name the user wrote may hold the same words. */
  for (const char *q = strstr(msg, intro); q; q = strstr(q + 1, intro))
    p = q;
  out[0] = 0;
  if (!p)
    return 0;
  p += sizeof intro - 1;
  end = strstr(p, "\"?)");
  if (!end || end == p || (size_t)(end - p) >= cap)
    return 0;
  memcpy(out, p, (size_t)(end - p));
  out[end - p] = 0;
  return 1;
}

/* tap_prepare_query puts the position into ADQL messages the way DALI
 * clients show them ("ADQL error at line 2, column 5: ..."); the page
 * marks the position itself, so it shows the checker's sentence alone. */
static const char *bare_message(const char *msg)
{
  static const char at[] = "ADQL error at line ", plain[] = "ADQL error: ";
  const char *colon;
  if (!strncmp(msg, plain, sizeof plain - 1))
    return msg + sizeof plain - 1;
  if (strncmp(msg, at, sizeof at - 1))
    return msg;
  colon = strstr(msg, ": ");
  return colon ? colon + 2 : msg;
}

ts_err web__check_json(ts_buf *b, const char *query, const ts_error *err)
{
  ts_error e;
  char sugg[256];
  ts_err rc;
  if (!err)
    return ts_buf_puts(b, "{\"ok\":true}");
  e = *err;
  e.line = e.col = 0;
  if (e.pos > 0 && query)
    ts_error_set_linecol(&e, query, strlen(query));
  rc = ts_buf_printf(b, "{\"ok\":false,\"line\":%d,\"column\":%d,\"message\":", e.line, e.col);
  if (!rc)
    rc = jobs_json_str(b, bare_message(e.msg));
  if (!rc)
    rc = ts_buf_puts(b, ",\"suggestion\":");
  if (!rc)
    rc =
        web__suggestion(e.msg, sugg, sizeof sugg) ? jobs_json_str(b, sugg) : ts_buf_puts(b, "null");
  if (!rc)
    rc = ts_buf_puts(b, "}");
  return rc;
}

void web_check(ts_app *app, http_request *req)
{
  tap_params cp = {NULL, 0};
  tap_query tq;
  ts_error err;
  ts_buf b;
  int status = 200;
  ts_err rc;

  ts_error_clear(&err);
  ts_buf_init(&b, WEB_CHECK_DOC_MAX);
  rc = http_request_params(req, &cp.all, &cp.n, &err);
  if (!rc)
    rc = tap_check_single_valued(cp.all, cp.n, &err);
  if (!rc && !tap_request_param(&cp, "lang")) {
    /* The page's form always sends LANG; a bare QUERY means ADQL. */
    static const http_param lang = {"LANG", "ADQL"};
    http_param *more = ts_arena_calloc(req->arena, cp.n + 1, sizeof *more);
    if (!more) {
      rc = ts_fail(&err, TS_ENOMEM, 0, "out of memory");
    } else {
      if (cp.n)
        memcpy(more, cp.all, cp.n * sizeof *more);
      more[cp.n++] = lang;
      cp.all = more;
    }
  }
  if (!rc) {
    rc = tap_prepare_query(app, tap_request_param, &cp, NULL, req->arena, &tq, &err);
    if (rc && rc != TS_EADQL)
      status = ts_err_http(rc);
  } else {
    status = ts_err_http(rc);
  }
  if (web__check_json(&b, tap_request_param(&cp, "query"), rc ? &err : NULL)) {
    ts_fail(&err, TS_EINTERNAL, 0, "cannot build the check answer");
    tap_send_error(req, &err);
  } else {
    web__send_json(req, status, &b);
  }
  ts_buf_free(&b);
}
