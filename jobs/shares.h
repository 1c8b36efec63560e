/* jobs/shares.h: TAP+ sharing (prefix jobs_share_, jobs_group_): groups of
 * users, owned by one user each (tapserve.groups, tapserve.group_members),
 * and shares: one user table of its owner's made readable by the members
 * (and the owner) of one group (tapserve.shares). Which tables a user may
 * read is decided in one place, jobs_utab_readable; this file changes the
 * rows it reads.
 *
 * Every change is one transaction that checks ownership in the database
 * (never in instance memory) and publishes its SHARE_*_EVENTs, which are
 * delivered when it commits. A share goes with its table, its group or its
 * user by cascade. Blocking libpq on a service connection the caller owns;
 * never on the loop. docs/internals/shares.md. */
#ifndef TS_JOBS_SHARES_H
#define TS_JOBS_SHARES_H

#include "jobs/jobs.h"
#include "jobs/users.h"

enum {
  JOBS_GROUP_TITLE_MAX = 128, /* bytes of a group's title */
  JOBS_SHARE_DESC_MAX = 1024, /* bytes of a group's or a share's description */
  JOBS_GROUP_MEMBERS_MAX = 1000,
};

/* A group as its owner and members see it. */
typedef struct jobs_group {
  int64_t id;
  const char *owner; /* the owner's user name */
  const char *title;
  const char *description; /* "" when none */
  size_t nmembers;
  const char **members; /* user names, sorted */
} jobs_group;

/* The groups user `u` owns, then those it is a member of, each by title
 * then id, in `a`. */
ts_err jobs_groups_visible(PGconn *conn, ts_arena *a, const jobs_user *u, jobs_group **out,
                           size_t *n, ts_error *err);

/* A title: 1 to JOBS_GROUP_TITLE_MAX bytes of UTF-8 without control
 * characters, not blank. A description: at most JOBS_SHARE_DESC_MAX
 * bytes of UTF-8, tabs and line ends the only control characters. TS_EINVAL
 * naming what is wrong. */
ts_err jobs_group_title_check(const char *title, ts_error *err);
ts_err jobs_share_desc_check(const char *desc, ts_error *err);

/* A new group of u's (SHARE_GROUPS_CREATED), its id into *id. TS_EINVAL
 * for a bad title or description, or a title u has given a group already. */
ts_err jobs_group_create(PGconn *conn, const jobs_user *u, const char *title,
                         const char *description, int64_t *id, ts_error *err);

/* What jobs_group_update changes; NULL fields are kept. */
typedef struct jobs_group_change {
  const char *title, *description;
  /* With set_members, the members become exactly these user names
   * (SHARE_USERS_CREATED for each one added, SHARE_USERS_REMOVED for each
   * one removed, the user's name as id). */
  int set_members;
  const char *const *members;
  size_t nmembers;
} jobs_group_change;
/* Changes group `id` of u's (SHARE_GROUPS_UPDATED). TS_ENOTFOUND for no
 * such group or a member name no user has (nothing changes then);
 * TS_EFORBIDDEN when the group is another user's; TS_EINVAL for a bad
 * title or description, a title u has given another group, or more than
 * JOBS_GROUP_MEMBERS_MAX members. */
ts_err jobs_group_update(PGconn *conn, const jobs_user *u, int64_t id, const jobs_group_change *c,
                         ts_error *err);
/* Deletes group `id` of u's with its members and the shares with it
 * (SHARE_GROUPS_REMOVED). TS_ENOTFOUND, TS_EFORBIDDEN as above. */
ts_err jobs_group_delete(PGconn *conn, const jobs_user *u, int64_t id, ts_error *err);

/* One share of u's: table `table` ("user_x.t") readable by group `group_id`. */
typedef struct jobs_share {
  int64_t id;
  const char *table; /* schema-qualified, as ADQL names it */
  const char *description;
  int64_t group_id;
} jobs_share;
/* The shares of u's tables, by table then group, in `a`. */
ts_err jobs_shares_own(PGconn *conn, ts_arena *a, const jobs_user *u, jobs_share **out, size_t *n,
                       ts_error *err);

/* Shares u's table `table` ("t" or "user_x.t") with each group of
 * `groups` (one u owns or is a member of), with `description`: a share
 * per group, made (SHARE_ITEMS_CREATED) or given the new description
 * (SHARE_ITEMS_UPDATED); shares with other groups are kept. All or
 * nothing: TS_ENOTFOUND for no such table or group, TS_EFORBIDDEN for
 * another user's table or a group u neither owns nor belongs to, TS_EINVAL
 * for a bad name or description. */
ts_err jobs_share_put(PGconn *conn, const jobs_user *u, const char *table, const char *description,
                      const int64_t *groups, size_t ngroups, ts_error *err);
/* Ends share `id` of u's (SHARE_ITEMS_REMOVED). TS_ENOTFOUND for no such
 * share, TS_EFORBIDDEN for another user's. */
ts_err jobs_share_remove(PGconn *conn, const jobs_user *u, int64_t id, ts_error *err);

/* 1 into *yes when a user is named `name` (exactly). */
ts_err jobs_share_user_exists(PGconn *conn, const char *name, int *yes, ts_error *err);

#endif
