SELECT "s"."source_id" AS "source_id", "f"."exptime" AS "exptime" FROM "demo"."sources" AS "s" LEFT OUTER JOIN "demo"."fields" AS "f" ON (("s"."field_id" = "f"."field_id") AND ("f"."exptime" > 30))
