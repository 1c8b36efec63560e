SELECT "demo"."sources"."ra" AS "ra", (-(-"demo"."sources"."dec")) AS "expr" FROM "demo"."sources"
