SELECT "s"."ra" AS "ra" FROM "demo"."sources" AS "s" WHERE EXISTS (SELECT 1 AS "expr" FROM "demo"."fields" AS "f" WHERE ("f"."field_id" = "s"."field_id"))
