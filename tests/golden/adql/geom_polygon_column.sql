SELECT "demo"."footprints"."fp_id" AS "fp_id" FROM "demo"."footprints" WHERE ("demo"."footprints"."s_region" && scircle(spoint(radians(1), radians(2)), radians(3)))
