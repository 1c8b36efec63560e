/* tapserve/uws/uws.h: UWS 1.1 async jobs (uws.c; WAIT, executors and downloads
 * in uws_wait.c, uws_exec.c, uws_dl.c behind uws_int.h) and their documents
 * (uws_xml.c), prefix uws_. */
#ifndef TS_TAPSERVE_UWS_H
#define TS_TAPSERVE_UWS_H

#include "http/http.h"
#include "tapserve/config.h"

/* Defined in tapserve/tapserve.h: the running service. */
typedef struct ts_app ts_app;

/* ---- UWS async jobs (uws.c) -------------------------------------------- */
/* Migrates schema tapserve, registers this instance, recovers orphaned
 * jobs, starts the executors, the event bus (app->bus) and the
 * maintenance timer (jobs/cluster.h).
 * Blocking; before serving. */
ts_err uws_start(ts_app *app, ts_error *err);
/* Stops executing (own EXECUTING jobs re-queued or failed per on_restart),
 * unregisters the instance and closes every handle; blocking for at most a
 * few hundred milliseconds per executor. */
void uws_stop(ts_app *app);
/* ---- drain (main.c) ----
 * While app->draining is set the executors claim no job; uws_draining
 * publishes it in this instance's row at once (the next heartbeat). */
void uws_draining(ts_app *app);
/* Jobs this instance's executors run now. Any thread. */
int uws_executing(ts_app *app);
/* The executors give their running jobs back to the queue (attempts not
 * counted) within a few hundred milliseconds: the drain's grace is over. */
void uws_give_back(ts_app *app);
/* This instance's uuid ("" before uws_start), and ts_now_ms() of its last
 * heartbeat that reached the database (0 without jobs). Any thread. */
const char *uws_instance(ts_app *app);
int64_t uws_last_heartbeat_ms(ts_app *app);
/* WAIT requests in progress answer now. Loop thread. */
void uws_end_waits(ts_app *app);
/* Frees what uws_start allocated; after the loop has stopped. */
void uws_free(ts_app *app);
/* The UWS resources, reached through the route table (routes.c), which has
 * checked the method and the job id (uws_job_id_ok). Each answers the
 * request completely; 503 when async jobs are not running. sub names a
 * job's sub-resource ("" for the job itself, "phase", "parameters", ...):
 * static text, kept beyond the call. */
void uws_jobs_get(ts_app *app, http_request *req);  /* GET /async: the job list */
void uws_jobs_post(ts_app *app, http_request *req); /* POST /async: a new job */
void uws_job_get(ts_app *app, http_request *req, const char *id, const char *sub);
void uws_job_post(ts_app *app, http_request *req, const char *id, const char *sub);
void uws_job_delete(ts_app *app, http_request *req, const char *id);
void uws_job_result(ts_app *app, http_request *req, const char *id); /* results/result */
/* This instance's uuid and the result store, once uws_start succeeded. */
const char *uws_instance_id(const ts_app *app);
const struct jobs_store *uws_result_store(const ts_app *app);
/* 1 when [id, id+len) can be a job id (lower-case hex, under 40 bytes). */
int uws_job_id_ok(const char *id, size_t len);

/* ---- UWS documents (uws_xml.c) ----------------------------------------- */
typedef struct jobs_job jobs_job;
/* The largest UWS document (job list, job, sub-resource) built for one
 * request; a larger one is an error for that request. */
enum { UWS_DOC_MAX = 64 << 20 };
/* Each appends a complete response body to `b` and returns TS_OK, or fails
 * with a message in err: TS_EINTERNAL (500) when the document would pass
 * b's cap, TS_ENOMEM when memory runs out; `b` then holds a partial
 * document that must not be sent. */
/* The job list of GET /async. */
ts_err uws_doc_jobs(ts_buf *b, const cfg *c, const jobs_job *js, size_t n, ts_error *err);
/* The job list of TAP+ GET {tap}/jobs/async: a uws:jobs document holding
 * each job whole (astroquery's JobSaxParser reads uws:job elements, not
 * jobrefs), with the parameters and results the jobs were read with. */
ts_err uws_doc_jobs_full(ts_buf *b, const cfg *c, const jobs_job *js, size_t n, ts_error *err);
/* GET /async/{id}[/sub] of a job read in full: the job (sub ""), its
 * parameters, results or error document, or a plain-text sub-resource
 * (executionduration, destruction, quote, owner, runid). Sets *ctype.
 * TS_ENOTFOUND for an unknown sub-resource, and for "error" while the job
 * is not in ERROR. */
ts_err uws_doc_job(ts_buf *b, const cfg *c, const jobs_job *j, const char *sub, const char **ctype,
                   ts_error *err);
/* ISO 8601 UTC, with milliseconds only when there are some. */
void uws_iso8601(char out[32], int64_t ms);

#endif
