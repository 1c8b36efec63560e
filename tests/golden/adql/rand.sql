SELECT random() AS "rand" FROM "demo"."sources"
