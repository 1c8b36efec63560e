SELECT "field_id" AS "field_id", "s"."name" AS "name", "f"."name" AS "name_2" FROM "demo"."sources" AS "s" JOIN "demo"."fields" AS "f" USING ("field_id")
