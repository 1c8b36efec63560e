SELECT "s"."ra" AS "ra", "s"."ra" AS "ra_2", "s"."ra" AS "ra_3" FROM "demo"."sources" AS "s"
