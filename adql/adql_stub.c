/* replaced by the grammar */
#include "adql/adql.h"
