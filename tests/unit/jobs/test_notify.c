/* jobs/notify.c: kinds and texts (pure), and notifications stored, read,
 * dismissed and expired against TAPSERVE_TEST_DSN. */
#include "test_list.h"
#include "ts_test.h"
#include "ts_test_pg.h"

#include "jobs/events.h"
#include "jobs/notify.h"
#include "jobs/users.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int test_notify_kinds(void)
{
  jobs_notify_kind k;
  ts_error e;
  TS_CHECK_STREQ(jobs_notify_kind_name(JOBS_NOTIFY_MAINTENANCE), "maintenance");
  TS_CHECK(jobs_notify_kind_name(JOBS_NOTIFY_NKINDS) == NULL);
  TS_CHECK_EQ_INT(jobs_notify_kind_parse("warning", &k), TS_OK);
  TS_CHECK_EQ_INT(k, JOBS_NOTIFY_WARNING);
  TS_CHECK_EQ_INT(jobs_notify_kind_parse("Warning", &k), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_notify_kind_parse(NULL, &k), TS_EINVAL);
  /* ESA's maintenance message reads "[type: -100,-1]" */
  TS_CHECK_EQ_INT(jobs_notify_kind_code(JOBS_NOTIFY_MAINTENANCE), -1);
  TS_CHECK(jobs_notify_kind_operator(JOBS_NOTIFY_INFO));
  TS_CHECK(!jobs_notify_kind_operator(JOBS_NOTIFY_JOB));
  TS_CHECK(!jobs_notify_kind_operator(JOBS_NOTIFY_NKINDS));

  TS_CHECK_EQ_INT(jobs_notify_text_check("Archive down 18:00\xe2\x80\x93"
                                         "20:00 UTC",
                                         &e),
                  TS_OK);
  TS_CHECK_EQ_INT(jobs_notify_text_check("", &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_notify_text_check(NULL, &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_notify_text_check("two\nlines", &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "one line"));
  TS_CHECK_EQ_INT(jobs_notify_text_check("tab\there", &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_notify_text_check("bad \xc3 utf-8", &e), TS_EINVAL);
  {
    static char t[JOBS_NOTIFY_TEXT_MAX + 2];
    memset(t, 'x', JOBS_NOTIFY_TEXT_MAX + 1);
    TS_CHECK_EQ_INT(jobs_notify_text_check(t, &e), TS_EINVAL);
    t[JOBS_NOTIFY_TEXT_MAX] = 0;
    TS_CHECK_EQ_INT(jobs_notify_text_check(t, &e), TS_OK);
  }
  return 0;
}

/* 1 when message `id` is among those jobs_notify_visible gives `user`. */
static int sees(PGconn *c, int64_t user, int64_t id)
{
  PGresult *r = NULL;
  ts_error e;
  int found = 0;
  if (jobs_notify_visible(c, user, 0, &r, &e)) {
    fprintf(stderr, "# %s\n", e.msg);
    return -1;
  }
  for (int i = 0; i < PQntuples(r); i++)
    found |= strtoll(PQgetvalue(r, i, 0), NULL, 10) == id;
  PQclear(r);
  return found;
}

static int64_t user_id(PGconn *c, const char *name)
{
  jobs_user u;
  char hash[JOBS_PWHASH_MAX];
  ts_error e;
  return jobs_user_get(c, name, &u, hash, &e) ? -1 : u.id;
}

/* The pg tests share one database: this one touches only its users
 * (ut_nina, ut_otto) and the notifications it makes. */
int test_pg_notify_store(void)
{
  PGconn *c = ts_test_pg();
  ts_error e;
  PGresult *r = NULL;
  int64_t all = 0, mine = 0, nina, otto;
  char ev[64];
  int n = 0;
  TS_CHECK(c);
  TS_CHECK_EQ_INT(jobs_users_init(&e), TS_OK);
  TS_CHECK_EQ_INT(jobs_migrate(c, NULL, NULL, &e), TS_OK);
  PQclear(PQexec(c, "DELETE FROM tapserve.users WHERE name IN ('ut_nina', 'ut_otto')"));
  TS_CHECK_EQ_INT(jobs_user_add(c, "ut_nina", "pw", 0, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_user_add(c, "ut_otto", "pw", 0, &e), TS_OK);
  nina = user_id(c, "ut_nina");
  otto = user_id(c, "ut_otto");
  TS_CHECK(nina > 0 && otto > 0);
  TS_CHECK(ts_test_exec_ok(c, "LISTEN " JOBS_CHANNEL));

  /* the operator's message, for everybody, announced */
  TS_CHECK_EQ_INT(jobs_notify_add(c, NULL, JOBS_NOTIFY_MAINTENANCE, "ut maintenance tonight",
                                  "+1 hour", &all, &e),
                  TS_OK);
  snprintf(ev, sizeof ev, "NOTIFICATION_CREATED_EVENT %lld", (long long)all);
  TS_CHECK(ts_test_pg_notified(c, ev));
  /* one to nina, from another module */
  TS_CHECK_EQ_INT(jobs_notify_user(c, nina, JOBS_NOTIFY_JOB, "ut job 1 completed", 0, &mine, &e),
                  TS_OK);
  TS_CHECK(mine > all);
  /* kept JOBS_NOTIFY_USER_TTL_S by default */
  {
    char q[200];
    snprintf(q, sizeof q,
             "SELECT abs(extract(epoch FROM expires_at - now()) - %d) < 60"
             " FROM tapserve.notifications WHERE id = %lld",
             JOBS_NOTIFY_USER_TTL_S, (long long)mine);
    r = PQexec(c, q);
    TS_CHECK(PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1);
    TS_CHECK_STREQ(PQgetvalue(r, 0, 0), "t");
    PQclear(r);
  }

  /* anonymous: the operator's only; nina: both; otto: the operator's only */
  TS_CHECK_EQ_INT(sees(c, 0, all), 1);
  TS_CHECK_EQ_INT(sees(c, 0, mine), 0);
  TS_CHECK_EQ_INT(sees(c, nina, all), 1);
  TS_CHECK_EQ_INT(sees(c, nina, mine), 1);
  TS_CHECK_EQ_INT(sees(c, otto, all), 1);
  TS_CHECK_EQ_INT(sees(c, otto, mine), 0);

  /* by id: the row and its columns for its owner; 403 for anyone else */
  TS_CHECK_EQ_INT(jobs_notify_visible(c, nina, mine, &r, &e), TS_OK);
  TS_CHECK_EQ_INT(PQntuples(r), 1);
  TS_CHECK_STREQ(PQgetvalue(r, 0, 1), "1");
  TS_CHECK_STREQ(PQgetvalue(r, 0, 2), "job");
  TS_CHECK_STREQ(PQgetvalue(r, 0, 3), "ut job 1 completed");
  PQclear(r);
  TS_CHECK_EQ_INT(jobs_notify_visible(c, otto, mine, &r, &e), TS_EFORBIDDEN);
  TS_CHECK(r == NULL);
  TS_CHECK_EQ_INT(jobs_notify_visible(c, 0, mine, &r, &e), TS_EFORBIDDEN);
  TS_CHECK_EQ_INT(jobs_notify_visible(c, otto, all, &r, &e), TS_OK);
  TS_CHECK_STREQ(PQgetvalue(r, 0, 1), "-100");
  PQclear(r);

  /* dismissing: only one's own */
  TS_CHECK_EQ_INT(jobs_notify_dismiss(c, otto, mine, &e), TS_EFORBIDDEN);
  TS_CHECK_EQ_INT(jobs_notify_dismiss(c, nina, all, &e), TS_EFORBIDDEN);
  TS_CHECK(strstr(e.msg, "operator"));
  TS_CHECK_EQ_INT(jobs_notify_dismiss(c, nina, mine, &e), TS_OK);
  snprintf(ev, sizeof ev, "NOTIFICATION_REMOVED_EVENT %lld", (long long)mine);
  TS_CHECK(ts_test_pg_notified(c, ev));
  TS_CHECK_EQ_INT(sees(c, nina, mine), 0);
  TS_CHECK_EQ_INT(jobs_notify_dismiss(c, nina, mine, &e), TS_ENOTFOUND);

  /* expiry: gone from every read the moment it passes, by id too */
  TS_CHECK_EQ_INT(jobs_notify_user(c, otto, JOBS_NOTIFY_QUOTA, "ut quota 90% full", 0, &mine, &e),
                  TS_OK);
  TS_CHECK_EQ_INT(sees(c, otto, mine), 1);
  {
    char q[160];
    snprintf(q, sizeof q,
             "UPDATE tapserve.notifications SET expires_at = now() - interval '1 s'"
             " WHERE id IN (%lld, %lld)",
             (long long)all, (long long)mine);
    TS_CHECK(ts_test_exec_ok(c, q));
  }
  TS_CHECK_EQ_INT(sees(c, otto, mine), 0);
  TS_CHECK_EQ_INT(sees(c, 0, all), 0);
  TS_CHECK_EQ_INT(jobs_notify_visible(c, otto, mine, &r, &e), TS_ENOTFOUND);
  r = jobs_notify_list(c, &e);
  TS_CHECK(r);
  for (int i = 0; i < PQntuples(r); i++)
    TS_CHECK(strtoll(PQgetvalue(r, i, 0), NULL, 10) != mine);
  PQclear(r);
  /* the sweep reclaims the rows */
  TS_CHECK_EQ_INT(jobs_notify_sweep(c, 1000, &n, &e), TS_OK);
  TS_CHECK(n >= 2);
  {
    char q[160];
    snprintf(q, sizeof q, "SELECT count(*) FROM tapserve.notifications WHERE id IN (%lld, %lld)",
             (long long)all, (long long)mine);
    r = PQexec(c, q);
    TS_CHECK_STREQ(PQgetvalue(r, 0, 0), "0");
    PQclear(r);
  }
  /* the operator removes any; a user's go with the user */
  TS_CHECK_EQ_INT(
      jobs_notify_add(c, "ut_nina", JOBS_NOTIFY_INFO, "ut hello nina", "+1h", &mine, &e), TS_OK);
  TS_CHECK_EQ_INT(sees(c, nina, mine), 1);
  TS_CHECK_EQ_INT(sees(c, otto, mine), 0);
  TS_CHECK_EQ_INT(jobs_notify_del(c, mine, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_notify_del(c, mine, &e), TS_ENOTFOUND);
  TS_CHECK_EQ_INT(jobs_notify_user(c, nina, JOBS_NOTIFY_JOB, "ut job 2", 60, &mine, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_user_del(c, "ut_nina", &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_notify_visible(c, nina, mine, &r, &e), TS_ENOTFOUND);
  TS_CHECK_EQ_INT(jobs_user_del(c, "ut_otto", &e), TS_OK);
  PQfinish(c);
  return 0;
}

/* What may be sent: times, texts, addressees. Nothing half-written. */
int test_pg_notify_refused(void)
{
  PGconn *c = ts_test_pg();
  ts_error e;
  int64_t id = 0;
  PGresult *r;
  TS_CHECK(c);
  TS_CHECK_EQ_INT(jobs_migrate(c, NULL, NULL, &e), TS_OK);
  r = PQexec(c, "SELECT count(*) FROM tapserve.notifications WHERE text LIKE 'utr %'");
  TS_CHECK_STREQ(PQgetvalue(r, 0, 0), "0");
  PQclear(r);
  TS_CHECK_EQ_INT(jobs_notify_add(c, NULL, JOBS_NOTIFY_INFO, "utr x", "tomorrowish", &id, &e),
                  TS_EINVAL);
  TS_CHECK(strstr(e.msg, "not a time"));
  TS_CHECK_EQ_INT(jobs_notify_add(c, NULL, JOBS_NOTIFY_INFO, "utr x", "+forever", &id, &e),
                  TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_notify_add(c, NULL, JOBS_NOTIFY_INFO, "utr x", "2001-01-01 00:00Z", &id, &e),
                  TS_EINVAL);
  TS_CHECK(strstr(e.msg, "future"));
  TS_CHECK_EQ_INT(jobs_notify_add(c, NULL, JOBS_NOTIFY_INFO, "utr x", "+-1 hour", &id, &e),
                  TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_notify_add(c, NULL, JOBS_NOTIFY_INFO, "utr a\nb", "+1h", &id, &e),
                  TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_notify_add(c, "ut_nobody_at_all", JOBS_NOTIFY_INFO, "utr x", "+1h", &id, &e),
                  TS_ENOTFOUND);
  TS_CHECK_EQ_INT(jobs_notify_user(c, -5, JOBS_NOTIFY_JOB, "utr x", 0, &id, &e), TS_ENOTFOUND);
  TS_CHECK_EQ_INT(jobs_notify_add(c, NULL, JOBS_NOTIFY_NKINDS, "utr x", "+1h", &id, &e), TS_EINVAL);
  /* the connection is usable after each refusal, no transaction left open */
  TS_CHECK(PQtransactionStatus(c) == PQTRANS_IDLE);
  r = PQexec(c, "SELECT count(*) FROM tapserve.notifications WHERE text LIKE 'utr %'");
  TS_CHECK_STREQ(PQgetvalue(r, 0, 0), "0");
  PQclear(r);
  PQfinish(c);
  return 0;
}
