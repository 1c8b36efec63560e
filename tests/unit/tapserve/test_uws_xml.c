/* UWS documents: every append is checked. Each document is built once with
 * room to spare, then with every smaller cap: each of those must fail with
 * a 500 (never TS_OK with a truncated document) having written only a
 * start of the document (no append after a failed one), and the exact size
 * must give the same bytes. */
#include "jobs/jobs.h"
#include "tapserve/uws/uws.h"
#include "test_list.h"
#include "ts_test.h"

#include <libxml/parser.h>
#include <stdlib.h>
#include <string.h>

static const jobs_param params[] = {
    {"lang", "ADQL"}, {"query", "SELECT \"a\" FROM t WHERE s < 'x&y'"}, {"responseformat", "csv"}};
static const jobs_result_info results[] = {{"result", "fs", "/x", 3, 10, 20, 0}};

static void fill_job(jobs_job *j, jobs_phase phase)
{
  memset(j, 0, sizeof *j);
  snprintf(j->id, sizeof j->id, "0123456789abcdef0123456789abcdef");
  j->run_id = "run <1>";
  j->phase = phase;
  j->creation_ms = 1764000000123;
  j->start_ms = 1764000001000;
  j->end_ms = 1764000002500;
  j->execution_duration = 3600;
  j->destruction_ms = 1764600000000;
  j->nparams = TS_ARRAY_LEN(params);
  j->params = params;
  j->nresults = TS_ARRAY_LEN(results);
  j->results = results;
  if (phase == JOBS_ERROR) {
    j->error_summary = "division by zero";
    j->error_type = "fatal";
  }
}

/* Builds one document (sub NULL: the job list of both jobs; "*full": the
 * TAP+ list of both, whole) into b. */
static ts_err build(ts_buf *b, const cfg *c, const jobs_job *js, const char *sub, ts_error *e)
{
  const char *ctype = NULL;
  ts_error_clear(e);
  if (!sub)
    return uws_doc_jobs(b, c, js, 2, e);
  if (!strcmp(sub, "*full"))
    return uws_doc_jobs_full(b, c, js, 2, e);
  return uws_doc_job(b, c, &js[0], sub, &ctype, e);
}

static int check_caps(const cfg *c, const jobs_job *js, const char *sub, int xml)
{
  ts_buf full, b;
  ts_error e;
  ts_buf_init(&full, UWS_DOC_MAX);
  TS_CHECK_EQ_INT(build(&full, c, js, sub, &e), TS_OK);
  TS_CHECK(full.len > 0);
  if (xml) {
    xmlDocPtr d = xmlReadMemory(full.data, (int)full.len, "uws.xml", NULL, XML_PARSE_NONET);
    TS_CHECK(d != NULL);
    xmlFreeDoc(d);
  }
  for (size_t cap = 1; cap < full.len; cap++) {
    ts_buf_init(&b, cap);
    ts_err rc = build(&b, c, js, sub, &e);
    if (rc != TS_EINTERNAL || e.code != TS_EINTERNAL || ts_err_http(e.code) != 500) {
      fprintf(stderr, "# %s: cap %zu of %zu: rc %s\n", sub ? sub : "(list)", cap, full.len,
              ts_err_name(rc));
      TS_CHECK(0);
    }
    /* The build stopped at the first append that did not fit: what it
     * wrote is the start of the document. An append made after a failed
     * one would leave a gap, and the bytes would differ from the full
     * document's (the total alone cannot tell, the gap makes room). */
    if (b.len > 0 && memcmp(b.data, full.data, b.len)) {
      fprintf(stderr,
              "# %s: cap %zu of %zu: %zu bytes written differ from the document's start"
              " (an append after a failed one)\n",
              sub ? sub : "(list)", cap, full.len, b.len);
      TS_CHECK(0);
    }
    ts_buf_free(&b);
  }
  ts_buf_init(&b, full.len);
  TS_CHECK_EQ_INT(build(&b, c, js, sub, &e), TS_OK);
  TS_CHECK(b.len == full.len && !memcmp(b.data, full.data, full.len));
  ts_buf_free(&b);
  ts_buf_free(&full);
  return 0;
}

int test_uws_doc_caps(void)
{
  cfg c;
  ts_error e;
  jobs_job js[2];
  static const char *const xml_subs[] = {"", "parameters", "results"};
  static const char *const text_subs[] = {"executionduration", "destruction", "owner", "runid"};
  cfg_defaults(&c);
  TS_CHECK_EQ_INT(cfg_finish(&c, &e), TS_OK);
  fill_job(&js[0], JOBS_COMPLETED);
  js[0].owner = "me & you";
  fill_job(&js[1], JOBS_QUEUED);
  js[1].run_id = NULL;
  js[1].owner = "someone";
  TS_CHECK(check_caps(&c, js, NULL, 1) == 0);
  TS_CHECK(check_caps(&c, js, "*full", 1) == 0);
  for (size_t i = 0; i < TS_ARRAY_LEN(xml_subs); i++)
    TS_CHECK(check_caps(&c, js, xml_subs[i], 1) == 0);
  for (size_t i = 0; i < TS_ARRAY_LEN(text_subs); i++)
    TS_CHECK(check_caps(&c, js, text_subs[i], 0) == 0);
  fill_job(&js[0], JOBS_ERROR);
  TS_CHECK(check_caps(&c, js, "", 1) == 0);
  TS_CHECK(check_caps(&c, js, "error", 1) == 0);
  /* Not-found cases stay 404s. */
  ts_buf b;
  const char *ctype;
  ts_buf_init(&b, UWS_DOC_MAX);
  TS_CHECK_EQ_INT(uws_doc_job(&b, &c, &js[1], "error", &ctype, &e), TS_ENOTFOUND);
  TS_CHECK_EQ_INT(uws_doc_job(&b, &c, &js[1], "nosuch", &ctype, &e), TS_ENOTFOUND);
  ts_buf_free(&b);
  /* A QUEUED job's queue position goes into jobInfo, last in uws:job;
   * every cap again. */
  js[0] = js[1];
  js[0].queue_position = 17;
  TS_CHECK(check_caps(&c, js, "", 1) == 0);
  ts_buf_init(&b, UWS_DOC_MAX);
  TS_CHECK_EQ_INT(uws_doc_job(&b, &c, &js[0], "", &ctype, &e), TS_OK);
  TS_CHECK(strstr(b.data, "  <uws:jobInfo>\n    <queuePosition>17</queuePosition>\n"
                          "  </uws:jobInfo>\n</uws:job>\n") != NULL);
  ts_buf_free(&b);
  /* A COMPLETED job's result size goes there too. */
  fill_job(&js[0], JOBS_COMPLETED);
  ts_buf_init(&b, UWS_DOC_MAX);
  TS_CHECK_EQ_INT(uws_doc_job(&b, &c, &js[0], "", &ctype, &e), TS_OK);
  char want[160];
  snprintf(want, sizeof want,
           "  <uws:jobInfo>\n    <rows>%lld</rows>\n    <overflow>%s</overflow>\n"
           "    <storedBytes>%lld</storedBytes>\n  </uws:jobInfo>\n</uws:job>\n",
           (long long)results[0].rows, results[0].overflow ? "true" : "false",
           (long long)results[0].bytes);
  TS_CHECK(strstr(b.data, want) != NULL);
  ts_buf_free(&b);
  cfg_free(&c);
  return 0;
}
