SELECT "demo"."sources"."ra" AS "alpha", "demo"."sources"."dec" AS "Delta" FROM "demo"."sources"
