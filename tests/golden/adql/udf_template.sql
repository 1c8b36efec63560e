SELECT "demo"."sources"."source_id" AS "source_id" FROM "demo"."sources" WHERE (ivo_hasword_impl(("demo"."sources"."name"), ('cluster')) = 1)
