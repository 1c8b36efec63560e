/* tapserve/cmd/user_int.h: shared by cmd/user.c and cmd/token.c only. */
#ifndef TS_TAPSERVE_CMD_USER_INT_H
#define TS_TAPSERVE_CMD_USER_INT_H

#include "tapserve/tapserve.h"

/* Connects like cmd_db_connect, then starts libsodium and brings schema
 * tapserve up to date (the users' tables may not exist yet). NULL after
 * printing "PROG: message". */
PGconn *cmd__users_connect(const char *prog, cmd_db *o);
/* One line of standard input into pw (cap bytes), its line end cut off;
 * without echo, after a prompt on stderr, when stdin is a terminal. -1
 * after a message for no line, an empty one or one too long. */
int cmd__read_password(const char *prog, char *pw, size_t cap);

#endif
