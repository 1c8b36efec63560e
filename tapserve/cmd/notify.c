/* tapserve/cmd/notify.c: `tapserve notify add|list|del`, the operator's
 * messages that TAP+ clients show their users (docs/users.md). */
#include "jobs/notify.h"
#include "jobs/users.h"
#include "tapserve/cmd/user_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void notify_usage(FILE *f)
{
  fputs("usage: tapserve notify add --until TIME [--type TYPE] [--user NAME] TEXT...\n"
        "                                          (-c FILE | --dsn CONNINFO)\n"
        "       tapserve notify list               (-c FILE | --dsn CONNINFO)\n"
        "       tapserve notify del ID             (-c FILE | --dsn CONNINFO)\n"
        "\n"
        "add publishes a message that every instance serves at once at\n"
        "{tap}/notification?action=GetNotifications, where astroquery's ESA modules\n"
        "print it when they start; it disappears at TIME. TIME is a date and time\n"
        "(\"2026-12-24 18:00Z\"; without a zone, the database's) or + and a duration\n"
        "(\"+2h\", \"+3 days\"). TYPE is info (the default), warning or maintenance.\n"
        "--user NAME sends it to that user alone (when logged in); without it,\n"
        "everybody sees it, logged in or not. The words of TEXT are joined by\n"
        "spaces. list shows the messages not yet expired, users' own included; del\n"
        "removes one by the ID that add printed.\n",
        f);
}

static int list_notifications(PGconn *conn, const char *prog)
{
  ts_error err;
  PGresult *r = jobs_notify_list(conn, &err);
  if (!r) {
    fprintf(stderr, "%s: %s\n", prog, err.msg);
    return 1;
  }
  printf("%-8s %-16s %-11s %-20s %-20s %s\n", "id", "for", "type", "created", "until", "text");
  for (int i = 0; i < PQntuples(r); i++)
    printf("%-8s %-16s %-11s %-20s %-20s %s\n", PQgetvalue(r, i, 0),
           PQgetvalue(r, i, 1)[0] ? PQgetvalue(r, i, 1) : "everybody", PQgetvalue(r, i, 2),
           PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5));
  PQclear(r);
  return 0;
}

/* The words argv[from..to] joined by spaces into text (cap bytes): -1
 * after a message when they do not fit. */
static int join_words(const char *prog, char **argv, int from, int to, char *text, size_t cap)
{
  size_t n = 0;
  text[0] = 0;
  for (int i = from; i <= to; i++) {
    int w = snprintf(text + n, cap - n, "%s%s", i > from ? " " : "", argv[i]);
    if (w < 0 || (size_t)w >= cap - n) {
      fprintf(stderr, "%s: the text is longer than %d bytes\n", prog, JOBS_NOTIFY_TEXT_MAX);
      return -1;
    }
    n += (size_t)w;
  }
  return 0;
}

int cmd_notify(int argc, char **argv)
{
  static const char *prog = "tapserve notify";
  static char text[JOBS_NOTIFY_TEXT_MAX + 1];
  cmd_db o;
  const char *until = NULL, *type = NULL, *user = NULL, *verb;
  jobs_notify_kind kind = JOBS_NOTIFY_INFO;
  int nop = 0, status = 1;
  int64_t id = 0;
  PGconn *conn = NULL;
  ts_error err;

  memset(&o, 0, sizeof o);
  {
    const cmd_opt opts[] = {{"--until", NULL, &until},
                            {"--type", NULL, &type},
                            {"--user", NULL, &user},
                            {NULL, NULL, NULL}};
    int st = cmd_args(argc, argv, prog, &o, opts, notify_usage, &nop);
    if (st >= 0)
      return st;
  }
  verb = nop >= 1 ? argv[1] : "";
  if (!((!strcmp(verb, "add") && nop >= 2) || (!strcmp(verb, "list") && nop == 1) ||
        (!strcmp(verb, "del") && nop == 2))) {
    notify_usage(stderr);
    return 2;
  }
  if ((until || type || user) && strcmp(verb, "add")) {
    fprintf(stderr, "%s: --until, --type and --user go with add only\n", prog);
    return 2;
  }
  if (!strcmp(verb, "add")) {
    if (!until) {
      fprintf(stderr, "%s: add needs --until TIME: every message has an end\n", prog);
      return 2;
    }
    if (type && (jobs_notify_kind_parse(type, &kind) || !jobs_notify_kind_operator(kind))) {
      fprintf(stderr, "%s: --type %s: expected info, warning or maintenance\n", prog, type);
      return 2;
    }
    if (user && !jobs_user_name_ok(user)) {
      fprintf(stderr, "%s: --user %s is not a user name\n", prog, user);
      return 2;
    }
    if (join_words(prog, argv, 2, nop, text, sizeof text))
      return 2;
    if (jobs_notify_text_check(text, &err)) {
      fprintf(stderr, "%s: %s\n", prog, err.msg);
      return 2;
    }
  }
  if (!strcmp(verb, "del")) {
    char *end = NULL;
    id = strtoll(argv[2], &end, 10);
    if (!end || *end || id <= 0) {
      fprintf(stderr, "%s: del takes a notification id (see notify list)\n", prog);
      return 2;
    }
  }
  conn = cmd__users_connect(prog, &o);
  if (!conn)
    goto out;
  if (!strcmp(verb, "list")) {
    status = list_notifications(conn, prog);
  } else if (!strcmp(verb, "del")) {
    if (jobs_notify_del(conn, id, &err))
      fprintf(stderr, "%s: %s\n", prog, err.msg);
    else {
      printf("removed notification %lld\n", (long long)id);
      status = 0;
    }
  } else if (jobs_notify_add(conn, user, kind, text, until, &id, &err)) {
    fprintf(stderr, "%s: %s\n", prog, err.msg);
  } else {
    /* The id alone on stdout (scripts keep it for del). */
    printf("%lld\n", (long long)id);
    status = 0;
  }
out:
  if (conn)
    PQfinish(conn);
  cmd_db_free(&o);
  return status;
}
