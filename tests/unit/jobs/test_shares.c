/* jobs/shares.c: the title and description rules (pure), and against
 * TAPSERVE_TEST_DSN the life of a group and a share: what each member
 * reads through jobs_utab_readable before, during and after, ownership
 * refused with TS_EFORBIDDEN, failures that change nothing, the events
 * each change publishes, and the cascades from tables, groups and users. */
#include "test_list.h"
#include "ts_test.h"
#include "ts_test_pg.h"

#include "jobs/events.h"
#include "jobs/shares.h"
#include "jobs/usertables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ts_err test_load_rows(PGconn *c, const jobs_load_target *t, int n, int garbage, uint64_t max_bytes,
                      ts_error *err);

int test_share_checks(void)
{
  ts_error e;
  char big[JOBS_SHARE_DESC_MAX + 2];
  TS_CHECK_EQ_INT(jobs_group_title_check("my group", &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_group_title_check("caf\xc3\xa9", &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_group_title_check("", &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_group_title_check("   ", &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_group_title_check("a\nb", &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_group_title_check("a\x7f", &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_group_title_check("\xc3", &e), TS_EINVAL);
  memset(big, 'x', sizeof big - 1);
  big[sizeof big - 1] = 0;
  big[JOBS_GROUP_TITLE_MAX + 1] = 0;
  TS_CHECK_EQ_INT(jobs_group_title_check(big, &e), TS_EINVAL);
  big[JOBS_GROUP_TITLE_MAX] = 0;
  TS_CHECK_EQ_INT(jobs_group_title_check(big, &e), TS_OK);

  TS_CHECK_EQ_INT(jobs_share_desc_check("", &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_share_desc_check("two\nlines\tand a tab\r\n", &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_share_desc_check("bell\a", &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_share_desc_check("\xff", &e), TS_EINVAL);
  memset(big, 'x', sizeof big - 1);
  TS_CHECK_EQ_INT(jobs_share_desc_check(big, &e), TS_EINVAL);
  big[JOBS_SHARE_DESC_MAX] = 0;
  TS_CHECK_EQ_INT(jobs_share_desc_check(big, &e), TS_OK);
  return 0;
}

/* The events delivered so far, as " payload" one after the other. */
static const char *events(PGconn *c, char *buf, size_t cap)
{
  PGnotify *n;
  size_t len = 0;
  buf[0] = 0;
  PQconsumeInput(c);
  while ((n = PQnotifies(c)) != NULL) {
    if (len < cap)
      len += (size_t)snprintf(buf + len, cap - len, " %s", n->extra);
    PQfreemem(n);
  }
  return buf;
}

/* The tables u may read, as "schema.table,..." */
static const char *readable(PGconn *c, const jobs_user *u, char *buf, size_t cap)
{
  ts_arena *a = ts_arena_new(0, 0);
  jobs_utab *t = NULL;
  size_t n = 0, len = 0;
  ts_error e;
  buf[0] = 0;
  if (!a || jobs_utab_readable(c, a, u, &t, &n, &e))
    snprintf(buf, cap, "(error)");
  for (size_t i = 0; i < n && len < cap; i++)
    len += (size_t)snprintf(buf + len, cap - len, "%s%s.%s", i ? "," : "", t[i].schema, t[i].table);
  ts_arena_free(a);
  return buf;
}

static int add_user(PGconn *c, const char *name, jobs_user *u)
{
  char hash[JOBS_PWHASH_MAX];
  ts_error e;
  return jobs_user_add(c, name, "pw", 0, &e) || jobs_user_get(c, name, u, hash, &e);
}

int test_pg_share_life(void)
{
  PGconn *c = ts_test_pg();
  ts_error e;
  jobs_user al, bo, cy;
  ts_arena *a = ts_arena_new(0, 0);
  char buf[1024], want[256];
  int64_t gid = 0, g2 = 0;
  jobs_group *g = NULL;
  jobs_share *s = NULL;
  size_t n = 0;

  TS_CHECK(c && a);
  TS_CHECK(ts_test_exec_ok(c, "CREATE EXTENSION IF NOT EXISTS pg_sphere"));
  TS_CHECK_EQ_INT(jobs_users_init(&e), TS_OK);
  TS_CHECK_EQ_INT(jobs_migrate(c, NULL, NULL, &e), TS_OK);
  PQclear(PQexec(c, "DELETE FROM tapserve.users WHERE name IN ('ut_sh_al', 'ut_sh_bo', "
                    "'ut_sh_cy')"));
  TS_CHECK_EQ_INT(add_user(c, "ut_sh_al", &al), 0);
  TS_CHECK_EQ_INT(add_user(c, "ut_sh_bo", &bo), 0);
  TS_CHECK_EQ_INT(add_user(c, "ut_sh_cy", &cy), 0);
  {
    jobs_utab_new nt = {&al, "t", "al's", NULL, 0};
    jobs_load_target t = jobs_utab_target(&nt);
    TS_CHECK_EQ_INT(test_load_rows(c, &t, 3, 0, 0, &e), TS_OK);
    nt.table = "u";
    TS_CHECK_EQ_INT(test_load_rows(c, &t, 2, 0, 0, &e), TS_OK);
  }
  TS_CHECK(ts_test_exec_ok(c, "LISTEN " JOBS_CHANNEL));
  TS_CHECK_STREQ(readable(c, &bo, buf, sizeof buf), "");

  /* a group, announced; its title is al's alone */
  TS_CHECK_EQ_INT(jobs_group_create(c, &al, "friends", "close ones", &gid, &e), TS_OK);
  snprintf(want, sizeof want, " SHARE_GROUPS_CREATED_EVENT %lld", (long long)gid);
  TS_CHECK_STREQ(events(c, buf, sizeof buf), want);
  TS_CHECK_EQ_INT(jobs_group_create(c, &al, "friends", NULL, &g2, &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "already"));
  TS_CHECK_EQ_INT(jobs_group_create(c, &bo, "friends", NULL, &g2, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_group_create(c, &al, "", NULL, &g2, &e), TS_EINVAL);
  TS_CHECK_EQ_INT(PQtransactionStatus(c), PQTRANS_IDLE);
  events(c, buf, sizeof buf);

  /* members: bo joins (a member's events name the user) */
  {
    const char *m[] = {"ut_sh_bo"};
    jobs_group_change ch = {NULL, NULL, 1, m, 1};
    TS_CHECK_EQ_INT(jobs_group_update(c, &al, gid, &ch, &e), TS_OK);
    snprintf(want, sizeof want,
             " SHARE_USERS_CREATED_EVENT ut_sh_bo SHARE_GROUPS_UPDATED_EVENT %lld", (long long)gid);
    TS_CHECK_STREQ(events(c, buf, sizeof buf), want);
  }
  /* a member does not read what is not shared */
  TS_CHECK_STREQ(readable(c, &bo, buf, sizeof buf), "");

  /* shared: bo reads it, cy does not; al's own reading is unchanged */
  TS_CHECK_EQ_INT(jobs_share_put(c, &al, "user_ut_sh_al.t", "for friends", &gid, 1, &e), TS_OK);
  TS_CHECK_STREQ(readable(c, &bo, buf, sizeof buf), "user_ut_sh_al.t");
  TS_CHECK_STREQ(readable(c, &cy, buf, sizeof buf), "");
  TS_CHECK_STREQ(readable(c, &al, buf, sizeof buf), "user_ut_sh_al.t,user_ut_sh_al.u");
  TS_CHECK_EQ_INT(jobs_shares_own(c, a, &al, &s, &n, &e), TS_OK);
  TS_CHECK_EQ_INT(n, 1);
  TS_CHECK_STREQ(s[0].table, "user_ut_sh_al.t");
  TS_CHECK_STREQ(s[0].description, "for friends");
  TS_CHECK_EQ_INT(s[0].group_id, gid);
  snprintf(want, sizeof want, " SHARE_ITEMS_CREATED_EVENT %lld", (long long)s[0].id);
  TS_CHECK_STREQ(events(c, buf, sizeof buf), want);
  /* again: the same share, a new description */
  TS_CHECK_EQ_INT(jobs_share_put(c, &al, "t", "still", &gid, 1, &e), TS_OK);
  snprintf(want, sizeof want, " SHARE_ITEMS_UPDATED_EVENT %lld", (long long)s[0].id);
  TS_CHECK_STREQ(events(c, buf, sizeof buf), want);
  TS_CHECK_EQ_INT(jobs_shares_own(c, a, &al, &s, &n, &e), TS_OK);
  TS_CHECK_EQ_INT(n, 1);
  TS_CHECK_STREQ(s[0].description, "still");

  /* what bo sees of the group; the owner's come first for each */
  TS_CHECK_EQ_INT(jobs_groups_visible(c, a, &bo, &g, &n, &e), TS_OK);
  TS_CHECK_EQ_INT(n, 2);
  TS_CHECK_STREQ(g[0].owner, "ut_sh_bo");
  TS_CHECK_STREQ(g[1].owner, "ut_sh_al");
  TS_CHECK_STREQ(g[1].title, "friends");
  TS_CHECK_STREQ(g[1].description, "close ones");
  TS_CHECK_EQ_INT(g[1].nmembers, 1);
  TS_CHECK_STREQ(g[1].members[0], "ut_sh_bo");
  TS_CHECK_EQ_INT(jobs_groups_visible(c, a, &cy, &g, &n, &e), TS_OK);
  TS_CHECK_EQ_INT(n, 0);

  /* bo may neither change al's group nor share or unshare al's table */
  {
    jobs_group_change ch = {"mine", NULL, 0, NULL, 0};
    TS_CHECK_EQ_INT(jobs_group_update(c, &bo, gid, &ch, &e), TS_EFORBIDDEN);
    TS_CHECK_EQ_INT(jobs_group_delete(c, &bo, gid, &e), TS_EFORBIDDEN);
    TS_CHECK_EQ_INT(jobs_group_update(c, &bo, gid + 100000, &ch, &e), TS_ENOTFOUND);
    TS_CHECK_EQ_INT(jobs_share_put(c, &bo, "user_ut_sh_al.t", "", &g2, 1, &e), TS_EFORBIDDEN);
    TS_CHECK(strstr(e.msg, "another user's"));
    TS_CHECK_EQ_INT(jobs_share_put(c, &bo, "user_ut_sh_al.nothing", "", &g2, 1, &e), TS_ENOTFOUND);
    TS_CHECK_EQ_INT(jobs_share_remove(c, &bo, s[0].id, &e), TS_EFORBIDDEN);
    TS_CHECK_EQ_INT(jobs_share_remove(c, &bo, s[0].id + 100000, &e), TS_ENOTFOUND);
    /* al may not share into bo's group, of which al is no member; all or nothing */
    int64_t both[] = {gid, g2};
    TS_CHECK_EQ_INT(jobs_share_put(c, &al, "u", "", both, 2, &e), TS_EFORBIDDEN);
    TS_CHECK_EQ_INT(jobs_share_put(c, &al, "nothing", "", &gid, 1, &e), TS_ENOTFOUND);
    TS_CHECK_EQ_INT(jobs_share_put(c, &al, "u", "", NULL, 0, &e), TS_EINVAL);
    TS_CHECK_EQ_INT(PQtransactionStatus(c), PQTRANS_IDLE);
    TS_CHECK_STREQ(events(c, buf, sizeof buf), "");
    TS_CHECK_EQ_INT(ts_test_count(c, "SELECT count(*) FROM tapserve.shares WHERE table_name = 'u'"),
                    0);
  }
  /* an unknown member changes nothing, not even the title */
  {
    const char *m[] = {"ut_sh_cy", "ut_sh_nobody"};
    jobs_group_change ch = {"renamed", NULL, 1, m, 2};
    char q[128];
    TS_CHECK_EQ_INT(jobs_group_update(c, &al, gid, &ch, &e), TS_ENOTFOUND);
    TS_CHECK(strstr(e.msg, "ut_sh_nobody"));
    snprintf(q, sizeof q,
             "SELECT count(*) FROM tapserve.groups WHERE name = 'friends' AND id = %lld",
             (long long)gid);
    TS_CHECK_EQ_INT(ts_test_count(c, q), 1);
    TS_CHECK_STREQ(events(c, buf, sizeof buf), "");
  }

  /* unshared: gone for bo at once */
  TS_CHECK_EQ_INT(jobs_share_remove(c, &al, s[0].id, &e), TS_OK);
  snprintf(want, sizeof want, " SHARE_ITEMS_REMOVED_EVENT %lld", (long long)s[0].id);
  TS_CHECK_STREQ(events(c, buf, sizeof buf), want);
  TS_CHECK_STREQ(readable(c, &bo, buf, sizeof buf), "");

  /* shared again; bo leaves and cy joins: the members' events, and the reading follows */
  TS_CHECK_EQ_INT(jobs_share_put(c, &al, "t", NULL, &gid, 1, &e), TS_OK);
  {
    const char *m[] = {"ut_sh_cy"};
    jobs_group_change ch = {NULL, NULL, 1, m, 1};
    events(c, buf, sizeof buf);
    TS_CHECK_EQ_INT(jobs_group_update(c, &al, gid, &ch, &e), TS_OK);
    snprintf(want, sizeof want,
             " SHARE_USERS_REMOVED_EVENT ut_sh_bo SHARE_USERS_CREATED_EVENT ut_sh_cy"
             " SHARE_GROUPS_UPDATED_EVENT %lld",
             (long long)gid);
    TS_CHECK_STREQ(events(c, buf, sizeof buf), want);
  }
  TS_CHECK_STREQ(readable(c, &bo, buf, sizeof buf), "");
  TS_CHECK_STREQ(readable(c, &cy, buf, sizeof buf), "user_ut_sh_al.t");
  /* the group's owner reads what a member shared with it */
  {
    jobs_utab_new nt = {&cy, "c1", NULL, NULL, 0};
    jobs_load_target t = jobs_utab_target(&nt);
    TS_CHECK_EQ_INT(test_load_rows(c, &t, 1, 0, 0, &e), TS_OK);
    TS_CHECK_EQ_INT(jobs_share_put(c, &cy, "c1", NULL, &gid, 1, &e), TS_OK);
    TS_CHECK_STREQ(readable(c, &al, buf, sizeof buf),
                   "user_ut_sh_al.t,user_ut_sh_al.u,user_ut_sh_cy.c1");
  }

  /* a renamed table keeps its share; a deleted one takes it along */
  TS_CHECK_EQ_INT(jobs_utab_rename(c, &al, "t", "t2", NULL, NULL, 0, &e), TS_OK);
  TS_CHECK_STREQ(readable(c, &cy, buf, sizeof buf), "user_ut_sh_al.t2,user_ut_sh_cy.c1");
  TS_CHECK_EQ_INT(jobs_utab_delete(c, &al, "t2", &e), TS_OK);
  TS_CHECK_STREQ(readable(c, &cy, buf, sizeof buf), "user_ut_sh_cy.c1");
  /* a deleted group takes its members and shares along */
  TS_CHECK_EQ_INT(jobs_share_put(c, &al, "u", NULL, &gid, 1, &e), TS_OK);
  events(c, buf, sizeof buf);
  TS_CHECK_EQ_INT(jobs_group_delete(c, &al, gid, &e), TS_OK);
  snprintf(want, sizeof want, " SHARE_GROUPS_REMOVED_EVENT %lld", (long long)gid);
  TS_CHECK_STREQ(events(c, buf, sizeof buf), want);
  TS_CHECK_STREQ(readable(c, &cy, buf, sizeof buf), "user_ut_sh_cy.c1");
  TS_CHECK_EQ_INT(jobs_group_delete(c, &al, gid, &e), TS_ENOTFOUND);
  TS_CHECK_EQ_INT(ts_test_count(c,
                                "SELECT count(*) FROM tapserve.shares h JOIN tapserve.users u"
                                " ON u.id = h.owner_id WHERE u.name IN ('ut_sh_al', 'ut_sh_cy')"),
                  0);
  /* a deleted user: its memberships go */
  {
    const char *m[] = {"ut_sh_bo"};
    jobs_group_change ch = {NULL, NULL, 1, m, 1};
    int yes = 0;
    TS_CHECK_EQ_INT(jobs_group_update(c, &bo, g2, &ch, &e), TS_OK);
    TS_CHECK_EQ_INT(jobs_share_user_exists(c, "ut_sh_bo", &yes, &e), TS_OK);
    TS_CHECK_EQ_INT(yes, 1);
    TS_CHECK_EQ_INT(jobs_user_del(c, "ut_sh_bo", &e), TS_OK);
    TS_CHECK_EQ_INT(jobs_share_user_exists(c, "ut_sh_bo", &yes, &e), TS_OK);
    TS_CHECK_EQ_INT(yes, 0);
    TS_CHECK_EQ_INT(ts_test_count(c, "SELECT count(*) FROM tapserve.group_members m"
                                     " LEFT JOIN tapserve.users u ON u.id = m.user_id"
                                     " WHERE u.id IS NULL"),
                    0);
  }
  TS_CHECK_EQ_INT(jobs_user_del(c, "ut_sh_al", &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_user_del(c, "ut_sh_cy", &e), TS_OK);
  ts_arena_free(a);
  PQfinish(c);
  return 0;
}
