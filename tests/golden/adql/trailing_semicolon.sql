SELECT "demo"."sources"."ra" AS "ra" FROM "demo"."sources"
