SELECT "demo"."sources"."ra" AS "ra", (SELECT max("demo"."fields"."exptime") AS "max" FROM "demo"."fields") AS "maxexp" FROM "demo"."sources"
