// clang-format off
#define TS_TESTS(X) \
  X(err_table) \
  X(charpos) \
  X(arena_cap) \
  X(arena_defer) \
  X(buf_limit) \
  X(buf_xml) \
  X(parse_int) \
  X(log_escape) \
  X(log_instance) \
  X(metrics_text) \
  X(hash64)
// clang-format on
