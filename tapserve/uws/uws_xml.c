/* UWS 1.1 documents: the job list, the job, and the job's sub-resources
 * (XML or plain text). Every append is checked: a document that does not
 * fit its buffer is an error for the request, never a truncated answer. */
#include "jobs/jobs.h"
#include "tapserve/uws/uws.h"

#include <stdio.h>
#include <string.h>

#define XML_DECL "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
#define UWS_NS                                                                                     \
  " xmlns:uws=\"http://www.ivoa.net/xml/UWS/v1.0\" xmlns:xlink=\"http://www.w3.org/1999/xlink\""   \
  " xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\""

void uws_iso8601(char out[32], int64_t ms)
{
  ts_iso8601(out, ms, ms % 1000 != 0);
}

static ts_err xml_escaped(ts_buf *b, const char *v)
{
  return ts_buf_xml(b, v, strlen(v));
}

/* <uws:tag>v</uws:tag>, or xsi:nil when v is NULL; `indent` before it. */
static ts_err xml_text(ts_buf *b, const char *indent, const char *tag, const char *v)
{
  ts_err rc;
  if (!v)
    return ts_buf_printf(b, "%s<uws:%s xsi:nil=\"true\"/>\n", indent, tag);
  rc = ts_buf_printf(b, "%s<uws:%s>", indent, tag);
  if (!rc)
    rc = xml_escaped(b, v);
  if (!rc)
    rc = ts_buf_printf(b, "</uws:%s>\n", tag);
  return rc;
}

static ts_err xml_time(ts_buf *b, const char *indent, const char *tag, int64_t ms)
{
  char t[32];
  if (!ms)
    return xml_text(b, indent, tag, NULL);
  uws_iso8601(t, ms);
  return xml_text(b, indent, tag, t);
}

/* <uws:parameters>: inside the job (`root` 0), or as a document of its own
 * with the namespace declarations (`root` 1). */
static ts_err xml_params(ts_buf *b, const jobs_job *j, int root)
{
  const char *in = root ? "" : "  ";
  ts_err rc = root ? ts_buf_puts(b, XML_DECL "<uws:parameters" UWS_NS ">\n")
                   : ts_buf_puts(b, "  <uws:parameters>\n");
  for (size_t i = 0; !rc && i < j->nparams; i++) {
    rc = ts_buf_printf(b, "%s  <uws:parameter id=\"", in);
    if (!rc)
      rc = xml_escaped(b, j->params[i].name);
    if (!rc)
      rc = ts_buf_puts(b, "\">");
    if (!rc)
      rc = xml_escaped(b, j->params[i].value);
    if (!rc)
      rc = ts_buf_puts(b, "</uws:parameter>\n");
  }
  if (!rc)
    rc = ts_buf_printf(b, "%s</uws:parameters>\n", in);
  return rc;
}

/* <uws:results>, like xml_params. A completed job's results carry the MIME
 * type of the format the job asked for. */
static ts_err xml_results(ts_buf *b, const cfg *c, const jobs_job *j, int root)
{
  const char *in = root ? "" : "  ";
  ts_err rc = root ? ts_buf_puts(b, XML_DECL "<uws:results" UWS_NS ">\n")
                   : ts_buf_puts(b, "  <uws:results>\n");
  for (size_t i = 0; !rc && j->phase == JOBS_COMPLETED && i < j->nresults; i++) {
    const char *rf = jobs_param_get(j, "responseformat");
    const fmt_type *f;
    if (!rf || !*rf)
      rf = jobs_param_get(j, "format");
    f = rf && *rf ? fmt_lookup(rf) : fmt_default();
    if (!f)
      f = fmt_default();
    rc = ts_buf_printf(b, "%s  <uws:result id=\"", in);
    if (!rc)
      rc = xml_escaped(b, j->results[i].name);
    if (!rc)
      rc = ts_buf_puts(b, "\" xlink:type=\"simple\" xlink:href=\"");
    if (!rc)
      rc = xml_escaped(b, c->base_url);
    if (!rc)
      rc = ts_buf_printf(b, "/async/%s/results/", j->id);
    if (!rc)
      rc = xml_escaped(b, j->results[i].name);
    if (!rc)
      rc = ts_buf_puts(b, "\" mime-type=\"");
    if (!rc)
      rc = xml_escaped(b, f->mime);
    if (!rc)
      rc = ts_buf_puts(b, "\"/>\n");
  }
  if (!rc)
    rc = ts_buf_printf(b, "%s</uws:results>\n", in);
  return rc;
}

/* One job: a document of its own (`root` 1), or an element of a job list. */
static ts_err xml_job(ts_buf *b, const cfg *c, const jobs_job *j, int root)
{
  ts_err rc = root ? ts_buf_puts(b, XML_DECL "<uws:job" UWS_NS " version=\"1.1\">\n")
                   : ts_buf_puts(b, "<uws:job>\n");
  if (!rc)
    rc = xml_text(b, "  ", "jobId", j->id);
  if (!rc && j->run_id)
    rc = xml_text(b, "  ", "runId", j->run_id);
  if (!rc)
    rc = xml_text(b, "  ", "ownerId", j->owner);
  if (!rc)
    rc = xml_text(b, "  ", "phase", jobs_phase_name(j->phase));
  if (!rc)
    rc = xml_text(b, "  ", "quote", NULL);
  if (!rc)
    rc = xml_time(b, "  ", "creationTime", j->creation_ms);
  if (!rc)
    rc = xml_time(b, "  ", "startTime", j->start_ms);
  if (!rc)
    rc = xml_time(b, "  ", "endTime", j->end_ms);
  if (!rc)
    rc = ts_buf_printf(b, "  <uws:executionDuration>%lld</uws:executionDuration>\n",
                       (long long)j->execution_duration);
  if (!rc)
    rc = xml_time(b, "  ", "destruction", j->destruction_ms);
  if (!rc)
    rc = xml_params(b, j, 0);
  if (!rc)
    rc = xml_results(b, c, j, 0);
  if (!rc && j->phase == JOBS_ERROR) {
    rc = ts_buf_printf(b, "  <uws:errorSummary type=\"%s\" hasDetail=\"true\">\n    <uws:message>",
                       j->error_type ? j->error_type : "fatal");
    if (!rc)
      rc = xml_escaped(b, j->error_summary ? j->error_summary : "the job failed");
    if (!rc)
      rc = ts_buf_puts(b, "</uws:message>\n  </uws:errorSummary>\n");
  }
  /* A QUEUED job's place in the cluster-wide queue (1: claimed next, when
   * a slot frees and the owner's limit allows). UWS's quote is a time,
   * so the position goes into jobInfo (docs/async.md). */
  if (!rc && j->phase == JOBS_QUEUED && j->queue_position > 0)
    rc = ts_buf_printf(b,
                       "  <uws:jobInfo>\n    <queuePosition>%lld</queuePosition>\n"
                       "  </uws:jobInfo>\n",
                       (long long)j->queue_position);
  /* A COMPLETED job's result: its rows (overflow: MAXREC cut it) and the
   * bytes it takes in the result store, for job lists that show them. */
  if (!rc && j->phase == JOBS_COMPLETED && j->nresults > 0)
    rc = ts_buf_printf(b,
                       "  <uws:jobInfo>\n    <rows>%lld</rows>\n    <overflow>%s</overflow>\n"
                       "    <storedBytes>%lld</storedBytes>\n  </uws:jobInfo>\n",
                       (long long)j->results[0].rows, j->results[0].overflow ? "true" : "false",
                       (long long)j->results[0].bytes);
  if (!rc)
    rc = ts_buf_puts(b, "</uws:job>\n");
  return rc;
}

/* An append failed: the document cannot be sent. Past the buffer's cap that
 * is the server's limit, not the client's fault (500); out of memory keeps
 * its 503. */
static ts_err doc_fail(const ts_buf *b, ts_err rc, ts_error *err)
{
  if (rc == TS_ENOMEM)
    return ts_fail(err, TS_ENOMEM, 0, "out of memory building the UWS document");
  return ts_fail(err, TS_EINTERNAL, 0, "the UWS document is larger than the limit of %zu bytes",
                 b->max);
}

ts_err uws_doc_jobs(ts_buf *b, const cfg *c, const jobs_job *js, size_t n, ts_error *err)
{
  ts_err rc = ts_buf_puts(b, XML_DECL "<uws:jobs" UWS_NS " version=\"1.1\">\n");
  for (size_t i = 0; !rc && i < n; i++) {
    const jobs_job *j = &js[i];
    char t[32];
    rc = ts_buf_printf(b, "  <uws:jobref id=\"%s\" xlink:type=\"simple\" xlink:href=\"", j->id);
    if (!rc)
      rc = xml_escaped(b, c->base_url);
    if (!rc)
      rc = ts_buf_printf(b, "/async/%s\">\n", j->id);
    if (!rc)
      rc = xml_text(b, "    ", "phase", jobs_phase_name(j->phase));
    if (!rc && j->run_id)
      rc = xml_text(b, "    ", "runId", j->run_id);
    if (!rc)
      rc = xml_text(b, "    ", "ownerId", j->owner);
    uws_iso8601(t, j->creation_ms);
    if (!rc)
      rc = xml_text(b, "    ", "creationTime", t);
    if (!rc)
      rc = ts_buf_puts(b, "  </uws:jobref>\n");
  }
  if (!rc)
    rc = ts_buf_puts(b, "</uws:jobs>\n");
  return rc ? doc_fail(b, rc, err) : TS_OK;
}

ts_err uws_doc_jobs_full(ts_buf *b, const cfg *c, const jobs_job *js, size_t n, ts_error *err)
{
  ts_err rc = ts_buf_puts(b, XML_DECL "<uws:jobs" UWS_NS " version=\"1.1\">\n");
  for (size_t i = 0; !rc && i < n; i++)
    rc = xml_job(b, c, &js[i], 0);
  if (!rc)
    rc = ts_buf_puts(b, "</uws:jobs>\n");
  return rc ? doc_fail(b, rc, err) : TS_OK;
}

ts_err uws_doc_job(ts_buf *b, const cfg *c, const jobs_job *j, const char *sub, const char **ctype,
                   ts_error *err)
{
  const char *text = NULL; /* a plain-text sub-resource */
  char t[32];
  ts_err rc;

  *ctype = "text/xml; charset=utf-8";
  if (!strcmp(sub, "")) {
    rc = xml_job(b, c, j, 1);
  } else if (!strcmp(sub, "parameters")) {
    rc = xml_params(b, j, 1);
  } else if (!strcmp(sub, "results")) {
    rc = xml_results(b, c, j, 1);
  } else if (!strcmp(sub, "error")) {
    if (j->phase != JOBS_ERROR)
      return ts_fail(err, TS_ENOTFOUND, 0, "job %s has no error (it is %s)", j->id,
                     jobs_phase_name(j->phase));
    *ctype = "application/x-votable+xml";
    rc = fmt_votable_error_doc(b, j->error_summary ? j->error_summary : "the job failed");
  } else {
    if (!strcmp(sub, "executionduration")) {
      snprintf(t, sizeof t, "%lld", (long long)j->execution_duration);
      text = t;
    } else if (!strcmp(sub, "destruction")) {
      uws_iso8601(t, j->destruction_ms);
      text = t;
    } else if (!strcmp(sub, "quote")) {
      text = ""; /* no estimate is made */
    } else if (!strcmp(sub, "owner")) {
      text = j->owner ? j->owner : "";
    } else if (!strcmp(sub, "runid")) {
      text = j->run_id ? j->run_id : "";
    } else {
      return ts_fail(err, TS_ENOTFOUND, 0, "no job resource %s", sub);
    }
    *ctype = "text/plain; charset=utf-8";
    rc = ts_buf_puts(b, text);
  }
  return rc ? doc_fail(b, rc, err) : TS_OK;
}
