SELECT sqrt("demo"."sources"."ra") AS "sqrt", sqrt("demo"."sources"."dec") AS "sqrt_2" FROM "demo"."sources"
