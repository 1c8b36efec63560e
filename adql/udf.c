/* adql/udf.c: what the service offers beyond the core language: the
 * user-defined functions archives use most, with their PostgreSQL and
 * pgSphere translations, and the list of geometry functions (for the
 * TAPRegExt capabilities). Operators add their own UDFs in the
 * configuration; these are the defaults. */
#include "adql/adql_int.h"

/* Templates: $1, $2 ... are the translated arguments, each in
 * parentheses. Every template returns the type its signature announces
 * (integers for predicates, as ADQL has no boolean values). */
static const adql_udf adql_std[] = {
    {"ivo_hasword", "ivo_hasword(haystack TEXT, needle TEXT) -> INTEGER",
     "CAST((to_tsvector('simple', $1) @@ plainto_tsquery('simple', $2)) AS integer)"},
    {"ivo_nocasematch", "ivo_nocasematch(value TEXT, pattern TEXT) -> INTEGER",
     "CAST(($1 ILIKE $2) AS integer)"},
    {"ivo_interval_overlaps",
     "ivo_interval_overlaps(low1 DOUBLE, high1 DOUBLE, low2 DOUBLE, high2 DOUBLE) -> INTEGER",
     "CAST(($1 <= $4 AND $2 >= $3) AS integer)"},
    {"ivo_healpix_index", "ivo_healpix_index(hpxOrder INTEGER, ra DOUBLE, dec DOUBLE) -> BIGINT",
     "healpix_nest(CAST($1 AS integer), spoint(radians($2), radians($3)))"},
    {"ivo_healpix_center", "ivo_healpix_center(hpxOrder INTEGER, hpxIndex BIGINT) -> POINT",
     "center_of_healpix_nest(CAST($1 AS integer), CAST($2 AS bigint))"},
    /* Gaia source_id: the HEALPix level-12 nested index times 2^35 plus a
     * running number, so the index at level L is source_id / 2^35 / 4^(12-L). */
    {"gaia_healpix_index", "gaia_healpix_index(hpxOrder INTEGER, source_id BIGINT) -> BIGINT",
     "(CAST($2 AS bigint) / (CAST(34359738368 AS bigint) * CAST(power(4, 12 - $1) AS bigint)))"},
};

const adql_udf *adql_std_udfs(size_t *n)
{
  *n = TS_ARRAY_LEN(adql_std);
  return adql_std;
}

static const char *const adql_geom_names[] = {
    "POINT",    "CIRCLE", "BOX",      "POLYGON", "REGION", "CONTAINS", "INTERSECTS",
    "DISTANCE", "AREA",   "CENTROID", "COORD1",  "COORD2", "COORDSYS",
};

const char *const *adql_geometry_functions(size_t *n)
{
  *n = TS_ARRAY_LEN(adql_geom_names);
  return adql_geom_names;
}
