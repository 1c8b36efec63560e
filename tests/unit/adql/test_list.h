/* clang-format off */
// clang-format off
#define TS_TESTS(X) \
  X(keywords_sorted) \
  X(golden) \
  X(error_positions) \
  X(linecol) \
  X(nul_and_utf8) \
  X(length_limit) \
  X(depth_limit) \
  X(injection) \
  X(result_columns) \
  X(max_rows) \
  X(syntax_only) \
  X(arena_cap) \
  X(string_continuation) \
  X(depth_budget) \
  X(quoting) \
  X(db_ident) \
  X(upload_layer)
// clang-format on
/* clang-format on */
