SELECT "demo"."sources"."ra" AS "ra" FROM "demo"."sources" WHERE (("demo"."sources"."flags" IN (1, 2, 4)) AND ("demo"."sources"."field_id" NOT IN (7)))
