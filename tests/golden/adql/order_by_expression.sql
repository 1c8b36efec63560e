SELECT "demo"."sources"."ra" AS "ra" FROM "demo"."sources" ORDER BY abs("demo"."sources"."dec") DESC
