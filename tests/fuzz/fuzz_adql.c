/* tests/fuzz/fuzz_adql.c: arbitrary bytes through adql_parse, then
 * adql_check against the unit tests' demo metadata and adql_translate, and
 * separately adql_check_syntax. Any crash, sanitizer report or leak is a
 * bug; errors are expected and must carry a message. */
#include "adql/adql.h"

#include "../unit/adql/adql_testmeta.c"

#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  ts_arena *a = ts_arena_new(0, 64u << 20);
  ts_error err;
  adql_query *q = NULL;
  char *sql = NULL;
  if (!a)
    return 0;
  if (adql_parse((const char *)data, size, a, &q, &err) == TS_OK) {
    ts_err rc = adql_check(q, &adql_test_meta, &err);
    if (rc == TS_OK) {
      if (adql_translate(q, 1000, a, &sql, &err) != TS_OK || !sql)
        abort(); /* a checked query always translates */
      for (size_t i = 0; i < adql_result_ncols(q); i++)
        if (!adql_result_col(q, i)->name || !adql_result_col(q, i)->datatype)
          abort();
    } else if (rc == TS_EADQL && err.msg[0] == '\0') {
      abort();
    }
  } else if (err.msg[0] == '\0') {
    abort();
  }
  /* the syntax-only walk on its own parse (the checker annotates the AST) */
  if (adql_parse((const char *)data, size, a, &q, &err) == TS_OK)
    (void)adql_check_syntax(q, NULL, 0, &err);
  ts_arena_free(a);
  return 0;
}
