SELECT "s"."source_id" AS "source_id", "f"."name" AS "name" FROM "demo"."sources" AS "s" JOIN "demo"."fields" AS "f" ON ("s"."field_id" = "f"."field_id")
