/* tapserve/cmd/user.c: `tapserve user add|passwd|del|list`, the operator's
 * hand on TAP+ accounts (docs/users.md). Passwords come from standard
 * input, never from the command line, where `ps` would show them. */
#include "jobs/users.h"
#include "tapserve/cmd/user_int.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

static void user_usage(FILE *f)
{
  fputs("usage: tapserve user add NAME [--admin]  (-c FILE | --dsn CONNINFO)\n"
        "       tapserve user passwd NAME        (-c FILE | --dsn CONNINFO)\n"
        "       tapserve user del NAME           (-c FILE | --dsn CONNINFO)\n"
        "       tapserve user list               (-c FILE | --dsn CONNINFO)\n"
        "\n"
        "Manages TAP+ users. add and passwd read the password from standard input\n"
        "(one line; prompted for without echo on a terminal). passwd and del end the\n"
        "user's sessions on every instance; del also removes the user's tokens.\n",
        f);
}

int cmd__read_password(const char *prog, char *pw, size_t cap)
{
  struct termios old, quiet;
  int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
  char *got;
  size_t n;
  if (tty) {
    fputs("password: ", stderr);
    quiet = old;
    quiet.c_lflag &= ~(tcflag_t)ECHO;
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
  }
  got = fgets(pw, (int)cap, stdin);
  if (tty) {
    tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
    fputc('\n', stderr);
  }
  if (!got) {
    fprintf(stderr, "%s: no password on standard input\n", prog);
    return -1;
  }
  n = strlen(pw);
  if (n == cap - 1 && pw[n - 1] != '\n') {
    sodium_memzero(pw, cap);
    fprintf(stderr, "%s: the password is longer than %d bytes\n", prog, JOBS_PASSWORD_MAX);
    return -1;
  }
  while (n > 0 && (pw[n - 1] == '\n' || pw[n - 1] == '\r'))
    pw[--n] = 0;
  if (!n) {
    fprintf(stderr, "%s: the password is empty\n", prog);
    return -1;
  }
  return 0;
}

PGconn *cmd__users_connect(const char *prog, cmd_db *o)
{
  ts_error err;
  PGconn *conn = cmd_db_connect(prog, o);
  if (!conn)
    return NULL;
  if (jobs_users_init(&err) || jobs_migrate(conn, NULL, NULL, &err)) {
    fprintf(stderr, "%s: %s\n", prog, err.msg);
    PQfinish(conn);
    return NULL;
  }
  return conn;
}

static int list_users(PGconn *conn, const char *prog)
{
  ts_error err;
  PGresult *r = jobs_user_list(conn, &err);
  if (!r) {
    fprintf(stderr, "%s: %s\n", prog, err.msg);
    return 1;
  }
  printf("%-24s %-5s %-20s %8s %6s\n", "name", "admin", "created", "sessions", "tokens");
  for (int i = 0; i < PQntuples(r); i++)
    printf("%-24s %-5s %-20s %8s %6s\n", PQgetvalue(r, i, 0),
           PQgetvalue(r, i, 1)[0] == 't' ? "yes" : "no", PQgetvalue(r, i, 2), PQgetvalue(r, i, 3),
           PQgetvalue(r, i, 4));
  PQclear(r);
  return 0;
}

int cmd_user(int argc, char **argv)
{
  static const char *prog = "tapserve user";
  cmd_db o;
  int admin = 0, nop = 0, status = 1;
  PGconn *conn = NULL;
  ts_error err;
  ts_err rc = TS_OK;
  const char *verb, *name;
  char pw[JOBS_PASSWORD_MAX + 2];

  memset(&o, 0, sizeof o);
  {
    const cmd_opt opts[] = {{"--admin", &admin, NULL}, {NULL, NULL, NULL}};
    int st = cmd_args(argc, argv, prog, &o, opts, user_usage, &nop);
    if (st >= 0)
      return st;
  }
  verb = nop >= 1 ? argv[1] : "";
  name = nop >= 2 ? argv[2] : NULL;
  if (!strcmp(verb, "list")
          ? nop != 1
          : (strcmp(verb, "add") && strcmp(verb, "passwd") && strcmp(verb, "del")) || nop != 2) {
    user_usage(stderr);
    return 2;
  }
  if (admin && strcmp(verb, "add")) {
    fprintf(stderr, "%s: --admin goes with add only\n", prog);
    return 2;
  }
  if (name && !jobs_user_name_ok(name)) {
    fprintf(stderr,
            "%s: %s: a user name has 1 to %d letters, digits or _.-@ and does not start "
            "with . or -\n",
            prog, name, JOBS_USER_NAME_MAX);
    return 2;
  }
  /* The password first: nothing is connected to, or changed, without one. */
  if ((!strcmp(verb, "add") || !strcmp(verb, "passwd")) && cmd__read_password(prog, pw, sizeof pw))
    goto out;
  conn = cmd__users_connect(prog, &o);
  if (!conn)
    goto out;
  if (!strcmp(verb, "list")) {
    status = list_users(conn, prog);
    goto out;
  }
  if (!strcmp(verb, "add"))
    rc = jobs_user_add(conn, name, pw, admin, &err);
  else if (!strcmp(verb, "passwd"))
    rc = jobs_user_passwd(conn, name, pw, &err);
  else
    rc = jobs_user_del(conn, name, &err);
  if (rc) {
    fprintf(stderr, "%s: %s\n", prog, err.msg);
    goto out;
  }
  printf(!strcmp(verb, "add")      ? "added user %s\n"
         : !strcmp(verb, "passwd") ? "changed the password of %s; its sessions ended\n"
                                   : "deleted user %s with its sessions and tokens\n",
         name);
  status = 0;
out:
  sodium_memzero(pw, sizeof pw);
  if (conn)
    PQfinish(conn);
  cmd_db_free(&o);
  return status;
}
