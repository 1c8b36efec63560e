SELECT ((1 + (2 * 3)) - (4 / 2)) AS "expr", ((1 + 2) * 3) AS "expr_2" FROM "demo"."sources"
