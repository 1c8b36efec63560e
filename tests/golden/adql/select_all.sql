SELECT "demo"."sources"."field_id" AS "field_id" FROM "demo"."sources"
