/* Versioned migrations of schema tapserve.
 *
 * Migration N is applied in its own transaction that first takes a
 * transaction-level advisory lock and then re-reads the version: of several
 * instances starting together one applies it and the others find it done.
 * Migrations only ever add (tables, columns, indexes) or transform rows in
 * place, so an upgrade never loses a job or a result. Append new ones at
 * the end of `migrations`; never edit an applied one. */
#include "jobs/jobs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Arbitrary constant: the advisory lock key of tapserve's migrations. */
#define MIGRATE_LOCK "7315426618830105601"

static const char *const migrations[] = {
    /* 1: jobs, results, the pg result store, instances, and the trigger
     * that announces phase changes. */
    "CREATE TABLE tapserve.instances ("
    "  id uuid PRIMARY KEY,"
    "  host text NOT NULL,"
    "  port integer NOT NULL,"
    "  pid integer NOT NULL,"
    "  version text NOT NULL,"
    "  started_at timestamptz NOT NULL DEFAULT now(),"
    "  heartbeat_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE tapserve.jobs ("
    "  id text PRIMARY KEY,"
    "  owner text,"
    "  run_id text,"
    "  phase text NOT NULL CHECK (phase IN ('PENDING','QUEUED','EXECUTING','COMPLETED','ERROR',"
    "    'ABORTED','UNKNOWN','HELD','SUSPENDED','ARCHIVED')),"
    "  creation_time timestamptz NOT NULL DEFAULT now(),"
    "  queued_at timestamptz,"
    "  start_time timestamptz,"
    "  end_time timestamptz,"
    "  execution_duration bigint NOT NULL DEFAULT 0,"
    "  destruction timestamptz NOT NULL,"
    "  quote timestamptz,"
    "  error_summary text,"
    "  error_type text CHECK (error_type IN ('fatal','transient')),"
    "  parameters jsonb NOT NULL DEFAULT '{}',"
    "  owner_instance uuid,"
    "  backend_pid integer,"
    "  abort_requested boolean NOT NULL DEFAULT false);"
    "CREATE INDEX jobs_queued ON tapserve.jobs (queued_at, id) WHERE phase = 'QUEUED';"
    "CREATE INDEX jobs_executing ON tapserve.jobs (owner_instance) WHERE phase = 'EXECUTING';"
    "CREATE INDEX jobs_owner ON tapserve.jobs (owner, creation_time);"
    "CREATE INDEX jobs_destruction ON tapserve.jobs (destruction);"
    "CREATE TABLE tapserve.results ("
    "  job_id text NOT NULL REFERENCES tapserve.jobs(id) ON DELETE CASCADE,"
    "  name text NOT NULL,"
    "  store text NOT NULL CHECK (store IN ('fs','pg')),"
    "  location text NOT NULL,"
    "  rows bigint NOT NULL,"
    "  bytes bigint NOT NULL,"
    "  raw_bytes bigint NOT NULL,"
    "  overflow boolean NOT NULL,"
    "  columns jsonb NOT NULL,"
    "  encoded_sizes jsonb NOT NULL DEFAULT '{}',"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (job_id, name));"
    "CREATE TABLE tapserve.result_chunks ("
    "  job_id text NOT NULL REFERENCES tapserve.jobs(id) ON DELETE CASCADE,"
    "  name text NOT NULL,"
    "  seq integer NOT NULL,"
    "  data bytea NOT NULL,"
    "  PRIMARY KEY (job_id, name, seq));"
    "ALTER TABLE tapserve.result_chunks ALTER COLUMN data SET STORAGE EXTERNAL;"
    "CREATE FUNCTION tapserve.jobs_notify() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  IF TG_OP = 'DELETE' THEN\n"
    "    PERFORM pg_notify('" JOBS_CHANNEL
    "', 'JOB_REMOVED_EVENT ' || OLD.id || ' ' || OLD.phase);\n"
    "    RETURN OLD;\n"
    "  ELSIF TG_OP = 'INSERT' THEN\n"
    "    PERFORM pg_notify('" JOBS_CHANNEL
    "', 'JOB_CREATED_EVENT ' || NEW.id || ' ' || NEW.phase);\n"
    "  ELSIF NEW.phase IS DISTINCT FROM OLD.phase THEN\n"
    "    PERFORM pg_notify('" JOBS_CHANNEL
    "', 'JOB_UPDATED_EVENT ' || NEW.id || ' ' || NEW.phase);\n"
    "  END IF;\n"
    "  RETURN NEW;\n"
    "END $$;"
    "CREATE TRIGGER jobs_notify AFTER INSERT OR UPDATE OR DELETE ON tapserve.jobs"
    "  FOR EACH ROW EXECUTE FUNCTION tapserve.jobs_notify();",
    /* 2: how many times each job has been claimed for execution, so a job
     * whose instances keep dying is abandoned (jobs_recover). */
    "ALTER TABLE tapserve.jobs ADD COLUMN attempts integer NOT NULL DEFAULT 0;",
    /* 3: TAP_SCHEMA_UPDATED: a statement trigger on each tap_schema table
     * announces a change, so every instance reloads its metadata. NOTIFY
     * is delivered at commit, once per distinct payload per transaction:
     * a publishing transaction gives one event whatever it touched.
     * watch_tap_schema() installs the triggers where they are missing and
     * returns the tables it could not watch (NULL: all of them); tapserve
     * calls it at every start too, since tap_schema may be created (by
     * tapserve or by the operator) after this migration ran. */
    "CREATE FUNCTION tapserve.tap_schema_notify() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  PERFORM pg_notify('" JOBS_CHANNEL "', 'TAP_SCHEMA_UPDATED_EVENT -');\n"
    "  RETURN NULL;\n"
    "END $$;"
    "CREATE FUNCTION tapserve.watch_tap_schema() RETURNS text LANGUAGE plpgsql AS $$\n"
    "DECLARE\n"
    "  t text;\n"
    "  missing text;\n"
    "BEGIN\n"
    "  FOREACH t IN ARRAY ARRAY['schemas', 'tables', 'columns', 'keys', 'key_columns'] LOOP\n"
    "    CONTINUE WHEN to_regclass(format('tap_schema.%I', t)) IS NULL;\n"
    "    CONTINUE WHEN EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'tapserve_notify'\n"
    "      AND tgrelid = to_regclass(format('tap_schema.%I', t)));\n"
    "    BEGIN\n"
    "      EXECUTE format('CREATE TRIGGER tapserve_notify'\n"
    "        ' AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON tap_schema.%I'\n"
    "        ' FOR EACH STATEMENT EXECUTE FUNCTION tapserve.tap_schema_notify()', t);\n"
    "    EXCEPTION\n"
    "      WHEN duplicate_object THEN NULL; /* another instance, just now */\n"
    "      WHEN insufficient_privilege THEN\n"
    "        missing := concat_ws(', ', missing, 'tap_schema.' || t);\n"
    "    END;\n"
    "  END LOOP;\n"
    "  RETURN missing;\n"
    "END $$;"
    "SELECT tapserve.watch_tap_schema();",
    /* 4: the roles that instances run user queries as, recorded at every
     * start, so that `tapserve publish` given only a DSN knows whom to
     * grant SELECT to. */
    "CREATE TABLE tapserve.query_roles ("
    "  role text PRIMARY KEY,"
    "  last_seen timestamptz NOT NULL DEFAULT now());",
    /* 5: the client address of an anonymous job's creator (as resolved
     * through trusted proxies), so per-owner limits tell anonymous clients
     * apart (jobs_claim). */
    "ALTER TABLE tapserve.jobs ADD COLUMN client_addr text;",
    /* 6: an instance that drains says so (tapserve cluster status). */
    "ALTER TABLE tapserve.instances ADD COLUMN IF NOT EXISTS draining boolean NOT NULL"
    "  DEFAULT false;",
    /* 7: TAP uploads. Schema tap_upload holds one table per upload, each
     * recorded in tapserve.uploads (no foreign key to jobs: the table must
     * be dropped with its row, which drop_uploads does, in the job's
     * deletion or in the sweeper). job_deps: the jobs whose results a job
     * uploads (job: sources); a job is claimed only once they are final. */
    "CREATE SCHEMA IF NOT EXISTS tap_upload;"
    "CREATE TABLE tapserve.uploads ("
    "  table_name text PRIMARY KEY,"
    "  name text NOT NULL,"
    "  job_id text,"
    "  request_id text,"
    "  instance uuid,"
    "  columns jsonb NOT NULL,"
    "  rows bigint NOT NULL,"
    "  bytes bigint NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  CHECK ((job_id IS NULL) <> (request_id IS NULL)));"
    "CREATE INDEX uploads_job ON tapserve.uploads (job_id);"
    "CREATE INDEX uploads_request ON tapserve.uploads (request_id);"
    "CREATE TABLE tapserve.job_deps ("
    "  job_id text NOT NULL REFERENCES tapserve.jobs(id) ON DELETE CASCADE,"
    "  dep_id text NOT NULL,"
    "  PRIMARY KEY (job_id, dep_id));"
    "CREATE FUNCTION tapserve.drop_uploads(tables text[]) RETURNS integer LANGUAGE plpgsql AS $$\n"
    "DECLARE\n"
    "  t text;\n"
    "  n integer := 0;\n"
    "BEGIN\n"
    "  /* a table still read by a query is left for the next sweep */\n"
    "  PERFORM set_config('lock_timeout', '2s', true);\n"
    "  FOR t IN SELECT u.table_name FROM tapserve.uploads u WHERE u.table_name = ANY(tables)\n"
    "      ORDER BY 1 FOR UPDATE SKIP LOCKED LOOP\n"
    "    EXECUTE format('DROP TABLE IF EXISTS tap_upload.%I', t);\n"
    "    DELETE FROM tapserve.uploads WHERE table_name = t;\n"
    "    n := n + 1;\n"
    "  END LOOP;\n"
    "  RETURN n;\n"
    "END $$;",
    /* 8: TAP+ users (argon2id hashes), their groups, login sessions and
     * API tokens (both kept as SHA-256 digests of the secret, never the
     * secret), and the failed-login counters that throttle guessing
     * across every instance (jobs/users.h). Deleting a user ends its
     * sessions and tokens by cascade. */
    "CREATE TABLE tapserve.users ("
    "  id bigserial PRIMARY KEY,"
    "  name text NOT NULL UNIQUE,"
    "  password_hash text NOT NULL,"
    "  is_admin boolean NOT NULL DEFAULT false,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  password_changed_at timestamptz NOT NULL DEFAULT now());"
    "CREATE TABLE tapserve.groups ("
    "  id bigserial PRIMARY KEY,"
    "  owner_id bigint NOT NULL REFERENCES tapserve.users(id) ON DELETE CASCADE,"
    "  name text NOT NULL,"
    "  description text,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  UNIQUE (owner_id, name));"
    "CREATE TABLE tapserve.group_members ("
    "  group_id bigint NOT NULL REFERENCES tapserve.groups(id) ON DELETE CASCADE,"
    "  user_id bigint NOT NULL REFERENCES tapserve.users(id) ON DELETE CASCADE,"
    "  PRIMARY KEY (group_id, user_id));"
    "CREATE INDEX group_members_user ON tapserve.group_members (user_id);"
    "CREATE TABLE tapserve.sessions ("
    "  id_hash text PRIMARY KEY,"
    "  user_id bigint NOT NULL REFERENCES tapserve.users(id) ON DELETE CASCADE,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  last_seen timestamptz NOT NULL DEFAULT now(),"
    "  expires_at timestamptz NOT NULL);"
    "CREATE INDEX sessions_user ON tapserve.sessions (user_id);"
    "CREATE INDEX sessions_expires ON tapserve.sessions (expires_at);"
    "CREATE TABLE tapserve.tokens ("
    "  id bigserial PRIMARY KEY,"
    "  token_hash text NOT NULL UNIQUE,"
    "  user_id bigint NOT NULL REFERENCES tapserve.users(id) ON DELETE CASCADE,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  expires_at timestamptz,"
    "  last_used timestamptz);"
    "CREATE INDEX tokens_user ON tapserve.tokens (user_id);"
    "CREATE TABLE tapserve.login_failures ("
    "  kind text NOT NULL CHECK (kind IN ('user','addr')),"
    "  key text NOT NULL,"
    "  failures integer NOT NULL,"
    "  last_failure timestamptz NOT NULL,"
    "  PRIMARY KEY (kind, key));",
    /* 9: who a job belongs to: a user (owner_id; owner keeps the name the
     * UWS documents show) or an anonymous browser (anon_owner, the
     * SHA-256 of the id in its cookie). No foreign key: a deleted user's
     * jobs must not become anonymous, reachable by their id alone. */
    "ALTER TABLE tapserve.jobs ADD COLUMN owner_id bigint, ADD COLUMN anon_owner text;"
    "CREATE INDEX jobs_owner_id ON tapserve.jobs (owner_id, creation_time)"
    "  WHERE owner_id IS NOT NULL;"
    "CREATE INDEX jobs_anon_owner ON tapserve.jobs (anon_owner, creation_time)"
    "  WHERE anon_owner IS NOT NULL;",
    /* 10: notifications (jobs/notify.h): the operator's to everybody
     * (user_id NULL) and those to one user, which go with the user. Every
     * read filters on expires_at, so an expired one is gone at once on
     * every instance; the sweep only reclaims the rows. */
    "CREATE TABLE tapserve.notifications ("
    "  id bigserial PRIMARY KEY,"
    "  user_id bigint REFERENCES tapserve.users(id) ON DELETE CASCADE,"
    "  kind text NOT NULL CHECK (kind IN ('info','warning','maintenance','job','quota')),"
    "  text text NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  expires_at timestamptz NOT NULL);"
    "CREATE INDEX notifications_user ON tapserve.notifications (user_id, expires_at);"
    "CREATE INDEX notifications_expires ON tapserve.notifications (expires_at);",
    /* 11: persistent user tables (jobs/usertables.h). Each user's tables
     * live in a schema of its own, named once and kept here (two user
     * names may map to one schema name: the second is refused); a row per
     * table holds its metadata, the source of truth for the checker and
     * /tables (user tables are not in TAP_SCHEMA). Deleting a user drops
     * its schema, tables and all. */
    "CREATE TABLE tapserve.user_schemas ("
    "  user_id bigint PRIMARY KEY REFERENCES tapserve.users(id) ON DELETE CASCADE,"
    "  schema_name text NOT NULL UNIQUE);"
    "CREATE TABLE tapserve.user_tables ("
    "  user_id bigint NOT NULL REFERENCES tapserve.users(id) ON DELETE CASCADE,"
    "  table_name text NOT NULL,"
    "  description text,"
    "  columns jsonb NOT NULL,"
    "  rows bigint NOT NULL,"
    "  bytes bigint NOT NULL,"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  PRIMARY KEY (user_id, table_name));"
    "CREATE FUNCTION tapserve.drop_user_schema() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "DECLARE s text;\n"
    "BEGIN\n"
    "  SELECT schema_name INTO s FROM tapserve.user_schemas WHERE user_id = OLD.id;\n"
    "  IF s IS NOT NULL THEN\n"
    "    EXECUTE format('DROP SCHEMA IF EXISTS %I CASCADE', s);\n"
    "  END IF;\n"
    "  RETURN OLD;\n"
    "END $$;"
    "CREATE TRIGGER users_drop_schema BEFORE DELETE ON tapserve.users"
    "  FOR EACH ROW EXECUTE FUNCTION tapserve.drop_user_schema();",
    /* 12: sharing (jobs/shares.h): a share is one user table of its
     * owner's, readable by the members of one group. It goes with the
     * table (renames follow it), with the group and with the user, by
     * cascade, in the statement that removes them. */
    "CREATE TABLE tapserve.shares ("
    "  id bigserial PRIMARY KEY,"
    "  owner_id bigint NOT NULL,"
    "  table_name text NOT NULL,"
    "  group_id bigint NOT NULL REFERENCES tapserve.groups(id) ON DELETE CASCADE,"
    "  description text NOT NULL DEFAULT '',"
    "  mode text NOT NULL DEFAULT 'read' CHECK (mode = 'read'),"
    "  created_at timestamptz NOT NULL DEFAULT now(),"
    "  FOREIGN KEY (owner_id, table_name) REFERENCES tapserve.user_tables(user_id, table_name)"
    "    ON DELETE CASCADE ON UPDATE CASCADE,"
    "  UNIQUE (owner_id, table_name, group_id));"
    "CREATE INDEX shares_group ON tapserve.shares (group_id);",
    /* 13: quotas (jobs/quota.h). A row per user holds the usage of its
     * tables (db_used: user_tables.bytes, kept by a trigger) and of its
     * job results (files_used: jobs.quota_bytes, the bytes charged to a
     * job while it writes and settled to its stored size), the user's own
     * limits (NULL: the instances' default) and the 90 % mark of the last
     * warning. Usage moves with the rows that hold it: a job that leaves
     * EXECUTING other than COMPLETED, or is deleted, gives its bytes back
     * by trigger; so does a dropped table. Every change of a row is
     * announced (QUOTA_DB_UPDATED, QUOTA_FILE_UPDATED). */
    "CREATE TABLE tapserve.quotas ("
    "  user_id bigint PRIMARY KEY REFERENCES tapserve.users(id) ON DELETE CASCADE,"
    "  db_limit bigint CHECK (db_limit >= 0),"
    "  files_limit bigint CHECK (files_limit >= 0),"
    "  db_used bigint NOT NULL DEFAULT 0,"
    "  files_used bigint NOT NULL DEFAULT 0,"
    "  db_warn_at bigint,"
    "  files_warn_at bigint);"
    "ALTER TABLE tapserve.jobs ADD COLUMN quota_bytes bigint NOT NULL DEFAULT 0;"
    "UPDATE tapserve.jobs j SET quota_bytes = s.b FROM (SELECT job_id, sum(bytes) AS b"
    "  FROM tapserve.results GROUP BY job_id) s"
    "  WHERE s.job_id = j.id AND j.phase = 'COMPLETED'"
    "  AND j.owner_id IN (SELECT id FROM tapserve.users);"
    "INSERT INTO tapserve.quotas (user_id, db_used, files_used)"
    "  SELECT u.id, coalesce((SELECT sum(t.bytes) FROM tapserve.user_tables t"
    "      WHERE t.user_id = u.id), 0),"
    "    coalesce((SELECT sum(j.quota_bytes) FROM tapserve.jobs j WHERE j.owner_id = u.id), 0)"
    "  FROM tapserve.users u;"
    /* usage given back: the mark of the last warning goes once below it */
    "CREATE FUNCTION tapserve.quota_give_back(u bigint, db bigint, files bigint)"
    " RETURNS void LANGUAGE sql AS $$\n"
    "  UPDATE tapserve.quotas SET db_used = db_used - db, files_used = files_used - files,"
    "    db_warn_at = CASE WHEN db_used - db < db_warn_at THEN NULL ELSE db_warn_at END,"
    "    files_warn_at = CASE WHEN files_used - files < files_warn_at THEN NULL"
    "      ELSE files_warn_at END"
    "  WHERE user_id = u\n"
    "$$;"
    "CREATE FUNCTION tapserve.quota_user_tables() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "DECLARE d bigint; u bigint;\n"
    "BEGIN\n"
    "  IF TG_OP = 'INSERT' THEN d := NEW.bytes; u := NEW.user_id;\n"
    "  ELSIF TG_OP = 'DELETE' THEN d := -OLD.bytes; u := OLD.user_id;\n"
    "  ELSE d := NEW.bytes - OLD.bytes; u := NEW.user_id;\n"
    "  END IF;\n"
    "  IF d > 0 THEN\n"
    "    INSERT INTO tapserve.quotas AS q (user_id, db_used) VALUES (u, d)\n"
    "      ON CONFLICT (user_id) DO UPDATE SET db_used = q.db_used + d;\n"
    "  ELSIF d < 0 THEN\n"
    "    PERFORM tapserve.quota_give_back(u, -d, 0);\n"
    "  END IF;\n"
    "  RETURN NULL;\n"
    "END $$;"
    "CREATE TRIGGER user_tables_quota AFTER INSERT OR DELETE OR UPDATE OF bytes"
    "  ON tapserve.user_tables FOR EACH ROW EXECUTE FUNCTION tapserve.quota_user_tables();"
    "CREATE FUNCTION tapserve.quota_job_release() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n"
    "  PERFORM tapserve.quota_give_back(OLD.owner_id, 0, OLD.quota_bytes);\n"
    "  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;\n"
    "  NEW.quota_bytes := 0;\n"
    "  RETURN NEW;\n"
    "END $$;"
    "CREATE TRIGGER jobs_quota_release BEFORE UPDATE OF phase ON tapserve.jobs FOR EACH ROW"
    "  WHEN (OLD.quota_bytes <> 0 AND NEW.phase IS DISTINCT FROM OLD.phase"
    "    AND NEW.phase <> 'COMPLETED')"
    "  EXECUTE FUNCTION tapserve.quota_job_release();"
    "CREATE TRIGGER jobs_quota_delete AFTER DELETE ON tapserve.jobs FOR EACH ROW"
    "  WHEN (OLD.quota_bytes <> 0) EXECUTE FUNCTION tapserve.quota_job_release();"
    "CREATE FUNCTION tapserve.quota_announce() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "DECLARE n text;\n"
    "BEGIN\n"
    "  SELECT name INTO n FROM tapserve.users WHERE id = NEW.user_id;\n"
    "  IF n IS NULL THEN RETURN NULL; END IF;\n"
    "  IF TG_OP = 'INSERT' OR NEW.db_used <> OLD.db_used\n"
    "      OR NEW.db_limit IS DISTINCT FROM OLD.db_limit THEN\n"
    "    PERFORM pg_notify('" JOBS_CHANNEL "', 'QUOTA_DB_UPDATED_EVENT ' || n);\n"
    "  END IF;\n"
    "  IF TG_OP = 'INSERT' OR NEW.files_used <> OLD.files_used\n"
    "      OR NEW.files_limit IS DISTINCT FROM OLD.files_limit THEN\n"
    "    PERFORM pg_notify('" JOBS_CHANNEL "', 'QUOTA_FILE_UPDATED_EVENT ' || n);\n"
    "  END IF;\n"
    "  RETURN NULL;\n"
    "END $$;"
    "CREATE TRIGGER quotas_announce AFTER INSERT OR UPDATE ON tapserve.quotas"
    "  FOR EACH ROW EXECUTE FUNCTION tapserve.quota_announce();"
    /* A job's charge set to `total` bytes while it is EXECUTING here: the
     * difference goes to its owner's files_used, refused ('over') when it
     * grows past the limit (the user's, else p_default; 0: none). 'gone'
     * when the job is no longer ours. `crossed`: usage passed 90 % of the
     * limit since the last warning. FOR NO KEY UPDATE: the pg store's
     * open transaction holds KEY SHARE on the job row (its chunks'
     * foreign key) while the job charges through another connection. */
    "CREATE FUNCTION tapserve.quota_charge_job(p_job text, p_instance uuid, p_total bigint,"
    "    p_default bigint, OUT status text, OUT used bigint, OUT lim bigint,"
    "    OUT crossed boolean) LANGUAGE plpgsql AS $$\n"
    "DECLARE j record; q record; d bigint;\n"
    "BEGIN\n"
    "  crossed := false;\n"
    "  SELECT owner_id, quota_bytes INTO j FROM tapserve.jobs WHERE id = p_job\n"
    "    AND phase = 'EXECUTING' AND owner_instance = p_instance FOR NO KEY UPDATE;\n"
    "  IF NOT FOUND THEN status := 'gone'; RETURN; END IF;\n"
    "  status := 'ok';\n"
    "  IF j.owner_id IS NULL THEN RETURN; END IF;\n"
    "  INSERT INTO tapserve.quotas (user_id) SELECT id FROM tapserve.users\n"
    "    WHERE id = j.owner_id ON CONFLICT (user_id) DO NOTHING;\n"
    "  SELECT * INTO q FROM tapserve.quotas WHERE user_id = j.owner_id FOR NO KEY UPDATE;\n"
    "  IF NOT FOUND THEN RETURN; END IF;\n"
    "  d := p_total - j.quota_bytes;\n"
    "  lim := coalesce(q.files_limit, p_default);\n"
    "  used := q.files_used + d;\n"
    "  IF d > 0 AND lim > 0 AND used > lim THEN\n"
    "    status := 'over'; used := q.files_used - j.quota_bytes; RETURN;\n"
    "  END IF;\n"
    "  crossed := lim > 0 AND used * 10 >= lim * 9 AND q.files_warn_at IS NULL;\n"
    "  UPDATE tapserve.quotas SET files_used = used, files_warn_at = CASE\n"
    "      WHEN lim > 0 AND used * 10 >= lim * 9 THEN coalesce(files_warn_at, (lim * 9 + 9) / 10)\n"
    "      END WHERE user_id = j.owner_id;\n"
    "  UPDATE tapserve.jobs SET quota_bytes = p_total WHERE id = p_job;\n"
    "END $$;"
    /* After a change to user u's tables in the caller's transaction:
     * 'over' when db_used is past the limit (the caller rolls back). */
    "CREATE FUNCTION tapserve.quota_check_db(u bigint, p_default bigint, OUT status text,"
    "    OUT used bigint, OUT lim bigint, OUT crossed boolean) LANGUAGE plpgsql AS $$\n"
    "DECLARE q record;\n"
    "BEGIN\n"
    "  status := 'ok'; crossed := false;\n"
    "  SELECT * INTO q FROM tapserve.quotas WHERE user_id = u FOR NO KEY UPDATE;\n"
    "  IF NOT FOUND THEN used := 0; RETURN; END IF;\n"
    "  used := q.db_used;\n"
    "  lim := coalesce(q.db_limit, p_default);\n"
    "  IF lim > 0 AND used > lim THEN status := 'over'; RETURN; END IF;\n"
    "  crossed := lim > 0 AND used * 10 >= lim * 9 AND q.db_warn_at IS NULL;\n"
    "  UPDATE tapserve.quotas SET db_warn_at = CASE\n"
    "      WHEN lim > 0 AND used * 10 >= lim * 9 THEN coalesce(db_warn_at, (lim * 9 + 9) / 10)\n"
    "      END WHERE user_id = u AND db_warn_at IS DISTINCT FROM CASE\n"
    "      WHEN lim > 0 AND used * 10 >= lim * 9 THEN coalesce(db_warn_at, (lim * 9 + 9) / 10)\n"
    "      END;\n"
    "END $$;",
};

int jobs_schema_version(void)
{
  return (int)TS_ARRAY_LEN(migrations);
}

static ts_err exec_ok(PGconn *conn, const char *sql, ts_error *err)
{
  PGresult *r = PQexec(conn, sql);
  ts_err rc = TS_OK;
  if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
    rc = ts_fail(err, TS_EDB, 0, "cluster state migration: %s", PQerrorMessage(conn));
  PQclear(r);
  return rc;
}

static ts_err current_version(PGconn *conn, int *v, ts_error *err)
{
  PGresult *r = PQexec(conn, "SELECT coalesce(max(version), 0) FROM tapserve.schema_version");
  ts_err rc = TS_OK;
  if (PQresultStatus(r) != PGRES_TUPLES_OK)
    rc = ts_fail(err, TS_EDB, 0, "cannot read tapserve.schema_version: %s", PQerrorMessage(conn));
  else
    *v = (int)strtol(PQgetvalue(r, 0, 0), NULL, 10);
  PQclear(r);
  return rc;
}

ts_err jobs_migrate(PGconn *conn, int *from, int *to, ts_error *err)
{
  int target = jobs_schema_version(), v = 0, first = -1;
  ts_err rc;
  char sql[128];

  /* The schema and the version table themselves, under the same lock. */
  rc = exec_ok(conn,
               "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ");"
               "CREATE SCHEMA IF NOT EXISTS tapserve;"
               "CREATE TABLE IF NOT EXISTS tapserve.schema_version ("
               "  version integer PRIMARY KEY,"
               "  applied_at timestamptz NOT NULL DEFAULT now());"
               "COMMIT",
               err);
  if (rc)
    goto fail;
  for (;;) {
    rc = exec_ok(conn, "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")", err);
    if (rc)
      goto fail;
    rc = current_version(conn, &v, err);
    if (rc)
      goto fail;
    if (first < 0)
      first = v;
    if (v > target) {
      rc = ts_fail(err, TS_EDB, 0,
                   "the database holds cluster state version %d, newer than this tapserve "
                   "(version %d): upgrade tapserve",
                   v, target);
      goto fail;
    }
    if (v == target)
      break;
    rc = exec_ok(conn, migrations[v], err);
    if (rc)
      goto fail;
    snprintf(sql, sizeof sql, "INSERT INTO tapserve.schema_version (version) VALUES (%d)", v + 1);
    rc = exec_ok(conn, sql, err);
    if (!rc)
      rc = exec_ok(conn, "COMMIT", err);
    if (rc)
      goto fail;
    ts_log(TS_LOG_INFO, NULL, "cluster state migrated to version %d", v + 1);
  }
  rc = exec_ok(conn, "COMMIT", err);
  if (rc)
    goto fail;
  if (from)
    *from = first;
  if (to)
    *to = v;
  return TS_OK;
fail:
  PQclear(PQexec(conn, "ROLLBACK"));
  return rc;
}

ts_err jobs_record_query_role(PGconn *conn, const char *role, ts_error *err)
{
  PGresult *r = PQexecParams(conn,
                             "INSERT INTO tapserve.query_roles (role) VALUES ($1)"
                             " ON CONFLICT (role) DO UPDATE SET last_seen = now()",
                             1, NULL, &role, NULL, NULL, 0);
  ts_err rc = TS_OK;
  if (PQresultStatus(r) != PGRES_COMMAND_OK)
    rc = ts_fail(err, TS_EDB, 0, "cannot record the query role: %s", PQerrorMessage(conn));
  PQclear(r);
  return rc;
}

PGresult *jobs_query_roles(PGconn *conn, ts_error *err)
{
  /* Before migration 4 (a database no instance of this version has
   * served yet) there are none; roles dropped since are left out. Not
   * inside a transaction: the missing table would abort it. */
  PGresult *r = PQexec(conn, "SELECT q.role FROM tapserve.query_roles q"
                             " JOIN pg_roles p ON p.rolname = q.role"
                             " ORDER BY q.last_seen DESC, q.role");
  if (PQresultStatus(r) == PGRES_TUPLES_OK)
    return r;
  const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
  if (state && !strcmp(state, "42P01")) { /* undefined_table */
    PQclear(r);
    return PQexec(conn, "SELECT NULL::text WHERE false");
  }
  ts_fail(err, TS_EDB, 0, "cannot read tapserve.query_roles: %s", PQerrorMessage(conn));
  PQclear(r);
  return NULL;
}
