SELECT "demo"."sources"."ra" AS "ra" FROM "demo"."sources" WHERE (("demo"."sources"."ra" BETWEEN 10 AND 20) AND ("demo"."sources"."dec" NOT BETWEEN (-5) AND 5))
