SELECT "src"."ra" AS "alpha", "src"."dec" AS "delta" FROM "demo"."sources" AS "src"
