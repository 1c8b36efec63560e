SELECT DISTINCT "demo"."fields"."name" AS "name" FROM "demo"."fields" LIMIT 3
