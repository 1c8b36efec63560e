SELECT ("demo"."sources"."ra" * 2) AS "r2" FROM "demo"."sources" ORDER BY "r2"
