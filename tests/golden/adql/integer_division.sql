SELECT ("demo"."sources"."flags" / 2) AS "expr", ("demo"."sources"."flags" / 2.0::float8) AS "expr_2" FROM "demo"."sources"
