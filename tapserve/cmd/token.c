/* tapserve/cmd/token.c: `tapserve token add|list|revoke`, bearer tokens for
 * scripts (pyvo, curl) that cannot hold a login session (docs/users.md). */
#include "jobs/users.h"
#include "tapserve/cmd/user_int.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void token_usage(FILE *f)
{
  fputs("usage: tapserve token add NAME [--expires DURATION] (-c FILE | --dsn CONNINFO)\n"
        "       tapserve token list [NAME]                   (-c FILE | --dsn CONNINFO)\n"
        "       tapserve token revoke ID                     (-c FILE | --dsn CONNINFO)\n"
        "\n"
        "add prints a new token for user NAME once: only a hash of it is kept.\n"
        "Clients send it as \"Authorization: Bearer TOKEN\". DURATION is a number\n"
        "of seconds, or a number followed by m, h or d (minutes, hours, days);\n"
        "without --expires the token lasts until revoked.\n",
        f);
}

/* "3600", "90m", "12h", "30d" -> seconds; -1 for anything else. */
static int64_t parse_duration(const char *s)
{
  char *end = NULL;
  long long v = strtoll(s, &end, 10);
  int64_t mul = 1;
  if (!end || end == s || v <= 0)
    return -1;
  if (*end == 'm')
    mul = 60;
  else if (*end == 'h')
    mul = 3600;
  else if (*end == 'd')
    mul = 86400;
  else if (*end == 's')
    mul = 1;
  else if (*end)
    return -1;
  if (*end && end[1])
    return -1;
  if (v > INT64_MAX / mul / 1000)
    return -1;
  return (int64_t)v * mul;
}

static int list_tokens(PGconn *conn, const char *prog, const char *name)
{
  ts_error err;
  PGresult *r = jobs_token_list(conn, name, &err);
  if (!r) {
    fprintf(stderr, "%s: %s\n", prog, err.msg);
    return 1;
  }
  printf("%-8s %-24s %-20s %-20s %-20s\n", "id", "user", "created", "expires", "last used");
  for (int i = 0; i < PQntuples(r); i++)
    printf("%-8s %-24s %-20s %-20s %-20s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1),
           PQgetvalue(r, i, 2), PQgetvalue(r, i, 3), PQgetvalue(r, i, 4));
  PQclear(r);
  return 0;
}

int cmd_token(int argc, char **argv)
{
  static const char *prog = "tapserve token";
  cmd_db o;
  const char *expires = NULL, *verb;
  int nop = 0, status = 1;
  int64_t ttl = 0, id = 0;
  PGconn *conn = NULL;
  ts_error err;
  char tok[JOBS_TOKEN_LEN + 1];

  memset(&o, 0, sizeof o);
  memset(tok, 0, sizeof tok);
  {
    const cmd_opt opts[] = {{"--expires", NULL, &expires}, {NULL, NULL, NULL}};
    int st = cmd_args(argc, argv, prog, &o, opts, token_usage, &nop);
    if (st >= 0)
      return st;
  }
  verb = nop >= 1 ? argv[1] : "";
  if (!((!strcmp(verb, "add") && nop == 2) || (!strcmp(verb, "list") && nop <= 2) ||
        (!strcmp(verb, "revoke") && nop == 2))) {
    token_usage(stderr);
    return 2;
  }
  if (expires && strcmp(verb, "add")) {
    fprintf(stderr, "%s: --expires goes with add only\n", prog);
    return 2;
  }
  if (expires) {
    ttl = parse_duration(expires);
    if (ttl <= 0) {
      fprintf(stderr, "%s: --expires %s: expected seconds, or a number with m, h or d\n", prog,
              expires);
      return 2;
    }
  }
  if (!strcmp(verb, "revoke")) {
    char *end = NULL;
    id = strtoll(argv[2], &end, 10);
    if (!end || *end || id <= 0) {
      fprintf(stderr, "%s: revoke takes a token id (see token list)\n", prog);
      return 2;
    }
  }
  conn = cmd__users_connect(prog, &o);
  if (!conn)
    goto out;
  if (!strcmp(verb, "list")) {
    status = list_tokens(conn, prog, nop == 2 ? argv[2] : NULL);
  } else if (!strcmp(verb, "revoke")) {
    if (jobs_token_revoke(conn, id, &err))
      fprintf(stderr, "%s: %s\n", prog, err.msg);
    else {
      printf("revoked token %lld\n", (long long)id);
      status = 0;
    }
  } else if (jobs_token_add(conn, argv[2], ttl, tok, &id, &err)) {
    fprintf(stderr, "%s: %s\n", prog, err.msg);
  } else {
    /* The token alone on stdout (scripts capture it); the rest on stderr. */
    printf("%s\n", tok);
    fprintf(stderr, "token %lld for %s: keep it now, it cannot be shown again\n", (long long)id,
            argv[2]);
    status = 0;
  }
out:
  sodium_memzero(tok, sizeof tok);
  if (conn)
    PQfinish(conn);
  cmd_db_free(&o);
  return status;
}
