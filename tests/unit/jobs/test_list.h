// clang-format off
#define TS_TESTS(X) \
  X(phase_names) \
  X(json_str) \
  X(store_spec) \
  X(store_fs_roundtrip) \
  X(store_fs_abort) \
  X(store_truncated) \
  X(store_clean_tmp) \
  X(store_stale_tmp) \
  X(store_fs_write_fails) \
  X(store_fs_abandon) \
  X(pg_migrate) \
  X(pg_store_roundtrip) \
  X(pg_store_write_fails) \
  X(pg_job_cas) \
  X(pg_access_all) \
  X(pg_attempts) \
  X(pg_claim_cap) \
  X(pg_claim_per_client) \
  X(pg_get_snapshot) \
  X(pg_db_dead_idle) \
  X(event_roundtrip) \
  X(event_encode_invalid) \
  X(event_decode_malformed) \
  X(bus_dispatch) \
  X(pg_bus_listen) \
  X(pg_db_bound) \
  X(pg_upload_load) \
  X(pg_upload_radec_index) \
  X(pg_upload_failures) \
  X(pg_upload_sweep) \
  X(pg_job_deps) \
  X(user_names) \
  X(password_hash) \
  X(session_expiry) \
  X(pg_users_sessions) \
  X(pg_tokens) \
  X(pg_login_throttle) \
  X(notify_kinds) \
  X(pg_notify_store) \
  X(pg_notify_refused) \
  X(utab_names) \
  X(pg_utab_life)
// clang-format on
