SELECT "w"."g_mag_db" AS "mag_g" FROM "demo_db"."weird_tab" AS "w" WHERE ("w"."g_mag_db" < 20)
