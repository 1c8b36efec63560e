/* tapserve drain: asks a running instance to drain (SIGUSR1) and waits
 * for it to exit. The instance is named by its pid (--pid), by a pid file
 * (--pid-file), or by its configuration (-c FILE: [server] pid_file).
 * The signal, not the database: the operator drains the instance on the
 * host where it runs (systemd, a deployment script), and a signal reaches
 * it even while the database is away. */
#include "tapserve/tapserve.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static void drain_usage(FILE *f)
{
  fputs("usage: tapserve drain (--pid PID | --pid-file FILE | -c FILE) [--no-wait]\n"
        "                      [--timeout SECONDS]\n"
        "Drains a running tapserve instance: /availability turns false at once, new\n"
        "/sync and /async requests get 503, the listener closes after [server]\n"
        "drain_delay, responses in progress finish, jobs running there finish within\n"
        "drain_grace or go back to the queue; then the instance exits 0.\n"
        "  --pid PID         the instance's process id\n"
        "  --pid-file FILE   a file holding it ([server] pid_file)\n"
        "  -c FILE           the instance's configuration: its [server] pid_file\n"
        "  --no-wait         return once the signal is sent\n"
        "  --timeout S       wait at most S seconds for the exit (default: no limit);\n"
        "                    exit status 1 when it is still running then\n",
        f);
}

/* The pid in `path`; 0 after a message on stderr. */
static pid_t read_pid_file(const char *path)
{
  char line[32] = "";
  FILE *f = fopen(path, "r");
  long v;
  char *end;
  if (!f) {
    fprintf(stderr, "tapserve drain: cannot read %s: %s\n", path, strerror(errno));
    return 0;
  }
  if (!fgets(line, sizeof line, f))
    line[0] = '\0';
  fclose(f);
  v = strtol(line, &end, 10);
  if (end == line || (*end && *end != '\n') || v <= 1 || v > INT32_MAX) {
    fprintf(stderr, "tapserve drain: %s does not hold a process id\n", path);
    return 0;
  }
  return (pid_t)v;
}

/* Waits for `pid` to end: 0 when it did, 1 at the timeout (ms < 0: none).
 * A pidfd says it without polling; kernels without one get kill(pid, 0)
 * every 100 ms. */
static int wait_exit(pid_t pid, int64_t ms)
{
  int64_t end = ms < 0 ? INT64_MAX : ts_now_ms() + ms;
#ifdef SYS_pidfd_open
  int fd = (int)syscall(SYS_pidfd_open, pid, 0);
  if (fd >= 0) {
    for (;;) {
      int64_t left = end - ts_now_ms();
      struct pollfd p = {.fd = fd, .events = POLLIN};
      int r = poll(&p, 1, ms < 0 || left > 60000 ? 60000 : (int)(left > 0 ? left : 0));
      if (r > 0 || (r < 0 && errno != EINTR)) {
        close(fd);
        return 0;
      }
      if (ms >= 0 && ts_now_ms() >= end) {
        close(fd);
        return 1;
      }
    }
  }
#endif
  while (kill(pid, 0) == 0 || errno == EPERM) {
    if (ts_now_ms() >= end)
      return 1;
    poll(NULL, 0, 100);
  }
  return 0;
}

int cmd_drain(int argc, char **argv)
{
  const char *pid_s = NULL, *pid_file = NULL, *config = NULL, *timeout_s = NULL;
  int no_wait = 0, rc;
  int64_t timeout_ms = -1, v;
  pid_t pid = 0;
  cfg c;
  ts_error err;

  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int more = i + 1 < argc;
    if (!strcmp(a, "--pid") && more)
      pid_s = argv[++i];
    else if (!strcmp(a, "--pid-file") && more)
      pid_file = argv[++i];
    else if ((!strcmp(a, "-c") || !strcmp(a, "--config")) && more)
      config = argv[++i];
    else if (!strcmp(a, "--timeout") && more)
      timeout_s = argv[++i];
    else if (!strcmp(a, "--no-wait"))
      no_wait = 1;
    else if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      drain_usage(stdout);
      return 0;
    } else {
      fprintf(stderr, "tapserve drain: unexpected argument %s (try --help)\n", a);
      return 2;
    }
  }
  if (!!pid_s + !!pid_file + !!config != 1) {
    fputs("tapserve drain: give one of --pid PID, --pid-file FILE or -c FILE\n", stderr);
    return 2;
  }
  if (timeout_s) {
    if (ts_parse_int64(timeout_s, &v) || v < 0 || v > 365 * 86400) {
      fprintf(stderr, "tapserve drain: --timeout takes seconds, not %s\n", timeout_s);
      return 2;
    }
    timeout_ms = v * 1000;
  }
  if (pid_s) {
    if (ts_parse_int64(pid_s, &v) || v <= 1 || v > INT32_MAX) {
      fprintf(stderr, "tapserve drain: --pid takes a process id, not %s\n", pid_s);
      return 2;
    }
    pid = (pid_t)v;
  } else if (pid_file) {
    pid = read_pid_file(pid_file);
  } else {
    cfg_defaults(&c);
    if (cfg_load(&c, config, &err) || cfg_finish(&c, &err)) {
      fprintf(stderr, "tapserve drain: %s\n", err.msg);
      cfg_free(&c);
      return 2;
    }
    if (!c.pid_file[0])
      fprintf(stderr, "tapserve drain: %s sets no [server] pid_file; use --pid\n", config);
    else
      pid = read_pid_file(c.pid_file);
    cfg_free(&c);
  }
  if (!pid)
    return 1;
  if (kill(pid, SIGUSR1) != 0) {
    fprintf(stderr, "tapserve drain: cannot signal process %d: %s\n", (int)pid, strerror(errno));
    return 1;
  }
  printf("tapserve drain: process %d is draining\n", (int)pid);
  fflush(stdout);
  if (no_wait)
    return 0;
  rc = wait_exit(pid, timeout_ms);
  if (rc)
    fprintf(stderr, "tapserve drain: process %d still runs after %s s\n", (int)pid, timeout_s);
  else
    printf("tapserve drain: process %d has exited\n", (int)pid);
  return rc;
}
