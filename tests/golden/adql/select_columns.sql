SELECT "demo"."sources"."source_id" AS "source_id", "demo"."sources"."ra" AS "ra", "demo"."sources"."dec" AS "dec" FROM "demo"."sources"
