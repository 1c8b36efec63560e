SELECT "s"."ra" AS "ra", "f"."ra_center" AS "ra_center" FROM "demo"."sources" AS "s" LEFT OUTER JOIN "demo"."fields" AS "f" ON ("s"."field_id" = "f"."field_id")
