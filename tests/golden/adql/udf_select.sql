SELECT ivo_hasword_impl(("demo"."sources"."name"), ('x')) AS "ivo_hasword", gavo_ipix("demo"."sources"."ra", "demo"."sources"."dec") AS "gavo_ipix" FROM "demo"."sources"
