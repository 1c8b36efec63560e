SELECT "demo"."sources"."ra" AS "ra" FROM "demo"."sources" ORDER BY "demo"."sources"."parallax"
