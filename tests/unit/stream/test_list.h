/* Unit tests of stream/. The pg_* tests need a PostgreSQL server: they read
 * its DSN from TAPSERVE_TEST_DSN and fail without it (scripts/test-pgcluster.sh
 * starts a throwaway cluster); ctest labels them "pg". */
// clang-format off
#define TS_TESTS(X) \
  X(numeric) \
  X(timestamp) \
  X(date) \
  X(array) \
  X(array_literal) \
  X(column_types) \
  X(copydec_whole) \
  X(copydec_splits) \
  X(copydec_accumulate) \
  X(copydec_empty) \
  X(copydec_malformed) \
  X(pool_connect_refused) \
  X(pg_describe_types) \
  X(pg_stream_rows) \
  X(pg_pause_resume) \
  X(pg_maxrec) \
  X(pg_sql_error) \
  X(pg_unsupported_type) \
  X(pg_schema_refused) \
  X(pg_statement_timeout) \
  X(pg_cancel) \
  X(pg_pool_concurrency) \
  X(pg_pool_wait_timeout) \
  X(pg_pool_dead_idle) \
  X(pg_describe_reuse) \
  X(pg_read_only) \
  X(sqlstate_map) \
  X(copy_framing) \
  X(maxrec_take) \
  X(pg_copy_describe) \
  X(pg_copy_rows) \
  X(pg_copy_overflow) \
  X(pg_copy_sql_error) \
  X(pg_copy_cancel) \
  X(copyenc_roundtrip) \
  X(copyenc_misuse) \
  X(pg_copyenc) \
  X(servers_parse) \
  X(servers_new_at) \
  X(servers_pick) \
  X(servers_backoff) \
  X(pg_servers_connect) \
  X(pg_pool_servers) \
  X(gzpar_threads) \
  X(gzpar_one_thread) \
  X(gzpar_inline) \
  X(gzpar_interleaved) \
  X(gzpar_abandon) \
  X(gzpar_small_memory)
// clang-format on

/* The DSN of the test server (TAPSERVE_TEST_DSN), NULL with a hint when it
 * is not set (test_pg.c). */
const char *stream_test_dsn(void);
