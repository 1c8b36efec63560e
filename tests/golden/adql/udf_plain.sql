SELECT gavo_ipix("demo"."sources"."ra", "demo"."sources"."dec") AS "gavo_ipix" FROM "demo"."sources"
