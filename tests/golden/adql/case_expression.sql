SELECT CASE WHEN ("demo"."sources"."phot_g_mean_mag" < 10) THEN 'bright' WHEN ("demo"."sources"."phot_g_mean_mag" < 15) THEN 'mid' ELSE 'faint' END AS "class" FROM "demo"."sources"
