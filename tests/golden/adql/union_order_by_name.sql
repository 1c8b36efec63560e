(SELECT "demo"."sources"."ra" AS "r" FROM "demo"."sources") UNION (SELECT "demo"."fields"."ra_center" AS "ra_center" FROM "demo"."fields") ORDER BY "r" DESC
