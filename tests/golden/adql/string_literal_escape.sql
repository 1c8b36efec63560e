SELECT 'it''s' AS "expr", '' AS "expr_2" FROM "demo"."sources" WHERE ("demo"."sources"."name" = 'O''Brien')
