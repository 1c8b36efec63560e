SELECT "demo"."sources"."ra" AS "ra" FROM "demo"."sources" WHERE (("demo"."sources"."parallax" IS NULL) OR ("demo"."sources"."name" IS NOT NULL))
