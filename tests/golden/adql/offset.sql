SELECT "demo"."sources"."ra" AS "ra" FROM "demo"."sources" ORDER BY "ra" LIMIT 5 OFFSET 10
