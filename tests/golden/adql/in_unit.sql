SELECT (CAST("demo"."sources"."ra" AS double precision) * 3600) AS "in_unit", (CAST("demo"."sources"."pmra" AS double precision) * 2.7777777777777781e-07) AS "in_unit_2" FROM "demo"."sources"
