SELECT lower("demo"."sources"."name") AS "lower", upper("demo"."sources"."name") AS "upper" FROM "demo"."sources"
