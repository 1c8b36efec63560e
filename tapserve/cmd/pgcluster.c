/* tapserve/cmd/pgcluster.c: a private PostgreSQL cluster for `tapserve demo`,
 * the tests and the benchmarks.
 *
 * Blocking code, run once at startup. The cluster lives in one directory
 * (data, configuration, logs, and the unix socket), listens on loopback
 * only and trusts local connections: it is a development and demonstration
 * database, never a production one.
 *
 * PostgreSQL refuses to run as root, so when we are root every PostgreSQL
 * program runs as an unprivileged system user ("postgres" when Debian's
 * package made it, else our own "tapserve"). Children are started with
 * fork + setgid/initgroups/setuid + execve: no shell ever sees a path. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* pipe2, getgrouplist, memmem */
#endif
#include "tapserve/tapserve.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PGC_BINDIR     "/usr/lib/postgresql/15/bin"
#define PGC_SUPERUSER  "postgres"
#define PGC_DBNAME     "tapserve"
#define PGC_CONF_FILE  "tapserve.conf"
#define PGC_OUT_MAX    (64 * 1024) /* output kept from a child, for errors */
#define PGC_TAIL_BYTES 1500        /* how much of a log goes into an error */

/* The account PostgreSQL runs as. switch_user is 0 when we are not root:
 * then everything runs as ourselves. */
typedef struct pgc_user {
  int switch_user;
  uid_t uid;
  gid_t gid;
  char name[64];
  char home[PATH_MAX];
} pgc_user;

/* ---- running children ------------------------------------------------- */

/* Runs argv[0] (an absolute path) as `u`, with stdout and stderr captured
 * into `out` (bounded; the newest bytes win, since the end of a log says
 * why things failed). Returns the exit status, or -1 when the child could
 * not be run (message in err). */
static int run_as(const pgc_user *u, char *const argv[], ts_buf *out, ts_error *err)
{
  int fds[2];
  pid_t pid;
  int status = 0;
  char home[PATH_MAX + 8];
  char user[80], logname[80];
  char *envp[8];
  int n = 0;

  if (pipe2(fds, O_CLOEXEC) != 0) {
    ts_fail(err, TS_EIO, 0, "pipe: %s", strerror(errno));
    return -1;
  }
  /* A small fixed environment: PGDATA, PGPORT and friends in our own
   * environment must not steer initdb or pg_ctl somewhere else. */
  snprintf(home, sizeof(home), "HOME=%s", u->home[0] ? u->home : "/");
  snprintf(user, sizeof(user), "USER=%s", u->name);
  snprintf(logname, sizeof(logname), "LOGNAME=%s", u->name);
  envp[n++] = "PATH=/usr/bin:/bin";
  envp[n++] = "LC_ALL=C";
  envp[n++] = home;
  envp[n++] = user;
  envp[n++] = logname;
  envp[n] = NULL;

  fflush(NULL);
  pid = fork();
  if (pid < 0) {
    close(fds[0]);
    close(fds[1]);
    ts_fail(err, TS_EIO, 0, "fork: %s", strerror(errno));
    return -1;
  }
  if (pid == 0) {
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, 0);
    dup2(fds[1], 1);
    dup2(fds[1], 2);
    if (u->switch_user) {
      if (initgroups(u->name, u->gid) != 0 || setgid(u->gid) != 0 || setuid(u->uid) != 0) {
        fprintf(stderr, "cannot switch to user %s: %s\n", u->name, strerror(errno));
        _exit(126);
      }
    }
    /* The caller's working directory may be closed to the new user. */
    if (chdir("/") != 0)
      _exit(126);
    execve(argv[0], argv, envp);
    fprintf(stderr, "cannot run %s: %s\n", argv[0], strerror(errno));
    _exit(127);
  }
  close(fds[1]);
  for (;;) {
    char chunk[4096];
    ssize_t r = read(fds[0], chunk, sizeof(chunk));
    if (r < 0 && errno == EINTR)
      continue;
    if (r <= 0)
      break;
    if (out) {
      if (out->len + (size_t)r > PGC_OUT_MAX)
        ts_buf_reset(out); /* keep the newest output, not the oldest */
      ts_buf_append(out, chunk, (size_t)r);
    }
  }
  close(fds[0]);
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) {
      ts_fail(err, TS_EIO, 0, "waitpid: %s", strerror(errno));
      return -1;
    }
  }
  if (WIFEXITED(status))
    return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

/* The last `max` bytes of a text, starting at a line boundary when one is
 * near. */
static const char *tail_of(const char *s, size_t len, size_t max)
{
  const char *p;
  if (len <= max)
    return s;
  p = s + len - max;
  for (const char *q = p; q < s + len && q < p + 200; q++) {
    if (*q == '\n')
      return q + 1;
  }
  return p;
}

static void read_file_tail(const char *path, ts_buf *out)
{
  char chunk[PGC_TAIL_BYTES];
  FILE *f = fopen(path, "rb");
  long size;
  size_t n;
  if (!f)
    return;
  if (fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) > (long)sizeof(chunk))
    fseek(f, size - (long)sizeof(chunk), SEEK_SET);
  else
    fseek(f, 0, SEEK_SET);
  n = fread(chunk, 1, sizeof(chunk), f);
  fclose(f);
  ts_buf_append(out, chunk, n);
}

/* Joins argv for messages: "pg_ctl start -D /x ...". */
static void argv_str(char *const argv[], char *dst, size_t len)
{
  size_t used = 0;
  dst[0] = '\0';
  for (int i = 0; argv[i] && used + 1 < len; i++) {
    int w = snprintf(dst + used, len - used, "%s%s", i ? " " : "", argv[i]);
    if (w < 0)
      break;
    used += (size_t)w;
  }
}

/* Runs a PostgreSQL program and turns a non-zero exit into an error that
 * names the command and shows the end of its output (or of `logfile`). */
/* The newest file in DIR/log: once the logging collector runs, the reason
 * a start failed (a port in use, bad settings) is written there, not into
 * pg_ctl's -l file. */
static void newest_log(const char *logdir, char *out, size_t len)
{
  DIR *d = opendir(logdir);
  struct dirent *e;
  time_t best = 0;
  out[0] = '\0';
  if (!d)
    return;
  while ((e = readdir(d)) != NULL) {
    char path[PATH_MAX + 300];
    struct stat st;
    if (e->d_name[0] == '.')
      continue;
    snprintf(path, sizeof(path), "%s/%s", logdir, e->d_name);
    if (stat(path, &st) == 0 && S_ISREG(st.st_mode) && st.st_mtime >= best) {
      best = st.st_mtime;
      snprintf(out, len, "%s", path);
    }
  }
  closedir(d);
}

/* The lines of `text` that say what went wrong (FATAL, PANIC, ERROR, and
 * pg_ctl's own complaints), newest last, at most `max` bytes. */
static void error_lines(const char *text, char *out, size_t max)
{
  size_t used = 0;
  const char *line = text;
  out[0] = '\0';
  while (*line) {
    const char *nl = strchr(line, '\n');
    size_t n = nl ? (size_t)(nl - line) : strlen(line);
    int wanted = 0;
    static const char *const marks[] = {
        "FATAL:", "PANIC:", "ERROR:", "could not bind", "pg_ctl:", "initdb:"};
    for (size_t i = 0; i < TS_ARRAY_LEN(marks); i++) {
      const char *m = memmem(line, n, marks[i], strlen(marks[i]));
      wanted |= m != NULL;
    }
    if (wanted) {
      /* Keep the newest lines when they do not all fit. */
      while (used + n + 2 > max && used > 0) {
        char *cut = strchr(out, '\n');
        size_t drop = cut ? (size_t)(cut - out) + 1 : used;
        memmove(out, out + drop, used - drop + 1);
        used -= drop;
      }
      if (n + 2 <= max) {
        memcpy(out + used, line, n);
        used += n;
        out[used++] = '\n';
        out[used] = '\0';
      }
    }
    line = nl ? nl + 1 : line + n;
  }
  if (used > 0)
    out[used - 1] = '\0';
}

/* Runs a PostgreSQL program and turns a non-zero exit into an error that
 * names the command and quotes why it failed. Its whole output, and the
 * end of the server logs when `logfile` is given, go to stderr too, since
 * the error message has room for a few lines only. */
static ts_err run_pg(const pgc_user *u, char *const argv[], const char *logfile, ts_error *err)
{
  ts_buf out;
  char cmd[1024], why[400];
  int rc;
  ts_buf_init(&out, PGC_OUT_MAX + 4 * PGC_TAIL_BYTES);
  rc = run_as(u, argv, &out, err);
  if (rc == 0) {
    ts_buf_free(&out);
    return TS_OK;
  }
  if (rc > 0) {
    argv_str(argv, cmd, sizeof(cmd));
    if (logfile) {
      char logdir[PATH_MAX + 8], newest[PATH_MAX + 300];
      const char *slash = strrchr(logfile, '/');
      ts_buf_printf(&out, "\n--- end of %s ---\n", logfile);
      read_file_tail(logfile, &out);
      snprintf(logdir, sizeof(logdir), "%.*s/log", (int)(slash ? slash - logfile : 1),
               slash ? logfile : ".");
      newest_log(logdir, newest, sizeof(newest));
      if (newest[0]) {
        ts_buf_printf(&out, "\n--- end of %s ---\n", newest);
        read_file_tail(newest, &out);
      }
    }
    fprintf(stderr, "--- %s (as user %s) exited with status %d ---\n%s\n---\n", cmd, u->name, rc,
            out.len ? out.data : "(no output)");
    error_lines(out.len ? out.data : "", why, sizeof(why));
    if (!why[0])
      snprintf(why, sizeof(why), "%s",
               out.len ? tail_of(out.data, out.len, sizeof(why) - 1) : "(no output)");
    ts_fail(err, TS_EUNAVAIL, 0, "%s (as user %s) failed with status %d: %s", cmd, u->name, rc,
            why);
  }
  ts_buf_free(&out);
  return err ? err->code : TS_EUNAVAIL;
}

/* ---- the unprivileged user -------------------------------------------- */

static ts_err user_from_pw(const struct passwd *pw, pgc_user *u, ts_error *err)
{
  if (strlen(pw->pw_name) >= sizeof(u->name))
    return ts_fail(err, TS_EINTERNAL, 0, "user name %s is too long", pw->pw_name);
  snprintf(u->name, sizeof(u->name), "%s", pw->pw_name);
  snprintf(u->home, sizeof(u->home), "%s", pw->pw_dir ? pw->pw_dir : "/");
  u->uid = pw->pw_uid;
  u->gid = pw->pw_gid;
  return TS_OK;
}

static ts_err pick_user(pgc_user *u, ts_error *err)
{
  struct passwd *pw;
  memset(u, 0, sizeof(*u));
  if (geteuid() != 0) {
    pw = getpwuid(geteuid());
    u->switch_user = 0;
    u->uid = geteuid();
    u->gid = getegid();
    if (pw)
      return user_from_pw(pw, u, err);
    snprintf(u->name, sizeof(u->name), "uid %d", (int)u->uid);
    return TS_OK;
  }
  u->switch_user = 1;
  pw = getpwnam("postgres");
  if (!pw)
    pw = getpwnam("tapserve");
  if (!pw) {
    char *argv[] = {
        "/usr/sbin/useradd", "--system", "--user-group",      "--no-create-home", "--home-dir",
        "/nonexistent",      "--shell",  "/usr/sbin/nologin", "tapserve",         NULL};
    pgc_user self = {.switch_user = 0, .uid = 0, .gid = 0, .name = "root", .home = "/"};
    ts_err rc;
    ts_log(TS_LOG_INFO, NULL,
           "running as root and no user \"postgres\" exists: creating system user \"tapserve\" "
           "for PostgreSQL, which refuses to run as root");
    rc = run_pg(&self, argv, NULL, err);
    if (rc)
      return rc;
    pw = getpwnam("tapserve");
    if (!pw)
      return ts_fail(err, TS_EINTERNAL, 0, "useradd reported success but user tapserve is absent");
  }
  return user_from_pw(pw, u, err);
}

static int user_in_group(const pgc_user *u, gid_t g)
{
  gid_t groups[64];
  int n = (int)TS_ARRAY_LEN(groups);
  if (u->gid == g)
    return 1;
  if (getgrouplist(u->name, u->gid, groups, &n) < 0)
    return 0;
  for (int i = 0; i < n; i++) {
    if (groups[i] == g)
      return 1;
  }
  return 0;
}

/* The x bit `u` would be judged by on a directory with this owner. */
static mode_t search_bit_for(const pgc_user *u, const struct stat *st)
{
  if (st->st_uid == u->uid)
    return S_IXUSR;
  if (user_in_group(u, st->st_gid))
    return S_IXGRP;
  return S_IXOTH;
}

/* Root may create the data directory anywhere, e.g. in a fresh clone under
 * /root or under a 0700 directory, where the PostgreSQL user cannot reach
 * it. Every ancestor must let that user pass (search, not list), so we add
 * o+x exactly where it is missing and say so. */
static ts_err open_parent_chain(const pgc_user *u, const char *dir, ts_error *err)
{
  char path[PATH_MAX];
  size_t len = strlen(dir);
  if (!u->switch_user)
    return TS_OK;
  if (len >= sizeof(path))
    return ts_fail(err, TS_EINVAL, 0, "path too long: %s", dir);
  memcpy(path, dir, len + 1);
  /* The directory itself is chowned to the user later; only its ancestors
   * are checked here. */
  for (size_t i = 1; i < len; i++) {
    struct stat st;
    char saved;
    if (path[i] != '/')
      continue;
    saved = path[i];
    path[i] = '\0';
    if (stat(path, &st) != 0)
      return ts_fail(err, TS_EIO, 0, "stat %s: %s", path, strerror(errno));
    if (!(st.st_mode & search_bit_for(u, &st))) {
      if (chmod(path, (st.st_mode & 07777) | S_IXOTH) != 0)
        return ts_fail(err, TS_EIO, 0,
                       "user %s cannot reach %s and chmod o+x %s failed (%s): put the data "
                       "directory somewhere that user can reach, e.g. --data-dir /var/tmp/tapserve",
                       u->name, dir, path, strerror(errno));
      ts_log(TS_LOG_WARN, NULL,
             "chmod o+x %s: PostgreSQL runs as user %s, which must be able to reach %s", path,
             u->name, dir);
    }
    path[i] = saved;
  }
  return TS_OK;
}

/* ---- the data directory ----------------------------------------------- */

static ts_err mkdir_p(const char *dir, ts_error *err)
{
  char path[PATH_MAX];
  size_t len = strlen(dir);
  if (len >= sizeof(path))
    return ts_fail(err, TS_EINVAL, 0, "path too long: %s", dir);
  memcpy(path, dir, len + 1);
  for (size_t i = 1; i <= len; i++) {
    char saved;
    if (path[i] != '/' && path[i] != '\0')
      continue;
    saved = path[i];
    path[i] = '\0';
    /* The leaf gets 0700: PostgreSQL insists on it for its data directory. */
    if (mkdir(path, saved ? 0755 : 0700) != 0 && errno != EEXIST)
      return ts_fail(err, TS_EIO, 0, "cannot create directory %s: %s", path, strerror(errno));
    path[i] = saved;
  }
  return TS_OK;
}

/* Turns data_dir into an absolute, canonical path (creating it), because
 * the DSN's host= and unix_socket_directories need one. */
static ts_err absolute_dir(const char *dir, char out[PATH_MAX], ts_error *err)
{
  ts_err rc;
  if (!dir || !*dir)
    return ts_fail(err, TS_EINVAL, 0, "no data directory given");
  rc = mkdir_p(dir, err);
  if (rc)
    return rc;
  if (!realpath(dir, out))
    return ts_fail(err, TS_EIO, 0, "cannot resolve %s: %s", dir, strerror(errno));
  /* The socket path .s.PGSQL.NNNNN must fit in sun_path. */
  if (strlen(out) + sizeof("/.s.PGSQL.65535") > sizeof(((struct sockaddr_un *)0)->sun_path))
    return ts_fail(err, TS_EINVAL, 0,
                   "data directory path %s is too long for a unix socket (at most %zu "
                   "characters): choose a shorter --data-dir",
                   out, sizeof(((struct sockaddr_un *)0)->sun_path) - sizeof("/.s.PGSQL.65535"));
  if (strchr(out, '\'') || strchr(out, '\n'))
    return ts_fail(err, TS_EINVAL, 0, "data directory path %s must not contain quotes", out);
  return TS_OK;
}

static ts_err chown_dir(const pgc_user *u, const char *dir, ts_error *err)
{
  struct stat st;
  if (!u->switch_user)
    return TS_OK;
  if (stat(dir, &st) != 0)
    return ts_fail(err, TS_EIO, 0, "stat %s: %s", dir, strerror(errno));
  if (st.st_uid == u->uid)
    return TS_OK;
  if (chown(dir, u->uid, u->gid) != 0)
    return ts_fail(err, TS_EIO, 0, "chown %s to %s: %s", dir, u->name, strerror(errno));
  return TS_OK;
}

static int file_exists(const char *dir, const char *name)
{
  char path[PATH_MAX + 64];
  struct stat st;
  snprintf(path, sizeof(path), "%s/%s", dir, name);
  return stat(path, &st) == 0;
}

/* Writes our settings into DIR/tapserve.conf (owned by the cluster's user)
 * and makes postgresql.conf include it once. Rewritten on every start, so
 * a different --pg-port takes effect. */
static ts_err write_config(const pgc_user *u, const char *dir, int port, ts_error *err)
{
  char path[PATH_MAX + 64], main_conf[PATH_MAX + 64];
  FILE *f;
  int has_include = 0;
  char line[1024];
  static const char include_line[] = "include_if_exists = '" PGC_CONF_FILE "'\n";

  snprintf(path, sizeof(path), "%s/" PGC_CONF_FILE, dir);
  f = fopen(path, "w");
  if (!f)
    return ts_fail(err, TS_EIO, 0, "cannot write %s: %s", path, strerror(errno));
  fprintf(f,
          "# Written by tapserve at every start; edit postgresql.conf to override.\n"
          "listen_addresses = '127.0.0.1'\n"
          "port = %d\n"
          "unix_socket_directories = '%s'\n"
          "max_connections = 300\n"
          "shared_buffers = 256MB\n"
          "work_mem = 32MB\n"
          "maintenance_work_mem = 256MB\n"
          "fsync = on\n"
          "# No replicas ever read this cluster: minimal WAL makes bulk loads of\n"
          "# tables created in the same transaction (the demo and bench data)\n"
          "# skip WAL entirely.\n"
          "wal_level = minimal\n"
          "max_wal_senders = 0\n"
          "max_wal_size = 2GB\n"
          "logging_collector = on\n"
          "log_directory = 'log'\n"
          "log_filename = 'postgresql-%%a.log'\n"
          "log_truncate_on_rotation = on\n"
          "log_rotation_age = 1d\n"
          "log_line_prefix = '%%m [%%p] %%q%%u@%%d '\n"
          "timezone = 'UTC'\n",
          port, dir);
  if (fclose(f) != 0)
    return ts_fail(err, TS_EIO, 0, "cannot write %s: %s", path, strerror(errno));
  if (u->switch_user && chown(path, u->uid, u->gid) != 0)
    return ts_fail(err, TS_EIO, 0, "chown %s: %s", path, strerror(errno));

  snprintf(main_conf, sizeof(main_conf), "%s/postgresql.conf", dir);
  f = fopen(main_conf, "r");
  if (!f)
    return ts_fail(err, TS_EIO, 0, "cannot read %s: %s", main_conf, strerror(errno));
  while (fgets(line, sizeof(line), f)) {
    if (!strcmp(line, include_line))
      has_include = 1;
  }
  fclose(f);
  if (has_include)
    return TS_OK;
  f = fopen(main_conf, "a");
  if (!f)
    return ts_fail(err, TS_EIO, 0, "cannot append to %s: %s", main_conf, strerror(errno));
  fputs("\n# tapserve's settings (written by tapserve demo)\n", f);
  fputs(include_line, f);
  if (fclose(f) != 0)
    return ts_fail(err, TS_EIO, 0, "cannot append to %s: %s", main_conf, strerror(errno));
  return TS_OK;
}

/* postmaster.pid: line 1 is the pid, line 4 the port. A file whose pid is
 * gone, or now belongs to another program (containers reuse low pids after
 * a restart), is stale: PostgreSQL would refuse to start over it, so it is
 * removed. Sets *running_port to the port of a live postmaster, else 0. */
static ts_err check_pidfile(const char *dir, int *running_port, ts_error *err)
{
  char path[PATH_MAX + 64], proc[64], comm[64] = "";
  char line[256];
  long pid = 0, port = 0;
  FILE *f;
  int live = 0;

  *running_port = 0;
  snprintf(path, sizeof(path), "%s/postmaster.pid", dir);
  f = fopen(path, "r");
  if (!f)
    return TS_OK;
  for (int i = 1; i <= 4 && fgets(line, sizeof(line), f); i++) {
    if (i == 1)
      pid = strtol(line, NULL, 10);
    else if (i == 4)
      port = strtol(line, NULL, 10);
  }
  fclose(f);
  if (pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM)) {
    FILE *c;
    snprintf(proc, sizeof(proc), "/proc/%ld/comm", pid);
    c = fopen(proc, "r");
    if (c) {
      if (!fgets(comm, sizeof(comm), c))
        comm[0] = '\0';
      fclose(c);
    }
    live = !strncmp(comm, "postgres", 8) || !strncmp(comm, "postmaster", 10);
  }
  if (live) {
    *running_port = (int)port;
    return TS_OK;
  }
  ts_log(TS_LOG_WARN, NULL, "removing stale %s (pid %ld is not a running postmaster)", path, pid);
  if (unlink(path) != 0 && errno != ENOENT)
    return ts_fail(err, TS_EIO, 0, "cannot remove stale %s: %s", path, strerror(errno));
  return TS_OK;
}

/* ---- SQL on the fresh cluster ----------------------------------------- */

/* libpq conninfo for the cluster. The host value is quoted only when it
 * must be (blanks or backslashes; absolute_dir() refused quotes), so the
 * usual DSN stays easy to read and to paste. */
static int conninfo(char *out, size_t len, const char *dir, int port, const char *db)
{
  char host[2 * PATH_MAX + 3];
  size_t n = 0;
  int quote = strpbrk(dir, " \t\\") != NULL;
  if (quote)
    host[n++] = '\'';
  for (const char *p = dir; *p && n + 3 < sizeof(host); p++) {
    if (*p == '\\')
      host[n++] = '\\';
    host[n++] = *p;
  }
  if (quote)
    host[n++] = '\'';
  host[n] = '\0';
  return snprintf(out, len, "host=%s port=%d dbname=%s user=" PGC_SUPERUSER, host, port, db);
}

static ts_err exec_sql(PGconn *c, const char *sql, ts_error *err)
{
  PGresult *r = PQexec(c, sql);
  ts_err rc = TS_OK;
  ExecStatusType st = PQresultStatus(r);
  if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
    rc = ts_fail(err, TS_EDB, 0, "%s: %s", sql, PQerrorMessage(c));
  PQclear(r);
  return rc;
}

static ts_err ensure_database(const char *dir, int port, ts_error *err)
{
  char ci[PATH_MAX + 128];
  PGconn *c;
  PGresult *r;
  ts_err rc = TS_OK;
  int exists;

  conninfo(ci, sizeof(ci), dir, port, "postgres");
  c = PQconnectdb(ci);
  if (PQstatus(c) != CONNECTION_OK) {
    rc = ts_fail(err, TS_EUNAVAIL, 0, "cannot connect to the embedded cluster (%s): %s", ci,
                 PQerrorMessage(c));
    PQfinish(c);
    return rc;
  }
  r = PQexec(c, "SELECT 1 FROM pg_database WHERE datname = '" PGC_DBNAME "'");
  if (PQresultStatus(r) != PGRES_TUPLES_OK) {
    rc = ts_fail(err, TS_EDB, 0, "listing databases: %s", PQerrorMessage(c));
    PQclear(r);
    PQfinish(c);
    return rc;
  }
  exists = PQntuples(r) > 0;
  PQclear(r);
  if (!exists) {
    ts_log(TS_LOG_INFO, NULL, "creating database " PGC_DBNAME);
    rc = exec_sql(c, "CREATE DATABASE " PGC_DBNAME " ENCODING 'UTF8' TEMPLATE template0", err);
  }
  PQfinish(c);
  if (rc)
    return rc;

  conninfo(ci, sizeof(ci), dir, port, PGC_DBNAME);
  c = PQconnectdb(ci);
  if (PQstatus(c) != CONNECTION_OK) {
    rc = ts_fail(err, TS_EUNAVAIL, 0, "cannot connect to %s: %s", ci, PQerrorMessage(c));
    PQfinish(c);
    return rc;
  }
  rc = exec_sql(c, "SET client_min_messages = warning", err);
  if (!rc)
    rc = exec_sql(c, "CREATE EXTENSION IF NOT EXISTS pg_sphere", err);
  if (rc && err && strstr(err->msg, "is already the commutator of operator")) {
    /* Debian 12's pgSphere script declares two obsolete operators on smoc
     * that current PostgreSQL 15 releases reject; the install step repairs
     * it (scripts/fix-pgsphere.sh). */
    PQfinish(c);
    return ts_fail(err, TS_EUNAVAIL, 0,
                   "CREATE EXTENSION pg_sphere fails with this PostgreSQL: run "
                   "scripts/install-deps.sh run as root (it repairs the installed pgSphere "
                   "script, see scripts/fix-pgsphere.sh)");
  }
  if (rc && err) {
    char msg[sizeof(err->msg)];
    memcpy(msg, err->msg, sizeof(msg));
    ts_fail(err, rc, 0,
            "%s (the pgSphere extension comes with the Debian package postgresql-15-pgsphere)",
            msg);
  }
  PQfinish(c);
  return rc;
}

/* ---- public ----------------------------------------------------------- */

ts_err pgc_ensure(const pgc_opts *o, char *dsn, size_t dsnlen, ts_error *err)
{
  char dir[PATH_MAX], logfile[PATH_MAX + 32], portstr[16];
  pgc_user u;
  ts_err rc;
  int running_port = 0;

  if (o->port <= 0 || o->port > 65535)
    return ts_fail(err, TS_EINVAL, 0, "PostgreSQL port %d is out of range", o->port);
  rc = pick_user(&u, err);
  if (!rc)
    rc = absolute_dir(o->data_dir, dir, err);
  if (!rc)
    rc = open_parent_chain(&u, dir, err);
  if (rc)
    return rc;
  snprintf(logfile, sizeof(logfile), "%s/server.log", dir);
  snprintf(portstr, sizeof(portstr), "%d", o->port);

  if (!file_exists(dir, "PG_VERSION")) {
    char *argv[] = {
        PGC_BINDIR "/initdb", "-D", dir, "-E", "UTF8", "--locale=C", "-A", "trust", "-U",
        PGC_SUPERUSER,        NULL};
    if (access(argv[0], X_OK) != 0)
      return ts_fail(err, TS_EUNAVAIL, 0,
                     "%s not found: install the Debian package postgresql-15 "
                     "(make deps does)",
                     argv[0]);
    rc = chown_dir(&u, dir, err);
    if (rc)
      return rc;
    ts_log(TS_LOG_INFO, NULL, "creating PostgreSQL cluster in %s (initdb as user %s)", dir, u.name);
    rc = run_pg(&u, argv, NULL, err);
    if (rc)
      return rc;
  } else if (u.switch_user) {
    struct stat st;
    if (stat(dir, &st) == 0 && st.st_uid != u.uid)
      return ts_fail(err, TS_EINVAL, 0,
                     "%s belongs to uid %d, but PostgreSQL runs as %s (uid %d): chown -R %s %s, "
                     "or use another --data-dir",
                     dir, (int)st.st_uid, u.name, (int)u.uid, u.name, dir);
  }

  rc = check_pidfile(dir, &running_port, err);
  if (rc)
    return rc;
  if (running_port && running_port != o->port) {
    char *argv[] = {PGC_BINDIR "/pg_ctl", "stop", "-D", dir, "-m", "fast", "-w", NULL};
    ts_log(TS_LOG_INFO, NULL, "cluster in %s runs on port %d, restarting it on port %d", dir,
           running_port, o->port);
    rc = run_pg(&u, argv, NULL, err);
    if (rc)
      return rc;
    running_port = 0;
  }
  rc = write_config(&u, dir, o->port, err);
  if (rc)
    return rc;
  if (!running_port) {
    char *argv[] = {
        PGC_BINDIR "/pg_ctl", "start", "-D", dir, "-w", "-t", "120", "-l", logfile, NULL};
    ts_log(TS_LOG_INFO, NULL, "starting PostgreSQL in %s on 127.0.0.1:%d", dir, o->port);
    rc = run_pg(&u, argv, logfile, err);
    if (rc)
      return rc;
  } else {
    ts_log(TS_LOG_INFO, NULL, "PostgreSQL in %s is already running on port %d", dir, o->port);
  }

  rc = ensure_database(dir, o->port, err);
  if (rc)
    return rc;
  if ((size_t)conninfo(dsn, dsnlen, dir, o->port, PGC_DBNAME) >= dsnlen)
    return ts_fail(err, TS_EINVAL, 0, "DSN buffer too small");
  ts_log(TS_LOG_INFO, NULL,
         "embedded PostgreSQL ready: %s (over TCP: host=127.0.0.1 port=%d dbname=" PGC_DBNAME
         " user=" PGC_SUPERUSER ")",
         dsn, o->port);
  return TS_OK;
}

ts_err pgc_stop(const pgc_opts *o, ts_error *err)
{
  char dir[PATH_MAX];
  pgc_user u;
  ts_err rc;
  int running_port = 0;
  char *argv[] = {PGC_BINDIR "/pg_ctl", "stop", "-D", dir, "-m", "fast", "-w", "-t", "120", NULL};

  rc = pick_user(&u, err);
  if (rc)
    return rc;
  if (!o->data_dir || !realpath(o->data_dir, dir))
    return ts_fail(err, TS_EINVAL, 0, "no cluster at %s", o->data_dir ? o->data_dir : "(null)");
  rc = check_pidfile(dir, &running_port, err);
  if (rc)
    return rc;
  if (!running_port) {
    ts_log(TS_LOG_INFO, NULL, "PostgreSQL in %s is not running", dir);
    return TS_OK;
  }
  ts_log(TS_LOG_INFO, NULL, "stopping PostgreSQL in %s", dir);
  return run_pg(&u, argv, NULL, err);
}
