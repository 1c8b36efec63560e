SELECT "demo"."sources"."ra" AS "ra", "demo"."sources"."dec" AS "dec" FROM "demo"."sources" ORDER BY "dec", "ra" DESC
