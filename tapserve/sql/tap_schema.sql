-- TAP_SCHEMA as TAP 1.1 (section 4) defines it, describing itself.
--
-- Idempotent: tapserve runs this in one transaction at every start, and
-- several instances may start together, hence the advisory lock (creating
-- a schema or table "IF NOT EXISTS" still races between sessions). The
-- self-description is upserted, so a newer tapserve corrects older rows
-- and operators' own rows are never touched.
--
-- Published names follow TAP 1.1: the schema is TAP_SCHEMA and table_name
-- is qualified ('TAP_SCHEMA.columns'). tapserve maps TAP_SCHEMA to the
-- PostgreSQL schema tap_schema (see docs/internals/tapserve.md).
-- "size" is a delimited identifier in ADQL (SIZE is reserved) and lower
-- case (TAP-1.0 Erratum 4), so its column_name row is '"size"'.

SET LOCAL client_min_messages = warning; -- no "already exists, skipping" notices on every start
SELECT pg_advisory_xact_lock(hashtext('tapserve.tap_schema'));

CREATE SCHEMA IF NOT EXISTS tap_schema;

CREATE TABLE IF NOT EXISTS tap_schema.schemas (
  schema_name  varchar(256) NOT NULL PRIMARY KEY,
  utype        text,
  description  text,
  schema_index integer
);

CREATE TABLE IF NOT EXISTS tap_schema.tables (
  schema_name  varchar(256) NOT NULL
               REFERENCES tap_schema.schemas (schema_name) ON UPDATE CASCADE ON DELETE CASCADE,
  table_name   varchar(256) NOT NULL PRIMARY KEY,
  table_type   varchar(8) NOT NULL DEFAULT 'table' CHECK (table_type IN ('table', 'view')),
  utype        text,
  description  text,
  table_index  integer
);

CREATE TABLE IF NOT EXISTS tap_schema.columns (
  table_name   varchar(256) NOT NULL
               REFERENCES tap_schema.tables (table_name) ON UPDATE CASCADE ON DELETE CASCADE,
  column_name  varchar(256) NOT NULL,
  datatype     varchar(64) NOT NULL,
  arraysize    varchar(16),
  xtype        varchar(64),
  "size"       integer,
  description  text,
  utype        text,
  unit         varchar(64),
  ucd          varchar(64),
  indexed      integer NOT NULL DEFAULT 0,
  principal    integer NOT NULL DEFAULT 0,
  std          integer NOT NULL DEFAULT 0,
  column_index integer,
  PRIMARY KEY (table_name, column_name)
);

CREATE TABLE IF NOT EXISTS tap_schema.keys (
  key_id       varchar(64) NOT NULL PRIMARY KEY,
  from_table   varchar(256) NOT NULL
               REFERENCES tap_schema.tables (table_name) ON UPDATE CASCADE ON DELETE CASCADE,
  target_table varchar(256) NOT NULL
               REFERENCES tap_schema.tables (table_name) ON UPDATE CASCADE ON DELETE CASCADE,
  utype        text,
  description  text
);

CREATE TABLE IF NOT EXISTS tap_schema.key_columns (
  key_id        varchar(64) NOT NULL
                REFERENCES tap_schema.keys (key_id) ON UPDATE CASCADE ON DELETE CASCADE,
  from_column   varchar(256) NOT NULL,
  target_column varchar(256) NOT NULL,
  PRIMARY KEY (key_id, from_column, target_column)
);

-- ---- TAP_SCHEMA describing itself -------------------------------------------

INSERT INTO tap_schema.schemas (schema_name, utype, description, schema_index) VALUES
  ('TAP_SCHEMA', NULL, 'Metadata of the tables and columns published by this TAP service (TAP 1.1 section 4)', 100000)
ON CONFLICT (schema_name) DO UPDATE
  SET utype = EXCLUDED.utype, description = EXCLUDED.description,
      schema_index = EXCLUDED.schema_index;

INSERT INTO tap_schema.tables (schema_name, table_name, table_type, utype, description, table_index) VALUES
  ('TAP_SCHEMA', 'TAP_SCHEMA.schemas', 'table', NULL, 'The schemas published by this service', 1),
  ('TAP_SCHEMA', 'TAP_SCHEMA.tables', 'table', NULL, 'The tables published by this service', 2),
  ('TAP_SCHEMA', 'TAP_SCHEMA.columns', 'table', NULL, 'The columns of the published tables', 3),
  ('TAP_SCHEMA', 'TAP_SCHEMA.keys', 'table', NULL, 'Foreign keys between published tables', 4),
  ('TAP_SCHEMA', 'TAP_SCHEMA.key_columns', 'table', NULL, 'The column pairs of each foreign key', 5)
ON CONFLICT (table_name) DO UPDATE
  SET schema_name = EXCLUDED.schema_name, table_type = EXCLUDED.table_type,
      utype = EXCLUDED.utype, description = EXCLUDED.description,
      table_index = EXCLUDED.table_index;

INSERT INTO tap_schema.columns (table_name, column_name, datatype, arraysize, xtype, "size",
                                description, utype, unit, ucd, indexed, principal, std, column_index) VALUES
  ('TAP_SCHEMA.schemas', 'schema_name', 'char', '*', NULL, NULL, 'Schema name, as used in queries', NULL, NULL, 'meta.id;meta.main', 1, 1, 1, 1),
  ('TAP_SCHEMA.schemas', 'utype', 'char', '*', NULL, NULL, 'Utype of the schema', NULL, NULL, 'meta.utype', 0, 1, 1, 2),
  ('TAP_SCHEMA.schemas', 'description', 'char', '*', NULL, NULL, 'Description of the schema', NULL, NULL, 'meta.note', 0, 1, 1, 3),
  ('TAP_SCHEMA.schemas', 'schema_index', 'int', NULL, NULL, NULL, 'Suggested position of the schema in listings (ascending)', NULL, NULL, 'meta.number', 0, 0, 1, 4),

  ('TAP_SCHEMA.tables', 'schema_name', 'char', '*', NULL, NULL, 'Name of the schema the table belongs to', NULL, NULL, 'meta.id', 1, 1, 1, 1),
  ('TAP_SCHEMA.tables', 'table_name', 'char', '*', NULL, NULL, 'Fully qualified table name, as used in queries', NULL, NULL, 'meta.id;meta.main', 1, 1, 1, 2),
  ('TAP_SCHEMA.tables', 'table_type', 'char', '*', NULL, NULL, 'One of: table, view', NULL, NULL, 'meta.code', 0, 1, 1, 3),
  ('TAP_SCHEMA.tables', 'utype', 'char', '*', NULL, NULL, 'Utype of the table', NULL, NULL, 'meta.utype', 0, 1, 1, 4),
  ('TAP_SCHEMA.tables', 'description', 'char', '*', NULL, NULL, 'Description of the table', NULL, NULL, 'meta.note', 0, 1, 1, 5),
  ('TAP_SCHEMA.tables', 'table_index', 'int', NULL, NULL, NULL, 'Suggested position of the table in listings (ascending)', NULL, NULL, 'meta.number', 0, 0, 1, 6),

  ('TAP_SCHEMA.columns', 'table_name', 'char', '*', NULL, NULL, 'Fully qualified name of the table the column belongs to', NULL, NULL, 'meta.id', 1, 1, 1, 1),
  ('TAP_SCHEMA.columns', 'column_name', 'char', '*', NULL, NULL, 'Column name, as used in queries', NULL, NULL, 'meta.id;meta.main', 1, 1, 1, 2),
  ('TAP_SCHEMA.columns', 'datatype', 'char', '*', NULL, NULL, 'VOTable datatype of the column', NULL, NULL, 'meta.code', 0, 1, 1, 3),
  ('TAP_SCHEMA.columns', 'arraysize', 'char', '*', NULL, NULL, 'VOTable arraysize of the column (e.g. *, 10, 3*)', NULL, NULL, 'meta.number', 0, 1, 1, 4),
  ('TAP_SCHEMA.columns', 'xtype', 'char', '*', NULL, NULL, 'DALI xtype of the column (e.g. point, timestamp)', NULL, NULL, 'meta.code', 0, 1, 1, 5),
  ('TAP_SCHEMA.columns', '"size"', 'int', NULL, NULL, NULL, 'Length of fixed-length strings and arrays (deprecated, use arraysize)', NULL, NULL, 'meta.number', 0, 0, 1, 6),
  ('TAP_SCHEMA.columns', 'description', 'char', '*', NULL, NULL, 'Description of the column', NULL, NULL, 'meta.note', 0, 1, 1, 7),
  ('TAP_SCHEMA.columns', 'utype', 'char', '*', NULL, NULL, 'Utype of the column', NULL, NULL, 'meta.utype', 0, 1, 1, 8),
  ('TAP_SCHEMA.columns', 'unit', 'char', '*', NULL, NULL, 'Unit of the column values (VOUnit)', NULL, NULL, 'meta.unit', 0, 1, 1, 9),
  ('TAP_SCHEMA.columns', 'ucd', 'char', '*', NULL, NULL, 'UCD of the column', NULL, NULL, 'meta.ucd', 0, 1, 1, 10),
  ('TAP_SCHEMA.columns', 'indexed', 'int', NULL, NULL, NULL, '1 when the column is indexed, 0 otherwise', NULL, NULL, 'meta.code', 0, 1, 1, 11),
  ('TAP_SCHEMA.columns', 'principal', 'int', NULL, NULL, NULL, '1 when the column is of principal interest, 0 otherwise', NULL, NULL, 'meta.code', 0, 1, 1, 12),
  ('TAP_SCHEMA.columns', 'std', 'int', NULL, NULL, NULL, '1 when the column is defined by a standard, 0 otherwise', NULL, NULL, 'meta.code', 0, 1, 1, 13),
  ('TAP_SCHEMA.columns', 'column_index', 'int', NULL, NULL, NULL, 'Suggested position of the column in listings (ascending)', NULL, NULL, 'meta.number', 0, 0, 1, 14),

  ('TAP_SCHEMA.keys', 'key_id', 'char', '*', NULL, NULL, 'Unique identifier of the foreign key', NULL, NULL, 'meta.id;meta.main', 1, 1, 1, 1),
  ('TAP_SCHEMA.keys', 'from_table', 'char', '*', NULL, NULL, 'Fully qualified name of the table holding the key', NULL, NULL, 'meta.id', 0, 1, 1, 2),
  ('TAP_SCHEMA.keys', 'target_table', 'char', '*', NULL, NULL, 'Fully qualified name of the table the key points to', NULL, NULL, 'meta.id', 0, 1, 1, 3),
  ('TAP_SCHEMA.keys', 'utype', 'char', '*', NULL, NULL, 'Utype of the key', NULL, NULL, 'meta.utype', 0, 1, 1, 4),
  ('TAP_SCHEMA.keys', 'description', 'char', '*', NULL, NULL, 'Description of the key', NULL, NULL, 'meta.note', 0, 1, 1, 5),

  ('TAP_SCHEMA.key_columns', 'key_id', 'char', '*', NULL, NULL, 'Identifier of the foreign key (TAP_SCHEMA.keys.key_id)', NULL, NULL, 'meta.id', 1, 1, 1, 1),
  ('TAP_SCHEMA.key_columns', 'from_column', 'char', '*', NULL, NULL, 'Column name in the table holding the key', NULL, NULL, 'meta.id', 0, 1, 1, 2),
  ('TAP_SCHEMA.key_columns', 'target_column', 'char', '*', NULL, NULL, 'Column name in the target table', NULL, NULL, 'meta.id', 0, 1, 1, 3)
ON CONFLICT (table_name, column_name) DO UPDATE
  SET datatype = EXCLUDED.datatype, arraysize = EXCLUDED.arraysize, xtype = EXCLUDED.xtype,
      "size" = EXCLUDED."size", description = EXCLUDED.description, utype = EXCLUDED.utype,
      unit = EXCLUDED.unit, ucd = EXCLUDED.ucd, indexed = EXCLUDED.indexed,
      principal = EXCLUDED.principal, std = EXCLUDED.std, column_index = EXCLUDED.column_index;

INSERT INTO tap_schema.keys (key_id, from_table, target_table, utype, description) VALUES
  ('TAP_SCHEMA.tables_schema', 'TAP_SCHEMA.tables', 'TAP_SCHEMA.schemas', NULL, 'Every table belongs to a schema'),
  ('TAP_SCHEMA.columns_table', 'TAP_SCHEMA.columns', 'TAP_SCHEMA.tables', NULL, 'Every column belongs to a table'),
  ('TAP_SCHEMA.keys_from', 'TAP_SCHEMA.keys', 'TAP_SCHEMA.tables', NULL, 'The table a foreign key goes out of'),
  ('TAP_SCHEMA.keys_target', 'TAP_SCHEMA.keys', 'TAP_SCHEMA.tables', NULL, 'The table a foreign key points to'),
  ('TAP_SCHEMA.key_columns_key', 'TAP_SCHEMA.key_columns', 'TAP_SCHEMA.keys', NULL, 'Every key column pair belongs to a key')
ON CONFLICT (key_id) DO UPDATE
  SET from_table = EXCLUDED.from_table, target_table = EXCLUDED.target_table,
      utype = EXCLUDED.utype, description = EXCLUDED.description;

INSERT INTO tap_schema.key_columns (key_id, from_column, target_column) VALUES
  ('TAP_SCHEMA.tables_schema', 'schema_name', 'schema_name'),
  ('TAP_SCHEMA.columns_table', 'table_name', 'table_name'),
  ('TAP_SCHEMA.keys_from', 'from_table', 'table_name'),
  ('TAP_SCHEMA.keys_target', 'target_table', 'table_name'),
  ('TAP_SCHEMA.key_columns_key', 'key_id', 'key_id')
ON CONFLICT (key_id, from_column, target_column) DO NOTHING;
