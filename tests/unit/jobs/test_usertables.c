/* jobs/usertables.c: the name rules (pure), and the life of a user table
 * against TAPSERVE_TEST_DSN: loaded into user_<name> with its row, a
 * duplicate and a failed load leaving nothing, edits, the position, renames,
 * deletion, and the schema dropped with its user. */
#include "test_list.h"
#include "ts_test.h"
#include "ts_test_pg.h"

#include "jobs/usertables.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

ts_err test_load_rows(PGconn *c, const jobs_load_target *t, int n, int garbage, uint64_t max_bytes,
                      ts_error *err);
ts_err test_load_cols(PGconn *c, const jobs_load_target *t, int ncols, int n, int garbage,
                      uint64_t max_bytes, ts_error *err);

int test_utab_names(void)
{
  char out[64];
  ts_error e;
  jobs_user u = {1, "Alice", 0};
  char longname[JOBS_UTAB_USER_MAX + 2];

  TS_CHECK_EQ_INT(jobs_utab_schema_name("alice", out, &e), TS_OK);
  TS_CHECK_STREQ(out, "user_alice");
  /* user names may hold .-@ and capitals: the schema is a regular identifier */
  TS_CHECK_EQ_INT(jobs_utab_schema_name("A.b-C@x.org", out, &e), TS_OK);
  TS_CHECK_STREQ(out, "user_a_b_c_x_org");
  TS_CHECK_EQ_INT(jobs_utab_schema_name("bad name", out, &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_utab_schema_name("x\"; DROP", out, &e), TS_EINVAL);
  memset(longname, 'a', sizeof longname - 1);
  longname[sizeof longname - 1] = 0;
  TS_CHECK_EQ_INT(jobs_utab_schema_name(longname, out, &e), TS_EINVAL);
  longname[JOBS_UTAB_USER_MAX] = 0;
  TS_CHECK_EQ_INT(jobs_utab_schema_name(longname, out, &e), TS_OK);
  TS_CHECK_EQ_INT(strlen(out), 63);

  TS_CHECK_EQ_INT(jobs_utab_ident("table", "Stars_2", out, &e), TS_OK);
  TS_CHECK_STREQ(out, "stars_2");
  TS_CHECK_EQ_INT(jobs_utab_ident("table", "2stars", out, &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "table name \"2stars\""));
  TS_CHECK_EQ_INT(jobs_utab_ident("table", "", out, &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_utab_ident("table", "a-b", out, &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_utab_ident("column", "a\"b", out, &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_utab_ident("table", "caf\xc3\xa9", out, &e), TS_EINVAL);
  {
    char n[JOBS_UTAB_NAME_MAX + 2];
    memset(n, 't', sizeof n - 1);
    n[sizeof n - 1] = 0;
    TS_CHECK_EQ_INT(jobs_utab_ident("table", n, out, &e), TS_EINVAL);
    n[JOBS_UTAB_NAME_MAX] = 0;
    TS_CHECK_EQ_INT(jobs_utab_ident("table", n, out, &e), TS_OK);
  }

  TS_CHECK_EQ_INT(jobs_utab_own_name(&u, "t", out, &e), TS_OK);
  TS_CHECK_STREQ(out, "t");
  TS_CHECK_EQ_INT(jobs_utab_own_name(&u, "USER_ALICE.T", out, &e), TS_OK);
  TS_CHECK_STREQ(out, "t");
  TS_CHECK_EQ_INT(jobs_utab_own_name(&u, "user_bob.t", out, &e), TS_ENOTFOUND);
  TS_CHECK_EQ_INT(jobs_utab_own_name(&u, "user_alicex.t", out, &e), TS_ENOTFOUND);
  TS_CHECK_EQ_INT(jobs_utab_own_name(&u, "user_alice.a.b", out, &e), TS_EINVAL);
  return 0;
}

static const char *text1(PGconn *c, const char *sql, char *buf, size_t cap)
{
  PGresult *r = PQexec(c, sql);
  snprintf(buf, cap, "%s",
           PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? PQgetvalue(r, 0, 0)
                                                                     : "(none)");
  PQclear(r);
  return buf;
}

static const jobs_utab_column *col(const jobs_utab *t, const char *name)
{
  for (size_t i = 0; i < t->ncols; i++)
    if (!strcmp(t->cols[i].c.name, name))
      return &t->cols[i];
  return NULL;
}

/* The GiST position indexes of user_ut_utab.stars whose Ra is `ra` (as
 * pg_indexes shows it). */
#define RADEC_INDEXES(ra)                                                                          \
  "SELECT count(*) FROM pg_indexes WHERE schemaname = 'user_ut_utab' AND tablename = 'stars'"      \
  " AND indexdef LIKE '%gist (spoint(radians(" ra ")%'"

#define GIST_OIDS                                                                                  \
  "SELECT string_agg(indexrelid::text, ',') FROM pg_index"                                         \
  " WHERE indrelid = 'user_ut_utab.stars'::regclass AND indexprs IS NOT NULL"

#define INDEXES(tbl)                                                                               \
  "SELECT count(*) FROM pg_indexes WHERE schemaname = 'user_ut_utab' AND tablename = '" tbl "'"

int test_pg_utab_life(void)
{
  PGconn *c = ts_test_pg();
  ts_error e;
  jobs_user u;
  char hash[JOBS_PWHASH_MAX], buf[256];
  ts_arena *a = ts_arena_new(0, 0);
  jobs_utab *ut = NULL;
  size_t n = 0;

  TS_CHECK(c && a);
  TS_CHECK(ts_test_exec_ok(c, "CREATE EXTENSION IF NOT EXISTS pg_sphere"));
  TS_CHECK_EQ_INT(jobs_users_init(&e), TS_OK);
  TS_CHECK_EQ_INT(jobs_migrate(c, NULL, NULL, &e), TS_OK);
  PQclear(PQexec(c, "DELETE FROM tapserve.users WHERE name IN ('ut_utab', 'UT.utab')"));
  TS_CHECK_EQ_INT(jobs_user_add(c, "ut_utab", "pw", 0, &e), TS_OK);
  TS_CHECK_EQ_INT(jobs_user_get(c, "ut_utab", &u, hash, &e), TS_OK);

  /* a failed load leaves nothing: no table, no row, not even the schema */
  {
    jobs_utab_new nt = {&u, "Stars", "my stars", NULL, 0};
    jobs_load_target t = jobs_utab_target(&nt);
    TS_CHECK_EQ_INT(test_load_rows(c, &t, 5, 1, 0, &e), TS_EINVAL);
    TS_CHECK_EQ_INT(
        ts_test_count(c, "SELECT count(*) FROM tapserve.user_tables t JOIN tapserve.users u"
                         " ON u.id = t.user_id WHERE u.name = 'ut_utab'"),
        0);
    TS_CHECK_EQ_INT(
        ts_test_count(c, "SELECT count(*) FROM pg_namespace WHERE nspname = 'user_ut_utab'"), 0);
    TS_CHECK_EQ_INT(PQtransactionStatus(c), PQTRANS_IDLE);
    /* a good one without a point column: schema, table, row with the
     * Ra/Dec flags of the pair the loader indexed (by their UCDs) */
    TS_CHECK_EQ_INT(test_load_cols(c, &t, 3, 5, 0, 0, &e), TS_OK);
    TS_CHECK_EQ_INT(ts_test_count(c, "SELECT count(*) FROM user_ut_utab.stars"), 5);
    /* the same name again: refused, the first one kept */
    TS_CHECK_EQ_INT(test_load_rows(c, &t, 2, 0, 0, &e), TS_EINVAL);
    TS_CHECK(strstr(e.msg, "user_ut_utab.stars already"));
    TS_CHECK_EQ_INT(ts_test_count(c, "SELECT count(*) FROM user_ut_utab.stars"), 5);
    TS_CHECK_EQ_INT(PQtransactionStatus(c), PQTRANS_IDLE);
  }
  /* another user whose name maps to the same schema cannot keep tables */
  {
    jobs_user v;
    jobs_utab_new nt = {&v, "t", NULL, NULL, 0};
    jobs_load_target t = jobs_utab_target(&nt);
    TS_CHECK_EQ_INT(jobs_user_add(c, "UT.utab", "pw", 0, &e), TS_OK);
    TS_CHECK_EQ_INT(jobs_user_get(c, "UT.utab", &v, hash, &e), TS_OK);
    TS_CHECK_EQ_INT(test_load_rows(c, &t, 1, 0, 0, &e), TS_EINVAL);
    TS_CHECK(strstr(e.msg, "another user's"));
    TS_CHECK_EQ_INT(jobs_utab_readable(c, a, &v, &ut, &n, &e), TS_OK);
    TS_CHECK_EQ_INT(n, 0);
  }
  TS_CHECK_EQ_INT(jobs_utab_readable(c, a, &u, &ut, &n, &e), TS_OK);
  TS_CHECK_EQ_INT(n, 1);
  TS_CHECK_STREQ(ut[0].schema, "user_ut_utab");
  TS_CHECK_STREQ(ut[0].table, "stars");
  TS_CHECK_STREQ(ut[0].description, "my stars");
  TS_CHECK_EQ_INT(ut[0].rows, 5);
  TS_CHECK(ut[0].bytes > 0);
  TS_CHECK_EQ_INT(ut[0].ncols, 3);
  TS_CHECK_EQ_INT(col(&ut[0], "RA")->flags, JOBS_UTAB_FLAG_RA);
  TS_CHECK_EQ_INT(col(&ut[0], "dec")->flags, JOBS_UTAB_FLAG_DEC);
  TS_CHECK(col(&ut[0], "RA")->indexed);
  TS_CHECK(col(&ut[0], "dec")->indexed);
  TS_CHECK_EQ_INT(col(&ut[0], "id")->flags, 0);
  TS_CHECK(!col(&ut[0], "id")->indexed);
  TS_CHECK_STREQ(col(&ut[0], "RA")->c.unit, "deg");
  TS_CHECK_EQ_INT(ts_test_count(c, RADEC_INDEXES("\"RA\"")), 1);
  /* with a point column the loader indexes that alone, and the row says so:
   * the point indexed, the Ra/Dec pair neither flagged nor indexed */
  {
    jobs_utab_new nt = {&u, "withpos", NULL, NULL, 0};
    jobs_load_target t = jobs_utab_target(&nt);
    TS_CHECK_EQ_INT(test_load_cols(c, &t, 4, 2, 0, 0, &e), TS_OK);
    TS_CHECK_EQ_INT(jobs_utab_readable(c, a, &u, &ut, &n, &e), TS_OK);
    TS_CHECK_EQ_INT(n, 2);
    TS_CHECK_STREQ(ut[1].table, "withpos");
    TS_CHECK_STREQ(col(&ut[1], "pos")->c.xtype, "point");
    TS_CHECK(col(&ut[1], "pos")->indexed);
    TS_CHECK(!col(&ut[1], "RA")->indexed);
    TS_CHECK(!col(&ut[1], "dec")->indexed);
    TS_CHECK_EQ_INT(col(&ut[1], "RA")->flags, 0);
    TS_CHECK_EQ_INT(col(&ut[1], "dec")->flags, 0);
    TS_CHECK_EQ_INT(jobs_utab_delete(c, &u, "withpos", &e), TS_OK);
  }
  /* anonymous reads none */
  TS_CHECK_EQ_INT(jobs_utab_readable(c, a, NULL, &ut, &n, &e), TS_OK);
  TS_CHECK_EQ_INT(n, 0);

  /* edit: metadata and a btree index that comes and goes */
  {
    jobs_utab_edit ed[] = {{"id", "meta.id", "ivoa:x", JOBS_UTAB_FLAG_PK, 1}};
    int before = ts_test_count(c, INDEXES("stars"));
    TS_CHECK_EQ_INT(jobs_utab_edit_columns(c, &u, "user_ut_utab.stars", ed, 1, &e), TS_OK);
    TS_CHECK_EQ_INT(ts_test_count(c, INDEXES("stars")), before + 1);
    TS_CHECK_EQ_INT(jobs_utab_readable(c, a, &u, &ut, &n, &e), TS_OK);
    TS_CHECK_STREQ(col(&ut[0], "id")->c.ucd, "meta.id");
    TS_CHECK_STREQ(col(&ut[0], "id")->c.utype, "ivoa:x");
    TS_CHECK_EQ_INT(col(&ut[0], "id")->flags, JOBS_UTAB_FLAG_PK);
    TS_CHECK(col(&ut[0], "id")->indexed);
    ed[0].indexed = 0;
    ed[0].ucd = NULL;
    TS_CHECK_EQ_INT(jobs_utab_edit_columns(c, &u, "stars", ed, 1, &e), TS_OK);
    TS_CHECK_EQ_INT(ts_test_count(c, INDEXES("stars")), before);
    TS_CHECK_EQ_INT(jobs_utab_readable(c, a, &u, &ut, &n, &e), TS_OK);
    TS_CHECK(col(&ut[0], "id")->c.ucd == NULL);
    TS_CHECK(!col(&ut[0], "id")->indexed);
    /* an unknown column: nothing changes */
    jobs_utab_edit bad[] = {{"id", "x", NULL, 0, 0}, {"nope", NULL, NULL, 0, 0}};
    TS_CHECK_EQ_INT(jobs_utab_edit_columns(c, &u, "stars", bad, 2, &e), TS_EINVAL);
    TS_CHECK(strstr(e.msg, "nope"));
    TS_CHECK_EQ_INT(jobs_utab_readable(c, a, &u, &ut, &n, &e), TS_OK);
    TS_CHECK(col(&ut[0], "id")->c.ucd == NULL);
    TS_CHECK_EQ_INT(jobs_utab_edit_columns(c, &u, "user_other.stars", ed, 1, &e), TS_ENOTFOUND);
    TS_CHECK_EQ_INT(jobs_utab_edit_columns(c, &u, "nosuch", ed, 1, &e), TS_ENOTFOUND);
  }
  /* the position moves to another pair: one GiST expression index still */
  TS_CHECK(ts_test_exec_ok(c, "ALTER TABLE user_ut_utab.stars ADD COLUMN ra2 float8,"
                              " ADD COLUMN txt text"));
  TS_CHECK_EQ_INT(jobs_utab_set_radec(c, &u, "stars", "txt", "dec", &e), TS_EINVAL);
  TS_CHECK_EQ_INT(jobs_utab_set_radec(c, &u, "stars", "id", "id", &e), TS_EINVAL);
  TS_CHECK(strstr(e.msg, "two columns"));
  TS_CHECK_EQ_INT(ts_test_count(c, RADEC_INDEXES("\"RA\"")), 1);
  TS_CHECK_EQ_INT(jobs_utab_set_radec(c, &u, "stars", "id", "dec", &e), TS_OK);
  TS_CHECK_EQ_INT(ts_test_count(c, RADEC_INDEXES("(id)::double precision")), 1);
  TS_CHECK_EQ_INT(ts_test_count(c, RADEC_INDEXES("\"RA\"")), 0);
  /* the same pair again, by radec or by an edit: the index stays as it is */
  {
    char before[64], after[64];
    jobs_utab_edit ed[] = {{"id", NULL, NULL, JOBS_UTAB_FLAG_RA, 0},
                           {"dec", NULL, NULL, JOBS_UTAB_FLAG_DEC, 0}};
    text1(c, GIST_OIDS, before, sizeof before);
    TS_CHECK_EQ_INT(jobs_utab_set_radec(c, &u, "stars", "id", "dec", &e), TS_OK);
    TS_CHECK_STREQ(text1(c, GIST_OIDS, after, sizeof after), before);
    TS_CHECK_EQ_INT(jobs_utab_edit_columns(c, &u, "stars", ed, 2, &e), TS_OK);
    TS_CHECK_STREQ(text1(c, GIST_OIDS, after, sizeof after), before);
  }
  TS_CHECK_EQ_INT(jobs_utab_readable(c, a, &u, &ut, &n, &e), TS_OK);
  TS_CHECK_EQ_INT(col(&ut[0], "id")->flags, JOBS_UTAB_FLAG_RA);
  TS_CHECK_EQ_INT(col(&ut[0], "RA")->flags, 0);
  TS_CHECK_EQ_INT(col(&ut[0], "dec")->flags, JOBS_UTAB_FLAG_DEC);

  /* renames: a column and the table; a taken or bad name is refused */
  {
    const char *from[] = {"RA"}, *to[] = {"ra_deg"}, *bad[] = {"9x"}, *dup[] = {"dec"};
    TS_CHECK_EQ_INT(jobs_utab_rename(c, &u, "stars", NULL, from, bad, 1, &e), TS_EINVAL);
    TS_CHECK_EQ_INT(jobs_utab_rename(c, &u, "stars", NULL, from, dup, 1, &e), TS_EINVAL);
    TS_CHECK_EQ_INT(jobs_utab_rename(c, &u, "stars", "Stars2", from, to, 1, &e), TS_OK);
    TS_CHECK_EQ_INT(ts_test_count(c, "SELECT count(ra_deg) FROM user_ut_utab.stars2"), 5);
    TS_CHECK_EQ_INT(jobs_utab_readable(c, a, &u, &ut, &n, &e), TS_OK);
    TS_CHECK_STREQ(ut[0].table, "stars2");
    TS_CHECK(col(&ut[0], "ra_deg") != NULL);
    TS_CHECK(col(&ut[0], "RA") == NULL);
  }
  /* delete: table and row go */
  TS_CHECK_EQ_INT(jobs_utab_delete(c, &u, "stars", &e), TS_ENOTFOUND);
  TS_CHECK_EQ_INT(jobs_utab_delete(c, &u, "user_ut_utab.stars2", &e), TS_OK);
  TS_CHECK_STREQ(text1(c, "SELECT to_regclass('user_ut_utab.stars2')::text", buf, sizeof buf), "");
  TS_CHECK_EQ_INT(jobs_utab_readable(c, a, &u, &ut, &n, &e), TS_OK);
  TS_CHECK_EQ_INT(n, 0);
  /* the user goes, and its schema with its tables */
  {
    jobs_utab_new nt = {&u, "again", NULL, NULL, 0};
    jobs_load_target t = jobs_utab_target(&nt);
    TS_CHECK_EQ_INT(test_load_rows(c, &t, 1, 0, 0, &e), TS_OK);
  }
  TS_CHECK_EQ_INT(jobs_user_del(c, "ut_utab", &e), TS_OK);
  TS_CHECK_EQ_INT(
      ts_test_count(c, "SELECT count(*) FROM pg_namespace WHERE nspname = 'user_ut_utab'"), 0);
  TS_CHECK_EQ_INT(ts_test_count(c, "SELECT count(*) FROM tapserve.user_schemas s"
                                   " WHERE s.schema_name = 'user_ut_utab'"),
                  0);
  TS_CHECK_EQ_INT(jobs_user_del(c, "UT.utab", &e), TS_OK);
  ts_arena_free(a);
  PQfinish(c);
  return 0;
}
