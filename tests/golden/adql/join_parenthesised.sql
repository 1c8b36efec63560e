SELECT "s"."ra" AS "ra" FROM "demo"."sources" AS "s" JOIN ("demo"."fields" AS "f" JOIN "demo_db"."weird_tab" AS "w" ON ("f"."field_id" = "w"."mixedcase")) ON ("s"."field_id" = "f"."field_id")
