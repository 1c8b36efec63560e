SELECT ((("s"."name" || ' (') || "f"."name") || ')') AS "expr" FROM "demo"."sources" AS "s" JOIN "demo"."fields" AS "f" ON ("s"."field_id" = "f"."field_id")
