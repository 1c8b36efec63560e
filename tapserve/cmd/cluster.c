/* tapserve cluster status: the instances sharing the database (uuid,
 * host, port, pid, version, start, last heartbeat, jobs running there,
 * draining), the queue's length and the jobs per phase, read from schema
 * tapserve; a plain text table, or JSON (--json) built by PostgreSQL. */
#include "tapserve/cmd/publish_int.h"

#include <stdio.h>
#include <string.h>

/* The instances, oldest first; the columns of the text table. */
static const char instances_sql[] =
    "SELECT i.id::text, i.host, i.port::text, i.pid::text, i.version,"
    "  to_char(i.started_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
    "  to_char(extract(epoch FROM now() - i.heartbeat_at), 'FM999999990.0') || ' s ago',"
    "  (SELECT count(*) FROM tapserve.jobs j WHERE j.phase = 'EXECUTING'"
    "     AND j.owner_instance = i.id)::text,"
    "  CASE WHEN i.draining THEN 'yes' ELSE 'no' END"
    " FROM tapserve.instances i ORDER BY i.started_at, i.id";

static const char phases_sql[] =
    "SELECT phase, count(*)::text FROM tapserve.jobs GROUP BY phase ORDER BY phase";

static const char json_sql[] =
    "SELECT json_build_object("
    " 'instances', COALESCE((SELECT json_agg(json_build_object("
    "   'uuid', i.id, 'host', i.host, 'port', i.port, 'pid', i.pid, 'version', i.version,"
    "   'started', i.started_at, 'heartbeat', i.heartbeat_at,"
    "   'heartbeat_age_s', round(extract(epoch FROM now() - i.heartbeat_at)::numeric, 3),"
    "   'running_jobs', (SELECT count(*) FROM tapserve.jobs j WHERE j.phase = 'EXECUTING'"
    "      AND j.owner_instance = i.id),"
    "   'draining', i.draining) ORDER BY i.started_at, i.id) FROM tapserve.instances i), '[]'),"
    " 'queue_length', (SELECT count(*) FROM tapserve.jobs WHERE phase = 'QUEUED'),"
    " 'jobs', COALESCE((SELECT json_object_agg(phase, n) FROM (SELECT phase, count(*) AS n"
    "   FROM tapserve.jobs GROUP BY phase) p), '{}'))";

static void cluster_usage(FILE *f)
{
  fputs("usage: tapserve cluster status (-c FILE | --dsn CONNINFO) [--json]\n"
        "Lists the tapserve instances sharing the database (uuid, host, port, pid,\n"
        "version, start, last heartbeat, jobs running there, draining), the number\n"
        "of queued jobs and the jobs per phase.\n"
        "  -c FILE          the serve configuration ([database] dsn)\n"
        "  --dsn CONNINFO   a libpq connection to the service database\n"
        "  --json           one JSON document instead of the table\n",
        f);
}

/* Prints r (n columns, with their headers) as a table aligned on the
 * widest value of each column. */
static void print_table(const PGresult *r, const char *const *head, int n)
{
  int w[16] = {0};
  for (int c = 0; c < n && c < 16; c++) {
    w[c] = (int)strlen(head[c]);
    for (int i = 0; i < PQntuples(r); i++)
      if (PQgetlength(r, i, c) > w[c])
        w[c] = PQgetlength(r, i, c);
  }
  /* The last column unpadded: no trailing blanks. */
  for (int c = 0; c < n && c < 16; c++)
    printf("%-*s%s", c + 1 < n ? w[c] : 0, head[c], c + 1 < n ? "  " : "\n");
  for (int i = 0; i < PQntuples(r); i++)
    for (int c = 0; c < n && c < 16; c++)
      printf("%-*s%s", c + 1 < n ? w[c] : 0, PQgetvalue(r, i, c), c + 1 < n ? "  " : "\n");
}

static int status_text(PGconn *conn, ts_error *err)
{
  static const char *const head[] = {"UUID",    "HOST",      "PORT", "PID",     "VERSION",
                                     "STARTED", "HEARTBEAT", "JOBS", "DRAINING"};
  PGresult *r = cmd__sql(conn, PGRES_TUPLES_OK, err, instances_sql, 0, NULL);
  PGresult *p = r ? cmd__sql(conn, PGRES_TUPLES_OK, err, phases_sql, 0, NULL) : NULL;
  long queued = 0;
  if (!p) {
    PQclear(r);
    return 1;
  }
  printf("%d instance(s)\n", PQntuples(r));
  if (PQntuples(r))
    print_table(r, head, (int)TS_ARRAY_LEN(head));
  for (int i = 0; i < PQntuples(p); i++)
    if (!strcmp(PQgetvalue(p, i, 0), "QUEUED"))
      queued = cmd__int(PQgetvalue(p, i, 1));
  printf("\nqueue length: %ld\njobs per phase:", queued);
  for (int i = 0; i < PQntuples(p); i++)
    printf(" %s=%s", PQgetvalue(p, i, 0), PQgetvalue(p, i, 1));
  printf("%s\n", PQntuples(p) ? "" : " none");
  PQclear(r);
  PQclear(p);
  return 0;
}

int cmd_cluster(int argc, char **argv)
{
  cmd_db o;
  int json = 0, n = 0, rc;
  const cmd_opt opts[] = {{"--json", &json, NULL}, {NULL, NULL, NULL}};
  PGconn *conn;
  PGresult *r;
  ts_error err;

  memset(&o, 0, sizeof o);
  if (argc < 2 || strcmp(argv[1], "status") != 0) {
    if (argc >= 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
      cluster_usage(stdout);
      return 0;
    }
    cluster_usage(stderr);
    return 2;
  }
  rc = cmd_args(argc - 1, argv + 1, "tapserve cluster status", &o, opts, cluster_usage, &n);
  if (rc >= 0)
    return rc;
  if (n) {
    fprintf(stderr, "tapserve cluster status: unexpected argument %s\n", argv[2]);
    return 2;
  }
  conn = cmd_db_connect("tapserve cluster status", &o);
  if (!conn) {
    cmd_db_free(&o);
    return 1;
  }
  if (json) {
    r = cmd__sql(conn, PGRES_TUPLES_OK, &err, json_sql, 0, NULL);
    rc = !r;
    if (r)
      printf("%s\n", PQgetvalue(r, 0, 0));
    PQclear(r);
  } else {
    rc = status_text(conn, &err);
  }
  if (rc)
    fprintf(stderr, "tapserve cluster status: %s\n", err.msg);
  PQfinish(conn);
  cmd_db_free(&o);
  return rc;
}
