/* tapserve/cmd/quota.c: `tapserve quota show|set`, the operator's view of
 * and hand on a user's quotas (docs/users.md, "Quotas"). */
#include "jobs/quota.h"
#include "jobs/users.h"
#include "tapserve/cmd/user_int.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

static void quota_usage(FILE *f)
{
  fputs("usage: tapserve quota show USER                      (-c FILE | --dsn CONNINFO)\n"
        "       tapserve quota set USER [--db BYTES] [--files BYTES]\n"
        "                                                     (-c FILE | --dsn CONNINFO)\n"
        "\n"
        "show prints the space USER's tables take in the database and the space of\n"
        "their stored job results, with the limits in force. set gives USER limits of\n"
        "their own: BYTES is a byte count with an optional k, M or G suffix (powers of\n"
        "1024), 0 for no limit, or \"default\" for the instances' [users] quota_db or\n"
        "quota_files again. Every instance sees a change at once.\n",
        f);
}

/* One line of show: usage, the limit in force and where it comes from. */
static void show_line(const char *what, int64_t used, int64_t own, const cmd_db *o, size_t dflt_cfg)
{
  char lim[64];
  int64_t dflt = o->have_cfg ? (int64_t)dflt_cfg : 0;
  int64_t l = jobs_quota_limit(own, dflt);
  if (own < 0 && !o->have_cfg)
    snprintf(lim, sizeof lim, "the default (-c FILE shows it)");
  else if (l == 0)
    snprintf(lim, sizeof lim, "none%s", own < 0 ? " (the default)" : "");
  else
    snprintf(lim, sizeof lim, "%lld%s", (long long)l, own < 0 ? " (the default)" : "");
  printf("%-6s used %lld bytes", what, (long long)used);
  if (l > 0 && (own >= 0 || o->have_cfg))
    printf(" (%lld %%)", (long long)(used * 100 / l));
  printf(", limit %s\n", lim);
}

/* BYTES of --db/--files into *out (-1 for "default"); 0 after a message
 * when it is not one. */
static int parse_limit(const char *prog, const char *opt, const char *v, int64_t *out)
{
  const char *bad;
  if (!strcmp(v, "default")) {
    *out = -1;
    return 1;
  }
  bad = cfg_parse_bytes(v, 0, (int64_t)1 << 50, out);
  if (bad)
    fprintf(stderr, "%s: %s %s: %s\n", prog, opt, v, bad);
  return bad == NULL;
}

int cmd_quota(int argc, char **argv)
{
  static const char *prog = "tapserve quota";
  cmd_db o;
  const char *db = NULL, *files = NULL, *verb;
  int nop = 0, status = 1;
  int64_t db_limit = -1, files_limit = -1;
  PGconn *conn = NULL;
  jobs_user u;
  jobs_quota q;
  char hash[JOBS_PWHASH_MAX];
  ts_error err;

  memset(&o, 0, sizeof o);
  {
    const cmd_opt opts[] = {{"--db", NULL, &db}, {"--files", NULL, &files}, {NULL, NULL, NULL}};
    int st = cmd_args(argc, argv, prog, &o, opts, quota_usage, &nop);
    if (st >= 0)
      return st;
  }
  verb = nop >= 1 ? argv[1] : "";
  if (nop != 2 || (strcmp(verb, "show") && strcmp(verb, "set"))) {
    quota_usage(stderr);
    return 2;
  }
  if (!strcmp(verb, "show") && (db || files)) {
    fprintf(stderr, "%s: --db and --files go with set only\n", prog);
    return 2;
  }
  if (!strcmp(verb, "set") && !db && !files) {
    fprintf(stderr, "%s: set needs --db BYTES or --files BYTES (or both)\n", prog);
    return 2;
  }
  if ((db && !parse_limit(prog, "--db", db, &db_limit)) ||
      (files && !parse_limit(prog, "--files", files, &files_limit)))
    return 2;
  conn = cmd__users_connect(prog, &o);
  if (!conn)
    goto out;
  if (jobs_user_get(conn, argv[2], &u, hash, &err)) {
    fprintf(stderr, "%s: %s: %s\n", prog, argv[2], err.msg);
    goto out;
  }
  sodium_memzero(hash, sizeof hash);
  if ((db && jobs_quota_set(conn, u.id, JOBS_QUOTA_DB, db_limit, &err)) ||
      (files && jobs_quota_set(conn, u.id, JOBS_QUOTA_FILES, files_limit, &err)) ||
      jobs_quota_get(conn, u.id, &q, &err)) {
    fprintf(stderr, "%s: %s\n", prog, err.msg);
    goto out;
  }
  printf("user %s\n", u.name);
  show_line("tables", q.db_used, q.db_limit, &o, o.cfg.users_quota_db);
  show_line("files", q.files_used, q.files_limit, &o, o.cfg.users_quota_files);
  status = 0;
out:
  if (conn)
    PQfinish(conn);
  cmd_db_free(&o);
  return status;
}
