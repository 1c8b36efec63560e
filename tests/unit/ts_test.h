/* tests/unit/ts_test.h: a tiny TAP-printing test runner.
 *
 * Each suite (one per module) defines TS_TESTS(X) listing its tests in
 * test_list.h, writes `int test_name(void)` functions returning 0 on success,
 * and includes this header once with TS_TEST_MAIN defined to get main():
 * no argument runs everything, argv[1] runs one test (CMake adds one ctest
 * entry per name). */
#ifndef TS_TEST_H
#define TS_TEST_H

#include <stdio.h>
#include <string.h>

extern int ts_test_failures;

/* The cap of the scratch buffers tests build documents in. */
enum { TS_TEST_BUF_MAX = 64 << 20 };

#define TS_CHECK(cond)                                                                             \
  do {                                                                                             \
    if (!(cond)) {                                                                                 \
      fprintf(stderr, "# %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);                   \
      ts_test_failures++;                                                                          \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

#define TS_CHECK_EQ_INT(a, b)                                                                      \
  do {                                                                                             \
    long long va_ = (long long)(a), vb_ = (long long)(b);                                          \
    if (va_ != vb_) {                                                                              \
      fprintf(stderr, "# %s:%d: %s == %lld, expected %lld\n", __FILE__, __LINE__, #a, va_, vb_);   \
      ts_test_failures++;                                                                          \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

#define TS_CHECK_STREQ(a, b)                                                                       \
  do {                                                                                             \
    const char *sa_ = (a), *sb_ = (b);                                                             \
    if (!sa_ || !sb_ || strcmp(sa_, sb_) != 0) {                                                   \
      fprintf(stderr, "# %s:%d: %s == \"%s\", expected \"%s\"\n", __FILE__, __LINE__, #a,          \
              sa_ ? sa_ : "(null)", sb_ ? sb_ : "(null)");                                         \
      ts_test_failures++;                                                                          \
      return 1;                                                                                    \
    }                                                                                              \
  } while (0)

#ifdef TS_TEST_MAIN
#define X(t) int test_##t(void);
TS_TESTS(X)
#undef X
int ts_test_failures;
static const struct {
  const char *name;
  int (*fn)(void);
} ts_tests[] = {
#define X(t) {#t, test_##t},
    TS_TESTS(X)
#undef X
};
int main(int argc, char **argv)
{
  int n = (int)(sizeof ts_tests / sizeof ts_tests[0]), failed = 0, ran = 0;
  printf("1..%d\n", argc > 1 ? 1 : n);
  for (int i = 0; i < n; i++) {
    if (argc > 1 && strcmp(argv[1], ts_tests[i].name) != 0)
      continue;
    int rc = ts_tests[i].fn();
    ran++;
    printf("%s %d - %s\n", rc ? "not ok" : "ok", ran, ts_tests[i].name);
    failed += rc != 0;
  }
  if (argc > 1 && ran == 0) {
    fprintf(stderr, "no test named %s\n", argv[1]);
    return 2;
  }
  return failed ? 1 : 0;
}
#endif

#endif
