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
  X(upload_fits_tforms) \
  X(upload_fits_roundtrip) \
  X(upload_fits_astropy) \
  X(upload_fits_hostile) \
  X(upload_fits_wide) \
  X(pg_upload_fits) \
  X(upload_ecsv_types) \
  X(upload_ecsv_roundtrip) \
  X(upload_ecsv_astropy) \
  X(upload_ecsv_hostile) \
  X(pg_upload_ecsv)
// clang-format on
