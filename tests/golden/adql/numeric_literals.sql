SELECT 42 AS "expr", 3.25::float8 AS "expr_2", .5::float8 AS "expr_3", 6.::float8 AS "expr_4", 1e3::float8 AS "expr_5", 2.5E-3::float8 AS "expr_6", 31 AS "expr_7" FROM "demo"."sources"
