// clang-format off
#define TS_TESTS(X) \
  X(lookup) \
  X(numbers) \
  X(td_values) \
  X(b2_decode) \
  X(b_decode) \
  X(binary_astropy) \
  X(zero_rows) \
  X(overflow_trailer) \
  X(error_trailer) \
  X(error_doc) \
  X(csv_exact) \
  X(csv_quoting) \
  X(b2_large) \
  X(unicode) \
  X(char_ascii) \
  X(esc_one_pass) \
  X(dtoa_random) \
  X(dtoa_edges) \
  X(dtoa_text) \
  X(accept_encoding) \
  X(gzip_roundtrip) \
  X(zstd_roundtrip) \
  X(zsink_sticky_error) \
  X(tableset_roundtrip) \
  X(tableset_foreign) \
  X(tableset_hostile) \
  X(tableset_too_large) \
  X(upload_types) \
  X(upload_parse_numbers) \
  X(upload_parse_timestamps) \
  X(upload_text_values) \
  X(upload_sniff) \
  X(upload_vot_td) \
  X(upload_vot_binary) \
  X(upload_vot_binary2) \
  X(upload_vot_hostile) \
  X(upload_vot_nodata) \
  X(upload_vot_encoding) \
  X(upload_vot_arraysizes) \
  X(upload_csv_read) \
  X(upload_csv_infer_whole) \
  X(upload_csv_hostile) \
  X(upload_roundtrip) \
  X(pg_upload_copy) \
  X(upload_b2_rss)
// clang-format on
