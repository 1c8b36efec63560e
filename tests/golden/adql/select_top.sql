SELECT "demo"."sources"."source_id" AS "source_id" FROM "demo"."sources" LIMIT 10
