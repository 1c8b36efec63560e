SELECT "demo"."sources"."field_id" AS "field_id", count(*) AS "n" FROM "demo"."sources" GROUP BY "demo"."sources"."field_id" HAVING (count(*) > 10) ORDER BY "n" DESC
