SELECT "t"."n" AS "n" FROM (SELECT "demo"."sources"."field_id" AS "field_id", count(*) AS "n" FROM "demo"."sources" GROUP BY "demo"."sources"."field_id") AS "t" WHERE ("t"."n" > 5)
