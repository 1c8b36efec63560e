#include "jobs/jobs.h"

int jobs_schema_version(void) { return 0; }
