/* tests/unit/adql/adql_testmeta.h: the fixed metadata the ADQL golden tests
 * and the fuzzer check queries against. */
#ifndef ADQL_TESTMETA_H
#define ADQL_TESTMETA_H

#include "adql/adql.h"

extern const adql_meta adql_test_meta;

#endif
