SELECT CAST((spoint(radians("demo"."sources"."ra"), radians("demo"."sources"."dec")) <@ "demo"."footprints"."s_region") AS integer) AS "contains" FROM "demo"."sources", "demo"."footprints"
