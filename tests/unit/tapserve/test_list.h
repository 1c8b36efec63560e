// clang-format off
#define TS_TESTS(X) \
  X(cfg_defaults) \
  X(cfg_good_file) \
  X(cfg_errors) \
  X(cfg_trusted_proxies) \
  X(cfg_base_url) \
  X(meta_build_ok) \
  X(meta_build_errors) \
  X(meta_esa_flags) \
  X(vosi_capabilities) \
  X(vosi_availability) \
  X(vosi_tables) \
  X(vosi_tables_esa) \
  X(vosi_table_one) \
  X(workq_runs_all) \
  X(workq_few_per_turn) \
  X(workq_idle_loop_ends) \
  X(examples_builtin) \
  X(uws_doc_caps) \
  X(routes_table) \
  X(upload_parse) \
  X(upload_parse_errors) \
  X(upload_join) \
  X(schema_swap_keeps_readers) \
  X(schema_swap_threads) \
  X(pg_schema_reload_keeps_old) \
  X(pg_schema_trigger) \
  X(pg_auth_request) \
  X(creds_hit_miss) \
  X(creds_drop) \
  X(creds_bounded) \
  X(plus_job_ids) \
  X(pg_auth_basic_cache) \
  X(web_check_json) \
  X(web_site)
// clang-format on
