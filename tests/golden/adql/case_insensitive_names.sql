SELECT "demo"."sources"."ra" AS "ra", "demo"."sources"."dec" AS "dec", "demo"."sources"."source_id" AS "source_id" FROM "demo"."sources"
