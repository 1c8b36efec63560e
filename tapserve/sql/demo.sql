-- tapserve demo catalogue: schema demo with tables fields and sources, and
-- their TAP_SCHEMA description.
--
-- Run by `tapserve demo` inside one transaction, after
--   SET tapserve.demo_rows = 'N';
-- and after tap_schema exists. Re-running it replaces everything it made.
--
-- Every value is a pure function of the row number (PostgreSQL's
-- hashint8extended, stable across versions because hash partitioning
-- depends on it), so every installation holds the same rows and tests can
-- rely on them. Positions are uniform on the sphere.

SET LOCAL client_min_messages = warning;

DROP SCHEMA IF EXISTS demo CASCADE;
CREATE SCHEMA demo;
COMMENT ON SCHEMA demo IS 'tapserve demo catalogue (synthetic, deterministic)';

-- uniform double in [0,1) from (id, seed): the top 53 bits of a 64-bit hash.
-- SQL-language and IMMUTABLE, so the planner inlines it.
CREATE FUNCTION demo.u01(id bigint, seed bigint) RETURNS double precision
  LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
  AS $$ SELECT ((hashint8extended(id, seed) >> 11) & 9007199254740991)::double precision
              / 9007199254740992.0 $$;

-- ---- demo.fields: 100 equal-area survey tiles ------------------------------
-- 10 bands of equal sin(dec) times 10 slices of 36 degrees in RA. Tile k
-- covers band (k-1)/10, slice (k-1)%10; (ra, dec) is its centre and radius
-- the smallest circle around the centre holding the whole tile, so every
-- source lies inside the circle of its field.
CREATE TABLE demo.fields (
  field_id integer PRIMARY KEY,
  name     text NOT NULL,
  ra       double precision NOT NULL,
  dec      double precision NOT NULL,
  radius   double precision NOT NULL,
  survey   text NOT NULL,
  observed timestamp NOT NULL
);

INSERT INTO demo.fields
SELECT t.k + 1,
       'Tile ' || to_char(t.k + 1, 'FM000') || ' (' || to_char(t.ra_c, 'FM000') || ', '
         || CASE WHEN t.dec_c < 0 THEN '-' ELSE '+' END || to_char(abs(t.dec_c), 'FM00.0') || ')',
       t.ra_c,
       t.dec_c,
       degrees(greatest(
         spoint(radians(t.ra_c), radians(t.dec_c)) <-> spoint(radians(t.ra_c - 18), radians(t.dec_lo)),
         spoint(radians(t.ra_c), radians(t.dec_c)) <-> spoint(radians(t.ra_c - 18), radians(t.dec_hi)))),
       (ARRAY['DEMO-WIDE', 'DEMO-DEEP', 'DEMO-ΩMEGA'])[1 + t.k % 3],
       timestamp '2015-07-25 00:00:00' + t.k * interval '3 days 7 hours 13 minutes'
FROM (SELECT k,
             36.0 * (k % 10) + 18.0 AS ra_c,
             degrees(asin((k / 10) / 5.0 - 0.9)) AS dec_c,
             degrees(asin((k / 10) / 5.0 - 1.0)) AS dec_lo,
             degrees(asin((k / 10) / 5.0 - 0.8)) AS dec_hi
      FROM generate_series(0, 99) AS k) AS t;

-- ---- demo.sources -----------------------------------------------------------
CREATE TABLE demo.sources (
  source_id        bigint NOT NULL,
  ra               double precision NOT NULL,
  dec              double precision NOT NULL,
  parallax         double precision,
  parallax_error   real,
  pmra             double precision,
  pmdec            double precision,
  phot_g_mean_mag  real,
  phot_bp_mean_mag real,
  phot_rp_mean_mag real,
  bp_rp            real,
  ruwe             real,
  flags            integer NOT NULL,
  name             text NOT NULL,
  field_id         integer NOT NULL,
  ref_epoch        double precision NOT NULL
);

-- One INSERT ... SELECT; indexes come after the load (much faster than
-- maintaining them row by row). The inner query draws the random numbers,
-- the middle one derives magnitudes and the sexagesimal name parts.
INSERT INTO demo.sources
SELECT id,
       ra,
       dec,
       parallax,
       parallax_error,
       pmra,
       pmdec,
       g,
       bp,
       rp,
       (bp - rp)::real,
       ruwe,
       flags,
       CASE WHEN u_name < 0.015 THEN 'Ĉielo J'
            WHEN u_name < 0.030 THEN 'Étoile J'
            WHEN u_name < 0.035 THEN 'Звезда★ J'
            ELSE 'DEMO J' END
         || to_char(ra_cs / 360000, 'FM00') || to_char(ra_cs / 6000 % 60, 'FM00')
         || to_char(ra_cs / 100 % 60, 'FM00') || '.' || to_char(ra_cs % 100, 'FM00')
         || CASE WHEN dec < 0 THEN '-' ELSE '+' END
         || to_char(dec_ds / 36000, 'FM00') || to_char(dec_ds / 600 % 60, 'FM00')
         || to_char(dec_ds / 10 % 60, 'FM00') || '.' || (dec_ds % 10)::text,
       field_id,
       2016.0
FROM (
  SELECT id, ra, dec, u_name, flags, ruwe,
         CASE WHEN has_plx THEN 2.0 * -ln(1.0 - u_plx) - 0.3 END AS parallax,
         CASE WHEN has_plx THEN (0.02 + 0.6 * power(u_g, 3))::real END AS parallax_error,
         6.0 * sqrt(-2.0 * ln(1.0 - u_pm1)) * cos(2.0 * pi() * u_pm2) AS pmra,
         6.0 * sqrt(-2.0 * ln(1.0 - u_pm1)) * sin(2.0 * pi() * u_pm2) AS pmdec,
         (8.0 + 13.0 * sqrt(u_g))::real AS g,
         CASE WHEN u_bp >= 0.04 THEN (8.0 + 13.0 * sqrt(u_g) + 0.45 * colour + 0.05)::real END AS bp,
         CASE WHEN u_rp >= 0.03 THEN (8.0 + 13.0 * sqrt(u_g) - 0.55 * colour + 0.05)::real END AS rp,
         floor(ra / 15.0 * 360000.0)::bigint AS ra_cs,
         floor(abs(dec) * 36000.0)::bigint AS dec_ds,
         1 + 10 * least(9, floor(u_dec * 10.0)::int) + least(9, floor(ra / 36.0)::int)
           AS field_id
  FROM (
    SELECT id,
           360.0 * demo.u01(id, 1) AS ra,
           demo.u01(id, 2) AS u_dec,
           degrees(asin(2.0 * demo.u01(id, 2) - 1.0)) AS dec,
           demo.u01(id, 3) AS u_plx,
           demo.u01(id, 10) >= 0.08 AS has_plx,
           demo.u01(id, 4) AS u_pm1,
           demo.u01(id, 5) AS u_pm2,
           demo.u01(id, 6) AS u_g,
           -0.3 + 3.5 * power(demo.u01(id, 7), 1.5) AS colour,
           demo.u01(id, 11) AS u_bp,
           demo.u01(id, 12) AS u_rp,
           demo.u01(id, 13) AS u_name,
           ((hashint8extended(id, 8) >> 7) & 255)::integer AS flags,
           (0.85 + 0.35 * demo.u01(id, 14)
             + CASE WHEN demo.u01(id, 15) < 0.05 THEN 6.0 * demo.u01(id, 16) ELSE 0 END)::real AS ruwe
    FROM generate_series(1::bigint, current_setting('tapserve.demo_rows')::bigint) AS id
  ) AS draw
) AS derived
ORDER BY id;

ALTER TABLE demo.sources ADD CONSTRAINT sources_pkey PRIMARY KEY (source_id);
ALTER TABLE demo.sources ADD CONSTRAINT sources_field_fk
  FOREIGN KEY (field_id) REFERENCES demo.fields (field_id);
CREATE INDEX sources_spoint ON demo.sources USING gist (spoint(radians(ra), radians(dec)));
CREATE INDEX sources_g ON demo.sources (phot_g_mean_mag);
CREATE INDEX sources_field ON demo.sources (field_id);
ANALYZE demo.fields;
ANALYZE demo.sources;

COMMENT ON TABLE demo.sources IS 'Synthetic Gaia-like sources of the tapserve demo';
COMMENT ON TABLE demo.fields IS 'Survey tiles of the tapserve demo';

-- ---- TAP_SCHEMA -------------------------------------------------------------
DELETE FROM tap_schema.key_columns
 WHERE key_id IN (SELECT key_id FROM tap_schema.keys
                   WHERE from_table LIKE 'demo.%' OR target_table LIKE 'demo.%');
DELETE FROM tap_schema.keys WHERE from_table LIKE 'demo.%' OR target_table LIKE 'demo.%';
DELETE FROM tap_schema.columns WHERE table_name LIKE 'demo.%';
DELETE FROM tap_schema.tables WHERE schema_name = 'demo';
DELETE FROM tap_schema.schemas WHERE schema_name = 'demo';

INSERT INTO tap_schema.schemas (schema_name, utype, description, schema_index)
VALUES ('demo', NULL,
        'tapserve demo catalogue: synthetic, deterministic Gaia-like sources '
        'uniform on the sky, and the survey tiles they fall in', 10);

INSERT INTO tap_schema.tables (schema_name, table_name, table_type, utype, description, table_index)
VALUES ('demo', 'demo.sources', 'table', NULL,
        'Synthetic Gaia-like point sources at epoch J2016.0, uniform on the sphere. Every '
        'value is a pure function of source_id, so every installation holds the same rows. '
        'Positions are indexed for cone searches (CONTAINS(POINT(ra, dec), CIRCLE(...)) = 1).', 1),
       ('demo', 'demo.fields', 'table', NULL,
        'The 100 equal-area survey tiles of the demo (10 bands of equal sin(dec) by 10 slices '
        'of 36 degrees in right ascension); every source lies in exactly one.', 2);

INSERT INTO tap_schema.columns
  (table_name, column_name, datatype, arraysize, xtype, "size", description, utype, unit, ucd,
   indexed, principal, std, column_index)
VALUES
  ('demo.sources', 'source_id', 'long', NULL, NULL, NULL,
   'Unique source identifier', NULL, NULL, 'meta.id;meta.main', 1, 1, 0, 1),
  ('demo.sources', 'ra', 'double', NULL, NULL, NULL,
   'Right ascension (ICRS) at epoch ref_epoch', 'stc:AstroCoords.Position2D.Value2.C1',
   'deg', 'pos.eq.ra;meta.main', 1, 1, 0, 2),
  ('demo.sources', 'dec', 'double', NULL, NULL, NULL,
   'Declination (ICRS) at epoch ref_epoch', 'stc:AstroCoords.Position2D.Value2.C2',
   'deg', 'pos.eq.dec;meta.main', 1, 1, 0, 3),
  ('demo.sources', 'parallax', 'double', NULL, NULL, NULL,
   'Parallax; NULL for sources without an astrometric solution (about 8 percent)', NULL,
   'mas', 'pos.parallax.trig', 0, 1, 0, 4),
  ('demo.sources', 'parallax_error', 'float', NULL, NULL, NULL,
   'Standard error of parallax; NULL where parallax is NULL', NULL,
   'mas', 'stat.error;pos.parallax.trig', 0, 0, 0, 5),
  ('demo.sources', 'pmra', 'double', NULL, NULL, NULL,
   'Proper motion in right ascension, times cos(dec)', NULL,
   'mas/yr', 'pos.pm;pos.eq.ra', 0, 1, 0, 6),
  ('demo.sources', 'pmdec', 'double', NULL, NULL, NULL,
   'Proper motion in declination', NULL,
   'mas/yr', 'pos.pm;pos.eq.dec', 0, 1, 0, 7),
  ('demo.sources', 'phot_g_mean_mag', 'float', NULL, NULL, NULL,
   'Mean magnitude in the G band (Vega)', NULL,
   'mag', 'phot.mag;em.opt.G', 1, 1, 0, 8),
  ('demo.sources', 'phot_bp_mean_mag', 'float', NULL, NULL, NULL,
   'Mean magnitude in the integrated BP band; NULL for about 4 percent', NULL,
   'mag', 'phot.mag;em.opt.B', 0, 0, 0, 9),
  ('demo.sources', 'phot_rp_mean_mag', 'float', NULL, NULL, NULL,
   'Mean magnitude in the integrated RP band; NULL for about 3 percent', NULL,
   'mag', 'phot.mag;em.opt.R', 0, 0, 0, 10),
  ('demo.sources', 'bp_rp', 'float', NULL, NULL, NULL,
   'BP - RP colour; NULL where either magnitude is NULL', NULL,
   'mag', 'phot.color;em.opt.B;em.opt.R', 0, 1, 0, 11),
  ('demo.sources', 'ruwe', 'float', NULL, NULL, NULL,
   'Renormalised unit weight error of the astrometric solution (about 1; above 1.4 for '
   'about 5 percent)', NULL,
   NULL, 'stat.fit.goodness', 0, 0, 0, 12),
  ('demo.sources', 'flags', 'int', NULL, NULL, NULL,
   'Quality flags, a bit mask (bits 0 to 7)', NULL,
   NULL, 'meta.code', 0, 0, 0, 13),
  ('demo.sources', 'name', 'unicodeChar', '*', NULL, NULL,
   'Designation built from the position, DEMO Jhhmmss.ss+ddmmss.s (a few percent carry '
   'non-ASCII prefixes)', NULL,
   NULL, 'meta.id', 0, 1, 0, 14),
  ('demo.sources', 'field_id', 'int', NULL, NULL, NULL,
   'Survey tile the source lies in (demo.fields.field_id)', NULL,
   NULL, 'meta.id;obs.field', 0, 0, 0, 15),
  ('demo.sources', 'ref_epoch', 'double', NULL, NULL, NULL,
   'Reference epoch of the position (Julian year)', NULL,
   'yr', 'time.epoch;meta.ref', 0, 0, 0, 16),

  ('demo.fields', 'field_id', 'int', NULL, NULL, NULL,
   'Survey tile identifier', NULL, NULL, 'meta.id;meta.main', 1, 1, 0, 1),
  ('demo.fields', 'name', 'char', '*', NULL, NULL,
   'Tile name with its centre', NULL, NULL, 'meta.id', 0, 1, 0, 2),
  ('demo.fields', 'ra', 'double', NULL, NULL, NULL,
   'Right ascension (ICRS) of the tile centre', 'stc:AstroCoords.Position2D.Value2.C1',
   'deg', 'pos.eq.ra;meta.main', 0, 1, 0, 3),
  ('demo.fields', 'dec', 'double', NULL, NULL, NULL,
   'Declination (ICRS) of the tile centre', 'stc:AstroCoords.Position2D.Value2.C2',
   'deg', 'pos.eq.dec;meta.main', 0, 1, 0, 4),
  ('demo.fields', 'radius', 'double', NULL, NULL, NULL,
   'Radius of the smallest circle around the centre that holds the whole tile', NULL,
   'deg', 'phys.angSize;instr.fov', 0, 1, 0, 5),
  ('demo.fields', 'survey', 'unicodeChar', '*', NULL, NULL,
   'Survey the tile belongs to', NULL, NULL, 'meta.id;instr.setup', 0, 1, 0, 6),
  ('demo.fields', 'observed', 'char', '*', 'timestamp', NULL,
   'Date and time (UTC) the tile was observed', NULL, NULL, 'time.epoch;obs', 0, 1, 0, 7);

INSERT INTO tap_schema.keys (key_id, from_table, target_table, utype, description)
VALUES ('demo.sources_field', 'demo.sources', 'demo.fields', NULL,
        'The survey tile each source lies in');
INSERT INTO tap_schema.key_columns (key_id, from_column, target_column)
VALUES ('demo.sources_field', 'field_id', 'field_id');

-- Users' queries run as tapserve_query, a role that can read the published
-- schemas and nothing else (query_dsn in the configuration).
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'tapserve_query') THEN
    CREATE ROLE tapserve_query LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
  END IF;
END
$$;
GRANT USAGE ON SCHEMA demo, tap_schema TO tapserve_query;
GRANT SELECT ON ALL TABLES IN SCHEMA demo, tap_schema TO tapserve_query;
