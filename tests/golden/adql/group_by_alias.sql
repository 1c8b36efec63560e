SELECT round("demo"."sources"."ra") AS "bin", count(*) AS "count" FROM "demo"."sources" GROUP BY "bin"
