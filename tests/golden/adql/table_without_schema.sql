SELECT "demo"."fields"."name" AS "name" FROM "demo"."fields"
