SELECT nullif("demo"."sources"."flags", 0) AS "nullif", nullif("demo"."sources"."name", 'x') AS "nullif_2" FROM "demo"."sources"
