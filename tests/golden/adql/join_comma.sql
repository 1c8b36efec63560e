SELECT "s"."ra" AS "ra", "f"."ra_center" AS "ra_center" FROM "demo"."sources" AS "s", "demo"."fields" AS "f" WHERE ("s"."field_id" = "f"."field_id")
