SELECT "s"."ra" AS "ra", "f"."ra_center" AS "ra_center" FROM "demo"."sources" AS "s" CROSS JOIN "demo"."fields" AS "f"
