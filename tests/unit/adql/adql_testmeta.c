/* tests/unit/adql/adql_testmeta.c: a demo-like TAP_SCHEMA.
 *
 * demo.sources / demo.fields: a Gaia-like catalogue and the fields it was
 *   observed in (join on field_id).
 * demo.weird: names that exercise the name rules: a delimited published
 *   column ("Quoted Col"), a mixed-case regular one (MixedCase -> mixedcase
 *   in the database), and one whose db_name differs from its published
 *   name; the table itself lives in a differently named db schema.
 * other.weird: makes the bare table name "weird" ambiguous.
 * demo.footprints: geometry columns (pgSphere spoly / spoint / scircle in
 *   the database, DALI polygon / point / circle when published).
 * TAP_UPLOAD.mylist, in a per-request layer: a user's list (an upload held
 *   in tap_upload.up_req1_mylist), with a position column and its own
 *   units and UCDs. */
#include "adql_testmeta.h"

#define COL(n, t, u)                                                                               \
  {                                                                                                \
    n, NULL, t, NULL, NULL, u, NULL, NULL, NULL, 0, 0, 0                                           \
  }

static const adql_column_meta sources_cols[] = {
    {"source_id", NULL, "long", NULL, NULL, NULL, "meta.id;meta.main", NULL, "Source identifier", 1,
     1, 0},
    {"ra", NULL, "double", NULL, NULL, "deg", "pos.eq.ra;meta.main", NULL, "Right ascension", 1, 1,
     0},
    {"dec", NULL, "double", NULL, NULL, "deg", "pos.eq.dec;meta.main", NULL, "Declination", 1, 1,
     0},
    COL("parallax", "double", "mas"),
    COL("pmra", "double", "mas/yr"),
    COL("pmdec", "double", "mas/yr"),
    COL("phot_g_mean_mag", "float", "mag"),
    COL("bp_rp", "float", "mag"),
    {"name", NULL, "char", "*", NULL, NULL, "meta.id", NULL, "Common name", 0, 1, 0},
    COL("flags", "int", NULL),
    COL("field_id", "int", NULL),
};

static const adql_column_meta fields_cols[] = {
    COL("field_id", "int", NULL),
    {"name", NULL, "char", "*", NULL, NULL, NULL, NULL, "Field name", 0, 1, 0},
    COL("ra_center", "double", "deg"),
    COL("dec_center", "double", "deg"),
    COL("exptime", "short", "s"),
};

static const adql_column_meta weird_cols[] = {
    COL("\"Quoted Col\"", "double", NULL),
    COL("MixedCase", "int", NULL),
    {"mag_g", "g_mag_db", "float", NULL, NULL, "mag", NULL, NULL, NULL, 0, 1, 0},
    COL("obs_time", "char", NULL),
};

static const adql_column_meta other_cols[] = {
    COL("id", "long", NULL),
};

static const adql_column_meta footprint_cols[] = {
    COL("fp_id", "long", NULL),
    {"s_region", NULL, "double", "*", "polygon", "deg", "pos.outline", NULL, "Footprint", 0, 1, 0},
    {"centre", NULL, "double", "2", "point", "deg", "pos.eq", NULL, "Centre", 0, 1, 0},
    {"fov", NULL, "double", "3", "circle", "deg", NULL, NULL, "Field of view", 0, 1, 0},
};

static const adql_table_meta tables[] = {
    {"demo", "sources", NULL, NULL, "Sources", sizeof sources_cols / sizeof sources_cols[0],
     sources_cols},
    {"demo", "fields", NULL, NULL, "Fields", sizeof fields_cols / sizeof fields_cols[0],
     fields_cols},
    {"demo", "weird", "demo_db", "weird_tab", "Odd names", sizeof weird_cols / sizeof weird_cols[0],
     weird_cols},
    {"other", "weird", NULL, NULL, "Second weird", 1, other_cols},
    {"demo", "footprints", NULL, NULL, "Footprints",
     sizeof footprint_cols / sizeof footprint_cols[0], footprint_cols},
};

static const adql_udf udfs[] = {
    {"ivo_hasword", "ivo_hasword(haystack TEXT, needle TEXT) -> INTEGER",
     "ivo_hasword_impl($1, $2)"},
    {"gavo_ipix", "gavo_ipix(ra DOUBLE, dec DOUBLE) -> BIGINT", NULL},
};

static const adql_column_meta mylist_cols[] = {
    {"id", NULL, "int", NULL, NULL, NULL, "meta.id", NULL, NULL, 0, 0, 0},
    {"ra", NULL, "double", NULL, NULL, "deg", "pos.eq.ra;meta.main", NULL, NULL, 0, 0, 0},
    {"dec", NULL, "double", NULL, NULL, "deg", "pos.eq.dec;meta.main", NULL, NULL, 0, 0, 0},
    {"pos", NULL, "double", "2", "point", "deg", "pos.eq;meta.main", NULL, NULL, 0, 0, 0},
    {"flux", NULL, "float", NULL, NULL, "mJy", "phot.flux", NULL, "My flux", 0, 0, 0},
};

static const adql_table_meta upload_tables[] = {
    {"TAP_UPLOAD", "mylist", "tap_upload", "up_req1_mylist", NULL,
     sizeof mylist_cols / sizeof mylist_cols[0], mylist_cols},
};

static const adql_layer upload_layer = {"uploads", 1, upload_tables, NULL};

const adql_meta adql_test_meta = {.ntables = sizeof tables / sizeof tables[0],
                                  .tables = tables,
                                  .layers = &upload_layer,
                                  .nudfs = sizeof udfs / sizeof udfs[0],
                                  .udfs = udfs};
