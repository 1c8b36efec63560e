SELECT "demo"."sources"."ra" AS "ra" FROM "demo"."sources" WHERE ("demo"."sources"."name" IN ('a', 'b''c'))
