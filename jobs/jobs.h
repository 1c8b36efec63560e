/* jobs/jobs.h: UWS jobs and the shared-database cluster state. */
#ifndef TS_JOBS_H
#define TS_JOBS_H

#include "formats/formats.h"

/* The schema version of the cluster state this build expects. */
int jobs_schema_version(void);

#endif
