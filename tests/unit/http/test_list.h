/* clang-format off */
// clang-format off
#define TS_TESTS(X) \
  X(form_decode) \
  X(feed_bytewise) \
  X(feed_pipelined) \
  X(feed_limits) \
  X(feed_errors) \
  X(keepalive) \
  X(http10) \
  X(params) \
  X(head) \
  X(not_found) \
  X(chunked_backpressure) \
  X(client_disconnect) \
  X(disconnect_waiting) \
  X(half_close) \
  X(end_not_ok) \
  X(header_too_large) \
  X(body_too_large) \
  X(malformed) \
  X(bad_method) \
  X(header_timeout) \
  X(expect_continue) \
  X(pipelined) \
  X(pipelined_flood) \
  X(max_connections) \
  X(shutdown) \
  X(idle_timeout) \
  X(write_timeout) \
  X(evict_waiting) \
  X(addr_limit) \
  X(first_byte_timeout) \
  X(body_budget) \
  X(form_body_limit) \
  X(abort_stalled) \
  X(route_match) \
  X(route_params) \
  X(route_405) \
  X(route_precedence) \
  X(route_trailing_slash) \
  X(route_sibling) \
  X(route_bad_patterns) \
  X(route_hostile) \
  X(range_parse) \
  X(if_range) \
  X(proxy_parse) \
  X(proxy_client_addr)
// clang-format on
/* clang-format on */
