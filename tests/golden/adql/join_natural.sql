SELECT "field_id" AS "field_id", "demo"."fields"."exptime" AS "exptime" FROM "demo"."sources" NATURAL JOIN "demo"."fields"
